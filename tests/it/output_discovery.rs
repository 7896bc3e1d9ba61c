//! `nightscape nodes` as an installer runs it: Art-Net discovery through the
//! CLI against a demo site retargeted at a quiet loopback socket. The
//! discovery code's own tests (fake nodes, unsent polls, a held port) are
//! unit tests in src/output/discovery/tests_poll.rs.

use std::net::UdpSocket;

/// A target it could not poll
/// is named with the reason beside the count, and when nothing could be
/// polled it exits 1 saying so instead of printing "0 nodes".
#[test]
fn nodes_cli_says_when_its_poll_was_not_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let site = crate::common::demo_site_in(tmp.path());
    let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
    crate::common::retarget(&site, &quiet.local_addr().unwrap().to_string());
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .arg("--site")
            .arg(&site)
            .args(["nodes", "--listen", "127.0.0.1:0", "--timeout", "200ms"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--target", "127.0.0.1:0"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ArtPoll not sent to 127.0.0.1:0: "),
        "{stderr}"
    );
    assert!(
        stdout.contains(": 0 nodes (not sent to 127.0.0.1:0"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("no reply seen from 127.0.0.1:0"),
        "an unsent poll expects no reply: {stdout}"
    );

    // Nothing could be sent: an error, not "0 nodes".
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let was = format!("target = \"{}\"", quiet.local_addr().unwrap());
    assert!(text.contains(&was));
    std::fs::write(&p, text.replace(&was, "target = \"127.0.0.1:0\"")).unwrap();
    let out = run(&[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("0 nodes"), "{stdout}");
    assert!(
        stderr.contains("no ArtPoll could be sent, so no node could answer: 127.0.0.1:0"),
        "{stderr}"
    );
}
