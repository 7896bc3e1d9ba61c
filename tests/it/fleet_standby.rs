//! A standby for a controller, with real daemons, a real mosquitto and
//! real Art-Net on loopback: nodes `b` and `c` both stand by for `a`
//! (`standby_for = ["a"]`). While `a` runs, only `a` sends its universes.
//! `a` is killed with SIGKILL: the lowest-named standby, `b`, sends the
//! same bytes to `a`'s receiver (decoded from the packets, told apart by
//! their source port) within 3 s, raises `standby_active` and says so in
//! `/api/fleet`; `c` does not send. `a` restarted: `b` hands back and not
//! one of `b`'s packets arrives after `a`'s first. Then `b` is killed too
//! and `a` again: `c` covers. The dark time and the overlap are printed.
//!
//! Skipped (with a message) when `mosquitto` is not installed. Every wait
//! is bounded.

use crate::common;
use crate::common::fleet::{
    agent, base, fleet_site, get, mosquitto, start_node, start_nodes, state_dir, Broker,
};
use crate::common::{free_port, wait_until};
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One ArtDmx of `universe`: (sender, data), or None on timeout/other.
fn recv_from(rx: &UdpSocket, universe: u16) -> Option<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 1024];
    let (n, from) = rx.recv_from(&mut buf).ok()?;
    match artnet_protocol::ArtCommand::from_buffer(&buf[..n]) {
        Ok(artnet_protocol::ArtCommand::Output(o)) if u16::from(o.port_address) == universe => {
            Some((from, o.data.as_ref().to_vec()))
        }
        _ => None,
    }
}

/// The packets of `universe` for `how_long`: (when, sender, data).
fn listen(
    rx: &UdpSocket,
    universe: u16,
    how_long: Duration,
) -> Vec<(Instant, SocketAddr, Vec<u8>)> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    while t0.elapsed() < how_long {
        if let Some((from, d)) = recv_from(rx, universe) {
            out.push((Instant::now(), from, d));
        }
    }
    out
}

/// Wait (up to `limit`) for a packet of `universe` from a sender other
/// than `not`: (when, sender, data), and the last packet from `not` seen
/// before it.
fn first_other(
    rx: &UdpSocket,
    universe: u16,
    not: &[SocketAddr],
    limit: Duration,
) -> Option<(Instant, SocketAddr, Vec<u8>, Option<Instant>)> {
    let t0 = Instant::now();
    let mut last_old = None;
    while t0.elapsed() < limit {
        if let Some((from, d)) = recv_from(rx, universe) {
            if not.contains(&from) {
                last_old = Some(Instant::now());
            } else {
                return Some((Instant::now(), from, d, last_old));
            }
        }
    }
    None
}

fn fleet_view(agent: &ureq::Agent, f: &crate::common::fleet::Fleet, i: usize) -> serde_json::Value {
    get(agent, &format!("{}/api/fleet", base(f, i))).unwrap_or_default()
}

fn alarm_kinds(agent: &ureq::Agent, f: &crate::common::fleet::Fleet, i: usize) -> Vec<String> {
    get(agent, &format!("{}/api/alarms", base(f, i)))
        .and_then(|a| a["active"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["kind"].as_str().map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_standby_takes_over_a_killed_node_and_hands_back() {
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            "fleet_standby_takes_over_a_killed_node_and_hands_back",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = fleet_site(port);
    let p = f.site.join("site.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(
            "name = \"b\"\napi = \"127.0.0.1:0\"\n",
            "name = \"b\"\napi = \"127.0.0.1:0\"\nstandby_for = [\"a\"]\n",
        )
        .replace(
            "name = \"c\"\napi = \"127.0.0.1:0\"\n",
            "name = \"c\"\napi = \"127.0.0.1:0\"\nstandby_for = [\"a\"]\n",
        );
    assert_eq!(text.matches("standby_for").count(), 2);
    std::fs::write(&p, text).unwrap();
    // A universe only a sends (a sends every universe but the crown's).
    let u = if f.crown.0 == 0 { 1 } else { 0 };
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let mut nodes = start_nodes(&f, 3).into_iter();
    let (mut a, mut b, _c) = (nodes.next(), nodes.next(), nodes.next());
    let rx = &f.rx[0];
    // While a runs, one sender only: a.
    assert!(
        wait_until(Duration::from_secs(10), || recv_from(rx, u).is_some()).is_some(),
        "a never sent universe {u}"
    );
    let before = listen(rx, u, Duration::from_millis(1500));
    let senders: std::collections::BTreeSet<SocketAddr> =
        before.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(senders.len(), 1, "two senders while a runs: {senders:?}");
    let a_addr = *senders.iter().next().unwrap();
    let a_bytes = before.last().unwrap().2.clone();
    assert_eq!(
        fleet_view(&agent, &f, 0)["standby"]["own_outputs"],
        json!("sending")
    );

    // kill -9 a: b (the lowest-named standby) sends a's frames.
    drop(a.take());
    let killed = Instant::now();
    let (t_b, b_addr, b_bytes, last_a) = first_other(rx, u, &[a_addr], Duration::from_secs(10))
        .expect("no standby sent a's universe within 10 s of kill -9");
    let dark = t_b.duration_since(last_a.unwrap_or(killed).max(killed));
    eprintln!(
        "standby takeover: kill -9 of a -> first frame from the standby after {:?} (dark on the wire {:?} since a's last frame)",
        t_b.duration_since(killed),
        t_b.duration_since(last_a.unwrap_or(killed))
    );
    assert!(
        t_b.duration_since(killed) <= Duration::from_secs(3),
        "dark for {dark:?}"
    );
    assert_eq!(b_bytes, a_bytes, "the standby sent other bytes than a");
    // Only one standby sends, and it is b.
    let during = listen(rx, u, Duration::from_millis(1000));
    let senders: std::collections::BTreeSet<SocketAddr> =
        during.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(senders.len(), 1, "several standbys send: {senders:?}");
    assert!(senders.contains(&b_addr));
    let vb = fleet_view(&agent, &f, 1);
    assert_eq!(vb["standby"]["covering"]["a"], json!(true), "{vb}");
    assert_eq!(
        fleet_view(&agent, &f, 2)["standby"]["covering"]["a"],
        json!(false)
    );
    assert!(
        wait_until(Duration::from_secs(5), || alarm_kinds(&agent, &f, 1)
            .contains(&"standby_active".to_string()))
        .is_some(),
        "{:?}",
        alarm_kinds(&agent, &f, 1)
    );

    // a comes back: b hands back, never both at once.
    let _ = std::fs::remove_file(state_dir(&f, 0).join("api.addr"));
    let restarted = Instant::now();
    a = Some(start_node(&f, 0));
    let (t_a, a2_addr, _, last_b) =
        first_other(rx, u, &[b_addr], Duration::from_secs(30)).expect("a never sent again");
    let after = listen(rx, u, Duration::from_millis(1500));
    let overlap = after.iter().filter(|(_, s, _)| *s == b_addr).count();
    eprintln!(
        "hand-back: a restarted -> its first frame after {:?}; gap since the standby's last frame {:?}; standby frames after a's first: {overlap}",
        t_a.duration_since(restarted),
        last_b.map(|l| t_a.duration_since(l))
    );
    assert_eq!(overlap, 0, "the standby sent after a was back");
    assert!(after.iter().all(|(_, s, _)| *s == a2_addr));
    assert!(wait_until(Duration::from_secs(5), || {
        fleet_view(&agent, &f, 1)["standby"]["covering"]["a"] == json!(false)
            && !alarm_kinds(&agent, &f, 1).contains(&"standby_active".to_string())
    })
    .is_some());

    // b and then a gone: c covers.
    drop(b.take());
    std::thread::sleep(Duration::from_millis(300));
    drop(a.take());
    let killed = Instant::now();
    let (t_c, c_addr, _, _) = first_other(rx, u, &[a2_addr, b_addr], Duration::from_secs(10))
        .expect("c did not cover a with b gone");
    eprintln!(
        "second standby: a killed with b gone -> c's first frame after {:?}",
        t_c.duration_since(killed)
    );
    assert!(t_c.duration_since(killed) <= Duration::from_secs(3));
    assert_eq!(
        fleet_view(&agent, &f, 2)["standby"]["covering"]["a"],
        json!(true)
    );
    let _ = c_addr;
}
