//! Who may do what: bearer tokens with roles, checked by extractors.
//!
//! Roles are ordered viewer < operator < admin; a handler names the least
//! role it needs by taking a [`Viewer`], [`Operator`] or [`Admin`]
//! argument, which comes first in its argument list so a request without a
//! valid token is refused (401, or 403 for a role too low) before its body
//! is even read. Secrets are compared in constant time against every
//! configured token, and never logged, printed or echoed: only a token's
//! name reaches the audit log.
//!
//! `GET /api/whoami` answers a caller with its own token's name and role,
//! so the console offers only the controls that role may use.

use super::error::{ApiError, ErrorBody};
use super::views::WhoamiView;
use super::ApiState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Serialize;
use std::net::SocketAddr;
use utoipa::ToSchema;

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A usable token. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Token {
    pub fn new(name: &str, role: Role, secret: &str) -> Token {
        Token {
            name: name.to_string(),
            role,
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// Constant-time comparison: the time taken depends on the length of
    /// what was presented, never on how much of the secret it matched.
    pub fn matches(&self, presented: &[u8]) -> bool {
        if self.secret.is_empty() {
            return false;
        }
        // `subtle` keeps the comparison free of data-dependent branches
        // (only the length, which a generated token does not keep secret,
        // can show in the timing).
        use subtle::ConstantTimeEq;
        bool::from(presented.ct_eq(&self.secret[..]))
    }
}

/// The configured tokens and the read policy.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub tokens: Vec<Token>,
    pub public_read: bool,
}

/// Who is asking: the token's name (or "public"), its role, its address.
#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    pub name: String,
    pub role: Option<Role>,
    pub remote: Option<SocketAddr>,
}

impl Auth {
    /// Whether the request carries a token this server knows (any role):
    /// such callers are not rate-limited as anonymous ones are.
    pub fn knows(&self, headers: &axum::http::HeaderMap) -> bool {
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| {
                h.as_bytes()
                    .strip_prefix(b"Bearer ")
                    .or_else(|| h.as_bytes().strip_prefix(b"bearer "))
            })
            .map(|s| s.trim_ascii())
        else {
            return false;
        };
        let mut found = false;
        for t in &self.tokens {
            found |= t.matches(presented);
        }
        found
    }

    /// Check the request's `Authorization` header for at least `need`.
    pub fn check(&self, parts: &Parts, need: Role) -> Result<Caller, ApiError> {
        let remote = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            if need == Role::Viewer && self.public_read {
                return Ok(Caller {
                    name: "public".into(),
                    role: None,
                    remote,
                });
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "this needs {} {} token: send Authorization: Bearer <token>",
                    if need.name().starts_with(['a', 'e', 'i', 'o', 'u']) {
                        "an"
                    } else {
                        "a"
                    },
                    need.name()
                ),
            ));
        };
        let presented = header
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .or_else(|| header.as_bytes().strip_prefix(b"bearer "))
            .map(|s| s.trim_ascii())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        // Compare against every token (no early exit) so the time taken does
        // not tell which token came close.
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            if t.matches(presented) && found.is_none() {
                found = Some(t);
            }
        }
        let Some(token) = found else {
            tracing::info!(remote = ?remote, "API request with an unknown token refused");
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"));
        };
        if token.role < need {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "token `{}` has the {} role; this needs {}",
                    token.name,
                    token.role.name(),
                    need.name()
                ),
            ));
        }
        Ok(Caller {
            name: token.name.clone(),
            role: Some(token.role),
            remote,
        })
    }
}

macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub(crate) struct $name(pub Caller);

        impl FromRequestParts<ApiState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &ApiState,
            ) -> Result<Self, Self::Rejection> {
                state.auth.check(parts, $role).map($name)
            }
        }
    };
}

role_extractor!(
    Viewer,
    Role::Viewer,
    "A caller allowed to read (any token, or anyone when reads are public)."
);
role_extractor!(
    Operator,
    Role::Operator,
    "A caller allowed to change what the lights do."
);
role_extractor!(
    Admin,
    Role::Admin,
    "A caller allowed to read the audit log."
);

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(auth: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/x");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn auth(public_read: bool) -> Auth {
        Auth {
            tokens: vec![
                Token::new("v", Role::Viewer, "viewer-secret"),
                Token::new("o", Role::Operator, "operator-secret"),
            ],
            public_read,
        }
    }

    #[test]
    fn roles_order() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn constant_time_match() {
        let t = Token::new("a", Role::Viewer, "secret");
        assert!(t.matches(b"secret"));
        assert!(!t.matches(b"secre"));
        assert!(!t.matches(b"secretsecret"));
        assert!(!t.matches(b"secreT"));
        assert!(!t.matches(b""));
        assert!(!Token::new("e", Role::Viewer, "").matches(b""));
        assert!(!format!("{t:?}").contains("secret\""));
    }

    #[test]
    fn statuses() {
        let a = auth(false);
        let code = |p: Option<&str>, r| a.check(&parts(p), r).map_err(|e| e.status.as_u16());
        assert_eq!(code(None, Role::Viewer).unwrap_err(), 401);
        assert_eq!(code(Some("Bearer nope"), Role::Viewer).unwrap_err(), 401);
        assert_eq!(code(Some("Basic abc"), Role::Viewer).unwrap_err(), 401);
        assert_eq!(
            code(Some("Bearer viewer-secret"), Role::Operator).unwrap_err(),
            403
        );
        assert_eq!(
            code(Some("Bearer operator-secret"), Role::Operator)
                .unwrap()
                .name,
            "o"
        );
        assert_eq!(
            code(Some("Bearer operator-secret"), Role::Admin).unwrap_err(),
            403
        );
        let p = auth(true);
        assert_eq!(p.check(&parts(None), Role::Viewer).unwrap().name, "public");
        assert_eq!(
            p.check(&parts(None), Role::Operator).unwrap_err().status,
            401
        );
        // A wrong token is refused even where reads are public: the client
        // has a configuration problem it should hear about.
        assert_eq!(
            p.check(&parts(Some("Bearer x")), Role::Viewer)
                .unwrap_err()
                .status,
            401
        );
    }
}
