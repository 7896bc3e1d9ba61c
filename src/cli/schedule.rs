//! `nightscape schedule`: tonight's and the coming nights' plan with sun
//! times and resolved instants, as a table or JSON (the same JSON the API
//! serves at /api/schedule).

use crate::config::Config;
use crate::schedule::plan::Night;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ScheduleArgs {
    /// First night (YYYY-MM-DD; default: tonight in the site's timezone).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// How many nights.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn rfc(t: Option<DateTime<Utc>>, tz: Tz) -> Value {
    t.map(|t| Value::from(t.with_timezone(&tz).to_rfc3339()))
        .unwrap_or(Value::Null)
}

/// The plan as JSON: {"site", "timezone", "nights": [{date, sunset, sunrise,
/// civil_dusk, civil_dawn, mode, entries: [{show, start, end, priority}]}]}.
pub fn plan_json(cfg: &Config, from: NaiveDate, days: u32) -> Value {
    let tz = cfg.site.timezone;
    let nights: Vec<Value> = nights(cfg, from, days)
        .iter()
        .map(|n| {
            json!({
                "date": n.date.to_string(),
                "sunset": rfc(n.sunset, tz),
                "sunrise": rfc(n.sunrise, tz),
                "civil_dusk": rfc(n.civil_dusk, tz),
                "civil_dawn": rfc(n.civil_dawn, tz),
                "polar": n.polar.map(|p| format!("{p:?}").to_lowercase()),
                "mode": n.mode,
                "entries": n.entries.iter().map(|e| json!({
                    "show": e.show,
                    "start": rfc(Some(e.start), tz),
                    "end": rfc(Some(e.end), tz),
                    "priority": e.priority,
                })).collect::<Vec<_>>(),
                "skipped": n.skipped,
            })
        })
        .collect();
    json!({ "site": cfg.site.name, "timezone": tz.name(), "nights": nights })
}

fn nights(cfg: &Config, from: NaiveDate, days: u32) -> Vec<Night> {
    from.iter_days()
        .take(days.min(3660) as usize)
        .map(|d| cfg.schedule.night(d))
        .collect()
}

pub fn schedule(site: &Path, args: &ScheduleArgs) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let from = args
        .from
        .unwrap_or_else(|| cfg.schedule.night_of(Utc::now()));
    let mut out = std::io::stdout().lock();
    let _ = match args.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&plan_json(&cfg, from, args.days))?
        ),
        Format::Table => write_table(&mut out, &cfg, from, args.days),
    };
    Ok(0)
}

fn write_table(
    out: &mut impl Write,
    cfg: &Config,
    from: NaiveDate,
    days: u32,
) -> std::io::Result<()> {
    let tz = cfg.site.timezone;
    let hm = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.with_timezone(&tz).format("%H:%M").to_string())
            .unwrap_or_else(|| "--:--".into())
    };
    writeln!(out, "{} ({})", cfg.site.name, tz.name())?;
    for n in nights(cfg, from, days) {
        writeln!(
            out,
            "{} {}  sunset {}  dusk {}  dawn {}  sunrise {}  mode {}{}",
            n.date,
            n.date.format("%a"),
            hm(n.sunset),
            hm(n.civil_dusk),
            hm(n.civil_dawn),
            hm(n.sunrise),
            n.mode,
            n.polar
                .map(|p| format!("  (polar {p:?})"))
                .unwrap_or_default()
        )?;
        if n.entries.is_empty() {
            writeln!(out, "    (dark)")?;
        }
        for e in &n.entries {
            let (start, end) = (e.start.with_timezone(&tz), e.end.with_timezone(&tz));
            // Across a DST change the wall clock alone misleads (02:30 → 02:00):
            // show the offsets then.
            let fmt = if start.offset() == end.offset() {
                "%m-%d %H:%M"
            } else {
                "%m-%d %H:%M%:z"
            };
            writeln!(
                out,
                "    {} → {}  {:<20} priority {}",
                start.format(fmt),
                end.format(fmt),
                e.show,
                e.priority
            )?;
        }
        for s in &n.skipped {
            writeln!(out, "    skipped: {s}")?;
        }
    }
    Ok(())
}
