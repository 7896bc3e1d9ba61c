//! Twinkle: sparkles over a base colour, lit by a hash of (seed, cell, time
//! slot), never by a generator, so every controller agrees. Each cell's
//! phase is kept in the layer (hashing it costs more than the rest); a
//! batch with kept phases is shaded with its slot worked out per batch
//! ([`twinkle_kept`]); [`Sparkles`] finds only the lit cells of a sparse
//! layer, and [`SparkleMemo`] remembers them per slot for the frame loop.

use super::math::{cos_turns, floor, hash3, hash_rounds, unit, HASH_MIX};
use super::shader::{lerp_plain, plain, Shader};
use super::{CellSlices, Effect};
use crate::color::{Color, Light};

/// The slots above which [`twinkle_kept`] leaves a batch to the general
/// loop: below 2^50, a slot and the next are exact in f64 and in i64.
pub(super) const KEPT_SLOTS: f64 = 1_125_899_906_842_624.0;

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
pub(super) fn twinkle_kept(
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

/// The twinkle's part of a [`Shader`]: what lets the renderer touch only
/// the sparkling cells of a layer.
impl Shader<'_> {
    /// The light [`Shader::shade`] gives a twinkle's cells that are not
    /// sparkling, at the layer's `level` (its base colour at the level);
    /// None for every other effect. With [`Sparkles::lit_cells`] it lets the
    /// renderer touch only the sparkling cells of a layer.
    pub(crate) fn unlit(&self, level: f32) -> Option<Light> {
        match *self {
            Shader::Twinkle { base, .. } => Some(base.at((1.0 * level).clamp(0.0, 1.0))),
            _ => None,
        }
    }

    /// A twinkle at this instant, ready to find its sparkling cells
    /// ([`Sparkles::lit_cells`]); None for every other effect, and for a
    /// slot count [`twinkle_kept`] leaves to the general loop.
    pub(crate) fn sparkles(&self) -> Option<Sparkles> {
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
}

/// A twinkle shader's per-frame words for finding its sparkling cells
/// without shading the others ([`Shader::sparkles`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sparkles {
    base: Color,
    sparkle: Color,
    slots: f64,
    kept: Kept,
    /// The least phase whose cell is in the next slot (`slots + phase >=
    /// s1` in f64, as [`twinkle_kept`] computes it).
    next_from: f32,
}

/// Cells [`Sparkles::lit_cells`] takes at a time (its index buffer).
pub(crate) const SPARKLE_BATCH: usize = 256;

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
    pub(crate) fn lit_cells(
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
    pub(crate) fn lit_cells_remembered(
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
    pub(crate) fn light(&self, cells: CellSlices<'_>, k: usize, level: f32) -> Light {
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
pub(super) fn next_slot_bits(phase: &[f32], from: i32) -> u64 {
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
pub(super) fn next_slot_bits_portable(phase: &[f32], from: i32) -> u64 {
    phase.iter().enumerate().fold(0, |next, (j, &p)| {
        next | u64::from(p.to_bits() as i32 >= from) << j
    })
}

/// Bit k: whether cell k of `ids` is lit in the slot whose hash word is `w`.
pub(super) fn lit_bits(ids: &[u32], w: u64, below: u64) -> [u64; SPARKLE_BATCH / 64] {
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
pub(super) fn sparse_phases<'a>(cells: CellSlices<'a>) -> Option<&'a [f32]> {
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
pub(crate) struct SlotMemo(std::sync::Mutex<SlotBits>);

#[derive(Debug, Default)]
pub(super) struct SlotBits {
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
    pub(crate) fn new(effect: &Effect, cells: usize) -> SparkleMemo {
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
    pub(crate) fn batch(&self, i0: usize) -> Option<&SlotMemo> {
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
pub(super) struct Kept {
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
pub(super) fn lit_below(density: f32) -> u64 {
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

#[inline(always)]
pub(super) fn twinkle_cell(
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
pub(super) fn twinkle_at(
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

/// A twinkle cell's phase in slots, 0..1: each cell's slots are offset by
/// its own phase so sparkles do not start in lockstep. It depends only on
/// the seed and the cell, so layers keep it ([`Effect::twinkle_phases`]).
#[inline(always)]
pub(crate) fn twinkle_phase(seed: u64, id: u32) -> f32 {
    unit(hash3(seed, id as u64, u64::MAX))
}
