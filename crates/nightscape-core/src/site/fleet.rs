//! The fleet part of the site model: `[fleet]` (the MQTT broker all
//! controllers of a site share) and `[[nodes]]` (the controllers, each
//! with the address its operator API serves on).
//!
//! A city runs one site folder on many controllers; each output names the
//! node that sends it (`node = "bridge-2"` in `[[outputs]]`) and
//! `nightscape run --node bridge-2` sends only those. Parsing is pure and
//! located like every other section; credentials are never in the file,
//! only the names of the environment variables holding them.

use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use serde::Deserialize;
use std::net::SocketAddr;

/// The default MQTT topic root: topics are `<root>/<site>/…`.
pub const DEFAULT_TOPIC_ROOT: &str = "nightscape";

/// One controller of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    /// Where this node's operator API listens (`--listen` wins).
    pub api: Option<SocketAddr>,
}

/// How a node reaches the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// `mqtts://`: TLS (rustls, the system's root certificates).
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// `[fleet]`: the broker and how the site talks over it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    pub broker: BrokerUrl,
    /// Environment variable holding the MQTT user name, if the broker wants one.
    pub username_env: Option<String>,
    /// Environment variable holding the MQTT password.
    pub password_env: Option<String>,
    /// Topic root (`nightscape` unless set).
    pub topic_root: String,
    /// The site's name in topics (default: the site name, slugged).
    pub topic_site: String,
    /// Seconds between status messages.
    pub status_every: f64,
    /// Where alarms are POSTed as JSON, if anywhere (`http://` only).
    pub webhook: Option<String>,
}

/// `[fleet]`: the MQTT broker the site's controllers share.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    /// The broker: `mqtt://host[:port]` or `mqtts://host[:port]` (TLS).
    #[schemars(example = &"mqtt://10.0.4.2:1883", regex(pattern = r"^mqtts?://"))]
    broker: Spanned<String>,
    /// The name of the environment variable holding the MQTT user name
    /// (never the name itself).
    #[serde(default)]
    #[schemars(example = &"NIGHTSCAPE_MQTT_USER")]
    username_env: Option<Spanned<String>>,
    /// The name of the environment variable holding the MQTT password.
    #[serde(default)]
    #[schemars(example = &"NIGHTSCAPE_MQTT_PASSWORD")]
    password_env: Option<Spanned<String>>,
    /// The first topic level (default "nightscape").
    #[serde(default)]
    #[schemars(example = &"nightscape")]
    topic_root: Option<Spanned<String>>,
    /// The site's topic level (default: the site name, slugged).
    #[serde(default)]
    #[schemars(example = &"flower-axis")]
    topic_site: Option<Spanned<String>>,
    /// Time between status messages (a duration; default "2s").
    #[serde(default)]
    #[schemars(example = &"2s", regex(pattern = crate::units::DURATION_PATTERN))]
    status_every: Option<Spanned<String>>,
    /// Where alarms are POSTed as JSON (`http://` only).
    #[serde(default)]
    #[schemars(example = &"http://10.0.4.2:9000/alarms")]
    webhook: Option<Spanned<String>>,
}

/// One controller of the site (`[[nodes]]`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    /// The node's name, as outputs and `nightscape run --node` name it.
    #[schemars(example = &"bridge-2")]
    name: Spanned<String>,
    /// The node's operator API address.
    #[serde(default)]
    #[schemars(example = &"10.0.4.12:8080")]
    api: Option<Spanned<String>>,
}

/// A topic level may not hold MQTT's separators or wildcards.
fn topic_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The site name as a topic level: lower-case, runs of other characters
/// become one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "site".into()
    } else {
        out
    }
}

/// Parse `mqtt://host[:port]` or `mqtts://host[:port]`.
pub fn parse_broker(text: &str) -> Result<BrokerUrl, String> {
    let bad = || {
        format!("`{text}` is not a broker URL: write mqtt://host:1883 or mqtts://host:8883 (credentials go in username_env/password_env)")
    };
    let (tls, rest) = if let Some(r) = text.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = text.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') || rest.contains('/') || rest.is_empty() {
        return Err(bad());
    }
    let default_port = if tls { 8883 } else { 1883 };
    // [v6]:port, host:port or host.
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r.split_once(']').ok_or_else(bad)?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if p.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| bad())?),
            None => (rest.to_string(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(BrokerUrl { tls, host, port })
}

fn env_name(
    file: &SourceFile,
    v: &Option<Spanned<String>>,
    diags: &mut Diagnostics,
) -> Option<String> {
    let s = v.as_ref()?;
    let name = s.get_ref();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        diags.error(
            file,
            s.span(),
            format!("`{name}` is not an environment variable name (letters, digits and _): the secret itself never goes in the site file"),
        );
        return None;
    }
    Some(name.clone())
}

/// Compile `[fleet]`; `site_name` gives the default topic level.
pub(crate) fn compile_fleet(
    file: &SourceFile,
    raw: &Spanned<RawFleet>,
    site_name: &str,
    diags: &mut Diagnostics,
) -> Option<FleetSpec> {
    let r = raw.get_ref();
    let broker = parse_broker(r.broker.get_ref().trim())
        .map_err(|m| diags.error(file, r.broker.span(), m))
        .ok();
    let username_env = env_name(file, &r.username_env, diags);
    let password_env = env_name(file, &r.password_env, diags);
    if r.password_env.is_some() && r.username_env.is_none() {
        diags.error(
            file,
            raw.span(),
            "`password_env` needs `username_env` too (MQTT sends a password only with a user name)",
        );
    }
    let mut level = |v: &Option<Spanned<String>>, default: String, what: &str| match v {
        None => Some(default),
        Some(s) if topic_safe(s.get_ref()) => Some(s.get_ref().clone()),
        Some(s) => {
            diags.error(
                file,
                s.span(),
                format!(
                    "{what} `{}` must be letters, digits, - _ or . (no / + # or spaces)",
                    s.get_ref()
                ),
            );
            None
        }
    };
    let topic_root = level(&r.topic_root, DEFAULT_TOPIC_ROOT.into(), "topic_root");
    let topic_site = level(&r.topic_site, slug(site_name), "topic_site");
    let status_every = match &r.status_every {
        None => Some(2.0),
        Some(s) => match crate::units::parse_duration(s.get_ref()) {
            Ok(d) if (0.2..=300.0).contains(&d) => Some(d),
            Ok(_) => {
                diags.error(file, s.span(), "status_every must be 0.2s..300s");
                None
            }
            Err(m) => {
                diags.error(file, s.span(), m);
                None
            }
        },
    };
    let webhook = match &r.webhook {
        None => Some(None),
        Some(w) if w.get_ref().starts_with("http://") => Some(Some(w.get_ref().clone())),
        Some(w) => {
            diags.error(
                file,
                w.span(),
                format!(
                    "webhook `{}` must be an http:// URL (put a TLS proxy in front for https)",
                    w.get_ref()
                ),
            );
            None
        }
    };
    Some(FleetSpec {
        broker: broker?,
        username_env,
        password_env,
        topic_root: topic_root?,
        topic_site: topic_site?,
        status_every: status_every?,
        webhook: webhook?,
    })
}

/// Compile `[[nodes]]`: unique, topic-safe names and an optional API address.
pub(crate) fn compile_nodes(
    file: &SourceFile,
    raw: &[Spanned<RawNode>],
    diags: &mut Diagnostics,
) -> Vec<NodeSpec> {
    let mut nodes: Vec<NodeSpec> = Vec::new();
    for n in raw {
        let rn = n.get_ref();
        let name = rn.name.get_ref();
        if !topic_safe(name) {
            diags.error(
                file,
                rn.name.span(),
                format!("node name `{name}` must be letters, digits, - _ or . (it is an MQTT topic level)"),
            );
            continue;
        }
        if nodes.iter().any(|m| m.name == *name) {
            diags.error(
                file,
                rn.name.span(),
                format!("node `{name}` is defined twice"),
            );
            continue;
        }
        let api = match &rn.api {
            None => None,
            Some(a) => match a.get_ref().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    diags.error(
                        file,
                        a.span(),
                        format!(
                            "`{}` is not an address for the node's API: write ip:port, like \"10.0.4.12:8080\"",
                            a.get_ref()
                        ),
                    );
                    // Keep the node: outputs naming it are not errors too.
                    None
                }
            },
        };
        nodes.push(NodeSpec {
            name: name.clone(),
            api,
        });
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = parse_broker("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (false, "127.0.0.1", 1884));
        let b = parse_broker("mqtts://broker.city.example").unwrap();
        assert_eq!((b.tls, b.port), (true, 8883));
        assert_eq!(parse_broker("mqtt://[::1]:1883").unwrap().host, "::1");
        assert!(parse_broker("http://x").is_err());
        assert!(parse_broker("mqtt://user:pw@host").is_err());
        assert!(parse_broker("mqtt://host:0").is_err());
        assert!(parse_broker("mqtt://").is_err());
    }

    #[test]
    fn slugs_are_topic_levels() {
        assert_eq!(slug("Flower City Axis (demo)"), "flower-city-axis-demo");
        assert_eq!(slug("///"), "site");
        assert!(topic_safe(&slug("Ünïcode street")));
    }
}
