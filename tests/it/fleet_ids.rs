//! One id per override across the fleet (issue 23), with two real daemons
//! and a real mosquitto: B makes an override of its own first, so the
//! override A makes next has a different local id on each node (1 on A,
//! 2 on B) — releasing `/api/overrides/1` would hit different overrides
//! depending on the node. Its fleet id is the same on both; B releases it
//! by that id, it is gone from both nodes and from B's wire, B's own
//! override stays; B restarted still names its override by the same fleet
//! id; an unknown fleet id is a 404 naming the field.
//!
//! Skipped (with a message) when `mosquitto` is not installed. Every wait
//! is bounded.

use crate::common;
use crate::common::fleet::{agent, base, fleet_site, get, join, mosquitto, Broker, OPERATOR};
use crate::common::{free_port, wait_until};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn overrides(agent: &ureq::Agent, base: &str) -> Vec<Value> {
    get(agent, &format!("{base}/api/overrides"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn by_color<'a>(list: &'a [Value], color: &str) -> Option<&'a Value> {
    list.iter().find(|o| o["color"] == json!(color))
}

fn post(agent: &ureq::Agent, base: &str, body: Value) -> Value {
    let mut r = agent
        .post(format!("{base}/api/overrides"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(body)
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.body_mut().read_json().unwrap()
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_ids_name_one_override_on_every_node() {
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            "fleet_ids_name_one_override_on_every_node",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = fleet_site(port);
    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    // B alone first: an override it makes and releases at once uses up
    // B's id 1 (A, starting later, is told of a released override only),
    // so the ids of the same overrides differ between the nodes from here.
    let node_b = join(&f, 1);
    let b = base(&f, 1);
    let gone = post(
        &agent,
        &b,
        json!({"target": "searchlight-south", "color": "#ff0000", "fade": 0, "ttl": "1h"}),
    );
    let r = agent
        .delete(format!("{b}/api/overrides/{}", gone["id"]))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let _node_a = join(&f, 0);
    let a = base(&f, 0);

    // B's own override first (on a group the crown is not in), then A's.
    post(
        &agent,
        &b,
        json!({"target": "searchlight-north", "color": "#00ff00", "fade": 0, "ttl": "1h"}),
    );
    assert!(wait_until(Duration::from_secs(10), || by_color(
        &overrides(&agent, &a),
        "#00ff00"
    )
    .is_some())
    .is_some());
    post(
        &agent,
        &a,
        json!({"target": "tower-crown", "color": "#0000ff", "fade": 0, "ttl": "1h"}),
    );
    // Both nodes list it, under one fleet id, with different local ids.
    let mut seen: Option<(Value, Value)> = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (la, lb) = (overrides(&agent, &a), overrides(&agent, &b));
            match (by_color(&la, "#0000ff"), by_color(&lb, "#0000ff")) {
                (Some(x), Some(y)) if x["fleet_id"].is_string() && y["fleet_id"].is_string() => {
                    seen = Some((x.clone(), y.clone()));
                    true
                }
                _ => false,
            }
        })
        .is_some(),
        "A's override did not reach B with a fleet id on both: A {:?} B {:?}",
        overrides(&agent, &a),
        overrides(&agent, &b)
    );
    let (on_a, on_b) = seen.unwrap();
    let fid = on_a["fleet_id"].as_str().unwrap().to_string();
    assert_eq!(on_b["fleet_id"], json!(fid), "one override, two fleet ids");
    assert!(fid.starts_with("a-"), "{fid}: the origin node leads the id");
    assert_ne!(
        on_a["id"], on_b["id"],
        "the local ids differ (which is why the fleet id exists)"
    );
    // The status lists it with its fleet id too (the console reads that).
    let st = get(&agent, &format!("{b}/api/status")).unwrap();
    assert!(st["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["fleet_id"] == json!(fid)));
    let mine_b = by_color(&overrides(&agent, &b), "#00ff00").unwrap().clone();
    let mine_fid = mine_b["fleet_id"].as_str().unwrap().to_string();
    assert!(mine_fid.starts_with("b-"), "{mine_fid}");

    // The crown is blue on B's wire.
    let (u, off) = f.crown;
    crate::common::fleet::wait_for_dmx(&f.rx[1], u, off, &[0, 0, 255], Duration::from_secs(5))
        .expect("A's override is not on B's wire");

    // An unknown fleet id: 404 naming the field.
    let mut r = agent
        .delete(format!("{b}/api/overrides/z-1-1"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let e: Value = r.body_mut().read_json().unwrap();
    assert_eq!(e["field"], json!("id"), "{e}");

    // B releases A's override by its fleet id.
    let mut r = agent
        .delete(format!("{b}/api/overrides/{fid}"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let released: Value = r.body_mut().read_json().unwrap();
    assert_eq!(released["fleet_id"], json!(fid));
    assert_eq!(released["color"], json!("#0000ff"));
    // Gone (or fading out) on both nodes; B's own override stays on both.
    for n in [&a, &b] {
        assert!(
            wait_until(Duration::from_secs(10), || {
                let l = overrides(&agent, n);
                l.iter()
                    .all(|o| o["fleet_id"] != json!(fid) || o["state"] == json!("releasing"))
                    && l.iter().any(|o| o["fleet_id"] == json!(mine_fid))
            })
            .is_some(),
            "{n}: {:?}",
            overrides(&agent, n)
        );
    }
    // Off B's wire: the crown is no longer blue.
    let t0 = Instant::now();
    let mut off_wire = false;
    while t0.elapsed() < Duration::from_secs(5) {
        if let Some((uu, _, d)) = common::recv_artdmx(&f.rx[1]) {
            if uu == u && d[off..off + 3] != [0, 0, 255] {
                off_wire = true;
                break;
            }
        }
    }
    assert!(off_wire, "the released override is still on B's wire");

    // B restarted: its own override keeps its fleet id.
    drop(node_b);
    let _ = std::fs::remove_file(crate::common::fleet::state_dir(&f, 1).join("api.addr"));
    let _b2 = join(&f, 1);
    let b = base(&f, 1);
    assert!(
        wait_until(Duration::from_secs(10), || by_color(
            &overrides(&agent, &b),
            "#00ff00"
        )
        .is_some_and(|o| o["fleet_id"] == json!(mine_fid)))
        .is_some(),
        "{:?}",
        overrides(&agent, &b)
    );
    // And the numeric id still works: B releases its own by local id.
    let local = by_color(&overrides(&agent, &b), "#00ff00").unwrap()["id"].clone();
    let r = agent
        .delete(format!("{b}/api/overrides/{local}"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(wait_until(Duration::from_secs(10), || overrides(&agent, &a)
        .iter()
        .all(
            |o| o["fleet_id"] != json!(mine_fid) || o["state"] == json!("releasing")
        ))
    .is_some());
}
