//! Numbers and addresses as a site file writes them: universe lists
//! (`3`, `"0-9"`, `"0-3,8,10-11"`, `[0, 1, 2]`) and network targets (an
//! IPv4 address with an optional port, or a host name kept as a name:
//! loading a site never waits on a resolver). Outputs, inputs, `[artnet]`
//! and `[rdm]` read them alike.

use super::MAX_UNIVERSE;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// A universe list: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(super) enum UniverseList {
    One(#[schemars(range(min = 0, max = 32767))] i64),
    Text(
        #[schemars(regex(
            pattern = r"^\s*[0-9]+(\s*-\s*[0-9]+)?(\s*,\s*[0-9]+(\s*-\s*[0-9]+)?)*\s*$"
        ))]
        String,
    ),
    List(Vec<i64>),
}

/// Parse a universe list: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
pub(super) fn parse_universes(list: &UniverseList) -> Result<Vec<u16>, String> {
    let check = |v: i64| -> Result<u16, String> {
        if (0..=MAX_UNIVERSE as i64).contains(&v) {
            Ok(v as u16)
        } else {
            Err(format!(
                "universe {v} is out of range: universes are 0..{MAX_UNIVERSE}"
            ))
        }
    };
    let mut out = BTreeSet::new();
    match list {
        UniverseList::One(v) => {
            out.insert(check(*v)?);
        }
        UniverseList::List(vs) => {
            for v in vs {
                out.insert(check(*v)?);
            }
        }
        UniverseList::Text(t) => {
            for part in t.split(',') {
                let part = part.trim();
                let bad =
                    || format!("`{part}` is not a universe or range: write \"0-9\" or \"0,2,4\"");
                if let Some((a, b)) = part.split_once('-') {
                    let a = check(a.trim().parse().map_err(|_| bad())?)?;
                    let b = check(b.trim().parse().map_err(|_| bad())?)?;
                    if a > b {
                        return Err(format!("range `{part}` runs backwards"));
                    }
                    out.extend(a..=b);
                } else {
                    out.insert(check(part.parse().map_err(|_| bad())?)?);
                }
            }
        }
    }
    if out.is_empty() {
        return Err("an output needs at least one universe".into());
    }
    Ok(out.into_iter().collect())
}

/// A target as written: an IPv4 address, or a host name to resolve when
/// the output opens; each with its port.
pub(super) enum Target {
    Ip(SocketAddr),
    Host(String, u16),
}

/// Whether `name` is a host name (RFC 1123 labels: letters, digits and
/// hyphens, 1–63 characters, no hyphen at either end; at most 253 in all;
/// the last label not all digits, so a mistyped IP such as `10.0.4.256`
/// is not taken for a name).
fn is_host_name(name: &str) -> bool {
    let labels: Vec<&str> = name.strip_suffix('.').unwrap_or(name).split('.').collect();
    name.len() <= 253
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

/// An output's target: an IPv4 address or a host name, with an optional
/// port. Nothing is looked up here.
pub(super) fn parse_target_or_host(text: &str, default_port: u16) -> Result<Target, String> {
    if let Ok(a) = parse_target(text, default_port) {
        return Ok(Target::Ip(a));
    }
    let t = text.trim();
    let (name, port) = match t.rsplit_once(':') {
        Some((name, p)) => match p.parse::<u16>() {
            Ok(p) if p > 0 => (name, p),
            _ => {
                return Err(format!(
                    "`{text}`: the port after `:` must be a number 1..65535"
                ))
            }
        },
        None => (t, default_port),
    };
    if is_host_name(name) {
        Ok(Target::Host(name.to_ascii_lowercase(), port))
    } else {
        Err(format!("`{text}` is neither an IPv4 address nor a host name: write an IP like \"10.0.4.20\" or \"127.0.0.1:6454\", or a name like \"node-3.city.lan\" (looked up when the output opens)"))
    }
}

/// An IPv4 address with an optional port (for `sync_to`, and the first
/// try for a target).
pub(super) fn parse_target(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let t = text.trim();
    let with_port = if t.parse::<SocketAddr>().is_ok()
        || t.rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        t.to_string()
    } else {
        format!("{t}:{default_port}")
    };
    // IP literals only: a host name would need the resolver, which may
    // block for seconds, and loading a site is pure (check and hot reload
    // must never wait on the network).
    with_port
        .parse::<SocketAddr>()
        .ok()
        .filter(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("`{text}` is not an IPv4 address: write an IP like \"10.0.4.20\" or \"127.0.0.1:6454\""))
}

/// "0-3, 7, 9-10": a sorted universe list, compact, for messages.
pub fn format_universes(list: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        let mut end = start;
        while i + 1 < list.len() && list[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = list[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}
