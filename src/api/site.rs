//! What the site consists of, read from the configuration in force: its
//! shows (`/api/shows`), groups (`/api/groups`), fixtures with their patch
//! (`/api/fixtures`), the plan the console's map draws (`/api/site`:
//! paths, groups, fixtures and their cells, and the energy caps the map
//! marks) and its surfaces (`/api/surfaces`: facades and floors, each
//! fixture's cells in the surface's own u/v metres, for the elevation).
//!
//! Reads only: every answer is built from `shared.config()` as it is now,
//! so a hot reload shows in the next request. The plan and the surfaces
//! are separate resources because a surface is drawn in its own
//! coordinates, and a site without surfaces answers an empty list.

use super::auth::Viewer;
use super::error::ErrorBody;
use super::views::*;
use super::ApiState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

fn effect_name(e: &nightscape_core::show::effect::Effect) -> String {
    // The name from the effect reference, as show files write it.
    e.name().to_string()
}

/// The site's shows.
#[utoipa::path(get, path = "/api/shows", tag = "site",
    responses((status = 200, body = Vec<ShowView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn shows(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<ShowView>> {
    let cfg = st.shared.config();
    let none_marked = !cfg.shows.values().any(|s| s.scene);
    Json(
        cfg.show_order
            .iter()
            .filter_map(|n| cfg.show(n))
            .map(|s| ShowView {
                name: s.name.clone(),
                scene: s.scene || none_marked,
                fade_in_s: s.fade_in,
                fade_out_s: s.fade_out,
                layers: s
                    .layers
                    .iter()
                    .map(|l| LayerView {
                        target: l.target.clone(),
                        effect: effect_name(&l.effect),
                        level: l.level,
                        fixtures: l.fixtures.len(),
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// The site's groups and their fixtures.
#[utoipa::path(get, path = "/api/groups", tag = "site",
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn groups(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<GroupView>> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    Json(
        site.groups
            .iter()
            .map(|(name, members)| GroupView {
                name: name.clone(),
                fixtures: members
                    .iter()
                    .filter_map(|&i| site.fixtures.get(i as usize).map(|f| f.name.clone()))
                    .collect(),
            })
            .collect(),
    )
}

/// Every fixture with its patch and position.
#[utoipa::path(get, path = "/api/fixtures", tag = "site",
    responses((status = 200, body = Vec<FixtureView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn fixtures(State(st): State<ApiState>, _v: Viewer) -> Json<Vec<FixtureView>> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    let mut groups_of: Vec<Vec<String>> = vec![Vec::new(); site.fixtures.len()];
    for (name, members) in &site.groups {
        for &m in members {
            if let Some(g) = groups_of.get_mut(m as usize) {
                g.push(name.clone());
            }
        }
    }
    Json(
        site.fixtures
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let profile = site.profile_of(f);
                let mode = site.mode_of(f);
                FixtureView {
                    index: i,
                    name: f.name.clone(),
                    profile: profile.key.clone(),
                    profile_name: profile.name.clone(),
                    mode: mode.name.clone(),
                    universe: f.universe,
                    address: f.address,
                    footprint: mode.footprint,
                    position: f.position,
                    cells: f.cell_count,
                    groups: std::mem::take(&mut groups_of[i]),
                }
            })
            .collect(),
    )
}

/// The site plan for the map: paths, groups, fixtures and their cells.
#[utoipa::path(get, path = "/api/site", tag = "site",
    responses((status = 200, body = SiteMapView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn site_map(State(st): State<ApiState>, _v: Viewer) -> Json<SiteMapView> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut grow = |p: [f64; 2]| {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    };
    for p in site.paths.iter().flat_map(|p| p.points.iter()) {
        grow(*p);
    }
    for f in &site.fixtures {
        grow(f.position);
    }
    if !b[0].is_finite() {
        b = [0.0, 0.0, 1.0, 1.0];
    }
    let fixtures = site
        .fixtures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let pixel = site.mode_of(f).pixel && f.cell_count > 1;
            MapFixtureView {
                index: i,
                name: f.name.clone(),
                position: f.position,
                cells: if pixel {
                    let first = f.first_cell as usize;
                    site.cells
                        .get(first..first + f.cell_count as usize)
                        .map(|c| c.iter().map(|c| c.position).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Json(SiteMapView {
        name: site.name.clone(),
        timezone: site.timezone.name().to_string(),
        bounds: b,
        paths: site
            .paths
            .iter()
            .map(|p| PathView {
                name: p.name.clone(),
                points: p.points.clone(),
            })
            .collect(),
        groups: site
            .groups
            .iter()
            .map(|(name, members)| MapGroupView {
                name: name.clone(),
                fixtures: members.clone(),
                max_w: cfg.energy.groups.get(name).and_then(|g| g.max_w),
            })
            .collect(),
        fixtures,
        max_w: cfg.energy.max_w,
        currency: cfg.energy.currency.clone(),
    })
}

/// A fixture on a surface: its index (as in `/api/site` and the live
/// stream) and each cell's `[u, v]` there, metres.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SurfaceFixtureView {
    pub index: usize,
    pub name: String,
    /// `[u, v]` per cell, in the order of the live stream's cells.
    pub cells: Vec<[f32; 2]>,
}

/// One surface.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SurfaceView {
    #[schema(example = "tower-east")]
    pub name: String,
    /// "facade" or "floor".
    #[schema(example = "facade")]
    pub kind: String,
    /// Metres along u (right) and v (up).
    pub width: f64,
    pub height: f64,
    /// Compass degrees of the surface's right-hand direction.
    pub heading: f64,
    pub fixtures: Vec<SurfaceFixtureView>,
}

/// `GET /api/surfaces`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SurfacesView {
    pub surfaces: Vec<SurfaceView>,
}

/// The site's surfaces and the cells on each (for the facade elevation).
#[utoipa::path(get, path = "/api/surfaces", tag = "site",
    responses((status = 200, body = SurfacesView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn surfaces(State(st): State<ApiState>, _v: Viewer) -> Json<SurfacesView> {
    let cfg = st.shared.config();
    let site = &cfg.site;
    let mut out: Vec<SurfaceView> = site
        .surfaces
        .iter()
        .map(|s| SurfaceView {
            name: s.name.clone(),
            kind: match s.kind {
                nightscape_core::site::surface::SurfaceKind::Facade => "facade".into(),
                nightscape_core::site::surface::SurfaceKind::Floor => "floor".into(),
            },
            width: s.width,
            height: s.height,
            heading: s.heading,
            fixtures: Vec::new(),
        })
        .collect();
    for (i, f) in site.fixtures.iter().enumerate() {
        let first = f.first_cell;
        let Some(on) = site.surface_of_cell(first) else {
            continue;
        };
        let cells = (first..first + u32::from(f.cell_count))
            .map(|c| site.surface_of_cell(c).map_or([0.0; 2], |s| s.uv))
            .collect();
        if let Some(s) = out.get_mut(usize::from(on.surface)) {
            s.fixtures.push(SurfaceFixtureView {
                index: i,
                name: f.name.clone(),
                cells,
            });
        }
    }
    Json(SurfacesView { surfaces: out })
}
