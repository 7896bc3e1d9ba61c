//! The operator API over real HTTP on 127.0.0.1: a server from the library
//! (`ApiState` + `serve`) on a copy of the demo site, a SQLite store in a
//! temporary folder, driven with ureq. Covers every endpoint's happy path,
//! authentication (401/403), request validation (400/404/413/422), what the
//! compiled control renders after a change, TTL expiry on the site's clock,
//! a restart from the same state folder, and the audit log. Every wait is
//! bounded; nothing leaves loopback.

use crate::common;

use chrono::{DateTime, Utc};
use nightscape::api::{self, ApiConfig, ApiState};
use nightscape::clock::Clock;
use nightscape::config::Config;
use nightscape::control::CompiledControl;
use nightscape::daemon::{self, FixedShow, Shared};
use nightscape::store::Store;
use nightscape_core::engine::{self, ActiveShow, Frame, Limits, Look};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";
const VIEWER: &str = "viewer-secret-0123456789";
const OPERATOR: &str = "operator-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(AT).unwrap().into()
}

/// The demo site's `[api]` table, with the test's secrets in its variables.
fn test_env(var: &str) -> Option<String> {
    match var {
        "NIGHTSCAPE_VIEWER_TOKEN" => Some(VIEWER.into()),
        "NIGHTSCAPE_OPERATOR_TOKEN" => Some(OPERATOR.into()),
        "NIGHTSCAPE_ADMIN_TOKEN" => Some(ADMIN.into()),
        _ => None,
    }
}

struct Opts {
    state_dir: Option<PathBuf>,
    /// Where the simulated clock starts (default AT).
    start: Option<DateTime<Utc>>,
    speed: f64,
    frame_loop: bool,
    public_read: bool,
    planner: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            state_dir: None,
            start: None,
            speed: 1.0,
            frame_loop: false,
            public_read: false,
            planner: false,
        }
    }
}

/// A running API server (and optionally the frame loop, with no outputs).
struct Api {
    base: String,
    shared: Shared,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    frame_loop: Option<std::thread::JoinHandle<()>>,
    agent: ureq::Agent,
    _site_tmp: tempfile::TempDir,
}

impl Api {
    fn start(opts: Opts) -> Api {
        let tmp = tempfile::tempdir().unwrap();
        let site = common::demo_site_in(tmp.path());
        let cfg = nightscape::config::load(&site).unwrap();
        let (api_cfg, _warnings) = ApiConfig::from_site(&cfg.site).unwrap();
        let (tokens, warnings) = api_cfg.resolve_tokens_with(test_env);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(tokens.len(), 3);
        let shared = Shared::new(
            cfg,
            Clock::simulated(opts.start.unwrap_or_else(at), opts.speed),
        );
        let store = match &opts.state_dir {
            Some(d) => Store::open(d).unwrap(),
            None => Store::open_in_memory().unwrap(),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut state = rt
            .block_on(ApiState::with_tokens(
                shared.clone(),
                store,
                tokens,
                opts.public_read,
            ))
            .unwrap();
        if opts.planner {
            state = state
                .with_power(|| Some(1234.5))
                .with_energy(tmp.path().join("energy-state"));
        }
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hook = state.frame_hook();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(api::serve(listener, state, async {
            let _ = rx.await;
        }));
        let frame_loop = opts.frame_loop.then(|| {
            let s = shared.clone();
            let program = Box::new(FixedShow {
                show: "nightly".into(),
                since: at() - chrono::Duration::hours(1),
            });
            let hooks: Vec<Box<dyn daemon::FrameHook>> = vec![Box::new(hook)];
            std::thread::spawn(move || daemon::frame_loop(program, Vec::new(), hooks, s))
        });
        // No pooled connections: a write refused before its body is read
        // (401, 403) leaves the server closing that connection, and a
        // POST sent on it next fails with "peer disconnected" (ureq retries
        // only idempotent requests), which is the client's race, not the API's.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .max_idle_connections(0)
            .build()
            .into();
        Api {
            base,
            shared,
            rt,
            stop: Some(tx),
            server: Some(server),
            frame_loop,
            agent,
            _site_tmp: tmp,
        }
    }

    /// Make a request; returns the status and the body text.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let url = format!("{}{}", self.base, path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            "POST" => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.content_type("application/json")
                    .send(body.unwrap_or("").as_bytes())
            }
            other => panic!("method {other}"),
        };
        let mut res = res.unwrap();
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    }

    /// The status of a GET without a token, not reading the body (for
    /// streams).
    fn head_status(&self, path: &str) -> u16 {
        let res = self.agent.get(format!("{}{}", self.base, path)).call();
        res.unwrap().status().as_u16()
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, text) = self.call(method, path, token, body.as_deref());
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        (status, v)
    }

    fn get(&self, path: &str) -> Value {
        let (s, v) = self.json("GET", path, Some(VIEWER), None);
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json("POST", path, Some(OPERATOR), Some(body))
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let r = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), s).await });
            assert!(r.is_ok(), "server did not stop within 10 s");
        }
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.frame_loop.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Render what the frame loop would send at `at` with `ctl` on top of the
/// nightly show (as the harness's loop plays it): shows, then masters and
/// level overrides.
fn render(cfg: &Config, ctl: &CompiledControl, at: DateTime<Utc>) -> Frame {
    let nightly = cfg.show("nightly").unwrap();
    let mut active = vec![ActiveShow::new(
        nightly,
        self::at() - chrono::Duration::hours(1),
        None,
        0,
    )];
    active.extend(ctl.active(at));
    let mut look = Look::dark(&cfg.site);
    engine::render_look(&cfg.site, &active, at, &mut look);
    let mut limits = Limits::none(&cfg.site);
    ctl.apply_scales(at, &mut limits);
    engine::apply_limits(&cfg.site, &mut look, &limits);
    let mut frame = Frame::new(&cfg.site);
    engine::look_to_frame(&cfg.site, &look, &mut frame);
    frame
}

/// A fixture's DMX channels in `frame`.
fn channels(cfg: &Config, frame: &Frame, name: &str) -> Vec<u8> {
    let i = cfg.site.fixture_by_name(name).unwrap() as usize;
    let f = &cfg.site.fixtures[i];
    let fp = cfg.site.mode_of(f).footprint as usize;
    let u = frame.universe(f.universe).unwrap();
    u[f.address as usize - 1..f.address as usize - 1 + fp].to_vec()
}

fn group_members(cfg: &Config, group: &str) -> Vec<String> {
    cfg.site.groups[group]
        .iter()
        .map(|&i| cfg.site.fixtures[i as usize].name.clone())
        .collect()
}

#[test]
fn every_read_needs_a_viewer_and_every_write_an_operator() {
    let api = Api::start(Opts::default());
    let reads = [
        "/api/status",
        "/api/schedule",
        "/api/shows",
        "/api/groups",
        "/api/fixtures",
        "/api/frame",
        "/api/live",
        "/api/scenes",
        "/api/overrides",
        "/metrics",
    ];
    for path in reads {
        let (s, v) = api.json("GET", path, None, None);
        assert_eq!(s, 401, "GET {path} without a token: {v}");
        assert!(v["error"].as_str().unwrap().contains("token"), "{v}");
        let (s, _) = api.json("GET", path, Some("not-a-token"), None);
        assert_eq!(s, 401, "GET {path} with a wrong token");
    }
    let writes: [(&str, &str, Value); 6] = [
        (
            "POST",
            "/api/overrides",
            json!({"target": "square", "blackout": true}),
        ),
        (
            "POST",
            "/api/scenes/nightly/trigger",
            json!({"duration": "1m"}),
        ),
        ("POST", "/api/master", json!({"level": 0.5})),
        ("DELETE", "/api/overrides", Value::Null),
        ("DELETE", "/api/overrides/1", Value::Null),
        ("DELETE", "/api/scenes/1", Value::Null),
    ];
    for (method, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        let (s, _) = api.json(method, path, None, body.clone());
        assert_eq!(s, 401, "{method} {path} without a token");
        let (s, _) = api.json(method, path, Some("wrong"), body.clone());
        assert_eq!(s, 401, "{method} {path} with a wrong token");
        let (s, v) = api.json(method, path, Some(VIEWER), body.clone());
        assert_eq!(s, 403, "{method} {path} as a viewer: {v}");
        assert!(v["error"].as_str().unwrap().contains("operator"), "{v}");
    }
    // The audit log is for admins only.
    assert_eq!(api.json("GET", "/api/audit", None, None).0, 401);
    assert_eq!(api.json("GET", "/api/audit", Some(OPERATOR), None).0, 403);
    assert_eq!(api.json("GET", "/api/audit", Some(ADMIN), None).0, 200);
    // Admins and operators can do what viewers can.
    assert_eq!(api.json("GET", "/api/status", Some(ADMIN), None).0, 200);
    assert_eq!(api.json("GET", "/api/status", Some(OPERATOR), None).0, 200);
    // A malformed Authorization header is a 401, not a 400 or 500.
    let res = api
        .agent
        .get(format!("{}/api/status", api.base))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    // Health, the page and the API document need nothing.
    assert_eq!(api.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(api.call("GET", "/", None, None).0, 200);
    assert_eq!(api.call("GET", "/openapi.json", None, None).0, 200);
    // Nothing was changed by all those refused writes.
    assert_eq!(api.get("/api/overrides"), json!([]));
    assert!(api.shared.control().is_empty());
}

#[test]
fn public_read_opens_reads_but_not_writes() {
    let api = Api::start(Opts {
        public_read: true,
        ..Opts::default()
    });
    assert_eq!(api.json("GET", "/api/status", None, None).0, 200);
    assert_eq!(api.json("GET", "/api/fixtures", None, None).0, 200);
    assert_eq!(api.call("GET", "/metrics", None, None).0, 200);
    let (s, _) = api.json(
        "POST",
        "/api/overrides",
        None,
        Some(json!({"target": "*", "blackout": true})),
    );
    assert_eq!(s, 401);
    assert_eq!(api.json("GET", "/api/audit", None, None).0, 401);
    // A wrong token is still refused: the client is misconfigured.
    assert_eq!(api.json("GET", "/api/status", Some("nope"), None).0, 401);
}

#[test]
fn reads_describe_the_site_and_what_it_does() {
    let api = Api::start(Opts {
        frame_loop: true,
        ..Opts::default()
    });
    let cfg = api.shared.config();
    common::wait_for("a few frames", Duration::from_secs(5), || {
        api.shared.stats.lock().unwrap().frames > 3
    });

    let status = api.get("/api/status");
    assert_eq!(status["site"]["name"], json!(cfg.site.name));
    assert_eq!(status["site"]["timezone"], "Asia/Shanghai");
    assert_eq!(status["clock"]["simulated"], true);
    assert!(status["clock"]["now"]
        .as_str()
        .unwrap()
        .starts_with("2026-12-31T12:0"));
    assert_eq!(status["frames"]["target_fps"], json!(cfg.site.fps));
    assert!(status["frames"]["frames"].as_u64().unwrap() > 3);
    assert!(status["frames"]["late_frames"].is_u64());
    assert_eq!(status["active_shows"], json!(["nightly"]));
    assert!(status["power_w"].is_null());
    assert_eq!(status["overrides"], json!([]));
    assert!(status["outputs"].is_array());

    let shows = api.get("/api/shows");
    let names: Vec<&str> = shows
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        cfg.show_order
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let nightly = shows
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nightly")
        .unwrap();
    assert_eq!(nightly["fade_in_s"], 8.0);
    assert_eq!(nightly["layers"][0]["effect"], "wave");
    assert_eq!(nightly["layers"][0]["target"], "avenue");

    let groups = api.get("/api/groups");
    let square = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "square")
        .unwrap();
    assert_eq!(
        square["fixtures"].as_array().unwrap().len(),
        cfg.site.groups["square"].len()
    );

    let fixtures = api.get("/api/fixtures");
    let fixtures = fixtures.as_array().unwrap();
    assert_eq!(fixtures.len(), cfg.site.fixtures.len());
    let crown = fixtures
        .iter()
        .find(|f| f["name"] == "tower-crown")
        .unwrap();
    assert_eq!(crown["universe"], 4);
    assert_eq!(crown["address"], 1);
    assert_eq!(crown["profile"], "rgb-pixel-bar-60");
    assert_eq!(crown["mode"], "180ch");
    assert_eq!(crown["footprint"], 180);
    assert_eq!(crown["position"], json!([99.0, 620.0]));
    assert_eq!(crown["groups"], json!(["facade"]));

    let frame = api.get("/api/frame");
    let universes = frame["universes"].as_object().unwrap();
    assert_eq!(universes.len(), cfg.site.universes.len());
    assert!(universes
        .values()
        .all(|u| u.as_array().unwrap().len() == 512));
    assert!(universes.values().any(|u| u
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v.as_u64() != Some(0))));

    // Live colours: read two events off the stream, then hang up.
    let mut res = api
        .agent
        .get(format!("{}/api/live", api.base))
        .header("Authorization", format!("Bearer {VIEWER}"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut reader = std::io::BufReader::new(res.body_mut().as_reader());
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut line = String::new();
    while events.len() < 2 && Instant::now() < deadline {
        line.clear();
        if std::io::BufRead::read_line(&mut reader, &mut line).unwrap() == 0 {
            break;
        }
        if let Some(data) = line.strip_prefix("data:") {
            events.push(serde_json::from_str::<Value>(data.trim()).unwrap());
        }
    }
    drop(reader);
    assert_eq!(events.len(), 2);
    let colors = events[1]["colors"].as_array().unwrap();
    assert_eq!(colors.len(), cfg.site.fixtures.len());
    assert!(colors.iter().all(|c| c
        .as_str()
        .is_some_and(|c| c.len() == 7 && c.starts_with('#'))));
    assert!(
        colors.iter().any(|c| c != "#000000"),
        "nightly lights something"
    );

    let (s, metrics) = api.call("GET", "/metrics", Some(VIEWER), None);
    assert_eq!(s, 200);
    for name in [
        "nightscape_frames_total",
        "nightscape_late_frames_total",
        "nightscape_active_overrides 0",
        "nightscape_fps_target 40",
        "nightscape_api_request_duration_seconds_bucket",
        "nightscape_api_requests_total",
        "nightscape_frame_interval_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

    let h = api.json("GET", "/healthz", None, None);
    assert_eq!(h.0, 200);
    assert_eq!(h.1["status"], "ok");

    let (s, v) = api.json("GET", "/api/schedule", Some(VIEWER), None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["nights"].as_array().map(Vec::len), Some(7), "{v}");
    // Each night says why it has its mode, its caps and what is on top.
    let night = &v["nights"][0];
    assert!(
        night["why"]
            .as_str()
            .is_some_and(|w| w.starts_with(night["mode"].as_str().unwrap())),
        "{night}"
    );
    assert!(
        night["caps"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["kind"] == "curfew")),
        "{night}"
    );
    assert!(
        night["on_top"].as_array().is_some_and(|p| !p.is_empty()),
        "{night}"
    );

    let (s, doc) = api.json("GET", "/openapi.json", None, None);
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/status",
        "/api/schedule",
        "/api/shows",
        "/api/groups",
        "/api/fixtures",
        "/api/frame",
        "/api/live",
        "/api/scenes/{show}/trigger",
        "/api/scenes/{id}",
        "/api/overrides",
        "/api/overrides/{id}",
        "/api/master",
        "/api/audit",
        "/metrics",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "{p} not in the OpenAPI document");
    }
    assert!(paths["/api/overrides"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["OverrideRequest"].is_object());
    // The live stream is text (server-sent events), its events' JSON a
    // listed schema: a client generated from the document reads it as text.
    let live = &paths["/api/live"]["get"]["responses"]["200"]["content"]["text/event-stream"];
    assert_eq!(live["schema"]["type"], "string", "{live}");
    assert!(doc["components"]["schemas"]["LiveEvent"]["properties"]["colors"].is_object());

    let (s, page) = api.call("GET", "/", None, None);
    assert_eq!(s, 200);
    assert!(page.contains("id=\"map\"") && page.contains("/app.js") && page.contains("/app.css"));
    let (s, script) = api.call("GET", "/app.js", None, None);
    assert_eq!(s, 200);
    assert!(script.contains("/api/live"));
    assert_eq!(api.call("GET", "/app.css", None, None).0, 200);
}

#[test]
fn schedule_status_and_power_over_http() {
    let api = Api::start(Opts {
        planner: true,
        ..Opts::default()
    });
    let plan = api.get("/api/schedule?from=2026-12-31&days=2");
    let nights = plan["nights"].as_array().unwrap();
    assert_eq!(nights.len(), 2);
    assert_eq!(nights[0]["date"], "2026-12-31");
    assert!(nights[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["show"] == "nightly"));
    assert_eq!(
        api.get("/api/schedule")["nights"].as_array().unwrap().len(),
        7
    );
    let status = api.get("/api/status");
    assert_eq!(status["schedule"]["night"], "2026-12-31");
    assert_eq!(status["power_w"], 1234.5);
    let (_, metrics) = api.call("GET", "/metrics", Some(VIEWER), None);
    assert!(
        metrics.contains("nightscape_power_watts 1234.5"),
        "{metrics}"
    );
    assert!(status["schedule"]["entries"].is_array());
    for (q, field, code) in [
        ("?from=31/12/2026", "from", 400),
        ("?days=many", "days", 400),
        ("?days=0", "days", 422),
        ("?days=400", "days", 422),
        ("?day=3", "day", 400),
    ] {
        let (s, v) = api.json("GET", &format!("/api/schedule{q}"), Some(VIEWER), None);
        assert_eq!(s, code, "{q}: {v}");
        assert_eq!(v["field"], field, "{q}: {v}");
    }
}

#[test]
fn overrides_apply_render_and_release() {
    let api = Api::start(Opts {
        speed: 0.0,
        ..Opts::default()
    });
    let cfg = api.shared.config();
    let now = at();
    let before = render(&cfg, &CompiledControl::default(), now);
    let square = group_members(&cfg, "square");
    assert!(
        square
            .iter()
            .any(|f| channels(&cfg, &before, f).iter().any(|&v| v > 0)),
        "the square is lit before"
    );

    // Black out the square for 5 minutes.
    let (s, o) = api.post(
        "/api/overrides",
        json!({"target": "square", "blackout": true, "ttl": "5m", "note": "police request"}),
    );
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_i64().unwrap();
    assert_eq!(o["kind"], "blackout");
    assert_eq!(o["target"], "square");
    assert_eq!(o["priority"], 2000);
    assert_eq!(o["remaining_s"], 300.0);
    assert_eq!(o["fade_s"], 0.0);
    assert_eq!(o["author"], "control-room");
    assert_eq!(o["note"], "police request");
    assert_eq!(o["state"], "active");
    assert_eq!(o["fixtures"], json!(square.len()));
    let frame = render(&cfg, &api.shared.control(), now);
    for f in &square {
        assert!(
            channels(&cfg, &frame, f).iter().all(|&v| v == 0),
            "{f} is dark"
        );
    }
    assert_eq!(
        channels(&cfg, &frame, "tower-crown"),
        channels(&cfg, &before, "tower-crown")
    );

    // A red tower crown (fade 0 so the frozen clock shows it fully).
    let (s, red) = api.post(
        "/api/overrides",
        json!({"target": "tower-crown", "color": "#ff0000", "fade": 0}),
    );
    assert_eq!(s, 201, "{red}");
    let frame = render(&cfg, &api.shared.control(), now);
    let crown = channels(&cfg, &frame, "tower-crown");
    assert!(crown.chunks(3).all(|c| c == [255, 0, 0]), "{crown:?}");

    // The avenue at 40 % of what plays.
    let (s, lvl) = api.post(
        "/api/overrides",
        json!({"target": "avenue", "level": "40%", "fade": "0s"}),
    );
    assert_eq!(s, 201, "{lvl}");
    assert!((lvl["level"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    let frame = render(&cfg, &api.shared.control(), now);
    let pole = &group_members(&cfg, "avenue")[3];
    let (lit, dimmed) = (
        channels(&cfg, &before, pole)[0],
        channels(&cfg, &frame, pole)[0],
    );
    assert!(dimmed < lit && lit > 0, "dimmer {lit} -> {dimmed}");

    // A show on a group and an emergency blackout by name.
    let (s, _) = api.post(
        "/api/overrides",
        json!({"target": "bridge", "show": "spring-festival", "priority": 2500}),
    );
    assert_eq!(s, 201);
    let (s, e) = api.post(
        "/api/overrides",
        json!({"target": "searchlight-*", "blackout": true, "priority": "emergency"}),
    );
    assert_eq!(s, 201);
    assert_eq!(e["priority"], 1_000_000);
    assert!(e["expires"].is_null() && e["remaining_s"].is_null());

    let list = api.get("/api/overrides");
    assert_eq!(list.as_array().unwrap().len(), 5);
    let status = api.get("/api/status");
    assert_eq!(status["overrides"].as_array().unwrap().len(), 5);

    // Release the blackout: with no fade it is gone at once.
    let (s, r) = api.json(
        "DELETE",
        &format!("/api/overrides/{id}"),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["state"], "releasing");
    let frame = render(&cfg, &api.shared.control(), now);
    for f in &square {
        assert_eq!(
            channels(&cfg, &frame, f),
            channels(&cfg, &before, f),
            "{f} is back"
        );
    }
    // Releasing it again changes nothing (or finds it already pruned, since
    // its fade-out ended at once).
    let (s, _) = api.json(
        "DELETE",
        &format!("/api/overrides/{id}"),
        Some(OPERATOR),
        None,
    );
    assert!(s == 200 || s == 404, "{s}");

    // Release by target: the crown is inside the facade group; the emergency
    // on the searchlights is not, and stays.
    let (s, r) = api.json(
        "DELETE",
        "/api/overrides?target=facade",
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["count"], 1);
    assert_eq!(r["released"][0]["target"], "tower-crown");
    // The rest.
    let (s, r) = api.json("DELETE", "/api/overrides", Some(OPERATOR), None);
    assert_eq!(s, 200);
    assert_eq!(r["count"], 3, "{r}");
    // The level override fades out over its 0 s; the show override over its default 2 s
    // (the clock is frozen, so it stays listed as releasing).
    let list = api.get("/api/overrides");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|o| o["state"] == "releasing"),
        "{list}"
    );
    let (s, v) = api.json("DELETE", "/api/overrides/999999", Some(OPERATOR), None);
    assert_eq!(s, 404);
    assert_eq!(v["field"], "id");
}

#[test]
fn scenes_and_masters() {
    let api = Api::start(Opts {
        speed: 0.0,
        ..Opts::default()
    });
    let cfg = api.shared.config();
    let (s, sc) = api.post(
        "/api/scenes/spring-festival/trigger",
        json!({"duration": "30m", "target": "avenue", "fade": 0}),
    );
    assert_eq!(s, 201, "{sc}");
    assert_eq!(sc["show"], "spring-festival");
    assert_eq!(sc["priority"], 1000);
    assert_eq!(sc["remaining_s"], 1800.0);
    let ctl = api.shared.control();
    let active = ctl.active(at());
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].show.name, "spring-festival");
    assert_eq!(active[0].ends, Some(at() + chrono::Duration::minutes(30)));
    let scenes = api.get("/api/scenes");
    assert_eq!(scenes.as_array().unwrap().len(), 1);
    let (s, stopped) = api.json(
        "DELETE",
        &format!("/api/scenes/{}", sc["id"]),
        Some(OPERATOR),
        None,
    );
    assert_eq!(s, 200, "{stopped}");
    assert_eq!(stopped["state"], "releasing");
    assert!(api.shared.control().active(at()).is_empty());
    assert_eq!(
        api.json("DELETE", "/api/scenes/424242", Some(OPERATOR), None)
            .0,
        404
    );

    // Grand master at half, then a group master; level 1 removes it.
    let before = render(&cfg, &CompiledControl::default(), at());
    let (s, m) = api.post("/api/master", json!({"level": 0.5}));
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["masters"][0]["target"], "*");
    assert_eq!(m["masters"][0]["fixtures"], json!(cfg.site.fixtures.len()));
    let frame = render(&cfg, &api.shared.control(), at());
    let pole = &group_members(&cfg, "avenue")[3];
    assert!(channels(&cfg, &frame, pole)[0] < channels(&cfg, &before, pole)[0]);
    let (s, m) = api.post("/api/master", json!({"level": "20%", "target": "trees"}));
    assert_eq!(s, 200);
    assert_eq!(m["masters"].as_array().unwrap().len(), 2);
    let (s, m) = api.post("/api/master", json!({"level": 1, "target": "*"}));
    assert_eq!(s, 200);
    assert_eq!(m["masters"].as_array().unwrap().len(), 1);
    assert_eq!(api.get("/api/status")["masters"][0]["target"], "trees");
}

#[test]
fn bad_requests_get_json_errors_naming_the_field() {
    let api = Api::start(Opts::default());
    let cases: Vec<(&str, &str, u16, Option<&str>)> = vec![
        // Malformed JSON and shapes.
        ("/api/overrides", "{\"target\": \"square\", ", 400, None),
        ("/api/overrides", "", 400, None),
        ("/api/overrides", "[\"square\"]", 400, None),
        (
            "/api/overrides",
            "{\"target\": \"square\", \"blackout\": true} x",
            400,
            None,
        ),
        // Wrong types.
        (
            "/api/overrides",
            r#"{"target": 5, "blackout": true}"#,
            400,
            Some("target"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": "yes"}"#,
            400,
            Some("blackout"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "level": true}"#,
            400,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "level": [1]}"#,
            400,
            Some("level"),
        ),
        (
            "/api/scenes/nightly/trigger",
            r#"{"duration": {"m": 3}}"#,
            400,
            Some("duration"),
        ),
        // Unknown and missing fields.
        (
            "/api/overrides",
            r#"{"target": "square", "levle": 0.5}"#,
            400,
            Some("levle"),
        ),
        (
            "/api/overrides",
            r#"{"blackout": true}"#,
            400,
            Some("target"),
        ),
        (
            "/api/scenes/nightly/trigger",
            r#"{}"#,
            400,
            Some("duration"),
        ),
        (
            "/api/master",
            r#"{"level": 0.5, "group": "avenue"}"#,
            400,
            Some("group"),
        ),
        // Out of range.
        (
            "/api/overrides",
            r#"{"target": "square", "level": 1.5}"#,
            422,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "level": "150%"}"#,
            422,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "level": -0.1}"#,
            422,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "ttl": "-5m"}"#,
            422,
            Some("ttl"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "ttl": 0}"#,
            422,
            Some("ttl"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "ttl": "3 fortnights"}"#,
            422,
            Some("ttl"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "ttl": "9000h"}"#,
            422,
            Some("ttl"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "fade": 1e309}"#,
            400,
            None,
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "priority": "urgent"}"#,
            422,
            Some("priority"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": true, "priority": 2000000}"#,
            422,
            Some("priority"),
        ),
        (
            "/api/overrides",
            r##"{"target": "square", "color": "#12345"}"##,
            422,
            Some("color"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "color": "90000K"}"#,
            422,
            Some("color"),
        ),
        (
            "/api/scenes/nightly/trigger",
            r#"{"duration": 0}"#,
            422,
            Some("duration"),
        ),
        ("/api/master", r#"{"level": 2}"#, 422, Some("level")),
        // Unknown targets and shows.
        (
            "/api/overrides",
            r#"{"target": "nowhere", "blackout": true}"#,
            422,
            Some("target"),
        ),
        (
            "/api/overrides",
            r#"{"target": "   ", "blackout": true}"#,
            422,
            Some("target"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "show": "disco"}"#,
            422,
            Some("show"),
        ),
        (
            "/api/scenes/disco/trigger",
            r#"{"duration": "5m"}"#,
            404,
            Some("show"),
        ),
        (
            "/api/scenes/nightly/trigger",
            r#"{"duration": "5m", "target": "nowhere"}"#,
            422,
            Some("target"),
        ),
        (
            "/api/master",
            r#"{"level": 0.5, "target": "nowhere"}"#,
            422,
            Some("target"),
        ),
        // Exactly one action.
        (
            "/api/overrides",
            r#"{"target": "square"}"#,
            422,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "blackout": false}"#,
            422,
            Some("level"),
        ),
        (
            "/api/overrides",
            r#"{"target": "square", "level": 0.5, "color": "red"}"#,
            422,
            Some("color"),
        ),
    ];
    for (path, body, code, field) in &cases {
        let (s, text) = api.call("POST", path, Some(OPERATOR), Some(body));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path} {body}: not JSON: {text}"));
        assert_eq!(s, *code, "{path} {body}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        match field {
            Some(f) => assert_eq!(v["field"], *f, "{path} {body}: {v}"),
            None => assert!(v.get("field").is_none() || v["field"].is_string(), "{v}"),
        }
    }
    // Nothing got through.
    assert_eq!(api.get("/api/overrides"), json!([]));

    // A body over the limit.
    let big = format!(
        r#"{{"target": "square", "blackout": true, "note": "{}"}}"#,
        "x".repeat(20_000)
    );
    let (s, text) = api.call("POST", "/api/overrides", Some(OPERATOR), Some(&big));
    assert_eq!(s, 413, "{text}");
    assert!(serde_json::from_str::<Value>(&text).unwrap()["error"].is_string());
    // A note over 500 characters but under the body limit.
    let long = json!({"target": "square", "blackout": true, "note": "y".repeat(600)});
    let (s, v) = api.post("/api/overrides", long);
    assert_eq!((s, v["field"].as_str()), (422, Some("note")));
    // Path and query errors, unknown routes and methods: JSON too.
    // An id that is neither a number nor a known fleet id: 404 naming `id`.
    let (s, v) = api.json("DELETE", "/api/overrides/abc", Some(OPERATOR), None);
    assert_eq!((s, v["field"].as_str()), (404, Some("id")), "{v}");
    let (s, v) = api.json(
        "DELETE",
        "/api/overrides?target=nowhere",
        Some(OPERATOR),
        None,
    );
    assert_eq!((s, v["field"].as_str()), (422, Some("target")), "{v}");
    let (s, v) = api.json(
        "DELETE",
        "/api/overrides?targte=square",
        Some(OPERATOR),
        None,
    );
    assert_eq!((s, v["field"].as_str()), (400, Some("targte")), "{v}");
    let (s, v) = api.json("GET", "/api/audit?limit=0", Some(ADMIN), None);
    assert_eq!((s, v["field"].as_str()), (400, Some("limit")), "{v}");
    let (s, v) = api.json("GET", "/api/nothing", Some(VIEWER), None);
    assert_eq!(s, 404, "{v}");
    let (s, v) = api.json("POST", "/api/status", Some(OPERATOR), Some(json!({})));
    assert_eq!(s, 405, "{v}");
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn ttl_expires_on_the_sites_clock() {
    // 60 simulated seconds per real second: a 90 s TTL is 1.5 s of waiting.
    let api = Api::start(Opts {
        speed: 60.0,
        ..Opts::default()
    });
    let (s, o) = api.post(
        "/api/overrides",
        json!({"target": "square", "blackout": true, "ttl": "90s"}),
    );
    assert_eq!(s, 201, "{o}");
    let (s, _) = api.post(
        "/api/overrides",
        json!({"target": "bridge", "blackout": true, "ttl": "1h"}),
    );
    assert_eq!(s, 201);
    assert_eq!(api.shared.control().active(api.shared.clock.now()).len(), 2);
    common::wait_for(
        "the 90 s override to expire and be pruned",
        Duration::from_secs(6),
        || api.get("/api/overrides").as_array().unwrap().len() == 1,
    );
    let now = api.shared.clock.now();
    let left = api.get("/api/overrides");
    assert_eq!(left[0]["target"], "bridge");
    let ctl = api.shared.control();
    let active = ctl.active(now);
    assert_eq!(active.len(), 1);
    assert!(active[0].ends.unwrap() > now);
}

#[test]
fn restart_restores_overrides_with_their_remaining_ttl_and_the_audit_log() {
    let state = tempfile::tempdir().unwrap();
    let dir: &Path = state.path();
    let started = std::time::Instant::now();
    let mut first = Api::start(Opts {
        state_dir: Some(dir.to_path_buf()),
        ..Opts::default()
    });
    let (s, o) = first.post(
        "/api/overrides",
        json!({"target": "square", "blackout": true, "ttl": "1h", "note": "festival rehearsal"}),
    );
    assert_eq!(s, 201);
    // The first clock ran at most this long before the override was made.
    let created_by = started.elapsed().as_secs_f64();
    let (s, _) = first.post(
        "/api/overrides",
        json!({"target": "tower-crown", "color": "red"}),
    );
    assert_eq!(s, 201);
    let (s, gone) = first.post(
        "/api/overrides",
        json!({"target": "bridge", "level": 0.2, "fade": 0}),
    );
    assert_eq!(s, 201);
    assert_eq!(
        first
            .json(
                "DELETE",
                &format!("/api/overrides/{}", gone["id"]),
                Some(OPERATOR),
                None
            )
            .0,
        200
    );
    let (s, _) = first.post(
        "/api/scenes/spring-festival/trigger",
        json!({"duration": "30m"}),
    );
    assert_eq!(s, 201);
    let (s, _) = first.post("/api/master", json!({"level": 0.7}));
    assert_eq!(s, 200);
    first.stop();
    drop(first);

    // The daemon comes back ten minutes later: remaining TTLs count from the
    // stored instants.
    let second = Api::start(Opts {
        state_dir: Some(dir.to_path_buf()),
        start: Some(at() + chrono::Duration::minutes(10)),
        ..Opts::default()
    });
    let list = second.get("/api/overrides");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["id"], o["id"]);
    assert_eq!(list[0]["note"], "festival rehearsal");
    let remaining = list[0]["remaining_s"].as_f64().unwrap();
    assert!(
        remaining > 2990.0 && remaining <= 3000.1 + created_by,
        "{remaining}"
    );
    assert!(list[1]["expires"].is_null());
    let status = second.get("/api/status");
    assert_eq!(status["scenes"].as_array().unwrap().len(), 1);
    assert!((status["masters"][0]["level"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    // The compiled control in `shared` renders them without any request.
    let cfg = second.shared.config();
    let frame = render(&cfg, &second.shared.control(), second.shared.clock.now());
    for f in group_members(&cfg, "square") {
        assert!(
            channels(&cfg, &frame, &f).iter().all(|&v| v == 0),
            "{f} is dark after the restart"
        );
    }

    let (s, audit) = second.json("GET", "/api/audit?limit=50", Some(ADMIN), None);
    assert_eq!(s, 200);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "master.set",
            "scene.trigger",
            "override.release",
            "override.create",
            "override.create",
            "override.create"
        ]
    );
    let create = &audit[5];
    assert_eq!(create["actor"], "control-room");
    assert_eq!(create["detail"]["target"], "square");
    assert_eq!(create["detail"]["id"], o["id"]);
    assert!(create["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(audit[2]["detail"]["released"], json!([gone["id"]]));
    // Secrets appear nowhere in the log.
    assert!(!audit.to_string().contains("secret-0123456789"));
}

#[test]
fn an_override_shows_in_the_next_frames_of_the_running_loop() {
    let api = Api::start(Opts {
        frame_loop: true,
        ..Opts::default()
    });
    let cfg = api.shared.config();
    let crown = cfg.site.fixture_by_name("tower-crown").unwrap() as usize;
    let f = &cfg.site.fixtures[crown];
    let (u, a) = (f.universe, f.address as usize - 1);
    let read = || {
        api.shared.want_frame();
        let s = api.shared.stats.lock().unwrap();
        s.last_frame
            .as_ref()
            .map(|fr| fr.universe(u).unwrap()[a..a + 3].to_vec())
    };
    common::wait_for("the first frame", Duration::from_secs(5), || {
        read().is_some()
    });
    assert_ne!(read().unwrap(), vec![0, 0, 255]);
    let t0 = Instant::now();
    let (s, _) = api.post(
        "/api/overrides",
        json!({"target": "tower-crown", "color": "#0000ff", "fade": 0}),
    );
    assert_eq!(s, 201);
    common::wait_for("the override in a frame", Duration::from_secs(2), || {
        read() == Some(vec![0, 0, 255])
    });
    eprintln!("override to frame (in process): {:?}", t0.elapsed());
    // /api/frame serves the same.
    let frame = api.get("/api/frame");
    let ch: Vec<u64> = frame["universes"][u.to_string()].as_array().unwrap()[a..a + 3]
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ch, vec![0, 0, 255]);
}

#[test]
fn energy_report_in_every_format_with_located_errors() {
    let api = Api::start(Opts {
        planner: true,
        ..Opts::default()
    });
    let viewer = test_env("NIGHTSCAPE_VIEWER_TOKEN");
    let v = viewer.as_deref();
    let (status, body) = api.call("GET", "/api/energy?from=2026-11-20&to=2026-11-24", v, None);
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["nights"].is_array() && json["total"].is_object(),
        "{json}"
    );
    let (status, body) = api.call("GET", "/api/energy?format=csv", v, None);
    assert_eq!(status, 200);
    assert!(body.starts_with("night,kwh,peak_w"), "{body}");
    let (status, body) = api.call("GET", "/api/energy?format=svg", v, None);
    assert_eq!(status, 200);
    assert!(
        body.trim_start().starts_with("<svg") || body.trim_start().starts_with("<?xml"),
        "{body}"
    );
    let (status, body) = api.call("GET", "/api/energy?from=2026-12-10&to=2026-12-01", v, None);
    assert_eq!(status, 422, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert!(err["field"] == "from" || err["field"] == "to", "{err}");
    let (status, body) = api.call("GET", "/api/energy?format=pdf", v, None);
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["field"],
        "format"
    );
    let (status, _) = api.call("GET", "/api/energy?group=nowhere", v, None);
    assert_eq!(status, 422);
    let (status, _) = api.call("GET", "/api/energy", None, None);
    assert_eq!(status, 401);
}

/// What `/openapi.json` says about public reads is what the server does:
/// every operation marked `x-public-read` answers without a token when the
/// site sets `public_read` (and the document then lists no-auth beside the
/// bearer scheme); the ones not marked still ask for one.
#[test]
fn the_document_marks_exactly_the_reads_public_read_opens() {
    let api = Api::start(Opts {
        public_read: true,
        ..Opts::default()
    });
    let (s, doc) = api.json("GET", "/openapi.json", None, None);
    assert_eq!(s, 200);
    let mut public = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        if path.contains('{') || get["security"].is_null() {
            continue;
        }
        let marked = get["x-public-read"] == true;
        let no_auth = get["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
        assert_eq!(marked, no_auth, "{path}: {get}");
        // /api/live streams: only ask for its head.
        let uri = if path == "/api/live" {
            "/api/live?cells=false"
        } else {
            path
        };
        let (status, body) = if path == "/api/live" {
            (api.head_status(uri), String::new())
        } else {
            api.call("GET", uri, None, None)
        };
        if marked {
            public += 1;
            assert!(
                status != 401 && status != 403,
                "{path} is marked public but answered {status}: {body}"
            );
        } else {
            assert_eq!(status, 401, "{path} is not marked public: {body}");
        }
    }
    assert!(public >= 10, "{public} public reads");
    assert!(doc["paths"]["/api/audit"]["get"]["x-public-read"].is_null());
}

/// The string constraints the document gives for request fields are the
/// ones the handlers enforce: for every text property with `maxLength`, a
/// value one character too long is refused naming the field, a blank one
/// too (`pattern: \S`), and one at the limit is not refused for its length.
#[test]
fn request_string_constraints_in_the_document_are_enforced() {
    let api = Api::start(Opts::default());
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let schema = &doc["components"]["schemas"]["OverrideRequest"]["properties"];
    let mut checked = 0;
    for (field, prop) in schema.as_object().unwrap() {
        let Some(max) = prop["maxLength"].as_u64() else {
            continue;
        };
        assert_eq!(prop["minLength"], 1, "{field}");
        assert_eq!(prop["pattern"], "\\S", "{field}");
        assert_eq!(max, 500, "{field}");
        // A valid request with this one field replaced.
        let body = |v: String| {
            let mut b = json!({"target": "square", "level": 0.5});
            if field == "color" || field == "show" {
                b.as_object_mut().unwrap().remove("level");
            }
            b[field.as_str()] = json!(v);
            b
        };
        for (value, refused) in [
            ("x".repeat(max as usize + 1), true),
            ("  ".to_string(), true),
            (" ".repeat(max as usize) + "x", true),
        ] {
            let (s, v) = api.json(
                "POST",
                "/api/overrides",
                Some(OPERATOR),
                Some(body(value.clone())),
            );
            assert_eq!(
                refused,
                (400..500).contains(&s),
                "{field} = {} chars: {s} {v}",
                value.len()
            );
            assert_eq!(v["field"], field.as_str(), "{field}: {v}");
        }
        // At the limit the length is not the problem (the value may still
        // name nothing).
        let (_, v) = api.json(
            "POST",
            "/api/overrides",
            Some(OPERATOR),
            Some(body("y".repeat(max as usize))),
        );
        assert!(
            !v["error"].as_str().unwrap_or("").contains("longer than"),
            "{field}: {v}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "target, color, show, note");
    let days = &doc["paths"]["/api/schedule"]["get"]["parameters"];
    let days = days
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "days")
        .unwrap();
    // 1..366 as a pattern (the query string is text; empty = the default).
    let pattern = days["schema"]["pattern"].as_str().unwrap();
    assert!(pattern.contains("36[0-6]"), "{pattern}");
}

/// An override row of a newer record version (written by a newer
/// nightscape) is left out of force at start, with an audit row naming the
/// version; the other overrides and the API come up.
#[test]
fn an_override_of_a_newer_record_version_is_left_out_and_audited() {
    let state = tempfile::tempdir().unwrap();
    let opts = || Opts {
        state_dir: Some(state.path().to_path_buf()),
        ..Opts::default()
    };
    let mut first = Api::start(opts());
    let (s, kept) = first.post("/api/overrides", json!({"target": "square", "level": 0.5}));
    assert_eq!(s, 201);
    let (s, newer) = first.post("/api/overrides", json!({"target": "bridge", "level": 0.2}));
    assert_eq!(s, 201);
    first.stop();
    drop(first);
    let db = rusqlite::Connection::open(state.path().join("nightscape.sqlite3")).unwrap();
    db.execute(
        "UPDATE overrides SET version = 7 WHERE id = ?1",
        [newer["id"].as_i64().unwrap()],
    )
    .unwrap();
    drop(db);

    let again = Api::start(opts());
    let (s, list) = again.json("GET", "/api/overrides", Some(VIEWER), None);
    assert_eq!(s, 200);
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [&kept["id"]]);
    let (s, audit) = again.json("GET", "/api/audit", Some(ADMIN), None);
    assert_eq!(s, 200);
    let row = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "store.unreadable_row")
        .unwrap_or_else(|| panic!("no audit row: {audit}"));
    let why = row["detail"]["row"].as_str().unwrap();
    assert!(why.contains("record of version 7"), "{why}");
}

/// What `/openapi.json` says and what the handlers do agree (issue 29):
/// the live stream's errors are documented, a whole-number float is an
/// integer (as JSON Schema says), and a control character in a query value
/// is refused as the documented patterns refuse it.
#[test]
fn the_document_and_the_handlers_agree_on_live_errors_integers_and_control_characters() {
    let api = Api::start(Opts::default());
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let live = &doc["paths"]["/api/live"]["get"]["responses"];
    for code in ["200", "400", "401", "429"] {
        assert!(
            live.get(code).is_some(),
            "/api/live does not document {code}: {live}"
        );
    }
    let (s, v) = api.json("GET", "/api/live?cells=maybe", Some(VIEWER), None);
    assert_eq!((s, v["field"].as_str()), (400, Some("cells")), "{v}");
    assert!(doc["components"]["schemas"]["LiveEvent"].is_object());

    // `entry` is an integer in the document; 1.0 is one in JSON Schema.
    let entry_schema = &doc["components"]["schemas"]["SkipRequest"]["properties"]["entry"];
    assert_eq!(entry_schema["type"], "integer", "{entry_schema}");
    let tonight = api.get("/api/tonight");
    let entry = tonight["entries"][0]["entry"].as_u64().unwrap();
    let body = format!("{{\"entry\": {entry}.0}}");
    let (s, text) = api.call("POST", "/api/skips", Some(OPERATOR), Some(&body));
    assert_eq!(s, 201, "a whole-number float for an integer: {text}");
    // A fraction is still refused, naming the field.
    let (s, v) = api.json(
        "POST",
        "/api/skips",
        Some(OPERATOR),
        Some(json!({"entry": entry as f64 + 0.5})),
    );
    assert!((400..500).contains(&s), "{v}");
    assert_eq!(v["field"], "entry", "{v}");

    // Control characters in a query value: refused, naming the field.
    for (path, field) in [
        ("/api/tonight?date=%092026-12-31", "date"),
        ("/api/schedule?from=2026-12-31%0A", "from"),
        ("/api/energy/forecast?night=2026-12-31%0D", "night"),
        ("/api/tonight?date=2026-12%0031", "date"),
    ] {
        let (s, v) = api.json("GET", path, Some(VIEWER), None);
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{path}: {v}");
    }
    // Spaces around a value stay allowed (the patterns say ` *`), and an
    // impossible date is refused by the handler.
    let (s, _) = api.json("GET", "/api/tonight?date=%202026-12-31", Some(VIEWER), None);
    assert_eq!(s, 200);
    let (s, v) = api.json("GET", "/api/tonight?date=2365-06-31", Some(VIEWER), None);
    assert_eq!((s, v["field"].as_str()), (400, Some("date")), "{v}");
}

/// The schema at `path`'s `get` for query parameter `name`.
fn query_param_schema<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
    &params
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))["schema"]
}

/// Dates (issue 29 item 6): every date in the document has one pattern, a
/// calendar one (`2365-06-31` refused, tabs and newlines too, spaces
/// around allowed), and the handlers agree: a tab around `night` in a
/// JSON body is refused as the pattern refuses it.
#[test]
fn the_document_and_the_handlers_agree_on_dates() {
    let api = Api::start(Opts::default());
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let mut schemas = vec![
        query_param_schema(&doc, "/api/schedule", "from").clone(),
        query_param_schema(&doc, "/api/energy", "from").clone(),
        query_param_schema(&doc, "/api/energy", "to").clone(),
        query_param_schema(&doc, "/api/tonight", "date").clone(),
        query_param_schema(&doc, "/api/energy/forecast", "night").clone(),
    ];
    schemas.push(doc["components"]["schemas"]["SkipRequest"]["properties"]["night"].clone());
    let pattern = schemas[0]["pattern"].as_str().unwrap().to_string();
    let ok = ["2026-12-31", " 2026-12-31 ", "", "2024-02-29", "2000-02-29"];
    let bad = [
        "2365-06-31",
        "2026-02-29",
        "1900-02-29",
        "2026-04-31",
        "\t2026-12-31",
        "2026-12-31\n",
        "2026-12-31\r",
        "2026-13-01",
    ];
    for s in &schemas {
        assert_eq!(s["pattern"].as_str(), Some(pattern.as_str()), "{s}");
    }
    // Every schema's verdicts in one validator process (without a
    // validator, outside CI, only the handlers are checked).
    let validators: Option<Vec<_>> = schemas
        .iter()
        .map(common::json_schema::Validator::new)
        .collect();
    if let Some(validators) = validators {
        let named: Vec<_> = schemas
            .iter()
            .map(|s| s.to_string())
            .zip(&validators)
            .collect();
        let as_json = |ds: &[&str]| ds.iter().map(|d| json!(d)).collect::<Vec<_>>();
        common::json_schema::assert_verdicts(&named, &as_json(&bad), &as_json(&ok));
    }

    let tonight = api.get("/api/tonight");
    let entry = tonight["entries"][0]["entry"].as_u64().unwrap();
    for night in ["\t2026-12-31", "2026-12-31\n", "2026-12-31\t", "2365-06-31"] {
        let (s, v) = api.json(
            "POST",
            "/api/skips",
            Some(OPERATOR),
            Some(json!({"night": night, "entry": entry})),
        );
        assert!((400..500).contains(&s), "{night:?}: {s} {v}");
        assert_eq!(v["field"], "night", "{night:?}: {v}");
    }
    let (s, v) = api.json(
        "POST",
        "/api/skips",
        Some(OPERATOR),
        Some(json!({"night": " 2026-12-31 ", "entry": entry})),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["night"], "2026-12-31", "{v}");
    // Inside a query value too: what the pattern refuses is a 400.
    for (path, field) in [
        ("/api/schedule?from=2026-%2012-31", "from"),
        ("/api/tonight?date=12026-12-31", "date"),
        ("/api/energy/forecast?night=%2B2026-12-31", "night"),
    ] {
        let (s, v) = api.json("GET", path, Some(VIEWER), None);
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{path}: {v}");
    }
    let (s, v) = api.json(
        "GET",
        "/api/schedule?from=%202026-12-31%20",
        Some(VIEWER),
        None,
    );
    assert_eq!(s, 200, "{v}");
}

/// `duration` of a scene and `by` of an extend (issue 29 item 6): the
/// document refuses 0 in every spelling as the handlers do, and what it
/// accepts the handlers accept.
#[test]
fn the_document_and_the_handlers_agree_on_zero_durations() {
    let api = Api::start(Opts {
        speed: 0.0,
        ..Opts::default()
    });
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let schemas = &doc["components"]["schemas"];
    // Each property with the document's components, so a `$ref` resolves.
    let compile = |schema: &str, field: &str| {
        let mut p = schemas[schema]["properties"][field].clone();
        p["components"] = doc["components"].clone();
        common::json_schema::Validator::new(&p)
    };
    let zeros = [
        json!(0),
        json!(0.0),
        json!("0"),
        json!("0s"),
        json!("0m0s"),
        json!("0.000ms"),
        json!("+0"),
    ];
    let too_long = [json!(366.0 * 86_400.0 + 1.0), json!(-5), json!("-5m")];
    let good = [
        json!(30),
        json!(0.5),
        json!("5m"),
        json!("1h30m"),
        json!("500ms"),
    ];
    // The document's verdicts, in one validator process (without a
    // validator, outside CI, only the handlers are checked).
    if let Some(duration) = compile("TriggerRequest", "duration") {
        let by = compile("ExtendRequest", "by").unwrap();
        let refused: Vec<Value> = zeros.iter().chain(&too_long).cloned().collect();
        common::json_schema::assert_verdicts(
            &[("duration".into(), &duration), ("by".into(), &by)],
            &refused,
            &good,
        );
    }
    for v in zeros.iter().chain(&too_long) {
        let (s, e) = api.post(
            "/api/scenes/spring-festival/trigger",
            json!({ "duration": v }),
        );
        assert!((400..500).contains(&s), "duration {v}: {s} {e}");
        assert_eq!(e["field"], "duration", "{v}: {e}");
    }
    let (s, o) = api.post(
        "/api/overrides",
        json!({"target": "square", "level": 0.5, "ttl": "10m"}),
    );
    assert_eq!(s, 201, "{o}");
    let extend = format!("/api/overrides/{}/extend", o["id"]);
    for v in zeros.iter().chain(&too_long) {
        let (s, e) = api.post(&extend, json!({ "by": v }));
        assert!((400..500).contains(&s), "by {v}: {s} {e}");
        assert_eq!(e["field"], "by", "{v}: {e}");
    }
    for v in &good {
        let (s, e) = api.post(
            "/api/scenes/spring-festival/trigger",
            json!({ "duration": v }),
        );
        assert_eq!(s, 201, "duration {v}: {e}");
        let (s, e) = api.post(&extend, json!({ "by": v }));
        assert_eq!(s, 200, "by {v}: {e}");
    }
}

/// `DELETE /api/overrides` does what the document says (issue 29 item 6):
/// every override in force goes, an emergency too, and a scene stays.
#[test]
fn releasing_every_override_releases_emergencies_but_not_scenes() {
    let api = Api::start(Opts {
        speed: 0.0,
        ..Opts::default()
    });
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let op = &doc["paths"]["/api/overrides"]["delete"];
    let said = format!(
        "{} {}",
        op["summary"].as_str().unwrap_or(""),
        op["description"].as_str().unwrap_or("")
    );
    assert!(said.contains("emergencies included"), "{said}");
    assert!(said.contains("Scenes are not released"), "{said}");
    assert!(said.contains("DELETE /api/scenes/{id}"), "{said}");

    let (s, sc) = api.post(
        "/api/scenes/spring-festival/trigger",
        json!({"duration": "30m"}),
    );
    assert_eq!(s, 201, "{sc}");
    let (s, em) = api.json(
        "POST",
        "/api/overrides",
        Some(ADMIN),
        Some(json!({"target": "*", "blackout": true, "priority": "emergency"})),
    );
    assert_eq!(s, 201, "{em}");
    let (s, plain) = api.post("/api/overrides", json!({"target": "square", "level": 0.3}));
    assert_eq!(s, 201, "{plain}");
    let (s, r) = api.json("DELETE", "/api/overrides", Some(OPERATOR), None);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["count"], 2, "{r}");
    let mut ids: Vec<&Value> = r["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    ids.sort_by_key(|v| v.as_i64());
    let mut want = vec![&em["id"], &plain["id"]];
    want.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, want);
    let scenes = api.get("/api/scenes");
    let scenes = scenes.as_array().unwrap();
    assert_eq!(scenes.len(), 1, "{scenes:?}");
    assert_eq!(scenes[0]["id"], sc["id"]);
    assert_ne!(scenes[0]["state"], "releasing", "{scenes:?}");
}

/// `priority` (issue 29 item 6): the document says a whole number or a band
/// name, as the handler reads it: 2.5 is refused by both, 2000.0 accepted
/// by both, and a field with a schema of its own stays optional.
#[test]
fn the_document_and_the_handlers_agree_on_priorities() {
    let api = Api::start(Opts {
        speed: 0.0,
        ..Opts::default()
    });
    let (_, doc) = api.json("GET", "/openapi.json", None, None);
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("OverrideRequest", "priority"),
        ("TriggerRequest", "priority"),
        ("SkipRequest", "night"),
    ] {
        let required = schemas[schema]["required"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            !required.contains(&json!(field)),
            "{schema}.{field} required"
        );
    }
    let mut p = schemas["OverrideRequest"]["properties"]["priority"].clone();
    p["components"] = doc["components"].clone();
    let bads = [
        json!(2.5),
        json!(-1),
        json!(1_000_001),
        json!("urgent"),
        json!("2.5"),
    ];
    let goods = [
        json!(2000.0),
        json!(500),
        json!("Scene"),
        json!("EMERGENCY"),
        json!(" 1500 "),
        json!(null),
    ];
    // The document's verdicts, in one validator process (without a
    // validator, outside CI, only the handler is checked).
    if let Some(priority) = common::json_schema::Validator::new(&p) {
        common::json_schema::assert_verdicts(&[("priority".into(), &priority)], &bads, &goods);
    }
    for bad in bads {
        let (s, e) = api.json(
            "POST",
            "/api/overrides",
            Some(ADMIN),
            Some(json!({"target": "square", "level": 0.5, "priority": bad})),
        );
        assert!((400..500).contains(&s), "priority {bad}: {s} {e}");
        assert_eq!(e["field"], "priority", "{bad}: {e}");
    }
    for good in goods {
        let (s, e) = api.json(
            "POST",
            "/api/overrides",
            Some(ADMIN),
            Some(json!({"target": "square", "level": 0.5, "priority": good})),
        );
        assert_eq!(s, 201, "priority {good}: {e}");
    }
}
