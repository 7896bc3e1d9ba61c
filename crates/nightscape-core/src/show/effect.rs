//! Effects: pure functions of (time since the show started, the cell's
//! place in the layer, the effect's parameters) to a colour and a level.
//!
//! Nothing here reads a clock or keeps state between frames, which is what
//! lets a restarted daemon, a second controller and `nightscape render` all
//! compute the same frame for the same instant. Randomness (twinkle) comes
//! from a hash of (seed, cell, time slot), never from a generator.

use crate::color::{Color, Light};

/// Where a cell sits within its layer, precomputed when the show is compiled.
#[derive(Debug, Clone, Copy)]
pub struct CellInput {
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

    /// The colour and level (0..=1) of one cell: the same arithmetic as
    /// the batch path the engine renders with ([`Effect::at`] then
    /// [`Shader::cell`]), so a cell evaluated alone equals the cell rendered.
    pub fn eval(&self, c: &CellInput) -> (Color, f32) {
        self.at(c.t).cell(c.along, c.u, c.index, c.count, c.id)
    }

    /// Per cell of a layer (`ids`: the cells' site indices), what the effect
    /// needs that depends on the cell alone and costs a hash: a twinkle's
    /// phase. Empty for every other effect. Worked out once when the show is
    /// compiled and passed to [`Shader::shade`] in [`CellSlices::phase`].
    pub fn twinkle_phases(&self, ids: &[u32]) -> Vec<f32> {
        match self {
            Effect::Twinkle { seed, .. } => {
                ids.iter().map(|&id| twinkle_phase(*seed, id)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the look depends on the wall-clock instant as well as the
    /// show time (a text layer with `{countdown:…}` or `{time:…}`).
    pub fn is_live(&self) -> bool {
        matches!(self, Effect::Media(m) if m.live().is_some())
    }

    /// [`Effect::at`] for a show `t` seconds in at the instant `instant`:
    /// what the engine renders. Only live text reads the instant; its clip
    /// for the instant's words is kept in `held` for as long as the shader
    /// is used (an `Arc`: no allocation while the words stay the same).
    pub fn at_instant<'s>(
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
    pub fn at(&self, t: f64) -> Shader<'_> {
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

/// An effect at one instant, ready to shade cells: the time-only part done.
/// [`Shader::cell`] is the per-cell part; the engine runs it over layers in
/// batches (one `match` per batch, none per cell).
#[derive(Debug, Clone, Copy)]
pub enum Shader<'a> {
    /// The same for every cell (solid, fade, pulse, sequence).
    Steady(Color, f32),
    Chase {
        on: Color,
        off: Color,
        off_level: f32,
        head: i64,
        width: i64,
        every: u32,
    },
    Wave {
        per_metre: f64,
        travel: f64,
        from: Color,
        to: Option<Color>,
        depth: f32,
    },
    Gradient {
        colors: &'a [Color],
        scroll: Option<f64>,
    },
    Rainbow {
        per_metre: f64,
        offset: f64,
        saturation: f32,
    },
    Twinkle {
        base: Color,
        sparkle: Color,
        density: f32,
        slots: f64,
        seed: u64,
    },
    /// A media frame: each cell's colour, found by its rank (a media
    /// layer's rank is its cell's place in the layer).
    Media { frame: &'a [[u8; 3]] },
}

impl Shader<'_> {
    /// Colour and level of one cell (its place along the layer, its 0..1
    /// extent position, rank, the layer's cell count and its site index).
    #[inline]
    pub fn cell(&self, along: f32, u: f32, index: u32, count: u32, id: u32) -> (Color, f32) {
        match *self {
            Shader::Steady(c, l) => (c, l),
            Shader::Chase {
                on,
                off,
                off_level,
                head,
                width,
                every,
            } => chase_cell(on, off, off_level, head, width, every, index, count),
            Shader::Wave {
                per_metre,
                travel,
                from,
                to,
                depth,
            } => wave_cell(from, to, depth, per_metre, travel, along),
            Shader::Gradient { colors, scroll } => gradient_cell(colors, scroll, u),
            Shader::Rainbow {
                per_metre,
                offset,
                saturation,
            } => rainbow_cell(per_metre, offset, saturation, along),
            Shader::Twinkle {
                base,
                sparkle,
                density,
                slots,
                seed,
            } => twinkle_cell(base, sparkle, density, slots, seed, id),
            Shader::Media { frame } => (media_cell(frame, index), 1.0),
        }
    }

    /// Whether every light this shades carries no temperature (Kelvin
    /// exactly +0): blending such light into a look without one needs no
    /// Kelvin logic either.
    pub fn plain(&self) -> bool {
        match *self {
            Shader::Steady(c, _) => plain(c),
            Shader::Chase { on, off, .. } => plain(on) && plain(off),
            Shader::Wave { from, to, .. } => plain(from) && to.is_none_or(plain),
            Shader::Gradient { colors, .. } => colors.iter().all(|&c| plain(c)),
            Shader::Rainbow { .. } => true,
            Shader::Twinkle { base, sparkle, .. } => plain(base) && plain(sparkle),
            Shader::Media { .. } => true,
        }
    }

    /// The light [`Shader::shade`] gives a twinkle's cells that are not
    /// sparkling, at the layer's `level` (its base colour at the level);
    /// None for every other effect. With [`Sparkles::lit_cells`] it lets the
    /// renderer touch only the sparkling cells of a layer.
    pub fn unlit(&self, level: f32) -> Option<Light> {
        match *self {
            Shader::Twinkle { base, .. } => Some(base.at((1.0 * level).clamp(0.0, 1.0))),
            _ => None,
        }
    }

    /// A twinkle at this instant, ready to find its sparkling cells
    /// ([`Sparkles::lit_cells`]); None for every other effect, and for a
    /// slot count [`twinkle_kept`] leaves to the general loop.
    pub fn sparkles(&self) -> Option<Sparkles> {
        let Shader::Twinkle {
            base,
            sparkle,
            density,
            slots,
            seed,
        } = *self
        else {
            return None;
        };
        let kept = Kept::new(slots, seed, density, &[])?;
        // Whether a cell of phase p is in the next slot, `slots + p as f64
        // >= s1`, rises with p (rounding is monotonic), so it is `p >=`
        // the least phase for which it holds: found once here, by bisection
        // over the bits of the positive f32s (ordered as their values)
        // between +0 (never: slots < s1) and 1 (always: slots + 1 >= s1).
        let next = |bits: u32| slots + f32::from_bits(bits) as f64 >= kept.s1;
        let (mut no, mut yes) = (0u32, 1.0f32.to_bits());
        while yes - no > 1 {
            let mid = no + (yes - no) / 2;
            if next(mid) {
                yes = mid;
            } else {
                no = mid;
            }
        }
        Some(Sparkles {
            base,
            sparkle,
            slots,
            kept,
            next_from: f32::from_bits(yes),
        })
    }

    /// The light of a batch of a layer's cells at the layer's `level`:
    /// `out[k]` is cell k's colour at (its level × `level`, clamped), the
    /// cells given as slices of the layer's per-cell data. One `match` per
    /// batch and the same per-cell arithmetic as [`Shader::cell`], in loops
    /// without a branch on the effect, so the compiler can vectorise them.
    pub fn shade(&self, cells: CellSlices<'_>, count: u32, level: f32, out: &mut [Light]) {
        let n = out.len();
        let (along, u, rank, ids) = (
            &cells.along[..n],
            &cells.u[..n],
            &cells.rank[..n],
            &cells.ids[..n],
        );
        let light = |(c, l): (Color, f32)| c.at((l * level).clamp(0.0, 1.0));
        match *self {
            Shader::Steady(c, l) => out.fill(light((c, l))),
            Shader::Chase {
                on,
                off,
                off_level,
                head,
                width,
                every,
            } => {
                for (o, &index) in out.iter_mut().zip(rank) {
                    *o = light(chase_cell(
                        on, off, off_level, head, width, every, index, count,
                    ));
                }
            }
            Shader::Wave {
                per_metre,
                travel,
                from,
                to,
                depth,
            } => match to {
                // Two colours without a temperature: the blend has none
                // either, so the loop skips the Kelvin logic.
                Some(to) if plain(from) && plain(to) => {
                    if wave_in_range(along, per_metre, travel) {
                        // Every argument below 2^52 in size: the rounding
                        // to the nearest turn without its range select.
                        for (o, &a) in out.iter_mut().zip(along) {
                            let x = a as f64 * per_metre - travel;
                            let w = 0.5 + 0.5 * cos_reduced((x - round_small(x)) as f32);
                            *o = light((lerp_plain(from, to, w), 1.0));
                        }
                    } else {
                        for (o, &a) in out.iter_mut().zip(along) {
                            let w = wave(a, per_metre, travel);
                            *o = light((lerp_plain(from, to, w), 1.0));
                        }
                    }
                }
                _ => {
                    for (o, &a) in out.iter_mut().zip(along) {
                        *o = light(wave_cell(from, to, depth, per_metre, travel, a));
                    }
                }
            },
            Shader::Gradient { colors, scroll } => {
                if gradient_lanes(colors, scroll, u, level, out) {
                    // The usual pixel gradient: done in branch-free lanes.
                } else if colors.len() >= 2 && colors.iter().all(|&c| plain(c)) {
                    // `sample` inlined: its segment arithmetic without the
                    // call, the match on the colour count or the Kelvin logic.
                    let (top, last) = ((colors.len() - 1) as f32, colors.len() - 2);
                    let at = |u: f32| {
                        let x = u.clamp(0.0, 1.0) * top;
                        let i = (x as usize).min(last);
                        lerp_plain(colors[i], colors[i + 1], x - i as f32)
                    };
                    match scroll {
                        Some(off) => {
                            for (o, &x) in out.iter_mut().zip(u) {
                                *o = light((at(wrap_unit(x as f64 - off)), 1.0));
                            }
                        }
                        None => {
                            for (o, &x) in out.iter_mut().zip(u) {
                                *o = light((at(x), 1.0));
                            }
                        }
                    }
                } else {
                    for (o, &x) in out.iter_mut().zip(u) {
                        *o = light(gradient_cell(colors, scroll, x));
                    }
                }
            }
            Shader::Rainbow {
                per_metre,
                offset,
                saturation,
            } => {
                for (o, &a) in out.iter_mut().zip(along) {
                    *o = light(rainbow_cell(per_metre, offset, saturation, a));
                }
            }
            Shader::Media { frame } => {
                let lv = level.clamp(0.0, 1.0);
                for (o, &index) in out.iter_mut().zip(rank) {
                    let c = media_cell(frame, index);
                    *o = Light {
                        r: c.r * lv,
                        g: c.g * lv,
                        b: c.b * lv,
                        kelvin: 0.0,
                    };
                }
            }
            Shader::Twinkle {
                base,
                sparkle,
                density,
                slots,
                seed,
            } => {
                // The usual batch: the layer's kept phases, in 0..1.
                let params = (base, sparkle, density, slots, seed);
                let done = match cells.phase.get(..n) {
                    Some(phase) if plain(base) && plain(sparkle) => {
                        twinkle_kept(params, (ids, phase), level, lerp_plain, out)
                    }
                    Some(phase) => twinkle_kept(params, (ids, phase), level, Color::lerp, out),
                    None => false,
                };
                if done {
                    // Shaded.
                } else if cells.phase.len() >= n && plain(base) && plain(sparkle) {
                    // Kept phases `twinkle_kept` declined (outside 0..1, or
                    // slots beyond 2^50), two colours without a temperature.
                    for ((o, &id), &phase) in out.iter_mut().zip(ids).zip(&cells.phase[..n]) {
                        let x = slots + phase as f64;
                        *o = light(twinkle_at(base, sparkle, density, x, seed, id, lerp_plain));
                    }
                } else if cells.phase.len() >= n {
                    for ((o, &id), &phase) in out.iter_mut().zip(ids).zip(&cells.phase[..n]) {
                        let x = slots + phase as f64;
                        *o = light(twinkle_at(base, sparkle, density, x, seed, id, Color::lerp));
                    }
                } else {
                    for (o, &id) in out.iter_mut().zip(ids) {
                        *o = light(twinkle_cell(base, sparkle, density, slots, seed, id));
                    }
                }
            }
        }
    }
}

/// The most stops [`gradient_lanes`] takes: its segment choice is a chain
/// of one compare per stop, cheaper than a gather up to a handful of stops.
const LANE_STOPS: usize = 8;

/// A gradient of 2..=[`LANE_STOPS`] colours without a temperature over a
/// batch whose positions are all in 0..=1 (and a scroll offset in 0..=1),
/// shaded in loops without a call, a gather or an early exit, which the
/// compiler vectorises: false (nothing written) when the batch is not such.
///
/// The same bits as the general loop, step by step:
/// - the scroll's `floor` of `u − off` (in −1..=1 here) is −1, 0 or 1 by
///   two compares, +0 in the middle as [`floor`] gives (so −0 − 0 stays −0);
/// - a wrapped position is in −0..1 and an unscrolled one in 0..=1, so the
///   clamp to 0..=1 changes nothing and is left out;
/// - the segment index `min(trunc(y), stops − 2)` of y in 0..=stops−1 is the
///   number of k in 1..=stops−2 with y ≥ k, and the segment's start and its
///   step to the next colour (`b − a`, the subtraction [`lerp_plain`] does
///   per cell) are picked by the same compares.
fn gradient_lanes(
    colors: &[Color],
    scroll: Option<f64>,
    u: &[f32],
    level: f32,
    out: &mut [Light],
) -> bool {
    if !(2..=LANE_STOPS).contains(&colors.len())
        || !colors.iter().all(|&c| plain(c))
        || scroll.is_some_and(|off| !(0.0..=1.0).contains(&off))
        || !u
            .iter()
            .fold(true, |all, &x| all & (0.0..=1.0).contains(&x))
    {
        return false;
    }
    match colors.len() {
        2 => gradient_segments::<1>(colors, scroll, u, level, out),
        3 => gradient_segments::<2>(colors, scroll, u, level, out),
        4 => gradient_segments::<3>(colors, scroll, u, level, out),
        5 => gradient_segments::<4>(colors, scroll, u, level, out),
        6 => gradient_segments::<5>(colors, scroll, u, level, out),
        7 => gradient_segments::<6>(colors, scroll, u, level, out),
        _ => gradient_segments::<7>(colors, scroll, u, level, out),
    }
    true
}

/// [`gradient_lanes`] for `S` segments (S + 1 colours).
#[inline(always)]
fn gradient_segments<const S: usize>(
    colors: &[Color],
    scroll: Option<f64>,
    u: &[f32],
    level: f32,
    out: &mut [Light],
) {
    // Each segment's start and step, per primary.
    let mut start = [[0.0f32; 3]; S];
    let mut step = [[0.0f32; 3]; S];
    for k in 0..S {
        let (a, b) = (colors[k], colors[k + 1]);
        start[k] = [a.r, a.g, a.b];
        step[k] = [b.r - a.r, b.g - a.g, b.b - a.b];
    }
    let top = S as f32;
    // The light closure's level for a gradient's level 1.
    let lv = (1.0 * level).clamp(0.0, 1.0);
    let shade = |s: f32| {
        let y = s * top;
        let (mut a, mut d, mut i) = (start[0], step[0], 0.0f32);
        for k in 1..S {
            let above = y >= k as f32;
            a = if above { start[k] } else { a };
            d = if above { step[k] } else { d };
            i = if above { k as f32 } else { i };
        }
        let f = y - i;
        Light {
            r: (a[0] + d[0] * f) * lv,
            g: (a[1] + d[1] * f) * lv,
            b: (a[2] + d[2] * f) * lv,
            kelvin: 0.0,
        }
    };
    match scroll {
        Some(off) => {
            for (o, &x) in out.iter_mut().zip(u) {
                let x = x as f64 - off;
                let whole = if x < 0.0 {
                    -1.0
                } else if x >= 1.0 {
                    1.0
                } else {
                    0.0
                };
                let s = (x - whole) as f32;
                // As in `wrap_unit`: just below 1 in f64 can round to 1.
                *o = shade(if s >= 1.0 { 0.0 } else { s });
            }
        }
        None => {
            for (o, &x) in out.iter_mut().zip(u) {
                *o = shade(x);
            }
        }
    }
}

/// The slots above which [`twinkle_kept`] leaves a batch to the general
/// loop: below 2^50, a slot and the next are exact in f64 and in i64.
const KEPT_SLOTS: f64 = 1_125_899_906_842_624.0;

/// A twinkle batch with its kept phases, all in 0..1, and `|slots|` below
/// [`KEPT_SLOTS`]: shaded with the slot worked out per batch instead of per
/// cell; false (nothing written) for any other batch.
///
/// The same bits as [`twinkle_at`], step by step: with s = floor(slots), a
/// cell's x = slots + phase lies in s..s + 2, so its slot is s or s + 1 by
/// one compare (no floor, no float-to-int cast per cell); the hash's words
/// that depend on the seed and the slot are mixed once per batch (XOR is
/// associative), and `unit(h) < density` is the integer compare
/// `h >> 40 < lit_below(density)`.
#[inline(always)]
fn twinkle_kept(
    (base, sparkle, density, slots, seed): (Color, Color, f32, f64, u64),
    (ids, phase): (&[u32], &[f32]),
    level: f32,
    lerp: impl Fn(Color, Color, f32) -> Color,
    out: &mut [Light],
) -> bool {
    let Some(Kept {
        s0,
        s1,
        w0,
        w1,
        below,
        ..
    }) = Kept::new(slots, seed, density, phase)
    else {
        return false;
    };
    let lv = (1.0 * level).clamp(0.0, 1.0);
    let unlit = base.at(lv);
    for ((o, &id), &p) in out.iter_mut().zip(ids).zip(phase) {
        let x = slots + p as f64;
        let next = x >= s1;
        let h = hash_rounds((if next { w1 } else { w0 }) ^ (id as u64).rotate_left(21));
        *o = if h >> 40 < below {
            // sin(π f) = cos(2π (f/2 − 1/4)), as in `twinkle_at`.
            let env = cos_turns(0.5 * (x - if next { s1 } else { s0 }) - 0.25);
            lerp(base, sparkle, env).at(lv)
        } else {
            unlit
        };
    }
    true
}

/// A twinkle shader's per-frame words for finding its sparkling cells
/// without shading the others ([`Shader::sparkles`]).
#[derive(Debug, Clone, Copy)]
pub struct Sparkles {
    base: Color,
    sparkle: Color,
    slots: f64,
    kept: Kept,
    /// The least phase whose cell is in the next slot (`slots + phase >=
    /// s1` in f64, as [`twinkle_kept`] computes it).
    next_from: f32,
}

/// Cells [`Sparkles::lit_cells`] takes at a time (its index buffer).
pub const SPARKLE_BATCH: usize = 256;

impl Sparkles {
    /// A batch's sparkling cells: their indices k in `cells`, in order,
    /// written to `lit`, and how many there are; [`Sparkles::light`] gives
    /// each one's light. Every other cell gets [`Shader::unlit`] from
    /// [`Shader::shade`], to the bit. None, and nothing written, for a
    /// batch longer than [`SPARKLE_BATCH`] or without kept phases in 0..1
    /// ([`twinkle_kept`]'s condition, whose arithmetic this is, cell for
    /// cell, with its slot compare made on the phase): the caller shades it.
    ///
    /// Each cell still costs its hash (the lit cells of a slot are known
    /// only by hashing), but not its light, its store or its blend: about
    /// one cell in twenty is lit at the usual density. The loop has no
    /// branch: each index is written, and kept (counted) if lit.
    #[inline(never)]
    pub fn lit_cells(
        &self,
        cells: CellSlices<'_>,
        lit: &mut [u16; SPARKLE_BATCH],
    ) -> Option<usize> {
        let phase = sparse_phases(cells)?;
        let Kept { w0, w1, below, .. } = self.kept;
        // `p >= next_from` on the bits as signed integers (the order of the
        // values, −0 below +0), as an all-ones mask from the sign of a
        // difference: arithmetic, where a compare became a branch that the
        // random phases mispredict half the time.
        let (dw, from) = (w0 ^ w1, self.next_from.to_bits() as i32 as i64 - 1);
        let mut count = 0;
        for (k, (&id, &p)) in cells.ids.iter().zip(phase).enumerate() {
            let next = ((from - p.to_bits() as i32 as i64) >> 63) as u64;
            let w = w0 ^ (dw & next);
            // `rotate_left(21)` of a 32-bit value is this shift.
            let h = hash_rounds(w ^ ((id as u64) << 21));
            // count <= k < SPARKLE_BATCH: the mask only spares the check.
            lit[count & (SPARKLE_BATCH - 1)] = k as u16;
            count += (h >> 40 < below) as usize;
        }
        Some(count)
    }

    /// [`Sparkles::lit_cells`] with the batch's lit cells of this slot and
    /// the next remembered in `memo` (the batch's [`SparkleMemo`] entry):
    /// the same cells, but each cell is hashed once per slot instead of
    /// once per frame (a slot lasts the twinkle's `duration`, 24 frames of
    /// 0.6 s at 40 fps). A memo of other slots is brought up to date first:
    /// shifted by one slot (one hash per cell) or worked out anew (two).
    pub fn lit_cells_remembered(
        &self,
        cells: CellSlices<'_>,
        lit: &mut [u16; SPARKLE_BATCH],
        memo: &SlotMemo,
    ) -> Option<usize> {
        let phase = sparse_phases(cells)?;
        let Kept {
            s0, w0, w1, below, ..
        } = self.kept;
        let key = (s0 as i64, w0, below);
        let mut m = memo.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.key != Some(key) {
            let before = self.kept_at(s0 - 1.0);
            m.lit[0] = if m.key == Some((s0 as i64 - 1, before, below)) {
                m.lit[1]
            } else {
                lit_bits(cells.ids, w0, below)
            };
            m.lit[1] = lit_bits(cells.ids, w1, below);
            m.key = Some(key);
        }
        // Per 64 cells: which are in the next slot (phase at or above
        // `next_from`, compared as in `lit_cells`), then the lit bit of
        // each cell's slot, then the set bits as indices.
        let from = self.next_from.to_bits() as i32;
        let mut count = 0;
        for (word, chunk) in phase.chunks(64).enumerate() {
            let next = next_slot_bits(chunk, from);
            let mut bits = (m.lit[1][word] & next) | (m.lit[0][word] & !next);
            while bits != 0 {
                let j = bits.trailing_zeros() as usize;
                lit[count & (SPARKLE_BATCH - 1)] = (word * 64 + j) as u16;
                count += 1;
                bits &= bits - 1;
            }
        }
        Some(count)
    }

    /// The hash word of slot `s` (as [`Kept::new`] mixes it).
    fn kept_at(&self, s: f64) -> u64 {
        self.kept.seed ^ (s as i64 as u64).rotate_left(42) ^ HASH_MIX
    }

    /// The light [`Shader::shade`] gives cell `k` of a batch that
    /// [`Sparkles::lit_cells`] found lit, at the layer's `level` (the
    /// arithmetic of [`twinkle_kept`]'s lit branch).
    #[inline]
    pub fn light(&self, cells: CellSlices<'_>, k: usize, level: f32) -> Light {
        let lv = (1.0 * level).clamp(0.0, 1.0);
        let Kept { s0, s1, .. } = self.kept;
        let x = self.slots + cells.phase[k] as f64;
        let next = x >= s1;
        let env = cos_turns(0.5 * (x - if next { s1 } else { s0 }) - 0.25);
        // The lerp `shade` picks for the layer.
        let (base, sparkle) = (self.base, self.sparkle);
        if plain(base) && plain(sparkle) {
            lerp_plain(base, sparkle, env).at(lv)
        } else {
            base.lerp(sparkle, env).at(lv)
        }
    }
}

/// Bit j: whether `phase[j]` (up to 64) is at least the phase whose bits
/// are `from` (a positive float's), compared as signed integers (the order
/// of the values, −0 below +0): four compares and one `movmskps` per four
/// cells in SSE2 lanes on x86-64 ([`next_slot_bits_portable`] elsewhere).
#[inline(always)]
fn next_slot_bits(phase: &[f32], from: i32) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use safe_arch::{
            cast_to_m128_from_m128i, cmp_gt_mask_i32_m128i, m128i, move_mask_m128,
            set_splat_i32_m128i,
        };
        // from > 0, so from − 1 does not wrap; p > from − 1 ⟺ p >= from.
        let below = set_splat_i32_m128i(from - 1);
        let mut four = phase.chunks_exact(4);
        let mut next = 0u64;
        for (q, c) in (&mut four).enumerate() {
            let v = m128i::from([c[0], c[1], c[2], c[3]].map(|p| p.to_bits() as i32));
            let ge = move_mask_m128(cast_to_m128_from_m128i(cmp_gt_mask_i32_m128i(v, below)));
            next |= (ge as u64) << (4 * q);
        }
        let done = (phase.len() - four.remainder().len()) as u32;
        // (No remainder after 64 cells: a shift by 64 is no shift.)
        let rest = next_slot_bits_portable(four.remainder(), from);
        next | rest.checked_shl(done).unwrap_or(0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    next_slot_bits_portable(phase, from)
}

/// [`next_slot_bits`] one cell at a time.
#[inline(always)]
fn next_slot_bits_portable(phase: &[f32], from: i32) -> u64 {
    phase.iter().enumerate().fold(0, |next, (j, &p)| {
        next | u64::from(p.to_bits() as i32 >= from) << j
    })
}

/// Bit k: whether cell k of `ids` is lit in the slot whose hash word is `w`.
fn lit_bits(ids: &[u32], w: u64, below: u64) -> [u64; SPARKLE_BATCH / 64] {
    let mut bits = [0u64; SPARKLE_BATCH / 64];
    for (k, &id) in ids.iter().enumerate().take(SPARKLE_BATCH) {
        let h = hash_rounds(w ^ ((id as u64) << 21));
        bits[k / 64] |= ((h >> 40 < below) as u64) << (k % 64);
    }
    bits
}

/// A batch's kept phases, if the sparse path can take it: at most
/// [`SPARKLE_BATCH`] cells, each with a phase in 0..1 ([`twinkle_kept`]'s
/// condition).
fn sparse_phases<'a>(cells: CellSlices<'a>) -> Option<&'a [f32]> {
    let n = cells.ids.len();
    let phase = cells.phase.get(..n)?;
    let kept = n <= SPARKLE_BATCH
        && phase
            .iter()
            .fold(true, |all, &p| all & (0.0..1.0).contains(&p));
    kept.then_some(phase)
}

/// One batch's lit cells in two consecutive slots, for
/// [`Sparkles::lit_cells_remembered`].
#[derive(Debug, Default)]
pub struct SlotMemo(std::sync::Mutex<SlotBits>);

#[derive(Debug, Default)]
struct SlotBits {
    /// (first slot, its hash word, the density bound) the bits are for.
    key: Option<(i64, u64, u64)>,
    lit: [[u64; SPARKLE_BATCH / 64]; 2],
}

impl SlotMemo {
    /// The first slot the entry holds lit cells for, if any.
    #[cfg(test)]
    pub(crate) fn slot(&self) -> Option<i64> {
        self.0
            .lock()
            .ok()
            .and_then(|b| b.key)
            .map(|(slot, _, _)| slot)
    }
}

/// A twinkle layer's [`SlotMemo`]s, one per batch of [`SPARKLE_BATCH`]
/// cells of its list; empty for other layers. What it holds is worked
/// out from the layer alone, so the render is the same whatever it holds
/// (a copy of a layer starts with an empty memo). For the layer as built:
/// a layer whose cells or twinkle are changed afterwards needs a new one.
#[derive(Default)]
pub struct SparkleMemo(Vec<SlotMemo>);

impl SparkleMemo {
    /// Memo entries for a layer of `cells` cells with this effect.
    pub fn new(effect: &Effect, cells: usize) -> SparkleMemo {
        match effect {
            Effect::Twinkle { .. } => SparkleMemo(
                (0..cells.div_ceil(SPARKLE_BATCH))
                    .map(|_| SlotMemo::default())
                    .collect(),
            ),
            _ => SparkleMemo(Vec::new()),
        }
    }

    /// The entry of the batch starting at cell `i0` of the layer's list.
    pub fn batch(&self, i0: usize) -> Option<&SlotMemo> {
        (i0 % SPARKLE_BATCH == 0)
            .then(|| self.0.get(i0 / SPARKLE_BATCH))
            .flatten()
    }
}

impl Clone for SparkleMemo {
    fn clone(&self) -> SparkleMemo {
        SparkleMemo((0..self.0.len()).map(|_| SlotMemo::default()).collect())
    }
}

impl std::fmt::Debug for SparkleMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SparkleMemo({} batches)", self.0.len())
    }
}

/// The per-batch words of [`twinkle_kept`] (and [`Sparkles::lit_cells`]):
/// the two slots a batch's cells are in, their hash words, and the lit
/// compare's bound.
#[derive(Debug, Clone, Copy)]
struct Kept {
    seed: u64,
    s0: f64,
    s1: f64,
    w0: u64,
    w1: u64,
    below: u64,
}

impl Kept {
    /// None for a batch [`twinkle_kept`] declines: a phase outside 0..1
    /// (or none), `|slots|` not below [`KEPT_SLOTS`].
    #[inline(always)]
    fn new(slots: f64, seed: u64, density: f32, phase: &[f32]) -> Option<Kept> {
        if !(0.0..KEPT_SLOTS).contains(&slots.abs())
            || !phase
                .iter()
                .fold(true, |all, &p| all & (0.0..1.0).contains(&p))
        {
            return None;
        }
        let s0 = floor(slots);
        let s1 = s0 + 1.0;
        let slot_word = |s: f64| seed ^ (s as i64 as u64).rotate_left(42) ^ HASH_MIX;
        Some(Kept {
            seed,
            s0,
            s1,
            w0: slot_word(s0),
            w1: slot_word(s1),
            below: lit_below(density),
        })
    }
}

/// The number of 24-bit values v with `v as f32 / 2^24 < density` (those
/// are exactly v < the result): `unit(h) < density` ⟺ `h >> 40 < it`.
/// v / 2^24 is exact, so the compare is v < density × 2^24 (exact too).
fn lit_below(density: f32) -> u64 {
    let d = density * 16_777_216.0;
    if d.is_nan() || d <= 0.0 {
        0
    } else if d >= 16_777_216.0 {
        1 << 24
    } else {
        // d in 0..2^24: ceil(d), without a library call.
        let t = d as u64;
        t + ((t as f32) < d) as u64
    }
}

/// A media cell's colour: its sampled 8-bit value read as a colour
/// written `#rrggbb` is (the same light `color` gives for that hex), dark
/// for a cell the frame does not cover (a layer's own cells never are).
#[inline(always)]
fn media_cell(frame: &[[u8; 3]], index: u32) -> Color {
    const K: f32 = 1.0 / 255.0;
    match frame.get(index as usize) {
        Some(&[r, g, b]) => Color::rgb(f32::from(r) * K, f32::from(g) * K, f32::from(b) * K),
        None => Color::BLACK,
    }
}

/// A run of a layer's per-cell data (see [`crate::show::Layer`]).
#[derive(Debug, Clone, Copy)]
pub struct CellSlices<'a> {
    pub along: &'a [f32],
    pub u: &'a [f32],
    pub rank: &'a [u32],
    pub ids: &'a [u32],
    /// A twinkle layer's per-cell phase ([`Effect::twinkle_phases`]); empty
    /// (or short) means "hash it per cell", with the same result.
    pub phase: &'a [f32],
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chase_cell(
    on: Color,
    off: Color,
    off_level: f32,
    head: i64,
    width: i64,
    every: u32,
    index: u32,
    count: u32,
) -> (Color, f32) {
    // A chase repeats every `every` cells, and at the latest after the last
    // cell, so it wraps around instead of running off the end.
    let every = every.min(count).max(1) as i64;
    let d = (index as i64 - head).rem_euclid(every);
    if d < width {
        (on, 1.0)
    } else {
        (off, off_level)
    }
}

#[inline(always)]
fn wave_cell(
    from: Color,
    to: Option<Color>,
    depth: f32,
    per_metre: f64,
    travel: f64,
    along: f32,
) -> (Color, f32) {
    let w = wave(along, per_metre, travel);
    match to {
        Some(to) => (from.lerp(to, w), 1.0),
        None => (from, 1.0 - depth + depth * w),
    }
}

#[inline(always)]
fn gradient_cell(colors: &[Color], scroll: Option<f64>, u: f32) -> (Color, f32) {
    let u = match scroll {
        Some(off) => wrap_unit(u as f64 - off),
        None => u,
    };
    (sample(colors, u), 1.0)
}

#[inline(always)]
fn rainbow_cell(per_metre: f64, offset: f64, saturation: f32, along: f32) -> (Color, f32) {
    let hue = wrap_unit(along as f64 * per_metre + offset);
    (hsv(hue, saturation), 1.0)
}

#[inline(always)]
fn twinkle_cell(
    base: Color,
    sparkle: Color,
    density: f32,
    slots: f64,
    seed: u64,
    id: u32,
) -> (Color, f32) {
    let x = slots + twinkle_phase(seed, id) as f64;
    twinkle_at(base, sparkle, density, x, seed, id, Color::lerp)
}

/// A twinkle cell at `x` (the slots elapsed plus the cell's phase): lit or
/// not by the hash of its slot, and when lit, its envelope (sin π × slot
/// fraction); the colours blended by `lerp` ([`Color::lerp`], or
/// [`lerp_plain`] where neither has a temperature).
#[inline(always)]
fn twinkle_at(
    base: Color,
    sparkle: Color,
    density: f32,
    x: f64,
    seed: u64,
    id: u32,
    lerp: impl Fn(Color, Color, f32) -> Color,
) -> (Color, f32) {
    let slot = floor(x);
    let lit = unit(hash3(seed, id as u64, slot as i64 as u64)) < density;
    // The envelope only where a sparkle is lit (a few cells in a hundred):
    // the 64-bit hash keeps this loop scalar anyway, so the branch is cheap.
    if lit {
        // sin(π f) = cos(2π (f/2 − 1/4)).
        let env = cos_turns(0.5 * (x - slot) - 0.25);
        (lerp(base, sparkle, env), 1.0)
    } else {
        (base, 1.0)
    }
}

/// Whether a colour carries no temperature (Kelvin exactly +0): a blend of
/// two such colours has none either ([`Color::lerp`] picks one of the two
/// zeros), so [`lerp_plain`] gives the same bits.
#[inline(always)]
fn plain(c: Color) -> bool {
    c.kelvin.to_bits() == 0
}

/// [`Color::lerp`] of two [`plain`] colours: the same RGB arithmetic,
/// without the Kelvin branches.
#[inline(always)]
fn lerp_plain(a: Color, b: Color, f: f32) -> Color {
    Color {
        r: a.r + (b.r - a.r) * f,
        g: a.g + (b.g - a.g) * f,
        b: a.b + (b.b - a.b) * f,
        kelvin: 0.0,
    }
}

/// 0.5 + 0.5 cos(2π (along / wavelength − travel)): a travelling wave.
#[inline(always)]
pub(crate) fn wave(along: f32, per_metre: f64, travel: f64) -> f32 {
    0.5 + 0.5 * cos_turns(along as f64 * per_metre - travel)
}

/// A twinkle cell's phase in slots, 0..1: each cell's slots are offset by
/// its own phase so sparkles do not start in lockstep. It depends only on
/// the seed and the cell, so layers keep it ([`Effect::twinkle_phases`]).
#[inline(always)]
pub fn twinkle_phase(seed: u64, id: u32) -> f32 {
    unit(hash3(seed, id as u64, u64::MAX))
}

/// 2^52: from here up every f64 is an integer.
const INTEGRAL: f64 = 4_503_599_627_370_496.0;

/// Round to nearest (ties to even) without a library call: on baseline
/// x86-64 `f64::round`/`floor` are libm calls, which neither inline nor
/// vectorise. Adding and subtracting ±2^52 (the sign of x) rounds in the
/// FPU's default mode, the same on every IEEE 754 machine.
#[inline(always)]
fn round_even(x: f64) -> f64 {
    if x.abs() < INTEGRAL {
        let magic = INTEGRAL.copysign(x);
        (x + magic) - magic
    } else {
        x
    }
}

/// `f64::floor`, library-call free (see [`round_even`]).
#[inline(always)]
pub(crate) fn floor(x: f64) -> f64 {
    let r = round_even(x);
    if r > x {
        r - 1.0
    } else {
        r
    }
}

/// x mod 1 into 0..1 (as `rem_euclid(1.0)`, up to the last bit), as f32.
#[inline(always)]
fn wrap_unit(x: f64) -> f32 {
    let f = (x - floor(x)) as f32;
    // A value just below 1 in f64 can round up to 1.0 in f32.
    if f >= 1.0 {
        0.0
    } else {
        f
    }
}

/// Whether every wave argument `along × per_metre − travel` of a batch is
/// below 2^51 in size (so [`round_small`] is [`round_even`]): each
/// position under 2^49 / per_metre (NaN fails), `travel` under 2^49. One
/// compare per cell, in lanes.
#[inline(always)]
fn wave_in_range(along: &[f32], per_metre: f64, travel: f64) -> bool {
    const LIMIT: f64 = 562_949_953_421_312.0; // 2^49
    let lim = (LIMIT / per_metre.abs()) as f32;
    travel.abs() < LIMIT && along.iter().fold(true, |ok, &a| ok & (a.abs() < lim))
}

/// [`round_even`] for |x| < 2^52, without the range select.
#[inline(always)]
fn round_small(x: f64) -> f64 {
    let magic = INTEGRAL.copysign(x);
    (x + magic) - magic
}

/// cos(2π x) for x in turns: the one transcendental the effects use.
///
/// A fixed polynomial instead of the platform's libm, so every machine
/// (and the vectorised and scalar paths on one machine) computes the same
/// bits: the argument is reduced to the nearest turn in f64 (exact), folded
/// into the first quadrant by symmetry, and the even Taylor series to x¹²
/// evaluated in f32 (truncation < 1e-8 on 0..π/2; with f32 rounding the
/// error against libm stays below 1e-6, tested). Branch-free, so loops of
/// it vectorise.
#[inline(always)]
pub fn cos_turns(x: f64) -> f32 {
    cos_reduced((x - round_even(x)) as f32)
}

/// [`cos_turns`] of an argument already reduced to its nearest turn,
/// r = x − round(x) in −0.5..=0.5.
#[inline(always)]
fn cos_reduced(r: f32) -> f32 {
    let a = r.abs();
    let back = a > 0.25;
    // cos(2π a) = −cos(2π (½ − a)): fold into 0..¼ turn. Written as
    // |a − c| (exact: a − ½ by Sterbenz for a in ¼..½, a − 0 = a) and a sign
    // flip of the bits (what `-p` is), so the compiler evaluates one
    // polynomial per lane instead of one per side of a select.
    let q = (a - if back { 0.5 } else { 0.0 }).abs();
    let y = q * std::f32::consts::TAU;
    let z = y * y;
    let p = 1.0
        + z * (-1.0 / 2.0
            + z * (1.0 / 24.0
                + z * (-1.0 / 720.0
                    + z * (1.0 / 40_320.0
                        + z * (-1.0 / 3_628_800.0 + z * (1.0 / 479_001_600.0))))));
    f32::from_bits(p.to_bits() ^ ((back as u32) << 31))
}

fn sequence(cues: &[Cue], period: Option<f64>, t: f64) -> (Color, f32) {
    let Some(first) = cues.first() else {
        return (Color::BLACK, 0.0);
    };
    let t = match period {
        Some(p) if p > 0.0 => t.rem_euclid(p),
        _ => t,
    };
    let Some(i) = cues.iter().rposition(|c| c.at <= t) else {
        // Before the first cue of a non-looping sequence: dark, fading in.
        let f = if first.fade > 0.0 { 0.0 } else { 1.0 };
        return (first.color, first.level * f);
    };
    let cur = &cues[i];
    let prev = if i > 0 {
        Some(&cues[i - 1])
    } else if period.is_some() {
        cues.last()
    } else {
        None
    };
    let f = if cur.fade > 0.0 {
        ((t - cur.at) / cur.fade).clamp(0.0, 1.0) as f32
    } else {
        1.0
    };
    match prev {
        // Crossfade light, not colour and level separately, so a cue from
        // red at 100% to blue at 50% passes through a dim purple.
        Some(p) => {
            let a = p.color.at(p.level);
            let b = cur.color.at(cur.level);
            let l = a.mix(b, f);
            let i = l.intensity();
            if i > 0.0 {
                let mut c = Color::rgb(l.r / i, l.g / i, l.b / i);
                c.kelvin = l.kelvin;
                (c, i)
            } else {
                (cur.color, 0.0)
            }
        }
        None => (cur.color, cur.level * f),
    }
}

/// Piecewise-linear sample of a colour list at u in 0..=1.
fn sample(colors: &[Color], u: f32) -> Color {
    match colors.len() {
        0 => Color::BLACK,
        1 => colors[0],
        n => {
            let x = u.clamp(0.0, 1.0) * (n - 1) as f32;
            // x ≥ 0 (or NaN): truncation is floor, without a libm call.
            let i = (x as usize).min(n - 2);
            colors[i].lerp(colors[i + 1], x - i as f32)
        }
    }
}

/// HSV with full value to RGB.
pub fn hsv(h: f32, s: f32) -> Color {
    let h6 = wrap_unit(h as f64) * 6.0;
    // h6 ≥ 0: truncation is floor, without a libm call.
    let i = h6 as i32;
    let f = h6 - i as f32;
    let (p, q, t) = (1.0 - s, 1.0 - s * f, 1.0 - s * (1.0 - f));
    let (r, g, b) = match i {
        0 => (1.0, t, p),
        1 => (q, 1.0, p),
        2 => (p, 1.0, t),
        3 => (p, q, 1.0),
        4 => (t, p, 1.0),
        _ => (1.0, p, q),
    };
    Color::rgb(r, g, b)
}

/// SplitMix64-style mixing of three words: cheap, stateless, well spread.
fn hash3(a: u64, b: u64, c: u64) -> u64 {
    hash_rounds(a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ HASH_MIX)
}

/// The constant [`hash3`] mixes its words with.
const HASH_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// [`hash3`]'s rounds on the mixed words.
#[inline(always)]
fn hash_rounds(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// The effects as they were before the polynomial (libm `cos`/`sin`,
/// `rem_euclid` and `floor` per cell): the yardstick the approximation is
/// held to, on light and on DMX bytes.
#[cfg(test)]
mod libm_reference {
    use super::*;
    use std::f64::consts::TAU;

    fn libm_eval(e: &Effect, c: &CellInput) -> (Color, f32) {
        match e {
            Effect::Solid { color } => (*color, 1.0),
            Effect::Fade { colors, period } => {
                let x = c.t / period;
                if colors.len() == 1 {
                    // Triangle: up over one period, down over the next.
                    let ph = x.rem_euclid(2.0);
                    let level = if ph < 1.0 { ph } else { 2.0 - ph };
                    return (colors[0], level as f32);
                }
                let n = colors.len() as f64;
                let pos = x.rem_euclid(n);
                let i = pos.floor() as usize % colors.len();
                let j = (i + 1) % colors.len();
                (colors[i].lerp(colors[j], pos.fract() as f32), 1.0)
            }
            Effect::Chase {
                on,
                off,
                step,
                width,
                every,
            } => {
                // A chase repeats every `every` cells, and at the latest
                // after the last cell, so it wraps around instead of
                // running off the end.
                let every = (*every).min(c.count).max(1) as i64;
                let head = (c.t / step).floor() as i64;
                let d = (c.index as i64 - head).rem_euclid(every);
                if d < *width as i64 {
                    (*on, 1.0)
                } else {
                    (
                        *off,
                        if off.r + off.g + off.b > 0.0 {
                            1.0
                        } else {
                            0.0
                        },
                    )
                }
            }
            Effect::Wave {
                colors,
                speed,
                wavelength,
                depth,
            } => {
                let w = 0.5 + 0.5 * (TAU * (c.along as f64 - speed * c.t) / wavelength).cos();
                if colors.len() >= 2 {
                    (colors[0].lerp(colors[1], w as f32), 1.0)
                } else {
                    (colors[0], 1.0 - depth + depth * w as f32)
                }
            }
            Effect::Gradient {
                colors,
                speed,
                extent,
            } => {
                let mut u = c.u as f64;
                if *speed != 0.0 && *extent > 0.0 {
                    u = (u - speed * c.t / extent).rem_euclid(1.0);
                }
                (sample(colors, u as f32), 1.0)
            }
            Effect::Rainbow {
                speed,
                wavelength,
                period,
                saturation,
            } => {
                let spatial = if *wavelength > 0.0 {
                    (c.along as f64 - speed * c.t) / wavelength
                } else {
                    0.0
                };
                let temporal = if *period > 0.0 { c.t / period } else { 0.0 };
                let hue = (spatial + temporal).rem_euclid(1.0);
                (hsv(hue as f32, *saturation), 1.0)
            }
            Effect::Twinkle {
                base,
                sparkle,
                density,
                duration,
                seed,
            } => {
                // Each cell's slots are offset by its own phase so sparkles do
                // not start in lockstep.
                let phase = unit(hash3(*seed, c.id as u64, u64::MAX)) as f64;
                let x = c.t / duration + phase;
                let slot = x.floor() as i64 as u64;
                let lit = unit(hash3(*seed, c.id as u64, slot)) < *density;
                if lit {
                    let env = (std::f64::consts::PI * x.fract()).sin() as f32;
                    (base.lerp(*sparkle, env), 1.0)
                } else {
                    (*base, 1.0)
                }
            }
            Effect::Pulse {
                color,
                period,
                depth,
            } => {
                let w = 0.5 - 0.5 * (TAU * c.t / period).cos();
                (*color, 1.0 - depth + depth * w as f32)
            }
            Effect::Sequence { cues, period } => sequence(cues, *period, c.t),
            Effect::Media(m) => (media_cell(m.frame_at(c.t), c.index), 1.0),
        }
    }

    /// The light of a cell as the engine makes it, rounded to DMX.
    fn bytes(c: Color, level: f32) -> [u8; 3] {
        let l = c.at(level.clamp(0.0, 1.0));
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [q(l.r), q(l.g), q(l.b)]
    }

    #[test]
    fn cos_turns_is_within_1e6_of_libm() {
        let mut worst = 0.0f64;
        let mut check = |x: f64| {
            let d = (cos_turns(x) as f64 - (TAU * x).cos()).abs();
            worst = worst.max(d);
        };
        // Two turns each way, densely; then far-out arguments.
        for k in -2_000_000..=2_000_000 {
            check(k as f64 * 1e-6);
        }
        for k in 0..100_000 {
            let x = k as f64 * 0.618_033_988_749 * 1e-3;
            check(1e6 + x);
            check(-3e7 - x);
        }
        assert!(worst < 1e-6, "max |cos_turns − cos| = {worst:e}");
        for (x, want) in [
            (0.0, 1.0),
            (0.5, -1.0),
            (-0.5, -1.0),
            (1.0, 1.0),
            (3.0, 1.0),
        ] {
            assert_eq!(cos_turns(x), want, "{x}");
        }
    }

    #[test]
    fn floor_and_wrap_match_the_library() {
        let mut xs: Vec<f64> = (-4000..4000).map(|k| k as f64 * 0.25).collect();
        xs.extend((-1000..1000).map(|k| k as f64 * 0.001_7));
        for k in [0.5f64, 1.0, 2.0, 1e10, 4.5e15, 1e300] {
            for x in [k, -k, k + 0.5, -k - 0.5, f64::from_bits(k.to_bits() - 1)] {
                xs.push(x);
            }
        }
        xs.extend([
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            0.499_999_999_999_999_94,
        ]);
        for x in xs {
            assert_eq!(floor(x), x.floor(), "floor {x:e}");
            let w = wrap_unit(x);
            let want = x.rem_euclid(1.0) as f32;
            let want = if want >= 1.0 { 0.0 } else { want };
            assert!(
                (w - want).abs() <= 1e-6 || (w - want).abs() >= 1.0 - 1e-6,
                "wrap {x:e}"
            );
            assert!((0.0..1.0).contains(&w), "wrap {x:e} = {w}");
        }
    }

    #[test]
    fn dmx_bytes_move_by_at_most_one_from_libm() {
        const RED: Color = Color::rgb(1.0, 0.0, 0.0);
        let effects = [
            Effect::Wave {
                colors: vec![Color::rgb(1.0, 0.25, 0.0), Color::rgb(0.0, 0.25, 1.0)],
                speed: 6.0,
                wavelength: 90.0,
                depth: 1.0,
            },
            Effect::Wave {
                colors: vec![RED],
                speed: -2.5,
                wavelength: 7.0,
                depth: 0.8,
            },
            Effect::Gradient {
                colors: vec![
                    Color::rgb(1.0, 0.0, 0.376),
                    Color::rgb(1.0, 0.816, 0.0),
                    Color::rgb(0.0, 0.753, 1.0),
                ],
                speed: 2.0,
                extent: 283.0,
            },
            Effect::Rainbow {
                speed: 3.0,
                wavelength: 40.0,
                period: 17.0,
                saturation: 0.9,
            },
            Effect::Twinkle {
                base: Color::BLACK,
                sparkle: Color::WHITE,
                density: 0.3,
                duration: 0.6,
                seed: 7,
            },
            Effect::Pulse {
                color: RED,
                period: 4.0,
                depth: 0.7,
            },
            Effect::Fade {
                colors: vec![RED, Color::rgb(0.0, 0.0, 1.0)],
                period: 3.0,
            },
        ];
        let mut compared = 0u64;
        let mut moved = 0u64;
        for e in &effects {
            // Instants from the show's start to a week in, odd fractions.
            for k in 0..400 {
                let t = k as f64 * 1_512.123_457 + (k % 7) as f64 * 0.037;
                for id in 0..300u32 {
                    let along = id as f32 * 0.283;
                    let c = CellInput {
                        t,
                        along,
                        u: id as f32 / 299.0,
                        index: id,
                        count: 300,
                        id,
                    };
                    let (nc, nl) = e.eval(&c);
                    let (oc, ol) = libm_eval(e, &c);
                    let (new, old) = (bytes(nc, nl), bytes(oc, ol));
                    for ch in 0..3 {
                        let d = (new[ch] as i32 - old[ch] as i32).abs();
                        assert!(
                            d <= 1,
                            "{} at t={t} cell {id}: {new:?} vs {old:?}",
                            e.name()
                        );
                        moved += (d == 1) as u64;
                    }
                    compared += 3;
                }
            }
        }
        println!("{moved} of {compared} DMX bytes moved by 1 (rounding edges), none by more");
        assert!(moved * 100 < compared, "{moved} of {compared} moved");
    }

    #[test]
    fn a_batch_shades_each_cell_as_eval_does() {
        let e = Effect::Twinkle {
            base: Color::rgb(0.0, 0.0, 0.5),
            sparkle: Color::WHITE,
            density: 0.4,
            duration: 0.6,
            seed: 3,
        };
        let wave = Effect::Wave {
            colors: vec![RED_, BLUE_],
            speed: 6.0,
            wavelength: 90.0,
            depth: 1.0,
        };
        let n = 300;
        let along: Vec<f32> = (0..n).map(|i| i as f32 * 0.31).collect();
        let u: Vec<f32> = (0..n).map(|i| i as f32 / (n - 1) as f32).collect();
        let rank: Vec<u32> = (0..n as u32).collect();
        let ids: Vec<u32> = (0..n as u32).map(|i| i * 7 + 3).collect();
        let warm = crate::color::kelvin_color(3000.0);
        let gradient = |colors: Vec<Color>, speed: f64| Effect::Gradient {
            colors,
            speed,
            extent: 283.0,
        };
        let effects = [
            // Without a temperature: the loops that skip the Kelvin logic.
            e.clone(),
            wave.clone(),
            gradient(vec![RED_, Color::rgb(1.0, 0.8, 0.0), BLUE_], 2.0),
            gradient(vec![RED_, Color::rgb(1.0, 0.8, 0.0), BLUE_], 0.0),
            gradient(vec![RED_, BLUE_], -7.5),
            gradient(vec![RED_], 2.0),
            // With one: the general loops.
            Effect::Twinkle {
                base: warm,
                sparkle: Color::WHITE,
                density: 0.4,
                duration: 0.6,
                seed: 3,
            },
            Effect::Wave {
                colors: vec![warm, BLUE_],
                speed: 6.0,
                wavelength: 90.0,
                depth: 1.0,
            },
            gradient(vec![warm, RED_, crate::color::kelvin_color(6500.0)], 2.0),
        ];
        for e in &effects {
            let t = 1234.567;
            let mut out = vec![Light::DARK; n];
            let phase = e.twinkle_phases(&ids);
            let cells = CellSlices {
                along: &along,
                u: &u,
                rank: &rank,
                ids: &ids,
                phase: &phase,
            };
            e.at(t).shade(cells, n as u32, 0.8, &mut out);
            // Without the kept phases (hashed per cell): the same light.
            let mut hashed = vec![Light::DARK; n];
            e.at(t).shade(
                CellSlices {
                    phase: &[],
                    ..cells
                },
                n as u32,
                0.8,
                &mut hashed,
            );
            assert_eq!(out, hashed, "{}", e.name());
            for i in 0..n {
                let (c, l) = e.eval(&CellInput {
                    t,
                    along: along[i],
                    u: u[i],
                    index: rank[i],
                    count: n as u32,
                    id: ids[i],
                });
                assert_eq!(
                    out[i],
                    c.at((l * 0.8).clamp(0.0, 1.0)),
                    "{} cell {i}",
                    e.name()
                );
            }
        }
    }
    const RED_: Color = Color::rgb(1.0, 0.0, 0.0);
    const BLUE_: Color = Color::rgb(0.0, 0.0, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, index: u32, along: f32) -> CellInput {
        CellInput {
            t,
            along,
            u: along / 100.0,
            index,
            count: 10,
            id: index,
        }
    }
    const RED: Color = Color::rgb(1.0, 0.0, 0.0);
    const BLUE: Color = Color::rgb(0.0, 0.0, 1.0);

    #[test]
    fn fade_crossfades_and_wraps() {
        let e = Effect::Fade {
            colors: vec![RED, BLUE],
            period: 10.0,
        };
        assert_eq!(e.eval(&at(0.0, 0, 0.0)), (RED, 1.0));
        assert_eq!(e.eval(&at(5.0, 0, 0.0)).0, Color::rgb(0.5, 0.0, 0.5));
        assert_eq!(e.eval(&at(10.0, 0, 0.0)).0, BLUE);
        // Wrap-around: the blue→red half of the cycle.
        assert_eq!(e.eval(&at(15.0, 0, 0.0)).0, Color::rgb(0.5, 0.0, 0.5));
        assert_eq!(e.eval(&at(20.0, 0, 0.0)).0, RED);
        let single = Effect::Fade {
            colors: vec![RED],
            period: 4.0,
        };
        assert_eq!(single.eval(&at(2.0, 0, 0.0)).1, 0.5);
        assert_eq!(single.eval(&at(6.0, 0, 0.0)).1, 0.5);
        assert_eq!(single.eval(&at(8.0, 0, 0.0)).1, 0.0);
    }

    #[test]
    fn chase_steps_and_repeats() {
        let e = Effect::Chase {
            on: RED,
            off: Color::BLACK,
            step: 0.5,
            width: 2,
            every: 5,
        };
        let lit = |t: f64| -> Vec<u32> {
            (0..10)
                .filter(|&i| e.eval(&at(t, i, 0.0)).1 > 0.0)
                .collect()
        };
        assert_eq!(lit(0.0), vec![0, 1, 5, 6]);
        assert_eq!(lit(0.5), vec![1, 2, 6, 7]);
        assert_eq!(lit(2.0), vec![0, 4, 5, 9]);
        // Negative phase (before the show started) still wraps cleanly.
        assert_eq!(lit(-0.5), vec![0, 4, 5, 9]);
    }

    #[test]
    fn wave_travels_at_its_speed() {
        let e = Effect::Wave {
            colors: vec![RED],
            speed: 4.0,
            wavelength: 120.0,
            depth: 1.0,
        };
        assert_eq!(e.eval(&at(0.0, 0, 0.0)).1, 1.0);
        assert!((e.eval(&at(0.0, 0, 60.0)).1).abs() < 1e-6);
        // 15 s later the crest has moved 60 m.
        assert!((e.eval(&at(15.0, 0, 60.0)).1 - 1.0).abs() < 1e-6);
        let two = Effect::Wave {
            colors: vec![RED, BLUE],
            speed: 0.0,
            wavelength: 100.0,
            depth: 1.0,
        };
        assert_eq!(two.eval(&at(0.0, 0, 50.0)).0, RED.lerp(BLUE, 0.0));
        assert_eq!(two.eval(&at(0.0, 0, 0.0)).0, BLUE);
    }

    #[test]
    fn gradient_spans_the_extent() {
        let e = Effect::Gradient {
            colors: vec![RED, BLUE],
            speed: 0.0,
            extent: 100.0,
        };
        assert_eq!(e.eval(&at(0.0, 0, 0.0)).0, RED);
        assert_eq!(e.eval(&at(0.0, 0, 50.0)).0, Color::rgb(0.5, 0.0, 0.5));
        assert_eq!(e.eval(&at(0.0, 0, 100.0)).0, BLUE);
        let scrolling = Effect::Gradient {
            colors: vec![RED, BLUE],
            speed: 10.0,
            extent: 100.0,
        };
        assert_eq!(scrolling.eval(&at(5.0, 0, 50.0)).0, RED);
    }

    #[test]
    fn rainbow_hues() {
        let e = Effect::Rainbow {
            speed: 0.0,
            wavelength: 0.0,
            period: 12.0,
            saturation: 1.0,
        };
        assert_eq!(e.eval(&at(0.0, 0, 0.0)).0, RED);
        assert_eq!(e.eval(&at(4.0, 0, 0.0)).0, Color::rgb(0.0, 1.0, 0.0));
        assert_eq!(e.eval(&at(8.0, 0, 0.0)).0, BLUE);
        assert_eq!(e.eval(&at(12.0, 0, 0.0)).0, RED);
    }

    #[test]
    fn twinkle_is_deterministic_and_sparse() {
        let e = Effect::Twinkle {
            base: BLUE,
            sparkle: Color::WHITE,
            density: 0.2,
            duration: 1.0,
            seed: 7,
        };
        let mut sparkling = 0;
        for id in 0..1000 {
            let c = CellInput {
                t: 12.25,
                along: 0.0,
                u: 0.0,
                index: id,
                count: 1000,
                id,
            };
            let a = e.eval(&c);
            assert_eq!(a, e.eval(&c));
            if a.0 != BLUE {
                sparkling += 1;
            }
        }
        assert!((150..250).contains(&sparkling), "{sparkling}");
        let other_seed = Effect::Twinkle {
            base: BLUE,
            sparkle: Color::WHITE,
            density: 0.2,
            duration: 1.0,
            seed: 8,
        };
        let differs = (0..100).any(|id| {
            let c = CellInput {
                t: 3.5,
                along: 0.0,
                u: 0.0,
                index: id,
                count: 100,
                id,
            };
            e.eval(&c) != other_seed.eval(&c)
        });
        assert!(differs);
    }

    #[test]
    fn pulse_breathes() {
        let e = Effect::Pulse {
            color: RED,
            period: 4.0,
            depth: 0.5,
        };
        assert_eq!(e.eval(&at(0.0, 0, 0.0)).1, 0.5);
        assert_eq!(e.eval(&at(2.0, 0, 0.0)).1, 1.0);
        assert_eq!(e.eval(&at(4.0, 0, 0.0)).1, 0.5);
    }

    #[test]
    fn sequence_fades_between_cues_and_loops() {
        let cues = vec![
            Cue {
                at: 0.0,
                color: BLUE,
                level: 1.0,
                fade: 3.0,
            },
            Cue {
                at: 20.0,
                color: RED,
                level: 1.0,
                fade: 3.0,
            },
        ];
        let e = Effect::Sequence {
            cues: cues.clone(),
            period: Some(40.0),
        };
        assert_eq!(e.eval(&at(10.0, 0, 0.0)), (BLUE, 1.0));
        assert_eq!(e.eval(&at(23.0, 0, 0.0)), (RED, 1.0));
        let mid = e.eval(&at(21.5, 0, 0.0));
        assert_eq!(mid.1, 0.5);
        assert_eq!(mid.0, Color::rgb(1.0, 0.0, 1.0));
        // Wrap-around: at 41.5 s cue 0 is half way back from red to blue.
        assert_eq!(e.eval(&at(41.5, 0, 0.0)), mid);
        let once = Effect::Sequence { cues, period: None };
        assert_eq!(once.eval(&at(1.5, 0, 0.0)), (BLUE, 0.5));
        assert_eq!(once.eval(&at(100.0, 0, 0.0)), (RED, 1.0));
        assert_eq!(once.eval(&at(-1.0, 0, 0.0)).1, 0.0);
    }
}

/// The batch loops ([`Shader::shade`], its lane paths included) against the
/// cell-at-a-time arithmetic ([`Shader::cell`] then the level), bit for bit,
/// on inputs chosen for the edges of each fast path.
#[cfg(test)]
mod batch_edges {
    use super::*;

    fn bits(l: &Light) -> [u32; 4] {
        [l.r, l.g, l.b, l.kelvin].map(f32::to_bits)
    }

    /// Shade `cells` in batches of every length in `lens` (consecutive
    /// slices of the input) and compare each cell with [`Shader::cell`].
    /// Cells `i0..i1` of `cells`, as a batch of their own (no phases where
    /// `cells` has none).
    fn part_of<'a>(cells: CellSlices<'a>, i0: usize, i1: usize) -> CellSlices<'a> {
        CellSlices {
            along: &cells.along[i0..i1],
            u: &cells.u[i0..i1],
            rank: &cells.rank[i0..i1],
            ids: &cells.ids[i0..i1],
            phase: cells.phase.get(i0..i1).unwrap_or(&[]),
        }
    }

    fn check(shader: &Shader<'_>, cells: CellSlices<'_>, count: u32, level: f32, what: &str) {
        let n = cells.along.len();
        for len in [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 256, n] {
            let mut i0 = 0;
            while i0 < n {
                let i1 = (i0 + len.max(1)).min(n);
                let part = part_of(cells, i0, i1);
                let mut out = vec![Light::DARK; i1 - i0];
                shader.shade(part, count, level, &mut out);
                for (k, got) in out.iter().enumerate() {
                    let i = i0 + k;
                    let (c, l) = shader.cell(
                        cells.along[i],
                        cells.u[i],
                        cells.rank[i],
                        count,
                        cells.ids[i],
                    );
                    let want = c.at((l * level).clamp(0.0, 1.0));
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "{what}: batch {len}, cell {i} (u {:e}, along {:e}, level {level}): {got:?} vs {want:?}",
                        cells.u[i],
                        cells.along[i],
                    );
                }
                i0 = i1;
            }
        }
    }

    /// Positions: the ends, signed zeros, a ulp inside and outside, the
    /// segment boundaries of up to 10 stops and their neighbours, a spread.
    fn positions() -> Vec<f32> {
        let mut u = vec![0.0, -0.0, 1.0, f32::MIN_POSITIVE, 1e-30, 0.5];
        u.push(f32::from_bits(1.0f32.to_bits() - 1));
        for stops in 2..=10u32 {
            for k in 0..stops {
                let b = k as f32 / (stops - 1) as f32;
                u.extend([b, f32::from_bits(b.to_bits().saturating_sub(1))]);
                u.push(f32::from_bits(b.to_bits() + 1).min(1.0));
            }
        }
        u.extend((0..200).map(|k| (k as f32 * 0.618_034).fract()));
        u
    }

    fn palette(stops: usize) -> Vec<Color> {
        (0..stops)
            .map(|k| {
                let x = k as f32 * 0.377 + 0.1;
                Color::rgb(x.fract(), (x * 2.3).fract(), 1.0 - (x * 1.7).fract())
            })
            .collect()
    }

    fn slices<'a>(along: &'a [f32], u: &'a [f32], rank: &'a [u32]) -> CellSlices<'a> {
        CellSlices {
            along,
            u,
            rank,
            ids: rank,
            phase: &[],
        }
    }

    #[test]
    fn lit_below_is_the_unit_compare() {
        let mut densities = vec![
            0.0,
            -0.0,
            -0.5,
            1.0,
            1.5,
            f32::NAN,
            f32::INFINITY,
            f32::MIN_POSITIVE,
            1e-45,
            0.05,
            0.3,
            0.5,
            1.0 / 3.0,
            f32::from_bits(1.0f32.to_bits() - 1),
        ];
        densities.extend((0..300).map(|k| (k as f32 * 0.618_034).fract()));
        for v in [1u64, 2, 3, 1000, 1 << 23, (1 << 24) - 1] {
            let d = v as f32 / 16_777_216.0;
            densities.extend([
                d,
                f32::from_bits(d.to_bits() - 1),
                f32::from_bits(d.to_bits() + 1),
            ]);
        }
        for d in densities {
            let k = lit_below(d);
            // The compare flips at k: check there and across the range.
            let mut vs: Vec<u64> = (0..64).map(|i| i * 262_144 + i * 7).collect();
            vs.extend([0, 1, (1 << 24) - 1]);
            vs.extend((k.saturating_sub(3)..k + 3).filter(|&v| v < 1 << 24));
            for v in vs {
                let h = v << 40 | 0x00ff_ffff_ffff;
                assert_eq!(unit(h) < d, v < k, "density {d:e}, value {v}");
            }
        }
    }

    /// The remembered lit cells are the hashed ones, frame after frame with
    /// one memo per batch: slots advancing a third of a slot at a time (the
    /// memo shifted by one slot), jumping ahead and back (worked out anew),
    /// the same slot again (kept), and another seed or density sharing the
    /// memo (its key differs: worked out anew).
    #[test]
    fn remembered_lit_cells_are_the_hashed_ones() {
        let n = 700;
        let phase: Vec<f32> = (0..n).map(|k| twinkle_phase(7, k as u32 * 3 + 1)).collect();
        let ids: Vec<u32> = (0..n as u32).map(|k| k * 3 + 1).collect();
        let along = vec![0.0f32; n];
        let mut slots: Vec<f64> = (0..40).map(|k| 12.0 + k as f64 / 3.0).collect();
        slots.extend([100.5, 99.25, 99.25, 3.0, -7.75, -6.5, 12.0, 12.5]);
        let memo: Vec<SlotMemo> = (0..n.div_ceil(SPARKLE_BATCH))
            .map(|_| SlotMemo::default())
            .collect();
        for (seed, density) in [(7, 0.05), (7, 0.5), (8, 0.5)] {
            for &slots in &slots {
                let shader = Shader::Twinkle {
                    base: Color::BLACK,
                    sparkle: Color::WHITE,
                    density,
                    slots,
                    seed,
                };
                let sparkles = shader.sparkles().unwrap();
                for (b, memo) in memo.iter().enumerate() {
                    let r = b * SPARKLE_BATCH..((b + 1) * SPARKLE_BATCH).min(n);
                    let part = CellSlices {
                        along: &along[r.clone()],
                        u: &along[r.clone()],
                        rank: &ids[r.clone()],
                        ids: &ids[r.clone()],
                        phase: &phase[r.clone()],
                    };
                    let (mut a, mut b2) = ([0u16; SPARKLE_BATCH], [0u16; SPARKLE_BATCH]);
                    let hashed = sparkles.lit_cells(part, &mut a).unwrap();
                    let kept = sparkles.lit_cells_remembered(part, &mut b2, memo).unwrap();
                    assert_eq!(
                        &a[..hashed],
                        &b2[..kept],
                        "seed {seed} density {density} slots {slots} batch {b}"
                    );
                }
            }
        }
    }

    /// The two-colour wave's loops (arguments known small, and not) are
    /// the cell arithmetic to the bit: positions and wavelengths whose
    /// arguments straddle the range check, signed zeros, NaN, huge ones.
    #[test]
    fn wave_lanes_are_the_cell_arithmetic() {
        let mut along = positions();
        along.extend([
            -0.0,
            1e6,
            -3.7e7,
            1e30,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
            -1e20,
        ]);
        along.extend((0..300).map(|k| (k as f32 * 37.618_034) - 5000.0));
        let n = along.len();
        let rank: Vec<u32> = (0..n as u32).collect();
        // Inputs that pass the range check: no NaN or huge position.
        let tame: Vec<f32> = along
            .iter()
            .copied()
            .filter(|a| a.is_finite() && a.abs() < 1e7)
            .collect();
        let tn = tame.len();
        let trank: Vec<u32> = (0..tn as u32).collect();
        let from = Color::rgb(1.0, 0.25, 0.0);
        let to = Color::rgb(0.0, 0.25, 1.0);
        let below_one = f64::from_bits(1.0f64.to_bits() - 1);
        for per_metre in [1.0 / 40.0, 1.0 / 3.0, 1e-9, 0.0, 1e12, 2.5e-3] {
            for travel in [0.0, 0.5, below_one, 0.123_456_789, 1e15, -0.25] {
                for level in [0.8, 1.0] {
                    let shader = Shader::Wave {
                        per_metre,
                        travel,
                        from,
                        to: Some(to),
                        depth: 1.0,
                    };
                    let what = format!("wave per_metre {per_metre:e} travel {travel:e}");
                    check(
                        &shader,
                        slices(&along, &along, &rank),
                        n as u32,
                        level,
                        &what,
                    );
                    check(
                        &shader,
                        slices(&tame, &tame, &trank),
                        tn as u32,
                        level,
                        &what,
                    );
                }
            }
        }
    }

    /// The SSE2 next-slot bits equal the per-cell compare, on phases at,
    /// around and far from the bound, −0 and NaN included, every length.
    #[test]
    fn next_slot_bits_are_the_cell_compare() {
        let mut phases = vec![0.0, -0.0, 0.5, 0.25, 1e-30, f32::NAN, -0.5];
        phases.extend((0..70).map(|k| (k as f32 * 0.618_034).fract()));
        for from in [0.5f32, 0.25, 1e-30, 1.0, f32::from_bits(1), 0.618_034] {
            let b = from.to_bits();
            let mut ps = phases.clone();
            ps.extend([b - 1, b, b + 1].map(f32::from_bits));
            for start in 0..ps.len() {
                for len in 0..=64.min(ps.len() - start) {
                    let chunk = &ps[start..start + len];
                    let want = next_slot_bits_portable(chunk, b as i32);
                    let bitwise = chunk.iter().enumerate().fold(0u64, |m, (j, &p)| {
                        m | u64::from(p.to_bits() as i32 >= b as i32) << j
                    });
                    assert_eq!(want, bitwise);
                    assert_eq!(
                        next_slot_bits(chunk, b as i32),
                        want,
                        "{from} {start} {len}"
                    );
                }
            }
        }
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn kept_twinkle_slots_are_the_cell_arithmetic() {
        let n = 300;
        let mut phase: Vec<f32> = (0..n).map(|k| (k as f32 * 0.618_034).fract()).collect();
        let edges = [0.0, -0.0, f32::from_bits(1.0f32.to_bits() - 1), 0.5, 1e-30];
        // Phases that put x exactly on the next slot for the slots ending
        // in .5 and .25 below (the compare's edge), on many cells.
        for (k, p) in phase.iter_mut().enumerate() {
            if k % 5 == 0 {
                *p = 0.5;
            } else if k % 7 == 0 {
                *p = 0.75;
            }
        }
        phase[1..edges.len() + 1].copy_from_slice(&edges);
        let along: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let ids: Vec<u32> = (0..n as u32).map(|i| i * 7 + 3).collect();
        // Phases the fast path declines: the general loop, same bits.
        let mut wild = phase.clone();
        wild[7] = 1.0;
        wild[8] = f32::NAN;
        wild[9] = -0.25;
        let below_one = f64::from_bits(1.0f64.to_bits() - 1);
        let mut slots = vec![0.0, -0.0, 0.5, 0.25, 1.0, below_one, 3.0 - 1e-12];
        slots.extend([-2.5, -1.25, -1e-300]);
        slots.extend([1234.567 / 0.6, 1e9 + below_one, -7.999_999_999]);
        slots.extend([KEPT_SLOTS - 1.0, KEPT_SLOTS, -KEPT_SLOTS, 1e300, f64::NAN]);
        let warm = crate::color::kelvin_color(3000.0);
        let pairs = [
            (Color::BLACK, Color::WHITE),
            (Color::rgb(0.0, 0.0, 0.5), Color::rgb(1.0, 0.9, 0.2)),
            (warm, Color::WHITE),
            (Color::BLACK, crate::color::kelvin_color(6500.0)),
        ];
        for (base, sparkle) in pairs {
            for density in [0.05, 0.4, 0.0, 1.0, 1.5, f32::NAN] {
                for &slots in &slots {
                    for level in [0.8, 1.0, f32::NAN] {
                        let shader = Shader::Twinkle {
                            base,
                            sparkle,
                            density,
                            slots,
                            seed: 7,
                        };
                        let what = format!("twinkle {base:?} density {density} slots {slots:e}");
                        for ph in [&phase, &wild] {
                            let cells = CellSlices {
                                along: &along,
                                u: &along,
                                rank: &ids,
                                ids: &ids,
                                phase: ph,
                            };
                            check_kept(&shader, cells, level, &what);
                            check_sparkles(&shader, cells, level, &what);
                        }
                    }
                }
            }
        }
    }

    /// The sparse path against [`Shader::shade`], batch by batch: the cells
    /// [`Sparkles::lit_cells`] yields have the shaded light
    /// ([`Sparkles::light`]), every other cell's is [`Shader::unlit`]; it
    /// declines exactly the batches with a phase outside 0..1, and the
    /// slot counts [`twinkle_kept`] leaves to the general loop.
    fn check_sparkles(shader: &Shader<'_>, cells: CellSlices<'_>, level: f32, what: &str) {
        let Shader::Twinkle { slots, .. } = *shader else {
            unreachable!()
        };
        let Some(sparkles) = shader.sparkles() else {
            assert!(!(0.0..KEPT_SLOTS).contains(&slots.abs()), "{what}");
            return;
        };
        let unlit = shader.unlit(level).unwrap();
        let n = cells.ids.len();
        for len in [1, 3, 4, 31, 256] {
            let mut i0 = 0;
            while i0 < n {
                let i1 = (i0 + len).min(n);
                let part = part_of(cells, i0, i1);
                let mut out = vec![Light::DARK; i1 - i0];
                shader.shade(part, n as u32, level, &mut out);
                let mut lit = [0u16; SPARKLE_BATCH];
                let in_range = part.phase.iter().all(|p| (0.0..1.0).contains(p));
                let Some(count) = sparkles.lit_cells(part, &mut lit) else {
                    assert!(!in_range, "{what}: batch {len} at {i0} declined");
                    i0 = i1;
                    continue;
                };
                assert!(in_range, "{what}: batch {len} at {i0} taken");
                let lit = &lit[..count];
                assert!(lit.windows(2).all(|w| w[0] < w[1]), "{what}: order");
                for (k, got) in out.iter().enumerate() {
                    let want = if lit.contains(&(k as u16)) {
                        sparkles.light(part, k, level)
                    } else {
                        unlit
                    };
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "{what}: batch {len}, cell {} (phase {:e}, level {level}), lit {}",
                        i0 + k,
                        part.phase[k],
                        lit.contains(&(k as u16))
                    );
                }
                i0 = i1;
            }
        }
    }

    /// [`check`] for a twinkle given its phases: [`Shader::cell`] hashes the
    /// phase itself, so the reference here is [`twinkle_at`] on the kept one.
    fn check_kept(shader: &Shader<'_>, cells: CellSlices<'_>, level: f32, what: &str) {
        let Shader::Twinkle {
            base,
            sparkle,
            density,
            slots,
            seed,
        } = *shader
        else {
            unreachable!()
        };
        let n = cells.ids.len();
        for len in [1, 3, 4, 8, 31, 256, n] {
            let mut i0 = 0;
            while i0 < n {
                let i1 = (i0 + len).min(n);
                let part = part_of(cells, i0, i1);
                let mut out = vec![Light::DARK; i1 - i0];
                shader.shade(part, n as u32, level, &mut out);
                for (k, got) in out.iter().enumerate() {
                    let i = i0 + k;
                    let x = slots + cells.phase[i] as f64;
                    let (c, l) =
                        twinkle_at(base, sparkle, density, x, seed, cells.ids[i], Color::lerp);
                    let want = c.at((l * level).clamp(0.0, 1.0));
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "{what}: batch {len}, cell {i} (phase {:e}, level {level})",
                        cells.phase[i]
                    );
                }
                i0 = i1;
            }
        }
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn gradient_lanes_are_the_cell_arithmetic() {
        let u = positions();
        let n = u.len();
        let along: Vec<f32> = (0..n).map(|i| i as f32 * 0.7).collect();
        let rank: Vec<u32> = (0..n as u32).collect();
        let off_one = f64::from_bits(1.0f64.to_bits() - 1);
        let scrolls = [
            None,
            Some(0.0),
            Some(1.0),
            Some(off_one),
            Some(1e-17),
            Some(0.5),
            Some(1.0 / 3.0),
            Some(0.123_456_789_012_345_6),
            Some(f64::NAN),
            Some(-0.25),
            Some(1.5),
        ];
        // Out-of-range positions in a batch: the general loop, same bits.
        let mut wild = u.clone();
        wild.extend([-0.5, 1.5, -1e-30, f32::NAN, 3.0, -2.0, f32::INFINITY]);
        let wn = wild.len();
        let walong: Vec<f32> = (0..wn).map(|i| i as f32).collect();
        let wrank: Vec<u32> = (0..wn as u32).collect();
        for stops in 1..=10 {
            let colors = palette(stops);
            for scroll in scrolls {
                for level in [0.8, 1.0, 0.0, 1.5, f32::NAN] {
                    let shader = Shader::Gradient {
                        colors: &colors,
                        scroll,
                    };
                    let what = format!("{stops} stops, scroll {scroll:?}");
                    check(&shader, slices(&along, &u, &rank), n as u32, level, &what);
                    // Not with a NaN level: a NaN position meeting a NaN
                    // level leaves it to the compiler which payload
                    // survives (x86 keeps a product's first operand's and
                    // may commute the two), in the general loop as before.
                    if !level.is_nan() {
                        let what = format!("{what}, wild positions");
                        let wild = slices(&walong, &wild, &wrank);
                        check(&shader, wild, wn as u32, level, &what);
                    }
                }
            }
        }
    }
}
