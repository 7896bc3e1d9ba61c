//! The fleet's broker traffic under abuse, with real daemons and a real
//! mosquitto on a loopback port the test owns: a flood of valid commands
//! stays inside the API's caps and leaves room for an emergency; bad and
//! oversized messages are dropped and counted without losing the
//! connection; a replayed old command cannot undo a release, not even on a
//! node restarted with empty state.
//!
//! Skipped (with a message) when `mosquitto` is not installed. Every wait
//! is bounded.

use crate::common;
use crate::common::fleet::{
    agent, base, connected, fleet_site, get, mosquitto, start_node, start_nodes, state_dir, Broker,
    Client, Fleet, AT, OPERATOR, ROOT,
};
use crate::common::{free_port, wait_until};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn override_cmd(version: u64, color: &str, priority: i32, extra: Value) -> Vec<u8> {
    let mut o = json!({
        "target": "tower-crown",
        "action": {"color": color},
        "priority": priority,
        "created": AT,
        "expires": "2026-12-31T21:00:00+08:00",
        "fade": 0,
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
        o.extend(e);
    }
    serde_json::to_vec(&json!({"version": version, "origin": "flood", "override": o})).unwrap()
}

fn status(agent: &ureq::Agent, f: &Fleet, i: usize) -> Option<Value> {
    get(agent, &format!("{}/api/status", base(f, i)))
}

fn in_force(agent: &ureq::Agent, f: &Fleet, i: usize) -> Option<u64> {
    status(agent, f, i).and_then(|v| v["overrides_in_force"].as_u64())
}

fn all_overrides(agent: &ureq::Agent, f: &Fleet, i: usize) -> Vec<Value> {
    get(agent, &format!("{}/api/overrides", base(f, i)))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The fleet rig's site at 10 frames a second, not the demo's 40: these
/// tests read the nodes' APIs and the broker, never the wire's frames.
fn broker_fleet(broker_port: u16) -> Fleet {
    let f = fleet_site(broker_port);
    common::set_fps(&f.site, 10);
    f
}

/// The site with `[api] max_overrides = max`.
fn site_with_cap(broker_port: u16, max: usize) -> Fleet {
    let f = broker_fleet(broker_port);
    let p = f.site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replacen("[api]\n", &format!("[api]\nmax_overrides = {max}\n"), 1),
    )
    .unwrap();
    f
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_flood_keeps_the_caps_and_room_for_an_emergency() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_flood_keeps_the_caps_and_room_for_an_emergency",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = site_with_cap(port, 20);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let _nodes = start_nodes(&f, 2);

    // First the commands the API would refuse (while there is room), then
    // a flood of valid ones: distinct ids, and one id sent 2,000 times.
    let mut msgs: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{ROOT}/cmd/override/too-high"),
            override_cmd(1, "#ff0001", 2_000_000, json!({})),
        ),
        (
            format!("{ROOT}/cmd/override/long-note"),
            override_cmd(1, "#ff0002", 2000, json!({"note": "x".repeat(600)})),
        ),
        (
            format!("{ROOT}/cmd/override/long-fade"),
            override_cmd(1, "#ff0003", 2000, json!({"fade": 1e12})),
        ),
        (
            format!("{ROOT}/cmd/override/ten-years"),
            override_cmd(
                1,
                "#ff0004",
                2000,
                json!({"expires": "2036-12-31T21:00:00+08:00"}),
            ),
        ),
    ];
    for i in 0..3000u64 {
        msgs.push((
            format!("{ROOT}/cmd/override/flood-{i}"),
            override_cmd(10 + i, "#ff00ff", 2000, json!({})),
        ));
    }
    for i in 0..2000u64 {
        msgs.push((
            format!("{ROOT}/cmd/override/flood-same"),
            override_cmd(10 + i, "#ff00fe", 2000, json!({})),
        ));
    }
    let city = Client::connect(port, "flooder");
    let t0 = Instant::now();
    city.publish_all(&msgs);
    eprintln!(
        "flood: {} override commands published in {:?}",
        msgs.len(),
        t0.elapsed()
    );

    // Each node fills up to the cap less the emergency room (20 - 1), and
    // never beyond the cap.
    for i in 0..2 {
        let mut peak = 0;
        assert!(
            wait_until(Duration::from_secs(60), || {
                let n = in_force(&agent, &f, i).unwrap_or(0);
                peak = peak.max(n);
                n == 19
            })
            .is_some(),
            "node {i}: overrides in force never settled at 19 (peak {peak})"
        );
        assert!(peak <= 20, "node {i}: {peak} overrides in force, cap 20");
    }
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..2 {
        assert_eq!(
            in_force(&agent, &f, i),
            Some(19),
            "node {i} went past the cap"
        );
        let list = all_overrides(&agent, &f, i);
        for o in &list {
            let s = o.to_string();
            for bad in ["#ff0001", "#ff0002", "#ff0003", "#ff0004"] {
                assert!(
                    !s.contains(bad),
                    "node {i} applied a command the API would refuse: {s}"
                );
            }
        }
        let v = get(&agent, &format!("{}/api/fleet", base(&f, i))).unwrap();
        assert!(
            v["dropped"]["refused"].as_u64().unwrap_or(0) >= 4,
            "node {i} did not count refusals: {v}"
        );
        assert_eq!(v["connected"], json!(true));
    }

    // An operator's emergency on A is accepted and reaches B.
    let mut r = agent
        .post(format!("{}/api/overrides", base(&f, 0)))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"target": "*", "blackout": true, "priority": "emergency"}))
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        201,
        "emergency refused: {}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    assert!(
        wait_until(Duration::from_secs(10), || status(&agent, &f, 1)
            .is_some_and(|v| v["emergency"] == json!(true)))
        .is_some(),
        "the emergency did not reach node B"
    );
    // A master set on B still reaches A quickly: the queue is not clogged.
    let t0 = Instant::now();
    let r = agent
        .post(format!("{}/api/master", base(&f, 1)))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"level": 0.5}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        wait_until(Duration::from_secs(10), || status(&agent, &f, 0)
            .is_some_and(|v| v["masters"]
                .as_array()
                .is_some_and(|m| !m.is_empty())))
        .is_some(),
        "a master set on B did not reach A after the flood"
    );
    eprintln!(
        "after the flood: a master set on B reached A in {:?}",
        t0.elapsed()
    );
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_oversized_and_malformed_messages_are_dropped_not_the_connection() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_oversized_and_malformed_messages_are_dropped_not_the_connection",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = broker_fleet(port);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    // The bad messages are retained before the nodes start, so every
    // (re)connect would get them again.
    let city = Client::connect(port, "vandal");
    city.publish_all(&[
        (
            format!("{ROOT}/cmd/override/huge"),
            vec![b' '; 10 * 1024 * 1024],
        ),
        (
            format!("{ROOT}/cmd/override/garbage"),
            b"{not json".to_vec(),
        ),
        (format!("{ROOT}/status/ghost"), vec![b'x'; 1024 * 1024]),
    ]);
    let _nodes = start_nodes(&f, 2);
    // The drops counted (the retained messages come with the subscription)...
    let fleet_view = |i: usize| get(&agent, &format!("{}/api/fleet", base(&f, i)));
    for i in 0..2 {
        let mut v = None;
        assert!(
            wait_until(Duration::from_secs(10), || {
                v = fleet_view(i);
                v.as_ref().is_some_and(|v| {
                    v["dropped"]["oversized"].as_u64().unwrap_or(0) >= 2
                        && v["dropped"]["malformed"].as_u64().unwrap_or(0) >= 1
                })
            })
            .is_some(),
            "node {i} did not count the bad messages: {v:?}"
        );
    }
    // ...and then connected without a gap, looked at every 100 ms for
    // 3 s (a connection failed by what it read is down at once, its
    // reconnect 0.5 s later would get the same retained messages again);
    // the gap and alarm are looked at again once a command has flowed.
    let no_gap = |i: usize| {
        let v = fleet_view(i).unwrap();
        assert_eq!(v["connected"], json!(true), "node {i}: {v}");
        assert!(v["last_gap"].is_null(), "node {i} lost the broker: {v}");
        let alarms = get(&agent, &format!("{}/api/alarms", base(&f, i))).unwrap();
        assert!(
            !alarms.to_string().contains("broker_gap"),
            "node {i} reconnected: {alarms}"
        );
    };
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        for i in 0..2 {
            no_gap(i);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Commands still flow.
    city.publish_all(&[(
        format!("{ROOT}/cmd/override/after"),
        override_cmd(5, "#00ff00", 2000, json!({})),
    )]);
    for i in 0..2 {
        assert!(
            wait_until(Duration::from_secs(10), || all_overrides(&agent, &f, i)
                .iter()
                .any(|o| o.to_string().contains("#00ff00")))
            .is_some(),
            "node {i} did not apply a command after the bad ones"
        );
        no_gap(i);
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_release_is_a_tombstone_a_replay_cannot_undo() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_release_is_a_tombstone_a_replay_cannot_undo",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = broker_fleet(port);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let mut nodes = start_nodes(&f, 2);
    let spy = Client::connect(port, "spy");

    let r = agent
        .post(format!("{}/api/overrides", base(&f, 0)))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"target": "tower-crown", "color": "#0000ff", "fade": 0, "ttl": "1h"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert!(
        wait_until(Duration::from_secs(10), || in_force(&agent, &f, 1)
            == Some(1))
        .is_some()
    );
    // The attacker's copy of the command as it was.
    let filter = format!("{ROOT}/cmd/override/#");
    let old = spy.retained(&filter, Duration::from_millis(500));
    assert_eq!(old.len(), 1, "{old:?}");
    let (topic, old_payload) = old[0].clone();

    let r = agent
        .delete(format!("{}/api/overrides?target=tower-crown", base(&f, 0)))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        wait_until(Duration::from_secs(10), || in_force(&agent, &f, 1)
            == Some(0))
        .is_some()
    );

    // Replay the old command over the retained release.
    spy.publish_all(&[(topic.clone(), old_payload.clone())]);
    let mut last = Vec::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            last = spy.retained(&topic, Duration::from_millis(300));
            last.len() == 1
                && serde_json::from_slice::<Value>(&last[0].1)
                    .ok()
                    .map(|v| match v["body"].as_str() {
                        // A signed envelope: the command is its body.
                        Some(b) => serde_json::from_str::<Value>(b).unwrap_or(Value::Null),
                        None => v,
                    })
                    .is_some_and(|v| v["released"].is_string())
        })
        .is_some(),
        "the broker kept the replayed old command: {:?}",
        last.first()
            .map(|m| String::from_utf8_lossy(&m.1).into_owned())
    );
    for i in 0..2 {
        assert_eq!(
            in_force(&agent, &f, i),
            Some(0),
            "node {i} revived the override"
        );
    }

    // Node B starts again with empty state: the override stays released.
    nodes.truncate(1);
    std::fs::remove_dir_all(state_dir(&f, 1)).unwrap();
    nodes.push(start_node(&f, 1));
    assert!(wait_until(Duration::from_secs(30), || connected(&agent, &f, 1)).is_some());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        in_force(&agent, &f, 1),
        Some(0),
        "node B restarted with empty state brought the released override back"
    );
    assert!(
        !all_overrides(&agent, &f, 1)
            .iter()
            .any(|o| o.to_string().contains("#0000ff") && o["released_at"].is_null()),
        "{:?}",
        all_overrides(&agent, &f, 1)
    );
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_a_newer_end_from_the_broker_extends_not_releases() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_a_newer_end_from_the_broker_extends_not_releases",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = broker_fleet(port);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let _nodes = start_nodes(&f, 2);
    let city = Client::connect(port, "city");
    let topic = format!("{ROOT}/cmd/override/city-ext");
    city.publish_all(&[(topic.clone(), override_cmd(5, "#123456", 2000, json!({})))]);
    assert!(
        wait_until(Duration::from_secs(10), || in_force(&agent, &f, 1)
            == Some(1))
        .is_some()
    );
    // The same item, a newer version, ending an hour later: an extension.
    city.publish_all(&[(
        topic,
        override_cmd(
            6,
            "#123456",
            2000,
            json!({"expires": "2026-12-31T22:00:00+08:00"}),
        ),
    )]);
    for i in 0..2 {
        assert!(
            wait_until(Duration::from_secs(10), || {
                all_overrides(&agent, &f, i).iter().any(|o| {
                    o["expires"] == json!("2026-12-31T14:00:00Z") && o["released_at"].is_null()
                })
            })
            .is_some(),
            "node {i} did not extend the override: {:?}",
            all_overrides(&agent, &f, i)
        );
        assert_eq!(in_force(&agent, &f, i), Some(1));
    }
}

/// A POST or DELETE as the operator on node `i`: the status and the body.
fn write(
    agent: &ureq::Agent,
    f: &Fleet,
    i: usize,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let url = format!("{}{path}", base(f, i));
    let auth = format!("Bearer {OPERATOR}");
    let r = match (method, body) {
        ("POST", Some(b)) => agent.post(&url).header("Authorization", &auth).send_json(b),
        ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
        _ => unreachable!(),
    };
    let mut r = r.unwrap();
    let code = r.status().as_u16();
    (code, r.body_mut().read_to_string().unwrap_or_default())
}

fn skips(agent: &ureq::Agent, f: &Fleet, i: usize) -> Vec<Value> {
    get(agent, &format!("{}/api/skips", base(f, i)))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn forced(agent: &ureq::Agent, f: &Fleet, i: usize) -> Option<(bool, String)> {
    let v = get(agent, &format!("{}/api/tonight/mode", base(f, i)))?;
    Some((v["forced"].as_bool()?, v["mode"].as_str()?.to_string()))
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_skips_and_forced_modes_travel_with_their_undos() {
    let Some(bin) = mosquitto() else {
        crate::common::skip_unless_ci(
            "fleet_skips_and_forced_modes_travel_with_their_undos",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = broker_fleet(port);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let _nodes = start_nodes(&f, 2);
    let within = Duration::from_secs(5);

    // Skip tonight's `nightly` entry on A: B lists the same skip.
    let tonight = get(&agent, &format!("{}/api/tonight", base(&f, 0))).expect("GET /api/tonight");
    let entry = tonight["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["show"] == "nightly")
        .expect("nightly plays tonight")["entry"]
        .as_u64()
        .unwrap();
    assert!(skips(&agent, &f, 1).is_empty());
    let (code, body) = write(
        &agent,
        &f,
        0,
        "POST",
        "/api/skips",
        Some(json!({"entry": entry, "note": "rain"})),
    );
    assert_eq!(code, 201, "{body}");
    let id: i64 = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let t0 = Instant::now();
    assert!(
        wait_until(within, || skips(&agent, &f, 1)
            .iter()
            .any(|s| s["entry"] == json!(entry)
                && s["show"] == "nightly"
                && s["note"] == "rain"))
        .is_some(),
        "a skip made on A did not reach B: {:?}",
        skips(&agent, &f, 1)
    );
    eprintln!("skip reached B in {:?}", t0.elapsed());
    // Applied once: B did not publish it back as its own (A still has one skip).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(skips(&agent, &f, 0).len(), 1);
    assert_eq!(skips(&agent, &f, 1).len(), 1);

    // Undo on A: gone on B.
    let (code, body) = write(&agent, &f, 0, "DELETE", &format!("/api/skips/{id}"), None);
    assert_eq!(code, 204, "{body}");
    assert!(
        wait_until(within, || skips(&agent, &f, 1).is_empty()).is_some(),
        "an undone skip stayed on B: {:?}",
        skips(&agent, &f, 1)
    );

    // Force festival on A: B says forced festival; undo: B is not forced.
    assert_eq!(forced(&agent, &f, 1).map(|f| f.0), Some(false));
    let (code, body) = write(
        &agent,
        &f,
        0,
        "POST",
        "/api/tonight/mode",
        Some(json!({"mode": "festival"})),
    );
    assert_eq!(code, 201, "{body}");
    assert!(
        wait_until(within, || forced(&agent, &f, 1)
            == Some((true, "festival".into())))
        .is_some(),
        "a mode forced on A did not reach B: {:?}",
        forced(&agent, &f, 1)
    );
    let (code, body) = write(&agent, &f, 0, "DELETE", "/api/tonight/mode", None);
    assert_eq!(code, 204, "{body}");
    assert!(
        wait_until(within, || forced(&agent, &f, 1).is_some_and(|f| !f.0)).is_some(),
        "an undone forced mode stayed on B: {:?}",
        forced(&agent, &f, 1)
    );

    // A skip of an entry B's schedule does not have is refused and counted.
    let refused = |i| {
        get(&agent, &format!("{}/api/fleet", base(&f, i)))
            .and_then(|v| v["dropped"]["refused"].as_u64())
            .unwrap_or(0)
    };
    let before = refused(1);
    let c = Client::connect(port, "city");
    let bad = json!({"version": 1, "origin": "city", "skip": {
        "night": "2026-12-31", "entry": 99, "show": "nightly", "created": AT}});
    let bad_mode = json!({"version": 1, "origin": "city", "mode": {
        "night": "2027-01-01", "mode": "carnival", "created": AT}});
    c.publish_all(&[
        (
            format!("{ROOT}/cmd/skip/2026-12-31-99"),
            serde_json::to_vec(&bad).unwrap(),
        ),
        (
            format!("{ROOT}/cmd/mode/2027-01-01"),
            serde_json::to_vec(&bad_mode).unwrap(),
        ),
    ]);
    assert!(
        wait_until(within, || refused(1) >= before + 2).is_some(),
        "bad skip/mode commands were not refused: {} → {}",
        before,
        refused(1)
    );
    assert!(skips(&agent, &f, 1).is_empty());
    assert_eq!(forced(&agent, &f, 1).map(|f| f.0), Some(false));
}
