//! OSC in the real daemon: scene start → wire latency, and the frame rate
//! under a 10,000 packets/s OSC flood.
//!
//! A measurement, not a test: `cargo bench -- osc` starts `nightscape
//! run` on the demo site with an OSC input on a loopback port and a probe
//! show (a steady magenta on tower-crown, no fades), then
//!
//! 1. sends `/nightscape/scene/start ,s osc-probe` 200 times at moments
//!    spread over the frame period (stopping it between), and prints
//!    p50/p99/max of the time from the datagram to the first ArtDmx that
//!    carries the magenta (target: one frame, 25 ms, plus 5 ms);
//! 2. measures the wire's frame rate of one universe for 5 s quiet, then
//!    for 10 s while another thread sends 10,000 OSC datagrams a second
//!    (a third grand-master fader moves, a third addresses no trigger, a
//!    third not OSC at all), and prints frames per second, the longest gap
//!    between frames, and what the daemon still answers.

use crate::common;
use rosc::{OscMessage, OscPacket, OscType};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::{quantile, wait_crown, OPERATOR};
const PROBE: [u8; 3] = [255, 0, 255];

fn osc(addr: &str, args: Vec<OscType>) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    }))
    .unwrap()
}

/// Frames of universe `u` seen for `secs`: (frames per second, longest gap).
fn frame_rate(rx: &UdpSocket, u: u16, secs: f64) -> (f64, Duration, Vec<usize>) {
    let t0 = Instant::now();
    let mut last: Option<Instant> = None;
    let mut gap = Duration::ZERO;
    let mut per_second = vec![0usize; secs.ceil() as usize];
    let mut n = 0usize;
    while t0.elapsed().as_secs_f64() < secs {
        if let Some((pu, _, _)) = common::recv_artdmx(rx) {
            if pu != u {
                continue;
            }
            let now = Instant::now();
            if let Some(l) = last {
                gap = gap.max(now - l);
            }
            last = Some(now);
            n += 1;
            let s = (now - t0).as_secs() as usize;
            if let Some(c) = per_second.get_mut(s) {
                *c += 1;
            }
        }
    }
    (n as f64 / secs, gap, per_second)
}

pub(crate) fn run(_args: &[String]) {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        format!("{text}\n[[inputs]]\nkind = \"osc\"\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    std::fs::write(
        site.join("osc-probe.toml"),
        "name = \"osc-probe\"\nfade_in = \"0s\"\nfade_out = \"0s\"\n[[layers]]\ntarget = \"tower-crown\"\neffect = \"solid\"\ncolor = \"#ff00ff\"\n",
    )
    .unwrap();
    let state = tmp.path().join("var");
    let (_daemon, u, a) = crate::crown_daemon(&site, &state);
    let base = common::api_base(&state);
    let to = format!("127.0.0.1:{port}");
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = osc(
        "/nightscape/scene/start",
        vec![OscType::String("osc-probe".into())],
    );
    let stop = osc(
        "/nightscape/scene/stop",
        vec![OscType::String("osc-probe".into())],
    );

    // 1. Latency.
    let mut samples = Vec::new();
    for i in 0..200 {
        assert!(
            wait_crown(&rx, u, a, |d| d != PROBE),
            "the probe did not stop ({i})"
        );
        common::drain(&rx, Duration::from_millis(1));
        std::thread::sleep(Duration::from_micros((i as u64 * 7919) % 25_000));
        let t0 = Instant::now();
        tx.send_to(&start, &to).unwrap();
        assert!(
            wait_crown(&rx, u, a, |d| d == PROBE),
            "start {i} never showed"
        );
        samples.push(t0.elapsed());
        tx.send_to(&stop, &to).unwrap();
    }
    samples.sort();
    let q = |x: f64| quantile(&samples, x);
    println!(
        "OSC /nightscape/scene/start -> first Art-Net frame showing it, over {}: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        q(0.5),
        q(0.99),
        samples[samples.len() - 1]
    );

    // 2. Flood.
    let (quiet, quiet_gap, _) = frame_rate(&rx, u, 5.0);
    println!("quiet: {quiet:.1} frames/s on universe {u}, longest gap {quiet_gap:?}");
    let stop_flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop_flag = stop_flag.clone();
        let to = to.clone();
        std::thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let kinds = [
                osc("/nightscape/master", vec![OscType::Float(0.9)]),
                osc("/cue/nothing/here", vec![OscType::Int(1)]),
                b"not OSC at all, just bytes\r\n".to_vec(),
            ];
            let t0 = Instant::now();
            let mut sent = 0u64;
            while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
                // 10,000 a second: 10 every millisecond.
                let due = (t0.elapsed().as_secs_f64() * 10_000.0) as u64;
                while sent < due {
                    let _ = s.send_to(&kinds[(sent % 3) as usize], &to);
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            (sent, t0.elapsed())
        })
    };
    let (busy, busy_gap, per_second) = frame_rate(&rx, u, 10.0);
    stop_flag.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, took) = flood.join().unwrap();
    println!(
        "flood: {sent} OSC datagrams in {took:.1?} ({:.0}/s); {busy:.1} frames/s on universe {u}, per second {per_second:?}, longest gap {busy_gap:?}",
        sent as f64 / took.as_secs_f64()
    );
    let r = ureq::get(format!("{base}/api/status"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .expect("the API answers after the flood");
    println!("API after the flood: {}", r.status());
}
