//! `nightscape fleet push`, `fleet rollback` and `fleet versions`: site
//! rollouts over the fleet's broker (the nodes' side is `crate::rollout`).
//!
//! `push` packs the site folder into a bundle, signs its header with the
//! given key, publishes it retained, then publishes which version to run
//! and from when (`--at`, else at once); `rollback` publishes a switch to
//! the version before (or `--to N`). Both then wait for the nodes'
//! reports and print, node by node, whether it switched, will switch at
//! the instant, or refused and why (exit 1 when one refused). They need no
//! state of their own: the versions pushed so far travel in the retained
//! switch message.

use super::{parse_time_arg, TimeArg};
use crate::fleet::trust;
use crate::rollout::{self, BundleHeader, NodeReport, Switch, Topics, VersionId};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub(crate) enum RolloutCommand {
    /// Publish this site folder (site.toml, shows, media, profiles) as a
    /// signed, versioned bundle: every node checks and stores it, and
    /// switches to it at --at (all together) or at once.
    Push(PushArgs),
    /// Switch every node back to the version before the one they run
    /// (or to --to N), at --at or at once.
    Rollback(RollbackArgs),
    /// Which site version each node runs, will switch to, or refused.
    Versions {
        /// How long to collect the nodes' reports ("2s").
        #[arg(long, default_value = "2s")]
        wait: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// The key file to sign with (`<state>/node.key`, made by `fleet key`);
    /// needed when the site lists keys.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The signer's name as `[[nodes]]` or `[fleet] signers` lists it (a
    /// signer limited to some targets may not push a whole site).
    #[arg(long)]
    pub signer: Option<String>,
    /// When every node switches: RFC 3339 or site time (default: at once).
    #[arg(long, value_parser = parse_time_arg)]
    pub at: Option<TimeArg>,
    /// How long to wait for the nodes' answers ("15s").
    #[arg(long, default_value = "15s")]
    pub wait: String,
}

#[derive(Args, Debug)]
pub(crate) struct PushArgs {
    #[command(flatten)]
    pub sign: SignArgs,
    /// Push without running `nightscape check` here first (each node
    /// still checks the bundle and refuses it if it fails).
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Args, Debug)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    pub sign: SignArgs,
    /// The version number to return to (default: the one before).
    #[arg(long)]
    pub to: Option<u64>,
}

pub fn rollout(site: &Path, cmd: &RolloutCommand) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    let Some(spec) = cfg.site.fleet.clone() else {
        eprintln!("the site has no [fleet] section: there is no fleet to push to");
        return Ok(1);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let trust = trust::Trust::from_site(&cfg.site);
    let nodes: Vec<String> = cfg.site.nodes.iter().map(|n| n.name.clone()).collect();
    match cmd {
        RolloutCommand::Versions { wait } => {
            let Some(wait) = duration(wait, "--wait") else {
                return Ok(1);
            };
            rt.block_on(async {
                let mut c = match Conn::connect(&spec).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(1);
                    }
                };
                let (reports, online) = c.reports(&trust, wait, |_, _| false).await;
                print_reports(&nodes, &reports, &online, None);
                Ok(0)
            })
        }
        RolloutCommand::Push(args) => {
            let tz = cfg.site.timezone;
            let Some(plan) = plan(&args.sign, tz, &trust) else {
                return Ok(1);
            };
            if !args.no_check && !check_here(site) {
                eprintln!("not pushed: `nightscape check` fails on this folder (fix it, or --no-check to let the nodes judge it)");
                return Ok(1);
            }
            let packed = match rollout::bundle::pack(site) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("not pushed: {e}");
                    return Ok(1);
                }
            };
            let hash = rollout::bundle::sha256_hex(&packed.archive);
            rt.block_on(async {
                let mut c = match Conn::connect(&spec).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(1);
                    }
                };
                let last = c.retained_switch(&trust).await;
                let mut history = last.as_ref().map(|s| s.history.clone()).unwrap_or_default();
                let id = VersionId {
                    version: history.iter().map(|v| v.version).max().unwrap_or(0) + 1,
                    hash: hash.clone(),
                };
                let header = BundleHeader {
                    id: id.clone(),
                    site_dir: packed.site_dir.clone(),
                    bytes: packed.archive.len() as u64,
                    files: packed.files as u32,
                    site: cfg.site.name.clone(),
                    created: chrono::Utc::now(),
                };
                let topics = Topics::new(&spec);
                let envelope = plan.sign(&topics.bundle(), serde_json::to_string(&header)?);
                let message = rollout::bundle_message(&envelope, &packed.archive);
                println!(
                    "pushing {id}: {} files, {} bytes",
                    packed.files,
                    packed.archive.len()
                );
                if let Err(e) = c.publish(&topics.bundle(), message).await {
                    eprintln!("{e}");
                    return Ok(1);
                }
                history.push(id.clone());
                // The broker keeps the last 50 versions' names for rollback.
                let skip = history.len().saturating_sub(50);
                let history: Vec<VersionId> = history.into_iter().skip(skip).collect();
                let sw = Switch {
                    seq: next_seq(last.as_ref()),
                    to: id.clone(),
                    at: plan.at,
                    history,
                    rollback: false,
                };
                finish(&mut c, &plan, &topics, sw, &trust, &nodes).await
            })
        }
        RolloutCommand::Rollback(args) => {
            let tz = cfg.site.timezone;
            let Some(plan) = plan(&args.sign, tz, &trust) else {
                return Ok(1);
            };
            rt.block_on(async {
                let mut c = match Conn::connect(&spec).await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(1);
                    }
                };
                let Some(last) = c.retained_switch(&trust).await else {
                    eprintln!(
                        "the broker holds no rollout: nothing to roll back (push a version first)"
                    );
                    return Ok(1);
                };
                let pos = match args.to {
                    Some(n) => last.history.iter().rposition(|v| v.version == n),
                    None => last
                        .history
                        .iter()
                        .rposition(|v| *v == last.to)
                        .and_then(|i| i.checked_sub(1)),
                };
                let Some(pos) = pos else {
                    let known: Vec<String> =
                        last.history.iter().map(|v| v.version.to_string()).collect();
                    eprintln!(
                        "no version to roll back to: the fleet runs {}; versions pushed: {}",
                        last.to,
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    );
                    return Ok(1);
                };
                let to = last.history[pos].clone();
                println!("rolling back from {} to {to}", last.to);
                let topics = Topics::new(&spec);
                let sw = Switch {
                    seq: next_seq(Some(&last)),
                    to,
                    at: plan.at,
                    history: last.history[..=pos].to_vec(),
                    rollback: true,
                };
                finish(&mut c, &plan, &topics, sw, &trust, &nodes).await
            })
        }
    }
}

/// Who signs, when to switch, how long to wait.
struct Plan {
    key: Option<(ed25519_dalek::SigningKey, String)>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    wait: Duration,
}

impl Plan {
    fn sign(&self, topic: &str, body: String) -> Vec<u8> {
        match &self.key {
            Some((k, signer)) => trust::sign(k, signer, topic, body),
            None => body.into_bytes(),
        }
    }
}

fn plan(args: &SignArgs, tz: chrono_tz::Tz, trust: &trust::Trust) -> Option<Plan> {
    let wait = duration(&args.wait, "--wait")?;
    let at = match super::resolve_opt(&args.at, "--at", tz) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    if at.is_some_and(|a| a > chrono::Utc::now() + rollout::MAX_AHEAD) {
        eprintln!("--at: nodes accept a switch at most 7 days ahead");
        return None;
    }
    let key = match (&args.key, &args.signer) {
        (Some(k), Some(s)) => match trust::read_key(k) {
            Ok(k) => Some((k, s.clone())),
            Err(e) => {
                eprintln!("{e}");
                return None;
            }
        },
        (None, None) if !trust.required => None,
        (None, None) => {
            eprintln!("this site lists node keys, so its nodes accept only signed rollouts: give --key FILE and --signer NAME");
            return None;
        }
        _ => {
            eprintln!("--key and --signer go together");
            return None;
        }
    };
    Some(Plan { key, at, wait })
}

fn duration(text: &str, flag: &str) -> Option<Duration> {
    match nightscape_core::units::parse_duration(text) {
        Ok(w) if (0.1..=600.0).contains(&w) => Some(Duration::from_secs_f64(w)),
        _ => {
            eprintln!("{flag} must be a duration from 0.1s to 600s, like \"15s\"");
            None
        }
    }
}

/// A sequence newer than the last switch's, from this machine's clock.
fn next_seq(last: Option<&Switch>) -> u64 {
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    now.max(last.map_or(0, |s| s.seq + 1))
}

/// Run this binary's `check` on the folder, its output shown.
fn check_here(site: &Path) -> bool {
    let exe = std::env::current_exe().unwrap_or_else(|_| "nightscape".into());
    std::process::Command::new(exe)
        .arg("--site")
        .arg(site)
        .arg("check")
        .status()
        .is_ok_and(|s| s.success())
}

/// Publish the switch, then wait for every node's answer and print them.
async fn finish(
    c: &mut Conn,
    plan: &Plan,
    topics: &Topics,
    sw: Switch,
    trust: &trust::Trust,
    nodes: &[String],
) -> Result<i32> {
    let body = serde_json::to_string(&sw)?;
    if let Err(e) = c
        .publish(&topics.switch(), plan.sign(&topics.switch(), body))
        .await
    {
        eprintln!("{e}");
        return Ok(1);
    }
    match sw.at {
        Some(at) => println!(
            "published: every node switches to {} at {}",
            sw.to,
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
        None => println!("published: every node switches to {} now", sw.to),
    }
    let to = sw.to.clone();
    let seq = sw.seq;
    let answered = |r: &NodeReport| {
        r.seq >= seq && r.running.as_ref() == Some(&to)
            || r.pending.as_ref().is_some_and(|p| p.to == to)
            || r.refused
                .first()
                .is_some_and(|f| f.version.as_ref() == Some(&to))
    };
    // Every node online (by the fleet's status) answers; one offline
    // answers when it is back (the broker keeps the switch).
    let (reports, online) = c
        .reports(trust, plan.wait, |all, online| {
            nodes
                .iter()
                .filter(|n| online.get(*n) == Some(&true))
                .all(|n| all.get(n).is_some_and(|(r, _)| answered(r)))
        })
        .await;
    print_reports(nodes, &reports, &online, Some(&to));
    let refused = nodes.iter().any(|n| {
        reports.get(n).is_some_and(|(r, _)| {
            r.refused
                .first()
                .is_some_and(|f| f.version.as_ref() == Some(&to))
                && r.running.as_ref() != Some(&to)
        })
    });
    Ok(if refused { 1 } else { 0 })
}

fn print_reports(
    nodes: &[String],
    reports: &Reports,
    online: &BTreeMap<String, bool>,
    about: Option<&VersionId>,
) {
    let names: Vec<&String> = nodes
        .iter()
        .chain(reports.keys().filter(|k| !nodes.contains(k)))
        .collect();
    for n in names {
        let Some((r, verified)) = reports.get(n) else {
            match online.get(n) {
                Some(true) => println!("{n:<14} online, no answer"),
                _ => println!("{n:<14} offline: gets the switch from the broker when it returns"),
            }
            continue;
        };
        let running = r
            .running
            .as_ref()
            .map_or("its own --site files".to_string(), |v| v.to_string());
        let mut line = format!("{n:<14} runs {running}");
        if let Some(at) = r.switched_at {
            line.push_str(&format!(
                " since {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ));
        }
        if let Some(p) = &r.pending {
            line.push_str(&match p.at {
                Some(at) => format!(
                    "; switches to {} at {}",
                    p.to,
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
                None => format!("; switching to {}", p.to),
            });
        }
        if let Some(f) = r.refused.first() {
            if about.is_none() || f.version.as_ref() == about {
                line.push_str(&format!("; REFUSED: {}", f.reason));
            }
        }
        if online.get(n) != Some(&true) {
            line.push_str(" (offline)");
        }
        if *verified == Some(false) {
            line.push_str(" (report not signed by its listed key)");
        }
        println!("{line}");
    }
}

/// A short-lived connection to the broker.
struct Conn {
    client: AsyncClient,
    ev: EventLoop,
    topics: Topics,
    /// The fleet's own topics (node status: who is online).
    status_topics: nightscape_core::control::fleet::Topics,
}

/// Each node's report and whether it verifies against its listed key.
type Reports = BTreeMap<String, (NodeReport, Option<bool>)>;

impl Conn {
    async fn connect(spec: &nightscape_core::site::fleet::FleetSpec) -> Result<Conn, String> {
        let opts = rollout::mqtt_options(spec, format!("nightscape-push-{}", std::process::id()))?;
        let (client, mut ev) = AsyncClient::new(opts, 16);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, ev.poll()).await {
                Err(_) => return Err(format!("broker {}: no answer within 5 s", spec.broker)),
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("broker {}: {e}", spec.broker)),
            }
        }
        Ok(Conn {
            client,
            ev,
            topics: Topics::new(spec),
            status_topics: nightscape_core::control::fleet::Topics::new(
                &spec.topic_root,
                &spec.topic_site,
            ),
        })
    }

    /// The retained switch message, if the broker holds one that verifies.
    async fn retained_switch(&mut self, trust: &trust::Trust) -> Option<Switch> {
        let topic = self.topics.switch();
        self.client
            .subscribe(topic.clone(), QoS::AtLeastOnce)
            .await
            .ok()?;
        let mut deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut found = None;
        while let Ok(ev) = tokio::time::timeout_at(deadline, self.ev.poll()).await {
            match ev {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    // Retained messages follow the acknowledgement.
                    deadline = tokio::time::Instant::now() + Duration::from_millis(400);
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == topic => {
                    match trust.open(&topic, &p.payload) {
                        Ok((body, _)) => found = serde_json::from_slice::<Switch>(&body).ok(),
                        Err(e) => eprintln!("warning: the retained switch on the broker is refused ({e}); starting a new history"),
                    }
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = self.client.unsubscribe(topic).await;
        found
    }

    /// Publish retained at QoS 1 and wait for the broker's acknowledgement.
    async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .map_err(|e| format!("cannot publish: {e}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut sent = false;
        loop {
            match tokio::time::timeout_at(deadline, self.ev.poll()).await {
                Err(_) => {
                    return Err(format!(
                        "{topic}: the broker did not acknowledge within 60 s"
                    ))
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(_)))) => sent = true,
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) if sent => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("{topic}: {e}")),
            }
        }
    }

    /// The nodes' reports (and whether each verifies) and which nodes the
    /// fleet's status messages say are online, until `done` or `wait`.
    async fn reports(
        &mut self,
        trust: &trust::Trust,
        wait: Duration,
        done: impl Fn(&Reports, &BTreeMap<String, bool>) -> bool,
    ) -> (Reports, BTreeMap<String, bool>) {
        let mut out = BTreeMap::new();
        let mut online = BTreeMap::new();
        let status = self.status_topics.status_all();
        for t in [status, self.topics.node_all()] {
            if self.client.subscribe(t, QoS::AtLeastOnce).await.is_err() {
                return (out, online);
            }
        }
        let start = tokio::time::Instant::now();
        let deadline = start + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let tick = deadline.min(now + Duration::from_millis(200));
            match tokio::time::timeout_at(tick, self.ev.poll()).await {
                Err(_) => {}
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let body = trust::body_of(&p.payload);
                    if let Some(node) = self.topics.node_of(&p.topic) {
                        if let Ok(r) = serde_json::from_slice::<NodeReport>(&body) {
                            let verified = trust.verify_own(&p.topic, node, &p.payload);
                            out.insert(node.to_string(), (r, verified));
                        }
                    } else if let Some(("status", node)) = self.status_topics.split(&p.topic) {
                        if let Ok(s) =
                            serde_json::from_slice::<nightscape_core::control::fleet::Status>(&body)
                        {
                            online.insert(node.to_string(), s.online);
                        }
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => break,
            }
            // Retained messages first: then judge.
            if start.elapsed() >= Duration::from_millis(500) && done(&out, &online) {
                break;
            }
        }
        let _ = self.client.disconnect().await;
        (out, online)
    }
}
