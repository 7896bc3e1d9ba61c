//! Override request → first Art-Net frame showing it, in the real daemon.
//!
//! A measurement, not a test: `cargo bench -- override_latency` starts
//! `nightscape run` on the demo site (API on 127.0.0.1 port 0, Art-Net to a
//! socket this program owns), posts 200 colour overrides spread over the
//! frame period as operators' clicks are, and prints p50/p99/max of the
//! time from the request to the first ArtDmx that carries the colour. At
//! 40 fps a frame leaves every 25 ms, so expect p50 near half a frame plus
//! the request and p99 near a frame and a half.
//!
//! It also prints when the API acknowledged each request (201): that is
//! the durable SQLite write (WAL, `synchronous = FULL`: the change and its
//! audit row on disk before the answer) plus HTTP, and the change is in
//! force only after it. The wire latency minus it is the frame loop's
//! share: up to a period waiting for the next just-in-time render, plus
//! the render itself.

use crate::common;
use std::time::{Duration, Instant};

use crate::{quantile, wait_crown, OPERATOR};

pub(crate) fn run(_args: &[String]) {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let state = tmp.path().join("var");
    let (_daemon, u, a) = crate::crown_daemon(&site, &state);
    let base = common::api_base(&state);
    let colours: [(&str, [u8; 3]); 3] = [
        ("#ff0000", [255, 0, 0]),
        ("#00ff00", [0, 255, 0]),
        ("#0000ff", [0, 0, 255]),
    ];
    let mut samples = Vec::new();
    let mut acks = Vec::new();
    for i in 0..200 {
        let (text, want) = colours[i % 3];
        common::drain(&rx, Duration::from_millis(1));
        std::thread::sleep(Duration::from_micros((i as u64 * 7919) % 25_000));
        let t0 = Instant::now();
        let r = ureq::post(format!("{base}/api/overrides"))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .send_json(serde_json::json!({
                "target": "tower-crown", "color": text, "fade": 0, "ttl": "10m"
            }))
            .expect("override accepted");
        acks.push(t0.elapsed());
        assert_eq!(r.status().as_u16(), 201);
        assert!(
            wait_crown(&rx, u, a, |d| d == want),
            "request {i} never showed"
        );
        samples.push(t0.elapsed());
    }
    let after_ack: Vec<Duration> = samples.iter().zip(&acks).map(|(s, a)| *s - *a).collect();
    for (what, mut v) in [
        (
            "override request -> first Art-Net frame showing it",
            samples,
        ),
        ("override request -> 201 (durable write + HTTP)", acks),
        ("201 -> first Art-Net frame showing it", after_ack),
    ] {
        v.sort();
        println!(
            "{what}, over {}: p50 {:?}, p99 {:?}, max {:?}",
            v.len(),
            quantile(&v, 0.5),
            quantile(&v, 0.99),
            v[v.len() - 1]
        );
    }
}
