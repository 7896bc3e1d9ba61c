//! The endpoints, each annotated for the OpenAPI document.
//!
//! Handlers validate with the same parsers as the files, build the control
//! item, and hand it to the [`ControlService`](super::ControlService); they
//! never write to `shared` themselves. Every handler takes its role
//! extractor before its body so authentication is decided first. Instants
//! come from `shared.clock`, so a daemon on a simulated clock sees
//! overrides expire on simulated time, like everything else it does.

use super::auth::{Admin, Viewer};
use super::common::{cursor, flag, page_limit, ApiResult};
use super::error::{ApiError, ApiQuery, ErrorBody};
use super::schedule_view::ActiveScheduleView;
use super::views::*;
use super::{health_status, live, telemetry::ControlCounts, ApiState};
use crate::control::{self, Book, Override};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use std::time::Duration;

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

fn effect_name(e: &nightscape_core::show::effect::Effect) -> String {
    // The name from the effect reference, as show files write it.
    e.name().to_string()
}

/// The site's shows.
#[utoipa::path(get, path = "/api/shows", tag = "site",
    responses((status = 200, body = Vec<ShowView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn shows(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<ShowView>> {
    let cfg = st.shared.config();
    let none_marked = !cfg.shows.values().any(|s| s.scene);
    Json(
        cfg.show_order
            .iter()
            .filter_map(|n| cfg.show(n))
            .map(|s| ShowView {
                name: s.name.clone(),
                scene: s.scene || none_marked,
                fade_in_s: s.fade_in,
                fade_out_s: s.fade_out,
                layers: s
                    .layers
                    .iter()
                    .map(|l| LayerView {
                        target: l.target.clone(),
                        effect: effect_name(&l.effect),
                        level: l.level,
                        fixtures: l.fixtures.len(),
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// The site's groups and their fixtures.
#[utoipa::path(get, path = "/api/groups", tag = "site",
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn groups(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<GroupView>> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    Json(
        site.groups
            .iter()
            .map(|(name, members)| GroupView {
                name: name.clone(),
                fixtures: members
                    .iter()
                    .filter_map(|&i| site.fixtures.get(i as usize).map(|f| f.name.clone()))
                    .collect(),
            })
            .collect(),
    )
}

/// Every fixture with its patch and position.
#[utoipa::path(get, path = "/api/fixtures", tag = "site",
    responses((status = 200, body = Vec<FixtureView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn fixtures(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<FixtureView>> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    let mut groups_of: Vec<Vec<String>> = vec![Vec::new(); site.fixtures.len()];
    for (name, members) in &site.groups {
        for &m in members {
            if let Some(g) = groups_of.get_mut(m as usize) {
                g.push(name.clone());
            }
        }
    }
    Json(
        site.fixtures
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let profile = site.profile_of(f);
                let mode = site.mode_of(f);
                FixtureView {
                    index: i,
                    name: f.name.clone(),
                    profile: profile.key.clone(),
                    profile_name: profile.name.clone(),
                    mode: mode.name.clone(),
                    universe: f.universe,
                    address: f.address,
                    footprint: mode.footprint,
                    position: f.position,
                    cells: f.cell_count,
                    groups: std::mem::take(&mut groups_of[i]),
                }
            })
            .collect(),
    )
}

/// DMX levels of every universe in the last frame sent.
#[utoipa::path(get, path = "/api/frame", tag = "status",
    responses((status = 200, body = FrameView), (status = 401, body = ErrorBody),
        (status = 503, description = "no frame rendered yet", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn frame(State(st): State<ApiState>, _v: Viewer) -> ApiResult<Json<FrameView>> {
    // Copied on demand: the loop publishes frames only while they are read.
    let (frame, at, frames) = st.shared.fresh_frame().await;
    let frame = frame
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no frame rendered yet"))?;
    Ok(Json(FrameView {
        at,
        frames,
        universes: frame
            .universes
            .iter()
            .zip(&frame.data)
            .map(|(u, d)| (u.to_string(), d.to_vec()))
            .collect(),
    }))
}

/// Server-sent events of fixture colours (`event: colors`), at most 10 a
/// second, only when they change (and once a second regardless).
#[utoipa::path(get, path = "/api/live", tag = "status", params(LiveQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "A server-sent event stream (text, not JSON): each event is `event: colors` with a `data:` line holding one `LiveEvent` as JSON (see components/schemas/LiveEvent); comment lines (`:`) keep it alive every 15 s"),
        (status = 400, description = "`cells` is not true, false, 1 or 0", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "Too many requests without a valid token from this address (Retry-After says when to try again)", body = ErrorBody),
        (status = 503, description = "The stream did not start within the request timeout, or the server is stopping", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn live(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<LiveQuery>,
) -> ApiResult<impl IntoResponse> {
    let cells = flag("cells", q.cells.as_deref())?;
    Ok(Sse::new(live::LiveStream::new(st, cells))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "ops", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn audit_log(
    State(st): State<ApiState>,
    _a: Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditView>>> {
    let limit = page_limit(q.limit.as_deref(), 100)?;
    let before = cursor("before", q.before.as_deref())?;
    let rows = st
        .control
        .store()
        .run(move |s| s.audit_page(before, limit))
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: r.entry.at,
                actor: r.entry.actor,
                action: r.entry.action,
                detail: r.entry.detail,
                remote: r.entry.remote,
            })
            .collect(),
    ))
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn metrics(State(st): State<ApiState>, _v: Viewer) -> impl IntoResponse {
    let cfg = st.shared.config();
    let book = st.control.book().await;
    let counts = ControlCounts {
        overrides: book.overrides.size(),
        scenes: book.scenes.size(),
        masters: book.masters.len(),
        target_fps: cfg.site.fps,
        actual_fps: st.fps(),
        power_w: st.power_w(),
    };
    let stats = st
        .shared
        .stats
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let body = st.metrics.render(&stats, counts);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// The energy report from the record: per night and total kWh, peak W,
/// cost, CO2, baseline and savings, curfew compliance; JSON, CSV or an SVG
/// chart (kWh per night stacked by group).
#[utoipa::path(get, path = "/api/energy", tag = "status", params(EnergyQuery),
    responses((status = 200, description = "the report in the asked format"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 501, description = "no energy record connected", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn energy(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<EnergyQuery>,
) -> ApiResult<axum::response::Response> {
    let Some(dir) = st.energy_state.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no energy record connected",
        ));
    };
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    // SQLite reads and report building stay off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        crate::energy::report::http(
            &dir,
            &cfg,
            q.from.as_deref(),
            q.to.as_deref(),
            q.group.as_deref(),
            q.format.as_deref(),
            now,
        )
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("energy report failed: {e}"),
        )
    })?;
    match result {
        Ok((content_type, body)) => {
            Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
        }
        Err(e) if e.is_bad_request() => Err(ApiError::unprocessable(
            e.field().unwrap_or("query"),
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}

/// Liveness: 200 while frames advance, 503 when the loop has stalled. No token needed.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)))]
pub(super) async fn healthz(State(st): State<ApiState>) -> HealthView {
    let (status, frames) = health_status(&st);
    HealthView { status, frames }
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
