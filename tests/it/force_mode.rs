//! Forcing tonight's mode (`/api/tonight/mode`) in the real daemon process:
//! `nightscape run` on the demo site with the clock frozen on the evening
//! of 2026-12-31 (a "show-night" by the `[[modes]]` rules), the API on a
//! loopback port 0 read from the state folder. Forcing "festival" changes
//! what the frame loop plays (`/api/status`'s `active_shows`), survives a
//! restart from the same state folder, is audited with the mode before and
//! after, honours `Idempotency-Key`, and undoing it restores the rules'
//! mode. A bad mode is a 400 naming `mode`; a viewer gets 403.
//!
//! Every wait is bounded.

use crate::common;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const AT: &str = "2026-12-31T20:00:00+08:00";
const VIEWER: &str = "viewer-secret-0123456789";
const OPERATOR: &str = "operator-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(10))
}

/// The daemon on `site` with its state in `state`, frozen at [`AT`]; its
/// API base once it listens.
fn start(site: &Path, state: &Path) -> (common::Daemon, String) {
    // A restart writes the file again: never read the old daemon's address.
    let _ = std::fs::remove_file(state.join("api.addr"));
    let d = common::spawn_daemon(
        site,
        &[
            "--state",
            state.to_str().unwrap(),
            "--clock",
            AT,
            "--speed",
            "0",
        ],
        &[
            ("NIGHTSCAPE_VIEWER_TOKEN", VIEWER),
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
            ("RUST_LOG", "warn"),
        ],
    );
    let base = common::api_base(state);
    (d, base)
}

fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let auth = format!("Bearer {token}");
    let mut res = match method {
        "GET" => agent.get(url).header("Authorization", &auth).call(),
        "DELETE" => {
            let mut r = agent.delete(url).header("Authorization", &auth);
            if let Some(k) = key {
                r = r.header("Idempotency-Key", k);
            }
            r.call()
        }
        _ => {
            let mut r = agent.post(url).header("Authorization", &auth);
            if let Some(k) = key {
                r = r.header("Idempotency-Key", k);
            }
            r.send_json(body.unwrap_or(json!({})))
        }
    }
    .unwrap();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let code = res.status().as_u16();
    (
        code,
        res.body_mut().read_json().unwrap_or(Value::Null),
        replayed,
    )
}

/// The shows the frame loop reports playing.
fn playing(agent: &ureq::Agent, base: &str) -> Vec<String> {
    let (code, status, _) = call(
        agent,
        "GET",
        &format!("{base}/api/status"),
        OPERATOR,
        None,
        None,
    );
    if code != 200 {
        return Vec::new();
    }
    status["active_shows"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait (at most 20 s) until the playing list satisfies `ok`.
fn wait_playing(agent: &ureq::Agent, base: &str, what: &str, ok: impl Fn(&[String]) -> bool) {
    let mut last = Vec::new();
    let played = common::wait_until(Duration::from_secs(20), || {
        last = playing(agent, base);
        ok(&last)
    });
    assert!(played.is_some(), "{what}: the daemon plays {last:?}");
}

fn plays(list: &[String], show: &str) -> bool {
    list.iter().any(|s| s == show)
}

#[test]
fn forcing_tonights_mode_changes_the_show_survives_a_restart_and_undoes() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // Art-Net goes to a socket of the test's own (never read).
    let _rx = common::artnet_receiver(&site);
    let state = tmp.path().join("var");
    let agent = agent();
    let (daemon, base) = start(&site, &state);
    let mode_url = format!("{base}/api/tonight/mode");

    // The rules' show-night: the static look, no festival show.
    wait_playing(&agent, &base, "before any force", |p| {
        plays(p, "static-evening") && !plays(p, "spring-festival")
    });
    let (code, list, _) = call(&agent, "GET", &mode_url, VIEWER, None, None);
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["tonight"], "2026-12-31");
    assert_eq!(list["mode"], "show-night");
    assert_eq!(list["forced"], false);
    assert!(list["modes"]
        .as_array()
        .unwrap()
        .contains(&json!("festival")));

    // A viewer may not; a mode the site does not declare names the field.
    let body = json!({"mode": "festival", "note": "fireworks moved up"});
    assert_eq!(
        call(&agent, "POST", &mode_url, VIEWER, Some(body.clone()), None).0,
        403
    );
    let (code, err, _) = call(
        &agent,
        "POST",
        &mode_url,
        OPERATOR,
        Some(json!({"mode": "carnival"})),
        None,
    );
    assert_eq!((code, err["field"].as_str()), (400, Some("mode")), "{err}");
    assert!(err["error"].as_str().unwrap().contains("festival"), "{err}");
    let (code, err, _) = call(
        &agent,
        "POST",
        &mode_url,
        OPERATOR,
        Some(json!({"mode": "festival", "night": "2026-12-30"})),
        None,
    );
    assert_eq!((code, err["field"].as_str()), (422, Some("night")), "{err}");
    assert!(!plays(&playing(&agent, &base), "spring-festival"));

    // Forced: the festival show plays from the next frames.
    let (code, forced, replayed) = call(
        &agent,
        "POST",
        &mode_url,
        OPERATOR,
        Some(body.clone()),
        Some("force-1"),
    );
    assert_eq!(code, 201, "{forced}");
    assert!(!replayed);
    assert_eq!(forced["night"], "2026-12-31");
    assert_eq!(forced["mode"], "festival");
    assert_eq!(forced["rules_mode"], "show-night");
    let (code, again, replayed) = call(
        &agent,
        "POST",
        &mode_url,
        OPERATOR,
        Some(body),
        Some("force-1"),
    );
    assert_eq!((code, replayed), (201, true), "{again}");
    assert_eq!(again["id"], forced["id"]);
    wait_playing(&agent, &base, "after forcing festival", |p| {
        plays(p, "spring-festival") && !plays(p, "curfew-white")
    });
    let list = call(&agent, "GET", &mode_url, OPERATOR, None, None).1;
    assert_eq!(
        (list["mode"].as_str(), list["forced"].as_bool()),
        (Some("festival"), Some(true))
    );
    assert_eq!(list["forced_nights"].as_array().unwrap().len(), 1);
    // The status and the plan say what really plays, and that it is forced.
    let status = call(
        &agent,
        "GET",
        &format!("{base}/api/status"),
        OPERATOR,
        None,
        None,
    )
    .1;
    assert_eq!(
        (
            status["schedule"]["mode"].as_str(),
            status["schedule"]["forced"].as_bool()
        ),
        (Some("festival"), Some(true)),
        "{}",
        status["schedule"]
    );
    assert!(
        status["schedule"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["show"] == "spring-festival"),
        "{}",
        status["schedule"]
    );
    let plan = call(
        &agent,
        "GET",
        &format!("{base}/api/schedule?from=2026-12-31&days=2"),
        OPERATOR,
        None,
        None,
    )
    .1;
    let nights = plan["nights"].as_array().unwrap();
    assert_eq!(
        (
            nights[0]["mode"].as_str(),
            nights[0]["forced"].as_bool(),
            nights[0]["forced_by"].is_string()
        ),
        (Some("festival"), Some(true), true),
        "{}",
        nights[0]
    );
    assert!(
        nights[0]["why"].as_str().unwrap().contains("forced"),
        "{}",
        nights[0]
    );
    assert_eq!(nights[1]["forced"].as_bool(), Some(false), "{}", nights[1]);
    // The console's timeline lists the forced mode's entries.
    let tonight = call(
        &agent,
        "GET",
        &format!("{base}/api/tonight?date=2026-12-31"),
        OPERATOR,
        None,
        None,
    )
    .1;
    assert_eq!(
        (tonight["mode"].as_str(), tonight["forced"].as_bool()),
        (Some("festival"), Some(true)),
        "{tonight}"
    );
    assert!(
        tonight["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["show"] == "spring-festival"),
        "{tonight}"
    );

    // A restart from the same state folder keeps it.
    drop(daemon);
    let (daemon, base) = start(&site, &state);
    let mode_url = format!("{base}/api/tonight/mode");
    wait_playing(&agent, &base, "after a restart", |p| {
        plays(p, "spring-festival")
    });

    // Undone: the rules' mode again.
    assert_eq!(call(&agent, "DELETE", &mode_url, VIEWER, None, None).0, 403);
    let (code, v, _) = call(&agent, "DELETE", &mode_url, OPERATOR, None, None);
    assert_eq!(code, 204, "{v}");
    wait_playing(&agent, &base, "after undoing", |p| {
        plays(p, "static-evening") && !plays(p, "spring-festival")
    });
    let (code, err, _) = call(&agent, "DELETE", &mode_url, OPERATOR, None, None);
    assert_eq!((code, err["field"].as_str()), (404, Some("night")), "{err}");
    let list = call(&agent, "GET", &mode_url, OPERATOR, None, None).1;
    assert_eq!(
        (list["mode"].as_str(), list["forced"].as_bool()),
        (Some("show-night"), Some(false))
    );

    // Audited once each, with who and the mode before and after.
    let audit = call(
        &agent,
        "GET",
        &format!("{base}/api/audit"),
        ADMIN,
        None,
        None,
    )
    .1;
    let rows: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .is_some_and(|a| a.contains("force_mode"))
        })
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let force = rows
        .iter()
        .find(|r| r["action"] == "schedule.force_mode")
        .unwrap();
    assert_eq!(force["actor"], "control-room");
    assert_eq!(force["detail"]["before"], "show-night");
    assert_eq!(force["detail"]["after"], "festival");
    let undo = rows
        .iter()
        .find(|r| r["action"] == "schedule.unforce_mode")
        .unwrap();
    assert_eq!(undo["detail"]["before"], "festival");
    assert_eq!(undo["detail"]["after"], "show-night");
    drop(daemon);
}
