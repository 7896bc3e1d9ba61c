//! Unit tests of the energy pieces on small hand-made sites: the power
//! model against hand-computed watts, exact kWh for a constant hour,
//! budgets that fit, curfews applied and reported, the record's arithmetic,
//! the reports' shapes, and bad input located.

use super::meter::{Core, Meter, NightRecord, ScopeKind};
use super::model::{power_fraction, PowerModel};
use super::report::{self, Format, Query};
use super::store::EnergyStore;
use crate::config::{self, Config};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use nightscape_core::engine::{self, Frame, Limits, Look};
use std::collections::BTreeMap;
use std::path::Path;

const PROFILES: &[(&str, &str)] = &[
    (
        "flood",
        "name = \"flood\"\npower_w = 120\nstandby_w = 2\ndimmer_curve = \"square\"\n[[modes]]\nname = \"5ch\"\nchannels = [\"dimmer\", \"red\", \"green\", \"blue\", \"white\"]\n[[modes]]\nname = \"8ch\"\nchannels = [\"dimmer\", \"dimmer_fine\", \"red\", \"green\", \"blue\", \"white\", \"strobe\", \"fixed:0\"]\n",
    ),
    (
        "lamp",
        "name = \"lamp\"\npower_w = 30\nstandby_w = 0.5\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmer\"]\n",
    ),
    (
        "bar",
        "name = \"bar\"\npower_w = 18\nstandby_w = 0.6\n[[modes]]\nname = \"7ch\"\nchannels = [\"dimmer\"]\ncells = 2\ncell = [\"red\", \"green\", \"blue\"]\n",
    ),
    (
        "weighted",
        "name = \"weighted\"\npower_w = 100\nstandby_w = 0\npower_curve = [[0.5, 0.3]]\nemitter_weights = { red = 1, white = 2, blue = 0.5 }\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"white\", \"blue\"]\n",
    ),
];

/// A site folder in a temp dir: `site` is appended to a header with one
/// Art-Net output on universes 0-1; `shows` are (file stem, text).
fn site_with(site: &str, shows: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = dir.path().join("fixtures");
    std::fs::create_dir_all(&fx).expect("fixtures dir");
    for (k, t) in PROFILES {
        std::fs::write(fx.join(format!("{k}.toml")), t).expect("profile");
    }
    let sd = dir.path().join("site");
    std::fs::create_dir_all(&sd).expect("site dir");
    let header = "name = \"t\"\nlatitude = 25.04\nlongitude = 102.71\ntimezone = \"Asia/Shanghai\"\nprofiles = \"../fixtures\"\n";
    std::fs::write(
        sd.join("site.toml"),
        format!("{header}{site}\n[[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1:9\"\nuniverses = \"0-1\"\n"),
    )
    .expect("site");
    for (n, t) in shows {
        std::fs::write(sd.join(format!("{n}.toml")), t).expect("show");
    }
    let cfg = match config::load(&sd) {
        Ok(c) => c,
        Err(d) => panic!("test site does not load:\n{d}"),
    };
    (dir, cfg)
}

const OFF: (&str, &str) = (
    "off",
    "name = \"off\"\n[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"black\"\n",
);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .expect("instant")
}

/// One frame the way the daemon's loop makes it, with the energy core.
fn daemon_frame(
    cfg: &Config,
    core: &mut Core,
    active: &[engine::ActiveShow],
    t: DateTime<Utc>,
) -> Frame {
    let site = &cfg.site;
    let mut look = Look::dark(site);
    engine::render_look(site, active, t, &mut look);
    let mut limits = Limits::none(site);
    core.limits(cfg, t, &mut limits);
    let mut frame = Frame::new(site);
    for pass in 0..4 {
        let mut limited = look.clone();
        engine::apply_limits(site, &mut limited, &limits);
        engine::look_to_frame(site, &limited, &mut frame);
        if !core.review(cfg, t, &frame, &mut limits, pass) {
            break;
        }
    }
    frame
}

#[test]
fn a_known_frame_gives_hand_computed_watts() {
    let (_d, cfg) = site_with(
        r#"
[[fixtures]]
name = "f5"
profile = "flood"
mode = "5ch"
at = [0, 0]
address = "0.1"
[[fixtures]]
name = "f8"
profile = "flood"
mode = "8ch"
at = [1, 0]
address = "0.10"
[[fixtures]]
name = "lamp"
profile = "lamp"
mode = "1ch"
at = [2, 0]
address = "0.20"
[[fixtures]]
name = "bar"
profile = "bar"
mode = "7ch"
at = [3, 0]
address = "0.30"
[[fixtures]]
name = "w"
profile = "weighted"
mode = "3ch"
at = [4, 0]
address = "0.40"
[[fixtures]]
name = "far"
profile = "lamp"
mode = "1ch"
at = [5, 0]
address = "9.1"
"#,
        &[OFF],
    );
    let model = PowerModel::new(&cfg.site);
    let mut frame = Frame::new(&cfg.site);
    let u0 = &mut frame.data[0];
    // f5: dimmer full, red and white full of RGBW: emitters 2/4 → load 0.5.
    u0[0..5].copy_from_slice(&[255, 255, 0, 0, 255]);
    // f8: 16-bit dimmer 0x8000, RGBW full.
    u0[9..17].copy_from_slice(&[0x80, 0x00, 255, 255, 255, 255, 255, 0]);
    // lamp: 51/255 = 0.2.
    u0[19] = 51;
    // bar: head dimmer full; cell 0 white (1), cell 1 red (1/3).
    u0[29..36].copy_from_slice(&[255, 255, 255, 255, 255, 0, 0]);
    // weighted: white alone = 2 / 3.5 of the weight.
    u0[39..42].copy_from_slice(&[0, 255, 0]);
    // far: universe 9 is in the patch but no output sends it.
    let (mut load, mut watts) = (Vec::new(), Vec::new());
    let total = model.estimate(&frame, &mut load, &mut watts);
    let f8_load = 32768.0 / 65535.0;
    // weighted: load 4/7 on the curve (0.5, 0.3) → (1, 1): 0.3 + 0.7 × (4/7 − 0.5) / 0.5 = 0.4.
    let expected = [
        2.0 + 118.0 * 0.5,
        2.0 + 118.0 * f8_load,
        0.5 + 29.5 * 0.2,
        0.6 + 17.4 * (2.0 / 3.0),
        100.0 * 0.4,
        0.5,
    ];
    for (i, e) in expected.iter().enumerate() {
        assert!(
            (watts[i] as f64 - e).abs() < 1e-3,
            "fixture {i}: {} W, expected {e} W",
            watts[i]
        );
    }
    assert!((total - expected.iter().sum::<f64>()).abs() < 1e-2);
    assert!(!model.is_sent(5));

    // The contiguous-sum shortcut agrees with the general path on any bytes.
    let slow = model.clone().without_fast_paths();
    let mut x: u32 = 12345;
    for _ in 0..50 {
        for b in frame.data[0].iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        let (mut l2, mut w2) = (Vec::new(), Vec::new());
        model.estimate(&frame, &mut load, &mut watts);
        slow.estimate(&frame, &mut l2, &mut w2);
        for (a, b) in load.iter().zip(&l2) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

#[test]
fn curve_helper_matches_the_profile_rule() {
    let (_d, cfg) = site_with(
        "[[fixtures]]\nname = \"w\"\nprofile = \"weighted\"\nmode = \"3ch\"\nat = [0, 0]\naddress = \"0.1\"\n",
        &[OFF],
    );
    let p = cfg
        .site
        .profiles
        .iter()
        .find(|p| p.key == "weighted")
        .expect("profile");
    for i in 0..=100 {
        let x = i as f32 / 100.0;
        assert_eq!(power_fraction(&p.power_curve, x), p.power_fraction(x));
    }
    // The weights are the profile's: white counts double, blue half.
    assert_eq!(p.emitter_weights[3], 2.0);
    assert_eq!(p.emitter_weights[2], 0.5);
}

const FULL: (&str, &str) = (
    "full",
    "name = \"full\"\nfade_in = \"0s\"\nfade_out = \"0s\"\n[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"white\"\nlevel = 1\n",
);

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_constant_hour_books_exactly_its_kwh() {
    let (_d, cfg) = site_with(
        "[[fixtures]]\nname = \"lamp\"\nprofile = \"lamp\"\nmode = \"1ch\"\nat = [0, 0]\naddress = \"0.1\"\n",
        &[FULL],
    );
    let show = cfg.show("full").expect("show");
    let t0 = at("2026-11-27T20:00:00+08:00");
    let active = [engine::ActiveShow::new(show, t0, None, 0)];
    let mut core = Core::new();
    let mut meter = Meter::new(2.0);
    // 40 fps for one hour, with instants computed from the frame number.
    for n in 0..=144_000i64 {
        let t = t0 + Duration::milliseconds(25 * n);
        let frame = daemon_frame(&cfg, &mut core, &active, t);
        let s = core.sample(&cfg, t, &active, &frame);
        meter.push(&cfg, s);
    }
    let rec = meter.take();
    let night = rec
        .get(&NaiveDate::from_ymd_opt(2026, 11, 27).expect("date"))
        .expect("night");
    let site = night.site().expect("site scope");
    assert!((site.kwh - 0.030).abs() < 1e-9, "{} kWh", site.kwh);
    assert!((site.metered_s - 3600.0).abs() < 1e-6);
    assert!((site.lit_s - 3600.0).abs() < 1e-6);
    assert_eq!(site.peak_w, 30.0);
    assert_eq!(night.runs.len(), 1);
    assert!((night.runs[0].kwh - 0.030).abs() < 1e-9);
    // The baseline is the same lamp at full: no savings.
    assert!((site.baseline_kwh - 0.030).abs() < 1e-9);
}

#[test]
fn the_forecast_of_a_one_hour_entry_is_exact() {
    let (_d, cfg) = site_with(
        "[[fixtures]]\nname = \"lamp\"\nprofile = \"lamp\"\nmode = \"1ch\"\nat = [0, 0]\naddress = \"0.1\"\n[[schedule]]\nshow = \"full\"\nstart = \"20:00\"\nend = \"21:00\"\n",
        &[FULL],
    );
    let from = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
    let r = report::forecast(&cfg, from, 1, 10.0, None).expect("forecast");
    // Standby all night plus 29.5 W for the hour.
    let expected = (0.5 * 24.0 + 29.5) / 1000.0;
    assert!(
        (r.total.kwh - expected).abs() < 1e-9,
        "{} kWh, expected {expected}",
        r.total.kwh
    );
    assert_eq!(r.nights[0].runs.len(), 1);
    assert!((r.nights[0].runs[0].hours - 1.0).abs() < 1e-9);
}

#[test]
fn a_meter_cuts_clock_jumps_and_splits_nights_at_noon() {
    let (_d, cfg) = site_with(
        "[[fixtures]]\nname = \"lamp\"\nprofile = \"lamp\"\nmode = \"1ch\"\nat = [0, 0]\naddress = \"0.1\"\n",
        &[FULL],
    );
    let show = cfg.show("full").expect("show");
    let t0 = at("2026-11-28T11:59:59+08:00");
    let active = [engine::ActiveShow::new(show, t0, None, 0)];
    let mut core = Core::new();
    let mut meter = Meter::new(2.0);
    for t in [t0, t0 + Duration::seconds(2), t0 + Duration::hours(5)] {
        let frame = daemon_frame(&cfg, &mut core, &active, t);
        let s = core.sample(&cfg, t, &active, &frame);
        meter.push(&cfg, s);
    }
    let rec = meter.take();
    let a = rec[&NaiveDate::from_ymd_opt(2026, 11, 27).expect("d")]
        .site()
        .expect("a")
        .metered_s;
    let b = rec[&NaiveDate::from_ymd_opt(2026, 11, 28).expect("d")]
        .site()
        .expect("b")
        .metered_s;
    // 1 s before noon, 1 s after, and the 5-hour jump books only 2 s.
    assert!((a - 1.0).abs() < 1e-9 && (b - 3.0).abs() < 1e-9, "{a} {b}");
}

const FOUR_FLOODS: &str = r#"
[[fixtures]]
name = "a1"
profile = "flood"
mode = "5ch"
at = [0, 0]
address = "0.1"
[[fixtures]]
name = "a2"
profile = "flood"
mode = "5ch"
at = [1, 0]
address = "0.6"
[[fixtures]]
name = "b1"
profile = "flood"
mode = "5ch"
at = [2, 0]
address = "0.11"
[[fixtures]]
name = "lamp"
profile = "lamp"
mode = "1ch"
at = [3, 0]
address = "0.16"
[groups]
a = ["a*"]
b = ["b*"]
"#;

#[test]
fn budgets_scale_to_fit_their_cap() {
    let site = format!("{FOUR_FLOODS}\n[energy]\nmax_w = 80\n[energy.groups.a]\nmax_w = 40\n");
    let (_d, cfg) = site_with(&site, &[FULL]);
    let show = cfg.show("full").expect("show");
    let t = at("2026-11-27T20:00:00+08:00");
    let active = [engine::ActiveShow::new(
        show,
        t - Duration::hours(1),
        None,
        0,
    )];
    let mut core = Core::new();
    let frame = daemon_frame(&cfg, &mut core, &active, t);
    let s = core.sample(&cfg, t, &active, &frame).clone();
    let site_w = s.site_w();
    let group_a = s.scopes.iter().find(|x| x.name == "a").expect("a");
    // Unlimited: white on RGBW is the white emitter alone, a quarter of
    // the variable power: 3 × (2 + 118 / 4) + 30 = 124.5 W; group a 63 W.
    // Group a is solved first (to 40 W), then the site scales everything,
    // a included, to fit 80 W.
    assert!(group_a.w <= 40.0, "group a {} W", group_a.w);
    assert!(site_w <= 80.0 && site_w > 77.0, "site {site_w} W");
    assert!(group_a.scale < 1.0 && group_a.shed_w > 20.0, "{group_a:?}");
    assert!(!group_a.over && !s.scopes[0].over);
    // Reported: limited time, the deepest scale and the energy shed.
    let mut rec = NightRecord::new(cfg.schedule.night_of(t));
    rec.book(&s, t, 60.0, 0.0, 0.0);
    let a = rec.scope(ScopeKind::Group, "a").expect("a");
    assert_eq!(a.limited_s, 60.0);
    assert!(a.min_scale.is_some_and(|m| m < 1.0));
    assert!(a.shed_kwh > 0.0);
    assert_eq!(a.max_w, Some(40.0));
}

#[test]
fn a_budget_below_standby_turns_the_scope_dark_and_reports_over() {
    let site = format!("{FOUR_FLOODS}\n[energy]\nmax_w = 5\n");
    let (_d, cfg) = site_with(&site, &[FULL]);
    let show = cfg.show("full").expect("show");
    let t = at("2026-11-27T20:00:00+08:00");
    let active = [engine::ActiveShow::new(
        show,
        t - Duration::hours(1),
        None,
        0,
    )];
    let mut core = Core::new();
    let frame = daemon_frame(&cfg, &mut core, &active, t);
    let s = core.sample(&cfg, t, &active, &frame);
    // Standby alone is 3 × 2 + 0.5 = 6.5 W: dark, and still over.
    assert!((s.site_w() - 6.5).abs() < 1e-6, "{}", s.site_w());
    assert!(s.scopes[0].over);
}

#[test]
fn curfew_caps_output_and_reports_compliance() {
    let site = format!(
        "curfew = {{ from = \"21:00\", to = \"sunrise\", max_level = 0.3 }}\n{FOUR_FLOODS}\n[energy.groups.b]\ncurfew = {{ from = \"20:30\", to = \"22:00\", max_level = 0 }}\n"
    );
    let (_d, cfg) = site_with(&site, &[FULL]);
    let show = cfg.show("full").expect("show");
    let start = at("2026-11-27T18:00:00+08:00");
    let active = [engine::ActiveShow::new(show, start, None, 0)];
    let mut core = Core::new();
    let model = PowerModel::new(&cfg.site);
    let (mut load, mut w) = (Vec::new(), Vec::new());

    // 20:00: no curfew, everything full.
    let f = daemon_frame(&cfg, &mut core, &active, at("2026-11-27T20:00:00+08:00"));
    model.estimate(&f, &mut load, &mut w);
    // (White on RGBW lights the white emitter alone: a quarter of the load.)
    assert_eq!(load, [0.25, 0.25, 0.25, 1.0]);
    // 20:45: group b's curfew turns b1 off; the rest free.
    let f = daemon_frame(&cfg, &mut core, &active, at("2026-11-27T20:45:00+08:00"));
    model.estimate(&f, &mut load, &mut w);
    assert_eq!(load[2], 0.0);
    assert!(load[0] == 0.25 && load[3] == 1.0);
    // 23:00: the site curfew caps intensity at 0.3: the lamp (linear)
    // gets 0.3, the floods' square dimmer 0.09 (of the white quarter).
    let t = at("2026-11-27T23:00:00+08:00");
    let f = daemon_frame(&cfg, &mut core, &active, t);
    model.estimate(&f, &mut load, &mut w);
    assert!((load[3] - 0.3).abs() < 0.003, "{}", load[3]);
    assert!((load[0] - 0.0225).abs() < 0.001, "{}", load[0]);
    assert_eq!(
        f.data[0][15],
        (0.3f32 * 255.0).round() as u8,
        "the lamp's DMX"
    );
    let s = core.sample(&cfg, t, &active, &f).clone();
    let site_s = &s.scopes[0];
    assert!(site_s.curfew && site_s.curfew_uncapped_w > site_s.curfew_w);
    // Reported per night: the uncapped energy comes from the probe.
    let mut rec = NightRecord::new(cfg.schedule.night_of(t));
    rec.book(&s, t, 3600.0, 0.0, 0.0);
    let r = report::build(
        &cfg,
        report::Source::Record,
        rec.night,
        rec.night,
        None,
        &[rec.clone()],
    );
    let c = r.nights[0].totals.curfew.clone().expect("curfew figures");
    assert!((c.hours - 1.0).abs() < 1e-9);
    assert!(c.kwh < c.uncapped_kwh);
    assert!(c.compliant, "{c:?}");
    assert!(c.reduction_pct.is_some_and(|p| p > 70.0), "{c:?}");
}

#[test]
fn the_forecast_applies_curfew_and_budget_like_the_daemon() {
    let site = format!(
        "curfew = {{ from = \"21:00\", to = \"22:00\", max_level = 0.5 }}\n{FOUR_FLOODS}\n[energy]\nmax_w = 100\n[[schedule]]\nshow = \"full\"\nstart = \"20:00\"\nend = \"22:00\"\n"
    );
    let (_d, cfg) = site_with(&site, &[FULL]);
    let from = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
    let r = report::forecast(&cfg, from, 1, 30.0, None).expect("forecast");
    let t = &r.total;
    assert!(t.peak_w <= 100.0 && t.peak_w > 95.0, "peak {}", t.peak_w);
    let b = t.budget.clone().expect("budget figures");
    assert!(b.limited_hours > 0.9 && b.shed_kwh > 0.0, "{b:?}");
    let c = t.curfew.clone().expect("curfew figures");
    assert!((c.hours - 1.0).abs() < 1e-6, "{c:?}");
}

#[test]
fn the_store_adds_up_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let night = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
    let t = at("2026-11-27T20:00:00+08:00");
    let mut a = NightRecord::new(night);
    {
        let s = a.scope_mut(ScopeKind::Site, "t");
        s.kwh = 1.5;
        s.peak_w = 100.0;
        s.min_scale = Some(0.8);
        s.first_at = Some(t);
        s.last_at = Some(t + Duration::minutes(1));
    }
    let mut b = a.clone();
    {
        let s = b.scope_mut(ScopeKind::Site, "t");
        s.peak_w = 50.0;
        s.min_scale = None;
        s.first_at = Some(t + Duration::minutes(1));
        s.last_at = Some(t + Duration::minutes(2));
    }
    let mut store = EnergyStore::open(dir.path()).expect("open");
    store
        .add(&BTreeMap::from([(night, a.clone())]))
        .expect("add a");
    store.add(&BTreeMap::from([(night, b)])).expect("add b");
    drop(store);
    let store = EnergyStore::open_existing(dir.path())
        .expect("reopen")
        .expect("exists");
    let got = store.nights(night, night).expect("nights");
    let s = got[0].site().expect("site");
    assert_eq!(s.kwh, 3.0);
    assert_eq!(s.peak_w, 100.0);
    assert_eq!(s.min_scale, Some(0.8));
    assert_eq!(s.first_at, Some(t));
    assert_eq!(s.last_at, Some(t + Duration::minutes(2)));
    assert_eq!(store.last_night().expect("last"), Some(night));
    // And in the merge the writer uses before a write: the same sums.
    let mut m = a.clone();
    m.merge(&a);
    assert_eq!(m.site().expect("site").kwh, 3.0);
}

#[test]
fn reports_have_every_format_and_name_bad_fields() {
    let (_d, cfg) = site_with(FOUR_FLOODS, &[FULL]);
    let dir = tempfile::tempdir().expect("tempdir");
    let now = at("2026-11-28T02:00:00+08:00");
    // No record yet: a report of zeros, not an error.
    let (ct, body) = report::http(
        dir.path(),
        &cfg,
        Some("2026-11-25"),
        Some("2026-11-27"),
        None,
        Some("json"),
        now,
    )
    .expect("report");
    assert_eq!(ct, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["nights"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["total"]["kwh"], 0.0);
    let (_, csv) =
        report::http(dir.path(), &cfg, None, None, Some("a"), Some("csv"), now).expect("csv");
    assert!(csv.starts_with("night,kwh,"));
    assert_eq!(csv.lines().count(), 1 + 7 + 1, "{csv}");
    assert!(csv.lines().last().is_some_and(|l| l.starts_with("total,")));
    let (ct, svg) =
        report::http(dir.path(), &cfg, None, None, None, Some("svg"), now).expect("svg");
    assert_eq!(ct, "image/svg+xml");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let e = report::http(
        dir.path(),
        &cfg,
        Some("2026-11-28"),
        Some("2026-11-27"),
        None,
        None,
        now,
    )
    .expect_err("from > to");
    assert_eq!(e.field(), Some("from"));
    assert!(e.is_bad_request());
    let e =
        report::http(dir.path(), &cfg, Some("27/11"), None, None, None, now).expect_err("bad date");
    assert_eq!(e.field(), Some("from"));
    let e = report::http(dir.path(), &cfg, None, None, Some("nope"), None, now)
        .expect_err("unknown group");
    assert_eq!(e.field(), Some("group"));
    let e = report::http(dir.path(), &cfg, None, None, None, Some("pdf"), now).expect_err("format");
    assert_eq!(e.field(), Some("format"));
    assert_eq!(Format::parse("SVG").ok(), Some(Format::Svg));
    let q = Query::parse(None, Some("2026-11-27"), None).expect("query");
    assert_eq!(
        q.range(NaiveDate::from_ymd_opt(2030, 1, 1).expect("d"))
            .expect("range")
            .0,
        NaiveDate::from_ymd_opt(2026, 11, 21).expect("d")
    );
}

/// Load a site whose energy section is broken and return the messages.
fn errors_of(energy: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = dir.path().join("fixtures");
    std::fs::create_dir_all(&fx).expect("fixtures");
    for (k, t) in PROFILES {
        std::fs::write(fx.join(format!("{k}.toml")), t).expect("profile");
    }
    let sd = dir.path().join("site");
    std::fs::create_dir_all(&sd).expect("site");
    let text = format!("name = \"t\"\nlatitude = 25.04\nlongitude = 102.71\ntimezone = \"Asia/Shanghai\"\nprofiles = \"../fixtures\"\n{energy}\n{FOUR_FLOODS}");
    std::fs::write(sd.join("site.toml"), text).expect("site");
    std::fs::write(sd.join("full.toml"), FULL.1).expect("show");
    match config::load(&sd) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .errors()
            .map(|x| format!("{}:{}: {}", x.line, x.col, x.message))
            .collect(),
    }
}

#[test]
fn bad_energy_input_is_located() {
    let e = errors_of("curfew = { from = \"23:30\", to = \"sunrize\", max_level = 0.3 }");
    assert!(
        e[0].starts_with("6:33: curfew: `sunrize` is not a time"),
        "{e:?}"
    );
    let e = errors_of("curfew = { from = \"23:30\", to = \"sunrise\", max_level = 1.3 }");
    assert!(
        e[0].starts_with("6:56: curfew max_level: level 1.3"),
        "{e:?}"
    );
    let e = errors_of("[energy]\nmax_w = -20\n[energy.groups.c]\nmax_w = 10\n");
    assert!(
        e[0].starts_with("7:9: max_w must be more than 0 watts, found -20"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("8:16: unknown group `c` in [energy.groups] (the site's groups: a, b)"),
        "{e:?}"
    );
    let e = errors_of("[energy.tariff]\nprice = -1\nbands = [{ from = \"7am\", to = \"09:00\", price = 1 }]\n[energy.groups.a]\ncurfew = { from = \"cron: 0 0 * * *\", to = \"for 2h\", max_level = 0 }\n");
    assert!(
        e[0].starts_with("7:9: tariff price must be zero or more"),
        "{e:?}"
    );
    assert!(e[1].starts_with("8:19: `7am` is not a clock time"), "{e:?}");
    assert!(
        e[2].starts_with("10:19: a curfew runs once a night"),
        "{e:?}"
    );
    let e = errors_of("[energy]\nmax_watts = 5\n");
    assert!(e[0].contains("unknown field `max_watts`"), "{e:?}");
    // A curfew may end "for" a duration after it starts.
    assert!(
        errors_of("curfew = { from = \"23:00\", to = \"for 2h\", max_level = \"30%\" }").is_empty()
    );
}

#[test]
fn the_demo_site_parses_its_energy_section() {
    let cfg =
        config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")).expect("demo site");
    let e = &cfg.energy;
    assert!(e.curfew.as_ref().is_some_and(|c| c.max_level == 0.3));
    assert!(e.max_w.is_some() && e.co2_kg_per_kwh > 0.0);
    assert_eq!(e.tariff.bands.len(), 2);
    assert!(e.groups.contains_key("searchlights"));
}

/// The journal is counted exactly once: a flush deletes it in the same
/// transaction that adds its batch, and a start folds one left behind.
#[test]
fn the_journal_is_folded_once_and_superseded_by_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let night = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
    let record = |kwh: f64| {
        let mut r = NightRecord::new(night);
        r.scope_mut(ScopeKind::Site, "t").kwh = kwh;
        BTreeMap::from([(night, r)])
    };
    let site_kwh = |store: &EnergyStore| {
        store
            .nights(night, night)
            .expect("nights")
            .first()
            .and_then(|n| n.site().map(|s| s.kwh))
            .unwrap_or(0.0)
    };
    let mut store = EnergyStore::open(dir.path()).expect("open");
    // A journal, then a flush that includes it: the journal is gone.
    store.write_journal(&record(1.0)).expect("journal");
    store
        .add_then_journal(&record(2.0), Some(&record(0.25)))
        .expect("flush");
    assert_eq!(site_kwh(&store), 2.0);
    // The journal now holds only what came after the flush; a killed
    // daemon leaves it, and the next start folds it once.
    drop(store);
    let mut store = EnergyStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.fold_journal().expect("fold").map(|r| r.len()),
        Some(1)
    );
    assert_eq!(site_kwh(&store), 2.25);
    assert_eq!(store.fold_journal().expect("fold again"), None);
    assert_eq!(site_kwh(&store), 2.25);
}

/// A recorded night with `kwh` on the site scope only.
fn site_night(cfg: &Config, night: NaiveDate, kwh: f64) -> NightRecord {
    let mut r = NightRecord::new(night);
    let s = r.scope_mut(ScopeKind::Site, &cfg.site.name);
    s.kwh = kwh;
    s.cost = kwh * 0.5;
    s.co2_kg = kwh * 0.6;
    s.peak_w = 400.0;
    s.metered_s = 86_400.0;
    r
}

#[test]
fn nights_without_a_record_are_no_data_and_the_baseline_is_stated() {
    let (_d, cfg) = site_with(FOUR_FLOODS, &[FULL]);
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
    // The 26th (a Thursday) has no record.
    let records = [
        site_night(&cfg, d("2026-11-25"), 2.0),
        site_night(&cfg, d("2026-11-27"), 3.0),
    ];
    let r = report::build(
        &cfg,
        report::Source::Record,
        d("2026-11-25"),
        d("2026-11-27"),
        None,
        &records,
    );
    let has: Vec<bool> = r.nights.iter().map(|n| n.has_data).collect();
    assert_eq!(has, [true, false, true]);
    assert_eq!(r.total.kwh, 5.0);

    // The default baseline: every fixture at its rated power from sunset
    // to sunrise — three 120 W floods and a 30 W lamp.
    assert_eq!(r.baseline_kind, "dusk-to-dawn");
    let n = cfg.schedule.night(d("2026-11-25"));
    let hours =
        (n.sunrise.expect("sunrise") - n.sunset.expect("sunset")).num_seconds() as f64 / 3600.0;
    let want = 390.0 * hours / 1000.0;
    assert!(
        (r.nights[0].totals.baseline_kwh - want).abs() < 1e-9,
        "{} vs {want}",
        r.nights[0].totals.baseline_kwh
    );
    assert_eq!(r.nights[1].totals.baseline_kwh, 0.0, "no data, no baseline");

    let table = report::render(&r, Format::Table);
    assert!(table.contains("2026-11-26 Thu    no data"), "{table}");
    assert!(table.contains("2 of 3 nights recorded"), "{table}");
    assert!(
        table.contains(
            "baseline: every fixture at its rated power from sunset to sunrise ([energy] baseline in site.toml)"
        ),
        "{table}"
    );
    let csv = report::render(&r, Format::Csv);
    assert!(
        csv.lines()
            .any(|l| l == format!("2026-11-26{}", ",".repeat(19))),
        "no data is empty, not 0: {csv}"
    );
    let json = report::json(&r);
    assert_eq!(json["nights"][1]["has_data"], false);
    assert_eq!(
        json["baseline"],
        "every fixture at its rated power from sunset to sunrise"
    );
    let svg = report::render(&r, Format::Svg);
    for want in [
        "no data",
        "url(#nodata)",
        "Thu 11-26",
        "Wed 11-25",
        "energy per night",
        "cost per night",
        "CO₂ per night",
        "peak power per night",
        "baseline: every fixture at its rated power from sunset to sunrise",
    ] {
        assert!(svg.contains(want), "{want} in the SVG");
    }
    // The no-data bar is drawn in each of the four charts.
    assert_eq!(svg.matches("url(#nodata)").count(), 4);

    // A measured baseline for the site; none for a group.
    let site = format!("[energy]\nbaseline_kwh_per_night = 50\n{FOUR_FLOODS}");
    let (_d2, cfg) = site_with(&site, &[FULL]);
    let r = report::build(
        &cfg,
        report::Source::Record,
        d("2026-11-25"),
        d("2026-11-27"),
        None,
        &records,
    );
    assert_eq!(r.baseline_kind, "measured");
    assert_eq!(r.total.baseline_kwh, 100.0);
    assert_eq!(r.total.savings_pct, Some(95.0));
    let g = report::build(
        &cfg,
        report::Source::Record,
        d("2026-11-25"),
        d("2026-11-27"),
        Some("a"),
        &records,
    );
    assert_eq!(g.total.savings_pct, None);
    assert!(g.baseline.starts_with("none for a group"), "{}", g.baseline);
}

#[test]
fn the_baseline_setting_is_checked() {
    let e = errors_of("[energy]\nbaseline = \"always\"\n");
    assert!(e[0].starts_with("7:12: unknown baseline `always`"), "{e:?}");
    let e = errors_of("[energy]\nbaseline = \"targeted\"\nbaseline_kwh_per_night = 3\n");
    assert!(e[0].contains("not both"), "{e:?}");
    let e = errors_of("[energy]\nbaseline_kwh_per_night = 0\n");
    assert!(e[0].contains("must be more than 0"), "{e:?}");
    assert!(errors_of("[energy]\nbaseline = \"targeted\"\n").is_empty());
}
