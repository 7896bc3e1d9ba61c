//! The operator API under hostile clients (issue 10): writes whose client
//! resets the connection mid-request, retried writes with an
//! `Idempotency-Key`, connection floods, slow and oversized requests,
//! unauthenticated request floods and unknown methods. A real server from
//! the library on 127.0.0.1:0, a real SQLite file, real Art-Net frames on a
//! test socket; every wait is bounded and polls an observable event.

use crate::common;

use chrono::{DateTime, Utc};
use nightscape::api::{self, ApiConfig, ApiLimits, ApiState};
use nightscape::clock::Clock;
use nightscape::config::Config;
use nightscape::control::CompiledControl;
use nightscape::daemon::{self, FixedShow, FrameBuilder, Program, Shared};
use nightscape::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";
const OPERATOR: &str = "operator-secret-0123456789";
const ADMIN: &str = "admin-secret-0123456789";
const VIEWER: &str = "viewer-secret-0123456789";

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

/// A daemon in a test: the frame loop sending Art-Net to `rx` on a frozen
/// clock, the API on 127.0.0.1:0, the store in `state`.
struct Rig {
    addr: SocketAddr,
    shared: Shared,
    state: ApiState,
    state_dir: PathBuf,
    rx: std::net::UdpSocket,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    frame_loop: Option<std::thread::JoinHandle<()>>,
    _tmp: tempfile::TempDir,
}

impl Rig {
    fn start(limits: ApiLimits, public_read: bool) -> Rig {
        Rig::start_capped(limits, public_read, 1000)
    }

    fn start_capped(limits: ApiLimits, public_read: bool, max_overrides: usize) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let site = common::demo_site_in(tmp.path());
        let rx = common::artnet_receiver(&site);
        let cfg = nightscape::config::load(&site).unwrap();
        let (api_cfg, _) = ApiConfig::from_site(&cfg.site).unwrap();
        let (tokens, _) = api_cfg.resolve_tokens_with(test_env);
        let state_dir = tmp.path().join("var");
        let (outputs, _) = nightscape::output::open_all(&cfg.site, &state_dir);
        let shared = Shared::new(cfg, Clock::simulated(at(), 0.0));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::open(&state_dir).unwrap();
        let mut state = rt
            .block_on(ApiState::with_tokens(
                shared.clone(),
                store,
                tokens,
                public_read,
            ))
            .unwrap()
            .with_limits(limits);
        state.control = state.control.clone().with_max_overrides(max_overrides);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(api::serve(listener, state.clone(), async {
            let _ = stop_rx.await;
        }));
        let s = shared.clone();
        let frame_loop = std::thread::spawn(move || {
            let program = Box::new(FixedShow {
                show: "nightly".into(),
                since: at() - chrono::Duration::hours(1),
            });
            daemon::frame_loop(program, outputs, Vec::new(), s)
        });
        Rig {
            addr,
            shared,
            state,
            state_dir,
            rx,
            rt,
            stop: Some(tx),
            server: Some(server),
            frame_loop: Some(frame_loop),
            _tmp: tmp,
        }
    }

    /// One request on a fresh connection; returns (status, headers, body).
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw_request(method, path, token, extra, body).as_bytes())
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }

    fn json(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let (s, _, b) = self.request(method, path, Some(token), &[], body.as_ref());
        (s, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// What the store file holds now (a second handle on the same file,
    /// as a restart would read it).
    fn persisted(&self) -> nightscape::store::Persisted {
        Store::open(&self.state_dir).unwrap().load(at()).unwrap()
    }

    /// What the service holds in memory.
    fn in_memory(&self) -> nightscape::store::Persisted {
        let book = self.rt.block_on(self.state.control.book());
        nightscape::store::Persisted {
            state: book.state(),
            cancelled_overrides: book
                .cancelled_overrides
                .iter()
                .map(|(id, at)| (*id, *at))
                .collect(),
            cancelled_scenes: book
                .cancelled_scenes
                .iter()
                .map(|(id, at)| (*id, *at))
                .collect(),
            skipped: Vec::new(),
        }
    }

    /// The frame the loop must send for what the store holds.
    fn expected_frame(&self) -> BTreeMap<u16, Vec<u8>> {
        let cfg: std::sync::Arc<Config> = self.shared.config();
        let (ctl, _) = CompiledControl::compile(&self.persisted().state, &cfg);
        let program = FixedShow {
            show: "nightly".into(),
            since: at() - chrono::Duration::hours(1),
        };
        let mut active = program.active(&cfg, at());
        active.extend(ctl.active(at()));
        let mut b = FrameBuilder::new(&cfg.site);
        let frame = b.build::<Box<dyn daemon::FrameHook>>(&cfg, &active, &ctl, &mut [], at());
        frame
            .universes
            .iter()
            .zip(&frame.data)
            .map(|(u, d)| (*u, d.to_vec()))
            .collect()
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

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop();
    }
}

fn raw_request(
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> String {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(t) = token {
        r.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        r.push_str("Content-Type: application/json\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r
}

/// Send `req` and reset the connection (SO_LINGER 0) right after writing it,
/// or after `wait` for the server to have started on it.
fn send_and_reset(addr: SocketAddr, req: &str, wait: Duration) {
    let s = TcpStream::connect(addr).unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    (&s).write_all(req.as_bytes()).unwrap();
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
    drop(s);
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn writes_whose_client_resets_are_applied_exactly_as_persisted() {
    let rig = Rig::start(ApiLimits::default(), false);
    let cfg = rig.shared.config();
    let names: Vec<String> = cfg.site.fixtures.iter().map(|f| f.name.clone()).collect();
    let groups: Vec<String> = cfg.site.groups.keys().cloned().collect();
    // Some real scenes and overrides to release.
    for i in 0..4 {
        let (s, _) = rig.json(
            "POST",
            "/api/overrides",
            OPERATOR,
            Some(json!({"target": names[i * 7], "blackout": true})),
        );
        assert_eq!(s, 201);
    }
    let (s, scene) = rig.json(
        "POST",
        "/api/scenes/nightly/trigger",
        OPERATOR,
        Some(json!({"duration": "1h"})),
    );
    assert_eq!(s, 201);
    let scene_id = scene["id"].as_i64().unwrap();

    for i in 0..60usize {
        let (method, path, body) = match i % 6 {
            0 | 1 => (
                "POST",
                "/api/overrides".to_string(),
                Some(
                    json!({"target": names[(i * 11) % names.len()], "blackout": true, "fade": "0s"}),
                ),
            ),
            2 => (
                "POST",
                "/api/master".to_string(),
                Some(json!({"target": groups[i % groups.len()], "level": (i % 10) as f64 / 10.0})),
            ),
            3 => (
                "DELETE",
                format!("/api/overrides?target={}", names[(i * 11) % names.len()]),
                None,
            ),
            4 => (
                "POST",
                "/api/scenes/nightly/trigger".to_string(),
                Some(json!({"duration": "1h", "fade": "0s"})),
            ),
            _ => (
                "DELETE",
                format!("/api/scenes/{}", scene_id + i as i64 / 6),
                None,
            ),
        };
        let req = raw_request(method, &path, Some(OPERATOR), &[], body.as_ref());
        // Reset at once, or a moment later while the store is writing.
        let wait = Duration::from_micros([0, 200, 1000, 3000][i % 4]);
        send_and_reset(rig.addr, &req, wait);
    }
    // Release everything once, the way an operator would after the storm.
    let (s, _) = rig.json("DELETE", "/api/overrides", OPERATOR, None);
    assert_eq!(s, 200);

    // Memory and disk agree (each write finished on its own, or never began).
    let agreed = common::wait_until(Duration::from_secs(10), || {
        rig.in_memory() == rig.persisted()
    })
    .is_some();
    assert!(
        agreed,
        "in memory:\n{:#?}\non disk:\n{:#?}",
        rig.in_memory(),
        rig.persisted()
    );
    let disk = rig.persisted();
    // Nothing persisted before the release escaped it ("release all" sees
    // every override committed before it; reset writes the server took up
    // after it may follow). Commit order is the audit log's order.
    let audit = Store::open(&rig.state_dir)
        .unwrap()
        .audit_log(1000)
        .unwrap();
    let release_at = audit
        .iter()
        .find(|r| r.entry.action == "override.release_all" && r.entry.actor == "control-room")
        .map(|r| r.id)
        .unwrap();
    for o in disk.state.overrides.iter().filter(|o| o.expires.is_none()) {
        let created = audit
            .iter()
            .find(|r| r.entry.action == "override.create" && r.entry.detail["id"] == json!(o.id))
            .map(|r| r.id)
            .unwrap();
        assert!(
            created > release_at,
            "override {} was committed before the release but not released",
            o.id
        );
    }
    // The API lists exactly what is on disk.
    let (s, list) = rig.json("GET", "/api/overrides", VIEWER, None);
    assert_eq!(s, 200);
    let listed: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    let on_disk: Vec<i64> = disk.state.overrides.iter().map(|o| o.id).collect();
    assert_eq!(listed, on_disk);
    // And the wire carries what the disk says.
    let expected = rig.expected_frame();
    let universes: Vec<u16> = expected.keys().copied().collect();
    let mut last = None;
    let seen = common::wait_until(Duration::from_secs(10), || {
        last = common::collect_frame(&rig.rx, &universes, Duration::from_secs(2));
        last.as_ref() == Some(&expected)
    })
    .is_some();
    assert!(seen, "the wire differs from the store's state");
}

#[test]
fn a_retried_write_with_an_idempotency_key_is_answered_once() {
    let rig = Rig::start(ApiLimits::default(), false);
    let body = json!({"target": "square", "blackout": true, "note": "ambulance"});
    let key = [("Idempotency-Key", "3f1c2a9e-retry-1")];
    let (s1, h1, b1) = rig.request("POST", "/api/overrides", Some(OPERATOR), &key, Some(&body));
    assert_eq!(s1, 201, "{b1}");
    assert!(!h1.to_ascii_lowercase().contains("idempotent-replayed"));
    let (s2, h2, b2) = rig.request("POST", "/api/overrides", Some(OPERATOR), &key, Some(&body));
    assert_eq!(s2, 201);
    assert_eq!(b2, b1, "a retry gets the first answer");
    assert!(
        h2.to_ascii_lowercase()
            .contains("idempotent-replayed: true"),
        "{h2}"
    );
    assert_eq!(rig.persisted().state.overrides.len(), 1);
    // The same key for another request is refused, naming the header.
    let other = json!({"target": "avenue", "blackout": true});
    let (s, _, b) = rig.request("POST", "/api/overrides", Some(OPERATOR), &key, Some(&other));
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("Idempotency-Key"), "{b}");
    // Keys belong to their token: another token's identical key is its own.
    let (s, _, _) = rig.request("POST", "/api/overrides", Some(ADMIN), &key, Some(&body));
    assert_eq!(s, 201);
    assert_eq!(rig.persisted().state.overrides.len(), 2);
    // A malformed key is a 400 naming it.
    let (s, _, b) = rig.request(
        "POST",
        "/api/overrides",
        Some(OPERATOR),
        &[("Idempotency-Key", "")],
        Some(&body),
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("Idempotency-Key"), "{b}");

    // Releases, masters and scenes replay too, and the key survives a restart.
    let rel = [("Idempotency-Key", "release-all-1")];
    let (s, _, r1) = rig.request("DELETE", "/api/overrides", Some(OPERATOR), &rel, None);
    assert_eq!(s, 200);
    let (_, _, r2) = rig.request("DELETE", "/api/overrides", Some(OPERATOR), &rel, None);
    assert_eq!(r1, r2);
    let m = [("Idempotency-Key", "master-1")];
    let level = json!({"level": 0.4});
    let (s, _, m1) = rig.request("POST", "/api/master", Some(OPERATOR), &m, Some(&level));
    assert_eq!(s, 200);
    let (_, _, m2) = rig.request("POST", "/api/master", Some(OPERATOR), &m, Some(&level));
    assert_eq!(m1, m2);
    let sc = [("Idempotency-Key", "scene-1")];
    let dur = json!({"duration": "10m"});
    let (s, _, t1) = rig.request(
        "POST",
        "/api/scenes/nightly/trigger",
        Some(OPERATOR),
        &sc,
        Some(&dur),
    );
    assert_eq!(s, 201);
    let (_, _, t2) = rig.request(
        "POST",
        "/api/scenes/nightly/trigger",
        Some(OPERATOR),
        &sc,
        Some(&dur),
    );
    assert_eq!(t1, t2);
    assert_eq!(rig.persisted().state.scenes.len(), 1);
    let store = Store::open(&rig.state_dir).unwrap();
    let day_ago = at() - chrono::Duration::hours(23);
    let kept = store
        .idempotent_reply("control-room", "scene-1", day_ago)
        .unwrap();
    assert_eq!(kept.map(|k| k.1.body), Some(t1));

    // A client that lost its connection mid-write and retries with its key
    // ends with exactly one override, whichever way the first attempt went.
    let before = rig.persisted().state.overrides.len();
    for i in 0..10 {
        let k = format!("lost-{i}");
        let body = json!({"target": "bridge", "level": 0.5});
        let req = raw_request(
            "POST",
            "/api/overrides",
            Some(OPERATOR),
            &[("Idempotency-Key", &k)],
            Some(&body),
        );
        send_and_reset(rig.addr, &req, Duration::from_micros(300 * i));
        let (s, _, _) = rig.request(
            "POST",
            "/api/overrides",
            Some(OPERATOR),
            &[("Idempotency-Key", &k)],
            Some(&body),
        );
        assert_eq!(s, 201);
    }
    assert_eq!(rig.persisted().state.overrides.len(), before + 10);
}

/// Read until the server closes the connection or `limit` passes; returns
/// what was read and whether it closed.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&out).into(), true),
        }
    }
    (String::from_utf8_lossy(&out).into(), false)
}

fn short_limits() -> ApiLimits {
    ApiLimits {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..ApiLimits::default()
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn idle_and_slow_connections_are_closed_and_the_excess_refused() {
    let rig = Rig::start(short_limits(), false);
    // Fill the cap with sockets that never send a byte.
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(rig.addr).unwrap())
        .collect();
    // At the cap, a newcomer sheds the oldest connection that holds no
    // token holder's request, and is served.
    let ok = common::wait_until(Duration::from_secs(10), || {
        rig.request("GET", "/api/status", Some(VIEWER), &[], None).0 == 200
    })
    .is_some();
    assert!(ok, "a newcomer at the cap was not served");
    let (_, closed) = read_until_closed(&mut idle[0], Duration::from_secs(1));
    assert!(
        closed,
        "the oldest idle connection was not shed for the newcomer"
    );
    // When every slot holds a token holder's request in flight, a
    // newcomer is refused at once with a fixed 503.
    let body_start = format!(
        "POST /api/master HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"level\""
    );
    let mut extra = None;
    let refused = common::wait_until(Duration::from_secs(10), || {
        let busy: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(rig.addr).unwrap();
                s.write_all(body_start.as_bytes()).unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut s = TcpStream::connect(rig.addr).unwrap();
        let (text, closed) = read_until_closed(&mut s, Duration::from_secs(1));
        drop(busy);
        if text.starts_with("HTTP/1.1 503") && closed {
            extra = Some(text);
            true
        } else {
            false
        }
    })
    .is_some();
    assert!(refused, "a connection beyond the cap was not refused");
    let extra = extra.unwrap();
    assert!(extra.contains("too many open connections"), "{extra}");
    let lower = extra.to_ascii_lowercase();
    for h in [
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "frame-ancestors 'none'",
    ] {
        assert!(lower.contains(h), "the cap's 503 lacks {h}: {extra}");
    }
    // The idle ones are closed by the header timeout (1 s here, 10 s by default).
    for s in &mut idle {
        let (_, closed) = read_until_closed(s, Duration::from_secs(15));
        assert!(closed, "an idle connection was kept open");
    }
    // A slow client trickling its headers is cut off too.
    let mut slow = TcpStream::connect(rig.addr).unwrap();
    slow.set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let start = Instant::now();
    let mut cut = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if (&slow).write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if start.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    if !cut {
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(15));
        cut = closed;
    }
    assert!(cut, "a client trickling headers was never cut off");
    // A kept-alive connection that goes quiet after its answer is closed.
    let mut ka = TcpStream::connect(rig.addr).unwrap();
    ka.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let (text, closed) = read_until_closed(&mut ka, Duration::from_secs(15));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "an idle keep-alive connection was kept open");
    // After the flood, the API answers again.
    let ok = common::wait_until(Duration::from_secs(10), || {
        rig.request("GET", "/api/status", Some(VIEWER), &[], None).0 == 200
    })
    .is_some();
    assert!(ok);
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn oversized_headers_slow_bodies_and_anonymous_floods_are_bounded() {
    let rig = Rig::start(
        ApiLimits {
            unauthenticated_per_s: 1.0,
            unauthenticated_burst: 5,
            ..short_limits()
        },
        true,
    );
    // A 64 KiB header: refused, never buffered.
    let big = "a".repeat(64 * 1024);
    let (s, _, _) = rig.request("GET", "/api/status", Some(VIEWER), &[("X-Big", &big)], None);
    assert!(s == 431 || s == 0, "a 64 KiB header got {s}");
    // A body that never finishes: the request times out with a JSON 503.
    let mut c = TcpStream::connect(rig.addr).unwrap();
    c.write_all(
        format!(
            "POST /api/master HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"level\""
        )
        .as_bytes(),
    )
    .unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(15));
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("longer than 1 s"), "{text}");
    // Anonymous reads are rate-limited per address; token holders are not.
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (s, head, _) = rig.request("GET", "/api/status", None, &[], None);
        if s == 429 {
            assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
        }
        codes.push(s);
    }
    assert!(codes.contains(&429), "{codes:?}");
    assert!(codes[..4].iter().all(|&c| c == 200), "{codes:?}");
    for _ in 0..12 {
        assert_eq!(
            rig.request("GET", "/api/status", Some(VIEWER), &[], None).0,
            200
        );
    }
}

#[test]
fn unknown_methods_do_not_grow_the_metrics() {
    let rig = Rig::start(ApiLimits::default(), false);
    for i in 0..40 {
        let m = format!("BREW{i}");
        let (s, _, _) = rig.request(&m, "/api/status", Some(VIEWER), &[], None);
        assert!(s == 405 || s == 404 || s == 400, "{m}: {s}");
        let (s, _, _) = rig.request("GET", &format!("/no/such/{i}"), Some(VIEWER), &[], None);
        assert_eq!(s, 404);
    }
    let (s, _, metrics) = rig.request("GET", "/metrics", Some(VIEWER), &[], None);
    assert_eq!(s, 200);
    assert!(!metrics.contains("BREW"), "unknown methods became labels");
    assert!(!metrics.contains("/no/such"), "raw paths became labels");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

#[test]
fn the_page_cannot_be_framed_and_foreign_host_names_are_refused() {
    let rig = Rig::start(ApiLimits::default(), true);
    let (s, head, page) = rig.request("GET", "/", None, &[], None);
    assert_eq!(s, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    assert!(!head.contains("unsafe-inline'; ") || !head.contains("script-src 'unsafe-inline'"));
    assert!(!page.contains("<script>"), "inline script on the page");
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name.
    let mut c = TcpStream::connect(rig.addr).unwrap();
    c.write_all(
        b"GET /api/status HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 421"), "{text}");
    assert!(text.contains("\"field\":\"Host\""), "{text}");
    for host in ["localhost:8080", "127.0.0.1", "[::1]:8080"] {
        let mut c = TcpStream::connect(rig.addr).unwrap();
        c.write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let (text, _) = read_until_closed(&mut c, Duration::from_secs(10));
        assert!(text.starts_with("HTTP/1.1 200"), "{host}: {text}");
    }
}

#[test]
fn check_warns_about_exposure_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:0\""));
    let text = text.replacen("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:8080\"", 1);
    // The warnings are the point, not the safety check: 5 s of each show
    // (the least `[safety] seconds` allows) instead of 60.
    std::fs::write(&p, format!("{text}\n[safety]\nseconds = 5\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        err.contains("public_read = true and the API listens on 0.0.0.0:8080"),
        "{err}"
    );
    assert!(err.contains("clear text"), "{err}");
    assert!(err.contains("site.toml:"), "located: {err}");
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn overrides_are_capped_and_lists_are_paged_and_anonymous_plans_bounded() {
    let rig = Rig::start_capped(ApiLimits::default(), true, 5);
    for i in 0..5 {
        let (s, _) = rig.json(
            "POST",
            "/api/overrides",
            OPERATOR,
            Some(json!({"target": "square", "level": 0.5, "note": format!("n{i}")})),
        );
        assert_eq!(s, 201);
    }
    let (s, v) = rig.json(
        "POST",
        "/api/overrides",
        OPERATOR,
        Some(json!({"target": "square", "level": 0.5})),
    );
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("max_overrides = 5"),
        "{v}"
    );
    assert_eq!(rig.persisted().state.overrides.len(), 5);
    // Paging: two at a time, by cursor, covers all five once.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (s, page) = rig.json(
            "GET",
            &format!("/api/overrides?limit=2{after}"),
            VIEWER,
            None,
        );
        assert_eq!(s, 200);
        let ids: Vec<i64> = page
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        if ids.is_empty() {
            break;
        }
        assert!(ids.len() <= 2);
        after = format!("&after={}", ids.last().unwrap());
        seen.extend(ids);
    }
    assert_eq!(seen.len(), 5);
    let (s, v) = rig.json("GET", "/api/overrides?after=x", VIEWER, None);
    assert_eq!((s, v["field"].as_str()), (400, Some("after")));
    // The audit log pages backwards from a cursor.
    let (_, first) = rig.json("GET", "/api/audit?limit=3", ADMIN, None);
    let first: Vec<i64> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first.len(), 3);
    let (_, next) = rig.json(
        "GET",
        &format!("/api/audit?limit=3&before={}", first[2]),
        ADMIN,
        None,
    );
    let next: Vec<i64> = next
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert!(
        next.iter().all(|id| *id < first[2]),
        "{first:?} then {next:?}"
    );
    // Without a token a year of planning is refused; with one it is not
    // (this rig has no planner, so a token gets as far as a 501).
    let (s, _, b) = rig.request("GET", "/api/schedule?days=366", None, &[], None);
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("31"), "{b}");
    let (s, _, _) = rig.request("GET", "/api/schedule?days=366", Some(VIEWER), &[], None);
    assert_ne!(s, 422);
    // A full cap never refuses an emergency: a blackout must get through.
    let (s, v) = rig.json(
        "POST",
        "/api/overrides",
        OPERATOR,
        Some(json!({"target": "*", "blackout": true, "priority": "emergency"})),
    );
    assert_eq!(s, 201, "an emergency past a full cap: {v}");
}

/// With many overrides in force the status stays small: it lists the first
/// 50 (and every emergency one), counts them all and points at the paged
/// list for the rest; the frame still carries what the store holds.
#[test]
fn the_status_summarises_many_overrides_and_points_at_the_paged_list() {
    let rig = Rig::start_capped(ApiLimits::default(), true, 500);
    for i in 0..120 {
        let (s, v) = rig.json(
            "POST",
            "/api/overrides",
            OPERATOR,
            Some(json!({"target": "square", "level": 0.5, "note": format!("n{i}")})),
        );
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = rig.json(
        "POST",
        "/api/overrides",
        OPERATOR,
        Some(json!({"target": "*", "blackout": true, "priority": "emergency"})),
    );
    assert_eq!(s, 201, "{v}");
    let emergency = v["id"].as_i64().unwrap();
    let (s, _) = rig.json("DELETE", "/api/overrides/1", OPERATOR, None);
    assert_eq!(s, 200);

    let (s, status) = rig.json("GET", "/api/status", VIEWER, None);
    assert_eq!(s, 200);
    let listed: Vec<i64> = status["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed.len(), 51, "{listed:?}");
    assert_eq!(listed[..50], (1..=50).collect::<Vec<i64>>()[..]);
    assert_eq!(
        listed[50], emergency,
        "the emergency override is always listed"
    );
    assert_eq!(status["overrides_total"], 121);
    assert_eq!(status["overrides_in_force"], 120);
    assert_eq!(status["emergency"], true);
    let next = status["overrides_next"].as_str().unwrap();
    assert_eq!(next, "/api/overrides?after=50");
    let (s, rest) = rig.json("GET", next, VIEWER, None);
    assert_eq!(s, 200);
    assert_eq!(rest.as_array().unwrap().len(), 71);
    // Colour and blackout overrides are counted, not listed, among the
    // shows playing (level overrides are scales, not shows).
    let mut last = Value::Null;
    let counted = common::wait_until(Duration::from_secs(10), || {
        last = rig.json("GET", "/api/status", VIEWER, None).1;
        last["active_overrides"] == 1
    })
    .is_some();
    assert!(counted, "{}", last["active_shows"]);
    assert!(
        last["active_shows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().starts_with("override-")),
        "{}",
        last["active_shows"]
    );

    // Memory, disk and the compiled control agree after the keyed changes.
    assert_eq!(rig.in_memory(), rig.persisted());
    let expected = rig.expected_frame();
    let universes: Vec<u16> = expected.keys().copied().collect();
    let seen = common::wait_until(Duration::from_secs(10), || {
        common::collect_frame(&rig.rx, &universes, Duration::from_secs(2)).as_ref()
            == Some(&expected)
    })
    .is_some();
    assert!(seen, "the wire differs from the store's state");
}

/// One operator write on a fresh connection; (status, how long it took).
fn operator_write(addr: SocketAddr, i: usize) -> (u16, Duration) {
    let t0 = Instant::now();
    let body = json!({"target": "square", "level": (i % 10) as f64 / 10.0});
    let req = raw_request("POST", "/api/master", Some(OPERATOR), &[], Some(&body));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, t0.elapsed());
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if s.write_all(req.as_bytes()).is_err() {
        return (0, t0.elapsed());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, t0.elapsed())
}

/// A connection begun without waiting for the handshake (a flood does not wait).
fn connect_nowait(addr: SocketAddr) -> Option<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    s.set_nonblocking(true).ok()?;
    match s.connect(&addr.into()) {
        Ok(()) => Some(s),
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == std::io::ErrorKind::WouldBlock => {
            Some(s)
        }
        Err(_) => None,
    }
}

/// Whether the server has closed `s` (non-blocking; false while it is open).
fn closed(s: &socket2::Socket) -> bool {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 512];
    match s.recv(&mut buf) {
        Ok(0) => true,
        Ok(_) => true, // a 503 or a timeout answer: the server is done with it
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::NotConnected
        ),
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn anonymous_connection_floods_never_lock_an_operator_out() {
    // The shipped limits: 256 connections, a 10 s header timeout.
    let rig = Rig::start(ApiLimits::default(), false);
    let addr = rig.addr;
    // 1. 270 idle connections, each reopened as soon as the server closes it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut open: Vec<socket2::Socket> = Vec::new();
            let mut opened = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                open.retain(|s| !closed(s));
                while open.len() < 270 {
                    match connect_nowait(addr) {
                        Some(s) => {
                            open.push(s);
                            opened += 1;
                        }
                        None => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            opened
        })
    };
    // Let the flood fill the cap first.
    std::thread::sleep(Duration::from_millis(500));
    let mut worst = Duration::ZERO;
    let mut failed = Vec::new();
    for i in 0..31 {
        let (s, took) = operator_write(addr, i);
        worst = worst.max(took);
        if s != 200 || took > Duration::from_secs(1) {
            failed.push((i, s, took));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opened = flood.join().unwrap();
    eprintln!("reopening flood: {opened} connections opened; operator's slowest answer {worst:?}");
    assert!(
        opened >= 270,
        "the flood did not run ({opened} connections)"
    );
    assert!(
        failed.is_empty(),
        "operator writes refused or late under the reopening flood: {failed:?}"
    );

    // 2. 2,000 connections opened at once and held.
    let held: Vec<socket2::Socket> = (0..2000).filter_map(|_| connect_nowait(addr)).collect();
    assert!(held.len() >= 1900, "only {} connections opened", held.len());
    let mut worst = Duration::ZERO;
    let mut failed = Vec::new();
    for i in 0..20 {
        let (s, took) = operator_write(addr, i);
        worst = worst.max(took);
        if s != 200 || took > Duration::from_secs(1) {
            failed.push((i, s, took));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("2,000 held connections: operator's slowest answer {worst:?}");
    assert!(
        failed.is_empty(),
        "operator writes refused or late with 2,000 connections held: {failed:?}"
    );
    drop(held);
}

/// The schedule entries of the night of the rig's instant (entry, show).
fn tonight_entries(rig: &Rig) -> (chrono::NaiveDate, Vec<(u64, String)>) {
    let (s, t) = rig.json("GET", "/api/tonight", VIEWER, None);
    assert_eq!(s, 200, "{t}");
    let night = t["night"].as_str().unwrap().parse().unwrap();
    let entries = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entry"].as_u64().unwrap(),
                e["show"].as_str().unwrap().to_string(),
            )
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    (night, entries)
}

/// Skips in force in the store file (a second handle, as a restart reads it).
fn stored_skips(rig: &Rig, night: chrono::NaiveDate) -> Vec<nightscape::store::Skip> {
    Store::open(&rig.state_dir).unwrap().skips(night).unwrap()
}

/// Whether memory (the schedule program's skips) and the store agree on
/// every entry of `night`.
fn skips_agree(rig: &Rig, night: chrono::NaiveDate, entries: &[(u64, String)]) -> bool {
    let stored = stored_skips(rig, night);
    entries.iter().all(|(e, show)| {
        let on_disk = stored
            .iter()
            .any(|s| s.entry as u64 == *e && s.show == *show);
        rig.shared.skips.contains(night, *e as usize, show) == on_disk
    })
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn extends_skips_and_undos_whose_client_resets_are_applied_exactly_as_persisted() {
    let rig = Rig::start(ApiLimits::default(), false);
    let (night, entries) = tonight_entries(&rig);
    assert!(
        !entries.is_empty(),
        "the demo night has no schedule entries"
    );
    let (s, o) = rig.json(
        "POST",
        "/api/overrides",
        OPERATOR,
        Some(json!({"target": "square", "level": 0.5, "ttl": "10m"})),
    );
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_i64().unwrap();
    let expires = |p: &nightscape::store::Persisted| {
        p.state
            .overrides
            .iter()
            .find(|o| o.id == id)
            .and_then(|o| o.expires)
    };
    let mut diverged = Vec::new();
    for i in 0..150usize {
        let req = raw_request(
            "POST",
            &format!("/api/overrides/{id}/extend"),
            Some(OPERATOR),
            &[],
            Some(&json!({"by": "1s"})),
        );
        send_and_reset(
            rig.addr,
            &req,
            Duration::from_micros([0, 100, 300, 1000, 3000][i % 5]),
        );
        let agreed = common::wait_until(Duration::from_secs(2), || {
            expires(&rig.in_memory()) == expires(&rig.persisted())
        })
        .is_some();
        if !agreed {
            diverged.push(format!("extend {i}"));
        }
    }
    // Skips and undos, each reset mid-request.
    let (entry, show) = entries[0].clone();
    for i in 0..150usize {
        let stored = stored_skips(&rig, night);
        let req = match stored.iter().find(|s| s.entry as u64 == entry) {
            Some(s) => raw_request(
                "DELETE",
                &format!("/api/skips/{}", s.id),
                Some(OPERATOR),
                &[],
                None,
            ),
            None => raw_request(
                "POST",
                "/api/skips",
                Some(OPERATOR),
                &[],
                Some(&json!({"entry": entry, "night": night.to_string()})),
            ),
        };
        send_and_reset(
            rig.addr,
            &req,
            Duration::from_micros([0, 100, 300, 1000, 3000][i % 5]),
        );
        let agreed = common::wait_until(Duration::from_secs(2), || {
            skips_agree(&rig, night, &entries)
        })
        .is_some();
        if !agreed {
            diverged.push(format!("skip/undo {i} of {show}"));
            // Put memory back in step so the next round tests itself.
            rig.rt.block_on(rig.state.control.recompile());
        }
    }
    assert!(
        diverged.is_empty(),
        "memory and disk disagree after client resets: {diverged:?}"
    );
}

#[test]
fn two_concurrent_skips_of_one_slot_write_one_row() {
    let rig = Rig::start(ApiLimits::default(), false);
    let (night, entries) = tonight_entries(&rig);
    let (entry, _) = entries[0].clone();
    let body = json!({"entry": entry, "night": night.to_string()});
    let mut duplicated = 0;
    for round in 0..20 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let codes: Vec<(u16, String)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = barrier.clone();
                    let req = raw_request("POST", "/api/skips", Some(OPERATOR), &[], Some(&body));
                    let addr = rig.addr;
                    s.spawn(move || {
                        let mut c = TcpStream::connect(addr).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                        barrier.wait();
                        c.write_all(req.as_bytes()).unwrap();
                        let mut out = Vec::new();
                        let _ = c.read_to_end(&mut out);
                        let text = String::from_utf8_lossy(&out).to_string();
                        let code = text
                            .split_whitespace()
                            .nth(1)
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0);
                        let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
                        (code, body)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut statuses: Vec<u16> = codes.iter().map(|c| c.0).collect();
        statuses.sort();
        let in_force: Vec<_> = stored_skips(&rig, night)
            .into_iter()
            .filter(|s| s.entry as u64 == entry)
            .collect();
        if in_force.len() > 1 {
            duplicated += 1;
        }
        assert!(
            statuses == [201, 409] || statuses == [200, 201],
            "round {round}: {codes:?}"
        );
        let loser = codes.iter().find(|c| c.0 == 409).map(|c| c.1.clone());
        if let Some(b) = loser {
            assert!(b.contains("\"field\":\"entry\""), "{b}");
        }
        // Undo it for the next round.
        for s in in_force {
            let (code, _, _) = rig.request(
                "DELETE",
                &format!("/api/skips/{}", s.id),
                Some(OPERATOR),
                &[],
                None,
            );
            assert_eq!(code, 204);
        }
    }
    assert_eq!(duplicated, 0, "{duplicated} of 20 pairs wrote two rows");
}

#[test]
fn extends_skips_and_undos_retried_under_one_key_apply_once() {
    let rig = Rig::start(ApiLimits::default(), false);
    let (night, entries) = tonight_entries(&rig);
    let (s, o) = rig.json(
        "POST",
        "/api/overrides",
        OPERATOR,
        Some(json!({"target": "square", "level": 0.5, "ttl": "10m"})),
    );
    assert_eq!(s, 201, "{o}");
    let id = o["id"].as_i64().unwrap();
    let path = format!("/api/overrides/{id}/extend");
    let key = [("Idempotency-Key", "extend-once-1")];
    let by = json!({"by": "15m"});
    let answers: Vec<_> = (0..3)
        .map(|_| rig.request("POST", &path, Some(OPERATOR), &key, Some(&by)))
        .collect();
    for (i, (s, head, body)) in answers.iter().enumerate() {
        assert_eq!(*s, 200, "extend {i}: {body}");
        assert_eq!(
            head.to_ascii_lowercase()
                .contains("idempotent-replayed: true"),
            i > 0,
            "{head}"
        );
        assert_eq!(body, &answers[0].2, "a retry gets the first answer");
    }
    let stored = rig
        .persisted()
        .state
        .overrides
        .into_iter()
        .find(|o| o.id == id)
        .unwrap();
    assert_eq!(
        stored.expires,
        Some(at() + chrono::Duration::minutes(25)),
        "three extends under one key moved the end more than once"
    );
    let mem = rig.in_memory().state.overrides;
    assert_eq!(
        mem.iter().find(|o| o.id == id).unwrap().expires,
        stored.expires
    );
    // The same key for another request: 422 naming the header.
    let (s, _, b) = rig.request(
        "POST",
        &path,
        Some(OPERATOR),
        &key,
        Some(&json!({"by": "5m"})),
    );
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("Idempotency-Key"), "{b}");

    // A skip sent three times: one row, the first answer three times.
    let (entry, _) = entries[0].clone();
    let skip = json!({"entry": entry, "night": night.to_string()});
    let key = [("Idempotency-Key", "skip-once-1")];
    let answers: Vec<_> = (0..3)
        .map(|_| rig.request("POST", "/api/skips", Some(OPERATOR), &key, Some(&skip)))
        .collect();
    for (s, _, body) in &answers {
        assert_eq!(*s, 201, "{body}");
        assert_eq!(body, &answers[0].2);
    }
    let rows = stored_skips(&rig, night);
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Undone three times under one key: 204 each time, undone once.
    let key = [("Idempotency-Key", "unskip-once-1")];
    let path = format!("/api/skips/{}", rows[0].id);
    for i in 0..3 {
        let (s, head, _) = rig.request("DELETE", &path, Some(OPERATOR), &key, None);
        assert_eq!(s, 204, "undo {i}");
        assert_eq!(
            head.to_ascii_lowercase()
                .contains("idempotent-replayed: true"),
            i > 0,
            "{head}"
        );
    }
    assert!(stored_skips(&rig, night).is_empty());
}

/// Whether an answer's head carries the headers every answer must carry.
fn has_security_headers(text: &str) -> bool {
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    head.contains("\r\nx-frame-options: deny")
        && head.contains("\r\nx-content-type-options: nosniff")
        && head.contains("\r\ncontent-security-policy: default-src 'self'")
        && head.contains("frame-ancestors 'none'")
}

#[test]
fn answers_from_the_http_layer_carry_the_security_headers_too() {
    let rig = Rig::start(short_limits(), false);
    // hyper's own 400: a header name with a space cannot be parsed.
    let mut c = TcpStream::connect(rig.addr).unwrap();
    c.write_all(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n")
        .unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        has_security_headers(&text),
        "hyper's 400 lacks them: {text}"
    );
    // hyper's own 431: a head over 16 KiB (sent whole, then read back).
    let big = "a".repeat(17 * 1024);
    let mut got = None;
    for _ in 0..10 {
        let mut c = TcpStream::connect(rig.addr).unwrap();
        let req = format!("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n");
        let _ = c.write_all(req.as_bytes());
        let (text, _) = read_until_closed(&mut c, Duration::from_secs(5));
        if text.starts_with("HTTP/1.1 431") {
            got = Some(text);
            break;
        }
    }
    let text = got.expect("no 431 was read back in 10 tries");
    assert!(
        has_security_headers(&text),
        "hyper's 431 lacks them: {text}"
    );
    // A bad version line: 400 or 505 from hyper, with the headers too.
    let mut c = TcpStream::connect(rig.addr).unwrap();
    c.write_all(b"GET /api/status HTTP/7.3\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let (text, _) = read_until_closed(&mut c, Duration::from_secs(5));
    if !text.is_empty() {
        assert!(has_security_headers(&text), "{text}");
    }
    // And axum's answers: 404, 401, 405.
    for (m, p, t) in [
        ("GET", "/no/such", Some(VIEWER)),
        ("GET", "/api/status", None),
        ("PATCH", "/api/status", Some(VIEWER)),
    ] {
        let mut c = TcpStream::connect(rig.addr).unwrap();
        c.write_all(raw_request(m, p, t, &[], None).as_bytes())
            .unwrap();
        let (text, _) = read_until_closed(&mut c, Duration::from_secs(5));
        assert!(has_security_headers(&text), "{m} {p}: {text}");
    }
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn heavy_reads_are_bounded_and_cached_while_the_frame_loop_runs() {
    let rig = Rig::start(ApiLimits::default(), false);
    let addr = rig.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls = [
        "/api/schedule?days=366".to_string(),
        "/api/energy/forecast".to_string(),
        "/api/preview?at=2026-12-31%2020:30".to_string(),
    ];
    // 32 viewers polling the heavy reads for 2 s: each cached read
    // expires (1 s) and is computed again, and the load is on both cores
    // for the whole window. 4 s of it cost twice the CPU (about 1350
    // requests, 71 of them computed) and showed nothing more.
    const WINDOW: Duration = Duration::from_secs(2);
    let clients: Vec<_> = (0..32)
        .map(|i| {
            let stop = stop.clone();
            let mut urls = urls.to_vec();
            // And each its own instant to preview: not cached, bounded.
            urls.push(format!("/api/preview?at=2026-12-31%2021:{:02}", i));
            std::thread::spawn(move || {
                let (mut hits, mut misses, mut bad) = (0, 0, Vec::new());
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let url = &urls[n % urls.len()];
                    n += 1;
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    s.write_all(raw_request("GET", url, Some(VIEWER), &[], None).as_bytes())
                        .unwrap();
                    let mut out = Vec::new();
                    let _ = s.read_to_end(&mut out);
                    let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
                    if !text.starts_with("http/1.1 200") {
                        bad.push(format!("{url}: {}", text.lines().next().unwrap_or("")));
                    } else if text.contains("cache-status: nightscape; hit") {
                        hits += 1;
                    } else {
                        misses += 1;
                    }
                }
                (hits, misses, bad)
            })
        })
        .collect();
    // Meanwhile: the wire's frame intervals and the status endpoint's latency.
    let t0 = Instant::now();
    let mut arrivals: Vec<Instant> = Vec::new();
    let mut first_universe = None;
    let mut status_worst = Duration::ZERO;
    let mut next_status = Instant::now();
    while t0.elapsed() < WINDOW {
        if let Some((u, _, _)) = common::recv_artdmx(&rig.rx) {
            if *first_universe.get_or_insert(u) == u {
                arrivals.push(Instant::now());
            }
        }
        if Instant::now() >= next_status {
            let t = Instant::now();
            let (s, _, _) = rig.request("GET", "/api/status", Some(VIEWER), &[], None);
            assert_eq!(s, 200);
            status_worst = status_worst.max(t.elapsed());
            next_status = Instant::now() + Duration::from_millis(250);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut hits, mut misses, mut bad) = (0, 0, Vec::new());
    for c in clients {
        let (h, m, b) = c.join().unwrap();
        hits += h;
        misses += m;
        bad.extend(b);
    }
    let gaps: Vec<f64> = arrivals
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    let worst_gap = gaps.iter().cloned().fold(0.0, f64::max);
    let fps = (arrivals.len().saturating_sub(1)) as f64
        / (arrivals.last().copied().unwrap_or(t0) - arrivals.first().copied().unwrap_or(t0))
            .as_secs_f64()
            .max(1e-9);
    eprintln!(
        "32 viewers on heavy reads for {WINDOW:?}: {hits} cached answers, {misses} computed; wire {fps:.1} fps, worst interval {worst_gap:.1} ms (debug build, test process); /api/status worst {status_worst:?}"
    );
    assert!(
        bad.is_empty(),
        "heavy reads failed: {:?}",
        &bad[..bad.len().min(5)]
    );
    assert!(hits > 0, "no heavy read was answered from the cache");
    // Each of the 3 shared reads at most once per second of life, plus one
    // preview per client per second (and two seconds' margin): far fewer
    // than were asked.
    let most = (WINDOW.as_secs() as usize + 2) * (3 + 32);
    assert!(
        misses <= most,
        "{misses} heavy reads were computed ({hits} cached)"
    );
    assert!(
        status_worst < Duration::from_secs(2),
        "/api/status took {status_worst:?} under heavy reads"
    );
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_cached_heavy_read_is_never_given_to_a_caller_the_handler_would_refuse() {
    let rig = Rig::start(ApiLimits::default(), true);
    let url = "/api/schedule?days=366";
    let (s, head, year) = rig.request("GET", url, Some(VIEWER), &[], None);
    assert_eq!(s, 200, "{year}");
    assert!(
        !head.to_ascii_lowercase().contains("cache-status"),
        "{head}"
    );
    // Without a token a year is refused, cached or not.
    let (s, _, b) = rig.request("GET", url, None, &[], None);
    assert_eq!(s, 422, "{b}");
    let (s, _, _) = rig.request("GET", url, Some("not-a-token"), &[], None);
    assert_eq!(s, 401);
    // A viewer asking again within the second gets the same answer, cached.
    let (s, head, again) = rig.request("GET", url, Some(VIEWER), &[], None);
    assert_eq!(s, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-status: nightscape; hit"),
        "{head}"
    );
    assert_eq!(again, year);
    // An operator's change empties the cache.
    let (s, _) = rig.json("POST", "/api/master", OPERATOR, Some(json!({"level": 0.8})));
    assert_eq!(s, 200);
    let (_, head, _) = rig.request("GET", url, Some(VIEWER), &[], None);
    assert!(
        !head.to_ascii_lowercase().contains("cache-status"),
        "{head}"
    );
}
