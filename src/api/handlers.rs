//! The endpoints, each annotated for the OpenAPI document.
//!
//! Handlers validate with the same parsers as the files, build the control
//! item, and hand it to the [`ControlService`](super::ControlService); they
//! never write to `shared` themselves. Every handler takes its role
//! extractor before its body so authentication is decided first. Instants
//! come from `shared.clock`, so a daemon on a simulated clock sees
//! overrides expire on simulated time, like everything else it does.

use super::auth::{Admin, Caller, Operator, Viewer};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, IdempotencyHeader};
use super::schedule_view::{ActiveScheduleView, PlanView};
use super::views::*;
use super::{health_status, live, telemetry::ControlCounts, ApiState};
use crate::control::{self, Action, Book, Item, Master, Override, Scene, Written};
use crate::store::FleetItem;
use crate::store::{AuditEntry, IdempotencyKey, StoredReply};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

type ApiResult<T> = Result<T, ApiError>;

/// A write's answer: the reply as built (and stored under an
/// `Idempotency-Key`), or as replayed for a retry.
pub(super) struct Answer {
    reply: StoredReply,
    replayed: bool,
}

impl<R> From<Written<R>> for Answer {
    fn from(w: Written<R>) -> Answer {
        match w {
            Written::Applied(_, reply) => Answer {
                reply,
                replayed: false,
            },
            Written::Replayed(reply) => Answer {
                reply,
                replayed: true,
            },
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> axum::response::Response {
        let status =
            StatusCode::from_u16(self.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.reply.body,
        )
            .into_response();
        if self.replayed {
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
        }
        r
    }
}

/// A reply with `body` as JSON.
pub(super) fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> StoredReply {
    StoredReply {
        status: status.as_u16(),
        body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
    }
}

/// An error as a reply (answers that a retry must see again).
fn error_reply(e: ApiError) -> StoredReply {
    reply(e.status, &e.body)
}

/// The key scoped to its caller, with the fingerprint of the request it
/// must match: `route` and `request`'s canonical JSON (never its `Debug`
/// text, which a build may change; `store/idempotency.rs`).
fn idempotency(
    caller: &Caller,
    header: IdempotencyHeader,
    route: &str,
    request: &impl serde::Serialize,
) -> Option<IdempotencyKey> {
    header
        .0
        .map(|key| IdempotencyKey::new(caller.name.clone(), key, route, request))
}

pub(super) fn audit(
    caller: &Caller,
    action: &str,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: caller.name.clone(),
        action: action.into(),
        detail,
        remote: caller.remote.map(|r| r.to_string()),
    }
}

/// A required text field: at most [`MAX_TEXT`] characters as sent, not
/// blank; trimmed. (The OpenAPI document says the same: `maxLength: 500`,
/// `minLength: 1`, `pattern: \S`.)
fn text_field(field: &str, value: &str) -> ApiResult<String> {
    let t = value.trim();
    if t.is_empty() {
        return Err(ApiError::unprocessable(field, format!("{field} is empty")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::unprocessable(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(t.to_string())
}

fn quantity<T>(
    field: &str,
    q: &Quantity,
    f: impl Fn(&Quantity) -> Result<T, String>,
) -> ApiResult<T> {
    f(q).map_err(|m| ApiError::unprocessable(field, m))
}

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

/// The night plan, as `nightscape schedule` prints it.
#[utoipa::path(get, path = "/api/schedule", tag = "status", params(ScheduleQuery),
    responses((status = 200, body = PlanView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn schedule(
    State(st): State<ApiState>,
    Viewer(caller): Viewer,
    ApiQuery(q): ApiQuery<ScheduleQuery>,
) -> ApiResult<Json<PlanView>> {
    // Spaces only, as the document's pattern says (`views::DATE_PATTERN`).
    let from = match q
        .from
        .as_deref()
        .map(|s| s.trim_matches(' '))
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => Some(super::console::calendar_date(s).ok_or_else(|| {
            ApiError::bad_request("from", format!("`{s}` is not a date like 2026-12-31"))
        })?),
    };
    let days = match q.days.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let d: u32 = s.parse().map_err(|_| {
                ApiError::bad_request("days", format!("`{s}` is not a number of days"))
            })?;
            if !(1..=366).contains(&d) {
                return Err(ApiError::unprocessable("days", "days runs from 1 to 366"));
            }
            // Without a token the costly plans are out of reach: a year
            // computes hundreds of sunsets per request.
            if caller.role.is_none() && d > 31 {
                return Err(ApiError::unprocessable(
                    "days",
                    "days runs from 1 to 31 without a token (up to 366 with one)",
                ));
            }
            Some(d)
        }
    };
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let from = from.unwrap_or_else(|| cfg.schedule.night_of(now));
    // Planning a year computes hundreds of sunsets: keep it off the workers.
    let forced: std::collections::BTreeMap<_, _> = st
        .control
        .forced_modes()
        .await?
        .into_iter()
        .map(|f| (f.night, (f.mode, f.author)))
        .collect();
    let plan = tokio::task::spawn_blocking(move || {
        PlanView::build(&cfg, from, days.unwrap_or(7), &forced)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("planning failed: {e}"),
        )
    })?;
    Ok(Json(plan))
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
    let cells = super::console::flag("cells", q.cells.as_deref())?;
    Ok(Sse::new(live::LiveStream::new(st, cells))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Trigger a show now, on top of the schedule, for a while.
#[utoipa::path(post, path = "/api/scenes/{show}/trigger", tag = "control",
    params(("show" = String, Path, description = "The show's name"), ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    request_body = TriggerRequest,
    responses((status = 201, body = SceneView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "no such show", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn trigger_scene(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiPath(show): ApiPath<String>,
    ApiJson(req): ApiJson<TriggerRequest>,
) -> ApiResult<Answer> {
    let idem = idempotency(
        &caller,
        idem,
        &format!("POST /api/scenes/{show}/trigger"),
        &req,
    );
    let cfg = st.shared.config();
    let duration = quantity("duration", &req.duration, Quantity::duration)?;
    let priority = match &req.priority {
        None => control::SCENE,
        Some(p) => quantity("priority", p, |q| q.priority(control::SCENE))?,
    };
    let fade = req
        .fade
        .as_ref()
        .map(|f| quantity("fade", f, Quantity::duration))
        .transpose()?;
    let target = req
        .target
        .as_deref()
        .map(|t| text_field("target", t))
        .transpose()?;
    let now = st.shared.clock.now();
    let scene = Scene {
        id: 0,
        show: show.clone(),
        target: target.clone(),
        priority,
        started: now,
        ends: crate::control::add_seconds(now, duration),
        fade,
        author: caller.name.clone(),
    };
    control::validate(&cfg, Item::Scene(&scene))?;
    let detail = json!({
        "show": show, "target": target, "priority": priority,
        "duration_s": duration, "fade_s": fade,
    });
    let view_cfg = cfg.clone();
    let written = st
        .control
        .add_scene(
            scene,
            audit(&caller, "scene.trigger", detail, now),
            idem,
            move |s| {
                reply(
                    StatusCode::CREATED,
                    &SceneView::new(s, None, now, &view_cfg),
                )
            },
        )
        .await?;
    if let Written::Applied(scene, _) = &written {
        tracing::info!(id = scene.id, show = %scene.show, by = %caller.name, "scene triggered");
    }
    Ok(written.into())
}

/// Triggered scenes in force.
#[utoipa::path(get, path = "/api/scenes", tag = "control",
    responses((status = 200, body = Vec<SceneView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_scenes(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<SceneView>> {
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let book = st.control.book().await;
    Json(
        book.scenes
            .values()
            .map(|s| {
                SceneView::new(s, book.cancelled_scenes.get(&s.id).copied(), now, &cfg)
                    .with_fleet_id(st.control.store())
            })
            .collect(),
    )
}

/// Stop a scene early: it fades out with its fade time.
#[utoipa::path(delete, path = "/api/scenes/{id}", tag = "control",
    params(("id" = String, Path, description = "The scene's id on this node, or its fleet id (`fleet_id`: the same on every node)"), ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    responses((status = 200, body = SceneView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, description = "An Idempotency-Key reused for another request", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn stop_scene(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, &format!("DELETE /api/scenes/{raw}"), &());
    let id = item_id(&st, FleetItem::Scene, &raw)?;
    let store = st.control.store().clone();
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let fade_cfg = cfg.clone();
    let fade = move |s: &Scene| {
        s.fade
            .or_else(|| fade_cfg.show(&s.show).map(|sh| sh.fade_out))
            .unwrap_or(0.0)
    };
    let view_cfg = cfg.clone();
    let written = st
        .control
        .stop_scene(
            id,
            fade,
            now,
            audit(&caller, "scene.stop", json!({ "id": id }), now),
            idem,
            move |found| match found {
                Some((scene, released)) => reply(
                    StatusCode::OK,
                    &SceneView::new(scene, Some(*released), now, &view_cfg).with_fleet_id(&store),
                ),
                None => error_reply(ApiError::field(
                    StatusCode::NOT_FOUND,
                    "id",
                    format!("no scene {id} is running"),
                )),
            },
        )
        .await?;
    if let Written::Applied(Some((scene, _)), _) = &written {
        tracing::info!(id, show = %scene.show, ends = %scene.ends, by = %caller.name, "scene stopped");
    }
    Ok(written.into())
}

/// Overrides in force (including those fading out).
#[utoipa::path(get, path = "/api/overrides", tag = "control", params(OverridesQuery),
    responses((status = 200, description = "In id order; page with ?after=<last id>", body = Vec<OverrideView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_overrides(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<OverridesQuery>,
) -> ApiResult<Json<Vec<OverrideView>>> {
    let after = cursor("after", q.after.as_deref())?.unwrap_or(i64::MIN);
    let limit = page_limit(q.limit.as_deref(), 1000)?;
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let book = st.control.book().await;
    Ok(Json(
        book.overrides
            .range(after.saturating_add(1)..)
            .map(|(_, o)| o)
            .take(limit)
            .map(|o| {
                OverrideView::new(o, book.cancelled_overrides.get(&o.id).copied(), now, &cfg)
                    .with_fleet_id(st.control.store())
            })
            .collect(),
    ))
}

/// A cursor query value: an id.
fn cursor(field: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(field, format!("{field} is an id (a whole number)"))
        }),
    }
}

/// A page size 1..=1000.
fn page_limit(v: Option<&str>, default: usize) -> ApiResult<usize> {
    match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "limit",
                "limit is a number from 1 to 1000",
            )),
        },
    }
}

/// Override part of the site: a level, a colour, a show or a blackout.
#[utoipa::path(post, path = "/api/overrides", tag = "control",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    request_body = OverrideRequest,
    responses((status = 201, description = "Applied from the next frame", body = OverrideView),
        (status = 400, description = "Malformed JSON, an unknown field or a wrong type", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "As many overrides are in force as the site allows (`[api] max_overrides`, default 1000)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "A value out of range, an unknown target or show", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn create_override(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiJson(req): ApiJson<OverrideRequest>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, "POST /api/overrides", &req);
    let cfg = st.shared.config();
    let target = text_field("target", &req.target)?;
    let mut given: Vec<&str> = Vec::new();
    if req.level.is_some() {
        given.push("level");
    }
    if req.color.is_some() {
        given.push("color");
    }
    if req.show.is_some() {
        given.push("show");
    }
    if req.blackout == Some(true) {
        given.push("blackout");
    }
    if given.is_empty() {
        return Err(ApiError::unprocessable(
            "level",
            "give one of level, color, show or blackout: true",
        ));
    }
    if given.len() > 1 {
        return Err(ApiError::unprocessable(
            given[1],
            format!(
                "give only one of level, color, show or blackout (got {})",
                given.join(" and ")
            ),
        ));
    }
    let action = if let Some(l) = &req.level {
        Action::Level(quantity("level", l, Quantity::level)? as f32)
    } else if let Some(c) = &req.color {
        Action::Color(text_field("color", c)?)
    } else if let Some(s) = &req.show {
        Action::Show(text_field("show", s)?)
    } else {
        Action::Blackout
    };
    let priority = match &req.priority {
        None => control::OVERRIDE,
        Some(p) => quantity("priority", p, |q| q.priority(control::OVERRIDE))?,
    };
    let fade = match &req.fade {
        None if action == Action::Blackout => 0.0,
        None => DEFAULT_FADE_S,
        Some(f) => quantity("fade", f, Quantity::duration)?,
    };
    let ttl = req
        .ttl
        .as_ref()
        .map(|t| quantity("ttl", t, Quantity::duration))
        .transpose()?;
    let note = req
        .note
        .as_deref()
        .map(|n| text_field("note", n))
        .transpose()?;
    let now = st.shared.clock.now();
    let o = Override {
        id: 0,
        target,
        action,
        priority,
        created: now,
        expires: ttl.map(|t| crate::control::add_seconds(now, t)),
        fade,
        note,
        author: caller.name.clone(),
    };
    control::validate(&cfg, Item::Override(&o))?;
    let detail = json!({
        "target": o.target, "action": o.action, "priority": o.priority,
        "ttl_s": ttl, "fade_s": o.fade, "note": o.note,
    });
    let view_cfg = cfg.clone();
    let written = st
        .control
        .add_override(
            o,
            audit(&caller, "override.create", detail, now),
            idem,
            move |o| {
                reply(
                    StatusCode::CREATED,
                    &OverrideView::new(o, None, now, &view_cfg),
                )
            },
        )
        .await?;
    if let Written::Applied(o, _) = &written {
        if o.priority >= control::EMERGENCY {
            tracing::warn!(id = o.id, target = %o.target, action = %o.action, by = %caller.name, "EMERGENCY override created");
        } else {
            tracing::info!(id = o.id, target = %o.target, action = %o.action, priority = o.priority, by = %caller.name, "override created");
        }
    }
    Ok(written.into())
}

/// Release every override in force (emergencies included), or those on a target. Scenes are not released: `DELETE /api/scenes/{id}`.
#[utoipa::path(delete, path = "/api/overrides", tag = "control", params(ReleaseQuery, ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    responses((status = 200, body = ReleasedView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn release_overrides(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiQuery(q): ApiQuery<ReleaseQuery>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, "DELETE /api/overrides", &q.target);
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let target = q
        .target
        .as_deref()
        .map(|t| text_field("target", t))
        .transpose()?;
    let within: Option<BTreeSet<u32>> = match &target {
        None => None,
        Some(t) => Some(control::check_target(&cfg.site, t)?.into_iter().collect()),
    };
    let pick_cfg = cfg.clone();
    let pick_target = target.clone();
    // An override is "on" a target when it names it, or when every fixture
    // it reaches is inside it: releasing the square must not lift a
    // whole-site blackout, but does lift an override on one square fixture.
    let pick = move |o: &Override| match (&pick_target, &within) {
        (Some(t), Some(set)) => {
            o.target == *t || {
                let f = pick_cfg.site.resolve_target(&o.target);
                !f.is_empty() && f.iter().all(|x| set.contains(x))
            }
        }
        _ => true,
    };
    let action = if target.is_some() {
        "override.release_target"
    } else {
        "override.release_all"
    };
    let store = st.control.store().clone();
    let view_cfg = cfg.clone();
    let written = st
        .control
        .release_overrides(
            pick,
            now,
            audit(&caller, action, json!({ "target": target }), now),
            idem,
            move |released| {
                let views: Vec<OverrideView> = released
                    .iter()
                    .map(|o| OverrideView::new(o, Some(now), now, &view_cfg).with_fleet_id(&store))
                    .collect();
                reply(
                    StatusCode::OK,
                    &ReleasedView {
                        count: views.len(),
                        released: views,
                    },
                )
            },
        )
        .await?;
    if let Written::Applied(released, _) = &written {
        let ids: Vec<i64> = released.iter().map(|o| o.id).take(20).collect();
        tracing::info!(count = released.len(), ids = ?ids, target = target.as_deref().unwrap_or("*"), by = %caller.name, "overrides released");
    }
    Ok(written.into())
}

/// An override or scene as a path names it: its id on this node (a
/// number), or the fleet id every node knows it by. 404 when this node
/// knows no such fleet id.
pub(super) fn item_id(st: &ApiState, kind: FleetItem, raw: &str) -> ApiResult<i64> {
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(id);
    }
    let what = match kind {
        FleetItem::Override => "override",
        FleetItem::Scene => "scene",
    };
    st.control.store().local_id(kind, raw).ok_or_else(|| {
        let shown: String = raw.chars().take(80).collect();
        ApiError::field(
            StatusCode::NOT_FOUND,
            "id",
            format!("no {what} here has the id `{shown}` (a number, or a fleet id such as `a-1765000000000000-3`)"),
        )
    })
}

/// Release one override: it fades out with its fade time, then is gone.
#[utoipa::path(delete, path = "/api/overrides/{id}", tag = "control",
    params(("id" = String, Path, description = "The override's id on this node, or its fleet id (`fleet_id`: the same on every node)"), ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    responses((status = 200, body = OverrideView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, description = "An Idempotency-Key reused for another request", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn release_override(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, &format!("DELETE /api/overrides/{raw}"), &());
    let id = item_id(&st, FleetItem::Override, &raw)?;
    let store = st.control.store().clone();
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let not_found = || {
        ApiError::field(
            StatusCode::NOT_FOUND,
            "id",
            format!("no override {id} is in force"),
        )
    };
    let before = {
        let book = st.control.book().await;
        let o = book.overrides.get(&id).cloned();
        o.map(|o| (book.cancelled_overrides.get(&id).copied(), o))
    };
    let Some((was_released, was)) = before else {
        if let Some(k) = &idem {
            // A retry of a release whose override has since faded away.
            if let Some(r) = st.control.replayed(k, now).await? {
                return Ok(Written::<()>::Replayed(r).into());
            }
        }
        return Err(not_found());
    };
    let view_cfg = cfg.clone();
    let written = st
        .control
        .release_overrides(
            move |o| o.id == id,
            now,
            audit(&caller, "override.release", json!({ "id": id }), now),
            idem,
            move |released| match released.first() {
                Some(o) => reply(
                    StatusCode::OK,
                    &OverrideView::new(o, Some(now), now, &view_cfg).with_fleet_id(&store),
                ),
                // Already releasing: as it is.
                None => reply(
                    StatusCode::OK,
                    &OverrideView::new(&was, was_released, now, &view_cfg).with_fleet_id(&store),
                ),
            },
        )
        .await?;
    if let Written::Applied(released, _) = &written {
        if let Some(o) = released.first() {
            tracing::info!(id, target = %o.target, by = %caller.name, "override released");
        }
    }
    Ok(written.into())
}

/// Set the grand master (`target` "*" or absent) or a group master.
#[utoipa::path(post, path = "/api/master", tag = "control",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    request_body = MasterRequest,
    responses((status = 200, body = MastersView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn set_master(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiJson(req): ApiJson<MasterRequest>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, "POST /api/master", &req);
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let level = quantity("level", &req.level, Quantity::level)? as f32;
    let target = match &req.target {
        None => "*".to_string(),
        Some(t) => text_field("target", t)?,
    };
    let master = Master {
        target: target.clone(),
        level,
    };
    control::validate(&cfg, Item::Master(&master))?;
    let detail = json!({ "target": target, "level": level });
    let view_cfg = cfg.clone();
    let written = st
        .control
        .set_master(
            master,
            audit(&caller, "master.set", detail, now),
            idem,
            move |masters| {
                reply(
                    StatusCode::OK,
                    &MastersView {
                        masters: masters
                            .iter()
                            .map(|m| MasterView::new(m, &view_cfg))
                            .collect(),
                    },
                )
            },
        )
        .await?;
    if matches!(written, Written::Applied(..)) {
        tracing::info!(target = %target, level = %format!("{}%", nightscape_core::units::percent(f64::from(level))), by = %caller.name, "master set");
    }
    Ok(written.into())
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
