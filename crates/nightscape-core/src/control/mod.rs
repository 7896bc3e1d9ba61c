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

/// Validate an override against the loaded configuration.
pub fn validate_override(cfg: &Config, o: &Override) -> Result<(), FieldError> {
    check_target(&cfg.site, &o.target)?;
    match &o.action {
        Action::Level(l) => {
            units::check_level(*l as f64).map_err(|m| FieldError::new("level", m))?;
        }
        Action::Color(c) => {
            Color::parse(c).map_err(|m| FieldError::new("color", m))?;
        }
        Action::Show(s) => {
            if cfg.show(s).is_none() {
                return Err(FieldError::new(
                    "show",
                    format!(
                        "unknown show `{s}` (the site has: {}){}",
                        cfg.show_order.join(", "),
                        crate::suggest::hint(s, cfg.show_order.iter().map(String::as_str))
                    ),
                ));
            }
        }
        Action::Blackout => {}
    }
    if !(o.fade.is_finite() && o.fade >= 0.0) {
        return Err(FieldError::new("fade", "fade must be 0s or more"));
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
        layers: vec![Layer {
            target: name.to_string(),
            effect: crate::show::effect::Effect::Solid { color },
            level,
            blend: Blend::Ltp,
            along: vec![0.0; n],
            u: vec![0.0; n],
            rank: (0..n as u32).collect(),
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

/// Control state compiled against a configuration: cheap to apply per frame.
#[derive(Default)]
pub struct CompiledControl {
    entries: Vec<Entry>,
    scales: Vec<Scale>,
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

impl CompiledControl {
    /// Compile; items that no longer validate against `cfg` (a show or group
    /// removed by a reload) are skipped and named in the returned warnings.
    pub fn compile(state: &ControlState, cfg: &Config) -> (CompiledControl, Vec<String>) {
        let site = &cfg.site;
        let mut out = CompiledControl::default();
        let mut warnings = Vec::new();
        for s in &state.scenes {
            let Some(show) = cfg.show(&s.show) else {
                warnings.push(format!(
                    "scene {}: show `{}` is no longer in the site",
                    s.id, s.show
                ));
                continue;
            };
            let mask = match &s.target {
                None => None,
                Some(t) => match check_target(site, t) {
                    Ok(f) => Some(mask_of(site, &f)),
                    Err(e) => {
                        warnings.push(format!("scene {}: {e}", s.id));
                        continue;
                    }
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
            out.entries.push(Entry {
                show,
                mask,
                started: s.started,
                ends: Some(s.ends),
                priority: s.priority,
            });
        }
        for o in &state.overrides {
            let fixtures = match check_target(site, &o.target) {
                Ok(f) => f,
                Err(e) => {
                    warnings.push(format!("override {}: {e}", o.id));
                    continue;
                }
            };
            let name = format!("override-{}", o.id);
            let (show, mask) = match &o.action {
                Action::Level(l) => {
                    out.scales.push(Scale {
                        fixtures,
                        level: *l,
                        started: o.created,
                        ends: o.expires,
                        fade: o.fade,
                    });
                    continue;
                }
                Action::Blackout => (
                    solid_show(site, &name, &fixtures, Color::BLACK, 0.0, o.fade),
                    None,
                ),
                Action::Color(c) => match Color::parse(c) {
                    Ok(color) => (solid_show(site, &name, &fixtures, color, 1.0, o.fade), None),
                    Err(e) => {
                        warnings.push(format!("override {}: {e}", o.id));
                        continue;
                    }
                },
                Action::Show(s) => match cfg.show(s) {
                    Some(show) => {
                        let mut sh = (**show).clone();
                        sh.fade_in = o.fade;
                        sh.fade_out = o.fade;
                        (sh, Some(mask_of(site, &fixtures)))
                    }
                    None => {
                        warnings.push(format!(
                            "override {}: show `{s}` is no longer in the site",
                            o.id
                        ));
                        continue;
                    }
                },
            };
            out.entries.push(Entry {
                show: Arc::new(show),
                mask,
                started: o.created,
                ends: o.expires,
                priority: o.priority,
            });
        }
        for m in &state.masters {
            match check_target(site, &m.target) {
                Ok(fixtures) => out.scales.push(Scale {
                    fixtures,
                    level: m.level,
                    started: DateTime::<Utc>::MIN_UTC,
                    ends: None,
                    fade: 0.0,
                }),
                Err(e) => warnings.push(format!("master on `{}`: {e}", m.target)),
            }
        }
        (out, warnings)
    }

    /// The shows control items play at `at`.
    pub fn active(&self, at: DateTime<Utc>) -> Vec<ActiveShow<'_>> {
        self.entries
            .iter()
            .filter(|e| e.started <= at && e.ends.is_none_or(|end| end > at))
            .map(|e| ActiveShow {
                show: &e.show,
                started: e.started,
                ends: e.ends,
                priority: e.priority,
                mask: e.mask.as_deref(),
                continued: false,
                continues: false,
            })
            .collect()
    }

    /// Multiply level overrides and masters into `limits.scale`, each
    /// faded by its envelope.
    pub fn apply_scales(&self, at: DateTime<Utc>, limits: &mut Limits) {
        for s in &self.scales {
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

    #[test]
    fn priorities_by_name_and_number() {
        assert_eq!(parse_priority("emergency", 0).unwrap(), EMERGENCY);
        assert_eq!(parse_priority("", OVERRIDE).unwrap(), OVERRIDE);
        assert_eq!(parse_priority("2500", 0).unwrap(), 2500);
        assert!(parse_priority("-1", 0).is_err());
        assert!(parse_priority("urgent", 0).is_err());
    }
}
