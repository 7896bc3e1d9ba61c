//! The energy record of the real daemon: a whole night run on a sped-up
//! simulated clock records the kWh the forecast predicts (within 1 %), and
//! a `kill -9` mid-night loses at most a simulated minute, with a restart
//! continuing the night's counters.
//!
//! The demo's all-night `daylight-preview` entry is removed from the test
//! copy: its rainbow repeats every 15 s, and at 1800× each frame is 45 s of
//! simulated time, so the daemon would sample the rainbow at one phase and
//! record what those (real, sent) frames drew rather than what a real-time
//! night draws. Everything else on the night plays: the static look, three
//! runs of the nightly show, the curfew look and the curfew cap.

use crate::common;

use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Remove the demo-only all-night preview from the site's schedule.
fn without_preview(site: &Path) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("# Demo only").expect("the preview block");
    std::fs::write(&p, &text[..start]).unwrap();
}

/// Run without the HTTP API: these tests only need the lights and the
/// record, and must not compete for the demo's port.
fn no_api(site: &Path) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replacen("[api]\n", "[api]\nenabled = false\n", 1)).unwrap();
}

fn sigterm_and_wait(d: &mut common::Daemon) {
    let st = common::sigterm(d, Duration::from_secs(30));
    assert!(st.success(), "the daemon exits cleanly on SIGTERM: {st:?}");
}

fn energy_json(site: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["energy", "--site"])
        .arg(site)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Where a run on a simulated clock records: apart from the real record.
fn simulated_record(state: &Path) -> std::path::PathBuf {
    state.join("simulated").join("energy.sqlite")
}

/// The site row of a night straight from the record: (kWh, metered s,
/// last instant).
fn site_row(state: &Path, night: &str) -> Option<(f64, f64, DateTime<Utc>)> {
    let conn = rusqlite::Connection::open(simulated_record(state)).ok()?;
    let (kwh, metered, last): (f64, f64, String) = conn
        .query_row(
            "SELECT kwh, metered_s, last_at FROM scope_night WHERE night = ?1 AND kind = 'site'",
            [night],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .ok()?;
    let last = DateTime::parse_from_rfc3339(&last)
        .ok()?
        .with_timezone(&Utc);
    Some((kwh, metered, last))
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_whole_night_on_a_fast_clock_records_what_the_forecast_says() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    without_preview(&site);
    no_api(&site);
    let state = tmp.path().join("var");

    // Noon to noon of Friday 2026-11-27 (a show night) at 5400×: 16 s. The
    // clock starts four and a half hours early: start-up (up to 2 s real
    // on a loaded machine, 3 simulated hours) must not eat the start of
    // the night. A frame late by a stall of the machine is booked at the
    // look it drew, for the stall × the speed: the faster the clock, the
    // more a loaded machine moves the record off the forecast. Measured,
    // recorded vs forecast (the bound below is 1 %): quiet machine 3600×
    // 0.14 %, 7200× 0.05 %, 10800× 0.5 %; with three busy loops on the two
    // cores 3600× 0.18 % and 0.04 %, 5400× 0.02 % and 0.01 %, 7200× 0.39 %
    // and 0.01 %, and 7200× beside five other tests 1.02 % (failed).
    let mut d = common::spawn_daemon(
        &site,
        &[
            "--clock",
            "2026-11-27T07:30:00+08:00",
            "--speed",
            "5400",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    // Done when the next night has been flushed a minute past its noon.
    let next_noon = instant("2026-11-28T12:01:00+08:00");
    common::wait_for(
        "the night to be flushed past the next noon",
        Duration::from_secs(150),
        || site_row(&state, "2026-11-28").is_some_and(|(_, _, last)| last >= next_noon),
    );
    sigterm_and_wait(&mut d);

    let recorded = energy_json(
        &site,
        &[
            "--simulated",
            "--state",
            state.to_str().unwrap(),
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
        ],
    );
    let night = &recorded["nights"][0];
    let kwh = night["kwh"].as_f64().unwrap();
    let hours = night["metered_hours"].as_f64().unwrap();
    assert!(hours > 23.99, "the whole night was metered: {hours} h");

    let forecast = energy_json(
        &site,
        &[
            "--estimate",
            "--from",
            "2026-11-27",
            "--days",
            "1",
            "--step",
            "15s",
        ],
    );
    let expected = forecast["nights"][0]["kwh"].as_f64().unwrap();
    let err = (kwh - expected).abs() / expected;
    eprintln!("recorded {kwh:.3} kWh, forecast {expected:.3} kWh");
    assert!(
        err < 0.01,
        "recorded {kwh:.3} kWh, forecast {expected:.3} kWh ({:.2} % apart)",
        err * 100.0
    );
    // The same show runs, and the curfew was in force in both.
    let runs = |v: &serde_json::Value| -> Vec<String> {
        v["nights"][0]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["show"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(runs(&recorded), runs(&forecast));
    assert!(night["curfew"]["hours"].as_f64().unwrap() > 6.0);
    assert_eq!(night["curfew"]["compliant"], true);
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn kill_9_loses_at_most_a_simulated_minute_and_a_restart_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    no_api(&site);
    let state = tmp.path().join("var");
    let t0 = instant("2026-11-27T19:00:00+08:00");

    let spawned = Instant::now();
    let mut d = common::spawn_daemon(
        &site,
        &[
            "--clock",
            "2026-11-27T19:00:00+08:00",
            "--speed",
            "10",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    // Kill once a flushed record exists (flushes come every 30 simulated
    // seconds, 3 s real here) and some more time has run on top of it.
    common::wait_for(
        "an energy record of 40 s to be flushed",
        Duration::from_secs(60),
        || site_row(&state, "2026-11-27").is_some_and(|(_, metered, _)| metered > 40.0),
    );
    let killed = Instant::now();
    let _ = d.0.kill(); // SIGKILL: no flush on the way out
    let _ = d.0.wait();
    // The clock started after the spawn, so this bounds its instant at the
    // kill from above.
    let at_kill = t0 + chrono::Duration::from_std((killed - spawned) * 10).unwrap();
    let (kwh, metered, last) = site_row(&state, "2026-11-27").expect("a flushed record");
    let lost = (at_kill - last).num_milliseconds() as f64 / 1000.0;
    eprintln!("kill -9: the record ends at most {lost:.1} simulated s before the kill");
    assert!(
        lost <= 60.0,
        "lost {lost:.1} simulated seconds (record ends {last}, kill at most {at_kill})"
    );
    assert!(metered > 30.0 && kwh > 0.0, "{metered} s, {kwh} kWh");

    // Restart where the killed daemon would be: the night continues. At
    // 20× (the bound on what a kill loses needed the slower clock above;
    // here only the added energy is compared, under the same static look)
    // the 30 s more take half the real time.
    let restart = at_kill.to_rfc3339();
    let mut d = common::spawn_daemon(
        &site,
        &[
            "--clock",
            &restart,
            "--speed",
            "20",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    // Stop once the restarted daemon has flushed more of the night.
    common::wait_for(
        "the restarted daemon to record 30 s more",
        Duration::from_secs(60),
        || site_row(&state, "2026-11-27").is_some_and(|(_, m, _)| m > metered + 30.0),
    );
    sigterm_and_wait(&mut d);
    let (kwh2, metered2, last2) = site_row(&state, "2026-11-27").expect("record");
    assert!(metered2 > metered + 30.0, "{metered} → {metered2}");
    assert!(kwh2 > kwh && last2 > last);
    // The added energy is the added time at the night's power, not a
    // second copy of the first run.
    let w_before = kwh / (metered / 3600.0);
    let w_after = (kwh2 - kwh) / ((metered2 - metered) / 3600.0);
    assert!(
        (w_after - w_before).abs() / w_before < 0.05,
        "{w_before:.0} W then {w_after:.0} W"
    );
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_short_run_killed_hard_is_recorded_within_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    no_api(&site);
    let state = tmp.path().join("var");
    let mut d = common::spawn_daemon(
        &site,
        &[
            "--state",
            state.to_str().unwrap(),
            "--clock",
            "2026-12-31T20:00:00+08:00",
        ],
        &[],
    );
    // The first flush comes after 5 real seconds; allow a slow machine.
    let mut row = None;
    common::wait_until(Duration::from_secs(25), || {
        row = site_row(&state, "2026-12-31");
        row.is_some()
    });
    let _ = d.0.kill();
    let _ = d.0.wait();
    let (kwh, metered, _) = row.expect("nothing recorded for a run shorter than 25 s");
    assert!(kwh > 0.0 && metered > 0.0, "{kwh} kWh over {metered} s");
}

/// Seconds metered for the whole site in the journal, if there is one.
fn journal_seconds(state: &Path) -> Option<f64> {
    let conn = rusqlite::Connection::open_with_flags(
        simulated_record(state),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let text: String = conn
        .query_row("SELECT records FROM journal WHERE id = 1", [], |r| r.get(0))
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        v.as_object()?
            .values()
            .flat_map(|night| night["scopes"].as_array().cloned().unwrap_or_default())
            .filter(|s| s["kind"] == "site")
            .filter_map(|s| s["metered_s"].as_f64())
            .sum(),
    )
}

/// A daemon killed with SIGKILL before its first flush (5 s) loses about a
/// second of energy, not all of it: the journal (written once a second)
/// is folded into the record by the next start. The run time is measured
/// on the wire, from the first Art-Net frame received to the last.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_kill_9_loses_about_a_second_of_energy_and_the_next_start_folds_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let rx = common::artnet_receiver(&site);
    no_api(&site);
    let state = tmp.path().join("var");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--show",
        "static-evening",
        "--clock",
        "2026-12-31T20:00:00+08:00",
    ];
    // Every ArtDmx packet's arrival, first and last.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_rx = stop.clone();
    let wire = std::thread::spawn(move || {
        let (mut first, mut last) = (None, None);
        let mut quiet_since = Instant::now();
        loop {
            if common::recv_artdmx(&rx).is_some() {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                quiet_since = now;
            } else if stop_rx.load(std::sync::atomic::Ordering::Relaxed)
                && quiet_since.elapsed() > Duration::from_millis(500)
            {
                return (first, last);
            }
        }
    });
    let mut d = common::spawn_daemon(&site, &args, &[]);
    // Kill once the journal holds 2 s, at an arbitrary point of the next
    // second (not just after a journal write): before the first flush (5 s
    // after start), so without the journal nothing would be recorded.
    common::wait_for("a journal of 2 s", Duration::from_secs(30), || {
        journal_seconds(&state).is_some_and(|s| s >= 2.0)
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(u64::from(nanos % 1000)));
    let _ = d.0.kill(); // SIGKILL
    let _ = d.0.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (first, last) = wire.join().unwrap();
    let ran = (last.unwrap() - first.unwrap()).as_secs_f64();

    // The next start folds the journal before it meters anything itself
    // (its own first flush is 5 s away).
    let mut again = common::spawn_daemon(&site, &args, &[]);
    let mut row = None;
    common::wait_for("the journal to be folded", Duration::from_secs(30), || {
        row = site_row(&state, "2026-12-31");
        row.is_some()
    });
    let _ = again.0.kill();
    let _ = again.0.wait();
    let (kwh, metered, _) = row.unwrap();
    let watts = kwh * 3.6e6 / metered;
    let lost_s = ran - metered;
    println!(
        "ran {ran:.2} s on the wire, recorded {metered:.2} s = {:.3} Wh at {watts:.0} W: lost {lost_s:.2} s ({:.3} Wh)",
        kwh * 1000.0,
        lost_s * watts / 3600.0
    );
    assert!(kwh > 0.0, "nothing recorded");
    assert!(
        lost_s <= 2.0,
        "a kill -9 lost {lost_s:.2} s of {ran:.2} s (recorded {metered:.2} s)"
    );
    assert!(
        metered <= ran + 0.5,
        "recorded {metered:.2} s for a run of {ran:.2} s"
    );
}

/// Issue 23: simulated time stays simulated. A designer's run on a fast
/// clock through a 2027 night puts nothing into the state folder's real
/// record: `nightscape energy` there has no such night (no record at all),
/// while `--simulated` reports the run.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_simulated_run_stays_out_of_the_real_record() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let _rx = common::artnet_receiver(&site);
    no_api(&site);
    let state = tmp.path().join("var");
    let mut d = common::spawn_daemon(
        &site,
        &[
            "--clock",
            "2027-01-15T19:00:00+08:00",
            "--speed",
            "600",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    common::wait_for(
        "the simulated run to record 600 s of its own",
        Duration::from_secs(40),
        || site_row(&state, "2027-01-15").is_some_and(|(_, metered, _)| metered > 600.0),
    );
    sigterm_and_wait(&mut d);
    assert!(
        !state.join("energy.sqlite").exists(),
        "the real record was created by a simulated run"
    );
    let report = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .args(["energy", "--site"])
            .arg(&site)
            .args(["--state", state.to_str().unwrap()])
            .args(["--from", "2027-01-15", "--to", "2027-01-15"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let real = report(&[]);
    assert!(real.contains("no energy record"), "{real}");
    assert!(!real.contains("2027-01-15"), "{real}");
    let simulated = report(&["--simulated"]);
    assert!(simulated.contains("2027-01-15"), "{simulated}");
    assert!(!simulated.contains("no energy record"), "{simulated}");
}
