//! The operator console at `GET /`: plain HTML, CSS and JavaScript files
//! (`src/api/page/`) embedded in the binary with `include_str!`.
//!
//! The control room network is isolated, so the page loads nothing from
//! anywhere else: no CDN, no fonts, no framework, no build step. Script and
//! style are separate files so the Content-Security-Policy (set on every
//! answer by the guard) can forbid inline script (`script-src 'self'`): text from the server
//! (names, notes, problems) is inserted with `textContent`, and even a
//! mistake there could not run. The page uses only the public API, so
//! everything it does is scriptable too. It keeps the token in the
//! browser's localStorage and sends it as a bearer header; the live colours
//! come over `/api/live` read with `fetch` (not `EventSource`, which cannot
//! send an Authorization header), so the token never appears in a URL.
//!
//! Every word the page shows comes from one table, `page/strings.js`
//! (English and Chinese, the same keys: tested here), served in front of
//! `app.js` as one script. The favicon is an inline SVG `data:` URL (the
//! CSP allows `img-src data:`), so it needs no route.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("page/index.html");
#[cfg(test)]
const STRINGS: &str = include_str!("page/strings.js");
#[cfg(test)]
const APP: &str = include_str!("page/app.js");
const SCRIPT: &str = concat!(
    include_str!("page/names.js"),
    "\n",
    include_str!("page/strings.js"),
    "\n",
    include_str!("page/app.js"),
    "\n",
    include_str!("page/devices.js"),
    "\n",
    include_str!("page/triggers.js"),
    "\n",
    include_str!("page/inputs.js"),
    "\n",
    include_str!("page/facade.js")
);
const STYLE: &str = include_str!("page/app.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The assets change with the binary; a restart after an upgrade
            // must not leave a control room on yesterday's script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub(super) async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub(super) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of one language's block of `strings.js` (one key a line).
    fn keys(lang: &str) -> Vec<String> {
        let start = STRINGS
            .find(&format!("\n  {lang}: {{\n"))
            .unwrap_or_else(|| panic!("no `{lang}` block"));
        let body = &STRINGS[start..];
        let end = body.find("\n  },").expect("the block's end");
        body[..end]
            .lines()
            .skip(2)
            .map(|l| {
                let l = l.trim();
                let (k, v) = l
                    .split_once(": \"")
                    .unwrap_or_else(|| panic!("not `key: \"text\",`: {l}"));
                assert!(v.ends_with("\","), "one key a line: {l}");
                assert!(
                    k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{k}"
                );
                k.to_string()
            })
            .collect()
    }

    /// The string literals that follow `prefix` in `text` (`t("key"`).
    fn uses<'a>(text: &'a str, prefix: &str, close: char) -> Vec<&'a str> {
        text.match_indices(prefix)
            // `t("` itself, not `split("` or `act("`.
            .filter(|(i, _)| {
                !text[..*i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$')
            })
            .filter_map(|(i, _)| {
                let rest = &text[i + prefix.len()..];
                rest.find(close).map(|e| &rest[..e])
            })
            .collect()
    }

    #[test]
    fn english_and_chinese_have_the_same_words_and_every_use_has_one() {
        let en = keys("en");
        let zh = keys("zh");
        assert!(en.len() > 100, "{}", en.len());
        let mut sorted = en.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), en.len(), "a key twice in en");
        let missing: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        let extra: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "zh lacks {missing:?}; zh has {extra:?} that en lacks"
        );
        assert_eq!(en, zh, "the same keys in the same order");
        let mut used: Vec<&str> = uses(APP, "t(\"", '"');
        used.extend(uses(INDEX, "data-i18n=\"", '"'));
        used.extend(uses(INDEX, "data-i18n-label=\"", '"'));
        // A key ending in `_` is a prefix completed from data (checked below).
        let unknown: Vec<_> = used
            .iter()
            .filter(|k| !k.ends_with('_') && !en.iter().any(|e| e == *k))
            .collect();
        assert!(
            unknown.is_empty(),
            "words used but not in the table: {unknown:?}"
        );
        // Names built from data (states, health, sources) are in the table too.
        for prefix in ["state_", "health_", "source_"] {
            let n = en.iter().filter(|k| k.starts_with(prefix)).count();
            assert!(n >= 3, "{prefix}: {n}");
        }
        // Every override and scene state the API sends has its words.
        let states =
            serde_json::to_value(<crate::control::ItemState as utoipa::PartialSchema>::schema())
                .unwrap();
        for state in states["enum"].as_array().unwrap() {
            let state = state.as_str().unwrap();
            assert!(en.contains(&format!("state_{state}")), "{state}");
        }
        for h in ["ok", "degraded", "down"] {
            assert!(en.contains(&format!("health_{h}")), "{h}");
        }
        for s in ["schedule", "scene", "override", "emergency"] {
            assert!(en.contains(&format!("source_{s}")), "{s}");
        }
    }

    #[test]
    fn the_page_has_a_favicon_and_says_how_to_get_a_token() {
        assert!(INDEX.contains("rel=\"icon\" type=\"image/svg+xml\" href=\"data:image/svg+xml,"));
        assert!(INDEX.contains("id=\"need-token\""));
        assert!(
            STRINGS.contains("NIGHTSCAPE_OPERATOR_TOKEN")
                || APP.contains("NIGHTSCAPE_OPERATOR_TOKEN")
        );
    }

    #[test]
    fn page_loads_nothing_from_elsewhere() {
        for text in [INDEX, SCRIPT, STRINGS, STYLE] {
            // The SVG namespace is an identifier, not a request.
            let t = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!t.contains("http://") && !t.contains("https://"));
            assert!(!t.contains("innerHTML") && !t.contains("eval("));
        }
        // No inline script or style: the CSP forbids them.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
        assert!(INDEX.contains("<script src=\"/app.js\""));
    }
}
