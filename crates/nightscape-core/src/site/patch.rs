//! The patch: paths, then the arrays along them (or on a surface) and the
//! hand-placed fixtures, each with its profile mode, DMX address and place.
//! Arrays come first in file order, auto-addressed from `start` and never
//! split across universes; then the fixtures as written. Each problem is
//! reported at its key and costs only its array or fixture; names and
//! overlaps between them are checked once all are known
//! ([`super::layout`]).

use super::geometry::{heading_vector, Polyline};
use super::{surface, MAX_UNIVERSE, NOT_FINITE, UNIVERSE_SIZE};
use crate::diag::{Diagnostics, Severity, SourceFile, Spanned};
use crate::fixture::Profile;
use serde::Deserialize;
use std::ops::Range;

/// A named polyline on the site plan.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPath {
    /// The path's name, as arrays name it.
    #[schemars(example = &"axis-avenue")]
    pub(super) name: Spanned<String>,
    /// Points `[x, y]` in metres (x east, y north), in the direction of travel.
    #[schemars(example = serde_json::json!([[0, 0], [0, 1200]]))]
    pub(super) points: Spanned<Vec<[f64; 2]>>,
}

/// Identical fixtures along a path, every `spacing` metres, auto-addressed.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArray {
    /// The array's name; its fixtures are `<name>-1`, `<name>-2`, …
    #[schemars(example = &"avenue-poles-east")]
    pub(super) name: Spanned<String>,
    /// The profile: a file name in the profile folder, without `.toml`.
    #[schemars(example = &"rgbw-flood-120w")]
    pub(super) profile: Spanned<String>,
    /// The profile's mode the fixtures are set to.
    #[schemars(example = &"5ch")]
    pub(super) mode: Spanned<String>,
    /// The `[[paths]]` entry the fixtures stand along (or `surface`).
    #[serde(default)]
    #[schemars(example = &"axis-avenue")]
    pub(super) path: Option<Spanned<String>>,
    /// The `[[surfaces]]` entry whose rows and columns the fixtures fill
    /// (instead of `path`), from `at`, `columns` a row `spacing` apart,
    /// `rows` rows `row_spacing` apart.
    #[serde(default)]
    #[schemars(example = &"tower-east")]
    pub(super) surface: Option<Spanned<String>>,
    /// On a surface: the bottom-left fixture's `[u, v]` in metres (default [0, 0]).
    #[serde(default)]
    #[schemars(example = serde_json::json!([0.5, 1]))]
    pub(super) at: Option<[f64; 2]>,
    /// On a surface: fixtures a row (default: as many as fit).
    #[serde(default)]
    #[schemars(example = 30, range(min = 1))]
    pub(super) columns: Option<Spanned<i64>>,
    /// On a surface: rows (default: as many as fit).
    #[serde(default)]
    #[schemars(example = 60, range(min = 1))]
    pub(super) rows: Option<Spanned<i64>>,
    /// On a surface: metres between rows (default: `spacing`).
    #[serde(default)]
    #[schemars(example = 2, range(min = 0))]
    pub(super) row_spacing: Option<Spanned<f64>>,
    /// Metres to the right of the direction of travel (negative: left; default 0).
    #[serde(default)]
    #[schemars(example = 12)]
    pub(super) offset: f64,
    /// Where along the path the first fixture stands, in metres (default 0).
    #[serde(default)]
    #[schemars(example = 10)]
    pub(super) from: Option<f64>,
    /// Where along the path the array ends, in metres (default: the path's end).
    #[serde(default)]
    #[schemars(example = 600)]
    pub(super) to: Option<f64>,
    /// Metres between fixtures.
    #[schemars(example = 30, range(min = 0))]
    pub(super) spacing: Spanned<f64>,
    /// The first fixture's DMX address as "universe.address"; the next
    /// fixtures follow, rolling into the next universe.
    #[schemars(example = &"0.1", regex(pattern = ADDRESS_PATTERN))]
    pub(super) start: Spanned<String>,
    /// Pixel fixtures: the length in metres their cells are spread over (default 1).
    #[serde(default)]
    #[schemars(example = 1, range(min = 0))]
    pub(super) length: Option<Spanned<f64>>,
    /// Compass heading of the fixtures' cells (default: along the path).
    #[serde(default)]
    #[schemars(example = 90)]
    pub(super) heading: Option<f64>,
}

/// A DMX address as "universe.address".
const ADDRESS_PATTERN: &str = r"^\s*[0-9]+\s*\.\s*[0-9]+\s*$";

/// One hand-placed fixture.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFixture {
    /// The fixture's name (targets and groups refer to it).
    #[schemars(example = &"tower-beacon")]
    pub(super) name: Spanned<String>,
    /// The profile: a file name in the profile folder, without `.toml`.
    #[schemars(example = &"searchlight-moving-1200w")]
    pub(super) profile: Spanned<String>,
    /// The profile's mode the fixture is set to.
    #[schemars(example = &"16ch")]
    pub(super) mode: Spanned<String>,
    /// Position `[x, y]` on the site plan in metres (x east, y north), or
    /// `[u, v]` on its `surface` (u right, v up).
    #[schemars(example = serde_json::json!([100, 620]))]
    pub(super) at: [f64; 2],
    /// The `[[surfaces]]` entry the fixture is on (then `at` is `[u, v]`
    /// there and `heading` reads 0 up, 90 right).
    #[serde(default)]
    #[schemars(example = &"tower-east")]
    pub(super) surface: Option<Spanned<String>>,
    /// DMX address as "universe.address": universe 0..32767, address 1..512.
    #[schemars(example = &"3.1", regex(pattern = ADDRESS_PATTERN))]
    pub(super) address: Spanned<String>,
    /// Compass heading of a pixel fixture's cells (degrees, 0 = north).
    #[serde(default)]
    #[schemars(example = 90)]
    pub(super) heading: Option<f64>,
    /// Length over which a pixel fixture's cells are spread (metres).
    #[serde(default)]
    #[schemars(example = 1, range(min = 0))]
    pub(super) length: Option<Spanned<f64>>,
}

/// Parse "universe.address" (e.g. "5.1"): universe 0..=32767, address 1..=512.
pub(crate) fn parse_address(text: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!("`{text}` is not a DMX address: write universe.address, like \"0.1\" or \"5.257\"")
    };
    let (u, a) = text.trim().split_once('.').ok_or_else(bad)?;
    let u: i64 = u.trim().parse().map_err(|_| bad())?;
    let a: i64 = a.trim().parse().map_err(|_| bad())?;
    if !(0..=MAX_UNIVERSE as i64).contains(&u) {
        return Err(format!(
            "universe {u} is out of range: universes are 0..{MAX_UNIVERSE}"
        ));
    }
    if !(1..=UNIVERSE_SIZE as i64).contains(&a) {
        return Err(format!(
            "address {a} is out of range: DMX addresses are 1..512"
        ));
    }
    Ok((u as u16, a as u16))
}

/// Everything the patch needs while being built.
pub(super) struct Pending {
    pub(super) name: String,
    pub(super) name_span: Range<usize>,
    pub(super) profile: usize,
    pub(super) mode: usize,
    pub(super) universe: u16,
    pub(super) address: u16,
    pub(super) position: [f64; 2],
    pub(super) heading: [f64; 2],
    pub(super) length: f64,
    pub(super) path_distance: Option<f64>,
    /// Where on a surface, for fixtures placed on one.
    pub(super) surface: Option<surface::Spot>,
}

/// The `[[paths]]` tables, each a polyline of at least two points.
pub(super) fn compile_paths(
    file: &SourceFile,
    raw: &[Spanned<RawPath>],
    diags: &mut Diagnostics,
) -> Vec<Polyline> {
    let mut paths: Vec<Polyline> = Vec::new();
    for p in raw {
        let rp = p.get_ref();
        if paths.iter().any(|q| q.name == *rp.name.get_ref()) {
            diags.error(
                file,
                rp.name.span(),
                format!("path `{}` is defined twice", rp.name.get_ref()),
            );
            continue;
        }
        if rp.points.get_ref().len() < 2 {
            diags.error(file, rp.points.span(), "a path needs at least two points");
            continue;
        }
        if !rp.points.get_ref().iter().flatten().all(|v| v.is_finite()) {
            diags.error(file, rp.points.span(), NOT_FINITE);
            continue;
        }
        let pts = rp.points.get_ref();
        if pts.iter().all(|p| *p == pts[0]) {
            // A path of length 0 would place a whole array on one spot.
            // It is still defined below (the load fails anyway), so the
            // arrays along it and the groups of those are not reported
            // as a consequence.
            diags.error(
                file,
                rp.points.span(),
                format!(
                    "all {} points of path `{}` are the same ({}, {}): a path needs two different points",
                    pts.len(),
                    rp.name.get_ref(),
                    pts[0][0],
                    pts[0][1]
                ),
            );
        }
        paths.push(Polyline::new(
            rp.name.get_ref().clone(),
            rp.points.get_ref().clone(),
        ));
    }
    paths
}

/// What the patch reads besides the arrays and fixtures themselves.
#[derive(Clone, Copy)]
pub(super) struct Patcher<'a> {
    pub(super) file: &'a SourceFile,
    /// The usable profiles of the library.
    pub(super) profiles: &'a [Profile],
    /// Keys of profile files with errors (reported in those files).
    pub(super) broken: &'a [String],
    pub(super) paths: &'a [Polyline],
    pub(super) surfaces: &'a [surface::Surface],
}

/// Patch `arrays` in file order, then the hand-placed `fixtures`. `before`
/// is where this file's diagnostics start (for paths lost to a misspelled
/// key, whose arrays are then not reported again).
pub(super) fn patch(
    lib: Patcher<'_>,
    arrays: &[Spanned<RawArray>],
    fixtures: &[Spanned<RawFixture>],
    before: usize,
    diags: &mut Diagnostics,
) -> Vec<Pending> {
    let lost_paths = lost_paths(lib.file, before, diags);
    let mut pending: Vec<Pending> = Vec::new();
    for a in arrays {
        patch_array(lib, a, &lost_paths, &mut pending, diags);
    }
    for f in fixtures {
        patch_fixture(lib, f, &mut pending, diags);
    }
    pending
}

impl Patcher<'_> {
    /// The profile and mode a table names, as indices into the library;
    /// `None` (reported here, unless the profile is broken) when unknown.
    fn find_profile(
        &self,
        name: &Spanned<String>,
        mode: &Spanned<String>,
        diags: &mut Diagnostics,
    ) -> Option<(usize, usize)> {
        let Patcher {
            file,
            profiles,
            broken,
            ..
        } = *self;
        let Some(pi) = profiles.iter().position(|p| p.key == *name.get_ref()) else {
            if broken.contains(name.get_ref()) {
                return None;
            }
            let known: Vec<&str> = profiles.iter().map(|p| p.key.as_str()).collect();
            diags.error(
                file,
                name.span(),
                format!(
                    "unknown profile `{}` (the library has: {}){}",
                    name.get_ref(),
                    known.join(", "),
                    crate::suggest::hint(name.get_ref(), known.iter().copied())
                ),
            );
            return None;
        };
        let Some(mi) = profiles[pi]
            .modes
            .iter()
            .position(|m| m.name == *mode.get_ref())
        else {
            let known: Vec<&str> = profiles[pi].modes.iter().map(|m| m.name.as_str()).collect();
            diags.error(
                file,
                mode.span(),
                format!(
                    "profile `{}` has no mode `{}` (it has: {}){}",
                    name.get_ref(),
                    mode.get_ref(),
                    known.join(", "),
                    crate::suggest::hint(mode.get_ref(), known.iter().copied())
                ),
            );
            return None;
        };
        Some((pi, mi))
    }
}

/// Paths lost with a misspelled key (`[[path]]`, reported with its
/// did-you-mean): an array on one of them is a follow-on, not another
/// problem. Their names are read from the file only in that case.
fn lost_paths(file: &SourceFile, before: usize, diags: &Diagnostics) -> Vec<String> {
    let keys: Vec<String> = diags.items[before..]
        .iter()
        .filter(|d| d.severity == Severity::Error && d.message.contains("did you mean `paths`?"))
        .filter_map(|d| d.message.split('`').nth(1).map(str::to_string))
        .collect();
    if keys.is_empty() {
        Vec::new()
    } else {
        toml::from_str::<toml::Table>(&file.text)
            .map(|t| {
                keys.iter()
                    .filter_map(|k| t.get(k)?.as_array().cloned())
                    .flatten()
                    .filter_map(|p| p.get("name")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One `[[arrays]]` table into `pending`: along its path, or on its surface.
fn patch_array(
    lib: Patcher<'_>,
    a: &Spanned<RawArray>,
    lost_paths: &[String],
    pending: &mut Vec<Pending>,
    diags: &mut Diagnostics,
) {
    let Patcher {
        file,
        profiles,
        paths,
        surfaces,
        ..
    } = lib;
    let ra = a.get_ref();
    let numbers = [Some(ra.offset), ra.from, ra.to, ra.heading];
    if !numbers.iter().flatten().all(|v| v.is_finite()) {
        diags.error(
            file,
            a.span(),
            format!("array `{}`: {NOT_FINITE}", ra.name.get_ref()),
        );
        return;
    }
    let pm = lib.find_profile(&ra.profile, &ra.mode, diags);
    if let Some(on) = &ra.surface {
        surface::patch_array(
            file,
            ra,
            a.span(),
            on,
            pm,
            surfaces,
            profiles,
            pending,
            diags,
        );
        return;
    }
    let Some(ra_path) = &ra.path else {
        diags.error(
            file,
            a.span(),
            format!(
                "array `{}` needs a `path` to stand along (or a `surface` to fill)",
                ra.name.get_ref()
            ),
        );
        return;
    };
    let path = paths.iter().find(|p| p.name == *ra_path.get_ref());
    if path.is_none() && !lost_paths.contains(ra_path.get_ref()) {
        diags.error(
            file,
            ra_path.span(),
            format!(
                "unknown path `{}`{}",
                ra_path.get_ref(),
                crate::suggest::hint(ra_path.get_ref(), paths.iter().map(|p| p.name.as_str()))
            ),
        );
    }
    let spacing = *ra.spacing.get_ref();
    if !(spacing.is_finite() && spacing > 0.0) {
        diags.error(
            file,
            ra.spacing.span(),
            "spacing must be more than 0 metres",
        );
    }
    let start = parse_address(ra.start.get_ref())
        .map_err(|m| diags.error(file, ra.start.span(), m))
        .ok();
    let (Some((pi, mi)), Some(path), Some((mut universe, mut address))) = (pm, path, start) else {
        return;
    };
    if !(spacing.is_finite() && spacing > 0.0) {
        return;
    }
    let from = ra.from.unwrap_or(0.0).max(0.0);
    let to = ra.to.unwrap_or(path.length()).min(path.length());
    if to < from {
        diags.error(
            file,
            a.span(),
            format!(
                "array `{}` runs from {from} m to {to} m: `to` must not be before `from`",
                ra.name.get_ref()
            ),
        );
        return;
    }
    let count = ((to - from) / spacing + 1e-9).floor() as usize + 1;
    // A typo like spacing = 0.001 would otherwise patch millions of
    // fixtures; no real array is longer than this.
    const MAX_ARRAY: usize = 100_000;
    if count > MAX_ARRAY {
        diags.error(
            file,
            ra.spacing.span(),
            format!(
                "array `{}` would hold {count} fixtures: more than {MAX_ARRAY}, check `spacing`",
                ra.name.get_ref()
            ),
        );
        return;
    }
    if let Some(l) = &ra.length {
        if !l.get_ref().is_finite() || *l.get_ref() < 0.0 {
            diags.error(file, l.span(), "length must be 0 metres or more");
            return;
        }
    }
    let footprint = profiles[pi].modes[mi].footprint;
    for i in 0..count {
        let s = from + i as f64 * spacing;
        let (pt, dir) = path.at(s);
        // Offset to the right of the direction of travel.
        let normal = [dir[1], -dir[0]];
        // Auto-addressing never splits a fixture across universes.
        if address as usize + footprint as usize - 1 > UNIVERSE_SIZE {
            universe += 1;
            address = 1;
        }
        if universe > MAX_UNIVERSE {
            diags.error(
                file,
                ra.start.span(),
                format!(
                    "array `{}` runs past universe {MAX_UNIVERSE}",
                    ra.name.get_ref()
                ),
            );
            break;
        }
        pending.push(Pending {
            name: format!("{}-{:03}", ra.name.get_ref(), i + 1),
            name_span: ra.name.span(),
            profile: pi,
            mode: mi,
            universe,
            address,
            position: [pt[0] + normal[0] * ra.offset, pt[1] + normal[1] * ra.offset],
            heading: ra.heading.map(heading_vector).unwrap_or(dir),
            length: ra.length.as_ref().map(|l| *l.get_ref()).unwrap_or(1.0),
            path_distance: Some(s),
            surface: None,
        });
        address += footprint;
    }
}

/// One hand-placed `[[fixtures]]` table into `pending`.
fn patch_fixture(
    lib: Patcher<'_>,
    f: &Spanned<RawFixture>,
    pending: &mut Vec<Pending>,
    diags: &mut Diagnostics,
) {
    let Patcher {
        file,
        surfaces,
        profiles,
        ..
    } = lib;
    let rf = f.get_ref();
    if !(rf.at.iter().all(|v| v.is_finite()) && rf.heading.is_none_or(f64::is_finite)) {
        diags.error(
            file,
            f.span(),
            format!("fixture `{}`: {NOT_FINITE}", rf.name.get_ref()),
        );
        return;
    }
    let pm = lib.find_profile(&rf.profile, &rf.mode, diags);
    let addr = parse_address(rf.address.get_ref())
        .map_err(|m| diags.error(file, rf.address.span(), m))
        .ok();
    let (Some((pi, mi)), Some((universe, address))) = (pm, addr) else {
        return;
    };
    let footprint = profiles[pi].modes[mi].footprint as usize;
    if address as usize + footprint - 1 > UNIVERSE_SIZE {
        diags.error(
            file,
            rf.address.span(),
            format!(
                "fixture `{}` does not fit its universe: {} channels from address {address} end at {}, a universe has 512",
                rf.name.get_ref(),
                footprint,
                address as usize + footprint - 1
            ),
        );
        return;
    }
    if let Some(l) = &rf.length {
        if !l.get_ref().is_finite() || *l.get_ref() < 0.0 {
            diags.error(file, l.span(), "length must be 0 metres or more");
        }
    }
    let (position, heading, spot) = match &rf.surface {
        None => (rf.at, heading_vector(rf.heading.unwrap_or(90.0)), None),
        Some(on) => {
            let Some(k) = surface::find(file, surfaces, on, diags) else {
                return;
            };
            let (position, heading, spot) = surface::place_fixture(
                file,
                surfaces,
                k,
                rf.at,
                rf.heading,
                f.span(),
                rf.name.get_ref(),
                diags,
            );
            (position, heading, Some(spot))
        }
    };
    pending.push(Pending {
        name: rf.name.get_ref().clone(),
        name_span: rf.name.span(),
        profile: pi,
        mode: mi,
        universe,
        address,
        position,
        heading,
        length: rf.length.as_ref().map(|l| *l.get_ref()).unwrap_or(1.0),
        path_distance: None,
        surface: spot,
    });
}
