//! The site plan at one instant: paths, labelled group zones and every
//! cell as a dot in the colour it shows, north up, to scale (the dots are
//! not: they are sized for the eye, and the legend says so), with a side
//! panel for the caption (instant, night, mode, what plays).

use super::{name_color, text_width, Rgba, Scene, Shape};
use crate::site::Site;

/// Largest dot radius in pixels.
pub const MAX_DOT: f32 = 6.0;
const MIN_DOT: f32 = 0.8;
pub const BACKGROUND: Rgba = Rgba(11, 15, 20, 255);
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
    min: [f64; 2],
    max_y: f64,
    origin: [f64; 2],
    /// Each cell's centre in pixels (`site.cells` order).
    pub cells: Vec<[f32; 2]>,
    /// Each cell's dot radius in pixels.
    pub radius: Vec<f32>,
    /// Left edge of the caption panel.
    pub panel_x: f32,
}

impl MapLayout {
    /// Fit the site into a `width`×`height` picture, leaving a panel on
    /// the right for the caption.
    pub fn new(site: &Site, width: u32, height: u32) -> MapLayout {
        let panel = (width as f32 * 0.24)
            .clamp(220.0, 460.0)
            .min(width as f32 * 0.5);
        let margin = 40.0;
        let area = [
            (width as f64 - panel as f64 - 2.0 * margin).max(10.0),
            (height as f64 - 2.0 * margin - 30.0).max(10.0),
        ];
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        let mut take = |p: [f64; 2]| {
            for k in 0..2 {
                if p[k].is_finite() {
                    lo[k] = lo[k].min(p[k]);
                    hi[k] = hi[k].max(p[k]);
                }
            }
        };
        for c in &site.cells {
            take([c.position[0] as f64, c.position[1] as f64]);
        }
        for p in &site.paths {
            for q in &p.points {
                take(*q);
            }
        }
        if !lo[0].is_finite() {
            lo = [0.0; 2];
            hi = [1.0; 2];
        }
        let span = [(hi[0] - lo[0]).max(1.0), (hi[1] - lo[1]).max(1.0)];
        let scale = (area[0] / span[0]).min(area[1] / span[1]);
        let origin = [
            margin + (area[0] - span[0] * scale) / 2.0,
            margin + 10.0 + (area[1] - span[1] * scale) / 2.0,
        ];
        let mut layout = MapLayout {
            width,
            height,
            scale,
            min: lo,
            max_y: hi[1],
            origin,
            cells: Vec::new(),
            radius: Vec::new(),
            panel_x: width as f32 - panel,
        };
        layout.cells = site
            .cells
            .iter()
            .map(|c| layout.px([c.position[0] as f64, c.position[1] as f64]))
            .collect();
        layout.radius = dot_radii(&layout.cells);
        layout
    }

    /// A site position (metres, y north) in pixels (y down).
    pub fn px(&self, p: [f64; 2]) -> [f32; 2] {
        [
            (self.origin[0] + (p[0] - self.min[0]) * self.scale) as f32,
            (self.origin[1] + (self.max_y - p[1]) * self.scale) as f32,
        ]
    }
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

/// The background of the map: paths and labelled group zones.
pub fn draw_plan(site: &Site, layout: &MapLayout, scene: &mut Scene) {
    for p in &site.paths {
        scene.shapes.push(Shape::Line {
            points: p.points.iter().map(|q| layout.px(*q)).collect(),
            color: PATH,
            width: 2.0,
            dashed: false,
        });
    }
    // Labels of zones that start at the same place are stacked, not overprinted.
    let mut placed: Vec<[f32; 3]> = Vec::new();
    for (name, fixtures) in &site.groups {
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for &f in fixtures {
            let f = &site.fixtures[f as usize];
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
        let pad = MAX_DOT + 6.0;
        scene.shapes.push(Shape::Rect {
            x: lo[0] - pad,
            y: lo[1] - pad,
            w: hi[0] - lo[0] + 2.0 * pad,
            h: hi[1] - lo[1] + 2.0 * pad,
            fill: Some(name_color(name, 24)),
            stroke: Some((name_color(name, 190), 1.0)),
        });
        let (lx, mut ly) = (lo[0] - pad, lo[1] - pad - 4.0);
        let lw = text_width(name, 13.0);
        while placed
            .iter()
            .any(|p| (ly - p[1]).abs() < 14.0 && lx < p[0] + p[2] && p[0] < lx + lw)
        {
            ly -= 14.0;
        }
        placed.push([lx, ly, lw]);
        scene.shapes.push(Shape::Text {
            x: lx,
            y: ly,
            size: 13.0,
            color: name_color(name, 255),
            anchor: super::Anchor::Start,
            text: name.clone(),
        });
    }
}

/// Every cell as a dot in its colour (`colors` in `site.cells` order): a
/// grey ring first so dark cells stay findable, then the fills, which never
/// overlap one another.
pub fn draw_cells(layout: &MapLayout, colors: &[[u8; 3]], scene: &mut Scene) {
    draw_rings(layout, scene);
    draw_fills(layout, colors, scene);
}

/// The grey ring under each dot large enough to carry one.
pub fn draw_rings(layout: &MapLayout, scene: &mut Scene) {
    for (p, r) in layout.cells.iter().zip(&layout.radius) {
        if *r >= 2.0 {
            scene.shapes.push(Shape::Circle {
                cx: p[0],
                cy: p[1],
                r: r + 1.0,
                fill: RING,
            });
        }
    }
}

/// Each dot's fill in its colour.
pub fn draw_fills(layout: &MapLayout, colors: &[[u8; 3]], scene: &mut Scene) {
    for ((p, r), c) in layout.cells.iter().zip(&layout.radius).zip(colors) {
        scene.shapes.push(Shape::Circle {
            cx: p[0],
            cy: p[1],
            r: *r,
            fill: Rgba::rgb(*c),
        });
    }
}

/// Where the panel's parts go: the caption between the title and the
/// legend, the legend at the bottom, sized from their wrapped text so the
/// caption never runs into the legend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanelLayout {
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
pub fn panel_layout(layout: &MapLayout, title: &str) -> PanelLayout {
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
pub fn draw_panel_frame(layout: &MapLayout, title: &str, scene: &mut Scene) {
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
    let metres = nice_length(180.0 / layout.scale);
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
pub fn draw_caption(layout: &MapLayout, title: &str, lines: &[String], scene: &mut Scene) {
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
pub fn moment(
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
pub fn still(site: &Site, layout: &MapLayout, title: &str) -> Scene {
    let mut scene = Scene::new(layout.width, layout.height, BACKGROUND);
    draw_plan(site, layout, &mut scene);
    draw_rings(layout, &mut scene);
    draw_panel_frame(layout, title, &mut scene);
    scene
}

/// What changes from moment to moment, drawn over [`still`]: the dots'
/// colours and the caption.
pub fn moving(layout: &MapLayout, colors: &[[u8; 3]], title: &str, lines: &[String]) -> Scene {
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
