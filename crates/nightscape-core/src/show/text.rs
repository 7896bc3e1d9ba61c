//! `effect = "text"`: a line of text in the bundled CJK font, coloured,
//! sized to the target, aligned or scrolling, on a layer's cells.
//!
//! Compiled into the same [`MediaLayer`] a picture becomes, so the engine,
//! the safety check, the energy model and the previews treat text as
//! media: the text is rasterised once ([`crate::media::text`]) onto a
//! canvas the size of the box the cells cover (the box
//! [`crate::media::place`] lays a stretched picture over, two or four
//! canvas pixels per cell pitch), and each frame of the canvas is
//! averaged onto the cells by the same [`Sampler`]. A scroll is a looping
//! clip of the text stepping one canvas pixel per frame — half a cell —
//! for the time that step takes at `speed`, so any instant of the show
//! gives the same frame on every node.
//!
//! Keys: `text` (required), `size` (the em — a hanzi's height — as a share
//! of the target's height, default 80 %), `color`, `speed` (metres per
//! second along the layer's p axis: east in plan, right on a facade;
//! positive scrolls right to left, the way text reads in; 0 stands
//! still), `align` (`left`, `center`, `right` for text standing still).
//! Characters the font lacks are drawn as boxes and warned about by name.
//!
//! Live text (`{countdown:…}`, `{time:…}`, [`Template`]) is written for
//! the wall-clock instant the engine renders, not the show time: the
//! engine hands it to [`LiveText::clip_at`] (through
//! [`super::effect::Effect::at_instant`]), which expands the template and
//! lays the text out as above — once per change of the text (a countdown
//! changes once a second), kept in the layer and shared by the frames and
//! threads until it changes again; a frame with the same text takes a
//! lock, writes the text into a kept buffer and compares it, allocating
//! nothing. A live scroll keeps the layout and draws only the step the
//! show time asks for (one frame's colours allocated per step), the step
//! a baked scroll of the same words would show. The text is a pure function of the instant, so `render --at`,
//! `preview`, the daemon and every node of a fleet draw the same text for
//! the same instant. Where no instant is given (a cell evaluated alone,
//! `check`'s listing) the layer shows [`Template::representative`]: the
//! text with every digit an 8, the most lit.

use super::media::{cell_points, MediaLayer};
use super::Ctx;
use crate::color::Color;
use crate::diag::Spanned;
use crate::media::clip::{Clip, Timing, MAX_SAMPLES};
use crate::media::place::{pitch, Placement, Sampler};
use crate::media::text::{self, template::Template};
use crate::media::{Limits, Picture};
use crate::site::Site;
use crate::units::LevelValue;
use chrono::{DateTime, Utc};
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// A text layer's clip is named this followed by its text, which is how
/// [`super::effect::Effect::name`] tells it from a picture (a media
/// `source` is a relative path or `builtin:…`).
pub const SOURCE_PREFIX: &str = "text:";

/// How text standing still sits across the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    Left,
    #[default]
    Center,
    Right,
}

impl Align {
    pub fn parse(word: &str) -> Option<Align> {
        match word.trim().to_ascii_lowercase().as_str() {
            "left" => Some(Align::Left),
            "center" | "centre" => Some(Align::Center),
            "right" => Some(Align::Right),
            _ => None,
        }
    }
}

/// The layer keys a text layer reads beyond the common ones.
pub(super) struct TextKeys<'a> {
    pub text: &'a Option<Spanned<String>>,
    pub size: &'a Option<Spanned<LevelValue>>,
    pub align: &'a Option<Spanned<String>>,
    pub speed: &'a Option<Spanned<String>>,
    pub color: Color,
}

/// Warn about text keys on a layer whose effect does not read them.
pub(super) fn warn_unread(
    cx: &mut Ctx,
    given: [(&str, &Option<Range<usize>>); 3],
    spec: &super::reference::EffectSpec,
) {
    for (key, span) in given {
        if let Some(span) = span {
            if !spec.reads(key) {
                cx.diags.warn(
                    cx.file,
                    span.clone(),
                    format!("`{key}` has no effect on a {} layer", spec.name),
                );
            }
        }
    }
}

/// A text as laid out on a layer, before it is sampled: what [`compile`]
/// checks and [`clip_for`] plays.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLook {
    pub text: String,
    /// The em as a share of the target's height.
    pub size: f64,
    pub color: Color,
    /// Metres per second; positive moves the text toward −p (leftward).
    pub speed: f64,
    pub align: Align,
}

/// Compile a text layer for `cells`. Problems go to `cx`, located; None
/// when the layer cannot play.
pub(super) fn compile(
    cx: &mut Ctx,
    keys: &TextKeys,
    effect_span: Range<usize>,
    site: &Site,
    cells: &[u32],
) -> Option<MediaLayer> {
    let Some(text) = keys.text else {
        cx.err(
            effect_span,
            "a text layer needs `text = \"…\"` (e.g. \"新年快乐 2027\")",
        );
        return None;
    };
    let template = match Template::parse(text.get_ref(), site.timezone) {
        Ok(t) => t,
        Err(e) => {
            cx.err(
                value_span(cx, text, e.at),
                format!("text template: {}", e.message),
            );
            return None;
        }
    };
    let missing = text::missing_glyphs(&template.literal_text());
    if !missing.is_empty() {
        cx.diags.warn(
            cx.file,
            text.span(),
            format!(
                "the bundled font has no {} (drawn as a box): it covers ASCII, the 3,755 common hanzi of GB 2312 level 1 and festival words",
                missing
                    .iter()
                    .map(|c| format!("'{c}' (U+{:04X})", u32::from(*c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let size = match keys.size {
        None => 0.8,
        Some(s) => match s.get_ref().to_level() {
            Ok(v) if v > 0.0 && v <= 10.0 => v,
            _ => {
                cx.err(
                    s.span(),
                    "size is the text's height (one em) as a share of the target's: more than 0, e.g. \"80%\" or 0.8",
                );
                return None;
            }
        },
    };
    let align = match keys.align {
        None => Align::Center,
        Some(a) => match Align::parse(a.get_ref()) {
            Some(al) => al,
            None => {
                cx.err(
                    a.span(),
                    format!("unknown align `{}`: use left, center or right", a.get_ref()),
                );
                return None;
            }
        },
    };
    let speed = cx.speed(keys.speed, 0.0);
    let look = TextLook {
        text: template.representative(),
        size,
        color: keys.color,
        speed,
        align,
    };
    let (points, _surface) = cell_points(site, cells);
    let clip = match clip_for(&look, &points) {
        Ok(clip) => clip,
        Err(why) => {
            cx.err(text.span(), why);
            return None;
        }
    };
    let source = format!("{SOURCE_PREFIX}{}", text.get_ref());
    if template.is_constant() {
        return Some(MediaLayer::new(source, clip, Timing::default()));
    }
    let live = LiveText::new(template, look, points, clip.clone());
    Some(MediaLayer::with_live(source, clip, Timing::default(), live))
}

/// A text layer with placeholders: its template and layout, and the text
/// it last drew with that text's clip.
pub struct LiveText {
    template: Template,
    /// The layout; its `text` is replaced by each expansion.
    look: TextLook,
    /// The layer's cells (metres, p right, q up), as [`clip_for`] takes them.
    points: Vec<[f64; 2]>,
    shown: Mutex<Shown>,
}

struct Shown {
    /// The text `clip` draws; empty until the first instant.
    text: String,
    /// Where each instant's text is written to compare it (kept: a text
    /// that has not changed allocates nothing).
    scratch: String,
    clip: Arc<Clip>,
    /// A scroll's layout of `text`, and the step `clip` holds: a scroll is
    /// drawn a step at a time (laying out every step of a scroll anew each
    /// second took 195 ms on the demo facade; a step takes 0.2 ms).
    scroll: Option<(Layout, i64)>,
    colors: Vec<[u8; 3]>,
    cover: Vec<u8>,
}

impl LiveText {
    pub fn new(template: Template, look: TextLook, points: Vec<[f64; 2]>, first: Clip) -> LiveText {
        LiveText {
            template,
            look,
            shown: Mutex::new(Shown {
                text: String::new(),
                scratch: String::new(),
                clip: Arc::new(first),
                scroll: None,
                colors: vec![[0; 3]; points.len()],
                cover: vec![0; points.len()],
            }),
            points,
        }
    }

    /// The clip to play for the instant `at`, `t` seconds after the show
    /// started: the words are the instant's, laid out anew only when they
    /// differ from the last ones drawn. Still text: the text's clip,
    /// played by show time as any. A scroll: one frame, its step at `t`
    /// (the position a baked scroll of the same words would show).
    pub fn clip_at(&self, at: DateTime<Utc>, t: f64) -> Arc<Clip> {
        // A poisoned lock only means another thread panicked mid-layout:
        // what it holds is still a complete clip.
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let Shown {
            text,
            scratch,
            clip,
            scroll,
            colors,
            cover,
        } = &mut *shown;
        self.template.expand_into(at, scratch);
        if *scratch != *text && !self.points.is_empty() {
            let look = TextLook {
                text: scratch.clone(),
                ..self.look.clone()
            };
            // A text that cannot be laid out keeps the last one on the
            // facade (check laid out the representative text, so this
            // is rare).
            if look.speed == 0.0 {
                if let Ok(c) = clip_for(&look, &self.points) {
                    *clip = Arc::new(c);
                }
            } else if let Ok(layout) = Layout::new(&look, &self.points) {
                *scroll = Some((layout, -1));
            }
            std::mem::swap(text, scratch);
        }
        if let Some((layout, step)) = scroll {
            let k = layout.step_at(t);
            if k != *step {
                layout.draw(k, colors, cover);
                let mut one = Clip::new(colors.len());
                if one.push_covered(colors, Some(cover), 1.0).is_ok() {
                    *clip = Arc::new(one);
                    *step = k;
                }
            }
        }
        Arc::clone(clip)
    }

    /// The template as written's text at `at` (for tools and tests).
    pub fn text_at(&self, at: DateTime<Utc>) -> String {
        self.template.expand(at)
    }
}

/// Where byte `at` of a string value is in the file: exact for a string
/// written without escapes, else the whole value.
fn value_span(cx: &Ctx, v: &Spanned<String>, at: usize) -> Range<usize> {
    let span = v.span();
    let raw = cx.file.text.get(span.clone()).unwrap_or_default();
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')));
    match inner {
        Some(inner) if inner == v.get_ref() => {
            let start = span.start + 1 + at;
            start..start + 1
        }
        _ => span,
    }
}

/// Canvas pixels per cell pitch: four for still text (honest averaging),
/// two for a scroll (a step is half a cell; frames are canvas-sized).
fn pixels_per_cell(scrolling: bool) -> f64 {
    if scrolling {
        2.0
    } else {
        4.0
    }
}

/// A text laid out over a layer's cells, ready to draw any step of it.
struct Layout {
    sampler: Sampler,
    canvas: Picture,
    glyphs: Picture,
    /// The text's top-left row, its width and the canvas's, in pixels.
    y0: i64,
    tw: i64,
    cw: i64,
    /// A scroll: seconds a step (one canvas pixel) is shown; None: still.
    frame_s: Option<f64>,
    leftward: bool,
    align: Align,
}

impl Layout {
    fn new(look: &TextLook, points: &[[f64; 2]]) -> Result<Layout, String> {
        let [px, py] = pitch(points);
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for p in points {
            for i in 0..2 {
                lo[i] = lo[i].min(p[i]);
                hi[i] = hi[i].max(p[i]);
            }
        }
        // The box the cells' footprints cover, as the sampler lays a
        // stretched picture over it.
        let box_w = hi[0] - lo[0] + px;
        let box_h = hi[1] - lo[1] + py;
        let scrolling = look.speed != 0.0;
        let per_metre = pixels_per_cell(scrolling) / px.min(py).max(1e-6);
        let canvas_w = (box_w * per_metre).round().clamp(1.0, 8192.0) as u32;
        let canvas_h = (box_h * per_metre).round().clamp(1.0, 8192.0) as u32;
        let em_px = (look.size * box_h * per_metre) as f32;
        let limits = Limits::default();
        let line = text::render(&look.text, em_px.min(text::MAX_PX_HEIGHT), &limits)
            .map_err(|e| e.to_string())?;
        let glyphs = colourise(&line.picture, look.color);
        // Vertically: the em box centred (its top 0.88 em above the baseline).
        let top = (f64::from(canvas_h) - f64::from(em_px)) / 2.0;
        let y0 = (top + f64::from(em_px) * 0.88 - f64::from(line.baseline)).round() as i64;
        Ok(Layout {
            sampler: Sampler::new(points, &Placement::default(), canvas_w, canvas_h),
            canvas: Picture::blank(canvas_w, canvas_h),
            tw: i64::from(glyphs.width),
            cw: i64::from(canvas_w),
            glyphs,
            y0,
            frame_s: scrolling.then(|| (1.0 / per_metre) / look.speed.abs()),
            leftward: look.speed > 0.0,
            align: look.align,
        })
    }

    /// Steps of a scroll: the text's left edge from the canvas's right
    /// edge until its right edge has left the canvas, one pixel a step.
    fn steps(&self) -> i64 {
        self.tw + self.cw
    }

    /// Draws step `k` (0 for still text) into `colors`, and how much of
    /// each cell the letters cover into `cover` (the rest shows the layers
    /// below).
    fn draw(&mut self, k: i64, colors: &mut [[u8; 3]], cover: &mut [u8]) {
        let x0 = match (self.frame_s, self.align) {
            (Some(_), _) if self.leftward => self.cw - k,
            (Some(_), _) => k - self.tw,
            (None, Align::Left) => 0,
            (None, Align::Center) => (self.cw - self.tw) / 2,
            (None, Align::Right) => self.cw - self.tw,
        };
        self.canvas.rgba.fill([0, 0, 0, 0]);
        blit(&mut self.canvas, &self.glyphs, x0, self.y0);
        self.sampler.sample(&self.canvas, colors, cover);
    }

    /// The step showing `t` seconds after the show started (a scroll loops
    /// as [`Timing::default`] plays the clip [`clip_for`] makes: the same
    /// millisecond arithmetic).
    fn step_at(&self, t: f64) -> i64 {
        let Some(frame_s) = self.frame_s else {
            return 0;
        };
        let frame_ms = (frame_s * 1000.0).round().max(1.0) as u64;
        let length_ms = frame_ms.saturating_mul(self.steps().max(1) as u64);
        (Timing::default().clip_ms(t, length_ms) / frame_ms) as i64
    }
}

/// The text sampled onto cells at `points` (metres, p right, q up): one
/// frame, or a looping scroll.
pub fn clip_for(look: &TextLook, points: &[[f64; 2]]) -> Result<Clip, String> {
    let mut clip = Clip::new(points.len());
    if points.is_empty() {
        return Ok(clip);
    }
    let mut layout = Layout::new(look, points)?;
    let mut colors = vec![[0u8; 3]; points.len()];
    let mut cover = vec![0u8; points.len()];
    let Some(frame_s) = layout.frame_s else {
        layout.draw(0, &mut colors, &mut cover);
        clip.push_covered(&colors, Some(&cover), 1.0)
            .map_err(|e| e.to_string())?;
        return Ok(clip);
    };
    let steps = layout.steps();
    if (steps as u64).saturating_mul(points.len() as u64) > MAX_SAMPLES {
        return Err(format!(
            "the scrolling text would keep {steps} frames × {} cells: shorten the text or make it smaller",
            points.len()
        ));
    }
    for k in 0..steps {
        layout.draw(k, &mut colors, &mut cover);
        clip.push_covered(&colors, Some(&cover), frame_s)
            .map_err(|e| e.to_string())?;
    }
    Ok(clip)
}

/// The white text in `color` (8-bit, as the media layer reads its cells),
/// coverage kept as alpha.
fn colourise(white: &Picture, color: Color) -> Picture {
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let c = [q(color.r), q(color.g), q(color.b)];
    Picture {
        width: white.width,
        height: white.height,
        rgba: white
            .rgba
            .iter()
            .map(|p| [c[0], c[1], c[2], p[3]])
            .collect(),
    }
}

/// Copies `src` onto `dst` with its top-left at (x0, y0), clipped.
fn blit(dst: &mut Picture, src: &Picture, x0: i64, y0: i64) {
    let (dw, dh) = (i64::from(dst.width), i64::from(dst.height));
    for sy in 0..i64::from(src.height) {
        let y = y0 + sy;
        if !(0..dh).contains(&y) {
            continue;
        }
        let from = (-x0).clamp(0, i64::from(src.width));
        let to = (dw - x0).clamp(0, i64::from(src.width));
        if from >= to {
            continue;
        }
        let s = (sy * i64::from(src.width)) as usize;
        let d = (y * dw + x0) as usize;
        dst.rgba[d + from as usize..d + to as usize]
            .copy_from_slice(&src.rgba[s + from as usize..s + to as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40 × 10 grid of cells 1 m apart, on a facade or in plan alike.
    fn grid(w: usize, h: usize) -> Vec<[f64; 2]> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| [x as f64, y as f64]))
            .collect()
    }

    fn look(text: &str) -> TextLook {
        TextLook {
            text: text.into(),
            size: 0.8,
            color: Color::rgb(1.0, 0.0, 0.0),
            speed: 0.0,
            align: Align::Center,
        }
    }

    fn lit(frame: &[[u8; 3]], w: usize) -> Vec<String> {
        // Top row first for reading: q grows upward.
        let h = frame.len() / w;
        (0..h)
            .rev()
            .map(|y| {
                (0..w)
                    .map(|x| if frame[y * w + x][0] > 100 { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn still_text_is_centred_red_and_upright() {
        let clip = clip_for(&look("中"), &grid(40, 10)).unwrap();
        assert_eq!(clip.frames(), 1);
        let f = clip.frame(0);
        let rows = lit(f, 40);
        // Only red: green and blue stay dark.
        assert!(f.iter().all(|c| c[1] == 0 && c[2] == 0));
        // 中 is 8 cells tall (80 % of 10), in the middle columns only.
        let cols: Vec<usize> = (0..40)
            .filter(|&x| rows.iter().any(|r| r.as_bytes()[x] == b'#'))
            .collect();
        assert!(
            cols.first().unwrap() >= &14 && cols.last().unwrap() <= &25,
            "{rows:#?}"
        );
        // Its long vertical stroke spans most rows; the top row is clear.
        let centre = cols[cols.len() / 2];
        let tall = rows.iter().filter(|r| r.as_bytes()[centre] == b'#').count();
        assert!(tall >= 6, "{rows:#?}");
        assert!(
            !rows[0].contains('#') || !rows[9].contains('#'),
            "{rows:#?}"
        );
    }

    #[test]
    fn text_reads_upright_top_up() {
        // 上's long stroke is at its foot, 下's at its head.
        let widest_row = |t: &str| {
            let clip = clip_for(&look(t), &grid(40, 10)).unwrap();
            let rows = lit(clip.frame(0), 40);
            eprintln!("{t}:\n{}", rows.join("\n"));
            (0..10)
                .max_by_key(|&y| rows[y].matches('#').count())
                .unwrap()
        };
        assert!(widest_row("上") >= 7, "上's foot is at the bottom");
        assert!(widest_row("下") <= 2, "下's head is at the top");
    }

    #[test]
    fn alignment_moves_still_text() {
        let first_col = |align| {
            let clip = clip_for(
                &TextLook {
                    align,
                    ..look("AB")
                },
                &grid(40, 10),
            )
            .unwrap();
            let rows = lit(clip.frame(0), 40);
            (0..40)
                .find(|&x| rows.iter().any(|r| r.as_bytes()[x] == b'#'))
                .unwrap()
        };
        let (l, c, r) = (
            first_col(Align::Left),
            first_col(Align::Center),
            first_col(Align::Right),
        );
        assert!(l < 3 && l < c && c < r, "{l} {c} {r}");
    }

    #[test]
    fn a_scroll_enters_from_the_right_and_loops() {
        let l = TextLook {
            speed: 2.0,
            ..look("新年")
        };
        let clip = clip_for(&l, &grid(40, 10)).unwrap();
        // One step is half a cell: at 2 m/s, 0.25 s a step.
        let timing = Timing::default();
        let leftmost = |t: f64| {
            let rows = lit(clip.frame(timing.frame_at(&clip, t)), 40);
            (0..40).find(|&x| rows.iter().any(|r| r.as_bytes()[x] == b'#'))
        };
        assert_eq!(leftmost(0.0), None, "starts just off the right edge");
        let a = leftmost(2.0).expect("in after 2 s");
        let b = leftmost(4.0).expect("further in after 4 s");
        assert!(a >= 34 && b < a && a - b >= 3, "{a} {b}");
        // Loops: text 2 em × 8 m = 16 m, canvas 40 m → 56 m at 2 m/s.
        assert!((clip.length() - 28.0).abs() < 0.5, "{}", clip.length());
        assert_eq!(leftmost(2.0 + clip.length()), Some(a));
    }

    // ---- compiled from show files, rendered by the engine ---------------

    use crate::diag::{Diagnostics, SourceFile};
    use crate::engine::{render_frame, ActiveShow};
    use chrono::{DateTime, TimeZone, Utc};

    const RGB: &str = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";

    /// A facade of 24 × 8 RGB pixels, 0.5 m apart, facing east.
    fn site() -> String {
        "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
         [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-3\"\n\
         [[surfaces]]\nname = \"east\"\norigin = [100, 50]\nheading = 90\nwidth = 12\nheight = 4\n\
         [[arrays]]\nname = \"px\"\nprofile = \"rgb\"\nmode = \"3ch\"\nsurface = \"east\"\nat = [0.25, 0.25]\nspacing = 0.5\ncolumns = 24\nrows = 8\nstart = \"0.1\"\n"
            .to_string()
    }

    fn compile(show: &str) -> Result<(crate::config::Config, Vec<String>), Vec<String>> {
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site()),
            profiles: vec![SourceFile::new("t/fixtures/rgb.toml", RGB)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("t/s.toml", show)],
        };
        let media = super::super::media::NoMedia;
        let mut warnings = Vec::new();
        match crate::config::compile_with_media(sources, &media, Diagnostics::new()) {
            Ok(cfg) => {
                warnings.extend(cfg.warnings.items.iter().map(|d| d.to_string()));
                Ok((cfg, warnings))
            }
            Err(d) => Err(d.items.iter().map(|d| d.to_string()).collect()),
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap()
    }

    /// The facade as rows of '#' (red lit) and '.', top row first.
    fn facade_at(cfg: &crate::config::Config, t: f64) -> Vec<String> {
        let mut show = (**cfg.show("s").unwrap()).clone();
        show.fade_in = 0.0;
        let at = start() + chrono::Duration::microseconds((t * 1e6) as i64);
        let frame = render_frame(&cfg.site, &[ActiveShow::new(&show, start(), None, 0)], at);
        let red: Vec<u8> = cfg
            .site
            .fixtures
            .iter()
            .map(|f| frame.universe(f.universe).unwrap()[f.address as usize - 1])
            .collect();
        // The array fills rows from the bottom, left to right.
        (0..8)
            .rev()
            .map(|row| {
                (0..24)
                    .map(|col| if red[row * 24 + col] > 100 { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_text_layer_plays_on_a_facade_through_the_engine() {
        let (cfg, warnings) = compile(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"上\"\nsize = \"100%\"\ncolor = \"red\"\n",
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let rows = facade_at(&cfg, 1.0);
        eprintln!("{}", rows.join("\n"));
        // 上 in the middle columns, its wide foot in the bottom rows.
        let count = |r: &String| r.matches('#').count();
        let widest = (0..8).max_by_key(|&y| count(&rows[y])).unwrap();
        assert!(widest >= 5, "{rows:#?}");
        assert!(
            rows.iter()
                .all(|r| !r[..6].contains('#') && !r[18..].contains('#')),
            "{rows:#?}"
        );
    }

    #[test]
    fn a_scrolling_text_layer_moves_with_show_time() {
        let (cfg, _) = compile(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"中\"\nspeed = \"2 m/s\"\n",
        )
        .unwrap();
        let first_lit = |t: f64| {
            let rows = facade_at(&cfg, t);
            (0..24).find(|&c| rows.iter().any(|r| r.as_bytes()[c] == b'#'))
        };
        // 2 m/s on a 0.5 m pitch: four cells a second, in from the right.
        let (a, b) = (first_lit(1.5).unwrap(), first_lit(3.0).unwrap());
        assert!(a > b && a - b >= 5 && a - b <= 7, "{a} {b}");
    }

    #[test]
    fn bad_text_layers_are_located_errors_and_missing_glyphs_warnings() {
        let errs = compile(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"倒计时 {countdwn:2027-01-01T00:00:00+08:00}\"\n",
        )
        .unwrap_err();
        // Line 4, the column of the placeholder's name inside the string.
        let col = "text = \"倒计时 {".chars().count() + 1;
        assert!(
            errs.iter()
                .any(|e| e.contains(&format!("t/s.toml:4:{col}"))
                    && e.contains("unknown placeholder")),
            "{errs:?}"
        );
        let errs = compile(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\nalign = \"middle\"\ntext = \"a\"\n",
        )
        .unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("t/s.toml:4:") && e.contains("unknown align `middle`")),
            "{errs:?}"
        );
        let errs = compile("[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\n").unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("t/s.toml:3:") && e.contains("needs `text")),
            "{errs:?}"
        );
        // Live templates play (see the tests below).
        let (_, warnings) =
            compile("[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"{time:%H:%M}\"\n")
                .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let (_, warnings) =
            compile("[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"快樂\"\n").unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("t/s.toml:4:")
                && w.contains("'樂' (U+6A02)")
                && !w.contains("'快'")),
            "{warnings:?}"
        );
        let (_, warnings) =
            compile("[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\ntext = \"a\"\n").unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("`text` has no effect on a solid layer")),
            "{warnings:?}"
        );
    }

    /// Text over a blue layer: around the letters the blue shows, on them
    /// the red, and at their edges a mix; no cell is dark. Live text too.
    #[test]
    fn text_over_a_colour_shows_the_colour_around_the_letters() {
        for text in ["上", "{time:%H}"] {
            let show = format!(
                "[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\ncolor = \"#0000ff\"\n\
                 [[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"{text}\"\nsize = \"100%\"\ncolor = \"red\"\n"
            );
            let (cfg, _) = compile(&show).unwrap();
            let mut show = (**cfg.show("s").unwrap()).clone();
            show.fade_in = 0.0;
            let at = start() + chrono::Duration::seconds(1);
            let frame = render_frame(&cfg.site, &[ActiveShow::new(&show, start(), None, 0)], at);
            let cells: Vec<&[u8]> = cfg
                .site
                .fixtures
                .iter()
                .map(|f| {
                    let a = f.address as usize - 1;
                    &frame.universe(f.universe).unwrap()[a..a + 3]
                })
                .collect();
            assert_eq!(cells.len(), 24 * 8);
            let blue = cells.iter().filter(|c| **c == [0, 0, 255]).count();
            let red = cells.iter().filter(|c| c[0] > 128).count();
            let mixed = cells.iter().filter(|c| c[0] > 20 && c[2] > 20).count();
            assert!(
                blue > 60 && red > 5 && mixed > 0,
                "{text}: {blue} blue, {red} red, {mixed} mixed"
            );
            // Every cell is blue, red or between: the red and blue add
            // up to about full (a mix), never a dark cell.
            for (k, c) in cells.iter().enumerate() {
                let sum = u16::from(c[0]) + u16::from(c[2]);
                assert!(
                    (250..=260).contains(&sum) && c[1] == 0,
                    "{text}: cell {k} {c:?}"
                );
            }
        }
    }

    /// The whole DMX frame of the facade at `at` for a show started at `start()`.
    fn dmx_at(cfg: &crate::config::Config, at: DateTime<Utc>) -> Vec<u8> {
        let mut show = (**cfg.show("s").unwrap()).clone();
        show.fade_in = 0.0;
        let frame = render_frame(&cfg.site, &[ActiveShow::new(&show, start(), None, 0)], at);
        (0..4)
            .flat_map(|u| frame.universe(u).map(|d| d.to_vec()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn live_time_text_changes_across_a_minute_and_is_the_same_for_an_instant() {
        let show = "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"{time:%H:%M}\"\nsize = \"90%\"\ncolor = \"red\"\n";
        let (cfg, _) = compile(show).unwrap();
        // 20:00:59.5 and 20:01:00.5 in Shanghai: one second apart, across
        // a minute.
        let before = Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 59).unwrap()
            + chrono::Duration::milliseconds(500);
        let after = before + chrono::Duration::seconds(1);
        let (a, b) = (dmx_at(&cfg, before), dmx_at(&cfg, after));
        assert!(a.iter().any(|&v| v > 100), "the text lights the facade");
        assert_ne!(a, b, "20:00 and 20:01 are different words");
        // The same instant again (after another text was laid out), and
        // later in the same minute: the same frame.
        assert_eq!(dmx_at(&cfg, before), a);
        assert_eq!(dmx_at(&cfg, after + chrono::Duration::seconds(29)), b);
        // Another compile of the same files (a second process, another
        // node of the fleet) draws the same bytes for the instant.
        let (again, _) = compile(show).unwrap();
        assert_eq!(dmx_at(&again, after), b);
        // What the layer draws is the instant's words laid out.
        let Some(crate::show::effect::Effect::Media(m)) =
            cfg.show("s").map(|s| s.layers[0].effect.clone())
        else {
            panic!("a text layer is a media layer");
        };
        let live = m.live().expect("a template with a placeholder is live");
        // Without an instant it shows its most lit form; literal text is itself.
        assert_eq!(
            Template::parse("新年 2027 {time:%H:%M}", chrono_tz::Asia::Shanghai)
                .unwrap()
                .representative(),
            "新年 2027 88:88"
        );
        assert_eq!(live.text_at(before), "20:00");
        assert_eq!(live.text_at(after), "20:01");
    }

    #[test]
    fn a_countdown_ticks_each_second_and_holds_at_zero() {
        let show = "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"{countdown:2026-12-31T20:00:10+08:00|seconds}\"\ncolor = \"red\"\n";
        let (cfg, _) = compile(show).unwrap();
        let at = |s: i64| {
            Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap() + chrono::Duration::seconds(s)
        };
        let frames: Vec<Vec<u8>> = (0..13).map(|s| dmx_at(&cfg, at(s))).collect();
        // 10, 9, … 1: each second its own digits (9 → 8 → … all differ).
        for s in 1..10 {
            assert_ne!(frames[s - 1], frames[s], "second {s}");
        }
        // 0 from the instant on.
        assert_eq!(frames[10], frames[11]);
        assert_eq!(frames[11], frames[12]);
    }

    #[test]
    fn a_live_scroll_shows_what_a_baked_scroll_of_the_same_words_shows() {
        let live = "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"{time:%H:%M}\"\nspeed = \"2 m/s\"\ncolor = \"red\"\n";
        let (live, _) = compile(live).unwrap();
        let (baked, _) = compile(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"text\"\ntext = \"20:01\"\nspeed = \"2 m/s\"\ncolor = \"red\"\n",
        )
        .unwrap();
        // 20:01:10 to 20:01:12 in Shanghai, 70 to 72 s into the show, in
        // steps that are not a scroll step's multiple.
        let mut moved = false;
        let mut last = Vec::new();
        for k in 0..40 {
            let at = start() + chrono::Duration::milliseconds(70_000 + 53 * k);
            let f = dmx_at(&live, at);
            assert_eq!(f, dmx_at(&baked, at), "{k}");
            moved |= !last.is_empty() && last != f;
            last = f;
        }
        assert!(moved, "the scroll moves");
    }
}
