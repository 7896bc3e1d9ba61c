//! Operator control: overrides, triggered scenes and masters, as data, and
//! their translation into engine inputs.
//!
//! The API and the store own how these arrive and persist; this module owns
//! what they mean. Every control item becomes either an [`ActiveShow`] at a
//! priority band above the schedule (a scene, a colour or show override, a
//! blackout) or a per-fixture scale (a level override, a master). Items
//! fade in from their start and fade out ending at their end, through the
//! same envelope as shows, so cancelling an override is a fade, not a jump.
//!
//! Priority bands, lowest to highest: schedule entries (their own numbers,
//! below [`SCENE`]), scenes, overrides, emergency. An emergency blackout
//! yields only to another emergency.

pub mod fleet;

use crate::color::Color;
use crate::config::Config;
use crate::engine::{seconds_between, ActiveShow, Limits};
use crate::show::{Blend, Layer, Show};
use crate::site::Site;
use crate::units;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const SCENE: i32 = 1_000;
pub const OVERRIDE: i32 = 2_000;
pub const EMERGENCY: i32 = 1_000_000;

/// A request could not be accepted: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Resolve a priority given as a band name ("scene", "override",
/// "emergency", "schedule") or a number (taken as is).
pub fn parse_priority(text: &str, default: i32) -> Result<i32, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "schedule" => Ok(0),
        "scene" => Ok(SCENE),
        "override" => Ok(OVERRIDE),
        "emergency" => Ok(EMERGENCY),
        other => other
            .parse::<i32>()
            .ok()
            .filter(|p| (0..=EMERGENCY).contains(p))
            .ok_or_else(|| format!("`{text}` is not a priority: use schedule, scene, override, emergency or a number 0..{EMERGENCY}")),
    }
}

/// What an override does to its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Scale the target's output (a zone dimmer): 0.3 = 30 % of what plays.
    Level(f32),
    /// A steady colour on the target, replacing what plays.
    Color(String),
    /// Play a show on the target.
    Show(String),
    /// Dark, whatever plays.
    Blackout,
}

impl std::fmt::Display for Action {
    /// As an operator reads it in a log: `level 30%`, `color #ff0000`,
    /// `show festival`, `blackout`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Level(l) => write!(f, "level {}%", crate::units::percent(f64::from(*l))),
            Action::Color(c) => write!(f, "color {c}"),
            Action::Show(s) => write!(f, "show {s}"),
            Action::Blackout => write!(f, "blackout"),
        }
    }
}

/// An operator override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub id: i64,
    pub target: String,
    pub action: Action,
    pub priority: i32,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    /// Fade time in and out, seconds.
    pub fade: f64,
    pub note: Option<String>,
    pub author: String,
}

/// A triggered scene: a show played now on top of the schedule, ending by
/// itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub id: i64,
    pub show: String,
    pub target: Option<String>,
    pub priority: i32,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// Fade override in seconds; None = the show's own fade times.
    pub fade: Option<f64>,
    pub author: String,
}

/// A grand master ("*") or group master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Master {
    pub target: String,
    pub level: f32,
}

/// Everything operators have asked for, as it persists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlState {
    pub overrides: Vec<Override>,
    pub scenes: Vec<Scene>,
    pub masters: Vec<Master>,
}

impl ControlState {
    /// Drop items that ended before `at` (their fade-out is over).
    pub fn prune(&mut self, at: DateTime<Utc>) -> bool {
        let before = self.overrides.len() + self.scenes.len();
        self.overrides.retain(|o| o.expires.is_none_or(|e| e > at));
        self.scenes.retain(|s| s.ends > at);
        before != self.overrides.len() + self.scenes.len()
    }
}

/// Whether releasing `target` (whose fixtures, from [`check_target`], are
/// `within`) lifts `o`. An override is on a target when it names it, or
/// when every fixture it reaches is inside it: releasing the square must
/// not lift a whole-site blackout, but does lift an override on one square
/// fixture. The API and the operator operations (OSC, triggers) release by
/// this one rule.
pub fn released_by(
    site: &Site,
    target: &str,
    within: &std::collections::BTreeSet<u32>,
    o: &Override,
) -> bool {
    o.target == target || {
        let f = site.resolve_target(&o.target);
        !f.is_empty() && f.iter().all(|x| within.contains(x))
    }
}

/// Check a target names something in the site.
pub fn check_target(site: &Site, target: &str) -> Result<Vec<u32>, FieldError> {
    let found = site.resolve_target(target);
    if found.is_empty() {
        return Err(FieldError::new(
            "target",
            format!(
                "`{target}` matches no fixture, group or glob in the site (use \"*\" for everything){}",
                crate::suggest::hint_glob(
                    target,
                    site.groups
                        .keys()
                        .map(String::as_str)
                        .chain(site.fixtures.iter().map(|f| f.name.as_str()))
                )
            ),
        ));
    }
    Ok(found)
}

/// "unknown show `x` (the site has: …); did you mean …": what every way of
/// naming a show that is not there answers (a command, `run --show`).
pub fn unknown_show(cfg: &Config, name: &str) -> String {
    crate::suggest::unknown_show(name, &cfg.show_order)
}

/// A command operators give, wherever it comes from (the API, the fleet,
/// OSC, a trigger), as [`validate`] checks it.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Override(&'a Override),
    Scene(&'a Scene),
    Master(&'a Master),
}

/// Why [`validate`] refused a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// A value of the command is wrong: a target that matches nothing, a
    /// level, colour, fade or duration out of range, an override's show
    /// that does not exist.
    #[error("{0}")]
    Invalid(FieldError),
    /// What the command is about does not exist: the show a scene plays.
    #[error("{0}")]
    NotFound(FieldError),
}

impl Refusal {
    /// The field at fault and why.
    pub fn field_error(&self) -> &FieldError {
        match self {
            Refusal::Invalid(e) | Refusal::NotFound(e) => e,
        }
    }
}

impl From<FieldError> for Refusal {
    fn from(e: FieldError) -> Refusal {
        Refusal::Invalid(e)
    }
}

/// Check a command against the configuration in force: the one check every
/// source of commands runs before anything is stored or applied, so an
/// override from OSC, a trigger or another node of the fleet is held to
/// exactly what the API holds it to. Checks run in a fixed order and the
/// first failure is returned.
pub fn validate(cfg: &Config, item: Item<'_>) -> Result<(), Refusal> {
    let fade = |f: f64| {
        if f.is_finite() && f >= 0.0 {
            Ok(())
        } else {
            Err(FieldError::new("fade", "fade must be 0s or more"))
        }
    };
    let level = |l: f32| units::check_level(f64::from(l)).map_err(|m| FieldError::new("level", m));
    match item {
        Item::Override(o) => {
            check_target(&cfg.site, &o.target)?;
            match &o.action {
                Action::Level(l) => {
                    level(*l)?;
                }
                Action::Color(c) => {
                    Color::parse(c).map_err(|m| FieldError::new("color", m))?;
                }
                Action::Show(s) if cfg.show(s).is_none() => {
                    return Err(FieldError::new("show", unknown_show(cfg, s)).into());
                }
                Action::Show(_) | Action::Blackout => {}
            }
            fade(o.fade)?;
            if o.expires.is_some_and(|e| e <= o.created) {
                return Err(FieldError::new(
                    "ttl",
                    "ttl must be more than 0s (leave it out for an override that lasts until released)",
                )
                .into());
            }
        }
        Item::Scene(s) => {
            if cfg.show(&s.show).is_none() {
                return Err(Refusal::NotFound(FieldError::new(
                    "show",
                    unknown_show(cfg, &s.show),
                )));
            }
            if s.ends <= s.started {
                return Err(FieldError::new("duration", "duration must be more than 0s").into());
            }
            if let Some(f) = s.fade {
                fade(f)?;
            }
            if let Some(t) = &s.target {
                check_target(&cfg.site, t)?;
            }
        }
        Item::Master(m) => {
            level(m.level)?;
            check_target(&cfg.site, &m.target)?;
        }
    }
    Ok(())
}

/// Build a one-layer show that paints `target` a steady colour.
fn solid_show(
    site: &Site,
    name: &str,
    target: &[u32],
    color: Color,
    level: f32,
    fade: f64,
) -> Show {
    let cells: Vec<u32> = target
        .iter()
        .flat_map(|&f| {
            let fx = &site.fixtures[f as usize];
            fx.first_cell..fx.first_cell + fx.cell_count as u32
        })
        .collect();
    let n = cells.len();
    Show {
        name: name.to_string(),
        fade_in: fade,
        fade_out: fade,
        scene: false,
        timecode: None,
        layers: vec![Layer {
            target: name.to_string(),
            effect: crate::show::effect::Effect::Solid { color },
            level,
            blend: Blend::Ltp,
            along: vec![0.0; n],
            u: vec![0.0; n],
            rank: (0..n as u32).collect(),
            phase: Vec::new(),
            count: n as u32,
            order: crate::show::CellOrder::of(&cells),
            sparkles: Default::default(),
            cells,
            fixtures: target.to_vec(),
            motion: None,
            location: (0, 0),
        }],
        path: Default::default(),
        name_span: 0..0,
    }
}

struct Entry {
    show: Arc<Show>,
    mask: Option<Vec<bool>>,
    started: DateTime<Utc>,
    ends: Option<DateTime<Utc>>,
    priority: i32,
}

struct Scale {
    fixtures: Vec<u32>,
    level: f32,
    started: DateTime<Utc>,
    ends: Option<DateTime<Utc>>,
    fade: f64,
}

/// A persistent ordered map: a clone shares every node, an insertion or a
/// removal copies O(log n) of them. Operator control is kept in these so a
/// change costs O(log n) however many items are in force, and the frame
/// loop's snapshot (a clone) costs O(1).
pub type Map<K, V> = rpds::RedBlackTreeMapSync<K, V>;

/// Where a control item sits in the merge order. Shows of equal priority
/// merge in this order on every node of a fleet: scenes before overrides,
/// each by its start instant and then its id; scales multiply level
/// overrides first and masters last, so the bytes do not depend on the
/// order in which changes arrived.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Scene(DateTime<Utc>, i64),
    Override(DateTime<Utc>, i64),
    Master(String),
}

/// What an item was compiled from: kept so a reload recompiles it against
/// the new configuration, and an item a reload dropped (its show or group
/// removed) comes back when a later reload restores what it needs.
enum Source {
    Scene(Scene),
    Override(Override),
    Master(Master),
}

enum Compiled {
    Show(Entry),
    Scale(Scale),
}

/// Control state compiled against a configuration: cheap to apply per
/// frame, and cheap to change one item at a time.
///
/// Each item is compiled on its own (its target resolved, its show built)
/// and kept under its own key, so adding, releasing or removing one
/// override compiles that override only; the others are shared untouched
/// with every earlier snapshot.
#[derive(Clone, Default)]
pub struct CompiledControl {
    sources: Map<Key, Arc<Source>>,
    entries: Map<Key, Arc<Entry>>,
    scales: Map<Key, Arc<Scale>>,
}

fn mask_of(site: &Site, fixtures: &[u32]) -> Vec<bool> {
    let mut m = vec![false; site.fixtures.len()];
    for &f in fixtures {
        if let Some(x) = m.get_mut(f as usize) {
            *x = true;
        }
    }
    m
}

fn compile_scene(s: &Scene, cfg: &Config) -> Result<Compiled, String> {
    let site = &cfg.site;
    let Some(show) = cfg.show(&s.show) else {
        return Err(format!(
            "scene {}: show `{}` is no longer in the site",
            s.id, s.show
        ));
    };
    let mask = match &s.target {
        None => None,
        Some(t) => match check_target(site, t) {
            Ok(f) => Some(mask_of(site, &f)),
            Err(e) => return Err(format!("scene {}: {e}", s.id)),
        },
    };
    let show = match s.fade {
        Some(f) => {
            let mut sh = (**show).clone();
            sh.fade_in = f;
            sh.fade_out = f;
            Arc::new(sh)
        }
        None => show.clone(),
    };
    Ok(Compiled::Show(Entry {
        show,
        mask,
        started: s.started,
        ends: Some(s.ends),
        priority: s.priority,
    }))
}

fn compile_override(o: &Override, cfg: &Config) -> Result<Compiled, String> {
    let site = &cfg.site;
    let fixtures = check_target(site, &o.target).map_err(|e| format!("override {}: {e}", o.id))?;
    let name = format!("override-{}", o.id);
    let (show, mask) = match &o.action {
        Action::Level(l) => {
            return Ok(Compiled::Scale(Scale {
                fixtures,
                level: *l,
                started: o.created,
                ends: o.expires,
                fade: o.fade,
            }))
        }
        Action::Blackout => (
            solid_show(site, &name, &fixtures, Color::BLACK, 0.0, o.fade),
            None,
        ),
        Action::Color(c) => {
            let color = Color::parse(c).map_err(|e| format!("override {}: {e}", o.id))?;
            (solid_show(site, &name, &fixtures, color, 1.0, o.fade), None)
        }
        Action::Show(s) => match cfg.show(s) {
            Some(show) => {
                let mut sh = (**show).clone();
                sh.fade_in = o.fade;
                sh.fade_out = o.fade;
                (sh, Some(mask_of(site, &fixtures)))
            }
            None => {
                return Err(format!(
                    "override {}: show `{s}` is no longer in the site",
                    o.id
                ))
            }
        },
    };
    Ok(Compiled::Show(Entry {
        show: Arc::new(show),
        mask,
        started: o.created,
        ends: o.expires,
        priority: o.priority,
    }))
}

fn compile_master(m: &Master, cfg: &Config) -> Result<Compiled, String> {
    let fixtures =
        check_target(&cfg.site, &m.target).map_err(|e| format!("master on `{}`: {e}", m.target))?;
    Ok(Compiled::Scale(Scale {
        fixtures,
        level: m.level,
        started: DateTime::<Utc>::MIN_UTC,
        ends: None,
        fade: 0.0,
    }))
}

impl Source {
    fn compile(&self, cfg: &Config) -> Result<Compiled, String> {
        match self {
            Source::Scene(s) => compile_scene(s, cfg),
            Source::Override(o) => compile_override(o, cfg),
            Source::Master(m) => compile_master(m, cfg),
        }
    }
}

impl CompiledControl {
    /// Compile; items that no longer validate against `cfg` (a show or group
    /// removed by a reload) are kept but play nothing, and are named in the
    /// returned warnings.
    pub fn compile(state: &ControlState, cfg: &Config) -> (CompiledControl, Vec<String>) {
        let mut out = CompiledControl::default();
        let mut warnings = Vec::new();
        for s in &state.scenes {
            warnings.extend(out.put_scene(s, cfg));
        }
        for o in &state.overrides {
            warnings.extend(out.put_override(o, cfg));
        }
        for m in &state.masters {
            warnings.extend(out.set_master(m, cfg));
        }
        (out, warnings)
    }

    /// The same items compiled against another configuration (a reload).
    pub fn recompile(&self, cfg: &Config) -> (CompiledControl, Vec<String>) {
        let mut out = CompiledControl::default();
        let mut warnings = Vec::new();
        for (key, source) in self.sources.iter() {
            warnings.extend(out.put(key.clone(), source.clone(), cfg));
        }
        (out, warnings)
    }

    fn put(&mut self, key: Key, source: Arc<Source>, cfg: &Config) -> Option<String> {
        self.entries.remove_mut(&key);
        self.scales.remove_mut(&key);
        let warning = match source.compile(cfg) {
            Ok(Compiled::Show(e)) => {
                self.entries.insert_mut(key.clone(), Arc::new(e));
                None
            }
            Ok(Compiled::Scale(s)) => {
                self.scales.insert_mut(key.clone(), Arc::new(s));
                None
            }
            Err(w) => Some(w),
        };
        self.sources.insert_mut(key, source);
        warning
    }

    fn take(&mut self, key: &Key) {
        self.sources.remove_mut(key);
        self.entries.remove_mut(key);
        self.scales.remove_mut(key);
    }

    /// Add an override, or replace it (same id and creation instant: a
    /// release that set its end). Returns a warning when it cannot play
    /// against `cfg`.
    pub fn put_override(&mut self, o: &Override, cfg: &Config) -> Option<String> {
        let key = Key::Override(o.created, o.id);
        self.put(key, Arc::new(Source::Override(o.clone())), cfg)
    }

    /// Take an override out (by its id and creation instant).
    pub fn remove_override(&mut self, o: &Override) {
        self.take(&Key::Override(o.created, o.id));
    }

    /// Add a scene, or replace it (same id and start: a stop that set its end).
    pub fn put_scene(&mut self, s: &Scene, cfg: &Config) -> Option<String> {
        let key = Key::Scene(s.started, s.id);
        self.put(key, Arc::new(Source::Scene(s.clone())), cfg)
    }

    /// Take a scene out (by its id and start).
    pub fn remove_scene(&mut self, s: &Scene) {
        self.take(&Key::Scene(s.started, s.id));
    }

    /// Set a master on its target; level 1 (or more) removes it.
    pub fn set_master(&mut self, m: &Master, cfg: &Config) -> Option<String> {
        let key = Key::Master(m.target.clone());
        if m.level >= 1.0 {
            self.take(&key);
            return None;
        }
        self.put(key, Arc::new(Source::Master(m.clone())), cfg)
    }

    /// Control items held (including those that cannot play against the
    /// configuration in force).
    pub fn len(&self) -> usize {
        self.sources.size()
    }

    /// The shows control items play at `at`.
    pub fn active(&self, at: DateTime<Utc>) -> Vec<ActiveShow<'_>> {
        let mut out = Vec::new();
        self.active_into(at, &mut out);
        out
    }

    /// [`CompiledControl::active`], appended to a list the caller reuses.
    pub fn active_into<'a>(&'a self, at: DateTime<Utc>, out: &mut Vec<ActiveShow<'a>>) {
        // Iterating an empty persistent map still sets up a traversal;
        // the frame loop's zero-allocation promise holds without control.
        if self.entries.is_empty() {
            return;
        }
        out.extend(
            self.entries
                .values()
                .filter(|e| e.started <= at && e.ends.is_none_or(|end| end > at))
                .map(|e| ActiveShow {
                    show: &e.show,
                    started: e.started,
                    ends: e.ends,
                    priority: e.priority,
                    mask: e.mask.as_deref(),
                    continued: false,
                    continues: false,
                }),
        );
    }

    /// Multiply level overrides and masters into `limits.scale`, each
    /// faded by its envelope.
    pub fn apply_scales(&self, at: DateTime<Utc>, limits: &mut Limits) {
        if self.scales.is_empty() {
            return;
        }
        for s in self.scales.values() {
            let t = seconds_between(s.started, at);
            if t < 0.0 {
                continue;
            }
            let mut k = if s.fade > 0.0 {
                (t / s.fade).min(1.0)
            } else {
                1.0
            };
            if let Some(end) = s.ends {
                let left = seconds_between(at, end);
                if left <= 0.0 {
                    continue;
                }
                if s.fade > 0.0 {
                    k = k.min(left / s.fade);
                }
            }
            let factor = 1.0 - (1.0 - s.level) * k as f32;
            for &f in &s.fixtures {
                if let Some(x) = limits.scale.get_mut(f as usize) {
                    *x *= factor;
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.scales.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        use crate::diag::{Diagnostics, SourceFile};
        let site = "name = \"t\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n[[paths]]\nname = \"p\"\npoints = [[0, 0], [100, 0]]\n[[arrays]]\nname = \"lamp\"\nprofile = \"dim\"\npath = \"p\"\nmode = \"3ch\"\nspacing = 10\nstart = \"0.1\"\n";
        let profile = "name = \"d\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new("fixtures/dim.toml", profile)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new(
                "t/glow.toml",
                "[[layers]]\ntarget = \"lamp-*\"\neffect = \"solid\"\ncolor = \"#ff8800\"\n",
            )],
        };
        crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
    }

    fn colour(id: i64, created_s: i64, target: &str) -> Override {
        Override {
            id,
            target: target.into(),
            action: Action::Color("#00ff00".into()),
            priority: OVERRIDE,
            created: DateTime::from_timestamp(1_700_000_000 + created_s, 0).unwrap(),
            expires: None,
            fade: 0.0,
            note: None,
            author: "t".into(),
        }
    }

    /// Every source's commands go through `validate`: each case is a
    /// command and what it must answer (`Ok`, or the kind, field and a
    /// phrase of the message), in the order the checks run.
    #[test]
    fn validate_refuses_each_wrong_value_by_its_field() {
        let cfg = config();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let later = |s: i64| at + chrono::Duration::seconds(s);
        let ov = |target: &str, action: Action, fade: f64, ttl: Option<i64>| Override {
            target: target.into(),
            action,
            fade,
            expires: ttl.map(later),
            ..colour(0, 0, "x")
        };
        let scene = |show: &str, secs: i64, fade: Option<f64>, target: Option<&str>| Scene {
            id: 0,
            show: show.into(),
            target: target.map(Into::into),
            priority: SCENE,
            started: at,
            ends: later(secs),
            fade,
            author: "t".into(),
        };
        let master = |target: &str, level: f32| Master {
            target: target.into(),
            level,
        };
        let blackout = || Action::Blackout;
        let o = [
            (ov("lamp-*", Action::Level(0.5), 2.0, Some(60)), None),
            (
                ov("nowhere", blackout(), 0.0, None),
                Some(("target", "matches no fixture")),
            ),
            (
                ov("lamp-*", Action::Level(1.5), 0.0, None),
                Some(("level", "")),
            ),
            (
                ov("lamp-*", Action::Color("#12345".into()), 0.0, None),
                Some(("color", "")),
            ),
            (
                ov("lamp-*", Action::Show("glw".into()), 0.0, None),
                Some((
                    "show",
                    "unknown show `glw` (the site has: glow); did you mean `glow`?",
                )),
            ),
            (
                ov("lamp-*", blackout(), f64::NAN, None),
                Some(("fade", "fade must be 0s or more")),
            ),
            (
                ov("lamp-*", blackout(), -1.0, None),
                Some(("fade", "fade must be 0s or more")),
            ),
            (
                ov("lamp-*", blackout(), 0.0, Some(0)),
                Some(("ttl", "ttl must be more than 0s")),
            ),
            // The target is checked first.
            (
                ov("nowhere", Action::Level(9.0), -1.0, Some(0)),
                Some(("target", "")),
            ),
        ];
        for (item, want) in &o {
            check(&cfg, Item::Override(item), *want, false);
        }
        let s = [
            (scene("glow", 60, None, None), None, false),
            (scene("glow", 60, Some(0.0), Some("lamp-001")), None, false),
            (
                scene("glo", 60, None, None),
                Some(("show", "unknown show `glo`")),
                true,
            ),
            (
                scene("glow", 0, None, None),
                Some(("duration", "duration must be more than 0s")),
                false,
            ),
            (
                scene("glow", 60, Some(f64::INFINITY), None),
                Some(("fade", "")),
                false,
            ),
            (
                scene("glow", 60, None, Some("nowhere")),
                Some(("target", "matches no fixture")),
                false,
            ),
            // A show that is not there is what matters most.
            (
                scene("glo", 0, Some(-1.0), Some("nowhere")),
                Some(("show", "")),
                true,
            ),
        ];
        for (item, want, not_found) in &s {
            check(&cfg, Item::Scene(item), *want, *not_found);
        }
        let m = [
            (master("*", 0.5), None),
            (master("lamp-*", 1.0), None),
            (master("*", 1.5), Some(("level", ""))),
            (master("*", f32::NAN), Some(("level", ""))),
            (master("nowhere", 0.5), Some(("target", ""))),
        ];
        for (item, want) in &m {
            check(&cfg, Item::Master(item), *want, false);
        }
    }

    fn check(cfg: &Config, item: Item<'_>, want: Option<(&str, &str)>, not_found: bool) {
        let got = validate(cfg, item);
        match (want, &got) {
            (None, Ok(())) => {}
            (Some((field, phrase)), Err(r)) => {
                let e = r.field_error();
                assert_eq!(e.field, field, "{item:?}: {r}");
                assert!(e.message.contains(phrase), "{item:?}: {r}");
                assert_eq!(
                    matches!(r, Refusal::NotFound(_)),
                    not_found,
                    "{item:?}: {r}"
                );
            }
            _ => panic!("{item:?}: want {want:?}, got {got:?}"),
        }
    }

    fn shows(c: &CompiledControl) -> Vec<Arc<Entry>> {
        c.entries.values().cloned().collect()
    }

    /// Adding, releasing or removing one override compiles that one only:
    /// every other compiled item is the very same allocation as before
    /// (shared, not rebuilt), whatever the number in force.
    #[test]
    fn a_change_compiles_only_the_changed_item() {
        let cfg = config();
        let state = ControlState {
            overrides: (1..=300).map(|i| colour(i, i, "lamp-*")).collect(),
            ..Default::default()
        };
        let (before, warnings) = CompiledControl::compile(&state, &cfg);
        assert!(warnings.is_empty(), "{warnings:?}");
        let old = shows(&before);
        assert_eq!(old.len(), 300);

        let mut after = before.clone();
        assert_eq!(
            after.put_override(&colour(301, 301, "lamp-001"), &cfg),
            None
        );
        let new = shows(&after);
        assert_eq!(new.len(), 301);
        assert!(old.iter().zip(&new).all(|(a, b)| Arc::ptr_eq(a, b)));

        // A release sets an end: that item alone is rebuilt.
        let mut released = colour(7, 7, "lamp-*");
        released.expires = Some(released.created + chrono::Duration::seconds(60));
        after.put_override(&released, &cfg);
        let new = shows(&after);
        assert_eq!(new.len(), 301);
        for (i, (a, b)) in old.iter().zip(&new).enumerate() {
            assert_eq!(Arc::ptr_eq(a, b), i != 6, "item {i}");
        }
        assert_eq!(new[6].ends, released.expires);

        after.remove_override(&released);
        assert_eq!(shows(&after).len(), 300);
        assert_eq!(after.len(), 300);
        // The snapshot taken before is untouched by all of it.
        assert_eq!(shows(&before).len(), 300);
        assert!(shows(&before)[6].ends.is_none());
    }

    /// Shows merge in (start, id) order whatever order the changes came in,
    /// scenes before overrides; masters multiply after level overrides.
    #[test]
    fn merge_order_is_by_start_then_id_not_by_arrival() {
        let cfg = config();
        let mut a = CompiledControl::default();
        for (id, t) in [(5, 30), (2, 10), (9, 10), (1, 20)] {
            a.put_override(&colour(id, t, "lamp-*"), &cfg);
        }
        let scene = Scene {
            id: 3,
            show: "glow".into(),
            target: None,
            priority: OVERRIDE,
            started: DateTime::from_timestamp(1_700_000_100, 0).unwrap(),
            ends: DateTime::from_timestamp(1_700_001_000, 0).unwrap(),
            fade: None,
            author: "t".into(),
        };
        a.put_scene(&scene, &cfg);
        let at = DateTime::from_timestamp(1_700_000_200, 0).unwrap();
        let names: Vec<String> = a.active(at).iter().map(|s| s.show.name.clone()).collect();
        assert_eq!(
            names,
            [
                "glow",
                "override-2",
                "override-9",
                "override-1",
                "override-5"
            ]
        );
        // A reload recompiles the same items in the same order.
        let (b, w) = a.recompile(&cfg);
        assert!(w.is_empty());
        let again: Vec<String> = b.active(at).iter().map(|s| s.show.name.clone()).collect();
        assert_eq!(names, again);
        // An item that cannot play is kept (a later reload may restore it).
        let mut gone = colour(11, 5, "nothing-*");
        gone.id = 11;
        assert!(a.put_override(&gone, &cfg).is_some());
        assert_eq!(a.len(), 6);
        assert_eq!(a.active(at).len(), 5);
    }

    #[test]
    fn priorities_by_name_and_number() {
        assert_eq!(parse_priority("emergency", 0).unwrap(), EMERGENCY);
        assert_eq!(parse_priority("", OVERRIDE).unwrap(), OVERRIDE);
        assert_eq!(parse_priority("2500", 0).unwrap(), 2500);
        assert!(parse_priority("-1", 0).is_err());
        assert!(parse_priority("urgent", 0).is_err());
    }
}
