//! The display colour of fixtures and cells, read back from a DMX frame.
//!
//! One approximation for every picture of the site (the operator page's
//! live map, `nightscape preview`): emitters are summed into sRGB-ish values
//! (white adds to all three, amber to red and green, warm/cool as tinted
//! whites, a dimmer-only fixture shows warm white) and scaled by any
//! dimmer. Reading the frame rather than the look shows what the fixtures
//! were actually sent, masters, curfew caps and power budgets included.
//! Pure: frame in, colours out.

use crate::engine::Frame;
use crate::fixture::Role;
use crate::site::Site;

const WARM: [f32; 3] = [1.0, 0.78, 0.5];
const COOL: [f32; 3] = [0.8, 0.9, 1.0];

#[derive(Default, Clone, Copy)]
struct Acc {
    rgb: [f32; 3],
    dimmer: Option<f32>,
    warm: f32,
    cool: f32,
    cct: Option<f32>,
    colour: bool,
}

impl Acc {
    fn add(&mut self, role: Role, v: f32) {
        let mut add = |c: [f32; 3], k: f32| {
            for (x, c) in self.rgb.iter_mut().zip(c) {
                *x += c * k;
            }
            self.colour = true;
        };
        match role {
            Role::Red => add([1.0, 0.0, 0.0], v),
            Role::Green => add([0.0, 1.0, 0.0], v),
            Role::Blue => add([0.0, 0.0, 1.0], v),
            Role::White => add([1.0, 1.0, 1.0], v),
            Role::Amber => add([1.0, 0.75, 0.0], v),
            Role::Uv => add([0.3, 0.0, 0.5], v),
            Role::Warm => {
                self.warm += v;
                self.colour = true;
            }
            Role::Cool => {
                self.cool += v;
                self.colour = true;
            }
            Role::Cct => self.cct = Some(v),
            Role::Dimmer => self.dimmer = Some(v),
            _ => {}
        }
    }

    /// Display colour of this scope, 0..=1 per channel.
    fn rgb(&self) -> [f32; 3] {
        let mut rgb: [f32; 3] =
            std::array::from_fn(|i| self.rgb[i] + WARM[i] * self.warm + COOL[i] * self.cool);
        if !self.colour {
            // A dimmer-only fixture (a tree uplight) or a CCT fixture: white,
            // tinted by the CCT channel where there is one.
            if self.dimmer.is_none() {
                return [0.0; 3];
            }
            let m = self.cct.unwrap_or(0.0);
            rgb = std::array::from_fn(|i| WARM[i] + (COOL[i] - WARM[i]) * m);
        }
        let d = self.dimmer.unwrap_or(1.0);
        rgb.map(|c| (c * d).clamp(0.0, 1.0))
    }
}

/// The display colour of every fixture in `frame`, in patch order; `None`
/// where the frame does not carry the fixture's universe (a frame from
/// before a configuration change).
pub fn fixture_colors(site: &Site, frame: &Frame) -> Vec<Option<[u8; 3]>> {
    site.fixtures
        .iter()
        .map(|f| {
            let cells = fixture_cells(site, frame, f)?;
            let n = cells.len().max(1) as f32;
            let mut sum = [0.0f32; 3];
            for c in &cells {
                for (s, x) in sum.iter_mut().zip(c) {
                    *s += x;
                }
            }
            Some(sum.map(|s| to_u8(s / n)))
        })
        .collect()
}

/// The display colour of every cell of the site (`site.cells` order); cells
/// of a fixture whose universe the frame lacks are black.
pub fn cell_colors(site: &Site, frame: &Frame) -> Vec<[u8; 3]> {
    let mut out = vec![[0u8; 3]; site.cells.len()];
    for f in &site.fixtures {
        let Some(cells) = fixture_cells(site, frame, f) else {
            continue;
        };
        let first = f.first_cell as usize;
        for k in 0..f.cell_count as usize {
            // A non-pixel fixture's cells all show the head.
            let c = cells.get(k).or(cells.first()).copied().unwrap_or([0.0; 3]);
            if let Some(o) = out.get_mut(first + k) {
                *o = c.map(to_u8);
            }
        }
    }
    out
}

fn to_u8(c: f32) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The display colour (0..=1) of each cell of one fixture (one entry for a
/// fixture that is not a pixel fixture); None if its channels are not in
/// the frame.
fn fixture_cells(site: &Site, frame: &Frame, f: &crate::site::Fixture) -> Option<Vec<[f32; 3]>> {
    let data = frame.universe(f.universe)?;
    let mode = site.mode_of(f);
    let base = f.address.checked_sub(1)? as usize;
    let mut head = Acc::default();
    let mut cells = vec![Acc::default(); mode.cells.max(1) as usize];
    for ch in mode.channels.iter().filter(|c| !c.fine) {
        let v = *data.get(base + ch.offset as usize)? as f32 / 255.0;
        match ch.cell {
            Some(c) if mode.pixel => {
                if let Some(acc) = cells.get_mut(c as usize) {
                    acc.add(ch.role, v);
                }
            }
            _ => head.add(ch.role, v),
        }
    }
    if mode.pixel {
        let d = head.dimmer.unwrap_or(1.0);
        Some(
            cells
                .iter()
                .map(|c| c.rgb().map(|x| (x * d).clamp(0.0, 1.0)))
                .collect(),
        )
    } else {
        Some(vec![head.rgb()])
    }
}
