//! Overrides (`/api/overrides`): what an operator lays over the schedule
//! on part of the site (a level, a colour, a show or a blackout) and its
//! whole life in one place: create, list (paged by id), extend, release
//! one, release all or those on a target.
//!
//! Each handler reads the request with the shared parsers
//! ([`super::common`]), builds the [`Override`], lets `control::validate`
//! judge it and hands it to the [`ControlService`](super::ControlService),
//! which persists it with its audit row before the next frame sees it; a
//! handler never writes to `shared` itself. Every handler takes its role
//! extractor before its body, so authentication is decided first. Instants
//! come from `shared.clock`, so a daemon on a simulated clock sees
//! overrides expire on simulated time, like everything else it does.

use super::auth::{Operator, Viewer};
use super::common::{
    audit, cursor, idempotency, item_id, page_limit, quantity, reply, text_field, Answer, ApiResult,
};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody, IdempotencyHeader};
use super::views::*;
use super::ApiState;
use crate::control::{self, Action, Item, Override, Written};
use crate::store::FleetItem;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use std::collections::BTreeSet;

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
    let pick = move |o: &Override| match (&pick_target, &within) {
        (Some(t), Some(set)) => control::released_by(&pick_cfg.site, t, set, o),
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

/// Give an override more time before it ends.
#[utoipa::path(post, path = "/api/overrides/{id}/extend", tag = "control",
    params(("id" = String, Path, description = "The override's id on this node, or its fleet id (`fleet_id`: the same on every node)")),
    request_body = ExtendRequest,
    responses((status = 200, body = OverrideView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn extend_override(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<ExtendRequest>,
) -> ApiResult<Json<OverrideView>> {
    let id = item_id(&st, FleetItem::Override, &raw)?;
    let by = req
        .by
        .duration()
        .map_err(|m| ApiError::unprocessable("by", m))?;
    if by <= 0.0 {
        return Err(ApiError::unprocessable("by", "by must be more than 0s"));
    }
    let cfg = st.shared.config();
    let now = st.shared.clock.now();
    let detail = serde_json::json!({ "id": id, "by_s": by });
    let answer_cfg = cfg.clone();
    let o = st
        .control
        .extend_override(
            id,
            by,
            audit(&caller, "override.extend", detail, now),
            move |o| {
                reply(
                    StatusCode::OK,
                    &OverrideView::new(o, None, now, &answer_cfg),
                )
            },
        )
        .await?
        .ok_or_else(|| {
            ApiError::field(
                StatusCode::NOT_FOUND,
                "id",
                format!(
                    "no override {id} with an end is in force (released ones cannot be extended)"
                ),
            )
        })?;
    Ok(Json(
        OverrideView::new(&o, None, now, &cfg).with_fleet_id(st.control.store()),
    ))
}
