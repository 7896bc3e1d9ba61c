//! The fleet part of the site model: `[fleet]` (the MQTT broker all
//! controllers of a site share) and `[[nodes]]` (the controllers, each
//! with the address its operator API serves on).
//!
//! A city runs one site folder on many controllers; each output names the
//! node that sends it (`node = "bridge-2"` in `[[outputs]]`) and
//! `nightscape run --node bridge-2` sends only those. Parsing is pure and
//! located like every other section; credentials are never in the file,
//! only the names of the environment variables holding them. Public keys
//! are (`[[nodes]] key`, `[fleet] signers`): when any node lists one,
//! commands on the broker must be signed (ed25519) by a listed key.

use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use serde::Deserialize;
use std::net::SocketAddr;

/// The default MQTT topic root: topics are `<root>/<site>/…`.
pub(crate) const DEFAULT_TOPIC_ROOT: &str = "nightscape";

/// One controller of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    /// Where this node's operator API listens (`--listen` wins).
    pub api: Option<SocketAddr>,
    /// Its ed25519 public key (`nightscape fleet key` prints it).
    pub key: Option<PublicKey>,
    /// The nodes whose outputs this one sends while they are silent
    /// (`standby_for = ["a"]`); several standbys of one node: the lowest
    /// name alive covers it.
    pub standby_for: Vec<String>,
}

/// An ed25519 public key, written `ed25519:<base64 of its 32 bytes>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub(crate) fn parse(text: &str) -> Result<PublicKey, String> {
        let bad = || {
            format!("`{text}` is not a key: write \"ed25519:<base64>\" as `nightscape fleet key` prints it")
        };
        let b64 = text.trim().strip_prefix("ed25519:").ok_or_else(bad)?;
        let bytes = base64_decode(b64).ok_or_else(bad)?;
        Ok(PublicKey(bytes.try_into().map_err(|_| bad())?))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519:{}", base64_encode(&self.0))
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), for keys and signatures.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); None on anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=');
    if t.len() % 4 == 1 || text.len() - t.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in t.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A signer other than the nodes (`[fleet] signers`): a city platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSpec {
    pub name: String,
    pub key: PublicKey,
    /// The targets it may command (exactly as written in a command; `*`
    /// the whole site); None: any.
    pub targets: Option<Vec<String>>,
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
    /// Who else may sign commands (`[fleet] signers`).
    pub signers: Vec<SignerSpec>,
    /// A PEM file of the certificate authorities to trust for `mqtts://`
    /// instead of the system's (a path written relative to the site
    /// folder is joined to it here; nothing is read).
    pub ca_file: Option<std::path::PathBuf>,
    /// How far apart (ms) the nodes' clocks may be before `clock_drift`.
    pub max_offset_ms: f64,
    /// Whether a node whose clock is not synchronised holds the schedule
    /// (default: on).
    pub require_synced_clock: bool,
    /// What a node with an unsynchronised clock plays while it holds
    /// (None: the last look it showed).
    pub unsynced_show: Option<String>,
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
    /// Who besides the nodes may sign commands: a name, its ed25519 public
    /// key and optionally the targets it may command.
    #[serde(default)]
    #[schemars(example = &signers_example())]
    signers: Vec<Spanned<RawSigner>>,
    /// A PEM file of certificate authorities to trust for `mqtts://`
    /// (relative to the site folder); without it, the system's roots.
    #[serde(default)]
    #[schemars(example = &"certs/broker-ca.pem")]
    ca_file: Option<Spanned<String>>,
    /// How far apart the nodes' clocks may be (a duration; default "20ms")
    /// before `clock_drift` is raised.
    #[serde(default)]
    #[schemars(example = &"20ms", regex(pattern = crate::units::DURATION_PATTERN))]
    max_offset: Option<Spanned<String>>,
    /// Whether a node whose clock is not synchronised (NTP) holds the
    /// schedule instead of playing it on its own guess (default true).
    #[serde(default)]
    #[schemars(example = &true)]
    require_synced_clock: Option<bool>,
    /// The show a node with an unsynchronised clock plays while it holds
    /// (default: it holds the last look it showed).
    #[serde(default)]
    #[schemars(example = &"evening")]
    unsynced_show: Option<Spanned<String>>,
}

fn signers_example() -> serde_json::Value {
    serde_json::json!([{
        "name": "city",
        "key": "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "targets": ["tower-crown"]
    }])
}

/// One signer of commands (`[fleet] signers = [{ name, key, targets }]`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigner {
    /// The name commands carry as their `signer`.
    #[schemars(example = &"city")]
    name: Spanned<String>,
    /// Its public key, `ed25519:<base64>`.
    #[schemars(example = &"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")]
    key: Spanned<String>,
    /// The targets it may command (as written in commands; `*` is the
    /// whole site); without it, any target.
    #[serde(default)]
    #[schemars(example = &vec!["tower-crown".to_string()])]
    targets: Option<Vec<String>>,
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
    /// The node's ed25519 public key (`nightscape fleet key --state DIR`
    /// prints it). When any node has one, commands must be signed.
    #[serde(default)]
    #[schemars(example = &"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")]
    key: Option<Spanned<String>>,
    /// The nodes whose outputs this node sends while they are silent (a
    /// standby); several standbys of one node: the lowest name alive covers it.
    #[serde(default)]
    #[schemars(example = &vec!["a".to_string()])]
    standby_for: Vec<Spanned<String>>,
}

/// A topic level may not hold MQTT's separators or wildcards.
fn topic_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The site name as a topic level: lower-case, runs of other characters
/// become one `-`.
pub(crate) fn slug(name: &str) -> String {
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
pub(crate) fn parse_broker(text: &str) -> Result<BrokerUrl, String> {
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
    let mut signers: Vec<SignerSpec> = Vec::new();
    for sg in &r.signers {
        let g = sg.get_ref();
        let name = g.name.get_ref();
        if !topic_safe(name) || signers.iter().any(|x| x.name == *name) {
            diags.error(
                file,
                g.name.span(),
                format!("signer `{name}` must be a unique name of letters, digits, - _ or ."),
            );
            continue;
        }
        match PublicKey::parse(g.key.get_ref()) {
            Ok(key) => signers.push(SignerSpec {
                name: name.clone(),
                key,
                targets: g.targets.clone(),
            }),
            Err(m) => diags.error(file, g.key.span(), m),
        }
    }
    let ca_file = match &r.ca_file {
        None => Some(None),
        Some(c) if !c.get_ref().trim().is_empty() => {
            let written = std::path::Path::new(c.get_ref().trim());
            let folder = file.path.parent().unwrap_or(std::path::Path::new(""));
            Some(Some(folder.join(written)))
        }
        Some(c) => {
            diags.error(
                file,
                c.span(),
                "ca_file is empty: name a PEM file of certificate authorities",
            );
            None
        }
    };
    if let (Some(c), Some(b)) = (&r.ca_file, &broker) {
        if !b.tls {
            diags.warn(
                file,
                c.span(),
                "ca_file is read only for an mqtts:// broker; this broker is mqtt:// (plain)",
            );
        }
    }
    let max_offset_ms = match &r.max_offset {
        None => Some(20.0),
        Some(s) => match crate::units::parse_duration(s.get_ref()) {
            Ok(d) if d > 0.0 && d <= 60.0 => Some(d * 1000.0),
            Ok(_) => {
                diags.error(
                    file,
                    s.span(),
                    "max_offset must be more than 0s and at most 60s",
                );
                None
            }
            Err(m) => {
                diags.error(file, s.span(), m);
                None
            }
        },
    };
    Some(FleetSpec {
        ca_file: ca_file?,
        max_offset_ms: max_offset_ms?,
        require_synced_clock: r.require_synced_clock.unwrap_or(true),
        unsynced_show: r.unsynced_show.as_ref().map(|s| s.get_ref().clone()),
        signers,
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
        let key = match &rn.key {
            None => None,
            Some(k) => match PublicKey::parse(k.get_ref()) {
                Ok(k) => Some(k),
                Err(m) => {
                    diags.error(file, k.span(), m);
                    None
                }
            },
        };
        nodes.push(NodeSpec {
            name: name.clone(),
            api,
            key,
            standby_for: Vec::new(),
        });
    }
    // Standbys name nodes of the site, never themselves.
    for n in raw {
        let rn = n.get_ref();
        let name = rn.name.get_ref();
        let mut covers: Vec<String> = Vec::new();
        for c in &rn.standby_for {
            let who = c.get_ref();
            if who == name {
                diags.error(
                    file,
                    c.span(),
                    format!("node `{name}` cannot stand by for itself"),
                );
            } else if !nodes.iter().any(|m| m.name == *who) {
                let names: Vec<&str> = nodes.iter().map(|m| m.name.as_str()).collect();
                diags.error(
                    file,
                    c.span(),
                    format!(
                        "standby_for: the site has no node `{who}` (it has: {})",
                        names.join(", ")
                    ),
                );
            } else if !covers.contains(who) {
                covers.push(who.clone());
            }
        }
        if let Some(spec) = nodes.iter_mut().find(|m| m.name == *name) {
            if spec.standby_for.is_empty() {
                spec.standby_for = covers;
            }
        }
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
    fn keys_round_trip_through_base64() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        let k = PublicKey([7; 32]);
        assert_eq!(PublicKey::parse(&k.to_string()).unwrap(), k);
        assert!(PublicKey::parse("ed25519:Zm8=").is_err());
        assert!(PublicKey::parse("rsa:AAAA").is_err());
        assert!(base64_decode("a$bc").is_none());
    }

    #[test]
    fn slugs_are_topic_levels() {
        assert_eq!(slug("Flower City Axis (demo)"), "flower-city-axis-demo");
        assert_eq!(slug("///"), "site");
        assert!(topic_safe(&slug("Ünïcode street")));
    }
}
