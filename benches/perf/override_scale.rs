//! What an operator's change costs when thousands of overrides are in force.
//!
//! A measurement, not a test: `cargo bench -- override_scale` starts
//! `nightscape run` on the demo site (API on 127.0.0.1 port 0, Art-Net to a
//! socket this program owns, `[api] max_overrides = 20000`) and creates
//! colour overrides one after another over one keep-alive connection, as a
//! script of an operator's would. At each level (default 1,000 and 10,000
//! overrides in force; `-- 500 2000` for others) it times 200 more POSTs
//! back to back and prints the creation rate, the POST latency p50/p99/max
//! and the size of `/api/status`. A change should cost the same at 10,000
//! overrides as at 1,000: each change compiles only itself.

use crate::common;
use std::time::{Duration, Instant};

use crate::{quantile, OPERATOR};
/// POSTs timed at each level.
const TIMED: usize = 200;

/// `args`: the levels of overrides in force to time at.
pub(crate) fn run(args: &[String]) {
    let mut levels: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if levels.is_empty() {
        levels = vec![1_000, 10_000];
    }
    levels.sort();
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // Art-Net goes to a socket of ours (never read: the kernel drops what
    // does not fit, the daemon's sends do not block).
    let _rx = common::artnet_receiver(&site);
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace("[api]\n", "[api]\nmax_overrides = 20000\n"),
    )
    .unwrap();
    let cfg = nightscape::config::load(&site).unwrap();
    let fixtures: Vec<String> = cfg.site.fixtures.iter().map(|f| f.name.clone()).collect();
    let state = tmp.path().join("var");
    let _daemon = common::spawn_daemon(
        &site,
        &["--state", state.to_str().unwrap()],
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("RUST_LOG", "warn"),
        ],
    );
    let base = common::api_base(&state);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let colours = ["#ff0000", "#00ff00", "#0000ff", "#ffffff"];
    let mut made = 0usize;
    let post = |i: usize| {
        let r = agent
            .post(format!("{base}/api/overrides"))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .send_json(serde_json::json!({
                "target": fixtures[i % fixtures.len()],
                "color": colours[i % colours.len()],
                "fade": 0,
                "ttl": "2h",
            }))
            .expect("the daemon answers");
        assert_eq!(r.status().as_u16(), 201, "override {i} refused");
    };
    let started = Instant::now();
    for level in levels {
        while made + TIMED < level {
            post(made);
            made += 1;
        }
        let mut samples = Vec::with_capacity(TIMED);
        let t0 = Instant::now();
        for _ in 0..TIMED {
            let t = Instant::now();
            post(made);
            made += 1;
            samples.push(t.elapsed());
        }
        let rate = TIMED as f64 / t0.elapsed().as_secs_f64();
        samples.sort();
        let status = agent
            .get(format!("{base}/api/status"))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .call()
            .expect("status")
            .into_body()
            .read_to_vec()
            .expect("status body");
        println!(
            "{made} overrides in force: {rate:.0} creations/s, POST p50 {:.1} ms p99 {:.1} ms max {:.1} ms, /api/status {} bytes ({:.0} s since start)",
            ms(quantile(&samples, 0.5)),
            ms(quantile(&samples, 0.99)),
            ms(samples[samples.len() - 1]),
            status.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
