//! `nightscape devices`: find the RDM devices (fixtures) behind Art-Net
//! nodes and list what they report: identity, DMX address and footprint,
//! personality, lamp and device hours, status messages and sensors.
//!
//! For each universe it sends ArtTodRequest to the node, collects the
//! node's table of devices (ArtTodData) and GETs each device's parameters
//! over ArtRdm (see `crate::rdm`). Which node and universe: `--target` and
//! `--universe`, or, without them, every Art-Net output of the site.
//!
//! With a site (`--site` given, or one found in the default place) it
//! also verifies the patch: every device is matched to the site's fixture
//! at that universe and address, and each mismatch comes with a one-line
//! fix. Exit status: 0 when every universe answered with a table of
//! devices and the patch (if checked) agrees; 1 otherwise.
//!
//! Writes (`set-address`, `set-label`, `identify`) change one device on
//! site, so each needs `--yes`; without it the command says what it would
//! do and changes nothing (exit 2). Each write is audited in the state
//! database (actor `cli:<user>`), as the API's are.

use crate::config;
use crate::rdm::patch::{verify, PatchEntry, PatchState};
use crate::rdm::{self, Device, Discovery, Options};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use nightscape_core::site::{OutputKind, Site};
use nightscape_core::units::parse_duration;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct DevicesArgs {
    /// Art-Net universe (15-bit Port-Address, as on the wire) to discover.
    /// Default: every universe the site's Art-Net outputs send.
    #[arg(long, global = true)]
    pub universe: Option<u16>,
    /// The node to ask (port 6454 unless given). Default: the site's
    /// Art-Net output targets.
    #[arg(long, value_parser = parse_target, global = true)]
    pub target: Option<SocketAddr>,
    /// Where to listen for replies (nodes answer on port 6454).
    #[arg(long, default_value = "0.0.0.0:6454", global = true)]
    pub listen: SocketAddr,
    /// How long to wait for a node's table of devices ("3s"; at most 60 s).
    #[arg(long, default_value = "3s", value_parser = parse_timeout, global = true)]
    pub timeout: Duration,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Ask through an ENTTEC DMX USB Pro on this serial port instead of
    /// Art-Net (the widget's output must not be running meanwhile).
    #[arg(long)]
    pub port: Option<String>,
    /// Change one device instead of listing them.
    #[command(subcommand)]
    pub write: Option<WriteCommand>,
}

/// A change to one device (RDM SET), confirmed with `--yes`.
#[derive(Subcommand, Debug)]
pub(crate) enum WriteCommand {
    /// Set a device's DMX start address (1..512).
    SetAddress {
        /// The device's UID, `mmmm:dddddddd` in hex.
        #[arg(long)]
        uid: String,
        #[arg(long)]
        address: u16,
        /// Really change it (without: say what would change).
        #[arg(long)]
        yes: bool,
        /// State folder for the audit log (default: the site's).
        #[arg(long)]
        state: Option<std::path::PathBuf>,
    },
    /// Set a device's DEVICE_LABEL (at most 32 bytes).
    SetLabel {
        #[arg(long)]
        uid: String,
        #[arg(long)]
        label: String,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        state: Option<std::path::PathBuf>,
    },
    /// Make a device flash so a crew finds it (`--off` stops it).
    Identify {
        #[arg(long)]
        uid: String,
        /// Stop identifying instead.
        #[arg(long)]
        off: bool,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        state: Option<std::path::PathBuf>,
    },
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs = parse_duration(s)?;
    if !(secs > 0.0 && secs <= 60.0) {
        return Err(format!("timeout {s} must be more than 0 and at most 60 s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_target(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 6454));
    }
    (t, 6454)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.is_ipv4()))
        .ok_or_else(|| format!("`{s}` is not an address: write an IP like \"10.0.4.20\""))
}

/// One universe to discover: the node, the wire universe, and the site
/// universe it carries (for the patch check).
#[derive(Debug, Clone, Copy)]
struct Job {
    target: SocketAddr,
    wire: u16,
    site_universe: Option<u16>,
}

/// The site's Art-Net sends: one job per (target, wire universe).
fn site_jobs(site: &Site) -> Vec<Job> {
    let mut jobs = Vec::new();
    for o in &site.outputs {
        if let (OutputKind::ArtNet { target, .. }, None) = (&o.kind, &o.host) {
            for (u, w) in o.universes.iter().zip(&o.wire) {
                jobs.push(Job {
                    target: *target,
                    wire: *w,
                    site_universe: Some(*u),
                });
            }
        }
    }
    jobs
}

/// The site universe a wire universe on `target` carries.
fn site_universe_of(site: &Site, target: SocketAddr, wire: u16) -> Option<u16> {
    let jobs = site_jobs(site);
    jobs.iter()
        .find(|j| j.target.ip() == target.ip() && j.wire == wire)
        .or_else(|| jobs.iter().find(|j| j.wire == wire))
        .and_then(|j| j.site_universe)
        .or_else(|| site.universes.contains(&wire).then_some(wire))
}

pub fn devices(site_dir: &Path, site_given: bool, args: &DevicesArgs) -> Result<i32> {
    if let Some(w) = &args.write {
        return write(site_dir, args, w);
    }
    if let Some(port) = &args.port {
        return serial(site_dir, site_given, args, port);
    }
    let site = match config::load(site_dir) {
        Ok(cfg) => Some(cfg.site),
        Err(d) => {
            if site_given || args.target.is_none() || args.universe.is_none() {
                eprint!("{d}");
                if args.target.is_none() || args.universe.is_none() {
                    eprintln!("the site did not load; name a node and universe with --target and --universe");
                    return Ok(1);
                }
                eprintln!("warning: the site did not load; the patch is not checked");
            }
            None
        }
    };
    let jobs: Vec<Job> = match (args.target, args.universe, &site) {
        (Some(target), Some(wire), s) => vec![Job {
            target,
            wire,
            site_universe: s.as_ref().and_then(|s| site_universe_of(s, target, wire)),
        }],
        (t, u, Some(s)) => site_jobs(s)
            .into_iter()
            .filter(|j| t.is_none_or(|t| t.ip() == j.target.ip()))
            .filter(|j| u.is_none_or(|u| u == j.wire))
            .collect(),
        _ => Vec::new(),
    };
    if jobs.is_empty() {
        eprintln!(
            "nothing to discover: the site has no Art-Net output for that; use --target and --universe \
             (sACN has no RDM; RDMnet/E1.33 is not supported)"
        );
        return Ok(1);
    }
    let mut all: Vec<Device> = Vec::new();
    let mut patch: Vec<PatchEntry> = Vec::new();
    let mut silent: Vec<String> = Vec::new();
    for j in &jobs {
        let opts = Options {
            listen: args.listen,
            target: j.target,
            universe: j.wire,
            tod_timeout: args.timeout,
            request_timeout: args.timeout.min(Duration::from_secs(1)),
        };
        let found: Discovery = match rdm::discover(&opts) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                return Ok(1);
            }
        };
        if !found.tod_received {
            silent.push(format!(
                "{} universe {}: no table of devices (ArtTodData) within {:.1} s",
                j.target,
                j.wire,
                args.timeout.as_secs_f64()
            ));
        } else if found.tod_nak {
            silent.push(format!(
                "{} universe {}: the node does not do RDM there (TodNak)",
                j.target, j.wire
            ));
        }
        if let (Some(s), Some(u), true) = (&site, j.site_universe, found.tod_received) {
            patch.extend(verify(s, u, &found.devices));
        }
        all.extend(found.devices);
    }
    for s in &silent {
        eprintln!("warning: {s}");
    }
    let problems = patch.iter().any(|p| p.state != PatchState::Matched);
    match args.format {
        Format::Json => {
            let mut v = serde_json::json!({ "devices": all });
            if site.is_some() {
                v["patch"] = serde_json::to_value(&patch)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => print_table(&all, &patch, site.is_some()),
    }
    Ok(if silent.is_empty() && !problems { 0 } else { 1 })
}

fn print_table(devices: &[Device], patch: &[PatchEntry], with_site: bool) {
    println!(
        "{} device{}",
        devices.len(),
        if devices.len() == 1 { "" } else { "s" }
    );
    let dash = || "-".to_string();
    for d in devices {
        println!(
            "{}  u{} @{}  fp {}  {} / {}  \"{}\"  sw {}  lamp {}h  device {}h",
            d.uid,
            d.universe,
            d.dmx_address.map_or_else(dash, |a| a.to_string()),
            d.footprint.map_or_else(dash, |a| a.to_string()),
            d.manufacturer.as_deref().unwrap_or("?"),
            d.model.as_deref().unwrap_or("?"),
            d.label.as_deref().unwrap_or(""),
            d.software.as_deref().unwrap_or("?"),
            d.lamp_hours.map_or_else(dash, |a| a.to_string()),
            d.device_hours.map_or_else(dash, |a| a.to_string()),
        );
        for s in &d.sensors {
            let flag = if s.out_of_range() {
                "  OUT OF RANGE"
            } else {
                ""
            };
            println!(
                "    sensor {} {}: {} {} (normal {}..{}){flag}",
                s.number,
                s.name,
                s.value.map_or_else(dash, |v| v.to_string()),
                s.unit,
                s.normal[0],
                s.normal[1]
            );
        }
        for st in &d.status {
            println!(
                "    status {} #{} {:?}",
                st.severity, st.message_id, st.data
            );
        }
        if !d.unanswered.is_empty() {
            println!("    no answer to: {}", d.unanswered.join(", "));
        }
    }
    if with_site {
        for p in patch.iter().filter(|p| p.state != PatchState::Matched) {
            println!("{:?}: {}", p.state, p.fix);
        }
        let matched = patch
            .iter()
            .filter(|p| p.state == PatchState::Matched)
            .count();
        println!("patch: {matched} matched, {} to fix", patch.len() - matched);
    }
}

/// `devices set-address|set-label|identify`: one SET to one device,
/// confirmed, audited.
fn write(site_dir: &Path, args: &DevicesArgs, cmd: &WriteCommand) -> Result<i32> {
    let (uid, w, yes, state) = match cmd {
        WriteCommand::SetAddress {
            uid,
            address,
            yes,
            state,
        } => (uid, rdm::Write::Address { address: *address }, *yes, state),
        WriteCommand::SetLabel {
            uid,
            label,
            yes,
            state,
        } => (
            uid,
            rdm::Write::Label {
                label: label.clone(),
            },
            *yes,
            state,
        ),
        WriteCommand::Identify {
            uid,
            off,
            yes,
            state,
        } => (uid, rdm::Write::Identify { on: !*off }, *yes, state),
    };
    let uid: nightscape_core::wire::rdm::Uid = match uid.trim().parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("--uid: {e}");
            return Ok(1);
        }
    };
    if let Err(e) = w.validate() {
        eprintln!("{e}");
        return Ok(1);
    }
    let site = config::load(site_dir).ok().map(|c| c.site);
    let (target, wire) = match (args.target, args.universe, &site) {
        (Some(t), Some(u), _) => (t, u),
        (t, u, Some(s)) => {
            let jobs: Vec<Job> = site_jobs(s)
                .into_iter()
                .filter(|j| t.is_none_or(|t| t.ip() == j.target.ip()))
                .filter(|j| u.is_none_or(|u| u == j.wire))
                .collect();
            if jobs.len() != 1 {
                eprintln!(
                    "say which node and universe {uid} is on with --target and --universe ({} candidates in the site)",
                    jobs.len()
                );
                return Ok(1);
            }
            (jobs[0].target, jobs[0].wire)
        }
        _ => {
            eprintln!("say which node and universe {uid} is on with --target and --universe");
            return Ok(1);
        }
    };
    let what = match &w {
        rdm::Write::Address { address } => {
            format!("set the DMX start address of {uid} to {address}")
        }
        rdm::Write::Label { label } => format!("set the label of {uid} to \"{label}\""),
        rdm::Write::Identify { on: true } => format!("make {uid} identify (flash)"),
        rdm::Write::Identify { on: false } => format!("stop {uid} identifying"),
    };
    if !yes {
        eprintln!("would {what} via {target} universe {wire}: add --yes to do it");
        return Ok(2);
    }
    let opts = Options {
        listen: args.listen,
        target,
        universe: wire,
        tod_timeout: args.timeout,
        request_timeout: args.timeout.min(Duration::from_secs(1)),
    };
    let outcome = match rdm::write(&opts, uid, &w) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    // Audited like the API's writes, in the state folder's database.
    let state_dir = state.clone().or_else(|| {
        let s = site.as_ref()?;
        crate::api::ApiConfig::from_site(s)
            .ok()
            .map(|(c, _)| c.state_dir(None))
    });
    match state_dir.map(|d| crate::store::Store::open(&d)) {
        Some(Ok(store)) => {
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let entry = crate::store::AuditEntry {
                at: chrono::Utc::now(),
                actor: format!("cli:{user}"),
                action: w.action().into(),
                detail: serde_json::json!({ "uid": uid, "write": w, "result": outcome, "target": target.to_string(), "universe": wire }),
                remote: None,
            };
            if let Err(e) = store.audit(&entry) {
                eprintln!("warning: the write is not in the audit log: {e}");
            }
        }
        Some(Err(e)) => eprintln!("warning: the write is not in the audit log: {e}"),
        None => eprintln!("warning: no site or --state: the write is not in the audit log"),
    }
    match outcome {
        rdm::WriteOutcome::Done => {
            println!("done: {what}");
            Ok(0)
        }
        rdm::WriteOutcome::Refused { reason } => {
            eprintln!("{uid} refused: {reason}");
            Ok(1)
        }
        rdm::WriteOutcome::NoReply => {
            eprintln!("{uid} did not answer");
            Ok(1)
        }
    }
}

/// `devices --port PATH`: discovery through an ENTTEC DMX USB Pro.
fn serial(site_dir: &Path, site_given: bool, args: &DevicesArgs, port: &str) -> Result<i32> {
    let site = match config::load(site_dir) {
        Ok(cfg) => Some(cfg.site),
        Err(d) => {
            if site_given {
                eprint!("{d}");
                eprintln!("warning: the site did not load; the patch is not checked");
            }
            None
        }
    };
    // The site universe of the enttec-pro output on that port, if any.
    let site_universe = site.as_ref().and_then(|s| {
        s.outputs.iter().find_map(|o| match &o.kind {
            OutputKind::EnttecPro { port: p } if p == port => o.universes.first().copied(),
            _ => None,
        })
    });
    let universe = args.universe.or(site_universe).unwrap_or(0);
    let found = match rdm::enttec::discover(
        port,
        universe,
        args.timeout.max(Duration::from_secs(10)),
        args.timeout.min(Duration::from_secs(1)),
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{port}: {e}");
            return Ok(1);
        }
    };
    let patch = match (&site, site_universe.or(args.universe)) {
        (Some(s), Some(u)) => verify(s, u, &found.devices),
        _ => Vec::new(),
    };
    let problems = patch.iter().any(|p| p.state != PatchState::Matched);
    match args.format {
        Format::Json => {
            let mut v = serde_json::json!({ "devices": found.devices });
            if site.is_some() {
                v["patch"] = serde_json::to_value(&patch)?;
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => print_table(&found.devices, &patch, site.is_some()),
    }
    Ok(if problems { 1 } else { 0 })
}
