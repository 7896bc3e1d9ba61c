//! Pictures for designers (`nightscape preview`): the site at an instant, a
//! whole night at a glance, an animation.
//!
//! Every picture is first a [`Scene`] (rectangles, circles, lines, text in
//! pixel coordinates), then drawn by one of two backends: [`Scene::to_svg`]
//! (text as SVG text) or [`Scene::to_pixmap`] (tiny-skia, anti-aliased,
//! text with the bundled DejaVu Sans through ab_glyph), so the SVG and the
//! PNG of a moment cannot disagree. All pure Rust: no system library.
//! Colours come from `engine::display` applied to the frame that
//! `daemon::FrameBuilder` builds, i.e. what `nightscape render` prints.

pub(crate) mod clip;
pub(crate) mod labels;
pub mod map;
pub mod night;

use crate::config::Config;
use crate::control::CompiledControl;
use crate::daemon::{FrameBuilder, FrameHook, Program};
use chrono::{DateTime, Utc};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::fmt::Write as _;

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Frames as `nightscape render` builds them (the daemon's pipeline with
/// curfew caps and power budgets, no operator state), for a run of
/// instants, reusing the builder's buffers.
pub(crate) struct Sampler<'a> {
    cfg: &'a Config,
    program: Box<dyn Program>,
    builder: FrameBuilder,
    hooks: Vec<Box<dyn FrameHook>>,
    control: CompiledControl,
}

/// What one sampled instant shows.
pub(crate) struct Sample {
    /// Display colour per cell (`site.cells` order).
    pub cells: Vec<[u8; 3]>,
    /// Display colour per fixture (patch order; black where unsent).
    pub fixtures: Vec<[u8; 3]>,
    /// The shows playing: (name, priority, opacity 0..=1, started).
    pub playing: Vec<(String, i32, f32, DateTime<Utc>)>,
}

impl<'a> Sampler<'a> {
    pub(crate) fn new(cfg: &'a Config, program: Box<dyn Program>) -> Sampler<'a> {
        Sampler {
            cfg,
            program,
            builder: FrameBuilder::new(&cfg.site),
            hooks: vec![Box::new(crate::energy::Limiter::default())],
            control: CompiledControl::default(),
        }
    }

    /// The frame at `at`, read back as colours.
    pub(crate) fn sample(&mut self, at: DateTime<Utc>) -> Sample {
        let active = self.program.active(self.cfg, at);
        let frame = self
            .builder
            .build(self.cfg, &active, &self.control, &mut self.hooks, at);
        let site = &self.cfg.site;
        Sample {
            cells: nightscape_core::engine::display::cell_colors(site, frame),
            fixtures: nightscape_core::engine::display::fixture_colors(site, frame)
                .into_iter()
                .map(|c| c.unwrap_or([0; 3]))
                .collect(),
            playing: active
                .iter()
                .map(|a| (a.show.name.clone(), a.priority, a.opacity(at), a.started))
                .collect(),
        }
    }
}

/// An sRGB colour with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    pub(crate) const fn rgb(c: [u8; 3]) -> Rgba {
        Rgba(c[0], c[1], c[2], 255)
    }
    fn svg(self) -> String {
        if self.3 == 255 {
            format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
        } else {
            format!(
                "rgba({},{},{},{:.3})",
                self.0,
                self.1,
                self.2,
                self.3 as f32 / 255.0
            )
        }
    }
}

/// Where a text's x lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawing primitive, in pixels (y down).
#[derive(Debug, Clone)]
pub enum Shape {
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Rgba>,
        stroke: Option<(Rgba, f32)>,
    },
    Circle {
        cx: f32,
        cy: f32,
        r: f32,
        fill: Rgba,
    },
    Line {
        points: Vec<[f32; 2]>,
        color: Rgba,
        width: f32,
        dashed: bool,
    },
    /// `y` is the baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        color: Rgba,
        anchor: Anchor,
        text: String,
    },
}

/// A picture as primitives, drawn in order over an opaque background.
#[derive(Debug, Clone)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub background: Rgba,
    pub shapes: Vec<Shape>,
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PreviewError {
    #[error("a picture of {0}×{1} pixels is out of range (1..=16384 a side)")]
    Size(u32, u32),
    #[error("cannot encode the image: {0}")]
    Encode(String),
}

impl Scene {
    pub(crate) fn new(width: u32, height: u32, background: Rgba) -> Scene {
        Scene {
            width,
            height,
            background,
            shapes: Vec::new(),
        }
    }

    pub(crate) fn text(&mut self, x: f32, y: f32, size: f32, color: Rgba, text: impl Into<String>) {
        self.shapes.push(Shape::Text {
            x,
            y,
            size,
            color,
            anchor: Anchor::Start,
            text: text.into(),
        });
    }

    /// The picture as a standalone SVG document.
    pub(crate) fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, sans-serif">"#,
            w = self.width,
            h = self.height
        );
        let _ = writeln!(
            s,
            r#"<rect width="100%" height="100%" fill="{}"/>"#,
            self.background.svg()
        );
        for shape in &self.shapes {
            match shape {
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}""#,
                        fill.map(Rgba::svg).unwrap_or_else(|| "none".into())
                    );
                    if let Some((c, sw)) = stroke {
                        let _ = write!(s, r#" stroke="{}" stroke-width="{sw:.1}""#, c.svg());
                    }
                    s.push_str("/>\n");
                }
                Shape::Circle { cx, cy, r, fill } => {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{cx:.2}" cy="{cy:.2}" r="{r:.2}" fill="{}"/>"#,
                        fill.svg()
                    );
                }
                Shape::Line {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|p| format!("{:.1},{:.1}", p[0], p[1]))
                        .collect();
                    let _ = writeln!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width:.1}"{} stroke-linejoin="round"/>"#,
                        pts.join(" "),
                        color.svg(),
                        if *dashed {
                            r#" stroke-dasharray="6 4""#
                        } else {
                            ""
                        }
                    );
                }
                Shape::Text {
                    x,
                    y,
                    size,
                    color,
                    anchor,
                    text,
                } => {
                    let a = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size:.1}" fill="{}" text-anchor="{a}">{}</text>"#,
                        color.svg(),
                        xml_escape(text)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The picture rasterised.
    pub(crate) fn to_pixmap(&self) -> Result<tiny_skia::Pixmap, PreviewError> {
        use tiny_skia::Pixmap;
        if !(1..=16384).contains(&self.width) || !(1..=16384).contains(&self.height) {
            return Err(PreviewError::Size(self.width, self.height));
        }
        let mut pm = Pixmap::new(self.width, self.height)
            .ok_or(PreviewError::Size(self.width, self.height))?;
        let bg = self.background;
        pm.fill(tiny_skia::Color::from_rgba8(bg.0, bg.1, bg.2, 255));
        self.paint_over(&mut pm);
        Ok(pm)
    }

    /// Draw the shapes (not the background) over an opaque pixmap: a clip
    /// paints each moment's moving part over a copy of its still part.
    pub(crate) fn paint_over(&self, pm: &mut tiny_skia::Pixmap) {
        use tiny_skia::{FillRule, Paint, PathBuilder, Stroke, StrokeDash, Transform};
        let paint = |c: Rgba| {
            let mut p = Paint::default();
            p.set_color_rgba8(c.0, c.1, c.2, c.3);
            p.anti_alias = true;
            p
        };
        let font = FontRef::try_from_slice(FONT).ok();
        let id = Transform::identity();
        for shape in &self.shapes {
            match shape {
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let Some(rect) = tiny_skia::Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    if let Some(f) = fill {
                        let mut p = paint(*f);
                        // Grid cells must not bleed into each other.
                        p.anti_alias = false;
                        pm.fill_rect(rect, &p, id, None);
                    }
                    if let Some((c, sw)) = stroke {
                        let path = PathBuilder::from_rect(rect);
                        let st = Stroke {
                            width: *sw,
                            ..Stroke::default()
                        };
                        pm.stroke_path(&path, &paint(*c), &st, id, None);
                    }
                }
                Shape::Circle { cx, cy, r, fill } => {
                    if let Some(path) = PathBuilder::from_circle(*cx, *cy, r.max(0.1)) {
                        pm.fill_path(&path, &paint(*fill), FillRule::Winding, id, None);
                    }
                }
                Shape::Line {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let mut pb = PathBuilder::new();
                    for (i, p) in points.iter().enumerate() {
                        if i == 0 {
                            pb.move_to(p[0], p[1]);
                        } else {
                            pb.line_to(p[0], p[1]);
                        }
                    }
                    if let Some(path) = pb.finish() {
                        let st = Stroke {
                            width: *width,
                            line_join: tiny_skia::LineJoin::Round,
                            dash: if *dashed {
                                StrokeDash::new(vec![6.0, 4.0], 0.0)
                            } else {
                                None
                            },
                            ..Stroke::default()
                        };
                        pm.stroke_path(&path, &paint(*color), &st, id, None);
                    }
                }
                Shape::Text {
                    x,
                    y,
                    size,
                    color,
                    anchor,
                    text,
                } => {
                    if let Some(font) = &font {
                        draw_text(pm, font, *x, *y, *size, *color, *anchor, text);
                    }
                }
            }
        }
    }

    /// The picture as a PNG file (8-bit RGB).
    pub(crate) fn to_png(&self) -> Result<Vec<u8>, PreviewError> {
        encode_png(&self.to_pixmap()?)
    }
}

/// A pixmap (opaque) as an 8-bit RGB PNG.
pub(crate) fn encode_png(pm: &tiny_skia::Pixmap) -> Result<Vec<u8>, PreviewError> {
    let rgb: Vec<u8> = pm
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut buf = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut buf, pm.width(), pm.height());
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| PreviewError::Encode(e.to_string()))?;
        w.write_image_data(&rgb)
            .map_err(|e| PreviewError::Encode(e.to_string()))?;
    }
    Ok(buf)
}

/// Width in pixels of `text` at `size` (for anchoring and layout).
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
    let Ok(font) = FontRef::try_from_slice(FONT) else {
        return text.chars().count() as f32 * size * 0.6;
    };
    let sf = font.as_scaled(PxScale::from(size));
    let mut w = 0.0;
    let mut prev = None;
    for ch in text.chars() {
        let g = sf.glyph_id(ch);
        if let Some(p) = prev {
            w += sf.kern(p, g);
        }
        w += sf.h_advance(g);
        prev = Some(g);
    }
    w
}

#[allow(clippy::too_many_arguments)]
fn draw_text(
    pm: &mut tiny_skia::Pixmap,
    font: &FontRef,
    x: f32,
    y: f32,
    size: f32,
    color: Rgba,
    anchor: Anchor,
    text: &str,
) {
    let sf = font.as_scaled(PxScale::from(size));
    let mut pen = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - text_width(text, size) / 2.0,
        Anchor::End => x - text_width(text, size),
    };
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let data = pm.data_mut();
    let mut prev = None;
    for ch in text.chars() {
        let gid = sf.glyph_id(ch);
        if let Some(p) = prev {
            pen += sf.kern(p, gid);
        }
        let glyph = gid.with_scale_and_position(size, ab_glyph::point(pen, y));
        pen += sf.h_advance(gid);
        prev = Some(gid);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let px = b.min.x as i32 + gx as i32;
            let py = b.min.y as i32 + gy as i32;
            if px < 0 || py < 0 || px >= w || py >= h {
                return;
            }
            let a = cov.clamp(0.0, 1.0) * color.3 as f32 / 255.0;
            let i = (py as usize * w as usize + px as usize) * 4;
            // The background is opaque, so premultiplied = straight here.
            for (k, c) in [color.0, color.1, color.2].into_iter().enumerate() {
                let d = data[i + k] as f32;
                data[i + k] = (d + (c as f32 - d) * a).round() as u8;
            }
        });
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A soft, distinct colour per name (group zones, schedule bars).
pub(crate) fn name_color(name: &str, alpha: u8) -> Rgba {
    // FNV-1a: stable across runs and platforms.
    let mut h: u32 = 0x811c9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    let hue = (h % 360) as f32;
    let [r, g, b] = hsv(hue, 0.45, 0.95);
    Rgba(r, g, b, alpha)
}

fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r, g, b].map(|v| ((v + m) * 255.0).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_svg_draw_the_same_shapes() {
        let mut s = Scene::new(40, 20, Rgba(0, 0, 0, 255));
        s.shapes.push(Shape::Circle {
            cx: 10.0,
            cy: 10.0,
            r: 5.0,
            fill: Rgba(255, 128, 0, 255),
        });
        s.shapes.push(Shape::Rect {
            x: 25.0,
            y: 5.0,
            w: 10.0,
            h: 10.0,
            fill: Some(Rgba(0, 0, 255, 255)),
            stroke: None,
        });
        s.text(0.0, 19.0, 8.0, Rgba(255, 255, 255, 255), "a<b");
        let pm = s.to_pixmap().unwrap();
        let px = |x: u32, y: u32| {
            let i = ((y * 40 + x) * 4) as usize;
            [pm.data()[i], pm.data()[i + 1], pm.data()[i + 2]]
        };
        assert_eq!(px(10, 10), [255, 128, 0]);
        assert_eq!(px(30, 10), [0, 0, 255]);
        assert_eq!(px(20, 2), [0, 0, 0]);
        let svg = s.to_svg();
        assert!(svg.contains(r##"fill="#ff8000""##));
        assert!(svg.contains("a&lt;b"));
        let png = s.to_png().unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn text_is_drawn_and_measured() {
        let mut s = Scene::new(120, 30, Rgba(0, 0, 0, 255));
        s.text(2.0, 20.0, 16.0, Rgba(255, 255, 255, 255), "Nightscape");
        let pm = s.to_pixmap().unwrap();
        let lit = pm.data().chunks(4).filter(|p| p[0] > 128).count();
        assert!(lit > 50, "text drew {lit} pixels");
        let w = text_width("Nightscape", 16.0);
        assert!((60.0..110.0).contains(&w), "{w}");
    }

    #[test]
    fn oversized_pictures_are_refused_not_allocated() {
        let s = Scene::new(100_000, 10, Rgba(0, 0, 0, 255));
        assert!(matches!(s.to_pixmap(), Err(PreviewError::Size(..))));
    }
}
