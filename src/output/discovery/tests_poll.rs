//! Art-Net discovery through the real code path, beside the code (was
//! tests/it/output_discovery.rs; the `nightscape nodes` CLI test stays there): fake nodes on 127.0.0.1
//! answer ArtPoll with an ArtPollReply of 239 bytes (Art-Net 4) and of 207
//! bytes (the short form older nodes send), after some junk and an ArtDmx;
//! `discover_on` must list both nodes once each, with names and universes.
//! Discovery listens on an ephemeral port here: port 6454 may be held by
//! another program on a shared machine, and binding it would take unicast
//! Art-Net away from that program while the test runs.

use crate::output::discovery::{discover_on, DiscoveryError};
use nightscape_core::wire::artnet::{
    encode_artpollreply, NodeInfo, ARTPOLLREPLY_LEN, ARTPOLLREPLY_MIN_LEN,
};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

fn info(ip: [u8; 4], short: &str, net: u8, sub: u8, sw_out: [u8; 4]) -> NodeInfo {
    NodeInfo {
        ip: Ipv4Addr::from(ip),
        port: 6454,
        firmware: 0x0102,
        net_switch: net,
        sub_switch: sub,
        oem: 0x1234,
        short_name: short.into(),
        long_name: format!("{short} long name"),
        node_report: "#0001 [0001] ok".into(),
        num_ports: 2,
        port_types: [0x80, 0xc0, 0, 0],
        sw_in: [0, 5, 0, 0],
        sw_out,
        mac: Some([2, 0, 0, 0, 0, ip[3]]),
        bind_ip: Some(Ipv4Addr::from(ip)),
        bind_index: Some(1),
    }
}

/// A node that answers every ArtPoll with `reply_len` bytes of its reply,
/// preceded by junk and an ArtDmx, which discovery must skip.
struct FakeNode {
    addr: SocketAddr,
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNode {
    fn start(node: NodeInfo, reply_len: usize) -> FakeNode {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (polls.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut reply = [0u8; ARTPOLLREPLY_LEN];
            encode_artpollreply(&node, &mut reply);
            let mut buf = [0u8; 1024];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n >= 10 && &buf[..8] == b"Art-Net\0" && buf[8..10] == [0x00, 0x20] {
                    p.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.send_to(b"junk", from);
                    let mut dmx = b"Art-Net\0\x00\x50\x00\x0e\x01\x00\x00\x00\x00\x02".to_vec();
                    dmx.extend([1, 2]);
                    let _ = sock.send_to(&dmx, from);
                    let _ = sock.send_to(&reply[..reply_len], from);
                }
            }
        });
        FakeNode {
            addr,
            polls,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn replies_of_239_and_207_bytes_are_both_listed() {
    let full = FakeNode::start(
        info([10, 0, 0, 5], "Pier7", 1, 2, [3, 4, 0, 0]),
        ARTPOLLREPLY_LEN,
    );
    let short = FakeNode::start(
        info([10, 0, 0, 6], "OldNode", 0, 0, [9, 0, 0, 0]),
        ARTPOLLREPLY_MIN_LEN,
    );
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    // Over a second: discovery polls twice, and each node answers twice.
    let nodes = discover_on(
        listen,
        &[full.addr, short.addr],
        Duration::from_millis(1200),
    )
    .unwrap()
    .nodes;
    assert_eq!(full.polls.load(Ordering::SeqCst), 2);
    assert_eq!(nodes.len(), 2, "one entry per node: {nodes:#?}");

    let a = &nodes[0];
    assert_eq!(a.ip, Ipv4Addr::new(10, 0, 0, 5));
    assert_eq!(a.from, full.addr);
    assert_eq!(a.short_name, "Pier7");
    assert_eq!(a.long_name, "Pier7 long name");
    assert_eq!(a.node_report, "#0001 [0001] ok");
    assert_eq!(a.firmware, 0x0102);
    assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:05"));
    assert_eq!(a.bind_index, Some(1));
    assert_eq!(a.outputs, [0x123, 0x124]);
    assert_eq!(a.inputs, [0x125]);

    let b = &nodes[1];
    assert_eq!(b.ip, Ipv4Addr::new(10, 0, 0, 6));
    assert_eq!(b.short_name, "OldNode");
    assert_eq!(b.outputs, [9, 0]);
    // The short form ends before BindIp and BindIndex.
    assert_eq!(b.bind_index, None);
}

#[test]
fn silence_is_an_empty_list_not_an_error() {
    let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
    let nodes = discover_on(
        "127.0.0.1:0".parse().unwrap(),
        &[quiet.local_addr().unwrap()],
        Duration::from_millis(200),
    )
    .unwrap();
    assert!(nodes.nodes.is_empty());
    assert!(nodes.unsent.is_empty(), "the poll went out: {nodes:?}");
}

/// A poll that cannot be sent is named with its reason, not counted as
/// silence; when none can be sent, discovery is an error. Port 0 is
/// refused by the kernel before anything leaves (EINVAL), on loopback.
#[test]
fn an_unsent_poll_is_named_not_silence() {
    let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bad: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let d = discover_on(
        "127.0.0.1:0".parse().unwrap(),
        &[quiet.local_addr().unwrap(), bad],
        Duration::from_millis(200),
    )
    .unwrap();
    assert!(d.nodes.is_empty());
    assert_eq!(d.unsent.len(), 1, "{d:?}");
    assert_eq!(d.unsent[0].target, bad);
    assert!(!d.unsent[0].error.is_empty());

    let err = discover_on(
        "127.0.0.1:0".parse().unwrap(),
        &[bad],
        Duration::from_millis(200),
    )
    .unwrap_err();
    assert!(matches!(err, DiscoveryError::SendFailed(_)), "{err}");
    assert!(err.to_string().contains("127.0.0.1:0"), "{err}");
    assert!(err.to_string().contains("no node could answer"), "{err}");
}

#[test]
fn a_held_port_makes_discovery_unavailable_and_outputs_carry_on() {
    use crate::output::artnet::ArtNetOutput;
    use crate::output::Output;
    use nightscape_core::engine::Frame;

    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut out = ArtNetOutput::open(rx.local_addr().unwrap(), vec![0], false).unwrap();

    let err = discover_on(
        held,
        &[rx.local_addr().unwrap()],
        Duration::from_millis(100),
    )
    .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::PortUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("unavailable"));

    out.send(&Frame {
        universes: vec![0],
        data: vec![[4; 512]],
    });
    let mut b = [0u8; 1024];
    let (n, _) = rx.recv_from(&mut b).unwrap();
    assert_eq!(n, 18 + 512);
    assert_eq!(out.health().state.as_str(), "ok");
}
