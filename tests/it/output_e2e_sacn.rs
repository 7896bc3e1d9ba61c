//! End to end: the real binary runs the demo site with an extra sACN output
//! (site universes 0-1 as E1.31 universes 1-2, synchronised) aimed at a
//! socket on 127.0.0.1. While it runs, data and sync packets arrive with
//! the CID saved in the `--state` folder; on SIGTERM the daemon stops and
//! its last word is three stream-termination packets per universe.

use nightscape_core::wire::sacn::{decode, Decoded, OPT_STREAM_TERMINATED};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn daemon_sends_sacn_and_terminates_the_streams_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("shows"), &tmp.path().join("shows"));
    copy_dir(&root.join("fixtures"), &tmp.path().join("fixtures"));
    let site = tmp.path().join("shows");
    let state = tmp.path().join("var");

    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut text = std::fs::read_to_string(site.join("site.toml")).unwrap();
    text.push_str(&format!(
        "\n[[outputs]]\nkind = \"sacn\"\ntarget = \"{}\"\nuniverses = \"0-1\"\nwire_offset = 1\nsync = true\nsource_name = \"e2e\"\n",
        rx.local_addr().unwrap()
    ));
    std::fs::write(site.join("site.toml"), text).unwrap();

    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .arg("run")
            .arg("--site")
            .arg(&site)
            .arg("--state")
            .arg(&state)
            .args(["--clock", "2026-12-31T20:00:00+08:00", "--speed", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let mut buf = [0u8; 1024];
    let mut data: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let mut syncs = 0;
    let mut cid = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && (syncs < 3 || data.values().any(|s| s.len() < 3)) {
        let Ok((n, _)) = rx.recv_from(&mut buf) else {
            continue;
        };
        let decoded = match decode(&buf[..n]) {
            // Universe Discovery (every 10 s) is checked in src/output/sacn/tests_discovery.rs.
            Err(nightscape_core::wire::sacn::WireError::UniverseDiscovery) => continue,
            other => other.expect("valid E1.31"),
        };
        match decoded {
            Decoded::Data {
                universe,
                sequence,
                source_name,
                sync_address,
                cid: c,
                options,
                ..
            } => {
                assert_eq!(source_name, "e2e");
                assert_eq!(sync_address, 1);
                assert_eq!(options, 0);
                cid = Some(c);
                data.entry(universe).or_default().push(sequence);
            }
            Decoded::Sync { sync_address, .. } => {
                assert_eq!(sync_address, 1);
                syncs += 1;
            }
        }
    }
    assert_eq!(data.keys().copied().collect::<Vec<_>>(), [1, 2]);
    for seqs in data.values() {
        // Consecutive per universe (loopback drops nothing at this rate).
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1), "{seqs:?}");
        }
    }
    let saved = std::fs::read_to_string(state.join("sacn-cid")).unwrap();
    assert_eq!(
        saved.trim(),
        cid.unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    // SIGTERM, as systemd stops the service.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut terminated: BTreeMap<u16, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && terminated.values().sum::<usize>() < 6 {
        let Ok((n, _)) = rx.recv_from(&mut buf) else {
            continue;
        };
        if let Ok(Decoded::Data {
            universe, options, ..
        }) = decode(&buf[..n])
        {
            if options & OPT_STREAM_TERMINATED != 0 {
                *terminated.entry(universe).or_default() += 1;
            }
        }
    }
    assert_eq!(terminated, BTreeMap::from([(1, 3), (2, 3)]));
    // And then it exits.
    let st = crate::common::exits_within(
        &mut daemon.0,
        Duration::from_secs(10),
        "the daemon after SIGTERM",
    );
    assert!(st.success(), "{st:?}");
}
