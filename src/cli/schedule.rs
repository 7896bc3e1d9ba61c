//! `nightscape schedule`: tonight's and the coming nights' plan with sun
//! times and resolved instants, as a table or JSON (the same JSON the API
//! serves at /api/schedule).

use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
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
    #[arg(long, value_parser = super::parse_date_arg)]
    pub from: Option<NaiveDate>,
    /// How many nights (1 or more).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
            serde_json::to_string_pretty(&crate::api::schedule_view::PlanView::build(
                &cfg, from, args.days
            ))?
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
    for n in from
        .iter_days()
        .take(days.min(3660) as usize)
        .map(|d| cfg.schedule.night(d))
    {
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
