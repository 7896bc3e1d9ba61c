//! Issue 23, "checks that tell the truth" on the command line: files land
//! where the designer stands (`new show` inside a site folder), and a new
//! site's console is not a dead end (`new site` writes token entries whose
//! variables `run` names as it starts).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nightscape(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// `nightscape new show NAME` in the folder holding site.toml writes
/// `NAME.toml` beside it (not `shows/NAME.toml` under it), and the site then
/// checks with the new show, also without `--site`.
#[test]
fn new_show_inside_the_site_folder_writes_beside_site_toml() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(nightscape(tmp.path(), &["new", "site", "plaza"])
        .status
        .success());
    let here = tmp.path().join("plaza/shows");
    let out = nightscape(&here, &["new", "show", "sparkle"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        here.join("sparkle.toml").is_file(),
        "written beside site.toml"
    );
    assert!(!here.join("shows").exists(), "no shows/shows/");
    let show = std::fs::read_to_string(here.join("sparkle.toml")).unwrap();
    assert!(
        show.contains("target = \"street\""),
        "aimed at the site's group: {show}"
    );
    let out = nightscape(&here, &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 shows (evening, sparkle)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // From the folder above, the default is still ./shows.
    let out = nightscape(&tmp.path().join("plaza"), &["new", "show", "later"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(here.join("later.toml").is_file());
}

/// `new site` writes token entries read from environment variables, and
/// `run` names each variable (and whether it is set) in its first log
/// lines, before it says it is running.
#[test]
fn new_site_tokens_are_named_by_run_as_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(nightscape(tmp.path(), &["new", "site", "plaza"])
        .status
        .success());
    let site = tmp.path().join("plaza/shows");
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    for var in [
        "NIGHTSCAPE_ADMIN_TOKEN",
        "NIGHTSCAPE_OPERATOR_TOKEN",
        "NIGHTSCAPE_VIEWER_TOKEN",
    ] {
        assert!(text.contains(&format!("env = \"{var}\"")), "{text}");
    }
    let out = nightscape(tmp.path(), &["check", "--site", "plaza/shows"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = tmp.path().join("var");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--no-output", "--listen", "127.0.0.1:0", "--site"])
        .arg(&site)
        .arg("--state")
        .arg(&state)
        .args(["--clock", "2026-12-31T20:00:00+08:00", "--speed", "0"])
        .env(
            "NIGHTSCAPE_OPERATOR_TOKEN",
            "a-long-random-secret-for-tests",
        )
        .env_remove("NIGHTSCAPE_ADMIN_TOKEN")
        .env_remove("NIGHTSCAPE_VIEWER_TOKEN")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.contains("running")) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = lines.join("\n");
    let running = lines
        .iter()
        .position(|l| l.contains("running"))
        .unwrap_or_else(|| panic!("the daemon did not start: {log}"));
    let before = &lines[..running].join("\n");
    assert!(
        before.contains("NIGHTSCAPE_OPERATOR_TOKEN is set"),
        "the set variable is named before `running`: {log}"
    );
    for var in ["NIGHTSCAPE_ADMIN_TOKEN", "NIGHTSCAPE_VIEWER_TOKEN"] {
        assert!(
            before.contains(&format!("{var} is NOT set")),
            "{var} is named as unset: {log}"
        );
    }
    assert!(
        !log.contains("a-long-random-secret-for-tests"),
        "never a secret: {log}"
    );
}
