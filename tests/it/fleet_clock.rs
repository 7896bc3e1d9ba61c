//! The fleet's view of its nodes, with real daemons on the system clock and
//! a real mosquitto: clock offsets between nodes on one machine (one
//! clock) come out near zero even with a stale retained status on the
//! broker, no `clock_drift` is raised; a node restarted gracefully is not
//! `node_down` for its peer; `fleet status` shows last seen, clock offset
//! and alarms, and no live power for a node that has stopped.
//!
//! Skipped (with a message) when `mosquitto` is not installed. Every wait
//! is bounded.

use crate::common;
use crate::common::fleet::Client;
use crate::common::fleet::{
    agent, base, connected, fleet_site, get, mosquitto, poll_until, state_dir, Broker, Fleet,
    NODES, OPERATOR,
};
use crate::common::free_port;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Node `i` on the system clock (the fleet's real case).
fn start_real(f: &Fleet, i: usize) -> common::Daemon {
    let state = state_dir(f, i);
    common::spawn_daemon(
        &f.site,
        &["--node", NODES[i], "--state", state.to_str().unwrap()],
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("RUST_LOG", "warn"),
        ],
    )
}

fn sigterm_and_wait(d: &mut common::Daemon) {
    common::sigterm(d, Duration::from_secs(30));
}

fn alarms_of(agent: &ureq::Agent, f: &Fleet, i: usize) -> Value {
    get(agent, &format!("{}/api/alarms", base(f, i))).unwrap_or(Value::Null)
}

fn fleet_status(f: &Fleet) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args([
            "fleet", "status", "--format", "json", "--wait", "1.5s", "--site",
        ])
        .arg(&f.site)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_clock_offsets_restarts_and_status() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_clock_offsets_restarts_and_status",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = fleet_site(port);
    // The demo's 40 frames a second (not the 10 other fleet tests send):
    // at 10 the offsets measured here came out 18 ms with a 22 ms bound,
    // not 0.3 with 1.
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    // A status of B retained from two seconds ago, as a broker keeps one
    // from before a restart.
    let stale = chrono::Utc::now() - chrono::Duration::seconds(2);
    let old = Client::connect(port, "old-b");
    old.publish_all(&[(
        "nightscape/testcity/status/b".into(),
        serde_json::to_vec(&json!({"node": "b", "online": true, "at": stale, "rtt_ms": 0.1}))
            .unwrap(),
    )]);
    drop(old);

    let a = start_real(&f, 0);
    let mut b = start_real(&f, 1);
    for i in 0..2 {
        assert!(
            poll_until(Duration::from_secs(30), || connected(&agent, &f, i)).is_some(),
            "node {i} did not join"
        );
    }
    // Ten seconds of status every 0.5 s: every offset either side reports
    // is zero within its stated error bound (one clock), never the stale
    // status's two seconds.
    // `fleet status` (below) gathers for 1.5 s: it runs in the last
    // seconds of these ten, when both nodes have measured each other.
    let mut worst: f64 = 0.0;
    let mut last = [None, None];
    let t0 = Instant::now();
    let status = std::thread::scope(|scope| {
        let mut status = None;
        while t0.elapsed() < Duration::from_secs(10) {
            if status.is_none() && t0.elapsed() >= Duration::from_secs(7) {
                status = Some(scope.spawn(|| fleet_status(&f)));
            }
            for (i, peer) in [(0usize, "b"), (1, "a")] {
                if let Some(v) = get(&agent, &format!("{}/api/fleet", base(&f, i))) {
                    let n = &v["nodes"][peer];
                    if let Some(o) = n["clock_offset_ms"].as_f64() {
                        let err = n["clock_error_ms"].as_f64().unwrap_or(0.0);
                        worst = worst.max(o.abs() - err);
                        last[i] = Some((o, err));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        status
            .expect("fleet status was started")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    eprintln!(
        "clock offsets on one machine (offset, error bound) ms: a sees b {:?}, b sees a {:?}; worst |offset| beyond its bound {worst:.2} ms",
        last[0], last[1]
    );
    assert!(last.iter().all(Option::is_some), "no offsets: {last:?}");
    assert!(
        worst <= 1.0,
        "an offset {worst:.1} ms beyond its error bound on one clock"
    );
    for i in 0..2 {
        let al = alarms_of(&agent, &f, i);
        assert!(!al.to_string().contains("clock_drift"), "node {i}: {al}");
    }

    // `fleet status`: last seen, clock offset, alarms per node.
    let v = status;
    for n in ["a", "b"] {
        assert!(v[n]["last_seen"].is_string(), "{v}");
        // The peers' own measure (its error bound is in /api/fleet).
        assert!(v[n]["clock_offset_ms"].as_f64().is_some(), "{v}");
        assert_eq!(v[n]["verified"], Value::Null, "{v}");
        assert!(v[n]["alarms"].is_array(), "{v}");
        assert!(v[n]["power_w"].as_f64().is_some(), "{v}");
    }

    // B restarts gracefully: A raises no node_down for it.
    sigterm_and_wait(&mut b);
    // Stopped: `fleet status` shows B offline, without live power.
    let v = fleet_status(&f);
    assert_eq!(v["b"]["status"]["online"], json!(false), "{v}");
    assert!(
        v["b"]["power_w"].is_null(),
        "an offline node shows power: {v}"
    );
    assert!(v["b"]["energy"]["power_w"].is_null(), "{v}");
    let b2 = start_real(&f, 1);
    assert!(poll_until(Duration::from_secs(30), || connected(&agent, &f, 1)).is_some());
    assert!(poll_until(Duration::from_secs(10), || {
        get(&agent, &format!("{}/api/fleet", base(&f, 0)))
            .is_some_and(|v| v["nodes"]["b"]["status"]["online"] == json!(true))
    })
    .is_some());
    std::thread::sleep(Duration::from_secs(3));
    let al = alarms_of(&agent, &f, 0);
    assert!(
        !al.to_string().contains("node_down"),
        "a graceful restart raised node_down: {al}"
    );
    drop((a, b2));
}
