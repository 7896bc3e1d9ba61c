//! The arithmetic every effect shares, without a library call: rounding
//! and `floor` by adding 2^52 (the same on every IEEE 754 machine, and
//! they vectorise), `cos_turns` as a fixed polynomial (within 1e-6 of libm,
//! tested), and the stateless hash behind a twinkle's randomness.

/// 2^52: from here up every f64 is an integer.
pub(super) const INTEGRAL: f64 = 4_503_599_627_370_496.0;

/// Round to nearest (ties to even) without a library call: on baseline
/// x86-64 `f64::round`/`floor` are libm calls, which neither inline nor
/// vectorise. Adding and subtracting ±2^52 (the sign of x) rounds in the
/// FPU's default mode, the same on every IEEE 754 machine.
#[inline(always)]
pub(super) fn round_even(x: f64) -> f64 {
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
pub(super) fn wrap_unit(x: f64) -> f32 {
    let f = (x - floor(x)) as f32;
    // A value just below 1 in f64 can round up to 1.0 in f32.
    if f >= 1.0 {
        0.0
    } else {
        f
    }
}

/// [`round_even`] for |x| < 2^52, without the range select.
#[inline(always)]
pub(super) fn round_small(x: f64) -> f64 {
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
pub(crate) fn cos_turns(x: f64) -> f32 {
    cos_reduced((x - round_even(x)) as f32)
}

/// [`cos_turns`] of an argument already reduced to its nearest turn,
/// r = x − round(x) in −0.5..=0.5.
#[inline(always)]
pub(super) fn cos_reduced(r: f32) -> f32 {
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

/// SplitMix64-style mixing of three words: cheap, stateless, well spread.
pub(super) fn hash3(a: u64, b: u64, c: u64) -> u64 {
    hash_rounds(a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ HASH_MIX)
}

/// The constant [`hash3`] mixes its words with.
pub(super) const HASH_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// [`hash3`]'s rounds on the mixed words.
#[inline(always)]
pub(super) fn hash_rounds(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}
