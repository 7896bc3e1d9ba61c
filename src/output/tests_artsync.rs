//! ArtSync to a shared address through `open_all` (beside the code; was in
//! tests/it/output_site.rs): a site's `[[outputs]]` with `sync_to` open as
//! outputs that send every ArtDmx of a frame, then one ArtSync (14 bytes)
//! to the shared address, on real loopback sockets.

use nightscape_core::diag::{Diagnostics, Severity, SourceFile};
use nightscape_core::site::{self, Site};

const HEAD: &str = "name = \"t\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n";

fn compile(outputs: &str) -> (Option<Site>, Vec<String>) {
    let file = SourceFile::new("site.toml", format!("{HEAD}{outputs}"));
    let mut diags = Diagnostics::new();
    let site = site::compile(&file, Default::default(), &mut diags);
    let msgs = diags
        .items
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>();
    // Errors and a missing site go together.
    assert_eq!(
        site.is_none(),
        diags.items.iter().any(|d| d.severity == Severity::Error),
        "{msgs:?}"
    );
    (site, msgs)
}

fn ok(outputs: &str) -> (Site, Vec<String>) {
    let (s, m) = compile(outputs);
    (s.unwrap_or_else(|| panic!("{m:?}")), m)
}

#[test]
fn artsync_to_a_shared_address_goes_out_once_per_frame_after_all_artdmx() {
    use std::net::UdpSocket;
    use std::time::Duration;
    let socks: Vec<UdpSocket> = (0..3)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        })
        .collect();
    let port = |i: usize| socks[i].local_addr().unwrap().port();
    let (s, w) = ok(&format!(
        r#"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{a}"
universes = "0"
sync = true
sync_to = "127.0.0.1:{c}"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{b}"
universes = "1"
sync = true
sync_to = "127.0.0.1:{c}"
"#,
        a = port(0),
        b = port(1),
        c = port(2)
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        s.outputs[0].artsync_to,
        Some(format!("127.0.0.1:{}", port(2)).parse().unwrap())
    );
    let tmp = tempfile::tempdir().unwrap();
    let (mut outs, warnings) = crate::output::open_all(&s, tmp.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    let frame = nightscape_core::engine::Frame {
        universes: vec![0, 1],
        data: vec![[1; 512], [2; 512]],
    };
    for o in outs.iter_mut() {
        o.send(&frame);
    }
    let mut buf = [0u8; 1024];
    let kinds = |sock: &UdpSocket, buf: &mut [u8]| -> Vec<(usize, [u8; 2])> {
        let mut v = Vec::new();
        while let Ok((n, _)) = sock.recv_from(buf) {
            v.push((n, [buf[8], buf[9]]));
        }
        v
    };
    // ArtDmx (opcode 0x5000) to each node, one ArtSync (0x5200, 14 bytes) to the shared address.
    assert_eq!(kinds(&socks[0], &mut buf), [(530, [0x00, 0x50])]);
    assert_eq!(kinds(&socks[1], &mut buf), [(530, [0x00, 0x50])]);
    assert_eq!(kinds(&socks[2], &mut buf), [(14, [0x00, 0x52])]);

    // Outputs big enough for threads of their own still send in turn when
    // they share an ArtSync: on one socket, every ArtDmx of the frame
    // (80 universes from two outputs) arrives before the one ArtSync.
    let one = &socks[0];
    let (s, w) = ok(&format!(
        r#"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{a}"
universes = "0-39"
sync = true
sync_to = "127.0.0.1:{a}"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{a}"
universes = "40-79"
sync = true
sync_to = "127.0.0.1:{a}"
"#,
        a = port(0),
    ));
    assert!(w.is_empty(), "{w:?}");
    let (mut outs, warnings) = crate::output::open_all(&s, tmp.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(outs.iter().all(|o| !o.on_own_thread()));
    let mut frame = nightscape_core::engine::Frame {
        universes: (0..80).collect(),
        data: vec![[3; 512]; 80],
    };
    for _ in 0..3 {
        // As the frame loop hands a frame over (outputs on the frame loop
        // send at once).
        for o in outs.iter_mut() {
            o.send_at(&mut frame, std::time::Instant::now(), false);
        }
        let mut got = Vec::new();
        while got.len() < 81 {
            let Ok((n, _)) = one.recv_from(&mut buf) else {
                break;
            };
            got.push((n, [buf[8], buf[9]]));
        }
        let mut want = vec![(530, [0x00, 0x50]); 80];
        want.push((14, [0x00, 0x52]));
        assert_eq!(got, want);
    }
    for o in outs.iter_mut() {
        o.stop();
    }

    // "broadcast" is the directed broadcast of the target's network.
    let (s, _) = ok(r#"
[[outputs]]
kind = "artnet"
target = "10.0.4.20"
universes = "0"
sync = true
sync_to = "broadcast"
"#);
    assert_eq!(
        s.outputs[0].artsync_to,
        Some("10.255.255.255:6454".parse().unwrap())
    );
    assert_eq!(
        site::artnet_broadcast("192.168.1.20".parse().unwrap()),
        "192.168.1.255".parse::<std::net::Ipv4Addr>().unwrap()
    );
}
