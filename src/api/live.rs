//! Live fixture colours for the operator page's map, read back from the
//! last DMX frame, and the server-sent event stream that carries them.
//!
//! Reading the frame (rather than re-rendering) shows what the fixtures
//! were actually sent, masters, curfew and all, and costs a few channel
//! reads per fixture. The colour is a display approximation: emitters are
//! summed into sRGB-ish values (white adds to all three, amber to red and
//! green, warm/cool as tinted whites) and scaled by any dimmer; a pixel bar
//! shows the mean of its cells. The stream ticks at 10 Hz but only sends
//! when something changed, or once a second as a heartbeat.

use super::views::LiveEvent;
use super::ApiState;
use crate::engine::Frame;
use crate::fixture::Role;
use crate::site::Site;
use axum::response::sse::Event;
use futures_core::Stream;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

/// Events per second at most.
pub const LIVE_HZ: u64 = 10;

const WARM: [f32; 3] = [1.0, 0.78, 0.5];
const COOL: [f32; 3] = [0.8, 0.9, 1.0];

#[derive(Default, Clone, Copy)]
struct Acc {
    rgb: [f32; 3],
    dimmer: Option<f32>,
    warm: f32,
    cool: f32,
    cct: Option<f32>,
    colour: bool,
}

impl Acc {
    fn add(&mut self, role: Role, v: f32) {
        let mut add = |c: [f32; 3], k: f32| {
            for (x, c) in self.rgb.iter_mut().zip(c) {
                *x += c * k;
            }
            self.colour = true;
        };
        match role {
            Role::Red => add([1.0, 0.0, 0.0], v),
            Role::Green => add([0.0, 1.0, 0.0], v),
            Role::Blue => add([0.0, 0.0, 1.0], v),
            Role::White => add([1.0, 1.0, 1.0], v),
            Role::Amber => add([1.0, 0.75, 0.0], v),
            Role::Uv => add([0.3, 0.0, 0.5], v),
            Role::Warm => {
                self.warm += v;
                self.colour = true;
            }
            Role::Cool => {
                self.cool += v;
                self.colour = true;
            }
            Role::Cct => self.cct = Some(v),
            Role::Dimmer => self.dimmer = Some(v),
            _ => {}
        }
    }

    /// Display colour of this scope, 0..=1 per channel.
    fn rgb(&self) -> [f32; 3] {
        let mut rgb: [f32; 3] =
            std::array::from_fn(|i| self.rgb[i] + WARM[i] * self.warm + COOL[i] * self.cool);
        if !self.colour {
            // A dimmer-only fixture (a tree uplight) or a CCT fixture: white,
            // tinted by the CCT channel where there is one.
            if self.dimmer.is_none() {
                return [0.0; 3];
            }
            let m = self.cct.unwrap_or(0.0);
            rgb = std::array::from_fn(|i| WARM[i] + (COOL[i] - WARM[i]) * m);
        }
        let d = self.dimmer.unwrap_or(1.0);
        rgb.map(|c| (c * d).clamp(0.0, 1.0))
    }
}

/// The display colour of every fixture in `frame`, in patch order; `None`
/// where the frame does not carry the fixture's universe (a frame from
/// before a configuration change).
pub fn fixture_colors(site: &Site, frame: &Frame) -> Vec<Option<[u8; 3]>> {
    site.fixtures
        .iter()
        .map(|f| {
            let data = frame.universe(f.universe)?;
            let mode = site.mode_of(f);
            let base = f.address.checked_sub(1)? as usize;
            let mut head = Acc::default();
            let mut cells = vec![Acc::default(); mode.cells.max(1) as usize];
            for ch in mode.channels.iter().filter(|c| !c.fine) {
                let v = *data.get(base + ch.offset as usize)? as f32 / 255.0;
                match ch.cell {
                    Some(c) if mode.pixel => {
                        if let Some(acc) = cells.get_mut(c as usize) {
                            acc.add(ch.role, v);
                        }
                    }
                    _ => head.add(ch.role, v),
                }
            }
            let rgb = if mode.pixel {
                let mut sum = [0.0f32; 3];
                for c in &cells {
                    for (s, x) in sum.iter_mut().zip(c.rgb()) {
                        *s += x;
                    }
                }
                let n = cells.len() as f32;
                let d = head.dimmer.unwrap_or(1.0);
                sum.map(|s| (s / n * d).clamp(0.0, 1.0))
            } else {
                head.rgb()
            };
            Some(rgb.map(|c| (c * 255.0).round() as u8))
        })
        .collect()
}

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
