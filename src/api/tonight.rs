//! Forcing one night's mode (`/api/tonight/mode`): an operator says
//! "festival tonight" (or dark, or normal) over the `[[modes]]` rules, for
//! that night only, like skip-tonight. The force is persisted (one per
//! night), audited with who and the mode before → after, undoable, and
//! honours `Idempotency-Key`; the schedule program plays the night in the
//! forced mode from the next frame (it reads forced modes from the same
//! shared handle as skips, [`crate::daemon::Skips`]).

use super::auth::{Caller, Operator, Viewer};
use super::common::Answer;
use super::error::{ApiError, ApiJson, ApiQuery, ErrorBody, IdempotencyHeader};
use super::views::MAX_TEXT;
use super::ApiState;
use crate::config::Config;
use crate::control::Written;
use crate::store::{ForcedMode, IdempotencyKey, StoredReply};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type ApiResult<T> = Result<T, ApiError>;

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
pub struct NightQuery {
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

fn night_param(cfg: &Config, v: Option<&str>, now: DateTime<Utc>) -> ApiResult<NaiveDate> {
    // Spaces only around the date, and exactly YYYY-MM-DD, as the
    // document's date pattern says (chrono alone would skip a tab).
    let night = match v.map(|s| s.trim_matches(' ')).filter(|s| !s.is_empty()) {
        None => cfg.schedule.night_of(now),
        Some(s) => super::common::calendar_date(s).ok_or_else(|| {
            ApiError::bad_request("night", format!("`{s}` is not a date like 2026-12-31"))
        })?,
    };
    if night < cfg.schedule.night_of(now) {
        return Err(ApiError::unprocessable(
            "night",
            format!("the night of {night} is over"),
        ));
    }
    Ok(night)
}

/// The key scoped to its caller, with the fingerprint of the request it
/// must match (`route` and `request`'s canonical JSON).
fn key(
    caller: &Caller,
    header: IdempotencyHeader,
    route: &str,
    request: &impl Serialize,
) -> Option<IdempotencyKey> {
    header
        .0
        .map(|key| IdempotencyKey::new(caller.name.clone(), key, route, request))
}

fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> StoredReply {
    StoredReply {
        status: status.as_u16(),
        body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
    }
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
    let idem = key(&caller, idem, "POST /api/tonight/mode", &req);
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
    let night = night_param(&cfg, req.night.as_deref(), now)?;
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
            super::common::audit(&caller, "schedule.force_mode", detail, now),
            idem,
            move |f| json_reply(StatusCode::CREATED, &ForcedModeView::new(f, &view_cfg)),
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
    let night = night_param(&cfg, q.night.as_deref(), now)?;
    let idem = key(
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
            super::common::audit(&caller, "schedule.unforce_mode", detail, now),
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
                    json_reply(e.status, &e.body)
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
