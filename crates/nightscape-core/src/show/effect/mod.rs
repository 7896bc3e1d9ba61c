//! Effects: pure functions of (time since the show started, the cell's
//! place in the layer, the effect's parameters) to a colour and a level.
//!
//! Nothing here reads a clock or keeps state between frames, which is what
//! lets a restarted daemon, a second controller and `nightscape render` all
//! compute the same frame for the same instant. Randomness (twinkle) comes
//! from a hash of (seed, cell, time slot), never from a generator.
//!
//! One file per family: `travel.rs` (chase, wave, rainbow), `gradient.rs`,
//! `twinkle.rs`, `sequence.rs`; `shader.rs` shades cells in batches for all
//! of them; `math.rs` is the library-call-free arithmetic they share. Fade,
//! pulse and solid are a colour and a level per instant, worked out in
//! [`Effect::at`].

mod gradient;
mod math;
mod sequence;
mod shader;
mod travel;
mod twinkle;

pub(crate) use math::cos_turns;
pub(crate) use shader::Shader;
pub use twinkle::SparkleMemo;
pub(crate) use twinkle::{twinkle_phase, SPARKLE_BATCH};

use crate::color::Color;
use sequence::sequence;

#[cfg(test)]
/// Where a cell sits within its layer, precomputed when the show is compiled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellInput {
    /// Seconds since the show started.
    pub t: f64,
    /// Metres along the layer's axis.
    pub along: f32,
    /// 0..=1 across the layer's extent along that axis.
    pub u: f32,
    /// Rank of the cell along the axis (0-based) and how many there are.
    pub index: u32,
    pub count: u32,
    /// A stable identity for per-cell randomness (the site's cell index).
    pub id: u32,
}

/// A timed cue of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub at: f64,
    pub color: Color,
    pub level: f32,
    pub fade: f64,
}

/// A compiled effect with its parameters in SI units.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// One colour, steady.
    Solid { color: Color },
    /// Crossfade through the colours, one colour per `period` seconds; a
    /// single colour fades up and down.
    Fade { colors: Vec<Color>, period: f64 },
    /// A lit window of `width` cells stepping along the layer every `step`
    /// seconds, repeating every `every` cells.
    Chase {
        on: Color,
        off: Color,
        step: f64,
        width: u32,
        every: u32,
    },
    /// A travelling sine along the axis: between two colours, or a single
    /// colour's level with the given depth.
    Wave {
        colors: Vec<Color>,
        speed: f64,
        wavelength: f64,
        depth: f32,
    },
    /// Colours spread across the layer's extent, optionally scrolling.
    Gradient {
        colors: Vec<Color>,
        speed: f64,
        extent: f64,
    },
    /// Hues spread along the axis (`wavelength`) and cycling in time.
    Rainbow {
        speed: f64,
        wavelength: f64,
        period: f64,
        saturation: f32,
    },
    /// Random sparkles over a base colour, deterministic from `seed`.
    Twinkle {
        base: Color,
        sparkle: Color,
        density: f32,
        duration: f64,
        seed: u64,
    },
    /// The level breathing with a raised cosine.
    Pulse {
        color: Color,
        period: f64,
        depth: f32,
    },
    /// A timeline of cues with fades, looping every `period` if set.
    Sequence { cues: Vec<Cue>, period: Option<f64> },
    /// A picture, animation or video sampled onto the layer's cells
    /// ([`super::media`]): a frame per instant, a colour per cell.
    Media(super::media::MediaLayer),
}

impl Effect {
    /// The effect's name as written in show files (its row in
    /// [`super::reference::EFFECTS`]; a test holds the two together).
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Solid { .. } => "solid",
            Effect::Fade { .. } => "fade",
            Effect::Chase { .. } => "chase",
            Effect::Wave { .. } => "wave",
            Effect::Gradient { .. } => "gradient",
            Effect::Rainbow { .. } => "rainbow",
            Effect::Twinkle { .. } => "twinkle",
            Effect::Pulse { .. } => "pulse",
            Effect::Sequence { .. } => "sequence",
            // A text layer plays as a clip of its text (show/text.rs).
            Effect::Media(m) if m.source().starts_with(super::text::SOURCE_PREFIX) => "text",
            Effect::Media(_) => "media",
        }
    }

    #[cfg(test)]
    /// The colour and level (0..=1) of one cell: the same arithmetic as
    /// the batch path the engine renders with ([`Effect::at`] then
    /// [`Shader::cell`]), so a cell evaluated alone equals the cell rendered.
    pub(crate) fn eval(&self, c: &CellInput) -> (Color, f32) {
        self.at(c.t).cell(c.along, c.u, c.index, c.count, c.id)
    }

    /// Per cell of a layer (`ids`: the cells' site indices), what the effect
    /// needs that depends on the cell alone and costs a hash: a twinkle's
    /// phase. Empty for every other effect. Worked out once when the show is
    /// compiled and passed to [`Shader::shade`] in [`CellSlices::phase`].
    pub(crate) fn twinkle_phases(&self, ids: &[u32]) -> Vec<f32> {
        match self {
            Effect::Twinkle { seed, .. } => {
                ids.iter().map(|&id| twinkle_phase(*seed, id)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the look depends on the wall-clock instant as well as the
    /// show time (a text layer with `{countdown:…}` or `{time:…}`).
    pub(crate) fn is_live(&self) -> bool {
        matches!(self, Effect::Media(m) if m.live().is_some())
    }

    /// [`Effect::at`] for a show `t` seconds in at the instant `instant`:
    /// what the engine renders. Only live text reads the instant; its clip
    /// for the instant's words is kept in `held` for as long as the shader
    /// is used (an `Arc`: no allocation while the words stay the same).
    pub(crate) fn at_instant<'s>(
        &'s self,
        t: f64,
        instant: chrono::DateTime<chrono::Utc>,
        held: &'s mut Option<std::sync::Arc<crate::media::clip::Clip>>,
    ) -> Shader<'s> {
        match self {
            Effect::Media(m) => match m.live() {
                Some(live) => {
                    let clip = held.insert(live.clip_at(instant, t));
                    Shader::Media {
                        frame: clip.frame(m.timing().frame_at(clip, t)),
                    }
                }
                None => self.at(t),
            },
            _ => self.at(t),
        }
    }

    /// The effect at one instant: everything that depends on time alone,
    /// worked out once per layer and frame instead of once per cell.
    /// (Live text shows its representative words here: see
    /// [`Effect::at_instant`].)
    pub(crate) fn at(&self, t: f64) -> Shader<'_> {
        match self {
            Effect::Solid { color } => Shader::Steady(*color, 1.0),
            Effect::Fade { colors, period } => {
                let x = t / period;
                if colors.len() == 1 {
                    // Triangle: up over one period, down over the next.
                    let ph = x.rem_euclid(2.0);
                    let level = if ph < 1.0 { ph } else { 2.0 - ph };
                    return Shader::Steady(colors[0], level as f32);
                }
                let n = colors.len() as f64;
                let pos = x.rem_euclid(n);
                let i = pos.floor() as usize % colors.len();
                let j = (i + 1) % colors.len();
                Shader::Steady(colors[i].lerp(colors[j], pos.fract() as f32), 1.0)
            }
            Effect::Chase {
                on,
                off,
                step,
                width,
                every,
            } => Shader::Chase {
                on: *on,
                off: *off,
                off_level: if off.r + off.g + off.b > 0.0 {
                    1.0
                } else {
                    0.0
                },
                head: (t / step).floor() as i64,
                width: *width as i64,
                every: *every,
            },
            Effect::Wave {
                colors,
                speed,
                wavelength,
                depth,
            } => Shader::Wave {
                per_metre: 1.0 / wavelength,
                // Whole turns of the travel dropped here, in f64, so the
                // per-cell phase stays small and exact however long the
                // show has run.
                travel: (speed * t / wavelength).rem_euclid(1.0),
                from: colors[0],
                to: colors.get(1).copied(),
                depth: *depth,
            },
            Effect::Gradient {
                colors,
                speed,
                extent,
            } => Shader::Gradient {
                colors,
                scroll: (*speed != 0.0 && *extent > 0.0)
                    .then(|| (speed * t / extent).rem_euclid(1.0)),
            },
            Effect::Rainbow {
                speed,
                wavelength,
                period,
                saturation,
            } => Shader::Rainbow {
                per_metre: if *wavelength > 0.0 {
                    1.0 / wavelength
                } else {
                    0.0
                },
                offset: {
                    let travel = if *wavelength > 0.0 {
                        speed * t / wavelength
                    } else {
                        0.0
                    };
                    let temporal = if *period > 0.0 { t / period } else { 0.0 };
                    (temporal - travel).rem_euclid(1.0)
                },
                saturation: *saturation,
            },
            Effect::Twinkle {
                base,
                sparkle,
                density,
                duration,
                seed,
            } => Shader::Twinkle {
                base: *base,
                sparkle: *sparkle,
                density: *density,
                slots: t / duration,
                seed: *seed,
            },
            Effect::Pulse {
                color,
                period,
                depth,
            } => {
                let w = 0.5 - 0.5 * cos_turns(t / period);
                Shader::Steady(*color, 1.0 - depth + depth * w)
            }
            Effect::Sequence { cues, period } => {
                let (c, l) = sequence(cues, *period, t);
                Shader::Steady(c, l)
            }
            Effect::Media(m) => Shader::Media {
                frame: m.frame_at(t),
            },
        }
    }
}

/// A run of a layer's per-cell data (see [`crate::show::Layer`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellSlices<'a> {
    pub along: &'a [f32],
    pub u: &'a [f32],
    pub rank: &'a [u32],
    pub ids: &'a [u32],
    /// A twinkle layer's per-cell phase ([`Effect::twinkle_phases`]); empty
    /// (or short) means "hash it per cell", with the same result.
    pub phase: &'a [f32],
}

#[cfg(test)]
mod batch_edges;
#[cfg(test)]
mod libm_reference;
#[cfg(test)]
mod tests;
