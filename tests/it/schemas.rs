//! Editor support: `nightscape schema profile|site|show` and the demo's
//! committed schemas in `schemas/` (wired to Taplo / Even Better TOML by
//! `.taplo.toml`).
//!
//! The committed schemas must equal what the binary generates (so they
//! cannot go stale), every demo file and every file nightscape writes
//! (`new`, `generate-site`, `import`ed profiles in the demo) must validate
//! against its schema, and wrong files must fail at the key at fault.
//!
//! The validator is the reference one, Python's `jsonschema`
//! (`common::json_schema`), one process per schema and test.

use crate::common::json_schema::Validator;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nightscape(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .current_dir(cwd)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nightscape")
}

fn generated(kind: &str) -> serde_json::Value {
    let out = nightscape(&["schema", kind], &root());
    assert!(
        out.status.success(),
        "schema {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn committed(kind: &str) -> serde_json::Value {
    let p = root().join("schemas").join(format!("{kind}.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The committed schema of `kind`; `None` when no validator is here (the
/// test is skipped loudly, or fails under `CI=true`).
fn validator(kind: &str) -> Option<Validator> {
    Validator::new(&committed(kind))
}

/// TOML text as the JSON an editor's schema validation sees.
fn toml_to_json(text: &str) -> serde_json::Value {
    let v: toml::Table = toml::from_str(text).unwrap();
    serde_json::to_value(v).unwrap()
}

/// Each file's problems as "instance path: message", one validator
/// process per kind: `files` are (kind, TOML text).
fn problems(files: &[(&'static str, String)]) -> Option<Vec<Vec<String>>> {
    let mut by_kind: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (kind, _)) in files.iter().enumerate() {
        by_kind.entry(kind).or_default().push(i);
    }
    let mut out = vec![Vec::new(); files.len()];
    for (kind, at) in by_kind {
        let docs: Vec<Value> = at.iter().map(|&i| toml_to_json(&files[i].1)).collect();
        for (i, errs) in at.iter().zip(validator(kind)?.errors_all(&docs)) {
            out[*i] = errs.iter().map(|e| e.to_string()).collect();
        }
    }
    Some(out)
}

fn kind_of(path: &Path) -> &'static str {
    let in_fixtures = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "fixtures");
    if in_fixtures {
        "profile"
    } else if path.file_name().is_some_and(|n| n == "site.toml") {
        "site"
    } else {
        "show"
    }
}

/// Every TOML file under `dir`: (name, kind, text).
fn toml_files(dir: &Path) -> Vec<(String, &'static str, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).unwrap();
                files.push((p.display().to_string(), kind_of(&p), text));
            }
        }
    }
    assert!(!files.is_empty(), "no TOML files in {}", dir.display());
    files
}

/// Each (name, kind, text) validates against its kind's schema.
fn assert_all_validate(files: Vec<(String, &'static str, String)>) {
    let texts: Vec<(&'static str, String)> =
        files.iter().map(|(_, k, t)| (*k, t.clone())).collect();
    let Some(problems) = problems(&texts) else {
        return;
    };
    for ((name, kind, _), errs) in files.iter().zip(problems) {
        assert!(errs.is_empty(), "{name} ({kind}): {errs:#?}");
    }
}

#[test]
fn committed_schemas_are_what_the_binary_generates() {
    for kind in ["profile", "site", "show"] {
        assert_eq!(
            committed(kind),
            generated(kind),
            "schemas/{kind}.schema.json is stale: run `cargo run -- schema --out schemas`"
        );
        // Byte for byte too, so a regenerated file shows no diff.
        let out = nightscape(&["schema", kind], &root());
        let text =
            std::fs::read_to_string(root().join(format!("schemas/{kind}.schema.json"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{kind}");
    }
    // --out writes the same three files.
    let tmp = tempfile::tempdir().unwrap();
    let out = nightscape(&["schema", "--out", tmp.path().to_str().unwrap()], &root());
    assert!(out.status.success());
    for kind in ["profile", "site", "show"] {
        let name = format!("{kind}.schema.json");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(&name)).unwrap(),
            std::fs::read_to_string(root().join("schemas").join(&name)).unwrap()
        );
    }
    // Printing needs exactly one kind.
    let out = nightscape(&["schema"], &root());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}

#[test]
fn every_key_has_a_description_and_an_example() {
    for kind in ["profile", "site", "show"] {
        let missing = nightscape_core::schema::undocumented(&committed(kind));
        assert!(missing.is_empty(), "{kind}: {missing:?}");
    }
    // The layer keys come from the effect reference: `effect` is its list.
    let show = committed("show");
    let layer = &show["properties"]["layers"]["items"]["properties"];
    let effects: Vec<&str> = layer["effect"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(effects, nightscape_core::show::reference::names());
    let speed = layer["speed"]["description"].as_str().unwrap();
    assert!(speed.contains("wave") && speed.contains("2 m/s"), "{speed}");
}

#[test]
fn the_demo_validates_against_its_schemas() {
    let mut files = toml_files(&root().join("shows"));
    files.extend(toml_files(&root().join("fixtures")));
    assert_all_validate(files);
}

#[test]
fn files_nightscape_writes_validate() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(nightscape(&["new", "site", "plaza"], tmp.path())
        .status
        .success());
    let site = tmp.path().join("plaza/shows");
    let s = site.to_str().unwrap();
    assert!(
        nightscape(&["--site", s, "new", "show", "sparkle"], tmp.path())
            .status
            .success()
    );
    assert!(
        nightscape(&["--site", s, "new", "profile", "wash"], tmp.path())
            .status
            .success()
    );
    let mut files = toml_files(&tmp.path().join("plaza"));

    let gen = tmp.path().join("district");
    let out = nightscape(
        &[
            "generate-site",
            "--universes",
            "2",
            "--effect",
            "all",
            "--out",
            gen.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{out:?}");
    files.extend(toml_files(&gen));

    // Every effect's example in the reference is a valid layer.
    for e in nightscape_core::show::reference::EFFECTS {
        let text = format!("[[layers]]\n{}\n", e.example);
        files.push((format!("the example of {}", e.name), "show", text));
    }
    assert_all_validate(files);
}

/// Wrong files fail at the key at fault: (schema, file, where, what the
/// message says, in Python jsonschema's words where they name a kind of
/// problem).
#[test]
fn wrong_files_fail_at_the_key() {
    let layer = "[[layers]]\ntarget = \"avenue\"\n";
    let cases: &[(&'static str, String, &str, &str)] = &[
        (
            "show",
            format!("{layer}effect = \"wave\"\nsped = \"4 m/s\"\n"),
            "/layers/0",
            "'sped' was unexpected",
        ),
        ("show", format!("{layer}effect = \"wav\"\n"), "/layers/0/effect", "'wav' is not one of ['solid'"),
        ("show", format!("{layer}effect = \"solid\"\nlevel = 1.5\n"), "/layers/0/level", "1.5 is not valid under any"),
        ("show", format!("{layer}effect = \"wave\"\nspeed = \"fast\"\n"), "/layers/0/speed", "'fast' does not match"),
        ("show", format!("{layer}effect = \"chase\"\nwidth = 0\n"), "/layers/0/width", "0 is less than the minimum of 1"),
        ("show", format!("{layer}effect = \"sequence\"\n"), "/layers/0", "'cues' is a required property"),
        ("show", "fade_in = \"8 parsecs\"\n".into(), "/fade_in", "'8 parsecs' does not match"),
        ("show", "colour = \"red\"\n".into(), "", "'colour' was unexpected"),
        (
            "profile",
            "name = \"x\"\npower_w = 5\n[[modes]]\nname = \"a\"\nchannels = [\"dimmer\", \"purple\"]\n".into(),
            "/modes/0/channels/1",
            "'purple' is not valid under any",
        ),
        ("profile", "name = \"x\"\n[[modes]]\nname = \"a\"\n".into(), "", "'power_w' is a required property"),
        (
            "site",
            "name = \"s\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\nfps = 100\n".into(),
            "/fps",
            "100 is greater than the maximum of 44",
        ),
        (
            "site",
            "name = \"s\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n[[schedule]]\nshow = \"a\"\nstart = \"19:00\"\nend = \"20:00\"\nholidays = \"mid_autum\"\n".into(),
            "/schedule/0/holidays",
            "'mid_autum' is not valid under any",
        ),
        (
            "site",
            "name = \"s\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n[api]\ntokens = [{ name = \"a\", role = \"god\", env = \"X\" }]\n".into(),
            "/api/tokens/0/role",
            "'god' is not valid under any",
        ),
        (
            "site",
            "name = \"s\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n[safety]\nmin_share = 2\n".into(),
            "/safety/min_share",
            "2 is greater than the maximum of 1",
        ),
    ];
    // Case does not matter where the parser ignores it: the last file.
    let mut files: Vec<(&'static str, String)> =
        cases.iter().map(|(k, t, _, _)| (*k, t.clone())).collect();
    files.push((
        "show",
        format!("{layer}effect = \"solid\"\nblend = \"HTP\"\n"),
    ));
    let Some(mut all) = problems(&files) else {
        return;
    };
    assert_eq!(all.pop(), Some(Vec::new()), "blend = \"HTP\"");
    for ((kind, text, at, what), errs) in cases.iter().zip(all) {
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("{at}: ")) && e.contains(what)),
            "{kind} file\n{text}\nexpected a problem at `{at}` saying `{what}`, got {errs:#?}"
        );
    }
}

/// `.taplo.toml` associates each demo file with its schema, by path.
#[test]
fn taplo_config_points_every_demo_file_at_its_schema() {
    let cfg: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join(".taplo.toml")).unwrap()).unwrap();
    let rules = cfg["rule"].as_array().unwrap();
    let schema_for = |file: &str| -> Vec<String> {
        rules
            .iter()
            .filter(|r| {
                let globs = |k: &str| -> Vec<String> {
                    r.get(k)
                        .and_then(|v| v.as_array())
                        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default()
                };
                let m = |g: &String| glob_match(g, file);
                globs("include").iter().any(m) && !globs("exclude").iter().any(m)
            })
            .map(|r| r["schema"]["path"].as_str().unwrap().to_string())
            .collect()
    };
    for (file, kind) in [
        ("shows/site.toml", "site"),
        ("shows/nightly.toml", "show"),
        ("fixtures/rgbw-flood-120w.toml", "profile"),
    ] {
        assert_eq!(
            schema_for(file),
            vec![format!("schemas/{kind}.schema.json")],
            "{file}"
        );
        assert!(root().join(file).exists());
    }
}

/// `*` within one path segment, as Taplo's globs.
fn glob_match(glob: &str, path: &str) -> bool {
    fn m(g: &[u8], p: &[u8]) -> bool {
        match (g.first(), p.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&g[1..], p) || (!p.is_empty() && p[0] != b'/' && m(g, &p[1..])),
            (Some(a), Some(b)) if a == b => m(&g[1..], &p[1..]),
            _ => false,
        }
    }
    m(glob.as_bytes(), path.as_bytes())
}
