//! The daemon's loader on a site folder, beside it (was in
//! tests/it/check_bad_input.rs, whose `check` tests through the binary stay
//! there): the demo folder loads clean, and problems only a folder can have
//! (no `site.toml`, an unreadable profile library, a file that is not
//! UTF-8) come back as `path:line:col: message`. The pure cases are
//! `check(case)` tables in the core (`crates/nightscape-core/tests/it/bad_input.rs`).

use crate::config::Config;
use nightscape_core::diag::{Diagnostic, Diagnostics, Severity};
use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- helpers

/// A copy of the demo site in a temporary folder, laid out like the
/// repository (`<tmp>/shows`, `<tmp>/fixtures`) because `site.toml` finds
/// its profile library at `../fixtures`.
struct TestSite {
    tmp: tempfile::TempDir,
}

impl TestSite {
    fn demo() -> TestSite {
        let tmp = tempfile::tempdir().expect("tempdir");
        crate::test_support::demo_site_in(tmp.path());
        TestSite { tmp }
    }

    /// The site folder (what `--site` names).
    fn shows(&self) -> PathBuf {
        self.tmp.path().join("shows")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Write (or overwrite) a file; returns the text for locating tokens.
    fn write(&self, rel: &str, text: &str) -> String {
        fs::write(self.path(rel), text).unwrap();
        text.to_string()
    }

    /// Replace the one occurrence of `from` in a file; returns the new text.
    fn replace(&self, rel: &str, from: &str, to: &str) -> String {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur exactly once in {rel}"
        );
        self.write(rel, &text.replacen(from, to, 1))
    }

    fn load(&self) -> Result<Config, Diagnostics> {
        crate::config::load(&self.shows())
    }

    /// Load, expecting failure; every diagnostic must be well formed.
    fn errors(&self) -> Vec<Diagnostic> {
        match self.load() {
            Ok(cfg) => panic!(
                "expected the site to be rejected; it loaded with {} shows (warnings: {})",
                cfg.shows.len(),
                cfg.warnings
            ),
            Err(d) => {
                assert!(d.has_errors(), "Err without an error: {d}");
                for item in &d.items {
                    item.check_well_formed().unwrap_or_else(|e| panic!("{e}"));
                }
                d.items
            }
        }
    }
}

/// 1-based line and column (in characters) where the one occurrence of
/// `needle` starts in `text`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` must occur exactly once in the text under test"
    );
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Where `token` starts in the one occurrence of `prefix` + `token`.
/// `shows/../fixtures/x.toml`).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn dump(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("\n  {d}")).collect()
}

/// Assert an error at exactly `file:line:col` whose message contains every
/// phrase; returns it.
fn expect_error<'a>(
    diags: &'a [Diagnostic],
    file: &Path,
    (line, col): (usize, usize),
    phrases: &[&str],
) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| {
            d.severity == Severity::Error
                && same_file(&d.path, file)
                && d.line == line
                && d.col == col
                && phrases.iter().all(|p| d.message.contains(p))
        })
        .unwrap_or_else(|| {
            panic!(
                "no error at {}:{line}:{col} containing {phrases:?}; got:{}",
                file.display(),
                dump(diags)
            )
        })
}

/// The show file tests add (sorted after every demo show).
const BAD_SHOW: &str = "shows/zz-bad.toml";

// ------------------------------------------------------------- the demo

#[test]
fn demo_site_loads_with_zero_errors_and_zero_warnings() {
    let site = TestSite::demo();
    let cfg = site
        .load()
        .unwrap_or_else(|d| panic!("demo site rejected:\n{d}"));
    assert!(cfg.warnings.is_empty(), "warnings:\n{}", cfg.warnings);
    let show_files = fs::read_dir(site.shows())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| !p.ends_with("site.toml"))
        .count();
    assert_eq!(cfg.show_order.len(), show_files, "one show per show file");
    for name in ["nightly", "spring-festival", "curfew-white"] {
        assert!(cfg.show(name).is_some(), "demo show `{name}` missing");
    }
    assert!(!cfg.site.fixtures.is_empty());
}

// -------------------------------------------------------------- files

#[test]
fn missing_site_toml_names_the_file() {
    let site = TestSite::demo();
    fs::remove_file(site.path("shows/site.toml")).unwrap();
    let d = site.errors();
    assert_eq!(d.len(), 1, "{}", dump(&d));
    assert_eq!(d[0].path, site.shows().join("site.toml"));
    assert_eq!((d[0].line, d[0].col), (1, 1));
    assert!(
        d[0].message.contains("cannot read the site file"),
        "{}",
        d[0]
    );
    assert!(d[0].to_string().contains("site.toml:1:1: "), "{}", d[0]);
}

#[test]
fn missing_profile_library_is_reported() {
    let site = TestSite::demo();
    site.replace(
        "shows/site.toml",
        "profiles = \"../fixtures\"",
        "profiles = \"../no-such-library\"",
    );
    let d = site.errors();
    // Said at the `profiles` key of site.toml, naming the folder.
    assert!(
        d.iter().any(|e| e.path.ends_with("site.toml")
            && e.message.contains("cannot read the profile library")
            && e.message.contains("no-such-library")),
        "{}",
        dump(&d)
    );
}

#[test]
fn show_file_that_is_not_utf8_is_reported_not_a_panic() {
    let site = TestSite::demo();
    fs::write(site.path(BAD_SHOW), b"name = \"\xff\xfe\"\n").unwrap();
    let d = site.errors();
    let e = expect_error(&d, &site.path(BAD_SHOW), (1, 1), &["cannot read"]);
    assert!(e.to_string().contains("zz-bad.toml:1:1: "), "{e}");
}

// -------------------------------------- a library that cannot be read

/// A profile library that is not there: said once, at the key, not as
/// "unknown profile" for every array and fixture using it.
#[test]
fn a_missing_profile_library_is_one_error_at_its_key() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "profiles = \"../fixtures\"",
        "profiles = \"../fixturez\"",
    );
    let diags = site.errors();
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    assert_eq!(errors, 1, "expected one error; got:{}", dump(&diags));
    expect_error(
        &diags,
        &site.path("shows/site.toml"),
        locate(&text, "\"../fixturez\""),
        &["cannot read the profile library"],
    );
}
