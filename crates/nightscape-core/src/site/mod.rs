//! The site: where the lights are and how they are wired.
//!
//! `shows/site.toml` names the place (latitude, longitude, timezone), the
//! frame rate, the outputs, the paths, the arrays and hand-placed fixtures
//! (the patch) and the groups. Loading turns it into a [`Site`]: every
//! fixture with its profile mode, DMX address and plan position, every
//! pixel cell with its own position, and groups resolved to fixture lists.
//! Sections owned by other concepts (`schedule`, `modes`, `api`, `curfew`,
//! `energy`) are parsed by their own modules from the same file.

pub mod fleet;
pub mod geometry;
pub mod glob;
pub mod inputs;
pub mod rdm;
pub mod surface;
pub mod triggers;

use crate::diag::Spanned;
use crate::diag::{Diagnostics, Severity, SourceFile};
use crate::fixture::{self, Profile};
use geometry::{heading_vector, Polyline};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub const UNIVERSE_SIZE: usize = 512;

const NOT_FINITE: &str =
    "positions, offsets, headings and distances must be finite numbers (not nan or inf)";
/// Art-Net's 15-bit Port-Address space bounds site universe numbers.
pub const MAX_UNIVERSE: u16 = 32767;

/// One patched luminaire.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub profile: usize,
    pub mode: usize,
    pub universe: u16,
    /// 1-based DMX start address.
    pub address: u16,
    /// Index of `universe` in [`Site::universes`].
    pub universe_index: u32,
    pub position: [f64; 2],
    /// Distance along the path of an array fixture (metres).
    pub path_distance: Option<f64>,
    pub first_cell: u32,
    pub cell_count: u16,
}

/// One independently coloured light: a whole fixture, or one pixel of a bar.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub fixture: u32,
    pub position: [f32; 2],
    /// Distance along the fixture's path, if it came from an array.
    pub path_distance: f32,
}

/// Where frames go. The wire details live in `crate::output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    pub kind: OutputKind,
    /// Site universes this output carries, sorted.
    pub universes: Vec<u16>,
    /// The universe number on the wire for each entry of `universes`, in the
    /// same order: the same numbers unless the output has a `remap` or a
    /// `wire_offset` (Art-Net Port-Address, sACN universe; unused by the
    /// serial widgets, which carry one universe without a number).
    pub wire: Vec<u16>,
    /// The `[[nodes]]` entry that sends this output (`None` in a site
    /// without nodes, where the one controller sends everything).
    pub node: Option<String>,
    /// Network outputs: the local address to send from (`bind`), so
    /// traffic leaves on the lighting network.
    pub bind: Option<std::net::IpAddr>,
    /// Network outputs: the interface to send on (`interface = "eth1"`).
    pub interface: Option<String>,
    /// sACN: send stream-termination packets on stop (the default);
    /// `shutdown = "hold"` on the output leaves the stream to time out.
    pub terminate_on_stop: bool,
    /// Art-Net with `sync = true`: where ArtSync goes (`sync_to`): `None`
    /// to the target itself; else an address, e.g. the directed broadcast
    /// of the nodes' subnet, as Art-Net 4's strategy asks when ArtDmx is
    /// unicast to several nodes that must switch together.
    pub artsync_to: Option<SocketAddr>,
    /// Network outputs whose `target` is a host name (`node-3.city.lan`,
    /// `localhost`): the name. Loading a site never looks it up (check and
    /// hot reload must not wait on a resolver); the output resolves it when
    /// it opens and again after a send fails. Until then the kind's target
    /// address is the unspecified address with the port.
    pub host: Option<String>,
    /// Ask this output's DMX line for its fixtures over RDM (`rdm = true`;
    /// Art-Net and ENTTEC DMX USB Pro only, see [`rdm`]).
    pub rdm: bool,
}

/// The directed broadcast of `ip`'s network for ArtSync: the Art-Net
/// convention's /8 for 2.x and 10.x, /24 otherwise (write the address
/// itself for any other mask).
pub fn artnet_broadcast(ip: std::net::Ipv4Addr) -> std::net::Ipv4Addr {
    let o = ip.octets();
    if o[0] == 2 || o[0] == 10 {
        std::net::Ipv4Addr::new(o[0], 255, 255, 255)
    } else {
        std::net::Ipv4Addr::new(o[0], o[1], o[2], 255)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    ArtNet {
        target: SocketAddr,
        sync: bool,
        /// Send a universe only when its data changed, and at least once a
        /// second (`only_changed = true`); default: every universe, every frame.
        only_changed: bool,
    },
    Sacn {
        target: SacnTarget,
        priority: u8,
        /// The universe sync packets go to; `Some` when `sync = true`.
        sync_address: Option<u16>,
        /// Source name on the wire; `None` means "nightscape <site name>".
        source_name: Option<String>,
        /// Send a universe only when its data changed (three repeats after
        /// a change, then a keep-alive about every 0.9 s, as E1.31 section
        /// 6.6.2 asks); default: every universe, every frame.
        only_changed: bool,
    },
    EnttecPro {
        port: String,
    },
    OpenDmx {
        port: String,
    },
}

/// Where an sACN output sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SacnTarget {
    /// One receiver (or a directed broadcast), port 5568 unless given.
    Unicast(SocketAddr),
    /// Each universe to its group 239.255.hi.lo:5568 (E1.31 section 9.3.1).
    Multicast,
}

impl std::fmt::Display for SacnTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SacnTarget::Unicast(a) => write!(f, "{a}"),
            SacnTarget::Multicast => f.write_str("multicast"),
        }
    }
}

impl OutputKind {
    pub fn name(&self) -> &'static str {
        match self {
            OutputKind::ArtNet { .. } => "artnet",
            OutputKind::Sacn { .. } => "sacn",
            OutputKind::EnttecPro { .. } => "enttec-pro",
            OutputKind::OpenDmx { .. } => "open-dmx",
        }
    }
}

/// What the daemon leaves on the wire when it stops (`shutdown` in the
/// site file): hold the last frame (the default: a service restart must
/// not blink a street dark), black out, or a named show's look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnStop {
    Hold,
    Blackout,
    Show(String),
}

/// `[artnet]`: the daemon's own Art-Net socket, which answers ArtPoll
/// (so consoles and DMX-Workshop see the controller) and polls the
/// outputs' nodes to know they are alive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtNetService {
    /// Where the socket listens (default 0.0.0.0:6454, shared with
    /// SO_REUSEADDR).
    pub listen: SocketAddr,
    /// Seconds between polls (the spec asks 2.5–3 s); 0 = no polling.
    pub poll_every: f64,
    /// Answer ArtPoll with ArtPollReply.
    pub answer: bool,
}

impl Default for ArtNetService {
    fn default() -> Self {
        ArtNetService {
            listen: SocketAddr::from(([0, 0, 0, 0], 6454)),
            poll_every: 2.75,
            answer: true,
        }
    }
}

/// `[artnet]`: the daemon's own Art-Net socket (answers ArtPoll, polls
/// the outputs' nodes).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawArtNetService {
    /// Where the socket listens (default "0.0.0.0:6454", shared with SO_REUSEADDR).
    #[serde(default)]
    #[schemars(example = &"10.0.4.1:6454")]
    listen: Option<Spanned<String>>,
    /// Time between ArtPolls to the outputs' nodes: "0s" (off) or 0.5s..60s
    /// (default "2.75s"; the spec asks 2.5..3 s).
    #[serde(default)]
    #[schemars(example = &"2.75s", regex(pattern = crate::units::DURATION_PATTERN))]
    poll_every: Option<Spanned<String>>,
    /// Answer ArtPoll with ArtPollReply (default true).
    #[serde(default)]
    #[schemars(example = false)]
    answer: Option<bool>,
}

fn compile_artnet_service(
    file: &SourceFile,
    raw: Option<&Spanned<RawArtNetService>>,
    diags: &mut Diagnostics,
) -> ArtNetService {
    let mut out = ArtNetService::default();
    let Some(raw) = raw else {
        return out;
    };
    let r = raw.get_ref();
    if let Some(l) = &r.listen {
        match parse_target(l.get_ref(), 6454) {
            Ok(a) => out.listen = a,
            Err(m) => diags.error(file, l.span(), m),
        }
    }
    if let Some(p) = &r.poll_every {
        match crate::units::parse_duration(p.get_ref()) {
            Ok(d) if d == 0.0 || (0.5..=60.0).contains(&d) => out.poll_every = d,
            Ok(_) => diags.error(
                file,
                p.span(),
                "poll_every must be 0s (off) or 0.5s..60s; the Art-Net spec asks 2.5s..3s",
            ),
            Err(m) => diags.error(file, p.span(), m),
        }
    }
    if let Some(a) = r.answer {
        out.answer = a;
    }
    out
}

/// What the outputs carry when the daemon stops.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum RawShutdown {
    /// "hold" (keep the last frame; the default) or "blackout".
    #[schemars(extend("enum" = ["hold", "blackout"]))]
    Word(String),
    /// A show's look, sent three times on stop.
    Show {
        /// The show's name.
        #[schemars(example = &"curfew-white")]
        show: String,
    },
}

/// A loaded, validated site.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub timezone: chrono_tz::Tz,
    pub fps: u32,
    pub profiles: Vec<Profile>,
    pub fixtures: Vec<Fixture>,
    pub cells: Vec<Cell>,
    /// Every universe the site sends, sorted: the outputs' and the patch's.
    pub universes: Vec<u16>,
    pub groups: BTreeMap<String, Vec<u32>>,
    pub outputs: Vec<OutputConfig>,
    pub paths: Vec<Polyline>,
    pub folder: PathBuf,
    /// What the outputs get when the daemon stops.
    pub on_stop: OnStop,
    /// Where `shutdown` was written, for errors found later (unknown show).
    pub on_stop_span: Range<usize>,
    pub source: SourceFile,
    /// The site's controllers (`[[nodes]]`); empty: one controller.
    pub nodes: Vec<fleet::NodeSpec>,
    /// The broker the nodes share (`[fleet]`).
    pub fleet: Option<fleet::FleetSpec>,
    /// The Art-Net service: answering ArtPoll, polling nodes (`[artnet]`).
    pub artnet: ArtNetService,
    /// Device care over RDM (`[rdm]`).
    pub rdm: rdm::RdmSettings,
    /// What the daemon listens to (`[[inputs]]`: consoles, timecode, OSC, UDP).
    pub inputs: Vec<inputs::Input>,
    /// Facades and floors with coordinates of their own (`[[surfaces]]`).
    pub surfaces: Vec<surface::Surface>,
    /// Per cell, the surface it stands on ([`Site::surface_of_cell`]).
    pub surface_cells: surface::SurfaceCells,
    fixture_index: HashMap<String, u32>,
    /// What the patch lacks because of problems already reported (a
    /// broken profile): targets naming it are follow-ons, not problems.
    unpatched: FailedPatch,
    /// Where each group's members are written in the site file.
    group_spans: BTreeMap<String, Range<usize>>,
}

impl Site {
    pub fn mode_of(&self, f: &Fixture) -> &fixture::Mode {
        &self.profiles[f.profile].modes[f.mode]
    }

    pub fn profile_of(&self, f: &Fixture) -> &Profile {
        &self.profiles[f.profile]
    }

    /// The surface cell `cell` stands on and its (u, v) there, if any.
    pub fn surface_of_cell(&self, cell: u32) -> Option<surface::OnSurface> {
        self.surface_cells.get(cell)
    }

    pub fn node(&self, name: &str) -> Option<&fleet::NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Keep only the outputs `node` sends (`nightscape run --node`).
    pub fn retain_node_outputs(&mut self, node: &str) {
        self.outputs.retain(|o| o.node.as_deref() == Some(node));
    }

    /// Whether `target`, matching nothing, could have named fixtures that
    /// a problem already reported left out of the patch (an array with a
    /// broken profile, a group of them): then it is not reported again.
    pub(crate) fn names_unpatched(&self, target: &str) -> bool {
        self.unpatched.names(target)
    }

    /// Where group `name`'s members are written in the site file.
    pub(crate) fn group_span(&self, name: &str) -> Option<Range<usize>> {
        self.group_spans.get(name).cloned()
    }

    pub fn fixture_by_name(&self, name: &str) -> Option<u32> {
        self.fixture_index.get(name).copied()
    }

    /// Resolve a target — `"*"`, a group, a fixture name or a glob over
    /// fixture names — to fixture indices in patch order. Empty when nothing
    /// matches; callers decide whether that is an error.
    pub fn resolve_target(&self, target: &str) -> Vec<u32> {
        let t = target.trim();
        if t == "*" {
            return (0..self.fixtures.len() as u32).collect();
        }
        if let Some(g) = self.groups.get(t) {
            return g.clone();
        }
        if let Some(i) = self.fixture_by_name(t) {
            return vec![i];
        }
        if glob::is_glob(t) {
            // Compiled once: a long pattern is cut at its stars once, not
            // once per name of a city-sized patch.
            let g = glob::Glob::new(t);
            let mut set: BTreeSet<u32> = BTreeSet::new();
            for (name, members) in &self.groups {
                if g.matches(name) {
                    set.extend(members);
                }
            }
            for (i, f) in self.fixtures.iter().enumerate() {
                if g.matches(&f.name) {
                    set.insert(i as u32);
                }
            }
            return set.into_iter().collect();
        }
        Vec::new()
    }
}

/// What the patch lacks because of problems already reported: the names
/// of arrays and hand-placed fixtures that patched nothing, and the groups
/// with a member that named only those.
#[derive(Debug, Clone, Default)]
struct FailedPatch {
    arrays: Vec<String>,
    fixtures: Vec<String>,
    groups: BTreeSet<String>,
}

impl FailedPatch {
    /// Whether `pattern` (a group member or a target) could have named a
    /// fixture that failed to patch, or one of those groups: a failed
    /// fixture's name, an array's fixture (`square-001`), a group, or a
    /// glob that matches any of them.
    fn names(&self, pattern: &str) -> bool {
        let t = pattern.trim();
        if self.groups.contains(t) {
            return true;
        }
        let is_glob = glob::is_glob(t);
        let named = |name: &str| t == name || (is_glob && glob::matches(t, name));
        self.fixtures.iter().any(|f| named(f))
            || self.groups.iter().any(|g| is_glob && glob::matches(t, g))
            || self.arrays.iter().any(|a| {
                named(&format!("{a}-001"))
                    || t.strip_prefix(a.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    }
}

/// The site file (`shows/site.toml`): place, frame rate, outputs, the
/// patch, groups; the schedule, energy, safety and API sections are read
/// by their own modules from the same file and merged into its schema.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nightscape site")]
struct RawSite {
    /// The site's name (logs, the operator page, the fleet's MQTT topics).
    #[schemars(example = &"Flower City Axis")]
    name: Spanned<String>,
    /// Latitude in degrees, north positive (for sunset and sunrise).
    #[schemars(example = 25.04, range(min = -90, max = 90))]
    latitude: Spanned<f64>,
    /// Longitude in degrees, east positive.
    #[schemars(example = 102.71, range(min = -180, max = 180))]
    longitude: Spanned<f64>,
    /// The IANA timezone of the site's wall clock (schedule times are in it).
    #[schemars(example = &"Asia/Shanghai")]
    timezone: Spanned<String>,
    /// Frames per second sent to the outputs, 1..44 (default 40).
    #[serde(default)]
    #[schemars(example = 40, range(min = 1, max = 44))]
    fps: Option<Spanned<i64>>,
    /// The folder of fixture profiles, relative to this file's folder
    /// (default "../fixtures").
    // Read by `profile_dir` before the profiles are loaded; here only to
    // locate a library that could not be read.
    #[serde(default)]
    #[schemars(example = &"../fixtures")]
    profiles: Option<Spanned<String>>,
    /// Where frames go: one table per Art-Net node, sACN receiver or USB widget.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "kind": "artnet", "target": "10.0.4.20", "universes": "0-9", "sync": true }]))]
    outputs: Vec<Spanned<RawOutput>>,
    /// Named polylines on the site plan (metres, x east, y north) that
    /// arrays stand along and effects travel along.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "axis-avenue", "points": [[0, 0], [0, 1200]] }]))]
    paths: Vec<Spanned<RawPath>>,
    /// Facades and floors with their own coordinates (u right, v up, metres),
    /// for fixtures and arrays placed with `surface` and `at = [u, v]`.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "tower-east", "origin": [80, 600], "heading": 90, "width": 60, "height": 120 }]))]
    surfaces: Vec<Spanned<surface::RawSurface>>,
    /// Many identical fixtures along a path, auto-addressed from `start`.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "avenue-poles-east", "profile": "rgbw-flood-120w", "mode": "5ch", "path": "axis-avenue", "offset": 12, "spacing": 30, "start": "0.1" }]))]
    arrays: Vec<Spanned<RawArray>>,
    /// Hand-placed fixtures.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "tower-beacon", "profile": "searchlight-moving-1200w", "mode": "16ch", "at": [100, 620], "address": "3.1" }]))]
    fixtures: Vec<Spanned<RawFixture>>,
    /// Named groups of fixtures: names and globs over fixture and group
    /// names (an array's fixtures are `<array>-1`, `<array>-2`, …).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<String>>", example = serde_json::json!({ "avenue": ["avenue-poles-*"], "trees": ["avenue-trees-*"] }))]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    // Sections read by their own modules from the same file; their schemas
    // replace these placeholders (`crate::schema::generate`).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    schedule: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    modes: Option<IgnoredAny>,
    /// The operator API (read by the daemon).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value", example = serde_json::json!({ "listen": "127.0.0.1:8080" }))]
    api: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    curfew: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    energy: Option<IgnoredAny>,
    /// The state folder (operator state, energy record), relative to this
    /// file's folder (read by the daemon; default `./var/`).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "String", example = &"/var/lib/nightscape")]
    state_dir: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    safety: Option<IgnoredAny>,
    // Read by `triggers.rs` once the shows are known (`config::compile`).
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    triggers: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    #[schemars(with = "serde_json::Value")]
    notify: Option<IgnoredAny>,
    /// What the outputs carry when the daemon stops: "hold" (default),
    /// "blackout" or `{ show = "name" }`.
    #[serde(default)]
    #[schemars(example = &"hold")]
    shutdown: Option<Spanned<RawShutdown>>,
    /// The MQTT broker the site's controllers share.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "broker": "mqtt://10.0.4.2:1883" }))]
    fleet: Option<Spanned<fleet::RawFleet>>,
    /// The site's controllers; every output then names its node.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "bridge-2", "api": "10.0.4.12:8080" }]))]
    nodes: Vec<Spanned<fleet::RawNode>>,
    /// The daemon's Art-Net service: answering ArtPoll, polling nodes.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "poll_every": "2.75s" }))]
    artnet: Option<Spanned<RawArtNetService>>,
    /// Device care: how often the outputs with `rdm = true` are asked for
    /// their fixtures over RDM, and limits on the fixtures' sensors.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "every": "15m" }))]
    rdm: Option<Spanned<rdm::RawRdm>>,
    /// What the daemon listens to: consoles (sACN, Art-Net), timecode
    /// (LTC, MTC), OSC and UDP (see docs/show-control.md).
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "kind": "sacn", "universes": "1-2", "to": 0, "mode": "takeover", "min_priority": 100, "release": "2s" }]))]
    inputs: Vec<Spanned<inputs::RawInput>>,
}

/// One `[[outputs]]` table as written. Which keys apply depends on `kind`;
/// a key that does not apply is warned about, not rejected, so a designer
/// can switch an output between protocols by changing one line.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    /// The protocol: "artnet", "sacn", "enttec-pro" or "open-dmx".
    #[schemars(example = &"artnet", extend("enum" = ["artnet", "sacn", "enttec-pro", "open-dmx"]))]
    kind: Spanned<String>,
    /// Network outputs: the node's IP (and port), or "multicast" for sACN.
    #[serde(default)]
    #[schemars(example = &"10.0.4.20")]
    target: Option<Spanned<String>>,
    /// Serial widgets: the serial port.
    #[serde(default)]
    #[schemars(example = &"/dev/ttyUSB0")]
    port: Option<Spanned<String>>,
    /// The site universes this output carries: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
    #[schemars(example = &"0-9")]
    universes: Spanned<UniverseList>,
    /// Art-Net: ArtSync after each frame; sACN: universe synchronisation.
    #[serde(default)]
    #[schemars(example = true)]
    sync: Option<Spanned<bool>>,
    /// sACN: the universe sync packets go to, 1..63999 (default: the first wire universe).
    #[serde(default)]
    #[schemars(example = 64, range(min = 1, max = 63999))]
    sync_address: Option<Spanned<i64>>,
    /// Art-Net: send a universe only when its data changed (and every 0.8 s
    /// as a keep-alive); default false (every universe, every frame).
    #[serde(default)]
    #[schemars(example = true)]
    only_changed: Option<Spanned<bool>>,
    /// sACN priority, 0..200 (default 100).
    #[serde(default)]
    #[schemars(example = 100, range(min = 0, max = 200))]
    priority: Option<Spanned<i64>>,
    /// sACN source name (default "nightscape <site name>").
    #[serde(default)]
    #[schemars(example = &"axis east")]
    source_name: Option<Spanned<String>>,
    /// Site universe → wire universe, e.g. `{ 0 = 100, 1 = 101 }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, i64>", example = serde_json::json!({ "0": 100, "1": 101 }))]
    remap: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    /// Added to every site universe on the wire (may be negative).
    #[serde(default)]
    #[schemars(example = 1)]
    wire_offset: Option<Spanned<i64>>,
    /// The `[[nodes]]` entry that sends this output.
    #[serde(default)]
    #[schemars(example = &"bridge-2")]
    node: Option<Spanned<String>>,
    /// Network outputs: the local address to send from.
    #[serde(default)]
    #[schemars(example = &"10.0.4.1")]
    bind: Option<Spanned<String>>,
    /// Network outputs: the interface to send on (Linux).
    #[serde(default)]
    #[schemars(example = &"eth1")]
    interface: Option<Spanned<String>>,
    /// sACN only: "terminate" (default) or "hold" on stop.
    #[serde(default)]
    #[schemars(example = &"hold", extend("enum" = ["terminate", "hold"]))]
    shutdown: Option<Spanned<String>>,
    /// Art-Net only: where ArtSync goes: "target" (default), "broadcast" or an address.
    #[serde(default)]
    #[schemars(example = &"broadcast")]
    sync_to: Option<Spanned<String>>,
    /// Art-Net and ENTTEC DMX USB Pro: find this line's fixtures over RDM
    /// and watch them (`[rdm]`); default false.
    #[serde(default)]
    #[schemars(example = true)]
    rdm: Option<Spanned<bool>>,
}

/// A universe list: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum UniverseList {
    One(#[schemars(range(min = 0, max = 32767))] i64),
    Text(
        #[schemars(regex(
            pattern = r"^\s*[0-9]+(\s*-\s*[0-9]+)?(\s*,\s*[0-9]+(\s*-\s*[0-9]+)?)*\s*$"
        ))]
        String,
    ),
    List(Vec<i64>),
}

/// A named polyline on the site plan.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawPath {
    /// The path's name, as arrays name it.
    #[schemars(example = &"axis-avenue")]
    name: Spanned<String>,
    /// Points `[x, y]` in metres (x east, y north), in the direction of travel.
    #[schemars(example = serde_json::json!([[0, 0], [0, 1200]]))]
    points: Spanned<Vec<[f64; 2]>>,
}

/// Identical fixtures along a path, every `spacing` metres, auto-addressed.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawArray {
    /// The array's name; its fixtures are `<name>-1`, `<name>-2`, …
    #[schemars(example = &"avenue-poles-east")]
    name: Spanned<String>,
    /// The profile: a file name in the profile folder, without `.toml`.
    #[schemars(example = &"rgbw-flood-120w")]
    profile: Spanned<String>,
    /// The profile's mode the fixtures are set to.
    #[schemars(example = &"5ch")]
    mode: Spanned<String>,
    /// The `[[paths]]` entry the fixtures stand along (or `surface`).
    #[serde(default)]
    #[schemars(example = &"axis-avenue")]
    path: Option<Spanned<String>>,
    /// The `[[surfaces]]` entry whose rows and columns the fixtures fill
    /// (instead of `path`), from `at`, `columns` a row `spacing` apart,
    /// `rows` rows `row_spacing` apart.
    #[serde(default)]
    #[schemars(example = &"tower-east")]
    surface: Option<Spanned<String>>,
    /// On a surface: the bottom-left fixture's `[u, v]` in metres (default [0, 0]).
    #[serde(default)]
    #[schemars(example = serde_json::json!([0.5, 1]))]
    at: Option<[f64; 2]>,
    /// On a surface: fixtures a row (default: as many as fit).
    #[serde(default)]
    #[schemars(example = 30, range(min = 1))]
    columns: Option<Spanned<i64>>,
    /// On a surface: rows (default: as many as fit).
    #[serde(default)]
    #[schemars(example = 60, range(min = 1))]
    rows: Option<Spanned<i64>>,
    /// On a surface: metres between rows (default: `spacing`).
    #[serde(default)]
    #[schemars(example = 2, range(min = 0))]
    row_spacing: Option<Spanned<f64>>,
    /// Metres to the right of the direction of travel (negative: left; default 0).
    #[serde(default)]
    #[schemars(example = 12)]
    offset: f64,
    /// Where along the path the first fixture stands, in metres (default 0).
    #[serde(default)]
    #[schemars(example = 10)]
    from: Option<f64>,
    /// Where along the path the array ends, in metres (default: the path's end).
    #[serde(default)]
    #[schemars(example = 600)]
    to: Option<f64>,
    /// Metres between fixtures.
    #[schemars(example = 30, range(min = 0))]
    spacing: Spanned<f64>,
    /// The first fixture's DMX address as "universe.address"; the next
    /// fixtures follow, rolling into the next universe.
    #[schemars(example = &"0.1", regex(pattern = ADDRESS_PATTERN))]
    start: Spanned<String>,
    /// Pixel fixtures: the length in metres their cells are spread over (default 1).
    #[serde(default)]
    #[schemars(example = 1, range(min = 0))]
    length: Option<Spanned<f64>>,
    /// Compass heading of the fixtures' cells (default: along the path).
    #[serde(default)]
    #[schemars(example = 90)]
    heading: Option<f64>,
}

/// A DMX address as "universe.address".
const ADDRESS_PATTERN: &str = r"^\s*[0-9]+\s*\.\s*[0-9]+\s*$";

/// One hand-placed fixture.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    /// The fixture's name (targets and groups refer to it).
    #[schemars(example = &"tower-beacon")]
    name: Spanned<String>,
    /// The profile: a file name in the profile folder, without `.toml`.
    #[schemars(example = &"searchlight-moving-1200w")]
    profile: Spanned<String>,
    /// The profile's mode the fixture is set to.
    #[schemars(example = &"16ch")]
    mode: Spanned<String>,
    /// Position `[x, y]` on the site plan in metres (x east, y north), or
    /// `[u, v]` on its `surface` (u right, v up).
    #[schemars(example = serde_json::json!([100, 620]))]
    at: [f64; 2],
    /// The `[[surfaces]]` entry the fixture is on (then `at` is `[u, v]`
    /// there and `heading` reads 0 up, 90 right).
    #[serde(default)]
    #[schemars(example = &"tower-east")]
    surface: Option<Spanned<String>>,
    /// DMX address as "universe.address": universe 0..32767, address 1..512.
    #[schemars(example = &"3.1", regex(pattern = ADDRESS_PATTERN))]
    address: Spanned<String>,
    /// Compass heading of a pixel fixture's cells (degrees, 0 = north).
    #[serde(default)]
    #[schemars(example = 90)]
    heading: Option<f64>,
    /// Length over which a pixel fixture's cells are spread (metres).
    #[serde(default)]
    #[schemars(example = 1, range(min = 0))]
    length: Option<Spanned<f64>>,
}

/// The JSON Schema of the site file's own keys; the sections other
/// modules read are merged in by [`crate::schema::generate`].
pub fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawSite>()
}

/// Parse "universe.address" (e.g. "5.1"): universe 0..=32767, address 1..=512.
pub fn parse_address(text: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!("`{text}` is not a DMX address: write universe.address, like \"0.1\" or \"5.257\"")
    };
    let (u, a) = text.trim().split_once('.').ok_or_else(bad)?;
    let u: i64 = u.trim().parse().map_err(|_| bad())?;
    let a: i64 = a.trim().parse().map_err(|_| bad())?;
    if !(0..=MAX_UNIVERSE as i64).contains(&u) {
        return Err(format!(
            "universe {u} is out of range: universes are 0..{MAX_UNIVERSE}"
        ));
    }
    if !(1..=UNIVERSE_SIZE as i64).contains(&a) {
        return Err(format!(
            "address {a} is out of range: DMX addresses are 1..512"
        ));
    }
    Ok((u as u16, a as u16))
}

/// Parse a universe list: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
fn parse_universes(list: &UniverseList) -> Result<Vec<u16>, String> {
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
enum Target {
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
fn parse_target_or_host(text: &str, default_port: u16) -> Result<Target, String> {
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
fn parse_target(text: &str, default_port: u16) -> Result<SocketAddr, String> {
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

/// Highest Port-Address Art-Net can carry (15 bits).
const ARTNET_MAX_WIRE: u16 = 32767;
/// sACN universes on the wire: 1..=63999 (E1.31 section 6.2.7; 0 and
/// 64000.. are reserved).
const SACN_WIRE: (u16, u16) = (1, 63999);

/// "an artnet output", "a sacn output": the article for an output kind.
fn a_kind(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind} output")
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

/// Parse the `[[outputs]]` tables. Each problem is reported at its key; an
/// output with an error is left out (the site then fails to load, so the
/// daemon keeps its last good configuration).
///
/// The keys, by kind (all kinds take `universes`: `3`, `"0-9"`,
/// `"0-3,8"` or `[0, 1]`):
///
/// ```toml
/// [[outputs]]
/// kind = "artnet"             # ArtDmx to a node or a broadcast address
/// target = "10.0.4.10"        # port 6454 unless given ("10.0.4.10:6454")
/// universes = "0-9"
/// sync = true                 # ArtSync after each frame
/// only_changed = false        # true: a universe only when it changed (and ≥ 1/s)
///
/// [[outputs]]
/// kind = "sacn"               # E1.31
/// target = "10.0.4.20"        # a receiver (port 5568 unless given), or "multicast"
/// universes = "10-19"
/// priority = 100              # 0..200, default 100
/// sync = true                 # sync packets after each frame, on
/// sync_address = 64           #   this universe (default: the first wire universe)
/// source_name = "axis east"   # default "nightscape <site name>"
/// only_changed = false        # true: a universe when it changed (3 repeats, then ≈ 0.9 s keep-alive)
///
/// [[outputs]]
/// kind = "enttec-pro"         # or "open-dmx"; one universe each
/// port = "/dev/ttyUSB0"
/// universes = 20
/// ```
///
/// Network outputs may send a site universe under another number on the
/// wire: `remap = { 0 = 100, 1 = 101 }` names site universe → wire universe
/// one by one (universes not named keep their number), `wire_offset = 100`
/// adds the same amount to all (negative is allowed); not both. The wire
/// numbers must fit the protocol: Art-Net Port-Addresses 0..32767, sACN
/// universes 1..63999 (so site universe 0 needs a remap to go out as sACN).
/// Keys that do not apply to a kind are warned about and ignored. A site
/// universe sent by two outputs is a warning at the second one.
fn compile_outputs(
    file: &SourceFile,
    raw: &[Spanned<RawOutput>],
    nodes: &[fleet::NodeSpec],
    diags: &mut Diagnostics,
) -> Vec<OutputConfig> {
    let mut outputs = Vec::new();
    // Site universe → (1-based number of the first output sending it, its kind).
    let mut first_sender: BTreeMap<u16, (usize, String)> = BTreeMap::new();
    for (n, o) in raw.iter().enumerate() {
        let ro = o.get_ref();
        let kind_name = ro.kind.get_ref().as_str();
        let universes = match parse_universes(ro.universes.get_ref()) {
            Ok(u) => u,
            Err(m) => {
                diags.error(file, ro.universes.span(), m);
                continue;
            }
        };
        if !matches!(kind_name, "artnet" | "sacn" | "enttec-pro" | "open-dmx") {
            diags.error(
                file,
                ro.kind.span(),
                format!(
                    "unknown output kind `{kind_name}`: use artnet, sacn, enttec-pro or open-dmx"
                ),
            );
            continue;
        }
        warn_inapplicable_keys(file, ro, kind_name, diags);
        let need = |field: &Option<Spanned<String>>,
                    what: &str,
                    hint: &str,
                    diags: &mut Diagnostics|
         -> Option<(String, Range<usize>)> {
            match field {
                Some(s) => Some((s.get_ref().clone(), s.span())),
                None => {
                    diags.error(
                        file,
                        o.span(),
                        format!("{} needs `{what}`{hint}", a_kind(kind_name)),
                    );
                    None
                }
            }
        };
        let mut host: Option<String> = None;
        let (kind, wire) = match kind_name {
            "artnet" => {
                let wire =
                    wire_universes(file, ro, &universes, (0, ARTNET_MAX_WIRE), "Art-Net", diags);
                let kind = need(&ro.target, "target", " (an IP like \"10.0.4.20\")", diags)
                    .and_then(|(t, span)| match parse_target_or_host(&t, 6454) {
                        Ok(target) => Some(OutputKind::ArtNet {
                            target: unresolved(target, &mut host),
                            sync: ro.sync.as_ref().is_some_and(|s| *s.get_ref()),
                            only_changed: ro.only_changed.as_ref().is_some_and(|s| *s.get_ref()),
                        }),
                        Err(m) => {
                            diags.error(file, span, m);
                            None
                        }
                    });
                (kind, wire)
            }
            "sacn" => {
                let wire = wire_universes(file, ro, &universes, SACN_WIRE, "sACN", diags);
                let priority = match &ro.priority {
                    None => Some(100),
                    Some(p) if (0..=200).contains(p.get_ref()) => Some(*p.get_ref() as u8),
                    Some(p) => {
                        diags.error(
                            file,
                            p.span(),
                            format!("sACN priority {} is out of range: E1.31 allows 0..200 (default 100)", p.get_ref()),
                        );
                        None
                    }
                };
                let target = need(
                    &ro.target,
                    "target",
                    " (a receiver's IP like \"10.0.4.20\", or \"multicast\")",
                    diags,
                )
                .and_then(|(t, span)| {
                    if t.trim().eq_ignore_ascii_case("multicast") {
                        return Some(SacnTarget::Multicast);
                    }
                    match parse_target_or_host(&t, 5568) {
                        Ok(a) => Some(SacnTarget::Unicast(unresolved(a, &mut host))),
                        Err(m) => {
                            diags.error(file, span, format!("{m}, or \"multicast\""));
                            None
                        }
                    }
                });
                // `sync_address` alone turns synchronisation on; `sync = false`
                // beside it wins and is pointed out.
                let sync = match (&ro.sync, &ro.sync_address) {
                    (Some(s), Some(a)) if !*s.get_ref() => {
                        diags.warn(
                            file,
                            a.span(),
                            "`sync_address` is ignored because `sync = false`",
                        );
                        false
                    }
                    (Some(s), _) => *s.get_ref(),
                    (None, a) => a.is_some(),
                };
                let sync_address = match (&ro.sync_address, sync) {
                    (_, false) => Some(None),
                    (Some(a), true) => {
                        let v = *a.get_ref();
                        if (i64::from(SACN_WIRE.0)..=i64::from(SACN_WIRE.1)).contains(&v) {
                            Some(Some(v as u16))
                        } else {
                            diags.error(
                                file,
                                a.span(),
                                format!(
                                    "sync_address {v} is out of range: sACN universes are 1..63999"
                                ),
                            );
                            None
                        }
                    }
                    // Default: the output's first wire universe. E1.31 lets
                    // sync packets share a universe with data (they carry a
                    // different vector), and receivers already listen there.
                    (None, true) => Some(wire.as_ref().and_then(|w| w.first().copied())),
                };
                let source_name = ro.source_name.as_ref().map(|s| s.get_ref().clone());
                let kind = match (target, priority, sync_address) {
                    (Some(target), Some(priority), Some(sync_address)) => Some(OutputKind::Sacn {
                        target,
                        priority,
                        sync_address,
                        source_name,
                        only_changed: ro.only_changed.as_ref().is_some_and(|s| *s.get_ref()),
                    }),
                    _ => None,
                };
                (kind, wire)
            }
            _ => {
                if universes.len() != 1 {
                    diags.error(
                        file,
                        ro.universes.span(),
                        format!(
                            "{} drives one universe (the widget has one DMX port); this one lists {}",
                            a_kind(kind_name),
                            format_universes(&universes)
                        ),
                    );
                }
                let kind = need(
                    &ro.port,
                    "port",
                    " (a serial device like \"/dev/ttyUSB0\")",
                    diags,
                )
                .filter(|_| universes.len() == 1)
                .map(|(port, _)| {
                    if kind_name == "enttec-pro" {
                        OutputKind::EnttecPro { port }
                    } else {
                        OutputKind::OpenDmx { port }
                    }
                });
                (kind, Some(universes.clone()))
            }
        };
        let node = match (&ro.node, nodes.is_empty()) {
            (None, true) => Some(None),
            (None, false) => {
                diags.error(
                    file,
                    o.span(),
                    "this site has [[nodes]]: every output names the node that sends it (`node = \"name\"`)",
                );
                None
            }
            (Some(n), _) if nodes.iter().any(|x| x.name == *n.get_ref()) => {
                Some(Some(n.get_ref().clone()))
            }
            (Some(n), _) => {
                let known: Vec<&str> = nodes.iter().map(|x| x.name.as_str()).collect();
                diags.error(
                    file,
                    n.span(),
                    if known.is_empty() {
                        format!(
                            "unknown node `{}`: declare it in a [[nodes]] table",
                            n.get_ref()
                        )
                    } else {
                        format!(
                            "unknown node `{}` (the site has: {}){}",
                            n.get_ref(),
                            known.join(", "),
                            crate::suggest::hint(n.get_ref(), known.iter().map(|k| k.as_ref()))
                        )
                    },
                );
                None
            }
        };
        let bind = match &ro.bind {
            None => Some(None),
            Some(b) => {
                match b.get_ref().trim().parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(Some(ip)),
                    Err(_) => {
                        diags.error(
                        file,
                        b.span(),
                        format!("bind `{}` is not an IP address of this machine (like \"10.0.4.1\")", b.get_ref()),
                    );
                        None
                    }
                }
            }
        };
        let interface = match &ro.interface {
            Some(i)
                if i.get_ref().is_empty()
                    || i.get_ref().len() > 15
                    || i.get_ref().contains(['/', ' ']) =>
            {
                diags.error(
                    file,
                    i.span(),
                    format!(
                        "interface `{}` is not a network interface name (like \"eth1\")",
                        i.get_ref()
                    ),
                );
                None
            }
            i => Some(i.as_ref().map(|i| i.get_ref().clone())),
        };
        let terminate_on_stop = match &ro.shutdown {
            None => Some(true),
            Some(w) if w.get_ref() == "terminate" => Some(true),
            Some(w) if w.get_ref() == "hold" => Some(false),
            Some(w) => {
                diags.error(
                    file,
                    w.span(),
                    format!("shutdown `{}`: an sACN output takes \"terminate\" (the default: receivers apply their loss behaviour at once) or \"hold\" (no termination: receivers keep the last data until their own loss timeout)", w.get_ref()),
                );
                None
            }
        };
        let artsync_to = match (&ro.sync_to, &kind) {
            (None, _) => Some(None),
            (Some(t), Some(OutputKind::ArtNet { .. }))
                if host.is_some() && t.get_ref().trim() == "broadcast" =>
            {
                diags.error(
                    file,
                    t.span(),
                    "sync_to = \"broadcast\" needs an IP target (a host name is looked up only when the output opens): write the broadcast address",
                );
                None
            }
            (Some(t), Some(OutputKind::ArtNet { target, .. })) => match t.get_ref().trim() {
                "target" => Some(None),
                "broadcast" => match target.ip() {
                    std::net::IpAddr::V4(v4) => Some(Some(SocketAddr::new(
                        std::net::IpAddr::V4(artnet_broadcast(v4)),
                        target.port(),
                    ))),
                    std::net::IpAddr::V6(_) => {
                        diags.error(
                            file,
                            t.span(),
                            "sync_to = \"broadcast\" needs an IPv4 target",
                        );
                        None
                    }
                },
                other => match parse_target(other, 6454) {
                    Ok(a) => Some(Some(a)),
                    Err(m) => {
                        diags.error(
                            file,
                            t.span(),
                            format!("sync_to: {m}, or \"target\" or \"broadcast\""),
                        );
                        None
                    }
                },
            },
            (Some(_), _) => Some(None),
        };
        let (
            Some(kind),
            Some(wire),
            Some(node),
            Some(bind),
            Some(interface),
            Some(terminate_on_stop),
            Some(artsync_to),
        ) = (
            kind,
            wire,
            node,
            bind,
            interface,
            terminate_on_stop,
            artsync_to,
        )
        else {
            continue;
        };

        // A universe sent by two outputs is legal (mirroring to a
        // visualiser, or moving a street from one node to another) but is
        // more often a copy-paste slip, so it is a warning.
        let mut shared: BTreeMap<usize, (String, Vec<u16>)> = BTreeMap::new();
        for &u in &universes {
            match first_sender.get(&u) {
                Some((k, kind)) => shared
                    .entry(*k)
                    .or_insert_with(|| (kind.clone(), Vec::new()))
                    .1
                    .push(u),
                None => {
                    first_sender.insert(u, (n + 1, kind_name.to_string()));
                }
            }
        }
        for (k, (other_kind, us)) in shared {
            let plural = if us.len() == 1 {
                "universe"
            } else {
                "universes"
            };
            diags.warn(
                file,
                o.span(),
                format!(
                    "{plural} {} also sent by output #{k} ({other_kind}): two outputs will drive the same fixtures; remove them from one unless that is a deliberate mirror",
                    format_universes(&us)
                ),
            );
        }
        outputs.push(OutputConfig {
            kind,
            universes,
            wire,
            node,
            bind,
            interface,
            terminate_on_stop,
            artsync_to,
            host,
            rdm: rdm::output_rdm(file, ro, kind_name, diags),
        });
    }
    outputs
}

/// The address to keep in the output's kind: the IP as written, or, for a
/// host name (kept in `host`), the unspecified address with its port.
fn unresolved(target: Target, host: &mut Option<String>) -> SocketAddr {
    match target {
        Target::Ip(a) => a,
        Target::Host(name, port) => {
            *host = Some(name);
            SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port)
        }
    }
}

/// Warn about keys that mean nothing for this kind of output.
fn warn_inapplicable_keys(file: &SourceFile, ro: &RawOutput, kind: &str, diags: &mut Diagnostics) {
    let network = matches!(kind, "artnet" | "sacn");
    let keys: [(&str, Option<Range<usize>>, bool); 13] = [
        (
            "sync_to",
            ro.sync_to.as_ref().map(|s| s.span()),
            kind == "artnet",
        ),
        ("bind", ro.bind.as_ref().map(|s| s.span()), network),
        (
            "interface",
            ro.interface.as_ref().map(|s| s.span()),
            network,
        ),
        (
            "shutdown",
            ro.shutdown.as_ref().map(|s| s.span()),
            kind == "sacn",
        ),
        ("target", ro.target.as_ref().map(|s| s.span()), network),
        (
            "only_changed",
            ro.only_changed.as_ref().map(|s| s.span()),
            network,
        ),
        ("port", ro.port.as_ref().map(|s| s.span()), !network),
        ("sync", ro.sync.as_ref().map(|s| s.span()), network),
        (
            "sync_address",
            ro.sync_address.as_ref().map(|s| s.span()),
            kind == "sacn",
        ),
        (
            "priority",
            ro.priority.as_ref().map(|s| s.span()),
            kind == "sacn",
        ),
        (
            "source_name",
            ro.source_name.as_ref().map(|s| s.span()),
            kind == "sacn",
        ),
        ("remap", ro.remap.as_ref().map(|s| s.span()), network),
        (
            "wire_offset",
            ro.wire_offset.as_ref().map(|s| s.span()),
            network,
        ),
    ];
    for (key, span, applies) in keys {
        if let (Some(span), false) = (span, applies) {
            diags.warn(
                file,
                span,
                format!("`{key}` has no meaning for {} and is ignored", a_kind(kind)),
            );
        }
    }
}

/// The wire universe for each site universe of a network output: `remap`
/// entries, else site universe + `wire_offset`, else the same number; each
/// must fit the protocol's range `lo..=hi`, and two site universes may not
/// land on the same wire universe.
fn wire_universes(
    file: &SourceFile,
    ro: &RawOutput,
    universes: &[u16],
    (lo, hi): (u16, u16),
    proto: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<u16>> {
    let range_msg = |v: i64, what: &str| {
        let mut m = format!("{what} {v} is out of range: {proto} universes are {lo}..{hi}");
        if proto == "sACN" && v == 0 {
            m.push_str(" (E1.31 reserves 0): carry site universe 0 with `wire_offset = 1` or `remap = { 0 = 1 }`");
        }
        m
    };
    let in_range = |v: i64| (i64::from(lo)..=i64::from(hi)).contains(&v);
    let mut ok = true;
    let mut wire: Vec<u16> = universes.to_vec();
    let mut spans: Vec<Range<usize>> = vec![ro.universes.span(); universes.len()];
    match (&ro.remap, &ro.wire_offset) {
        (Some(_), Some(off)) => {
            diags.error(
                file,
                off.span(),
                "use either `remap` or `wire_offset`, not both",
            );
            return None;
        }
        (Some(remap), None) => {
            for (key, to) in remap.get_ref() {
                let Some(i) = key
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .and_then(|u| universes.iter().position(|&x| x == u))
                else {
                    diags.error(
                        file,
                        to.span(),
                        format!(
                            "remap names universe `{key}`, which this output does not carry (it carries {})",
                            format_universes(universes)
                        ),
                    );
                    ok = false;
                    continue;
                };
                let v = *to.get_ref();
                if !in_range(v) {
                    diags.error(file, to.span(), range_msg(v, "remapped universe"));
                    ok = false;
                    continue;
                }
                wire[i] = v as u16;
                spans[i] = to.span();
            }
        }
        (None, Some(off)) => {
            for (i, &u) in universes.iter().enumerate() {
                let v = i64::from(u) + *off.get_ref();
                if !in_range(v) {
                    diags.error(
                        file,
                        off.span(),
                        range_msg(
                            v,
                            &format!("universe {u} + wire_offset {} =", off.get_ref()),
                        ),
                    );
                    return None;
                }
                wire[i] = v as u16;
                spans[i] = off.span();
            }
        }
        (None, None) => {}
    }
    if !ok {
        return None;
    }
    // Where each wire universe first appears (u16: a table, not a search
    // per universe: 10,000 universes made that 50 M comparisons).
    let mut first_at = vec![usize::MAX; usize::from(u16::MAX) + 1];
    for (i, &w) in wire.iter().enumerate() {
        if !in_range(i64::from(w)) {
            diags.error(file, spans[i].clone(), range_msg(i64::from(w), "universe"));
            return None;
        }
        let seen = std::mem::replace(&mut first_at[usize::from(w)], i);
        if let Some(j) = (seen != usize::MAX).then_some(seen) {
            diags.error(
                file,
                spans[i].clone(),
                format!(
                    "site universes {} and {} would both go out as {proto} universe {w}",
                    universes[j], universes[i]
                ),
            );
            return None;
        }
    }
    Some(wire)
}

/// Everything the patch needs while being built.
struct Pending {
    name: String,
    name_span: Range<usize>,
    profile: usize,
    mode: usize,
    universe: u16,
    address: u16,
    position: [f64; 2],
    heading: [f64; 2],
    length: f64,
    path_distance: Option<f64>,
    /// Where on a surface, for fixtures placed on one.
    surface: Option<surface::Spot>,
}

/// Parse the profile library from its files' text, each keyed by its file
/// stem (`fixtures/rgbw-flood.toml` is profile `rgbw-flood`). Reading the
/// folder is the caller's job: this crate touches no file.
pub fn parse_profiles(files: &[SourceFile], diags: &mut Diagnostics) -> Library {
    let mut profiles = Library::default();
    for file in files {
        let key = file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        match fixture::parse_profile(&key, file, diags) {
            Some(p) => profiles.profiles.push(p),
            None => profiles.broken.push(key),
        }
    }
    profiles
}

/// Parse and compile a site file. `profile_dir` is resolved by the caller
/// from the `profiles` key (see [`profile_dir`]).
/// The profile library as loaded: the usable profiles, and the keys of
/// profile files that exist but have errors (already reported, so the patch
/// does not report every use of them again).
#[derive(Debug, Default)]
pub struct Library {
    pub profiles: Vec<Profile>,
    pub broken: Vec<String>,
    /// The library folder could not be read, and why (`cannot read the
    /// profile library fixtures: No such file or directory`): reported once
    /// at the `profiles` key, and profile names are then not checked (each
    /// would be "unknown").
    pub unreadable: Option<String>,
}

pub fn compile(file: &SourceFile, library: Library, diags: &mut Diagnostics) -> Option<Site> {
    let Library {
        profiles,
        broken,
        unreadable,
    } = library;
    let before = diags.items.len();
    let raw: RawSite = crate::diag::parse_all(file, diags)?;
    if let Some(why) = &unreadable {
        // At the key that names the folder; without the key, at the top
        // of the file (the default `../fixtures` was used).
        let span = raw.profiles.as_ref().map_or(0..0, |p| p.span());
        diags.error(file, span, why.clone());
    }
    let lat = *raw.latitude.get_ref();
    if !(-90.0..=90.0).contains(&lat) {
        diags.error(
            file,
            raw.latitude.span(),
            format!("latitude {lat} is out of range -90..90"),
        );
    }
    let lon = *raw.longitude.get_ref();
    if !(-180.0..=180.0).contains(&lon) {
        diags.error(
            file,
            raw.longitude.span(),
            format!("longitude {lon} is out of range -180..180"),
        );
    }
    let timezone: chrono_tz::Tz = raw.timezone.get_ref().parse().unwrap_or_else(|_| {
        diags.error(
            file,
            raw.timezone.span(),
            format!(
                "unknown timezone `{}`: use an IANA name like \"Asia/Shanghai\"",
                raw.timezone.get_ref()
            ),
        );
        chrono_tz::UTC
    });
    let (on_stop, on_stop_span) = match &raw.shutdown {
        None => (OnStop::Hold, 0..0),
        Some(s) => {
            let on_stop = match s.get_ref() {
                RawShutdown::Word(w) if w == "hold" => OnStop::Hold,
                RawShutdown::Word(w) if w == "blackout" => OnStop::Blackout,
                RawShutdown::Word(w) => {
                    diags.error(
                        file,
                        s.span(),
                        format!(
                            "shutdown `{w}`: use \"hold\", \"blackout\" or {{ show = \"name\" }}"
                        ),
                    );
                    OnStop::Hold
                }
                RawShutdown::Show { show } => OnStop::Show(show.clone()),
            };
            (on_stop, s.span())
        }
    };
    let fps = match &raw.fps {
        None => 40,
        Some(f) if (1..=44).contains(f.get_ref()) => *f.get_ref() as u32,
        Some(f) => {
            diags.error(
                file,
                f.span(),
                format!(
                    "fps {} is out of range: DMX512 carries 1..44 frames per second",
                    f.get_ref()
                ),
            );
            40
        }
    };

    // Nodes and the broker, then outputs (which name their node).
    let nodes = fleet::compile_nodes(file, &raw.nodes, diags);
    let fleet_spec = raw
        .fleet
        .as_ref()
        .and_then(|f| fleet::compile_fleet(file, f, raw.name.get_ref(), diags));
    if let (Some(f), true) = (&raw.fleet, nodes.is_empty()) {
        diags.error(
            file,
            f.span(),
            "[fleet] needs the site's controllers as [[nodes]] tables (name, api)",
        );
    }
    let outputs = compile_outputs(file, &raw.outputs, &nodes, diags);
    let artnet = compile_artnet_service(file, raw.artnet.as_ref(), diags);
    let rdm = rdm::compile(file, raw.rdm.as_ref(), diags);

    // Paths.
    let surfaces = surface::compile(file, &raw.surfaces, diags);
    let mut paths: Vec<Polyline> = Vec::new();
    for p in &raw.paths {
        let rp = p.get_ref();
        if paths.iter().any(|q| q.name == *rp.name.get_ref()) {
            diags.error(
                file,
                rp.name.span(),
                format!("path `{}` is defined twice", rp.name.get_ref()),
            );
            continue;
        }
        if rp.points.get_ref().len() < 2 {
            diags.error(file, rp.points.span(), "a path needs at least two points");
            continue;
        }
        if !rp.points.get_ref().iter().flatten().all(|v| v.is_finite()) {
            diags.error(file, rp.points.span(), NOT_FINITE);
            continue;
        }
        let pts = rp.points.get_ref();
        if pts.iter().all(|p| *p == pts[0]) {
            // A path of length 0 would place a whole array on one spot.
            // It is still defined below (the load fails anyway), so the
            // arrays along it and the groups of those are not reported
            // as a consequence.
            diags.error(
                file,
                rp.points.span(),
                format!(
                    "all {} points of path `{}` are the same ({}, {}): a path needs two different points",
                    pts.len(),
                    rp.name.get_ref(),
                    pts[0][0],
                    pts[0][1]
                ),
            );
        }
        paths.push(Polyline::new(
            rp.name.get_ref().clone(),
            rp.points.get_ref().clone(),
        ));
    }

    // Without the library nothing can be patched, and every array, group
    // and target would be reported as a consequence: the one problem is
    // the library, already said at the `profiles` key.
    if unreadable.is_some() {
        return None;
    }

    let find_profile = |name: &Spanned<String>,
                        mode: &Spanned<String>,
                        diags: &mut Diagnostics|
     -> Option<(usize, usize)> {
        let Some(pi) = profiles.iter().position(|p| p.key == *name.get_ref()) else {
            if broken.contains(name.get_ref()) {
                return None;
            }
            let known: Vec<&str> = profiles.iter().map(|p| p.key.as_str()).collect();
            diags.error(
                file,
                name.span(),
                format!(
                    "unknown profile `{}` (the library has: {}){}",
                    name.get_ref(),
                    known.join(", "),
                    crate::suggest::hint(name.get_ref(), known.iter().copied())
                ),
            );
            return None;
        };
        let Some(mi) = profiles[pi]
            .modes
            .iter()
            .position(|m| m.name == *mode.get_ref())
        else {
            let known: Vec<&str> = profiles[pi].modes.iter().map(|m| m.name.as_str()).collect();
            diags.error(
                file,
                mode.span(),
                format!(
                    "profile `{}` has no mode `{}` (it has: {}){}",
                    name.get_ref(),
                    mode.get_ref(),
                    known.join(", "),
                    crate::suggest::hint(mode.get_ref(), known.iter().copied())
                ),
            );
            return None;
        };
        Some((pi, mi))
    };

    // Paths lost with a misspelled key (`[[path]]`, reported with its
    // did-you-mean): an array on one of them is a follow-on, not another
    // problem. Their names are read from the file only in that case.
    let lost_paths: Vec<String> = {
        let keys: Vec<String> = diags.items[before..]
            .iter()
            .filter(|d| {
                d.severity == Severity::Error && d.message.contains("did you mean `paths`?")
            })
            .filter_map(|d| d.message.split('`').nth(1).map(str::to_string))
            .collect();
        if keys.is_empty() {
            Vec::new()
        } else {
            toml::from_str::<toml::Table>(&file.text)
                .map(|t| {
                    keys.iter()
                        .filter_map(|k| t.get(k)?.as_array().cloned())
                        .flatten()
                        .filter_map(|p| p.get("name")?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    // The patch: arrays first, in file order, then hand-placed fixtures.
    let mut pending: Vec<Pending> = Vec::new();
    for a in &raw.arrays {
        let ra = a.get_ref();
        let numbers = [Some(ra.offset), ra.from, ra.to, ra.heading];
        if !numbers.iter().flatten().all(|v| v.is_finite()) {
            diags.error(
                file,
                a.span(),
                format!("array `{}`: {NOT_FINITE}", ra.name.get_ref()),
            );
            continue;
        }
        let pm = find_profile(&ra.profile, &ra.mode, diags);
        if let Some(on) = &ra.surface {
            surface::patch_array(
                file,
                ra,
                a.span(),
                on,
                pm,
                &surfaces,
                &profiles,
                &mut pending,
                diags,
            );
            continue;
        }
        let Some(ra_path) = &ra.path else {
            diags.error(
                file,
                a.span(),
                format!(
                    "array `{}` needs a `path` to stand along (or a `surface` to fill)",
                    ra.name.get_ref()
                ),
            );
            continue;
        };
        let path = paths.iter().find(|p| p.name == *ra_path.get_ref());
        if path.is_none() && !lost_paths.contains(ra_path.get_ref()) {
            diags.error(
                file,
                ra_path.span(),
                format!(
                    "unknown path `{}`{}",
                    ra_path.get_ref(),
                    crate::suggest::hint(ra_path.get_ref(), paths.iter().map(|p| p.name.as_str()))
                ),
            );
        }
        let spacing = *ra.spacing.get_ref();
        if !(spacing.is_finite() && spacing > 0.0) {
            diags.error(
                file,
                ra.spacing.span(),
                "spacing must be more than 0 metres",
            );
        }
        let start = parse_address(ra.start.get_ref())
            .map_err(|m| diags.error(file, ra.start.span(), m))
            .ok();
        let (Some((pi, mi)), Some(path), Some((mut universe, mut address))) = (pm, path, start)
        else {
            continue;
        };
        if !(spacing.is_finite() && spacing > 0.0) {
            continue;
        }
        let from = ra.from.unwrap_or(0.0).max(0.0);
        let to = ra.to.unwrap_or(path.length()).min(path.length());
        if to < from {
            diags.error(
                file,
                a.span(),
                format!(
                    "array `{}` runs from {from} m to {to} m: `to` must not be before `from`",
                    ra.name.get_ref()
                ),
            );
            continue;
        }
        let count = ((to - from) / spacing + 1e-9).floor() as usize + 1;
        // A typo like spacing = 0.001 would otherwise patch millions of
        // fixtures; no real array is longer than this.
        const MAX_ARRAY: usize = 100_000;
        if count > MAX_ARRAY {
            diags.error(
                file,
                ra.spacing.span(),
                format!("array `{}` would hold {count} fixtures: more than {MAX_ARRAY}, check `spacing`", ra.name.get_ref()),
            );
            continue;
        }
        if let Some(l) = &ra.length {
            if !l.get_ref().is_finite() || *l.get_ref() < 0.0 {
                diags.error(file, l.span(), "length must be 0 metres or more");
                continue;
            }
        }
        let footprint = profiles[pi].modes[mi].footprint;
        for i in 0..count {
            let s = from + i as f64 * spacing;
            let (pt, dir) = path.at(s);
            // Offset to the right of the direction of travel.
            let normal = [dir[1], -dir[0]];
            // Auto-addressing never splits a fixture across universes.
            if address as usize + footprint as usize - 1 > UNIVERSE_SIZE {
                universe += 1;
                address = 1;
            }
            if universe > MAX_UNIVERSE {
                diags.error(
                    file,
                    ra.start.span(),
                    format!(
                        "array `{}` runs past universe {MAX_UNIVERSE}",
                        ra.name.get_ref()
                    ),
                );
                break;
            }
            pending.push(Pending {
                name: format!("{}-{:03}", ra.name.get_ref(), i + 1),
                name_span: ra.name.span(),
                profile: pi,
                mode: mi,
                universe,
                address,
                position: [pt[0] + normal[0] * ra.offset, pt[1] + normal[1] * ra.offset],
                heading: ra.heading.map(heading_vector).unwrap_or(dir),
                length: ra.length.as_ref().map(|l| *l.get_ref()).unwrap_or(1.0),
                path_distance: Some(s),
                surface: None,
            });
            address += footprint;
        }
    }
    for f in &raw.fixtures {
        let rf = f.get_ref();
        if !(rf.at.iter().all(|v| v.is_finite()) && rf.heading.is_none_or(f64::is_finite)) {
            diags.error(
                file,
                f.span(),
                format!("fixture `{}`: {NOT_FINITE}", rf.name.get_ref()),
            );
            continue;
        }
        let pm = find_profile(&rf.profile, &rf.mode, diags);
        let addr = parse_address(rf.address.get_ref())
            .map_err(|m| diags.error(file, rf.address.span(), m))
            .ok();
        let (Some((pi, mi)), Some((universe, address))) = (pm, addr) else {
            continue;
        };
        let footprint = profiles[pi].modes[mi].footprint as usize;
        if address as usize + footprint - 1 > UNIVERSE_SIZE {
            diags.error(
                file,
                rf.address.span(),
                format!(
                    "fixture `{}` does not fit its universe: {} channels from address {address} end at {}, a universe has 512",
                    rf.name.get_ref(),
                    footprint,
                    address as usize + footprint - 1
                ),
            );
            continue;
        }
        if let Some(l) = &rf.length {
            if !l.get_ref().is_finite() || *l.get_ref() < 0.0 {
                diags.error(file, l.span(), "length must be 0 metres or more");
            }
        }
        let (position, heading, spot) = match &rf.surface {
            None => (rf.at, heading_vector(rf.heading.unwrap_or(90.0)), None),
            Some(on) => {
                let Some(k) = surface::find(file, &surfaces, on, diags) else {
                    continue;
                };
                let (position, heading, spot) = surface::place_fixture(
                    file,
                    &surfaces,
                    k,
                    rf.at,
                    rf.heading,
                    f.span(),
                    rf.name.get_ref(),
                    diags,
                );
                (position, heading, Some(spot))
            }
        };
        pending.push(Pending {
            name: rf.name.get_ref().clone(),
            name_span: rf.name.span(),
            profile: pi,
            mode: mi,
            universe,
            address,
            position,
            heading,
            length: rf.length.as_ref().map(|l| *l.get_ref()).unwrap_or(1.0),
            path_distance: None,
            surface: spot,
        });
    }

    // The arrays and fixtures that were not patched because of a problem
    // already reported (or a broken profile, reported in its file): a
    // group member that would have named them is a follow-on, not another
    // problem. An array that patched anything patched its `-001`.
    let patched: HashSet<&str> = pending.iter().map(|p| p.name.as_str()).collect();
    let failed = FailedPatch {
        arrays: raw
            .arrays
            .iter()
            .map(|a| a.get_ref().name.get_ref().clone())
            .filter(|a| !patched.contains(format!("{a}-001").as_str()))
            .collect(),
        fixtures: raw
            .fixtures
            .iter()
            .map(|f| f.get_ref().name.get_ref().clone())
            .filter(|f| !patched.contains(f.as_str()))
            .collect(),
        groups: BTreeSet::new(),
    };
    drop(patched);

    // Names are unique; addresses do not overlap.
    let mut fixture_index: HashMap<String, u32> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        if fixture_index.insert(p.name.clone(), i as u32).is_some() {
            diags.error(
                file,
                p.name_span.clone(),
                format!("fixture name `{}` is used twice", p.name),
            );
        }
    }
    let mut occupancy: HashMap<u16, Vec<Option<u32>>> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        let footprint = profiles[p.profile].modes[p.mode].footprint as usize;
        let slots = occupancy
            .entry(p.universe)
            .or_insert_with(|| vec![None; UNIVERSE_SIZE]);
        let start = p.address as usize - 1;
        let end = (start + footprint).min(UNIVERSE_SIZE);
        if let Some(other) = slots[start..end].iter().flatten().next().copied() {
            let o = &pending[other as usize];
            diags.error(
                file,
                p.name_span.clone(),
                format!(
                    "`{}` at {}.{} overlaps `{}` at {}.{} (channels {}..{} of universe {})",
                    p.name,
                    p.universe,
                    p.address,
                    o.name,
                    o.universe,
                    o.address,
                    start + 1,
                    end,
                    p.universe
                ),
            );
            continue;
        }
        for s in &mut slots[start..end] {
            *s = Some(i as u32);
        }
    }

    // Universes: everything sent plus everything patched.
    let mut universe_set: BTreeSet<u16> = outputs
        .iter()
        .flat_map(|o| o.universes.iter().copied())
        .collect();
    let sent = universe_set.clone();
    let mut unsent: BTreeMap<u16, (usize, &Pending)> = BTreeMap::new();
    for p in &pending {
        if !sent.contains(&p.universe) {
            unsent.entry(p.universe).or_insert((0, p)).0 += 1;
        }
        universe_set.insert(p.universe);
    }
    // With an error already in the file (an output that did not compile,
    // most often), a universe without a sender is likely its follow-on:
    // said once the file loads, if still true.
    let erred = diags.items[before..]
        .iter()
        .any(|d| d.severity == Severity::Error);
    for (u, (count, first)) in unsent.into_iter().filter(|_| !erred) {
        diags.warn(
            file,
            first.name_span.clone(),
            format!(
                "universe {u} is patched ({count} fixture{}, first `{}`) but no output sends it",
                if count == 1 { "" } else { "s" },
                first.name
            ),
        );
    }
    let universes: Vec<u16> = universe_set.into_iter().collect();

    // Fixtures and cells.
    let mut fixtures = Vec::with_capacity(pending.len());
    let mut cells = Vec::new();
    let mut surface_cells = surface::SurfaceCells::default();
    let mut offsets: Vec<f64> = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        let mode = &profiles[p.profile].modes[p.mode];
        let n = mode.cells;
        let first_cell = cells.len() as u32;
        offsets.clear();
        for c in 0..n {
            // Cells spread evenly over the fixture's length, centred on it.
            let t = if n > 1 {
                (c as f64 + 0.5) / n as f64 - 0.5
            } else {
                0.0
            } * p.length;
            offsets.push(t);
            cells.push(Cell {
                fixture: i as u32,
                position: [
                    (p.position[0] + p.heading[0] * t) as f32,
                    (p.position[1] + p.heading[1] * t) as f32,
                ],
                path_distance: p.path_distance.map(|d| (d + t) as f32).unwrap_or(f32::NAN),
            });
        }
        surface_cells.push_fixture(p.surface, &offsets, first_cell as usize);
        fixtures.push(Fixture {
            universe_index: universes.binary_search(&p.universe).unwrap_or(0) as u32,
            name: p.name,
            profile: p.profile,
            mode: p.mode,
            universe: p.universe,
            address: p.address,
            position: p.position,
            path_distance: p.path_distance,
            first_cell,
            cell_count: n,
        });
    }

    let sent: Vec<u16> = outputs
        .iter()
        .flat_map(|o| o.universes.iter().copied())
        .collect::<BTreeSet<u16>>()
        .into_iter()
        .collect();
    let inputs_list = inputs::compile_inputs(file, &raw.inputs, &sent, diags);
    let mut site = Site {
        name: raw.name.get_ref().clone(),
        latitude: lat,
        longitude: lon,
        timezone,
        fps,
        profiles,
        fixtures,
        cells,
        universes,
        groups: BTreeMap::new(),
        outputs,
        paths,
        on_stop,
        on_stop_span,
        folder: file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        source: file.clone(),
        nodes,
        fleet: fleet_spec,
        artnet,
        rdm,
        inputs: inputs_list,
        surfaces,
        surface_cells,
        fixture_index,
        unpatched: failed,
        group_spans: raw
            .groups
            .iter()
            .map(|(name, members)| (name.clone(), members.span()))
            .collect(),
    };

    // Groups may name other groups (in any order), fixtures, or globs.
    // Resolve them to a fixed point so a group can name one defined later;
    // whatever is left unresolved refers to itself in a cycle.
    for (name, patterns) in &raw.groups {
        if site.fixture_index.contains_key(name) {
            diags.error(
                file,
                patterns.span(),
                format!("group `{name}` has the same name as a fixture"),
            );
        }
    }
    let mut pending_groups: Vec<&String> = raw.groups.keys().collect();
    loop {
        let before_len = pending_groups.len();
        pending_groups.retain(|name| {
            let patterns = &raw.groups[*name];
            let waits = patterns.get_ref().iter().any(|p| {
                raw.groups.contains_key(p.get_ref()) && !site.groups.contains_key(p.get_ref())
            });
            if waits {
                return true;
            }
            let mut members: BTreeSet<u32> = BTreeSet::new();
            for pat in patterns.get_ref() {
                let found = site.resolve_target(pat.get_ref());
                if found.is_empty() && site.unpatched.names(pat.get_ref()) {
                    site.unpatched.groups.insert((*name).clone());
                } else if found.is_empty() {
                    diags.error(
                        file,
                        pat.span(),
                        format!(
                            "`{}` in group `{name}` matches no fixture{}",
                            pat.get_ref(),
                            crate::suggest::hint_glob(
                                pat.get_ref(),
                                site.groups
                                    .keys()
                                    .map(String::as_str)
                                    .chain(site.fixtures.iter().map(|f| f.name.as_str()))
                            )
                        ),
                    );
                }
                members.extend(found);
            }
            site.groups
                .insert((*name).clone(), members.into_iter().collect());
            false
        });
        if pending_groups.is_empty() || pending_groups.len() == before_len {
            break;
        }
    }
    for name in pending_groups {
        diags.error(
            file,
            raw.groups[name].span(),
            format!(
                "group `{name}` refers to itself through other groups: groups cannot form a cycle"
            ),
        );
    }

    if diags.items[before..]
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        return None;
    }
    Some(site)
}

/// The profile library folder named by a site file (`profiles = "..."`,
/// relative to the site folder; default `../fixtures`).
pub fn profile_dir(file: &SourceFile) -> PathBuf {
    #[derive(Deserialize)]
    struct Only {
        profiles: Option<String>,
    }
    // A file past the reader's limits is reported where it is loaded;
    // here it only costs the default, never an unbounded read.
    let rel = crate::diag::within_limits(&file.text)
        .then(|| toml::from_str::<Only>(&file.text).ok())
        .flatten()
        .and_then(|o| o.profiles)
        .unwrap_or_else(|| "../fixtures".to_string());
    normalise(&file.path.parent().unwrap_or(Path::new(".")).join(rel))
}

/// Remove `dir/..` pairs lexically so messages say `fixtures/x.toml`, not
/// `shows/../fixtures/x.toml`.
fn normalise(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}
