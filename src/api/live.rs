//! Live fixture colours for the operator page's map, read back from the
//! last DMX frame, and the server-sent event stream that carries them.
//!
//! Reading the frame (rather than re-rendering) shows what the fixtures
//! were actually sent, masters, curfew and all, and costs a few channel
//! reads per fixture. The colour is the display approximation of
//! `engine::display` (the same one `nightscape preview` draws); a pixel bar
//! shows the mean of its cells. The stream ticks at 10 Hz but only sends
//! when something changed, or once a second as a heartbeat.
//!
//! The two resources that serve what is sent now live here with the
//! reading: `GET /api/live` (the stream) and `GET /api/frame` (the last
//! frame's DMX levels themselves, per universe, copied only on demand).

use super::auth::Viewer;
use super::common::{flag, ApiResult};
use super::error::{ApiError, ApiQuery, ErrorBody};
use super::views::{FrameView, LiveEvent, LiveQuery};
use super::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_core::Stream;
pub use nightscape_core::engine::display::fixture_colors;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

/// Events per second at most.
pub const LIVE_HZ: u64 = 10;

/// `#rrggbb`.
pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Each fixture's cell colours in patch order: every cell of a pixel
/// fixture, the one colour of any other fixture; `None` where the frame
/// lacks the fixture's universe.
pub fn fixture_cells(
    site: &nightscape_core::site::Site,
    frame: &nightscape_core::engine::Frame,
) -> Vec<Option<Vec<[u8; 3]>>> {
    let heads = fixture_colors(site, frame);
    let cells = nightscape_core::engine::display::cell_colors(site, frame);
    site.fixtures
        .iter()
        .zip(heads)
        .map(|(f, head)| {
            let head = head?;
            let first = f.first_cell as usize;
            Some(match cells.get(first..first + f.cell_count as usize) {
                Some(c) if site.mode_of(f).pixel && c.len() > 1 => c.to_vec(),
                _ => vec![head],
            })
        })
        .collect()
}

/// A fixture's level for display: the mean over its cells of the
/// brightest emitter, 0..=1.
pub fn level_of(cells: &[[u8; 3]]) -> f32 {
    if cells.is_empty() {
        return 0.0;
    }
    let sum: f32 = cells
        .iter()
        .map(|c| c[0].max(c[1]).max(c[2]) as f32 / 255.0)
        .sum();
    sum / cells.len() as f32
}

/// The current live event; with `cells`, each pixel fixture's cells too.
pub fn snapshot(state: &ApiState, with_cells: bool) -> LiveEvent {
    // Keeps the loop publishing while a stream is open; the first event
    // may show the frame of up to a tick before.
    state.shared.want_frame();
    let (frame, at, frames) = match state.shared.stats.lock() {
        Ok(s) => (s.last_frame.clone(), s.last_instant, s.frames),
        Err(p) => {
            let s = p.into_inner();
            (s.last_frame.clone(), s.last_instant, s.frames)
        }
    };
    let cfg = state.shared.config();
    let colors = match &frame {
        Some(f) => fixture_colors(&cfg.site, f)
            .into_iter()
            .map(|c| c.map(hex))
            .collect(),
        None => vec![None; cfg.site.fixtures.len()],
    };
    let cells = match (&frame, with_cells) {
        (Some(f), true) => Some(
            fixture_cells(&cfg.site, f)
                .into_iter()
                .map(|c| match c {
                    Some(c) if c.len() > 1 => c.into_iter().map(hex).collect(),
                    _ => Vec::new(),
                })
                .collect(),
        ),
        _ => None,
    };
    LiveEvent {
        at,
        frames,
        colors,
        cells,
    }
}

/// The SSE stream: ends when the server shuts down.
pub struct LiveStream {
    state: ApiState,
    with_cells: bool,
    interval: tokio::time::Interval,
    last: Option<Vec<Option<String>>>,
    quiet_ticks: u64,
}

impl LiveStream {
    pub fn new(state: ApiState, with_cells: bool) -> LiveStream {
        let mut interval = tokio::time::interval(Duration::from_millis(1000 / LIVE_HZ));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        LiveStream {
            state,
            with_cells,
            interval,
            last: None,
            quiet_ticks: 0,
        }
    }
}

impl Stream for LiveStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.state.stopping.load(Ordering::Relaxed) {
                return Poll::Ready(None);
            }
            if self.interval.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            let ev = snapshot(&self.state, self.with_cells);
            // Compare what is sent: pixel cells can change while their mean
            // does not.
            let key = match &ev.cells {
                Some(c) => [
                    ev.colors.clone(),
                    c.iter().flatten().cloned().map(Some).collect(),
                ]
                .concat(),
                None => ev.colors.clone(),
            };
            let changed = self.last.as_ref() != Some(&key);
            if !changed && self.quiet_ticks + 1 < LIVE_HZ {
                self.quiet_ticks += 1;
                continue;
            }
            self.quiet_ticks = 0;
            self.last = Some(key);
            let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
            return Poll::Ready(Some(Ok(Event::default().event("colors").data(data))));
        }
    }
}

/// DMX levels of every universe in the last frame sent.
#[utoipa::path(get, path = "/api/frame", tag = "status",
    responses((status = 200, body = FrameView), (status = 401, body = ErrorBody),
        (status = 503, description = "no frame rendered yet", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn frame(State(st): State<ApiState>, _v: Viewer) -> ApiResult<Json<FrameView>> {
    // Copied on demand: the loop publishes frames only while they are read.
    let (frame, at, frames) = st.shared.fresh_frame().await;
    let frame = frame
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no frame rendered yet"))?;
    Ok(Json(FrameView {
        at,
        frames,
        universes: frame
            .universes
            .iter()
            .zip(&frame.data)
            .map(|(u, d)| (u.to_string(), d.to_vec()))
            .collect(),
    }))
}

/// Server-sent events of fixture colours (`event: colors`), at most 10 a
/// second, only when they change (and once a second regardless).
#[utoipa::path(get, path = "/api/live", tag = "status", params(LiveQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "A server-sent event stream (text, not JSON): each event is `event: colors` with a `data:` line holding one `LiveEvent` as JSON (see components/schemas/LiveEvent); comment lines (`:`) keep it alive every 15 s"),
        (status = 400, description = "`cells` is not true, false, 1 or 0", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "Too many requests without a valid token from this address (Retry-After says when to try again)", body = ErrorBody),
        (status = 503, description = "The stream did not start within the request timeout, or the server is stopping", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn live(
    State(st): State<ApiState>,
    _v: Viewer,
    ApiQuery(q): ApiQuery<LiveQuery>,
) -> ApiResult<impl IntoResponse> {
    let cells = flag("cells", q.cells.as_deref())?;
    Ok(Sse::new(LiveStream::new(st, cells))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
