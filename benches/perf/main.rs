//! nightscape's benchmarks, in one binary with a module per topic (six
//! binaries were six daemon-sized links in every build of all targets).
//!
//! - frame benchmarks (divan, medians): `render` (a whole frame of the demo
//!   and of 1,000 universes, its power estimate and meter), `scale` (each
//!   stage of a frame at 100 / 1,000 / 10,000 universes), `media` (a media
//!   layer per frame, covered by a transparent one, and its load);
//! - measurements of a real daemon (`nightscape run` on the demo site, each
//!   prints its own numbers): `osc` (scene start to the wire, frame rate
//!   under an OSC flood), `override_latency` (API override to the wire),
//!   `override_scale` (a change with thousands of overrides in force).
//!
//! `cargo bench` runs them all; `cargo bench -- NAME` one topic (`scale::`,
//! `media::`, `render::` or any divan filter; `osc`, `override_latency`,
//! `override_scale [LEVELS...]`). `cargo test --benches` runs each divan
//! benchmark once, as a test, and starts no daemon.

#[path = "../../tests/it/common/mod.rs"]
mod common;
mod media;
mod osc;
mod override_latency;
mod override_scale;
mod render;
mod scale;

/// The instant every benchmark renders at and every daemon starts at:
/// New Year's Eve, 20:00 in the demo's time zone.
const NEW_YEARS_EVE: &str = "2026-12-31T20:00:00+08:00";

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(NEW_YEARS_EVE)
        .unwrap()
        .into()
}

/// The sample at quantile `q` (0.5: the median) of sorted `samples`.
fn quantile(samples: &[std::time::Duration], q: f64) -> std::time::Duration {
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

/// Waits up to 10 s for a frame of universe `u` whose three channels from
/// offset `a` pass `ok`: whether one came.
fn wait_crown(rx: &std::net::UdpSocket, u: u16, a: usize, ok: impl Fn(&[u8]) -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some((pu, _, d)) = common::recv_artdmx(rx) {
            if pu == u && d.get(a..a + 3).is_some_and(&ok) {
                return true;
            }
        }
    }
    false
}

/// The operator token the daemon measurements start their daemon with.
const OPERATOR: &str = "operator-secret-0123456789";

/// A daemon on `site` at New Year's Eve 20:00 in real time, operator token
/// set, and where the tower crown's first channel is on the wire
/// (universe, 0-based offset): what a latency measurement watches.
fn crown_daemon(site: &std::path::Path, state: &std::path::Path) -> (common::Daemon, u16, usize) {
    let cfg = nightscape::config::load(site).unwrap();
    let f = &cfg.site.fixtures[cfg.site.fixture_by_name("tower-crown").unwrap() as usize];
    let daemon = common::spawn_daemon(
        site,
        &[
            "--state",
            state.to_str().unwrap(),
            "--clock",
            NEW_YEARS_EVE,
            "--speed",
            "1",
        ],
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("RUST_LOG", "warn"),
        ],
    );
    (daemon, f.universe, f.address as usize - 1)
}

/// A measurement of a real daemon, given the words after its name.
type Measurement = fn(&[String]);

/// The measurements that start a daemon, by the name that selects them.
const DAEMON_MEASUREMENTS: [(&str, Measurement); 3] = [
    ("osc", osc::run),
    ("override_latency", override_latency::run),
    ("override_scale", override_scale::run),
];

fn main() {
    if scale::frames_only() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; without it this is a test run.
    let benching = args.iter().any(|a| a == "--bench");
    let words: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    if let Some(first) = words.first() {
        if let Some((_, run)) = DAEMON_MEASUREMENTS.iter().find(|(name, _)| name == first) {
            if benching {
                run(&words[1..]);
            }
            return;
        }
    }
    divan::main();
    if benching && words.is_empty() {
        for (_, run) in DAEMON_MEASUREMENTS {
            run(&[]);
        }
    }
}
