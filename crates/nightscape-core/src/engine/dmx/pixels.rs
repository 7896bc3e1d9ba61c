//! Plain RGB pixels, the bulk of a city's cells, mapped four at a time:
//! SSE2 lanes on x86-64 (through `safe_arch`, no `unsafe`), a portable
//! version of the same arithmetic elsewhere; both round exactly as the
//! general path's `to8` does (tested on every kind of float).

use crate::color::Light;
use crate::fixture::DimmerCurve;

/// Plain RGB pixels (red, green, blue at 3 × cell): what `scope_emitters`
/// without a dimmer gives for an RGB-only cell, channel by channel. `pre` is
/// the cell's limit and, for a curve other than linear or square, the curve
/// on each channel; `SQUARE` squares the clamped level in [`four_pixels`]
/// (which clamps, so the linear curve is the identity here). Four pixels at
/// a time go through [`four_pixels`] into their 12 slots; the last few (and
/// a bar running past channel 512) through one padded group, keeping only
/// the slots that fit. Monomorphised per curve and limit, so the loop has no
/// branch but the limit's own; one call per fixture, not inlined (six
/// copies of the loop in `map_one` buy nothing).
#[inline(never)]
pub(super) fn rgb_pixels<const SQUARE: bool>(
    cells: &[Light],
    slots: &mut [u8],
    pre: impl Fn(Light) -> Light,
) {
    // Pixels with all three slots, and those with at least one.
    let whole = (slots.len() / 3).min(cells.len());
    let fit = slots.len().div_ceil(3).min(cells.len());
    let groups = whole / 4;
    let (body, rest) = slots.split_at_mut(12 * groups);
    for (out, p) in body.chunks_exact_mut(12).zip(cells.chunks_exact(4)) {
        out.copy_from_slice(&four_pixels::<SQUARE>([
            pre(p[0]),
            pre(p[1]),
            pre(p[2]),
            pre(p[3]),
        ]));
    }
    let left = &cells[4 * groups..fit];
    if !left.is_empty() {
        let mut p = [Light::DARK; 4];
        for (d, &l) in p.iter_mut().zip(left) {
            *d = pre(l);
        }
        let bytes = four_pixels::<SQUARE>(p);
        let n = rest.len().min(3 * left.len());
        rest[..n].copy_from_slice(&bytes[..n]);
    }
}

/// A light with a dimmer curve applied to each colour channel, as
/// [`emitters`] does for an RGB-only cell.
#[inline(always)]
pub(super) fn curved(curve: DimmerCurve, l: Light) -> Light {
    Light {
        r: curve.apply(l.r),
        g: curve.apply(l.g),
        b: curve.apply(l.b),
        kelvin: l.kelvin,
    }
}

/// Four RGB pixels to their 12 DMX bytes (r0 g0 b0 r1 …), each `to8` of its
/// channel (`to8` of the squared clamped level when `SQUARE`): three SSE2
/// vectors of four channels on x86-64, [`to8_lanes`] elsewhere.
#[inline(always)]
pub(super) fn four_pixels<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
    #[cfg(target_arch = "x86_64")]
    return sse2::four_pixels::<SQUARE>(p);
    #[cfg(not(target_arch = "x86_64"))]
    return four_pixels_portable::<SQUARE>(p);
}

/// [`four_pixels`] in plain Rust, channel by channel through [`to8_lanes`],
/// for the compiler to vectorise as it sees fit (on x86-64 this came out as
/// clean vectors in one build and half scalar in the next, hence [`sse2`]).
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
pub(super) fn four_pixels_portable<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (px, l) in out.chunks_exact_mut(3).zip(p) {
        px.copy_from_slice(&[l.r, l.g, l.b].map(to8_lanes::<SQUARE>));
    }
    out
}

/// Four pixels in SSE2 lanes through `safe_arch` (safe wrappers of the
/// intrinsics; x86-64 always has SSE2): the three vectors are built from the
/// channels (no pointer loads), clamped (maxps gives its second operand, 0,
/// when the level is NaN, which is what `to8` makes of NaN), squared for the
/// square curve, scaled, rounded, narrowed with the saturating packs (the
/// values are already 0..=255) and read back as one `u64` and one `u32`.
#[cfg(target_arch = "x86_64")]
pub(super) mod sse2 {
    use super::Light;
    use safe_arch::{
        add_m128, get_i32_from_m128i_s, get_i64_from_m128i_s, m128, m128i, max_m128, min_m128,
        mul_m128, pack_i16_to_u8_m128i, pack_i32_to_i16_m128i, set_m128, set_splat_m128,
        truncate_m128_to_m128i, unpack_high_i64_m128i, zeroed_m128,
    };

    /// The largest float below ½. For `y` in 0..=255, truncating the float
    /// sum `y + HALF_BELOW` is `y` rounded half away from zero, as `to8`
    /// gets through f64: below ½ the exact sum is at most 1 − 2⁻²⁴, which is
    /// a float, so it stays under 1; from ½ up the sum is exact or rounds on
    /// a grid whose points include every integer, and the 2⁻²⁵ shortfall is
    /// under half a step (exactly half at 1, where the tie goes to the even
    /// 1.0). Checked on all 2³² floats (the ignored test below).
    const HALF_BELOW: f32 = 0.499_999_97;

    #[inline(always)]
    fn to8x4<const SQUARE: bool>(v: m128) -> m128i {
        let c = min_m128(max_m128(v, zeroed_m128()), set_splat_m128(1.0));
        let c = if SQUARE { mul_m128(c, c) } else { c };
        let y = mul_m128(c, set_splat_m128(255.0));
        truncate_m128_to_m128i(add_m128(y, set_splat_m128(HALF_BELOW)))
    }

    #[inline(always)]
    pub(super) fn four_pixels<const SQUARE: bool>(p: [Light; 4]) -> [u8; 12] {
        let a = to8x4::<SQUARE>(set_m128(p[1].r, p[0].b, p[0].g, p[0].r));
        let b = to8x4::<SQUARE>(set_m128(p[2].g, p[2].r, p[1].b, p[1].g));
        let c = to8x4::<SQUARE>(set_m128(p[3].b, p[3].g, p[3].r, p[2].b));
        let bytes = pack_i16_to_u8_m128i(pack_i32_to_i16_m128i(a, b), pack_i32_to_i16_m128i(c, c));
        let lo = get_i64_from_m128i_s(bytes) as u64;
        let hi = get_i32_from_m128i_s(unpack_high_i64_m128i(bytes, bytes)) as u32;
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&lo.to_le_bytes());
        out[8..].copy_from_slice(&hi.to_le_bytes());
        out
    }
}

/// 2²³: adding it to a float in 0..2²³ rounds it to an integer (to nearest,
/// ties to even), which lands in the low bits of the sum.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(super) const ROUNDING_MAGIC: f32 = 8_388_608.0;

/// `to8(x)` (`to8(x²)` of the clamped level when `SQUARE`) to the bit, in
/// operations that can vectorise, for targets without the [`sse2`] path:
/// the float-to-int cast `to8` uses is saturating, which LLVM does one value
/// at a time (on baseline x86-64 at least). Here
/// `y` in 0..=255 is rounded by adding 2²³ (to nearest, ties to even, the
/// integer in the sum's low bits; exact because every float in that range
/// is a multiple of its ulp and the sum's ulp is 1), then the one case where
/// that differs from half away from zero, a tie rounded down to even, is
/// found exactly (`y − rounded` is exact: Sterbenz) and adds one. Equal to
/// `to8` on all 2³² floats, both curves (the ignored test); the default
/// tests take a stride, every halfway point and the odd ones.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline(always)]
pub(super) fn to8_lanes<const SQUARE: bool>(x: f32) -> u8 {
    // Compare-and-select, not `clamp`/`max`: NaN becomes 0 as `to8` makes
    // it, and each is one SIMD max/min.
    let c = if x > 0.0 { x } else { 0.0 };
    let c = if c < 1.0 { c } else { 1.0 };
    let c = if SQUARE { c * c } else { c };
    let y = c * 255.0;
    let m = y + ROUNDING_MAGIC;
    let tie_down = y - (m - ROUNDING_MAGIC) == 0.5;
    // The low byte of the sum's bits is the rounded value (at most 255).
    m.to_bits().wrapping_add(u32::from(tie_down)) as u8
}
