//! Schedule entries and modes from `site.toml`, and their resolution into
//! concrete instants night by night.
//!
//! A *night* runs from local noon on its date to local noon the next day,
//! so "sunset to 01:00" is one evening's entry and crossing midnight needs
//! no special case. Times are clock times ("19:30"), sun events with an
//! offset and clamps ("sunset - 10m, not before 18:00, not after 19:30"),
//! cron expressions for starts ("cron: 30 19-21 * * *", every firing in the
//! night starts a run) and durations for ends ("for 15m").
//!
//! Which nights an entry runs on: if it lists any of `days`, `dates`,
//! `holidays`, `holiday_eves`, the night must match at least one of them
//! (otherwise every night), it must not be in `except`, and the night's
//! mode must be in its `modes` (entries without `modes` run in every mode
//! that is not `dark`). Modes are ordered rules; the first rule whose
//! selectors match names the night's mode, and a rule without selectors is
//! the default.
//!
//! Polar rule: when a sun event does not happen on a night, the sun is
//! taken to stay on its side all night: in polar night, evening events
//! (sunset, dusks) fall at the start of the night (local noon) and morning
//! events (sunrise, dawns) at its end; in midnight sun (or a twilight that
//! never gets dark enough) the other way round, so a sunset-to-sunrise
//! entry does not run. Clamps still apply, which is how a designer keeps
//! "sunset, not after 22:00" running under the midnight sun.

use super::cron::CronSpec;
use super::lunar;
use super::sun::{self, Polar, SunEvent};
use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use crate::units;
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;

/// When an entry starts or ends, before it is resolved for a night.
#[derive(Debug, Clone)]
pub enum TimeSpec {
    Clock(NaiveTime),
    Sun {
        event: SunEvent,
        offset: Duration,
        not_before: Option<NaiveTime>,
        not_after: Option<NaiveTime>,
    },
    /// Start only: every firing within the night starts a run.
    Cron(Box<CronSpec>),
    /// End only: this long after the start.
    For(Duration),
}

fn parse_clock(text: &str) -> Option<NaiveTime> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .ok()
}

/// Parse a start or end time specification.
pub(crate) fn parse_time(text: &str) -> Result<TimeSpec, String> {
    let t = text.trim();
    if let Some(expr) = t.strip_prefix("cron:") {
        return CronSpec::parse(expr.trim())
            .map(|c| TimeSpec::Cron(Box::new(c)))
            .map_err(|e| e.to_string());
    }
    if let Some(d) = t.strip_prefix("for ") {
        let secs = units::parse_duration(d)?;
        if secs <= 0.0 {
            return Err("`for` needs a duration longer than 0s".into());
        }
        if secs > MAX_SPAN_S {
            return Err(format!(
                "`for {}` is longer than two days: an entry belongs to one night",
                d.trim()
            ));
        }
        return Ok(TimeSpec::For(Duration::milliseconds(
            (secs * 1000.0) as i64,
        )));
    }
    if let Some(c) = parse_clock(t) {
        return Ok(TimeSpec::Clock(c));
    }
    let mut parts = t.split(',');
    let head = parts.next().unwrap_or("").trim();
    let (name, offset) = match head.find(['+', '-']) {
        Some(i) => {
            let secs = units::parse_duration(head[i + 1..].trim())?;
            if secs > MAX_OFFSET_S {
                return Err(format!("`{text}`: a sun event offset is at most 12h"));
            }
            let sign = if head[i..].starts_with('-') {
                -1.0
            } else {
                1.0
            };
            (
                head[..i].trim(),
                Duration::milliseconds((sign * secs * 1000.0) as i64),
            )
        }
        None => (head, Duration::zero()),
    };
    let event = SunEvent::parse(name).ok_or_else(|| {
        format!(
            "`{text}` is not a time: write \"19:30\", a sun event like \"sunset - 10m\" (sunset, sunrise, civil_dusk, civil_dawn, nautical_dusk, nautical_dawn, astronomical_dusk, astronomical_dawn, noon), \"cron: 0 20 * * Fri\" or, for an end, \"for 3h\""
        )
    })?;
    let (mut not_before, mut not_after) = (None, None);
    for clamp in parts {
        let c = clamp.trim();
        let (slot, rest) = if let Some(r) = c.strip_prefix("not before") {
            (&mut not_before, r)
        } else if let Some(r) = c.strip_prefix("not after") {
            (&mut not_after, r)
        } else {
            return Err(format!(
                "`{c}`: a clamp is \"not before HH:MM\" or \"not after HH:MM\""
            ));
        };
        *slot = Some(
            parse_clock(rest)
                .ok_or_else(|| format!("`{}` is not a clock time like 18:00", rest.trim()))?,
        );
    }
    if let (Some(nb), Some(na)) = (not_before, not_after) {
        // Clamps compare in night order: 18:00 is before 01:00.
        let key = |t: NaiveTime| (t < noon(), t);
        if key(nb) > key(na) {
            return Err(format!(
                "`{text}`: \"not before {}\" is later than \"not after {}\"",
                nb.format("%H:%M"),
                na.format("%H:%M")
            ));
        }
    }
    Ok(TimeSpec::Sun {
        event,
        offset,
        not_before,
        not_after,
    })
}

/// Whether a cron start fires more often than a night can hold runs.
fn too_frequent(c: &CronSpec) -> bool {
    let day = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
    day.is_some_and(|d| {
        c.firings(chrono_tz::UTC, d, d + Duration::days(1)).len() > MAX_RUNS_PER_NIGHT
    })
}

/// Longest `for` duration: an entry belongs to one night.
const MAX_SPAN_S: f64 = 48.0 * 3600.0;
/// Largest offset from a sun event.
const MAX_OFFSET_S: f64 = 12.0 * 3600.0;
/// Most runs a cron start may give one night; more is a mistake (a
/// per-second expression) that would flood the frame loop.
pub(crate) const MAX_RUNS_PER_NIGHT: usize = 288;

/// A set of dates: single, range, or annual (month-day) range.
#[derive(Debug, Clone, PartialEq)]
pub enum DateSel {
    Range(NaiveDate, NaiveDate),
    /// (month, day) ranges that may wrap the year end.
    Annual((u32, u32), (u32, u32)),
}

impl DateSel {
    pub(crate) fn contains(&self, d: NaiveDate) -> bool {
        match *self {
            DateSel::Range(a, b) => a <= d && d <= b,
            DateSel::Annual(a, b) => {
                let md = (d.month(), d.day());
                if a <= b {
                    a <= md && md <= b
                } else {
                    md >= a || md <= b
                }
            }
        }
    }
}

fn parse_one_date(t: &str) -> Result<Result<NaiveDate, (u32, u32)>, String> {
    let t = t.trim();
    if let Some(md) = t.strip_prefix("--") {
        let (m, d) = md
            .split_once('-')
            .ok_or_else(|| format!("`{t}` is not an annual date like --10-01"))?;
        let (m, d): (u32, u32) = (
            m.parse().map_err(|_| format!("`{t}`: bad month"))?,
            d.parse().map_err(|_| format!("`{t}`: bad day"))?,
        );
        // 2024 is a leap year, so --02-29 is allowed.
        NaiveDate::from_ymd_opt(2024, m, d)
            .ok_or_else(|| format!("`{t}` is not a day of the year"))?;
        return Ok(Err((m, d)));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map(Ok)
        .map_err(|_| format!("`{t}` is not a date: write 2027-02-05, a range 2027-02-05..2027-02-12, or an annual --10-01..--10-07"))
}

/// Parse "2027-02-05", "2027-02-05..2027-02-12", "--10-01..--10-07".
pub(crate) fn parse_dates(text: &str) -> Result<DateSel, String> {
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    match (parse_one_date(a)?, parse_one_date(b)?) {
        (Ok(x), Ok(y)) if x <= y => Ok(DateSel::Range(x, y)),
        (Ok(_), Ok(_)) => Err(format!("`{text}` runs backwards")),
        (Err(x), Err(y)) => Ok(DateSel::Annual(x, y)),
        _ => Err(format!("`{text}` mixes a full date and an annual date")),
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// Parse day words: "daily", "weekdays", "weekends", "Fri", "Mon-Thu".
pub(crate) fn parse_days(text: &str) -> Result<BTreeSet<u32>, String> {
    let t = text.trim().to_ascii_lowercase();
    let all: BTreeSet<u32> = (0..7).collect();
    match t.as_str() {
        "daily" | "every day" | "all" => return Ok(all),
        "weekdays" => return Ok((0..5).collect()),
        "weekends" => return Ok([5, 6].into()),
        _ => {}
    }
    let bad = || {
        format!("`{text}` is not a day: use Mon..Sun, a range like Mon-Thu, daily, weekdays or weekends")
    };
    if let Some((a, b)) = t.split_once('-') {
        let (a, b) = (weekday(a).ok_or_else(bad)?, weekday(b).ok_or_else(bad)?);
        let (a, b) = (a.num_days_from_monday(), b.num_days_from_monday());
        // Ranges may wrap the week: Fri-Mon.
        let mut set = BTreeSet::new();
        let mut d = a;
        loop {
            set.insert(d);
            if d == b {
                break;
            }
            d = (d + 1) % 7;
        }
        return Ok(set);
    }
    Ok([weekday(&t).ok_or_else(bad)?.num_days_from_monday()].into())
}

/// Night selectors shared by entries and modes.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub days: Option<BTreeSet<u32>>,
    pub dates: Vec<DateSel>,
    pub holidays: Vec<String>,
    pub holiday_eves: Vec<String>,
    pub except: Vec<DateSel>,
}

impl Selectors {
    fn any(&self) -> bool {
        self.days.is_some()
            || !self.dates.is_empty()
            || !self.holidays.is_empty()
            || !self.holiday_eves.is_empty()
    }

    pub(crate) fn matches(&self, d: NaiveDate) -> bool {
        if self.except.iter().any(|e| e.contains(d)) {
            return false;
        }
        if !self.any() {
            return true;
        }
        self.days
            .as_ref()
            .is_some_and(|s| s.contains(&d.weekday().num_days_from_monday()))
            || self.dates.iter().any(|s| s.contains(d))
            || self.holidays.iter().any(|h| lunar::is_holiday(h, d))
            || self
                .holiday_eves
                .iter()
                .any(|h| d.succ_opt().is_some_and(|n| lunar::is_holiday(h, n)))
    }
}

/// A compiled `[[schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub show: String,
    pub start: TimeSpec,
    pub end: TimeSpec,
    pub priority: i32,
    pub when: Selectors,
    pub modes: Option<Vec<String>>,
    pub span: Range<usize>,
}

/// A compiled `[[modes]]` rule.
#[derive(Debug, Clone)]
pub struct ModeRule {
    pub name: String,
    pub when: Selectors,
    pub dark: bool,
}

/// The site's schedule: entries, mode rules and the place they refer to.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub entries: Vec<Entry>,
    pub modes: Vec<ModeRule>,
    pub latitude: f64,
    pub longitude: f64,
    pub tz: Tz,
}

/// One entry resolved for one night.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Planned {
    pub show: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub priority: i32,
    /// Index of the entry in the site file.
    #[serde(skip)]
    pub entry: usize,
}

/// A night's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Night {
    pub date: NaiveDate,
    pub sunset: Option<DateTime<Utc>>,
    pub sunrise: Option<DateTime<Utc>>,
    pub civil_dusk: Option<DateTime<Utc>>,
    pub civil_dawn: Option<DateTime<Utc>>,
    pub polar: Option<Polar>,
    pub mode: String,
    /// The mode was forced by an operator for this night (not chosen by
    /// the `[[modes]]` rules).
    pub forced: bool,
    pub entries: Vec<Planned>,
    /// Entries that could not be placed this night, and why.
    pub skipped: Vec<String>,
}

/// Convert a local wall time to an instant: an ambiguous time (DST fall-back)
/// takes its first occurrence, a non-existent one (spring-forward gap) the
/// first instant after the gap.
pub fn local_instant(tz: Tz, ndt: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = ndt;
    for _ in 0..8 {
        match tz.from_local_datetime(&probe) {
            chrono::LocalResult::Single(t) => return t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => return a.with_timezone(&Utc),
            chrono::LocalResult::None => probe += Duration::minutes(15),
        }
    }
    // No zone has a gap this long; fall back to reading it as UTC.
    Utc.from_utc_datetime(&ndt)
}

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()
}

impl Schedule {
    /// The night a local instant belongs to (noon to noon).
    pub fn night_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.tz).naive_local();
        if local.time() >= noon() {
            local.date()
        } else {
            local.date().pred_opt().unwrap_or(local.date())
        }
    }

    /// Local noon that starts night `date`, and the noon that ends it.
    pub fn window(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = date.succ_opt().unwrap_or(date);
        (
            local_instant(self.tz, date.and_time(noon())),
            local_instant(self.tz, next.and_time(noon())),
        )
    }

    /// A clock time in night `date`: afternoon and evening times on the
    /// date, morning times on the next day.
    pub(crate) fn clock_in_night(&self, date: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        let day = if t >= noon() {
            date
        } else {
            date.succ_opt().unwrap_or(date)
        };
        local_instant(self.tz, day.and_time(t))
    }

    fn is_morning(event: SunEvent) -> bool {
        matches!(
            event,
            SunEvent::Sunrise
                | SunEvent::CivilDawn
                | SunEvent::NauticalDawn
                | SunEvent::AstronomicalDawn
        )
    }

    /// A sun event in night `date`, with the polar rule applied.
    pub(crate) fn sun_in_night(
        &self,
        date: NaiveDate,
        event: SunEvent,
    ) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
        let morning = Self::is_morning(event);
        let day = if morning {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        let (start, end) = self.window(date);
        match sun::sun_event(day, self.latitude, self.longitude, self.tz, event) {
            Some(t) => (Some(t), t),
            None => {
                let dark_all_night = sun::polar_state(day, self.latitude, self.longitude, self.tz)
                    == Some(Polar::Night);
                let at = match (dark_all_night, morning) {
                    (true, false) | (false, true) => start,
                    (true, true) | (false, false) => end,
                };
                (None, at)
            }
        }
    }

    /// An end written as a clock time: 12:00 closes the night (the noon
    /// after), every other time reads as for starts.
    pub(crate) fn end_clock_in_night(&self, date: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        if t == noon() {
            self.window(date).1
        } else {
            self.clock_in_night(date, t)
        }
    }

    /// Resolve a time in night `date`. For an end, `start` is the instant
    /// it ends after: a duration counts from it and 12:00 closes the night.
    /// A cron expression has no single instant (None); so has an instant
    /// out of range (an absurd offset must not panic).
    pub(crate) fn resolve(
        &self,
        date: NaiveDate,
        spec: &TimeSpec,
        start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match spec {
            TimeSpec::Clock(t) if start.is_some() => Some(self.end_clock_in_night(date, *t)),
            TimeSpec::Clock(t) => Some(self.clock_in_night(date, *t)),
            TimeSpec::Sun {
                event,
                offset,
                not_before,
                not_after,
            } => {
                let (_, t) = self.sun_in_night(date, *event);
                let mut t = t.checked_add_signed(*offset)?;
                if let Some(nb) = not_before {
                    t = t.max(self.clock_in_night(date, *nb));
                }
                if let Some(na) = not_after {
                    t = t.min(self.clock_in_night(date, *na));
                }
                Some(t)
            }
            TimeSpec::For(d) => start.and_then(|s| s.checked_add_signed(*d)),
            TimeSpec::Cron(_) => None,
        }
    }

    /// The mode of night `date`.
    pub fn mode_of(&self, date: NaiveDate) -> Option<&ModeRule> {
        self.modes.iter().find(|m| m.when.matches(date))
    }

    /// Resolve night `date`.
    pub fn night(&self, date: NaiveDate) -> Night {
        self.night_in_mode(date, None)
    }

    /// Resolve night `date` in the mode an operator forced for it (`None`:
    /// the mode the `[[modes]]` rules choose). A forced name the site does
    /// not declare (a rule removed since it was forced) still selects the
    /// entries that name it, and is not dark.
    pub(crate) fn night_in_mode(&self, date: NaiveDate, forced: Option<&str>) -> Night {
        let (mode_name, dark) = match forced {
            Some(f) => (
                f.to_string(),
                self.modes.iter().any(|m| m.name == f && m.dark),
            ),
            None => {
                let mode = self.mode_of(date);
                (
                    mode.map(|m| m.name.clone())
                        .unwrap_or_else(|| "default".to_string()),
                    mode.is_some_and(|m| m.dark),
                )
            }
        };
        let (window_start, window_end) = self.window(date);
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let mode_ok = match &e.modes {
                Some(list) => list.contains(&mode_name),
                None => !dark,
            };
            if !mode_ok || !e.when.matches(date) {
                continue;
            }
            let starts: Vec<DateTime<Utc>> = match &e.start {
                TimeSpec::Cron(c) => c.firings(
                    self.tz,
                    window_start - Duration::nanoseconds(1),
                    window_end - Duration::nanoseconds(1),
                ),
                spec => self.resolve(date, spec, None).into_iter().collect(),
            };
            if starts.len() > MAX_RUNS_PER_NIGHT {
                skipped.push(format!(
                    "{}: its cron start fires {} times this night (at most {MAX_RUNS_PER_NIGHT})",
                    e.show,
                    starts.len()
                ));
                continue;
            }
            for (k, &start) in starts.iter().enumerate() {
                let Some(end) = self.resolve(date, &e.end, Some(start)) else {
                    continue;
                };
                // Repeated cron starts with a fixed end: each run lasts until
                // the next one begins.
                let end = match starts.get(k + 1) {
                    Some(&next) if !matches!(e.end, TimeSpec::For(_)) => end.min(next),
                    _ => end,
                };
                if end <= start {
                    skipped.push(format!(
                        "{}: ends ({}) before it starts ({}) on this night",
                        e.show,
                        end.with_timezone(&self.tz).format("%H:%M"),
                        start.with_timezone(&self.tz).format("%H:%M")
                    ));
                    continue;
                }
                entries.push(Planned {
                    show: e.show.clone(),
                    start,
                    end,
                    priority: e.priority,
                    entry: i,
                });
            }
        }
        entries.sort_by(|a, b| a.start.cmp(&b.start).then(a.priority.cmp(&b.priority)));
        let next = date.succ_opt().unwrap_or(date);
        let ev = |d: NaiveDate, e: SunEvent| {
            sun::sun_event(d, self.latitude, self.longitude, self.tz, e)
        };
        Night {
            date,
            sunset: ev(date, SunEvent::Sunset),
            sunrise: ev(next, SunEvent::Sunrise),
            civil_dusk: ev(date, SunEvent::CivilDusk),
            civil_dawn: ev(next, SunEvent::CivilDawn),
            polar: sun::polar_state(date, self.latitude, self.longitude, self.tz),
            mode: mode_name,
            forced: forced.is_some(),
            entries,
            skipped,
        }
    }

    /// Entries playing at `at` (from this night and the one before, since a
    /// long entry may run past noon).
    pub fn active_at(&self, at: DateTime<Utc>) -> Vec<Planned> {
        let d = self.night_of(at);
        let prev = d.pred_opt().unwrap_or(d);
        [prev, d]
            .into_iter()
            .flat_map(|n| self.night(n).entries)
            .filter(|p| p.start <= at && at < p.end)
            .collect()
    }
}

// ---------------------------------------------------------------- parsing

/// The schedule's part of the site file.
#[derive(Deserialize, schemars::JsonSchema)]
struct RawFile {
    /// What plays when: each entry runs a show from `start` to `end` on the
    /// nights its selectors pick.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "show": "nightly", "start": "sunset - 10m", "end": "23:30" }]))]
    schedule: Vec<Spanned<RawEntry>>,
    /// Night modes, as ordered rules: the first rule whose selectors match
    /// names the night's mode; a rule without selectors is the default.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "festival", "holidays": ["spring_festival", "mid_autumn"] }, { "name": "normal" }]))]
    modes: Vec<Spanned<RawMode>>,
}

/// The JSON Schema of `[[schedule]]` and `[[modes]]` (merged into the
/// site file's schema).
pub(crate) fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawFile>()
}

/// Schema of a string or a list of strings of `T` (what [`OneOrMany`] reads).
struct OneOrManyOf<T>(std::marker::PhantomData<T>);

impl<T: schemars::JsonSchema> schemars::JsonSchema for OneOrManyOf<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = g.subschema_for::<T>();
        schemars::json_schema!({
            "anyOf": [one, { "type": "array", "items": one }]
        })
    }
}

/// A holiday name (any case, as the parser trims and lower-cases it).
struct HolidayName;

impl schemars::JsonSchema for HolidayName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Holiday".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = lunar::holiday_names();
        let pattern = format!("^\\s*({})\\s*$", crate::schema::any_case(names));
        schemars::json_schema!({
            "anyOf": [
                { "enum": names },
                { "type": "string", "pattern": pattern }
            ]
        })
    }
}

/// A string or a list of strings, as TOML allows `days = "Fri"` and
/// `days = ["Fri", "Sat"]`. List items keep their own spans; a lone string
/// takes the span of the value.
struct OneOrMany {
    items: Vec<(String, Range<usize>)>,
}

impl OneOrMany {
    fn items(&self) -> Vec<Spanned<String>> {
        self.items
            .iter()
            .map(|(s, r)| Spanned::new(r.clone(), s.clone()))
            .collect()
    }
}

enum Inner {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Inner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Inner;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Inner, E> {
                Ok(Inner::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Inner, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element::<Spanned<String>>()? {
                    v.push(x);
                }
                Ok(Inner::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Inner>::deserialize(d)?;
        let span = s.span();
        let items = match s.into_inner() {
            Inner::One(x) => vec![(x, span.clone())],
            Inner::Many(v) => v
                .into_iter()
                .map(|x| (x.get_ref().clone(), x.span()))
                .collect(),
        };
        Ok(OneOrMany { items })
    }
}

/// One `[[schedule]]` entry.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    /// The show to play (its name).
    #[schemars(example = &"nightly")]
    show: Spanned<String>,
    /// When it starts: a clock time "19:30", a sun event with offset and
    /// clamps "sunset - 10m, not before 18:00, not after 19:30"
    /// (sunset, sunrise, civil_dusk, civil_dawn, nautical_…, astronomical_…),
    /// or "cron: 30 19-21 * * *" (every firing in the night starts a run).
    #[schemars(example = &"sunset - 10m, not before 18:30")]
    start: Spanned<String>,
    /// When it ends: a clock time or sun event as for `start` (a night runs
    /// noon to noon, so "01:00" is the same night), or "for 15m".
    #[schemars(example = &"23:30")]
    end: Spanned<String>,
    /// Weekdays it runs on: "daily", "weekdays", "weekends", "Fri", "Mon-Thu".
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = serde_json::json!(["Fri", "Sat"]))]
    days: Option<OneOrMany>,
    /// Dates it runs on: "2027-02-05", a range "2027-02-05..2027-02-12", or
    /// every year "--10-01..--10-07".
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = &"--10-01..--10-07")]
    dates: Option<OneOrMany>,
    /// Dates it does not run on (as `dates`).
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = &"2027-02-05")]
    except: Option<OneOrMany>,
    /// Holidays it runs on (lunar ones computed for each year).
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<HolidayName>", example = serde_json::json!(["spring_festival", "mid_autumn"]))]
    holidays: Option<OneOrMany>,
    /// Holidays whose eve (the night before) it runs on.
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<HolidayName>", example = &"national_day")]
    holiday_eves: Option<OneOrMany>,
    /// The night modes it runs in (default: every mode that is not `dark`).
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = serde_json::json!(["normal", "festival"]))]
    modes: Option<OneOrMany>,
    /// Where entries overlap, the higher priority is on top (default 0).
    #[serde(default)]
    #[schemars(example = 10)]
    priority: Option<Spanned<i64>>,
}

/// One `[[modes]]` rule.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawMode {
    /// The mode's name, as entries' `modes` name it.
    #[schemars(example = &"festival")]
    name: Spanned<String>,
    /// Weekdays this rule picks (as an entry's `days`).
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = &"Fri-Sat")]
    days: Option<OneOrMany>,
    /// Dates this rule picks (as an entry's `dates`).
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = &"--10-01..--10-07")]
    dates: Option<OneOrMany>,
    /// Dates this rule never picks.
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<String>", example = &"2027-02-05")]
    except: Option<OneOrMany>,
    /// Holidays this rule picks.
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<HolidayName>", example = serde_json::json!(["spring_festival", "lantern_festival"]))]
    holidays: Option<OneOrMany>,
    /// Holidays whose eve this rule picks.
    #[serde(default)]
    #[schemars(with = "OneOrManyOf<HolidayName>", example = &"spring_festival")]
    holiday_eves: Option<OneOrMany>,
    /// A dark mode: entries without `modes` do not run in it (default false).
    #[serde(default)]
    #[schemars(example = true)]
    dark: bool,
}

fn selectors(
    file: &SourceFile,
    diags: &mut Diagnostics,
    days: &Option<OneOrMany>,
    dates: &Option<OneOrMany>,
    except: &Option<OneOrMany>,
    holidays: &Option<OneOrMany>,
    eves: &Option<OneOrMany>,
) -> Selectors {
    let mut sel = Selectors::default();
    if let Some(d) = days {
        let mut set = BTreeSet::new();
        for s in &d.items() {
            match parse_days(s.get_ref()) {
                Ok(x) => set.extend(x),
                Err(m) => diags.error(file, s.span(), m),
            }
        }
        sel.days = Some(set);
    }
    let dates_of = |v: &Option<OneOrMany>, out: &mut Vec<DateSel>, diags: &mut Diagnostics| {
        for s in v.iter().flat_map(|x| x.items()) {
            let s = &s;
            match parse_dates(s.get_ref()) {
                Ok(x) => out.push(x),
                Err(m) => diags.error(file, s.span(), m),
            }
        }
    };
    dates_of(dates, &mut sel.dates, diags);
    dates_of(except, &mut sel.except, diags);
    let holidays_of = |v: &Option<OneOrMany>, out: &mut Vec<String>, diags: &mut Diagnostics| {
        for s in v.iter().flat_map(|x| x.items()) {
            let s = &s;
            let name = s.get_ref().trim().to_ascii_lowercase();
            if lunar::holiday_names().contains(&name.as_str()) {
                out.push(name);
            } else {
                diags.error(
                    file,
                    s.span(),
                    format!(
                        "unknown holiday `{}`{} (known: {})",
                        s.get_ref(),
                        crate::suggest::hint(&name, lunar::holiday_names().iter().copied()),
                        lunar::holiday_names().join(", ")
                    ),
                );
            }
        }
    };
    holidays_of(holidays, &mut sel.holidays, diags);
    holidays_of(eves, &mut sel.holiday_eves, diags);
    sel
}

/// Parse a start or end, reporting a parse error or a form the field does
/// not allow (`reject` says why) at the value.
fn time_field(
    file: &SourceFile,
    diags: &mut Diagnostics,
    value: &Spanned<String>,
    reject: impl Fn(&TimeSpec) -> Option<&'static str>,
) -> Option<TimeSpec> {
    match parse_time(value.get_ref()) {
        Ok(t) => match reject(&t) {
            Some(why) => {
                diags.error(file, value.span(), why);
                None
            }
            None => Some(t),
        },
        Err(m) => {
            diags.error(file, value.span(), m);
            None
        }
    }
}

/// Parse the schedule and modes of a site file. `shows` are the names the
/// entries may refer to.
pub(crate) fn compile(
    file: &SourceFile,
    latitude: f64,
    longitude: f64,
    tz: Tz,
    shows: &[String],
    diags: &mut Diagnostics,
) -> Schedule {
    let mut schedule = Schedule {
        entries: Vec::new(),
        modes: Vec::new(),
        latitude,
        longitude,
        tz,
    };
    let Some(raw) = crate::diag::parse_all::<RawFile>(file, diags) else {
        return schedule;
    };
    for m in &raw.modes {
        let rm = m.get_ref();
        if schedule.modes.iter().any(|x| x.name == *rm.name.get_ref()) {
            diags.error(
                file,
                rm.name.span(),
                format!("mode `{}` is defined twice", rm.name.get_ref()),
            );
        }
        let when = selectors(
            file,
            diags,
            &rm.days,
            &rm.dates,
            &rm.except,
            &rm.holidays,
            &rm.holiday_eves,
        );
        schedule.modes.push(ModeRule {
            name: rm.name.get_ref().clone(),
            when,
            dark: rm.dark,
        });
    }
    if let Some(i) = schedule
        .modes
        .iter()
        .position(|m| !m.when.any() && m.when.except.is_empty())
    {
        if i + 1 < schedule.modes.len() {
            diags.warn(
                file,
                raw.modes[i + 1].span(),
                format!("mode `{}` can never apply: the default mode `{}` before it matches every night", schedule.modes[i + 1].name, schedule.modes[i].name),
            );
        }
    }
    for e in &raw.schedule {
        let re = e.get_ref();
        if !shows.contains(re.show.get_ref()) {
            diags.error(
                file,
                re.show.span(),
                crate::suggest::unknown_show(re.show.get_ref(), shows),
            );
        }
        let start = time_field(file, diags, &re.start, |t| match t {
            TimeSpec::For(_) => Some("a start cannot be a duration: `for` belongs in `end`"),
            TimeSpec::Cron(c) if too_frequent(c) => Some(
                "this cron start fires more than 288 times a day: a run at most every 5 minutes",
            ),
            _ => None,
        });
        let end = time_field(file, diags, &re.end, |t| {
            matches!(t, TimeSpec::Cron(_)).then_some(
                "an end cannot be a cron expression: use a time, a sun event or \"for 3h\"",
            )
        });
        if let (Some(TimeSpec::Clock(a)), Some(TimeSpec::Clock(b))) = (&start, &end) {
            let (sa, sb) = (
                schedule.clock_in_night(NaiveDate::MIN, *a),
                schedule.end_clock_in_night(NaiveDate::MIN, *b),
            );
            if sb <= sa {
                diags.error(
                    file,
                    re.end.span(),
                    format!("end {} is not after start {} in the same night (nights run noon to noon, so 01:00 is after 23:00)", b.format("%H:%M"), a.format("%H:%M")),
                );
            }
        }
        let when = selectors(
            file,
            diags,
            &re.days,
            &re.dates,
            &re.except,
            &re.holidays,
            &re.holiday_eves,
        );
        let modes = re.modes.as_ref().map(|m| {
            m.items()
                .iter()
                .map(|s| {
                    if !schedule.modes.iter().any(|x| x.name == *s.get_ref()) {
                        diags.error(
                            file,
                            s.span(),
                            format!(
                                "unknown mode `{}`: define it in a [[modes]] rule{}",
                                s.get_ref(),
                                crate::suggest::hint(
                                    s.get_ref(),
                                    schedule.modes.iter().map(|m| m.name.as_str())
                                )
                            ),
                        );
                    }
                    s.get_ref().clone()
                })
                .collect()
        });
        let priority = match &re.priority {
            None => 0,
            Some(p) if (-1000..1000).contains(p.get_ref()) => *p.get_ref() as i32,
            Some(p) => {
                diags.error(
                    file,
                    p.span(),
                    "schedule priorities are -1000..999 (scenes and overrides sit above)",
                );
                0
            }
        };
        if let (Some(start), Some(end)) = (start, end) {
            schedule.entries.push(Entry {
                show: re.show.get_ref().clone(),
                start,
                end,
                priority,
                when,
                modes,
                span: e.span(),
            });
        }
    }
    schedule
}

/// Warnings a designer should see at `check` time for the nights from
/// `from` on: equal-priority overlaps (and which wins) and nights where the
/// polar rule decides a time.
pub fn lint(
    schedule: &Schedule,
    file: &SourceFile,
    from: NaiveDate,
    nights: u32,
    diags: &mut Diagnostics,
) {
    let mut warned_overlap = BTreeSet::new();
    let mut warned_polar = BTreeSet::new();
    let mut date = from;
    for _ in 0..nights {
        let night = schedule.night(date);
        for (i, a) in night.entries.iter().enumerate() {
            for b in &night.entries[i + 1..] {
                if a.entry != b.entry
                    && a.priority == b.priority
                    && a.start < b.end
                    && b.start < a.end
                    && warned_overlap.insert((a.entry, b.entry))
                {
                    let span = schedule.entries[b.entry].span.clone();
                    diags.warn(
                        file,
                        span,
                        format!(
                            "`{}` overlaps `{}` at equal priority {} (first on the night of {}): the later-starting entry is drawn on top; set `priority` to say which wins",
                            b.show, a.show, a.priority, date
                        ),
                    );
                }
            }
        }
        if night.polar.is_some() {
            for (i, e) in schedule.entries.iter().enumerate() {
                let uses_sun = matches!(e.start, TimeSpec::Sun { .. })
                    || matches!(e.end, TimeSpec::Sun { .. });
                if uses_sun && warned_polar.insert(i) {
                    diags.warn(
                        file,
                        e.span.clone(),
                        format!(
                            "on the night of {date} the sun does not {} here: `{}` follows the polar rule (see the schedule docs)",
                            if night.polar == Some(Polar::Night) { "rise" } else { "set" },
                            e.show
                        ),
                    );
                }
            }
        }
        date = match date.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(toml_text: &str, lat: f64, lon: f64, tz: Tz) -> (Schedule, Diagnostics) {
        let f = SourceFile::new("site.toml", toml_text);
        let mut d = Diagnostics::new();
        let shows = vec![
            "nightly".to_string(),
            "festival".to_string(),
            "static".to_string(),
        ];
        (compile(&f, lat, lon, tz, &shows, &mut d), d)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn local(s: &Schedule, t: DateTime<Utc>) -> String {
        t.with_timezone(&s.tz).format("%Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn noon_to_noon_and_sun_offsets() {
        let (s, d) = sched(
            "[[schedule]]\nshow = \"nightly\"\nstart = \"sunset - 10m\"\nend = \"01:00\"\n",
            25.04,
            102.71,
            chrono_tz::Asia::Shanghai,
        );
        assert!(d.is_empty(), "{d}");
        let n = s.night(date("2026-11-24"));
        assert_eq!(n.entries.len(), 1);
        let e = &n.entries[0];
        assert_eq!(e.start, n.sunset.unwrap() - Duration::minutes(10));
        assert_eq!(local(&s, e.end), "2026-11-25 01:00");
        // 00:30 on the 25th belongs to the night of the 24th.
        let at = local_instant(s.tz, date("2026-11-25").and_hms_opt(0, 30, 0).unwrap());
        assert_eq!(s.night_of(at), date("2026-11-24"));
        assert_eq!(s.active_at(at).len(), 1);
    }

    #[test]
    fn clamps_hold_the_start_inside_bounds() {
        let (s, d) = sched(
            "[[schedule]]\nshow = \"nightly\"\nstart = \"sunset, not before 18:00, not after 18:30\"\nend = \"23:00\"\n",
            52.52,
            13.405,
            chrono_tz::Europe::Berlin,
        );
        assert!(d.is_empty(), "{d}");
        // Berlin sunset in June is ~21:30: clamped to 18:30; in December ~15:55: clamped to 18:00.
        assert_eq!(
            local(&s, s.night(date("2026-06-21")).entries[0].start),
            "2026-06-21 18:30"
        );
        assert_eq!(
            local(&s, s.night(date("2026-12-21")).entries[0].start),
            "2026-12-21 18:00"
        );
    }

    #[test]
    fn cron_starts_runs_and_durations() {
        let (s, d) = sched(
            "[[schedule]]\nshow = \"festival\"\nstart = \"cron: 30 19-21 * * Fri,Sat\"\nend = \"for 15m\"\n",
            22.54,
            114.06,
            chrono_tz::Asia::Shanghai,
        );
        assert!(d.is_empty(), "{d}");
        let fri = s.night(date("2026-11-27"));
        let starts: Vec<String> = fri.entries.iter().map(|e| local(&s, e.start)).collect();
        assert_eq!(
            starts,
            ["2026-11-27 19:30", "2026-11-27 20:30", "2026-11-27 21:30"]
        );
        assert!(fri
            .entries
            .iter()
            .all(|e| e.end - e.start == Duration::minutes(15)));
        assert!(s.night(date("2026-11-26")).entries.is_empty());
    }

    #[test]
    fn shenzhen_calendar_modes() {
        let text = r#"
[[modes]]
name = "festival"
holidays = ["spring_festival", "national_day"]
dates = ["--10-01..--10-07"]
[[modes]]
name = "show-night"
days = ["Fri", "Sat"]
holiday_eves = ["national_day", "spring_festival"]
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
modes = ["normal", "show-night"]
[[schedule]]
show = "festival"
start = "cron: 30 19-21 * * *"
end = "for 15m"
modes = ["show-night", "festival"]
priority = 10
"#;
        let (s, d) = sched(text, 22.54, 114.06, chrono_tz::Asia::Shanghai);
        assert!(d.is_empty(), "{d}");
        let thu = s.night(date("2026-11-26"));
        assert_eq!(thu.mode, "normal");
        assert_eq!(thu.entries.len(), 1);
        let sat = s.night(date("2026-11-28"));
        assert_eq!(sat.mode, "show-night");
        assert_eq!(sat.entries.len(), 4);
        let sun = s.night(date("2026-11-29"));
        assert_eq!(sun.mode, "dark-day");
        assert!(sun.entries.is_empty());
        // 2026-09-30 is a Wednesday and the eve of National Day.
        assert_eq!(s.night(date("2026-09-30")).mode, "show-night");
        // Sunday 2026-10-04 is inside Golden Week: festival wins over dark-day.
        assert_eq!(s.night(date("2026-10-04")).mode, "festival");
        assert_eq!(s.night(date("2026-10-04")).entries.len(), 3);
    }

    #[test]
    fn lunar_holidays_select_nights() {
        let (s, _) = sched(
            "[[schedule]]\nshow = \"festival\"\nstart = \"sunset\"\nend = \"01:00\"\nholidays = [\"spring_festival_eve\", \"spring_festival\"]\n",
            25.04,
            102.71,
            chrono_tz::Asia::Shanghai,
        );
        assert_eq!(s.night(date("2027-02-05")).entries.len(), 1);
        assert_eq!(s.night(date("2027-02-06")).entries.len(), 1);
        assert_eq!(s.night(date("2027-02-07")).entries.len(), 0);
    }

    #[test]
    fn dst_days_keep_clock_times() {
        let (s, _) = sched(
            "[[schedule]]\nshow = \"nightly\"\nstart = \"20:00\"\nend = \"02:30\"\n",
            52.52,
            13.405,
            chrono_tz::Europe::Berlin,
        );
        // Spring forward: 02:30 does not exist on 2026-03-29; the run ends at 03:00 CEST (01:00 UTC).
        let n = s.night(date("2026-03-28"));
        assert_eq!(n.entries[0].end.to_rfc3339(), "2026-03-29T01:00:00+00:00");
        // Fall back: 02:30 happens twice on 2026-10-25; the first (CEST) is used.
        let n = s.night(date("2026-10-24"));
        assert_eq!(n.entries[0].end.to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn polar_rule() {
        let text = "[[schedule]]\nshow = \"nightly\"\nstart = \"sunset\"\nend = \"sunrise\"\n[[schedule]]\nshow = \"static\"\nstart = \"sunset, not after 22:00\"\nend = \"23:00\"\n";
        let (s, _) = sched(text, 69.65, 18.96, chrono_tz::Europe::Oslo);
        // Polar night: dark from noon to noon.
        let n = s.night(date("2026-12-21"));
        let e = &n.entries[0];
        assert_eq!((e.start, e.end), s.window(date("2026-12-21")));
        // Midnight sun: sunset-to-sunrise does not run; the clamped one does.
        let n = s.night(date("2026-06-21"));
        assert_eq!(n.entries.len(), 1);
        assert_eq!(local(&s, n.entries[0].start), "2026-06-21 22:00");
        let mut d = Diagnostics::new();
        lint(
            &s,
            &SourceFile::new("site.toml", text),
            date("2026-06-20"),
            2,
            &mut d,
        );
        assert!(d.to_string().contains("polar rule"), "{d}");
    }

    #[test]
    fn bad_input_is_located() {
        let text = "[[schedule]]\nshow = \"nope\"\nstart = \"sunsett\"\nend = \"cron: 0 20 * * *\"\ndays = \"Funday\"\ndates = \"2027-02-30\"\nholidays = [\"xmas\"]\n[[schedule]]\nshow = \"nightly\"\nstart = \"23:00\"\nend = \"20:00\"\n";
        let (_, d) = sched(text, 0.0, 0.0, chrono_tz::UTC);
        let s = d.to_string();
        assert!(s.contains("site.toml:2:8: unknown show `nope`"), "{s}");
        assert!(s.contains("site.toml:3:9: `sunsett` is not a time"), "{s}");
        assert!(s.contains("site.toml:4:7: an end cannot be a cron"), "{s}");
        assert!(s.contains("site.toml:5:8: `Funday` is not a day"), "{s}");
        assert!(
            s.contains("site.toml:6:9: `2027-02-30` is not a date"),
            "{s}"
        );
        assert!(s.contains("site.toml:7:13: unknown holiday `xmas`"), "{s}");
        assert!(
            s.contains("site.toml:11:7: end 20:00 is not after start 23:00"),
            "{s}"
        );
        let (_, d) = sched(
            "[[schedule]]\nshow = \"nightly\"\nstart = \"cron: 0 25 * * *\"\nend = \"for 1h\"\n",
            0.0,
            0.0,
            chrono_tz::UTC,
        );
        assert!(
            d.to_string()
                .contains("site.toml:3:9: cron hour field `25`"),
            "{d}"
        );
    }

    #[test]
    fn absurd_times_are_refused_not_overflowed() {
        let text = "[[schedule]]\nshow = \"nightly\"\nstart = \"sunset + 3000000000h\"\nend = \"for 1e15h\"\n[[schedule]]\nshow = \"static\"\nstart = \"cron: * * * * * *\"\nend = \"for 1m\"\n[[schedule]]\nshow = \"static\"\nstart = \"sunset, not before 19:30, not after 19:00\"\nend = \"23:00\"\n";
        let (s, d) = sched(text, 0.0, 0.0, chrono_tz::UTC);
        let out = d.to_string();
        // Refused at the offset: by the duration bound when the number is
        // absurd, by the 12 h offset rule otherwise.
        assert!(
            out.contains(
                "site.toml:3:9: `sunset + 3000000000h`: a sun event offset is at most 12h"
            ) || out.contains("site.toml:3:9: duration `3000000000h` is longer than 366 days"),
            "{out}"
        );
        assert!(
            out.contains("site.toml:4:7: `for 1e15h` is longer than two days")
                || out.contains("site.toml:4:7:"),
            "{out}"
        );
        assert!(
            out.contains("site.toml:7:9: this cron start fires more than 288 times a day"),
            "{out}"
        );
        assert!(out.contains("site.toml:11:9: `sunset, not before 19:30, not after 19:00`: \"not before 19:30\" is later"), "{out}");
        // Nothing that did parse can overflow when resolved.
        let _ = s.night(date("2026-06-21"));
    }

    #[test]
    fn equal_priority_overlap_warns() {
        let text = "[[schedule]]\nshow = \"nightly\"\nstart = \"19:00\"\nend = \"23:00\"\n[[schedule]]\nshow = \"static\"\nstart = \"22:00\"\nend = \"01:00\"\n";
        let (s, d) = sched(text, 0.0, 0.0, chrono_tz::UTC);
        assert!(d.is_empty());
        let mut d = Diagnostics::new();
        lint(
            &s,
            &SourceFile::new("site.toml", text),
            date("2026-01-01"),
            3,
            &mut d,
        );
        assert_eq!(d.warnings().count(), 1, "{d}");
        assert!(
            d.to_string()
                .contains("site.toml:5:1: warning: `static` overlaps `nightly`"),
            "{d}"
        );
    }
}
