//! What keeps one client from taking the API (and the daemon's file
//! descriptors) away from everyone else: the accept loop with its
//! connection cap, hyper's header timeout and size limit, a whole-request
//! timeout, and a per-address rate limit for requests without a valid token.
//!
//! At the cap, a new connection sheds the oldest one that holds no token
//! holder's request ([`Conns`]), so anonymous peers, however many sockets
//! they open, never take the slot an operator's request needs.
//!
//! We run our own accept loop around hyper instead of `axum::serve`, which
//! has no connection cap, no header timeout and keeps idle connections
//! forever: 1,500 idle sockets under `nofile = 1024` once took the API down
//! and made hot reload fail with "Too many open files". Connections beyond
//! the cap that can shed no one get a fixed 503 written without waiting and
//! are closed at once, so a flood costs no task, no buffer and no timer per
//! refused socket.

use super::{ApiError, ApiState};
use crate::control::service::{RequestKey, REQUEST_KEY};
use crate::store::{IdempotencyKey, StoredReply};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a connection beyond the cap is told before it is closed (with the
/// security headers every answer carries).
const REFUSED: &[u8] = concat!(
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\n",
    "x-frame-options: DENY\r\n",
    "content-security-policy: default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n",
    "x-content-type-options: nosniff\r\n",
    "referrer-policy: no-referrer\r\n",
    "content-length: 62\r\n\r\n{\"error\":\"too many open connections to nightscape; try again\"}"
)
.as_bytes();

/// Connections the kernel may queue for the accept loop.
const ACCEPT_QUEUE: i32 = 4096;

/// Addresses remembered by the rate limiter at most (a spoofing flood from
/// many addresses must not grow it without bound).
const MAX_TRACKED: usize = 4096;

/// Token buckets per client address, for requests without a valid token.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// Take one request from `ip`'s bucket; `Err(wait)` when it is empty.
    pub(crate) fn take(&self, ip: IpAddr, per_s: f64, burst: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(burst.max(1));
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            // Forget the addresses whose buckets have refilled: they owe nothing.
            map.retain(|_, (level, at)| *level + at.elapsed().as_secs_f64() * per_s < burst);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let (level, at) = map.entry(ip).or_insert((burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * per_s).min(burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            let wait = if per_s > 0.0 {
                (1.0 - *level) / per_s
            } else {
                60.0
            };
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

/// Whether a `Host` header names this server: an IP address (DNS rebinding
/// always uses a name), `localhost`, or a name in `[api] hosts`.
pub(crate) fn host_allowed(host: &str, names: &[String]) -> bool {
    let host = host.trim();
    // Strip the port: "[::1]:8080", "10.0.0.5:8080", "name:8080".
    let bare = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, _)) => return ip.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if bare.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let bare = bare.trim_end_matches('.').to_ascii_lowercase();
    bare == "localhost" || names.contains(&bare)
}

/// Headers on every answer: the page may not be framed (clickjacking),
/// scripts come only from this server, types are not sniffed.
fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

/// Middleware for every request: refuse foreign `Host` names, rate-limit
/// callers without a valid token, bound the time to a response head, and
/// add the security headers.
pub(crate) async fn guard(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let mut r = guarded(state, req, next).await;
    secure_headers(&mut r);
    r
}

async fn guarded(state: ApiState, req: Request, next: Next) -> Response {
    let limits = state.limits.clone();
    if let Some(host) = req.headers().get(header::HOST) {
        let ok = host.to_str().is_ok_and(|h| host_allowed(h, &state.hosts));
        if !ok {
            return ApiError::field(
                StatusCode::MISDIRECTED_REQUEST,
                "Host",
                format!(
                    "Host `{}` is not a name this server answers to: use its address, or add the name to [api] hosts",
                    String::from_utf8_lossy(host.as_bytes())
                ),
            )
            .into_response();
        }
    }
    if !state.auth.knows(req.headers()) {
        if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if let Err(wait) = state.rate.take(
                addr.ip(),
                limits.unauthenticated_per_s,
                limits.unauthenticated_burst,
            ) {
                let secs = wait.as_secs().max(1);
                let mut r = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many requests without a valid token from {}: at most {} a second; retry in {secs} s",
                        addr.ip(),
                        limits.unauthenticated_per_s
                    ),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
        }
    }
    let heavy_route = req.method() == axum::http::Method::GET
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| HEAVY_ROUTES.contains(&m.as_str()));
    let heavy_state = req.extensions().get::<Arc<Heavy>>().cloned();
    let writes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    // An operator's change makes every cached answer stale (a write that
    // completes after its client left is covered by the cache's 1 s life).
    let _clear = writes.then(|| ClearOnDrop(heavy_state.clone()));
    let answer = async {
        match (Idempotent::of(&req), heavy_state) {
            (Some(route), _) => idempotent(&state, route, req, next).await,
            (None, Some(h)) if heavy_route => heavy(&state, h, req, next).await,
            _ => next.run(req).await,
        }
    };

    match tokio::time::timeout(limits.request_timeout, answer).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {} s (a change already accepted still completes; retry with the same Idempotency-Key)",
                limits.request_timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

/// The connections the API holds, oldest first, and which of them may be
/// shed to make room for a newcomer.
///
/// The cap protects file descriptors; what it must not do is let anonymous
/// peers take every slot. A connection that has not (yet) presented a valid
/// token is *anonymous*: when the cap (or its address's share) is reached, a
/// newcomer sheds the oldest anonymous connection instead of being refused,
/// then the oldest idle token holder; a token holder with a request in
/// flight is never shed. A newcomer is always the newest, so an operator's
/// connection lives until `cap` more connections have arrived after it
/// (a flood of idle sockets at 45 a second: over five seconds), ample time
/// to send its request, after which it cannot be shed. Only when every slot
/// holds a token holder's request in flight is a newcomer refused with 503.
#[derive(Debug)]
pub(crate) struct Conns {
    cap: usize,
    per_address: usize,
    next: u64,
    open: std::collections::BTreeMap<u64, Conn>,
    by_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
struct Conn {
    ip: IpAddr,
    state: Arc<ConnState>,
}

/// What the accept loop knows about a connection while it is served.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Requests being handled now.
    in_flight: std::sync::atomic::AtomicUsize,
    /// The latest request carried a token this server knows.
    trusted: std::sync::atomic::AtomicBool,
    /// Told to close (shed for a newcomer).
    shed: tokio::sync::Notify,
}

impl ConnState {
    fn sheddable(&self, rank: u8) -> bool {
        let trusted = self.trusted.load(Ordering::Relaxed);
        match rank {
            0 => !trusted,
            _ => !trusted || self.in_flight.load(Ordering::Relaxed) == 0,
        }
    }
}

impl Conns {
    /// `cap` connections in all; a non-loopback address at most a quarter
    /// of them (loopback is exempt: a reverse proxy on the same machine is
    /// one address for every client).
    pub(crate) fn new(cap: usize) -> Conns {
        let cap = cap.max(1);
        Conns {
            cap,
            per_address: (cap / 4).max(1),
            next: 0,
            open: Default::default(),
            by_ip: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// The oldest connection that may be shed (anonymous ones first), among
    /// those from `ip` when given.
    fn victim(&self, ip: Option<IpAddr>) -> Option<u64> {
        (0..2).find_map(|rank| {
            self.open
                .iter()
                .find(|(_, c)| ip.is_none_or(|ip| c.ip == ip) && c.state.sheddable(rank))
                .map(|(id, _)| *id)
        })
    }

    fn shed(&mut self, id: u64) {
        if let Some(c) = self.remove(id) {
            c.state.shed.notify_one();
        }
    }

    /// Take a slot for a connection from `ip`, shedding another if need be;
    /// `None`: refuse it. Returns the slot's id and how many were shed.
    pub(crate) fn admit(&mut self, ip: IpAddr) -> Option<(u64, Arc<ConnState>, usize)> {
        let mut shed = 0;
        if !ip.is_loopback() && self.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_address {
            let id = self.victim(Some(ip))?;
            self.shed(id);
            shed += 1;
        }
        if self.open.len() >= self.cap {
            let id = self.victim(None)?;
            self.shed(id);
            shed += 1;
        }
        let id = self.next;
        self.next += 1;
        let state = Arc::new(ConnState::default());
        self.open.insert(
            id,
            Conn {
                ip,
                state: state.clone(),
            },
        );
        *self.by_ip.entry(ip).or_insert(0) += 1;
        Some((id, state, shed))
    }

    /// Give the slot back (no-op when it was shed already).
    fn remove(&mut self, id: u64) -> Option<Conn> {
        let c = self.open.remove(&id)?;
        if let Some(n) = self.by_ip.get_mut(&c.ip) {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&c.ip);
            }
        }
        Some(c)
    }
}

/// Gives a connection's slot back when its task ends, however it ends.
struct Slot {
    conns: Arc<Mutex<Conns>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        c.remove(self.id);
    }
}

/// Marks a request in flight on its connection until it is answered.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The writes whose handlers leave the `Idempotency-Key` to this layer and
/// the service ([`crate::control::service::REQUEST_KEY`]); every other write passes
/// its key to the service itself.
#[derive(Debug, Clone, Copy)]
enum Idempotent {
    Extend,
    Skip,
    Unskip,
}

impl Idempotent {
    fn of(req: &Request) -> Option<Idempotent> {
        if !req.headers().contains_key(super::error::IDEMPOTENCY_KEY) {
            return None;
        }
        let route = req.extensions().get::<MatchedPath>()?.as_str();
        match (req.method().as_str(), route) {
            ("POST", "/api/overrides/{id}/extend") => Some(Idempotent::Extend),
            ("POST", "/api/skips") => Some(Idempotent::Skip),
            ("DELETE", "/api/skips/{id}") => Some(Idempotent::Unskip),
            _ => None,
        }
    }
}

/// A stored answer sent again, marked as such.
pub(crate) fn replayed(reply: StoredReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if reply.body.is_empty() {
        status.into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            reply.body,
        )
            .into_response()
    };
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}

/// Serve an extend, skip or undo-skip that carries an `Idempotency-Key`:
/// a retry of a request already answered gets that answer again (checked
/// here, and again by the service under its lock, where the first answer
/// is stored with the change); the same key with another request is a 422.
async fn idempotent(state: &ApiState, _route: Idempotent, req: Request, next: Next) -> Response {
    let key = match super::error::idempotency_header(req.headers()) {
        Ok(Some(k)) => k,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = req.into_parts();
    // Without an operator token the handler refuses it; nothing to replay.
    let Ok(caller) = state.auth.check(&parts, super::auth::Role::Operator) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let bytes = match axum::body::to_bytes(body, super::BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {} bytes",
                    super::BODY_LIMIT
                ),
            )
            .into_response()
        }
    };
    // The body as parsed (its canonical JSON), so a retry that spaces or
    // orders its JSON differently is still the same request; a body that is
    // not JSON (refused by the handler) counts as its text.
    let body = serde_json::from_slice::<serde_json::Value>(&bytes)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into());
    let route = format!("{} {}", parts.method, parts.uri.path());
    let key = IdempotencyKey::new(caller.name, key, &route, &body);
    let now = state.shared.clock.now();
    match state.control.replayed(&key, now).await {
        Ok(Some(reply)) => return replayed(reply),
        Ok(None) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let ambient = Arc::new(RequestKey {
        key: key.clone(),
        replay: Mutex::new(None),
    });
    let req = Request::from_parts(parts, axum::body::Body::from(bytes));
    let r = REQUEST_KEY.scope(ambient.clone(), next.run(req)).await;
    if let Some(reply) = ambient
        .replay
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return replayed(reply);
    }
    // A retry that raced its original can be refused by the handler's own
    // check (already skipped: 409) before it reaches the service: if the
    // original's answer is stored by now, that is the answer.
    if r.status().is_client_error() {
        if let Ok(Some(reply)) = state.control.replayed(&key, now).await {
            return replayed(reply);
        }
    }
    r
}

/// Reads that compute (a night plan, a frame, a forecast): run at most a
/// few at once, and answered from a short-lived cache when they repeat, so
/// viewers polling them cannot take the CPU the frame loop needs.
const HEAVY_ROUTES: &[&str] = &[
    "/api/preview",
    "/api/energy/forecast",
    "/api/schedule",
    "/api/energy",
];

/// How long a heavy read's answer is reused (and never across a
/// configuration reload or an operator's write through the API).
const HEAVY_TTL: Duration = Duration::from_secs(1);

/// Bytes of answers the heavy-read cache keeps at most.
const HEAVY_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The heavy reads' permits and cache, one per server.
#[derive(Debug)]
pub(crate) struct Heavy {
    permits: Arc<tokio::sync::Semaphore>,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    config: Arc<crate::config::Config>,
    at: Instant,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: axum::body::Bytes,
}

impl Heavy {
    /// At most half the cores compute heavy reads at once (at least one):
    /// the frame loop keeps a core of its own.
    pub(crate) fn new() -> Heavy {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Heavy::with_permits((cores / 2).max(1))
    }

    pub(crate) fn with_permits(n: usize) -> Heavy {
        Heavy {
            permits: Arc::new(tokio::sync::Semaphore::new(n.max(1))),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, key: &str, config: &Arc<crate::config::Config>) -> Option<Response> {
        let map = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.get(key)?;
        if c.at.elapsed() > HEAVY_TTL || !Arc::ptr_eq(&c.config, config) {
            return None;
        }
        let mut r = (c.status, c.body.clone()).into_response();
        if let Some(t) = &c.content_type {
            r.headers_mut().insert(header::CONTENT_TYPE, t.clone());
        }
        r.headers_mut()
            .insert("cache-status", HeaderValue::from_static("nightscape; hit"));
        Some(r)
    }

    fn store(&self, key: String, entry: Cached) {
        let mut map = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, c| c.at.elapsed() <= HEAVY_TTL && Arc::ptr_eq(&c.config, &entry.config));
        let used: usize = map.values().map(|c| c.body.len()).sum();
        if used + entry.body.len() <= HEAVY_CACHE_BYTES {
            map.insert(key, entry);
        }
    }

    /// Forget every answer (an operator changed something).
    pub(crate) fn clear(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Serve a heavy read: from the cache when a viewer asks again within
/// [`HEAVY_TTL`], else under a permit, in a task of its own that keeps the
/// permit until the work is done even if the client goes away (an
/// abandoned request must not free a permit while its computation runs).
async fn heavy(state: &ApiState, heavy: Arc<Heavy>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    // Only a caller who may read gets a cached answer or a permit; others
    // go to the handler, which refuses them at once.
    let Ok(caller) = state.auth.check(&parts, super::auth::Role::Viewer) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // Keyed by role too: a handler may answer a caller without a token
    // differently (a year's schedule needs one).
    let key = format!(
        "{} {}",
        caller.role.map_or("public", |r| r.name()),
        parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |p| p.as_str())
    );
    let config = state.shared.config();
    if let Some(r) = heavy.lookup(&key, &config) {
        return r;
    }
    let req = Request::from_parts(parts, body);
    let work = {
        let heavy = heavy.clone();
        async move {
            let Ok(_permit) = heavy.permits.clone().acquire_owned().await else {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            };
            // Another request may have computed it while this one waited.
            if let Some(r) = heavy.lookup(&key, &config) {
                return r;
            }
            let r = next.run(req).await;
            if r.status() != StatusCode::OK {
                return r;
            }
            let (parts, body) = r.into_parts();
            match axum::body::to_bytes(body, HEAVY_CACHE_BYTES).await {
                Ok(bytes) => {
                    heavy.store(
                        key,
                        Cached {
                            config,
                            at: Instant::now(),
                            status: parts.status,
                            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
                            body: bytes.clone(),
                        },
                    );
                    Response::from_parts(parts, axum::body::Body::from(bytes))
                }
                Err(_) => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the answer was larger than the server keeps",
                )
                .into_response(),
            }
        }
    };
    match crate::tasks::detached(work).await {
        Ok(r) => r,
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the read failed: {e}"),
        )
        .into_response(),
    }
}

/// Clears the heavy-read cache when a write's request ends (answered or not).
struct ClearOnDrop(Option<Arc<Heavy>>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.clear();
        }
    }
}

/// Accept connections until `shutdown`, each served by hyper with the
/// configured limits; returns once every connection has closed or the grace
/// period has passed.
pub(crate) async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    // A burst of connections beyond the kernel's accept queue is dropped
    // there (the client's SYN is retried a second later), before this loop
    // can shed anyone: an operator connecting just after 2,000 anonymous
    // sockets waited 1 s with tokio's queue of 1,024. Listening again on a
    // listening socket only changes its queue (Linux caps it at
    // net.core.somaxconn, 4,096 by default).
    if let Err(e) = socket2::SockRef::from(&listener).listen(ACCEPT_QUEUE) {
        tracing::debug!("operator API: cannot enlarge the accept queue: {e}");
    }
    let conns = Arc::new(Mutex::new(Conns::new(limits.max_connections)));
    let heavy = Arc::new(Heavy::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_accept_error: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset
                // before accept: say so at most once a minute, back off a
                // little, and keep serving.
                if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!("operator API cannot accept a connection: {e}");
                    last_accept_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(remote.ip());
        let Some((id, conn_state, shed)) = admitted else {
            // Refused early: one non-blocking write, then closed.
            let _ = stream.try_write(REFUSED);
            state.metrics.record_refused();
            drop(stream);
            continue;
        };
        for _ in 0..shed {
            state.metrics.record_shed();
        }
        let slot = Slot {
            conns: conns.clone(),
            id,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = limits.clone();
        let auth = state.auth.clone();
        let heavy = heavy.clone();
        let mut stop = stop_rx.clone();
        crate::tasks::spawn(async move {
            let _slot = slot;
            let seen = conn_state.clone();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                // A token holder's connection is not shed while it waits
                // for its answer, nor before an anonymous one when idle.
                seen.trusted
                    .store(auth.knows(req.headers()), Ordering::Relaxed);
                seen.in_flight.fetch_add(1, Ordering::Relaxed);
                let flight = InFlight(seen.clone());
                req.extensions_mut().insert(ConnectInfo(remote));
                req.extensions_mut().insert(heavy.clone());
                let answer = tower::ServiceExt::oneshot(app.clone(), req);
                async move {
                    let r = answer.await;
                    drop(flight);
                    r
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .max_headers(64);
            let io = HeadersOnErrors::new(stream);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                // Shed for a newcomer: dropping the connection closes it.
                _ = conn_state.shed.notified() => {}
                _ = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    state.stopping.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    // Wait for every connection to give its slot back, or for the grace.
    let deadline = Instant::now() + grace;
    while conns.lock().unwrap_or_else(|p| p.into_inner()).len() > 0 {
        if Instant::now() >= deadline {
            tracing::warn!("operator API: requests still open after the grace period; closing");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The security headers as raw header lines, for answers written below axum.
const SECURE_LINES: &str = concat!(
    "x-frame-options: DENY\r\n",
    "content-security-policy: default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n",
    "x-content-type-options: nosniff\r\n",
    "referrer-policy: no-referrer\r\n",
);

/// The answer head with the security headers added, when `buf` begins
/// with an answer head written without them: hyper's own 400, 414 and 431
/// for a request it could not parse (axum never sees those; every answer
/// that went through [`guard`] carries `x-frame-options`).
fn with_secure_lines(buf: &[u8]) -> Option<Vec<u8>> {
    if !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &buf[..end + 2];
    if head
        .windows(16)
        .any(|w| w.eq_ignore_ascii_case(b"x-frame-options:"))
    {
        return None;
    }
    let mut out = Vec::with_capacity(buf.len() + SECURE_LINES.len());
    out.extend_from_slice(head);
    out.extend_from_slice(SECURE_LINES.as_bytes());
    out.extend_from_slice(&buf[end + 2..]);
    Some(out)
}

/// The connection as hyper sees it: reads pass through; an answer head that
/// hyper writes by itself gets the security headers (see
/// [`with_secure_lines`]). Such an answer is written whole before hyper is
/// told its bytes were taken, so hyper's accounting is unchanged.
pub(crate) struct HeadersOnErrors<T> {
    inner: T,
    /// Rewritten bytes still to send, how many are sent, and how many of
    /// hyper's bytes they stand for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> HeadersOnErrors<T> {
    pub(crate) fn new(inner: T) -> Self {
        HeadersOnErrors {
            inner,
            pending: None,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> HeadersOnErrors<T> {
    /// Send what is left of a rewritten head (it stays recorded, as sent,
    /// until the write it stands for returns).
    fn push(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some((data, sent, _)) = self.pending.as_mut() {
            if *sent == data.len() {
                break;
            }
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &data[*sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for HeadersOnErrors<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for HeadersOnErrors<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.pending.is_none() {
            match with_secure_lines(buf) {
                Some(out) => self.pending = Some((out, 0, buf.len())),
                None => return std::pin::Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        match self.push(cx) {
            std::task::Poll::Ready(Ok(())) => {
                let n = self.pending.take().map_or(0, |p| p.2);
                std::task::Poll::Ready(Ok(n))
            }
            other => other.map_ok(|()| 0),
        }
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // An answer head is the first slice hyper hands over; writing just
        // that slice is a short write hyper continues from.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if self.pending.is_some() || with_secure_lines(first).is_some() {
                return self.poll_write(cx, first);
            }
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let std::task::Poll::Ready(Err(e)) = self.push(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|(d, sent, _)| *sent < d.len())
        {
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn newcomers_shed_the_oldest_anonymous_connection_never_a_busy_token_holder() {
        let mut c = Conns::new(4);
        let a: Vec<_> = (0..4).map(|_| c.admit(ip("127.0.0.1")).unwrap()).collect();
        // The oldest is a token holder with a request in flight; the next
        // is a token holder between requests; the others are anonymous.
        a[0].1.trusted.store(true, Ordering::Relaxed);
        a[0].1.in_flight.store(1, Ordering::Relaxed);
        a[1].1.trusted.store(true, Ordering::Relaxed);
        let (_, _, shed) = c.admit(ip("127.0.0.1")).unwrap();
        assert_eq!(shed, 1);
        assert!(c.open.contains_key(&a[0].0) && c.open.contains_key(&a[1].0));
        assert!(
            !c.open.contains_key(&a[2].0),
            "the oldest anonymous one goes first"
        );
        let (_, b, _) = c.admit(ip("127.0.0.1")).unwrap();
        assert!(!c.open.contains_key(&a[3].0));
        // With no anonymous one left, the idle token holder, never a busy one.
        for s in [&b].into_iter().chain(c.open.values().map(|c| &c.state)) {
            if !Arc::ptr_eq(s, &a[1].1) {
                s.trusted.store(true, Ordering::Relaxed);
                s.in_flight.store(1, Ordering::Relaxed);
            }
        }
        c.admit(ip("127.0.0.1")).unwrap();
        assert!(!c.open.contains_key(&a[1].0));
        for s in c.open.values() {
            s.state.trusted.store(true, Ordering::Relaxed);
            s.state.in_flight.store(1, Ordering::Relaxed);
        }
        assert!(c.admit(ip("127.0.0.1")).is_none(), "all busy: refused");
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn an_address_beyond_its_share_sheds_its_own_connections_and_loopback_is_exempt() {
        let mut c = Conns::new(8);
        let mine: Vec<_> = (0..2).map(|_| c.admit(ip("10.0.0.9")).unwrap().0).collect();
        let other = c.admit(ip("10.0.0.7")).unwrap().0;
        // 8 / 4 = 2 per address: the third from 10.0.0.9 sheds its oldest.
        let (_, _, shed) = c.admit(ip("10.0.0.9")).unwrap();
        assert_eq!(shed, 1);
        assert!(!c.open.contains_key(&mine[0]) && c.open.contains_key(&other));
        assert_eq!(c.by_ip[&ip("10.0.0.9")], 2);
        // Its own busy token holders are kept: then it is refused.
        for (_, s) in c.open.iter().filter(|(_, s)| s.ip == ip("10.0.0.9")) {
            s.state.trusted.store(true, Ordering::Relaxed);
            s.state.in_flight.store(1, Ordering::Relaxed);
        }
        assert!(c.admit(ip("10.0.0.9")).is_none());
        // A reverse proxy on loopback is one address for every client.
        for _ in 0..5 {
            c.admit(ip("127.0.0.1")).unwrap();
        }
        assert_eq!(c.by_ip[&ip("127.0.0.1")], 5);
    }

    #[test]
    fn only_heads_written_without_the_headers_get_them() {
        let bare =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = with_secure_lines(bare).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\nx-frame-options: DENY\r\n"));
        assert!(text.ends_with("referrer-policy: no-referrer\r\n\r\n"));
        let ours = b"HTTP/1.1 404 Not Found\r\nX-Frame-Options: DENY\r\n\r\n{}";
        assert!(with_secure_lines(ours).is_none());
        assert!(with_secure_lines(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(with_secure_lines(b"{\"HTTP/1.1 400\"}").is_none());
    }
}
