//! Effects: pure functions of (time since the show started, the cell's
//! place in the layer, the effect's parameters) to a colour and a level.
//!
//! Nothing here reads a clock or keeps state between frames, which is what
//! lets a restarted daemon, a second controller and `nightscape render` all
//! compute the same frame for the same instant. Randomness (twinkle) comes
//! from a hash of (seed, cell, time slot), never from a generator.

use crate::color::Color;
use std::f64::consts::TAU;

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
        }
    }

    /// The colour and level (0..=1) of one cell.
    pub fn eval(&self, c: &CellInput) -> (Color, f32) {
        match self {
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
        }
    }
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
            let i = (x.floor() as usize).min(n - 2);
            colors[i].lerp(colors[i + 1], x - i as f32)
        }
    }
}

/// HSV with full value to RGB.
pub fn hsv(h: f32, s: f32) -> Color {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let i = h6.floor() as i32;
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
    let mut x = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
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
