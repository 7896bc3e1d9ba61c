//! `nightscape energy`: the energy report from the record in the state
//! folder, or with `--estimate` the forecast of the planned nights (no
//! daemon needed), as a table, JSON, CSV or an SVG chart.
//!
//! The work is in `crate::energy::report`; this file only turns flags into
//! a query and errors into messages and exit codes (1 on any error). A
//! state folder with no record yet gets one line saying how to get data
//! (exit 0); a forecast that runs over a second on a terminal shows its
//! progress on stderr.

use crate::config;
use crate::energy::{report, EnergyError, Format as ReportFormat, Query};
use anyhow::Result;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use nightscape_core::meter::forecast;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Svg,
}

#[derive(Args, Debug)]
pub(crate) struct EnergyArgs {
    /// First night (YYYY-MM-DD; a night runs noon to noon). Default: 6
    /// nights before --to; with --estimate, tonight.
    #[arg(long, value_parser = super::parse_date_arg)]
    pub from: Option<NaiveDate>,
    /// Last night, inclusive (default: tonight).
    #[arg(long, value_parser = super::parse_date_arg)]
    pub to: Option<NaiveDate>,
    /// Report one group instead of the whole site.
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Runtime state folder holding the record (energy.sqlite); default:
    /// `state_dir` in site.toml, else ./var (as for `run`).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Report the record of runs on a simulated clock (`run --clock`),
    /// kept apart from the real one in `<state>/simulated/`.
    #[arg(long)]
    pub simulated: bool,
    /// Forecast the planned nights instead of reading the record.
    #[arg(long)]
    pub estimate: bool,
    /// With --estimate: how many nights (default 1, or up to --to).
    #[arg(long)]
    pub days: Option<u32>,
    /// With --estimate: the sampling step in show time ("10s", "1m").
    #[arg(long, default_value = "10s")]
    pub step: String,
    /// With --estimate: render every sample instead of reusing equal ones
    /// (the same result, slower; for checking the forecast).
    #[arg(long)]
    pub every_sample: bool,
}

pub fn energy(site: &Path, args: &EnergyArgs) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let tonight = cfg.schedule.night_of(Utc::now());
    let format = match args.format {
        Format::Table => ReportFormat::Table,
        Format::Json => ReportFormat::Json,
        Format::Csv => ReportFormat::Csv,
        Format::Svg => ReportFormat::Svg,
    };
    let result = if args.estimate {
        if args.simulated {
            eprintln!(
                "--simulated reads the record of simulated runs; --estimate forecasts: give one"
            );
            return Ok(1);
        }
        forecast(&cfg, args, tonight)
    } else {
        if args.days.is_some() {
            eprintln!("--days goes with --estimate; for the record use --from and --to");
            return Ok(1);
        }
        if args.every_sample {
            eprintln!("--every-sample goes with --estimate");
            return Ok(1);
        }
        let query = Query {
            from: args.from,
            to: args.to,
            group: args.group.clone(),
        };
        // The same folder `run` records into.
        let state = match crate::api::ApiConfig::from_site(&cfg.site) {
            Ok((api, _)) => api.state_dir(args.state.as_deref()),
            Err(_) => args.state.clone().unwrap_or_else(|| PathBuf::from("var")),
        };
        let state = crate::energy::record_dir(&state, args.simulated);
        // Flags are checked first; then, if nothing is recorded yet, say so
        // and how to get data rather than print a week of zeros.
        let r = report::from_store(&state, &cfg, &query, tonight);
        match r.as_ref().map(|_| report::recorded(&state)) {
            Ok(Ok(false)) => {
                let line = if args.simulated {
                    format!(
                        "no record of simulated runs in {} yet: `nightscape run --clock TIME` records there, apart from the real record",
                        state.display()
                    )
                } else {
                    format!(
                        "no energy record in {} yet: `nightscape run` records every night it plays on the real clock (runs on --clock are kept apart: --simulated); --state DIR reads another folder; `nightscape energy --estimate` forecasts the planned nights now",
                        state.display()
                    )
                };
                match format {
                    ReportFormat::Table => println!("{line}"),
                    _ => eprintln!("{line}"),
                }
                return Ok(0);
            }
            Ok(Err(e)) => {
                eprintln!("{}", flag_message(&e));
                return Ok(1);
            }
            _ => {}
        }
        r
    };
    match result {
        Ok(r) => {
            let text = report::render(&r, format);
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = out.write_all(text.as_bytes());
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", flag_message(&e));
            Ok(1)
        }
    }
}

fn forecast(
    cfg: &config::Config,
    args: &EnergyArgs,
    tonight: NaiveDate,
) -> Result<report::Report, EnergyError> {
    let step =
        nightscape_core::units::parse_duration(&args.step).map_err(|m| EnergyError::BadQuery {
            field: "step",
            message: m,
        })?;
    let from = args.from.unwrap_or(tonight);
    let days = match (args.days, args.to) {
        (Some(_), Some(_)) => {
            return Err(EnergyError::BadQuery {
                field: "days",
                message: "give --days or --to, not both".into(),
            })
        }
        (Some(d), None) => d,
        (None, Some(to)) if to < from => {
            return Err(EnergyError::BadQuery {
                field: "from",
                message: format!("from ({from}) is after to ({to})"),
            })
        }
        (None, Some(to)) => {
            ((to - from).num_days() + 1).clamp(1, forecast::MAX_DAYS as i64 + 1) as u32
        }
        (None, None) => 1,
    };
    let mut progress = Progress::new();
    let r = report::forecast_with_progress(
        cfg,
        from,
        days,
        step,
        args.group.as_deref(),
        !args.every_sample,
        &mut |done, all| progress.night(done, all),
    );
    progress.finish();
    r
}

/// "forecasting night 3 of 7" on stderr, rewritten in place, when stderr
/// is a terminal and the forecast has run for over a second (a short one
/// stays silent; a pipe or a log never gets carriage returns).
struct Progress {
    start: std::time::Instant,
    tty: bool,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            start: std::time::Instant::now(),
            tty: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn night(&mut self, done: u32, all: u32) {
        if !self.tty || done >= all || self.start.elapsed().as_secs_f64() < 1.0 {
            return;
        }
        self.shown = true;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\rforecasting: night {} of {all} done…", done);
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.shown {
            // Clear the line so the report starts clean.
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Errors name the flag the user typed.
fn flag_message(e: &EnergyError) -> String {
    match e {
        EnergyError::BadQuery { field, message } => format!("--{field}: {message}"),
        other => other.to_string(),
    }
}
