//! `nightscape nodes`: find the Art-Net nodes on the network by ArtPoll and
//! list them (IP, names, the universes they output), next to what the site
//! sends them.
//!
//! It polls every Art-Net output's target (a node, or a broadcast address
//! such as 2.255.255.255) plus any `--target`, listens on port 6454 for the
//! timeout, and warns where the site and the nodes disagree: a node that
//! outputs a universe no Art-Net output sends (it will stay dark), or a
//! universe the site sends to a node's IP that the node does not output.
//! If port 6454 cannot be had, it says discovery is unavailable and exits 1;
//! a running daemon's outputs are never affected. A target the poll could
//! not be sent to (no route, permission refused) is named with the reason,
//! and when no poll could be sent at all it says so and exits 1 instead of
//! reporting "0 nodes".

use crate::config;
use crate::output::discovery::{self, Node};
use anyhow::Result;
use clap::{Args, ValueEnum};
use nightscape_core::site::{format_universes, OutputKind};
use nightscape_core::units::parse_duration;
use std::collections::BTreeSet;
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
pub(crate) struct NodesArgs {
    /// How long to listen for replies ("2s", "500ms"; at most 60 s).
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Also poll this address (a node, or a broadcast like 2.255.255.255);
    /// port 6454 unless given. Repeatable.
    #[arg(long = "target", value_parser = parse_poll_target)]
    pub targets: Vec<SocketAddr>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Where to listen for replies (default 0.0.0.0:6454, where nodes
    /// answer; an address of one interface on a machine with several).
    #[arg(long, default_value = "0.0.0.0:6454")]
    pub listen: SocketAddr,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs = parse_duration(s)?;
    if secs > 60.0 {
        return Err(format!("timeout {s} is longer than 60 s"));
    }
    if secs <= 0.0 {
        return Err("timeout must be more than 0".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_poll_target(s: &str) -> Result<SocketAddr, String> {
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
        .ok_or_else(|| {
            format!(
                "`{s}` is not an address: write an IP like \"10.0.4.20\" or \"2.255.255.255:6454\""
            )
        })
}

/// What the site sends over Art-Net: (target, wire universes).
type Sends = Vec<(SocketAddr, Vec<u16>)>;

pub fn nodes(site: &Path, args: &NodesArgs) -> Result<i32> {
    let mut sends: Sends = Vec::new();
    let mut site_loaded = false;
    match config::load(site) {
        Ok(cfg) => {
            site_loaded = true;
            for o in &cfg.site.outputs {
                // A host-name target is looked up by the daemon when it
                // opens the output, never by loading a site: poll it with
                // --target if needed.
                if let (OutputKind::ArtNet { target, .. }, None) = (&o.kind, &o.host) {
                    sends.push((*target, o.wire.clone()));
                }
            }
        }
        Err(d) if args.targets.is_empty() => {
            eprint!("{d}");
            eprintln!("the site did not load; poll an address with --target");
            return Ok(1);
        }
        Err(_) => eprintln!(
            "warning: the site in {} did not load (see `nightscape check`); polling --target only",
            site.display()
        ),
    }
    let mut targets: Vec<SocketAddr> = sends.iter().map(|(t, _)| *t).collect();
    targets.extend(&args.targets);
    targets.sort();
    targets.dedup();
    let (found, unsent) = match discovery::discover_on(args.listen, &targets, args.timeout) {
        Ok(d) => (d.nodes, d.unsent),
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    // An unsent poll is not a silent network: say so before any count.
    for u in &unsent {
        eprintln!("warning: ArtPoll not sent to {}: {}", u.target, u.error);
    }
    let mut warnings = if site_loaded {
        compare(&sends, &found)
    } else {
        Vec::new()
    };
    let reached: Vec<SocketAddr> = targets
        .iter()
        .copied()
        .filter(|t| !unsent.iter().any(|u| u.target == *t))
        .collect();
    warnings.extend(same_host_silence(&reached, &found));
    match args.format {
        Format::Json => {
            let v = serde_json::json!({ "polled": targets, "unsent": unsent, "nodes": found, "warnings": warnings });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            let polled: Vec<String> = reached.iter().map(|t| t.to_string()).collect();
            let not_sent = if unsent.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = unsent.iter().map(|u| u.target.to_string()).collect();
                format!(" (not sent to {}: see the warning above)", list.join(", "))
            };
            println!(
                "polled {} for {:.1} s: {} node{}{not_sent}",
                polled.join(", "),
                args.timeout.as_secs_f64(),
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            );
            if !found.is_empty() {
                println!(
                    "{:<16} {:<18} {:<28} {:<16} INPUTS",
                    "IP", "SHORT NAME", "LONG NAME", "OUTPUTS"
                );
            }
            for n in &found {
                println!(
                    "{:<16} {:<18} {:<28} {:<16} {}",
                    n.ip.to_string(),
                    n.short_name,
                    n.long_name,
                    dash(&format_universes(&sorted(&n.outputs))),
                    dash(&format_universes(&sorted(&n.inputs))),
                );
            }
            for w in &warnings {
                println!("warning: {w}");
            }
        }
    }
    Ok(0)
}

/// A polled address of this machine that did not answer: with port 6454
/// shared (SO_REUSEADDR) between several programs here — a running
/// nightscape daemon answers and polls on it too — Linux delivers a
/// unicast packet to one of the sharing sockets only, so a local node's
/// reply may have gone to another program instead of this command.
fn same_host_silence(targets: &[SocketAddr], found: &[Node]) -> Vec<String> {
    targets
        .iter()
        .filter(|t| is_this_machine(t.ip()))
        .filter(|t| !found.iter().any(|n| n.from.ip() == t.ip() || IpAddr::V4(n.ip) == t.ip()))
        .map(|t| {
            format!(
                "no reply seen from {t}, an address of this machine: port 6454 is shared here (a running nightscape daemon or OLA may hold it too) and Linux hands a unicast reply to one of the sharing programs only, so a local node's reply can be invisible to this command; stop the other program for a moment or poll from another machine"
            )
        })
        .collect()
}

/// Whether `ip` is loopback or an address of this machine (a UDP socket
/// can be bound to it; nothing is sent).
fn is_this_machine(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

fn sorted(v: &[u16]) -> Vec<u16> {
    let s: BTreeSet<u16> = v.iter().copied().collect();
    s.into_iter().collect()
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// Where the site and the nodes disagree.
fn compare(sends: &Sends, nodes: &[Node]) -> Vec<String> {
    let all_sent: BTreeSet<u16> = sends.iter().flat_map(|(_, u)| u.iter().copied()).collect();
    let mut out = Vec::new();
    for n in nodes {
        let unsent: Vec<u16> = sorted(&n.outputs)
            .into_iter()
            .filter(|u| !all_sent.contains(u))
            .collect();
        if !unsent.is_empty() {
            out.push(format!(
                "node {} ({}) outputs universe {}, which the site does not send over Art-Net",
                n.ip,
                n.short_name,
                format_universes(&unsent)
            ));
        }
        let to_it: BTreeSet<u16> = sends
            .iter()
            .filter(|(t, _)| t.ip() == IpAddr::V4(n.ip))
            .flat_map(|(_, u)| u.iter().copied())
            .collect();
        let missing: Vec<u16> = to_it
            .iter()
            .copied()
            .filter(|u| !n.outputs.contains(u))
            .collect();
        // A multi-port node answers once per bind index; judge "missing"
        // over all its replies.
        let on_node: BTreeSet<u16> = nodes
            .iter()
            .filter(|m| m.ip == n.ip)
            .flat_map(|m| m.outputs.iter().copied())
            .collect();
        let missing: Vec<u16> = missing
            .into_iter()
            .filter(|u| !on_node.contains(u))
            .collect();
        if !missing.is_empty() && n.bind_index.unwrap_or(1) <= 1 {
            out.push(format!(
                "the site sends universe {} to {}, but the node does not output it",
                format_universes(&missing),
                n.ip
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(ip: [u8; 4], outputs: Vec<u16>) -> Node {
        Node {
            from: SocketAddr::from((ip, 6454)),
            ip: Ipv4Addr::from(ip),
            short_name: "n".into(),
            long_name: String::new(),
            node_report: String::new(),
            firmware: 0,
            oem: 0,
            mac: None,
            bind_index: Some(1),
            outputs,
            inputs: vec![],
        }
    }

    #[test]
    fn disagreements_are_named() {
        let sends: Sends = vec![("10.0.0.5:6454".parse().unwrap(), vec![0, 1, 2])];
        let nodes = [
            node([10, 0, 0, 5], vec![0, 1, 7]),
            node([10, 0, 0, 6], vec![2]),
        ];
        let w = compare(&sends, &nodes);
        assert_eq!(
            w,
            [
                "node 10.0.0.5 (n) outputs universe 7, which the site does not send over Art-Net",
                "the site sends universe 2 to 10.0.0.5, but the node does not output it",
            ]
        );
    }

    #[test]
    fn targets_and_timeouts_parse() {
        assert_eq!(
            parse_poll_target("10.0.0.1").unwrap(),
            "10.0.0.1:6454".parse().unwrap()
        );
        assert_eq!(parse_poll_target("10.0.0.1:7000").unwrap().port(), 7000);
        assert!(parse_poll_target("").is_err());
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_timeout("2m").is_err());
        assert!(parse_timeout("0s").is_err());
    }
}
