//! `nightscape schedule`: tonight's and the coming nights' plan with sun
//! times and resolved instants, and why: the rule or holiday that chose
//! each night's mode, the curfews and budgets in force with their times,
//! and which overlapping entry is on top when — as a table or JSON (the
//! same JSON the API serves at /api/schedule). With `--state`, the nights
//! an operator forced into another mode (`/api/tonight/mode`, kept in the
//! daemon's store) are shown in that mode, "forced by an operator". The
//! explanation comes from `nightscape_core::explain`; this file only lays
//! it out.

use crate::config::Config;
use anyhow::{Context, Result};
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
    /// The daemon's state folder (e.g. /var/lib/nightscape): nights an
    /// operator forced into another mode are shown in that mode, in the
    /// table and the JSON.
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
}

/// The modes operators forced, by night, from the store in `state` (none
/// without `--state`).
fn forced_modes(
    state: Option<&Path>,
    from: NaiveDate,
) -> Result<std::collections::HashMap<NaiveDate, crate::store::ForcedMode>> {
    let Some(dir) = state else {
        return Ok(Default::default());
    };
    // Opening the store creates it: a mistyped folder must be an error,
    // not an empty new database.
    if !dir.join(crate::store::DB_FILE).is_file() {
        anyhow::bail!(
            "{}: no nightscape state here (no {}); pass the folder `nightscape run --state` uses",
            dir.display(),
            crate::store::DB_FILE
        );
    }
    let store = crate::store::Store::open(dir)
        .with_context(|| format!("reading the state in {}", dir.display()))?;
    Ok(store
        .forced_modes(from)?
        .into_iter()
        .map(|f| (f.night, f))
        .collect())
}

pub fn schedule(site: &Path, args: &ScheduleArgs) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let from = args
        .from
        .unwrap_or_else(|| cfg.schedule.night_of(Utc::now()));
    let forced = match forced_modes(args.state.as_deref(), from) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = match args.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&crate::api::schedule_view::PlanView::build(
                &cfg,
                from,
                args.days,
                &forced
                    .iter()
                    .map(|(d, f)| (*d, (f.mode.clone(), f.author.clone())))
                    .collect(),
            ))?
        ),
        Format::Table => write_table(&mut out, &cfg, from, args.days, &forced),
    };
    Ok(0)
}

fn write_table(
    out: &mut impl Write,
    cfg: &Config,
    from: NaiveDate,
    days: u32,
    forced: &std::collections::HashMap<NaiveDate, crate::store::ForcedMode>,
) -> std::io::Result<()> {
    let tz = cfg.site.timezone;
    // Across a DST change the wall clock alone misleads (02:30 → 02:00):
    // show the offsets then.
    let span = |a: DateTime<Utc>, b: DateTime<Utc>, fmt: &str| {
        let (a, b) = (a.with_timezone(&tz), b.with_timezone(&tz));
        let fmt = if a.offset() == b.offset() {
            fmt.to_string()
        } else {
            format!("{fmt}%:z")
        };
        format!("{} → {}", a.format(&fmt), b.format(&fmt))
    };
    let hm = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.with_timezone(&tz).format("%H:%M").to_string())
            .unwrap_or_else(|| "--:--".into())
    };
    writeln!(out, "{} ({})", cfg.site.name, tz.name())?;
    for x in from.iter_days().take(days.min(3660) as usize).map(|d| {
        let f = forced
            .get(&d)
            .map(|f| (f.mode.as_str(), Some(f.author.as_str())));
        nightscape_core::explain::night_forced(&cfg.schedule, &cfg.energy, d, f)
    }) {
        let n = &x.night;
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
                .map(|p| format!("  (polar {})", p.name()))
                .unwrap_or_default()
        )?;
        writeln!(out, "    why     {}", x.reason)?;
        for (i, c) in x.caps.iter().enumerate() {
            let label = if i == 0 { "caps" } else { "" };
            writeln!(out, "    {label:<7} {}", c.describe(tz))?;
        }
        if n.entries.is_empty() {
            writeln!(out, "    (dark)")?;
        }
        for e in &n.entries {
            writeln!(
                out,
                "    {}  {:<20} priority {}",
                span(e.start, e.end, "%m-%d %H:%M"),
                e.show,
                e.priority
            )?;
        }
        // Where entries overlap, say which one is seen when.
        if x.overlaps {
            for (i, p) in x.on_top.iter().enumerate() {
                let label = if i == 0 { "on top" } else { "" };
                let over = if p.over.is_empty() {
                    String::new()
                } else {
                    format!(", over {}", p.over.join(", "))
                };
                writeln!(
                    out,
                    "    {label:<7} {}  {} (priority {}{over})",
                    span(p.from, p.to, "%H:%M"),
                    p.show,
                    p.priority
                )?;
            }
        }
        for s in &n.skipped {
            writeln!(out, "    skipped: {s}")?;
        }
    }
    Ok(())
}
