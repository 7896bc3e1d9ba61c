//! The power model: watts per fixture from the DMX values of a frame.
//!
//! Per fixture, `W = standby_w + (power_w − standby_w) × power_fraction(load)`,
//! where `load` (0..=1) is read from the channels actually sent: the head
//! dimmer × the cell's dimmer × the cell's emitter levels weighted by the
//! profile's `emitter_weights` (over the total weight of the cell's
//! emitters), averaged over the cells. A scope with no emitter channels is
//! "all dimmer" (its load is its dimmer); a mode with neither dimmer nor
//! emitters cannot be dimmed and draws `power_w` whenever powered. 16-bit
//! channels read both bytes. Strobe, pan, tilt and zoom draw nothing extra.
//! Head colour channels of a pixel mode (no shipped profile has them) are
//! not counted.
//!
//! Reading the frame rather than the look means the estimate sees what the
//! fixtures are told, after dimmer curves, masters, caps and 8-bit rounding.
//! Fixtures on universes that no output sends count as standby only: they
//! are powered, but a driver that hears no DMX stays dark.
//!
//! Everything that does not change per frame (channel slots, weights
//! normalised, powers, which fixtures are sent) is precomputed in
//! [`PowerModel::new`], so a frame costs one pass over the emitter bytes.

use crate::engine::Frame;
use crate::fixture::{DimmerCurve, Role};
use crate::site::Site;

/// A channel read as a level: the coarse slot and, for 16-bit, the fine.
#[derive(Debug, Clone, Copy)]
struct Level {
    coarse: u16,
    /// `u16::MAX` when 8-bit.
    fine: u16,
}

const NO_FINE: u16 = u16::MAX;

impl Level {
    #[inline]
    fn read(self, d: &[u8]) -> f32 {
        let c = d.get(self.coarse as usize).copied().unwrap_or(0);
        if self.fine == NO_FINE {
            c as f32 * (1.0 / 255.0)
        } else {
            let f = d.get(self.fine as usize).copied().unwrap_or(0);
            ((c as u32) << 8 | f as u32) as f32 * (1.0 / 65535.0)
        }
    }
}

/// An emitter channel with its weight over the scope's total weight.
#[derive(Debug, Clone, Copy)]
struct Term {
    level: Level,
    weight: f32,
}

/// One scope (a cell, or the head of a plain fixture).
#[derive(Debug, Clone)]
struct Scope {
    dimmer: Option<Level>,
    /// Range into the mode's terms; empty = all dimmer.
    terms: std::ops::Range<u32>,
}

/// A profile mode's channel layout, relative to the fixture's start.
#[derive(Debug, Clone)]
struct ModeModel {
    head_dimmer: Option<Level>,
    scopes: Vec<Scope>,
    terms: Vec<Term>,
    /// The common case as one contiguous byte sum: 8-bit emitters in one
    /// run of slots, equal weights, the same count per scope and no cell
    /// dimmers (an RGB pixel bar, an RGBW flood). Then
    /// `load = head × Σ bytes × scale`, a loop the compiler vectorises.
    fast: Option<FastSum>,
}

#[derive(Debug, Clone, Copy)]
struct FastSum {
    start: u16,
    end: u16,
    /// 1 / (255 × emitters per scope × scopes).
    scale: f32,
}

fn fast_sum(scopes: &[Scope], terms: &[Term]) -> Option<FastSum> {
    let per = scopes.first()?.terms.len();
    if per == 0 {
        return None;
    }
    for s in scopes {
        if s.dimmer.is_some() || s.terms.len() != per {
            return None;
        }
        let ts = &terms[s.terms.start as usize..s.terms.end as usize];
        if ts
            .iter()
            .any(|t| t.level.fine != NO_FINE || (t.weight - ts[0].weight).abs() > 1e-6)
        {
            return None;
        }
    }
    let mut slots: Vec<u16> = terms.iter().map(|t| t.level.coarse).collect();
    slots.sort_unstable();
    let start = *slots.first()?;
    if slots
        .iter()
        .enumerate()
        .any(|(i, &s)| s as usize != start as usize + i)
    {
        return None;
    }
    Some(FastSum {
        start,
        end: start + slots.len() as u16,
        scale: 1.0 / (255.0 * per as f32 * scopes.len() as f32),
    })
}

/// One fixture's constants.
#[derive(Debug, Clone, Copy)]
struct FixtureModel {
    profile: u32,
    mode: u32,
    universe: u32,
    /// 0-based slot of the fixture's first channel.
    base: u16,
    /// Whether an output sends the fixture's universe.
    sent: bool,
    standby_w: f32,
    span_w: f32,
    /// Exponent of the dimmer curve: DMX ≈ intensity^k (budget prediction).
    k: f32,
}

/// The power model of one site, built once per configuration.
#[derive(Debug, Clone)]
pub struct PowerModel {
    fixtures: Vec<FixtureModel>,
    /// Every mode of every profile; fixtures index into it.
    modes: Vec<ModeModel>,
    /// Power curves per profile (empty = linear), copied so the model
    /// needs no site reference per frame.
    curves: Vec<Vec<(f32, f32)>>,
    universes: Vec<u16>,
}

fn level_of(channels: &[crate::fixture::Channel], role: Role, cell: Option<u16>) -> Option<Level> {
    let coarse = channels
        .iter()
        .find(|c| c.role == role && c.cell == cell && !c.fine)?;
    let fine = channels
        .iter()
        .find(|c| c.role == role && c.cell == cell && c.fine)
        .map_or(NO_FINE, |c| c.offset);
    Some(Level {
        coarse: coarse.offset,
        fine,
    })
}

fn mode_model(profile: &crate::fixture::Profile, mode: &crate::fixture::Mode) -> ModeModel {
    let head_dimmer = level_of(&mode.channels, Role::Dimmer, None);
    let scope_cells: Vec<Option<u16>> = if mode.pixel {
        (0..mode.cells).map(Some).collect()
    } else {
        vec![None]
    };
    let mut terms = Vec::new();
    let mut scopes = Vec::with_capacity(scope_cells.len());
    for cell in scope_cells {
        let start = terms.len() as u32;
        let mut total = 0.0f32;
        for ch in mode.channels.iter().filter(|c| c.cell == cell && !c.fine) {
            if let Some(i) = ch.role.emitter_index() {
                let w = profile.emitter_weights[i].max(0.0);
                let fine = mode
                    .channels
                    .iter()
                    .find(|c| c.role == ch.role && c.cell == cell && c.fine)
                    .map_or(NO_FINE, |c| c.offset);
                terms.push(Term {
                    level: Level {
                        coarse: ch.offset,
                        fine,
                    },
                    weight: w,
                });
                total += w;
            }
        }
        if total > 0.0 {
            for t in &mut terms[start as usize..] {
                t.weight /= total;
            }
        } else {
            // Emitters that draw nothing by weight: the scope is all dimmer.
            terms.truncate(start as usize);
        }
        let dimmer = if mode.pixel {
            level_of(&mode.channels, Role::Dimmer, cell)
        } else {
            None
        };
        scopes.push(Scope {
            dimmer,
            terms: start..terms.len() as u32,
        });
    }
    let fast = fast_sum(&scopes, &terms);
    ModeModel {
        head_dimmer,
        scopes,
        terms,
        fast,
    }
}

impl PowerModel {
    /// Precompute the model of a site.
    pub fn new(site: &Site) -> PowerModel {
        let mut modes = Vec::new();
        let mut mode_index = Vec::with_capacity(site.profiles.len());
        for p in &site.profiles {
            let mut idx = Vec::with_capacity(p.modes.len());
            for m in &p.modes {
                idx.push(modes.len() as u32);
                modes.push(mode_model(p, m));
            }
            mode_index.push(idx);
        }
        let sent: std::collections::BTreeSet<u16> = site
            .outputs
            .iter()
            .flat_map(|o| o.universes.iter().copied())
            .collect();
        let fixtures = site
            .fixtures
            .iter()
            .map(|f| {
                // A compiled site always resolves these; a fixture that did
                // not would read as standby only (mode u32::MAX), not panic.
                let p = site.profiles.get(f.profile);
                let standby = p.map_or(0.0, |p| p.standby_w.max(0.0));
                let power = p.map_or(0.0, |p| p.power_w);
                FixtureModel {
                    profile: f.profile as u32,
                    mode: mode_index
                        .get(f.profile)
                        .and_then(|m: &Vec<u32>| m.get(f.mode))
                        .copied()
                        .unwrap_or(u32::MAX),
                    universe: f.universe_index,
                    base: f.address.saturating_sub(1),
                    sent: sent.contains(&f.universe),
                    standby_w: standby as f32,
                    span_w: (power - standby).max(0.0) as f32,
                    k: match p.map(|p| p.dimmer_curve) {
                        Some(DimmerCurve::Square) => 2.0,
                        Some(DimmerCurve::Gamma(g)) => g,
                        _ => 1.0,
                    },
                }
            })
            .collect();
        PowerModel {
            fixtures,
            modes,
            curves: site
                .profiles
                .iter()
                .map(|p| p.power_curve.clone())
                .collect(),
            universes: site.universes.clone(),
        }
    }

    /// Number of fixtures the model covers.
    pub(crate) fn len(&self) -> usize {
        self.fixtures.len()
    }

    /// Standby watts of fixture `f`.
    pub(crate) fn standby_w(&self, f: usize) -> f32 {
        self.fixtures.get(f).map_or(0.0, |m| m.standby_w)
    }

    /// Full watts of fixture `f` (every emitter at full).
    pub(crate) fn full_w(&self, f: usize) -> f32 {
        self.fixtures.get(f).map_or(0.0, |m| m.standby_w + m.span_w)
    }

    /// Whether fixture `f` is on a universe an output sends.
    pub fn is_sent(&self, f: usize) -> bool {
        self.fixtures.get(f).is_some_and(|m| m.sent)
    }

    /// Dimmer-curve exponent of fixture `f` (load ∝ scale^k).
    pub(crate) fn exponent(&self, f: usize) -> f32 {
        self.fixtures.get(f).map_or(1.0, |m| m.k)
    }

    /// Watts of fixture `f` at `load` through its profile's power curve.
    #[inline]
    pub(crate) fn watts_at(&self, f: usize, load: f32) -> f32 {
        match self.fixtures.get(f) {
            Some(m) => {
                m.standby_w
                    + m.span_w
                        * power_fraction(
                            self.curves
                                .get(m.profile as usize)
                                .map_or(&[][..], |c| &c[..]),
                            load,
                        )
            }
            None => 0.0,
        }
    }

    /// Load (0..=1) of fixture `f` in `frame`.
    #[inline]
    pub(crate) fn load(&self, f: usize, frame: &Frame) -> f32 {
        let Some(m) = self.fixtures.get(f) else {
            return 0.0;
        };
        if !m.sent {
            return 0.0;
        }
        let Some(mode) = self.modes.get(m.mode as usize) else {
            return 0.0;
        };
        let Some(data) = frame.data.get(m.universe as usize) else {
            return 0.0;
        };
        let d: &[u8] = data.get(m.base as usize..).unwrap_or(&[]);
        let head = mode.head_dimmer.map_or(1.0, |l| l.read(d));
        if head <= 0.0 || mode.scopes.is_empty() {
            return 0.0;
        }
        if let Some(fast) = mode.fast {
            let bytes = d
                .get(fast.start as usize..(fast.end as usize).min(d.len()))
                .unwrap_or(&[]);
            return (head * byte_sum(bytes) as f32 * fast.scale).clamp(0.0, 1.0);
        }
        let mut sum = 0.0f32;
        for s in &mode.scopes {
            let dim = s.dimmer.map_or(1.0, |l| l.read(d));
            if dim <= 0.0 {
                continue;
            }
            let e = if s.terms.is_empty() {
                1.0
            } else {
                let mut acc = 0.0f32;
                for t in &mode.terms[s.terms.start as usize..s.terms.end as usize] {
                    acc += t.weight * t.level.read(d);
                }
                acc
            };
            sum += dim * e;
        }
        (head * sum / mode.scopes.len() as f32).clamp(0.0, 1.0)
    }

    /// The same model without the contiguous-sum shortcut (tests compare).
    /// The model with every fast path off, so tests (here and in the
    /// daemon's energy tests) can compare fast paths against the general one.
    #[doc(hidden)]
    pub fn without_fast_paths(mut self) -> PowerModel {
        for m in &mut self.modes {
            m.fast = None;
        }
        self
    }

    /// Loads and watts of every fixture in `frame`, written into `load` and
    /// `watts` (resized to the fixture count); returns the site total W.
    /// A frame for another universe layout (a configuration switch in
    /// flight) reads as all standby rather than misreading channels.
    pub fn estimate(&self, frame: &Frame, load: &mut Vec<f32>, watts: &mut Vec<f32>) -> f64 {
        load.clear();
        watts.clear();
        load.resize(self.fixtures.len(), 0.0);
        watts.resize(self.fixtures.len(), 0.0);
        let layout_ok = frame.universes == self.universes;
        let mut total = 0.0f64;
        for (f, (l, w)) in load.iter_mut().zip(watts.iter_mut()).enumerate() {
            *l = if layout_ok { self.load(f, frame) } else { 0.0 };
            *w = self.watts_at(f, *l);
            total += *w as f64;
        }
        total
    }
}

/// The sum of `bytes`, in sixteen 16-bit lanes the compiler keeps in SIMD
/// registers (a `u32` per byte unpacks every byte twice: this halves the
/// energy meter's per-frame cost, which reads every channel sent). A lane
/// gains at most 255 per 16 bytes, so blocks of 4,096 bytes cannot
/// overflow it.
#[inline]
fn byte_sum(bytes: &[u8]) -> u32 {
    let mut total = 0u32;
    for block in bytes.chunks(4096) {
        let mut lanes = [0u16; 16];
        let mut chunks = block.chunks_exact(16);
        for chunk in &mut chunks {
            for (lane, &b) in lanes.iter_mut().zip(chunk) {
                *lane += u16::from(b);
            }
        }
        total += lanes.iter().map(|&l| u32::from(l)).sum::<u32>()
            + chunks
                .remainder()
                .iter()
                .map(|&b| u32::from(b))
                .sum::<u32>();
    }
    total
}

/// `Profile::power_fraction` on a bare curve (the model keeps curves per
/// fixture, not profiles).
#[inline]
pub fn power_fraction(curve: &[(f32, f32)], load: f32) -> f32 {
    crate::fixture::curve_fraction(curve, load)
}

#[cfg(test)]
mod tests {
    use super::byte_sum;

    /// The lane sum against the plain one: lengths around the 16-byte
    /// chunks and the 4,096-byte blocks, every byte at 255 (the overflow
    /// case) and a pattern.
    #[test]
    fn byte_sum_is_the_sum() {
        for len in [0, 1, 15, 16, 17, 510, 512, 4095, 4096, 4097, 8192, 10_000] {
            for fill in [|_: usize| 255u8, |i: usize| (i * 37 % 256) as u8] {
                let bytes: Vec<u8> = (0..len).map(fill).collect();
                let plain: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
                assert_eq!(byte_sum(&bytes), plain, "{len} bytes");
            }
        }
    }
}
