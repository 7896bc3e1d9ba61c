//! Instants as designers write them: RFC 3339 with an offset, or the site's
//! own wall-clock time (`2027-09-15 20:00`, `2027-09-15 20:00:30`, `20:00`
//! for today), resolved in the site's timezone.
//!
//! Pure: "today" and the timezone are arguments, so the CLI, the API and the
//! tests resolve the same text to the same instant. A wall-clock time that
//! happens twice (the hour repeated when summer time ends) or never (the
//! hour skipped when it begins) is refused with both candidates or the gap
//! named, because guessing would put a show an hour off without a word.

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a time was refused; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("`{text}` is not a time: write RFC 3339 (2027-09-15T20:00:00+08:00) or site time as YYYY-MM-DD HH:MM[:SS] or HH:MM[:SS] (today)")]
    Format { text: String },
    #[error("`{text}` happens twice in {tz} (the clocks go back): write {first} for the first or {second} for the second")]
    Ambiguous {
        text: String,
        tz: String,
        first: String,
        second: String,
    },
    #[error("`{text}` does not exist in {tz}: the clocks jump from {gap_start} to {gap_end} (at {at}); write a time outside the gap")]
    Nonexistent {
        text: String,
        tz: String,
        gap_start: String,
        gap_end: String,
        at: String,
    },
}

/// Why a date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date: write YYYY-MM-DD, e.g. 2027-09-15")]
pub struct DateError(pub String);

/// A calendar date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, DateError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| DateError(text.to_string()))
}

/// An instant: RFC 3339 as is, or a wall-clock time in `tz` (`today` is the
/// date a bare `HH:MM` means).
pub fn parse_instant(text: &str, tz: Tz, today: NaiveDate) -> Result<DateTime<Utc>, TimeError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = parse_wall_clock(t, today).ok_or_else(|| TimeError::Format {
        text: text.to_string(),
    })?;
    resolve_local(naive, tz, text)
}

fn parse_wall_clock(t: &str, today: NaiveDate) -> Option<NaiveDateTime> {
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(n);
        }
    }
    for fmt in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(time) = NaiveTime::parse_from_str(t, fmt) {
            return Some(today.and_time(time));
        }
    }
    None
}

/// A wall-clock time in `tz`, refusing the repeated and the skipped hour.
pub(crate) fn resolve_local(
    naive: NaiveDateTime,
    tz: Tz,
    text: &str,
) -> Result<DateTime<Utc>, TimeError> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(d) => Ok(d.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            Err(TimeError::Ambiguous {
                text: text.to_string(),
                tz: tz.name().to_string(),
                first: first.to_rfc3339(),
                second: second.to_rfc3339(),
            })
        }
        LocalResult::None => {
            let (gap_start, gap_end, at) = gap_around(naive, tz);
            Err(TimeError::Nonexistent {
                text: text.to_string(),
                tz: tz.name().to_string(),
                gap_start,
                gap_end,
                at,
            })
        }
    }
}

/// The skipped wall-clock interval containing `naive`: its local start and
/// end and the instant of the change, found by bisection between instants
/// a day either side (no zone skips more than a day).
fn gap_around(naive: NaiveDateTime, tz: Tz) -> (String, String, String) {
    let utc_guess = naive.and_utc();
    let mut lo = utc_guess - chrono::Duration::days(1);
    let mut hi = utc_guess + chrono::Duration::days(1);
    let offset_at = |u: DateTime<Utc>| u.with_timezone(&tz).offset().fix();
    // Narrow to the transition nearest the text: the last change before
    // `naive` read in the later offset.
    let before = offset_at(lo);
    let after = offset_at(hi);
    if before == after {
        return ("?".into(), "?".into(), "?".into());
    }
    while hi - lo > chrono::Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if offset_at(mid) == before {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let change = hi;
    let start = change.with_timezone(&before);
    let end = change.with_timezone(&after);
    (
        start.format("%H:%M %:z").to_string(),
        end.format("%H:%M %:z").to_string(),
        change.to_rfc3339(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn rfc3339_passes_through_whatever_the_site_zone() {
        let t = parse_instant(
            "2027-09-15T20:00:00+08:00",
            chrono_tz::Europe::Berlin,
            d("2000-01-01"),
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2027-09-15T12:00:00+00:00");
    }

    #[test]
    fn site_wall_clock_in_the_site_zone() {
        let tz = chrono_tz::Asia::Shanghai;
        for text in [
            "2027-09-15 20:00",
            "2027-09-15 20:00:00",
            "2027-09-15T20:00",
        ] {
            let t = parse_instant(text, tz, d("2000-01-01")).unwrap();
            assert_eq!(t.to_rfc3339(), "2027-09-15T12:00:00+00:00", "{text}");
        }
        let t = parse_instant("2027-09-15 20:00:30", tz, d("2000-01-01")).unwrap();
        assert_eq!(t.to_rfc3339(), "2027-09-15T12:00:30+00:00");
    }

    #[test]
    fn bare_time_is_today_in_site_time() {
        let t = parse_instant("21:30", chrono_tz::America::New_York, d("2027-01-10")).unwrap();
        assert_eq!(t.to_rfc3339(), "2027-01-11T02:30:00+00:00");
        // Summer: EDT is UTC−4.
        let t = parse_instant("21:30", chrono_tz::America::New_York, d("2027-07-10")).unwrap();
        assert_eq!(t.to_rfc3339(), "2027-07-11T01:30:00+00:00");
    }

    #[test]
    fn the_repeated_hour_is_refused_naming_both_instants() {
        // Europe/Berlin 2026-10-25: 03:00 CEST → 02:00 CET.
        let e = parse_instant(
            "2026-10-25 02:30",
            chrono_tz::Europe::Berlin,
            d("2026-01-01"),
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(m.contains("2026-10-25T02:30:00+02:00"), "{m}");
        assert!(m.contains("2026-10-25T02:30:00+01:00"), "{m}");
        assert!(m.contains("happens twice"), "{m}");
        // New York 2026-11-01 01:30 happens twice (EDT, then EST).
        let m = parse_instant(
            "2026-11-01 01:30",
            chrono_tz::America::New_York,
            d("2026-01-01"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("01:30:00-04:00") && m.contains("01:30:00-05:00"),
            "{m}"
        );
        // Both written out are accepted as they are.
        for ok in ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"] {
            parse_instant(ok, chrono_tz::Europe::Berlin, d("2026-01-01")).unwrap();
        }
    }

    #[test]
    fn the_skipped_hour_is_refused_naming_the_gap() {
        // Europe/Berlin 2026-03-29: 02:00 CET → 03:00 CEST.
        let e = parse_instant(
            "2026-03-29 02:30",
            chrono_tz::Europe::Berlin,
            d("2026-01-01"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            TimeError::Nonexistent {
                text: "2026-03-29 02:30".into(),
                tz: "Europe/Berlin".into(),
                gap_start: "02:00 +01:00".into(),
                gap_end: "03:00 +02:00".into(),
                at: "2026-03-29T01:00:00+00:00".into(),
            }
        );
        // New York 2026-03-08: 02:00 EST → 03:00 EDT.
        let m = parse_instant(
            "2026-03-08 02:15",
            chrono_tz::America::New_York,
            d("2026-01-01"),
        )
        .unwrap_err()
        .to_string();
        assert!(m.contains("from 02:00 -05:00 to 03:00 -04:00"), "{m}");
        // Either side of the gap is fine.
        let t = parse_instant(
            "2026-03-29 03:00",
            chrono_tz::Europe::Berlin,
            d("2026-01-01"),
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-29T01:00:00+00:00");
        let t = parse_instant(
            "2026-03-29 01:59",
            chrono_tz::Europe::Berlin,
            d("2026-01-01"),
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-29T00:59:00+00:00");
    }

    #[test]
    fn bad_text_names_the_formats() {
        for bad in [
            "",
            "tomorrow",
            "2027-13-01 20:00",
            "25:00",
            "2027/09/15 20:00",
        ] {
            let m = parse_instant(bad, chrono_tz::UTC, d("2027-01-01"))
                .unwrap_err()
                .to_string();
            assert!(m.contains("YYYY-MM-DD HH:MM"), "{bad}: {m}");
        }
        let m = parse_date("15.09.2027").unwrap_err().to_string();
        assert!(m.contains("YYYY-MM-DD"), "{m}");
        assert_eq!(parse_date(" 2027-09-15 ").unwrap(), d("2027-09-15"));
    }
}
