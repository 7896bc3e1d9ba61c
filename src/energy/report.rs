//! The energy report: per night and in total, kWh, peak W, cost, CO₂,
//! baseline and savings against it, burn hours, curfew compliance and
//! budget limiting — from the record or from a forecast — as a table,
//! JSON, CSV or an SVG chart (kWh per night stacked by group, and cost,
//! CO₂ and peak kW per night, dates with their weekdays).
//!
//! The baseline is the site's `[energy] baseline` (see
//! `nightscape_core::energy::config`): by default every fixture at its
//! rated power from sunset to sunrise, stated in every format so "88 %
//! below baseline" never leaves a reader guessing against what. Nights the
//! record holds nothing for are "no data" (empty in CSV, `has_data: false`
//! in JSON, a hatched bar in the chart), never zeros, and totals cover the
//! nights with data only.
//!
//! One call serves the API: [`http`] takes the query strings as received
//! and returns the content type and body, or an error naming the field at
//! fault ([`EnergyError::BadQuery`], a 4xx).
//!
//! Curfew compliance is reported two ways: `energy_ratio` is post-curfew
//! energy over the same hours uncapped (what the issue asks for), and
//! `reduction_pct` is the reduction of *light* energy (above standby) —
//! the Model Lighting Ordinance's test, which wants ≥ 30 % or off.

use super::meter::{self, NightRecord, ScopeKind, ScopeRecord, SiteModel, UNGROUPED};
use super::store::EnergyStore;
use super::EnergyError;
use crate::config::Config;
use chrono::{DateTime, NaiveDate, Utc};
use nightscape_core::energy::config::Baseline;
use nightscape_core::meter::forecast;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The MLO's required post-curfew reduction.
pub(crate) const CURFEW_REDUCTION: f64 = 0.30;
/// The longest report range, in nights.
pub(crate) const MAX_NIGHTS: i64 = 3660;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Svg,
}

impl Format {
    /// Parse `table|json|csv|svg` (field `format`).
    pub(crate) fn parse(s: &str) -> Result<Format, EnergyError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "svg" => Ok(Format::Svg),
            other => Err(EnergyError::BadQuery {
                field: "format",
                message: format!("unknown format `{other}`: use table, json, csv or svg"),
            }),
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Svg => "image/svg+xml",
        }
    }
}

/// What to report: nights `from`..=`to` (defaults: the 7 nights up to
/// tonight), optionally one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub group: Option<String>,
}

fn date(field: &'static str, s: Option<&str>) -> Result<Option<NaiveDate>, EnergyError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| EnergyError::BadQuery {
                field,
                message: format!("`{s}` is not a date like 2026-11-27"),
            }),
    }
}

impl Query {
    /// Build from query strings as received (API), naming the bad field.
    pub(crate) fn parse(
        from: Option<&str>,
        to: Option<&str>,
        group: Option<&str>,
    ) -> Result<Query, EnergyError> {
        Ok(Query {
            from: date("from", from)?,
            to: date("to", to)?,
            group: group
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string),
        })
    }

    /// The concrete range, checked: `from <= to`, at most [`MAX_NIGHTS`].
    pub(crate) fn range(&self, tonight: NaiveDate) -> Result<(NaiveDate, NaiveDate), EnergyError> {
        let to = self
            .to
            .unwrap_or_else(|| self.from.map_or(tonight, |f| f.max(tonight)));
        let from = self
            .from
            .unwrap_or_else(|| to.checked_sub_days(chrono::Days::new(6)).unwrap_or(to));
        if from > to {
            return Err(EnergyError::BadQuery {
                field: "from",
                message: format!("from ({from}) is after to ({to})"),
            });
        }
        if (to - from).num_days() >= MAX_NIGHTS {
            return Err(EnergyError::BadQuery {
                field: "to",
                message: format!("the range is longer than {MAX_NIGHTS} nights"),
            });
        }
        Ok((from, to))
    }

    fn check_group(&self, config: &Config) -> Result<(), EnergyError> {
        match &self.group {
            Some(g) if g != UNGROUPED && !config.site.groups.contains_key(g) => {
                let known: Vec<&str> = config.site.groups.keys().map(String::as_str).collect();
                Err(EnergyError::BadQuery {
                    field: "group",
                    message: format!(
                        "unknown group `{g}` (the site's groups: {})",
                        known.join(", ")
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Curfew figures of a night or a total.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CurfewTotals {
    pub hours: f64,
    pub kwh: f64,
    pub uncapped_kwh: f64,
    /// kwh / uncapped_kwh.
    pub energy_ratio: Option<f64>,
    /// Reduction of the energy above standby, percent.
    pub reduction_pct: Option<f64>,
    /// ≥ 30 % reduction, or nothing lit uncapped either.
    pub compliant: bool,
    #[serde(skip)]
    standby_kwh: f64,
}

/// Budget figures of a night or a total.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BudgetTotals {
    pub max_w: Option<f64>,
    pub limited_hours: f64,
    /// The deepest intensity scale the budget applied.
    pub min_scale: Option<f64>,
    pub shed_kwh: f64,
    /// Hours still above the budget (the limiter could not fit).
    pub over_hours: f64,
}

/// Figures of one night, or the total over the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub kwh: f64,
    pub peak_w: f64,
    pub cost: f64,
    pub co2_kg: f64,
    pub baseline_kwh: f64,
    pub savings_kwh: f64,
    pub savings_pct: Option<f64>,
    pub burn_hours: f64,
    pub metered_hours: f64,
    pub curfew: Option<CurfewTotals>,
    pub budget: Option<BudgetTotals>,
}

impl Totals {
    fn add_scope(&mut self, s: &ScopeRecord) {
        self.kwh += s.kwh;
        self.peak_w = self.peak_w.max(s.peak_w);
        self.cost += s.cost;
        self.co2_kg += s.co2_kg;
        self.baseline_kwh += s.baseline_kwh;
        self.burn_hours += s.lit_s / 3600.0;
        self.metered_hours += s.metered_s / 3600.0;
        if s.curfew_s > 0.0 {
            let c = self.curfew.get_or_insert_with(CurfewTotals::default);
            c.hours += s.curfew_s / 3600.0;
            c.kwh += s.curfew_kwh;
            c.uncapped_kwh += s.curfew_uncapped_kwh;
            c.standby_kwh += s.curfew_standby_kwh;
        }
        if s.max_w.is_some() || s.limited_s > 0.0 {
            let b = self.budget.get_or_insert_with(BudgetTotals::default);
            if s.max_w.is_some() {
                b.max_w = s.max_w;
            }
            b.limited_hours += s.limited_s / 3600.0;
            b.min_scale = match (b.min_scale, s.min_scale) {
                (Some(a), Some(c)) => Some(a.min(c)),
                (a, c) => a.or(c),
            };
            b.shed_kwh += s.shed_kwh;
            b.over_hours += s.over_s / 3600.0;
        }
    }

    fn add(&mut self, o: &Totals) {
        self.kwh += o.kwh;
        self.peak_w = self.peak_w.max(o.peak_w);
        self.cost += o.cost;
        self.co2_kg += o.co2_kg;
        self.baseline_kwh += o.baseline_kwh;
        self.burn_hours += o.burn_hours;
        self.metered_hours += o.metered_hours;
        if let Some(oc) = &o.curfew {
            let c = self.curfew.get_or_insert_with(CurfewTotals::default);
            c.hours += oc.hours;
            c.kwh += oc.kwh;
            c.uncapped_kwh += oc.uncapped_kwh;
            c.standby_kwh += oc.standby_kwh;
        }
        if let Some(ob) = &o.budget {
            let b = self.budget.get_or_insert_with(BudgetTotals::default);
            if ob.max_w.is_some() {
                b.max_w = ob.max_w;
            }
            b.limited_hours += ob.limited_hours;
            b.min_scale = match (b.min_scale, ob.min_scale) {
                (Some(a), Some(c)) => Some(a.min(c)),
                (a, c) => a.or(c),
            };
            b.shed_kwh += ob.shed_kwh;
            b.over_hours += ob.over_hours;
        }
    }

    /// Derived figures (savings, compliance) from the sums.
    fn finish(&mut self) {
        // No baseline (a group under a site-wide measured one): no savings.
        self.savings_kwh = if self.baseline_kwh > 0.0 {
            self.baseline_kwh - self.kwh
        } else {
            0.0
        };
        self.savings_pct =
            (self.baseline_kwh > 0.0).then(|| 100.0 * self.savings_kwh / self.baseline_kwh);
        if let Some(c) = &mut self.curfew {
            c.energy_ratio = (c.uncapped_kwh > 0.0).then(|| c.kwh / c.uncapped_kwh);
            let lit_uncapped = c.uncapped_kwh - c.standby_kwh;
            // Below a watt-hour of light the fixtures were off either way.
            if lit_uncapped > 1e-3 {
                let reduction = 1.0 - (c.kwh - c.standby_kwh).max(0.0) / lit_uncapped;
                c.reduction_pct = Some(100.0 * reduction);
                c.compliant = reduction >= CURFEW_REDUCTION - 1e-9;
            } else {
                c.reduction_pct = None;
                c.compliant = true;
            }
        }
    }
}

/// One show run in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub show: String,
    pub started: DateTime<Utc>,
    pub kwh: f64,
    pub cost: f64,
    pub co2_kg: f64,
    pub peak_w: f64,
    pub hours: f64,
}

/// One night in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NightRow {
    pub night: NaiveDate,
    /// Whether the record (or the forecast) holds this night; a night
    /// without is "no data", and its figures are zeros to be ignored.
    pub has_data: bool,
    #[serde(flatten)]
    pub totals: Totals,
    /// kWh per group (and the ungrouped fixtures): the chart's stack.
    /// Groups may overlap (a group can include another), so these can add
    /// up to more than the site.
    pub groups: BTreeMap<String, f64>,
    /// Energy per show run (site reports only).
    pub runs: Vec<RunRow>,
}

/// Where a report's nights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Metered: the DMX the daemon actually sent.
    Record,
    /// Forecast: the planned nights rendered at sampled instants.
    Estimate,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub site: String,
    /// `record` (metered) or `estimate` (forecast).
    pub source: Source,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group: Option<String>,
    pub currency: String,
    pub co2_kg_per_kwh: f64,
    /// The site's IANA timezone: show-run times are printed in it.
    pub timezone: String,
    /// `dusk-to-dawn`, `targeted` or `measured`.
    pub baseline_kind: &'static str,
    /// What `baseline_kwh` means, in words.
    pub baseline: String,
    pub nights: Vec<NightRow>,
    /// Over the nights with data.
    pub total: Totals,
}

/// Build a report from night records (either source).
pub(crate) fn build(
    config: &Config,
    source: Source,
    from: NaiveDate,
    to: NaiveDate,
    group: Option<&str>,
    records: &[NightRecord],
) -> Report {
    let by_night: BTreeMap<NaiveDate, &NightRecord> =
        records.iter().map(|r| (r.night, r)).collect();
    let model = SiteModel::new(&config.site, &config.energy);
    let members: Option<&[u32]> = model
        .scopes
        .iter()
        .find(|s| match group {
            None => s.kind == ScopeKind::Site,
            Some(g) => s.kind != ScopeKind::Site && s.name == g,
        })
        .map(|s| s.members.as_slice());
    let baseline = config.energy.baseline;
    let mut nights = Vec::new();
    let mut total = Totals::default();
    let mut d = from;
    loop {
        let mut t = Totals::default();
        let mut groups = BTreeMap::new();
        let mut runs = Vec::new();
        let has_data = by_night.contains_key(&d);
        if let Some(rec) = by_night.get(&d) {
            for s in &rec.scopes {
                let pick = match (group, s.kind) {
                    (None, Some(ScopeKind::Site)) => true,
                    (Some(g), Some(ScopeKind::Group | ScopeKind::Ungrouped)) => s.name == g,
                    _ => false,
                };
                if pick {
                    t.add_scope(s);
                }
                if group.is_none()
                    && matches!(s.kind, Some(ScopeKind::Group | ScopeKind::Ungrouped))
                {
                    *groups.entry(s.name.clone()).or_insert(0.0) += s.kwh;
                }
            }
            if group.is_none() {
                runs = rec
                    .runs
                    .iter()
                    .map(|r| RunRow {
                        show: r.show.clone(),
                        started: r.started,
                        kwh: r.kwh,
                        cost: r.cost,
                        co2_kg: r.co2_kg,
                        peak_w: r.peak_w,
                        hours: r.seconds / 3600.0,
                    })
                    .collect();
                runs.sort_by(|a: &RunRow, b| a.started.cmp(&b.started).then(a.show.cmp(&b.show)));
            }
        }
        if has_data {
            t.baseline_kwh = match baseline {
                Baseline::Targeted => t.baseline_kwh,
                Baseline::DuskToDawn => members.map_or(0.0, |m| {
                    meter::dusk_to_dawn_kwh(&config.schedule, &model.power, m, d)
                }),
                Baseline::Measured(k) if group.is_none() => k,
                Baseline::Measured(_) => 0.0,
            };
        }
        total.add(&t);
        t.finish();
        nights.push(NightRow {
            night: d,
            has_data,
            totals: t,
            groups,
            runs,
        });
        match d.succ_opt() {
            Some(n) if n <= to => d = n,
            _ => break,
        }
    }
    total.finish();
    Report {
        site: config.site.name.clone(),
        source,
        from,
        to,
        group: group.map(str::to_string),
        currency: config.energy.currency.clone(),
        co2_kg_per_kwh: config.energy.co2_kg_per_kwh,
        timezone: config.site.timezone.name().to_string(),
        baseline_kind: match baseline {
            Baseline::DuskToDawn => "dusk-to-dawn",
            Baseline::Targeted => "targeted",
            Baseline::Measured(_) => "measured",
        },
        baseline: match (baseline, group) {
            (Baseline::Measured(_), Some(_)) => {
                "none for a group: the measured baseline is the whole site's".to_string()
            }
            (b, _) => b.describe(),
        },
        nights,
        total,
    }
}

/// The recorded report for `query` from the state folder. `tonight` is the
/// night the defaults count back from (the caller's clock).
pub(crate) fn from_store(
    state: &Path,
    config: &Config,
    query: &Query,
    tonight: NaiveDate,
) -> Result<Report, EnergyError> {
    query.check_group(config)?;
    let (from, to) = query.range(tonight)?;
    let records = match EnergyStore::open_existing(state)? {
        Some(s) => s.nights(from, to)?,
        None => Vec::new(),
    };
    Ok(build(
        config,
        Source::Record,
        from,
        to,
        query.group.as_deref(),
        &records,
    ))
}

/// Whether the state folder holds any metered night.
pub(crate) fn recorded(state: &Path) -> Result<bool, EnergyError> {
    Ok(match EnergyStore::open_existing(state)? {
        Some(s) => s.last_night()?.is_some(),
        None => false,
    })
}

/// The forecast report: `days` nights from `from`, sampled every `step_s`.
pub(crate) fn forecast(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
    group: Option<&str>,
) -> Result<Report, EnergyError> {
    forecast_with_progress(config, from, days, step_s, group, true, &mut |_, _| {})
}

/// [`forecast`], calling `progress(nights done, nights)` after each night;
/// `reuse = false` renders every sample instead of reusing equal ones.
pub(crate) fn forecast_with_progress(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
    group: Option<&str>,
    reuse: bool,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Report, EnergyError> {
    let q = Query {
        from: Some(from),
        to: None,
        group: group.map(str::to_string),
    };
    q.check_group(config)?;
    let records = forecast::run(config, from, days, step_s, progress, reuse)?;
    let to = records.last().map_or(from, |r| r.night);
    Ok(build(config, Source::Estimate, from, to, group, &records))
}

/// Format a report.
pub(crate) fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => {
            serde_json::to_string_pretty(&json(report)).unwrap_or_else(|_| "{}".into()) + "\n"
        }
        Format::Csv => csv(report),
        Format::Svg => svg(report),
    }
}

/// The API's one call: `GET /api/energy?from=&to=&group=&format=` →
/// (content type, body). `now` is the daemon's clock (simulated or not).
pub(crate) fn http(
    state: &Path,
    config: &Config,
    from: Option<&str>,
    to: Option<&str>,
    group: Option<&str>,
    format: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(&'static str, String), EnergyError> {
    let format = match format.map(str::trim).filter(|f| !f.is_empty()) {
        None => Format::Json,
        Some(f) => Format::parse(f)?,
    };
    let query = Query::parse(from, to, group)?;
    let report = from_store(state, config, &query, config.schedule.night_of(now))?;
    Ok((format.content_type(), render(&report, format)))
}

/// The report as JSON.
pub(crate) fn json(report: &Report) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or(serde_json::Value::Null)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |x| format!("{x:.digits$}"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The report as CSV: one row per night and a `total` row.
pub(crate) fn csv(report: &Report) -> String {
    let mut out = String::from(
        "night,kwh,peak_w,cost,co2_kg,baseline_kwh,savings_kwh,savings_pct,burn_hours,metered_hours,curfew_hours,curfew_kwh,curfew_uncapped_kwh,curfew_reduction_pct,curfew_compliant,budget_max_w,limited_hours,min_scale,shed_kwh,over_hours\n",
    );
    let rows = report
        .nights
        .iter()
        .map(|n| (n.night.to_string(), &n.totals, n.has_data))
        .chain(std::iter::once(("total".to_string(), &report.total, true)));
    for (label, t, has_data) in rows {
        if !has_data {
            // No data is not zero: leave every figure empty.
            let _ = writeln!(out, "{}{}", csv_field(&label), ",".repeat(19));
            continue;
        }
        let c = t.curfew.clone().unwrap_or_default();
        let b = t.budget.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{:.4},{:.1},{:.4},{:.4},{:.4},{:.4},{},{:.3},{:.3},{:.3},{:.4},{:.4},{},{},{},{:.3},{},{:.4},{:.3}",
            csv_field(&label),
            t.kwh,
            t.peak_w,
            t.cost,
            t.co2_kg,
            t.baseline_kwh,
            t.savings_kwh,
            opt(t.savings_pct, 2),
            t.burn_hours,
            t.metered_hours,
            c.hours,
            c.kwh,
            c.uncapped_kwh,
            opt(c.reduction_pct, 2),
            if t.curfew.is_some() { c.compliant.to_string() } else { String::new() },
            opt(b.max_w, 0),
            b.limited_hours,
            opt(b.min_scale, 4),
            b.shed_kwh,
            b.over_hours,
        );
    }
    out
}

/// The report as an aligned text table, with show runs below (their
/// start in the site's time) and the baseline's definition.
pub(crate) fn table(report: &Report) -> String {
    let mut out = String::new();
    let tz: chrono_tz::Tz = report.timezone.parse().unwrap_or(chrono_tz::UTC);
    let scope = report
        .group
        .as_ref()
        .map_or_else(|| "site".to_string(), |g| format!("group {g}"));
    let with_data = report.nights.iter().filter(|n| n.has_data).count();
    let _ = writeln!(
        out,
        "{} — energy {} ({}), {} to {}{}",
        report.site,
        if report.source == Source::Estimate {
            "forecast"
        } else {
            "record"
        },
        scope,
        report.from,
        report.to,
        if with_data < report.nights.len() {
            format!(
                " — {with_data} of {} nights recorded; totals cover those",
                report.nights.len()
            )
        } else {
            String::new()
        }
    );
    let cur = if report.currency.is_empty() {
        "cost".to_string()
    } else {
        format!("cost {}", report.currency)
    };
    let _ = writeln!(
        out,
        "{:<14} {:>10} {:>9} {:>10} {:>9} {:>11} {:>7} {:>7} {:>15} {:>10}",
        "night",
        "kWh",
        "peak kW",
        cur,
        "CO2 kg",
        "baseline",
        "saved",
        "burn h",
        "curfew cut",
        "limited h"
    );
    let rows = report
        .nights
        .iter()
        .map(|n| {
            (
                n.night.format("%Y-%m-%d %a").to_string(),
                &n.totals,
                n.has_data,
            )
        })
        .chain(std::iter::once(("total".to_string(), &report.total, true)));
    for (label, t, has_data) in rows {
        if !has_data {
            let _ = writeln!(out, "{label:<14} {:>10}", "no data");
            continue;
        }
        let curfew = match &t.curfew {
            None => "-".to_string(),
            Some(c) => match c.reduction_pct {
                Some(r) => format!("{r:.0}% {}", if c.compliant { "ok" } else { "LOW" }),
                None => "off ok".to_string(),
            },
        };
        let limited = t
            .budget
            .as_ref()
            .map_or("-".to_string(), |b| format!("{:.2}", b.limited_hours));
        let _ = writeln!(
            out,
            "{:<14} {:>10.2} {:>9.2} {:>10.2} {:>9.2} {:>11} {:>7} {:>7.2} {:>15} {:>10}",
            label,
            t.kwh,
            t.peak_w / 1000.0,
            t.cost,
            t.co2_kg,
            if t.baseline_kwh > 0.0 {
                format!("{:.2}", t.baseline_kwh)
            } else {
                "-".to_string()
            },
            t.savings_pct
                .map_or("-".to_string(), |p| format!("{p:.0}%")),
            t.burn_hours,
            curfew,
            limited
        );
    }
    let _ = writeln!(
        out,
        "baseline: {} ([energy] baseline in site.toml); saved = baseline − kWh",
        report.baseline
    );
    let runs: Vec<(&NaiveDate, &RunRow)> = report
        .nights
        .iter()
        .flat_map(|n| n.runs.iter().map(move |r| (&n.night, r)))
        .collect();
    if !runs.is_empty() {
        let _ = writeln!(out, "\nshow runs (started in {})", report.timezone);
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:<17} {:>9} {:>10} {:>7}",
            "night", "show", "started", "kWh", cur, "hours"
        );
        for (night, r) in runs {
            let _ = writeln!(
                out,
                "{:<10} {:<20} {:<17} {:>9.3} {:>10.3} {:>7.2}",
                night.to_string(),
                r.show,
                r.started.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                r.kwh,
                r.cost,
                r.hours
            );
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// One chart of the SVG: a value per night (stacked by series in the
/// kWh chart).
struct Panel<'a> {
    title: String,
    unit: String,
    series: Vec<String>,
    /// Per night: one value per series; None = no data.
    values: Vec<Option<Vec<f64>>>,
    /// Per night, a mark above the stack (the site total where groups may
    /// overlap).
    mark: Option<Vec<f64>>,
    colors: &'a [&'a str],
    decimals_hint: usize,
}

/// The report as an SVG image: four charts, one above the other, sharing
/// the nights on their x axis — kWh per night stacked by group (with the
/// site total marked), cost, CO₂ and peak kW — nights labelled with their
/// weekday, nights without data hatched and labelled "no data", and below
/// them the totals and the baseline's definition.
pub(crate) fn svg(report: &Report) -> String {
    let series: Vec<String> = match &report.group {
        Some(g) => vec![g.clone()],
        None => {
            let mut names: Vec<String> = report
                .nights
                .iter()
                .flat_map(|n| n.groups.keys().cloned())
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                names.push("site".to_string());
            }
            names
        }
    };
    let per_night = |f: &dyn Fn(&NightRow) -> Vec<f64>| -> Vec<Option<Vec<f64>>> {
        report
            .nights
            .iter()
            .map(|n| n.has_data.then(|| f(n)))
            .collect()
    };
    let kwh_values = per_night(&|n: &NightRow| {
        series
            .iter()
            .map(|s| {
                if report.group.is_some() || n.groups.is_empty() {
                    n.totals.kwh
                } else {
                    n.groups.get(s).copied().unwrap_or(0.0)
                }
            })
            .collect()
    });
    let currency = if report.currency.is_empty() {
        String::new()
    } else {
        format!(" ({})", report.currency)
    };
    let panels = [
        Panel {
            title: "energy per night".into(),
            unit: "kWh".into(),
            series: series.clone(),
            values: kwh_values,
            mark: Some(report.nights.iter().map(|n| n.totals.kwh).collect()),
            colors: &PALETTE,
            decimals_hint: 1,
        },
        Panel {
            title: format!("cost per night{currency}"),
            unit: if report.currency.is_empty() {
                "cost".into()
            } else {
                report.currency.clone()
            },
            series: vec!["cost".into()],
            values: per_night(&|n: &NightRow| vec![n.totals.cost]),
            mark: None,
            colors: &["#b07aa1"],
            decimals_hint: 2,
        },
        Panel {
            title: format!(
                "CO₂ per night ({} kg per kWh)",
                fmt_num(report.co2_kg_per_kwh, 4)
            ),
            unit: "kg CO₂".into(),
            series: vec!["CO₂".into()],
            values: per_night(&|n: &NightRow| vec![n.totals.co2_kg]),
            mark: None,
            colors: &["#9c755f"],
            decimals_hint: 1,
        },
        Panel {
            title: "peak power per night".into(),
            unit: "kW".into(),
            series: vec!["peak".into()],
            values: per_night(&|n: &NightRow| vec![n.totals.peak_w / 1000.0]),
            mark: None,
            colors: &["#e15759"],
            decimals_hint: 2,
        },
    ];
    let (left, right, top) = (64.0, 180.0, 40.0);
    let n = report.nights.len().max(1) as f64;
    let bar_w = (36.0f64).min(600.0 / n).max(3.0);
    let gap = (bar_w * 0.35).max(1.0);
    let plot_w = n * (bar_w + gap) + gap;
    let plot_h = 170.0;
    // Title above each plot, weekday labels below it.
    let panel_h = 24.0 + plot_h + 52.0;
    let footer = 44.0;
    let title = chart_title(report);
    let baseline_line = format!("baseline: {}", report.baseline);
    let text_w = 8.6 * title.chars().count().max(baseline_line.chars().count()) as f64;
    let width = (left + plot_w + right).max(left + text_w + 16.0);
    let height = top + panels.len() as f64 * panel_h + footer;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><pattern id="nodata" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f2f2f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        xml_escape(&title)
    );
    for (k, p) in panels.iter().enumerate() {
        let y0 = top + k as f64 * panel_h;
        draw_panel(
            &mut s,
            report,
            p,
            y0 + 24.0,
            left,
            plot_w,
            plot_h,
            bar_w,
            gap,
        );
    }
    let fy = top + panels.len() as f64 * panel_h + 14.0;
    let t = &report.total;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{fy:.1}">total {:.1} kWh, {} {}, {:.1} kg CO₂, peak {:.1} kW{}</text>"#,
        t.kwh,
        fmt_num(t.cost, 2),
        if report.currency.is_empty() {
            "cost"
        } else {
            report.currency.as_str()
        },
        t.co2_kg,
        t.peak_w / 1000.0,
        t.savings_pct
            .map_or(String::new(), |p| format!(", {p:.0}% below baseline"))
    );
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{:.1}" fill="#555">{}</text>"##,
        fy + 18.0,
        xml_escape(&baseline_line)
    );
    s.push_str("</svg>\n");
    s
}

fn fmt_num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// Draw one panel with its plot area's top at `top`.
#[allow(clippy::too_many_arguments)]
fn draw_panel(
    s: &mut String,
    report: &Report,
    p: &Panel,
    top: f64,
    left: f64,
    plot_w: f64,
    plot_h: f64,
    bar_w: f64,
    gap: f64,
) {
    let stacks: Vec<f64> = p
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let sum: f64 = v.as_ref().map_or(0.0, |v| v.iter().sum());
            let mark = p
                .mark
                .as_ref()
                .and_then(|m| m.get(i).copied())
                .filter(|_| v.is_some())
                .unwrap_or(0.0);
            sum.max(mark)
        })
        .collect();
    let max = stacks.iter().copied().fold(0.0f64, f64::max);
    let nice = nice_ceiling(max);
    let y = |v: f64| top + plot_h - if nice > 0.0 { v / nice * plot_h } else { 0.0 };
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.1}" font-size="12" font-weight="bold">{}</text>"#,
        top - 8.0,
        xml_escape(&p.title)
    );
    let decimals = if nice / 5.0 >= 1.0 {
        0
    } else if nice / 5.0 >= 0.1 {
        1
    } else {
        p.decimals_hint.max(2)
    };
    for i in 0..=5 {
        let v = nice * i as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.decimals$}</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        xml_escape(&p.unit)
    );
    let n = report.nights.len().max(1) as f64;
    let label_every = ((n / 15.0).ceil() as usize).max(1);
    for (i, night) in report.nights.iter().enumerate() {
        let x = left + gap + i as f64 * (bar_w + gap);
        match &p.values[i] {
            None => {
                // No data is not zero: a hatched full-height bar, labelled.
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{plot_h:.1}" fill="url(#nodata)"><title>{} {}: no data</title></rect>"#,
                    night.night,
                    night.night.format("%a"),
                );
                let cx = x + bar_w / 2.0;
                let cy = top + plot_h / 2.0;
                let _ = writeln!(
                    s,
                    r##"<text x="{cx:.1}" y="{cy:.1}" text-anchor="middle" dominant-baseline="middle" transform="rotate(-90 {cx:.1} {cy:.1})" fill="#888">no data</text>"##
                );
            }
            Some(values) => {
                let mut acc = 0.0;
                for (k, name) in p.series.iter().enumerate() {
                    let v = values.get(k).copied().unwrap_or(0.0);
                    if v <= 0.0 {
                        continue;
                    }
                    let (y0, y1) = (y(acc), y(acc + v));
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{y1:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"><title>{} {} {}: {} {}</title></rect>"#,
                        (y0 - y1).max(0.0),
                        p.colors[k % p.colors.len()],
                        night.night,
                        night.night.format("%a"),
                        xml_escape(name),
                        fmt_num(v, p.decimals_hint),
                        xml_escape(&p.unit)
                    );
                    acc += v;
                }
                if let Some(mark) = p.mark.as_ref().and_then(|m| m.get(i).copied()) {
                    // The site total: equal to the stack unless groups overlap.
                    let yt = y(mark);
                    let _ = writeln!(
                        s,
                        r##"<line x1="{:.1}" y1="{yt:.1}" x2="{:.1}" y2="{yt:.1}" stroke="#000" stroke-width="2"><title>{} total: {:.2} {}</title></line>"##,
                        x - 1.0,
                        x + bar_w + 1.0,
                        night.night,
                        mark,
                        xml_escape(&p.unit)
                    );
                }
            }
        }
        if i % label_every == 0 {
            let lx = x + bar_w / 2.0;
            let ly = top + plot_h + 14.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-45 {lx:.1} {ly:.1})">{}</text>"#,
                night.night.format("%a %m-%d")
            );
        }
    }
    if p.series.len() > 1 || p.mark.is_some() {
        let lx = left + plot_w + 16.0;
        for (k, name) in p.series.iter().enumerate() {
            let ly = top + 10.0 + k as f64 * 18.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly:.1}" dominant-baseline="middle">{}</text>"#,
                ly - 6.0,
                p.colors[k % p.colors.len()],
                lx + 18.0,
                xml_escape(name)
            );
        }
        if p.mark.is_some() {
            let ly = top + 10.0 + p.series.len() as f64 * 18.0;
            let _ = writeln!(
                s,
                r##"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#000" stroke-width="2"/><text x="{:.1}" y="{ly:.1}" dominant-baseline="middle">total</text>"##,
                lx + 12.0,
                lx + 18.0
            );
        }
    }
}

/// A round axis maximum at or above `v` (1, 2, 2.5 or 5 × 10^n).
fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn chart_title(report: &Report) -> String {
    format!(
        "{} — energy, cost, CO₂ and peak per night{} ({} to {}{})",
        report.site,
        report
            .group
            .as_ref()
            .map_or(String::new(), |g| format!(", group {g}")),
        report.from,
        report.to,
        if report.source == Source::Estimate {
            ", forecast"
        } else {
            ""
        }
    )
}
