//! The patch cut into tiles of consecutive universes and the cells they
//! read, about [`TILE_CELLS`] cells each, so a tile's cells are rendered
//! and its universes mapped while they are still in the core's cache;
//! threads take the next tile as they finish one ([`next_tile`]).

use super::Patch;
use crate::color::Light;
use crate::site::{Site, UNIVERSE_SIZE};
use std::sync::Mutex;

/// Cells a tile holds, about: its light (16 bytes a cell), the layers'
/// per-cell inputs and its DMX stay in a core's L2 cache (512 KiB on this
/// project's reference machine) from being rendered to being mapped.
pub(crate) const TILE_CELLS: usize = 16_384;

/// The patch cut into tiles of consecutive universes and the range of
/// cells they read, ranges in ascending order and covering every cell:
/// tile `k` is cells `cells[k] .. cells[k + 1]` and universes
/// `universes[k] .. universes[k + 1]`, and no fixture of those universes
/// has a cell outside the tile's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tiles {
    pub(super) cells: Vec<u32>,
    pub(super) universes: Vec<u32>,
}

impl Tiles {
    /// Tiles of about `size` cells, cut between universes; None if some
    /// universe has a cell below another cell of a universe before it
    /// (fixtures patched out of cell order), as no cut could then keep
    /// every universe's cells in its tile.
    pub(super) fn new(site: &Site, patch: &Patch, size: usize) -> Option<Tiles> {
        let mut tiles = Tiles {
            cells: vec![0],
            universes: vec![0],
        };
        // The end of the cells read so far, and where the open tile starts.
        let (mut end, mut start) = (0usize, 0usize);
        for u in 0..site.universes.len() {
            let fixtures = &patch.fixtures
                [patch.fixture_starts[u] as usize..patch.fixture_starts[u + 1] as usize];
            let span = fixtures
                .iter()
                // A fixture without cells counts as its first cell: its
                // empty slice of the look must lie in the tile too.
                .map(|&fi| &site.fixtures[fi as usize])
                .map(|f| {
                    (
                        f.first_cell as usize,
                        f.first_cell as usize + f.cell_count as usize,
                    )
                })
                .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
            let Some((lo, hi)) = span else {
                // No fixtures: mapped with the open tile.
                continue;
            };
            if lo < end {
                return None;
            }
            if end - start >= size {
                tiles.cells.push(lo as u32);
                tiles.universes.push(u as u32);
                start = lo;
            }
            end = hi;
        }
        if end > site.cells.len() {
            return None;
        }
        tiles.cells.push(site.cells.len() as u32);
        tiles.universes.push(site.universes.len() as u32);
        Some(tiles)
    }

    pub(super) fn len(&self) -> usize {
        self.cells.len() - 1
    }
}

/// The tiles not yet taken: the next one's index and what is left of the
/// look's cells and the frame's universes, from its start.
pub(super) struct TileCursor<'a> {
    pub(super) next: usize,
    pub(super) lights: &'a mut [Light],
    pub(super) data: &'a mut [[u8; UNIVERSE_SIZE]],
}

pub(super) type TileWork<'a> = (usize, &'a mut [Light], &'a mut [[u8; UNIVERSE_SIZE]]);

/// Take the next tile: its index, its cells and its universes.
pub(super) fn next_tile<'a>(work: &Mutex<TileCursor<'a>>, tiles: &Tiles) -> Option<TileWork<'a>> {
    let mut w = work.lock().unwrap_or_else(|p| p.into_inner());
    let k = w.next;
    if k >= tiles.len() {
        return None;
    }
    w.next += 1;
    let cells = (tiles.cells[k + 1] - tiles.cells[k]) as usize;
    let universes = (tiles.universes[k + 1] - tiles.universes[k]) as usize;
    let (part, rest) = std::mem::take(&mut w.lights).split_at_mut(cells);
    w.lights = rest;
    let (data, rest) = std::mem::take(&mut w.data).split_at_mut(universes);
    w.data = rest;
    Some((k, part, data))
}
