//! The daemon on the Art-Net network, as the spec asks of a controller:
//! an ArtPoll from a test socket gets ArtPollReply packets naming every
//! universe the site sends; a fake node (a test socket that answers
//! ArtPoll) that stops answering turns its output `down` with "node not
//! answering since …" and raises an alarm, and both clear by themselves
//! when it answers again. The daemon's Art-Net socket listens on a
//! loopback port the test picked (`[artnet] listen`), never 6454.
//!
//! Every wait is bounded; the measured times are printed.

use crate::common;

use nightscape_core::wire::artnet::{
    encode_artpoll, encode_artpollreply, is_artpoll, parse_artpollreply, NodeInfo,
    ARTPOLLREPLY_LEN, ARTPOLL_LEN, PORT_TYPE_INPUT,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(agent: &ureq::Agent, url: &str) -> Option<Value> {
    let mut r = agent.get(url).call().ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    r.body_mut().read_json().ok()
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn artpoll_is_answered_and_a_silent_node_goes_down_and_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // The fake node: receives the ArtDmx and answers ArtPoll while `answering`.
    let node = UdpSocket::bind("127.0.0.1:0").unwrap();
    node.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    common::retarget(&site, &node.local_addr().unwrap().to_string());
    let artnet_port = free_udp_port();
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let text =
        format!("{text}\n[artnet]\nlisten = \"127.0.0.1:{artnet_port}\"\npoll_every = \"1s\"\n");
    std::fs::write(&p, text).unwrap();

    let answering = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let polls_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fake = {
        let (answering, stop, polls_seen) = (answering.clone(), stop.clone(), polls_seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            let mut reply = [0u8; ARTPOLLREPLY_LEN];
            let info = NodeInfo {
                ip: Ipv4Addr::LOCALHOST,
                port: 6454,
                firmware: 1,
                net_switch: 0,
                sub_switch: 0,
                oem: 0,
                short_name: "fake".into(),
                long_name: "fake node".into(),
                node_report: String::new(),
                num_ports: 1,
                port_types: [0x80, 0, 0, 0],
                sw_in: [0; 4],
                sw_out: [0; 4],
                mac: None,
                bind_ip: None,
                bind_index: Some(1),
            };
            let len = encode_artpollreply(&info, &mut reply);
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((n, from)) = node.recv_from(&mut buf) {
                    if is_artpoll(&buf[..n]) {
                        polls_seen.fetch_add(1, Ordering::Relaxed);
                        if answering.load(Ordering::Relaxed) {
                            let _ = node.send_to(&reply[..len], from);
                        }
                    }
                }
            }
        })
    };

    let state = tmp.path().join("var");
    let _daemon = common::spawn_daemon(
        &site,
        &[
            "--clock",
            AT,
            "--speed",
            "0",
            "--state",
            state.to_str().unwrap(),
        ],
        &[("RUST_LOG", "warn")],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let base = common::api_base(&state);
    assert!(
        common::wait_until(Duration::from_secs(30), || get(
            &agent,
            &format!("{base}/healthz")
        )
        .is_some())
        .is_some(),
        "the daemon did not come up"
    );

    // 1. ArtPoll from a test socket: the replies name every universe sent.
    let poller = UdpSocket::bind("127.0.0.1:0").unwrap();
    poller
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut poll = [0u8; ARTPOLL_LEN];
    encode_artpoll(&mut poll);
    let mut universes = BTreeSet::new();
    let mut names = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut next_poll = Instant::now();
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline && universes.len() < 15 {
        if Instant::now() >= next_poll {
            poller.send_to(&poll, ("127.0.0.1", artnet_port)).unwrap();
            next_poll = Instant::now() + Duration::from_secs(1);
        }
        if let Ok((n, _)) = poller.recv_from(&mut buf) {
            if let Ok(info) = parse_artpollreply(&buf[..n]) {
                universes.extend(input_universes(&info));
                names.insert(info.long_name);
            }
        }
    }
    assert_eq!(
        universes.into_iter().collect::<Vec<_>>(),
        (0..15).collect::<Vec<u16>>(),
        "ArtPollReply does not name the site's universes"
    );
    assert!(
        names.iter().any(|n| n.contains("Flower City Axis")),
        "{names:?}"
    );

    // 2. The node answers: the output is ok. Then it goes silent: down.
    let output_state = |agent: &ureq::Agent| -> Option<(String, String)> {
        let v = get(agent, &format!("{base}/api/status"))?;
        let o = &v["outputs"][0];
        Some((
            o["state"].as_str()?.to_string(),
            o["last_error"].as_str().unwrap_or("").to_string(),
        ))
    };
    assert!(
        common::wait_until(Duration::from_secs(10), || polls_seen
            .load(Ordering::Relaxed)
            >= 2)
        .is_some(),
        "the daemon does not poll its node"
    );
    assert_eq!(output_state(&agent).map(|s| s.0).as_deref(), Some("ok"));
    answering.store(false, Ordering::Relaxed);
    let down = common::wait_until(Duration::from_secs(20), || {
        output_state(&agent).is_some_and(|(s, e)| s == "down" && e.contains("not answering"))
    })
    .expect("the output of a silent node did not turn down");
    eprintln!(
        "silent node -> output down after {down:?} (poll every 1 s; silent after 2 polls + 1 s)"
    );
    let alarm = |agent: &ureq::Agent, active: bool| -> bool {
        get(agent, &format!("{base}/api/alarms")).is_some_and(|v| {
            let list = if active { &v["active"] } else { &v["recent"] };
            list.as_array()
                .is_some_and(|l| l.iter().any(|a| a["kind"] == "output_down"))
        })
    };
    assert!(
        common::wait_until(Duration::from_secs(5), || alarm(&agent, true)).is_some(),
        "no output_down alarm"
    );

    // 3. It answers again: the output recovers by itself, the alarm clears.
    answering.store(true, Ordering::Relaxed);
    let up = common::wait_until(Duration::from_secs(20), || {
        output_state(&agent).is_some_and(|(s, _)| s == "ok")
    })
    .expect("the output did not recover when the node answered again");
    eprintln!("node answers again -> output ok after {up:?}");
    assert!(
        common::wait_until(Duration::from_secs(5), || !alarm(&agent, true)
            && alarm(&agent, false))
        .is_some(),
        "the output_down alarm was not cleared"
    );
    stop.store(true, Ordering::Relaxed);
    fake.join().unwrap();
}

#[test]
fn nodes_says_when_a_same_host_poll_cannot_be_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // The demo's Art-Net target is 127.0.0.1:6454: nothing answers there
    // (the command's own socket holds the port), which is exactly the
    // same-host case the warning is for.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["nodes", "--timeout", "300ms", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("unavailable") {
        eprintln!("skipped: port 6454 is held here without sharing ({stderr})");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("no reply seen from 127.0.0.1:6454")
            && stdout.contains("port 6454 is shared"),
        "{stdout}"
    );
}

/// A receiver on this machine that shares the Art-Net port the way OLA
/// does (0.0.0.0 with SO_REUSEADDR). The port is one the test owns, named
/// in `[artnet] listen` at the wildcard address — the default's shape —
/// and the outputs send there.
fn shared_receiver(port: u16) -> UdpSocket {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    let addr: std::net::SocketAddr = (Ipv4Addr::UNSPECIFIED, port).into();
    s.bind(&addr.into()).unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

/// A site whose Art-Net outputs send to 127.0.0.1:`port` and whose
/// Art-Net service listens on 0.0.0.0:`port`, as the default does on 6454.
fn site_sharing_port(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let site = common::demo_site_in(dir);
    common::retarget(&site, &format!("127.0.0.1:{port}"));
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        format!("{text}\n[artnet]\nlisten = \"0.0.0.0:{port}\"\n"),
    )
    .unwrap();
    site
}

/// ArtDmx packets `rx` gets within `limit`.
fn artdmx_within(rx: &UdpSocket, limit: Duration) -> usize {
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < limit {
        if common::recv_artdmx(rx).is_some() {
            n += 1;
        }
    }
    n
}

fn start_daemon_on(site: &std::path::Path, state: &std::path::Path) -> common::Daemon {
    common::spawn_daemon(
        site,
        &[
            "--clock",
            AT,
            "--speed",
            "0",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    )
}

/// Issue 23: a receiver started before the daemon keeps its frames (Linux
/// hands unicast on a shared port to the last socket bound, so a service
/// on 0.0.0.0 took them all).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_local_receiver_started_before_the_daemon_gets_its_artdmx() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let site = site_sharing_port(tmp.path(), port);
    let rx = shared_receiver(port);
    let state = tmp.path().join("var");
    let _daemon = start_daemon_on(&site, &state);
    common::api_base(&state);
    // Past start-up: the Art-Net service is bound by the time the API is.
    common::drain(&rx, Duration::from_millis(500));
    let n = artdmx_within(&rx, Duration::from_secs(2));
    eprintln!("receiver bound first: {n} ArtDmx in 2 s");
    // 15 universes at 40 fps: 1,200 packets in 2 s.
    assert!(n >= 600, "the receiver bound first got {n} ArtDmx in 2 s");
}

/// …and one started after it, too.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_local_receiver_started_after_the_daemon_gets_its_artdmx() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let site = site_sharing_port(tmp.path(), port);
    let state = tmp.path().join("var");
    let _daemon = start_daemon_on(&site, &state);
    common::api_base(&state);
    std::thread::sleep(Duration::from_millis(300));
    let rx = shared_receiver(port);
    let n = artdmx_within(&rx, Duration::from_secs(2));
    eprintln!("receiver bound after: {n} ArtDmx in 2 s");
    assert!(n >= 600, "the receiver bound after got {n} ArtDmx in 2 s");
}

/// The universes an ArtPollReply says its node sends into the network (Art-Net 4:
/// the input ports' SwIn, under NetSwitch and SubSwitch), decoded here from the
/// spec, as a console reading the reply would.
fn input_universes(n: &NodeInfo) -> Vec<u16> {
    let net = u16::from(n.net_switch & 0x7f) << 8;
    let sub = u16::from(n.sub_switch & 0x0f) << 4;
    let ports = usize::from(n.num_ports).min(4);
    n.port_types[..ports]
        .iter()
        .zip(&n.sw_in)
        .filter(|(ty, _)| *ty & PORT_TYPE_INPUT != 0)
        .map(|(_, sw)| net | sub | u16::from(sw & 0x0f))
        .collect()
}
