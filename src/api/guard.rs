//! What keeps one client from taking the API (and the daemon's file
//! descriptors) away from everyone else: the accept loop with its
//! connection cap, hyper's header timeout and size limit, a whole-request
//! timeout, and a per-address rate limit for requests without a valid token.
//!
//! We run our own accept loop around hyper instead of `axum::serve`, which
//! has no connection cap, no header timeout and keeps idle connections
//! forever: 1,500 idle sockets under `nofile = 1024` once took the API down
//! and made hot reload fail with "Too many open files". Connections beyond
//! the cap get a fixed 503 written without waiting and are closed at once,
//! so a flood costs no task, no buffer and no timer per extra socket.

use super::{ApiError, ApiState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a connection beyond the cap is told before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 62\r\n\r\n{\"error\":\"too many open connections to nightscape; try again\"}";

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
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
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
    let cap = limits.max_connections.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Refused early: one non-blocking write, then closed.
            let _ = stream.try_write(REFUSED);
            state.metrics.record_refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = limits.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                tower::ServiceExt::oneshot(app.clone(), req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .max_headers(64);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    state.stopping.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    // Wait for every connection to hand its permit back, or for the grace.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("operator API: requests still open after the grace period; closing");
    }
    Ok(())
}
