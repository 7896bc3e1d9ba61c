//! The schedule as the API and `nightscape schedule --format json` show it:
//! typed views of the planned nights and of what plays now, so
//! `/openapi.json` describes every field. Instants are RFC 3339 in the
//! site's timezone, as an operator reads them.

use crate::config::Config;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
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
    /// "day" (midnight sun) or "night" (polar night) where the sun does not
    /// set or rise; null elsewhere.
    pub polar: Option<String>,
    /// The mode chosen for this night ("default" when none applies).
    pub mode: String,
    pub entries: Vec<PlannedView>,
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

/// The schedule's part of `/api/status`: tonight's mode and the entries
/// playing now with their phase.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveScheduleView {
    /// The night `now` belongs to (YYYY-MM-DD).
    pub night: String,
    pub mode: String,
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
    pub fn build(cfg: &Config, from: NaiveDate, days: u32) -> PlanView {
        let tz = cfg.site.timezone;
        let nights = from
            .iter_days()
            .take(days.min(3660) as usize)
            .map(|d| {
                let n = cfg.schedule.night(d);
                NightView {
                    date: n.date.to_string(),
                    sunset: n.sunset.map(|t| local(t, tz)),
                    sunrise: n.sunrise.map(|t| local(t, tz)),
                    civil_dusk: n.civil_dusk.map(|t| local(t, tz)),
                    civil_dawn: n.civil_dawn.map(|t| local(t, tz)),
                    polar: n.polar.map(|p| format!("{p:?}").to_lowercase()),
                    mode: n.mode,
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

impl ActiveScheduleView {
    pub fn at(cfg: &Config, now: DateTime<Utc>) -> ActiveScheduleView {
        let tz = cfg.site.timezone;
        let night = cfg.schedule.night_of(now);
        ActiveScheduleView {
            night: night.to_string(),
            mode: cfg
                .schedule
                .mode_of(night)
                .map_or("default", |m| m.name.as_str())
                .to_string(),
            entries: cfg
                .schedule
                .active_at(now)
                .iter()
                .map(|p| ActiveEntryView {
                    show: p.show.clone(),
                    start: local(p.start, tz),
                    end: local(p.end, tz),
                    priority: p.priority,
                    phase_s: crate::engine::seconds_between(p.start, now),
                })
                .collect(),
        }
    }
}
