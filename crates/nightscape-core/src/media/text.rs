//! Text rasterised with the bundled font into a [`Picture`]: white, with
//! the glyphs' coverage as alpha, so a text layer colours it and places it
//! like any other picture.
//!
//! The font is a subset of Noto Sans CJK SC Bold (SIL Open Font Licence
//! 1.1; `assets/fonts/` holds it, its licence and the script that made
//! it): printable ASCII, the 3,755 level-1 hanzi of GB 2312 and the
//! festival and signage words of `assets/fonts/glyphs.txt` with CJK
//! punctuation. Bold, because hairlines vanish on a facade of LED pixels.
//! It is compiled into the binary, so a site renders the same text on
//! every controller with no font installed.
//!
//! One line, glyph after glyph by their advances (no shaping: Chinese,
//! Latin and digits need none). A character the font lacks is drawn as a
//! hollow box, never dropped, so a missing glyph is seen on the facade;
//! [`missing_glyphs`] names them for `check`.
//!
//! Templates (`{countdown:…}`, `{time:…}`) are in [`template`].

pub mod template;

use super::{Limits, MediaError, Picture};
use ab_glyph::{point, Font, FontRef, Glyph, GlyphId, PxScale, ScaleFont};
use std::sync::OnceLock;

/// The bundled font (see the module doc and `assets/fonts/LICENCE`).
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Bold-subset.otf");
/// What the bundled font is, for docs and `nightscape effects`.
pub const FONT_NAME: &str = "Noto Sans CJK SC Bold (subset: ASCII, GB 2312 level-1 hanzi, festival words; SIL Open Font Licence 1.1)";

/// Text taller than this many pixels is refused (a facade is not that tall
/// in cells; the raster would only be sampled down again).
pub const MAX_PX_HEIGHT: f32 = 1024.0;
/// Characters in one rendered line, at most.
pub const MAX_CHARS: usize = 1000;

fn font() -> &'static FontRef<'static> {
    static PARSED: OnceLock<FontRef<'static>> = OnceLock::new();
    PARSED.get_or_init(|| {
        // A test holds this: the bundled bytes parse.
        FontRef::try_from_slice(FONT).expect("the bundled font parses")
    })
}

/// Whether the bundled font draws `c` (whitespace always counts as drawn).
pub fn has_glyph(c: char) -> bool {
    c.is_whitespace() || c.is_control() || font().glyph_id(c) != GlyphId(0)
}

/// The characters of `text` the bundled font lacks, each once, in order
/// of first appearance.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if !has_glyph(c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// One line of text, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPicture {
    /// White; alpha is the glyphs' coverage. Its height is the font's
    /// ascent to descent at the size asked for; its width the line's
    /// advance (at least 1 pixel).
    pub picture: Picture,
    /// Rows from the top to the baseline.
    pub baseline: u32,
    /// Characters drawn as boxes because the font lacks them.
    pub missing: Vec<char>,
}

/// Above the baseline, in em: the ideographic em box's top (the font's
/// typographic ascender, 880/1000).
const ASCENT_EM: f32 = 0.88;
/// Below the baseline, in em: room for Latin descenders (g, y reach
/// 0.243 em), below the em box's 0.12.
const DESCENT_EM: f32 = 0.25;

/// The scale at which one em is `em_px` pixels (ab_glyph scales by the
/// hhea line height, which for this font is 1.448 em).
fn scale_for_em(em_px: f32) -> PxScale {
    let f = font();
    let units = f.units_per_em().unwrap_or(1000.0);
    PxScale::from(em_px * f.height_unscaled() / units)
}

/// The picture's height for text `em_px` pixels to the em.
pub fn line_height(em_px: f32) -> u32 {
    ((ASCENT_EM + DESCENT_EM) * em_px).ceil().max(1.0) as u32
}

/// The advance of `text` in pixels at `em_px` pixels to the em.
pub fn measure(text: &str, em_px: f32) -> f32 {
    let f = font().as_scaled(scale_for_em(em_px));
    text.chars().map(|c| advance(&f, c)).sum()
}

fn advance(f: &impl ScaleFont<&'static FontRef<'static>>, c: char) -> f32 {
    let c = if c.is_control() || c.is_whitespace() {
        ' '
    } else {
        c
    };
    let id = f.glyph_id(c);
    if id == GlyphId(0) {
        box_advance(
            f.scale().y * font().units_per_em().unwrap_or(1000.0) / font().height_unscaled(),
        )
    } else {
        f.h_advance(id)
    }
}

/// A missing character's box is 0.6 em wide with its margins.
fn box_advance(height: f32) -> f32 {
    0.6 * height
}

/// Renders `text` as one line with `em_px` pixels to the em (a hanzi is
/// about that tall and wide). The picture is 1.13 em tall: the em box
/// (0.88 above the baseline, 0.12 below) and room for Latin descenders.
/// Control characters and newlines are spaces.
pub fn render(text: &str, em_px: f32, limits: &Limits) -> Result<TextPicture, MediaError> {
    if !(em_px.is_finite() && (1.0..=MAX_PX_HEIGHT).contains(&em_px)) {
        return Err(MediaError::TooLarge(format!(
            "text {em_px} pixels to the em: the size must come to 1 to {MAX_PX_HEIGHT} pixels"
        )));
    }
    let chars = text.chars().count();
    if chars > MAX_CHARS {
        return Err(MediaError::TooLarge(format!(
            "text of {chars} characters: at most {MAX_CHARS} on one line"
        )));
    }
    let scale = scale_for_em(em_px);
    let f = font().as_scaled(scale);
    let ascent = (ASCENT_EM * em_px).round();
    let w = measure(text, em_px).ceil().max(1.0);
    let h = line_height(em_px) as f32;
    if w > limits.max_side as f32
        || h > limits.max_side as f32
        || (w as u64) * (h as u64) > limits.max_pixels
    {
        return Err(MediaError::TooLarge(format!(
            "the text would be {w}×{h} pixels, more than this site allows ({} a side): shorten it or make it smaller",
            limits.max_side
        )));
    }
    let mut picture = Picture::blank(w as u32, h as u32);
    for px in &mut picture.rgba {
        *px = [255, 255, 255, 0];
    }
    let mut coverage = vec![0f32; picture.rgba.len()];
    let (pw, ph) = (picture.width as i64, picture.height as i64);
    let mut plot = |x: i64, y: i64, c: f32| {
        if (0..pw).contains(&x) && (0..ph).contains(&y) {
            let a = &mut coverage[(y * pw + x) as usize];
            *a = (*a + c).min(1.0);
        }
    };
    let mut missing = Vec::new();
    let mut x = 0.0f32;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        let id = f.glyph_id(c);
        if id == GlyphId(0) {
            if !missing.contains(&c) {
                missing.push(c);
            }
            hollow_box(&mut plot, x, ascent, em_px);
            x += box_advance(em_px);
            continue;
        }
        let glyph: Glyph = id.with_scale_and_position(scale, point(x, ascent));
        if let Some(outlined) = font().outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                plot(
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                    cov,
                );
            });
        }
        x += f.h_advance(id);
    }
    for (px, a) in picture.rgba.iter_mut().zip(coverage) {
        px[3] = (a * 255.0).round() as u8;
    }
    Ok(TextPicture {
        picture,
        baseline: ascent.round().max(0.0) as u32,
        missing,
    })
}

/// A hollow box for a character the font lacks: from the cap height to
/// the baseline, 0.5 em wide, strokes 1/12 em (at least a pixel).
fn hollow_box(plot: &mut impl FnMut(i64, i64, f32), x: f32, baseline: f32, em: f32) {
    let stroke = (em / 12.0).max(1.0).round() as i64;
    let left = (x + 0.05 * em).round() as i64;
    let right = (x + 0.55 * em).round() as i64;
    let top = (baseline - 0.72 * em).round() as i64;
    let bottom = baseline.round() as i64;
    for yy in top..bottom {
        for xx in left..right {
            let edge = yy < top + stroke
                || yy >= bottom - stroke
                || xx < left + stroke
                || xx >= right - stroke;
            if edge {
                plot(xx, yy, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha(p: &Picture) -> Vec<u8> {
        p.rgba.iter().map(|c| c[3]).collect()
    }

    #[test]
    fn the_bundled_font_parses_and_covers_what_it_promises() {
        let _ = font();
        let kept = include_str!("../../assets/fonts/subset-chars.txt");
        let lacking: Vec<char> = kept.trim_end().chars().filter(|&c| !has_glyph(c)).collect();
        assert!(lacking.is_empty(), "promised but missing: {lacking:?}");
        assert_eq!(
            missing_glyphs("新年快乐 2027 春节 中秋 元宵 国庆 欢迎 Happy New Year!"),
            Vec::<char>::new()
        );
        // Not in the subset: a traditional form, an emoji, Japanese kana.
        assert_eq!(
            missing_glyphs("樂🎆ありがとう樂"),
            vec!['樂', '🎆', 'あ', 'り', 'が', 'と', 'う']
        );
    }

    #[test]
    fn renders_white_glyphs_with_coverage_as_alpha() {
        let t = render("新年快乐 2027", 32.0, &Limits::default()).unwrap();
        let p = &t.picture;
        // 1.13 em tall; four hanzi of 1 em, a space and four digits of 0.59 em.
        assert_eq!(p.height, 37);
        assert_eq!(t.baseline, 28);
        assert!((200..=215).contains(&p.width), "{}", p.width);
        assert!(p
            .rgba
            .iter()
            .all(|c| c[0] == 255 && c[1] == 255 && c[2] == 255));
        let a = alpha(p);
        let lit = a.iter().filter(|&&v| v > 128).count();
        assert!(
            lit > a.len() / 10 && lit < a.len() / 2,
            "{lit} of {}",
            a.len()
        );
        // Nothing above the first hanzi's top or in the gap of the space.
        let space_col = (4.0 * 32.0 + 3.0) as usize;
        assert!((0..37).all(|y| a[y * p.width as usize + space_col] == 0));
        // A hanzi spans most of the em box: ink in the rows near its top
        // and its bottom, none in the Latin descender room below.
        let ink = |y: usize| (0..128).any(|x| a[y * p.width as usize + x] > 128);
        assert!(ink(3) && ink(30), "the hanzi fill the em box");
        assert!(!ink(35), "nothing below the em box");
        assert!(t.missing.is_empty());
    }

    #[test]
    fn a_missing_glyph_is_a_visible_box() {
        let t = render("🎆", 24.0, &Limits::default()).unwrap();
        assert_eq!(t.missing, vec!['🎆']);
        let p = &t.picture;
        let a = alpha(p);
        let w = p.width as usize;
        let row = |y: usize| &a[y * w..(y + 1) * w];
        // The box's top and bottom edges are solid runs, its inside clear.
        let bottom = t.baseline as usize - 1;
        let top = t.baseline as usize - (0.72f32 * 24.0).round() as usize;
        assert!(row(top).iter().filter(|&&v| v == 255).count() >= 10);
        assert!(row(bottom).iter().filter(|&&v| v == 255).count() >= 10);
        let mid = (top + bottom) / 2;
        assert_eq!(
            row(mid).iter().filter(|&&v| v == 255).count(),
            4,
            "two strokes of 2 px"
        );
    }

    #[test]
    fn size_limits_are_errors() {
        assert!(render("a", 0.0, &Limits::default()).is_err());
        assert!(render("a", f32::NAN, &Limits::default()).is_err());
        assert!(render("a", 5000.0, &Limits::default()).is_err());
        assert!(render(&"长".repeat(MAX_CHARS + 1), 10.0, &Limits::default()).is_err());
        let small = Limits {
            max_side: 100,
            ..Limits::default()
        };
        assert!(matches!(
            render(&"长".repeat(20), 10.0, &small),
            Err(MediaError::TooLarge(_))
        ));
        assert!(render("", 10.0, &Limits::default()).unwrap().picture.width == 1);
    }
}
