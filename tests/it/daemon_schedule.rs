//! The schedule in charge of the real daemon: frames on the wire equal
//! `render --at` for the same instant (phase = instant − entry start), a
//! restart at a later instant lands in the same place the uninterrupted run
//! would be, a broken edit keeps the last good configuration running while a
//! good edit switches, and systemd hears READY=1 and watchdog pings.

use crate::common;

use std::time::Duration;

// Friday 2026-11-27, a show night: `nightly` runs 19:30–19:45 over the
// static evening look.
const T1: &str = "2026-11-27T19:33:20+08:00";
const T2: &str = "2026-11-27T19:41:07.500+08:00";

/// The daemon on a frozen simulated clock at `at`.
fn frozen(site: &std::path::Path, at: &str, state: &std::path::Path) -> common::Daemon {
    let state = state.to_str().unwrap();
    common::spawn_daemon(
        site,
        &["--clock", at, "--speed", "0", "--state", state],
        &[],
    )
}

fn universes() -> Vec<u16> {
    (0..15).collect()
}

#[test]
fn restart_lands_on_the_same_phase() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let state = tmp.path().join("var");

    let at_t1 = common::cli_render(&site, T1);
    let at_t2 = common::cli_render(&site, T2);
    assert!(at_t1 != at_t2, "the show moves between the two instants");

    let d = frozen(&site, T1, &state);
    let frame =
        common::collect_frame(&rx, &universes(), Duration::from_secs(10)).expect("frames at T1");
    assert!(frame == at_t1, "frame at T1 differs from render --at T1");
    drop(d); // kill mid-show

    common::drain(&rx, Duration::from_millis(100));
    let _d = frozen(&site, T2, &state);
    let frame =
        common::collect_frame(&rx, &universes(), Duration::from_secs(10)).expect("frames at T2");
    assert_eq!(
        frame, at_t2,
        "after the restart, the frame equals render --at T2"
    );
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn hot_reload_keeps_the_last_good_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let state = tmp.path().join("var");
    let _d = frozen(&site, T1, &state);
    let before =
        common::collect_frame(&rx, &universes(), Duration::from_secs(10)).expect("first frames");

    // A broken edit: the daemon logs it and keeps sending the same frames.
    let show = site.join("nightly.toml");
    let good = std::fs::read_to_string(&show).unwrap();
    std::fs::write(&show, good.replace("level = 0.8\n", "level = \"bright\"\n")).unwrap();
    // Wait until the daemon has seen the edit and rejected it.
    let base = common::api_base(&state);
    let reload = |field: &str| -> serde_json::Value {
        let status: serde_json::Value = ureq::get(format!("{base}/api/status"))
            .call()
            .expect("status")
            .body_mut()
            .read_json()
            .unwrap();
        status["reload"][field].clone()
    };
    common::wait_for(
        "the broken edit to be rejected",
        Duration::from_secs(15),
        || reload("rejected") == 1,
    );
    let problems = reload("last_rejected")["problems"].to_string();
    assert!(
        problems.contains("nightly.toml:"),
        "the rejection names the file and line: {problems}"
    );
    assert_eq!(reload("applied"), 0);
    common::drain(&rx, Duration::from_millis(100));
    let during = common::collect_frame(&rx, &universes(), Duration::from_secs(5))
        .expect("frames keep flowing");
    assert!(
        during == before,
        "a broken file changed the frames on the wire"
    );

    // A good edit switches at the next frame.
    std::fs::write(
        &show,
        good.replace("color = \"#1e3cff\"", "color = \"#ff3c1e\""),
    )
    .unwrap();
    let expected = common::cli_render(&site, T1);
    assert!(
        expected != before,
        "the edit must change the rendered frame"
    );
    let reaches_the_wire = |expected: &_, what: &str| {
        let mut last = None;
        let reached = common::wait_until(Duration::from_secs(10), || {
            last = common::collect_frame(&rx, &universes(), Duration::from_secs(2));
            last.as_ref() == Some(expected)
        });
        assert!(
            reached.is_some(),
            "{what} never reached the wire; last frame differs: {:?}",
            last.map(|f| f.len())
        );
    };
    reaches_the_wire(&expected, "the edited show");

    // A re-patch that keeps the number of fixtures and universes: the
    // crown's channels move from 4.1 to 4.301. Where it was goes dark (the
    // DMX map is rebuilt, not reused) and it lights where it now is.
    let site_toml = site.join("site.toml");
    let patch = std::fs::read_to_string(&site_toml).unwrap();
    assert!(patch.contains("address = \"4.1\""));
    std::fs::write(
        &site_toml,
        patch.replace("address = \"4.1\"", "address = \"4.301\""),
    )
    .unwrap();
    let moved = common::cli_render(&site, T1);
    assert!(moved != expected, "the move must change the rendered frame");
    reaches_the_wire(&moved, "the re-patched crown");
}

#[test]
fn systemd_hears_ready_and_watchdog() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let state = tmp.path().join("var");
    let _d = common::spawn_daemon(
        &site,
        &["--state", state.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !(seen.iter().any(|m: &String| m.starts_with("READY=1"))
        && seen.iter().filter(|m| m.as_str() == "WATCHDOG=1").count() >= 2)
    {
        let n = sock.recv(&mut buf).expect("a notification within 5 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
        assert!(seen.len() < 100, "{seen:?}");
    }
    assert!(seen[0].starts_with("READY=1"), "{seen:?}");
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn stop_sends_the_configured_blackout() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replacen("fps = 40\n", "fps = 40\nshutdown = \"blackout\"\n", 1),
    )
    .unwrap();
    let state = tmp.path().join("var");
    let mut d = frozen(&site, T1, &state);
    let lit = common::collect_frame(&rx, &universes(), Duration::from_secs(10)).expect("frames");
    assert!(
        lit.values().flatten().any(|&v| v > 0),
        "the show is lit before the stop"
    );
    // The last packet of every universe is dark. The socket is read while
    // the daemon stops, not after: a stop slowed by a loaded machine sends
    // more frames than a socket's buffer holds, and the dark ones, sent
    // last, were the ones dropped.
    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stopped = stopped.clone();
        let rx = rx.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut last: std::collections::BTreeMap<u16, Vec<u8>> = Default::default();
            let mut buf = [0u8; 1024];
            // Until the daemon has exited and the socket stays quiet
            // (ArtSync packets decode to None and are skipped).
            loop {
                let quiet = rx.peek_from(&mut buf).is_err();
                if quiet && stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    return last;
                }
                if !quiet {
                    if let Some((u, _, data)) = common::recv_artdmx(&rx) {
                        last.insert(u, data);
                    }
                }
            }
        })
    };
    let exit = common::sigterm(&mut d, Duration::from_secs(20));
    stopped.store(true, std::sync::atomic::Ordering::SeqCst);
    let last = reader.join().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    assert_eq!(last.len(), 15);
    assert!(
        last.values().all(|d| d.iter().all(|&v| v == 0)),
        "blackout on stop"
    );
}

#[test]
fn curfew_caps_the_wire_and_render_agrees() {
    // Tuesday 2026-11-24 23:45: past the 23:30 curfew (max level 0.3), only
    // the preview plays; the daemon caps it and `render --at` must too.
    const LATE: &str = "2026-11-24T23:45:00+08:00";
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    let expected = common::cli_render(&site, LATE);
    let state = tmp.path().join("var");
    let _d = frozen(&site, LATE, &state);
    let frame = common::collect_frame(&rx, &universes(), Duration::from_secs(10)).expect("frames");
    assert!(
        frame == expected,
        "the daemon's curfew frame differs from render --at"
    );
    // The pole floods' dimmer (first channel of each 5-channel flood) is
    // capped at 30 % through the square curve: at most 0.3² × 255 ≈ 23.
    let u0 = &frame[&0];
    let dimmers: Vec<u8> = u0.chunks(5).take(82).map(|c| c[0]).collect();
    assert!(dimmers.iter().any(|&d| d > 0), "still lit under the curfew");
    assert!(dimmers.iter().all(|&d| d <= 23), "capped: {dimmers:?}");
}

#[test]
fn a_24_hour_entry_does_not_dip_at_noon() {
    // The demo's preview runs noon to noon every night: the two runs meet at
    // noon and must look like one (no fade out and in at the seam).
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let sum = |at: &str| -> u64 {
        common::cli_render(&site, at)
            .values()
            .flatten()
            .map(|&v| v as u64)
            .sum()
    };
    let before = sum("2026-11-25T11:59:50+08:00");
    assert!(before > 0);
    for at in [
        "2026-11-25T11:59:59+08:00",
        "2026-11-25T12:00:00+08:00",
        "2026-11-25T12:00:01+08:00",
    ] {
        let s = sum(at);
        assert!(s * 2 > before, "the site dips at {at}: {s} vs {before}");
    }
}
