//! `nightscape monitor`'s batched receive path (UDP GRO + recvmmsg) against
//! the daemon's own batched senders (UDP GSO, up to 122 ArtDmx or sACN
//! packets per system call) on loopback: every datagram of a coalesced
//! buffer is counted — every universe, every frame, no sequence gaps —
//! including a shorter last datagram, with Art-Net and sACN on one socket;
//! the one-datagram-per-read path (`--plain`) counts the same.
//!
//! The sender waits for the monitor to empty its socket (the receive
//! queue in /proc/net/udp) before each send, so nothing depends on how
//! fast this machine is or how large its socket buffers may grow.

use nightscape::output::artnet::ArtNetOutput;
use nightscape::output::sacn::{SacnOutput, SacnSettings};
use nightscape::output::Output;
use nightscape_core::engine::Frame;
use nightscape_core::site::{SacnTarget, UNIVERSE_SIZE};
use nightscape_core::wire::artnet::{encode_artdmx, ARTDMX_HEADER_LEN};

const ARTDMX_LEN: usize = ARTDMX_HEADER_LEN + UNIVERSE_SIZE;
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The measuring window: long enough for every send on a slow machine
/// (each waits for the monitor to catch up, bounded below). The sends
/// take under 0.1 s, on a loaded machine too (printed as the test runs):
/// 3 s leaves room, and [`sent_within_the_window`] says so if not.
const WINDOW: &str = "3";

/// Fail with the reason, not with missing counts, when the sends took
/// longer than the monitors' window (started at `since`).
fn sent_within_the_window(since: Instant) {
    let took = since.elapsed();
    eprintln!("the sends took {took:.2?} of the {WINDOW} s window");
    assert!(
        took.as_secs_f64() < WINDOW.parse::<f64>().unwrap(),
        "the sends took {took:.2?}, longer than the monitors' {WINDOW} s window"
    );
}

use crate::common::RunningMonitor as Running;

/// `nightscape monitor` on a port of its own, with `extra` arguments.
fn start(extra: &[&str]) -> Running {
    crate::common::start_monitor(WINDOW, extra)
}

/// The report and what the monitor said on stderr.
fn finish(r: Running) -> (Value, String) {
    let out = r.child.wait_with_output().unwrap();
    let err = r.stderr.join().unwrap();
    assert!(out.status.success(), "{out:?}\n{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

/// The bytes waiting in the receive queue of the socket on `port`
/// (Linux's /proc/net/udp), `None` where there is no such table.
fn rx_queue(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let want = format!("0100007F:{port:04X}");
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&want.as_str()))
            .then(|| f.get(4)?.split(':').nth(1))
            .flatten()
            .and_then(|q| u64::from_str_radix(q, 16).ok())
    })
}

/// Wait until the monitor has read everything sent to it so far (its
/// receive queue is empty), for at most 20 s.
fn drained(addr: SocketAddr) {
    let t0 = Instant::now();
    while rx_queue(addr.port()).is_some_and(|q| q > 0) && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What one send may put in the monitor's queue without a drop, however
/// small this machine's socket buffers: the buffer the monitor gets (it
/// asks for 32 MiB), in universes of a generous 4 KiB per datagram.
fn universes_per_send() -> usize {
    let probe = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = probe.set_recv_buffer_size(32 << 20);
    (probe.recv_buffer_size().unwrap() / 4096).clamp(64, 2000)
}

fn frame(universes: impl Iterator<Item = u16>, fill: u8) -> Frame {
    let universes: Vec<u16> = universes.collect();
    let data = universes
        .iter()
        .map(|&u| {
            let mut d = [fill; UNIVERSE_SIZE];
            d[0] = u as u8;
            d
        })
        .collect();
    Frame { universes, data }
}

/// The per-universe lines of a report as (protocol, universe) → frames.
fn frames_per_universe(v: &Value) -> std::collections::BTreeMap<(String, u64), u64> {
    v["per_universe"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let key = (
                u["protocol"].as_str().unwrap().to_string(),
                u["universe"].as_u64().unwrap(),
            );
            (key, u["frames"].as_u64().unwrap())
        })
        .collect()
}

/// "… (at most N datagrams in one buffer)" from the monitor's stderr.
fn most_in_one_buffer(stderr: &str) -> u64 {
    let tail = stderr
        .split("(at most ")
        .nth(1)
        .unwrap_or_else(|| panic!("no read summary in: {stderr}"));
    tail.split_whitespace().next().unwrap().parse().unwrap()
}

fn have_proc_net_udp() -> bool {
    if std::path::Path::new("/proc/net/udp").exists() {
        return true;
    }
    eprintln!("skipped: the sender paces itself by /proc/net/udp (Linux only)");
    false
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn monitor_counts_every_datagram_of_gso_batches_exactly_with_and_without_gro() {
    if !have_proc_net_udp() {
        return;
    }
    const UNIVERSES: u16 = 2000;
    const FRAMES: u8 = 3;
    let started = Instant::now();
    let gro = start(&[]);
    let plain = start(&["--plain"]);
    // The daemon's Art-Net output: ArtDmx in GSO batches of up to 122 to
    // one node. Outputs of as many universes as fit the socket buffer.
    let per_send = universes_per_send();
    let mut outputs: Vec<(SocketAddr, ArtNetOutput)> = Vec::new();
    for to in [gro.addr, plain.addr] {
        for first in (0..UNIVERSES).step_by(per_send) {
            let last = (first + per_send as u16).min(UNIVERSES);
            let universes: Vec<u16> = (first..last).collect();
            outputs.push((to, ArtNetOutput::open(to, universes, false).unwrap()));
        }
    }
    for f in 0..FRAMES {
        let frame = frame(0..UNIVERSES, f * 50 + 1);
        for (to, out) in &mut outputs {
            drained(*to);
            out.send(&frame);
            let h = out.health();
            assert_eq!(h.send_errors, 0, "{h:?}");
        }
    }
    sent_within_the_window(started);
    for (mode, r) in [("gro", gro), ("plain", plain)] {
        let (v, stderr) = finish(r);
        eprintln!("{mode}: {}", stderr.trim());
        let per = frames_per_universe(&v);
        assert_eq!(v["universes"], u64::from(UNIVERSES), "{mode}: {stderr}");
        assert_eq!(
            v["packets"],
            u64::from(UNIVERSES) * u64::from(FRAMES),
            "{mode}"
        );
        assert_eq!(v["sequence_gaps"], 0, "{mode}");
        assert_eq!(v["other_packets"], 0, "{mode}");
        assert_eq!(v["socket_drops"], 0, "{mode}");
        assert!(
            per.iter()
                .all(|((p, _), &n)| p == "artnet" && n == u64::from(FRAMES)),
            "{mode}: {per:?}"
        );
        // Every universe's data changed from frame to frame.
        assert!(v["per_universe"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["changed_fps"].as_f64().unwrap() > 0.0));
        let most = most_in_one_buffer(&stderr);
        if mode == "plain" {
            assert!(stderr.contains("one datagram per system call"), "{stderr}");
            assert_eq!(most, 1, "{stderr}");
        } else if stderr.contains("(UDP GRO)") {
            // The kernel handed over whole batches and they were split.
            assert!(most > 1, "{stderr}");
        } else {
            eprintln!("no UDP GRO on this system: only batched reads were checked");
        }
    }
}

/// An ArtDmx of 2 slots (Art-Net allows 2..=512, even).
fn short_artdmx(universe: u16, seq: u8) -> Vec<u8> {
    let mut p = [0u8; ARTDMX_LEN];
    encode_artdmx(universe, seq, &[seq; UNIVERSE_SIZE], &mut p);
    p[16..18].copy_from_slice(&2u16.to_be_bytes());
    p[..ARTDMX_HEADER_LEN + 2].to_vec()
}

/// One GSO send of `packets` to `to` (`segment` bytes each but the last),
/// retried while the socket is momentarily full.
fn send_gso(state: &quinn_udp::UdpSocketState, tx: &UdpSocket, to: SocketAddr, packets: &[u8]) {
    let transmit = quinn_udp::Transmit {
        destination: to,
        ecn: None,
        contents: packets,
        segment_size: Some(ARTDMX_LEN),
        src_ip: None,
    };
    let t0 = Instant::now();
    loop {
        match state.try_send(tx.into(), &transmit) {
            Ok(()) => return,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    && t0.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("GSO send: {e}"),
        }
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn monitor_splits_a_short_last_datagram_and_takes_sacn_with_artnet_on_one_socket() {
    if !have_proc_net_udp() {
        return;
    }
    const FRAMES: u8 = 3;
    let modes: [&[&str]; 2] = [&[], &["--plain"]];
    let started = Instant::now();
    let running: Vec<Running> = modes.iter().map(|extra| start(extra)).collect();
    for r in &running {
        let to = r.addr;
        // A GSO batch of ten full ArtDmx (universes 100..=109) and a last
        // one of 2 slots (universe 110): the kernel keeps them as one
        // buffer whose last datagram is shorter than the stride.
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let state = quinn_udp::UdpSocketState::new((&tx).into()).unwrap();
        let gso = state.max_gso_segments() > 1;
        // The daemon's sACN output (GSO too) and Art-Net output with
        // ArtSync, to the same socket.
        let settings = SacnSettings {
            target: SacnTarget::Unicast(to),
            priority: 100,
            sync_address: None,
            source_name: "monitor test".into(),
            cid: *b"monitor-gro-test",
        };
        let mut sacn = SacnOutput::open(settings, (0..3).collect(), (1..=3).collect()).unwrap();
        let mut artnet = ArtNetOutput::open(to, (0..5).collect(), true).unwrap();
        for seq in 1..=FRAMES {
            let mut batch = Vec::new();
            for u in 100..110u16 {
                let mut p = [0u8; ARTDMX_LEN];
                encode_artdmx(u, seq, &[seq; 512], &mut p);
                batch.extend_from_slice(&p);
            }
            batch.extend_from_slice(&short_artdmx(110, seq));
            drained(to);
            if gso {
                send_gso(&state, &tx, to, &batch);
            } else {
                for p in batch.chunks(ARTDMX_LEN) {
                    tx.send_to(p, to).unwrap();
                }
            }
            let f = frame(0..5, seq);
            drained(to);
            sacn.send(&f);
            drained(to);
            artnet.send(&f);
        }
    }
    sent_within_the_window(started);
    for (extra, r) in modes.iter().zip(running) {
        let (v, stderr) = finish(r);
        eprintln!("{extra:?}: {}", stderr.trim());
        let per = frames_per_universe(&v);
        let mut want: Vec<((String, u64), u64)> = Vec::new();
        want.extend((0..5).map(|u| (("artnet".to_string(), u), 3)));
        want.extend((100..=110).map(|u| (("artnet".to_string(), u), 3)));
        want.extend((1..=3).map(|u| (("sacn".to_string(), u), 3)));
        assert_eq!(per, want.into_iter().collect(), "{extra:?}: {stderr}");
        assert_eq!(v["sequence_gaps"], 0, "{extra:?}: {v}");
        assert_eq!(v["syncs"], u64::from(FRAMES), "{extra:?}");
        assert_eq!(v["socket_drops"], 0, "{extra:?}");
        // Each GSO batch arrived as one buffer of eleven datagrams.
        if extra.is_empty() && stderr.contains("(UDP GRO)") {
            assert_eq!(most_in_one_buffer(&stderr), 11, "{stderr}");
        }
    }
}
