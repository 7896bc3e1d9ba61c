//! `GET /metrics`: Prometheus text from a recorder this API owns.
//!
//! The recorder is local to the API state (not the process-global one), so
//! two servers in one test process do not share counters and nothing else
//! in the crate has to know about Prometheus. Daemon figures (frames, late
//! frames, output packets and errors) are counted by the frame loop in
//! `LoopStats`; they are copied in as absolute values at scrape time, so
//! what Prometheus sees is exactly what the loop counted. The API measures
//! its own request latency as a real histogram, and, through the
//! [`FrameTimer`] frame hook, the interval between frames as sent (the
//! loop's jitter; the loop does not publish its render time, and an
//! invented figure would mislead).

use super::auth::Viewer;
use super::error::ErrorBody;
use super::ApiState;
use crate::config::Config;
use crate::daemon::{FrameHook, LoopStats};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use metrics::{counter, gauge, histogram, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use nightscape_core::engine::{ActiveShow, Frame};
use std::sync::Arc;
use std::time::Instant;

const REQUEST_SECONDS: &str = "nightscape_api_request_duration_seconds";
const FRAME_INTERVAL: &str = "nightscape_frame_interval_seconds";

/// The API's metrics recorder and its rendering handle.
pub struct ApiMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

/// Figures the API knows that the loop does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct ControlCounts {
    pub overrides: usize,
    pub scenes: usize,
    pub masters: usize,
    pub target_fps: u32,
    pub actual_fps: Option<f64>,
    pub power_w: Option<f64>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics::new()
    }
}

impl ApiMetrics {
    pub fn new() -> ApiMetrics {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        // Without buckets the exporter renders a summary; with them, a true
        // histogram that Prometheus can aggregate. The only error is an
        // empty bucket list, which this is not; fall back to a summary anyway.
        let intervals = [
            0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.075, 0.1, 0.25, 1.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &buckets)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(FRAME_INTERVAL.into()), &intervals)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!(
                "nightscape_frames_total",
                "Frames rendered and handed to the outputs"
            );
            metrics::describe_counter!(
                "nightscape_late_frames_total",
                "Frames skipped because the loop missed its deadline by more than a period"
            );
            metrics::describe_counter!(
                "nightscape_output_frames_sent_total",
                "Frames an output sent"
            );
            metrics::describe_counter!(
                "nightscape_output_packets_sent_total",
                "Packets an output sent"
            );
            metrics::describe_counter!(
                "nightscape_output_send_errors_total",
                "Failed sends of an output"
            );
            metrics::describe_gauge!(
                "nightscape_output_up",
                "1 when the output's last sends succeeded, 0 when degraded or down"
            );
            metrics::describe_gauge!(
                "nightscape_active_overrides",
                "Operator overrides in force (including fading out)"
            );
            metrics::describe_gauge!("nightscape_active_scenes", "Triggered scenes in force");
            metrics::describe_gauge!("nightscape_masters", "Grand and group masters below full");
            metrics::describe_gauge!("nightscape_fps_target", "The site's frame rate");
            metrics::describe_gauge!(
                "nightscape_fps_actual",
                "Frames per second measured over the last second"
            );
            metrics::describe_counter!(
                "nightscape_api_requests_total",
                "API requests by route and status"
            );
            metrics::describe_histogram!(
                REQUEST_SECONDS,
                Unit::Seconds,
                "API request handling time until the response head"
            );
            metrics::describe_histogram!(
                FRAME_INTERVAL,
                Unit::Seconds,
                "Time between consecutive frames handed to the outputs (1/fps when on time)"
            );
        });
        ApiMetrics { recorder, handle }
    }

    /// Count one API request.
    pub fn record_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!(
                "nightscape_api_requests_total",
                "route" => route.to_string(),
                "method" => method.to_string(),
                "status" => status.to_string()
            )
            .increment(1);
            histogram!(REQUEST_SECONDS, "route" => route.to_string()).record(seconds);
        });
    }

    /// A connection refused because the cap was reached.
    pub fn record_refused(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("nightscape_api_connections_refused_total").increment(1);
        });
    }

    /// A connection closed to make room for a newcomer at the cap.
    pub fn record_shed(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("nightscape_api_connections_shed_total").increment(1);
        });
    }

    fn record_frame_interval(&self, seconds: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            histogram!(FRAME_INTERVAL).record(seconds);
        });
    }

    /// Periodic housekeeping the exporter needs for histograms.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Prometheus text with the loop's figures as of now.
    pub fn render(&self, stats: &LoopStats, counts: ControlCounts) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("nightscape_frames_total").absolute(stats.frames);
            counter!("nightscape_late_frames_total").absolute(stats.late_frames);
            for o in &stats.outputs {
                let labels = [("kind", o.kind.to_string()), ("target", o.target.clone())];
                counter!("nightscape_output_frames_sent_total", &labels).absolute(o.frames_sent);
                counter!("nightscape_output_packets_sent_total", &labels).absolute(o.packets_sent);
                counter!("nightscape_output_send_errors_total", &labels).absolute(o.send_errors);
                gauge!("nightscape_output_up", &labels).set(if o.state == crate::output::OK {
                    1.0
                } else {
                    0.0
                });
            }
            gauge!("nightscape_active_overrides").set(counts.overrides as f64);
            gauge!("nightscape_active_scenes").set(counts.scenes as f64);
            gauge!("nightscape_masters").set(counts.masters as f64);
            gauge!("nightscape_fps_target").set(counts.target_fps as f64);
            if let Some(fps) = counts.actual_fps {
                gauge!("nightscape_fps_actual").set(fps);
            }
            if let Some(w) = counts.power_w {
                gauge!("nightscape_power_watts").set(w);
            }
        });
        self.handle.render()
    }
}

/// A frame hook that times the interval between frames into the API's
/// metrics: add it to the frame loop's hooks (`ApiState::frame_hook`).
/// Recording is an atomic bucket update, so it never stalls a frame.
pub struct FrameTimer {
    metrics: Arc<ApiMetrics>,
    last: Option<Instant>,
}

impl FrameTimer {
    pub fn new(metrics: Arc<ApiMetrics>) -> FrameTimer {
        FrameTimer {
            metrics,
            last: None,
        }
    }
}

impl FrameHook for FrameTimer {
    fn observe(
        &mut self,
        _config: &Config,
        _at: DateTime<Utc>,
        _active: &[ActiveShow],
        _frame: &Frame,
    ) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.metrics
                .record_frame_interval(now.duration_since(last).as_secs_f64());
        }
        self.last = Some(now);
    }
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn metrics(State(st): State<ApiState>, _v: Viewer) -> impl IntoResponse {
    let cfg = st.shared.config();
    let book = st.control.book().await;
    let counts = ControlCounts {
        overrides: book.overrides.size(),
        scenes: book.scenes.size(),
        masters: book.masters.len(),
        target_fps: cfg.site.fps,
        actual_fps: st.fps(),
        power_w: st.power_w(),
    };
    let stats = st
        .shared
        .stats
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let body = st.metrics.render(&stats, counts);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
