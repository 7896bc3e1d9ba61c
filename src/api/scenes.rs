//! Scenes (`/api/scenes`): a show triggered now, on top of the schedule,
//! for a while (the festival's "start the fountain show"), listed while in
//! force and stopped early with its fade.
//!
//! Shaped as the overrides are ([`super::overrides`]): read with the shared
//! parsers, judged by `control::validate`, handed to the
//! [`ControlService`](super::ControlService), answered through
//! [`Answer`] so a retry with the same `Idempotency-Key` gets the first
//! answer again. A path names a scene by its id on this node or its fleet id.

use super::auth::{Operator, Viewer};
use super::common::{
    audit, error_reply, idempotency, item_id, quantity, reply, text_field, Answer, ApiResult,
};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, IdempotencyHeader};
use super::views::*;
use super::ApiState;
use crate::control::{self, Item, Scene, Written};
use crate::store::FleetItem;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;

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
