//! A dead unicast target must not slow the frame loop (beside the code; was
//! tests/it/output_health.rs): Art-Net and sACN
//! outputs aimed at a loopback port nobody listens on, and a DMX USB Pro on
//! a pty that nobody reads (its writes stall), sit in the same loop as a
//! live Art-Net output. Every frame must reach the live receiver, every
//! output must have handled every frame, and the loop must finish far
//! inside a generous bound (a blocking implementation would spend seconds
//! per frame on the stalled port). Counts are asserted, not timings; the
//! one time bound is loose enough not to flake on a loaded machine.

use crate::output::artnet::ArtNetOutput;
use crate::output::enttec::ProDriver;
use crate::output::sacn::{SacnOutput, SacnSettings};
use crate::output::serial::{PortOpener, SerialOutput, SerialSettings};
use crate::output::Output;
use nightscape_core::engine::Frame;
use nightscape_core::site::SacnTarget;
use nightscape_core::wire::artnet::parse_artdmx;
use serialport::{SerialPort, TTYPort};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const FRAMES: usize = 300;

/// A loopback port with nothing behind it.
fn dead_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

#[test]
fn dead_targets_do_not_delay_frames_to_a_live_one() {
    let live = UdpSocket::bind("127.0.0.1:0").unwrap();
    live.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let live_addr = live.local_addr().unwrap();
    // Drain concurrently so the receive buffer never drops a packet.
    let counter = std::thread::spawn(move || {
        let mut seqs = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + Duration::from_secs(30);
        while seqs.len() < FRAMES && Instant::now() < deadline {
            if let Ok((n, _)) = live.recv_from(&mut buf) {
                if let Ok((seq, _, 0, data)) = parse_artdmx(&buf[..n]) {
                    seqs.push((seq, data[0]));
                }
            }
        }
        seqs
    });

    // A pty whose master is held but never read: the Pro's writes stall.
    let (_master, slave) = TTYPort::pair().unwrap();
    let stalled_path = slave.name().unwrap();

    let mut outputs: Vec<Box<dyn Output>> = vec![
        Box::new(ArtNetOutput::open(dead_port(), (0..8).collect(), true).unwrap()),
        Box::new(
            SacnOutput::open(
                SacnSettings {
                    target: SacnTarget::Unicast(dead_port()),
                    priority: 100,
                    sync_address: Some(1),
                    source_name: "dead".into(),
                    cid: [7; 16],
                },
                (0..8).collect(),
                (1..9).collect(),
            )
            .unwrap(),
        ),
        Box::new(
            SerialOutput::start(
                Box::new(PortOpener::enttec_pro(&stalled_path)),
                Box::new(ProDriver::with_hello_timeout(Duration::from_millis(50))),
                0,
                SerialSettings::default(),
            )
            .unwrap(),
        ),
        Box::new(ArtNetOutput::open(live_addr, vec![0], false).unwrap()),
    ];

    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..FRAMES {
        let f = Frame {
            universes: (0..8).collect(),
            data: vec![[(i % 256) as u8; 512]; 8],
        };
        let t = Instant::now();
        for o in outputs.iter_mut() {
            o.send(&f);
        }
        slowest = slowest.max(t.elapsed());
        // Roughly frame-loop pacing, so the stalled port has time to stall.
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = start.elapsed();
    eprintln!("{FRAMES} frames in {total:?}, slowest send round {slowest:?}");

    let seqs = counter.join().unwrap();
    assert_eq!(seqs.len(), FRAMES, "every frame reached the live node");
    for (i, (seq, v)) in seqs.iter().enumerate() {
        assert_eq!(*v, (i % 256) as u8);
        assert_eq!(*seq as usize, i % 255 + 1);
    }
    for o in &outputs[..2] {
        let h = o.health();
        assert_eq!(h.frames_sent as usize, FRAMES, "{h:?}");
    }
    // Generous: 300 frames at 1 ms pacing take well under a second; a loop
    // that waited on the stalled serial port would take minutes.
    assert!(total < Duration::from_secs(20), "{total:?}");
    eprintln!("stalled widget: {:?}", outputs[2].health());
    let t = Instant::now();
    for o in outputs.iter_mut() {
        o.stop();
    }
    eprintln!("stop took {:?}", t.elapsed());
    drop(slave);
}
