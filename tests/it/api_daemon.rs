//! The operator API in the real daemon process: `nightscape run` with the
//! API listening on a loopback port from the site file and the operator
//! token from the environment, Art-Net decoded from a socket on 127.0.0.1.
//! An override shows in the next Art-Net frames, survives `kill -9` and a
//! restart (with its remaining TTL, audit log intact). The latency from
//! request to first frame is a benchmark: `cargo bench -- override_latency`.
//!
//! Every wait is bounded.

use crate::common;

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";
/// The same evening, five minutes later: the daemon "comes back".
const LATER: &str = "2026-12-31T20:05:00+08:00";
const OPERATOR: &str = "operator-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

fn envs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
        ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
        ("RUST_LOG", "warn"),
    ]
}

/// Point the site's `[api] listen` at `port`.
fn listen_on(site: &Path, port: u16) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:0\""));
    let text = text.replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    std::fs::write(p, text).unwrap();
}

fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(5))
}

fn wait_healthy(agent: &ureq::Agent, base: &str) {
    common::wait_for(
        &format!("the daemon's API to come up at {base}"),
        Duration::from_secs(20),
        || {
            agent
                .get(format!("{base}/healthz"))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
        },
    );
}

fn post(agent: &ureq::Agent, base: &str, path: &str, body: Value) -> (u16, Value) {
    let mut r = agent
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(body)
        .unwrap();
    let s = r.status().as_u16();
    (s, r.body_mut().read_json().unwrap_or(Value::Null))
}

fn get(agent: &ureq::Agent, base: &str, path: &str, token: &str) -> Value {
    let mut r = agent
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.body_mut().read_json().unwrap()
}

/// Wait for an ArtDmx packet of `universe` whose data starts with `want`.
fn wait_for_dmx(
    rx: &std::net::UdpSocket,
    universe: u16,
    offset: usize,
    want: &[u8],
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some((u, _, d)) = common::recv_artdmx(rx) {
            if u == universe && d.get(offset..offset + want.len()) == Some(want) {
                return true;
            }
        }
    }
    false
}

struct Setup {
    _tmp: tempfile::TempDir,
    site: std::path::PathBuf,
    state: std::path::PathBuf,
    rx: std::net::UdpSocket,
    base: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let port = common::free_port();
    listen_on(&site, port);
    Setup {
        state: tmp.path().join("var"),
        _tmp: tmp,
        site,
        rx,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn start(s: &Setup, clock: &str) -> common::Daemon {
    let state = s.state.to_str().unwrap().to_string();
    let envs = envs();
    common::spawn_daemon(
        &s.site,
        &["--state", &state, "--clock", clock, "--speed", "1"],
        &envs,
    )
}

#[test]
fn override_reaches_artnet_and_survives_kill_9() {
    let s = setup();
    let agent = agent();
    let spawned = Instant::now();
    let mut daemon = start(&s, AT);
    wait_healthy(&agent, &s.base);
    // Where tower-crown is patched, as the daemon's API lists it.
    let (u, a) = crate::osc::patch_of(&agent, &s.base, OPERATOR, "tower-crown");

    let (code, o) = post(
        &agent,
        &s.base,
        "/api/overrides",
        json!({"target": "tower-crown", "color": "#0000ff", "fade": 0, "ttl": "1h", "note": "kill test"}),
    );
    assert_eq!(code, 201, "{o}");
    // The first daemon's clock ran from AT for at most this long before
    // the override was created; the second one starts at LATER.
    let created_by = spawned.elapsed().as_secs_f64();
    assert!(
        wait_for_dmx(&s.rx, u, a, &[0, 0, 255], Duration::from_secs(10)),
        "the override did not reach Art-Net"
    );
    let (code, _) = post(
        &agent,
        &s.base,
        "/api/scenes/spring-festival/trigger",
        json!({"duration": "30m", "target": "bridge"}),
    );
    assert_eq!(code, 201);

    // kill -9: no shutdown path runs.
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    common::drain(&s.rx, Duration::from_millis(300));

    let _daemon = start(&s, LATER);
    wait_healthy(&agent, &s.base);
    assert!(
        wait_for_dmx(&s.rx, u, a, &[0, 0, 255], Duration::from_secs(10)),
        "the override is not back in the Art-Net frames after kill -9"
    );
    let list = get(&agent, &s.base, "/api/overrides", OPERATOR);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], o["id"]);
    let remaining = list[0]["remaining_s"].as_f64().unwrap();
    assert!(
        (3200.0..=3300.1 + created_by).contains(&remaining),
        "remaining {remaining}"
    );
    let status = get(&agent, &s.base, "/api/status", OPERATOR);
    assert_eq!(status["scenes"].as_array().unwrap().len(), 1);
    let audit = get(&agent, &s.base, "/api/audit", ADMIN);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["scene.trigger", "override.create"]);
    assert_eq!(audit[1]["actor"], "control-room");
}
