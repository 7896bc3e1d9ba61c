//! The batch loops ([`Shader::shade`], its lane paths included) against the
//! cell-at-a-time arithmetic ([`Shader::cell`] then the level), bit for bit,
//! on inputs chosen for the edges of each fast path.

use super::*;
use super::{math::*, shader::*, twinkle::*};
use crate::color::Light;

fn bits(l: &Light) -> [u32; 4] {
    // Not `.map(f32::to_bits)`: in a debug build the array map costs more
    // than the shading under test.
    [
        l.r.to_bits(),
        l.g.to_bits(),
        l.b.to_bits(),
        l.kelvin.to_bits(),
    ]
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
    // The cell arithmetic once per cell, whatever batch the cell is in.
    let wants: Vec<Light> = (0..n)
        .map(|i| {
            let (c, l) = shader.cell(
                cells.along[i],
                cells.u[i],
                cells.rank[i],
                count,
                cells.ids[i],
            );
            c.at((l * level).clamp(0.0, 1.0))
        })
        .collect();
    let mut buffer = vec![Light::DARK; n];
    for len in [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 256, n] {
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + len.max(1)).min(n);
            let part = part_of(cells, i0, i1);
            // Dark before each batch, as a fresh buffer would be.
            let out = &mut buffer[..i1 - i0];
            out.fill(Light::DARK);
            shader.shade(part, count, level, out);
            for (k, got) in out.iter().enumerate() {
                let i = i0 + k;
                let want = wants[i];
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
    // Past one 256-cell batch, with a tail of 3 (not a whole lane of 4);
    // a 5 % density still lights a dozen cells.
    let n = 259;
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
                        let shaded = check_kept(&shader, cells, level, &what);
                        check_sparkles(&shader, cells, level, &shaded, &what);
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
/// slot counts [`twinkle_kept`] leaves to the general loop. `shaded` is
/// each cell's light as [`check_kept`] found [`Shader::shade`] gives it in
/// batches of every length here (not shaded again).
fn check_sparkles(
    shader: &Shader<'_>,
    cells: CellSlices<'_>,
    level: f32,
    shaded: &[Light],
    what: &str,
) {
    let Shader::Twinkle { slots, .. } = *shader else {
        unreachable!()
    };
    let Some(sparkles) = shader.sparkles() else {
        assert!(!(0.0..KEPT_SLOTS).contains(&slots.abs()), "{what}");
        return;
    };
    let unlit = shader.unlit(level).unwrap();
    let n = cells.ids.len();
    // Lengths `check_kept` also shades in (so `shaded` is what each gives).
    for len in [1, 3, 4, 31, 256] {
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + len).min(n);
            let part = part_of(cells, i0, i1);
            let out = &shaded[i0..i1];
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
            // Which cells of the batch are lit, by index (not a search of
            // the list per cell: quadratic at full density).
            let mut is_lit = vec![false; out.len()];
            for &k in lit {
                assert!(
                    (k as usize) < out.len(),
                    "{what}: lit cell {k} outside the batch"
                );
                is_lit[k as usize] = true;
            }
            for (k, got) in out.iter().enumerate() {
                let want = if is_lit[k] {
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
                    is_lit[k]
                );
            }
            i0 = i1;
        }
    }
}

/// [`check`] for a twinkle given its phases: [`Shader::cell`] hashes the
/// phase itself, so the reference here is [`twinkle_at`] on the kept one.
/// Returns each cell's light (which every batching shaded).
fn check_kept(shader: &Shader<'_>, cells: CellSlices<'_>, level: f32, what: &str) -> Vec<Light> {
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
    // The reference once per cell, whatever batch the cell is in.
    let wants: Vec<Light> = (0..n)
        .map(|i| {
            let x = slots + cells.phase[i] as f64;
            let (c, l) = twinkle_at(base, sparkle, density, x, seed, cells.ids[i], Color::lerp);
            c.at((l * level).clamp(0.0, 1.0))
        })
        .collect();
    let mut buffer = vec![Light::DARK; n];
    for len in [1, 3, 4, 8, 31, 256, n] {
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + len).min(n);
            let part = part_of(cells, i0, i1);
            // Dark before each batch, as a fresh buffer would be.
            let out = &mut buffer[..i1 - i0];
            out.fill(Light::DARK);
            shader.shade(part, n as u32, level, out);
            for (k, got) in out.iter().enumerate() {
                let i = i0 + k;
                let want = wants[i];
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
    wants
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
