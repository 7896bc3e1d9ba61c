//! Errors as the API answers them, `{"error": "...", "field": "..."}` with
//! a 4xx or 5xx status, and the request extractors that produce them.
//!
//! axum's own extractors reject with plain text; an operator's script wants
//! JSON naming the field it got wrong, so bodies, queries and path segments
//! go through the wrappers here instead. Bodies are parsed with
//! `serde_path_to_error`, which is what lets a wrong type deep in a request
//! name its field.

use super::ApiState;
use crate::control::{ControlError, FieldError, Refusal};
use crate::store::StoreError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                field: None,
            },
        }
    }

    pub(crate) fn field(status: StatusCode, field: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                field: Some(field.to_string()),
            },
        }
    }

    pub fn bad_request(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::field(StatusCode::BAD_REQUEST, field, error)
    }

    pub(crate) fn unprocessable(field: &str, error: impl Into<String>) -> ApiError {
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, error)
    }

    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::unprocessable(&e.field, e.message)
    }
}

/// Control's refusals as the API answers them: each kind has its status.
impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::Invalid(f) => f.into(),
            ControlError::NotFound { field, message } => {
                ApiError::field(StatusCode::NOT_FOUND, &field, message)
            }
            ControlError::Conflict {
                field: Some(field),
                message,
            } => ApiError::field(StatusCode::CONFLICT, &field, message),
            ControlError::Conflict {
                field: None,
                message,
            } => ApiError::new(StatusCode::CONFLICT, message),
            ControlError::KeyReused(m) => {
                ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, IDEMPOTENCY_KEY, m)
            }
            ControlError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            ControlError::Store(e) => e.into(),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        ControlError::from(r).into()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.body.error, self.status)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::Duplicate(m) = e {
            // Refused by a unique constraint: a conflict, not a failure.
            return ApiError::new(StatusCode::CONFLICT, m);
        }
        // The change was not persisted, so it was not applied either: say so
        // plainly rather than pretend it worked.
        tracing::error!("state store: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the state store failed, nothing was changed: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The word between the first pair of backticks in a serde message
/// (`unknown field `x``, `missing field `y``).
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// serde's messages end with " at line 1 column 17"; the field name says
/// more to an API client than a column does.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Map a body parse failure to the field it is about.
fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = strip_position(&inner.to_string()).to_string();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON: {message}"),
        ),
        Category::Data => {
            // Unknown and missing fields are reported on the enclosing object;
            // the field's own name is in the message.
            let named =
                if message.starts_with("unknown field") || message.starts_with("missing field") {
                    backticked(&message)
                } else {
                    None
                };
            // serde_path_to_error already ends the path with an unknown
            // field's name, but not with a missing one's.
            let field = match (named, path.as_str()) {
                (Some(n), "." | "") => n.to_string(),
                (Some(n), p) if p == n || p.ends_with(&format!(".{n}")) => p.to_string(),
                (Some(n), p) => format!("{p}.{n}"),
                (None, p) => p.to_string(),
            };
            if field.is_empty() || field == "." {
                ApiError::new(StatusCode::BAD_REQUEST, message)
            } else {
                ApiError::bad_request(&field, message)
            }
        }
    }
}

/// Parse a JSON body into `T`, with JSON errors naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request needs a JSON body",
        ));
    }
    // serde would read a struct from a JSON array too (fields by position),
    // which no client means; every request body is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => {
            de.end().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("malformed JSON: {}", strip_position(&e.to_string())),
                )
            })?;
            Ok(v)
        }
        Err(e) if e.inner().classify() == serde_json::error::Category::Data => {
            // JSON Schema counts 1.0 as an integer (the document says
            // `integer` for counts and indexes), serde does not: read such a
            // body again with its whole-number floats as integers.
            let retried = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|mut v| whole_floats_as_integers(&mut v).then_some(v))
                .and_then(|v| serde_path_to_error::deserialize(v).ok());
            retried.ok_or_else(|| json_error(e))
        }
        Err(e) => Err(json_error(e)),
    }
}

/// Turn every whole-number float in `v` (1.0, -3.0, 2e3) that fits an
/// integer into that integer; true when any was turned.
fn whole_floats_as_integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Within ±2^53, where every integer is exactly a float.
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                *v = Value::from(f as i64);
                true
            } else {
                false
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, x| whole_floats_as_integers(x) | any),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |any, x| whole_floats_as_integers(x) | any),
        _ => false,
    }
}

/// A JSON body, size-limited by the router's `DefaultBodyLimit`, rejected
/// as JSON. The content type is not checked: `curl -d` without `-H` is the
/// common case in a control room, and bearer tokens already rule out
/// cross-site form posts.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {} bytes", super::BODY_LIMIT)
            } else {
                e.body_text()
            };
            ApiError::new(status, msg)
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string component's bytes: `%XX` decoded, `+` as a space.
fn percent_decoded(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// A query string, rejected as JSON.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        if let Some((field, _)) = parts
            .uri
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(_, v)| percent_decoded(v).iter().any(|b| b.is_ascii_control()))
        {
            // The document's patterns allow spaces around a value, never a
            // tab, a newline or another control character: neither does this.
            let field = String::from_utf8_lossy(&percent_decoded(field)).into_owned();
            return Err(ApiError::bad_request(
                &field,
                format!("{field} holds a control character"),
            ));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => {
                let text = e.body_text();
                let msg = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_string();
                Err(match backticked(&msg) {
                    Some(f) => ApiError::bad_request(f, msg.clone()),
                    None => ApiError::new(StatusCode::BAD_REQUEST, msg),
                })
            }
        }
    }
}

/// The `Idempotency-Key` header of a write, if sent: 1 to 255 visible
/// ASCII characters (a UUID is the usual choice).
pub struct IdempotencyHeader(pub Option<String>);

/// The header's name, as documented.
pub(crate) const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl FromRequestParts<ApiState> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        idempotency_header(&parts.headers).map(IdempotencyHeader)
    }
}

/// The `Idempotency-Key` in `headers`, if sent; a 400 naming it when it is
/// not 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_header(
    headers: &axum::http::HeaderMap,
) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let ok = (1..=255).contains(&v.len()) && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
    match v.to_str() {
        Ok(k) if ok => Ok(Some(k.to_string())),
        _ => Err(ApiError::bad_request(
            IDEMPOTENCY_KEY,
            "Idempotency-Key is 1 to 255 visible ASCII characters (a UUID, say)",
        )),
    }
}

/// A path segment, rejected as JSON.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        target: String,
        level: Option<f64>,
    }

    fn err(body: &str) -> ApiError {
        parse_json::<Req>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn json_errors_name_fields() {
        assert!(parse_json::<Req>(br#"{"target":"x"}"#).is_ok());
        let e = err(r#"{"target":"x","levle":1}"#);
        assert_eq!(e.body.field.as_deref(), Some("levle"));
        assert!(e.body.error.contains("unknown field"));
        let e = err(r#"{"level":1}"#);
        assert_eq!(e.body.field.as_deref(), Some("target"));
        let e = err(r#"{"target":"x","level":"high"}"#);
        assert_eq!(e.body.field.as_deref(), Some("level"));
        assert!(!e.body.error.contains("line 1"), "{}", e.body.error);
        let e = err(r#"{"target":"x""#);
        assert!(
            e.body.error.starts_with("malformed JSON"),
            "{}",
            e.body.error
        );
        let e = err(r#"{"target":"x"} trailing"#);
        assert!(
            e.body.error.starts_with("malformed JSON"),
            "{}",
            e.body.error
        );
        assert!(err("").body.error.contains("needs a JSON body"));
        let e = err("[1,2]");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.body.field.is_none());
    }
}
