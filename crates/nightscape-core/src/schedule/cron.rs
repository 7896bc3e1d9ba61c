//! Unix cron expressions for lighting schedules, with time zones and DST handled
//! safely. Entries are written the way people know from crontab(5) — five fields
//! `minute hour day-of-month month day-of-week` (or six with seconds first), Sunday as
//! 0 or 7, names, ranges, lists and steps, and the Vixie/cronie rule that a day fires
//! when *either* day-of-month or day-of-week matches if both are restricted. The matcher
//! is written here rather than wrapping the `cron` crate: that crate only takes
//! seconds-first 6/7-field expressions, numbers Sunday as 1 and rejects 0, ANDs the two
//! day fields, skips local times that fall into a spring-forward gap and fires twice in a
//! fall-back overlap — every one of those would need translating in and post-filtering
//! out, and the crate is not a dependency of this project anyway. Firing instants are
//! defined by the rule "a matching local wall time fires at the first instant the clock
//! shows it or has gone past it": a time skipped by spring-forward fires once, at the end
//! of the gap, and a time that occurs twice at fall-back fires once, at its first
//! occurrence, so a daily entry fires exactly once every local day. Everything here is
//! pure: no I/O, no clock, no globals, and no input makes it panic.

use std::fmt;

#[cfg(test)]
use chrono::TimeDelta;
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CronError {
    /// One field is malformed. `field` is one of "second", "minute", "hour",
    /// "day of month", "month", "day of week"; `text` is the field as written and `why`
    /// says what is wrong and what is allowed.
    #[error("cron {field} field `{text}`: {why}")]
    Field {
        field: &'static str,
        text: String,
        why: String,
    },
    /// The expression has neither 5 nor 6 whitespace-separated fields.
    #[error(
        "cron expression needs 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found {0}"
    )]
    FieldCount(usize),
}

/// Upper bound on what one [`CronSpec::firings`] call returns, so that a huge window
/// with a per-second expression cannot exhaust memory; longer walks should page with
/// [`CronSpec::next_after`] or smaller windows. A per-second entry over 11 days fits.
pub(crate) const MAX_FIRINGS: usize = 1_000_000;

#[cfg(test)]
/// How far [`CronSpec::next_after`] looks ahead. Five years covers every satisfiable
/// expression, 29 February included, except across the skipped leap years 2100, 2200,
/// 2300 and so on.
const SEARCH_DAYS: i64 = 5 * 366;

/// Static description of one field: its name (used in errors), its numeric range and,
/// for month and day of week, the three-letter names that stand for numbers.
struct Kind {
    name: &'static str,
    low: u32,
    high: u32,
    /// The last value `*` and open-ended `a/n` reach. Differs from `high` only for day of
    /// week, where 7 is an alias of Sunday that `*` must not add twice.
    star_high: u32,
    names: &'static [&'static str],
    /// The number the first name stands for.
    name_base: u32,
    allowed: &'static str,
}

const SECOND: Kind = Kind {
    name: "second",
    low: 0,
    high: 59,
    star_high: 59,
    names: &[],
    name_base: 0,
    allowed: "0-59",
};
const MINUTE: Kind = Kind {
    name: "minute",
    low: 0,
    high: 59,
    star_high: 59,
    names: &[],
    name_base: 0,
    allowed: "0-59",
};
const HOUR: Kind = Kind {
    name: "hour",
    low: 0,
    high: 23,
    star_high: 23,
    names: &[],
    name_base: 0,
    allowed: "0-23",
};
const DOM: Kind = Kind {
    name: "day of month",
    low: 1,
    high: 31,
    star_high: 31,
    names: &[],
    name_base: 0,
    allowed: "1-31",
};
const MONTH: Kind = Kind {
    name: "month",
    low: 1,
    high: 12,
    star_high: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    name_base: 1,
    allowed: "1-12 or Jan..Dec",
};
const DOW: Kind = Kind {
    name: "day of week",
    low: 0,
    high: 7,
    star_high: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    name_base: 0,
    allowed: "0-7 (0 and 7 are Sunday) or Sun..Sat",
};

/// One comma-separated element of a field, normalised to numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    /// `*` or `*/step`.
    Every { step: u32 },
    /// `a`, `a-b`, `a-b/step`; `a/step` is stored as `a-<max>/step`.
    Range { first: u32, last: u32, step: u32 },
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Item::Every { step: 1 } => f.write_str("*"),
            Item::Every { step } => write!(f, "*/{step}"),
            Item::Range { first, last, .. } if first == last => write!(f, "{first}"),
            Item::Range {
                first,
                last,
                step: 1,
            } => write!(f, "{first}-{last}"),
            Item::Range { first, last, step } => write!(f, "{first}-{last}/{step}"),
        }
    }
}

/// A parsed field: the items as written (for display and for the day-field star rule)
/// and the resulting set of values as a bitmask (bit `v` set when value `v` matches).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    items: Vec<Item>,
    bits: u64,
}

impl Field {
    fn contains(&self, v: u32) -> bool {
        v < 64 && self.bits & (1u64 << v) != 0
    }

    /// Vixie cron and cronie call a day field unrestricted when its text starts with `*`
    /// (so `*/2` counts as `*` for the OR rule). croniter differs here: it treats `*/2`
    /// as restricted. We follow the crontab implementations people actually run.
    fn is_star(&self) -> bool {
        matches!(self.items.first(), Some(Item::Every { .. }))
    }

    fn values(&self) -> impl Iterator<Item = u32> + '_ {
        (0..64u32).filter(move |&v| self.contains(v))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// A parsed cron expression. Build with [`CronSpec::parse`]; `Display` gives the
/// normalised form (names as numbers, the seconds field only when it is not just `0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    second: Field,
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

fn field_error(kind: &Kind, text: &str, why: String) -> CronError {
    CronError::Field {
        field: kind.name,
        text: text.to_string(),
        why,
    }
}

/// A plain decimal number. The length cap keeps `parse` from ever overflowing and lets
/// absurdly long digit strings fall into the same "out of range" message.
fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.len() > 6 {
        return Some(u32::MAX);
    }
    Some(trimmed.parse().unwrap_or(0))
}

fn parse_value(kind: &Kind, field_text: &str, s: &str) -> Result<u32, CronError> {
    if let Some(v) = parse_number(s) {
        if v < kind.low || v > kind.high {
            let shown = if v == u32::MAX {
                s.to_string()
            } else {
                v.to_string()
            };
            return Err(field_error(
                kind,
                field_text,
                format!("value {shown} is out of range; allowed: {}", kind.allowed),
            ));
        }
        return Ok(v);
    }
    let lower = s.to_ascii_lowercase();
    if let Some(i) = kind.names.iter().position(|n| *n == lower) {
        // Position is below 12, so the cast and addition cannot overflow.
        return Ok(kind.name_base + i as u32);
    }
    Err(field_error(
        kind,
        field_text,
        format!("`{s}` is not a number or name; allowed: {}", kind.allowed),
    ))
}

fn parse_item(kind: &Kind, field_text: &str, part: &str) -> Result<Item, CronError> {
    if part.is_empty() {
        return Err(field_error(
            kind,
            field_text,
            "empty list element (stray comma?)".to_string(),
        ));
    }
    let (base, step) = match part.split_once('/') {
        None => (part, None),
        Some((base, step_text)) => {
            // The widest span is 60 (seconds, minutes); larger steps would only ever match
            // the first value, which is almost certainly a typo.
            let span = kind.star_high - kind.low + 1;
            match parse_number(step_text) {
                Some(n) if n >= 1 && n <= span => (base, Some(n)),
                _ => {
                    return Err(field_error(
                        kind,
                        field_text,
                        format!("step `{step_text}` must be a whole number from 1 to {span}"),
                    ))
                }
            }
        }
    };
    if base == "*" {
        return Ok(Item::Every {
            step: step.unwrap_or(1),
        });
    }
    if let Some((a, b)) = base.split_once('-') {
        let first = parse_value(kind, field_text, a)?;
        let mut last = parse_value(kind, field_text, b)?;
        // Let a day-of-week range end on Sunday-as-0 (`Fri-Sun`, `5-0`): read it as 7,
        // which is what the writer means and what 7 stands for anyway.
        if kind.name == DOW.name && last == 0 && first > 0 {
            last = 7;
        }
        if first > last {
            return Err(field_error(
                kind,
                field_text,
                format!("range {a}-{b} runs backwards; write it as two ranges joined by a comma"),
            ));
        }
        return Ok(Item::Range {
            first,
            last,
            step: step.unwrap_or(1),
        });
    }
    let first = parse_value(kind, field_text, base)?;
    Ok(match step {
        // `a/n` (cronie, croniter) means from a to the end of the range in steps of n.
        Some(step) => Item::Range {
            first,
            last: kind.star_high.max(first),
            step,
        },
        None => Item::Range {
            first,
            last: first,
            step: 1,
        },
    })
}

fn parse_field(kind: &Kind, text: &str) -> Result<Field, CronError> {
    let mut items = Vec::new();
    let mut bits = 0u64;
    for part in text.split(',') {
        let item = parse_item(kind, text, part)?;
        let (first, last, step) = match item {
            Item::Every { step } => (kind.low, kind.star_high, step),
            Item::Range { first, last, step } => (first, last, step),
        };
        let mut v = first;
        while v <= last {
            // Day of week 7 is Sunday; store it as 0 so matching needs one lookup.
            let bit = if kind.name == DOW.name && v == 7 {
                0
            } else {
                v
            };
            bits |= 1u64 << bit;
            v += step;
        }
        items.push(item);
    }
    Ok(Field { items, bits })
}

/// Vixie's `@` shorthands, as 5-field expressions.
fn shorthand(expr: &str) -> Option<&'static str> {
    Some(match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

impl CronSpec {
    /// Parses a 5-field Unix expression (`min hour dom mon dow`) or a 6-field one with
    /// seconds first. Sunday is 0 or 7; names Sun..Sat and Jan..Dec are accepted in any
    /// case; ranges `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n`, and `*`; plus the
    /// shorthands `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and
    /// `@hourly`. When both day of month and day of week are restricted (neither starts
    /// with `*`), a day matching either fires, as in Unix cron. An expression that can
    /// never fire (a day of month no chosen month has: `0 0 30 2 *`, `0 0 31 4,6 *`) is
    /// refused with an error naming the day-of-month field.
    pub(crate) fn parse(expr: &str) -> Result<CronSpec, CronError> {
        let trimmed = expr.trim();
        let expanded = shorthand(trimmed).unwrap_or(trimmed);
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (second, rest) = match fields.len() {
            5 => (parse_field(&SECOND, "0")?, &fields[..]),
            6 => (parse_field(&SECOND, fields[0])?, &fields[1..]),
            n => return Err(CronError::FieldCount(n)),
        };
        let spec = CronSpec {
            second,
            minute: parse_field(&MINUTE, rest[0])?,
            hour: parse_field(&HOUR, rest[1])?,
            dom: parse_field(&DOM, rest[2])?,
            month: parse_field(&MONTH, rest[3])?,
            dow: parse_field(&DOW, rest[4])?,
        };
        spec.check_can_fire(rest[2], rest[3])?;
        Ok(spec)
    }

    /// Refuse an expression that never fires. Every field but the day of month always
    /// has a value that occurs, and a restricted day of week (with the OR rule, or
    /// with a `*` day of month) always finds a day; so the only way never to fire is a
    /// day of month (with day of week `*`) that none of the chosen months has.
    fn check_can_fire(&self, dom_text: &str, month_text: &str) -> Result<(), CronError> {
        if self.dom.is_star() || !self.dow.is_star() {
            return Ok(());
        }
        // February counts 29 days: `0 0 29 2 *` fires in leap years.
        const LONGEST: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let fires = self
            .month
            .values()
            .any(|m| self.dom.values().any(|d| d <= LONGEST[m as usize]));
        if fires {
            return Ok(());
        }
        Err(field_error(
            &DOM,
            dom_text,
            format!(
                "no month in `{month_text}` has day {dom_text}, so this expression never fires"
            ),
        ))
    }

    /// Whether the day fields (day of month, month, day of week, with the Unix OR rule)
    /// match this local date — i.e. whether the entry runs on that day at all.
    pub(crate) fn matches_date(&self, date: NaiveDate) -> bool {
        if !self.month.contains(date.month()) {
            return false;
        }
        let dom = self.dom.contains(date.day());
        let dow = self.dow.contains(date.weekday().num_days_from_sunday());
        // Vixie's rule verbatim: if either field starts with `*`, both must match (a plain
        // `*` matches every day, so the other field decides); otherwise either may.
        if self.dom.is_star() || self.dow.is_star() {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Firing instants in `(after, until]`, in ascending order, for wall-clock times in
    /// zone `tz`. A matching local time that does not exist (spring-forward gap) fires
    /// once at the first instant after the gap; one that occurs twice (fall-back) fires
    /// once, at its first occurrence; several matches landing on the same instant fire
    /// once. So a daily expression fires exactly once per local day. At most
    /// [`MAX_FIRINGS`] (the earliest) are returned.
    pub(crate) fn firings(
        &self,
        tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        self.walk(tz, after, until, MAX_FIRINGS)
    }

    #[cfg(test)]
    /// The first firing strictly after `after`, searching about five years ahead; `None`
    /// when the expression does not fire in that time (e.g. `0 0 30 2 *`).
    pub(crate) fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = after
            .checked_add_signed(TimeDelta::days(SEARCH_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.walk(tz, after, until, 1).into_iter().next()
    }

    /// Walks matching local wall times in ascending order and maps each to its firing
    /// instant. The mapping ("first instant whose wall clock reads at least this") never
    /// decreases as the wall time grows, so the output comes out sorted, equal instants
    /// are adjacent, and the walk can stop at the first instant past `until`. Wall times
    /// at or before `after`'s own wall time can only map to instants at or before
    /// `after`, so the walk starts there instead of scanning whole days.
    fn walk(
        &self,
        tz: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        if until <= after || limit == 0 {
            return out;
        }
        let start = match wall_clock(tz, after) {
            Wall::At(n) => n,
            Wall::BeforeRange => NaiveDateTime::MIN,
            Wall::AfterRange => return out,
        };
        // A fall-back overlap can make `until` map back from wall times up to a few hours
        // past its own wall time; two days is far beyond any real overlap. This bound
        // only matters when nothing matches; otherwise the walk stops on `until` itself.
        let last_date = match wall_clock(tz, until) {
            Wall::At(n) => n.date().checked_add_days(chrono::Days::new(2)),
            Wall::BeforeRange => Some(NaiveDate::MIN),
            Wall::AfterRange => None,
        }
        .unwrap_or(NaiveDate::MAX);

        let mut date = start.date();
        while date <= last_date {
            // Jump over whole months the expression excludes, so that a window of years
            // with a once-a-year expression costs a few hundred steps, not thousands.
            if !self.month.contains(date.month()) {
                match first_of_next_month(date) {
                    Some(next) => date = next,
                    None => break,
                }
                continue;
            }
            if self.matches_date(date) {
                for h in self.hour.values() {
                    // Skip hours and minutes that lie wholly at or before the start.
                    if at(date, h, 59, 59).is_none_or(|t| t <= start) {
                        continue;
                    }
                    for m in self.minute.values() {
                        if at(date, h, m, 59).is_none_or(|t| t <= start) {
                            continue;
                        }
                        for s in self.second.values() {
                            let Some(wall) = at(date, h, m, s) else {
                                continue;
                            };
                            if wall <= start {
                                continue;
                            }
                            let Some(instant) = resolve(tz, wall) else {
                                continue;
                            };
                            if instant <= after || out.last() == Some(&instant) {
                                continue;
                            }
                            if instant > until {
                                return out;
                            }
                            out.push(instant);
                            if out.len() >= limit {
                                return out;
                            }
                        }
                    }
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        out
    }
}

impl fmt::Display for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zero_seconds = self.second.items
            == [Item::Range {
                first: 0,
                last: 0,
                step: 1,
            }];
        if !zero_seconds {
            write!(f, "{} ", self.second)?;
        }
        write!(
            f,
            "{} {} {} {} {}",
            self.minute, self.hour, self.dom, self.month, self.dow
        )
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    date.with_day(1)?.checked_add_months(chrono::Months::new(1))
}

fn at(date: NaiveDate, h: u32, m: u32, s: u32) -> Option<NaiveDateTime> {
    date.and_hms_opt(h, m, s)
}

/// A UTC instant's wall-clock time, or which end of chrono's range it falls off.
enum Wall {
    At(NaiveDateTime),
    BeforeRange,
    AfterRange,
}

fn offset_secs(tz: Tz, utc_secs: i64) -> Option<i64> {
    let t = DateTime::from_timestamp(utc_secs, 0)?;
    Some(i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

/// Computed by hand rather than via `with_timezone` so that instants near chrono's
/// limits report falling off the range instead of wrapping or panicking.
fn wall_clock(tz: Tz, t: DateTime<Utc>) -> Wall {
    let secs = t.timestamp();
    let local = offset_secs(tz, secs).and_then(|off| secs.checked_add(off));
    match local.and_then(|l| DateTime::from_timestamp(l, t.timestamp_subsec_nanos())) {
        Some(l) => Wall::At(l.naive_utc()),
        None if secs < 0 => Wall::BeforeRange,
        None => Wall::AfterRange,
    }
}

/// The firing instant for a wall time: the first instant whose clock reads at least
/// `wall`. That is the instant itself when it exists once, the earlier one in a
/// fall-back overlap, and the end of the gap when spring-forward skips it.
fn resolve(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => gap_end(tz, wall.and_utc().timestamp()),
    }
}

/// Binary search (on whole seconds) for the transition instant that jumps the wall
/// clock over `wall_secs`. chrono-tz does not expose its transition table, and this is
/// only reached for the rare wall times inside a gap. Real offsets stay within ±16 h,
/// so ±36 h around the wall time brackets the transition: before it the clock reads
/// less than `wall_secs`, after it more. Since the wall time does not exist, every
/// upward crossing of it is a jump over it, so the search lands on a gap's end.
fn gap_end(tz: Tz, wall_secs: i64) -> Option<DateTime<Utc>> {
    const BRACKET: i64 = 36 * 3600;
    let clock = |u: i64| -> Option<i64> { u.checked_add(offset_secs(tz, u)?) };
    let mut lo = wall_secs.checked_sub(BRACKET)?;
    let mut hi = wall_secs.checked_add(BRACKET)?;
    if clock(lo)? >= wall_secs || clock(hi)? < wall_secs {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if clock(mid)? >= wall_secs {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Europe, Pacific};

    fn spec(expr: &str) -> CronSpec {
        CronSpec::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&Utc)
    }

    /// A wall time that exists exactly once in `tz`, as a UTC instant.
    fn local(tz: Tz, s: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
        tz.from_local_datetime(&naive)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The next `expected.len()` firings after `start`, both by chaining `next_after`
    /// and by one `firings` call up to the last expected instant.
    fn assert_next(expr: &str, tz: Tz, start: &str, expected: &[&str]) {
        let cron = spec(expr);
        let expected: Vec<DateTime<Utc>> = expected.iter().map(|s| utc(s)).collect();
        let mut chained = Vec::new();
        let mut t = local(tz, start);
        for _ in 0..expected.len() {
            t = cron
                .next_after(tz, t)
                .unwrap_or_else(|| panic!("{expr}: ran out"));
            chained.push(t);
        }
        assert_eq!(chained, expected, "{expr} via next_after");
        let window = cron.firings(tz, local(tz, start), *expected.last().unwrap());
        assert_eq!(window, expected, "{expr} via firings");
    }

    fn field_of(expr: &str) -> &'static str {
        match CronSpec::parse(expr) {
            Err(CronError::Field { field, .. }) => field,
            other => panic!("{expr}: expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn display_normalises_and_round_trips() {
        let cases = [
            ("0 20 * * Fri", "0 20 * * 5"),
            ("30 2 * * Mon-Fri", "30 2 * * 1-5"),
            ("0 0 1 JAN *", "0 0 1 1 *"),
            ("  0   0  * *\t* ", "0 0 * * *"),
            ("0 0 0 * * *", "0 0 * * *"),
            ("*/15 0 6 * * *", "*/15 0 6 * * *"),
            ("0 0 * * fri-sun", "0 0 * * 5-7"),
            ("0 0 5/10 * *", "0 0 5-31/10 * *"),
            ("00 07 * * 7", "0 7 * * 7"),
            (
                "0,30 18-23/2 1-15,20 jan-MAR,dec *",
                "0,30 18-23/2 1-15,20 1-3,12 *",
            ),
            ("@daily", "0 0 * * *"),
            ("@Weekly", "0 0 * * 0"),
            ("@hourly", "0 * * * *"),
            ("@yearly", "0 0 1 1 *"),
        ];
        for (expr, shown) in cases {
            let parsed = spec(expr);
            assert_eq!(parsed.to_string(), shown, "{expr}");
            assert_eq!(spec(shown), parsed, "{expr} round trip");
        }
    }

    #[test]
    fn sunday_is_0_or_7_or_sun() {
        let sunday = date("2026-06-07");
        for expr in ["0 22 * * 0", "0 22 * * 7", "0 22 * * Sun", "0 22 * * SUN"] {
            assert!(spec(expr).matches_date(sunday), "{expr}");
            assert!(!spec(expr).matches_date(date("2026-06-08")), "{expr}");
            // Reference: cron-next.py (croniter, vixie mode).
            assert_next(
                expr,
                Tz::UTC,
                "2026-06-01T00:00",
                &[
                    "2026-06-07T22:00:00Z",
                    "2026-06-14T22:00:00Z",
                    "2026-06-21T22:00:00Z",
                ],
            );
        }
        let every_day = spec("0 0 * * 0-7");
        for d in 1..=7 {
            assert!(every_day.matches_date(date(&format!("2026-06-0{d}"))));
        }
        assert!(spec("0 0 * * 5-7").matches_date(sunday));
    }

    #[test]
    fn names_are_case_insensitive() {
        let a = spec("0 20 * * Fri");
        assert_eq!(a, spec("0 20 * * FRI"));
        assert_eq!(a, spec("0 20 * * fri"));
        assert_eq!(a, spec("0 20 * * 5"));
        assert_eq!(spec("0 0 1 JAN *"), spec("0 0 1 jan *"));
        assert_eq!(spec("0 0 * Jan-Mar Mon-Fri"), spec("0 0 * 1-3 1-5"));
    }

    // Expected values below come from /work/shared/peers/cron-next.py (croniter 7.0.0).

    #[test]
    fn weekday_range_by_name() {
        assert_next(
            "0 6 * * Mon-Fri",
            Europe::Berlin,
            "2026-06-05T00:00",
            &[
                "2026-06-05T04:00:00Z",
                "2026-06-08T04:00:00Z",
                "2026-06-09T04:00:00Z",
                "2026-06-10T04:00:00Z",
            ],
        );
    }

    #[test]
    fn month_name() {
        assert_next(
            "0 0 1 JAN *",
            Tz::UTC,
            "2026-06-01T00:00",
            &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"],
        );
    }

    #[test]
    fn steps_and_ranges() {
        assert_next(
            "*/20 18-19 * * *",
            Tz::UTC,
            "2026-06-01T00:00",
            &[
                "2026-06-01T18:00:00Z",
                "2026-06-01T18:20:00Z",
                "2026-06-01T18:40:00Z",
                "2026-06-01T19:00:00Z",
                "2026-06-01T19:20:00Z",
                "2026-06-01T19:40:00Z",
                "2026-06-02T18:00:00Z",
            ],
        );
        assert_next(
            "0 0 5/10 * *",
            Tz::UTC,
            "2026-06-01T00:00",
            &[
                "2026-06-05T00:00:00Z",
                "2026-06-15T00:00:00Z",
                "2026-06-25T00:00:00Z",
                "2026-07-05T00:00:00Z",
            ],
        );
        assert_next(
            "0 0 * * fri-sun",
            Tz::UTC,
            "2026-06-01T00:00",
            &[
                "2026-06-05T00:00:00Z",
                "2026-06-06T00:00:00Z",
                "2026-06-07T00:00:00Z",
                "2026-06-12T00:00:00Z",
            ],
        );
    }

    #[test]
    fn lists() {
        assert_next(
            "15,45 9 1-3 * *",
            Tz::UTC,
            "2026-01-31T00:00",
            &[
                "2026-02-01T09:15:00Z",
                "2026-02-01T09:45:00Z",
                "2026-02-02T09:15:00Z",
                "2026-02-02T09:45:00Z",
                "2026-02-03T09:15:00Z",
                "2026-02-03T09:45:00Z",
                "2026-03-01T09:15:00Z",
            ],
        );
    }

    #[test]
    fn dom_and_dow_both_restricted_is_or() {
        // Every Friday and every 13th (Tue 13 Jan 2026).
        assert_next(
            "0 12 13 * 5",
            Tz::UTC,
            "2026-01-01T00:00",
            &[
                "2026-01-02T12:00:00Z",
                "2026-01-09T12:00:00Z",
                "2026-01-13T12:00:00Z",
                "2026-01-16T12:00:00Z",
                "2026-01-23T12:00:00Z",
                "2026-01-30T12:00:00Z",
            ],
        );
        let cron = spec("0 12 13 * Fri");
        assert!(cron.matches_date(date("2026-01-13"))); // Tuesday the 13th
        assert!(cron.matches_date(date("2026-01-16"))); // Friday the 16th
        assert!(!cron.matches_date(date("2026-01-14")));
        // 1-31 is restricted (does not start with `*`), so OR makes it every day.
        assert!(spec("0 0 1-31 * 1").matches_date(date("2026-06-02")));
        // Month still applies to both halves of the OR.
        assert!(!spec("0 0 13 6 5").matches_date(date("2026-01-16")));
    }

    #[test]
    fn star_step_day_field_counts_as_unrestricted_like_vixie() {
        // Vixie cron and cronie: a day field starting with `*` does not trigger the OR
        // rule, so this is "odd days that are Mondays" (croniter would OR them instead).
        let cron = spec("0 0 */2 * 1");
        assert!(cron.matches_date(date("2026-06-15"))); // odd Monday
        assert!(!cron.matches_date(date("2026-06-08"))); // even Monday
        assert!(!cron.matches_date(date("2026-06-03"))); // odd Wednesday
        assert_next(
            "0 0 */2 * 1",
            Tz::UTC,
            "2026-06-01T00:00",
            &[
                "2026-06-15T00:00:00Z",
                "2026-06-29T00:00:00Z",
                "2026-07-13T00:00:00Z",
                "2026-07-27T00:00:00Z",
            ],
        );
        // `*/2` alone still means odd days.
        assert!(spec("0 0 */2 * *").matches_date(date("2026-06-03")));
        assert!(!spec("0 0 */2 * *").matches_date(date("2026-06-04")));
        // A restricted dow with `*` dom is just the day of week.
        assert!(!spec("0 0 * * 1").matches_date(date("2026-06-03")));
    }

    #[test]
    fn six_fields_seconds_first() {
        // Reference: croniter with second_at_beginning=True.
        assert_next(
            "10,40 0 21 * * Sat",
            Tz::UTC,
            "2026-06-01T00:00",
            &[
                "2026-06-06T21:00:10Z",
                "2026-06-06T21:00:40Z",
                "2026-06-13T21:00:10Z",
                "2026-06-13T21:00:40Z",
            ],
        );
        let cron = spec("*/20 59 23 31 12 *");
        let after = utc("2026-12-31T23:58:30Z");
        let got = cron.firings(Tz::UTC, after, utc("2027-12-31T23:59:00Z"));
        let want: Vec<_> = [
            "2026-12-31T23:59:00Z",
            "2026-12-31T23:59:20Z",
            "2026-12-31T23:59:40Z",
            "2027-12-31T23:59:00Z",
        ]
        .iter()
        .map(|s| utc(s))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn every_second_over_a_day_is_complete_and_windowed() {
        let cron = spec("* * * * * *");
        let day = cron.firings(
            Tz::UTC,
            utc("2026-06-01T00:00:00Z"),
            utc("2026-06-02T00:00:00Z"),
        );
        assert_eq!(day.len(), 86_400);
        assert_eq!(day[0], utc("2026-06-01T00:00:01Z"));
        assert_eq!(day[86_399], utc("2026-06-02T00:00:00Z"));
        // A late one-hour window does not need the rest of the day.
        let hour = cron.firings(
            Tz::UTC,
            utc("2026-06-01T22:00:00.5Z"),
            utc("2026-06-01T23:00:00Z"),
        );
        assert_eq!(hour.len(), 3600);
        assert_eq!(hour[0], utc("2026-06-01T22:00:01Z"));
    }

    #[test]
    fn window_is_after_exclusive_until_inclusive() {
        let cron = spec("0 20 * * *");
        let at = utc("2026-06-01T20:00:00Z");
        assert_eq!(
            cron.firings(Tz::UTC, at, utc("2026-06-02T20:00:00Z")),
            vec![utc("2026-06-02T20:00:00Z")]
        );
        assert_eq!(
            cron.firings(Tz::UTC, utc("2026-06-01T19:00:00Z"), at),
            vec![at]
        );
        assert!(cron.firings(Tz::UTC, at, at).is_empty());
        assert!(cron
            .firings(Tz::UTC, at, utc("2026-05-01T00:00:00Z"))
            .is_empty());
        assert_eq!(
            cron.next_after(Tz::UTC, at),
            Some(utc("2026-06-02T20:00:00Z"))
        );
    }

    /// Expressions that can never fire are refused, naming the day-of-month field;
    /// those that fire rarely (29 February) or through the day-of-week OR rule are not.
    #[test]
    fn an_expression_that_never_fires_is_refused() {
        for (expr, field) in [
            ("0 0 31 2 *", "31"),
            ("0 0 30 2 *", "30"),
            ("0 0 31 4,6,9,11 *", "31"),
            ("0 0 30-31 Feb *", "30-31"),
            ("0 0 0 31 2 *", "31"),
        ] {
            let e = CronSpec::parse(expr).unwrap_err();
            assert!(
                matches!(&e, CronError::Field { field: "day of month", text, .. } if text == field),
                "{expr}: {e}"
            );
            assert!(e.to_string().contains("never fires"), "{expr}: {e}");
        }
        for expr in [
            "0 0 29 2 *",
            "0 0 31 2 Mon",
            "0 0 31 2,3 *",
            "0 0 */5 2 *",
            "0 0 31 * *",
        ] {
            assert!(CronSpec::parse(expr).is_ok(), "{expr}");
        }
    }

    #[test]
    fn next_after_is_bounded() {
        assert_eq!(
            spec("0 0 29 Feb *").next_after(Tz::UTC, DateTime::<Utc>::MAX_UTC),
            None
        );
        assert_eq!(
            spec("0 0 29 Feb *").next_after(Tz::UTC, utc("2026-01-01T00:00:00Z")),
            Some(utc("2028-02-29T00:00:00Z"))
        );
    }

    /// `30 2 * * *` over the local day `day` and the days around it.
    fn daily_0230(tz: Tz, day: &str, next_day: &str) -> Vec<DateTime<Utc>> {
        let cron = spec("30 2 * * *");
        let one = cron.firings(
            tz,
            local(tz, &format!("{day}T00:00")),
            local(tz, &format!("{next_day}T00:00")),
        );
        assert_eq!(one.len(), 1, "{tz} {day}: {one:?}");
        one
    }

    #[test]
    fn dst_berlin_spring_forward_fires_at_end_of_gap() {
        // 02:30 does not exist on 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
        // croniter (vixie mode) agrees: 2026-03-29T03:00:00+02:00.
        assert_eq!(
            daily_0230(Europe::Berlin, "2026-03-29", "2026-03-30"),
            vec![utc("2026-03-29T01:00:00Z")]
        );
        assert_next(
            "30 2 * * *",
            Europe::Berlin,
            "2026-03-28T00:00",
            &[
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ],
        );
    }

    #[test]
    fn dst_berlin_fall_back_fires_once_at_first_occurrence() {
        // 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET); only the first fires.
        // croniter fires both.
        assert_eq!(
            daily_0230(Europe::Berlin, "2026-10-25", "2026-10-26"),
            vec![utc("2026-10-25T00:30:00Z")]
        );
        assert_next(
            "30 2 * * *",
            Europe::Berlin,
            "2026-10-24T00:00",
            &[
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ],
        );
    }

    #[test]
    fn dst_new_york_spring_forward() {
        // 02:00 EST jumps to 03:00 EDT = 07:00Z. croniter: 2026-03-08T03:00:00-04:00.
        assert_eq!(
            daily_0230(America::New_York, "2026-03-08", "2026-03-09"),
            vec![utc("2026-03-08T07:00:00Z")]
        );
        assert_next(
            "30 2 * * *",
            America::New_York,
            "2026-03-07T00:00",
            &[
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
            ],
        );
    }

    #[test]
    fn dst_new_york_fall_back() {
        // New York repeats 01:00-02:00, so 02:30 exists once (EST) — croniter agrees.
        assert_eq!(
            daily_0230(America::New_York, "2026-11-01", "2026-11-02"),
            vec![utc("2026-11-01T07:30:00Z")]
        );
        // 01:30 is the repeated one: first occurrence is EDT (05:30Z), not EST (06:30Z).
        assert_next(
            "30 1 * * *",
            America::New_York,
            "2026-10-31T00:00",
            &[
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ],
        );
    }

    #[test]
    fn dst_sub_daily_never_doubles() {
        let cron = spec("*/30 * * * *");
        // Spring: 02:00 and 02:30 fall into the gap and merge with 03:00 into one firing.
        assert_eq!(
            cron.firings(
                Europe::Berlin,
                utc("2026-03-29T00:00:00Z"),
                utc("2026-03-29T02:00:00Z")
            ),
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-29T02:00:00Z"
            ]
            .iter()
            .map(|s| utc(s))
            .collect::<Vec<_>>()
        );
        // Fall: the second pass through 02:00-03:00 (01:00Z-02:00Z) stays silent.
        assert_eq!(
            cron.firings(
                Europe::Berlin,
                utc("2026-10-24T23:00:00Z"),
                utc("2026-10-25T02:30:00Z")
            ),
            [
                "2026-10-24T23:30:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T02:30:00Z"
            ]
            .iter()
            .map(|s| utc(s))
            .collect::<Vec<_>>()
        );
        // Starting inside the repeated hour does not replay its first pass.
        assert_eq!(
            cron.next_after(Europe::Berlin, utc("2026-10-25T01:10:00Z")),
            Some(utc("2026-10-25T02:00:00Z"))
        );
    }

    #[test]
    fn whole_day_skipped_in_apia() {
        // Samoa skipped 30 Dec 2011: 29 Dec 24:00 (-10) became 31 Dec 00:00 (+14), at
        // 2011-12-30T10:00Z. The 30th's noon lands on the end of that gap.
        let cron = spec("0 12 * * *");
        assert_eq!(
            cron.firings(
                Pacific::Apia,
                utc("2011-12-29T12:00:00Z"),
                utc("2011-12-31T12:00:00Z")
            ),
            [
                "2011-12-29T22:00:00Z",
                "2011-12-30T10:00:00Z",
                "2011-12-30T22:00:00Z"
            ]
            .iter()
            .map(|s| utc(s))
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn fridays_in_shanghai_november_2026() {
        let tz = Asia::Shanghai;
        let got = spec("0 20 * * Fri").firings(
            tz,
            local(tz, "2026-11-01T00:00"),
            local(tz, "2026-12-01T00:00"),
        );
        // croniter: 20:00+08:00 on 6, 13, 20 and 27 November.
        let want: Vec<_> = [
            "2026-11-06T12:00:00Z",
            "2026-11-13T12:00:00Z",
            "2026-11-20T12:00:00Z",
            "2026-11-27T12:00:00Z",
        ]
        .iter()
        .map(|s| utc(s))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("0 25 * * *", "hour"),
            ("0 0 * * 8", "day of week"),
            ("61 * * * *", "minute"),
            ("0 0 32 * *", "day of month"),
            ("0 0 0 * *", "day of month"),
            ("0 0 * 13 *", "month"),
            ("0 0 * Foo *", "month"),
            ("0 0 * * Fry", "day of week"),
            ("0 0 * * Mon-", "day of week"),
            ("0 0 * Mon *", "month"),
            ("60 0 0 * * *", "second"),
            ("*/0 * * * *", "minute"),
            ("*/61 * * * *", "minute"),
            ("5-3 * * * *", "minute"),
            ("1,,2 * * * *", "minute"),
            ("1, * * * *", "minute"),
            ("-1 * * * *", "minute"),
            ("0 */x * * *", "hour"),
            ("0 0 1/ * *", "day of month"),
            ("0 0 * * 99999999999999999999", "day of week"),
            ("0 0 L * *", "day of month"),
            ("0 0 * * 1#2", "day of week"),
            ("0 0 ? * *", "day of month"),
        ];
        for (expr, field) in cases {
            assert_eq!(field_of(expr), field, "{expr}");
        }
        let err = CronSpec::parse("0 25 * * *").unwrap_err();
        assert_eq!(
            err,
            CronError::Field {
                field: "hour",
                text: "25".to_string(),
                why: "value 25 is out of range; allowed: 0-23".to_string(),
            }
        );
        assert_eq!(
            err.to_string(),
            "cron hour field `25`: value 25 is out of range; allowed: 0-23"
        );
        let err = CronSpec::parse("0 0 * * 8").unwrap_err().to_string();
        assert!(
            err.contains("day of week") && err.contains("Sun..Sat"),
            "{err}"
        );
    }

    #[test]
    fn errors_count_fields() {
        assert_eq!(CronSpec::parse("0 0 * *"), Err(CronError::FieldCount(4)));
        assert_eq!(
            CronSpec::parse("0 0 0 * * * 2026"),
            Err(CronError::FieldCount(7))
        );
        assert_eq!(CronSpec::parse(""), Err(CronError::FieldCount(0)));
        assert_eq!(CronSpec::parse("   "), Err(CronError::FieldCount(0)));
        assert_eq!(CronSpec::parse("@reboot"), Err(CronError::FieldCount(1)));
    }

    #[test]
    fn no_panic_on_garbage_or_extreme_instants() {
        let odd = [
            "",
            "*",
            "* * * * * * * *",
            "-",
            "/",
            ",",
            "*/",
            "/5 * * * *",
            "*-* * * * *",
            "1-2-3 * * * *",
            "1/2/3 * * * *",
            "*/1/1 * * * *",
            "4294967295 * * * *",
            "0 0 * * 0-0-0",
            "0 0 ** * *",
            "0 0 * * Sün",
            "0 0 * * 日",
            "😀 * * * *",
            "0\u{0}0 * * *",
            "0 0 * * Mo-Fr",
            "7/7 7/7 7/7 7/7 7/7",
            "59/60 23/24 31/31 12/12 7/7",
            "0-59/60 0-23/24 1-31/31 1-12/12 0-7/7",
            "0 0 31 2,4,6,9,11 *",
            "@",
            "@DAILY",
        ];
        let tzs = [Tz::UTC, Europe::Berlin, Pacific::Apia, Pacific::Kiritimati];
        let instants = [
            DateTime::<Utc>::MIN_UTC,
            utc("1900-01-01T00:00:00Z"),
            utc("2026-03-29T01:30:00Z"),
            DateTime::<Utc>::MAX_UTC - TimeDelta::days(3),
            DateTime::<Utc>::MAX_UTC,
        ];
        for expr in odd {
            let Ok(cron) = CronSpec::parse(expr) else {
                continue;
            };
            let _ = cron.to_string();
            for tz in tzs {
                for &t in &instants {
                    let _ = cron.next_after(tz, t);
                    let end = t
                        .checked_add_signed(TimeDelta::days(2))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    let _ = cron.firings(tz, t, end);
                }
                let _ = cron.firings(tz, DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC);
            }
        }
        // A sparse expression across all of chrono's time stays bounded and cheap.
        let all = spec("0 0 1 1 *").firings(
            Tz::UTC,
            utc("1970-01-01T00:00:00Z"),
            utc("2070-01-01T00:00:00Z"),
        );
        assert_eq!(all.len(), 100);
    }
}
