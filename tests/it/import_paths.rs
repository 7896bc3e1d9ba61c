//! `nightscape import` with hostile paths (issue 29, item 8): a FIFO or a
//! link to `/dev/zero` among the sources is a failure at its path, not a
//! hang or gigabytes read; a link in `--out` is never written through,
//! with or without `--overwrite`; a link loop among the sources ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `nightscape import ARGS` with an upper bound on its time; (exit code,
/// stdout + stderr).
fn import_bounded(args: &[&str]) -> (Option<i32>, String) {
    let out = crate::common::output_within(
        Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .arg("import")
            .args(args),
        Duration::from_secs(30),
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn qxf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/nightscape-core/tests/import-data/qlcplus")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The profile `Scanic-Astute-LED-108.qxf` imports as.
const PROFILE: &str = "scanic-astute-led-108.toml";

/// A source folder holding one good definition.
fn sources(tmp: &Path) -> PathBuf {
    let src = tmp.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(qxf("Scanic-Astute-LED-108.qxf"), src.join("good.qxf")).unwrap();
    src
}

/// Names in `dir` that start with a dot (temporary files left behind).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn fifos_devices_and_huge_sources_fail_at_their_path_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    let fifo = Command::new("mkfifo")
        .arg(src.join("pipe.qxf"))
        .status()
        .is_ok_and(|s| s.success());
    std::os::unix::fs::symlink("/dev/zero", src.join("zero.qxf")).unwrap();
    let big = std::fs::File::create(src.join("big.qxf")).unwrap();
    big.set_len(9 * 1024 * 1024).unwrap();
    let out = tmp.path().join("profiles");
    let (code, text) = import_bounded(&["--from", "qxf", s(&src), "--out", s(&out)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("zero.qxf: failed: cannot read: is not a regular file (a device)"),
        "{text}"
    );
    assert!(
        text.contains("big.qxf: failed: cannot read: is 9437184 bytes, larger than"),
        "{text}"
    );
    if fifo {
        assert!(
            text.contains("pipe.qxf: failed: cannot read: is not a regular file (a FIFO)"),
            "{text}"
        );
    }
    // The good one still imports.
    assert!(out.join(PROFILE).is_file(), "{text}");
    // A FIFO named on the command line is no different.
    if fifo {
        let (code, text) = import_bounded(&[
            "--from",
            "qxf",
            s(&src.join("pipe.qxf")),
            "--out",
            s(&tmp.path().join("other")),
        ]);
        assert_eq!(code, Some(2), "{text}");
        assert!(text.contains("a FIFO"), "{text}");
    }
}

#[test]
fn a_dangling_link_in_out_is_an_existing_file_not_a_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    let out = tmp.path().join("profiles");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let escaped = outside.join("escaped.toml");
    std::os::unix::fs::symlink(&escaped, out.join(PROFILE)).unwrap();
    let (code, text) = import_bounded(&["--from", "qxf", s(&src), "--out", s(&out)]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("already exists (--overwrite replaces it)"),
        "{text}"
    );
    assert!(
        !escaped.exists(),
        "import wrote through a link out of --out"
    );
    assert!(
        std::fs::symlink_metadata(out.join(PROFILE))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced without --overwrite"
    );
    assert_eq!(hidden(&out), Vec::<String>::new());
}

#[test]
fn overwrite_replaces_a_link_in_out_instead_of_the_file_it_points_to() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    let out = tmp.path().join("profiles");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim.toml");
    std::fs::write(&victim, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&victim, out.join(PROFILE)).unwrap();
    let (code, text) = import_bounded(&["--from", "qxf", s(&src), "--out", s(&out), "--overwrite"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "keep me\n",
        "--overwrite wrote through a link to a file outside --out"
    );
    let meta = std::fs::symlink_metadata(out.join(PROFILE)).unwrap();
    assert!(meta.is_file(), "the profile is a regular file in --out now");
    let profile = std::fs::read_to_string(out.join(PROFILE)).unwrap();
    assert!(profile.contains("Astute"), "{profile}");
    assert_eq!(hidden(&out), Vec::<String>::new());
    // And an ordinary existing file is replaced as before.
    let (code, text) = import_bounded(&["--from", "qxf", s(&src), "--out", s(&out), "--overwrite"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(std::fs::read_to_string(out.join(PROFILE)).unwrap(), profile);
}

#[test]
fn a_link_loop_among_the_sources_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let src = sources(tmp.path());
    std::os::unix::fs::symlink(&src, src.join("loop")).unwrap();
    let out = tmp.path().join("profiles");
    let (code, text) = import_bounded(&["--from", "qxf", s(&src), "--out", s(&out)]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("imported 1 profile(s)"), "{text}");
}
