//! The energy sections of `site.toml`: the site's top-level `curfew`, and
//! `[energy]` with the tariff (a flat price and optional time-of-use bands),
//! the grid's CO₂ factor, the site's power budget `max_w` and, per group in
//! `[energy.groups.NAME]`, a budget and a curfew of its own.
//!
//! ```toml
//! curfew = { from = "23:30", to = "sunrise", max_level = 0.3 }
//! [energy]
//! max_w = 30000
//! co2_kg_per_kwh = 0.5703
//! currency = "CNY"
//! [energy.tariff]
//! price = 0.62
//! bands = [ { name = "peak", from = "18:00", to = "22:00", price = 0.98 } ]
//! baseline = "dusk-to-dawn"       # what "saved" is measured against (below)
//! [energy.groups.searchlights]
//! max_w = 1500
//! curfew = { from = "22:30", to = "sunrise", max_level = 0 }
//! ```
//!
//! The baseline is what the lighting would draw without nightscape, the
//! figure savings are reported against: `"dusk-to-dawn"` (the default:
//! every fixture at its rated power from sunset to sunrise, as a
//! conventional photocell-switched installation burns), `"targeted"` (every
//! fixture at full whenever a show targets it — the record's own figure,
//! which counts a show that runs all day as 24 hours at full), or
//! `baseline_kwh_per_night = 180` (a measured night of the installation
//! before, for the whole site).
//!
//! Curfew times read like schedule times (`"23:30"`, `"sunrise"`,
//! `"sunset + 4h, not after 23:00"`) within the noon-to-noon night; band
//! times are plain clock times and a band whose `to` is not after its
//! `from` wraps midnight. Every problem is reported with file:line:col and
//! the configuration is rejected, like any other section.

use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use crate::schedule::plan::{self, TimeSpec};
use crate::site::Site;
use crate::units::LevelValue;
use chrono::NaiveTime;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;

/// Output capped to `max_level` from `from` to `to` every night.
#[derive(Debug, Clone)]
pub struct Curfew {
    pub from: TimeSpec,
    pub to: TimeSpec,
    pub max_level: f32,
    /// As written, for reports.
    pub from_text: String,
    pub to_text: String,
}

/// A time-of-use band: `price` per kWh from `from` to `to` local time.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub price: f64,
}

impl Band {
    /// Whether a local clock time falls in the band (wrapping midnight when
    /// `to <= from`; `from == to` is the whole day).
    pub(crate) fn contains(&self, t: NaiveTime) -> bool {
        if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }
}

/// Price per kWh: the first band containing the local time, else the flat
/// price.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tariff {
    pub price: f64,
    pub bands: Vec<Band>,
}

impl Tariff {
    /// The band index in force at a local time (None = the flat price).
    pub(crate) fn band_at(&self, t: NaiveTime) -> Option<usize> {
        self.bands.iter().position(|b| b.contains(t))
    }

    pub(crate) fn price_at(&self, t: NaiveTime) -> f64 {
        self.band_at(t).map_or(self.price, |i| self.bands[i].price)
    }
}

/// Energy settings of one site group.
#[derive(Debug, Clone, Default)]
pub struct GroupEnergy {
    pub max_w: Option<f64>,
    pub curfew: Option<Curfew>,
}

/// What savings are measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Baseline {
    /// Every fixture at its rated power from sunset to sunrise.
    #[default]
    DuskToDawn,
    /// Every fixture at full whenever a show targets it, the rest at
    /// standby (metered frame by frame into the record).
    Targeted,
    /// A measured kWh per night, for the whole site.
    Measured(f64),
}

impl Baseline {
    /// The definition, as the report states it.
    pub fn describe(&self) -> String {
        match self {
            Baseline::DuskToDawn => {
                "every fixture at its rated power from sunset to sunrise".to_string()
            }
            Baseline::Targeted => {
                "every fixture at full whenever a show targets it, the rest at standby".to_string()
            }
            Baseline::Measured(k) => format!("{k} kWh a night, as measured for the site"),
        }
    }
}

/// Everything energy-related the site file says. The default (no sections)
/// meters and reports but limits nothing and prices nothing.
#[derive(Debug, Clone, Default)]
pub struct EnergyConfig {
    pub curfew: Option<Curfew>,
    pub max_w: Option<f64>,
    pub tariff: Tariff,
    pub co2_kg_per_kwh: f64,
    pub currency: String,
    /// Keyed by site group name (checked to exist).
    pub groups: BTreeMap<String, GroupEnergy>,
    /// What the report's savings are measured against.
    pub baseline: Baseline,
}

impl EnergyConfig {
    /// Whether any budget is set (the frame hook skips budget work if not).
    pub(crate) fn has_budgets(&self) -> bool {
        self.max_w.is_some() || self.groups.values().any(|g| g.max_w.is_some())
    }
}

/// The energy part of the site file.
#[derive(Deserialize, schemars::JsonSchema)]
struct RawFile {
    /// The site's light-pollution curfew: from `from` to `to`, every level
    /// is capped at `max_level`.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "from": "23:30", "to": "sunrise", "max_level": 0.3 }))]
    curfew: Option<Spanned<RawCurfew>>,
    /// Tariff, CO₂ factor and power budgets.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "max_w": 30000, "currency": "CNY", "tariff": { "price": 0.62 } }))]
    energy: Option<Spanned<RawEnergy>>,
}

/// The JSON Schema of `curfew` and `[energy]` (merged into the site file's
/// schema).
pub(crate) fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawFile>()
}

/// A curfew window and its cap.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCurfew {
    /// When the curfew starts: a clock time or sun event, as schedule times
    /// ("23:30", "sunset + 4h, not after 23:00").
    #[schemars(example = &"23:30")]
    from: Spanned<String>,
    /// When it ends ("sunrise", "06:00").
    #[schemars(example = &"sunrise")]
    to: Spanned<String>,
    /// The highest level allowed meanwhile (0..1 or "30%").
    #[schemars(example = 0.3)]
    max_level: Spanned<LevelValue>,
}

/// `[energy]`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawEnergy {
    /// The site's power budget in watts: output is scaled down to stay under it.
    #[serde(default)]
    #[schemars(example = 30000, range(min = 0))]
    max_w: Option<Spanned<f64>>,
    /// The grid's CO₂ factor, kg per kWh.
    #[serde(default)]
    #[schemars(example = 0.5703, range(min = 0))]
    co2_kg_per_kwh: Option<Spanned<f64>>,
    /// The currency the tariff is in (reports only).
    #[serde(default)]
    #[schemars(example = &"CNY")]
    currency: Option<Spanned<String>>,
    /// The price of a kWh: flat, with optional time-of-use bands.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "price": 0.62, "bands": [{ "name": "peak", "from": "18:00", "to": "22:00", "price": 0.98 }] }))]
    tariff: Option<Spanned<RawTariff>>,
    /// Per group: a budget and a curfew of its own (`[energy.groups.NAME]`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawGroup>", example = serde_json::json!({ "searchlights": { "max_w": 1500 } }))]
    groups: BTreeMap<Spanned<String>, Spanned<RawGroup>>,
    /// What "saved" is measured against: "dusk-to-dawn" (every fixture at
    /// its rated power from sunset to sunrise; the default) or "targeted"
    /// (at full whenever a show targets it). Not with `baseline_kwh_per_night`.
    #[serde(default)]
    #[schemars(example = &"dusk-to-dawn", extend("enum" = ["dusk-to-dawn", "targeted"]))]
    baseline: Option<Spanned<String>>,
    /// A measured night of the installation before nightscape, in kWh, as
    /// the baseline (more than 0). Not with `baseline`.
    #[serde(default)]
    #[schemars(example = 180, range(min = 0))]
    baseline_kwh_per_night: Option<Spanned<f64>>,
}

/// `[energy.tariff]`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTariff {
    /// Price per kWh outside the bands.
    #[serde(default)]
    #[schemars(example = 0.62, range(min = 0))]
    price: Option<Spanned<f64>>,
    /// Time-of-use bands; a band whose `to` is not after its `from` wraps midnight.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "peak", "from": "18:00", "to": "22:00", "price": 0.98 }]))]
    bands: Vec<Spanned<RawBand>>,
}

/// One time-of-use band.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBand {
    /// The band's name (reports).
    #[serde(default)]
    #[schemars(example = &"peak")]
    name: Option<Spanned<String>>,
    /// Start, a clock time "HH:MM".
    #[schemars(example = &"18:00", regex(pattern = CLOCK_PATTERN))]
    from: Spanned<String>,
    /// End, a clock time "HH:MM".
    #[schemars(example = &"22:00", regex(pattern = CLOCK_PATTERN))]
    to: Spanned<String>,
    /// Price per kWh in the band.
    #[schemars(example = 0.98, range(min = 0))]
    price: Spanned<f64>,
}

/// A clock time "HH:MM" (or "HH:MM:SS").
const CLOCK_PATTERN: &str = r"^\s*[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\s*$";

/// `[energy.groups.NAME]`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    /// The group's power budget in watts.
    #[serde(default)]
    #[schemars(example = 1500, range(min = 0))]
    max_w: Option<Spanned<f64>>,
    /// The group's own curfew (instead of the site's).
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "from": "22:30", "to": "sunrise", "max_level": 0 }))]
    curfew: Option<Spanned<RawCurfew>>,
}

fn clock(text: &str) -> Option<NaiveTime> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .ok()
}

fn curfew(file: &SourceFile, raw: &RawCurfew, diags: &mut Diagnostics) -> Option<Curfew> {
    let mut ok = true;
    let mut time = |s: &Spanned<String>, is_end: bool, diags: &mut Diagnostics| {
        match plan::parse_time(s.get_ref()) {
            Ok(TimeSpec::Cron(_)) => {
                diags.error(
                    file,
                    s.span(),
                    "a curfew runs once a night: write a clock time like \"23:30\" or a sun event like \"sunrise\", not cron",
                );
                ok = false;
                None
            }
            Ok(TimeSpec::For(_)) if !is_end => {
                diags.error(
                    file,
                    s.span(),
                    "`for` is only for the curfew's end: `from` is a time like \"23:30\"",
                );
                ok = false;
                None
            }
            Ok(t) => Some(t),
            Err(m) => {
                diags.error(file, s.span(), format!("curfew: {m}"));
                ok = false;
                None
            }
        }
    };
    let from = time(&raw.from, false, diags);
    let to = time(&raw.to, true, diags);
    let max_level = match raw.max_level.get_ref().to_level() {
        Ok(v) => v as f32,
        Err(m) => {
            diags.error(file, raw.max_level.span(), format!("curfew max_level: {m}"));
            return None;
        }
    };
    if !ok {
        return None;
    }
    Some(Curfew {
        from: from?,
        to: to?,
        max_level,
        from_text: raw.from.get_ref().trim().to_string(),
        to_text: raw.to.get_ref().trim().to_string(),
    })
}

fn watts(
    file: &SourceFile,
    v: &Option<Spanned<f64>>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<f64> {
    let s = v.as_ref()?;
    let w = *s.get_ref();
    if !(w.is_finite() && w > 0.0) {
        diags.error(
            file,
            s.span(),
            format!("{what} must be more than 0 watts, found {w}"),
        );
        return None;
    }
    Some(w)
}

fn non_negative(
    file: &SourceFile,
    v: &Option<Spanned<f64>>,
    what: &str,
    diags: &mut Diagnostics,
) -> f64 {
    match v {
        None => 0.0,
        Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 0.0 => *s.get_ref(),
        Some(s) => {
            diags.error(
                file,
                s.span(),
                format!("{what} must be zero or more, found {}", s.get_ref()),
            );
            0.0
        }
    }
}

/// The span of `[energy.groups.NAME]`'s key: toml gives it for the key,
/// but fall back to the value for safety.
fn key_span(key: &Spanned<String>, value: Range<usize>) -> Range<usize> {
    let s = key.span();
    if s.is_empty() {
        value
    } else {
        s
    }
}

/// Parse the energy sections of the site file against the compiled site
/// (group names are checked). Problems go to `diags`.
pub(crate) fn parse(file: &SourceFile, site: &Site, diags: &mut Diagnostics) -> EnergyConfig {
    let mut cfg = EnergyConfig::default();
    // Problems in the sections read here; a syntax error the site parser
    // already reported is not repeated.
    let Some(raw) = crate::diag::parse_all::<RawFile>(file, diags) else {
        return cfg;
    };
    if let Some(c) = &raw.curfew {
        cfg.curfew = curfew(file, c.get_ref(), diags);
    }
    let Some(energy) = raw.energy else {
        return cfg;
    };
    let e = energy.into_inner();
    cfg.max_w = watts(file, &e.max_w, "max_w", diags);
    cfg.co2_kg_per_kwh = non_negative(file, &e.co2_kg_per_kwh, "co2_kg_per_kwh", diags);
    cfg.currency = e
        .currency
        .map(|c| c.into_inner().trim().to_string())
        .unwrap_or_default();
    match (&e.baseline, &e.baseline_kwh_per_night) {
        (Some(b), Some(_)) => diags.error(
            file,
            b.span(),
            "give `baseline` or `baseline_kwh_per_night`, not both",
        ),
        (Some(b), None) => match b.get_ref().trim() {
            "dusk-to-dawn" => cfg.baseline = Baseline::DuskToDawn,
            "targeted" => cfg.baseline = Baseline::Targeted,
            other => diags.error(
                file,
                b.span(),
                format!("unknown baseline `{other}`: use \"dusk-to-dawn\" (every fixture at its rated power from sunset to sunrise), \"targeted\" (at full whenever a show targets it) or `baseline_kwh_per_night = N` for a measured figure"),
            ),
        },
        (None, Some(k)) => {
            let v = *k.get_ref();
            if v.is_finite() && v > 0.0 {
                cfg.baseline = Baseline::Measured(v);
            } else {
                diags.error(
                    file,
                    k.span(),
                    format!("baseline_kwh_per_night must be more than 0, found {v}"),
                );
            }
        }
        (None, None) => {}
    }
    if let Some(t) = &e.tariff {
        let t = t.get_ref();
        cfg.tariff.price = non_negative(file, &t.price, "tariff price", diags);
        for (i, b) in t.bands.iter().enumerate() {
            let rb = b.get_ref();
            let time = |s: &Spanned<String>, diags: &mut Diagnostics| {
                let c = clock(s.get_ref());
                if c.is_none() {
                    diags.error(
                        file,
                        s.span(),
                        format!(
                            "`{}` is not a clock time: tariff bands run between times like \"22:00\"",
                            s.get_ref()
                        ),
                    );
                }
                c
            };
            let from = time(&rb.from, diags);
            let to = time(&rb.to, diags);
            let price = *rb.price.get_ref();
            if !(price.is_finite() && price >= 0.0) {
                diags.error(
                    file,
                    rb.price.span(),
                    format!("a band's price must be zero or more, found {price}"),
                );
                continue;
            }
            if let (Some(from), Some(to)) = (from, to) {
                cfg.tariff.bands.push(Band {
                    name: rb
                        .name
                        .as_ref()
                        .map(|n| n.get_ref().trim().to_string())
                        .unwrap_or_else(|| format!("band {}", i + 1)),
                    from,
                    to,
                    price,
                });
            }
        }
    }
    for (name, g) in &e.groups {
        let key = name.get_ref();
        if !site.groups.contains_key(key) {
            let known: Vec<&str> = site.groups.keys().map(String::as_str).collect();
            diags.error(
                file,
                key_span(name, g.span()),
                format!(
                    "unknown group `{key}` in [energy.groups] (the site's groups: {}){}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                    crate::suggest::hint(key, known.iter().copied())
                ),
            );
            continue;
        }
        let rg = g.get_ref();
        let ge = GroupEnergy {
            max_w: watts(file, &rg.max_w, "max_w", diags),
            curfew: rg
                .curfew
                .as_ref()
                .and_then(|c| curfew(file, c.get_ref(), diags)),
        };
        cfg.groups.insert(key.clone(), ge);
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_wrap_midnight() {
        let t = |s: &str| clock(s).unwrap();
        let b = Band {
            name: "valley".into(),
            from: t("23:00"),
            to: t("07:00"),
            price: 0.3,
        };
        assert!(b.contains(t("23:30")));
        assert!(b.contains(t("03:00")));
        assert!(!b.contains(t("07:00")));
        assert!(!b.contains(t("12:00")));
        let tariff = Tariff {
            price: 0.6,
            bands: vec![b],
        };
        assert_eq!(tariff.price_at(t("01:00")), 0.3);
        assert_eq!(tariff.price_at(t("20:00")), 0.6);
    }
}
