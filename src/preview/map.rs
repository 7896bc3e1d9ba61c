//! The site plan at one instant: paths, labelled group zones and every
//! cell as a dot in the colour it shows, north up, to scale (the dots are
//! not: they are sized for the eye, and the legend says so), with a side
//! panel for the caption (instant, night, mode, what plays).

use super::labels::{Label, Rect};
use super::{name_color, text_width, Rgba, Scene, Shape};
use nightscape_core::site::Site;

/// Largest dot radius in pixels.
pub(crate) const MAX_DOT: f32 = 6.0;
const MIN_DOT: f32 = 0.8;
pub(crate) const BACKGROUND: Rgba = Rgba(11, 15, 20, 255);
const INK: Rgba = Rgba(225, 230, 236, 255);
const DIM_INK: Rgba = Rgba(150, 160, 172, 255);
const PATH: Rgba = Rgba(58, 68, 80, 255);
const RING: Rgba = Rgba(80, 90, 102, 255);

/// Where the site lands in the picture.
#[derive(Debug, Clone)]
pub struct MapLayout {
    pub width: u32,
    pub height: u32,
    /// Pixels per metre.
    pub scale: f64,
    /// The plan's turn, counter-clockwise in radians (0: north up): a long,
    /// narrow site is turned to use the picture's width.
    pub rotation: f64,
    min: [f64; 2],
    max_y: f64,
    origin: [f64; 2],
    /// Each cell's centre in pixels (`site.cells` order).
    pub cells: Vec<[f32; 2]>,
    /// Each cell's dot radius in pixels.
    pub radius: Vec<f32>,
    /// Left edge of the caption panel.
    pub panel_x: f32,
    /// Each surface's elevation below the plan (empty for a site without
    /// surfaces, whose picture is then exactly the plan).
    pub elevations: Vec<Elevation>,
    /// Cells on surfaces, drawn again in their elevation.
    pub elevation_cells: Vec<ElevationCell>,
}

/// A surface drawn as itself: its box in pixels (u right, v up, one scale
/// for both so a facade keeps its shape) and its name above it. On a
/// facade the plan shows only a line; this is where its picture shows.
#[derive(Debug, Clone)]
pub struct Elevation {
    pub name: String,
    /// The surface's outline: (0, 0) at its bottom-left corner.
    pub frame: Rect,
    /// Pixels per metre on this surface.
    pub scale: f64,
}

/// One cell at its (u, v) in an elevation.
#[derive(Debug, Clone, Copy)]
pub struct ElevationCell {
    /// Index into `site.cells`.
    pub cell: usize,
    pub at: [f32; 2],
    pub radius: f32,
}

/// Share of the map's height the elevations take when a site has surfaces.
const ELEVATION_SHARE: f64 = 0.34;
/// Room above each elevation for its name.
const ELEVATION_LABEL: f64 = 22.0;

/// Turns tried for the plan, in degrees: north up, else a quarter turn
/// (north to the right), so streets laid out along the site's axes stay
/// along the picture's and group zones (boxes) stay tight.
const TURNS: [f64; 2] = [0.0, -90.0];
/// A turned plan is drawn only when it is this much larger than north up:
/// north up is what people expect, so it must pay for itself.
const TURN_GAIN: f64 = 1.25;

impl MapLayout {
    /// Fit the site into a `width`×`height` picture, leaving a panel on
    /// the right for the caption; the plan is turned when that makes it
    /// at least [`TURN_GAIN`] times larger (the north arrow follows).
    pub fn new(site: &Site, width: u32, height: u32) -> MapLayout {
        let panel = (width as f32 * 0.24)
            .clamp(220.0, 460.0)
            .min(width as f32 * 0.5);
        let margin = 40.0;
        let mut area = [
            (width as f64 - panel as f64 - 2.0 * margin).max(10.0),
            (height as f64 - 2.0 * margin - 30.0).max(10.0),
        ];
        // Elevations take a strip at the bottom of the map area, only when
        // some cell stands on a surface: other sites keep their picture.
        let has_surface_cells = !site.surfaces.is_empty()
            && (0..site.cells.len() as u32).any(|c| site.surface_of_cell(c).is_some());
        let strip = if has_surface_cells {
            let h = (area[1] * ELEVATION_SHARE).round();
            area[1] = (area[1] - h - 20.0).max(10.0);
            h
        } else {
            0.0
        };
        let mut points: Vec<[f64; 2]> = site
            .cells
            .iter()
            .map(|c| [c.position[0] as f64, c.position[1] as f64])
            .chain(site.paths.iter().flat_map(|p| p.points.iter().copied()))
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .collect();
        if points.is_empty() {
            points = vec![[0.0, 0.0], [1.0, 1.0]];
        }
        let fit = |turn: f64| {
            let (s, c) = turn.sin_cos();
            let mut lo = [f64::INFINITY; 2];
            let mut hi = [f64::NEG_INFINITY; 2];
            for p in &points {
                let q = rotate(*p, s, c);
                for k in 0..2 {
                    lo[k] = lo[k].min(q[k]);
                    hi[k] = hi[k].max(q[k]);
                }
            }
            let span = [(hi[0] - lo[0]).max(1.0), (hi[1] - lo[1]).max(1.0)];
            let scale = (area[0] / span[0]).min(area[1] / span[1]);
            (scale, lo, hi, span)
        };
        let upright = fit(0.0);
        let mut best = (0.0, upright);
        for deg in TURNS.iter().skip(1) {
            let turn = deg.to_radians();
            let f = fit(turn);
            if f.0 >= upright.0 * TURN_GAIN && f.0 > (best.1).0 * 1.000_001 {
                best = (turn, f);
            }
        }
        let (rotation, (scale, lo, hi, span)) = best;
        let origin = [
            margin + (area[0] - span[0] * scale) / 2.0,
            margin + 10.0 + (area[1] - span[1] * scale) / 2.0,
        ];
        let mut layout = MapLayout {
            width,
            height,
            scale,
            rotation,
            min: lo,
            max_y: hi[1],
            origin,
            cells: Vec::new(),
            radius: Vec::new(),
            panel_x: width as f32 - panel,
            elevations: Vec::new(),
            elevation_cells: Vec::new(),
        };
        layout.cells = site
            .cells
            .iter()
            .map(|c| layout.px([c.position[0] as f64, c.position[1] as f64]))
            .collect();
        layout.radius = dot_radii(&layout.cells);
        if strip > 0.0 {
            let top = margin + 10.0 + area[1] + 20.0;
            layout.lay_out_elevations(site, [margin, top], [area[0], strip]);
        }
        layout
    }

    /// The surfaces side by side in the strip at `at` (top-left) of `size`
    /// pixels: each in an equal slot, as large as fits, bottoms aligned;
    /// their cells at (u, v), dots sized so none overlap.
    fn lay_out_elevations(&mut self, site: &Site, at: [f64; 2], size: [f64; 2]) {
        let n = site.surfaces.len().max(1);
        let gap = 24.0;
        let slot = ((size[0] - gap * (n - 1) as f64) / n as f64).max(10.0);
        let bottom = at[1] + size[1];
        let box_h = (size[1] - ELEVATION_LABEL).max(10.0);
        for (i, s) in site.surfaces.iter().enumerate() {
            let (w, h) = (s.width.max(0.01), s.height.max(0.01));
            let scale = (slot / w).min(box_h / h);
            let x = at[0] + i as f64 * (slot + gap);
            self.elevations.push(Elevation {
                name: s.name.clone(),
                frame: Rect::new(
                    x as f32,
                    (bottom - h * scale) as f32,
                    (w * scale) as f32,
                    (h * scale) as f32,
                ),
                scale,
            });
        }
        let mut at_px = Vec::new();
        let mut index = Vec::new();
        for c in 0..site.cells.len() {
            let Some(on) = site.surface_of_cell(c as u32) else {
                continue;
            };
            let Some(e) = self.elevations.get(on.surface as usize) else {
                continue;
            };
            let f = e.frame;
            let p = [
                f.x + on.uv[0] * e.scale as f32,
                f.y + f.h - on.uv[1] * e.scale as f32,
            ];
            if p[0].is_finite() && p[1].is_finite() {
                at_px.push(p);
                index.push(c);
            }
        }
        let radius = dot_radii(&at_px);
        self.elevation_cells = index
            .into_iter()
            .zip(at_px)
            .zip(radius)
            .map(|((cell, at), radius)| ElevationCell { cell, at, radius })
            .collect();
    }

    /// A site position (metres, y north) in pixels (y down).
    pub(crate) fn px(&self, p: [f64; 2]) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        let q = rotate(p, s, c);
        [
            (self.origin[0] + (q[0] - self.min[0]) * self.scale) as f32,
            (self.origin[1] + (self.max_y - q[1]) * self.scale) as f32,
        ]
    }

    /// North as a unit vector in pixels (y down): `[0, -1]` when north is up.
    pub(crate) fn north(&self) -> [f32; 2] {
        let (s, c) = self.rotation.sin_cos();
        [-s as f32, -c as f32]
    }
}

/// `p` turned counter-clockwise by the angle whose sine and cosine are given.
fn rotate(p: [f64; 2], s: f64, c: f64) -> [f64; 2] {
    [p[0] * c - p[1] * s, p[0] * s + p[1] * c]
}

/// Radii so that no two dots overlap: 0.45 × the distance to the nearest
/// other dot, at most [`MAX_DOT`]. A grid of buckets keeps it near-linear.
fn dot_radii(cells: &[[f32; 2]]) -> Vec<f32> {
    let reach = MAX_DOT / 0.45;
    let key = |p: [f32; 2]| ((p[0] / reach).floor() as i64, (p[1] / reach).floor() as i64);
    let mut buckets: std::collections::HashMap<(i64, i64), Vec<usize>> = Default::default();
    for (i, p) in cells.iter().enumerate() {
        buckets.entry(key(*p)).or_default().push(i);
    }
    cells
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (bx, by) = key(*p);
            let mut nearest = reach;
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for &j in buckets.get(&(bx + dx, by + dy)).into_iter().flatten() {
                        if j != i {
                            let d = ((cells[j][0] - p[0]).powi(2) + (cells[j][1] - p[1]).powi(2))
                                .sqrt();
                            nearest = nearest.min(d);
                        }
                    }
                }
            }
            (nearest * 0.45).clamp(MIN_DOT, MAX_DOT)
        })
        .collect()
}

/// Size of a zone label's text.
const LABEL_SIZE: f32 = 13.0;
/// Centre of the north arrow, and its half-length.
const NORTH_AT: [f32; 2] = [26.0, 36.0];
const NORTH_LEN: f32 = 13.0;

/// The background of the map: paths, group zones, the north arrow and the
/// zones' labels, placed by [`super::labels::place`] so that they never
/// overlap one another, a fixture or the arrow (a leader line where one
/// stands off; left out where there is no room).
pub(crate) fn draw_plan(site: &Site, layout: &MapLayout, scene: &mut Scene) {
    for p in &site.paths {
        scene.shapes.push(Shape::Line {
            points: p.points.iter().map(|q| layout.px(*q)).collect(),
            color: PATH,
            width: 2.0,
            dashed: false,
        });
    }
    let pad = MAX_DOT + 6.0;
    let mut zones: Vec<(&String, Rect, usize)> = Vec::new();
    for (name, fixtures) in &site.groups {
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for &f in fixtures {
            let Some(f) = site.fixtures.get(f as usize) else {
                continue;
            };
            for c in f.first_cell as usize..f.first_cell as usize + f.cell_count as usize {
                if let Some(p) = layout.cells.get(c) {
                    for k in 0..2 {
                        lo[k] = lo[k].min(p[k]);
                        hi[k] = hi[k].max(p[k]);
                    }
                }
            }
        }
        if !lo[0].is_finite() {
            continue;
        }
        let zone = Rect::new(
            lo[0] - pad,
            lo[1] - pad,
            hi[0] - lo[0] + 2.0 * pad,
            hi[1] - lo[1] + 2.0 * pad,
        );
        scene.shapes.push(Shape::Rect {
            x: zone.x,
            y: zone.y,
            w: zone.w,
            h: zone.h,
            fill: Some(name_color(name, 24)),
            stroke: Some((name_color(name, 190), 1.0)),
        });
        zones.push((name, zone, fixtures.len()));
    }
    draw_elevation_frames(layout, scene);
    let arrow = draw_north(layout, scene);
    let (labels, placed) = place_labels(site, layout, &zones, arrow);
    for ((name, _, _), (l, p)) in zones.iter().zip(labels.iter().zip(placed)) {
        let Some(p) = p else { continue };
        if let Some([from, to]) = p.leader {
            scene.shapes.push(Shape::Line {
                points: vec![from, to],
                color: name_color(name, 160),
                width: 1.0,
                dashed: false,
            });
        }
        scene.shapes.push(Shape::Text {
            x: p.at.x + 1.0,
            y: p.at.y + l.h - 4.0,
            size: LABEL_SIZE,
            color: name_color(name, 255),
            anchor: super::Anchor::Start,
            text: name.to_string(),
        });
    }
}

/// The zone labels and where they go: bigger groups first; every dot (and
/// every fixture's own position, which the night's HTML draws) and the
/// north arrow are obstacles; the map area, not the caption panel, is the
/// bounds.
fn place_labels(
    site: &Site,
    layout: &MapLayout,
    zones: &[(&String, Rect, usize)],
    arrow: Rect,
) -> (Vec<Label>, Vec<Option<super::labels::Placed>>) {
    let labels: Vec<Label> = zones
        .iter()
        .map(|(name, zone, members)| Label {
            w: text_width(name, LABEL_SIZE) + 2.0,
            h: (LABEL_SIZE * 1.25).round(),
            anchor: *zone,
            priority: *members as f32,
        })
        .collect();
    let dot = |p: [f32; 2], r: f32| Rect::new(p[0] - r, p[1] - r, 2.0 * r, 2.0 * r);
    let mut obstacles: Vec<Rect> = layout
        .cells
        .iter()
        .zip(&layout.radius)
        .map(|(p, r)| dot(*p, r + 1.0))
        .collect();
    for f in &site.fixtures {
        let r = layout
            .radius
            .get(f.first_cell as usize)
            .copied()
            .unwrap_or(3.0)
            .max(1.5);
        obstacles.push(dot(layout.px(f.position), r + 1.0));
    }
    obstacles.push(arrow);
    // The elevations (with their names) are no place for a zone's label.
    for e in &layout.elevations {
        let f = e.frame;
        obstacles.push(Rect::new(
            f.x - 4.0,
            f.y - ELEVATION_LABEL as f32,
            f.w + 8.0,
            f.h + ELEVATION_LABEL as f32 + 4.0,
        ));
    }
    let bounds = Rect::new(2.0, 2.0, layout.panel_x - 8.0, layout.height as f32 - 4.0);
    let placed = super::labels::place(&labels, &obstacles, bounds);
    (labels, placed)
}

/// The north arrow in the map's top-left corner, pointing where north is
/// on this (perhaps turned) plan; returns the box it takes.
fn draw_north(layout: &MapLayout, scene: &mut Scene) -> Rect {
    let n = layout.north();
    let c = NORTH_AT;
    let tip = [c[0] + n[0] * NORTH_LEN, c[1] + n[1] * NORTH_LEN];
    let tail = [c[0] - n[0] * NORTH_LEN, c[1] - n[1] * NORTH_LEN];
    // The head: two strokes back from the tip, 30° either side.
    let side = |a: f32| {
        let (s, co) = a.sin_cos();
        let back = [-n[0], -n[1]];
        let d = [back[0] * co - back[1] * s, back[0] * s + back[1] * co];
        [tip[0] + d[0] * 6.0, tip[1] + d[1] * 6.0]
    };
    let a = std::f32::consts::FRAC_PI_6;
    scene.shapes.push(Shape::Line {
        points: vec![tail, tip],
        color: DIM_INK,
        width: 1.5,
        dashed: false,
    });
    scene.shapes.push(Shape::Line {
        points: vec![side(a), tip, side(-a)],
        color: DIM_INK,
        width: 1.5,
        dashed: false,
    });
    // "N" just past the tip.
    let at = [
        c[0] + n[0] * (NORTH_LEN + 9.0),
        c[1] + n[1] * (NORTH_LEN + 9.0) + 4.5,
    ];
    scene.shapes.push(Shape::Text {
        x: at[0],
        y: at[1],
        size: 12.0,
        color: DIM_INK,
        anchor: super::Anchor::Middle,
        text: "N".into(),
    });
    let r = NORTH_LEN + 16.0;
    Rect::new(c[0] - r, c[1] - r, 2.0 * r, 2.0 * r)
}

/// Every cell as a dot in its colour (`colors` in `site.cells` order): a
/// grey ring first so dark cells stay findable, then the fills, which never
/// overlap one another.
pub fn draw_cells(layout: &MapLayout, colors: &[[u8; 3]], scene: &mut Scene) {
    draw_rings(layout, scene);
    draw_fills(layout, colors, scene);
}

/// Each elevation's outline and its surface's name above it.
fn draw_elevation_frames(layout: &MapLayout, scene: &mut Scene) {
    for e in &layout.elevations {
        let f = e.frame;
        scene.shapes.push(Shape::Rect {
            x: f.x,
            y: f.y,
            w: f.w,
            h: f.h,
            fill: None,
            stroke: Some((PATH, 1.0)),
        });
        scene.text(
            f.x,
            f.y - 7.0,
            LABEL_SIZE,
            DIM_INK,
            format!("{} (elevation)", e.name),
        );
    }
}

/// Every dot, in plan and then in the elevations: centre and radius.
fn dots(layout: &MapLayout) -> impl Iterator<Item = ([f32; 2], f32)> + '_ {
    let plan = layout
        .cells
        .iter()
        .copied()
        .zip(layout.radius.iter().copied());
    let elevation = layout.elevation_cells.iter().map(|e| (e.at, e.radius));
    plan.chain(elevation)
}

/// The grey ring under each dot large enough to carry one.
pub(crate) fn draw_rings(layout: &MapLayout, scene: &mut Scene) {
    for (p, r) in dots(layout) {
        if r >= 2.0 {
            scene.shapes.push(Shape::Circle {
                cx: p[0],
                cy: p[1],
                r: r + 1.0,
                fill: RING,
            });
        }
    }
}

/// Each dot's fill in its colour, in plan and in the elevations.
pub(crate) fn draw_fills(layout: &MapLayout, colors: &[[u8; 3]], scene: &mut Scene) {
    for ((p, r), c) in layout.cells.iter().zip(&layout.radius).zip(colors) {
        scene.shapes.push(Shape::Circle {
            cx: p[0],
            cy: p[1],
            r: *r,
            fill: Rgba::rgb(*c),
        });
    }
    for e in &layout.elevation_cells {
        if let Some(c) = colors.get(e.cell) {
            scene.shapes.push(Shape::Circle {
                cx: e.at[0],
                cy: e.at[1],
                r: e.radius,
                fill: Rgba::rgb(*c),
            });
        }
    }
}

/// Where the panel's parts go: the caption between the title and the
/// legend, the legend at the bottom, sized from their wrapped text so the
/// caption never runs into the legend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PanelLayout {
    /// Baseline of the caption's first line.
    pub caption_top: f32,
    /// Top of the legend (its heading's cap height starts below this).
    pub legend_top: f32,
}

const LEGEND_SIZE: f32 = 13.0;
const LEGEND_DOT_TEXT: &str = "fixture / cell, drawn larger than to scale (dots up to 6 px)";
const LEGEND_COLOUR_TEXT: &str = "colour: the DMX sent (as `render`), read back as display colour";

fn panel_x(layout: &MapLayout) -> (f32, f32) {
    let x = layout.panel_x + 10.0;
    let wrap_at = (layout.width as f32 - x - 16.0).max(60.0);
    (x, wrap_at)
}

/// The panel's layout for this title.
pub(crate) fn panel_layout(layout: &MapLayout, title: &str) -> PanelLayout {
    let (_, wrap_at) = panel_x(layout);
    let title_lines = wrap(title, 22.0, wrap_at).len().max(1) as f32;
    let caption_top = 50.0 + 28.0 * title_lines + 8.0;
    let dot_lines = wrap(LEGEND_DOT_TEXT, LEGEND_SIZE, wrap_at - 20.0).len() as f32;
    let colour_lines = wrap(LEGEND_COLOUR_TEXT, LEGEND_SIZE, wrap_at).len() as f32;
    // Heading, scale bar, dot lines, colour lines, zone swatch, margin.
    let legend_h = 24.0 + 22.0 + 18.0 * (dot_lines + colour_lines) + 18.0 + 12.0;
    let legend_top = (layout.height as f32 - legend_h).max(caption_top);
    PanelLayout {
        caption_top,
        legend_top,
    }
}

/// The panel's still part: divider, title and legend (scale bar, dot
/// sizes, what the colours mean). The caption goes on with
/// [`draw_caption`].
pub(crate) fn draw_panel_frame(layout: &MapLayout, title: &str, scene: &mut Scene) {
    let (x, wrap_at) = panel_x(layout);
    let pl = panel_layout(layout, title);
    scene.shapes.push(Shape::Line {
        points: vec![
            [layout.panel_x, 20.0],
            [layout.panel_x, layout.height as f32 - 20.0],
        ],
        color: PATH,
        width: 1.0,
        dashed: false,
    });
    let mut y = 50.0;
    for t in wrap(title, 22.0, wrap_at) {
        scene.text(x, y, 22.0, INK, t);
        y += 28.0;
    }
    // Legend at the bottom of the panel.
    let mut y = pl.legend_top + 14.0;
    scene.text(x, y, 15.0, DIM_INK, "Legend");
    y += 24.0;
    // The bar and its words fit the panel's width.
    let room = (wrap_at - text_width("5000 m (to scale)", LEGEND_SIZE) - 8.0).clamp(30.0, 180.0);
    let metres = nice_length(room as f64 / layout.scale);
    let len = (metres * layout.scale) as f32;
    scene.shapes.push(Shape::Line {
        points: vec![[x, y - 5.0], [x + len, y - 5.0]],
        color: INK,
        width: 3.0,
        dashed: false,
    });
    scene.text(
        x + len + 8.0,
        y,
        LEGEND_SIZE,
        DIM_INK,
        format!("{metres} m (to scale)"),
    );
    y += 22.0;
    scene.shapes.push(Shape::Circle {
        cx: x + 6.0,
        cy: y - 5.0,
        r: MAX_DOT,
        fill: Rgba(255, 200, 120, 255),
    });
    for t in wrap(LEGEND_DOT_TEXT, LEGEND_SIZE, wrap_at - 20.0) {
        scene.text(x + 20.0, y, LEGEND_SIZE, DIM_INK, t);
        y += 18.0;
    }
    for t in wrap(LEGEND_COLOUR_TEXT, LEGEND_SIZE, wrap_at) {
        scene.text(x, y, LEGEND_SIZE, DIM_INK, t);
        y += 18.0;
    }
    scene.shapes.push(Shape::Rect {
        x,
        y: y - 10.0,
        w: 14.0,
        h: 10.0,
        fill: Some(name_color("zone", 24)),
        stroke: Some((DIM_INK, 1.0)),
    });
    scene.text(x + 20.0, y, LEGEND_SIZE, DIM_INK, "group zone");
}

/// The caption's lines, fitted between the title and the legend: a smaller
/// size when they do not fit at 15 px, and at the smallest size the lines
/// that still do not fit are cut, with a line saying how many.
pub(crate) fn draw_caption(layout: &MapLayout, title: &str, lines: &[String], scene: &mut Scene) {
    let (x, wrap_at) = panel_x(layout);
    let pl = panel_layout(layout, title);
    // The last baseline stays this far above the legend's top.
    let bottom = pl.legend_top - 10.0;
    let sizes = [15.0f32, 13.0, 12.0, 11.0];
    let lay = |size: f32| -> Vec<(f32, String)> {
        let step = (size * 1.4).round();
        let mut y = pl.caption_top;
        let mut out = Vec::new();
        for l in lines {
            if l.is_empty() {
                y += (size * 0.67).round();
            }
            for t in wrap(l, size, wrap_at) {
                out.push((y, t));
                y += step;
            }
        }
        out
    };
    for (n, &size) in sizes.iter().enumerate() {
        let placed = lay(size);
        let fits = placed.last().is_none_or(|(y, _)| *y <= bottom);
        if !fits && n + 1 < sizes.len() {
            continue;
        }
        let total = placed.len();
        let step = (size * 1.4).round();
        let keep: Vec<(f32, String)> = if fits {
            placed
        } else {
            // Leave room for the "more" line.
            let room = placed.iter().filter(|(y, _)| *y + step <= bottom).count();
            placed.into_iter().take(room).collect()
        };
        let cut = total - keep.len();
        let mut next = pl.caption_top;
        for (y, t) in keep {
            scene.text(x, y, size, INK, t);
            next = y + step;
        }
        if cut > 0 && next <= bottom {
            scene.text(x, next, size, DIM_INK, format!("… {cut} more lines"));
        }
        return;
    }
}

/// The caption panel: title, caption lines and legend.
pub fn draw_panel(layout: &MapLayout, title: &str, lines: &[String], scene: &mut Scene) {
    draw_panel_frame(layout, title, scene);
    draw_caption(layout, title, lines, scene);
}

/// A round length near `m` metres (1, 2, 5 × 10ⁿ).
fn nice_length(m: f64) -> f64 {
    let m = m.max(1e-3);
    let p = 10f64.powf(m.log10().floor());
    for k in [5.0, 2.0, 1.0] {
        if k * p <= m {
            return k * p;
        }
    }
    p
}

/// Greedy word wrap to `max` pixels; leading spaces (an indent) are kept
/// on every line.
fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let body = text.trim_start_matches(' ');
    let indent = &text[..text.len() - body.len()];
    let mut out = Vec::new();
    let mut line = String::new();
    for word in body.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, size) > max {
            out.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        out.push(line);
    }
    out.into_iter().map(|l| format!("{indent}{l}")).collect()
}

/// The whole picture of a moment: plan, dots, caption.
pub(crate) fn moment(
    site: &Site,
    layout: &MapLayout,
    colors: &[[u8; 3]],
    title: &str,
    lines: &[String],
) -> Scene {
    let mut scene = still(site, layout, title);
    scene
        .shapes
        .extend(moving(layout, colors, title, lines).shapes);
    scene
}

/// What a moment's picture shares with every other moment: background,
/// plan, labels, the dots' rings, the panel's title and legend. A clip
/// draws it once.
pub(crate) fn still(site: &Site, layout: &MapLayout, title: &str) -> Scene {
    let mut scene = Scene::new(layout.width, layout.height, BACKGROUND);
    draw_plan(site, layout, &mut scene);
    draw_rings(layout, &mut scene);
    draw_panel_frame(layout, title, &mut scene);
    scene
}

/// What changes from moment to moment, drawn over [`still`]: the dots'
/// colours and the caption.
pub(crate) fn moving(
    layout: &MapLayout,
    colors: &[[u8; 3]],
    title: &str,
    lines: &[String],
) -> Scene {
    let mut scene = Scene::new(layout.width, layout.height, BACKGROUND);
    draw_fills(layout, colors, &mut scene);
    draw_caption(layout, title, lines, &mut scene);
    scene
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_never_overlap_and_stay_in_bounds() {
        let cells = vec![[0.0, 0.0], [4.0, 0.0], [100.0, 100.0], [100.5, 100.0]];
        let r = dot_radii(&cells);
        assert!((r[0] - 1.8).abs() < 1e-4 && (r[1] - 1.8).abs() < 1e-4);
        assert_eq!(r[2], MIN_DOT);
        let lone = dot_radii(&[[0.0, 0.0], [500.0, 0.0]]);
        assert_eq!(lone, vec![MAX_DOT, MAX_DOT]);
    }

    #[test]
    fn nice_lengths() {
        assert_eq!(nice_length(180.0), 100.0);
        assert_eq!(nice_length(260.0), 200.0);
        assert_eq!(nice_length(7.0), 5.0);
    }
}

#[cfg(test)]
mod panel_tests {
    use super::*;

    fn demo() -> crate::config::Config {
        crate::config::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shows"))
            .expect("the demo loads")
    }

    /// Issue 23: however long the caption, it never runs into the legend:
    /// every caption line's baseline is above the legend heading's top (the
    /// heading's cap height and a gap), at the GIF's default 960 × 540 and
    /// at 1920 × 1080; what does not fit is cut with a line saying so.
    #[test]
    fn the_caption_never_runs_into_the_legend() {
        let cfg = demo();
        for (w, h) in [(960, 540), (1920, 1080), (640, 360)] {
            let layout = MapLayout::new(&cfg.site, w, h);
            for n in [3usize, 12, 40] {
                let lines: Vec<String> = (0..n)
                    .map(|i| format!("  show-{i}: priority {i}, 100 %, since 20:00:00"))
                    .collect();
                let mut scene = Scene::new(w, h, BACKGROUND);
                draw_panel(&layout, &cfg.site.name, &lines, &mut scene);
                let texts: Vec<(f32, f32, &str)> = scene
                    .shapes
                    .iter()
                    .filter_map(|s| match s {
                        Shape::Text { y, size, text, .. } => Some((*y, *size, text.as_str())),
                        _ => None,
                    })
                    .collect();
                let legend = texts.iter().find(|t| t.2 == "Legend").expect("a legend").0;
                // The heading's glyphs rise about 0.75 × 15 px above its baseline.
                let legend_top = legend - 15.0 * 0.75;
                let caption: Vec<_> = texts
                    .iter()
                    .filter(|t| t.2.starts_with("  show-") || t.2.contains("more lines"))
                    .collect();
                assert!(!caption.is_empty());
                for (y, size, text) in &caption {
                    // A line's descenders reach about 0.25 × its size below.
                    assert!(
                        y + size * 0.25 < legend_top,
                        "{w}×{h}, {n} lines: `{text}` at {y} runs into the legend at {legend}"
                    );
                }
                let shown = caption
                    .iter()
                    .filter(|t| t.2.starts_with("  show-"))
                    .count();
                if shown < n {
                    assert!(
                        caption.iter().any(|t| t.2.contains("more lines")),
                        "{w}×{h}, {n} lines: a cut caption says so"
                    );
                }
                // The legend stays inside the picture.
                assert!(texts.iter().all(|t| t.0 <= h as f32), "{w}×{h}");
            }
        }
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    fn demo() -> crate::config::Config {
        crate::config::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shows"))
            .expect("the demo loads")
    }

    /// Issue 23: the demo's zone labels, as drawn, never overlap one
    /// another or a dot, stay in the map area (not the caption panel), and
    /// all fit at the usual sizes; at a thumbnail some are left out rather
    /// than drawn over each other.
    #[test]
    fn zone_labels_never_overlap_each_other_or_dots() {
        let cfg = demo();
        let site = &cfg.site;
        for (w, h) in [(1920, 1080), (1280, 720), (960, 540), (480, 270)] {
            let layout = MapLayout::new(site, w, h);
            let mut scene = Scene::new(w, h, BACKGROUND);
            draw_plan(site, &layout, &mut scene);
            // Each label's ink: from its cap height to its descenders.
            let boxes: Vec<(String, Rect)> = scene
                .shapes
                .iter()
                .filter_map(|s| match s {
                    Shape::Text {
                        x, y, size, text, ..
                    } if site.groups.contains_key(text) => Some((
                        text.clone(),
                        Rect::new(
                            *x,
                            y - size * 0.76,
                            text_width(text, *size),
                            size * 0.76 + size * 0.24,
                        ),
                    )),
                    _ => None,
                })
                .collect();
            if w >= 960 {
                assert_eq!(
                    boxes.len(),
                    site.groups.len(),
                    "{w}×{h}: every zone is named"
                );
            }
            assert!(!boxes.is_empty(), "{w}×{h}: some zone is named");
            for (i, (name, b)) in boxes.iter().enumerate() {
                assert!(
                    b.x >= 0.0 && b.y >= 0.0,
                    "{w}×{h}: `{name}` off the picture"
                );
                assert!(
                    b.x + b.w <= layout.panel_x,
                    "{w}×{h}: `{name}` runs into the panel"
                );
                for (other, o) in &boxes[i + 1..] {
                    assert!(!b.overlaps(o), "{w}×{h}: `{name}` over `{other}`");
                }
                for (p, r) in layout.cells.iter().zip(&layout.radius) {
                    let dot = Rect::new(p[0] - r, p[1] - r, 2.0 * r, 2.0 * r);
                    assert!(!b.overlaps(&dot), "{w}×{h}: `{name}` over the dot at {p:?}");
                }
            }
        }
    }

    /// The demo is a long north–south avenue: in a wide picture its plan is
    /// turned a quarter (north to the right, and the arrow says so) and
    /// drawn over twice as large as north up; in a tall picture it stays
    /// north up.
    /// A site without surfaces keeps the whole map for its plan (no
    /// elevation strip); with the demo's facade the strip is below every
    /// plan dot and every facade cell is inside the facade's outline.
    #[test]
    fn elevations_only_for_sites_with_surfaces() {
        let cfg = demo();
        let with = MapLayout::new(&cfg.site, 1920, 1080);
        assert_eq!(with.elevations.len(), 1);
        let f = with.elevations[0].frame;
        let plan_bottom = with.cells.iter().map(|p| p[1]).fold(0.0, f32::max);
        assert!(f.y > plan_bottom);
        assert!(f.y + f.h <= 1080.0 && f.x + f.w <= with.panel_x);
        for c in &with.elevation_cells {
            assert!(c.at[0] >= f.x && c.at[0] <= f.x + f.w, "{c:?} {f:?}");
            assert!(c.at[1] >= f.y && c.at[1] <= f.y + f.h, "{c:?} {f:?}");
        }
        let mut plain = cfg.site.clone();
        plain.surfaces.clear();
        plain.surface_cells = Default::default();
        let without = MapLayout::new(&plain, 1920, 1080);
        assert!(without.elevations.is_empty() && without.elevation_cells.is_empty());
        assert!(without.scale >= with.scale);
    }

    #[test]
    fn a_long_narrow_site_is_turned_to_fit_and_the_arrow_follows() {
        let cfg = demo();
        let wide = MapLayout::new(&cfg.site, 1920, 1080);
        assert!(
            (wide.rotation + std::f64::consts::FRAC_PI_2).abs() < 1e-9,
            "{}",
            wide.rotation
        );
        let n = wide.north();
        assert!(
            (n[0] - 1.0).abs() < 1e-6 && n[1].abs() < 1e-6,
            "north to the right: {n:?}"
        );
        let xs = |l: &MapLayout| {
            let (lo, hi) = l.cells.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
                (lo.min(p[0]), hi.max(p[0]))
            });
            hi - lo
        };
        assert!(
            xs(&wide) > 0.6 * wide.panel_x,
            "the avenue spans the map: {}",
            xs(&wide)
        );
        let tall = MapLayout::new(&cfg.site, 700, 1400);
        assert_eq!(tall.rotation, 0.0);
        assert_eq!(tall.north(), [-0.0, -1.0]);
        // The turned plan is to scale: distances keep their ratio.
        let a = wide.px([0.0, 0.0]);
        let b = wide.px([0.0, 100.0]);
        let d = ((a[0] - b[0]).hypot(a[1] - b[1]) as f64 - 100.0 * wide.scale).abs();
        assert!(d < 1e-3, "{d}");
        assert!(b[0] > a[0], "north is to the right");
    }
}
