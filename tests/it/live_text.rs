//! Live text end to end: the demo's New Year countdown
//! (`shows/new-year-countdown.toml`, `{countdown:…|seconds}` on the tower's
//! east facade) played by the real daemon with its clock frozen at an
//! instant. The ArtDmx packets decoded from a socket on 127.0.0.1 carry
//! exactly what `nightscape render --at` (another process) computes for the
//! same instant, one second later the number on the facade is another, and
//! two `render` processes give the same bytes for one instant: the words
//! follow the wall clock, not the process.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

const SHOW: &str = "new-year-countdown";
/// When the countdown show is taken to have started (the eve, 23:00).
const SINCE: &str = "2027-02-05T23:00:00+08:00";
/// Ten and nine seconds to the Lunar New Year (seconds round up).
const INSTANTS: [&str; 2] = [
    "2027-02-05T23:59:50.500+08:00",
    "2027-02-05T23:59:51.500+08:00",
];

fn wire_frame(at: &str) -> BTreeMap<u16, Vec<u8>> {
    common::frozen_demo_frame(SHOW, SINCE, at)
}

/// `nightscape check` on a copy of the demo with a short safety check: the
/// live template is what is asked about here.
fn check_demo() -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    common::short_safety_check(&site);
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cli_render(at: &str) -> (Vec<u8>, BTreeMap<u16, Vec<u8>>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let args = ["--show", SHOW, "--since", SINCE, "--at", at];
    common::cli_render_args(&root.join("shows"), &args)
}

/// The facade's pixels, bar by bar, bottom cell first (20 bars of 60 RGB
/// pixels, two bars a universe from universe 5).
fn facade(frame: &BTreeMap<u16, Vec<u8>>) -> Vec<[u8; 3]> {
    (0..20)
        .flat_map(|bar: usize| {
            let u = 5 + (bar / 2) as u16;
            let a = (bar % 2) * 180;
            let d = &frame[&u];
            (0..60).map(move |c| [d[a + 3 * c], d[a + 3 * c + 1], d[a + 3 * c + 2]])
        })
        .collect()
}

#[test]
fn the_daemon_counts_down_on_the_facade_as_render_does() {
    // The demo with a live template passes check.
    let out = check_demo();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(SHOW), "{said}");
    let mut facades = Vec::new();
    for at in INSTANTS {
        let wire = wire_frame(at);
        let (bytes, cli) = cli_render(at);
        for u in 0..15u16 {
            assert_eq!(wire[&u], cli[&u], "universe {u} at {at}");
        }
        // A second process: the same bytes for the instant.
        assert_eq!(cli_render(at).0, bytes, "render twice at {at}");
        let f = facade(&wire);
        // Gold digits on a dark facade: lit, but far from all of it (at
        // 30 %: the site's light-pollution curfew holds from 23:30).
        let gold = f
            .iter()
            .filter(|p| p[0] > 60 && p[1] > 45 && p[2] == 0)
            .count();
        assert!(
            (30..900).contains(&gold),
            "at {at}: {gold} gold pixels of 1200"
        );
        facades.push(f);
    }
    // 10 then 9: the number changed with the second.
    assert_ne!(facades[0], facades[1]);
}
