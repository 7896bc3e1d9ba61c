//! The patch laid out: each fixture's name unique and its channels its
//! own, the site's universes (everything sent plus everything patched; a
//! patched universe no output sends is a warning), and every fixture's
//! cells spread over its length, centred on its position.

use super::patch::Pending;
use super::{surface, Cell, Fixture, OutputConfig, UNIVERSE_SIZE};
use crate::diag::{Diagnostics, Severity, SourceFile};
use crate::fixture::Profile;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The patch as the site keeps it.
pub(super) struct Layout {
    pub(super) fixtures: Vec<Fixture>,
    pub(super) cells: Vec<Cell>,
    /// Every universe sent or patched, sorted.
    pub(super) universes: Vec<u16>,
    pub(super) surface_cells: surface::SurfaceCells,
    pub(super) fixture_index: HashMap<String, u32>,
}

/// Check and lay out `pending` (arrays first, then hand-placed fixtures).
/// `before` is where this file's diagnostics start: with an error among
/// them, unsent universes are not warned about (likely follow-ons).
pub(super) fn lay_out(
    file: &SourceFile,
    pending: Vec<Pending>,
    profiles: &[Profile],
    outputs: &[OutputConfig],
    before: usize,
    diags: &mut Diagnostics,
) -> Layout {
    // Names are unique; addresses do not overlap.
    let mut fixture_index: HashMap<String, u32> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        if fixture_index.insert(p.name.clone(), i as u32).is_some() {
            diags.error(
                file,
                p.name_span.clone(),
                format!("fixture name `{}` is used twice", p.name),
            );
        }
    }
    let mut occupancy: HashMap<u16, Vec<Option<u32>>> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        let footprint = profiles[p.profile].modes[p.mode].footprint as usize;
        let slots = occupancy
            .entry(p.universe)
            .or_insert_with(|| vec![None; UNIVERSE_SIZE]);
        let start = p.address as usize - 1;
        let end = (start + footprint).min(UNIVERSE_SIZE);
        if let Some(other) = slots[start..end].iter().flatten().next().copied() {
            let o = &pending[other as usize];
            diags.error(
                file,
                p.name_span.clone(),
                format!(
                    "`{}` at {}.{} overlaps `{}` at {}.{} (channels {}..{} of universe {})",
                    p.name,
                    p.universe,
                    p.address,
                    o.name,
                    o.universe,
                    o.address,
                    start + 1,
                    end,
                    p.universe
                ),
            );
            continue;
        }
        for s in &mut slots[start..end] {
            *s = Some(i as u32);
        }
    }

    // Universes: everything sent plus everything patched.
    let mut universe_set: BTreeSet<u16> = outputs
        .iter()
        .flat_map(|o| o.universes.iter().copied())
        .collect();
    let sent = universe_set.clone();
    let mut unsent: BTreeMap<u16, (usize, &Pending)> = BTreeMap::new();
    for p in &pending {
        if !sent.contains(&p.universe) {
            unsent.entry(p.universe).or_insert((0, p)).0 += 1;
        }
        universe_set.insert(p.universe);
    }
    // With an error already in the file (an output that did not compile,
    // most often), a universe without a sender is likely its follow-on:
    // said once the file loads, if still true.
    let erred = diags.items[before..]
        .iter()
        .any(|d| d.severity == Severity::Error);
    for (u, (count, first)) in unsent.into_iter().filter(|_| !erred) {
        diags.warn(
            file,
            first.name_span.clone(),
            format!(
                "universe {u} is patched ({count} fixture{}, first `{}`) but no output sends it",
                if count == 1 { "" } else { "s" },
                first.name
            ),
        );
    }
    let universes: Vec<u16> = universe_set.into_iter().collect();

    // Fixtures and cells.
    let mut fixtures = Vec::with_capacity(pending.len());
    let mut cells = Vec::new();
    let mut surface_cells = surface::SurfaceCells::default();
    let mut offsets: Vec<f64> = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        let mode = &profiles[p.profile].modes[p.mode];
        let n = mode.cells;
        let first_cell = cells.len() as u32;
        offsets.clear();
        for c in 0..n {
            // Cells spread evenly over the fixture's length, centred on it.
            let t = if n > 1 {
                (c as f64 + 0.5) / n as f64 - 0.5
            } else {
                0.0
            } * p.length;
            offsets.push(t);
            cells.push(Cell {
                fixture: i as u32,
                position: [
                    (p.position[0] + p.heading[0] * t) as f32,
                    (p.position[1] + p.heading[1] * t) as f32,
                ],
                path_distance: p.path_distance.map(|d| (d + t) as f32).unwrap_or(f32::NAN),
            });
        }
        surface_cells.push_fixture(p.surface, &offsets, first_cell as usize);
        fixtures.push(Fixture {
            universe_index: universes.binary_search(&p.universe).unwrap_or(0) as u32,
            name: p.name,
            profile: p.profile,
            mode: p.mode,
            universe: p.universe,
            address: p.address,
            position: p.position,
            path_distance: p.path_distance,
            first_cell,
            cell_count: n,
        });
    }
    Layout {
        fixtures,
        cells,
        universes,
        surface_cells,
        fixture_index,
    }
}
