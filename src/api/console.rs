//! The endpoints the operator console needs beyond the control API: the
//! site plan for the map (`/api/site`), who the token is (`/api/whoami`),
//! one night's timeline (`/api/tonight`) and time travel (`/api/preview`).
//!
//! The preview renders through the daemon's own [`FrameBuilder`] pipeline
//! (schedule, curfew caps, power budgets, and optionally the operator
//! control in force) into a private frame: it never touches the frame loop
//! or the outputs, so scrubbing through a night cannot light a street.

use super::auth::{Operator, Viewer};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::views::*;
use super::ApiState;
use crate::config::Config;
use crate::control::CompiledControl;
use crate::daemon::{FrameBuilder, FrameHook, Program, Scheduled};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::common::{audit, flag, night_param, reply, ApiResult};

/// An instant as RFC 3339, or site-local `YYYY-MM-DD HH:MM[:SS]` (a `T`
/// instead of the space too, as a browser's datetime-local input sends).
pub fn parse_at(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
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

/// The site plan for the map: paths, groups, fixtures and their cells.
#[utoipa::path(get, path = "/api/site", tag = "site",
    responses((status = 200, body = SiteMapView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn site_map(State(st): State<ApiState>, _v: Viewer) -> Json<SiteMapView> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut grow = |p: [f64; 2]| {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    };
    for p in site.paths.iter().flat_map(|p| p.points.iter()) {
        grow(*p);
    }
    for f in &site.fixtures {
        grow(f.position);
    }
    if !b[0].is_finite() {
        b = [0.0, 0.0, 1.0, 1.0];
    }
    let fixtures = site
        .fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let pixel = site.mode_of(f).pixel && f.cell_count > 1;
            MapFixtureView {
                index: i,
                name: f.name.clone(),
                position: f.position,
                cells: if pixel {
                    let first = f.first_cell as usize;
                    site.cells
                        .get(first..first + f.cell_count as usize)
                        .map(|c| c.iter().map(|c| c.position).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Json(SiteMapView {
        name: site.name.clone(),
        timezone: site.timezone.name().to_string(),
        bounds: b,
        paths: site
            .paths
            .iter()
            .map(|p| PathView {
                name: p.name.clone(),
                points: p.points.clone(),
            })
            .collect(),
        groups: site
            .groups
            .iter()
            .map(|(name, members)| MapGroupView {
                name: name.clone(),
                fixtures: members.clone(),
                max_w: cfg.energy.groups.get(name).and_then(|g| g.max_w),
            })
            .collect(),
        fixtures,
        max_w: cfg.energy.max_w,
        currency: cfg.energy.currency.clone(),
    })
}

/// Who the presented token is (the page shows it and offers controls by role).
#[utoipa::path(get, path = "/api/whoami", tag = "site",
    responses((status = 200, body = WhoamiView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn whoami(Viewer(caller): Viewer) -> Json<WhoamiView> {
    Json(WhoamiView {
        name: caller.name,
        role: caller.role.map(|r| r.name().to_string()),
    })
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
    let view = tokio::task::spawn_blocking(move || {
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
    let view = tokio::task::spawn_blocking(move || {
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
        let cells = super::live::fixture_cells(&cfg.site, frame);
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
                        level: super::live::level_of(&c),
                        cells: c.into_iter().map(super::live::hex).collect(),
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

/// What a night will use, estimated from the schedule (sampled every five minutes).
#[utoipa::path(get, path = "/api/energy/forecast", tag = "status", params(ForecastQuery),
    responses((status = 200, body = ForecastView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn energy_forecast(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> ApiResult<Json<ForecastView>> {
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let night = night_param(&cfg, "night", q.night.as_deref(), now)?;
    let report = tokio::task::spawn_blocking(move || {
        crate::energy::report::forecast(&cfg, night, 1, 300.0, None)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("forecast failed: {e}"),
        )
    })?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(Json(ForecastView {
        night: night.to_string(),
        kwh: report.total.kwh,
        peak_w: report.total.peak_w,
        cost: report.total.cost,
    }))
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
