//! The site: where the lights are and how they are wired.
//!
//! `shows/site.toml` names the place (latitude, longitude, timezone), the
//! frame rate, the outputs, the paths, the arrays and hand-placed fixtures
//! (the patch) and the groups. Loading turns it into a [`Site`]: every
//! fixture with its profile mode, DMX address and plan position, every
//! pixel cell with its own position, and groups resolved to fixture lists.
//! Sections owned by other concepts (`schedule`, `modes`, `api`, `curfew`,
//! `energy`) are parsed by their own modules from the same file.

pub mod geometry;
pub mod glob;

use crate::diag::{Diagnostics, Severity, SourceFile};
use crate::fixture::{self, Profile};
use geometry::{heading_vector, Polyline};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const UNIVERSE_SIZE: usize = 512;
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
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub kind: OutputKind,
    pub universes: Vec<u16>,
}

#[derive(Debug, Clone)]
pub enum OutputKind {
    ArtNet { target: SocketAddr, sync: bool },
    Sacn { target: String, priority: u8 },
    EnttecPro { port: String },
    OpenDmx { port: String },
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
    pub source: SourceFile,
    fixture_index: HashMap<String, u32>,
}

impl Site {
    pub fn mode_of(&self, f: &Fixture) -> &fixture::Mode {
        &self.profiles[f.profile].modes[f.mode]
    }

    pub fn profile_of(&self, f: &Fixture) -> &Profile {
        &self.profiles[f.profile]
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
            let mut set: BTreeSet<u32> = BTreeSet::new();
            for (name, members) in &self.groups {
                if glob::matches(t, name) {
                    set.extend(members);
                }
            }
            for (i, f) in self.fixtures.iter().enumerate() {
                if glob::matches(t, &f.name) {
                    set.insert(i as u32);
                }
            }
            return set.into_iter().collect();
        }
        Vec::new()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Spanned<String>,
    latitude: Spanned<f64>,
    longitude: Spanned<f64>,
    timezone: Spanned<String>,
    #[serde(default)]
    fps: Option<Spanned<i64>>,
    /// Read by [`profile_dir`] before the profiles are loaded.
    #[serde(default)]
    #[allow(dead_code)]
    profiles: Option<Spanned<String>>,
    #[serde(default)]
    outputs: Vec<Spanned<RawOutput>>,
    #[serde(default)]
    paths: Vec<Spanned<RawPath>>,
    #[serde(default)]
    arrays: Vec<Spanned<RawArray>>,
    #[serde(default)]
    fixtures: Vec<Spanned<RawFixture>>,
    #[serde(default)]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    // Sections read by their own modules from the same file.
    #[serde(default)]
    #[allow(dead_code)]
    schedule: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    modes: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    api: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    curfew: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    energy: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    state_dir: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    shutdown: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    kind: Spanned<String>,
    #[serde(default)]
    target: Option<Spanned<String>>,
    #[serde(default)]
    port: Option<Spanned<String>>,
    universes: Spanned<UniverseList>,
    #[serde(default)]
    sync: Option<bool>,
    #[serde(default)]
    priority: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UniverseList {
    One(i64),
    Text(String),
    List(Vec<i64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    name: Spanned<String>,
    points: Spanned<Vec<[f64; 2]>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArray {
    name: Spanned<String>,
    profile: Spanned<String>,
    mode: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    offset: f64,
    #[serde(default)]
    from: Option<f64>,
    #[serde(default)]
    to: Option<f64>,
    spacing: Spanned<f64>,
    start: Spanned<String>,
    #[serde(default)]
    length: Option<Spanned<f64>>,
    /// Compass heading of the fixtures' cells (default: along the path).
    #[serde(default)]
    heading: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    name: Spanned<String>,
    profile: Spanned<String>,
    mode: Spanned<String>,
    at: [f64; 2],
    address: Spanned<String>,
    /// Compass heading of a pixel fixture's cells (degrees, 0 = north).
    #[serde(default)]
    heading: Option<f64>,
    /// Length over which a pixel fixture's cells are spread (metres).
    #[serde(default)]
    length: Option<Spanned<f64>>,
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
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.is_ipv4()))
        .ok_or_else(|| format!("`{text}` is not a reachable address: write an IP like \"10.0.4.20\" or \"127.0.0.1:6454\""))
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
}

/// Load the profile library: every `*.toml` in `dir`, keyed by file stem.
pub fn load_profiles(dir: &Path, diags: &mut Diagnostics) -> Vec<Profile> {
    let mut profiles = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.file_error(dir, format!("cannot read the profile library: {e}"));
            return profiles;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let key = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file = SourceFile::new(&path, text);
                if let Some(p) = fixture::parse_profile(&key, &file, diags) {
                    profiles.push(p);
                }
            }
            Err(e) => diags.file_error(&path, format!("cannot read: {e}")),
        }
    }
    profiles
}

/// Parse and compile a site file. `profile_dir` is resolved by the caller
/// from the `profiles` key (see [`profile_dir`]).
pub fn compile(file: &SourceFile, profiles: Vec<Profile>, diags: &mut Diagnostics) -> Option<Site> {
    let raw: RawSite = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            diags.toml_error(file, &e);
            return None;
        }
    };
    let before = diags.items.len();
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

    // Outputs.
    let mut outputs = Vec::new();
    for o in &raw.outputs {
        let ro = o.get_ref();
        let universes = match parse_universes(ro.universes.get_ref()) {
            Ok(u) => u,
            Err(m) => {
                diags.error(file, ro.universes.span(), m);
                continue;
            }
        };
        let need = |field: &Option<Spanned<String>>,
                    what: &str,
                    diags: &mut Diagnostics|
         -> Option<(String, Range<usize>)> {
            match field {
                Some(s) => Some((s.get_ref().clone(), s.span())),
                None => {
                    diags.error(
                        file,
                        o.span(),
                        format!("a {} output needs `{what}`", ro.kind.get_ref()),
                    );
                    None
                }
            }
        };
        let kind =
            match ro.kind.get_ref().as_str() {
                "artnet" => need(&ro.target, "target", diags).and_then(|(t, span)| {
                    match parse_target(&t, 6454) {
                        Ok(target) => Some(OutputKind::ArtNet {
                            target,
                            sync: ro.sync.unwrap_or(false),
                        }),
                        Err(m) => {
                            diags.error(file, span, m);
                            None
                        }
                    }
                }),
                "sacn" => {
                    let priority = match &ro.priority {
                        None => 100,
                        Some(p) if (0..=200).contains(p.get_ref()) => *p.get_ref() as u8,
                        Some(p) => {
                            diags.error(file, p.span(), "sACN priority is 0..200");
                            100
                        }
                    };
                    need(&ro.target, "target", diags)
                        .map(|(target, _)| OutputKind::Sacn { target, priority })
                }
                "enttec-pro" => {
                    need(&ro.port, "port", diags).map(|(port, _)| OutputKind::EnttecPro { port })
                }
                "open-dmx" => {
                    need(&ro.port, "port", diags).map(|(port, _)| OutputKind::OpenDmx { port })
                }
                other => {
                    diags.error(
                        file,
                        ro.kind.span(),
                        format!(
                        "unknown output kind `{other}`: use artnet, sacn, enttec-pro or open-dmx"
                    ),
                    );
                    None
                }
            };
        if let Some(kind) = kind {
            outputs.push(OutputConfig { kind, universes });
        }
    }

    // Paths.
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
        paths.push(Polyline::new(
            rp.name.get_ref().clone(),
            rp.points.get_ref().clone(),
        ));
    }

    let find_profile = |name: &Spanned<String>,
                        mode: &Spanned<String>,
                        diags: &mut Diagnostics|
     -> Option<(usize, usize)> {
        let Some(pi) = profiles.iter().position(|p| p.key == *name.get_ref()) else {
            let known: Vec<&str> = profiles.iter().map(|p| p.key.as_str()).collect();
            diags.error(
                file,
                name.span(),
                format!(
                    "unknown profile `{}` (the library has: {})",
                    name.get_ref(),
                    known.join(", ")
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
                    "profile `{}` has no mode `{}` (it has: {})",
                    name.get_ref(),
                    mode.get_ref(),
                    known.join(", ")
                ),
            );
            return None;
        };
        Some((pi, mi))
    };

    // The patch: arrays first, in file order, then hand-placed fixtures.
    let mut pending: Vec<Pending> = Vec::new();
    for a in &raw.arrays {
        let ra = a.get_ref();
        let pm = find_profile(&ra.profile, &ra.mode, diags);
        let path = paths.iter().find(|p| p.name == *ra.path.get_ref());
        if path.is_none() {
            diags.error(
                file,
                ra.path.span(),
                format!("unknown path `{}`", ra.path.get_ref()),
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
            });
            address += footprint;
        }
    }
    for f in &raw.fixtures {
        let rf = f.get_ref();
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
            if l.get_ref().is_nan() || *l.get_ref() < 0.0 {
                diags.error(file, l.span(), "length must be 0 metres or more");
            }
        }
        pending.push(Pending {
            name: rf.name.get_ref().clone(),
            name_span: rf.name.span(),
            profile: pi,
            mode: mi,
            universe,
            address,
            position: rf.at,
            heading: heading_vector(rf.heading.unwrap_or(90.0)),
            length: rf.length.as_ref().map(|l| *l.get_ref()).unwrap_or(1.0),
            path_distance: None,
        });
    }

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
    for p in &pending {
        if !sent.contains(&p.universe) {
            diags.warn(
                file,
                p.name_span.clone(),
                format!(
                    "`{}` is patched to universe {}, which no output sends",
                    p.name, p.universe
                ),
            );
        }
        universe_set.insert(p.universe);
    }
    let universes: Vec<u16> = universe_set.into_iter().collect();

    // Fixtures and cells.
    let mut fixtures = Vec::with_capacity(pending.len());
    let mut cells = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        let mode = &profiles[p.profile].modes[p.mode];
        let n = mode.cells;
        let first_cell = cells.len() as u32;
        for c in 0..n {
            // Cells spread evenly over the fixture's length, centred on it.
            let t = if n > 1 {
                (c as f64 + 0.5) / n as f64 - 0.5
            } else {
                0.0
            } * p.length;
            cells.push(Cell {
                fixture: i as u32,
                position: [
                    (p.position[0] + p.heading[0] * t) as f32,
                    (p.position[1] + p.heading[1] * t) as f32,
                ],
                path_distance: p.path_distance.map(|d| (d + t) as f32).unwrap_or(f32::NAN),
            });
        }
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
        folder: file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        source: file.clone(),
        fixture_index,
    };

    // Groups may name other groups defined before them, fixtures, or globs.
    for (name, patterns) in &raw.groups {
        if site.fixture_index.contains_key(name) {
            diags.error(
                file,
                patterns.span(),
                format!("group `{name}` has the same name as a fixture"),
            );
        }
        let mut members: BTreeSet<u32> = BTreeSet::new();
        for pat in patterns.get_ref() {
            let found = site.resolve_target(pat.get_ref());
            if found.is_empty() {
                diags.error(
                    file,
                    pat.span(),
                    format!("`{}` in group `{name}` matches no fixture", pat.get_ref()),
                );
            }
            members.extend(found);
        }
        site.groups
            .insert(name.clone(), members.into_iter().collect());
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
    let rel = toml::from_str::<Only>(&file.text)
        .ok()
        .and_then(|o| o.profiles)
        .unwrap_or_else(|| "../fixtures".to_string());
    file.path.parent().unwrap_or(Path::new(".")).join(rel)
}
