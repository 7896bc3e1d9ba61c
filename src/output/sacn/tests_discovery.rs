//! E1.31 beyond data, beside the code (was tests/it/sacn_discovery.rs):
//! Universe Discovery every 10 s (decoded by our codec
//! and, as an independent oracle, by the `sacn` crate's packet parser),
//! sending from a chosen address or interface, and `shutdown = "hold"`
//! (no stream termination) next to the default termination. Real UDP on
//! 127.0.0.1; every wait is bounded.

use crate::output::sacn::{SacnOutput, SacnSettings};
use crate::output::Output;
use nightscape_core::engine::Frame;
use nightscape_core::site::{SacnTarget, UNIVERSE_SIZE};
use nightscape_core::wire::sacn::{decode, decode_discovery, Decoded, OPT_STREAM_TERMINATED};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const CID: [u8; 16] = [0x5a; 16];

fn receiver() -> UdpSocket {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    rx
}

fn settings(rx: &UdpSocket) -> SacnSettings {
    SacnSettings {
        target: SacnTarget::Unicast(rx.local_addr().unwrap()),
        priority: 100,
        sync_address: None,
        source_name: "discovery test".into(),
        cid: CID,
    }
}

fn frame(universes: &[u16]) -> Frame {
    Frame {
        universes: universes.to_vec(),
        data: universes.iter().map(|_| [7u8; UNIVERSE_SIZE]).collect(),
    }
}

/// Every packet that arrives within `limit` (or until `n` arrived).
fn packets(rx: &UdpSocket, n: usize, limit: Duration) -> Vec<(Vec<u8>, std::net::SocketAddr)> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while out.len() < n && Instant::now() < deadline {
        if let Ok((len, from)) = rx.recv_from(&mut buf) {
            out.push((buf[..len].to_vec(), from));
        }
    }
    out
}

#[test]
fn universe_discovery_lists_the_wire_universes_and_parses_with_the_sacn_crate() {
    let rx = receiver();
    // Site universes 0..3 go out as E1.31 universes 700, 1, 2, 3 (unsorted on purpose).
    let mut out = SacnOutput::open(settings(&rx), vec![0, 1, 2, 3], vec![700, 1, 2, 3]).unwrap();
    out.send(&frame(&[0, 1, 2, 3]));
    let got = packets(&rx, 5, Duration::from_secs(5));
    let discovery: Vec<_> = got
        .iter()
        .filter_map(|(p, _)| decode_discovery(p).ok())
        .collect();
    assert_eq!(
        discovery.len(),
        1,
        "one discovery packet with the first frame"
    );
    let d = &discovery[0];
    assert_eq!(d.universes, [1, 2, 3, 700]);
    assert_eq!((d.page, d.last_page), (0, 0));
    assert_eq!(d.cid, CID);
    assert_eq!(d.source_name, "discovery test");
    // The data packets still decode as data; the discovery packet does not.
    let data = got
        .iter()
        .filter(|(p, _)| matches!(decode(p), Ok(Decoded::Data { .. })))
        .count();
    assert_eq!(data, 4);

    // The sacn crate's parser agrees, field by field.
    let raw = got
        .iter()
        .find(|(p, _)| decode_discovery(p).is_ok())
        .unwrap();
    let parsed =
        ::sacn::packet::AcnRootLayerProtocol::parse(&raw.0).expect("the sacn crate parses it");
    assert_eq!(parsed.pdu.cid.as_bytes(), &CID);
    match parsed.pdu.data {
        ::sacn::packet::E131RootLayerData::UniverseDiscoveryPacket(f) => {
            assert_eq!(f.source_name, "discovery test");
            assert_eq!(f.data.page, 0);
            assert_eq!(f.data.last_page, 0);
            assert_eq!(f.data.universes.as_ref(), &[1, 2, 3, 700]);
        }
        other => panic!("the sacn crate read {other:?}"),
    }

    // Not again before 10 s: the next frames carry data only.
    out.send(&frame(&[0, 1, 2, 3]));
    let again = packets(&rx, 4, Duration::from_secs(5));
    assert!(again.iter().all(|(p, _)| decode_discovery(p).is_err()));
}

#[test]
fn many_universes_go_out_in_pages_of_512() {
    let pages =
        nightscape_core::wire::sacn::discovery_pages(&(1..=1100).rev().collect::<Vec<u16>>());
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [512, 512, 76]
    );
    assert_eq!(pages[0][0], 1);
    let mut buf = Vec::new();
    let len = nightscape_core::wire::sacn::encode_discovery(CID, "x", 2, 2, &pages[2], &mut buf);
    assert_eq!(len, 120 + 2 * 76);
    let d = decode_discovery(&buf[..len]).unwrap();
    assert_eq!((d.page, d.last_page, d.universes.len()), (2, 2, 76));
    // A damaged length is refused, not misread.
    buf[113] ^= 1;
    assert!(decode_discovery(&buf[..len]).is_err());
}

#[test]
fn hold_on_stop_sends_no_termination_and_the_default_does() {
    for (terminate, expected) in [(true, 3), (false, 0)] {
        let rx = receiver();
        let mut out = SacnOutput::open(settings(&rx), vec![1], vec![1])
            .unwrap()
            .terminate_on_stop(terminate);
        out.send(&frame(&[1]));
        let _ = packets(&rx, 2, Duration::from_secs(2));
        out.stop();
        let after = packets(&rx, 3, Duration::from_millis(500));
        let terminated = after
            .iter()
            .filter(|(p, _)| {
                matches!(decode(p), Ok(Decoded::Data { options, .. }) if options & OPT_STREAM_TERMINATED != 0)
            })
            .count();
        assert_eq!(terminated, expected, "terminate_on_stop = {terminate}");
    }
}

#[test]
fn bind_chooses_the_source_address_and_interface_the_device() {
    let rx = receiver();
    let mut out = SacnOutput::open_bound(
        settings(&rx),
        vec![1],
        vec![1],
        Some("127.0.0.1".parse().unwrap()),
        None,
    )
    .unwrap();
    out.send(&frame(&[1]));
    let got = packets(&rx, 1, Duration::from_secs(2));
    assert_eq!(got[0].1.ip().to_string(), "127.0.0.1");

    match SacnOutput::open_bound(settings(&rx), vec![1], vec![1], None, Some("lo")) {
        Ok(mut out) => {
            out.send(&frame(&[1]));
            assert!(
                !packets(&rx, 1, Duration::from_secs(2)).is_empty(),
                "nothing left on lo"
            );
        }
        Err(e) => eprintln!("skipped the interface half: SO_BINDTODEVICE refused here ({e})"),
    }
    let err = SacnOutput::open_bound(settings(&rx), vec![1], vec![1], None, Some("no-such-if0"));
    assert!(
        err.is_err(),
        "an unknown interface must fail the output, not send elsewhere"
    );
}
