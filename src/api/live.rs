//! Live fixture colours for the operator page's map, read back from the
//! last DMX frame, and the server-sent event stream that carries them.
//!
//! Reading the frame (rather than re-rendering) shows what the fixtures
//! were actually sent, masters, curfew and all, and costs a few channel
//! reads per fixture. The colour is the display approximation of
//! `engine::display` (the same one `nightscape preview` draws); a pixel bar
//! shows the mean of its cells. The stream ticks at 10 Hz but only sends
//! when something changed, or once a second as a heartbeat.

use super::views::LiveEvent;
use super::ApiState;
pub use crate::engine::display::fixture_colors;
use axum::response::sse::Event;
use futures_core::Stream;
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

/// The current live event.
pub fn snapshot(state: &ApiState) -> LiveEvent {
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
    LiveEvent { at, frames, colors }
}

/// The SSE stream: ends when the server shuts down.
pub struct LiveStream {
    state: ApiState,
    interval: tokio::time::Interval,
    last: Option<Vec<Option<String>>>,
    quiet_ticks: u64,
}

impl LiveStream {
    pub fn new(state: ApiState) -> LiveStream {
        let mut interval = tokio::time::interval(Duration::from_millis(1000 / LIVE_HZ));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        LiveStream {
            state,
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
            let ev = snapshot(&self.state);
            let changed = self.last.as_ref() != Some(&ev.colors);
            if !changed && self.quiet_ticks + 1 < LIVE_HZ {
                self.quiet_ticks += 1;
                continue;
            }
            self.quiet_ticks = 0;
            self.last = Some(ev.colors.clone());
            let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
            return Poll::Ready(Some(Ok(Event::default().event("colors").data(data))));
        }
    }
}
