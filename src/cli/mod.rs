//! The command line: `run` (the default), `check`, `render`, `import` and
//! the rest.
//!
//! This is the edge where `anyhow` lives: library errors become messages a
//! designer can act on, and exit codes follow the contract (1 on any error).

mod backup;
mod check;
mod devices;
mod energy;
mod fleet;
pub mod generate;
mod import;
mod monitor;
mod new;
mod nodes;
mod preview;
mod render;
mod rollout;
mod run;
pub mod schedule;
mod schema;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "nightscape",
    version,
    about = "City nightscape lighting controller"
)]
pub(crate) struct Cli {
    /// The site folder (site.toml and the shows). Default: the current
    /// folder when it holds site.toml (and ./shows does not), else ./shows.
    #[arg(long, global = true)]
    pub site: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the daemon: render and send frames at the site's fps.
    Run(run::RunArgs),
    /// Validate the site, profiles and shows (or with --fixtures only a
    /// profile folder); print every problem as file:line:col.
    Check(check::CheckArgs),
    /// Print the DMX frame the site outputs at an instant.
    Render(render::RenderArgs),
    /// Find Art-Net nodes by ArtPoll and list them beside what the site sends.
    Nodes(nodes::NodesArgs),
    /// Find the RDM devices behind Art-Net nodes (identity, address, hours,
    /// sensors) and, with a site, check them against the patch.
    Devices(devices::DevicesArgs),
    /// Draw the site for designers: a moment (--at, PNG/SVG), a whole night
    /// (--night, PNG/HTML) or an animation (--from --to, GIF). Sends nothing.
    Preview(preview::PreviewArgs),
    /// The effect reference: every effect with its parameters (unit, range,
    /// default, meaning) and an example; --markdown for docs/effects.md.
    Effects {
        #[arg(long)]
        markdown: bool,
    },
    /// JSON Schemas of the profile, site and show files for editors
    /// (Taplo / Even Better TOML): completion, docs on hover, errors as you type.
    Schema(schema::SchemaArgs),
    /// Start a commented site folder, show or fixture profile that passes
    /// `check` as written.
    New(new::NewArgs),
    /// Print the coming nights' plan: sun times, mode, resolved entries.
    Schedule(schedule::ScheduleArgs),
    /// The energy report (kWh, peak, cost, CO2, savings, curfew, budgets), or
    /// with --estimate the forecast of the planned nights.
    Energy(energy::EnergyArgs),
    /// Write a city-scale test site: N universes of pixel bars along avenues
    /// and facades, with a show playing all day.
    GenerateSite(generate::GenerateArgs),
    /// Receive Art-Net and sACN and print per-universe fps, interval
    /// p50/p99/max, sequence gaps and changed-frame rate.
    Monitor(monitor::MonitorArgs),
    /// Convert QLC+ (.qxf) or Open Fixture Library (JSON) fixture definitions
    /// into profile files.
    Import(import::ImportArgs),
    /// Print the systemd unit (Type=notify, watchdog, hardening) with
    /// install steps, for --site (default /etc/nightscape/shows) and --state.
    Service(ServiceArgs),
    /// The site's fleet of controllers over MQTT (`fleet status`).
    Fleet(fleet::FleetArgs),
    /// Back up a node's state folder (operator state and energy databases
    /// by SQLite online backup, key, the site version it runs) to one file.
    Backup(backup::BackupArgs),
    /// Restore a backup into a state folder no daemon is running on.
    Restore(backup::RestoreArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct ServiceArgs {
    /// The state folder the service writes (default /var/lib/nightscape).
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// An absolute form of `p` (against the current folder) for a unit file.
fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A time flag as written (`--at`, `--clock`, `--since`, `--from`): RFC 3339
/// or site wall-clock time. Its form is checked when the flags are parsed;
/// it becomes an instant once the site's timezone is known
/// ([`TimeArg::resolve`]), which is also when a repeated or skipped hour is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeArg(pub String);

impl TimeArg {
    /// The instant in the site's timezone; `flag` names the flag in errors.
    pub fn resolve(&self, flag: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
        let today = Utc::now().with_timezone(&tz).date_naive();
        nightscape_core::local_time::parse_instant(&self.0, tz, today)
            .map_err(|e| format!("{flag}: {e}"))
    }
}

/// Clap's check of a time flag's form (any zone will do for the form).
pub(crate) fn parse_time_arg(s: &str) -> Result<TimeArg, String> {
    let today = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    match nightscape_core::local_time::parse_instant(s, chrono_tz::UTC, today) {
        Err(e @ nightscape_core::local_time::TimeError::Format { .. }) => Err(e.to_string()),
        _ => Ok(TimeArg(s.to_string())),
    }
}

/// Clap's parser for date flags, naming the expected form when it refuses.
pub(crate) fn parse_date_arg(s: &str) -> Result<chrono::NaiveDate, String> {
    nightscape_core::local_time::parse_date(s).map_err(|e| e.to_string())
}

/// Resolve an optional time flag, printing the refusal.
pub fn resolve_opt(
    arg: &Option<TimeArg>,
    flag: &str,
    tz: chrono_tz::Tz,
) -> Result<Option<DateTime<Utc>>, String> {
    arg.as_ref().map(|a| a.resolve(flag, tz)).transpose()
}

/// Entry point for the binary. Returns the process exit code.
pub fn main() -> Result<i32> {
    // A usage error exits 1 like every other error (clap's own default is 2,
    // which `import` uses for "some files failed").
    let parsed = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return Ok(code);
        }
    };
    let command = parsed
        .command
        .unwrap_or(Command::Run(run::RunArgs::default()));
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colour codes only for a person at a terminal: journald and log files
    // would store them as garbage.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let given_site = parsed.site.clone();
    let site = given_site.clone().unwrap_or_else(|| {
        default_site(
            std::path::Path::new("site.toml").is_file(),
            std::path::Path::new("shows/site.toml").is_file(),
        )
    });
    let cli = Resolved { site };
    match command {
        Command::Check(args) => check::check(&cli.site, &args),
        Command::Import(args) => import::import(&args),
        Command::Render(args) => render::render(&cli.site, &args),
        Command::Preview(args) => preview::preview(&cli.site, &args),
        Command::Effects { markdown } => {
            use std::io::Write;
            let text = if markdown {
                nightscape_core::show::reference::markdown()
            } else {
                nightscape_core::show::reference::text()
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(0)
        }
        Command::New(args) => new::new(&cli.site, &args),
        Command::Schema(args) => schema::schema(&args),
        Command::Nodes(args) => nodes::nodes(&cli.site, &args),
        Command::Devices(args) => devices::devices(&cli.site, given_site.is_some(), &args),
        Command::Schedule(args) => schedule::schedule(&cli.site, &args),
        Command::Energy(args) => energy::energy(&cli.site, &args),
        Command::GenerateSite(args) => generate::generate_site(&args),
        Command::Monitor(args) => monitor::monitor(&args),
        Command::Fleet(args) => fleet::fleet(&cli.site, &args),
        Command::Backup(args) => backup::backup(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::Service(args) => {
            // --site defaults for the other commands; the unit uses it only
            // when it was given.
            let site = match &given_site {
                Some(s) => absolute(s),
                None => PathBuf::from("/etc/nightscape/shows"),
            };
            let state = args
                .state
                .as_deref()
                .map(absolute)
                .unwrap_or_else(|| PathBuf::from("/var/lib/nightscape"));
            print!("{}", crate::daemon::systemd::unit(&site, &state));
            Ok(0)
        }
        Command::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(run::run(&cli.site, args))
        }
    }
}

/// The site folder after defaults: what `--site` said.
struct Resolved {
    site: PathBuf,
}

/// The site folder when `--site` is not given: `shows` (the layout `new
/// site` writes), unless the current folder is itself a site folder (holds
/// site.toml) and has no `shows/site.toml` — then a designer working in it
/// (`nightscape new show x`, `check`) means this folder, not `./shows/`.
pub(crate) fn default_site(here_has_site: bool, shows_has_site: bool) -> PathBuf {
    if here_has_site && !shows_has_site {
        PathBuf::from(".")
    } else {
        PathBuf::from("shows")
    }
}

/// Load the site for a command, or print every problem (`path:line:col`)
/// to stderr and return None so the command exits 1.
pub fn load_or_report(site: &std::path::Path) -> Option<crate::config::Config> {
    match crate::config::load(site) {
        Ok(c) => Some(c),
        Err(d) => {
            eprint!("{d}");
            None
        }
    }
}

/// What to play: `--show` as started at `since`, or else the schedule.
pub fn program_for(
    config: &crate::config::Config,
    show: Option<&str>,
    since: DateTime<Utc>,
) -> Result<Box<dyn crate::daemon::Program>, String> {
    program_with_skips(config, show, since, crate::daemon::Skips::default())
}

/// As [`program_for`], with the schedule leaving out `skips` (the daemon's).
pub fn program_with_skips(
    config: &crate::config::Config,
    show: Option<&str>,
    since: DateTime<Utc>,
    skips: crate::daemon::Skips,
) -> Result<Box<dyn crate::daemon::Program>, String> {
    match show {
        Some(show) if config.show(show).is_none() => {
            Err(crate::control::unknown_show(config, show))
        }
        Some(show) => Ok(Box::new(crate::daemon::FixedShow {
            show: show.to_string(),
            since,
        })),
        None => Ok(Box::new(crate::daemon::Scheduled::with_skips(skips))),
    }
}
