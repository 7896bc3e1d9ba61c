//! Energy (`/api/energy`): what the lights used, from the per-night
//! record (kWh per night and in total, peak W, cost, CO2, baseline and
//! savings, curfew compliance; JSON, CSV or an SVG chart), and what a
//! night will use (`/api/energy/forecast`), estimated from the schedule.
//!
//! Both are built by `crate::energy::report` (the same reports as
//! `nightscape energy`) on a blocking thread: SQLite reads and a night's
//! simulation stay off the async workers.

use super::auth::Viewer;
use super::common::{night_param, ApiResult};
use super::error::{ApiError, ApiQuery, ErrorBody};
use super::views::*;
use super::ApiState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

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
    let result = crate::tasks::blocking(move || {
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
    let report = crate::tasks::blocking(move || {
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
