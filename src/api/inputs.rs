//! `GET /api/inputs`: the site's inputs as the console's Health tab shows
//! them — each input with where it listens, its state and counters
//! (packets, accepted, malformed, not allowed, refused by the merge rules,
//! last sender), each universe a console may take over with its state
//! (show, console, releasing, suppressed) and sources (priority, winning,
//! age), and each timecode source with its last code and position.
//! Any token (a viewer's too): nothing here changes anything.

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::State;
use axum::Json;

/// The inputs, their consoles and timecode (an empty list on a site
/// without `[[inputs]]`).
#[utoipa::path(get, path = "/api/inputs", tag = "status",
    responses((status = 200, description = "`{inputs: [{name, kind, at, state, error, packets, accepted, malformed, not_allowed, refused, last_sender, last_seen_s}], universes: [{universe, input, state, mode, sources: [{id, name, priority, winning, age_s, packets}]}], timecode: [{source, last, rate, position: {state, seconds}, codes, jumps}]}`"),
        (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn inputs(
    State(_st): State<ApiState>,
    _v: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let view = match crate::inputs::running() {
        Some(i) => serde_json::to_value(i.view()).unwrap_or_default(),
        None => serde_json::json!({ "inputs": [], "universes": [], "timecode": [] }),
    };
    Ok(Json(view))
}
