//! The schedule as the API and `nightscape schedule --format json` show it:
//! typed views of the planned nights and of what plays now, so
//! `/openapi.json` describes every field. Instants are RFC 3339 in the
//! site's timezone, as an operator reads them.

use crate::config::Config;
use crate::daemon::Skips;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use nightscape_core::explain::Cap;
use nightscape_core::schedule::sun::Polar;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/schedule`: the coming nights.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    pub site: String,
    /// IANA timezone of the site.
    pub timezone: String,
    pub nights: Vec<NightView>,
}

/// One night, noon to noon.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NightView {
    /// The date the night begins (YYYY-MM-DD).
    pub date: String,
    pub sunset: Option<String>,
    pub sunrise: Option<String>,
    pub civil_dusk: Option<String>,
    pub civil_dawn: Option<String>,
    /// Where the sun does not set or rise: "day" (midnight sun) or
    /// "night" (polar night); null elsewhere.
    pub polar: Option<PolarView>,
    /// The mode chosen for this night ("default" when none applies).
    pub mode: String,
    /// The mode was forced by an operator for this night
    /// (`POST /api/tonight/mode`), not chosen by the `[[modes]]` rules.
    pub forced: bool,
    /// Who forced it, when `forced`.
    pub forced_by: Option<String>,
    /// Why: the `[[modes]]` rule that chose the mode and on what ground
    /// ("festival: Mid-Autumn Festival (lunar 8/15)", "show-night: weekday
    /// rule Fri, Sat", "normal: default rule (no earlier rule matched)").
    pub why: String,
    /// Curfews and power budgets in force this night, with their times.
    pub caps: Vec<CapView>,
    pub entries: Vec<PlannedView>,
    /// Which entry is drawn on top when, in time order (gaps are dark):
    /// where entries overlap, the highest priority wins, then the later
    /// start.
    pub on_top: Vec<OnTopView>,
    /// Entries that could not be placed this night, and why.
    pub skipped: Vec<String>,
}

/// A schedule entry resolved for one night.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedView {
    pub show: String,
    pub start: String,
    pub end: String,
    pub priority: i32,
}

/// Why a night has no sunset or sunrise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolarView {
    /// Midnight sun: the sun stays up all day.
    Day,
    /// Polar night: the sun never rises.
    Night,
}

impl From<Polar> for PolarView {
    fn from(p: Polar) -> PolarView {
        match p {
            Polar::Day => PolarView::Day,
            Polar::Night => PolarView::Night,
        }
    }
}

/// What a cap limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    /// A curfew: levels capped between two times.
    Curfew,
    /// A power budget: watts limited all night.
    Budget,
}

/// A curfew or power budget in force during a night.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CapView {
    pub kind: CapKind,
    /// The group it applies to; null for the whole site.
    pub group: Option<String>,
    /// A curfew's start and end this night (null: it does not happen
    /// this night, or a budget, which holds all night).
    pub from: Option<String>,
    pub to: Option<String>,
    /// A curfew's cap, 0..1.
    pub max_level: Option<f32>,
    /// A budget's limit in watts.
    pub max_w: Option<f64>,
    /// The same in words, times in the site's timezone: "curfew
    /// 23:30–06:51 caps to 30 %".
    pub text: String,
}

/// A part of the night during which one entry is on top.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnTopView {
    pub from: String,
    pub to: String,
    pub show: String,
    pub priority: i32,
    /// The other entries playing under it, top first.
    pub over: Vec<String>,
}

/// The schedule's part of `/api/status`: tonight's mode and the entries
/// playing now with their phase.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveScheduleView {
    /// The night `now` belongs to (YYYY-MM-DD).
    pub night: String,
    pub mode: String,
    /// The mode was forced by an operator for this night.
    pub forced: bool,
    pub entries: Vec<ActiveEntryView>,
}

/// An entry playing now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveEntryView {
    pub show: String,
    pub start: String,
    pub end: String,
    pub priority: i32,
    /// Seconds since the entry started: the show's phase.
    pub phase_s: f64,
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339()
}

impl PlanView {
    /// `days` nights from `from` (at most 3,660).
    /// `forced`: the nights an operator forced into a mode, with the mode
    /// and who forced it, so the plan says what will really play.
    pub fn build(
        cfg: &Config,
        from: NaiveDate,
        days: u32,
        forced: &std::collections::BTreeMap<NaiveDate, (String, String)>,
    ) -> PlanView {
        let tz = cfg.site.timezone;
        let nights = from
            .iter_days()
            .take(days.min(3660) as usize)
            .map(|d| {
                let force = forced.get(&d);
                let x = nightscape_core::explain::night_forced(
                    &cfg.schedule,
                    &cfg.energy,
                    d,
                    force.map(|(m, by)| (m.as_str(), Some(by.as_str()))),
                );
                let n = x.night;
                let forced_by = force.filter(|_| n.forced).map(|(_, by)| by.clone());
                NightView {
                    date: n.date.to_string(),
                    sunset: n.sunset.map(|t| local(t, tz)),
                    sunrise: n.sunrise.map(|t| local(t, tz)),
                    civil_dusk: n.civil_dusk.map(|t| local(t, tz)),
                    civil_dawn: n.civil_dawn.map(|t| local(t, tz)),
                    polar: n.polar.map(PolarView::from),
                    mode: n.mode,
                    forced: n.forced,
                    forced_by,
                    why: x.reason.to_string(),
                    caps: x.caps.iter().map(|c| CapView::new(c, tz)).collect(),
                    on_top: x
                        .on_top
                        .into_iter()
                        .map(|p| OnTopView {
                            from: local(p.from, tz),
                            to: local(p.to, tz),
                            show: p.show,
                            priority: p.priority,
                            over: p.over,
                        })
                        .collect(),
                    entries: n
                        .entries
                        .iter()
                        .map(|e| PlannedView {
                            show: e.show.clone(),
                            start: local(e.start, tz),
                            end: local(e.end, tz),
                            priority: e.priority,
                        })
                        .collect(),
                    skipped: n.skipped,
                }
            })
            .collect();
        PlanView {
            site: cfg.site.name.clone(),
            timezone: tz.name().to_string(),
            nights,
        }
    }
}

impl CapView {
    fn new(c: &Cap, tz: Tz) -> CapView {
        let text = c.describe(tz);
        match c {
            Cap::Curfew {
                group,
                window,
                max_level,
                ..
            } => CapView {
                kind: CapKind::Curfew,
                group: group.clone(),
                from: window.map(|w| local(w.0, tz)),
                to: window.map(|w| local(w.1, tz)),
                max_level: Some(*max_level),
                max_w: None,
                text,
            },
            Cap::Budget { group, max_w } => CapView {
                kind: CapKind::Budget,
                group: group.clone(),
                from: None,
                to: None,
                max_level: None,
                max_w: Some(*max_w),
                text,
            },
        }
    }
}

impl ActiveScheduleView {
    /// What the schedule plays at `now` as the frame loop sees it: a mode
    /// an operator forced tonight, and without the entries skipped.
    pub fn at(cfg: &Config, now: DateTime<Utc>, skips: &Skips) -> ActiveScheduleView {
        let tz = cfg.site.timezone;
        let night = cfg.schedule.night_of(now);
        let tonight = skips.night(&cfg.schedule, night);
        let entries = skips
            .active_at(&cfg.schedule, now)
            .into_iter()
            .map(|p| ActiveEntryView {
                show: p.show,
                start: local(p.start, tz),
                end: local(p.end, tz),
                priority: p.priority,
                phase_s: nightscape_core::engine::seconds_between(p.start, now),
            })
            .collect();
        ActiveScheduleView {
            night: night.to_string(),
            mode: tonight.mode,
            forced: tonight.forced,
            entries,
        }
    }
}
