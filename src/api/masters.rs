//! Masters (`/api/master`): the grand master and the group masters, a
//! ceiling on every level the engine sends to the fixtures they reach
//! (the control room's "everything to 60%" on a hot night).
//!
//! One write that answers with every master in force, so a console that
//! sets one sees them all; it goes through the
//! [`ControlService`](super::ControlService) like an override and honours
//! `Idempotency-Key`.

use super::auth::Operator;
use super::common::{audit, idempotency, quantity, reply, text_field, Answer, ApiResult};
use super::error::{ApiJson, ErrorBody, IdempotencyHeader};
use super::views::*;
use super::ApiState;
use crate::control::{self, Item, Master, Written};
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

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
