//! The effects as they were before the polynomial (libm `cos`/`sin`,
//! `rem_euclid` and `floor` per cell): the yardstick the approximation is
//! held to, on light and on DMX bytes.

use super::travel::hsv;
use super::*;
use super::{gradient::*, math::*, shader::*};
use crate::color::Light;
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
