//! `nightscape energy` as a user runs it: the forecast in every format, a
//! site budget that holds the forecast's peak under it, bad ranges and
//! groups named by their flag, and a broken energy section located by
//! `check`.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn energy(site: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["energy", "--site"])
        .arg(site)
        .args(args)
        .output()
        .unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_forecast_comes_as_table_json_csv_and_svg() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let base = [
        "--estimate",
        "--from",
        "2026-11-27",
        "--days",
        "2",
        "--step",
        "2m",
    ];

    let table = ok_stdout(&energy(&site, &base));
    assert!(table.contains("energy forecast"), "{table}");
    assert!(table.contains("2026-11-28") && table.contains("total"));
    assert!(table.contains("nightly"), "show runs are listed: {table}");

    let json: serde_json::Value = serde_json::from_str(&ok_stdout(&energy(
        &site,
        &[&base[..], &["--format", "json"]].concat(),
    )))
    .unwrap();
    assert_eq!(json["source"], "estimate");
    assert_eq!(json["currency"], "CNY");
    let nights = json["nights"].as_array().unwrap();
    assert_eq!(nights.len(), 2);
    let n = &nights[0];
    for key in [
        "kwh",
        "peak_w",
        "cost",
        "co2_kg",
        "baseline_kwh",
        "savings_kwh",
        "savings_pct",
    ] {
        assert!(n[key].as_f64().is_some(), "{key} in {n}");
    }
    assert!(n["cost"].as_f64().unwrap() > 0.0 && n["co2_kg"].as_f64().unwrap() > 0.0);
    assert!(n["savings_kwh"].as_f64().unwrap() > 0.0);
    // Stacked by group: the groups add up to the site (demo groups do not
    // overlap and every fixture is in one).
    let sum: f64 = n["groups"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - n["kwh"].as_f64().unwrap()).abs() < 1e-6);
    let total: f64 = nights.iter().map(|n| n["kwh"].as_f64().unwrap()).sum();
    assert!((json["total"]["kwh"].as_f64().unwrap() - total).abs() < 1e-9);

    let csv = ok_stdout(&energy(&site, &[&base[..], &["--format", "csv"]].concat()));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("night,kwh,peak_w,cost,co2_kg,baseline_kwh"));
    assert!(lines[3].starts_with("total,"));

    let svg = ok_stdout(&energy(&site, &[&base[..], &["--format", "svg"]].concat()));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for g in ["avenue", "facade", "searchlights"] {
        assert!(svg.contains(&format!(">{g}</text>")), "legend has {g}");
    }
    assert!(svg.matches("<rect").count() > 2 * 5, "stacked bars");
}

#[test]
fn a_site_budget_holds_the_forecast_under_it() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("max_w = 15000", "max_w = 3000");
    std::fs::write(&p, text).unwrap();
    let out = energy(
        &site,
        &[
            "--estimate",
            "--from",
            "2026-11-27",
            "--step",
            "2m",
            "--format",
            "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&ok_stdout(&out)).unwrap();
    let t = &json["total"];
    assert!(t["peak_w"].as_f64().unwrap() <= 3000.0, "{t}");
    assert!(t["budget"]["limited_hours"].as_f64().unwrap() > 1.0, "{t}");
    assert!(t["budget"]["shed_kwh"].as_f64().unwrap() > 0.0, "{t}");
    assert_eq!(t["budget"]["max_w"], 3000.0);
}

#[test]
fn bad_ranges_and_groups_name_their_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let state = tmp.path().join("var");
    let state = state.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--from",
                "2026-11-28",
                "--to",
                "2026-11-27",
                "--state",
                state,
            ],
            "--from: from (2026-11-28) is after to (2026-11-27)",
        ),
        (
            &["--group", "boulevard", "--state", state],
            "--group: unknown group `boulevard`",
        ),
        (
            &["--estimate", "--days", "0"],
            "--days: forecast 1 to 366 nights",
        ),
        (&["--estimate", "--step", "fast"], "--step:"),
    ];
    for (args, msg) in cases {
        let out = energy(&site, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    // No record yet: one line saying so and how to get data, exit 0 — not
    // a week of zeros. On stdout for the table, on stderr for a format a
    // program reads.
    let out = energy(&site, &["--state", state]);
    let text = ok_stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(&format!("no energy record in {state} yet")),
        "{text}"
    );
    assert!(
        text.contains("nightscape run") && text.contains("--estimate"),
        "{text}"
    );
    let out = energy(&site, &["--state", state, "--format", "csv"]);
    assert!(ok_stdout(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no energy record"));
}

/// The forecast table an energy officer reads: nights with their weekday,
/// the baseline defined under the totals, show runs in site time.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn the_forecast_table_states_its_baseline_and_site_times() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let table = ok_stdout(&energy(
        &site,
        &[
            "--estimate",
            "--from",
            "2026-12-04",
            "--days",
            "2",
            "--step",
            "1m",
        ],
    ));
    assert!(table.contains("2026-12-04 Fri"), "{table}");
    assert!(table.contains("2026-12-05 Sat"), "{table}");
    assert!(
        table.contains("baseline: every fixture at its rated power from sunset to sunrise"),
        "{table}"
    );
    // The demo is in Asia/Shanghai: the 19:30 show run, not 11:30Z.
    assert!(
        table.contains("show runs (started in Asia/Shanghai)"),
        "{table}"
    );
    assert!(table.contains("2026-12-04 19:30"), "{table}");
    assert!(!table.contains("T11:30:00Z"), "{table}");

    // Reusing equal samples gives exactly what rendering every one gives.
    let base = ["--estimate", "--from", "2026-12-04", "--step", "1m"];
    assert_eq!(
        ok_stdout(&energy(&site, &base)),
        ok_stdout(&energy(&site, &[&base[..], &["--every-sample"]].concat())),
    );

    // A site-set measured baseline is used and named.
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "baseline = \"dusk-to-dawn\"",
        "baseline_kwh_per_night = 400",
    );
    std::fs::write(&p, text).unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok_stdout(&energy(
        &site,
        &[
            "--estimate",
            "--from",
            "2026-12-04",
            "--step",
            "2m",
            "--format",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(json["baseline_kind"], "measured");
    assert_eq!(json["total"]["baseline_kwh"], 400.0);
}

#[test]
fn check_locates_a_broken_energy_section() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "[energy.groups.avenue]\nmax_w = 4500",
        "[energy.groups.avenu]\nmax_w = -4500",
    );
    std::fs::write(&p, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l == "[energy.groups.avenu]")
        .unwrap()
        + 1;
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&site)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "site.toml:{line}:16: unknown group `avenu` in [energy.groups]"
        )),
        "{err}"
    );
}
