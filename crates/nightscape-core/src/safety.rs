//! The public-safety check: does a show make a large part of the site
//! flash fast enough to trigger photosensitive seizures?
//!
//! Adapted from WCAG 2.3.1 (three flashes, general flash threshold) and
//! ITU-R BT.1702 to luminaires seen across a street instead of a screen
//! seen at arm's length: a fixture *flashes* when its relative luminance
//! (Rec. 709 weights on the light it emits, 1 = full white) makes a pair of
//! opposing changes of at least `min_swing` of full with the darker state
//! below 0.8; a show *fails* when, in any one-second window, more than
//! `max_flashes_per_s` flashes happen on at least `min_share` of the
//! fixtures of a group or of the whole site. Each show is rendered by the
//! engine itself at `sample_hz` for `seconds` after its fade-in (the first
//! minute of a show is where a loop of any sensible length repeats), with
//! the show alone at full opacity, and a failing show is rendered again
//! layer by layer to name the layer(s) responsible. A show whose layers'
//! rates of change add up to less than a failing second needs is passed
//! without rendering (a sound bound, see `cannot_flash`): slow waves,
//! fades and gradients cost nothing however large the site.
//!
//! Other shows get the same bound per sampled fixture and per measured
//! window before anything is rendered (`fixture_variation`), with the
//! layers whose bound per second is far above what they do in most seconds
//! followed in time: a twinkle cell varies only in its lit slots (one rise
//! and one fall each), a scrolling gradient jumps only where a cell's
//! palette position wraps. A fixture whose bound stays below a failing
//! window's need cannot count as flashing there, and a window where too
//! few of a scope's members could flash cannot make a finding; only the
//! fixtures that could flash in a window where enough of a scope's could
//! are rendered (`must_render`). The others would be filtered out of every
//! finding anyway, so the findings are exactly those of rendering every
//! sampled fixture (tested against it, and the bound against rendered
//! luminance). A sparse twinkle over slow layers, the usual city show,
//! needs no rendering at all.
//!
//! Bounded work on city-scale sites: a group (or the site) of more than
//! [`SAMPLE_PER_SCOPE`] fixtures is measured on that many members evenly
//! spaced along its member list (which runs along the paths, so a chase or
//! a wave is sampled across its whole length), and only the sampled
//! fixtures' cells are rendered. The site's sample is drawn first and a
//! group reuses the members it has in it, topped up evenly from the rest,
//! so groups that share the site's fixtures do not each add 256 more.
//! Smaller groups are measured exactly; the share of a sampled scope is
//! reported over its full size. The sampled fixtures are rendered on up to
//! `threads` threads, each over its own contiguous run of them (each
//! fixture's luminance depends on its own cells only, so the counts are
//! the same whatever the split).
//!
//! Pure: the site and its shows in, findings out. `nightscape check` turns
//! them into located errors, or warnings for shows listed under
//! `[safety] allow` with a `reason`. It sits below `config` in the core's
//! layers (like `energy`): `config` merges the `[safety]` schema into the
//! site file's, and the check takes the site and shows a `Config` holds
//! rather than the `Config` itself.

use crate::color::{Color, Light};
use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use crate::engine::{render_cells, ActiveShow, LitCells};
use crate::show::{Layer, Show};
use crate::site::Site;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::ops::Range;

/// The thresholds (`[safety]` in site.toml) and the shows allowed to
/// exceed them.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetyConfig {
    /// Flashes a second above which a fixture counts as flashing (3).
    pub max_flashes_per_s: f64,
    /// Share of a group's (or the site's) fixtures that may flash (0.25).
    pub min_share: f64,
    /// Smallest luminance change that counts, as a share of full (0.10).
    pub min_swing: f32,
    /// Samples a second (50; at least 50).
    pub sample_hz: f64,
    /// Seconds of each show rendered after its fade-in (60).
    pub seconds: f64,
    /// Shows exempted (reported as warnings), with where they are named.
    pub allow: Vec<(String, Range<usize>)>,
    pub reason: Option<String>,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig {
            max_flashes_per_s: 3.0,
            min_share: 0.25,
            min_swing: 0.10,
            sample_hz: 50.0,
            seconds: 60.0,
            allow: Vec::new(),
            reason: None,
        }
    }
}

/// The safety check's part of the site file.
#[derive(Deserialize, schemars::JsonSchema)]
struct RawFile {
    /// Thresholds and exemptions of the public-safety (flash) check.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "allow": ["new-year-strobe"], "reason": "closed road, permit 2027-114" }))]
    safety: Option<Spanned<RawSafety>>,
}

/// The JSON Schema of `[safety]` (merged into the site file's schema).
pub(crate) fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawFile>()
}

/// `[safety]`: the flash thresholds (WCAG 2.3.1 adapted to luminaires).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSafety {
    /// Flashes per second above which a show fails (default 3).
    #[serde(default)]
    #[schemars(example = 3, range(min = 0))]
    max_flashes_per_s: Option<Spanned<f64>>,
    /// Share of a group's or the site's fixtures that must flash together
    /// to count, 0..1 (default 0.25).
    #[serde(default)]
    #[schemars(example = 0.25, range(min = 0, max = 1))]
    min_share: Option<Spanned<f64>>,
    /// Luminance change that counts as a flash, 0..1 of full (default 0.10).
    #[serde(default)]
    #[schemars(example = 0.1, range(min = 0, max = 1))]
    min_swing: Option<Spanned<f64>>,
    /// Samples per second the shows are rendered at (default 50).
    #[serde(default)]
    #[schemars(example = 50, range(min = 0))]
    sample_hz: Option<Spanned<f64>>,
    /// Seconds rendered per show after its fade-in (default 60).
    #[serde(default)]
    #[schemars(example = 60, range(min = 0))]
    seconds: Option<Spanned<f64>>,
    /// Shows that only warn when they break the thresholds (needs `reason`).
    #[serde(default)]
    #[schemars(example = serde_json::json!(["new-year-strobe"]))]
    allow: Vec<Spanned<String>>,
    /// Why the `allow`ed shows are exempt (a permit, a closed road).
    #[serde(default)]
    #[schemars(example = &"closed road, permit 2027-114")]
    reason: Option<Spanned<String>>,
}

/// Read `[safety]` from the site file; problems go to `diags`.
pub fn parse(file: &SourceFile, show_names: &[String], diags: &mut Diagnostics) -> SafetyConfig {
    let mut cfg = SafetyConfig::default();
    // Problems in this section; a syntax error the site parser already
    // reported is not repeated.
    let Some(raw) = crate::diag::parse_all::<RawFile>(file, diags) else {
        return cfg;
    };
    let Some(raw) = raw.safety else {
        return cfg;
    };
    let span = raw.span();
    let raw = raw.into_inner();
    let mut num = |v: &Option<Spanned<f64>>, name: &str, lo: f64, hi: f64, into: &mut f64| {
        if let Some(v) = v {
            let x = *v.get_ref();
            if x.is_finite() && (lo..=hi).contains(&x) {
                *into = x;
            } else {
                diags.error(
                    file,
                    v.span(),
                    format!("safety {name} must be between {lo} and {hi}"),
                );
            }
        }
    };
    num(
        &raw.max_flashes_per_s,
        "max_flashes_per_s",
        0.5,
        25.0,
        &mut cfg.max_flashes_per_s,
    );
    num(&raw.min_share, "min_share", 0.01, 1.0, &mut cfg.min_share);
    let mut swing = cfg.min_swing as f64;
    num(&raw.min_swing, "min_swing", 0.01, 1.0, &mut swing);
    cfg.min_swing = swing as f32;
    num(&raw.sample_hz, "sample_hz", 50.0, 200.0, &mut cfg.sample_hz);
    num(&raw.seconds, "seconds", 5.0, 600.0, &mut cfg.seconds);
    for a in &raw.allow {
        if !show_names.iter().any(|s| s == a.get_ref()) {
            diags.error(
                file,
                a.span(),
                format!(
                    "safety allow names `{}`, which is not a show (the site has: {}){}",
                    a.get_ref(),
                    show_names.join(", "),
                    crate::suggest::hint(a.get_ref(), show_names.iter().map(String::as_str))
                ),
            );
        }
    }
    cfg.allow = raw
        .allow
        .iter()
        .map(|a| (a.get_ref().clone(), a.span()))
        .collect();
    cfg.reason = raw
        .reason
        .map(|r| r.into_inner().trim().to_string())
        .filter(|r| !r.is_empty());
    if !cfg.allow.is_empty() && cfg.reason.is_none() {
        diags.error(
            file,
            span,
            "safety allow needs a `reason`: say why these shows may flash (a permit, a closed event)",
        );
    }
    cfg
}

/// A show that flashes too much.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub show: String,
    pub path: std::path::PathBuf,
    /// (line, col) of each layer that fails on its own; empty when only the
    /// layers together fail (then the show's first layer is named).
    pub layers: Vec<(usize, usize)>,
    /// The first layer's location, for findings of the layers together.
    pub first_layer: (usize, usize),
    /// "group `avenue`" or "the whole site".
    pub scope: String,
    /// Fixtures in the scope, and how many flashed too fast in the worst second.
    pub fixtures: usize,
    pub flashing: usize,
    /// Flashes a second (the median of the flashing fixtures).
    pub rate: f64,
    /// Seconds after the fade-in where the worst second starts.
    pub at_s: f64,
}

impl Finding {
    pub fn share(&self) -> f64 {
        self.flashing as f64 / self.fixtures.max(1) as f64
    }
}

/// Members a scope is measured on at most (see the module doc).
pub(crate) const SAMPLE_PER_SCOPE: usize = 256;

/// A group or the whole site, as measured: its sampled members (positions
/// in the list of sampled fixtures) and its full size.
struct Scope {
    name: String,
    members: Vec<usize>,
    total: usize,
}

/// Check every show (a configuration's `Config::shows_in_order`) against
/// its site, rendering on up to `threads` threads (the findings do not
/// depend on it).
pub fn check<'a>(
    site: &Site,
    shows: impl IntoIterator<Item = &'a Show>,
    safety: &SafetyConfig,
    threads: usize,
) -> Vec<Finding> {
    let (scopes, sampled) = scopes(site);
    let mut wanted = vec![false; site.fixtures.len()];
    for &f in &sampled {
        wanted[f as usize] = true;
    }
    // The light rendered into, one per site cell (a fixture's luminance is
    // read from its own cells); allocated on the first render, as most
    // shows need none.
    let mut lights: Vec<Light> = Vec::new();
    let mut out = Vec::new();
    for show in shows {
        // A show that provably cannot change fast enough to flash (steady
        // layers, slow waves and fades) and strobes nothing too fast: no
        // need to render it.
        if cannot_flash(show, safety) && !strobes_too_fast(site, show, safety) {
            continue;
        }
        let show = sample_show(site, show, &wanted);
        let Some(worst) = measure(site, &show, safety, &scopes, &sampled, &mut lights, threads)
        else {
            continue;
        };
        // Which layers fail on their own?
        let mut layers = Vec::new();
        if show.layers.len() > 1 {
            for layer in &show.layers {
                let alone = Show {
                    layers: vec![layer.clone()],
                    ..show.clone()
                };
                // Layers that cannot flash alone (steady, slow) need no render.
                if (!cannot_flash(&alone, safety) || strobes_too_fast(site, &alone, safety))
                    && measure(
                        site,
                        &alone,
                        safety,
                        &scopes,
                        &sampled,
                        &mut lights,
                        threads,
                    )
                    .is_some()
                {
                    layers.push(layer.location);
                }
            }
        } else if let Some(l) = show.layers.first() {
            layers.push(l.location);
        }
        out.push(Finding {
            show: show.name.clone(),
            path: show.path.clone(),
            layers,
            first_layer: show.layers.first().map(|l| l.location).unwrap_or((1, 1)),
            ..worst
        });
    }
    out
}

/// A fixture's strobe channel as a show leaves it: the flash rate it
/// counts at (infinite when its profile states none), the level the show
/// sets and the fixture's profile.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Strobing {
    rate: f64,
    level: f32,
    profile: usize,
}

/// The rate a finding states for strobes whose profile gives no
/// `strobe_hz` (they count as flashing whatever the threshold): the
/// fastest rate the fixture libraries commonly state for a strobe.
pub(crate) const UNSTATED_STROBE_HZ: f64 = 25.0;

/// Per fixture of `fixtures`, its strobe channel as `show` leaves it, or
/// `None` when it has no strobe channel or the show leaves it open.
///
/// A layer that sets any motion key sets them all (an unset `strobe` is 0,
/// open), later layers over earlier ones, as the engine merges motion; the
/// level is constant in time. A fixture counts whatever light the show
/// gives it: a strobe on a dark fixture is rare, and counting it errs on
/// the safe side.
fn strobes(site: &Site, show: &Show, fixtures: &[u32]) -> Vec<Option<Strobing>> {
    let mut out = vec![None; fixtures.len()];
    if show.layers.iter().all(|l| l.motion.is_none()) {
        return out;
    }
    let mut slot_of = vec![u32::MAX; site.fixtures.len()];
    for (slot, &f) in fixtures.iter().enumerate() {
        if let Some(s) = slot_of.get_mut(f as usize) {
            *s = slot as u32;
        }
    }
    let mut level = vec![0.0f32; fixtures.len()];
    for layer in &show.layers {
        let Some(m) = &layer.motion else {
            continue;
        };
        for &f in &layer.fixtures {
            if let Some(&slot) = slot_of.get(f as usize).filter(|&&s| s != u32::MAX) {
                level[slot as usize] = m.strobe;
            }
        }
    }
    for ((o, &f), &level) in out.iter_mut().zip(fixtures).zip(&level) {
        let fx = &site.fixtures[f as usize];
        if !site.mode_of(fx).has(crate::fixture::Role::Strobe) {
            continue;
        }
        use crate::fixture::StrobeRate;
        let rate = match site.profile_of(fx).strobe_rate(level) {
            StrobeRate::Open => continue,
            StrobeRate::Hz(hz) => hz,
            StrobeRate::Unstated => f64::INFINITY,
        };
        *o = Some(Strobing {
            rate,
            level,
            profile: fx.profile,
        });
    }
    out
}

/// Whether some fixture of the site strobes faster than the threshold
/// under `show` (then the show is measured even when its light cannot
/// flash).
fn strobes_too_fast(site: &Site, show: &Show, safety: &SafetyConfig) -> bool {
    if show.layers.iter().all(|l| l.motion.is_none()) {
        return false;
    }
    let all: Vec<u32> = (0..site.fixtures.len() as u32).collect();
    strobes(site, show, &all)
        .iter()
        .flatten()
        .any(|s| s.rate > safety.max_flashes_per_s)
}

/// Per sampled fixture, the rate its strobe channel flashes at when that
/// is above the threshold (0 otherwise).
fn strobe_rates(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    sampled: &[u32],
) -> Vec<(f64, Option<Strobing>)> {
    strobes(site, show, sampled)
        .into_iter()
        .map(|s| match s {
            Some(s) if s.rate > safety.max_flashes_per_s => (s.rate, Some(s)),
            _ => (0.0, None),
        })
        .collect()
}

/// How a finding says that (some of) its fixtures flash by their strobe
/// channel: the level, and the rate the profile gives it or that it gives
/// none.
fn strobe_note(site: &Site, s: &Strobing, by_strobe: usize, flashing: usize) -> String {
    let key = site.profiles.get(s.profile).map_or("?", |p| p.key.as_str());
    let which = if by_strobe >= flashing {
        "their strobe channel".to_string()
    } else {
        format!("{by_strobe} of them by their strobe channel")
    };
    let rate = if s.rate.is_finite() {
        format!("{:.1} Hz by the strobe_hz of profile `{key}`", s.rate)
    } else {
        format!("profile `{key}` states no strobe_hz, so an open strobe counts as too fast (at {UNSTATED_STROBE_HZ} Hz)")
    };
    format!(", {which} at {:.0} % ({rate})", s.level * 100.0)
}

/// Whether `show` provably cannot fail, without rendering it.
///
/// A failing window holds at least M = ⌊2 × max flashes⌋ + 1 transitions,
/// and between two transitions the tracker needs the luminance to move by
/// `min_swing` (its hysteresis), so the window's total variation is at
/// least (M − 1) × `min_swing`. A fixture's luminance is a mean of its
/// cells', each a clamped sum of Rec. 709-weighted channels, each blended
/// from layers by replacement or maximum, and none of these raises total
/// variation: the sum over the show's layers of a bound on one layer's
/// variation over a window ([`variation_bound`]) bounds the fixture's. If
/// that sum stays below the threshold (with a margin for f32 rounding and
/// the effects' polynomial cosine), no window can fail. Sequences (cues
/// that jump) are always rendered.
fn cannot_flash(show: &Show, safety: &SafetyConfig) -> bool {
    let window_s = safety.sample_hz.round() / safety.sample_hz;
    let mut total = 0.0;
    for layer in &show.layers {
        match variation_bound(layer, window_s) {
            Some(v) => total += v,
            None => return false,
        }
    }
    total <= variation_limit(safety)
}

/// The total variation a fixture's luminance may have over a window and
/// still provably not fail (see [`cannot_flash`]): a failing window needs
/// (M − 1) × `min_swing`, less a margin for f32 rounding and the effects'
/// polynomial cosine.
fn variation_limit(safety: &SafetyConfig) -> f64 {
    let transitions = (2.0 * safety.max_flashes_per_s).floor() + 1.0;
    let needed = (transitions - 1.0) * f64::from(safety.min_swing);
    0.9 * needed - 1e-3
}

/// Rec. 709 luminance weights (as the measure applies them).
const LUMA: [f64; 3] = [0.2126, 0.7152, 0.0722];

/// A fixture's luminance: the Rec. 709 weighted mean of its cells' light
/// (in `f32`, as the measure takes it; not yet clamped).
fn fixture_luminance(cells: &[Light]) -> f32 {
    cells
        .iter()
        .map(|l| 0.2126 * l.r + 0.7152 * l.g + 0.0722 * l.b)
        .sum::<f32>()
        / cells.len().max(1) as f32
}

/// Luminance-weighted size of a colour difference: Σ wᵢ |aᵢ − bᵢ|.
fn luma_diff(a: Color, b: Color) -> f64 {
    LUMA[0] * f64::from((a.r - b.r).abs())
        + LUMA[1] * f64::from((a.g - b.g).abs())
        + LUMA[2] * f64::from((a.b - b.b).abs())
}

/// An upper bound on the total variation of one cell's luminance from
/// `layer` over any `window_s` seconds (None: no bound, render it). Each
/// effect's light is colour × clamp(level × layer level): the bound is the
/// largest rate of change of that product times the window, plus the size
/// of each jump times how many can fall in the window.
fn variation_bound(layer: &crate::show::Layer, window_s: f64) -> Option<f64> {
    use crate::show::effect::Effect;
    use std::f64::consts::PI;
    let level = f64::from(layer.level.abs());
    // Colour-changing effects run at level 1: clamp(1 × layer level).
    let m = level.min(1.0);
    let black = Color::BLACK;
    let steps = |colors: &[Color]| {
        colors
            .windows(2)
            .map(|w| luma_diff(w[0], w[1]))
            .fold(0.0, f64::max)
    };
    let finite = |x: f64| x.is_finite().then_some(x);
    Some(match &layer.effect {
        Effect::Solid { .. } => 0.0,
        Effect::Fade { colors, period } => {
            if colors.len() == 1 {
                // The level ramps 0 → 1 over a period.
                finite(luma_diff(colors[0], black) * level * window_s / period)?
            } else {
                // One colour to the next per period, the last back to the first.
                let wrap = luma_diff(colors[colors.len() - 1], colors[0]);
                finite(steps(colors).max(wrap) * m * window_s / period)?
            }
        }
        Effect::Pulse {
            color,
            period,
            depth,
        } => finite(
            luma_diff(*color, black) * level * f64::from(depth.abs()) * PI * window_s / period,
        )?,
        Effect::Wave {
            colors,
            speed,
            wavelength,
            depth,
        } => {
            // 0.5 + 0.5 cos(2π (x − s t) / λ) changes at most π |s| / λ a second.
            let rate = PI * speed.abs() / wavelength * window_s;
            match colors.get(1) {
                Some(&to) => finite(luma_diff(colors[0], to) * m * rate)?,
                None => {
                    finite(luma_diff(colors[0], black) * level * f64::from(depth.abs()) * rate)?
                }
            }
        }
        Effect::Gradient {
            colors,
            speed,
            extent,
        } => {
            if *speed == 0.0 || *extent <= 0.0 || colors.len() < 2 {
                0.0
            } else {
                // Scrolling at v extents a second through n − 1 segments,
                // jumping from the last colour to the first at each wrap.
                let v = speed.abs() / extent;
                let slope = (colors.len() - 1) as f64 * steps(colors);
                let wrap = luma_diff(colors[colors.len() - 1], colors[0]);
                finite(m * (slope * v * window_s + wrap * ((v * window_s).floor() + 1.0)))?
            }
        }
        Effect::Rainbow {
            speed,
            wavelength,
            period,
            saturation,
        } => {
            // Hue turns a second; HSV channels move 6 s per turn (weights sum to 1).
            let turns = (if *period > 0.0 { 1.0 / period } else { 0.0 })
                - (if *wavelength > 0.0 {
                    speed / wavelength
                } else {
                    0.0
                });
            finite(m * 6.0 * f64::from(saturation.abs()) * turns.abs() * window_s)?
        }
        Effect::Twinkle {
            base,
            sparkle,
            duration,
            ..
        } => {
            // sin(π × slot fraction): at most π / duration a second, and 0
            // where a slot ends and the next (lit or not) begins.
            finite(luma_diff(*base, *sparkle) * m * PI / duration * window_s)?
        }
        Effect::Chase { on, off, step, .. } => {
            // A cell can switch at each step boundary in the window.
            finite(luma_diff(*on, *off) * m * ((window_s / step).floor() + 1.0))?
        }
        Effect::Sequence { .. } => return None,
        // A clip's frames are rendered, not bounded.
        Effect::Media(_) => return None,
    })
}

/// At most `n` members, evenly spaced, in their order.
fn spread(members: &[u32], n: usize) -> Vec<u32> {
    if members.len() <= n {
        return members.to_vec();
    }
    (0..n).map(|k| members[k * members.len() / n]).collect()
}

/// The scopes a share is measured over (every group, then the site), and
/// the sampled fixtures, in site order.
fn scopes(site: &Site) -> (Vec<Scope>, Vec<u32>) {
    let all: Vec<u32> = (0..site.fixtures.len() as u32).collect();
    let of_site = spread(&all, SAMPLE_PER_SCOPE);
    let mut in_site = vec![false; site.fixtures.len()];
    for &f in &of_site {
        in_site[f as usize] = true;
    }
    let mut raw: Vec<(String, Vec<u32>, usize)> = site
        .groups
        .iter()
        .map(|(g, m)| (format!("group `{g}`"), group_sample(m, &in_site), m.len()))
        .collect();
    raw.push(("the whole site".into(), of_site, all.len()));
    let mut sampled: Vec<u32> = raw.iter().flat_map(|(_, m, _)| m.iter().copied()).collect();
    sampled.sort_unstable();
    sampled.dedup();
    let scopes = raw
        .into_iter()
        .map(|(name, m, total)| Scope {
            name,
            members: m
                .iter()
                .filter_map(|f| sampled.binary_search(f).ok())
                .collect(),
            total,
        })
        .collect();
    (scopes, sampled)
}

/// A group's sample: all of a small group; of a large one, its members
/// already in the site's sample (themselves evenly spaced over the site)
/// and the rest evenly spaced over its other members.
fn group_sample(members: &[u32], in_site: &[bool]) -> Vec<u32> {
    if members.len() <= SAMPLE_PER_SCOPE {
        return members.to_vec();
    }
    let (shared, rest): (Vec<u32>, Vec<u32>) = members
        .iter()
        .partition(|&&f| in_site.get(f as usize).copied().unwrap_or(false));
    if shared.len() >= SAMPLE_PER_SCOPE {
        return spread(&shared, SAMPLE_PER_SCOPE);
    }
    let mut out = shared;
    let top_up = SAMPLE_PER_SCOPE - out.len();
    out.extend(spread(&rest, top_up));
    out
}

/// `show` with each layer cut down to the cells of the wanted fixtures; an
/// effect's values do not change (each cell keeps its position, rank and
/// the layer's full cell count).
fn sample_show(site: &Site, show: &Show, wanted: &[bool]) -> Show {
    if wanted.iter().all(|&w| w) {
        return show.clone();
    }
    // Built field by field: cloning the whole show first would copy every
    // cell of a city-sized layer only to drop most of them.
    let layers = show
        .layers
        .iter()
        .map(|layer| {
            let keep: Vec<usize> = (0..layer.cells.len())
                .filter(|&i| {
                    let cell = layer.cells[i] as usize;
                    site.cells
                        .get(cell)
                        .is_some_and(|c| wanted.get(c.fixture as usize).copied().unwrap_or(false))
                })
                .collect();
            let pick = |v: &[f32]| -> Vec<f32> { keep.iter().map(|&i| v[i]).collect() };
            let cells: Vec<u32> = keep.iter().map(|&i| layer.cells[i]).collect();
            Layer {
                order: crate::show::CellOrder::of(&cells),
                sparkles: crate::show::effect::SparkleMemo::new(&layer.effect, cells.len()),
                target: layer.target.clone(),
                effect: layer.effect.clone(),
                level: layer.level,
                blend: layer.blend,
                cells,
                along: pick(&layer.along),
                u: pick(&layer.u),
                rank: keep.iter().map(|&i| layer.rank[i]).collect(),
                phase: if layer.phase.is_empty() {
                    Vec::new()
                } else {
                    pick(&layer.phase)
                },
                count: layer.count,
                fixtures: layer.fixtures.clone(),
                motion: layer.motion,
                location: layer.location,
            }
        })
        .collect();
    Show {
        name: show.name.clone(),
        fade_in: show.fade_in,
        fade_out: show.fade_out,
        layers,
        scene: show.scene,
        path: show.path.clone(),
        name_span: show.name_span.clone(),
        timecode: show.timecode,
    }
}

/// Render `show` alone on the sampled fixtures and return its worst
/// breach, if any.
fn measure(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    scopes: &[Scope],
    sampled: &[u32],
    lights: &mut Vec<Light>,
    threads: usize,
) -> Option<Finding> {
    measure_rendering(site, show, safety, scopes, sampled, lights, threads, true)
}

/// [`measure`], rendering only the fixtures whose counts can matter when
/// `only_needed` (what [`must_render`] says), or every sampled fixture.
/// The findings are the same either way (tested).
#[allow(clippy::too_many_arguments)]
fn measure_rendering(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    scopes: &[Scope],
    sampled: &[u32],
    lights: &mut Vec<Light>,
    threads: usize,
    only_needed: bool,
) -> Option<Finding> {
    let (frames, window, ends) = windows(safety);
    let need = if only_needed {
        must_render(site, show, safety, scopes, sampled, &ends, threads)
    } else {
        vec![true; sampled.len()]
    };
    let rendered: Vec<u32> = sampled
        .iter()
        .zip(&need)
        .filter_map(|(&f, &n)| n.then_some(f))
        .collect();
    // A strobing fixture flashes at its strobe's rate whatever its light does.
    let strobe = strobe_rates(site, show, safety, sampled);
    if rendered.is_empty() && strobe.iter().all(|s| s.1.is_none()) {
        return None;
    }
    if lights.len() < site.cells.len() {
        lights.resize(site.cells.len(), Light::DARK);
    }
    // Fixtures left out count no transition: each of them provably makes
    // at most 2 × `max_flashes_per_s` in every window where its count could
    // change a finding, so it is filtered out there either way.
    let counts = if rendered.is_empty() {
        vec![Vec::new(); sampled.len()]
    } else if rendered.len() == sampled.len() {
        flash_counts(site, show, safety, sampled, frames, lights, threads)
    } else {
        let mut wanted = vec![false; site.fixtures.len()];
        for &f in &rendered {
            wanted[f as usize] = true;
        }
        let cut = sample_show(site, show, &wanted);
        let mut some =
            flash_counts(site, &cut, safety, &rendered, frames, lights, threads).into_iter();
        need.iter()
            .map(|&n| {
                if n {
                    some.next().unwrap_or_default()
                } else {
                    Vec::new()
                }
            })
            .collect()
    };
    let count = |slot: usize, k: usize| counts[slot].get(k).copied().unwrap_or(0);
    let mut worst: Option<Finding> = None;
    for k in ends {
        let start = k - window;
        let rate =
            |slot: usize| ((count(slot, k) - count(slot, start)) as f64 / 2.0).max(strobe[slot].0);
        for scope in scopes {
            if scope.members.is_empty() {
                continue;
            }
            let mut rates: Vec<f64> = scope
                .members
                .iter()
                .map(|&slot| rate(slot))
                .filter(|&r| r > safety.max_flashes_per_s)
                .collect();
            let share = rates.len() as f64 / scope.members.len() as f64;
            if rates.is_empty() || share < safety.min_share {
                continue;
            }
            rates.sort_by(f64::total_cmp);
            let scaled = |n: usize| {
                if scope.members.len() == scope.total {
                    n
                } else {
                    (n as f64 / scope.members.len() as f64 * scope.total as f64).round() as usize
                }
            };
            let flashing = scaled(rates.len());
            // Members that flash by their strobe channel (at least as fast
            // as their light), named in the finding.
            let by_strobe: Vec<&Strobing> = scope
                .members
                .iter()
                .filter(|&&slot| {
                    strobe[slot].0 > safety.max_flashes_per_s && strobe[slot].0 >= rate(slot)
                })
                .filter_map(|&slot| strobe[slot].1.as_ref())
                .collect();
            let mut name = scope.name.clone();
            if let Some(first) = by_strobe.first() {
                name.push_str(&strobe_note(site, first, scaled(by_strobe.len()), flashing));
            }
            let median = rates[rates.len() / 2];
            let cand = Finding {
                show: show.name.clone(),
                path: show.path.clone(),
                layers: Vec::new(),
                first_layer: (0, 0),
                scope: name,
                fixtures: scope.total,
                flashing,
                rate: if median.is_finite() {
                    median
                } else {
                    UNSTATED_STROBE_HZ.max(safety.max_flashes_per_s)
                },
                at_s: start as f64 / safety.sample_hz,
            };
            if worst
                .as_ref()
                .is_none_or(|w| (cand.share(), cand.rate) > (w.share(), w.rate))
            {
                worst = Some(cand);
            }
        }
    }
    worst
}

/// Frames rendered per show, frames per one-second window, and the last
/// frame of each window [`measure`] looks at: every tenth of a second, the
/// one-second window that ends there.
fn windows(safety: &SafetyConfig) -> (usize, usize, Vec<usize>) {
    let frames = (safety.seconds * safety.sample_hz).ceil() as usize + 1;
    let window = safety.sample_hz.round() as usize;
    let stride = (window / 10).max(1);
    (frames, window, (window..frames).step_by(stride).collect())
}

/// Which sampled fixtures [`measure`] must render: those that may flash
/// too fast (by [`fixture_variation`]) in a window where enough of a
/// scope's members may, together, to reach `min_share` of it. Any other
/// fixture makes at most 2 × `max_flashes_per_s` transitions in every
/// window where its count could change a finding, and a window where too
/// few members may flash is skipped whatever they do.
fn must_render(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    scopes: &[Scope],
    sampled: &[u32],
    ends: &[usize],
    threads: usize,
) -> Vec<bool> {
    let limit = variation_limit(safety);
    let bounds = fixture_variation(site, show, safety, sampled, ends, threads, 4.0 * limit);
    let n = ends.len();
    // A fixture strobing too fast flashes in every window without being
    // rendered: it counts towards a window's share, it needs no render.
    let strobing: Vec<bool> = strobe_rates(site, show, safety, sampled)
        .iter()
        .map(|s| s.1.is_some())
        .collect();
    let lum_may_flash = |slot: usize, w: usize| bounds[slot * n + w] > limit;
    let may_flash = |slot: usize, w: usize| strobing[slot] || lum_may_flash(slot, w);
    let mut need = vec![false; sampled.len()];
    for scope in scopes {
        if scope.members.is_empty() {
            continue;
        }
        for w in 0..n {
            let open = scope
                .members
                .iter()
                .filter(|&&slot| may_flash(slot, w))
                .count();
            // `measure` skips a window whose share of flashing members is
            // below `min_share`; the flashing ones are among these.
            if (open as f64 / scope.members.len() as f64) < safety.min_share {
                continue;
            }
            for &slot in &scope.members {
                if lum_may_flash(slot, w) {
                    need[slot] = true;
                }
            }
        }
    }
    need
}

/// Show time padding each window's span on both sides (seconds): covers
/// the renderer's nanosecond instants and float rounding many times over.
const PAD_S: f64 = 1e-4;

/// A twinkle or gradient cell is followed through at most this many slots
/// or wraps over the rendered time; beyond that the layer's per-cell bound
/// is used for it.
const MAX_EVENTS: f64 = 2_000.0;

/// Per sampled fixture and window (`ends`, fixture-major), an upper bound
/// on the total variation of the fixture's luminance over that window;
/// infinite where there is none (a sequence). A twinkle is followed in
/// time only when its expected variation over a window (density × 2 ×
/// amplitude a slot) is below `follow_below`: a denser one leaves too many
/// fixtures above the limit for following it to spare any rendering, and
/// costs a hash a slot and cell.
///
/// The argument of [`cannot_flash`], per fixture: the luminance is the mean
/// of the fixture's cells, so its variation is at most the mean of theirs,
/// and each cell's is at most the sum of its layers'. Most layers add their
/// per-cell [`variation_bound`] for each of the fixture's cells they cover.
/// Two are followed in time instead, because their bound per second is far
/// above what they do in most windows:
/// - a twinkle: a cell changes only in the slots where it is lit (asked of
///   the effect itself), and there its envelope sin(π f) rises once and
///   falls once, so the cell varies by amplitude × the envelope's variation
///   over the part of each lit slot inside the window (2 for a whole slot);
/// - a scrolling gradient: a cell moves along the palette at the scroll
///   speed (its steepest segment × speed × window) and jumps from the last
///   colour to the first only when its wrapped position crosses a whole
///   number, at instants known exactly; only windows holding one pay it.
fn fixture_variation(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    sampled: &[u32],
    ends: &[usize],
    threads: usize,
    follow_below: f64,
) -> Vec<f64> {
    use crate::show::effect::Effect;
    let n = ends.len();
    let mut bounds = vec![0.0; sampled.len() * n];
    if n == 0 {
        return bounds;
    }
    let window = safety.sample_hz.round() as usize;
    let time = |frame: usize| show.fade_in + frame as f64 / safety.sample_hz;
    // Each window's span in show time, padded; sorted by both ends.
    let spans: Vec<(f64, f64)> = ends
        .iter()
        .map(|&k| (time(k - window) - PAD_S, time(k) + PAD_S))
        .collect();
    let window_s = window as f64 / safety.sample_hz + 2.0 * PAD_S;
    let (first, last) = (spans[0].0, spans[n - 1].1);
    // The windows whose span meets [a, b].
    let meeting =
        |a: f64, b: f64| spans.partition_point(|s| s.1 < a)..spans.partition_point(|s| s.0 <= b);
    let mut slot_of = vec![u32::MAX; site.fixtures.len()];
    for (slot, &f) in sampled.iter().enumerate() {
        slot_of[f as usize] = slot as u32;
    }
    // The slots `from..` whose rows are `bounds` (each thread its own run).
    let fill = |from: usize, bounds: &mut [f64]| {
        let rows = bounds.len() / n;
        // Per slot, the part that is the same in every window.
        let mut steady = vec![0.0f64; rows];
        for layer in &show.layers {
            let per_cell = variation_bound(layer, window_s).unwrap_or(f64::INFINITY);
            let m = f64::from(layer.level.abs()).min(1.0);
            for (i, &cell) in layer.cells.iter().enumerate() {
                let Some(c) = site.cells.get(cell as usize) else {
                    continue;
                };
                let Some(&slot) = slot_of.get(c.fixture as usize) else {
                    continue;
                };
                let Some(slot) = (slot as usize)
                    .checked_sub(from)
                    .filter(|&slot| slot < rows)
                else {
                    continue;
                };
                let cells = f64::from(site.fixtures[c.fixture as usize].cell_count.max(1));
                let row = &mut bounds[slot * n..(slot + 1) * n];
                match &layer.effect {
                    Effect::Twinkle {
                        base,
                        sparkle,
                        duration,
                        seed,
                        density,
                        ..
                    } if duration.is_finite()
                        && *duration > 0.0
                        && (last - first) / duration < MAX_EVENTS
                        && f64::from(density.clamp(0.0, 1.0))
                            * 2.0
                            * luma_diff(*base, *sparkle)
                            * m
                            * window_s
                            / duration
                            < follow_below =>
                    {
                        let amp = luma_diff(*base, *sparkle) * m / cells;
                        if amp == 0.0 {
                            continue;
                        }
                        let phase =
                            f64::from(layer.phase.get(i).copied().unwrap_or_else(|| {
                                crate::show::effect::twinkle_phase(*seed, cell)
                            }));
                        // Slot s covers x = t / duration + phase in [s, s + 1).
                        let x = |t: f64| t / duration + phase;
                        let (s0, s1) = (x(first).floor() as i64, x(last).floor() as i64);
                        for s in s0..=s1 {
                            // Lit or not, asked of the effect mid-slot: an unlit
                            // cell is its base at full level.
                            let mid = (s as f64 + 0.5 - phase) * duration;
                            let lit = layer.effect.at(mid).cell(
                                layer.along[i],
                                layer.u[i],
                                layer.rank[i],
                                layer.count,
                                cell,
                            ) != (*base, 1.0);
                            if !lit {
                                continue;
                            }
                            let (a, b) = (
                                (s as f64 - phase) * duration,
                                (s as f64 + 1.0 - phase) * duration,
                            );
                            for w in meeting(a, b) {
                                let f0 = (x(spans[w].0) - s as f64).clamp(0.0, 1.0);
                                let f1 = (x(spans[w].1) - s as f64).clamp(0.0, 1.0);
                                row[w] += amp * envelope_variation(f0, f1);
                            }
                        }
                    }
                    Effect::Gradient {
                        colors,
                        speed,
                        extent,
                        ..
                    } if *speed != 0.0 && *extent > 0.0 && colors.len() >= 2 => {
                        let v = speed / extent;
                        let steepest = colors
                            .windows(2)
                            .map(|w| luma_diff(w[0], w[1]))
                            .fold(0.0, f64::max);
                        let slope = (colors.len() - 1) as f64 * steepest;
                        let wrap = luma_diff(colors[colors.len() - 1], colors[0]) * m / cells;
                        // The cell's place along the palette is u − v t, wrapped.
                        let u = f64::from(layer.u[i]);
                        let z = |t: f64| u - v * t;
                        let (lo, hi) = (z(first).min(z(last)), z(first).max(z(last)));
                        // Too slow to place its wraps in time, or too fast
                        // to follow: the per-cell bound.
                        if v.abs() < 1e-9 || !(hi - lo).is_finite() || hi - lo >= MAX_EVENTS {
                            steady[slot] += per_cell / cells;
                            continue;
                        }
                        steady[slot] += m * slope * v.abs() * window_s / cells;
                        if wrap == 0.0 {
                            continue;
                        }
                        // Where f32 rounding moves the jump, in palette turns
                        // and then in time.
                        let eps = 1e-6;
                        let dt = eps / v.abs();
                        let (k0, k1) = ((lo - eps).floor() as i64, (hi + eps).floor() as i64);
                        for k in k0 + 1..=k1 {
                            let at = (u - k as f64) / v;
                            for w in meeting(at - dt, at + dt) {
                                row[w] += wrap;
                            }
                        }
                    }
                    _ => steady[slot] += per_cell / cells,
                }
            }
        }
        for (row, add) in bounds.chunks_mut(n).zip(&steady) {
            for b in row {
                *b += add;
            }
        }
    };
    let per = sampled.len().div_ceil(threads.clamp(1, 16)).max(1);
    if threads <= 1 || per >= sampled.len() {
        fill(0, &mut bounds);
        return bounds;
    }
    std::thread::scope(|scope| {
        let fill = &fill;
        for (k, part) in bounds.chunks_mut(per * n).enumerate() {
            scope.spawn(move || fill(k * per, part));
        }
    });
    bounds
}

/// Total variation of sin(π f) for f from `f0` to `f1` (0 ≤ f0 ≤ f1 ≤ 1):
/// it rises to 1 at f = ½ and falls back to 0.
fn envelope_variation(f0: f64, f1: f64) -> f64 {
    use std::f64::consts::PI;
    if f0 <= 0.0 && f1 >= 1.0 {
        return 2.0;
    }
    let (a, b) = ((PI * f0).sin(), (PI * f1).sin());
    if f1 <= 0.5 {
        b - a
    } else if f0 >= 0.5 {
        a - b
    } else {
        2.0 - a - b
    }
}

/// Per sampled fixture, the luminance transitions counted up to each
/// frame (prefix counts), the show rendered alone from the end of its
/// fade-in. The sampled fixtures are split into up to `threads` runs of
/// equal size, each rendered by its own thread into its own part of
/// `lights` (a fixture's cells are contiguous and fixtures are in cell
/// order, so the parts do not overlap).
fn flash_counts(
    site: &Site,
    show: &Show,
    safety: &SafetyConfig,
    sampled: &[u32],
    frames: usize,
    lights: &mut [Light],
    threads: usize,
) -> Vec<Vec<u16>> {
    let cells_of = |f: u32| {
        let fx = &site.fixtures[f as usize];
        fx.first_cell as usize..fx.first_cell as usize + fx.cell_count as usize
    };
    // Below this, a second thread costs more than it saves.
    const PER_THREAD_MIN: usize = 16;
    let threads = threads
        .clamp(1, 16)
        .min(sampled.len() / PER_THREAD_MIN)
        .max(1);
    let chunk = sampled.len().div_ceil(threads).max(1);
    let mut parts = Vec::new();
    let mut rest = lights;
    let mut taken = 0;
    for fixtures in sampled.chunks(chunk) {
        let first = cells_of(fixtures[0]).start;
        let end = fixtures.last().map_or(first, |&f| cells_of(f).end);
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(first - taken);
        let (part, tail) = tail.split_at_mut(end - first);
        rest = tail;
        taken = end;
        parts.push((fixtures, part, first));
    }
    let run = |(fixtures, lights, first): (&[u32], &mut [Light], usize)| {
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let active = [ActiveShow::new(show, t0, None, 0)];
        let mut counts: Vec<Vec<u16>> = vec![Vec::with_capacity(frames); fixtures.len()];
        let mut trackers = vec![Tracker::default(); fixtures.len()];
        for k in 0..frames {
            let t = show.fade_in + k as f64 / safety.sample_hz;
            let at = t0 + Duration::nanoseconds((t * 1e9) as i64);
            for &f in fixtures {
                let r = cells_of(f);
                lights[r.start - first..r.end - first].fill(Light::DARK);
            }
            render_cells(site, &active, at, lights, first, LitCells::Remembered);
            for (slot, &f) in fixtures.iter().enumerate() {
                let r = cells_of(f);
                let y = fixture_luminance(&lights[r.start - first..r.end - first]);
                let c = trackers[slot].push(y.clamp(0.0, 1.0), safety.min_swing);
                let prev = counts[slot].last().copied().unwrap_or(0);
                counts[slot].push(prev.saturating_add(c as u16));
            }
        }
        counts
    };
    if parts.len() <= 1 {
        return parts.into_iter().flat_map(run).collect();
    }
    std::thread::scope(|scope| {
        let run = &run;
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Counts luminance transitions with hysteresis: a change counts once it
/// has moved `swing` away from the last extreme, and only if the darker
/// side is below 0.8 (brighter than that, WCAG does not count a flash).
#[derive(Debug, Clone, Copy, Default)]
struct Tracker {
    started: bool,
    dir: i8,
    hi: f32,
    lo: f32,
}

impl Tracker {
    /// Feed one sample; returns 1 if it completes a transition.
    fn push(&mut self, y: f32, swing: f32) -> u8 {
        if !self.started {
            *self = Tracker {
                started: true,
                dir: 0,
                hi: y,
                lo: y,
            };
            return 0;
        }
        match self.dir {
            1 => {
                if y > self.hi {
                    self.hi = y;
                } else if self.hi - y >= swing && y < 0.8 {
                    self.dir = -1;
                    self.lo = y;
                    return 1;
                }
            }
            -1 => {
                if y < self.lo {
                    self.lo = y;
                } else if y - self.lo >= swing && self.lo < 0.8 {
                    self.dir = 1;
                    self.hi = y;
                    return 1;
                }
            }
            _ => {
                self.hi = self.hi.max(y);
                self.lo = self.lo.min(y);
                if self.hi - y >= swing && y < 0.8 {
                    self.dir = -1;
                    self.lo = y;
                    return 1;
                } else if y - self.lo >= swing && self.lo < 0.8 {
                    self.dir = 1;
                    self.hi = y;
                    return 1;
                }
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::Look;

    /// The check over a whole configuration, as `nightscape check` runs it.
    fn check(cfg: &Config, safety: &SafetyConfig, threads: usize) -> Vec<Finding> {
        super::check(&cfg.site, cfg.shows_in_order(), safety, threads)
    }

    const DIM: &str =
        "name = \"d\"\npower_w = 10\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmer\"]\n";

    /// 500 one-channel lamps along a 1 km street, all in group `street`,
    /// and one show `s`: more fixtures than a scope's sample.
    fn street(show: &str) -> Config {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
             [[paths]]\nname = \"p\"\npoints = [[0, 0], [998, 0]]\n\
             [[arrays]]\nname = \"lamp\"\nprofile = \"dim\"\npath = \"p\"\nmode = \"1ch\"\nspacing = 2\nstart = \"0.1\"\n\
             [groups]\nstreet = [\"lamp-*\"]\n";
        one_show_site(site, ("fixtures/dim.toml", DIM), show)
    }

    /// A site of `site.toml` text, one profile and one show `s`, compiled.
    fn one_show_site(site: &str, (path, profile): (&str, &str), show: &str) -> Config {
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new(path, profile)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("t/s.toml", show)],
        };
        crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
    }

    const BAR: &str = "name = \"bar\"\npower_w = 10\n[[modes]]\nname = \"24ch\"\ncells = 8\ncell = [\"red\", \"green\", \"blue\"]\n";

    /// 300 RGB bars of 8 pixels along a 300 m street, 100 in group `east`
    /// and 200 in group `west` (both measured whole; the site is sampled),
    /// and one show `s`.
    fn bars(show: &str) -> Config {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
             [[paths]]\nname = \"p\"\npoints = [[0, 0], [300, 0]]\n\
             [[arrays]]\nname = \"east\"\nprofile = \"bar\"\npath = \"p\"\nmode = \"24ch\"\nspacing = 1\nfrom = 0\nto = 99\nlength = 0.7\nstart = \"0.1\"\n\
             [[arrays]]\nname = \"west\"\nprofile = \"bar\"\npath = \"p\"\nmode = \"24ch\"\nspacing = 1\nfrom = 100\nto = 299\nlength = 0.7\nstart = \"100.1\"\n\
             [groups]\neast = [\"east-*\"]\nwest = [\"west-*\"]\n";
        one_show_site(site, ("fixtures/bar.toml", BAR), show)
    }

    /// The scopes, the sampled fixtures and the show cut down to them, as
    /// `check` measures it.
    fn sampled_show(cfg: &Config) -> (Vec<Scope>, Vec<u32>, Show) {
        let site = &cfg.site;
        let (scopes, sampled) = scopes(site);
        let mut wanted = vec![false; site.fixtures.len()];
        for &f in &sampled {
            wanted[f as usize] = true;
        }
        let small = sample_show(site, cfg.show("s").expect("show s"), &wanted);
        (scopes, sampled, small)
    }

    /// Each of `fixtures`' luminance, clamped as `flash_counts` takes it,
    /// over `frames` frames `hz` apart from the end of the show's fade-in.
    fn rendered_luminance(
        site: &Site,
        show: &Show,
        fixtures: &[u32],
        frames: usize,
        hz: f64,
    ) -> Vec<Vec<f32>> {
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let active = [ActiveShow::new(show, t0, None, 0)];
        let mut look = Look::dark(site);
        let mut ys: Vec<Vec<f32>> = vec![Vec::with_capacity(frames); fixtures.len()];
        for k in 0..frames {
            let t = show.fade_in + k as f64 / hz;
            look.lights.fill(Light::DARK);
            render_cells(
                site,
                &active,
                t0 + Duration::nanoseconds((t * 1e9) as i64),
                &mut look.lights,
                0,
                LitCells::Remembered,
            );
            for (y, &f) in ys.iter_mut().zip(fixtures) {
                y.push(fixture_luminance(look.fixture_cells(site, f)).clamp(0.0, 1.0));
            }
        }
        ys
    }

    /// Per sampled fixture and window (laid out as [`fixture_variation`]),
    /// the total variation of the fixture's luminance as `flash_counts`
    /// renders and measures it.
    fn rendered_window_variation(
        site: &Site,
        show: &Show,
        safety: &SafetyConfig,
        sampled: &[u32],
    ) -> Vec<f64> {
        let (frames, window, ends) = windows(safety);
        let ys = rendered_luminance(site, show, sampled, frames, safety.sample_hz);
        ys.iter()
            .flat_map(|y| {
                let steps = steps(y);
                ends.iter()
                    .map(move |&k| total(&steps[k - window..k]))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Each frame-to-frame step of `y`, |y[k + 1] − y[k]|: a window's total
    /// variation is the sum of its steps in order (the same bits as summing
    /// them window by window, without taking each step once per window).
    fn steps(y: &[f32]) -> Vec<f64> {
        y.windows(2)
            .map(|p| f64::from((p[1] - p[0]).abs()))
            .collect()
    }

    /// `steps.iter().sum()`, in the same order (the same bits), as a plain
    /// loop: a debug build's iterator folds cost most of these tests.
    fn total(steps: &[f64]) -> f64 {
        let (mut sum, mut i) = (-0.0, 0);
        while i < steps.len() {
            sum += steps[i];
            i += 1;
        }
        sum
    }

    /// Layers for the per-fixture bound: twinkles (sparse, dense, short,
    /// long, over other layers), scrolling gradients that wrap within the
    /// rendered seconds (both ways), and the layers bounded per cell.
    const FOLLOWED: &[&str] = &[
        "[[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.5\nduration = \"0.2s\"\n",
        "[[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.3\nduration = \"0.07s\"\nseed = 3\n",
        "[[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolors = [\"#202020\", \"#ff8040\"]\ndensity = 0.6\nduration = \"2.5s\"\nlevel = 0.7\n",
        "[[layers]]\ntarget = \"*\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"6 m/s\"\nwavelength = \"90 m\"\n\
         [[layers]]\ntarget = \"*\"\nblend = \"htp\"\nlevel = 0.8\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.05\nduration = \"0.6s\"\nseed = 7\n",
        "[[layers]]\ntarget = \"east\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"9 m/s\"\n\
         [[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.2\nduration = \"0.4s\"\n",
        "[[layers]]\ntarget = \"*\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"-25 m/s\"\n",
        "[[layers]]\ntarget = \"*\"\neffect = \"gradient\"\ncolors = [\"#ffffff\", \"#000000\"]\nspeed = \"700 m/s\"\n",
        "[[layers]]\ntarget = \"west\"\neffect = \"chase\"\ncolors = [\"#ffffff\", \"#000000\"]\nstep = \"0.13s\"\nwidth = 2\nevery = 5\n\
         [[layers]]\ntarget = \"*\"\nblend = \"htp\"\neffect = \"pulse\"\ncolor = \"#1e3cff\"\nperiod = \"0.5s\"\ndepth = 0.6\n",
    ];

    /// The bound per fixture and window is sound: it is never below what
    /// rendering measures, for every layer it follows in time.
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn the_fixture_bound_holds_in_every_window() {
        // Three seconds (21 windows a fixture): the slowest layer's slots
        // (2.5 s) turn over and each gradient's wrap crosses bars, as the
        // counts below show (about 19,000 windows cleared, 32,000 jumps).
        let safety = SafetyConfig {
            seconds: 3.0,
            ..SafetyConfig::default()
        };
        let limit = variation_limit(&safety);
        let (mut below, mut jumps) = (0, 0);
        for text in FOLLOWED {
            let cfg = bars(text);
            let site = &cfg.site;
            let (_, sampled, small) = sampled_show(&cfg);
            let (_, _, ends) = windows(&safety);
            // Followed however dense the twinkle (`check` follows sparse ones).
            let bound = fixture_variation(site, &small, &safety, &sampled, &ends, 3, f64::INFINITY);
            let seen = rendered_window_variation(site, &small, &safety, &sampled);
            assert_eq!(bound.len(), seen.len());
            for (i, (&b, &v)) in bound.iter().zip(&seen).enumerate() {
                let (slot, w) = (i / ends.len(), i % ends.len());
                assert!(
                    v <= b + 1e-4,
                    "fixture {} window ending at frame {}: rendered {v} > bound {b}\n{text}",
                    sampled[slot],
                    ends[w]
                );
                below += usize::from(b <= limit);
                jumps += usize::from(v > 0.3);
            }
        }
        // Not vacuous: many windows are cleared, and the rendered
        // luminance does jump (wraps, sparkles).
        assert!(below > 1000, "{below}");
        assert!(jumps > 100, "{jumps}");
    }

    /// Rendering only the fixtures `must_render` names gives exactly the
    /// findings of rendering every sampled fixture: shows that fail on a
    /// group or the site, shows that pass, and shows where only part is
    /// rendered.
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn rendering_only_what_can_matter_gives_the_same_findings() {
        // Three seconds: 21 one-second windows; each show fails (on the
        // same scope) or passes as over six, and seven are rendered in part
        // (five over six).
        let safety = SafetyConfig {
            seconds: 3.0,
            ..SafetyConfig::default()
        };
        let strobe_east = "[[layers]]\ntarget = \"east\"\neffect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.2s\"\ndepth = 1.0\n\
             [[layers]]\ntarget = \"*\"\nblend = \"htp\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.05\nduration = \"0.6s\"\n";
        let mut shows: Vec<&str> = FOLLOWED.to_vec();
        shows.push(strobe_east);
        // A 4 Hz pulse on `west` under a sparse twinkle: found on `west`,
        // `east` left unrendered.
        let west = strobe_east
            .replacen("target = \"east\"", "target = \"west\"", 1)
            .replace("period = \"0.2s\"", "period = \"0.25s\"");
        shows.push(&west);
        shows.push("[[layers]]\ntarget = \"west\"\neffect = \"chase\"\ncolors = [\"#ffffff\", \"#000000\"]\nstep = \"0.1s\"\nwidth = 1\nevery = 2\n");
        for d in ["0.1", "0.15", "0.2", "0.3"] {
            shows.push(Box::leak(format!("[[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = {d}\nduration = \"0.5s\"\n").into_boxed_str()));
        }
        let (mut partial, mut failing) = (0, 0);
        for text in shows {
            let cfg = bars(text);
            let site = &cfg.site;
            let (scopes, sampled, small) = sampled_show(&cfg);
            let (_, _, ends) = windows(&safety);
            let need = must_render(site, &small, &safety, &scopes, &sampled, &ends, 2);
            let rendered = need.iter().filter(|&&n| n).count();
            partial += usize::from(rendered > 0 && rendered < sampled.len());
            let mut lights = Vec::new();
            let every = measure_rendering(
                site,
                &small,
                &safety,
                &scopes,
                &sampled,
                &mut lights,
                2,
                false,
            );
            let mut lights = Vec::new();
            let some = measure_rendering(
                site,
                &small,
                &safety,
                &scopes,
                &sampled,
                &mut lights,
                2,
                true,
            );
            assert_eq!(some, every, "{text}");
            failing += usize::from(every.is_some());
        }
        assert!(partial >= 5, "{partial}");
        assert!(failing >= 4, "{failing}");
        // The strobe on `east` is found with the west left unrendered.
        let cfg = bars(strobe_east);
        let found = check(&cfg, &safety, 2);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].scope, "group `east`");
    }

    /// A city show of the kind `generate-site --effect all` writes (a slow
    /// wave, a slow gradient that wraps, a sparse twinkle at 0.8) is
    /// cleared without rendering a fixture; a dense fast twinkle is not.
    #[test]
    fn a_sparse_twinkle_over_slow_layers_needs_no_render() {
        let safety = SafetyConfig::default();
        let city = "[[layers]]\ntarget = \"west\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"6 m/s\"\nwavelength = \"90 m\"\n\
             [[layers]]\ntarget = \"east\"\neffect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"2 m/s\"\n\
             [[layers]]\ntarget = \"*\"\nblend = \"htp\"\nlevel = 0.8\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.05\nduration = \"0.6s\"\nseed = 7\n";
        let cfg = bars(city);
        assert!(!cannot_flash(cfg.show("s").expect("show s"), &safety));
        let (scopes, sampled, small) = sampled_show(&cfg);
        let (_, _, ends) = windows(&safety);
        let need = must_render(&cfg.site, &small, &safety, &scopes, &sampled, &ends, 2);
        assert!(need.iter().all(|&n| !n));
        assert!(check(&cfg, &safety, 2).is_empty());

        let dense = bars(FOLLOWED[0]);
        let (scopes, sampled, small) = sampled_show(&dense);
        let need = must_render(&dense.site, &small, &safety, &scopes, &sampled, &ends, 2);
        assert!(need.iter().all(|&n| n));
    }

    #[test]
    fn the_envelope_rises_once_and_falls_once() {
        assert!((envelope_variation(0.0, 1.0) - 2.0).abs() < 1e-12);
        assert!((envelope_variation(0.0, 0.5) - 1.0).abs() < 1e-12);
        assert!(
            (envelope_variation(0.75, 1.0) - (0.75 * std::f64::consts::PI).sin()).abs() < 1e-12
        );
        assert!((envelope_variation(0.25, 0.75) - (2.0 - 2.0 * 0.5f64.sqrt())).abs() < 1e-12);
        assert_eq!(envelope_variation(0.3, 0.3), 0.0);
    }

    #[test]
    fn a_strobe_on_a_sampled_street_fails_and_is_reported_over_the_whole_group() {
        let cfg = street(
            "[[layers]]\ntarget = \"street\"\neffect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.2s\"\ndepth = 1.0\n",
        );
        let n = cfg.site.fixtures.len();
        assert!(n > SAMPLE_PER_SCOPE, "{n} fixtures");
        let found = check(&cfg, &SafetyConfig::default(), 2);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].fixtures, found[0].flashing), (n, n));
        assert!((found[0].rate - 5.0).abs() < 0.6, "{}", found[0].rate);
    }

    /// Eight heads of profile `par` (the given text) along a 70 m path, in
    /// group `all` and the `groups` lines given, and one show `s`.
    fn heads(profile: &str, show: &str, groups: &str) -> Config {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
             [[paths]]\nname = \"p\"\npoints = [[0, 0], [70, 0]]\n\
             [[arrays]]\nname = \"head\"\nprofile = \"par\"\npath = \"p\"\nmode = \"m\"\nspacing = 10\nstart = \"0.1\"\n\
             [groups]\nall = [\"head-*\"]\n";
        one_show_site(
            &format!("{site}{groups}"),
            ("fixtures/par.toml", profile),
            show,
        )
    }

    /// A strobe channel is part of the check: a fixture counts as flashing
    /// at the rate its profile's `strobe_hz` gives the layer's `strobe`
    /// level, or, without one, as too fast whatever the level; a finding
    /// names the layer and the rate (check(input, expect)).
    #[test]
    fn strobe_channels_flash_at_the_rate_their_profile_states() {
        let par = |extra: &str, channels: &str| {
            format!("name = \"par\"\npower_w = 10\n{extra}\n[[modes]]\nname = \"m\"\nchannels = {channels}\n")
        };
        let with = "[\"dimmer\", \"red\", \"green\", \"blue\", \"strobe\"]";
        let without = "[\"dimmer\", \"red\", \"green\", \"blue\"]";
        let white = "[[layers]]\ntarget = \"all\"\neffect = \"solid\"\ncolor = \"white\"\n";
        // (profile keys, channels, layers after a steady white, expected
        // finding: (rate, words of its scope) or none)
        type Case<'a> = (&'a str, &'a str, &'a str, Option<(f64, &'a str)>);
        let cases: &[Case] = &[
            (
                "",
                with,
                "strobe = 0.5",
                Some((UNSTATED_STROBE_HZ, "states no strobe_hz")),
            ),
            (
                "",
                with,
                "strobe = 0.01",
                Some((UNSTATED_STROBE_HZ, "at 1 %")),
            ),
            (
                "strobe_hz = [1, 25]",
                with,
                "strobe = 0.5",
                Some((13.0, "13.0 Hz by the strobe_hz of profile `par`")),
            ),
            (
                "strobe_hz = [1, 25]",
                with,
                "strobe = \"100%\"",
                Some((25.0, "their strobe channel at 100 %")),
            ),
            ("strobe_hz = [1, 5]", with, "strobe = 0.25", None),
            ("strobe_hz = [0.5, 30]", with, "strobe = 0.05", None),
            ("", with, "strobe = 0", None),
            ("", with, "", None),
            // No strobe channel: the key drives nothing.
            ("", without, "strobe = 1.0", None),
            // One head of eight is below the share.
            ("", with, "strobe = 0.5\ntarget = \"head-001\"", None),
        ];
        let safety = SafetyConfig {
            seconds: 5.0,
            ..SafetyConfig::default()
        };
        for &(keys, channels, layer, expect) in cases {
            let (target, layer) = match layer.split_once("\ntarget = ") {
                Some((l, t)) => (t.to_string(), l.to_string()),
                None => ("\"all\"".to_string(), layer.to_string()),
            };
            let show = format!("{white}[[layers]]\ntarget = {target}\neffect = \"solid\"\ncolor = \"white\"\n{layer}\n");
            let cfg = heads(&par(keys, channels), &show, "");
            let found = check(&cfg, &safety, 1);
            let case = format!("{keys} / {channels} / {layer}: {found:?}");
            match expect {
                None => assert!(found.is_empty(), "{case}"),
                Some((rate, words)) => {
                    assert_eq!(found.len(), 1, "{case}");
                    let f = &found[0];
                    assert!((f.rate - rate).abs() < 1e-3, "{case}");
                    assert!(f.scope.contains(words), "{case}");
                    assert_eq!((f.flashing, f.fixtures), (8, 8), "{case}");
                    // The strobing layer (the second) is named, alone.
                    assert_eq!(f.layers, vec![(5, 1)], "{case}");
                }
            }
        }
        // A later layer that sets motion without `strobe` opens the shutter
        // again, as the engine merges motion.
        let cfg = heads(
            &par("", with),
            "[[layers]]\ntarget = \"all\"\neffect = \"solid\"\ncolor = \"white\"\nstrobe = 0.5\n\
             [[layers]]\ntarget = \"all\"\neffect = \"solid\"\ncolor = \"white\"\npan = 10\n",
            "",
        );
        assert!(check(&cfg, &safety, 1).is_empty());
        // Strobing half the heads and pulsing the other half fails
        // together, as neither half would alone.
        let cfg = heads(
            &par("strobe_hz = [1, 25]", with),
            "[[layers]]\ntarget = \"left\"\neffect = \"solid\"\ncolor = \"white\"\nstrobe = 0.5\n\
             [[layers]]\ntarget = \"right\"\neffect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.2s\"\ndepth = 1.0\n",
            "left = [\"head-001\", \"head-002\", \"head-003\", \"head-004\"]\n\
             right = [\"head-005\", \"head-006\", \"head-007\", \"head-008\"]\n",
        );
        let found = check(&cfg, &safety, 1);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].flashing, 8, "{found:?}");
        assert!(
            found[0].scope.contains("4 of them by their strobe channel"),
            "{found:?}"
        );
    }

    /// Render `show` whole into `full` and its cut-down `small` alone into
    /// `cut` (only the sampled cells lit), both started at `t0`.
    fn render_whole_and_cut(
        site: &Site,
        (show, small): (&Show, &Show),
        t0: DateTime<Utc>,
        at: DateTime<Utc>,
        (full, cut): (&mut Look, &mut Look),
    ) {
        crate::engine::render_look(site, &[ActiveShow::new(show, t0, None, 0)], at, full);
        cut.lights.fill(Light::DARK);
        render_cells(
            site,
            &[ActiveShow::new(small, t0, None, 0)],
            at,
            &mut cut.lights,
            0,
            LitCells::Remembered,
        );
    }

    /// Cutting a layer down to the sampled fixtures keeps every sampled
    /// cell's light: a chase whose window repeats over the layer's full
    /// cell count (`every` defaults to all cells) is the case that needs it.
    #[test]
    fn the_sampled_show_lights_the_sampled_cells_as_the_whole_show_does() {
        let cfg = street(
            "[[layers]]\ntarget = \"street\"\neffect = \"chase\"\nstep = \"0.1s\"\nwidth = 3\n",
        );
        let site = &cfg.site;
        let (_, sampled) = scopes(site);
        assert!(sampled.len() < site.fixtures.len());
        let mut wanted = vec![false; site.fixtures.len()];
        for &f in &sampled {
            wanted[f as usize] = true;
        }
        let show = cfg.show("s").expect("show s");
        let small = sample_show(site, show, &wanted);
        assert_eq!(small.layers[0].cells.len(), sampled.len());
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let (mut full, mut cut) = (Look::dark(site), Look::dark(site));
        for k in 0..40 {
            let at = t0 + Duration::milliseconds(2_000 + 37 * k);
            render_whole_and_cut(site, (show, &small), t0, at, (&mut full, &mut cut));
            for &f in &sampled {
                assert_eq!(
                    cut.fixture_cells(site, f),
                    full.fixture_cells(site, f),
                    "fixture {f} at {at}"
                );
            }
        }
    }

    /// The sampled fixtures split over threads count the same transitions
    /// and give the same findings as one thread: a failing strobe, a fast
    /// twinkle and a slow wave.
    #[test]
    fn the_counts_and_findings_do_not_depend_on_the_thread_count() {
        let shows = [
            "[[layers]]\ntarget = \"street\"\neffect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.2s\"\ndepth = 1.0\n",
            "[[layers]]\ntarget = \"street\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.5\nduration = \"0.1s\"\n",
            "[[layers]]\ntarget = \"street\"\neffect = \"wave\"\ncolor = \"white\"\nspeed = \"2 m/s\"\nwavelength = \"50 m\"\n",
        ];
        let safety = SafetyConfig {
            seconds: 3.0,
            ..SafetyConfig::default()
        };
        for text in shows {
            let cfg = street(text);
            let site = &cfg.site;
            let (_, sampled) = scopes(site);
            let mut wanted = vec![false; site.fixtures.len()];
            for &f in &sampled {
                wanted[f as usize] = true;
            }
            let small = sample_show(site, cfg.show("s").expect("show s"), &wanted);
            let frames = 151;
            let mut look = Look::dark(site);
            let one = flash_counts(site, &small, &safety, &sampled, frames, &mut look.lights, 1);
            assert_eq!(one.len(), sampled.len());
            assert!(one.iter().all(|c| c.len() == frames));
            for threads in [2, 3, 7] {
                let mut look = Look::dark(site);
                let many = flash_counts(
                    site,
                    &small,
                    &safety,
                    &sampled,
                    frames,
                    &mut look.lights,
                    threads,
                );
                assert_eq!(many, one, "{threads} threads: {text}");
                assert_eq!(check(&cfg, &safety, threads), check(&cfg, &safety, 1));
            }
        }
        // The strobe really flashes (the comparison above is not of zeros).
        let cfg = street(shows[0]);
        assert_eq!(check(&cfg, &safety, 2).len(), 1);
    }

    /// The largest total variation of any fixture's luminance over any
    /// one-second window, rendered at 50 Hz for `seconds` (the quantity
    /// [`variation_bound`] bounds).
    fn rendered_variation(cfg: &Config, seconds: f64) -> f64 {
        let site = &cfg.site;
        let show = cfg.show("s").expect("show s");
        let every: Vec<u32> = (0..site.fixtures.len() as u32).collect();
        let ys = rendered_luminance(site, show, &every, (seconds * 50.0) as usize + 1, 50.0);
        ys.iter()
            .flat_map(|y| {
                let steps = steps(y);
                // The 50 steps of each window of 51 frames.
                (0..steps.len().saturating_sub(49))
                    .map(|s| total(&steps[s..s + 50]))
                    .collect::<Vec<_>>()
            })
            .fold(0.0, f64::max)
    }

    /// The screen is sound: for every effect, fast and slow, the bound is
    /// at least what rendering measures; and it lets slow shows through
    /// unrendered while fast ones are rendered (check(input, expect)).
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn the_variation_bound_holds_for_every_effect() {
        let cases: &[(&str, bool)] = &[
            ("effect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"8 m/s\"\nwavelength = \"10 m\"", false),
            ("effect = \"wave\"\ncolors = [\"white\"]\ndepth = 0.7\nspeed = \"20 m/s\"\nwavelength = \"10 m\"", false),
            ("effect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"2 m/s\"\nwavelength = \"90 m\"", true),
            ("effect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"500 m/s\"", false),
            // Slow, but the last colour jumps back to the first where it
            // wraps: one step bigger than the budget, so it is rendered.
            ("effect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"2 m/s\"", false),
            ("effect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#ff0060\"]\nspeed = \"2 m/s\"", true),
            ("effect = \"rainbow\"\nperiod = \"0.5s\"", false),
            ("effect = \"rainbow\"\nwavelength = \"40 m\"\nspeed = \"25 m/s\"\nsaturation = 0.6", false),
            ("effect = \"rainbow\"\nperiod = \"60s\"", true),
            ("effect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.5\nduration = \"0.2s\"", false),
            ("effect = \"twinkle\"\ncolors = [\"#202020\", \"#604030\"]\ndensity = 0.3\nduration = \"3s\"", true),
            ("effect = \"chase\"\ncolors = [\"#ffffff\", \"#100000\"]\nstep = \"0.1s\"\nwidth = 3\nevery = 8", false),
            ("effect = \"chase\"\ncolors = [\"#ffffff\", \"#000000\"]\nstep = \"0.13s\"\nwidth = 1\nevery = 2", false),
            ("effect = \"pulse\"\ncolor = \"white\"\nperiod = \"0.4s\"\ndepth = 0.8\nlevel = 0.5", false),
            ("effect = \"pulse\"\ncolor = \"#1e3cff\"\nperiod = \"12s\"\ndepth = 0.4", true),
            ("effect = \"fade\"\ncolors = [\"red\", \"blue\", \"white\"]\nperiod = \"0.3s\"", false),
            ("effect = \"fade\"\ncolors = [\"white\"]\nperiod = \"0.25s\"\nlevel = 0.9", false),
            ("effect = \"fade\"\ncolors = [\"#ff8c00\", \"#ffd8a8\"]\nperiod = \"30s\"", true),
            ("effect = \"solid\"\ncolor = \"white\"", true),
        ];
        let safety = SafetyConfig::default();
        for &(layer, slow) in cases {
            let text = format!("[[layers]]\ntarget = \"street\"\n{layer}\n");
            let cfg = street(&text);
            let show = cfg.show("s").expect("show s");
            let bound: f64 = show
                .layers
                .iter()
                .map(|l| variation_bound(l, 1.0).expect("bounded"))
                .sum();
            let seen = rendered_variation(&cfg, 4.0);
            assert!(
                seen <= bound + 1e-3,
                "{layer}: rendered {seen} > bound {bound}"
            );
            assert_eq!(cannot_flash(show, &safety), slow, "{layer}: bound {bound}");
            if slow {
                assert!(check(&cfg, &safety, 1).is_empty(), "{layer}");
            }
        }
        // Layers add up: two slow layers HTP together are bounded by the sum.
        let two = street(
            "[[layers]]\ntarget = \"street\"\neffect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"6 m/s\"\nwavelength = \"20 m\"\n\
             [[layers]]\ntarget = \"street\"\nblend = \"htp\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.5\nduration = \"0.3s\"\n",
        );
        let show = two.show("s").expect("show s");
        let bound: f64 = show
            .layers
            .iter()
            .map(|l| variation_bound(l, 1.0).expect("bounded"))
            .sum();
        assert!(rendered_variation(&two, 4.0) <= bound + 1e-3);
        // A sequence is always rendered.
        let seq = street(
            "[[layers]]\ntarget = \"street\"\neffect = \"sequence\"\nloop = true\ncues = [{ at = \"0s\", color = \"white\" }, { at = \"20s\", color = \"black\" }]\n",
        );
        assert!(!cannot_flash(seq.show("s").expect("show s"), &safety));
    }

    /// A large group reuses the members it has in the site's sample and
    /// tops up evenly from the rest: 256 distinct members, all of the
    /// shared ones among them.
    #[test]
    fn a_group_sample_reuses_the_site_sample() {
        let all: Vec<u32> = (0..2000).collect();
        let mut in_site = vec![false; all.len()];
        let of_site = spread(&all, SAMPLE_PER_SCOPE);
        for &f in &of_site {
            in_site[f as usize] = true;
        }
        let members: Vec<u32> = (0..1000).collect();
        let g = group_sample(&members, &in_site);
        assert_eq!(g.len(), SAMPLE_PER_SCOPE);
        let mut distinct = g.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), g.len());
        let shared: Vec<u32> = of_site.iter().copied().filter(|&f| f < 1000).collect();
        assert_eq!(shared.len(), 128);
        assert!(shared.iter().all(|f| g.contains(f)));
        // A group that is the whole site is measured on the site's sample.
        assert_eq!(group_sample(&all, &in_site), of_site);
        // Small groups are measured whole.
        assert_eq!(
            group_sample(&members[..40], &in_site),
            members[..40].to_vec()
        );
    }

    /// A twinkle layer keeps each cell's phase (hashed when the show was
    /// compiled): the cut-down layer keeps it with its cell, so sampled
    /// cells sparkle exactly as in the whole show.
    #[test]
    fn the_sampled_show_keeps_each_twinkle_phase_with_its_cell() {
        let cfg = street(
            "[[layers]]\ntarget = \"street\"\neffect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\n\
             density = 0.5\nduration = \"0.3s\"\nseed = 11\n",
        );
        let site = &cfg.site;
        let (_, sampled) = scopes(site);
        let mut wanted = vec![false; site.fixtures.len()];
        for &f in &sampled {
            wanted[f as usize] = true;
        }
        let show = cfg.show("s").expect("show s");
        let small = sample_show(site, show, &wanted);
        let layer = &small.layers[0];
        assert!(layer.cells.len() < show.layers[0].cells.len());
        assert_eq!(layer.phase.len(), layer.cells.len());
        for (&cell, &phase) in layer.cells.iter().zip(&layer.phase) {
            assert_eq!(
                phase,
                crate::show::effect::twinkle_phase(11, cell),
                "cell {cell}"
            );
        }
        let t0: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let (mut full, mut cut) = (Look::dark(site), Look::dark(site));
        let mut lit = 0;
        for k in 0..40 {
            let at = t0 + Duration::milliseconds(2_000 + 37 * k);
            render_whole_and_cut(site, (show, &small), t0, at, (&mut full, &mut cut));
            for &f in &sampled {
                let cells = full.fixture_cells(site, f);
                assert_eq!(cut.fixture_cells(site, f), cells, "fixture {f} at {at}");
                lit += cells.iter().filter(|l| l.r > 0.0).count();
            }
        }
        assert!(lit > 0, "nothing sparkled");
    }

    #[test]
    fn spread_keeps_small_lists_and_spaces_large_ones_evenly() {
        let small: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&small, 256), small);
        let big: Vec<u32> = (0..1000).collect();
        let s = spread(&big, 4);
        assert_eq!(s, [0, 250, 500, 750]);
    }

    fn transitions(samples: impl Iterator<Item = f32>, swing: f32) -> u32 {
        let mut t = Tracker::default();
        samples.map(|y| t.push(y, swing) as u32).sum()
    }

    #[test]
    fn a_square_wave_counts_two_transitions_a_cycle() {
        // 5 Hz on/off sampled at 50 Hz for one second: 10 transitions.
        let s = (0..=50).map(|k| if (k / 5) % 2 == 0 { 1.0 } else { 0.0 });
        assert_eq!(transitions(s, 0.1), 10);
    }

    #[test]
    fn small_or_bright_changes_do_not_count() {
        // A 5 % shimmer.
        let s = (0..200).map(|k| if k % 2 == 0 { 0.50 } else { 0.55 });
        assert_eq!(transitions(s, 0.1), 0);
        // Between 0.85 and 1.0: never darker than 0.8.
        let s = (0..200).map(|k| if k % 4 < 2 { 0.85 } else { 1.0 });
        assert_eq!(transitions(s, 0.1), 0);
        // A slow sine from 0 to 1 over 10 s: one rise, one fall.
        let s = (0..=500).map(|k| 0.5 - 0.5 * (std::f32::consts::TAU * k as f32 / 500.0).cos());
        assert_eq!(transitions(s, 0.1), 2);
    }

    #[test]
    fn parse_reads_thresholds_and_requires_a_reason_to_allow() {
        let names = vec!["strobe".to_string(), "nightly".to_string()];
        let file = SourceFile::new(
            "site.toml",
            "name = \"x\"\n[safety]\nmax_flashes_per_s = 2.5\nmin_share = 0.5\nallow = [\"strobe\"]\nreason = \"permit 42\"\n",
        );
        let mut d = Diagnostics::new();
        let c = parse(&file, &names, &mut d);
        assert!(d.is_empty(), "{:?}", d.items);
        assert_eq!(c.max_flashes_per_s, 2.5);
        assert_eq!(c.min_share, 0.5);
        assert_eq!(c.allow[0].0, "strobe");
        assert_eq!(c.reason.as_deref(), Some("permit 42"));

        let file = SourceFile::new(
            "site.toml",
            "[safety]\nallow = [\"strobo\"]\nsample_hz = 10\n",
        );
        let mut d = Diagnostics::new();
        parse(&file, &names, &mut d);
        let msgs: Vec<String> = d.items.iter().map(|x| x.to_string()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("needs a `reason`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("`strobo`, which is not a show")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("sample_hz must be between 50")),
            "{msgs:?}"
        );
    }
}
