//! sACN output on loopback, beside the code (was tests/it/output_sacn.rs):
//! packets decoded with `nightscape_core::wire::sacn::decode` carry
//! the wire universe, the output's priority, our source name and CID, and a
//! sequence number per universe; sync packets follow each frame when sync
//! is on; `stop` sends three stream-termination packets per universe and
//! nothing after; the CID is the same across two opens of one state folder.
//! Unicast to 127.0.0.1 only: multicast would leave the machine.

use crate::output::sacn::{format_cid, SacnOutput, SacnSettings, CID_FILE};
use crate::output::{self, Output};
use nightscape_core::diag::{Diagnostics, SourceFile};
use nightscape_core::engine::Frame;
use nightscape_core::site::{self, SacnTarget, UNIVERSE_SIZE};
use nightscape_core::wire::sacn::{decode, Decoded, OPT_STREAM_TERMINATED};
use std::net::UdpSocket;
use std::time::Duration;

const CID: [u8; 16] = *b"0123456789abcdef";

fn receiver() -> UdpSocket {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    rx
}

/// The next data or sync packet (Universe Discovery, every 10 s, is
/// checked in `tests_discovery.rs` and skipped here).
fn recv(rx: &UdpSocket) -> Decoded {
    let mut b = [0u8; 1024];
    loop {
        let (n, _) = rx.recv_from(&mut b).expect("a packet within 2 s");
        match decode(&b[..n]) {
            Err(nightscape_core::wire::sacn::WireError::UniverseDiscovery) => continue,
            r => return r.unwrap_or_else(|e| panic!("undecodable packet: {e}")),
        }
    }
}

/// Nothing more arrives within a short, bounded wait.
fn silent(rx: &UdpSocket) -> bool {
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 1024];
    rx.recv_from(&mut b).is_err()
}

fn settings(rx: &UdpSocket, sync_address: Option<u16>) -> SacnSettings {
    SacnSettings {
        target: SacnTarget::Unicast(rx.local_addr().unwrap()),
        priority: 150,
        sync_address,
        source_name: "axis test".into(),
        cid: CID,
    }
}

fn frame(values: &[(u16, u8)]) -> Frame {
    Frame {
        universes: values.iter().map(|v| v.0).collect(),
        data: values
            .iter()
            .map(|v| {
                let mut d = [v.1; UNIVERSE_SIZE];
                d[511] = v.1.wrapping_add(1);
                d
            })
            .collect(),
    }
}

#[test]
fn data_packets_carry_universe_priority_name_cid_and_sequence_per_universe() {
    let rx = receiver();
    // Site universes 0 and 1 go out as E1.31 universes 1 and 7.
    let mut out = SacnOutput::open(settings(&rx, None), vec![0, 1], vec![1, 7]).unwrap();
    for f in 0..3u8 {
        out.send(&frame(&[(0, 10 + f), (1, 20 + f)]));
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        match recv(&rx) {
            Decoded::Data {
                cid,
                source_name,
                priority,
                sync_address,
                sequence,
                options,
                universe,
                start_code,
                slots,
            } => {
                assert_eq!(cid, CID);
                assert_eq!(source_name, "axis test");
                assert_eq!(priority, 150);
                assert_eq!(sync_address, 0);
                assert_eq!(options, 0);
                assert_eq!(start_code, 0);
                assert_eq!(slots.len(), 512);
                assert_eq!(slots[511], slots[0] + 1);
                seen.push((universe, sequence, slots[0]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            (1, 0, 10),
            (7, 0, 20),
            (1, 1, 11),
            (7, 1, 21),
            (1, 2, 12),
            (7, 2, 22)
        ]
    );
    let h = out.health();
    assert_eq!((h.kind.as_str(), h.state.as_str()), ("sacn", "ok"));
    // Six data packets and the first frame's Universe Discovery packet.
    assert_eq!((h.frames_sent, h.packets_sent, h.send_errors), (3, 7, 0));
    assert_eq!(h.universes, [0, 1]);
    assert!(silent(&rx));
}

#[test]
fn a_universe_missing_from_the_frame_is_sent_dark() {
    let rx = receiver();
    let mut out = SacnOutput::open(settings(&rx, None), vec![5], vec![5]).unwrap();
    out.send(&frame(&[(4, 9)]));
    match recv(&rx) {
        Decoded::Data {
            universe, slots, ..
        } => {
            assert_eq!(universe, 5);
            assert!(slots.iter().all(|&s| s == 0));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sync_packet_follows_each_frame() {
    let rx = receiver();
    let mut out = SacnOutput::open(settings(&rx, Some(9)), vec![1, 2], vec![1, 2]).unwrap();
    out.send(&frame(&[(1, 1), (2, 2)]));
    out.send(&frame(&[(1, 3), (2, 4)]));
    let mut kinds = Vec::new();
    for _ in 0..6 {
        match recv(&rx) {
            Decoded::Data {
                universe,
                sync_address,
                sequence,
                ..
            } => {
                assert_eq!(sync_address, 9, "data names the sync universe");
                kinds.push(format!("data {universe}#{sequence}"));
            }
            Decoded::Sync {
                cid,
                sequence,
                sync_address,
            } => {
                assert_eq!(cid, CID);
                assert_eq!(sync_address, 9);
                kinds.push(format!("sync#{sequence}"));
            }
        }
    }
    assert_eq!(
        kinds,
        ["data 1#0", "data 2#0", "sync#0", "data 1#1", "data 2#1", "sync#1"]
    );
    // Plus the first frame's Universe Discovery packet.
    assert_eq!(out.health().packets_sent, 7);
}

#[test]
fn stop_sends_three_terminations_per_universe_then_nothing() {
    let rx = receiver();
    let mut out = SacnOutput::open(settings(&rx, None), vec![0, 1], vec![3, 4]).unwrap();
    out.send(&frame(&[(0, 50), (1, 60)]));
    for _ in 0..2 {
        recv(&rx);
    }
    out.stop();
    let mut got = Vec::new();
    for _ in 0..6 {
        match recv(&rx) {
            Decoded::Data {
                universe,
                sequence,
                options,
                slots,
                ..
            } => {
                assert_eq!(options & OPT_STREAM_TERMINATED, OPT_STREAM_TERMINATED);
                // The last look, not zeros: see SacnOutput::last.
                assert_eq!(slots[0], if universe == 3 { 50 } else { 60 });
                got.push((universe, sequence));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Sequence numbers carry on from the data packets.
    assert_eq!(got, [(3, 1), (4, 1), (3, 2), (4, 2), (3, 3), (4, 3)]);
    // Stopped is stopped: no data, no second goodbye.
    out.send(&frame(&[(0, 1)]));
    out.stop();
    assert!(silent(&rx));
}

fn site_with(outputs: &str) -> site::Site {
    let text =
        format!("name = \"Test Axis\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n{outputs}");
    let file = SourceFile::new("site.toml", text);
    let mut d = Diagnostics::new();
    site::compile(&file, Default::default(), &mut d).unwrap_or_else(|| panic!("{d:?}"))
}

fn first_cid(rx: &UdpSocket) -> ([u8; 16], String, u16) {
    match recv(rx) {
        Decoded::Data {
            cid,
            source_name,
            universe,
            ..
        } => (cid, source_name, universe),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn open_all_keeps_one_cid_in_the_state_folder() {
    let rx = receiver();
    let site = site_with(&format!(
        "[[outputs]]\nkind = \"sacn\"\ntarget = \"{}\"\nuniverses = 0\nwire_offset = 1\n",
        rx.local_addr().unwrap()
    ));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("var");

    let (mut outs, warnings) = output::open_all(&site, &state);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(outs.len(), 1);
    outs[0].send(&Frame::new(&site));
    let (cid1, name, universe) = first_cid(&rx);
    assert_eq!(name, "nightscape Test Axis");
    assert_eq!(universe, 1, "site universe 0 + wire_offset 1");
    let saved = std::fs::read_to_string(state.join(CID_FILE)).unwrap();
    assert_eq!(saved.trim(), format_cid(&cid1));
    assert_eq!(saved.trim().len(), 32);
    drop(outs);

    let (mut outs, _) = output::open_all(&site, &state);
    outs[0].send(&Frame::new(&site));
    let (cid2, _, _) = first_cid(&rx);
    assert_eq!(cid1, cid2, "a restart keeps the source's identity");

    // Another installation (state folder) is another source.
    let (mut outs, _) = output::open_all(&site, &tmp.path().join("other"));
    outs[0].send(&Frame::new(&site));
    assert_ne!(first_cid(&rx).0, cid1);
}

/// Every packet of a frame, however the kernel batched them (GSO splits
/// them back into datagrams on receive), read until `n` data packets came.
fn data_packets(rx: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut b = [0u8; 2048];
    while got.len() < n {
        let (len, _) = rx.recv_from(&mut b).expect("a packet within 2 s");
        if matches!(decode(&b[..len]), Ok(Decoded::Data { .. })) {
            got.push(b[..len].to_vec());
        }
    }
    got
}

#[test]
fn a_large_output_sends_every_universe_built_in_place_and_batched() {
    let rx = receiver();
    let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20);
    let n = 100u16;
    let universes: Vec<u16> = (0..n).collect();
    let wire: Vec<u16> = (1..=n).collect();
    let mut out = SacnOutput::open(settings(&rx, None), universes.clone(), wire).unwrap();
    for f in 0..3u8 {
        let frame = frame(
            &universes
                .iter()
                .map(|&u| (u, (u as u8).wrapping_mul(3).wrapping_add(f)))
                .collect::<Vec<_>>(),
        );
        out.send(&frame);
        let mut seen = vec![false; n as usize];
        for p in data_packets(&rx, n as usize) {
            let Decoded::Data {
                universe,
                sequence,
                slots,
                options,
                priority,
                source_name,
                cid,
                ..
            } = decode(&p).unwrap()
            else {
                unreachable!()
            };
            let site = (universe - 1) as usize;
            assert!(!seen[site], "universe {universe} twice in frame {f}");
            seen[site] = true;
            assert_eq!(sequence, f, "universe {universe}");
            assert_eq!(options, 0);
            assert_eq!(
                (priority, source_name.as_str(), cid),
                (150, "axis test", CID)
            );
            let v = (site as u8).wrapping_mul(3).wrapping_add(f);
            assert_eq!(slots[0], v);
            assert_eq!(slots[511], v.wrapping_add(1));
            // The sacn crate reads the same packet, field by field.
            let parsed = ::sacn::packet::AcnRootLayerProtocol::parse(&p).expect("sacn parses it");
            assert_eq!(parsed.pdu.cid.as_bytes(), &CID);
            match parsed.pdu.data {
                ::sacn::packet::E131RootLayerData::DataPacket(d) => {
                    assert_eq!(d.universe, universe);
                    assert_eq!(d.sequence_number, f);
                    assert_eq!(d.priority, 150);
                    assert!(!d.stream_terminated);
                    assert_eq!(d.data.property_values[0], 0, "start code");
                    assert_eq!(&d.data.property_values[1..], &slots[..]);
                }
                other => panic!("the sacn crate read {other:?}"),
            }
        }
        assert!(seen.iter().all(|&s| s), "frame {f}");
    }
    out.stop();
    // Three rounds of termination, every universe, sequence continuing.
    let ends = data_packets(&rx, 3 * n as usize);
    for p in &ends {
        let Ok(Decoded::Data {
            options, sequence, ..
        }) = decode(p)
        else {
            unreachable!()
        };
        assert_ne!(options & OPT_STREAM_TERMINATED, 0);
        assert!((3..6).contains(&sequence), "{sequence}");
    }
    assert!(silent(&rx));
}

#[test]
fn only_changed_repeats_a_change_three_times_then_keeps_alive() {
    let rx = receiver();
    // Keep-alive after 5 idle frames: at least every 6th frame.
    let mut out = SacnOutput::open(settings(&rx, None), vec![0, 1], vec![1, 2])
        .unwrap()
        .only_changed(5);
    let count = |rx: &UdpSocket| {
        let mut per = [0usize; 2];
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 2048];
        while let Ok((len, _)) = rx.recv_from(&mut b) {
            if let Ok(Decoded::Data { universe, .. }) = decode(&b[..len]) {
                per[universe as usize - 1] += 1;
            }
        }
        per
    };
    // Frame 0: both universes are new. Then 11 frames of the same data:
    // three repeats (frames 1-3), quiet for 5, a keep-alive at frame 9.
    for _ in 0..12 {
        out.send(&frame(&[(0, 10), (1, 20)]));
    }
    assert_eq!(count(&rx), [5, 5]);
    // Universe 1 changes once: it goes out with its three repeats;
    // universe 0 stays quiet until its keep-alive (frame 15).
    out.send(&frame(&[(0, 10), (1, 21)]));
    for _ in 0..3 {
        out.send(&frame(&[(0, 10), (1, 21)]));
    }
    assert_eq!(count(&rx), [1, 4]);
}
