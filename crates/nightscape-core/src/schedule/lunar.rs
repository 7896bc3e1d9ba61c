//! The Chinese lunisolar calendar and the named holidays the scheduler can key
//! lighting shows to (Spring Festival, Mid-Autumn, Qingming, …), computed for
//! any year from astronomy rather than from a hand-typed per-year table, so it
//! never runs out and has no table to mistype. New moons come from Meeus
//! (*Astronomical Algorithms*, ch. 49, with the periodic and planetary
//! corrections) and solar terms from the sun's apparent longitude (truncated
//! VSOP87, ch. 25 and 32); both are reckoned as calendar dates in China
//! Standard Time (UTC+8) and combined with the modern rules: the month holding
//! the winter solstice is month 11, and a year of 13 months between two
//! month-11 starts repeats the number of the first month that holds no
//! principal term (leap month). Matches the Hong Kong Observatory calendar
//! for every day of 1901–2099 except six months where the published calendar
//! itself departs from UTC+8 astronomy (1914, 1916 and 1920 used Beijing local
//! time; 1933, 1954, 1978 are listed in the tests). Years outside 1800–2200
//! give None. Pure arithmetic: no I/O or clock, and no panics on any input;
//! the one shared state is a memo of each astronomical holiday's date per
//! year (`remembered`), which changes no answer.

use chrono::{Datelike, Days, NaiveDate};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Every holiday [`holiday_date`] knows, in calendar order.
const HOLIDAY_NAMES: [&str; 14] = [
    "new_year",
    "spring_festival_eve",
    "spring_festival",
    "lantern_festival",
    "qingming",
    "labour_day",
    "dragon_boat",
    "qixi",
    "mid_autumn",
    "national_day",
    "double_ninth",
    "christmas_eve",
    "christmas",
    "new_years_eve",
];

/// Gregorian years the calendar is computed for. The astronomy holds far
/// beyond this, but the rules are modern (UTC+8 dates from 1929), historical
/// calendars drift from them the further back one goes, and ΔT is a guess
/// centuries ahead; a bound keeps answers from looking more certain than they
/// are, and a lighting schedule needs nothing outside it.
const FIRST_YEAR: i32 = 1800;
const LAST_YEAR: i32 = 2200;

/// The Gregorian date of lunar (`month`, `day`) in the lunar year that begins
/// in Gregorian year `year` (month 1 day 1 = Chinese New Year of `year`).
/// `leap` selects the leap month of that number if the year has one. None if
/// the date does not exist (a leap month the year lacks, day 30 of a 29-day
/// month, month 13, …) or the year is outside 1800–2200.
pub(crate) fn lunar_to_gregorian(year: i32, month: u8, day: u8, leap: bool) -> Option<NaiveDate> {
    if day == 0 {
        return None;
    }
    let found = lunar_year(year)?
        .into_iter()
        .find(|m| m.number == month && m.leap == leap)?;
    let date = found
        .start
        .checked_add_days(Days::new(u64::from(day) - 1))?;
    (date < found.end).then_some(date)
}

#[cfg(test)]
/// The lunar date of a Gregorian date: (lunar year named by the Gregorian year
/// of its New Year, month, day, is_leap). None for dates outside the
/// Gregorian years 1800–2200 (January 1800 still answers with lunar year 1799).
pub(crate) fn gregorian_to_lunar(date: NaiveDate) -> Option<(i32, u8, u8, bool)> {
    gregorian_to_lunar_in(&two_suis(date.year())?, date)
}

#[cfg(test)]
/// [`gregorian_to_lunar`] given the months around `date`'s Gregorian year
/// (`two_suis(date.year())`, worked out once for a year of dates).
fn gregorian_to_lunar_in(span: &Span, date: NaiveDate) -> Option<(i32, u8, u8, bool)> {
    let year = date.year();
    let index = span
        .months
        .iter()
        .position(|m| m.start <= date && date < m.end)?;
    // Months before this year's New Year still belong to last lunar year.
    let lunar_year = if index < span.new_year {
        year - 1
    } else if index < span.next_new_year {
        year
    } else {
        year + 1
    };
    let m = span.months.get(index)?;
    let day = (date - m.start).num_days() + 1;
    Some((lunar_year, m.number, u8::try_from(day).ok()?, m.leap))
}

/// The Gregorian date of Chinese New Year (lunar 1/1) in Gregorian `year`.
pub(crate) fn chinese_new_year(year: i32) -> Option<NaiveDate> {
    lunar_to_gregorian(year, 1, 1, false)
}

/// The date of a named holiday in Gregorian `year` (names as in
/// [`holiday_names`]; case and outer whitespace are ignored). Lunar holidays
/// use the lunar year that begins in `year`, except "spring_festival_eve", the
/// last day of lunar month 12 just before that New Year (the 29th or 30th).
/// "qingming" is the day the sun's apparent longitude reaches 15°, in China
/// Standard Time. None for unknown names or unsupported years.
pub(crate) fn holiday_date(name: &str, year: i32) -> Option<NaiveDate> {
    let name = name.trim();
    let name = *HOLIDAY_NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))?;
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
    match name {
        "new_year" => fixed(1, 1),
        "labour_day" => fixed(5, 1),
        "national_day" => fixed(10, 1),
        "christmas_eve" => fixed(12, 24),
        "christmas" => fixed(12, 25),
        "new_years_eve" => fixed(12, 31),
        _ if !(FIRST_YEAR..=LAST_YEAR).contains(&year) => None,
        astronomical => remembered(astronomical, year),
    }
}

/// The date of a holiday the astronomy decides, computed once per name and
/// year in a process. Planning asks for every rule's holidays on every night
/// it plans (`check` plans 366 nights), and each answer re-derives the year's
/// new moons and solar terms: that was over half of a `check`. The answer
/// never changes, so it is kept; at most the 7 names × 401 years the
/// calendar covers.
fn remembered(name: &'static str, year: i32) -> Option<NaiveDate> {
    type Memo = Mutex<HashMap<(&'static str, i32), Option<NaiveDate>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    // A poisoned memo still holds only finished answers.
    if let Some(d) = memo
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(name, year))
    {
        return *d;
    }
    let lunar = |month, day| lunar_to_gregorian(year, month, day, false);
    let date = match name {
        "spring_festival_eve" => chinese_new_year(year).and_then(|d| d.pred_opt()),
        "spring_festival" => chinese_new_year(year),
        "lantern_festival" => lunar(1, 15),
        "qingming" => qingming(year),
        "dragon_boat" => lunar(5, 5),
        "qixi" => lunar(7, 7),
        "mid_autumn" => lunar(8, 15),
        "double_ninth" => lunar(9, 9),
        _ => None,
    };
    memo.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((name, year), date);
    date
}

/// Whether `d` is the named holiday (of its own year).
pub(crate) fn is_holiday(name: &str, d: NaiveDate) -> bool {
    holiday_date(name, d.year()) == Some(d)
}

/// Every name [`holiday_date`] accepts, in calendar order.
pub(crate) fn holiday_names() -> &'static [&'static str] {
    &HOLIDAY_NAMES
}

fn qingming(year: i32) -> Option<NaiveDate> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return None;
    }
    let guess = jd_of_date(NaiveDate::from_ymd_opt(year, 4, 5)?);
    cst_date(solar_longitude_jde(15.0, guess))
}

/// One lunar month: the CST dates of its first day and of the next month's.
#[derive(Debug, Clone, Copy)]
struct Month {
    start: NaiveDate,
    end: NaiveDate,
    number: u8,
    leap: bool,
}

/// The months of the lunar year that begins in Gregorian `year`, from month 1
/// up to (not including) the next month 1.
fn lunar_year(year: i32) -> Option<Vec<Month>> {
    let span = two_suis(year)?;
    span.months
        .get(span.new_year..span.next_new_year)
        .map(<[Month]>::to_vec)
}

/// The consecutive months from the winter solstice of December `year - 1` to
/// that of December `year + 1`: every month that touches Gregorian `year`.
struct Span {
    months: Vec<Month>,
    /// Index of month 1 of the lunar year beginning in `year`.
    new_year: usize,
    /// Index of month 1 of the lunar year beginning in `year + 1`.
    next_new_year: usize,
}

fn two_suis(year: i32) -> Option<Span> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return None;
    }
    let solstices = [
        winter_solstice(year - 1)?,
        winter_solstice(year)?,
        winter_solstice(year + 1)?,
    ];
    let mut months = sui(solstices[0], solstices[1])?;
    let second = sui(solstices[1], solstices[2])?;
    let is_first = |m: &Month| m.number == 1 && !m.leap;
    let new_year = months.iter().position(is_first)?;
    let next_new_year = months.len() + second.iter().position(is_first)?;
    months.extend(second);
    Some(Span {
        months,
        new_year,
        next_new_year,
    })
}

/// The months of one sui: from the month holding the winter solstice at JDE
/// `solstice` up to the one holding the next solstice, numbered 11, 12, 1, …
/// 10, with a leap month inserted when there are 13.
fn sui(solstice: f64, next_solstice: f64) -> Option<Vec<Month>> {
    let first = lunation_on_or_before(cst_date(solstice)?)?;
    let last = lunation_on_or_before(cst_date(next_solstice)?)?;
    let starts = (first..=last)
        .map(new_moon_date)
        .collect::<Option<Vec<NaiveDate>>>()?;
    let count = starts.len().checked_sub(1)?;
    let leap_index = match count {
        12 => None,
        13 => Some(first_month_without_principal_term(&starts, solstice)?),
        _ => return None,
    };
    let mut months = Vec::with_capacity(count);
    let mut number = 11;
    for (i, pair) in starts.windows(2).enumerate() {
        let leap = Some(i) == leap_index;
        if i > 0 && !leap {
            number = number % 12 + 1;
        }
        months.push(Month {
            start: pair[0],
            end: pair[1],
            number,
            leap,
        });
    }
    Some(months)
}

/// Index into `starts` (month start dates, month 11 first) of the first month
/// that holds no principal term. Month 11 holds the solstice, so the search
/// begins after it; 13 months and 12 terms guarantee a termless month. Terms
/// are computed only as far as needed, as they dominate the cost.
fn first_month_without_principal_term(starts: &[NaiveDate], solstice: f64) -> Option<usize> {
    let mut term_jde = solstice;
    let mut term_number = 0;
    let mut next_term = || -> Option<NaiveDate> {
        term_number += 1;
        // Twelve terms reach the next solstice; more would mean a bug, and
        // None beats looping.
        if term_number > 12 {
            return None;
        }
        let longitude = (270.0 + 30.0 * f64::from(term_number)).rem_euclid(360.0);
        term_jde = solar_longitude_jde(longitude, term_jde + 30.44);
        cst_date(term_jde)
    };
    let mut term = next_term()?;
    for (i, pair) in starts.windows(2).enumerate().skip(1) {
        // Skip the term that may still fall in month 11 after the solstice.
        while term < pair[0] {
            term = next_term()?;
        }
        if term >= pair[1] {
            return Some(i);
        }
    }
    None
}

const JD_J2000: f64 = 2_451_545.0;
/// chrono's `num_days_from_ce` counts 0001-01-01 as day 1; that date's
/// Julian day number is 1_721_426.
const JDN_CE_OFFSET: i64 = 1_721_425;
const SYNODIC_MONTH: f64 = 29.530_588_861;
const CST_HOURS: f64 = 8.0;

/// Julian day at 00:00 UT of `date`.
fn jd_of_date(date: NaiveDate) -> f64 {
    (i64::from(date.num_days_from_ce()) + JDN_CE_OFFSET) as f64 - 0.5
}

/// The CST calendar date of the dynamical-time instant `jde`.
fn cst_date(jde: f64) -> Option<NaiveDate> {
    let jd_ut = jde - delta_t_seconds(jde) / 86_400.0;
    let local = jd_ut + CST_HOURS / 24.0;
    let jdn = (local + 0.5).floor();
    if !jdn.is_finite() || jdn.abs() > 1e9 {
        return None;
    }
    let days = i32::try_from(jdn as i64 - JDN_CE_OFFSET).ok()?;
    NaiveDate::from_num_days_from_ce_opt(days)
}

/// TT − UT in seconds: the Espenak–Meeus polynomials (NASA eclipse pages).
/// Only their post-1800 pieces matter here; a few seconds of error move a
/// new moon's date only when it falls within seconds of midnight.
fn delta_t_seconds(jde: f64) -> f64 {
    let y = 2000.0 + (jde - JD_J2000) / 365.25;
    let u = (y - 1820.0) / 100.0;
    let long_term = -20.0 + 32.0 * u * u;
    if y < 1800.0 {
        long_term
    } else if y < 1860.0 {
        let t = y - 1800.0;
        13.72 - 0.332_447 * t + 0.006_861_2 * t.powi(2) + 0.004_111_6 * t.powi(3)
            - 0.000_374_36 * t.powi(4)
            + 0.000_012_127_2 * t.powi(5)
            - 0.000_000_169_9 * t.powi(6)
            + 0.000_000_000_875 * t.powi(7)
    } else if y < 1900.0 {
        let t = y - 1860.0;
        7.62 + 0.573_7 * t - 0.251_754 * t.powi(2) + 0.016_806_68 * t.powi(3)
            - 0.000_447_362_4 * t.powi(4)
            + t.powi(5) / 233_174.0
    } else if y < 1920.0 {
        let t = y - 1900.0;
        -2.79 + 1.494_119 * t - 0.059_893_9 * t.powi(2) + 0.006_196_6 * t.powi(3)
            - 0.000_197 * t.powi(4)
    } else if y < 1941.0 {
        let t = y - 1920.0;
        21.20 + 0.844_93 * t - 0.076_100 * t.powi(2) + 0.002_093_6 * t.powi(3)
    } else if y < 1961.0 {
        let t = y - 1950.0;
        29.07 + 0.407 * t - t.powi(2) / 233.0 + t.powi(3) / 2547.0
    } else if y < 1986.0 {
        let t = y - 1975.0;
        45.45 + 1.067 * t - t.powi(2) / 260.0 - t.powi(3) / 718.0
    } else if y < 2005.0 {
        let t = y - 2000.0;
        63.86 + 0.334_5 * t - 0.060_374 * t.powi(2)
            + 0.001_727_5 * t.powi(3)
            + 0.000_651_814 * t.powi(4)
            + 0.000_023_735_99 * t.powi(5)
    } else if y < 2050.0 {
        let t = y - 2000.0;
        62.92 + 0.322_17 * t + 0.005_589 * t.powi(2)
    } else if y < 2150.0 {
        long_term - 0.562_8 * (2150.0 - y)
    } else {
        long_term
    }
}

/// Index of the lunation whose new moon falls on the CST date `date` or is the
/// last one before it (Meeus's k, 0 = the new moon of 2000-01-06).
fn lunation_on_or_before(date: NaiveDate) -> Option<i64> {
    let estimate = ((jd_of_date(date) - 2_451_550.1) / SYNODIC_MONTH).floor();
    if !estimate.is_finite() || estimate.abs() > 1e7 {
        return None;
    }
    let mut k = estimate as i64;
    // The mean-month estimate is off by at most one lunation either way; the
    // bound keeps a bug from ever turning into an endless loop.
    for _ in 0..4 {
        if new_moon_date(k)? > date {
            k -= 1;
        } else if new_moon_date(k + 1)? <= date {
            k += 1;
        } else {
            return Some(k);
        }
    }
    None
}

fn new_moon_date(k: i64) -> Option<NaiveDate> {
    cst_date(new_moon_jde(k as f64))
}

/// JDE (TT) of the new moon of lunation `k`: Meeus ch. 49 with all the
/// periodic terms for the new moon and the 14 planetary arguments, good to a
/// few seconds against modern ephemerides.
fn new_moon_jde(k: f64) -> f64 {
    let t = k / 1_236.85;
    let (t2, t3, t4) = (t * t, t * t * t, t * t * t * t);
    let jde = 2_451_550.097_66 + SYNODIC_MONTH * k + 0.000_154_37 * t2 - 0.000_000_150 * t3
        + 0.000_000_000_73 * t4;
    // Earth's orbital eccentricity shrinks, weakening the terms with the sun's
    // anomaly.
    let e = 1.0 - 0.002_516 * t - 0.000_007_4 * t2;
    let rad = |deg: f64| deg.rem_euclid(360.0).to_radians();
    let m = rad(2.553_4 + 29.105_356_70 * k - 0.000_001_4 * t2 - 0.000_000_11 * t3);
    let mp = rad(
        201.564_3 + 385.816_935_28 * k + 0.010_758_2 * t2 + 0.000_012_38 * t3 - 0.000_000_058 * t4,
    );
    let f = rad(
        160.710_8 + 390.670_502_84 * k - 0.001_611_8 * t2 - 0.000_002_27 * t3 + 0.000_000_011 * t4,
    );
    let om = rad(124.774_6 - 1.563_755_88 * k + 0.002_067_2 * t2 + 0.000_002_15 * t3);
    let periodic = -0.407_20 * mp.sin()
        + 0.172_41 * e * m.sin()
        + 0.016_08 * (2.0 * mp).sin()
        + 0.010_39 * (2.0 * f).sin()
        + 0.007_39 * e * (mp - m).sin()
        - 0.005_14 * e * (mp + m).sin()
        + 0.002_08 * e * e * (2.0 * m).sin()
        - 0.001_11 * (mp - 2.0 * f).sin()
        - 0.000_57 * (mp + 2.0 * f).sin()
        + 0.000_56 * e * (2.0 * mp + m).sin()
        - 0.000_42 * (3.0 * mp).sin()
        + 0.000_42 * e * (m + 2.0 * f).sin()
        + 0.000_38 * e * (m - 2.0 * f).sin()
        - 0.000_24 * e * (2.0 * mp - m).sin()
        - 0.000_17 * om.sin()
        - 0.000_07 * (mp + 2.0 * m).sin()
        + 0.000_04 * (2.0 * mp - 2.0 * f).sin()
        + 0.000_04 * (3.0 * m).sin()
        + 0.000_03 * (mp + m - 2.0 * f).sin()
        + 0.000_03 * (2.0 * mp + 2.0 * f).sin()
        - 0.000_03 * (mp + m + 2.0 * f).sin()
        + 0.000_03 * (mp - m + 2.0 * f).sin()
        - 0.000_02 * (mp - m - 2.0 * f).sin()
        - 0.000_02 * (3.0 * mp + m).sin()
        + 0.000_02 * (4.0 * mp).sin();
    // (coefficient in days, argument in degrees at k = 0, rate per lunation)
    const PLANETARY: [(f64, f64, f64); 14] = [
        (0.000_325, 299.77, 0.107_408),
        (0.000_165, 251.88, 0.016_321),
        (0.000_164, 251.83, 26.651_886),
        (0.000_126, 349.42, 36.412_478),
        (0.000_110, 84.66, 18.206_239),
        (0.000_062, 141.74, 53.303_771),
        (0.000_060, 207.14, 2.453_732),
        (0.000_056, 154.84, 7.306_860),
        (0.000_047, 34.52, 27.261_239),
        (0.000_042, 207.19, 0.121_824),
        (0.000_040, 291.34, 1.844_379),
        (0.000_037, 161.72, 24.198_154),
        (0.000_035, 239.56, 25.513_099),
        (0.000_023, 331.55, 3.592_518),
    ];
    let planetary: f64 = PLANETARY
        .iter()
        .enumerate()
        .map(|(i, &(coef, a0, rate))| {
            // Only the first argument has a secular T² term.
            let quad = if i == 0 { -0.009_173 * t2 } else { 0.0 };
            coef * rad(a0 + rate * k + quad).sin()
        })
        .sum();
    jde + periodic + planetary
}

/// The JDE at which the sun's apparent longitude reaches `target` degrees,
/// starting from a guess within a few weeks of it. Newton steps with the mean
/// solar rate converge to well under a second in four or five iterations.
fn solar_longitude_jde(target: f64, guess: f64) -> f64 {
    let mut jde = guess;
    for _ in 0..20 {
        let diff = (target - sun_apparent_longitude(jde) + 540.0).rem_euclid(360.0) - 180.0;
        jde += diff * 365.242_2 / 360.0;
        if diff.abs() < 1e-7 {
            break;
        }
    }
    jde
}

/// Periodic terms of the earth's heliocentric longitude, VSOP87 as truncated
/// in Meeus's Appendix III: (amplitude × 1e-8 rad, phase rad, frequency rad
/// per Julian millennium). Enough for about 1″, i.e. ~25 s of solar-term time;
/// the ±0.01° of the short formula would be 15 minutes, which moves a term
/// falling near midnight onto the wrong day.
#[rustfmt::skip]
const L0: [(f64, f64, f64); 64] = [
    (175_347_046.0, 0.0, 0.0), (3_341_656.0, 4.669_256_8, 6_283.075_85),
    (34_894.0, 4.626_1, 12_566.151_7), (3_497.0, 2.744_1, 5_753.384_9),
    (3_418.0, 2.828_9, 3.523_1), (3_136.0, 3.627_7, 77_713.771_5),
    (2_676.0, 4.418_1, 7_860.419_4), (2_343.0, 6.135_2, 3_930.209_7),
    (1_324.0, 0.742_5, 11_506.769_8), (1_273.0, 2.037_1, 529.691),
    (1_199.0, 1.109_6, 1_577.343_5), (990.0, 5.233, 5_884.927),
    (902.0, 2.045, 26.298), (857.0, 3.508, 398.149),
    (780.0, 1.179, 5_223.694), (753.0, 2.533, 5_507.553),
    (505.0, 4.583, 18_849.228), (492.0, 4.205, 775.523),
    (357.0, 2.92, 0.067), (317.0, 5.849, 11_790.629),
    (284.0, 1.899, 796.298), (271.0, 0.315, 10_977.079),
    (243.0, 0.345, 5_486.778), (206.0, 4.806, 2_544.314),
    (205.0, 1.869, 5_573.143), (202.0, 2.458, 6_069.777),
    (156.0, 0.833, 213.299), (132.0, 3.411, 2_942.463),
    (126.0, 1.083, 20.775), (115.0, 0.645, 0.98),
    (103.0, 0.636, 4_694.003), (102.0, 0.976, 15_720.839),
    (102.0, 4.267, 7.114), (99.0, 6.21, 2_146.17),
    (98.0, 0.68, 155.42), (86.0, 5.98, 161_000.69),
    (85.0, 1.3, 6_275.96), (85.0, 3.67, 71_430.7),
    (80.0, 1.81, 17_260.15), (79.0, 3.04, 12_036.46),
    (75.0, 1.76, 5_088.63), (74.0, 3.5, 3_154.69),
    (74.0, 4.68, 801.82), (70.0, 0.83, 9_437.76),
    (62.0, 3.98, 8_827.39), (61.0, 1.82, 7_084.9),
    (57.0, 2.78, 6_286.6), (56.0, 4.39, 14_143.5),
    (56.0, 3.47, 6_279.55), (52.0, 0.19, 12_139.55),
    (52.0, 1.33, 1_748.02), (51.0, 0.28, 5_856.48),
    (49.0, 0.49, 1_194.45), (41.0, 5.37, 8_429.24),
    (41.0, 2.4, 19_651.05), (39.0, 6.17, 10_447.39),
    (37.0, 6.04, 10_213.29), (37.0, 2.57, 1_059.38),
    (36.0, 1.71, 2_352.87), (36.0, 1.78, 6_812.77),
    (33.0, 0.59, 17_789.85), (30.0, 0.44, 83_996.85),
    (30.0, 2.74, 1_349.87), (25.0, 3.16, 4_690.48),
];
#[rustfmt::skip]
const L1: [(f64, f64, f64); 34] = [
    (628_331_966_747.0, 0.0, 0.0), (206_059.0, 2.678_235, 6_283.075_85),
    (4_303.0, 2.635_1, 12_566.151_7), (425.0, 1.59, 3.523),
    (119.0, 5.796, 26.298), (109.0, 2.966, 1_577.344),
    (93.0, 2.59, 18_849.23), (72.0, 1.14, 529.69),
    (68.0, 1.87, 398.15), (67.0, 4.41, 5_507.55),
    (59.0, 2.89, 5_223.69), (56.0, 2.17, 155.42),
    (45.0, 0.4, 796.3), (36.0, 0.47, 775.52),
    (29.0, 2.65, 7.11), (21.0, 5.34, 0.98),
    (19.0, 1.85, 5_486.78), (19.0, 4.97, 213.3),
    (17.0, 2.99, 6_275.96), (16.0, 0.03, 2_544.31),
    (16.0, 1.43, 2_146.17), (15.0, 1.21, 10_977.08),
    (12.0, 2.83, 1_748.02), (12.0, 3.26, 5_088.63),
    (12.0, 5.27, 1_194.45), (12.0, 2.08, 4_694.0),
    (11.0, 0.77, 553.57), (10.0, 1.3, 6_286.6),
    (10.0, 4.24, 1_349.87), (9.0, 2.7, 242.73),
    (9.0, 5.64, 951.72), (8.0, 5.3, 2_352.87),
    (6.0, 2.65, 9_437.76), (6.0, 4.67, 4_690.48),
];
#[rustfmt::skip]
const L2: [(f64, f64, f64); 20] = [
    (52_919.0, 0.0, 0.0), (8_720.0, 1.072_1, 6_283.075_8),
    (309.0, 0.867, 12_566.152), (27.0, 0.05, 3.52),
    (16.0, 5.19, 26.3), (16.0, 3.68, 155.42),
    (10.0, 0.76, 18_849.23), (9.0, 2.06, 77_713.77),
    (7.0, 0.83, 775.52), (5.0, 4.66, 1_577.34),
    (4.0, 1.03, 7.11), (4.0, 3.44, 5_573.14),
    (3.0, 5.14, 796.3), (3.0, 6.05, 5_507.55),
    (3.0, 1.19, 242.73), (3.0, 6.12, 529.69),
    (3.0, 0.31, 398.15), (3.0, 2.28, 553.57),
    (2.0, 4.38, 5_223.69), (2.0, 3.75, 0.98),
];
#[rustfmt::skip]
const L3: [(f64, f64, f64); 7] = [
    (289.0, 5.844, 6_283.076), (35.0, 0.0, 0.0),
    (17.0, 5.49, 12_566.15), (3.0, 5.2, 155.42),
    (1.0, 4.72, 3.52), (1.0, 5.3, 18_849.23),
    (1.0, 5.97, 242.73),
];
// 3.142 and 3.14 are the published phases (π to the table's precision); the
// coefficients are kept verbatim so they can be checked against the source.
#[allow(clippy::approx_constant)]
const L4: [(f64, f64, f64); 3] = [
    (114.0, 3.142, 0.0),
    (8.0, 4.13, 6_283.08),
    (1.0, 3.84, 12_566.15),
];
#[allow(clippy::approx_constant)]
const L5: [(f64, f64, f64); 1] = [(1.0, 3.14, 0.0)];

/// The sun's apparent geocentric longitude in degrees [0, 360) at `jde`
/// (Meeus ch. 25, high-accuracy method with the truncated VSOP87 series).
fn sun_apparent_longitude(jde: f64) -> f64 {
    let tau = (jde - JD_J2000) / 365_250.0;
    let series = |terms: &[(f64, f64, f64)]| -> f64 {
        terms.iter().map(|&(a, b, c)| a * (b + c * tau).cos()).sum()
    };
    let heliocentric = (series(&L0)
        + tau
            * (series(&L1)
                + tau
                    * (series(&L2)
                        + tau * (series(&L3) + tau * (series(&L4) + tau * series(&L5))))))
        / 1e8;
    // Geocentric is the opposite direction; -0.09033″ converts VSOP87's frame
    // to FK5.
    let geometric = heliocentric.to_degrees() + 180.0 - 0.090_33 / 3600.0;
    let t = tau * 10.0;
    // Nutation in longitude (Meeus ch. 22, 0.5″ version).
    let omega = (125.044_52 - 1_934.136_261 * t).to_radians();
    let sun_mean = (280.466_5 + 36_000.769_8 * t).to_radians();
    let moon_mean = (218.316_5 + 481_267.881_3 * t).to_radians();
    let nutation =
        (-17.20 * omega.sin() - 1.32 * (2.0 * sun_mean).sin() - 0.23 * (2.0 * moon_mean).sin()
            + 0.21 * (2.0 * omega).sin())
            / 3600.0;
    // Aberration; the earth–sun distance changes it by under 0.4″, so the
    // mean distance is used.
    let aberration = -20.4898 / 3600.0;
    (geometric + nutation + aberration).rem_euclid(360.0)
}

/// JDE of the December solstice of Gregorian `year`.
fn winter_solstice(year: i32) -> Option<f64> {
    let guess = jd_of_date(NaiveDate::from_ymd_opt(year, 12, 21)?);
    Some(solar_longitude_jde(270.0, guess))
}

#[cfg(test)]
mod tests {
    //! Reference dates: the Hong Kong Observatory calendar (via the `lunardate`
    //! package's tables) and, for instants, PyEphem and the `lunar-python`
    //! solar-term tables. Against HKO for every day of 1901–2099 this module
    //! differs in six months only, all listed in `HKO_DIFFERENCES` with why.
    use super::*;
    use chrono::{DateTime, Utc};

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    fn ymd(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("test date")
    }

    fn utc_of_jde(jde: f64) -> DateTime<Utc> {
        let jd = jde - delta_t_seconds(jde) / 86_400.0;
        let secs = ((jd - 2_440_587.5) * 86_400.0).round() as i64;
        DateTime::from_timestamp(secs, 0).expect("in range")
    }

    fn assert_close(got: DateTime<Utc>, want: &str, minutes: i64) {
        let want: DateTime<Utc> = want.parse().expect("reference instant");
        let off = (got - want).num_seconds().abs();
        assert!(off <= minutes * 60, "{got} vs {want}");
    }

    /// (holiday, dates for 2025..=2030), from HKO.
    const LUNAR_HOLIDAYS: [(&str, [&str; 6]); 7] = [
        (
            "spring_festival_eve",
            [
                "2025-01-28",
                "2026-02-16",
                "2027-02-05",
                "2028-01-25",
                "2029-02-12",
                "2030-02-02",
            ],
        ),
        (
            "spring_festival",
            [
                "2025-01-29",
                "2026-02-17",
                "2027-02-06",
                "2028-01-26",
                "2029-02-13",
                "2030-02-03",
            ],
        ),
        (
            "lantern_festival",
            [
                "2025-02-12",
                "2026-03-03",
                "2027-02-20",
                "2028-02-09",
                "2029-02-27",
                "2030-02-17",
            ],
        ),
        (
            "dragon_boat",
            [
                "2025-05-31",
                "2026-06-19",
                "2027-06-09",
                "2028-05-28",
                "2029-06-16",
                "2030-06-05",
            ],
        ),
        (
            "qixi",
            [
                "2025-08-29",
                "2026-08-19",
                "2027-08-08",
                "2028-08-26",
                "2029-08-16",
                "2030-08-05",
            ],
        ),
        (
            "mid_autumn",
            [
                "2025-10-06",
                "2026-09-25",
                "2027-09-15",
                "2028-10-03",
                "2029-09-22",
                "2030-09-12",
            ],
        ),
        (
            "double_ninth",
            [
                "2025-10-29",
                "2026-10-18",
                "2027-10-08",
                "2028-10-26",
                "2029-10-16",
                "2030-10-05",
            ],
        ),
    ];

    #[test]
    fn lunar_holidays_2025_to_2030() {
        for (name, dates) in LUNAR_HOLIDAYS {
            for (year, want) in (2025..).zip(dates) {
                assert_eq!(holiday_date(name, year), Some(d(want)), "{name} {year}");
            }
        }
    }

    #[test]
    fn fixed_and_solar_term_holidays() {
        assert_eq!(holiday_date("qingming", 2025), Some(ymd(2025, 4, 4)));
        assert_eq!(holiday_date("qingming", 2026), Some(ymd(2026, 4, 5)));
        // 2024-04-04 15:02 CST and 2027-04-05 08:17 CST.
        assert_eq!(holiday_date("qingming", 2024), Some(ymd(2024, 4, 4)));
        assert_eq!(holiday_date("qingming", 2027), Some(ymd(2027, 4, 5)));
        let fixed = [
            ("new_year", 1, 1),
            ("labour_day", 5, 1),
            ("national_day", 10, 1),
            ("christmas_eve", 12, 24),
            ("christmas", 12, 25),
            ("new_years_eve", 12, 31),
        ];
        for (name, m, day) in fixed {
            assert_eq!(holiday_date(name, 2026), Some(ymd(2026, m, day)), "{name}");
        }
        assert_eq!(holiday_date(" Mid_Autumn ", 2026), Some(ymd(2026, 9, 25)));
        assert_eq!(holiday_date("mid-autumn", 2026), None);
        assert_eq!(holiday_date("easter", 2026), None);
        assert_eq!(holiday_date("", 2026), None);
    }

    #[test]
    fn every_listed_holiday_resolves_and_falls_in_its_year() {
        assert_eq!(holiday_names().len(), 14);
        for year in [1901, 1950, 2000, 2026, 2050, 2099] {
            let mut previous = None;
            for name in holiday_names() {
                let date = holiday_date(name, year).unwrap_or_else(|| panic!("{name} {year}"));
                assert_eq!(date.year(), year, "{name}");
                // The list is in calendar order.
                assert!(previous < Some(date), "{name} {year}");
                previous = Some(date);
            }
        }
    }

    #[test]
    fn spring_festival_eve_is_the_last_day_of_month_twelve() {
        for year in 1902..=2099 {
            let eve = holiday_date("spring_festival_eve", year).expect("eve");
            let (ly, month, day, leap) = gregorian_to_lunar(eve).expect("lunar");
            assert_eq!((ly, month, leap), (year - 1, 12, false), "{year}");
            assert!(day == 29 || day == 30, "{year}: {day}");
        }
    }

    #[test]
    fn leap_months() {
        // (year, leap month, its first day), from HKO; 2033 is the famous
        // leap 11th month, which only the modern rules produce.
        let cases = [
            (2020, 4, "2020-05-23"),
            (2023, 2, "2023-03-22"),
            (2025, 6, "2025-07-25"),
            (2028, 5, "2028-06-23"),
            (2031, 3, "2031-04-22"),
            (2033, 11, "2033-12-22"),
            (2036, 6, "2036-07-23"),
        ];
        for (year, month, start) in cases {
            assert_eq!(
                lunar_to_gregorian(year, month, 1, true),
                Some(d(start)),
                "{year}"
            );
            assert_eq!(gregorian_to_lunar(d(start)), Some((year, month, 1, true)));
            for other in (1..=12).filter(|m| *m != month) {
                assert_eq!(
                    lunar_to_gregorian(year, other, 1, true),
                    None,
                    "{year}/{other}"
                );
            }
        }
        for year in [2024, 2026, 2027, 2029, 2030] {
            for month in 1..=12 {
                assert_eq!(
                    lunar_to_gregorian(year, month, 1, true),
                    None,
                    "{year}/{month}"
                );
            }
        }
        // 2025: month 6 starts 2025-06-25, leap 6 on 2025-07-25, month 7 on 2025-08-23.
        assert_eq!(
            lunar_to_gregorian(2025, 6, 1, false),
            Some(ymd(2025, 6, 25))
        );
        assert_eq!(
            lunar_to_gregorian(2025, 7, 1, false),
            Some(ymd(2025, 8, 23))
        );
        assert_eq!(
            lunar_to_gregorian(2025, 6, 29, true),
            Some(ymd(2025, 8, 22))
        );
    }

    #[test]
    fn nonexistent_dates_are_none() {
        // 2025's month 12 (2026-01-19 .. 2026-02-16) and 2026's month 2
        // (2026-03-19 .. 2026-04-16) have 29 days each.
        assert_eq!(
            lunar_to_gregorian(2025, 12, 29, false),
            Some(ymd(2026, 2, 16))
        );
        assert_eq!(lunar_to_gregorian(2025, 12, 30, false), None);
        assert_eq!(
            lunar_to_gregorian(2026, 2, 29, false),
            Some(ymd(2026, 4, 16))
        );
        assert_eq!(lunar_to_gregorian(2026, 2, 30, false), None);
        for (month, day) in [(0, 1), (13, 1), (1, 0), (1, 31), (255, 255)] {
            assert_eq!(
                lunar_to_gregorian(2026, month, day, false),
                None,
                "{month}/{day}"
            );
        }
        for year in [i32::MIN, -1, 0, 1799, 2201, i32::MAX] {
            assert_eq!(chinese_new_year(year), None, "{year}");
            assert_eq!(holiday_date("qingming", year), None, "{year}");
        }
        assert_eq!(holiday_date("christmas", 9999), Some(ymd(9999, 12, 25)));
        assert_eq!(holiday_date("christmas", i32::MAX), None);
        for date in [
            NaiveDate::MIN,
            NaiveDate::MAX,
            ymd(1799, 12, 31),
            ymd(2201, 1, 1),
        ] {
            assert_eq!(gregorian_to_lunar(date), None);
        }
        assert_eq!(gregorian_to_lunar(ymd(1800, 1, 1)).map(|l| l.0), Some(1799));
        assert!(gregorian_to_lunar(ymd(1800, 12, 31)).is_some());
        assert!(gregorian_to_lunar(ymd(2200, 12, 31)).is_some());
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn round_trip_every_day_2024_to_2031() {
        let mut date = ymd(2024, 1, 1);
        let mut previous: Option<(i32, u8, u8, bool)> = None;
        // The months around each year worked out once, not once a day.
        let mut span = (0, None);
        while date.year() <= 2031 {
            if span.0 != date.year() {
                span = (date.year(), two_suis(date.year()));
            }
            let lunar = span
                .1
                .as_ref()
                .and_then(|s| gregorian_to_lunar_in(s, date))
                .unwrap_or_else(|| panic!("{date}"));
            let (year, month, day, leap) = lunar;
            assert_eq!(
                lunar_to_gregorian(year, month, day, leap),
                Some(date),
                "{lunar:?}"
            );
            // Days count up by one, or a new month starts after day 29 or 30.
            if let Some((py, pm, pd, pl)) = previous {
                let next_day = (py, pm, pd + 1, pl) == lunar;
                let new_month = day == 1 && (pd == 29 || pd == 30);
                assert!(next_day || new_month, "{date}: {previous:?} -> {lunar:?}");
                if new_month {
                    let same_number = leap && !pl && month == pm;
                    let next_number = !leap && month == pm % 12 + 1;
                    assert!(same_number || next_number, "{date}");
                    assert_eq!(year != py, month == 1 && !leap, "{date}");
                }
            }
            previous = Some(lunar);
            date = date.succ_opt().expect("in range");
        }
    }

    #[test]
    fn month_starts_fall_on_the_new_moon_date() {
        // New moons from PyEphem (UTC); the lunar month must begin on the CST
        // date of each, and the computed instant must agree to a minute.
        let cases = [
            (2025, 1, false, "2025-01-29T12:35:55Z"),
            (2026, 1, false, "2026-02-17T12:01:05Z"),
            (2025, 9, false, "2025-10-21T12:25:08Z"),
            (2033, 11, true, "2033-12-21T18:46:18Z"),
        ];
        for (year, month, leap, instant) in cases {
            let want: DateTime<Utc> = instant.parse().expect("instant");
            let cst = (want + chrono::Duration::hours(8)).date_naive();
            assert_eq!(
                lunar_to_gregorian(year, month, 1, leap),
                Some(cst),
                "{instant}"
            );
            let k = lunation_on_or_before(cst).expect("lunation");
            assert_close(utc_of_jde(new_moon_jde(k as f64)), instant, 1);
        }
        // 2057-09-28 23:59:50 CST per PyEphem: ten seconds from midnight, and
        // HKO agrees it starts month 9 on the 28th.
        assert_eq!(
            lunar_to_gregorian(2057, 9, 1, false),
            Some(ymd(2057, 9, 28))
        );
    }

    #[test]
    fn solar_terms_match_published_instants() {
        // lunar-python's tables, in UTC.
        let cases = [
            (270.0, "2025-12-21T15:03:05Z"),
            (270.0, "2026-12-21T20:50:14Z"),
            (15.0, "2025-04-04T12:48:36Z"),
            (15.0, "2026-04-04T18:40:00Z"),
        ];
        for (longitude, instant) in cases {
            let want: DateTime<Utc> = instant.parse().expect("instant");
            let guess = jd_of_date(want.date_naive()) + 3.0;
            assert_close(
                utc_of_jde(solar_longitude_jde(longitude, guess)),
                instant,
                1,
            );
        }
    }

    /// Where HKO's published calendar and the UTC+8 astronomy disagree, by
    /// lunar year. Before 1929 China reckoned in Beijing local time (UTC+7:46),
    /// which puts new moons at 00:01–00:05 CST on the previous day (1914,
    /// 1915/1916 New Year, 1920). In 1933 and 1978 the new moon fell at
    /// 00:03 / 00:08 CST, and 1954's table was simply off by a day; in all three
    /// this module agrees with the astronomy (and with lunar-python).
    const HKO_DIFFERENCES: [i32; 7] = [1914, 1915, 1916, 1920, 1933, 1954, 1978];

    /// HKO, 1901–2098: (New Year, leap month or 0, bit i set when the i-th
    /// month of the year, leap month in its place, has 30 days).
    #[rustfmt::skip]
    const HKO: [(&str, u8, u16); 198] = [
        ("1901-02-19", 0, 0x0752), ("1902-02-08", 0, 0x0ea5), ("1903-01-29", 5, 0x164a),
        ("1904-02-16", 0, 0x064b), ("1905-02-04", 0, 0x0a9b), ("1906-01-25", 4, 0x1556),
        ("1907-02-13", 0, 0x056a), ("1908-02-02", 0, 0x0b59), ("1909-01-22", 2, 0x1752),
        ("1910-02-10", 0, 0x0752), ("1911-01-30", 6, 0x1b25), ("1912-02-18", 0, 0x0b25),
        ("1913-02-06", 0, 0x0a4b), ("1914-01-26", 5, 0x14ab), ("1915-02-14", 0, 0x02ad),
        ("1916-02-03", 0, 0x056b), ("1917-01-23", 2, 0x0b69), ("1918-02-11", 0, 0x0da9),
        ("1919-02-01", 7, 0x1d92), ("1920-02-20", 0, 0x0e92), ("1921-02-08", 0, 0x0d25),
        ("1922-01-28", 5, 0x1a4d), ("1923-02-16", 0, 0x0a56), ("1924-02-05", 0, 0x02b6),
        ("1925-01-24", 4, 0x15b5), ("1926-02-13", 0, 0x06d4), ("1927-02-02", 0, 0x0ea9),
        ("1928-01-23", 2, 0x1e92), ("1929-02-10", 0, 0x0e92), ("1930-01-30", 6, 0x0d26),
        ("1931-02-17", 0, 0x052b), ("1932-02-06", 0, 0x0a57), ("1933-01-26", 5, 0x12d6),
        ("1934-02-14", 0, 0x0b5a), ("1935-02-04", 0, 0x06d4), ("1936-01-24", 3, 0x0ec9),
        ("1937-02-11", 0, 0x0749), ("1938-01-31", 7, 0x1693), ("1939-02-19", 0, 0x0a93),
        ("1940-02-08", 0, 0x052b), ("1941-01-27", 6, 0x0a5b), ("1942-02-15", 0, 0x0aad),
        ("1943-02-05", 0, 0x056a), ("1944-01-25", 4, 0x1b55), ("1945-02-13", 0, 0x0ba4),
        ("1946-02-02", 0, 0x0b49), ("1947-01-22", 2, 0x1a93), ("1948-02-10", 0, 0x0a95),
        ("1949-01-29", 7, 0x152d), ("1950-02-17", 0, 0x0536), ("1951-02-06", 0, 0x0aad),
        ("1952-01-27", 5, 0x15aa), ("1953-02-14", 0, 0x05b2), ("1954-02-03", 0, 0x0ba5),
        ("1955-01-24", 3, 0x1d4a), ("1956-02-12", 0, 0x0d4a), ("1957-01-31", 8, 0x0a95),
        ("1958-02-18", 0, 0x0a97), ("1959-02-08", 0, 0x0556), ("1960-01-28", 6, 0x0ab5),
        ("1961-02-15", 0, 0x0ad5), ("1962-02-05", 0, 0x06d2), ("1963-01-25", 4, 0x0ea5),
        ("1964-02-13", 0, 0x0ea5), ("1965-02-02", 0, 0x064a), ("1966-01-21", 3, 0x0c97),
        ("1967-02-09", 0, 0x0a9b), ("1968-01-30", 7, 0x155a), ("1969-02-17", 0, 0x056a),
        ("1970-02-06", 0, 0x0b69), ("1971-01-27", 5, 0x1752), ("1972-02-15", 0, 0x0b52),
        ("1973-02-03", 0, 0x0b25), ("1974-01-23", 4, 0x164b), ("1975-02-11", 0, 0x0a4b),
        ("1976-01-31", 8, 0x14ab), ("1977-02-18", 0, 0x02ad), ("1978-02-07", 0, 0x05ad),
        ("1979-01-28", 6, 0x0b69), ("1980-02-16", 0, 0x0da9), ("1981-02-05", 0, 0x0d92),
        ("1982-01-25", 4, 0x1d25), ("1983-02-13", 0, 0x0d25), ("1984-02-02", 10, 0x1a4d),
        ("1985-02-20", 0, 0x0a56), ("1986-02-09", 0, 0x02b6), ("1987-01-29", 6, 0x05b5),
        ("1988-02-17", 0, 0x06d5), ("1989-02-06", 0, 0x0ea9), ("1990-01-27", 5, 0x1e92),
        ("1991-02-15", 0, 0x0e92), ("1992-02-04", 0, 0x0d26), ("1993-01-23", 3, 0x0a56),
        ("1994-02-10", 0, 0x0a57), ("1995-01-31", 8, 0x14d6), ("1996-02-19", 0, 0x035a),
        ("1997-02-07", 0, 0x06d5), ("1998-01-28", 5, 0x16c9), ("1999-02-16", 0, 0x0749),
        ("2000-02-05", 0, 0x0693), ("2001-01-24", 4, 0x152b), ("2002-02-12", 0, 0x052b),
        ("2003-02-01", 0, 0x0a5b), ("2004-01-22", 2, 0x155a), ("2005-02-09", 0, 0x056a),
        ("2006-01-29", 7, 0x1b55), ("2007-02-18", 0, 0x0ba4), ("2008-02-07", 0, 0x0b49),
        ("2009-01-26", 5, 0x1a93), ("2010-02-14", 0, 0x0a95), ("2011-02-03", 0, 0x052d),
        ("2012-01-23", 4, 0x0aad), ("2013-02-10", 0, 0x0ab5), ("2014-01-31", 9, 0x15aa),
        ("2015-02-19", 0, 0x05d2), ("2016-02-08", 0, 0x0da5), ("2017-01-28", 6, 0x1d4a),
        ("2018-02-16", 0, 0x0d4a), ("2019-02-05", 0, 0x0c95), ("2020-01-25", 4, 0x152e),
        ("2021-02-12", 0, 0x0556), ("2022-02-01", 0, 0x0ab5), ("2023-01-22", 2, 0x15b2),
        ("2024-02-10", 0, 0x06d2), ("2025-01-29", 6, 0x0ea5), ("2026-02-17", 0, 0x0725),
        ("2027-02-06", 0, 0x064b), ("2028-01-26", 5, 0x0c97), ("2029-02-13", 0, 0x0cab),
        ("2030-02-03", 0, 0x055a), ("2031-01-23", 3, 0x0ad6), ("2032-02-11", 0, 0x0b69),
        ("2033-01-31", 11, 0x1752), ("2034-02-19", 0, 0x0b52), ("2035-02-08", 0, 0x0b25),
        ("2036-01-28", 6, 0x1a4b), ("2037-02-15", 0, 0x0a4b), ("2038-02-04", 0, 0x04ab),
        ("2039-01-24", 5, 0x055b), ("2040-02-12", 0, 0x05ad), ("2041-02-01", 0, 0x0b6a),
        ("2042-01-22", 2, 0x1b52), ("2043-02-10", 0, 0x0d92), ("2044-01-30", 7, 0x1d25),
        ("2045-02-17", 0, 0x0d25), ("2046-02-06", 0, 0x0a55), ("2047-01-26", 5, 0x14ad),
        ("2048-02-14", 0, 0x04b6), ("2049-02-02", 0, 0x05b5), ("2050-01-23", 3, 0x0daa),
        ("2051-02-11", 0, 0x0ec9), ("2052-02-01", 8, 0x1e92), ("2053-02-19", 0, 0x0e92),
        ("2054-02-08", 0, 0x0d26), ("2055-01-28", 6, 0x0a56), ("2056-02-15", 0, 0x0a57),
        ("2057-02-04", 0, 0x0556), ("2058-01-24", 4, 0x06d5), ("2059-02-12", 0, 0x0755),
        ("2060-02-02", 0, 0x0749), ("2061-01-21", 3, 0x0e93), ("2062-02-09", 0, 0x0693),
        ("2063-01-29", 7, 0x152b), ("2064-02-17", 0, 0x052b), ("2065-02-05", 0, 0x0a5b),
        ("2066-01-26", 5, 0x155a), ("2067-02-14", 0, 0x056a), ("2068-02-03", 0, 0x0b65),
        ("2069-01-23", 4, 0x174a), ("2070-02-11", 0, 0x0b4a), ("2071-01-31", 8, 0x1a95),
        ("2072-02-19", 0, 0x0a95), ("2073-02-07", 0, 0x052d), ("2074-01-27", 6, 0x0aad),
        ("2075-02-15", 0, 0x0ab5), ("2076-02-05", 0, 0x05aa), ("2077-01-24", 4, 0x0ba5),
        ("2078-02-12", 0, 0x0da5), ("2079-02-02", 0, 0x0d4a), ("2080-01-22", 3, 0x1c95),
        ("2081-02-09", 0, 0x0c96), ("2082-01-29", 7, 0x194e), ("2083-02-17", 0, 0x0556),
        ("2084-02-06", 0, 0x0ab5), ("2085-01-26", 5, 0x15b2), ("2086-02-14", 0, 0x06d2),
        ("2087-02-03", 0, 0x0ea5), ("2088-01-24", 4, 0x0e4a), ("2089-02-10", 0, 0x068b),
        ("2090-01-30", 8, 0x0c97), ("2091-02-18", 0, 0x04ab), ("2092-02-07", 0, 0x055b),
        ("2093-01-27", 6, 0x0ad6), ("2094-02-15", 0, 0x0b6a), ("2095-02-05", 0, 0x0752),
        ("2096-01-25", 4, 0x1725), ("2097-02-12", 0, 0x0b45), ("2098-02-01", 0, 0x0a8b),
    ];

    #[test]
    fn agrees_with_hong_kong_observatory_1901_to_2098() {
        for (year, &(new_year, leap, lengths)) in (1901..).zip(HKO.iter()) {
            if HKO_DIFFERENCES.contains(&year) {
                continue;
            }
            let months = lunar_year(year).expect("year in range");
            assert_eq!(months[0].start, d(new_year), "{year}");
            let mine_leap = months.iter().find(|m| m.leap).map_or(0, |m| m.number);
            assert_eq!(mine_leap, leap, "{year}");
            let mine_lengths = months
                .iter()
                .enumerate()
                .filter(|(_, m)| (m.end - m.start).num_days() == 30)
                .fold(0u16, |acc, (i, _)| acc | 1 << i);
            assert_eq!(mine_lengths, lengths, "{year}");
        }
    }

    #[test]
    fn hko_differences_are_one_month_boundary_each() {
        // Make sure the skipped years stay as understood: same leap month and
        // New Year except 1916's (a day later here), one boundary moved.
        for year in HKO_DIFFERENCES {
            let (new_year, leap, _) = HKO[(year - 1901) as usize];
            let months = lunar_year(year).expect("year in range");
            let mine_leap = months.iter().find(|m| m.leap).map_or(0, |m| m.number);
            assert_eq!(mine_leap, leap, "{year}");
            let shift = (months[0].start - d(new_year)).num_days();
            assert_eq!(shift, i64::from(year == 1916), "{year}");
        }
    }
}
