//! The schedule as an operator reads and bends it: the plan of nights
//! (`/api/schedule`, as `nightscape schedule` prints it), one night's
//! timeline (`/api/tonight`) and time travel along it (`/api/preview`),
//! an entry skipped for one night (`/api/skips`) and a night's mode forced
//! over the `[[modes]]` rules (`/api/tonight/mode`).
//!
//! One module because these answer one question, what plays when, and
//! share one handle: skips and forced modes live in
//! [`crate::daemon::Skips`], which the frame loop, the plan, the timeline
//! and the preview all read, so a skip or a force shows everywhere from the
//! next frame. A forced mode is persisted (one per night), audited with who
//! and the mode before → after, undoable, and honours `Idempotency-Key`.
//!
//! The preview renders through the daemon's own [`FrameBuilder`] pipeline
//! (schedule, curfew caps, power budgets, and optionally the operator
//! control in force) into a private frame: it never touches the frame loop
//! or the outputs, so scrubbing through a night cannot light a street.

use super::auth::{Operator, Viewer};
use super::common::{
    audit, calendar_date, flag, idempotency, night_param, reply, Answer, ApiResult,
};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, IdempotencyHeader};
use super::schedule_view::PlanView;
use super::views::*;
use super::{live, ApiState};
use crate::config::Config;
use crate::control::{CompiledControl, Written};
use crate::daemon::{FrameBuilder, FrameHook, Program, Scheduled};
use crate::store::{ForcedMode, StoredReply};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
        Some(s) => Some(calendar_date(s).ok_or_else(|| {
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
    let plan =
        crate::tasks::blocking(move || PlanView::build(&cfg, from, days.unwrap_or(7), &forced))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("planning failed: {e}"),
                )
            })?;
    Ok(Json(plan))
}

fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339()
}

/// One night's timeline: `cfg`'s schedule in the mode the night really
/// plays (an operator's forced mode included), skipped entries marked.
pub(crate) fn tonight_view(
    cfg: &Config,
    night: NaiveDate,
    now: DateTime<Utc>,
    skips: &crate::daemon::Skips,
) -> TonightView {
    let tz = cfg.site.timezone;
    let plan = skips.night(&cfg.schedule, night);
    let (start, end) = cfg.schedule.window(night);
    let curfew = cfg.energy.curfew.as_ref().and_then(|c| {
        crate::energy::limit::curfew_window(&cfg.schedule, night, c).map(|(a, b)| CurfewView {
            start: local(a, tz),
            end: local(b, tz),
            max_level: c.max_level,
        })
    });
    TonightView {
        night: night.to_string(),
        mode: plan.mode.clone(),
        forced: plan.forced,
        start: local(start, tz),
        end: local(end, tz),
        now: local(now, tz),
        sunset: plan.sunset.map(|t| local(t, tz)),
        sunrise: plan.sunrise.map(|t| local(t, tz)),
        civil_dusk: plan.civil_dusk.map(|t| local(t, tz)),
        civil_dawn: plan.civil_dawn.map(|t| local(t, tz)),
        curfew,
        entries: plan
            .entries
            .iter()
            .map(|p| TonightEntry {
                entry: p.entry,
                show: p.show.clone(),
                start: local(p.start, tz),
                end: local(p.end, tz),
                priority: p.priority,
                skipped: skips.contains(night, p.entry, &p.show),
            })
            .collect(),
        unplaced: plan.skipped.clone(),
        visible_now: Vec::new(),
    }
}

/// Per group, the show on top at each fixture among `active` at `at`, by
/// the engine's drawing order: shows are drawn lowest priority first, so
/// the last one drawn with light at a fixture is on top (the higher
/// priority; of equal priorities the later start, as `explain` says).
pub(crate) fn visible_now(
    cfg: &Config,
    active: &[nightscape_core::engine::ActiveShow],
    at: DateTime<Utc>,
) -> Vec<GroupVisibleView> {
    let site = &cfg.site;
    let mut order: Vec<(usize, f32)> = active
        .iter()
        .enumerate()
        .map(|(i, a)| (i, a.opacity(at)))
        .filter(|(_, o)| *o > 0.0)
        .collect();
    order.sort_by_key(|(i, _)| (active[*i].priority, active[*i].started));
    // The top show per fixture: later in `order` overwrites earlier.
    let mut top: Vec<Option<usize>> = vec![None; site.fixtures.len()];
    for &(i, _) in &order {
        let a = &active[i];
        for layer in &a.show.layers {
            for &cell in &layer.cells {
                let Some(c) = site.cells.get(cell as usize) else {
                    continue;
                };
                let f = c.fixture as usize;
                if f < top.len() && a.mask.is_none_or(|m| m.get(f).copied().unwrap_or(false)) {
                    top[f] = Some(i);
                }
            }
        }
    }
    let opacity = |i: usize| order.iter().find(|(j, _)| *j == i).map_or(0.0, |(_, o)| *o);
    site.groups
        .iter()
        .map(|(name, members)| {
            let mut counts: Vec<(usize, usize)> = Vec::new();
            for &f in members {
                if let Some(Some(i)) = top.get(f as usize) {
                    match counts.iter_mut().find(|(j, _)| j == i) {
                        Some(c) => c.1 += 1,
                        None => counts.push((*i, 1)),
                    }
                }
            }
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            GroupVisibleView {
                group: name.clone(),
                fixtures: members.len(),
                shows: counts
                    .into_iter()
                    .map(|(i, n)| VisibleShowView {
                        show: active[i].show.name.clone(),
                        source: ShowSource::of_priority(active[i].priority),
                        fixtures: n,
                        opacity: opacity(i),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One night's timeline, noon to noon: sun, curfew and each entry's runs.
#[utoipa::path(get, path = "/api/tonight", tag = "status", params(TonightQuery),
    responses((status = 200, body = TonightView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn tonight(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<TonightQuery>,
) -> ApiResult<Json<TonightView>> {
    let (cfg, control) = st.shared.snapshot();
    let now = st.shared.clock.now();
    let night = night_param(&cfg, "date", q.date.as_deref(), now)?;
    let skips = st.shared.skips.clone();
    // What is on top now walks every cell of the shows playing: off the
    // async workers for a city-sized site.
    let view = crate::tasks::blocking(move || {
        let mut view = tonight_view(&cfg, night, now, &skips);
        let mut active = Scheduled::with_skips(skips.clone()).active(&cfg, now);
        active.extend(control.active(now));
        view.visible_now = visible_now(&cfg, &active, now);
        view
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("tonight failed: {e}"),
        )
    })?;
    Ok(Json(view))
}

/// An instant as RFC 3339, or site-local `YYYY-MM-DD HH:MM[:SS]` (a `T`
/// instead of the space too, as a browser's datetime-local input sends).
pub(crate) fn parse_at(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let t = t.replacen('T', " ", 1);
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&t, fmt) {
            return Ok(nightscape_core::schedule::plan::local_instant(tz, n));
        }
    }
    Err(format!(
        "`{text}` is not an instant: use RFC 3339 (2026-12-31T20:00:00+08:00) or site-local \"2026-12-31 20:00\""
    ))
}

/// What the site would show at an instant: the daemon's own pipeline into
/// a private frame; nothing is sent.
#[utoipa::path(get, path = "/api/preview", tag = "status", params(PreviewQuery),
    responses((status = 200, body = PreviewView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn preview(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> ApiResult<Json<PreviewView>> {
    let with_control = flag("overrides", q.overrides.as_deref())?;
    let (cfg, control) = st.shared.snapshot();
    let at = parse_at(&q.at, cfg.site.timezone).map_err(|m| ApiError::bad_request("at", m))?;
    let skips = st.shared.skips.clone();
    // A frame of every universe costs a few hundred microseconds: off the
    // async workers all the same.
    let view = crate::tasks::blocking(move || {
        let program = Scheduled::with_skips(skips);
        let mut active = program.active(&cfg, at);
        let none = CompiledControl::default();
        let control: &CompiledControl = if with_control {
            active.extend(control.active(at));
            &control
        } else {
            &none
        };
        let mut hooks: Vec<Box<dyn FrameHook>> = vec![Box::new(crate::energy::Limiter::default())];
        let mut builder = FrameBuilder::new(&cfg.site);
        let frame = builder.build(&cfg, &active, control, &mut hooks, at);
        let cells = live::fixture_cells(&cfg.site, frame);
        PreviewView {
            at: local(at, cfg.site.timezone),
            fixtures: cfg
                .site
                .fixtures
                .iter()
                .zip(cells)
                .map(|(f, c)| {
                    let c = c.unwrap_or_default();
                    PreviewFixture {
                        name: f.name.clone(),
                        level: live::level_of(&c),
                        cells: c.into_iter().map(live::hex).collect(),
                    }
                })
                .collect(),
        }
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("preview failed: {e}"),
        )
    })?;
    Ok(Json(view))
}

/// Schedule entries skipped for a night (from last night on).
#[utoipa::path(get, path = "/api/skips", tag = "control",
    responses((status = 200, body = Vec<SkipView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_skips(
    State(st): State<ApiState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<SkipView>>> {
    Ok(Json(
        st.control
            .skips()
            .await?
            .iter()
            .map(SkipView::from)
            .collect(),
    ))
}

/// Cancel one schedule entry for one night only (rain, an event): every
/// run of it that night is left out, from the next frame.
#[utoipa::path(post, path = "/api/skips", tag = "control",
    request_body = SkipRequest,
    responses((status = 201, body = SkipView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn create_skip(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    ApiJson(req): ApiJson<SkipRequest>,
) -> ApiResult<(StatusCode, Json<SkipView>)> {
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let night = night_param(&cfg, "night", req.night.as_deref(), now)?;
    // The entries of the mode the night really plays in (a forced one too).
    let plan = st.shared.skips.night(&cfg.schedule, night);
    let Some(run) = plan.entries.iter().find(|p| p.entry == req.entry) else {
        return Err(ApiError::unprocessable(
            "entry",
            format!(
                "entry {} does not play on the night of {night} (it has: {})",
                req.entry,
                plan.entries
                    .iter()
                    .map(|p| format!("{} = {}", p.entry, p.show))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let tonight = cfg.schedule.night_of(now);
    if night < tonight {
        return Err(ApiError::unprocessable(
            "night",
            format!("the night of {night} is over"),
        ));
    }
    if st.shared.skips.contains(night, run.entry, &run.show) {
        return Err(ApiError::field(
            StatusCode::CONFLICT,
            "entry",
            format!("{} is already skipped on the night of {night}", run.show),
        ));
    }
    let note = match req.note.as_deref() {
        Some(n) if n.chars().count() > MAX_TEXT => {
            return Err(ApiError::unprocessable(
                "note",
                format!("note is longer than {MAX_TEXT} characters"),
            ))
        }
        Some(n) if n.trim().is_empty() => None,
        Some(n) => Some(n.trim().to_string()),
        None => None,
    };
    let skip = crate::store::Skip {
        id: 0,
        night,
        entry: run.entry,
        show: run.show.clone(),
        created: now,
        author: caller.name.clone(),
        note,
    };
    let detail = serde_json::json!({ "night": night.to_string(), "entry": skip.entry, "show": skip.show, "note": skip.note });
    let skip = st
        .control
        .add_skip(skip, audit(&caller, "schedule.skip", detail, now), |s| {
            reply(StatusCode::CREATED, &SkipView::from(s))
        })
        .await?;
    tracing::info!(id = skip.id, night = %night, show = %skip.show, by = %caller.name, "schedule entry skipped for the night");
    Ok((StatusCode::CREATED, Json(SkipView::from(&skip))))
}

/// Undo a skip: the entry plays again from the next frame (where its
/// time has not passed).
#[utoipa::path(delete, path = "/api/skips/{id}", tag = "control",
    params(("id" = i64, Path, description = "The skip's id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn undo_skip(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let now = st.shared.clock.now();
    let done = st
        .control
        .undo_skip(
            id,
            now,
            audit(
                &caller,
                "schedule.unskip",
                serde_json::json!({ "id": id }),
                now,
            ),
        )
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::field(
            StatusCode::NOT_FOUND,
            "id",
            format!("no skip {id} is in force"),
        ))
    }
}

/// `POST /api/tonight/mode`: force one night's mode.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForceModeRequest {
    /// One of the site's `[[modes]]` names (`GET /api/tonight/mode` lists
    /// them), e.g. "festival", "dark", "normal".
    pub mode: String,
    /// The night, YYYY-MM-DD (default: the night in progress, noon to noon).
    #[schema(pattern = r"^\s*([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?\s*$")]
    pub night: Option<String>,
    /// Why, for the audit log (empty: none).
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// `?night=` of `DELETE /api/tonight/mode`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NightQuery {
    /// The night, YYYY-MM-DD (default: the night in progress).
    pub night: Option<String>,
}

/// A night's mode forced by an operator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ForcedModeView {
    pub id: i64,
    /// The night, YYYY-MM-DD.
    pub night: String,
    /// The forced mode.
    pub mode: String,
    /// The mode the `[[modes]]` rules choose for the night (what undoing
    /// the force returns to).
    pub rules_mode: String,
    pub created: DateTime<Utc>,
    pub author: String,
    pub note: Option<String>,
}

impl ForcedModeView {
    fn new(f: &ForcedMode, cfg: &Config) -> ForcedModeView {
        ForcedModeView {
            id: f.id,
            night: f.night.to_string(),
            mode: f.mode.clone(),
            rules_mode: rules_mode(cfg, f.night),
            created: f.created,
            author: f.author.clone(),
            note: f.note.clone(),
        }
    }
}

/// `GET /api/tonight/mode`: the forces in force and the modes one may force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ForcedModesView {
    /// The night in progress, YYYY-MM-DD.
    pub tonight: String,
    /// Tonight's mode, forced or not.
    pub mode: String,
    /// Whether tonight's mode is forced by an operator.
    pub forced: bool,
    /// The site's declared modes, in rule order.
    pub modes: Vec<String>,
    /// Forces in force from last night on, oldest night first.
    pub forced_nights: Vec<ForcedModeView>,
}

fn rules_mode(cfg: &Config, night: NaiveDate) -> String {
    cfg.schedule
        .mode_of(night)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "default".into())
}

/// `?night=` or a body's `night` for a forced mode: a date (default: the
/// night in progress) whose night is not over.
fn coming_night(cfg: &Config, v: Option<&str>, now: DateTime<Utc>) -> ApiResult<NaiveDate> {
    let night = night_param(cfg, "night", v, now)?;
    if night < cfg.schedule.night_of(now) {
        return Err(ApiError::unprocessable(
            "night",
            format!("the night of {night} is over"),
        ));
    }
    Ok(night)
}

/// Forced modes in force, tonight's mode and the modes one may force.
#[utoipa::path(get, path = "/api/tonight/mode", tag = "control",
    responses((status = 200, body = ForcedModesView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_forced_modes(
    State(st): State<ApiState>,
    _v: Viewer,
) -> ApiResult<Json<ForcedModesView>> {
    let cfg = st.shared.config();
    let tonight = cfg.schedule.night_of(st.shared.clock.now());
    let forced = st.control.forced_modes().await?;
    let now_forced = forced.iter().find(|f| f.night == tonight);
    Ok(Json(ForcedModesView {
        tonight: tonight.to_string(),
        mode: now_forced
            .map(|f| f.mode.clone())
            .unwrap_or_else(|| rules_mode(&cfg, tonight)),
        forced: now_forced.is_some(),
        modes: cfg.schedule.modes.iter().map(|m| m.name.clone()).collect(),
        forced_nights: forced
            .iter()
            .map(|f| ForcedModeView::new(f, &cfg))
            .collect(),
    }))
}

/// Force a night's mode (default: tonight) over the `[[modes]]` rules, for
/// that night only: its entries are chosen in the forced mode from the
/// next frame. A night already forced is forced again (the audit says the
/// mode before and after).
#[utoipa::path(post, path = "/api/tonight/mode", tag = "control",
    request_body = ForceModeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    responses((status = 201, body = ForcedModeView), (status = 400, description = "`mode` is not one of the site's modes, or `night` is not a date", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn force_mode(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiJson(req): ApiJson<ForceModeRequest>,
) -> ApiResult<Answer> {
    let idem = idempotency(&caller, idem, "POST /api/tonight/mode", &req);
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let mode = req.mode.trim();
    if !cfg.schedule.modes.iter().any(|m| m.name == mode) {
        let known: Vec<&str> = cfg.schedule.modes.iter().map(|m| m.name.as_str()).collect();
        return Err(ApiError::bad_request(
            "mode",
            if known.is_empty() {
                format!("unknown mode `{mode}`: the site declares no [[modes]]")
            } else {
                format!("unknown mode `{mode}` (the site has: {})", known.join(", "))
            },
        ));
    }
    let night = coming_night(&cfg, req.night.as_deref(), now)?;
    let note = match req.note.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > MAX_TEXT => {
            return Err(ApiError::unprocessable(
                "note",
                format!("note is longer than {MAX_TEXT} characters"),
            ))
        }
        Some("") | None => None,
        Some(n) => Some(n.to_string()),
    };
    let before = st
        .shared
        .skips
        .forced_mode(night)
        .unwrap_or_else(|| rules_mode(&cfg, night));
    let forced = ForcedMode {
        id: 0,
        night,
        mode: mode.to_string(),
        created: now,
        author: caller.name.clone(),
        note,
    };
    let detail = serde_json::json!({
        "night": night.to_string(), "before": before, "after": mode, "note": forced.note,
    });
    let view_cfg = cfg.clone();
    let written = st
        .control
        .force_mode(
            forced,
            audit(&caller, "schedule.force_mode", detail, now),
            idem,
            move |f| reply(StatusCode::CREATED, &ForcedModeView::new(f, &view_cfg)),
        )
        .await?;
    if let Written::Applied(f, _) = &written {
        tracing::info!(night = %f.night, before = %before, mode = %f.mode, by = %caller.name, "night's mode forced");
    }
    Ok(written.into())
}

/// Undo the mode forced for a night (default: tonight): the `[[modes]]`
/// rules choose again from the next frame.
#[utoipa::path(delete, path = "/api/tonight/mode", tag = "control", params(NightQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe writes: a repeat with the same key (per token, for 24 h) gets the first answer again, with `Idempotent-Replayed: true`; the same key with another request is a 422", min_length = 1, max_length = 255, pattern = r"^[!-~]+$")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn unforce_mode(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    idem: IdempotencyHeader,
    ApiQuery(q): ApiQuery<NightQuery>,
) -> ApiResult<Answer> {
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let night = coming_night(&cfg, q.night.as_deref(), now)?;
    let idem = idempotency(
        &caller,
        idem,
        &format!("DELETE /api/tonight/mode?night={night}"),
        &(),
    );
    let before = st.shared.skips.forced_mode(night);
    let after = rules_mode(&cfg, night);
    let detail =
        serde_json::json!({ "night": night.to_string(), "before": before, "after": after });
    let written = st
        .control
        .unforce_mode(
            night,
            now,
            audit(&caller, "schedule.unforce_mode", detail, now),
            idem,
            move |done| {
                if done {
                    StoredReply {
                        status: StatusCode::NO_CONTENT.as_u16(),
                        body: String::new(),
                    }
                } else {
                    let e = ApiError::field(
                        StatusCode::NOT_FOUND,
                        "night",
                        format!("no mode is forced for the night of {night}"),
                    );
                    reply(e.status, &e.body)
                }
            },
        )
        .await?;
    match &written {
        Written::Applied(false, _) => Err(ApiError::field(
            StatusCode::NOT_FOUND,
            "night",
            format!("no mode is forced for the night of {night}"),
        )),
        Written::Applied(true, _) => {
            tracing::info!(night = %night, back_to = %after, by = %caller.name, "night's forced mode undone");
            Ok(written.into())
        }
        Written::Replayed(_) => Ok(written.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_both_ways() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let a = parse_at("2026-12-31T20:00:00+08:00", tz).unwrap();
        assert_eq!(parse_at("2026-12-31 20:00", tz).unwrap(), a);
        assert_eq!(parse_at("2026-12-31T20:00", tz).unwrap(), a);
        assert_eq!(parse_at("2026-12-31 20:00:00", tz).unwrap(), a);
        assert!(parse_at("tonight", tz).is_err());
        assert!(parse_at("2026-13-01 20:00", tz).is_err());
        assert!(flag("x", Some("maybe")).is_err());
        assert!(flag("x", Some("true")).unwrap());
        assert!(!flag("x", None).unwrap());
    }
}
