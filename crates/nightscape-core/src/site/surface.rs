//! Surfaces: a facade or a plaza floor with 2-D coordinates of its own, so
//! pixels are placed where they are on the building instead of faking
//! height in plan.
//!
//! ```toml
//! [[surfaces]]
//! name = "tower-east"   # a facade: origin at its bottom-left corner in plan
//! origin = [80, 600]    # metres, plan coordinates
//! heading = 90          # the facade's "right", degrees from north
//! width = 60            # metres
//! height = 120
//! ```
//!
//! A fixture with `surface = "tower-east"` reads its `at = [u, v]` on the
//! surface (metres, u to the right, v up) and its `heading` there too (0
//! up, 90 right: the default spreads a pixel bar's cells to the right).
//! An array with `surface` instead of `path` fills rows and columns of the
//! surface from its `at` (its bottom-left fixture): `columns` fixtures a
//! row `spacing` apart, `rows` rows `row_spacing` apart, auto-addressed
//! row by row from the bottom. In plan such a fixture stands where the
//! facade is (u along its heading; v, the height, does not move it), so
//! every plan effect keeps working on it; a media layer places pictures on
//! the surface's own coordinates instead ([`crate::show`]).
//!
//! A floor (`kind = "floor"`) lies flat: v runs to the left of its
//! heading, and both coordinates move a fixture in plan.

use super::geometry::heading_vector;
use super::{Pending, UNIVERSE_SIZE};
use crate::diag::{Diagnostics, SourceFile, Spanned};
use serde::Deserialize;

/// Whether a surface stands or lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// Vertical: v is height, not seen in plan.
    Facade,
    /// Horizontal: v runs to the left of the heading, in plan.
    Floor,
}

/// A compiled surface.
#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    pub name: String,
    pub kind: SurfaceKind,
    /// The bottom-left corner in plan (metres).
    pub origin: [f64; 2],
    /// Compass degrees of the surface's "right" (u).
    pub heading: f64,
    pub width: f64,
    pub height: f64,
}

impl Surface {
    /// Plan position of surface point (u, v).
    pub(crate) fn to_plan(&self, uv: [f64; 2]) -> [f64; 2] {
        let r = heading_vector(self.heading);
        let mut p = [self.origin[0] + r[0] * uv[0], self.origin[1] + r[1] * uv[0]];
        if self.kind == SurfaceKind::Floor {
            let up = heading_vector(self.heading - 90.0);
            p[0] += up[0] * uv[1];
            p[1] += up[1] * uv[1];
        }
        p
    }

    /// The plan direction of a direction written on the surface (compass
    /// style: 0 up, 90 right); up on a facade has no plan direction, so a
    /// vertical bar's cells share their plan spot.
    fn plan_direction(&self, on_surface: [f64; 2]) -> [f64; 2] {
        let r = heading_vector(self.heading);
        let mut d = [r[0] * on_surface[0], r[1] * on_surface[0]];
        if self.kind == SurfaceKind::Floor {
            let up = heading_vector(self.heading - 90.0);
            d[0] += up[0] * on_surface[1];
            d[1] += up[1] * on_surface[1];
        }
        d
    }
}

/// Where a patched fixture stands on its surface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spot {
    pub surface: u16,
    /// The fixture's centre (u, v).
    pub uv: [f64; 2],
    /// The direction its cells spread along, in (u, v) (unit length).
    pub dir: [f64; 2],
}

/// One cell's place on a surface ([`super::Site::surface_of_cell`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnSurface {
    pub surface: u16,
    pub uv: [f32; 2],
}

const NONE: u16 = u16::MAX;

/// Per cell, the surface it is on (empty when no fixture is on one).
#[derive(Debug, Clone, Default)]
pub struct SurfaceCells {
    cells: Vec<OnSurface>,
}

impl SurfaceCells {
    pub(crate) fn get(&self, cell: u32) -> Option<OnSurface> {
        self.cells
            .get(cell as usize)
            .copied()
            .filter(|c| c.surface != NONE)
    }

    /// Record the cells of one fixture (`t`: each cell's offset along the
    /// fixture, metres), called in cell order.
    pub(crate) fn push_fixture(
        &mut self,
        spot: Option<Spot>,
        offsets: &[f64],
        cells_before: usize,
    ) {
        match spot {
            None if self.cells.is_empty() => {}
            None => self.cells.extend(offsets.iter().map(|_| OnSurface {
                surface: NONE,
                uv: [0.0; 2],
            })),
            Some(s) => {
                if self.cells.len() < cells_before {
                    self.cells.resize(
                        cells_before,
                        OnSurface {
                            surface: NONE,
                            uv: [0.0; 2],
                        },
                    );
                }
                self.cells.extend(offsets.iter().map(|&t| OnSurface {
                    surface: s.surface,
                    uv: [
                        (s.uv[0] + s.dir[0] * t) as f32,
                        (s.uv[1] + s.dir[1] * t) as f32,
                    ],
                }));
            }
        }
    }
}

/// One `[[surfaces]]` table.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSurface {
    /// The surface's name, as fixtures and arrays name it with `surface`.
    #[schemars(example = &"tower-east")]
    name: Spanned<String>,
    /// "facade" (standing; the default) or "floor" (lying flat).
    #[serde(default)]
    #[schemars(example = &"facade", extend("enum" = ["facade", "floor"]))]
    kind: Option<Spanned<String>>,
    /// The bottom-left corner `[x, y]` in plan, metres (x east, y north).
    #[schemars(example = serde_json::json!([80, 600]))]
    origin: Spanned<[f64; 2]>,
    /// Compass degrees of the surface's right-hand direction (u).
    #[schemars(example = 90)]
    heading: Spanned<f64>,
    /// Width in metres (along u).
    #[schemars(example = 60, range(min = 0))]
    width: Spanned<f64>,
    /// Height in metres (along v).
    #[schemars(example = 120, range(min = 0))]
    height: Spanned<f64>,
}

/// The `[[surfaces]]` tables, each problem at its key.
pub(super) fn compile(
    file: &SourceFile,
    raw: &[Spanned<RawSurface>],
    diags: &mut Diagnostics,
) -> Vec<Surface> {
    let mut out: Vec<Surface> = Vec::new();
    for s in raw {
        let r = s.get_ref();
        let name = r.name.get_ref().clone();
        if out.iter().any(|o| o.name == name) {
            diags.error(
                file,
                r.name.span(),
                format!("surface `{name}` is defined twice"),
            );
            continue;
        }
        let kind = match r.kind.as_ref().map(|k| k.get_ref().as_str()) {
            None | Some("facade") => SurfaceKind::Facade,
            Some("floor") => SurfaceKind::Floor,
            Some(other) => {
                let span = r.kind.as_ref().map(|k| k.span()).unwrap_or(s.span());
                diags.error(
                    file,
                    span,
                    format!("surface kind `{other}`: use \"facade\" (standing) or \"floor\" (lying flat)"),
                );
                continue;
            }
        };
        let mut ok = true;
        if !r.origin.get_ref().iter().all(|v| v.is_finite()) {
            diags.error(file, r.origin.span(), super::NOT_FINITE);
            ok = false;
        }
        if !r.heading.get_ref().is_finite() {
            diags.error(file, r.heading.span(), super::NOT_FINITE);
            ok = false;
        }
        for (v, what) in [(&r.width, "width"), (&r.height, "height")] {
            if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) {
                diags.error(
                    file,
                    v.span(),
                    format!("a surface's {what} must be more than 0 metres"),
                );
                ok = false;
            }
        }
        if ok {
            out.push(Surface {
                name,
                kind,
                origin: *r.origin.get_ref(),
                heading: *r.heading.get_ref(),
                width: *r.width.get_ref(),
                height: *r.height.get_ref(),
            });
        }
    }
    out
}

/// The surface `name` names, or an error at its span.
pub(super) fn find(
    file: &SourceFile,
    surfaces: &[Surface],
    name: &Spanned<String>,
    diags: &mut Diagnostics,
) -> Option<u16> {
    match surfaces.iter().position(|s| s.name == *name.get_ref()) {
        Some(i) => Some(i as u16),
        None => {
            diags.error(
                file,
                name.span(),
                format!(
                    "unknown surface `{}`{}",
                    name.get_ref(),
                    if surfaces.is_empty() {
                        ": declare it in a [[surfaces]] table".to_string()
                    } else {
                        crate::suggest::hint(
                            name.get_ref(),
                            surfaces.iter().map(|s| s.name.as_str()),
                        )
                    }
                ),
            );
            None
        }
    }
}

/// Warn when a point lies off its surface (likely a swapped u and v).
fn warn_outside(
    file: &SourceFile,
    surface: &Surface,
    uv: [f64; 2],
    span: std::ops::Range<usize>,
    what: &str,
    diags: &mut Diagnostics,
) {
    let tol = 1e-6;
    if uv[0] < -tol || uv[1] < -tol || uv[0] > surface.width + tol || uv[1] > surface.height + tol {
        diags.warn(
            file,
            span,
            format!(
                "{what} at [{}, {}] is off surface `{}` (0..{} wide, 0..{} high)",
                uv[0], uv[1], surface.name, surface.width, surface.height
            ),
        );
    }
}

/// A hand-placed fixture on a surface: its plan position and spot.
#[allow(clippy::too_many_arguments)]
pub(super) fn place_fixture(
    file: &SourceFile,
    surfaces: &[Surface],
    surface: u16,
    at: [f64; 2],
    heading: Option<f64>,
    span: std::ops::Range<usize>,
    name: &str,
    diags: &mut Diagnostics,
) -> ([f64; 2], [f64; 2], Spot) {
    let s = &surfaces[surface as usize];
    warn_outside(file, s, at, span, &format!("fixture `{name}`"), diags);
    let dir = heading_vector(heading.unwrap_or(90.0));
    (
        s.to_plan(at),
        s.plan_direction(dir),
        Spot {
            surface,
            uv: at,
            dir,
        },
    )
}

/// What an array on a surface says, gathered by the site compiler.
pub(super) struct GridArray<'a> {
    pub name: &'a Spanned<String>,
    pub surface: u16,
    pub at: [f64; 2],
    pub spacing: f64,
    pub columns: Option<&'a Spanned<i64>>,
    pub rows: Option<&'a Spanned<i64>>,
    pub row_spacing: Option<&'a Spanned<f64>>,
    pub heading: Option<f64>,
    pub length: f64,
    pub start: (u16, u16),
    pub start_span: std::ops::Range<usize>,
    pub span: std::ops::Range<usize>,
    pub profile: usize,
    pub mode: usize,
    pub footprint: u16,
}

/// The most fixtures one surface array may patch.
const MAX_GRID: i64 = 100_000;

/// Patch an array's rows and columns on its surface, row by row from the
/// bottom, left to right, auto-addressed (never splitting a fixture
/// across universes).
pub(super) fn patch_grid(
    file: &SourceFile,
    surfaces: &[Surface],
    g: GridArray<'_>,
    pending: &mut Vec<Pending>,
    diags: &mut Diagnostics,
) {
    let s = &surfaces[g.surface as usize];
    let count = |v: Option<&Spanned<i64>>,
                 fill: f64,
                 step: f64,
                 what: &str,
                 diags: &mut Diagnostics|
     -> Option<i64> {
        match v {
            Some(c) if (1..=MAX_GRID).contains(c.get_ref()) => Some(*c.get_ref()),
            Some(c) => {
                diags.error(file, c.span(), format!("{what} must be 1..{MAX_GRID}"));
                None
            }
            // As many as fit from `at` to the far edge.
            None => Some(((fill / step + 1e-9).floor() as i64 + 1).clamp(1, MAX_GRID)),
        }
    };
    let row_spacing = match g.row_spacing {
        None => g.spacing,
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => *r.get_ref(),
        Some(r) => {
            diags.error(file, r.span(), "row_spacing must be more than 0 metres");
            return;
        }
    };
    let (Some(columns), Some(rows)) = (
        count(g.columns, s.width - g.at[0], g.spacing, "columns", diags),
        count(g.rows, s.height - g.at[1], row_spacing, "rows", diags),
    ) else {
        return;
    };
    if columns * rows > MAX_GRID {
        diags.error(
            file,
            g.span.clone(),
            format!(
                "array `{}` would hold {columns} × {rows} = {} fixtures: more than {MAX_GRID}",
                g.name.get_ref(),
                columns * rows
            ),
        );
        return;
    }
    let last = [
        g.at[0] + (columns - 1) as f64 * g.spacing,
        g.at[1] + (rows - 1) as f64 * row_spacing,
    ];
    for corner in [g.at, last] {
        warn_outside(
            file,
            s,
            corner,
            g.span.clone(),
            &format!("array `{}`'s fixture", g.name.get_ref()),
            diags,
        );
    }
    let dir = heading_vector(g.heading.unwrap_or(90.0));
    let plan_dir = s.plan_direction(dir);
    let (mut universe, mut address) = g.start;
    let mut i = 0;
    for r in 0..rows {
        for c in 0..columns {
            if address as usize + g.footprint as usize - 1 > UNIVERSE_SIZE {
                universe += 1;
                address = 1;
            }
            if universe > super::MAX_UNIVERSE {
                diags.error(
                    file,
                    g.start_span.clone(),
                    format!(
                        "array `{}` runs past universe {}",
                        g.name.get_ref(),
                        super::MAX_UNIVERSE
                    ),
                );
                return;
            }
            let uv = [
                g.at[0] + c as f64 * g.spacing,
                g.at[1] + r as f64 * row_spacing,
            ];
            i += 1;
            pending.push(Pending {
                name: format!("{}-{:03}", g.name.get_ref(), i),
                name_span: g.name.span(),
                profile: g.profile,
                mode: g.mode,
                universe,
                address,
                position: s.to_plan(uv),
                heading: plan_dir,
                length: g.length,
                path_distance: None,
                surface: Some(Spot {
                    surface: g.surface,
                    uv,
                    dir,
                }),
            });
            address += g.footprint;
        }
    }
}

/// An `[[arrays]]` table with `surface`: its values checked, then its grid
/// patched ([`patch_grid`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn patch_array(
    file: &SourceFile,
    ra: &super::RawArray,
    span: std::ops::Range<usize>,
    on: &Spanned<String>,
    profile_mode: Option<(usize, usize)>,
    surfaces: &[Surface],
    profiles: &[crate::fixture::Profile],
    pending: &mut Vec<Pending>,
    diags: &mut Diagnostics,
) {
    let found = find(file, surfaces, on, diags);
    if let Some(p) = &ra.path {
        diags.error(
            file,
            p.span(),
            "an array stands along a `path` or fills a `surface`, not both",
        );
        return;
    }
    for (given, key) in [
        (ra.from.is_some(), "from"),
        (ra.to.is_some(), "to"),
        (ra.offset != 0.0, "offset"),
    ] {
        if given {
            diags.warn(
                file,
                span.clone(),
                format!("`{key}` has no meaning for an array on a surface (it fills rows and columns from `at`) and is ignored"),
            );
        }
    }
    let spacing = *ra.spacing.get_ref();
    if !(spacing.is_finite() && spacing > 0.0) {
        diags.error(
            file,
            ra.spacing.span(),
            "spacing must be more than 0 metres",
        );
        return;
    }
    let start = super::parse_address(ra.start.get_ref())
        .map_err(|m| diags.error(file, ra.start.span(), m))
        .ok();
    let at = ra.at.unwrap_or([0.0, 0.0]);
    if !at.iter().chain(ra.heading.iter()).all(|v| v.is_finite()) {
        diags.error(file, span, super::NOT_FINITE);
        return;
    }
    let length = match &ra.length {
        Some(l) if !(l.get_ref().is_finite() && *l.get_ref() >= 0.0) => {
            diags.error(file, l.span(), "length must be 0 metres or more");
            return;
        }
        Some(l) => *l.get_ref(),
        None => 1.0,
    };
    let (Some(surface), Some((profile, mode)), Some(start)) = (found, profile_mode, start) else {
        return;
    };
    patch_grid(
        file,
        surfaces,
        GridArray {
            name: &ra.name,
            surface,
            at,
            spacing,
            columns: ra.columns.as_ref(),
            rows: ra.rows.as_ref(),
            row_spacing: ra.row_spacing.as_ref(),
            heading: ra.heading,
            length,
            start,
            start_span: ra.start.span(),
            span,
            profile,
            mode,
            footprint: profiles[profile].modes[mode].footprint,
        },
        pending,
        diags,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facade_and_floor_coordinates_in_plan() {
        let east = Surface {
            name: "e".into(),
            kind: SurfaceKind::Facade,
            origin: [80.0, 600.0],
            heading: 90.0,
            width: 60.0,
            height: 120.0,
        };
        let p = east.to_plan([10.0, 50.0]);
        assert!(
            (p[0] - 90.0).abs() < 1e-9 && (p[1] - 600.0).abs() < 1e-9,
            "{p:?}"
        );
        let floor = Surface {
            kind: SurfaceKind::Floor,
            ..east.clone()
        };
        // Right is east, up (v) is north.
        let p = floor.to_plan([10.0, 5.0]);
        assert!(
            (p[0] - 90.0).abs() < 1e-9 && (p[1] - 605.0).abs() < 1e-9,
            "{p:?}"
        );
    }
}
