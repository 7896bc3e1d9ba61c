//! `Idempotency-Key` fingerprints: what a stored answer must match to be
//! replayed.
//!
//! A write sent with an `Idempotency-Key` stores its answer together with a
//! fingerprint of the request; a retry with the same key gets that answer
//! again when the fingerprints agree, and a 422 when they do not. So the
//! fingerprint must mean the same thing in every build: it is the request's
//! route (method and path, kept readable because the refusal names it) and
//! the SHA-256 of the request's canonical JSON (object keys sorted, no
//! whitespace, numbers as serde_json writes them). It used to be the Rust
//! `Debug` rendering of the parsed request, which any change to a derive or
//! a field would alter, turning a retry across an upgrade into a 422.
//!
//! Rows written in that old form are marked legacy by the migration
//! "idempotency fingerprints over canonical JSON": their route is kept and
//! the rest replaced by [`LEGACY`]. A legacy row matches a request with the
//! same key on the same route, whatever its body: the old text cannot be
//! recomputed by this build, and refusing would turn the retry of the very
//! request that wrote it into an error. The cost, for at most the keys'
//! lifetime (a day) after the upgrade: a key reused with another body on
//! the same route replays the first answer instead of being refused.

use super::IdempotencyKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What the migration leaves after a legacy row's route.
pub(crate) const LEGACY: &str = "legacy";

impl IdempotencyKey {
    /// The key `key` of `actor` for a request on `route` ("POST
    /// /api/overrides") whose content is `request` (the parsed body, or
    /// `&()` for a request that is all route).
    pub(crate) fn new(
        actor: impl Into<String>,
        key: impl Into<String>,
        route: &str,
        request: &impl Serialize,
    ) -> IdempotencyKey {
        IdempotencyKey {
            actor: actor.into(),
            key: key.into(),
            request: fingerprint(route, request),
        }
    }

    /// Whether an answer stored with the fingerprint `stored` answers this
    /// request: the same fingerprint, or a legacy row on the same route.
    pub(crate) fn matches(&self, stored: &str) -> bool {
        if stored == self.request {
            return true;
        }
        let route = self.request.rsplit_once('\n').map_or("", |(r, _)| r);
        stored
            .strip_suffix(LEGACY)
            .and_then(|s| s.strip_suffix('\n'))
            .is_some_and(|r| r == route)
    }
}

/// `route`, a newline and `sha256:` with the hex digest of the route and
/// the request's canonical JSON.
pub(crate) fn fingerprint(route: &str, request: &impl Serialize) -> String {
    let json = match serde_json::to_value(request) {
        Ok(v) => canonical_json(&v),
        // Not reachable for the API's request types (plain structs); an
        // error text is still a deterministic fingerprint.
        Err(e) => format!("unserialisable: {e}"),
    };
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{route}\nsha256:{hex}")
}

/// `v` as compact JSON with every object's keys in sorted order, whatever
/// order the value holds them in (serde_json keeps insertion order when any
/// crate in the build turns on its `preserve_order` feature).
pub(crate) fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoredReply};
    use serde_json::json;

    #[test]
    fn the_fingerprint_is_the_requests_content_not_its_spelling() {
        let a: serde_json::Value = serde_json::from_str(
            r#"{"target": "square", "level": 0.5, "x": {"b": 1, "a": [2, {"d": 3, "c": 4}]}}"#,
        )
        .unwrap();
        let b: serde_json::Value = serde_json::from_str(
            r#"{"x":{"a":[2,{"c":4,"d":3}],"b":1},"level":0.5,"target":"square"}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"level":0.5,"target":"square","x":{"a":[2,{"c":4,"d":3}],"b":1}}"#
        );
        assert_eq!(
            fingerprint("POST /api/overrides", &a),
            fingerprint("POST /api/overrides", &b)
        );
        let f = fingerprint("POST /api/overrides", &a);
        assert!(f.starts_with("POST /api/overrides\nsha256:"), "{f}");
        assert_eq!(f.len(), "POST /api/overrides\nsha256:".len() + 64);
        // Another route, another body, another value: other prints.
        assert_ne!(f, fingerprint("POST /api/master", &a));
        assert_ne!(
            f,
            fingerprint(
                "POST /api/overrides",
                &json!({"target": "square", "level": 0.6})
            )
        );
        // Known value (`printf 'DELETE /api/scenes/5\nnull' | sha256sum`):
        // the print does not move between builds.
        assert_eq!(
            fingerprint("DELETE /api/scenes/5", &()),
            format!(
                "DELETE /api/scenes/5\nsha256:{}",
                "119d617f35419f0c12fd7cd581bc76d372bd335fe6bcee4016999ac96ba37f79"
            )
        );
    }

    #[test]
    fn legacy_rows_match_their_route_only() {
        let k = IdempotencyKey::new("op", "k", "POST /api/overrides", &json!({"level": 0.5}));
        assert!(k.matches(&k.request));
        assert!(k.matches("POST /api/overrides\nlegacy"));
        assert!(!k.matches("POST /api/master\nlegacy"));
        assert!(!k.matches("POST /api/overrides/7/extend\nlegacy"));
        assert!(!k.matches("POST /api/overrides\nOverrideRequest { level: Some(0.5) }"));
        let other = IdempotencyKey::new("op", "k", "POST /api/overrides", &json!({"level": 0.6}));
        assert!(!k.matches(&other.request));
    }

    /// A database with rows written by the build before (Debug text) is
    /// migrated: the rows become legacy, keep their route and replay.
    #[test]
    fn the_migration_marks_old_rows_legacy() {
        let dir = tempfile::tempdir().unwrap();
        let at = "2026-12-31T12:00:00.000000000Z";
        let before = crate::store::MIGRATIONS
            .iter()
            .position(|m| m.name == "idempotency fingerprints over canonical JSON")
            .expect("the migration");
        {
            let mut conn =
                rusqlite::Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
            super::super::migrate(&mut conn, dir.path(), &crate::store::MIGRATIONS[..before])
                .unwrap();
            for (key, request) in [
                ("a", "POST /api/overrides\nOverrideRequest { target: \"square\", level: Some(Number(0.5)) }"),
                ("b", "DELETE /api/scenes/5"),
                ("c", "POST /api/skips\n{\"entry\":0}"),
            ] {
                conn.execute(
                    "INSERT INTO idempotency (actor, key, request, status, body, at) VALUES ('op', ?1, ?2, 201, '{}', ?3)",
                    rusqlite::params![key, request, at],
                )
                .unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let since = chrono::DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
            .unwrap()
            .into();
        let found = |k: &str| s.idempotent_reply("op", k, since).unwrap().unwrap().0;
        assert_eq!(found("a"), "POST /api/overrides\nlegacy");
        assert_eq!(found("b"), "DELETE /api/scenes/5\nlegacy");
        assert_eq!(found("c"), "POST /api/skips\nlegacy");
        let retry = IdempotencyKey::new(
            "op",
            "a",
            "POST /api/overrides",
            &json!({"target": "square", "level": 0.5}),
        );
        assert!(retry.matches(&found("a")));
        assert!(IdempotencyKey::new("op", "b", "DELETE /api/scenes/5", &()).matches(&found("b")));
        assert!(!IdempotencyKey::new("op", "b", "DELETE /api/scenes/6", &()).matches(&found("b")));
        // New rows are stored as written and match only themselves.
        let fresh = IdempotencyKey::new("op", "d", "POST /api/master", &json!({"level": 0.4}));
        s.with_transaction(|tx| {
            Store::put_idempotent_reply_tx(
                tx,
                &fresh,
                &StoredReply {
                    status: 200,
                    body: "{}".into(),
                },
                chrono::DateTime::parse_from_rfc3339("2026-12-31T12:00:00Z")
                    .unwrap()
                    .into(),
            )
        })
        .unwrap();
        assert_eq!(found("d"), fresh.request);
    }
}
