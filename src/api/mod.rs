//! The operator web API: axum on the daemon's tokio runtime, JSON in and
//! out, bearer tokens with roles, an OpenAPI document generated from the
//! handlers, Prometheus metrics and a small self-contained operator page.
//!
//! The API never touches the frame loop directly: reads come from
//! `Shared` (the configuration, the compiled control, the loop's stats),
//! and every change goes through the [`ControlService`], which persists it
//! to the [`Store`](crate::store::Store) before it swaps a recompiled
//! control into `shared.control` for the next frame. Entry points for the
//! daemon: [`ApiConfig::from_site`], [`ApiState::start`], [`serve`].
//!
//! Handlers live by resource, one module each as an API user names them
//! (`overrides`, `scenes`, `masters`, `schedule`, `site`, `status`,
//! `energy`, `audit`, `devices`, `triggers`, `inputs`; `/api/live` and
//! `/api/frame` in `live` beside the stream, `/metrics` in `telemetry`
//! beside its recorder, `/api/whoami` in `auth`), so everything one
//! resource does is read in one file; what they share (a write's answer,
//! the idempotency key, the audit entry, the request parsers) is in
//! `common`. This module holds the state, the routes and the OpenAPI
//! document they make.

mod audit;
pub mod auth;
mod common;
pub mod config;
mod devices;
mod energy;
pub mod error;
mod guard;
mod inputs;
pub mod listen;
pub mod live;
mod masters;
mod overrides;
mod page;
mod scenes;
mod schedule;
pub mod schedule_view;
mod site;
mod status;
pub mod telemetry;
pub mod triggers;
pub mod views;

pub use crate::control::ControlService;
pub use auth::{Role, Token};
pub use config::ApiConfig;
pub use error::{ApiError, ErrorBody};

use crate::daemon::Shared;
use crate::store::{Store, StoreError};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted (a request is a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;

/// How long shutdown waits for open requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What the server allows a client: timeouts, the connection cap, header
/// size and the rate of requests without a valid token. Defaults are the
/// promises in docs/reliability.md.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiLimits {
    /// From the moment a connection waits for a request head (new or
    /// kept alive) to its last header byte.
    pub header_read_timeout: Duration,
    /// From the request head to the response head (body upload included);
    /// live streams are exempt once they have started.
    pub request_timeout: Duration,
    /// Open connections at most; the next is answered 503 and closed.
    pub max_connections: usize,
    /// Request head size at most (request line and headers).
    pub max_header_bytes: usize,
    /// Requests per second a client address may make without a valid token.
    pub unauthenticated_per_s: f64,
    /// Burst of such requests allowed at once.
    pub unauthenticated_burst: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_header_bytes: 16 * 1024,
            unauthenticated_per_s: 20.0,
            unauthenticated_burst: 60,
        }
    }
}

/// The electrical power now (W), when something measures it.
type PowerFn = Arc<dyn Fn() -> Option<f64> + Send + Sync>;

/// Frame-rate measurement and liveness, sampled once a second.
#[derive(Debug)]
struct Health {
    frames: u64,
    sampled: Instant,
    advanced: Option<Instant>,
    fps: Option<f64>,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub shared: Shared,
    pub control: ControlService,
    pub(crate) auth: Arc<auth::Auth>,
    power: Option<PowerFn>,
    /// The state folder whose energy record `/api/energy` reports.
    pub(crate) energy_state: Option<std::path::PathBuf>,
    metrics: Arc<telemetry::ApiMetrics>,
    health: Arc<Mutex<Health>>,
    /// Set when shutdown begins, so endless streams (`/api/live`) end.
    pub(crate) stopping: Arc<AtomicBool>,
    started: Instant,
    pub(crate) limits: Arc<ApiLimits>,
    pub(crate) rate: Arc<guard::RateLimiter>,
    /// Names accepted in `Host` besides addresses and `localhost`.
    pub(crate) hosts: Arc<Vec<String>>,
    /// The fleet view behind `GET /api/fleet` (None: no `[fleet]`).
    pub(crate) fleet: Option<Arc<Mutex<crate::fleet::FleetView>>>,
    pub(crate) alarms: Option<Arc<crate::alarms::Alarms>>,
    /// Show control behind `/api/triggers` (None: not running).
    pub(crate) triggers: Option<Arc<crate::triggers::ShowControl>>,
    /// Device care (RDM) behind `/api/devices` and `/api/maintenance`.
    pub(crate) devices: Option<Arc<crate::rdm::care::DeviceCare>>,
}

impl ApiState {
    /// Resolve the configured tokens from the environment (logging each
    /// disabled one, never a secret), restore the operator control state
    /// from `store` and swap it into `shared.control`.
    pub async fn start(
        shared: Shared,
        store: Store,
        cfg: &ApiConfig,
    ) -> Result<ApiState, StoreError> {
        let (tokens, warnings) = cfg.resolve_tokens();
        for w in warnings {
            tracing::warn!("{w}");
        }
        if tokens.is_empty() {
            tracing::warn!(
                "no API token is usable: every write will be refused{}",
                if cfg.public_read {
                    ""
                } else {
                    " and so will every read"
                }
            );
        }
        let mut state = ApiState::with_tokens(shared, store, tokens, cfg.public_read).await?;
        state.control = state.control.with_max_overrides(cfg.max_overrides);
        state.hosts = Arc::new(cfg.hosts.clone());
        let limits = ApiLimits {
            max_connections: cfg.max_connections,
            ..ApiLimits::default()
        };
        Ok(state.with_limits(limits))
    }

    /// As [`ApiState::start`], with tokens given directly (tests, tools).
    pub async fn with_tokens(
        shared: Shared,
        store: Store,
        tokens: Vec<Token>,
        public_read: bool,
    ) -> Result<ApiState, StoreError> {
        let control = ControlService::load(shared.clone(), store).await?;
        let frames = shared.stats.lock().map(|s| s.frames).unwrap_or(0);
        Ok(ApiState {
            shared,
            control,
            auth: Arc::new(auth::Auth {
                tokens,
                public_read,
            }),
            power: None,
            energy_state: None,
            metrics: Arc::new(telemetry::ApiMetrics::new()),
            health: Arc::new(Mutex::new(Health {
                frames,
                sampled: Instant::now(),
                advanced: None,
                fps: None,
            })),
            stopping: Arc::default(),
            started: Instant::now(),
            limits: Arc::new(ApiLimits::default()),
            rate: Arc::default(),
            hosts: Arc::default(),
            fleet: None,
            alarms: None,
            triggers: None,
            devices: None,
        })
    }

    /// Serve with these limits instead of the defaults.
    pub fn with_limits(mut self, limits: ApiLimits) -> ApiState {
        self.limits = Arc::new(limits);
        self
    }

    /// Serve `/api/energy` from the energy record in `state_dir`.
    pub fn with_energy(mut self, state_dir: impl Into<std::path::PathBuf>) -> ApiState {
        self.energy_state = Some(state_dir.into());
        self
    }

    /// Connect the electrical power now (W) to `/api/status` and
    /// `/metrics`, e.g. from the energy meter. None = not known.
    pub fn with_power(
        mut self,
        power: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) -> ApiState {
        self.power = Some(Arc::new(power));
        self
    }

    /// Serve this node's alarms at `/api/alarms`.
    pub fn with_alarms(mut self, alarms: Arc<crate::alarms::Alarms>) -> ApiState {
        self.alarms = Some(alarms);
        self
    }

    /// Serve device care at `/api/devices` and `/api/maintenance`.
    pub fn with_devices(mut self, care: Arc<crate::rdm::care::DeviceCare>) -> ApiState {
        self.devices = Some(care);
        self
    }

    /// Serve the site's triggers at `/api/triggers`.
    pub fn with_triggers(mut self, sc: Arc<crate::triggers::ShowControl>) -> ApiState {
        self.triggers = Some(sc);
        self
    }

    /// Serve the fleet view at `/api/fleet`.
    pub fn with_fleet(mut self, view: Arc<Mutex<crate::fleet::FleetView>>) -> ApiState {
        self.fleet = Some(view);
        self
    }

    pub(crate) fn power_w(&self) -> Option<f64> {
        self.power
            .as_ref()
            .and_then(|p| p())
            .filter(|w| w.is_finite())
    }

    /// One housekeeping pass: prune ended items, recompile after a
    /// configuration swap, measure the frame rate. [`serve`] runs it every
    /// second; a daemon without the HTTP server may call it itself.
    pub async fn tick(&self) {
        if let Err(e) = self.control.maintain().await {
            tracing::warn!("operator control housekeeping: {e}");
        }
        let frames = self.shared.stats.lock().map(|s| s.frames).unwrap_or(0);
        if let Ok(mut h) = self.health.lock() {
            let now = Instant::now();
            let dt = now.duration_since(h.sampled).as_secs_f64();
            if frames != h.frames {
                h.advanced = Some(now);
            }
            if dt >= 0.5 {
                h.fps = Some(frames.saturating_sub(h.frames) as f64 / dt);
                h.frames = frames;
                h.sampled = now;
            }
        }
        self.metrics.upkeep();
    }

    /// A frame hook timing the interval between frames into `/metrics`:
    /// push it onto the frame loop's hooks.
    pub fn frame_hook(&self) -> telemetry::FrameTimer {
        telemetry::FrameTimer::new(self.metrics.clone())
    }

    /// The rate the wire saw over the last second (when each frame really
    /// finished going out), so a starved frame loop is never reported at
    /// its configured rate; the frame count's rate before the first second.
    fn fps(&self) -> Option<f64> {
        self.shared
            .wire_fps()
            .or_else(|| self.health.lock().ok().and_then(|h| h.fps))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nightscape operator API",
        description = "Trigger festival scenes, override and black out parts of the site, set masters, and read what the lights do. Errors are {\"error\": \"...\", \"field\": \"...\"}. Reads need a viewer token; operations marked `x-public-read: true` are served without one when the site sets `[api] public_read = true` (this document then lists an empty security requirement beside the bearer one). Changes need an operator token, the audit log an admin token. Text fields are trimmed and must not be empty (`pattern: \\S`), at most 500 characters."
    ),
    // The live stream's events: its response is `text/event-stream` (a
    // string), so the event's shape is listed here rather than as a body.
    components(schemas(views::LiveEvent)),
    modifiers(&BearerScheme),
    tags(
        (name = "status", description = "What the lights are doing"),
        (name = "site", description = "What the site consists of"),
        (name = "control", description = "Scenes, overrides and masters"),
        (name = "ops", description = "Monitoring")
    )
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document and the routes it describes.
fn api_routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::<ApiState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(status::status))
        .routes(routes!(schedule::schedule))
        .routes(routes!(site::shows))
        .routes(routes!(site::groups))
        .routes(routes!(site::fixtures))
        .routes(routes!(live::frame))
        .routes(routes!(live::live))
        .routes(routes!(scenes::trigger_scene))
        .routes(routes!(scenes::list_scenes))
        .routes(routes!(scenes::stop_scene))
        .routes(routes!(
            overrides::list_overrides,
            overrides::create_override,
            overrides::release_overrides
        ))
        .routes(routes!(overrides::release_override))
        .routes(routes!(masters::set_master))
        .routes(routes!(audit::audit_log))
        .routes(routes!(energy::energy))
        .routes(routes!(site::site_map))
        .routes(routes!(site::surfaces))
        .routes(routes!(auth::whoami))
        .routes(routes!(schedule::tonight))
        .routes(routes!(schedule::preview))
        .routes(routes!(overrides::extend_override))
        .routes(routes!(schedule::list_skips, schedule::create_skip))
        .routes(routes!(schedule::undo_skip))
        .routes(routes!(
            schedule::list_forced_modes,
            schedule::force_mode,
            schedule::unforce_mode
        ))
        .routes(routes!(energy::energy_forecast))
        .routes(routes!(telemetry::metrics))
        .routes(routes!(status::healthz))
        .routes(routes!(status::fleet))
        .routes(routes!(status::alarms))
        .routes(routes!(triggers::list_triggers))
        .routes(routes!(triggers::fire_trigger))
        .routes(routes!(inputs::inputs))
        .routes(routes!(devices::devices))
        .routes(routes!(devices::maintenance))
        .routes(routes!(devices::write_device))
        .split_for_parts()
}

/// Reads that need more than a viewer token (`public_read` does not open them).
const ADMIN_READS: &[&str] = &["/api/audit"];

/// Mark the reads `public_read` opens: `x-public-read: true` on every GET a
/// viewer token may make. When this site sets `public_read`, also list an
/// empty security requirement beside the bearer one (a token is optional)
/// and say so in the operation's description.
fn document_public_read(doc: &mut utoipa::openapi::OpenApi, on: bool) {
    use utoipa::openapi::extensions::ExtensionsBuilder;
    use utoipa::openapi::security::SecurityRequirement;
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(op) = item.get.as_mut() else {
            continue;
        };
        let bearer = op
            .security
            .as_ref()
            .is_some_and(|s| s.iter().any(|r| *r != SecurityRequirement::default()));
        if !bearer || ADMIN_READS.contains(&path.as_str()) {
            continue;
        }
        let mark = ExtensionsBuilder::new().add("x-public-read", true).build();
        match op.extensions.as_mut() {
            Some(e) => e.merge(mark),
            None => op.extensions = Some(mark),
        }
        if on {
            if let Some(s) = op.security.as_mut() {
                s.push(SecurityRequirement::default());
            }
            let note = "No token needed on this site: it sets `[api] public_read = true`.";
            op.description = Some(match op.description.take() {
                Some(d) => format!("{d}\n\n{note}"),
                None => note.to_string(),
            });
        }
    }
}

/// The OpenAPI document, as served at `/openapi.json` by a site without
/// `public_read` (public reads are marked `x-public-read`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().1;
    document_public_read(&mut doc, false);
    doc
}

/// The complete router for `state`.
pub fn router(state: ApiState) -> Router {
    let (routes, mut doc) = api_routes();
    document_public_read(&mut doc, state.auth.public_read);
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    routes
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                }
            }),
        )
        .route("/", get(page::page))
        .route("/app.js", get(page::script))
        .route("/app.css", get(page::style))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint: see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method: see /openapi.json",
    )
}

/// Count and time every request, by route (never by raw path: ids and
/// typos would make unbounded label sets).
async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    // Methods outside HTTP's own set would each add a series for ever.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let t0 = Instant::now();
    let res = next.run(req).await;
    state.metrics.record_request(
        &route,
        &method,
        res.status().as_u16(),
        t0.elapsed().as_secs_f64(),
    );
    res
}

/// Serve the API on `listener` until `shutdown` completes, with the
/// once-a-second housekeeping running alongside. Open requests get a few
/// seconds to finish after `shutdown`; live streams end at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "operator API listening (page at http://{addr}/)");
    }
    let app = router(state.clone());
    let housekeeping = {
        let state = state.clone();
        crate::tasks::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !state.stopping.load(Ordering::Relaxed) {
                every.tick().await;
                state.tick().await;
            }
        })
    };
    let result = guard::accept_loop(listener, app, state.clone(), shutdown, SHUTDOWN_GRACE).await;
    state.stopping.store(true, Ordering::Relaxed);
    housekeeping.abort();
    result
}
