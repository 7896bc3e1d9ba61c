//! The daemon when something goes wrong inside it (issue 10): absurd
//! show durations are refused when loaded, so the stop show cannot overflow
//! time arithmetic on SIGTERM. (A panic in the frame loop stopping outputs
//! and hooks is a unit test beside the loop: src/daemon/tests_frame_loop.rs.)

use crate::common;
use std::time::Duration;

#[test]
fn an_absurd_show_duration_is_refused_at_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let show = site.join("nightly.toml");
    let text = std::fs::read_to_string(&show).unwrap();
    let text = if text.contains("fade_in") {
        let start = text.find("fade_in").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        format!("{}fade_in = \"1e17\"{}", &text[..start], &text[end..])
    } else {
        text.replacen("\n", "\nfade_in = \"1e17\"\n", 1)
    };
    std::fs::write(&show, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nightly.toml:"), "{err}");
    assert!(err.contains("366 days"), "{err}");
}

#[test]
fn a_second_daemon_on_the_same_state_folder_exits_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        text.replacen("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"", 1),
    )
    .unwrap();
    let state = tmp.path().join("var");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--clock",
        "2026-12-31T20:00:00+08:00",
        "--speed",
        "0",
    ];
    let first = common::spawn_daemon(&site, &args, &[]);
    let pid = first.0.id().to_string();
    let lock = state.join("nightscape.lock");
    common::wait_for(
        "the first daemon to take the lock",
        Duration::from_secs(20),
        || std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid),
    );
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(&site)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exits_within(&mut second, Duration::from_secs(20), "the second daemon");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("PID {pid}")), "{err}");
    drop(first);
}

/// Run `nightscape run --site SITE ARGS` to its end (at most 20 s, else the
/// daemon is killed and the test fails): exit code and stderr.
fn run_to_exit(site: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(site)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exits_within(
        &mut child,
        Duration::from_secs(20),
        "the daemon without its API address",
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

/// Issue 23: an API address in use is an error, not a daemon running on
/// without its page (a browser there reaches whoever holds the port). The
/// message names the address and the holder: this test process, by PID.
#[test]
fn a_taken_api_address_stops_run_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        text.replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{addr}\""),
            1,
        ),
    )
    .unwrap();
    let state = tmp.path().join("var");
    for extra in [&[][..], &["--no-output"][..]] {
        let mut args = vec![
            "--state",
            state.to_str().unwrap(),
            "--clock",
            "2026-12-31T20:00:00+08:00",
            "--speed",
            "0",
        ];
        args.extend_from_slice(extra);
        let (code, err) = run_to_exit(&site, &args);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains(&addr), "{extra:?}: {err}");
        assert!(err.contains("in use"), "{extra:?}: {err}");
        if cfg!(target_os = "linux") {
            assert!(
                err.contains(&format!("PID {}", std::process::id())),
                "{extra:?}: the holder is named: {err}"
            );
        }
        assert!(
            !state.join("api.addr").exists(),
            "no address is published for a page this daemon does not serve"
        );
    }
    // `--listen` (a node's own address) is checked the same way.
    let (code, err) = run_to_exit(
        &site,
        &[
            "--state",
            state.to_str().unwrap(),
            "--no-output",
            "--listen",
            &addr,
            "--clock",
            "2026-12-31T20:00:00+08:00",
            "--speed",
            "0",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&addr), "{err}");
    drop(held);
}
