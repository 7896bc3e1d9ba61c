//! `GET /api/surfaces`: the site's surfaces (facades, floors) and where
//! each of their fixtures' cells is on them, so the console can draw a
//! facade as an elevation (u right, v up) and colour it from the live
//! stream's per-fixture cells.
//!
//! Separate from `/api/site` (the plan) because a surface is drawn in its
//! own coordinates, and a site without surfaces answers an empty list.

use super::auth::Viewer;
use super::error::ErrorBody;
use super::ApiState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A fixture on a surface: its index (as in `/api/site` and the live
/// stream) and each cell's `[u, v]` there, metres.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurfaceFixtureView {
    pub index: usize,
    pub name: String,
    /// `[u, v]` per cell, in the order of the live stream's cells.
    pub cells: Vec<[f32; 2]>,
}

/// One surface.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurfaceView {
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
pub struct SurfacesView {
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
