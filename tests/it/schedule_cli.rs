//! `nightscape schedule` as a designer runs it on the demo site: each night
//! says why it has its mode (the holiday or rule), which curfews and
//! budgets cap it with their times in site time, and which overlapping
//! entry is on top when — in the table and in the JSON the API serves.

use crate::common;

use std::path::Path;
use std::process::Command;

fn schedule(site: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("--site")
        .arg(site)
        .arg("schedule")
        .args(args)
        .output()
        .expect("run nightscape");
    assert!(
        out.status.success(),
        "schedule {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn schedule_explains_mode_caps_and_what_is_on_top() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // 2027-09-14 is the eve of Mid-Autumn (a show night), the 15th the
    // festival itself, the 16th a plain Thursday.
    let table = schedule(&site, &["--from", "2027-09-14", "--days", "3"]);
    for want in [
        "2027-09-14 Tue",
        "why     show-night: eve of Mid-Autumn Festival (lunar 8/15)",
        "why     festival: Mid-Autumn Festival (lunar 8/15)",
        "why     normal: default rule (no earlier rule matched)",
        // The demo's site curfew and the searchlights' own, in site time.
        "caps    curfew 23:30–06:55 caps to 30 %",
        "curfew (group searchlights) 23:00–06:55 caps to 0 %",
        "budget 15.0 kW all night",
        "budget (group avenue) 4.5 kW all night",
        // The festival show from sunset over the static look.
        "on top  12:00 → 19:00  daylight-preview (priority -10)",
        "19:13 → 22:00  spring-festival (priority 20, over static-evening, daylight-preview)",
        "19:30 → 19:45  nightly (priority 10, over static-evening, daylight-preview)",
    ] {
        assert!(table.contains(want), "missing {want:?} in\n{table}");
    }

    let json: serde_json::Value = serde_json::from_str(&schedule(
        &site,
        &["--from", "2027-09-15", "--days", "1", "--format", "json"],
    ))
    .unwrap();
    let n = &json["nights"][0];
    assert_eq!(n["mode"], "festival");
    assert_eq!(n["why"], "festival: Mid-Autumn Festival (lunar 8/15)");
    let caps = n["caps"].as_array().unwrap();
    assert_eq!(caps[0]["kind"], "curfew");
    assert_eq!(caps[0]["from"], "2027-09-15T23:30:00+08:00");
    assert_eq!(caps[0]["to"], n["sunrise"], "the curfew ends at sunrise");
    assert_eq!(caps[0]["max_level"], 0.3);
    let on_top = n["on_top"].as_array().unwrap();
    let festival = on_top
        .iter()
        .find(|p| p["show"] == "spring-festival")
        .expect("the festival show is on top for a while");
    assert_eq!(festival["from"], n["sunset"], "from sunset");
    assert_eq!(festival["over"][0], "static-evening");
}

/// Every date and time flag names the form it wants when it refuses one,
/// and `schedule --days 0` is an error (the flags `designer.rs` does not
/// already try).
#[test]
fn every_date_flag_names_its_format() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nightscape"))
            .arg("--site")
            .arg(&site)
            .args(args)
            .output()
            .unwrap()
    };
    for (args, want) in [
        (&["energy", "--to", "1.10.2026"][..], "YYYY-MM-DD"),
        (
            &["energy", "--estimate", "--from", "2026-13-01"][..],
            "YYYY-MM-DD",
        ),
        (
            &["preview", "--night", "tonight", "--out", "x.png"][..],
            "YYYY-MM-DD",
        ),
        (
            &["preview", "--at", "8pm", "--out", "x.png"][..],
            "YYYY-MM-DD HH:MM",
        ),
        (&["run", "--clock", "2026-12-31T25:00"][..], "RFC 3339"),
        (&["schedule", "--days", "0"][..], "--days"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?} should name {want:?}: {err}");
    }
}

/// A night an operator forced into another mode (kept in the daemon's
/// store) is shown in that mode, "forced by an operator" with who, when
/// `schedule` is given the state folder; the next night keeps its rule,
/// and a folder with no state in it is an error, not a new database.
#[test]
fn schedule_with_state_shows_a_forced_night() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let state = tmp.path().join("var");
    let night = "2027-09-16";
    {
        // The operator forces the night as the console does: the daemon's
        // API, with the operator token (the demo names its holder
        // "control-room"); the daemon is stopped before `schedule` reads.
        const OPERATOR: &str = "operator-secret-0123456789";
        let daemon = common::spawn_daemon(
            &site,
            &[
                "--state",
                state.to_str().unwrap(),
                "--clock",
                "2026-12-31T20:00:00+08:00",
                "--speed",
                "0",
            ],
            &[
                ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
                ("RUST_LOG", "warn"),
            ],
        );
        let base = common::api_base(&state);
        let res = common::http_agent(std::time::Duration::from_secs(10))
            .post(&format!("{base}/api/tonight/mode"))
            .header("Authorization", &format!("Bearer {OPERATOR}"))
            .send_json(serde_json::json!({ "mode": "festival", "night": night }))
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "forcing {night}");
        drop(daemon);
    }
    let state_arg = state.to_str().unwrap();
    let table = schedule(
        &site,
        &["--from", "2027-09-16", "--days", "2", "--state", state_arg],
    );
    assert!(table.contains("mode festival"), "{table}");
    assert!(
        table.contains("why     festival: forced by an operator (control-room) for this night"),
        "{table}"
    );
    assert_eq!(
        table.matches("forced by an operator").count(),
        1,
        "the 17th keeps its rule:\n{table}"
    );
    // The JSON says the same.
    let json: serde_json::Value = serde_json::from_str(&schedule(
        &site,
        &[
            "--from",
            "2027-09-16",
            "--days",
            "1",
            "--format",
            "json",
            "--state",
            state_arg,
        ],
    ))
    .unwrap();
    let n = &json["nights"][0];
    assert_eq!(n["mode"], "festival", "{n}");
    assert_eq!(n["forced"], true, "{n}");
    // Without --state: the rules' plan.
    let plain = schedule(&site, &["--from", "2027-09-16", "--days", "1"]);
    assert!(!plain.contains("forced"), "{plain}");
    // A folder with no state in it.
    let empty = tmp.path().join("nothing-here");
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("--site")
        .arg(&site)
        .args(["schedule", "--state"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no nightscape state"));
    assert!(!empty.exists(), "no database created");
}
