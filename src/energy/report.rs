//! The energy report: per night and in total, kWh, peak W, cost, CO₂,
//! baseline (every fixture a show targets at full for the time it is
//! targeted, the rest at standby) and savings against it, burn hours,
//! curfew compliance and budget limiting — from the record or from a
//! forecast — as a table, JSON, CSV or an SVG chart (kWh per night stacked
//! by group).
//!
//! One call serves the API: [`http`] takes the query strings as received
//! and returns the content type and body, or an error naming the field at
//! fault ([`EnergyError::BadQuery`], a 4xx).
//!
//! Curfew compliance is reported two ways: `energy_ratio` is post-curfew
//! energy over the same hours uncapped (what the issue asks for), and
//! `reduction_pct` is the reduction of *light* energy (above standby) —
//! the Model Lighting Ordinance's test, which wants ≥ 30 % or off.

use super::meter::{NightRecord, ScopeKind, ScopeRecord, UNGROUPED};
use super::store::EnergyStore;
use super::{estimate, EnergyError};
use crate::config::Config;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The MLO's required post-curfew reduction.
pub const CURFEW_REDUCTION: f64 = 0.30;
/// The longest report range, in nights.
pub const MAX_NIGHTS: i64 = 3660;

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
    pub fn parse(s: &str) -> Result<Format, EnergyError> {
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

    pub fn content_type(self) -> &'static str {
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
    pub fn parse(
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
    pub fn range(&self, tonight: NaiveDate) -> Result<(NaiveDate, NaiveDate), EnergyError> {
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
        self.savings_kwh = self.baseline_kwh - self.kwh;
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
    #[serde(flatten)]
    pub totals: Totals,
    /// kWh per group (and the ungrouped fixtures): the chart's stack.
    /// Groups may overlap (a group can include another), so these can add
    /// up to more than the site.
    pub groups: BTreeMap<String, f64>,
    /// Energy per show run (site reports only).
    pub runs: Vec<RunRow>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub site: String,
    /// `record` (metered) or `estimate` (forecast).
    pub source: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group: Option<String>,
    pub currency: String,
    pub co2_kg_per_kwh: f64,
    pub nights: Vec<NightRow>,
    pub total: Totals,
}

/// Build a report from night records (either source).
pub fn build(
    config: &Config,
    source: &'static str,
    from: NaiveDate,
    to: NaiveDate,
    group: Option<&str>,
    records: &[NightRecord],
) -> Report {
    let by_night: BTreeMap<NaiveDate, &NightRecord> =
        records.iter().map(|r| (r.night, r)).collect();
    let mut nights = Vec::new();
    let mut total = Totals::default();
    let mut d = from;
    loop {
        let mut t = Totals::default();
        let mut groups = BTreeMap::new();
        let mut runs = Vec::new();
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
        total.add(&t);
        t.finish();
        nights.push(NightRow {
            night: d,
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
        nights,
        total,
    }
}

/// The recorded report for `query` from the state folder. `tonight` is the
/// night the defaults count back from (the caller's clock).
pub fn from_store(
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
        "record",
        from,
        to,
        query.group.as_deref(),
        &records,
    ))
}

/// The forecast report: `days` nights from `from`, sampled every `step_s`.
pub fn forecast(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
    group: Option<&str>,
) -> Result<Report, EnergyError> {
    forecast_with_progress(config, from, days, step_s, group, &mut |_, _| {})
}

/// [`forecast`], calling `progress(nights done, nights)` after each night.
pub fn forecast_with_progress(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
    group: Option<&str>,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Report, EnergyError> {
    let q = Query {
        from: Some(from),
        to: None,
        group: group.map(str::to_string),
    };
    q.check_group(config)?;
    let records = estimate::nights_with_progress(config, from, days, step_s, progress)?;
    let to = records.last().map_or(from, |r| r.night);
    Ok(build(config, "estimate", from, to, group, &records))
}

/// Format a report.
pub fn render(report: &Report, format: Format) -> String {
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
pub fn http(
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
pub fn json(report: &Report) -> serde_json::Value {
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
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "night,kwh,peak_w,cost,co2_kg,baseline_kwh,savings_kwh,savings_pct,burn_hours,metered_hours,curfew_hours,curfew_kwh,curfew_uncapped_kwh,curfew_reduction_pct,curfew_compliant,budget_max_w,limited_hours,min_scale,shed_kwh,over_hours\n",
    );
    let rows = report
        .nights
        .iter()
        .map(|n| (n.night.to_string(), &n.totals))
        .chain(std::iter::once(("total".to_string(), &report.total)));
    for (label, t) in rows {
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

/// The report as an aligned text table, with show runs below.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let scope = report
        .group
        .as_ref()
        .map_or_else(|| "site".to_string(), |g| format!("group {g}"));
    let _ = writeln!(
        out,
        "{} — energy {} ({}), {} to {}",
        report.site,
        if report.source == "estimate" {
            "forecast"
        } else {
            "record"
        },
        scope,
        report.from,
        report.to
    );
    let cur = if report.currency.is_empty() {
        "cost".to_string()
    } else {
        format!("cost {}", report.currency)
    };
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>9} {:>10} {:>9} {:>11} {:>7} {:>7} {:>15} {:>10}",
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
        .map(|n| (n.night.to_string(), &n.totals))
        .chain(std::iter::once(("total".to_string(), &report.total)));
    for (label, t) in rows {
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
            "{:<10} {:>10.2} {:>9.2} {:>10.2} {:>9.2} {:>11.2} {:>7} {:>7.2} {:>15} {:>10}",
            label,
            t.kwh,
            t.peak_w / 1000.0,
            t.cost,
            t.co2_kg,
            t.baseline_kwh,
            t.savings_pct
                .map_or("-".to_string(), |p| format!("{p:.0}%")),
            t.burn_hours,
            curfew,
            limited
        );
    }
    let runs: Vec<(&NaiveDate, &RunRow)> = report
        .nights
        .iter()
        .flat_map(|n| n.runs.iter().map(move |r| (&n.night, r)))
        .collect();
    if !runs.is_empty() {
        let _ = writeln!(out, "\nshow runs");
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:<25} {:>9} {:>10} {:>7}",
            "night", "show", "started", "kWh", cur, "hours"
        );
        for (night, r) in runs {
            let _ = writeln!(
                out,
                "{:<10} {:<20} {:<25} {:>9.3} {:>10.3} {:>7.2}",
                night.to_string(),
                r.show,
                r.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
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

/// The report as an SVG chart: a bar per night, stacked by group (one
/// series for a group report), with the site total marked above each bar.
pub fn svg(report: &Report) -> String {
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
    let value = |n: &NightRow, s: &str| -> f64 {
        if report.group.is_some() || n.groups.is_empty() {
            n.totals.kwh
        } else {
            n.groups.get(s).copied().unwrap_or(0.0)
        }
    };
    let stacks: Vec<f64> = report
        .nights
        .iter()
        .map(|n| {
            series
                .iter()
                .map(|s| value(n, s))
                .sum::<f64>()
                .max(n.totals.kwh)
        })
        .collect();
    let max = stacks.iter().copied().fold(0.0f64, f64::max);
    let nice = nice_ceiling(max);
    let (left, right, top, bottom) = (64.0, 180.0, 40.0, 56.0);
    let n = report.nights.len().max(1) as f64;
    let bar_w = (36.0f64).min(600.0 / n).max(3.0);
    let gap = (bar_w * 0.35).max(1.0);
    let plot_w = n * (bar_w + gap) + gap;
    let plot_h = 260.0;
    // Room for the title (about 8.6 px a character at 14 px bold).
    let title_w = 8.6 * chart_title(report).chars().count() as f64;
    let width = (left + plot_w + right).max(left + title_w + 16.0);
    let height = top + plot_h + bottom;
    let y = |v: f64| top + plot_h - if nice > 0.0 { v / nice * plot_h } else { 0.0 };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = chart_title(report);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        xml_escape(&title)
    );
    // Grid and axis labels: five steps of a round number.
    let decimals = if nice / 5.0 >= 1.0 {
        0
    } else if nice / 5.0 >= 0.1 {
        1
    } else {
        2
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
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">kWh</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let label_every = ((n / 15.0).ceil() as usize).max(1);
    for (i, night) in report.nights.iter().enumerate() {
        let x = left + gap + i as f64 * (bar_w + gap);
        let mut acc = 0.0;
        for (k, name) in series.iter().enumerate() {
            let v = value(night, name);
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (y(acc), y(acc + v));
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y1:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"><title>{} {}: {:.2} kWh</title></rect>"#,
                (y0 - y1).max(0.0),
                PALETTE[k % PALETTE.len()],
                night.night,
                xml_escape(name),
                v
            );
            acc += v;
        }
        // The site total: equal to the stack unless groups overlap.
        let yt = y(night.totals.kwh);
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{yt:.1}" x2="{:.1}" y2="{yt:.1}" stroke="#000" stroke-width="2"><title>{} total: {:.2} kWh</title></line>"##,
            x - 1.0,
            x + bar_w + 1.0,
            night.night,
            night.totals.kwh
        );
        if i % label_every == 0 {
            let lx = x + bar_w / 2.0;
            let ly = top + plot_h + 14.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="end" transform="rotate(-45 {lx:.1} {ly:.1})">{}</text>"#,
                night.night.format("%m-%d")
            );
        }
    }
    let lx = left + plot_w + 16.0;
    for (k, name) in series.iter().enumerate() {
        let ly = top + 10.0 + k as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly:.1}" dominant-baseline="middle">{}</text>"#,
            ly - 6.0,
            PALETTE[k % PALETTE.len()],
            lx + 18.0,
            xml_escape(name)
        );
    }
    let ly = top + 10.0 + series.len() as f64 * 18.0;
    let _ = writeln!(
        s,
        r##"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#000" stroke-width="2"/><text x="{:.1}" y="{ly:.1}" dominant-baseline="middle">total</text>"##,
        lx + 12.0,
        lx + 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.1}">total {:.1} kWh, peak {:.1} kW{}</text>"#,
        height - 8.0,
        report.total.kwh,
        report.total.peak_w / 1000.0,
        report
            .total
            .savings_pct
            .map_or(String::new(), |p| format!(", {p:.0}% below baseline"))
    );
    s.push_str("</svg>\n");
    s
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
        "{} — kWh per night{} ({} to {}{})",
        report.site,
        report
            .group
            .as_ref()
            .map_or(String::new(), |g| format!(", group {g}")),
        report.from,
        report.to,
        if report.source == "estimate" {
            ", forecast"
        } else {
            ""
        }
    )
}
