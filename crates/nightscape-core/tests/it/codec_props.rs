//! Properties of the wire codecs, from their public API: whatever bytes
//! arrive, decoding returns an error instead of panicking (a socket drops
//! what it cannot parse), and what we encode decodes to what we meant.
//!
//! proptest picks the inputs and shrinks a failure to a small one; the
//! byte strategies are biased towards valid headers, because uniformly
//! random bytes almost never get past the first check. The RDM messages'
//! own properties sit beside their codec (`wire/rdm.rs`).

use nightscape_core::wire::{artnet, enttec, sacn};
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// Any bytes up to `max` long.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// `valid`, then up to eight bytes overwritten and maybe cut short: the
/// deeper checks of a decoder see garbage behind a header they accept.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 1..8),
        proptest::option::of(0..=len),
    )
        .prop_map(move |(edits, cut)| {
            let mut b = valid.clone();
            for (i, v) in edits {
                b[i] = v;
            }
            if let Some(n) = cut {
                b.truncate(n);
            }
            b
        })
}

/// Bytes up to `max` long, a quarter of them a Pro message's start or end
/// delimiter and an eighth zero, so the reader's resync paths run.
fn framing_heavy(max: usize) -> impl Strategy<Value = Vec<u8>> {
    bytes(max).prop_map(|b| {
        b.into_iter()
            .map(|x| match x {
                0..=31 => enttec::START,
                32..=63 => enttec::END,
                64..=95 => 0,
                _ => x,
            })
            .collect()
    })
}

fn artdmx(port_address: u16, sequence: u8, data: &[u8; 512]) -> Vec<u8> {
    let mut buf = [0u8; artnet::ARTDMX_HEADER_LEN + 512];
    let n = artnet::encode_artdmx(port_address, sequence, data, &mut buf);
    buf[..n].to_vec()
}

fn node() -> impl Strategy<Value = artnet::NodeInfo> {
    (
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<u16>(),
            0u8..0x80,
            0u8..0x10,
            any::<u16>(),
        ),
        (
            "[a-zA-Z0-9 ._-]{0,17}",
            "[a-zA-Z0-9 ._-]{0,63}",
            "[a-zA-Z0-9 #:._-]{0,63}",
        ),
        (
            0u16..=4,
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
        ),
        (
            proptest::option::of(any::<[u8; 6]>().prop_filter("not all zero", |m| *m != [0; 6])),
            proptest::option::of(any::<[u8; 4]>().prop_filter("not 0.0.0.0", |a| *a != [0; 4])),
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (ip, port, firmware, net_switch, sub_switch, oem),
                (short_name, long_name, node_report),
                (num_ports, port_types, sw_in, sw_out),
                (mac, bind_ip, bind_index),
            )| artnet::NodeInfo {
                ip: Ipv4Addr::from(ip),
                port,
                firmware,
                net_switch,
                sub_switch,
                oem,
                short_name,
                long_name,
                node_report,
                num_ports,
                port_types,
                sw_in,
                sw_out,
                mac,
                bind_ip: bind_ip.map(Ipv4Addr::from),
                bind_index: Some(bind_index),
            },
        )
}

fn sacn_data(
    slots: &[u8],
    universe: u16,
    name: &str,
    priority: u8,
    seq: u8,
    opts: (bool, bool),
) -> Vec<u8> {
    let p = sacn::DataPacket {
        cid: [7; 16],
        source_name: name,
        priority,
        sync_address: 0,
        sequence: seq,
        preview: opts.0,
        stream_terminated: opts.1,
        universe,
        start_code: 0,
        slots,
    };
    let mut buf = [0u8; sacn::DATA_PACKET_LEN];
    let n = sacn::encode_data(&p, &mut buf);
    buf[..n].to_vec()
}

fn sync_packet() -> Vec<u8> {
    let mut buf = [0u8; sacn::SYNC_PACKET_LEN];
    let n = sacn::encode_sync([1; 16], 3, 7, &mut buf);
    buf[..n].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    // ---- Art-Net ----

    #[test]
    fn artnet_garbage_is_refused_not_a_panic(b in bytes(600)) {
        let _ = artnet::parse_artpollreply(&b);
        let _ = artnet::parse_artdmx(&b);
        let _ = artnet::is_artpoll(&b);
    }

    #[test]
    fn artnet_garbage_behind_a_valid_header(mut b in bytes(600), op in prop_oneof![Just(0x2100u16), Just(0x5000), Just(0x2000), Just(0x5200)]) {
        if b.len() >= 12 {
            b[..8].copy_from_slice(b"Art-Net\0");
            b[8..10].copy_from_slice(&op.to_le_bytes());
            b[10..12].copy_from_slice(&14u16.to_be_bytes());
        }
        if let Ok(n) = artnet::parse_artpollreply(&b) {
            let _ = n.output_universes();
        }
        if let Ok((_, _, _, data)) = artnet::parse_artdmx(&b) {
            prop_assert!(!data.is_empty() && data.len() <= 512);
        }
        let _ = artnet::is_artpoll(&b);
    }

    #[test]
    fn artdmx_round_trips(pa in 0u16..0x8000, seq in any::<u8>(), fill in any::<u8>(), at in 0usize..512, v in any::<u8>()) {
        let mut data = [fill; 512];
        data[at] = v;
        let pkt = artdmx(pa, seq, &data);
        let (s, _, p, d) = artnet::parse_artdmx(&pkt).unwrap();
        prop_assert_eq!((s, p), (seq, pa));
        prop_assert_eq!(d, &data[..]);
        // Every shorter prefix is refused.
        let cut = at.min(pkt.len() - 1);
        prop_assert!(artnet::parse_artdmx(&pkt[..cut]).is_err());
    }

    #[test]
    fn artdmx_mutations_are_refused_or_bounded(pkt in mutated(artdmx(0x123, 9, &[5; 512]))) {
        if let Ok((_, _, _, d)) = artnet::parse_artdmx(&pkt) {
            prop_assert!(d.len() <= 512 && d.len() <= pkt.len() - artnet::ARTDMX_HEADER_LEN);
        }
    }

    #[test]
    fn artpollreply_round_trips(n in node()) {
        let mut buf = [0u8; artnet::ARTPOLLREPLY_LEN];
        let len = artnet::encode_artpollreply(&n, &mut buf);
        prop_assert_eq!(len, artnet::ARTPOLLREPLY_LEN);
        prop_assert_eq!(artnet::parse_artpollreply(&buf).unwrap(), n.clone());
        // The short forms older nodes send keep everything before the cut.
        let short = artnet::parse_artpollreply(&buf[..artnet::ARTPOLLREPLY_MIN_LEN]).unwrap();
        prop_assert_eq!(short.output_universes(), n.output_universes());
        prop_assert!(artnet::parse_artpollreply(&buf[..artnet::ARTPOLLREPLY_MIN_LEN - 1]).is_err());
    }

    #[test]
    fn artpollreply_mutations_are_refused_or_read(n in node(), edits in proptest::collection::vec((0usize..239, any::<u8>()), 1..8), cut in 200usize..=239) {
        let mut buf = [0u8; artnet::ARTPOLLREPLY_LEN];
        artnet::encode_artpollreply(&n, &mut buf);
        let mut b = buf.to_vec();
        for (i, v) in edits {
            b[i] = v;
        }
        b.truncate(cut);
        if let Ok(node) = artnet::parse_artpollreply(&b) {
            prop_assert!(node.output_universes().len() <= 4);
        }
    }

    // ---- E1.31 (sACN) ----

    #[test]
    fn sacn_garbage_is_refused_not_a_panic(b in bytes(700)) {
        let _ = sacn::decode(&b);
        let _ = sacn::decode_discovery(&b);
    }

    #[test]
    fn sacn_data_round_trips(
        slots in proptest::collection::vec(any::<u8>(), 0..=512),
        universe in 1u16..=sacn::MAX_UNIVERSE,
        name in "\\PC{0,70}",
        priority in any::<u8>(),
        seq in any::<u8>(),
        opts in any::<(bool, bool)>(),
    ) {
        let pkt = sacn_data(&slots, universe, &name, priority, seq, opts);
        match sacn::decode(&pkt).unwrap() {
            sacn::Decoded::Data { source_name, priority: p, sequence, options, universe: u, slots: s, .. } => {
                // Names are cut to 63 bytes on a character boundary.
                prop_assert!(name.starts_with(&source_name) && source_name.len() <= 63);
                prop_assert_eq!(p, priority.min(sacn::MAX_PRIORITY));
                prop_assert_eq!((sequence, u), (seq, universe));
                prop_assert_eq!(options & sacn::OPT_PREVIEW != 0, opts.0);
                prop_assert_eq!(options & sacn::OPT_STREAM_TERMINATED != 0, opts.1);
                prop_assert_eq!(s, slots);
            }
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }

    #[test]
    fn sacn_data_mutations_are_refused_or_bounded(pkt in mutated(sacn_data(&[3; 100], 1, "m", 100, 0, (false, false)))) {
        if let Ok(sacn::Decoded::Data { slots, source_name, .. }) = sacn::decode(&pkt) {
            prop_assert!(slots.len() <= sacn::MAX_SLOTS && source_name.len() <= 64);
        }
    }

    #[test]
    fn sacn_sync_mutations_are_refused_or_read(pkt in mutated(sync_packet())) {
        let _ = sacn::decode(&pkt);
    }

    #[test]
    fn sacn_sync_round_trips(cid in any::<[u8; 16]>(), seq in any::<u8>(), sync in any::<u16>()) {
        let mut buf = [0u8; sacn::SYNC_PACKET_LEN];
        let n = sacn::encode_sync(cid, seq, sync, &mut buf);
        prop_assert_eq!(
            sacn::decode(&buf[..n]).unwrap(),
            sacn::Decoded::Sync { cid, sequence: seq, sync_address: sync }
        );
    }

    #[test]
    fn sacn_discovery_round_trips(universes in proptest::collection::vec(any::<u16>(), 0..1200), page in any::<u8>()) {
        let pages = sacn::discovery_pages(&universes);
        let last = (pages.len() - 1) as u8;
        let mut buf = Vec::new();
        let chosen = &pages[usize::from(page) % pages.len()];
        sacn::encode_discovery([2; 16], "nightscape", page, last, chosen, &mut buf);
        let d = sacn::decode_discovery(&buf).unwrap();
        prop_assert_eq!((d.page, d.last_page), (page, last));
        prop_assert_eq!(&d.universes, chosen);
        prop_assert!(d.universes.iter().all(|u| sacn::valid_universe(*u)));
    }

    // ---- ENTTEC DMX USB Pro ----

    #[test]
    fn enttec_reader_takes_any_stream_in_any_chunks(
        chunks in proptest::collection::vec(
            framing_heavy(300),
            0..12,
        ),
    ) {
        let mut r = enttec::MessageReader::new();
        for c in &chunks {
            for m in r.push(c) {
                prop_assert!(m.data.len() <= enttec::MAX_DATA_LEN);
            }
        }
        // It holds at most one partial message: after a quiet line as long
        // as the longest message, nothing of the junk is left, and the next
        // message is read exactly.
        let quiet = r.push(&[0u8; enttec::MAX_DATA_LEN + 6]);
        prop_assert!(quiet.iter().all(|m| m.data.len() <= enttec::MAX_DATA_LEN));
        let mut buf = [0u8; 16];
        let n = enttec::encode_request(enttec::LABEL_GET_SERIAL, &[], &mut buf);
        prop_assert_eq!(
            r.push(&buf[..n]),
            vec![enttec::Message { label: enttec::LABEL_GET_SERIAL, data: vec![] }]
        );
    }

    #[test]
    fn enttec_messages_round_trip_in_any_split(label in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..=enttec::MAX_DATA_LEN), split in any::<prop::sample::Index>()) {
        let mut buf = vec![0u8; payload.len() + 5];
        let n = enttec::encode_request(label, &payload, &mut buf);
        let at = split.index(n + 1);
        let mut r = enttec::MessageReader::new();
        let mut got = r.push(&buf[..at]);
        got.extend(r.push(&buf[at..n]));
        prop_assert_eq!(got, vec![enttec::Message { label, data: payload }]);
    }

    #[test]
    fn enttec_replies_never_panic(d in bytes(8)) {
        let _ = enttec::parse_serial(&d);
        let _ = enttec::parse_params(&d);
    }
}

/// ArtSync and ArtPoll carry no data: their bytes are fixed by the spec and
/// no other decoder takes them.
#[test]
fn artsync_and_artpoll_are_the_specs_bytes() {
    let mut sync = [0xffu8; artnet::ARTSYNC_LEN];
    artnet::encode_artsync(&mut sync);
    assert_eq!(sync, *b"Art-Net\0\x00\x52\x00\x0e\x00\x00");
    assert!(!artnet::is_artpoll(&sync));
    assert!(artnet::parse_artdmx(&sync).is_err());
    assert!(artnet::parse_artpollreply(&sync).is_err());
    let mut poll = [0u8; 64];
    let n = artnet::encode_artpoll(&mut poll);
    assert_eq!(n, artnet::ARTPOLL_LEN);
    assert!(artnet::is_artpoll(&poll[..n]));
    assert!(!artnet::is_artpoll(&poll[..n - 3]));
    assert!(artnet::parse_artdmx(&poll[..n]).is_err());
}
