//! Bad input in a site folder through the real binary's `check`: one case
//! of each family: exit 1, located lines on stderr and nothing on stdout
//! for a bad show, a bad site or a missing site file; exit 0 and an `ok:`
//! line for the demo. What the daemon's loader makes of a folder (the demo
//! loads clean; no `site.toml`, an unreadable profile library, a file that
//! is not UTF-8) is unit-tested beside it: src/config/tests_folder.rs. The
//! pure cases are `check(case)` tables in the core
//! (`crates/nightscape-core/tests/it/bad_input.rs`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["shows", "fixtures"] {
            crate::common::copy_dir(&repo.join(sub), &tmp.path().join(sub));
        }
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

    /// Append to a file; returns the whole new text.
    fn append(&self, rel: &str, extra: &str) -> String {
        let mut text = self.read(rel);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(extra);
        self.write(rel, &text)
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

/// The show file tests add (sorted after every demo show).
const BAD_SHOW: &str = "shows/zz-bad.toml";

/// A hand-placed fixture table to append to site.toml. Universe 4 of the
/// demo holds only tower-crown at 4.1..180, so 4.201.. is free.
fn fixture(name: &str, profile: &str, mode: &str, address: &str) -> String {
    format!(
        "\n[[fixtures]]\nname = \"{name}\"\nprofile = \"{profile}\"\nmode = \"{mode}\"\nat = [0, 0]\naddress = \"{address}\"\n"
    )
}

// ----------------------------------------------------- the real binary

fn check(site: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("check")
        .arg("--site")
        .arg(site)
        .env_remove("RUST_LOG")
        .output()
        .expect("run nightscape check")
}

/// The demo as shipped passes the whole check, the safety check's default
/// minute of every show included (seconds in a debug build: slow tier).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn binary_check_on_the_demo_exits_0_with_an_ok_line() {
    let site = TestSite::demo();
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:{stdout}\nstderr:{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok:")),
        "stdout: {stdout}"
    );
    assert!(stderr.trim().is_empty(), "demo check printed: {stderr}");
}

#[test]
fn binary_check_on_a_bad_show_exits_1_with_located_lines_and_no_stdout() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\nfade_in = \"-3s\"\n[[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n",
    );
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let file = site.shows().join("zz-bad.toml");
    for (needle, phrase) in [("\"-3s\"", "negative"), ("\"plaza\"", "matches no fixture")] {
        let (l, c) = locate(&text, needle);
        let head = format!("{}:{l}:{c}: ", file.display());
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&head) && line.contains(phrase)),
            "no line starting `{head}` with `{phrase}` in:\n{stderr}"
        );
    }
}

#[test]
fn binary_check_on_a_bad_site_exits_1_with_located_lines() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "5ch", "0.513"),
    );
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let (l, c) = locate(&text, "\"0.513\"");
    let head = format!("{}:{l}:{c}: ", site.shows().join("site.toml").display());
    assert!(
        stderr.lines().any(|line| line.starts_with(&head)),
        "no line starting `{head}` in:\n{stderr}"
    );
    assert!(stderr.contains("1 error found"), "{stderr}");
}

#[test]
fn binary_check_on_a_folder_without_site_toml_exits_1() {
    let site = TestSite::demo();
    fs::remove_file(site.path("shows/site.toml")).unwrap();
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let head = format!("{}:1:1: ", site.shows().join("site.toml").display());
    assert!(
        stderr.lines().any(|l| l.starts_with(&head)),
        "no line starting `{head}` in:\n{stderr}"
    );
}
