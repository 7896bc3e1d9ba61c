//! What the resource modules' handlers share: reading values out of a
//! request the same way everywhere (text fields, quantities, ids, cursors,
//! page sizes, dates, flags) and answering a write the same way everywhere
//! ([`Answer`]: the reply as built, stored under an `Idempotency-Key`
//! with the change, or replayed for a retry; the audit entry; the key
//! scoped to its caller).
//!
//! One copy of each, so an override, a scene and a forced mode refuse a
//! blank text or a bad date with the same words, and a retry of any write
//! is answered the same way.

use super::auth::Caller;
use super::error::{ApiError, IdempotencyHeader};
use super::views::{Quantity, MAX_TEXT};
use super::ApiState;
use crate::config::Config;
use crate::control::Written;
use crate::store::{AuditEntry, FleetItem, IdempotencyKey, StoredReply};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// A write's answer: the reply as built (and stored under an
/// `Idempotency-Key`), or as replayed for a retry.
pub(super) struct Answer {
    reply: StoredReply,
    replayed: bool,
}

impl<R> From<Written<R>> for Answer {
    fn from(w: Written<R>) -> Answer {
        match w {
            Written::Applied(_, reply) => Answer {
                reply,
                replayed: false,
            },
            Written::Replayed(reply) => Answer {
                reply,
                replayed: true,
            },
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> axum::response::Response {
        let status =
            StatusCode::from_u16(self.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.reply.body,
        )
            .into_response();
        if self.replayed {
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
        }
        r
    }
}

/// A reply with `body` as JSON.
pub(super) fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> StoredReply {
    StoredReply {
        status: status.as_u16(),
        body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
    }
}

/// An error as a reply (answers that a retry must see again).
pub(super) fn error_reply(e: ApiError) -> StoredReply {
    reply(e.status, &e.body)
}

/// The key scoped to its caller, with the fingerprint of the request it
/// must match: `route` and `request`'s canonical JSON (never its `Debug`
/// text, which a build may change; `store/idempotency.rs`).
pub(super) fn idempotency(
    caller: &Caller,
    header: IdempotencyHeader,
    route: &str,
    request: &impl serde::Serialize,
) -> Option<IdempotencyKey> {
    header
        .0
        .map(|key| IdempotencyKey::new(caller.name.clone(), key, route, request))
}

pub(super) fn audit(
    caller: &Caller,
    action: &str,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: caller.name.clone(),
        action: action.into(),
        detail,
        remote: caller.remote.map(|r| r.to_string()),
    }
}

/// A required text field: at most [`MAX_TEXT`] characters as sent, not
/// blank; trimmed. (The OpenAPI document says the same: `maxLength: 500`,
/// `minLength: 1`, `pattern: \S`.)
pub(super) fn text_field(field: &str, value: &str) -> ApiResult<String> {
    let t = value.trim();
    if t.is_empty() {
        return Err(ApiError::unprocessable(field, format!("{field} is empty")));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::unprocessable(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(t.to_string())
}

pub(super) fn quantity<T>(
    field: &str,
    q: &Quantity,
    f: impl Fn(&Quantity) -> Result<T, String>,
) -> ApiResult<T> {
    f(q).map_err(|m| ApiError::unprocessable(field, m))
}

/// An override or scene as a path names it: its id on this node (a
/// number), or the fleet id every node knows it by. 404 when this node
/// knows no such fleet id.
pub(super) fn item_id(st: &ApiState, kind: FleetItem, raw: &str) -> ApiResult<i64> {
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(id);
    }
    let what = match kind {
        FleetItem::Override => "override",
        FleetItem::Scene => "scene",
    };
    st.control.store().local_id(kind, raw).ok_or_else(|| {
        let shown: String = raw.chars().take(80).collect();
        ApiError::field(
            StatusCode::NOT_FOUND,
            "id",
            format!("no {what} here has the id `{shown}` (a number, or a fleet id such as `a-1765000000000000-3`)"),
        )
    })
}

/// A cursor query value: an id.
pub(super) fn cursor(field: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(field, format!("{field} is an id (a whole number)"))
        }),
    }
}

/// A page size 1..=1000.
pub(super) fn page_limit(v: Option<&str>, default: usize) -> ApiResult<usize> {
    match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "limit",
                "limit is a number from 1 to 1000",
            )),
        },
    }
}

/// A night named by `field` (YYYY-MM-DD), or the night in progress at
/// `now` (noon to noon) when it is absent or blank.
pub(super) fn night_param(
    cfg: &Config,
    field: &str,
    v: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<NaiveDate> {
    // Spaces only, as the document's pattern says (`views::DATE_PATTERN`):
    // a tab in a JSON body's `night` is refused like one in a query value.
    match v.map(|s| s.trim_matches(' ')).filter(|s| !s.is_empty()) {
        None => Ok(cfg.schedule.night_of(now)),
        Some(s) => calendar_date(s).ok_or_else(|| {
            ApiError::bad_request(field, format!("`{s}` is not a date like 2026-12-31"))
        }),
    }
}

/// A date written exactly YYYY-MM-DD, as `views::DATE_PATTERN` says. chrono
/// alone is laxer: it skips whitespace (a tab too) before each number and
/// takes years of other lengths, which the document refuses.
pub(super) fn calendar_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A boolean query flag: absent, `true`/`1` or `false`/`0`.
pub(super) fn flag(field: &str, v: Option<&str>) -> ApiResult<bool> {
    match v.map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            field,
            format!("`{other}` is not true or false"),
        )),
    }
}
