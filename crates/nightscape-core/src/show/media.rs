//! `effect = "media"`: a picture, animation or video mapped onto a layer's
//! cells by where they are.
//!
//! Compiling the layer decodes its `source` once, frame by frame, and
//! samples each frame onto the layer's cells ([`crate::media::place`]): on
//! the surface they stand on (u right, v up) when they are all on one, else
//! in plan (x east, y north). What is kept is a [`Clip`] of one colour per
//! cell per frame, shared by every copy of the compiled show; rendering
//! picks the frame for the time since the show started
//! ([`Timing::frame_at`]) and copies its colours, allocating nothing.
//!
//! The core reads no file: the bytes come through [`MediaFiles`], which
//! the daemon implements over the site folder and tests implement over a
//! map. `builtin:test-card` (colour bars with an arrow pointing up, for
//! commissioning a facade's orientation) and `builtin:sweep` (a two-second
//! looping colour sweep, for generated sites and benchmarks) need no file.

use super::Ctx;
use crate::diag::Spanned;
use crate::media::clip::{Clip, Timing};
use crate::media::frames;
use crate::media::place::{Fit, Placement, Sampler};
use crate::media::{Limits, MediaError, Picture};
use crate::site::Site;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Where a show's media files come from: the daemon reads the site folder,
/// tests hand over bytes. `path` is the show's folder joined with `source`.
pub trait MediaFiles {
    fn read(&self, path: &Path) -> Result<Arc<Vec<u8>>, String>;

    /// Whether `path` is a folder (of numbered frames).
    fn is_folder(&self, _path: &Path) -> bool {
        false
    }

    /// The names of the files in the folder `path`, in any order (at most
    /// [`crate::media::frames::MAX_FRAMES`] + 1 of them: more is refused
    /// anyway).
    fn list(&self, _path: &Path) -> Result<Vec<String>, String> {
        Err("folders of frames are read from the show's folder when the site loads".into())
    }
}

/// No files at all (compiling without a folder, e.g. the API's one-layer
/// overrides): only `builtin:` sources work.
pub struct NoMedia;

impl MediaFiles for NoMedia {
    fn read(&self, _: &Path) -> Result<Arc<Vec<u8>>, String> {
        Err(
            "not readable here: media files are read from the show's folder when the site loads"
                .into(),
        )
    }
}

/// Files given as bytes by path (tests, tools).
#[derive(Default)]
pub struct MediaMap(pub std::collections::BTreeMap<PathBuf, Arc<Vec<u8>>>);

impl MediaFiles for MediaMap {
    fn read(&self, path: &Path) -> Result<Arc<Vec<u8>>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "not found".to_string())
    }

    /// A folder: a path some file is in.
    fn is_folder(&self, path: &Path) -> bool {
        self.0.keys().any(|p| p.parent() == Some(path))
    }

    fn list(&self, path: &Path) -> Result<Vec<String>, String> {
        if !self.is_folder(path) {
            return Err("not found".into());
        }
        Ok(self
            .0
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect())
    }
}

/// A compiled media layer: its sampled clip and how show time plays it.
/// Cheap to clone (shared); equal when it is the same compiled clip.
#[derive(Clone)]
pub struct MediaLayer {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    clip: Clip,
    timing: Timing,
    /// A text layer with `{countdown:…}`/`{time:…}`: its words follow the
    /// instant (`clip` is then its representative look, super::text).
    live: Option<super::text::LiveText>,
}

impl PartialEq for MediaLayer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for MediaLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLayer")
            .field("source", &self.inner.source)
            .field("frames", &self.inner.clip.frames())
            .field("cells", &self.inner.clip.cells())
            .field("length_s", &self.inner.clip.length())
            .field("timing", &self.inner.timing)
            .finish()
    }
}

impl MediaLayer {
    /// A layer of an already sampled clip (text and tests build these).
    pub fn new(source: impl Into<String>, clip: Clip, timing: Timing) -> MediaLayer {
        MediaLayer {
            inner: Arc::new(Inner {
                source: source.into(),
                clip,
                timing,
                live: None,
            }),
        }
    }

    /// A text layer whose words follow the instant ([`super::text::LiveText`]);
    /// `clip` is its look when no instant is given.
    pub fn with_live(
        source: impl Into<String>,
        clip: Clip,
        timing: Timing,
        live: super::text::LiveText,
    ) -> MediaLayer {
        MediaLayer {
            inner: Arc::new(Inner {
                source: source.into(),
                clip,
                timing,
                live: Some(live),
            }),
        }
    }

    /// The live text, for a text layer with placeholders.
    pub fn live(&self) -> Option<&super::text::LiveText> {
        self.inner.live.as_ref()
    }

    pub fn source(&self) -> &str {
        &self.inner.source
    }

    pub fn clip(&self) -> &Clip {
        &self.inner.clip
    }

    pub fn timing(&self) -> &Timing {
        &self.inner.timing
    }

    /// The cells' colours at `t` seconds after the show started, one per
    /// layer cell in the layer's order.
    pub fn frame_at(&self, t: f64) -> &[[u8; 3]] {
        let k = self.inner.timing.frame_at(&self.inner.clip, t);
        self.inner.clip.frame(k)
    }

    /// Whether the layer may let the layers below show through (a clip
    /// with transparent frames, or live text): the engine then mixes its
    /// cells by their coverage instead of replacing what is below.
    pub fn may_cover_partly(&self) -> bool {
        self.inner.clip.has_coverage() || self.inner.live.is_some()
    }

    /// The cells' coverage at `t` seconds after the show started at the
    /// instant `at` (the frame [`crate::show::effect::Effect::at_instant`]
    /// shows), one byte per layer cell; None when every cell is wholly
    /// covered. Live text's clip for the instant is kept in `held`.
    pub fn coverage_at<'s>(
        &'s self,
        t: f64,
        at: chrono::DateTime<chrono::Utc>,
        held: &'s mut Option<Arc<Clip>>,
    ) -> Option<&'s [u8]> {
        let clip: &Clip = match self.live() {
            Some(live) => held.insert(live.clip_at(at, t)),
            None if !self.inner.clip.has_coverage() => return None,
            None => &self.inner.clip,
        };
        clip.coverage(self.inner.timing.frame_at(clip, t))
    }

    /// Seconds into the clip at `t` seconds after the show started (for
    /// findings: "flashes 12.4 s into the clip").
    pub fn clip_seconds(&self, t: f64) -> f64 {
        self.inner.timing.clip_ms(t, self.inner.clip.length_ms()) as f64 / 1000.0
    }

    /// Show seconds after which the look repeats, if it does.
    pub fn period(&self) -> Option<f64> {
        self.inner.timing.period(&self.inner.clip)
    }
}

/// The layer keys a media layer reads beyond the common ones.
pub(super) struct MediaKeys<'a> {
    pub source: &'a Option<Spanned<String>>,
    pub fit: &'a Option<Spanned<String>>,
    pub x: &'a Option<Spanned<f64>>,
    pub y: &'a Option<Spanned<f64>>,
    pub scale: &'a Option<Spanned<f64>>,
    pub rotate: &'a Option<Spanned<f64>>,
    pub rate: &'a Option<Spanned<f64>>,
    pub start: &'a Option<Spanned<String>>,
    pub repeat: &'a Option<Spanned<i64>>,
    pub fps: &'a Option<Spanned<f64>>,
    pub looping: Option<bool>,
}

impl MediaKeys<'_> {
    /// The keys given, with where: for "has no effect" on other layers.
    pub fn given(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut add = |k, s: Option<std::ops::Range<usize>>| {
            if let Some(s) = s {
                out.push((k, s));
            }
        };
        add("source", self.source.as_ref().map(|v| v.span()));
        add("fit", self.fit.as_ref().map(|v| v.span()));
        add("x", self.x.as_ref().map(|v| v.span()));
        add("y", self.y.as_ref().map(|v| v.span()));
        add("scale", self.scale.as_ref().map(|v| v.span()));
        add("rotate", self.rotate.as_ref().map(|v| v.span()));
        add("rate", self.rate.as_ref().map(|v| v.span()));
        add("start", self.start.as_ref().map(|v| v.span()));
        add("repeat", self.repeat.as_ref().map(|v| v.span()));
        add("fps", self.fps.as_ref().map(|v| v.span()));
        out
    }
}

/// Warn about media keys on a layer whose effect does not read them.
pub(super) fn warn_unread(cx: &mut Ctx, keys: &MediaKeys, spec: &super::reference::EffectSpec) {
    for (key, span) in keys.given() {
        if !spec.reads(key) {
            cx.diags.warn(
                cx.file,
                span,
                format!("`{key}` has no effect on a {} layer", spec.name),
            );
        }
    }
}

/// Where the layer's cells are, as points (p right, q up) in metres: on
/// their surface when all stand on the same one, else in plan. Also says
/// which, for messages.
pub fn cell_points(site: &Site, cells: &[u32]) -> (Vec<[f64; 2]>, Option<u16>) {
    let first = cells.first().and_then(|&c| site.surface_of_cell(c));
    let one_surface = first.filter(|f| {
        cells.iter().all(|&c| {
            site.surface_of_cell(c)
                .is_some_and(|s| s.surface == f.surface)
        })
    });
    match one_surface {
        Some(f) => (
            cells
                .iter()
                .map(|&c| {
                    let s = site.surface_of_cell(c).map_or([0.0; 2], |s| s.uv);
                    [f64::from(s[0]), f64::from(s[1])]
                })
                .collect(),
            Some(f.surface),
        ),
        None => (
            cells
                .iter()
                .map(|&c| {
                    let p = site.cells[c as usize].position;
                    [f64::from(p[0]), f64::from(p[1])]
                })
                .collect(),
            None,
        ),
    }
}

/// Compile a media layer's clip for `cells`. Problems go to `cx` at the
/// key at fault; None when the layer cannot play.
pub(super) fn compile(
    cx: &mut Ctx,
    keys: &MediaKeys,
    effect_span: std::ops::Range<usize>,
    site: &Site,
    cells: &[u32],
) -> Option<MediaLayer> {
    let Some(source) = keys.source else {
        cx.err(
            effect_span,
            "a media layer needs `source = \"<file in the show's folder>\"` (or \"builtin:test-card\")",
        );
        return None;
    };
    let fit = match keys.fit {
        None => Some(Fit::Stretch),
        Some(f) => {
            let fit = Fit::parse(f.get_ref());
            if fit.is_none() {
                cx.err(
                    f.span(),
                    format!(
                        "unknown fit `{}`: use stretch, contain or cover",
                        f.get_ref()
                    ),
                );
            }
            fit
        }
    };
    let number = |cx: &mut Ctx,
                  v: &Option<Spanned<f64>>,
                  default: f64,
                  ok: &dyn Fn(f64) -> bool,
                  what: &str|
     -> f64 {
        match v {
            None => default,
            Some(n) if n.get_ref().is_finite() && ok(*n.get_ref()) => *n.get_ref(),
            Some(n) => {
                cx.err(n.span(), what.to_string());
                default
            }
        }
    };
    let placement = Placement {
        fit: fit.unwrap_or_default(),
        x: number(
            cx,
            keys.x,
            0.0,
            &|_| true,
            "x must be a finite number (a share of the target's width)",
        ),
        y: number(
            cx,
            keys.y,
            0.0,
            &|_| true,
            "y must be a finite number (a share of the target's height)",
        ),
        scale: number(
            cx,
            keys.scale,
            1.0,
            &|v| v > 0.0 && v <= 1000.0,
            "scale must be more than 0 (1 = as fitted) and at most 1000",
        ),
        rotate: number(
            cx,
            keys.rotate,
            0.0,
            &|_| true,
            "rotate must be a finite number of degrees",
        ),
    };
    let rate = number(
        cx,
        keys.rate,
        1.0,
        &|v| v.abs() <= 100.0,
        "rate must be -100..100 (1 = real time, 0 = hold the start frame)",
    );
    let start = cx.duration(keys.start, 0.0);
    let repeat = match keys.repeat {
        None => None,
        Some(r) if (1..=1_000_000).contains(r.get_ref()) => Some(*r.get_ref() as u32),
        Some(r) => {
            cx.err(r.span(), "repeat must be 1 or more plays");
            None
        }
    };
    if let (Some(r), Some(false)) = (keys.repeat, keys.looping) {
        cx.diags.warn(
            cx.file,
            r.span(),
            "`repeat` has no effect with `loop = false` (the clip plays once)",
        );
    }
    let timing = Timing {
        start,
        rate,
        looping: keys.looping.unwrap_or(true),
        repeat,
    };
    fit?;
    let (points, _surface) = cell_points(site, cells);
    let text = source.get_ref().trim();
    let limits = Limits::default();
    let mut clip = Clip::new(cells.len());
    let mut sampler: Option<Sampler> = None;
    let mut colors = vec![[0u8; 3]; cells.len()];
    let mut cover = vec![0u8; cells.len()];
    let mut on_frame = |p: &Picture, seconds: f64| -> Result<(), MediaError> {
        let s = match &sampler {
            Some(s) => s,
            None => sampler.insert(Sampler::new(&points, &placement, p.width, p.height)),
        };
        s.sample(p, &mut colors, &mut cover);
        clip.push_covered(&colors, Some(&cover), seconds)
    };
    let result = if let Some(name) = text.strip_prefix("builtin:") {
        match builtin(name) {
            Some(frames) => frames.iter().try_for_each(|(p, s)| on_frame(p, *s)),
            None => {
                cx.err(
                    source.span(),
                    format!(
                        "unknown built-in source `{text}`: use builtin:test-card or builtin:sweep"
                    ),
                );
                return None;
            }
        }
    } else {
        let path = resolve(cx, source)?;
        if text.ends_with('/') || cx.media.is_folder(&path) {
            let fps = frame_rate(cx, keys, source)?;
            let frames = match cx.media.list(&path).and_then(|names| frames::order(&names)) {
                Ok(f) => f,
                Err(why) => {
                    cx.err(
                        source.span(),
                        format!("media `{text}` ({}): {why}", path.display()),
                    );
                    return None;
                }
            };
            for w in &frames.warnings {
                cx.diags
                    .warn(cx.file, source.span(), format!("media `{text}`: {w}"));
            }
            let read = |name: &str| cx.media.read(&path.join(name));
            match decode_frames(&frames.frames, fps, &limits, &read, &mut on_frame) {
                Ok(()) => Ok(()),
                Err(why) => {
                    cx.err(source.span(), format!("media `{text}`: {why}"));
                    return None;
                }
            }
        } else {
            if let Some(fps) = keys.fps {
                cx.diags.warn(
                    cx.file,
                    fps.span(),
                    "`fps` has no effect on a file (its frames keep their own timing): it is for a folder of numbered frames",
                );
            }
            match cx.media.read(&path) {
                Err(why) => {
                    cx.err(
                        source.span(),
                        format!("cannot read media `{text}` ({}): {why}", path.display()),
                    );
                    return None;
                }
                Ok(bytes) => {
                    crate::media::decode(&bytes, &limits, video_size(&points), &mut on_frame)
                }
            }
        }
    };
    if let Err(e) = result {
        cx.err(source.span(), format!("media `{text}`: {e}"));
        return None;
    }
    Some(MediaLayer::new(text, clip, timing))
}

/// A folder's `fps`: required, more than 0, at most [`frames::MAX_FPS`].
fn frame_rate(cx: &mut Ctx, keys: &MediaKeys, source: &Spanned<String>) -> Option<f64> {
    match keys.fps {
        None => {
            cx.err(
                source.span(),
                format!(
                    "media `{}` is a folder of frames: say how fast they play with `fps = 25` (frames a second)",
                    source.get_ref().trim()
                ),
            );
            None
        }
        Some(f)
            if f.get_ref().is_finite() && *f.get_ref() > 0.0 && *f.get_ref() <= frames::MAX_FPS =>
        {
            Some(*f.get_ref())
        }
        Some(f) => {
            cx.err(
                f.span(),
                format!(
                    "fps must be more than 0 and at most {} frames a second (got {})",
                    frames::MAX_FPS,
                    f.get_ref()
                ),
            );
            None
        }
    }
}

/// Reads a frame file by its name in the folder.
type ReadFrame<'a> = dyn Fn(&str) -> Result<Arc<Vec<u8>>, String> + 'a;

/// Decode a folder's frames (`names` in play order) one file at a time,
/// each shown `1 / fps`: every file one still picture of the first one's
/// size, the frames' pixels counted against `limits` as an animation's are
/// (checked from each file's header before it is decoded).
fn decode_frames(
    names: &[String],
    fps: f64,
    limits: &Limits,
    read: &ReadFrame,
    on_frame: &mut dyn FnMut(&Picture, f64) -> Result<(), MediaError>,
) -> Result<(), String> {
    let mut first: Option<(u32, u32)> = None;
    let mut total: u64 = 0;
    for (k, name) in names.iter().enumerate() {
        let bytes = read(name).map_err(|why| format!("cannot read frame `{name}`: {why}"))?;
        if crate::media::is_mp4(&bytes) {
            return Err(format!(
                "frame `{name}` is a video: a folder's frames are pictures (PNG, JPEG, WebP, GIF)"
            ));
        }
        let mut pictures = 0;
        crate::media::image::decode(&bytes, limits, &mut |p, _| {
            pictures += 1;
            if pictures > 1 {
                return Err(MediaError::Unsupported(
                    "it is an animation: a folder's frames are single pictures".into(),
                ));
            }
            match first {
                None => first = Some((p.width, p.height)),
                Some((w, h)) if (w, h) != (p.width, p.height) => {
                    return Err(MediaError::Unsupported(format!(
                        "it is {} × {} pixels but the first frame `{}` is {w} × {h}: a folder's frames must all be one size",
                        p.width, p.height, names[0]
                    )));
                }
                Some(_) => {}
            }
            total += u64::from(p.width) * u64::from(p.height);
            if total > limits.max_total_pixels {
                return Err(MediaError::TooLarge(format!(
                    "the frames up to this one hold {total} pixels: more than the {} nightscape decodes for one clip (fewer or smaller frames)",
                    limits.max_total_pixels
                )));
            }
            on_frame(p, frames::frame_seconds(k, fps))
        })
        .map_err(|e| format!("frame `{name}`: {e}"))?;
    }
    Ok(())
}

/// The size video frames are reduced to before sampling: about four
/// picture pixels across each cell's footprint for a square-ish layout
/// (at least 64, at most 2048 a side), so averaging stays honest and a
/// 1080p clip on a facade is not kept at 1080p.
fn video_size(points: &[[f64; 2]]) -> (u32, u32) {
    let side = (4.0 * (points.len() as f64).sqrt().ceil() * 2.0).clamp(64.0, 2048.0) as u32;
    (side, side)
}

/// The file a `source` names: relative to the show's folder, inside it.
fn resolve(cx: &mut Ctx, source: &Spanned<String>) -> Option<PathBuf> {
    let rel = Path::new(source.get_ref().trim());
    let escapes = rel.is_absolute()
        || rel.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::Prefix(_) | Component::RootDir
            )
        });
    if escapes || rel.as_os_str().is_empty() {
        cx.err(
            source.span(),
            format!(
                "media source `{}` must be a file inside the show's folder (a relative path without `..`)",
                source.get_ref()
            ),
        );
        return None;
    }
    let folder = cx.file.path.parent().unwrap_or(Path::new(""));
    Some(folder.join(rel))
}

/// The built-in sources: frames and how long each shows.
pub fn builtin(name: &str) -> Option<Vec<(Picture, f64)>> {
    match name {
        "test-card" => Some(vec![(test_card(), 0.0)]),
        "sweep" => Some((0..20).map(|k| (sweep(k, 20), 0.1)).collect()),
        _ => None,
    }
}

/// 96 × 64 colour bars (white, yellow, cyan, green, magenta, red, blue)
/// on the lower part, a white arrow pointing up in a black band on top:
/// the arrow must point to the sky on the facade and north in plan.
fn test_card() -> Picture {
    let (w, h) = (96u32, 64u32);
    let mut p = Picture::blank(w, h);
    const BARS: [[u8; 3]; 7] = [
        [255, 255, 255],
        [255, 255, 0],
        [0, 255, 255],
        [0, 255, 0],
        [255, 0, 255],
        [255, 0, 0],
        [0, 0, 255],
    ];
    for y in 0..h {
        for x in 0..w {
            let px = if y >= h / 2 {
                let c = BARS[(x * 7 / w) as usize];
                [c[0], c[1], c[2], 255]
            } else {
                // The arrow: a triangle head over a stem, centred.
                let cx = (w / 2) as i32;
                let dx = (x as i32 - cx).abs();
                let head = (4..18).contains(&y) && dx <= (y as i32 - 4);
                let stem = (18..30).contains(&y) && dx <= 4;
                if head || stem {
                    [255, 255, 255, 255]
                } else {
                    [0, 0, 0, 255]
                }
            };
            p.rgba[(y * w + x) as usize] = px;
        }
    }
    p
}

/// Frame `k` of `n` of a 64 × 32 sweep: hues across, moving right by a
/// whole turn over the loop, brighter at the top.
fn sweep(k: u32, n: u32) -> Picture {
    let (w, h) = (64u32, 32u32);
    let mut p = Picture::blank(w, h);
    for y in 0..h {
        let v = 1.0 - 0.6 * y as f32 / h as f32;
        for x in 0..w {
            let hue = (x as f32 / w as f32 - k as f32 / n as f32).rem_euclid(1.0);
            let [r, g, b] = hue_rgb(hue);
            let q = |c: f32| (c * v * 255.0).round() as u8;
            p.rgba[(y * w + x) as usize] = [q(r), q(g), q(b), 255];
        }
    }
    p
}

fn hue_rgb(h: f32) -> [f32; 3] {
    let x = h * 6.0;
    let f = |n: f32| (((x + n).rem_euclid(6.0) - 3.0).abs() - 1.0).clamp(0.0, 1.0);
    [f(0.0), f(4.0), f(2.0)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, SourceFile};
    use crate::engine::{render_frame, ActiveShow};
    use chrono::{DateTime, TimeZone, Utc};
    use std::io::Cursor;

    const RGB: &str = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
    const RGBW: &str = "name = \"rgbw\"\npower_w = 10\n[[modes]]\nname = \"4ch\"\nchannels = [\"red\", \"green\", \"blue\", \"white\"]\n";
    const MONO: &str =
        "name = \"mono\"\npower_w = 10\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmer\"]\n";

    fn site_text(body: &str) -> String {
        format!("name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n[[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-3\"\n{body}")
    }

    /// A 4 × 3 grid of RGB lamps, 1 m apart, on a facade facing `heading`.
    fn facade(heading: f64, profile: &str, mode: &str) -> String {
        site_text(&format!(
            "[[surfaces]]\nname = \"east\"\norigin = [100, 50]\nheading = {heading}\nwidth = 4\nheight = 3\n\
             [[arrays]]\nname = \"px\"\nprofile = \"{profile}\"\nmode = \"{mode}\"\nsurface = \"east\"\nat = [0.5, 0.5]\nspacing = 1\ncolumns = 4\nrows = 3\nstart = \"0.1\"\n"
        ))
    }

    /// The same grid in plan: 4 lamps a row, rows 1 m apart northwards.
    fn plan() -> String {
        let mut s = String::new();
        for r in 0..3 {
            for c in 0..4 {
                let k = r * 4 + c;
                s += &format!(
                    "[[fixtures]]\nname = \"px-{:03}\"\nprofile = \"rgb\"\nmode = \"3ch\"\nat = [{c}, {r}]\naddress = \"0.{}\"\n",
                    k + 1,
                    k * 3 + 1
                );
            }
        }
        site_text(&s)
    }

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
        let img = ::image::RgbaImage::from_fn(w, h, |x, y| ::image::Rgba(f(x, y)));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ::image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn compile(
        site: &str,
        show: &str,
        files: &[(&str, Vec<u8>)],
    ) -> Result<crate::config::Config, Vec<String>> {
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![
                SourceFile::new("t/fixtures/rgb.toml", RGB),
                SourceFile::new("t/fixtures/rgbw.toml", RGBW),
                SourceFile::new("t/fixtures/mono.toml", MONO),
            ],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("t/s.toml", show)],
        };
        let media = MediaMap(
            files
                .iter()
                .map(|(p, b)| (PathBuf::from(format!("t/{p}")), Arc::new(b.clone())))
                .collect(),
        );
        crate::config::compile_with_media(sources, &media, Diagnostics::new())
            .map_err(|d| d.items.iter().map(|d| d.to_string()).collect())
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap()
    }

    /// The DMX of each fixture (its first `n` channels) at `t` s into the show.
    fn dmx(cfg: &crate::config::Config, t: f64, n: usize) -> Vec<Vec<u8>> {
        let show = cfg.show("s").unwrap();
        let mut show = (**show).clone();
        show.fade_in = 0.0;
        let at = start() + chrono::Duration::microseconds((t * 1e6) as i64);
        let frame = render_frame(&cfg.site, &[ActiveShow::new(&show, start(), None, 0)], at);
        cfg.site
            .fixtures
            .iter()
            .map(|f| {
                let u = frame.universe(f.universe).unwrap();
                u[f.address as usize - 1..f.address as usize - 1 + n].to_vec()
            })
            .collect()
    }

    const SHOW: &str = "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"pic.png\"\n";

    /// A 4 × 3 picture, each pixel its own colour (column, row).
    fn labelled(x: u32, y: u32) -> [u8; 4] {
        [x as u8 * 80, y as u8 * 120, 255, 255]
    }

    #[test]
    fn a_picture_lands_pixel_for_pixel_on_a_facade_top_up_whatever_its_heading() {
        let pic = png(4, 3, labelled);
        let mut seen = Vec::new();
        for heading in [90.0, 37.0, 270.0] {
            let cfg = compile(
                &facade(heading, "rgb", "3ch"),
                SHOW,
                &[("pic.png", pic.clone())],
            )
            .unwrap();
            let out = dmx(&cfg, 1.0, 3);
            // Fixtures fill rows from the bottom, left to right.
            for (k, got) in out.iter().enumerate() {
                let (col, row_up) = (k as u32 % 4, k as u32 / 4);
                let want = labelled(col, 2 - row_up);
                assert_eq!(got[..], want[..3], "heading {heading}, fixture {k}");
            }
            seen.push(out);
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn in_plan_the_top_of_the_picture_is_north() {
        let cfg = compile(&plan(), SHOW, &[("pic.png", png(4, 3, labelled))]).unwrap();
        let out = dmx(&cfg, 0.5, 3);
        for (k, got) in out.iter().enumerate() {
            let (col, row_north) = (k as u32 % 4, k as u32 / 4);
            assert_eq!(got[..], labelled(col, 2 - row_north)[..3], "fixture {k}");
        }
    }

    #[test]
    fn a_checkerboard_finer_than_the_grid_is_grey_on_every_cell() {
        let pic = png(40, 30, |x, y| {
            let v = if (x + y) % 2 == 0 { 255 } else { 0 };
            [v, v, v, 255]
        });
        let cfg = compile(&facade(90.0, "rgb", "3ch"), SHOW, &[("pic.png", pic)]).unwrap();
        let out = dmx(&cfg, 0.0, 3);
        // Half the light of white on each cell, the same everywhere: the
        // colour a screen shows for it, #bcbcbc (linear 0.5 in sRGB).
        let want = dmx(
            &compile(
                &facade(90.0, "rgb", "3ch"),
                "[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\ncolor = \"#bcbcbc\"\n",
                &[],
            )
            .unwrap(),
            0.0,
            3,
        );
        for (k, (g, w)) in out.iter().zip(&want).enumerate() {
            for (a, b) in g.iter().zip(w) {
                assert!(a.abs_diff(*b) <= 1, "fixture {k}: {g:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn gif_frames_follow_show_time() {
        use ::image::codecs::gif::GifEncoder;
        use ::image::{Delay, Frame, RgbaImage};
        let mut bytes = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut bytes);
            for (c, ms) in [
                ([255u8, 0, 0], 200u32),
                ([0, 255, 0], 300),
                ([0, 0, 255], 500),
            ] {
                let img = RgbaImage::from_pixel(8, 6, ::image::Rgba([c[0], c[1], c[2], 255]));
                enc.encode_frame(Frame::from_parts(
                    img,
                    0,
                    0,
                    Delay::from_numer_denom_ms(ms, 1),
                ))
                .unwrap();
            }
        }
        let show = "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"a.gif\"\n";
        let cfg = compile(&facade(90.0, "rgb", "3ch"), show, &[("a.gif", bytes)]).unwrap();
        for (t, want) in [
            (0.1, [255, 0, 0]),
            (0.25, [0, 255, 0]),
            (0.6, [0, 0, 255]),
            (1.1, [255, 0, 0]),
            (1.45, [0, 255, 0]),
        ] {
            let out = dmx(&cfg, t, 3);
            assert!(out.iter().all(|d| d[..] == want), "at {t}: {:?}", out[0]);
        }
    }

    #[test]
    fn colours_reach_rgbw_and_mono_emitters_as_colour_layers_do() {
        // White, red and a mid grey pictures against the same colours
        // written as `color`: equal DMX on RGBW and dimmer-only fixtures.
        for (profile, mode, n) in [("rgb", "3ch", 3), ("rgbw", "4ch", 4), ("mono", "1ch", 1)] {
            for (px, color) in [
                ([255u8, 255, 255], "white"),
                ([255, 0, 0], "red"),
                ([128, 64, 200], "#8040c8"),
            ] {
                let site = facade(90.0, profile, mode);
                let media = compile(
                    &site,
                    SHOW,
                    &[("pic.png", png(4, 3, |_, _| [px[0], px[1], px[2], 255]))],
                )
                .unwrap();
                let solid = compile(
                    &site,
                    &format!(
                        "[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\ncolor = \"{color}\"\n"
                    ),
                    &[],
                )
                .unwrap();
                assert_eq!(
                    dmx(&media, 0.0, n),
                    dmx(&solid, 0.0, n),
                    "{profile} {color}"
                );
            }
        }
    }

    #[test]
    fn bad_media_is_a_located_error() {
        let site = facade(90.0, "rgb", "3ch");
        let good = png(16, 16, |_, _| [1, 2, 3, 255]);
        let mut huge = good.clone();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        // A GIF declaring a 60000 × 60000 screen: refused from its header.
        let mut bomb = b"GIF89a".to_vec();
        bomb.extend_from_slice(&60000u16.to_le_bytes());
        bomb.extend_from_slice(&60000u16.to_le_bytes());
        bomb.extend_from_slice(&[0, 0, 0, 0x3b]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("missing.png", Vec::new(), "cannot read media `missing.png`"),
            (
                "cut.png",
                good[..good.len() / 2].to_vec(),
                "media `cut.png`:",
            ),
            ("huge.png", huge, "100000 × 100000"),
            ("bomb.gif", bomb, "60000 × 60000"),
            ("text.png", b"hello".to_vec(), "PNG, APNG, JPEG, GIF, WebP"),
        ];
        for (name, bytes, want) in cases {
            let files: Vec<(&str, Vec<u8>)> = if name == "missing.png" {
                vec![]
            } else {
                vec![(name, bytes)]
            };
            let show =
                format!("[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"{name}\"\n");
            let errs = compile(&site, &show, &files).unwrap_err();
            assert_eq!(errs.len(), 1, "{name}: {errs:?}");
            assert!(errs[0].starts_with("t/s.toml:4:10: "), "{name}: {errs:?}");
            assert!(errs[0].contains(want), "{name}: {errs:?}");
        }
        for (source, want) in [
            ("../x.png", "inside the show's folder"),
            ("/etc/passwd", "inside the show's folder"),
            ("builtin:nope", "unknown built-in"),
        ] {
            let show = format!(
                "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"{source}\"\n"
            );
            let errs = compile(&site, &show, &[]).unwrap_err();
            assert!(
                errs.len() == 1 && errs[0].contains(want),
                "{source}: {errs:?}"
            );
        }
        let errs = compile(
            &site,
            "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\n",
            &[],
        )
        .unwrap_err();
        assert!(errs[0].contains("needs `source"), "{errs:?}");
        let errs = compile(&site, "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"builtin:test-card\"\nfit = \"fill\"\n", &[]).unwrap_err();
        assert!(errs[0].contains("unknown fit `fill`"), "{errs:?}");
    }

    /// A folder show at `fps` over `frames/`.
    fn folder_show(fps: &str) -> String {
        format!("[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"frames/\"\n{fps}")
    }

    fn solid_png(c: [u8; 3]) -> Vec<u8> {
        png(4, 3, |_, _| [c[0], c[1], c[2], 255])
    }

    fn warnings(cfg: &crate::config::Config) -> Vec<String> {
        cfg.warnings.items.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_folder_of_numbered_frames_plays_in_number_order_at_its_fps() {
        // Listed out of order, numbered 1, 2, 10 (a gap: warned), a stray
        // note left out (warned), 4 frames a second.
        let files = vec![
            ("frames/10.png", solid_png([0, 0, 255])),
            ("frames/1.png", solid_png([255, 0, 0])),
            ("frames/2.png", solid_png([0, 255, 0])),
            ("frames/notes.txt", b"shot list".to_vec()),
        ];
        let cfg = compile(
            &facade(90.0, "rgb", "3ch"),
            &folder_show("fps = 4\n"),
            &files,
        )
        .unwrap();
        let w = warnings(&cfg);
        assert!(
            w.iter()
                .any(|w| w.starts_with("t/s.toml:4:10: ")
                    && w.contains("7 frame numbers are missing")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w.contains("`notes.txt` is left out")),
            "{w:?}"
        );
        for (t, want) in [
            (0.0, [255, 0, 0]),
            (0.2, [255, 0, 0]),
            (0.26, [0, 255, 0]),
            (0.6, [0, 0, 255]),
            (0.74, [0, 0, 255]),
            // 0.75 s long, looping.
            (0.76, [255, 0, 0]),
            (1.05, [0, 255, 0]),
        ] {
            let out = dmx(&cfg, t, 3);
            assert!(out.iter().all(|d| d[..] == want), "at {t}: {:?}", out[0]);
        }
        // `rate` and `loop` play a folder like any clip.
        let once = folder_show("fps = 4\nloop = false\n");
        let cfg = compile(&facade(90.0, "rgb", "3ch"), &once, &files).unwrap();
        assert_eq!(dmx(&cfg, 10.0, 3)[0], [0, 0, 255]);
    }

    #[test]
    fn bad_frame_folders_are_located_errors() {
        let site = facade(90.0, "rgb", "3ch");
        let two = |b: Vec<u8>| {
            vec![
                ("frames/0001.png", solid_png([1, 2, 3])),
                ("frames/0002.png", b),
            ]
        };
        let gif2 = {
            use ::image::codecs::gif::GifEncoder;
            use ::image::{Delay, Frame, RgbaImage};
            let mut bytes = Vec::new();
            {
                let mut enc = GifEncoder::new(&mut bytes);
                for v in [10u8, 200] {
                    let img = RgbaImage::from_pixel(4, 3, ::image::Rgba([v, v, v, 255]));
                    enc.encode_frame(Frame::from_parts(
                        img,
                        0,
                        0,
                        Delay::from_numer_denom_ms(100, 1),
                    ))
                    .unwrap();
                }
            }
            bytes
        };
        let good = solid_png([1, 2, 3]);
        // (fps line, files, where, what the error says)
        type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                "",
                two(good.clone()),
                "t/s.toml:4:10: ",
                "say how fast they play with `fps = 25`",
            ),
            (
                "fps = 0\n",
                two(good.clone()),
                "t/s.toml:5:7: ",
                "fps must be more than 0 and at most 120",
            ),
            (
                "fps = 1000\n",
                two(good.clone()),
                "t/s.toml:5:7: ",
                "at most 120",
            ),
            ("fps = 25\n", vec![], "t/s.toml:4:10: ", "not found"),
            (
                "fps = 25\n",
                vec![("frames/a.png", good.clone())],
                "t/s.toml:4:10: ",
                "no numbered frames",
            ),
            (
                "fps = 25\n",
                vec![
                    ("frames/1.png", good.clone()),
                    ("frames/01.png", good.clone()),
                ],
                "t/s.toml:4:10: ",
                "both frame 1",
            ),
            (
                "fps = 25\n",
                two(png(8, 3, |_, _| [0, 0, 0, 255])),
                "t/s.toml:4:10: ",
                "frame `0002.png`: it is 8 × 3 pixels but the first frame `0001.png` is 4 × 3",
            ),
            (
                "fps = 25\n",
                two(good[..good.len() / 2].to_vec()),
                "t/s.toml:4:10: ",
                "frame `0002.png`:",
            ),
            (
                "fps = 25\n",
                two(gif2),
                "t/s.toml:4:10: ",
                "a folder's frames are single pictures",
            ),
        ];
        for (fps, files, at, want) in cases {
            let errs = compile(&site, &folder_show(fps), &files).unwrap_err();
            assert_eq!(errs.len(), 1, "{fps} {want}: {errs:?}");
            assert!(
                errs[0].starts_with(at) && errs[0].contains(want),
                "{want}: {errs:?}"
            );
        }
        // `fps` on a file: a warning, the file's own timing plays.
        let show =
            "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"pic.png\"\nfps = 25\n";
        let cfg = compile(&site, show, &[("pic.png", good)]).unwrap();
        assert!(
            warnings(&cfg)
                .iter()
                .any(|w| w.starts_with("t/s.toml:5:7: ")
                    && w.contains("`fps` has no effect on a file")),
            "{:?}",
            warnings(&cfg)
        );
    }

    /// The DMX of the facade for a show of a solid `below` layer under a
    /// media layer of `pic.png` blended `blend`.
    fn over(below: &str, blend: &str, pic: Vec<u8>) -> Vec<Vec<u8>> {
        let show = format!(
            "[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\ncolor = \"{below}\"\n\
             [[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"pic.png\"\nblend = \"{blend}\"\n"
        );
        let cfg = compile(&facade(90.0, "rgb", "3ch"), &show, &[("pic.png", pic)]).unwrap();
        dmx(&cfg, 1.0, 3)
    }

    #[test]
    fn transparent_pixels_show_the_layer_below() {
        // The left column transparent, the next half transparent white,
        // the rest opaque white.
        let pic = png(4, 3, |x, _| [255, 255, 255, [0, 128, 255, 255][x as usize]]);
        let close =
            |got: &[u8], want: [u8; 3]| got.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 1);
        for (below, blend, want) in [
            // LTP: below × (1 − ½) + white × ½ (DMX values mix as any crossfade).
            (
                "#ff0000",
                "ltp",
                [[255, 0, 0], [255, 128, 128], [255, 255, 255]],
            ),
            (
                "#000080",
                "ltp",
                [[0, 0, 128], [128, 128, 192], [255, 255, 255]],
            ),
            // HTP: the brighter of below and light × alpha.
            (
                "#000080",
                "htp",
                [[0, 0, 128], [128, 128, 128], [255, 255, 255]],
            ),
        ] {
            let out = over(below, blend, pic.clone());
            for (k, got) in out.iter().enumerate() {
                let col = k % 4;
                let want = want[col.min(2)];
                assert!(
                    close(got, want),
                    "{below} {blend}, fixture {k}: {got:?} vs {want:?}"
                );
            }
        }
        // An opaque picture replaces what is below, as it always did.
        let out = over("#ff0000", "ltp", png(4, 3, |_, _| [10, 20, 30, 255]));
        assert!(out.iter().all(|d| d[..] == [10, 20, 30]), "{out:?}");
    }

    #[test]
    fn media_keys_on_other_layers_are_warned_about() {
        let cfg = compile(
            &facade(90.0, "rgb", "3ch"),
            "[[layers]]\ntarget = \"px-*\"\neffect = \"solid\"\nsource = \"a.png\"\n",
            &[],
        )
        .unwrap();
        let w: Vec<String> = cfg.warnings.items.iter().map(|d| d.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("`source` has no effect on a solid layer")),
            "{w:?}"
        );
    }
}
