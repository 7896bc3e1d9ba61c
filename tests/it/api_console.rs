//! The endpoints behind the operator console, over real HTTP on 127.0.0.1
//! against the demo site with the schedule in charge and a SQLite store in
//! a temporary folder: `/api/site`, `/api/whoami`, `/api/tonight`,
//! `/api/preview` (equal to `nightscape render`, never sent), skip tonight
//! (persisted, audited, applied by the schedule program, undone), extending
//! an override, scene flags on `/api/shows`, and a rejected reload with its
//! `path:line:col` problems on `/api/status`.

use crate::common;
use chrono::{DateTime, Utc};
use nightscape::api::{self, ApiConfig, ApiState};
use nightscape::clock::Clock;
use nightscape::daemon::{Program, Scheduled, Shared};
use nightscape::store::Store;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const AT: &str = "2026-12-31T20:00:00+08:00";
const VIEWER: &str = "viewer-secret-0123456789";
const OPERATOR: &str = "operator-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(AT).unwrap().into()
}

fn test_env(var: &str) -> Option<String> {
    match var {
        "NIGHTSCAPE_VIEWER_TOKEN" => Some(VIEWER.into()),
        "NIGHTSCAPE_OPERATOR_TOKEN" => Some(OPERATOR.into()),
        "NIGHTSCAPE_ADMIN_TOKEN" => Some(ADMIN.into()),
        _ => None,
    }
}

struct Api {
    base: String,
    shared: Shared,
    site: PathBuf,
    /// Owns the server task; dropped with the harness.
    _rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    agent: ureq::Agent,
}

impl Api {
    /// A server on the site in `dir` (the demo copied there on first use),
    /// state in `dir/var`, the clock frozen at `AT`.
    fn start(dir: &Path) -> Api {
        let site = dir.join("shows");
        if !site.exists() {
            common::demo_site_in(dir);
        }
        let cfg = nightscape::config::load(&site).unwrap();
        let (api_cfg, _) = ApiConfig::from_site(&cfg.site).unwrap();
        let (tokens, _) = api_cfg.resolve_tokens_with(test_env);
        let shared = Shared::new(cfg, Clock::simulated(at(), 0.0));
        let store = Store::open(&dir.join("var")).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = rt
            .block_on(ApiState::with_tokens(shared.clone(), store, tokens, false))
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(api::serve(listener, state, async {
            let _ = rx.await;
        }));
        Api {
            base,
            shared,
            site,
            _rt: rt,
            stop: Some(tx),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut res = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.unwrap_or(json!({})))
            }
        }
        .unwrap();
        let code = res.status().as_u16();
        (code, res.body_mut().read_json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (code, v) = self.call("GET", path, Some(OPERATOR), None);
        assert_eq!(code, 200, "GET {path}: {v}");
        v
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // The runtime (and the server's store handle with it) goes when
        // `rt` drops, right after this.
    }
}

#[test]
fn site_plan_whoami_and_scene_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(tmp.path());
    let site = api.get("/api/site");
    let cfg = api.shared.config();
    assert_eq!(
        site["fixtures"].as_array().unwrap().len(),
        cfg.site.fixtures.len()
    );
    assert_eq!(site["paths"].as_array().unwrap().len(), 5);
    assert_eq!(site["max_w"], json!(15000.0));
    let crown = site["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "tower-crown")
        .unwrap();
    assert_eq!(crown["cells"].as_array().unwrap().len(), 60);
    let groups: Vec<&str> = site["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(groups.contains(&"square"));
    assert_eq!(
        api.call("GET", "/api/whoami", Some(VIEWER), None).1,
        json!({"name": "city-dashboard", "role": "viewer"})
    );
    assert_eq!(api.call("GET", "/api/whoami", None, None).0, 401);
    let scenes: Vec<String> = api
        .get("/api/shows")
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["scene"] == json!(true))
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(scenes, ["nightly", "spring-festival"]);
}

#[test]
fn preview_is_the_render_pipeline_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(tmp.path());
    for (query, instant) in [
        ("2026-12-31%2023:45", "2026-12-31T23:45:00+08:00"),
        ("2026-12-31T21:35:00%2B08:00", "2026-12-31T21:35:00+08:00"),
    ] {
        let pv = api.get(&format!("/api/preview?at={query}"));
        assert_eq!(pv["at"], json!(instant));
        // The same colours as the frame `nightscape render` prints.
        let frame_map = common::cli_render(&api.site, instant);
        let cfg = api.shared.config();
        let mut frame = nightscape_core::engine::Frame::new(&cfg.site);
        for (u, data) in frame.universes.iter().zip(frame.data.iter_mut()) {
            data.copy_from_slice(&frame_map[u]);
        }
        let want = nightscape::api::live::fixture_cells(&cfg.site, &frame);
        let fixtures = pv["fixtures"].as_array().unwrap();
        assert_eq!(fixtures.len(), want.len());
        for (f, w) in fixtures.iter().zip(want) {
            let w: Vec<String> = w
                .unwrap()
                .iter()
                .map(|c| nightscape::api::live::hex(*c))
                .collect();
            assert_eq!(f["cells"], json!(w), "{}", f["name"]);
        }
    }
    // Nothing rendered by the preview reached the loop's published state.
    assert!(api.shared.stats.lock().unwrap().last_frame.is_none());
    let (code, err) = api.call("GET", "/api/preview?at=tonight", Some(VIEWER), None);
    assert_eq!(code, 400);
    assert_eq!(err["field"], "at");
    let (code, err) = api.call(
        "GET",
        "/api/preview?at=2026-12-31%2020:00&overrides=maybe",
        Some(VIEWER),
        None,
    );
    assert_eq!((code, err["field"].as_str()), (400, Some("overrides")));
}

#[test]
fn skip_tonight_is_persisted_audited_applied_and_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let show_at = DateTime::parse_from_rfc3339("2026-12-31T20:35:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let nightly_plays = |shared: &Shared| {
        let program = Scheduled::with_skips(shared.skips.clone());
        let cfg = shared.config();
        program
            .active(&cfg, show_at)
            .iter()
            .any(|a| a.show.name == "nightly")
    };
    let id;
    {
        let api = Api::start(tmp.path());
        let tonight = api.get("/api/tonight");
        assert_eq!(tonight["night"], "2026-12-31");
        assert_eq!(tonight["mode"], "show-night");
        assert!(tonight["curfew"]["start"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-31T23:30"));
        let entry = tonight["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["show"] == "nightly")
            .unwrap()["entry"]
            .as_u64()
            .unwrap();
        assert!(nightly_plays(&api.shared));
        // A viewer may not; an unknown entry names the field.
        let body = json!({"entry": entry, "note": "rain"});
        assert_eq!(
            api.call("POST", "/api/skips", Some(VIEWER), Some(body.clone()))
                .0,
            403
        );
        let (code, err) = api.call(
            "POST",
            "/api/skips",
            Some(OPERATOR),
            Some(json!({"entry": 99})),
        );
        assert_eq!((code, err["field"].as_str()), (422, Some("entry")));
        let (code, skip) = api.call("POST", "/api/skips", Some(OPERATOR), Some(body.clone()));
        assert_eq!(code, 201, "{skip}");
        assert_eq!(skip["show"], "nightly");
        assert_eq!(skip["night"], "2026-12-31");
        id = skip["id"].as_i64().unwrap();
        assert_eq!(
            api.call("POST", "/api/skips", Some(OPERATOR), Some(body)).0,
            409
        );
        // The schedule program leaves every run of it out tonight.
        assert!(!nightly_plays(&api.shared));
        let tonight = api.get("/api/tonight");
        assert!(tonight["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["show"] == "nightly")
            .all(|e| e["skipped"] == json!(true)));
        // ... and so does the preview.
        let pv = api.get("/api/preview?at=2026-12-31%2020:35");
        let pv_skip = pv["fixtures"].clone();
        assert_eq!(api.get("/api/skips").as_array().unwrap().len(), 1);
        drop(api);
        // A restart from the same state folder keeps it.
        let api = Api::start(tmp.path());
        assert!(!nightly_plays(&api.shared));
        assert_eq!(
            api.get("/api/preview?at=2026-12-31%2020:35")["fixtures"],
            pv_skip
        );
        assert_eq!(
            api.call("DELETE", &format!("/api/skips/{id}"), Some(OPERATOR), None)
                .0,
            204
        );
        assert!(nightly_plays(&api.shared));
        assert_ne!(
            api.get("/api/preview?at=2026-12-31%2020:35")["fixtures"],
            pv_skip
        );
        assert_eq!(
            api.call("DELETE", &format!("/api/skips/{id}"), Some(OPERATOR), None)
                .0,
            404
        );
        let audit = api.call("GET", "/api/audit", Some(ADMIN), None).1;
        let actions: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"schedule.skip") && actions.contains(&"schedule.unskip"),
            "{actions:?}"
        );
    }
    let api = Api::start(tmp.path());
    assert!(nightly_plays(&api.shared));
    assert_eq!(api.get("/api/skips"), json!([]));
}

#[test]
fn extend_an_override() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(tmp.path());
    let (code, o) = api.call(
        "POST",
        "/api/overrides",
        Some(OPERATOR),
        Some(json!({"target": "square", "level": 0.5, "ttl": "5m"})),
    );
    assert_eq!(code, 201, "{o}");
    let id = o["id"].as_i64().unwrap();
    let (code, e) = api.call(
        "POST",
        &format!("/api/overrides/{id}/extend"),
        Some(OPERATOR),
        Some(json!({"by": "15m"})),
    );
    assert_eq!(code, 200, "{e}");
    assert!(
        (e["remaining_s"].as_f64().unwrap() - 1200.0).abs() < 1.0,
        "{e}"
    );
    let (code, err) = api.call(
        "POST",
        &format!("/api/overrides/{id}/extend"),
        Some(OPERATOR),
        Some(json!({"by": "soon"})),
    );
    assert_eq!((code, err["field"].as_str()), (422, Some("by")));
    assert_eq!(
        api.call(
            "POST",
            "/api/overrides/999/extend",
            Some(OPERATOR),
            Some(json!({"by": "1m"}))
        )
        .0,
        404
    );
    api.call(
        "DELETE",
        &format!("/api/overrides/{id}"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("/api/overrides/{id}/extend"),
            Some(OPERATOR),
            Some(json!({"by": "1m"}))
        )
        .0,
        404
    );
    // An emergency is flagged as one.
    let (_, o) = api.call(
        "POST",
        "/api/overrides",
        Some(OPERATOR),
        Some(json!({"target": "bridge", "blackout": true, "priority": "emergency"})),
    );
    assert_eq!(o["emergency"], json!(true));
    assert_eq!(api.get("/api/status")["emergency"], json!(true));
}

#[test]
fn a_rejected_reload_shows_on_status_with_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(tmp.path());
    let status = api.get("/api/status");
    assert_eq!(status["reload"]["rejected_now"], json!(false));
    let show = api.site.join("nightly.toml");
    let text = std::fs::read_to_string(&show).unwrap();
    std::fs::write(
        &show,
        text.replace("fade_in = \"8s\"", "fade_in = \"eight\""),
    )
    .unwrap();
    let out = nightscape::daemon::reload::reload_now(&api.site, &api.shared);
    assert!(matches!(
        out,
        nightscape::daemon::reload::Reloaded::Rejected { .. }
    ));
    let status = api.get("/api/status");
    assert_eq!(status["reload"]["rejected_now"], json!(true));
    let problems = status["reload"]["last_rejected"]["problems"]
        .as_array()
        .unwrap();
    assert!(
        problems.iter().any(|p| {
            let p = p.as_str().unwrap();
            p.contains("nightly.toml:")
                && p.split(':')
                    .nth(1)
                    .is_some_and(|l| l.parse::<u32>().is_ok())
        }),
        "{problems:?}"
    );
    std::fs::write(&show, text).unwrap();
    nightscape::daemon::reload::reload_now(&api.site, &api.shared);
    let status = api.get("/api/status");
    assert_eq!(status["reload"]["rejected_now"], json!(false));
    assert_eq!(
        status["reload"]["last_rejected"]["problems"]
            .as_array()
            .unwrap()
            .len(),
        problems.len()
    );
}

/// The show on top per group in `/api/tonight`'s `visible_now`: (show, source, fixtures).
fn on_top(api: &Api, group: &str) -> Vec<(String, String, u64)> {
    let t = api.get("/api/tonight");
    let g = t["visible_now"]
        .as_array()
        .unwrap_or_else(|| panic!("no visible_now: {t}"))
        .iter()
        .find(|g| g["group"] == group)
        .unwrap_or_else(|| panic!("no {group}: {t}"))
        .clone();
    g["shows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["show"].as_str().unwrap().to_string(),
                s["source"].as_str().unwrap().to_string(),
                s["fixtures"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn tonight_says_which_show_is_on_top_in_each_group_by_drawing_order() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Api::start(tmp.path());
    let cfg = api.shared.config();
    let size = |g: &str| cfg.site.groups[g].len() as u64;
    // 20:00 on a show night: the evening look everywhere it reaches.
    assert_eq!(
        on_top(&api, "avenue"),
        [("static-evening".into(), "schedule".into(), size("avenue"))]
    );
    // A scene on the trees (no fade: the clock is frozen) goes on top there
    // and only there.
    let (code, v) = api.call(
        "POST",
        "/api/scenes/spring-festival/trigger",
        Some(OPERATOR),
        Some(json!({ "duration": "30m", "target": "trees", "fade": "0s" })),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        on_top(&api, "trees"),
        [("spring-festival".into(), "scene".into(), size("trees"))]
    );
    assert_eq!(on_top(&api, "avenue")[0].0, "static-evening");
    // A show override on nine fixtures of the square outranks the
    // schedule there; the rest of the square keeps the evening.
    let (code, v) = api.call(
        "POST",
        "/api/overrides",
        Some(OPERATOR),
        Some(json!({ "target": "square-grid-00?", "show": "curfew-white", "fade": "0s", "ttl": "1h" })),
    );
    assert!(code == 201 || code == 200, "{v}");
    let square = on_top(&api, "square");
    assert_eq!(
        square,
        [
            (
                "static-evening".into(),
                "schedule".into(),
                size("square") - 9
            ),
            ("curfew-white".into(), "override".into(), 9),
        ],
        "{square:?}"
    );
}
