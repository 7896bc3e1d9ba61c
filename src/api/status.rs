//! How the controller is doing: its status (`/api/status`: clock, what
//! plays, the operator control in force, outputs, frame rate, power,
//! reload, clock sync), liveness (`/healthz`, for a supervisor; no token),
//! its alarms (`/api/alarms`) and the fleet as this node sees it
//! (`/api/fleet`).
//!
//! Reads only, each a snapshot of `shared`, the control book and the
//! fleet view taken under their own short locks. The status stays a few
//! kilobytes however many overrides are in force ([`STATUS_OVERRIDES`]);
//! `/api/overrides` pages through the rest.

use super::auth::Viewer;
use super::error::ErrorBody;
use super::schedule_view::ActiveScheduleView;
use super::views::*;
use super::ApiState;
use crate::control::{self, Book, Override};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::{Duration, Instant};

/// Status of the whole controller.
#[utoipa::path(get, path = "/api/status", tag = "status",
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn status(State(st): State<ApiState>, _v: Viewer) -> Json<StatusView> {
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let book = st.control.book().await;
    let (active_shows, active_overrides, outputs, frames, late, last) = match st.shared.stats.lock()
    {
        Ok(s) => (
            s.active_shows.clone(),
            s.active_overrides,
            s.outputs.iter().map(OutputView::from).collect(),
            s.frames,
            s.late_frames,
            s.last_instant,
        ),
        Err(_) => (Vec::new(), 0, Vec::new(), 0, 0, None),
    };
    let (overrides, overrides_next) = status_overrides(&book);
    let site = &cfg.site;
    let simulated = matches!(st.shared.clock, crate::clock::Clock::Simulated { .. });
    Json(StatusView {
        clock: ClockView {
            now,
            local: now.with_timezone(&site.timezone).to_rfc3339(),
            simulated,
            speed: st.shared.clock.speed(),
        },
        site: SiteView {
            name: site.name.clone(),
            timezone: site.timezone.name().to_string(),
            latitude: site.latitude,
            longitude: site.longitude,
            fixtures: site.fixtures.len(),
            universes: site.universes.clone(),
        },
        active_shows,
        active_overrides,
        schedule: ActiveScheduleView::at(&cfg, now, &st.shared.skips),
        overrides: overrides
            .iter()
            .map(|o| {
                OverrideView::new(o, book.cancelled_overrides.get(&o.id).copied(), now, &cfg)
                    .with_fleet_id(st.control.store())
            })
            .collect(),
        overrides_total: book.overrides.size(),
        overrides_in_force: book.overrides_in_force(),
        overrides_next,
        scenes: book
            .scenes
            .values()
            .map(|s| {
                SceneView::new(s, book.cancelled_scenes.get(&s.id).copied(), now, &cfg)
                    .with_fleet_id(st.control.store())
            })
            .collect(),
        masters: book
            .masters
            .iter()
            .map(|m| MasterView::new(m, &cfg))
            .collect(),
        outputs,
        frames: FramesView {
            target_fps: site.fps,
            actual_fps: st.fps(),
            frames,
            late_frames: late,
            last_instant: last,
        },
        power_w: st.power_w(),
        max_w: cfg.energy.max_w,
        emergency: book.overrides.values().any(|o| {
            o.priority >= control::EMERGENCY && !book.cancelled_overrides.contains_key(&o.id)
        }),
        uptime_s: st.started.elapsed().as_secs_f64(),
        reload: ReloadView::from(&*st.shared.reload.lock().unwrap_or_else(|p| p.into_inner())),
        clock_sync: st
            .fleet
            .as_ref()
            .map(|f| f.lock().unwrap_or_else(|p| p.into_inner()).clock.clone()),
    })
}

/// Overrides `/api/status` lists in full.
pub(super) const STATUS_OVERRIDES: usize = 50;

/// What `/api/status` lists of the overrides in force: the first
/// [`STATUS_OVERRIDES`] in id order, and every emergency override beyond
/// them (an operator must never miss one); and where the rest are, when
/// there are more (`/api/overrides?after=<last id listed>`). The status
/// stays a few kilobytes with thousands of overrides in force.
fn status_overrides(book: &Book) -> (Vec<Override>, Option<String>) {
    let mut out: Vec<Override> = book
        .overrides
        .values()
        .take(STATUS_OVERRIDES)
        .cloned()
        .collect();
    if book.overrides.size() <= STATUS_OVERRIDES {
        return (out, None);
    }
    let last = out.last().map_or(i64::MIN, |o| o.id);
    let next = format!("/api/overrides?after={last}");
    out.extend(
        book.overrides
            .values()
            .skip(STATUS_OVERRIDES)
            .filter(|o| o.priority >= control::EMERGENCY)
            .take(STATUS_OVERRIDES)
            .cloned(),
    );
    (out, Some(next))
}

/// Liveness: 200 while frames advance, 503 when the loop has stalled. No token needed.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)))]
pub(super) async fn healthz(State(st): State<ApiState>) -> HealthView {
    let (status, frames) = health_status(&st);
    HealthView { status, frames }
}

/// Liveness for `/healthz` and the page: "ok" while frames advance.
fn health_status(state: &ApiState) -> (Liveness, u64) {
    let frames = state.shared.stats.lock().map(|s| s.frames).unwrap_or(0);
    let Ok(h) = state.health.lock() else {
        return (Liveness::Ok, frames);
    };
    let recent = |t: Instant| t.elapsed() < Duration::from_secs(5);
    let status = match h.advanced {
        Some(t) if recent(t) => Liveness::Ok,
        // Frames advanced since the last sample but the sampler has not
        // run yet (the first second).
        _ if frames != h.frames && recent(h.sampled) => Liveness::Ok,
        None if state.started.elapsed() < Duration::from_secs(10) => Liveness::Starting,
        _ => Liveness::Stalled,
    };
    (status, frames)
}

impl IntoResponse for HealthView {
    fn into_response(self) -> Response {
        let code = if self.status == Liveness::Stalled {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (code, axum::Json(self)).into_response()
    }
}

/// Active alarms (output or node down, a node on different files, a
/// rejected reload, clock drift, a broker gap) and the recently cleared.
#[utoipa::path(get, path = "/api/alarms", tag = "status",
    responses((status = 200, description = "Active and recently cleared alarms", body = crate::alarms::AlarmsView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn alarms(
    State(st): State<ApiState>,
    _v: Viewer,
) -> Json<crate::alarms::AlarmsView> {
    let (active, recent) = match &st.alarms {
        Some(a) => (a.active(), a.recent()),
        None => (Vec::new(), Vec::new()),
    };
    Json(crate::alarms::AlarmsView { active, recent })
}

/// Every node of the site's fleet as this node sees it: last seen,
/// configuration hash, clock offset, what plays, outputs' health, power
/// and tonight's kWh. A site without `[fleet]` lists this node alone.
#[utoipa::path(get, path = "/api/fleet", tag = "status",
    responses((status = 200, description = "The fleet view"), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn fleet(State(st): State<ApiState>, _v: Viewer) -> Json<serde_json::Value> {
    if let Some(view) = &st.fleet {
        let v = view.lock().map(|v| v.clone()).ok();
        return Json(serde_json::to_value(v).unwrap_or_default());
    }
    let stats = st
        .shared
        .stats
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let cfg = st.shared.config();
    Json(json!({
        "site": cfg.site.name,
        "node": st.shared.node.as_deref(),
        "broker": null,
        "connected": false,
        "nodes": {
            st.shared.node.as_deref().unwrap_or("this"): {
                "status": {
                    "online": true,
                    "playing": stats.active_shows,
                    "outputs": stats.outputs.iter().map(|h| json!({
                        "kind": h.kind, "target": h.target, "state": h.state,
                        "universes": h.universes, "last_error": h.last_error,
                    })).collect::<Vec<_>>(),
                    "power_w": st.power_w(),
                },
            },
        },
    }))
}
