//! `nightscape fleet status`: every node of the site's fleet as the broker
//! holds it (their retained status, energy and alarm messages): online,
//! last seen, configuration hash (marked when it differs from this
//! folder's), clock offset (as its peers measure it), alarms, what plays,
//! outputs' health, power (live nodes only) and tonight's kWh.
//!
//! It reads the broker directly, so it works from any machine with the
//! site folder, whether or not a node runs there.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::Path;

#[derive(Args, Debug)]
pub(crate) struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Subcommand, Debug)]
pub(crate) enum FleetCommand {
    /// List every node: online, configuration hash, clock, playing, outputs, power.
    Status {
        /// How long to collect the retained messages ("2s").
        #[arg(long, default_value = "2s")]
        wait: String,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Print this node's public key (`ed25519:<base64>`, for `[[nodes]] key`
    /// or `[fleet] signers`), creating `<state>/node.key` (0600) if missing.
    Key {
        /// The node's state folder (where `node.key` lives).
        #[arg(long)]
        state: std::path::PathBuf,
    },
    /// Sign a command for the broker (a city platform's tool): reads the
    /// command's JSON (or --command) and prints the signed message to
    /// publish, retained, on --topic.
    Sign {
        /// A key file made by `nightscape fleet key` (`<dir>/node.key`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The signer's name, as `[fleet] signers` or `[[nodes]]` lists it.
        #[arg(long)]
        signer: String,
        /// The topic it is published on (`<root>/<site>/cmd/override/<id>`).
        #[arg(long)]
        topic: String,
        /// The command's JSON; without it, read from standard input.
        #[arg(long)]
        command: Option<String>,
    },
    /// Site rollouts: `push`, `rollback`, `versions` (src/cli/rollout.rs).
    #[command(flatten)]
    Rollout(super::rollout::RolloutCommand),
}

/// Every node's status and energy, by node name.
pub type Snapshot = std::collections::BTreeMap<
    String,
    (
        nightscape_core::control::fleet::Status,
        Option<nightscape_core::control::fleet::Energy>,
    ),
>;

/// Gather the fleet's statuses, energy and alarms for `wait` seconds.
pub fn gather_full(
    spec: &nightscape_core::site::fleet::FleetSpec,
    wait: f64,
    trust: Option<&crate::fleet::trust::Trust>,
) -> Result<Result<std::collections::BTreeMap<String, crate::fleet::NodeSnapshot>, String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(crate::fleet::snapshot_full(
        spec,
        std::time::Duration::from_secs_f64(wait),
        trust,
    )))
}

/// Gather the fleet's statuses for `wait` seconds (a current-thread runtime).
pub fn gather(
    spec: &nightscape_core::site::fleet::FleetSpec,
    wait: f64,
) -> Result<Result<Snapshot, String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(rt.block_on(crate::fleet::snapshot(
        spec,
        std::time::Duration::from_secs_f64(wait),
    )))
}

/// `fleet key` and `fleet sign`: no site needed.
fn keys(args: &FleetCommand) -> Result<Option<i32>> {
    match args {
        FleetCommand::Key { state } => match crate::fleet::trust::load_or_create(state) {
            Ok(k) => {
                println!("{}", crate::fleet::trust::public(&k));
                Ok(Some(0))
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(Some(1))
            }
        },
        FleetCommand::Sign {
            key,
            signer,
            topic,
            command,
        } => {
            let k = match crate::fleet::trust::read_key(key) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(Some(1));
                }
            };
            let body = match command {
                Some(c) => c.clone(),
                None => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                        .context("cannot read the command from standard input")?;
                    s
                }
            };
            let body = body.trim().to_string();
            if let Err(e) = serde_json::from_str::<nightscape_core::control::fleet::Command>(&body)
            {
                eprintln!("not a fleet command: {e}");
                return Ok(Some(1));
            }
            let out = crate::fleet::trust::sign(&k, signer, topic, body);
            println!("{}", String::from_utf8_lossy(&out));
            Ok(Some(0))
        }
        FleetCommand::Status { .. } | FleetCommand::Rollout(_) => Ok(None),
    }
}

pub fn fleet(site: &Path, args: &FleetArgs) -> Result<i32> {
    if let Some(code) = keys(&args.command)? {
        return Ok(code);
    }
    if let FleetCommand::Rollout(cmd) = &args.command {
        return super::rollout::rollout(site, cmd);
    }
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let Some(spec) = cfg.site.fleet.clone() else {
        eprintln!("the site has no [fleet] section: it runs as one node");
        return Ok(1);
    };
    match &args.command {
        FleetCommand::Key { .. } | FleetCommand::Sign { .. } | FleetCommand::Rollout(_) => Ok(0),
        FleetCommand::Status { wait, format } => {
            let wait = match nightscape_core::units::parse_duration(wait) {
                Ok(w) if (0.1..=60.0).contains(&w) => w,
                _ => {
                    eprintln!("--wait must be a duration from 0.1s to 60s, like \"2s\"");
                    return Ok(1);
                }
            };
            let trust = crate::fleet::trust::Trust::from_site(&cfg.site);
            let nodes = match gather_full(&spec, wait, Some(&trust))? {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(1);
                }
            };
            let own = crate::fleet::config_hash(site);
            let alarm_list = |n: &crate::fleet::NodeSnapshot| -> Vec<serde_json::Value> {
                n.alarms
                    .as_ref()
                    .and_then(|a| a["active"].as_array().cloned())
                    .unwrap_or_default()
            };
            if format == "json" {
                let v: serde_json::Value = nodes
                    .iter()
                    .map(|(name, n)| {
                        (
                            name.clone(),
                            serde_json::json!({
                                "status": n.status,
                                "energy": n.energy,
                                "same_config": n.status.config_hash.as_deref().map(|h| h == own),
                                "last_seen": n.status.at,
                                "clock_offset_ms": crate::fleet::fleet_offset_ms(&nodes, name),
                                "alarms": alarm_list(n),
                                "power_w": n.energy.as_ref().and_then(|e| e.power_w).or(n.status.power_w),
                                "verified": n.verified,
                                "unverified": n.unverified,
                            }),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            println!(
                "{:<14} {:<8} {:<18} {:<24} {:>10} {:>9} {:>8} {:>11}  alarms / playing / outputs",
                "node",
                "online",
                "config",
                "last seen",
                "offset ms",
                "rtt ms",
                "power W",
                "tonight kWh"
            );
            for declared in &cfg.site.nodes {
                let Some(n) = nodes.get(&declared.name) else {
                    println!("{:<14} never seen on the broker", declared.name);
                    continue;
                };
                let (s, e) = (&n.status, &n.energy);
                let hash = match s.config_hash.as_deref() {
                    Some(h) if h == own => h.to_string(),
                    Some(h) => format!("{h} ≠"),
                    None => "-".into(),
                };
                let outputs: Vec<String> = s
                    .outputs
                    .iter()
                    .map(|o| format!("{} {} {}", o.kind, o.target, o.state))
                    .collect();
                let alarms: Vec<String> = alarm_list(n)
                    .iter()
                    .map(|a| {
                        format!(
                            "{}: {}",
                            a["kind"].as_str().unwrap_or("?"),
                            a["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                println!(
                    "{:<14} {:<8} {:<18} {:<24} {:>10} {:>9} {:>8} {:>11}  {} / {} / {}",
                    declared.name,
                    match (s.online, n.verified) {
                        (_, Some(false)) => "UNVERIFIED",
                        (true, _) => "yes",
                        (false, _) => "OFFLINE",
                    },
                    hash,
                    s.at.map_or("-".into(), |a| a
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    crate::fleet::fleet_offset_ms(&nodes, &declared.name)
                        .map_or("-".into(), |o| format!("{o:+.1}")),
                    s.rtt_ms.map_or("-".into(), |r| format!("{r:.1}")),
                    e.as_ref()
                        .and_then(|e| e.power_w)
                        .or(s.power_w)
                        .map_or("-".into(), |w| format!("{w:.0}")),
                    e.as_ref()
                        .and_then(|e| e.tonight_kwh)
                        .or(s.tonight_kwh)
                        .map_or("-".into(), |k| format!("{k:.2}")),
                    if alarms.is_empty() {
                        "no alarms".into()
                    } else {
                        alarms.join("; ")
                    },
                    if s.playing.is_empty() {
                        "-".into()
                    } else {
                        s.playing.join(",")
                    },
                    if outputs.is_empty() {
                        "-".into()
                    } else {
                        outputs.join("; ")
                    },
                );
            }
            for extra in nodes.keys().filter(|n| cfg.site.node(n).is_none()) {
                println!(
                    "{extra:<14} publishes on the broker but is not a [[nodes]] entry of this site"
                );
            }
            println!(
                "(this folder's configuration hash: {own}; ≠ marks a node on different files)"
            );
            Ok(0)
        }
    }
}
