//! Why a night looks as it does, for `nightscape schedule` and
//! `/api/schedule`: which `[[modes]]` rule chose the night's mode and on
//! what grounds (a holiday, a holiday eve, a date, a weekday rule or the
//! default rule), which curfews and power budgets cap the lighting and from
//! when to when, and, where schedule entries overlap, which one is on top
//! during which part of the night.
//!
//! Computed here, from the same rules the frame loop uses (the mode rules'
//! first match, [`crate::energy::limit::curfew_window`], the engine's
//! drawing order), rather than re-derived by each caller, so the
//! explanation cannot disagree with what the lights do. Pure: the night is
//! an argument.

use crate::energy::config::EnergyConfig;
use crate::energy::limit;
use crate::schedule::lunar;
use crate::schedule::plan::{DateSel, ModeRule, Night, Schedule, Selectors};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use std::fmt;

/// One ground on which a mode rule matched a night.
#[derive(Debug, Clone, PartialEq)]
pub enum Ground {
    /// The night is the holiday (`holidays = ["mid_autumn"]`).
    Holiday(String),
    /// The night is the eve of the holiday (`holiday_eves = [...]`).
    HolidayEve(String),
    /// The night is in a listed date or range (`dates = [...]`), as written.
    Date(String),
    /// The night's weekday is listed (`days = [...]`): the listed days.
    Days(Vec<Weekday>),
    /// The rule has no selectors: it is the default.
    Default,
    /// An operator forced the mode for this one night (`POST
    /// /api/tonight/mode`): who, when they said.
    Forced { by: Option<String> },
}

/// Why night `date` has its mode.
#[derive(Debug, Clone, PartialEq)]
pub enum ModeReason {
    /// The site has no `[[modes]]`: the night's mode is "default" and every
    /// entry without `modes` runs.
    NoModes,
    /// `[[modes]]` exist but none matched (every rule has selectors): the
    /// mode is "default".
    NoRuleMatched,
    /// The first rule that matched, the grounds it matched on (all of them:
    /// a holiday that falls on a Friday matches twice), and the earlier
    /// rules that would have matched but for their `except`.
    Rule {
        mode: String,
        dark: bool,
        grounds: Vec<Ground>,
        excepted: Vec<String>,
    },
}

/// A cap on the lighting in force during a night.
#[derive(Debug, Clone, PartialEq)]
pub enum Cap {
    /// A curfew (site-wide when `group` is None): output capped to
    /// `max_level` from `window.0` to `window.1`; `window` is None when it
    /// does not happen this night (its end is not after its start, as
    /// `to = "sunrise"` under the midnight sun).
    Curfew {
        group: Option<String>,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        max_level: f32,
        from_text: String,
        to_text: String,
    },
    /// A power budget (site-wide when `group` is None), in force whenever
    /// anything is lit.
    Budget { group: Option<String>, max_w: f64 },
}

/// A part of the night during which one entry is drawn on top.
#[derive(Debug, Clone, PartialEq)]
pub struct OnTop {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub show: String,
    pub priority: i32,
    /// Index of the entry in the site file.
    pub entry: usize,
    /// The other entries playing under it, top first.
    pub over: Vec<String>,
}

/// A night with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub night: Night,
    pub reason: ModeReason,
    pub caps: Vec<Cap>,
    /// Which entry is on top when, in time order; gaps are dark. Empty when
    /// nothing plays.
    pub on_top: Vec<OnTop>,
    /// Whether any two entries overlap (otherwise `on_top` is just the
    /// entry list).
    pub overlaps: bool,
}

/// The holiday's name as people say it and how its date is fixed.
pub(crate) fn holiday_title(name: &str) -> (&'static str, &'static str) {
    match name {
        "new_year" => ("New Year's Day", "1 Jan"),
        "spring_festival_eve" => ("Spring Festival Eve", "last day of the lunar year"),
        "spring_festival" => ("Spring Festival", "lunar 1/1"),
        "lantern_festival" => ("Lantern Festival", "lunar 1/15"),
        "qingming" => ("Qingming", "solar term, sun at 15°"),
        "labour_day" => ("Labour Day", "1 May"),
        "dragon_boat" => ("Dragon Boat Festival", "lunar 5/5"),
        "qixi" => ("Qixi", "lunar 7/7"),
        "mid_autumn" => ("Mid-Autumn Festival", "lunar 8/15"),
        "national_day" => ("National Day", "1 Oct"),
        "double_ninth" => ("Double Ninth Festival", "lunar 9/9"),
        "christmas_eve" => ("Christmas Eve", "24 Dec"),
        "christmas" => ("Christmas Day", "25 Dec"),
        "new_years_eve" => ("New Year's Eve", "31 Dec"),
        _ => ("holiday", "?"),
    }
}

fn date_sel_text(s: &DateSel) -> String {
    match s {
        DateSel::Range(a, b) if a == b => a.to_string(),
        DateSel::Range(a, b) => format!("{a}..{b}"),
        DateSel::Annual(a, b) if a == b => format!("--{:02}-{:02}", a.0, a.1),
        DateSel::Annual(a, b) => format!("--{:02}-{:02}..--{:02}-{:02}", a.0, a.1, b.0, b.1),
    }
}

fn weekday_of(n: u32) -> Weekday {
    match n {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

/// Every ground on which `when` selects night `d`, ignoring `except`
/// (callers check it); `[Default]` for a rule without selectors.
fn grounds(when: &Selectors, d: NaiveDate) -> Vec<Ground> {
    let mut out = Vec::new();
    for h in &when.holidays {
        if lunar::is_holiday(h, d) {
            out.push(Ground::Holiday(h.clone()));
        }
    }
    for h in &when.holiday_eves {
        if d.succ_opt().is_some_and(|n| lunar::is_holiday(h, n)) {
            out.push(Ground::HolidayEve(h.clone()));
        }
    }
    for s in &when.dates {
        if s.contains(d) {
            out.push(Ground::Date(date_sel_text(s)));
        }
    }
    if let Some(days) = &when.days {
        if days.contains(&d.weekday().num_days_from_monday()) {
            out.push(Ground::Days(days.iter().map(|&n| weekday_of(n)).collect()));
        }
    }
    let any = when.days.is_some()
        || !when.dates.is_empty()
        || !when.holidays.is_empty()
        || !when.holiday_eves.is_empty();
    if !any {
        out.push(Ground::Default);
    }
    out
}

/// Why night `date` has the mode [`Schedule::mode_of`] gives it.
pub(crate) fn mode_reason(schedule: &Schedule, date: NaiveDate) -> ModeReason {
    if schedule.modes.is_empty() {
        return ModeReason::NoModes;
    }
    let chosen: Option<&ModeRule> = schedule.mode_of(date);
    let Some(rule) = chosen else {
        return ModeReason::NoRuleMatched;
    };
    let excepted = schedule
        .modes
        .iter()
        .take_while(|m| !std::ptr::eq(*m, rule))
        .filter(|m| {
            m.when.except.iter().any(|e| e.contains(date)) && !grounds(&m.when, date).is_empty()
        })
        .map(|m| m.name.clone())
        .collect();
    ModeReason::Rule {
        mode: rule.name.clone(),
        dark: rule.dark,
        grounds: grounds(&rule.when, date),
        excepted,
    }
}

/// The curfews and budgets in force on night `date`: the site's curfew,
/// each group's, then the site's budget and each group's.
pub(crate) fn caps(schedule: &Schedule, energy: &EnergyConfig, date: NaiveDate) -> Vec<Cap> {
    let curfew = |group: Option<&String>, c: &crate::energy::Curfew| Cap::Curfew {
        group: group.cloned(),
        window: limit::curfew_window(schedule, date, c),
        max_level: c.max_level,
        from_text: c.from_text.clone(),
        to_text: c.to_text.clone(),
    };
    let mut out = Vec::new();
    if let Some(c) = &energy.curfew {
        out.push(curfew(None, c));
    }
    for (name, g) in &energy.groups {
        if let Some(c) = &g.curfew {
            out.push(curfew(Some(name), c));
        }
    }
    if let Some(w) = energy.max_w {
        out.push(Cap::Budget {
            group: None,
            max_w: w,
        });
    }
    for (name, g) in &energy.groups {
        if let Some(w) = g.max_w {
            out.push(Cap::Budget {
                group: Some(name.clone()),
                max_w: w,
            });
        }
    }
    out
}

/// Which of the night's entries is on top when. The engine draws active
/// shows lowest priority first, ties by start, then by their order in the
/// night, so the last drawn — highest `(priority, start, order)` — is on
/// top. Consecutive parts with the same top and the same entries under it
/// are one part.
pub(crate) fn on_top(night: &Night) -> Vec<OnTop> {
    let mut cuts: Vec<DateTime<Utc>> = night
        .entries
        .iter()
        .flat_map(|e| [e.start, e.end])
        .collect();
    cuts.sort();
    cuts.dedup();
    let mut out: Vec<OnTop> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mut playing: Vec<(usize, &crate::schedule::plan::Planned)> = night
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.start <= a && a < e.end)
            .collect();
        if playing.is_empty() {
            continue;
        }
        // Top first.
        playing.sort_by_key(|(j, y)| std::cmp::Reverse((y.priority, y.start, *j)));
        let top = playing[0].1;
        let mut over: Vec<String> = Vec::new();
        for (_, e) in &playing[1..] {
            if !over.contains(&e.show) && e.show != top.show {
                over.push(e.show.clone());
            }
        }
        match out.last_mut() {
            Some(last)
                if last.to == a
                    && last.entry == top.entry
                    && last.show == top.show
                    && last.over == over =>
            {
                last.to = b;
            }
            _ => out.push(OnTop {
                from: a,
                to: b,
                show: top.show.clone(),
                priority: top.priority,
                entry: top.entry,
                over,
            }),
        }
    }
    out
}

#[cfg(test)]
/// Night `date` resolved and explained.
pub(crate) fn night(schedule: &Schedule, energy: &EnergyConfig, date: NaiveDate) -> Explained {
    night_forced(schedule, energy, date, None)
}

/// Night `date` resolved and explained, in the mode an operator forced
/// for it (`forced`: the mode and who forced it), if any.
pub fn night_forced(
    schedule: &Schedule,
    energy: &EnergyConfig,
    date: NaiveDate,
    forced: Option<(&str, Option<&str>)>,
) -> Explained {
    let night = schedule.night_in_mode(date, forced.map(|f| f.0));
    let reason = match forced {
        Some((mode, by)) => ModeReason::Rule {
            mode: mode.to_string(),
            dark: schedule.modes.iter().any(|m| m.name == mode && m.dark),
            grounds: vec![Ground::Forced {
                by: by.map(str::to_string),
            }],
            excepted: Vec::new(),
        },
        None => mode_reason(schedule, date),
    };
    let overlaps = night.entries.iter().enumerate().any(|(i, a)| {
        night.entries[i + 1..]
            .iter()
            .any(|b| a.start < b.end && b.start < a.end)
    });
    Explained {
        reason,
        caps: caps(schedule, energy, date),
        on_top: on_top(&night),
        overlaps,
        night,
    }
}

impl fmt::Display for Ground {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ground::Holiday(h) => {
                let (title, rule) = holiday_title(h);
                write!(f, "{title} ({rule})")
            }
            Ground::HolidayEve(h) => {
                let (title, rule) = holiday_title(h);
                write!(f, "eve of {title} ({rule})")
            }
            Ground::Date(s) => write!(f, "date {s}"),
            Ground::Days(days) => {
                let list: Vec<String> = days.iter().map(|d| d.to_string()).collect();
                write!(f, "weekday rule {}", list.join(", "))
            }
            Ground::Default => f.write_str("default rule (no earlier rule matched)"),
            Ground::Forced { by: Some(by) } => {
                write!(f, "forced by an operator ({by}) for this night")
            }
            Ground::Forced { by: None } => f.write_str("forced by an operator for this night"),
        }
    }
}

impl fmt::Display for ModeReason {
    /// One line: "festival: Mid-Autumn Festival (lunar 8/15)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeReason::NoModes => f.write_str("default: the site has no [[modes]]"),
            ModeReason::NoRuleMatched => {
                f.write_str("default: no [[modes]] rule matches this night")
            }
            ModeReason::Rule {
                mode,
                dark,
                grounds,
                excepted,
            } => {
                let g: Vec<String> = grounds.iter().map(ToString::to_string).collect();
                write!(f, "{mode}: {}", g.join("; "))?;
                if *dark {
                    f.write_str(" (a dark mode: only entries naming it run)")?;
                }
                if !excepted.is_empty() {
                    write!(f, "; not {} (excepted)", excepted.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

/// Levels as an operator reads them: "30 %".
fn percent(level: f32) -> String {
    format!("{:.0} %", (level * 100.0).round())
}

impl Cap {
    /// One line in the site's time: "curfew 23:30–06:51 caps to 30 %".
    pub fn describe(&self, tz: chrono_tz::Tz) -> String {
        let scope = |g: &Option<String>| {
            g.as_ref()
                .map_or_else(String::new, |g| format!(" (group {g})"))
        };
        match self {
            Cap::Curfew {
                group,
                window: Some((a, b)),
                max_level,
                ..
            } => format!(
                "curfew{} {}–{} caps to {}",
                scope(group),
                a.with_timezone(&tz).format("%H:%M"),
                b.with_timezone(&tz).format("%H:%M"),
                percent(*max_level)
            ),
            Cap::Curfew {
                group,
                window: None,
                from_text,
                to_text,
                ..
            } => format!(
                "curfew{} \"{from_text}\" to \"{to_text}\" does not happen this night",
                scope(group)
            ),
            Cap::Budget { group, max_w } => {
                format!("budget{} {:.1} kW all night", scope(group), max_w / 1000.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Sources};
    use crate::diag::{Diagnostics, SourceFile};

    const PROFILE: &str =
        "name = \"d\"\npower_w = 10\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmer\"]\n";

    /// A small site in Shanghai with three shows and the schedule/energy text
    /// under test.
    fn config(extra: &str) -> Config {
        let site = format!(
            "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n{extra}\n\
             [[paths]]\nname = \"p\"\npoints = [[0, 0], [100, 0]]\n\
             [[arrays]]\nname = \"lamp\"\nprofile = \"dim\"\npath = \"p\"\nmode = \"1ch\"\nspacing = 10\nstart = \"0.1\"\n\
             [groups]\nbeams = [\"lamp-001\", \"lamp-002\"]\n"
        );
        let shows = ["static", "nightly", "festival"]
            .iter()
            .map(|n| {
                SourceFile::new(
                    format!("t/{n}.toml"),
                    "[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"white\"\n",
                )
            })
            .collect();
        let sources = Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new("fixtures/dim.toml", PROFILE)],
            profiles_unreadable: None,
            shows,
        };
        crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const MODES: &str = r#"
[[modes]]
name = "festival"
holidays = ["mid_autumn", "spring_festival"]
dates = ["--10-01..--10-07"]
[[modes]]
name = "show-night"
days = ["Fri", "Sat"]
holiday_eves = ["national_day"]
except = ["2026-12-25"]
[[modes]]
name = "dark-day"
days = "Sun"
dark = true
[[modes]]
name = "normal"
[[schedule]]
show = "static"
start = "19:00"
end = "22:00"
"#;

    /// Night → the one line `schedule` prints under "why".
    #[test]
    fn mode_reasons_name_the_rule_and_the_ground() {
        let cfg = config(MODES);
        let cases = [
            // Mid-Autumn 2027 is 15 September, a Wednesday.
            ("2027-09-15", "festival: Mid-Autumn Festival (lunar 8/15)"),
            // National Day 2026 is a Thursday inside the annual range.
            ("2026-10-01", "festival: date --10-01..--10-07"),
            ("2026-09-30", "show-night: eve of National Day (1 Oct)"),
            ("2026-11-27", "show-night: weekday rule Fri, Sat"),
            // Spring Festival 2027 is 6 February, a Saturday: show-night
            // would match too, but the festival rule comes first.
            ("2027-02-06", "festival: Spring Festival (lunar 1/1)"),
            (
                "2026-11-29",
                "dark-day: weekday rule Sun (a dark mode: only entries naming it run)",
            ),
            (
                "2026-11-26",
                "normal: default rule (no earlier rule matched)",
            ),
            // Christmas 2026 is a Friday, excepted from show-night.
            (
                "2026-12-25",
                "normal: default rule (no earlier rule matched); not show-night (excepted)",
            ),
        ];
        for (d, want) in cases {
            let got = mode_reason(&cfg.schedule, date(d)).to_string();
            assert_eq!(got, want, "night of {d}");
            assert!(
                got.starts_with(&cfg.schedule.night(date(d)).mode),
                "the reason names the night's mode"
            );
        }
        let none = config("[[schedule]]\nshow = \"static\"\nstart = \"19:00\"\nend = \"22:00\"\n");
        assert_eq!(
            mode_reason(&none.schedule, date("2026-11-26")).to_string(),
            "default: the site has no [[modes]]"
        );
        let unmatched = config("[[modes]]\nname = \"weekend\"\ndays = \"weekends\"\n");
        assert_eq!(
            mode_reason(&unmatched.schedule, date("2026-11-26")),
            ModeReason::NoRuleMatched
        );
    }

    /// A forced mode replaces the rules' choice for its night only, selects
    /// the entries that name it, and the reason says an operator forced it.
    #[test]
    fn a_forced_mode_wins_for_its_night() {
        let extra = format!("{MODES}[[schedule]]\nshow = \"festival\"\nstart = \"19:00\"\nend = \"22:00\"\nmodes = [\"festival\"]\npriority = 5\n");
        let cfg = config(&extra);
        let energy = &cfg.energy;
        let thu = date("2026-11-26");
        let plain = night(&cfg.schedule, energy, thu);
        assert_eq!(plain.night.mode, "normal");
        assert!(!plain.night.forced);
        assert!(plain.night.entries.iter().all(|p| p.show != "festival"));
        let forced = night_forced(&cfg.schedule, energy, thu, Some(("festival", Some("ops"))));
        assert_eq!(forced.night.mode, "festival");
        assert!(forced.night.forced);
        assert!(forced.night.entries.iter().any(|p| p.show == "festival"));
        assert_eq!(
            forced.reason.to_string(),
            "festival: forced by an operator (ops) for this night"
        );
        // A forced dark mode leaves out entries that do not name it.
        let dark = night_forced(&cfg.schedule, energy, thu, Some(("dark-day", None)));
        assert!(dark.night.entries.is_empty());
        // The next night is untouched.
        assert_eq!(cfg.schedule.night(date("2026-11-27")).mode, "show-night");
    }

    /// Caps with their windows in site time.
    #[test]
    fn caps_name_their_times_in_site_time() {
        let tz = chrono_tz::Asia::Shanghai;
        let cases = [
            (
                "curfew = { from = \"23:00\", to = \"05:30\", max_level = 0.3 }\n",
                vec!["curfew 23:00–05:30 caps to 30 %"],
            ),
            (
                "curfew = { from = \"23:30\", to = \"for 2h\", max_level = \"0%\" }\n[energy]\nmax_w = 15000\n[energy.groups.beams]\nmax_w = 4500\ncurfew = { from = \"22:30\", to = \"01:00\", max_level = 0 }\n",
                vec![
                    "curfew 23:30–01:30 caps to 0 %",
                    "curfew (group beams) 22:30–01:00 caps to 0 %",
                    "budget 15.0 kW all night",
                    "budget (group beams) 4.5 kW all night",
                ],
            ),
            ("", vec![]),
        ];
        for (text, want) in cases {
            let cfg = config(text);
            let got: Vec<String> = caps(&cfg.schedule, &cfg.energy, date("2026-11-26"))
                .iter()
                .map(|c| c.describe(tz))
                .collect();
            assert_eq!(got, want, "{text}");
        }
        // A curfew to sunrise: its end is the night's own sunrise.
        let cfg = config("curfew = { from = \"23:30\", to = \"sunrise\", max_level = 0.3 }\n");
        let n = cfg.schedule.night(date("2026-11-26"));
        match &caps(&cfg.schedule, &cfg.energy, date("2026-11-26"))[0] {
            Cap::Curfew {
                window: Some((_, to)),
                ..
            } => assert_eq!(Some(*to), n.sunrise),
            other => panic!("{other:?}"),
        }
    }

    /// Overlapping entries: which is on top when, as (from, to, show, over).
    #[test]
    fn overlapping_entries_say_which_is_on_top() {
        let tz = chrono_tz::Asia::Shanghai;
        let hm = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M").to_string();
        type Want = Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)>;
        let cases: Vec<(&str, Want)> = vec![
            (
                // A higher priority show over the static look, which resumes.
                "[[schedule]]\nshow = \"static\"\nstart = \"19:00\"\nend = \"22:00\"\n\
                 [[schedule]]\nshow = \"nightly\"\nstart = \"cron: 30 19-20 * * *\"\nend = \"for 15m\"\npriority = 10\n",
                vec![
                    ("19:00", "19:30", "static", vec![]),
                    ("19:30", "19:45", "nightly", vec!["static"]),
                    ("19:45", "20:30", "static", vec![]),
                    ("20:30", "20:45", "nightly", vec!["static"]),
                    ("20:45", "22:00", "static", vec![]),
                ],
            ),
            (
                // Equal priority: the later start is drawn on top; a gap is dark.
                "[[schedule]]\nshow = \"static\"\nstart = \"19:00\"\nend = \"23:00\"\n\
                 [[schedule]]\nshow = \"festival\"\nstart = \"22:00\"\nend = \"01:00\"\n\
                 [[schedule]]\nshow = \"nightly\"\nstart = \"02:00\"\nend = \"03:00\"\n",
                vec![
                    ("19:00", "22:00", "static", vec![]),
                    ("22:00", "23:00", "festival", vec!["static"]),
                    ("23:00", "01:00", "festival", vec![]),
                    ("02:00", "03:00", "nightly", vec![]),
                ],
            ),
            (
                // A lower priority background under everything, all night.
                "[[schedule]]\nshow = \"static\"\nstart = \"12:00\"\nend = \"12:00\"\npriority = -10\n\
                 [[schedule]]\nshow = \"festival\"\nstart = \"20:00\"\nend = \"21:00\"\n",
                vec![
                    ("12:00", "20:00", "static", vec![]),
                    ("20:00", "21:00", "festival", vec!["static"]),
                    ("21:00", "12:00", "static", vec![]),
                ],
            ),
        ];
        for (text, want) in cases {
            let cfg = config(text);
            let e = night(&cfg.schedule, &cfg.energy, date("2026-11-26"));
            assert!(e.overlaps, "{text}");
            let got: Vec<(String, String, String, Vec<String>)> = e
                .on_top
                .iter()
                .map(|p| (hm(p.from), hm(p.to), p.show.clone(), p.over.clone()))
                .collect();
            let want: Vec<(String, String, String, Vec<String>)> = want
                .into_iter()
                .map(|(a, b, s, o)| {
                    (
                        a.into(),
                        b.into(),
                        s.into(),
                        o.into_iter().map(String::from).collect(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{text}");
        }
        let cfg = config("[[schedule]]\nshow = \"static\"\nstart = \"19:00\"\nend = \"22:00\"\n");
        assert!(!night(&cfg.schedule, &cfg.energy, date("2026-11-26")).overlaps);
    }
}
