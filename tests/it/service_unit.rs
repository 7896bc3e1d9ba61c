//! The shipped service (issue 10): `nightscape service` honours its flags and
//! carries the hardening, and the daemon's log is plain text when it is not
//! written to a terminal (journald stores colour codes as garbage).

use crate::common;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn service_unit_honours_site_and_state_and_is_hardened() {
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args([
            "service",
            "--site",
            "/srv/lights/site",
            "--state",
            "/srv/lights/state",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let unit = String::from_utf8(out.stdout).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/nightscape run --site /srv/lights/site --state /srv/lights/state"),
        "{unit}"
    );
    for line in [
        "LimitNOFILE=65536",
        "MemoryMax=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/srv/lights/state",
        "SupplementaryGroups=dialout",
        "Type=notify",
        "WatchdogSec=10",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
    // Install steps: a nologin user, a 0600 token file with generated secrets.
    assert!(unit.contains("/usr/sbin/nologin"));
    assert!(unit.contains("install -m 600"));
    assert!(unit.contains("/dev/urandom"));
    assert!(!unit.contains("{SITE}") && !unit.contains("{STATE}"));
    // Without flags: the packaged locations.
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("service")
        .output()
        .unwrap();
    let unit = String::from_utf8(out.stdout).unwrap();
    assert!(unit.contains("--site /etc/nightscape/shows --state /var/lib/nightscape"));
}

#[test]
fn the_log_has_no_colour_codes_when_not_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    std::fs::write(
        site.join("site.toml"),
        text.replacen("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"", 1),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(&site)
        .arg("--state")
        .arg(tmp.path().join("var"))
        .args(["--clock", "2026-12-31T20:00:00+08:00", "--speed", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = Vec::new();
    while Instant::now() < deadline && !String::from_utf8_lossy(&log).contains("playing") {
        if let Ok(b) = rx.recv_timeout(Duration::from_millis(100)) {
            log.extend(b);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("running"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}
