//! Measurements for the fleet (issue 28), not checks: how far apart two
//! nodes playing the same effect put the same frame on the wire, and how
//! long an override posted to one node's API takes to reach the last
//! node's wire. `#[ignore]`d: run it on purpose, on a quiet machine,
//! and read the printed numbers (docs/fleet.md keeps the measured ones):
//!
//! `cargo test --test it fleet_measure -- --ignored --nocapture`
//!
//! Three real daemons (`run --node a|b|c`) on the system clock play the
//! same moving show (`--show nightly`, one `--since` for all) with a real
//! mosquitto; each sends every universe to a UDP socket of its own. A
//! thread per socket stamps each ArtDmx packet as it arrives. Because the
//! effect moves, a universe's bytes name the frame: a frame whose bytes
//! occur once at each of two nodes is the same frame, and the difference
//! of its arrival stamps is the phase error between them (receiver
//! scheduling included, so it is an upper bound). Then 30 overrides of
//! alternating colour are posted to A's API: latency is from just before
//! the POST to the first packet showing the colour on the last node's wire.
//!
//! It asserts only that it got data, never a time: a timed assertion would
//! fail on a slow machine and say nothing about the product.

use crate::common;
use crate::common::fleet::{
    agent, base, connected, fleet_site, mosquitto, state_dir, Broker, Fleet, NODES, OPERATOR,
};
use crate::common::{free_port, wait_until};
use serde_json::json;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One ArtDmx packet as it arrived: (arrival, universe, DMX bytes).
type Packet = (Instant, u16, Vec<u8>);

/// Stamps every ArtDmx packet arriving on one node's socket until stopped.
struct Recorder {
    packets: Arc<Mutex<Vec<Packet>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    fn start(rx: UdpSocket) -> Recorder {
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (packets.clone(), stop.clone());
        rx.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, _)) = rx.recv_from(&mut buf) else {
                    continue;
                };
                // Stamped before decoding: the stamp is the arrival.
                let at = Instant::now();
                if let Ok(artnet_protocol::ArtCommand::Output(o)) =
                    artnet_protocol::ArtCommand::from_buffer(&buf[..n])
                {
                    p.lock().unwrap().push((
                        at,
                        u16::from(o.port_address),
                        o.data.as_ref().to_vec(),
                    ));
                }
            }
        });
        Recorder {
            packets,
            stop,
            thread: Some(thread),
        }
    }

    fn take(&self) -> Vec<Packet> {
        std::mem::take(&mut *self.packets.lock().unwrap())
    }

    /// The first packet at or after `since` of `universe` with `want` at
    /// `offset`, among those recorded so far.
    fn first_showing(
        &self,
        since: Instant,
        universe: u16,
        offset: usize,
        want: &[u8],
    ) -> Option<Instant> {
        self.packets
            .lock()
            .unwrap()
            .iter()
            .find(|(at, u, d)| {
                *at >= since && *u == universe && d.get(offset..offset + want.len()) == Some(want)
            })
            .map(|(at, _, _)| *at)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// p50, p99 and max of `v` in milliseconds (sorted in place).
fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), v[v.len() - 1])
}

/// Arrival-time differences (ms) of the frames two nodes both sent once:
/// per universe, bytes that occur exactly once in each node's record.
fn phase_pairs(x: &[Packet], y: &[Packet]) -> Vec<f64> {
    fn unique(p: &[Packet]) -> HashMap<(u16, &[u8]), Option<Instant>> {
        let mut m: HashMap<(u16, &[u8]), Option<Instant>> = HashMap::new();
        for (at, u, d) in p {
            m.entry((*u, d.as_slice()))
                .and_modify(|e| *e = None)
                .or_insert(Some(*at));
        }
        m
    }
    let (ux, uy) = (unique(x), unique(y));
    ux.iter()
        .filter_map(|(k, tx)| {
            let (tx, ty) = ((*tx)?, (*uy.get(k)?)?);
            let d = if tx > ty { tx - ty } else { ty - tx };
            Some(d.as_secs_f64() * 1e3)
        })
        .collect()
}

/// Node `i` on the system clock (the fleet's own start-up uses a frozen
/// simulated one), with `extra` arguments.
fn start_node_with(f: &Fleet, i: usize, extra: &[&str]) -> common::Daemon {
    let state = state_dir(f, i);
    let mut args = vec!["--node", NODES[i], "--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    common::spawn_daemon(
        &f.site,
        &args,
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("RUST_LOG", "warn"),
        ],
    )
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture and read the numbers"]
fn fleet_measure_phase_and_command_latency() {
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            "fleet_measure_phase_and_command_latency",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let broker_port = free_port();
    let f = fleet_site(broker_port);
    // Every node sends every universe (fleet_site splits them): the same
    // frames from three senders, to three sockets.
    let p = f.site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let (head, tail) = text.split_at(text.find("[api]").unwrap());
    let start = head.find("[[outputs]]").unwrap();
    let all: Vec<String> = (0..=14u16).map(|u| u.to_string()).collect();
    let outputs: String = head[start..]
        .lines()
        .map(|l| {
            if l.starts_with("universes = ") {
                format!("universes = [{}]\n", all.join(", "))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&p, format!("{}{outputs}\n{tail}", &head[..start])).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p)
            .unwrap()
            .matches(&format!("universes = [{}]", all.join(", ")))
            .count(),
        3
    );
    let _broker = Broker::start(&bin, f.tmp.path(), broker_port);
    // One show, one start instant for all: on the system clock the frame
    // grid is the wall clock, so the nodes render the same bytes per frame.
    let since = (chrono::Utc::now() - chrono::Duration::seconds(60)).to_rfc3339();
    let _nodes: Vec<common::Daemon> = (0..3)
        .map(|i| {
            // Say the clock is synchronised: this machine may have no NTP
            // tooling, and a held schedule would not move.
            std::fs::create_dir_all(state_dir(&f, i)).unwrap();
            std::fs::write(state_dir(&f, i).join("clock.sync"), "synced\n").unwrap();
            start_node_with(&f, i, &["--show", "nightly", "--since", &since])
        })
        .collect();
    let agent = agent();
    for (i, name) in NODES.iter().enumerate() {
        assert!(
            wait_until(Duration::from_secs(30), || connected(&agent, &f, i)).is_some(),
            "node {name} did not join the fleet"
        );
    }
    let recorders: Vec<Recorder> =
        f.rx.iter()
            .map(|rx| Recorder::start(rx.try_clone().unwrap()))
            .collect();

    // 1. Phase: the same frame on two nodes' wires.
    std::thread::sleep(Duration::from_secs(1));
    for r in &recorders {
        r.take();
    }
    let seconds = 20;
    std::thread::sleep(Duration::from_secs(seconds));
    let rec: Vec<Vec<Packet>> = recorders.iter().map(Recorder::take).collect();
    for (name, r) in NODES.iter().zip(&rec) {
        eprintln!(
            "fleet phase: node {name} sent {} ArtDmx packets in {seconds} s",
            r.len()
        );
    }
    let mut all_pairs = Vec::new();
    for (x, y) in [(0, 1), (0, 2), (1, 2)] {
        let mut d = phase_pairs(&rec[x], &rec[y]);
        if d.is_empty() {
            eprintln!("fleet phase: {}-{}: no frame pairs", NODES[x], NODES[y]);
            continue;
        }
        let (p50, p99, max) = percentiles(&mut d);
        eprintln!(
            "fleet phase {}-{}: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms over {} frame pairs",
            NODES[x],
            NODES[y],
            d.len()
        );
        all_pairs.extend(d);
    }
    assert!(
        !all_pairs.is_empty(),
        "no frame was seen on two nodes' wires"
    );
    let n = all_pairs.len();
    let (p50, p99, max) = percentiles(&mut all_pairs);
    eprintln!(
        "fleet phase: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms over {n} frame pairs ({seconds} s, 3 nodes, 15 universes each, fps 40)"
    );

    // 2. Command latency: API of A to the last node's wire.
    let (u, a) = f.crown;
    let colours: [(&str, [u8; 3]); 2] = [("#ff0000", [255, 0, 0]), ("#0000ff", [0, 0, 255])];
    let mut last = Vec::new();
    let mut per_node: [Vec<f64>; 3] = Default::default();
    let mut previous: Option<String> = None;
    let mut missed = 0;
    for i in 0..30 {
        let (hex, bytes) = colours[i % 2];
        for r in &recorders {
            r.take();
        }
        let t0 = Instant::now();
        let mut resp = agent
            .post(format!("{}/api/overrides", base(&f, 0)))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .send_json(json!({"target": "tower-crown", "color": hex, "fade": 0, "ttl": "1h"}))
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let view: serde_json::Value = resp.body_mut().read_json().unwrap();
        let mut seen: [Option<Instant>; 3] = [None; 3];
        let deadline = t0 + Duration::from_secs(5);
        while Instant::now() < deadline && seen.iter().any(Option::is_none) {
            for (k, r) in recorders.iter().enumerate() {
                if seen[k].is_none() {
                    seen[k] = r.first_showing(t0, u, a, &bytes);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if seen.iter().any(Option::is_none) {
            missed += 1;
            eprintln!("fleet command {i}: {hex} missing on some node within 5 s: {seen:?}");
        } else {
            let ms = |t: Instant| (t - t0).as_secs_f64() * 1e3;
            for k in 0..3 {
                per_node[k].push(ms(seen[k].unwrap()));
            }
            last.push(ms(seen.iter().flatten().copied().max().unwrap()));
        }
        // Release the one before (the new one is on top; nothing changes
        // on the wire), so overrides do not pile up.
        if let Some(id) = previous.take() {
            let _ = agent
                .delete(format!("{}/api/overrides/{id}", base(&f, 0)))
                .header("Authorization", format!("Bearer {OPERATOR}"))
                .call();
        }
        previous = view["fleet_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| view["id"].as_str().map(str::to_string))
            .or_else(|| view["id"].as_i64().map(|n| n.to_string()));
        // Off the frame grid: posts land anywhere within a frame.
        std::thread::sleep(Duration::from_millis(150 + (i as u64 * 37) % 100));
    }
    assert!(!last.is_empty(), "no override reached every node's wire");
    for (k, name) in NODES.iter().enumerate() {
        let (p50, p99, max) = percentiles(&mut per_node[k]);
        eprintln!(
            "fleet command latency to node {name}'s wire: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
        );
    }
    let n = last.len();
    let (p50, p99, max) = percentiles(&mut last);
    eprintln!(
        "fleet command latency (API of a -> last node's wire): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {n} overrides ({missed} missed)"
    );
}
