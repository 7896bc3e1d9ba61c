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

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
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

    #[test]
    fn page_loads_nothing_from_elsewhere() {
        for text in [INDEX, SCRIPT, STYLE] {
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
