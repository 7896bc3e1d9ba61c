//! The fleet's MQTT topics and payloads, as pure data: what a command,
//! a status and an alarm message look like, and which of two versions of
//! a command wins.
//!
//! Commands are retained, one topic per item (`<root>/<site>/cmd/override/<uid>`,
//! `…/cmd/scene/<uid>`, `…/cmd/master/<target>`, `…/cmd/skip/<night>-<entry>`,
//! `…/cmd/mode/<night>`), so the broker holds the
//! city's whole control state and a node that (re)connects receives it
//! at once. Each message carries a `version` (a number that grows with
//! every change; nodes use nanoseconds since 1970) and its `origin`; the
//! higher `(version, origin)` wins, so every node ends with the same set
//! whatever order messages arrive in. Items carry absolute instants
//! (`created`, `expires`, `started`, `ends`), never durations, so every
//! node fades them at the same instants.

use super::{Action, Master, Override, Scene, OVERRIDE, SCENE};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Topic names under `<root>/<site>`.
#[derive(Debug, Clone)]
pub struct Topics {
    pub base: String,
}

impl Topics {
    pub fn new(root: &str, site: &str) -> Topics {
        Topics {
            base: format!("{root}/{site}"),
        }
    }
    pub fn cmd_all(&self) -> String {
        format!("{}/cmd/#", self.base)
    }
    pub fn cmd(&self, kind: Kind, key: &str) -> String {
        format!("{}/cmd/{}/{}", self.base, kind.as_str(), key)
    }
    pub fn status(&self, node: &str) -> String {
        format!("{}/status/{node}", self.base)
    }
    pub fn status_all(&self) -> String {
        format!("{}/status/+", self.base)
    }
    pub fn energy(&self, node: &str) -> String {
        format!("{}/energy/{node}", self.base)
    }
    pub fn energy_all(&self) -> String {
        format!("{}/energy/+", self.base)
    }
    pub fn alarms(&self, node: &str) -> String {
        format!("{}/alarms/{node}", self.base)
    }
    pub fn ping(&self, node: &str) -> String {
        format!("{}/ping/{node}", self.base)
    }
    /// Clock probes to `node` and its answers to others' probes.
    pub fn probe(&self, node: &str) -> String {
        format!("{}/probe/{node}", self.base)
    }
    pub fn alarms_all(&self) -> String {
        format!("{}/alarms/+", self.base)
    }

    /// What a topic under the base is: `(section, rest)`, e.g.
    /// `("cmd", "override/a-1")` or `("status", "bridge-2")`.
    pub fn split<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        rest.split_once('/')
    }
}

/// What a command topic holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Override,
    Scene,
    Master,
    /// A schedule entry skipped for one night (`…/cmd/skip/<night>-<entry>`).
    Skip,
    /// A night's forced mode (`…/cmd/mode/<night>`).
    Mode,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Override => "override",
            Kind::Scene => "scene",
            Kind::Master => "master",
            Kind::Skip => "skip",
            Kind::Mode => "mode",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "override" => Some(Kind::Override),
            "scene" => Some(Kind::Scene),
            "master" => Some(Kind::Master),
            "skip" => Some(Kind::Skip),
            "mode" => Some(Kind::Mode),
            _ => None,
        }
    }
}

/// A master's topic key: its target with everything but `[A-Za-z0-9-_.]`
/// written as `%XX` (`*` → `%2A`), so a glob is a plain topic level.
pub fn master_key(target: &str) -> String {
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which of two versions wins: the higher version, ties by origin name.
pub fn newer(a: (u64, &str), b: (u64, &str)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

fn default_override_priority() -> i32 {
    OVERRIDE
}
fn default_scene_priority() -> i32 {
    SCENE
}
fn default_author() -> String {
    "mqtt".into()
}

/// An override as it travels (the local row id is not part of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireOverride {
    pub target: String,
    pub action: Action,
    #[serde(default = "default_override_priority")]
    pub priority: i32,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fade: f64,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default = "default_author")]
    pub author: String,
}

impl WireOverride {
    pub fn from_override(o: &Override) -> WireOverride {
        WireOverride {
            target: o.target.clone(),
            action: o.action.clone(),
            priority: o.priority,
            created: o.created,
            expires: o.expires,
            fade: o.fade,
            note: o.note.clone(),
            author: o.author.clone(),
        }
    }
    pub fn to_override(&self) -> Override {
        Override {
            id: 0,
            target: self.target.clone(),
            action: self.action.clone(),
            priority: self.priority,
            created: self.created,
            expires: self.expires,
            fade: self.fade,
            note: self.note.clone(),
            author: self.author.clone(),
        }
    }
}

/// A scene as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireScene {
    pub show: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "default_scene_priority")]
    pub priority: i32,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    #[serde(default)]
    pub fade: Option<f64>,
    #[serde(default = "default_author")]
    pub author: String,
}

impl WireScene {
    pub fn from_scene(s: &Scene) -> WireScene {
        WireScene {
            show: s.show.clone(),
            target: s.target.clone(),
            priority: s.priority,
            started: s.started,
            ends: s.ends,
            fade: s.fade,
            author: s.author.clone(),
        }
    }
    pub fn to_scene(&self) -> Scene {
        Scene {
            id: 0,
            show: self.show.clone(),
            target: self.target.clone(),
            priority: self.priority,
            started: self.started,
            ends: self.ends,
            fade: self.fade,
            author: self.author.clone(),
        }
    }
}

/// A skip's topic key: its night and entry index (one slot, whichever
/// node skipped it).
pub fn skip_key(night: NaiveDate, entry: usize) -> String {
    format!("{night}-{entry}")
}

/// A forced mode's topic key: its night (one force per night).
pub fn mode_key(night: NaiveDate) -> String {
    night.to_string()
}

/// A schedule entry skipped for one night, as it travels: the entry by
/// its index and its show, so a node whose schedule differs refuses it.
/// Undone when the command's `released` is set (a tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSkip {
    pub night: NaiveDate,
    pub entry: usize,
    pub show: String,
    pub created: DateTime<Utc>,
    #[serde(default = "default_author")]
    pub author: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// A night's forced mode, as it travels; undone when the command's
/// `released` is set (a tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMode {
    pub night: NaiveDate,
    pub mode: String,
    pub created: DateTime<Utc>,
    #[serde(default = "default_author")]
    pub author: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// One retained command message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub version: u64,
    #[serde(default = "default_author")]
    pub origin: String,
    /// When an operator released the item (it then fades out to its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "override")]
    pub override_: Option<WireOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<WireScene>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<Master>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<WireSkip>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WireMode>,
}

impl Command {
    /// Parse a payload for a topic of `kind`: the matching body must be there.
    pub fn parse(kind: Kind, payload: &[u8]) -> Result<Command, String> {
        let c: Command = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        let ok = match kind {
            Kind::Override => c.override_.is_some(),
            Kind::Scene => c.scene.is_some(),
            Kind::Master => c.master.is_some(),
            Kind::Skip => c.skip.is_some(),
            Kind::Mode => c.mode.is_some(),
        };
        if !ok {
            return Err(format!(
                "a {} command needs an `{}` object",
                kind.as_str(),
                kind.as_str()
            ));
        }
        Ok(c)
    }

    /// The instant after which the item has no effect (masters: never).
    pub fn ends(&self) -> Option<DateTime<Utc>> {
        if let Some(o) = &self.override_ {
            return o.expires;
        }
        self.scene.as_ref().map(|s| s.ends)
    }
}

/// A signed command message: the command's JSON exactly as signed (a
/// string, so no one has to reproduce a canonical form), who signed it,
/// and the ed25519 signature (base64) over [`signed_bytes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub body: String,
    pub signer: String,
    pub signature: String,
}

impl Signed {
    /// The envelope in `payload`, if it is one.
    pub fn parse(payload: &[u8]) -> Option<Signed> {
        serde_json::from_slice(payload).ok()
    }
}

/// What a command's signature covers: its topic, a zero byte, its body.
/// Binding the topic keeps a signed command from being moved to another
/// item's topic.
pub fn signed_bytes(topic: &str, body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(topic.len() + 1 + body.len());
    out.extend_from_slice(topic.as_bytes());
    out.push(0);
    out.extend_from_slice(body.as_bytes());
    out
}

/// One output's health as a node reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStatus {
    pub kind: OutputKind,
    pub target: String,
    pub state: OutputState,
    #[serde(default)]
    pub universes: Vec<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// How an output is doing, as the daemon's output health names it
/// (`"ok"`, `"degraded"`, `"down"`). A name this build does not know (a
/// newer peer's) reads as `unknown` rather than dropping the peer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputState {
    Ok,
    Degraded,
    Down,
    #[serde(other)]
    Unknown,
}

/// Which protocol or widget an output speaks, as in the site file's `kind`
/// (`"artnet"`, `"sacn"`, `"enttec-pro"`, `"open-dmx"`); a newer peer's
/// unknown kind reads as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    Artnet,
    Sacn,
    EnttecPro,
    OpenDmx,
    #[serde(other)]
    Unknown,
}

impl OutputState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputState::Ok => "ok",
            OutputState::Degraded => "degraded",
            OutputState::Down => "down",
            OutputState::Unknown => "unknown",
        }
    }
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Artnet => "artnet",
            OutputKind::Sacn => "sacn",
            OutputKind::EnttecPro => "enttec-pro",
            OutputKind::OpenDmx => "open-dmx",
            OutputKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for OutputState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's periodic status (retained; the last will is the same with
/// `online = false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub node: String,
    pub online: bool,
    /// The node's render clock when it sent this.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub config_hash: Option<String>,
    /// Its last broker round trip (ms).
    #[serde(default)]
    pub rtt_ms: Option<f64>,
    /// Chrony/NTP state where the node could read it.
    #[serde(default)]
    pub ntp: Option<String>,
    #[serde(default)]
    pub playing: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<OutputStatus>,
    #[serde(default)]
    pub power_w: Option<f64>,
    #[serde(default)]
    pub tonight_kwh: Option<f64>,
    #[serde(default)]
    pub fps: u32,
    /// The last time this node lost the broker, and for how long (s).
    #[serde(default)]
    pub last_gap: Option<Gap>,
    /// Its estimate of each peer's clock minus its own (ms), from probes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub offsets_ms: std::collections::BTreeMap<String, f64>,
}

/// A period without the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: f64,
}

/// `…/energy/<node>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    pub node: String,
    pub at: DateTime<Utc>,
    pub power_w: Option<f64>,
    pub tonight_kwh: Option<f64>,
}

/// A clock probe (NTP's exchange over the broker): `from` sends `t1` (its
/// clock) to `…/probe/<peer>`; the peer answers on `…/probe/<from>` with
/// `t2` (its clock on receipt) and `t3` (on sending); `from` notes `t4` on
/// receipt. Never retained: a probe is only worth anything fresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub from: String,
    pub nonce: u64,
    pub t1: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t2: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t3: Option<DateTime<Utc>>,
}

fn ms(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (a - b).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// The peer's clock minus ours and the round trip spent on the wire (ms),
/// from one probe: offset `((t2 − t1) + (t3 − t4)) / 2`, delay
/// `(t4 − t1) − (t3 − t2)`. The offset's error is at most half the delay.
pub fn probe_offset(
    t1: DateTime<Utc>,
    t2: DateTime<Utc>,
    t3: DateTime<Utc>,
    t4: DateTime<Utc>,
) -> (f64, f64) {
    ((ms(t2, t1) + ms(t3, t4)) / 2.0, ms(t4, t1) - ms(t3, t2))
}

/// An offset from several probes `(offset, delay)`: the median offset of
/// the third with the shortest delays (at least three samples; fewer give
/// no estimate), and its error bound: half the longest delay among them
/// (a probe's offset is off by at most half its delay). A probe held up in
/// a queue has a long delay and a skewed offset; the median of the fast
/// ones ignores it.
pub fn estimate_offset(samples: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut s: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(o, d)| o.is_finite() && d.is_finite() && *d >= 0.0)
        .collect();
    if s.len() < 3 {
        return None;
    }
    s.sort_by(|a, b| a.1.total_cmp(&b.1));
    s.truncate(s.len().div_ceil(3).max(3));
    let error = s.last().map_or(0.0, |x| x.1 / 2.0);
    let mut o: Vec<f64> = s.iter().map(|x| x.0).collect();
    o.sort_by(f64::total_cmp);
    let n = o.len();
    let median = if n % 2 == 1 {
        o[n / 2]
    } else {
        (o[n / 2 - 1] + o[n / 2]) / 2.0
    };
    Some((median, error))
}

/// A clock offset estimate from a status message: the sender's clock at
/// sending, corrected by half of each side's broker round trip, minus the
/// receiver's clock at receipt. Positive: the sender is ahead (ms).
pub fn clock_offset_ms(
    sent_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    sender_rtt_ms: f64,
    own_rtt_ms: f64,
) -> f64 {
    let raw = (sent_at - received_at)
        .num_microseconds()
        .unwrap_or(i64::MAX) as f64
        / 1000.0;
    raw + (sender_rtt_ms.max(0.0) + own_rtt_ms.max(0.0)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_client_command_parses_with_defaults() {
        let c = Command::parse(
            Kind::Override,
            br##"{"version": 5, "override": {"target": "*", "action": {"color": "#ff0000"}, "created": "2026-12-31T12:00:00Z"}}"##,
        )
        .unwrap();
        let o = c.override_.unwrap();
        assert_eq!(o.priority, OVERRIDE);
        assert_eq!(o.author, "mqtt");
        assert_eq!(o.action, Action::Color("#ff0000".into()));
        assert!(Command::parse(Kind::Scene, br#"{"version": 1}"#).is_err());
        assert!(Command::parse(Kind::Scene, b"not json").is_err());
    }

    #[test]
    fn versions_order_by_number_then_origin() {
        assert!(newer((2, "a"), (1, "z")));
        assert!(newer((2, "b"), (2, "a")));
        assert!(!newer((2, "a"), (2, "a")));
    }

    #[test]
    fn topics_round_trip() {
        let t = Topics::new("nightscape", "axis");
        assert_eq!(
            t.cmd(Kind::Master, &master_key("*")),
            "nightscape/axis/cmd/master/%2A"
        );
        assert_eq!(
            t.split("nightscape/axis/cmd/override/x-1"),
            Some(("cmd", "override/x-1"))
        );
        assert_eq!(t.split("nightscape/other/status/a"), None);
    }

    #[test]
    fn probes_give_offset_and_delay_and_the_median_ignores_slow_ones() {
        let t = DateTime::parse_from_rfc3339("2026-12-31T12:00:00Z")
            .unwrap()
            .to_utc();
        let d = |ms: i64| chrono::Duration::milliseconds(ms);
        // The peer is 5 ms ahead; 1 ms each way, 2 ms to answer.
        let (o, delay) = probe_offset(t, t + d(6), t + d(8), t + d(4));
        assert!((o - 5.0).abs() < 1e-9 && (delay - 2.0).abs() < 1e-9);
        assert_eq!(estimate_offset(&[(1.0, 1.0), (2.0, 1.0)]), None);
        let samples = [
            (5.0, 1.0),
            (5.2, 1.2),
            (4.9, 0.9),
            (-900.0, 1800.0),
            (300.0, 600.0),
            (5.1, 1.1),
        ];
        let (e, err) = estimate_offset(&samples).unwrap();
        assert!((e - 5.0).abs() < 1e-9, "{e}");
        assert!((err - 0.55).abs() < 1e-9, "{err}");
    }

    #[test]
    fn offsets_correct_for_the_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-12-31T12:00:00Z")
            .unwrap()
            .to_utc();
        let off = clock_offset_ms(t, t + chrono::Duration::milliseconds(3), 2.0, 4.0);
        assert!((off - 0.0).abs() < 1e-9);
    }
}
