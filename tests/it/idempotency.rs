//! `Idempotency-Key` across a restart and an upgrade, in the real daemon
//! process: the fingerprint a write stores is its route and the SHA-256 of
//! its canonical JSON, so a retry after a restart replays (even with its
//! keys in another order), the same key with another body is still the
//! 422, and a row written by a build before (a Rust `Debug` rendering,
//! inserted here with SQL into a database set back to that build's schema
//! version) is migrated to a legacy row that replays for the same route
//! and is refused on another (docs/api.md, "Typed names").
//!
//! Every wait is bounded.

use crate::common;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const AT: &str = "2026-12-31T20:00:00+08:00";
const OPERATOR: &str = "operator-secret-0123456789";
const VIEWER: &str = "viewer-secret-0123456789";

/// The daemon's database in its state folder, as an operator finds it.
const DB_FILE: &str = "nightscape.sqlite3";
/// The schema version (`PRAGMA user_version`) of the build before the
/// migration "idempotency fingerprints over canonical JSON", the ninth in
/// the store's append-only list: eight migrations applied.
const SCHEMA_BEFORE_CANONICAL_FINGERPRINTS: usize = 8;

fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(10))
}

fn start(site: &Path, state: &Path) -> (common::Daemon, String) {
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
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("NIGHTSCAPE_VIEWER_TOKEN", VIEWER),
            ("RUST_LOG", "warn"),
        ],
    );
    let base = common::api_base(state);
    (d, base)
}

/// POST `body` (sent as this exact text) with `key`: (status, body, replayed).
fn post(agent: &ureq::Agent, url: &str, key: &str, body: &str) -> (u16, String, bool) {
    let mut res = agent
        .post(url)
        .header("Authorization", &format!("Bearer {OPERATOR}"))
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap_or_default(),
        replayed,
    )
}

fn overrides(agent: &ureq::Agent, base: &str) -> usize {
    let mut res = agent
        .get(&format!("{base}/api/status"))
        .header("Authorization", &format!("Bearer {VIEWER}"))
        .call()
        .unwrap();
    let v: Value = res.body_mut().read_json().unwrap();
    v["overrides"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_retry_replays_after_a_restart_and_an_upgrade_of_its_stored_key() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let state = tmp.path().join("var");
    let agent = agent();

    let (daemon, base) = start(&site, &state);
    let url = format!("{base}/api/overrides");
    let (s, first, replayed) = post(
        &agent,
        &url,
        "retry-1",
        r#"{"target": "square", "level": 0.5, "note": "rain"}"#,
    );
    assert_eq!(s, 201, "{first}");
    assert!(!replayed);
    assert_eq!(overrides(&agent, &base), 1);
    drop(daemon);

    // A row as the build before wrote it, in a database at that build's
    // schema version: the upgrade's migration runs over it on start.
    {
        let conn = rusqlite::Connection::open(state.join(DB_FILE)).unwrap();
        let before = SCHEMA_BEFORE_CANONICAL_FINGERPRINTS;
        conn.execute(
            "INSERT INTO idempotency (actor, key, request, status, body, at) VALUES ('control-room', 'old-1', ?1, 201, '{\"id\": 99, \"legacy\": true}', ?2)",
            rusqlite::params![
                "POST /api/overrides\nOverrideRequest { target: \"avenue\", level: Some(Number(0.3)), color: None, show: None, blackout: None, priority: None, ttl: None, fade: None, note: None }",
                "2026-12-31T11:59:00.000000000Z"
            ],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
    }

    let (_daemon, base) = start(&site, &state);
    let url = format!("{base}/api/overrides");
    // The same request, its keys in another order and spaced otherwise:
    // the first answer again, no second override.
    let (s, again, replayed) = post(
        &agent,
        &url,
        "retry-1",
        r#"{"note":"rain","level":0.5,"target":"square"}"#,
    );
    assert_eq!((s, replayed), (201, true), "{again}");
    assert_eq!(again, first);
    // The same key with another body: refused, naming the header.
    let (s, body, _) = post(
        &agent,
        &url,
        "retry-1",
        r#"{"target": "square", "level": 0.6, "note": "rain"}"#,
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("Idempotency-Key"), "{body}");
    // The legacy row: replayed on its route (its body could not be
    // recomputed), refused on another.
    let (s, body, replayed) = post(
        &agent,
        &url,
        "old-1",
        r#"{"target": "avenue", "level": 0.3}"#,
    );
    assert_eq!((s, replayed), (201, true), "{body}");
    assert!(body.contains("\"legacy\""), "{body}");
    let (s, body, _) = post(
        &agent,
        &format!("{base}/api/master"),
        "old-1",
        r#"{"level": 0.4}"#,
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("POST /api/overrides"), "{body}");
    assert_eq!(overrides(&agent, &base), 1);
    // The migration left the route and the mark.
    let conn = rusqlite::Connection::open(state.join(DB_FILE)).unwrap();
    let since = "2026-12-31T00:00:00.000000000Z";
    let request = |key: &str| -> String {
        conn.query_row(
            "SELECT request FROM idempotency WHERE actor = 'control-room' AND key = ?1 AND at > ?2",
            rusqlite::params![key, since],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(request("old-1"), "POST /api/overrides\nlegacy");
    let request = request("retry-1");
    assert!(
        request.starts_with("POST /api/overrides\nsha256:"),
        "{request}"
    );
}
