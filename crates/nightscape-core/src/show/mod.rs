//! The show language: a show is layers of effects on targets, with fade-in
//! and fade-out times.
//!
//! A show file (`shows/<name>.toml`) is parsed here and compiled against a
//! [`Site`]: each layer's target is resolved to cells, and each cell's
//! place along the layer's axis is computed once, so the engine only
//! evaluates [`effect::Effect`]s at render time. Compiled shows hold indices
//! into the site they were compiled with; the two are always reloaded
//! together.

pub mod effect;
pub mod media;
pub mod reference;
pub mod text;

use crate::color::Color;
use crate::diag::Spanned;
use crate::diag::{Diagnostics, Severity, SourceFile};
use crate::site::geometry::heading_vector;
use crate::site::Site;
use crate::units::{self, LevelValue};
use effect::{Cue, Effect};
use serde::Deserialize;
use std::ops::Range;

/// How a layer combines with what is below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    /// Latest takes precedence: the layer replaces what is below.
    Ltp,
    /// Highest takes precedence, per primary.
    Htp,
}

/// Moving-head attributes a layer sets (degrees from centre; 0..=1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub pan: f32,
    pub tilt: f32,
    pub pan_sweep: f32,
    pub tilt_sweep: f32,
    pub period: f64,
    pub zoom: f32,
    pub strobe: f32,
}

impl Motion {
    /// Pan and tilt at time t: a slow sinusoidal sweep around the centre.
    pub fn at(&self, t: f64) -> (f32, f32) {
        let s = if self.period > 0.0 {
            (std::f64::consts::TAU * t / self.period).sin() as f32
        } else {
            0.0
        };
        // Tilt sweeps at half the pan rate so the beam draws a figure, not a line.
        let s2 = if self.period > 0.0 {
            (std::f64::consts::TAU * t / (self.period * 2.0)).sin() as f32
        } else {
            0.0
        };
        (
            self.pan + self.pan_sweep * s,
            self.tilt + self.tilt_sweep * s2,
        )
    }
}

/// A compiled layer.
#[derive(Debug, Clone)]
pub struct Layer {
    pub target: String,
    pub effect: Effect,
    pub level: f32,
    pub blend: Blend,
    /// Site cell indices in this layer, with their axis position, 0..1
    /// extent position and rank along the axis.
    pub cells: Vec<u32>,
    pub along: Vec<f32>,
    pub u: Vec<f32>,
    pub rank: Vec<u32>,
    /// Per cell, what the effect needs that depends on the cell alone and
    /// costs a hash ([`Effect::twinkle_phases`]: a twinkle's phase); empty
    /// for other effects, and when empty the renderer hashes per cell.
    pub phase: Vec<f32>,
    /// Cells in the layer as compiled: effects that count cells (chase's
    /// `every`) see this even when the safety check renders a sample.
    pub count: u32,
    /// How the layer's cells lie in the look ([`CellOrder::of`]), worked
    /// out once instead of scanned per frame. Set wherever a layer is
    /// built, and again by anything that reorders `cells`.
    pub order: CellOrder,
    /// A twinkle layer's lit cells of the current and next slot, per batch
    /// ([`effect::SparkleMemo`], [`effect::SparkleMemo::new`] wherever a
    /// layer is built); empty for other effects.
    pub sparkles: effect::SparkleMemo,
    /// Fixtures whose motion the layer drives (only when it sets motion).
    pub fixtures: Vec<u32>,
    pub motion: Option<Motion>,
    /// 1-based line and column of the layer's table in its show file, for
    /// findings about the rendered show (the safety check); (0, 0) for
    /// layers built in code.
    pub location: (usize, usize),
}

/// How a layer's cell list lies in the look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellOrder {
    /// How many of the first cells are in place (`cells[k] == k`): a
    /// whole-site layer's cells all are, and the renderer then knows that
    /// the layer covers a range of the look cell for cell.
    pub in_place: u32,
    /// The cells are strictly ascending (a `*` target, a glob, groups
    /// written in site order): the renderer finds the cells of a range of
    /// the look by a binary search instead of walking the whole list.
    pub ascending: bool,
}

impl CellOrder {
    pub fn of(cells: &[u32]) -> CellOrder {
        CellOrder {
            in_place: cells
                .iter()
                .enumerate()
                .take_while(|&(k, &c)| c as usize == k)
                .count() as u32,
            ascending: cells.windows(2).all(|w| w[0] < w[1]),
        }
    }
}

/// A compiled show.
#[derive(Debug, Clone)]
pub struct Show {
    pub name: String,
    pub fade_in: f64,
    pub fade_out: f64,
    pub layers: Vec<Layer>,
    /// Offered as a scene button on the operator page (`scene = true`).
    pub scene: bool,
    pub path: std::path::PathBuf,
    /// Where the name was written (for "used twice" errors); empty when the
    /// name comes from the file name.
    pub name_span: Range<usize>,
    /// Positioned by received timecode instead of the clock (`timecode`).
    pub timecode: Option<crate::timecode::ShowTimecode>,
}

/// A show file (`shows/<name>.toml`): layers of effects on targets, with
/// fade-in and fade-out times.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nightscape show")]
pub(crate) struct RawShow {
    /// The show's name, as schedule entries, scenes and overrides call it
    /// (default: the file name without `.toml`).
    #[serde(default)]
    #[schemars(example = &"nightly")]
    name: Option<Spanned<String>>,
    /// Fade-in time when the show starts (a duration like "8s", "500ms",
    /// "1m30s"; default "2s").
    #[serde(default)]
    #[schemars(example = &"8s", regex(pattern = crate::units::DURATION_PATTERN))]
    fade_in: Option<Spanned<String>>,
    /// Fade-out time before the show ends (a duration; default "2s").
    #[serde(default)]
    #[schemars(example = &"8s", regex(pattern = crate::units::DURATION_PATTERN))]
    fade_out: Option<Spanned<String>>,
    /// Free text for people; nightscape does not read it.
    #[serde(default)]
    #[schemars(example = &"The calm nightly look")]
    description: Option<String>,
    /// Offer the show as a scene button on the operator page (default false).
    #[serde(default)]
    #[schemars(example = true)]
    scene: bool,
    /// The layers, lowest first: each drives a target with an effect (`nightscape effects` lists them).
    #[serde(default)]
    #[schemars(example = layer_example())]
    layers: Vec<Spanned<RawLayer>>,
    /// Follow timecode instead of the clock: "artnet", "ltc", "osc" or
    /// "mtc" (the site needs that input); 00:00:00:00 is the show's start.
    #[serde(default)]
    #[schemars(example = &"artnet")]
    timecode: Option<Spanned<crate::timecode::TimecodeSource>>,
    /// How long the show runs on after the code stops (default "2s").
    #[serde(default)]
    #[schemars(example = &"2s", regex(pattern = crate::units::DURATION_PATTERN))]
    freewheel: Option<Spanned<String>>,
    /// After the freewheel: "hold" the last look (default), "stop" the
    /// show, or "continue" on the clock.
    #[serde(default)]
    #[schemars(example = &"hold")]
    on_timecode_loss: Option<Spanned<crate::timecode::OnLoss>>,
}

fn layer_example() -> serde_json::Value {
    serde_json::json!([{ "target": "avenue", "effect": "wave", "colors": ["3000K", "#ffb000"], "speed": "4 m/s" }])
}

/// One `[[layers]]` table. Keys and their descriptions, units and
/// examples in the schema come from the effect reference
/// ([`reference::layer_schema`]), the same table the compiler reads.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = reference::layer_schema)]
pub(crate) struct RawLayer {
    target: Spanned<String>,
    effect: Spanned<String>,
    #[serde(default)]
    color: Option<Spanned<String>>,
    #[serde(default)]
    colors: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    level: Option<Spanned<LevelValue>>,
    #[serde(default)]
    blend: Option<Spanned<String>>,
    #[serde(default)]
    speed: Option<Spanned<String>>,
    #[serde(default)]
    wavelength: Option<Spanned<String>>,
    #[serde(default)]
    period: Option<Spanned<String>>,
    #[serde(default)]
    step: Option<Spanned<String>>,
    #[serde(default)]
    width: Option<Spanned<i64>>,
    #[serde(default)]
    every: Option<Spanned<i64>>,
    #[serde(default)]
    depth: Option<Spanned<LevelValue>>,
    #[serde(default)]
    density: Option<Spanned<LevelValue>>,
    #[serde(default)]
    saturation: Option<Spanned<LevelValue>>,
    #[serde(default)]
    duration: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    direction: Option<Spanned<f64>>,
    #[serde(default, rename = "loop")]
    looping: Option<bool>,
    #[serde(default)]
    cues: Option<Spanned<Vec<Spanned<RawCue>>>>,
    #[serde(default)]
    pan: Option<f64>,
    #[serde(default)]
    tilt: Option<f64>,
    #[serde(default)]
    pan_sweep: Option<f64>,
    #[serde(default)]
    tilt_sweep: Option<f64>,
    #[serde(default)]
    zoom: Option<Spanned<LevelValue>>,
    #[serde(default)]
    strobe: Option<Spanned<LevelValue>>,
    // Media layers (`media.rs`).
    #[serde(default)]
    source: Option<Spanned<String>>,
    #[serde(default)]
    fit: Option<Spanned<String>>,
    #[serde(default)]
    x: Option<Spanned<f64>>,
    #[serde(default)]
    y: Option<Spanned<f64>>,
    #[serde(default)]
    scale: Option<Spanned<f64>>,
    #[serde(default)]
    rotate: Option<Spanned<f64>>,
    #[serde(default)]
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    repeat: Option<Spanned<i64>>,
    #[serde(default)]
    fps: Option<Spanned<f64>>,
    // Text layers (`text.rs`).
    #[serde(default)]
    text: Option<Spanned<String>>,
    #[serde(default)]
    size: Option<Spanned<LevelValue>>,
    #[serde(default)]
    align: Option<Spanned<String>>,
}

/// One cue of a sequence: at `at` after the show starts, fade over `fade`
/// to `color` at `level`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCue {
    /// When the cue starts, after the show's start (a duration).
    #[schemars(example = &"20s", regex(pattern = crate::units::DURATION_PATTERN))]
    at: Spanned<String>,
    /// The colour the cue fades to: hex, a CSS name, or a colour temperature.
    #[schemars(example = &"#ff2080")]
    color: Spanned<String>,
    /// The cue's level (0..1 or "80%"; default 1).
    #[serde(default)]
    #[schemars(example = 0.8)]
    level: Option<Spanned<LevelValue>>,
    /// How long the fade to this cue takes (a duration; default "0s", a cut).
    #[serde(default)]
    #[schemars(example = &"3s", regex(pattern = crate::units::DURATION_PATTERN))]
    fade: Option<Spanned<String>>,
}

/// Helper that parses fields and records located errors.
struct Ctx<'a> {
    file: &'a SourceFile,
    diags: &'a mut Diagnostics,
    /// Spans already reported: a value is validated up front and parsed
    /// again by its effect, and must be reported once.
    reported: Vec<usize>,
    /// Where media layers' files come from ([`media::MediaFiles`]).
    media: &'a dyn media::MediaFiles,
}

impl Ctx<'_> {
    fn new<'a>(file: &'a SourceFile, diags: &'a mut Diagnostics) -> Ctx<'a> {
        Ctx {
            file,
            diags,
            reported: Vec::new(),
            media: &media::NoMedia,
        }
    }
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        if span.end > span.start && self.reported.contains(&span.start) {
            return;
        }
        self.reported.push(span.start);
        self.diags.error(self.file, span, msg);
    }
    fn duration(&mut self, v: &Option<Spanned<String>>, default: f64) -> f64 {
        match v {
            None => default,
            Some(s) => units::parse_duration(s.get_ref()).unwrap_or_else(|m| {
                self.err(s.span(), m);
                default
            }),
        }
    }
    fn positive_duration(&mut self, v: &Option<Spanned<String>>, default: f64, what: &str) -> f64 {
        let d = self.duration(v, default);
        if d <= 0.0 {
            if let Some(s) = v {
                self.err(s.span(), format!("{what} must be longer than 0s"));
            }
            return default;
        }
        d
    }
    fn level(&mut self, v: &Option<Spanned<LevelValue>>, default: f64) -> f32 {
        match v {
            None => default as f32,
            Some(s) => s.get_ref().to_level().unwrap_or_else(|m| {
                self.err(s.span(), m);
                default
            }) as f32,
        }
    }
    fn color(&mut self, s: &Spanned<String>) -> Color {
        Color::parse(s.get_ref()).unwrap_or_else(|m| {
            self.err(s.span(), m);
            Color::WHITE
        })
    }
    fn speed(&mut self, v: &Option<Spanned<String>>, default: f64) -> f64 {
        match v {
            None => default,
            Some(s) => units::parse_speed(s.get_ref()).unwrap_or_else(|m| {
                self.err(s.span(), m);
                default
            }),
        }
    }
    fn distance(&mut self, v: &Option<Spanned<String>>, default: f64) -> f64 {
        match v {
            None => default,
            Some(s) => match units::parse_distance(s.get_ref()) {
                Ok(d) if d > 0.0 => d,
                Ok(_) => {
                    self.err(s.span(), "a wavelength must be longer than 0 m");
                    default
                }
                Err(m) => {
                    self.err(s.span(), m);
                    default
                }
            },
        }
    }
    fn count(&mut self, v: &Option<Spanned<i64>>, default: u32, what: &str) -> u32 {
        match v {
            None => default,
            Some(s) if (1..=100_000).contains(s.get_ref()) => *s.get_ref() as u32,
            Some(s) => {
                self.err(s.span(), format!("{what} must be 1 or more"));
                default
            }
        }
    }
}

/// The JSON Schema of a show file (`nightscape schema show`).
pub fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawShow>()
}

/// The name a show file gives itself (`name = "…"` before its first
/// table), else its file stem: what a schedule entry calls it, known even
/// when the file does not compile (so the entry is not reported as well).
pub fn declared_name(file: &SourceFile) -> String {
    for line in file.text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            break;
        }
        let Some(value) = l
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
        else {
            continue;
        };
        if let Ok(t) = toml::from_str::<toml::Table>(&format!("name = {}", value.trim())) {
            if let Some(toml::Value::String(n)) = t.get("name") {
                return n.clone();
            }
        }
    }
    file.path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Parse and compile a show file against a site.
pub fn compile(file: &SourceFile, site: &Site, diags: &mut Diagnostics) -> Option<Show> {
    compile_with(file, site, &media::NoMedia, diags)
}

/// [`compile`], with the files media layers name read through `media`.
pub fn compile_with(
    file: &SourceFile,
    site: &Site,
    media: &dyn media::MediaFiles,
    diags: &mut Diagnostics,
) -> Option<Show> {
    // Every problem of the file: the keys serde refuses, then the rest
    // checked here; a show with any of them is not compiled.
    let before = diags.items.len();
    let raw: RawShow = crate::diag::parse_all(file, diags)?;
    let _ = &raw.description;
    let stem = file
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut cx = Ctx::new(file, diags);
    cx.media = media;
    let name = raw
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or(stem);
    let fade_in = cx.duration(&raw.fade_in, 2.0);
    let fade_out = cx.duration(&raw.fade_out, 2.0);
    let timecode = crate::timecode::compile_show_timecode(
        file,
        site,
        raw.timecode.as_ref(),
        raw.freewheel.as_ref(),
        raw.on_timecode_loss.as_ref(),
        cx.diags,
    );
    if raw.layers.is_empty() {
        cx.err(0..0, format!("show `{name}` has no [[layers]]"));
    }
    let layers: Vec<Layer> = raw
        .layers
        .iter()
        .filter_map(|l| {
            let mut c = compile_layer(&mut cx, l.get_ref(), site)?;
            c.location = file.line_col(l.span().start);
            Some(c)
        })
        .collect();
    if diags.items[before..]
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        return None;
    }
    Some(Show {
        name,
        fade_in,
        fade_out,
        layers,
        scene: raw.scene,
        path: file.path.clone(),
        name_span: raw.name.as_ref().map(|n| n.span()).unwrap_or(0..0),
        timecode,
    })
}

/// Compile one layer. Shared with the API, whose overrides and scenes are
/// single layers validated by the same rules.
fn compile_layer(cx: &mut Ctx, l: &RawLayer, site: &Site) -> Option<Layer> {
    let fixtures = site.resolve_target(l.target.get_ref());
    // A target whose fixtures are missing because of a problem already
    // reported (a broken profile) is not a problem of its own: the layer
    // is left out and the configuration fails on that one.
    if fixtures.is_empty() && !site.names_unpatched(l.target.get_ref()) {
        cx.err(
            l.target.span(),
            format!(
                "target `{}` matches no fixture, group or glob in the site{}",
                l.target.get_ref(),
                crate::suggest::hint_glob(
                    l.target.get_ref(),
                    site.groups
                        .keys()
                        .map(String::as_str)
                        .chain(site.fixtures.iter().map(|f| f.name.as_str()))
                )
            ),
        );
    }
    let mut colors: Vec<Color> = Vec::new();
    if let Some(c) = &l.color {
        colors.push(cx.color(c));
    }
    if let Some(cs) = &l.colors {
        if cs.get_ref().is_empty() {
            cx.err(cs.span(), "colors is empty: give at least one colour");
        }
        for c in cs.get_ref() {
            colors.push(cx.color(c));
        }
    }
    let first = colors.first().copied().unwrap_or(Color::WHITE);
    let second = colors.get(1).copied();
    let level = cx.level(&l.level, 1.0);
    let blend = match &l.blend {
        None => Blend::Ltp,
        Some(b) => match b.get_ref().to_ascii_lowercase().as_str() {
            "ltp" => Blend::Ltp,
            "htp" => Blend::Htp,
            other => {
                cx.err(b.span(), format!("unknown blend `{other}`: use ltp or htp"));
                Blend::Ltp
            }
        },
    };
    let kind = l.effect.get_ref().as_str();
    let Some(spec) = reference::spec(kind) else {
        // A layer key written as the effect (`effect = "strobe"`): the
        // nearest effect name would mislead, the key is what was meant.
        let word = kind.trim().to_ascii_lowercase();
        if let Some(key) = reference::MOTION.iter().find(|p| p.key == word) {
            let example = if key.key == "strobe" {
                "0.5"
            } else {
                key.default_text
            };
            cx.err(
                l.effect.span(),
                format!(
                    "unknown effect `{kind}`: did you mean the `{}` key? It is set beside an effect, e.g. `effect = \"solid\"` and `{} = {example}` in the same layer (`nightscape effects` lists the effects: {})",
                    key.key,
                    key.key,
                    reference::names().join(", ")
                ),
            );
            return None;
        }
        cx.err(
            l.effect.span(),
            format!(
                "unknown effect `{kind}`: use {}{} (`nightscape effects` lists them)",
                reference::names().join(", "),
                crate::suggest::hint(kind, reference::names())
            ),
        );
        return None;
    };
    let d = |key: &str| spec.default(key);
    validate_all_values(cx, l, spec);
    let media_keys = media::MediaKeys {
        source: &l.source,
        fit: &l.fit,
        x: &l.x,
        y: &l.y,
        scale: &l.scale,
        rotate: &l.rotate,
        rate: &l.rate,
        start: &l.start,
        repeat: &l.repeat,
        fps: &l.fps,
        looping: l.looping,
    };
    media::warn_unread(cx, &media_keys, spec);
    text::warn_unread(
        cx,
        [
            ("text", &l.text.as_ref().map(|v| v.span())),
            ("size", &l.size.as_ref().map(|v| v.span())),
            ("align", &l.align.as_ref().map(|v| v.span())),
        ],
        spec,
    );
    let needs_cues = spec.reads("cues");
    if l.cues.is_some() && !needs_cues {
        cx.err(
            l.effect.span(),
            format!("`cues` belong to the sequence effect, not `{kind}`"),
        );
    }
    let effect = match kind {
        "solid" => Effect::Solid { color: first },
        "fade" => Effect::Fade {
            colors: if colors.is_empty() {
                vec![first]
            } else {
                colors.clone()
            },
            period: cx.positive_duration(&l.period, d("period"), "period"),
        },
        "chase" => Effect::Chase {
            on: first,
            off: second.unwrap_or(Color::BLACK),
            step: cx.positive_duration(&l.step, d("step"), "step"),
            width: cx.count(&l.width, d("width") as u32, "width"),
            every: cx.count(&l.every, u32::MAX, "every"),
        },
        "wave" => Effect::Wave {
            colors: if colors.is_empty() {
                vec![first]
            } else {
                colors.clone()
            },
            speed: cx.speed(&l.speed, d("speed")),
            wavelength: cx.distance(&l.wavelength, d("wavelength")),
            depth: cx.level(&l.depth, d("depth")),
        },
        "gradient" => Effect::Gradient {
            colors: if colors.is_empty() {
                vec![first]
            } else {
                colors.clone()
            },
            speed: cx.speed(&l.speed, d("speed")),
            extent: 0.0,
        },
        "rainbow" => Effect::Rainbow {
            speed: cx.speed(&l.speed, d("speed")),
            wavelength: if l.wavelength.is_some() {
                cx.distance(&l.wavelength, d("wavelength"))
            } else {
                0.0
            },
            period: if l.period.is_some() || l.wavelength.is_none() {
                cx.positive_duration(&l.period, d("period"), "period")
            } else {
                0.0
            },
            saturation: cx.level(&l.saturation, d("saturation")),
        },
        "twinkle" => Effect::Twinkle {
            base: first,
            sparkle: second.unwrap_or(Color::WHITE),
            density: cx.level(&l.density, d("density")),
            duration: cx.positive_duration(&l.duration, d("duration"), "duration"),
            seed: l.seed.unwrap_or(d("seed") as u64),
        },
        "pulse" => Effect::Pulse {
            color: first,
            period: cx.positive_duration(&l.period, d("period"), "period"),
            depth: cx.level(&l.depth, d("depth")),
        },
        "sequence" => {
            let mut cues = Vec::new();
            match &l.cues {
                None => cx.err(
                    l.effect.span(),
                    "a sequence needs `cues = [{ at = \"0s\", color = \"...\" }, ...]`",
                ),
                Some(list) if list.get_ref().is_empty() => cx.err(list.span(), "cues is empty"),
                Some(list) => {
                    for c in list.get_ref() {
                        let rc = c.get_ref();
                        let at = cx.duration(&Some(rc.at.clone()), 0.0);
                        if let Some(prev) = cues.last().map(|c: &Cue| c.at) {
                            if at < prev {
                                cx.err(rc.at.span(), format!("cue at {at}s comes before the previous cue at {prev}s: list cues in time order"));
                            }
                        }
                        cues.push(Cue {
                            at,
                            color: cx.color(&rc.color),
                            level: cx.level(&rc.level, 1.0),
                            fade: cx.duration(&rc.fade, 0.0),
                        });
                    }
                }
            }
            let period = match (l.looping.unwrap_or(false), &l.period) {
                (false, Some(p)) => {
                    cx.err(p.span(), "`period` needs `loop = true` on a sequence");
                    None
                }
                (false, None) => None,
                (true, Some(_)) => Some(cx.positive_duration(&l.period, 60.0, "period")),
                (true, None) => default_loop_period(&cues),
            };
            if let (Some(p), Some(last)) = (period, cues.last()) {
                if last.at >= p {
                    cx.err(
                        l.effect.span(),
                        format!(
                            "the last cue at {}s is not inside the loop period of {p}s",
                            last.at
                        ),
                    );
                }
            }
            Effect::Sequence { cues, period }
        }
        // Sampled once the cells are known (below).
        "media" | "text" => Effect::Solid { color: first },
        // Every name in the table has an arm above (a test holds this).
        other => {
            cx.err(
                l.effect.span(),
                format!("effect `{other}` is in the reference but not compiled"),
            );
            return None;
        }
    };
    if fixtures.is_empty() {
        return None;
    }

    // The layer's axis: an explicit compass direction, else the path the
    // fixtures stand along, else the longer side of their bounding box.
    let cells: Vec<u32> = fixtures
        .iter()
        .flat_map(|&f| {
            let fx = &site.fixtures[f as usize];
            fx.first_cell..fx.first_cell + fx.cell_count as u32
        })
        .collect();
    let pos = |c: u32| site.cells[c as usize].position;
    let along: Vec<f32> = if let Some(d) = &l.direction {
        let v = heading_vector(*d.get_ref());
        cells
            .iter()
            .map(|&c| (pos(c)[0] as f64 * v[0] + pos(c)[1] as f64 * v[1]) as f32)
            .collect()
    } else if cells
        .iter()
        .all(|&c| !site.cells[c as usize].path_distance.is_nan())
    {
        cells
            .iter()
            .map(|&c| site.cells[c as usize].path_distance)
            .collect()
    } else {
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for &c in &cells {
            for k in 0..2 {
                lo[k] = lo[k].min(pos(c)[k]);
                hi[k] = hi[k].max(pos(c)[k]);
            }
        }
        let k = if hi[0] - lo[0] > hi[1] - lo[1] { 0 } else { 1 };
        cells.iter().map(|&c| pos(c)[k]).collect()
    };
    let min = along.iter().copied().fold(f32::MAX, f32::min);
    let max = along.iter().copied().fold(f32::MIN, f32::max);
    let extent = (max - min).max(0.0);
    let u: Vec<f32> = along
        .iter()
        .map(|&a| {
            if extent > 0.0 {
                (a - min) / extent
            } else {
                0.0
            }
        })
        .collect();
    // Rank: position in the order (along, index). One u64 per cell whose
    // integer order is that order (`f32::total_cmp` mapped to unsigned,
    // then the index), sorted unstably: the keys are distinct, so this is
    // the stable sort by `total_cmp` with ties by index, without a closure
    // per comparison (it was most of `check`'s load time on 1.7 M cells).
    let mut order: Vec<u64> = along
        .iter()
        .enumerate()
        .map(|(i, &a)| (u64::from(total_order_bits(a)) << 32) | i as u64)
        .collect();
    order.sort_unstable();
    let mut rank = vec![0u32; cells.len()];
    for (r, &key) in order.iter().enumerate() {
        rank[(key & u64::from(u32::MAX)) as usize] = r as u32;
    }
    let effect = match effect {
        Effect::Gradient { colors, speed, .. } => Effect::Gradient {
            colors,
            speed,
            extent: extent as f64,
        },
        e => e,
    };
    // A media layer's clip holds one colour per cell in `cells` order; the
    // renderer finds a cell's by its rank, so rank is that order.
    let (effect, rank) = if kind == "media" {
        let m = media::compile(cx, &media_keys, l.effect.span(), site, &cells)?;
        (Effect::Media(m), (0..cells.len() as u32).collect())
    } else if kind == "text" {
        let keys = text::TextKeys {
            text: &l.text,
            size: &l.size,
            align: &l.align,
            speed: &l.speed,
            color: first,
        };
        let m = text::compile(cx, &keys, l.effect.span(), site, &cells)?;
        (Effect::Media(m), (0..cells.len() as u32).collect())
    } else {
        (effect, rank)
    };
    let sets_motion = l.pan.is_some()
        || l.tilt.is_some()
        || l.pan_sweep.is_some()
        || l.tilt_sweep.is_some()
        || l.zoom.is_some()
        || l.strobe.is_some();
    let motion = sets_motion.then(|| Motion {
        pan: l.pan.unwrap_or(0.0) as f32,
        tilt: l.tilt.unwrap_or(0.0) as f32,
        pan_sweep: l.pan_sweep.unwrap_or(0.0) as f32,
        tilt_sweep: l.tilt_sweep.unwrap_or(0.0) as f32,
        period: if l.pan_sweep.is_some() || l.tilt_sweep.is_some() {
            cx.positive_duration(&l.period, 30.0, "period")
        } else {
            0.0
        },
        zoom: cx.level(&l.zoom, 0.5),
        strobe: cx.level(&l.strobe, 0.0),
    });
    let phase = effect.twinkle_phases(&cells);
    Some(Layer {
        order: CellOrder::of(&cells),
        sparkles: effect::SparkleMemo::new(&effect, cells.len()),
        target: l.target.get_ref().clone(),
        effect,
        phase,
        level,
        blend,
        count: cells.len() as u32,
        cells,
        along,
        u,
        rank,
        fixtures,
        motion,
        location: (0, 0),
    })
}

/// Check every value a layer gives, whether or not its effect reads it, and
/// warn about keys the effect ignores: a designer who writes `period` on a
/// wave expects it to do something.
fn validate_all_values(cx: &mut Ctx, l: &RawLayer, spec: &reference::EffectSpec) {
    let kind = spec.name;
    let _ = cx.positive_duration(&l.period, 1.0, "period");
    let _ = cx.positive_duration(&l.step, 1.0, "step");
    let _ = cx.positive_duration(&l.duration, 1.0, "duration");
    let _ = cx.speed(&l.speed, 0.0);
    let _ = cx.distance(&l.wavelength, 1.0);
    for v in [&l.depth, &l.density, &l.saturation, &l.zoom, &l.strobe] {
        let _ = cx.level(v, 0.0);
    }
    let _ = cx.count(&l.width, 1, "width");
    let _ = cx.count(&l.every, 1, "every");
    let moving = l.pan_sweep.is_some() || l.tilt_sweep.is_some();
    let given: [(&str, Option<Range<usize>>); 11] = [
        (
            "period",
            l.period.as_ref().map(|v| v.span()).filter(|_| !moving),
        ),
        ("step", l.step.as_ref().map(|v| v.span())),
        ("duration", l.duration.as_ref().map(|v| v.span())),
        ("speed", l.speed.as_ref().map(|v| v.span())),
        ("wavelength", l.wavelength.as_ref().map(|v| v.span())),
        ("depth", l.depth.as_ref().map(|v| v.span())),
        ("density", l.density.as_ref().map(|v| v.span())),
        ("saturation", l.saturation.as_ref().map(|v| v.span())),
        ("width", l.width.as_ref().map(|v| v.span())),
        ("every", l.every.as_ref().map(|v| v.span())),
        ("seed", l.seed.as_ref().map(|_| l.effect.span())),
    ];
    for (key, span) in given {
        if let Some(span) = span {
            if !spec.reads(key) {
                cx.diags.warn(
                    cx.file,
                    span,
                    format!("`{key}` has no effect on a {kind} layer"),
                );
            }
        }
    }
    if l.looping.is_some() && !spec.reads("loop") {
        cx.diags.warn(
            cx.file,
            l.effect.span(),
            format!("`loop` has no effect on a {kind} layer"),
        );
    }
}

/// A looping sequence without a period holds its last cue as long as the
/// interval before it, so evenly spaced cues loop evenly; a single cue
/// does not loop.
fn default_loop_period(cues: &[Cue]) -> Option<f64> {
    match cues {
        [] | [_] => None,
        [.., a, b] => Some(b.at + (b.at - a.at).max(b.fade)),
    }
}

/// `x`'s bits mapped so that unsigned integer order is `f32::total_cmp`
/// order (negative values flip all bits, positive ones the sign bit).
fn total_order_bits(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems of a show of `layers` on a site of one RGB lamp in
    /// group `all`, as `path:line:col: message` lines.
    fn problems(layers: &str) -> Vec<String> {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
             [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = [0]\n\
             [[fixtures]]\nname = \"lamp\"\nprofile = \"rgb\"\nmode = \"3ch\"\naddress = \"0.1\"\nat = [0, 0]\n\
             [groups]\nall = [\"lamp\"]\n";
        let rgb = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new("t/fixtures/rgb.toml", rgb)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("t/s.toml", layers)],
        };
        match crate::config::compile(sources, Diagnostics::new()) {
            Ok(cfg) => cfg.warnings.items.iter().map(|d| d.to_string()).collect(),
            Err(d) => d.items.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// A layer key written as the effect is pointed at the key, not at the
    /// nearest effect name (check(input, expect)).
    #[test]
    fn a_layer_key_as_the_effect_gets_a_did_you_mean_to_the_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "effect = \"strobe\"",
                &[
                    "t/s.toml:3:10: unknown effect `strobe`: did you mean the `strobe` key?",
                    "`strobe = 0.5`",
                ],
            ),
            (
                "effect = \"Zoom\"",
                &["t/s.toml:3:10: unknown effect `Zoom`: did you mean the `zoom` key?"],
            ),
            // An effect misspelled still gets the nearest effect.
            ("effect = \"strobo\"", &["unknown effect `strobo`"]),
        ];
        for &(effect, expect) in cases {
            let found = problems(&format!("[[layers]]\ntarget = \"all\"\n{effect}\n"));
            assert_eq!(found.len(), 1, "{effect}: {found:?}");
            for words in expect {
                assert!(found[0].contains(words), "{effect}: {found:?}");
            }
        }
    }

    #[test]
    fn total_order_bits_orders_as_total_cmp() {
        let xs = [
            f32::NAN,
            -f32::NAN,
            f32::NEG_INFINITY,
            -1.5e30,
            -1.0,
            -f32::MIN_POSITIVE,
            -1e-45,
            -0.0,
            0.0,
            1e-45,
            f32::MIN_POSITIVE,
            0.25,
            1.0,
            970.0,
            f32::INFINITY,
        ];
        for a in xs {
            for b in xs {
                assert_eq!(
                    total_order_bits(a).cmp(&total_order_bits(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
            }
        }
    }
}
