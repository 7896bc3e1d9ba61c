//! The site: where the lights are and how they are wired.
//!
//! `shows/site.toml` names the place (latitude, longitude, timezone), the
//! frame rate, the outputs, the paths, the arrays and hand-placed fixtures
//! (the patch) and the groups. Loading turns it into a [`Site`]: every
//! fixture with its profile mode, DMX address and plan position, every
//! pixel cell with its own position, and groups resolved to fixture lists.
//! Sections owned by other concepts (`schedule`, `modes`, `api`, `curfew`,
//! `energy`) are parsed by their own modules from the same file.
//!
//! [`compile`] reads the file in the order its problems are reported, one
//! step per section: place and pace (`place.rs`), nodes and the broker
//! (`fleet.rs`), outputs (`outputs.rs`, their addresses in `targets.rs`),
//! `[artnet]` (`artnet.rs`), `[rdm]`, surfaces, paths and the patch
//! (`patch.rs`), the patch laid out into fixtures, cells and universes
//! (`layout.rs`), inputs, and groups (`groups.rs`).

mod artnet;
pub mod fleet;
pub(crate) mod geometry;
pub(crate) mod glob;
mod groups;
pub mod inputs;
mod layout;
mod outputs;
mod patch;
mod place;
pub(crate) mod rdm;
pub mod surface;
mod targets;
pub(crate) mod triggers;

pub(crate) use artnet::ArtNetService;
pub use outputs::{artnet_broadcast, OutputConfig, OutputKind, SacnTarget};
pub(crate) use patch::parse_address;
pub use place::OnStop;
pub use targets::format_universes;

use crate::diag::Spanned;
use crate::diag::{Diagnostics, Severity, SourceFile};
use crate::fixture::{self, Profile};
use geometry::Polyline;
use groups::FailedPatch;
use outputs::RawOutput;
use patch::{Pending, RawArray, RawFixture, RawPath};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use targets::{parse_target, parse_universes, UniverseList};

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
    groups: groups::RawGroups,
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
    shutdown: Option<Spanned<place::RawShutdown>>,
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
    artnet: Option<Spanned<artnet::RawArtNetService>>,
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

/// The JSON Schema of the site file's own keys; the sections other
/// modules read are merged in by [`crate::schema::generate`].
pub(crate) fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawSite>()
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

/// Parse and compile a site file. `profile_dir` is resolved by the caller
/// from the `profiles` key (see [`profile_dir`]).
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
    let place = place::compile(file, &raw, diags);

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
    let outputs = outputs::compile_outputs(file, &raw.outputs, &nodes, diags);
    let artnet = artnet::compile(file, raw.artnet.as_ref(), diags);
    let rdm = rdm::compile(file, raw.rdm.as_ref(), diags);

    let surfaces = surface::compile(file, &raw.surfaces, diags);
    let paths = patch::compile_paths(file, &raw.paths, diags);

    // Without the library nothing can be patched, and every array, group
    // and target would be reported as a consequence: the one problem is
    // the library, already said at the `profiles` key.
    if unreadable.is_some() {
        return None;
    }

    let lib = patch::Patcher {
        file,
        profiles: &profiles,
        broken: &broken,
        paths: &paths,
        surfaces: &surfaces,
    };
    let pending = patch::patch(lib, &raw.arrays, &raw.fixtures, before, diags);
    let unpatched = FailedPatch::of(&raw.arrays, &raw.fixtures, &pending);
    let layout = layout::lay_out(file, pending, &profiles, &outputs, before, diags);

    let sent: Vec<u16> = outputs
        .iter()
        .flat_map(|o| o.universes.iter().copied())
        .collect::<BTreeSet<u16>>()
        .into_iter()
        .collect();
    let inputs_list = inputs::compile_inputs(file, &raw.inputs, &sent, diags);
    let mut site = Site {
        name: raw.name.get_ref().clone(),
        latitude: place.latitude,
        longitude: place.longitude,
        timezone: place.timezone,
        fps: place.fps,
        profiles,
        fixtures: layout.fixtures,
        cells: layout.cells,
        universes: layout.universes,
        groups: BTreeMap::new(),
        outputs,
        paths,
        on_stop: place.on_stop,
        on_stop_span: place.on_stop_span,
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
        surface_cells: layout.surface_cells,
        fixture_index: layout.fixture_index,
        unpatched,
        group_spans: raw
            .groups
            .iter()
            .map(|(name, members)| (name.clone(), members.span()))
            .collect(),
    };
    groups::resolve(file, &raw.groups, &mut site, diags);

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
