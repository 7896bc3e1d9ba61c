//! `nightscape import` and `check --fixtures`, end to end through the real
//! binary (exit codes, summary, file names, no overwriting), and the whole
//! shared fixture corpus through the library when it is present: at least
//! 97 % of each library imports, every profile loads with the profile
//! parser, and every mode's channel count equals the source's (counted here
//! independently of the importer).

use nightscape_core::diag::{Diagnostics, SourceFile};
use nightscape_core::fixture::import::{import, Format, ImportError, OflContext};
use nightscape_core::fixture::parse_profile;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nightscape(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(args)
        .output()
        .expect("run nightscape")
}

fn data_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/nightscape-core/tests/import-data")
        .join(sub)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn import_a_folder_then_check_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("profiles");
    let src = data_dir("qlcplus");
    let o = nightscape(&["import", "--from", "qxf", s(&src), "--out", s(&out)]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("imported 4 profile(s)") && stdout.contains("0 failed"),
        "{stdout}"
    );
    for f in [
        "lixada-12-rgbw-led-par-light.toml",
        "scanic-astute-led-108.toml",
        "stairville-xbrick-full-colour-16x3w.toml",
        // The same manufacturer and model twice in one run: numbered.
        "lixada-12-rgbw-led-par-light-2.toml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing: {stdout}{stderr}");
    }
    assert!(stderr.contains("warning: no power figure"), "{stderr}");

    let o = nightscape(&["check", "--fixtures", s(&out)]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
    assert!(
        stdout.starts_with("ok: 4 profiles") && stdout.contains("1 need a power figure"),
        "{stdout}"
    );
    // needs_power is a warning with its location, not an error (files are
    // taken in name order, so the no-power copy came first).
    assert!(
        text(&o.stderr).contains("lixada-12-rgbw-led-par-light.toml:7:15: warning: the power draw"),
        "{}",
        text(&o.stderr)
    );

    // Existing files are kept unless --overwrite says otherwise.
    let one = src.join("Scanic-Astute-LED-108.qxf");
    let o = nightscape(&["import", "--from", "qxf", s(&one), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("already exists (--overwrite replaces it)"),
        "{}",
        text(&o.stderr)
    );
    let o = nightscape(&[
        "import",
        "--from",
        "qxf",
        s(&one),
        "--out",
        s(&out),
        "--overwrite",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn broken_sources_fail_alone_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("ofl/eurolite");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        data_dir("ofl/led-dmx-pixel-tube-16-rgb-ip20.json"),
        src.join("tube.json"),
    )
    .unwrap();
    std::fs::write(src.join("broken.json"), "{\"name\": \"x\", \"modes\": [").unwrap();
    std::fs::write(src.join("types.json"), "{\"name\": 7}").unwrap();
    std::fs::write(
        tmp.path().join("ofl/manufacturers.json"),
        r#"{"eurolite": {"name": "Eurolite"}}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = nightscape(&[
        "import",
        "--from",
        "ofl",
        s(&tmp.path().join("ofl")),
        "--out",
        s(&out),
    ]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("imported 1 profile(s)") && stdout.contains("2 failed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("broken.json: failed: not valid JSON")
            && stderr.contains("types.json: failed: `name` must be a non-empty string"),
        "{stderr}"
    );
    let profile =
        std::fs::read_to_string(out.join("eurolite-led-dmx-pixel-tube-16-rgb-ip20.toml")).unwrap();
    assert!(profile.contains("manufacturer = \"Eurolite\"") && profile.contains("cells = 16"));
}

#[test]
fn usage_errors_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    for args in [
        vec!["import", "--from", "csv", "x", "--out", s(&out)],
        vec!["import", "--from", "qxf", "x"],
        vec![
            "import",
            "--from",
            "qxf",
            "/nonexistent/fixtures",
            "--out",
            s(&out),
        ],
        vec!["import", "--from", "qxf", s(tmp.path()), "--out", s(&out)],
    ] {
        let o = nightscape(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stderr.is_empty());
    }
}

#[test]
fn check_fixtures_reports_a_broken_profile_located() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.toml"),
        "name = \"x\"\npower_w = 5\n[[modes]]\nname = \"a\"\nchannels = [\"dimmer\", \"purple\"]\n",
    )
    .unwrap();
    let o = nightscape(&["check", "--fixtures", s(tmp.path())]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("bad.toml:5:23: unknown channel role `purple`"),
        "{stderr}"
    );
}

// ------------------------------------------------------------ the corpus

/// Channel counts of each mode of a .qxf, by scanning the text.
fn qxf_counts(text: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("<Mode ") {
        rest = &rest[i..];
        let head_end = rest.find('>').unwrap_or(rest.len());
        if rest[..head_end].ends_with('/') {
            counts.push(0);
            rest = &rest[head_end..];
            continue;
        }
        let end = rest.find("</Mode>").unwrap_or(rest.len());
        counts.push(rest[..end].matches("<Channel Number=").count());
        rest = &rest[end..];
    }
    counts
}

/// Channel counts of each mode of an OFL fixture, expanding matrix inserts.
fn ofl_counts(v: &serde_json::Value) -> Vec<usize> {
    let matrix = v.get("matrix");
    let pixels = matrix
        .and_then(|m| m.get("pixelCount"))
        .and_then(|c| c.as_array())
        .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(1) as usize).product())
        .or_else(|| {
            let keys = matrix?.get("pixelKeys")?.as_array()?;
            Some(
                keys.iter()
                    .flat_map(|y| y.as_array().into_iter().flatten())
                    .flat_map(|x| x.as_array().into_iter().flatten())
                    .filter(|k| !k.is_null())
                    .count(),
            )
        })
        .unwrap_or(0);
    let groups = matrix
        .and_then(|m| m.get("pixelGroups"))
        .and_then(|g| g.as_object())
        .map_or(0, |g| g.len());
    let modes = v.get("modes").and_then(|m| m.as_array());
    modes
        .into_iter()
        .flatten()
        .map(|m| {
            let chans = m.get("channels").and_then(|c| c.as_array());
            chans
                .into_iter()
                .flatten()
                .map(|c| match c.get("insert") {
                    None => 1,
                    Some(_) => {
                        let n = match c.get("repeatFor") {
                            Some(serde_json::Value::Array(a)) => a.len(),
                            Some(serde_json::Value::String(s)) if s == "eachPixelGroup" => groups,
                            _ => pixels,
                        };
                        let t = c.get("templateChannels").and_then(|t| t.as_array());
                        n * t.map_or(0, |t| t.len())
                    }
                })
                .sum()
        })
        .collect()
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Import every file of one library; returns (imported, failures,
/// profiles with a `strobe_hz`).
fn import_library(dir: &Path, format: Format) -> (usize, Vec<String>, usize) {
    let mut list = Vec::new();
    files(dir, format.extension(), &mut list);
    let manufacturers = std::fs::read_to_string(dir.join("fixtures/manufacturers.json")).ok();
    let (mut ok, mut failed, mut with_hz) = (0, Vec::new(), 0);
    for path in list {
        if path.file_name().is_some_and(|f| f == "manufacturers.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let ctx = OflContext {
            manufacturer_key: path
                .parent()
                .and_then(|p| p.file_name())
                .map(|k| k.to_string_lossy().to_string()),
            manufacturers_json: manufacturers.clone(),
        };
        let imported = match import(format, &path.display().to_string(), &text, &ctx) {
            Ok(i) => i,
            Err(ImportError::NotAFixture(_)) => continue,
            Err(e) => {
                failed.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let file = SourceFile::new(format!("{}.toml", imported.slug), imported.toml.clone());
        let mut diags = Diagnostics::new();
        let profile = parse_profile(&imported.slug, &file, &mut diags).unwrap_or_else(|| {
            panic!(
                "{}: imported profile does not load: {diags}",
                path.display()
            )
        });
        let source: Vec<usize> = match format {
            Format::Qxf => qxf_counts(&text),
            Format::Ofl => ofl_counts(&serde_json::from_str(&text).unwrap()),
        };
        // Modes of 1..512 channels are imported, in source order.
        let expected: Vec<usize> = source
            .into_iter()
            .filter(|n| (1..=512).contains(n))
            .collect();
        let got: Vec<usize> = profile.modes.iter().map(|m| m.footprint as usize).collect();
        assert_eq!(got, expected, "{}: channel counts per mode", path.display());
        assert_eq!(profile.needs_power, imported.profile.power_w.is_none());
        // A stated strobe rate belongs to a profile with a strobe channel.
        if profile.strobe_hz.is_some() {
            assert!(
                profile
                    .modes
                    .iter()
                    .any(|m| m.has(nightscape_core::fixture::Role::Strobe)),
                "{}: strobe_hz without a strobe channel",
                path.display()
            );
            with_hz += 1;
        }
        ok += 1;
    }
    (ok, failed, with_hz)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn the_shared_corpus_imports() {
    // `../shared` sits beside the checkout in CI; a git worktree one level
    // deeper finds it at `../../shared`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = ["../shared/fixture-corpus", "../../shared/fixture-corpus"]
        .iter()
        .map(|rel| root.join(rel))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| root.join("../shared/fixture-corpus"));
    if !corpus.is_dir() {
        crate::common::skip_unless_ci(
            "the_shared_corpus_imports",
            &format!(
                "no fixture corpus at {} (it sits beside the checkout)",
                corpus.display()
            ),
        );
        return;
    }
    for (sub, format) in [("qlcplus", Format::Qxf), ("ofl", Format::Ofl)] {
        let dir = corpus.join(sub);
        if !dir.is_dir() {
            crate::common::skip_unless_ci(
                "the_shared_corpus_imports",
                &format!("{} is missing", dir.display()),
            );
            continue;
        }
        let started = std::time::Instant::now();
        let (ok, failed, with_hz) = import_library(&dir, format);
        let total = ok + failed.len();
        eprintln!(
            "{sub}: {ok}/{total} imported in {:.2?}, {with_hz} with the strobe rates the library states; failures: {failed:#?}",
            started.elapsed()
        );
        // Where the library states strobe rates, the profile carries them
        // (18 of the QLC+ and 62 of the OFL files here).
        assert!(
            with_hz >= 10,
            "{sub}: only {with_hz} profiles with strobe_hz"
        );
        assert!(total > 0, "{sub}: no files");
        assert!(
            ok * 100 >= total * 97,
            "{sub}: only {ok} of {total} imported: {failed:#?}"
        );
    }
}
