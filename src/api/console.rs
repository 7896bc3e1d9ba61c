//! The endpoints the operator console needs beyond the control API: the
//! site plan for the map (`/api/site`), who the token is (`/api/whoami`),
//! one night's timeline (`/api/tonight`) and time travel (`/api/preview`).
//!
//! The preview renders through the daemon's own [`FrameBuilder`] pipeline
//! (schedule, curfew caps, power budgets, and optionally the operator
//! control in force) into a private frame: it never touches the frame loop
//! or the outputs, so scrubbing through a night cannot light a street.

use super::auth::Viewer;
use super::common::{night_param, ApiResult};
use super::error::{ApiError, ApiQuery, ErrorBody};
use super::views::*;
use super::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

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
