//! `nightscape render --at TIME`: the frame the site outputs at an instant,
//! computed by the same pure engine the daemon uses.

use super::{parse_time_arg, TimeArg};
use crate::control::CompiledControl;
use crate::daemon::{FrameBuilder, FrameHook};
use anyhow::Result;
use chrono::Duration;
use clap::{Args, ValueEnum};
use nightscape_core::engine;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Json,
    Table,
}

#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// The instant to render: RFC 3339, or site time as "YYYY-MM-DD HH:MM[:SS]"
    /// or "HH:MM" (today).
    #[arg(long, value_parser = parse_time_arg)]
    pub at: TimeArg,
    /// Play this show instead of the schedule.
    #[arg(long)]
    pub show: Option<String>,
    /// When --show started (default: one minute before --at).
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<TimeArg>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

pub fn render(site: &Path, args: &RenderArgs) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let tz = cfg.site.timezone;
    let (at, since) = match (
        args.at.resolve("--at", tz),
        super::resolve_opt(&args.since, "--since", tz),
    ) {
        (Ok(at), Ok(since)) => (at, since),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let program = match super::program_for(
        &cfg,
        args.show.as_deref(),
        since.unwrap_or(at - Duration::minutes(1)),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let active = program.active(&cfg, at);
    // The daemon's own pipeline, with the same curfew caps and power
    // budgets, so this is the frame the wire carries at that instant
    // (operator overrides aside: they live in the daemon's state).
    let mut hooks: Vec<Box<dyn FrameHook>> = vec![Box::new(crate::energy::Limiter::default())];
    let mut builder = FrameBuilder::new(&cfg.site);
    let frame = builder.build(&cfg, &active, &CompiledControl::default(), &mut hooks, at);
    // A closed pipe (`| head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = match args.format {
        Format::Json => writeln!(out, "{}", frame.to_json()),
        Format::Table => write_table(&mut out, frame),
    };
    Ok(0)
}

/// Sixteen channels a row; rows that are all zero are left out.
fn write_table(out: &mut impl Write, frame: &engine::Frame) -> std::io::Result<()> {
    for (u, data) in frame.universes.iter().zip(&frame.data) {
        writeln!(out, "universe {u}")?;
        for (row, chunk) in data.chunks(16).enumerate() {
            if chunk.iter().all(|&v| v == 0) {
                continue;
            }
            let vals: Vec<String> = chunk.iter().map(|v| format!("{v:3}")).collect();
            writeln!(out, "  {:3}: {}", row * 16 + 1, vals.join(" "))?;
        }
    }
    Ok(())
}
