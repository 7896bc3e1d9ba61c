//! The audit log (`/api/audit`): every change an operator, a trigger or a
//! crew made, newest first, with who (a
//! token's name, never its secret), from where and what.
//!
//! The one read that needs an admin token (`public_read` never opens it),
//! paged by id with `?before=` so a years-long log is read a page at a time
//! straight from the store.

use super::auth::Admin;
use super::common::{cursor, page_limit, ApiResult};
use super::error::{ApiQuery, ErrorBody};
use super::views::*;
use super::ApiState;
use axum::extract::State;
use axum::Json;

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
