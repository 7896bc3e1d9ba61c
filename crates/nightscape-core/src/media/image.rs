//! Still and animated pictures from bytes: PNG and APNG, JPEG, GIF, WebP
//! (still and animated), each frame handed to a callback as a
//! [`Picture`] with how long it shows, so a clip is sampled frame by frame
//! and never held whole at full size.
//!
//! Bounded before anything is allocated for the picture: the format is
//! known from its first bytes, the declared size is read from the header
//! and held against [`Limits`] (a 100,000 × 100,000 PNG is refused from
//! its 33 bytes of header), and an animation's frames are counted against
//! the total before each is decoded (a GIF of ten thousand full-screen
//! frames is refused at the frame that crosses the line, its earlier
//! frames already dropped). Broken files are errors, never panics.

use super::{Limits, MediaError, Picture};
use image::{AnimationDecoder, ImageDecoder};
use std::io::Cursor;

/// The formats this module decodes, known from a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl Format {
    /// The format the bytes start with, if one of ours.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::WebP)
        } else {
            None
        }
    }
}

/// What this module reads, for "cannot decode" messages.
pub const READS: &str = "PNG, APNG, JPEG, GIF, WebP (still or animated)";

/// Refuse a declared size past the limits.
pub fn check_size(width: u32, height: u32, limits: &Limits) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "the picture declares a size of {width} × {height} pixels"
        )));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(MediaError::TooLarge(format!(
            "the picture declares {width} × {height} pixels: more than the {} pixels a side nightscape decodes (scale it down to the facade's size first)",
            limits.max_side
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(MediaError::TooLarge(format!(
            "the picture declares {width} × {height} = {pixels} pixels: more than the {} nightscape decodes in one frame",
            limits.max_pixels
        )));
    }
    Ok(())
}

/// The size a PNG's IHDR declares, read from its bytes without a decoder.
fn png_header_size(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return Err(MediaError::Corrupt(
            "the PNG ends before its header (IHDR) is complete".into(),
        ));
    }
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok((be(16), be(20)))
}

/// The logical screen a GIF declares.
fn gif_header_size(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    if bytes.len() < 10 {
        return Err(MediaError::Corrupt(
            "the GIF ends before its screen descriptor".into(),
        ));
    }
    Ok((
        u32::from(u16::from_le_bytes([bytes[6], bytes[7]])),
        u32::from(u16::from_le_bytes([bytes[8], bytes[9]])),
    ))
}

fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // One frame of RGBA plus the decoder's own buffers.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_mul(2) + (16 << 20));
    l
}

fn corrupt(e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(l) => MediaError::TooLarge(format!("{l}")),
        image::ImageError::Unsupported(u) => MediaError::Unsupported(format!("{u}")),
        other => MediaError::Corrupt(format!("{other}")),
    }
}

/// Decode `bytes`, handing each frame and its duration (seconds; a still
/// is one frame of 0 s) to `on_frame`.
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    on_frame: &mut dyn FnMut(&Picture, f64) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let Some(format) = Format::sniff(bytes) else {
        return Err(MediaError::Unsupported(format!(
            "not a picture nightscape reads (it reads {READS})"
        )));
    };
    match format {
        Format::Png => {
            let (w, h) = png_header_size(bytes)?;
            check_size(w, h, limits)?;
            let mut d = image::codecs::png::PngDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            d.set_limits(image_limits(limits)).map_err(corrupt)?;
            if d.is_apng().map_err(corrupt)? {
                let frames = d.apng().map_err(corrupt)?.into_frames();
                frames_of(frames, w, h, limits, on_frame)
            } else {
                still(d, limits, on_frame)
            }
        }
        Format::Gif => {
            let (w, h) = gif_header_size(bytes)?;
            check_size(w, h, limits)?;
            let mut d = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            d.set_limits(image_limits(limits)).map_err(corrupt)?;
            frames_of(d.into_frames(), w, h, limits, on_frame)
        }
        Format::Jpeg => {
            let mut d =
                image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            let (w, h) = d.dimensions();
            check_size(w, h, limits)?;
            d.set_limits(image_limits(limits)).map_err(corrupt)?;
            still(d, limits, on_frame)
        }
        Format::WebP => {
            let mut d =
                image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)).map_err(corrupt)?;
            let (w, h) = d.dimensions();
            check_size(w, h, limits)?;
            d.set_limits(image_limits(limits)).map_err(corrupt)?;
            if d.has_animation() {
                frames_of(d.into_frames(), w, h, limits, on_frame)
            } else {
                still(d, limits, on_frame)
            }
        }
    }
}

/// A still picture: decoded into RGBA8 at its own size.
fn still(
    d: impl ImageDecoder,
    limits: &Limits,
    on_frame: &mut dyn FnMut(&Picture, f64) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let (w, h) = d.dimensions();
    check_size(w, h, limits)?;
    let img = image::DynamicImage::from_decoder(d).map_err(corrupt)?;
    let rgba = img.into_rgba8();
    let picture = Picture {
        width: w,
        height: h,
        rgba: rgba.pixels().map(|p| p.0).collect(),
    };
    on_frame(&picture, 0.0)
}

/// The most frames one animation may have, whatever their size.
pub const MAX_FRAMES: u64 = 100_000;

/// An animation's frames (whole canvases, as the decoders composite them),
/// each counted against the limits before it is decoded.
fn frames_of(
    frames: image::Frames<'_>,
    w: u32,
    h: u32,
    limits: &Limits,
    on_frame: &mut dyn FnMut(&Picture, f64) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let per_frame = u64::from(w) * u64::from(h);
    let mut picture = Picture::blank(w, h);
    let mut count: u64 = 0;
    for frame in frames {
        count += 1;
        if count > MAX_FRAMES || count.saturating_mul(per_frame) > limits.max_total_pixels {
            return Err(MediaError::TooLarge(format!(
                "the animation has more than {} frames of {w} × {h} pixels: more than the {} pixels nightscape decodes for one clip",
                count - 1,
                limits.max_total_pixels
            )));
        }
        let frame = frame.map_err(corrupt)?;
        let (num, den) = frame.delay().numer_denom_ms();
        let seconds = if den == 0 {
            0.0
        } else {
            f64::from(num) / f64::from(den) / 1000.0
        };
        let buf = frame.buffer();
        if buf.width() == w && buf.height() == h && frame.left() == 0 && frame.top() == 0 {
            for (o, p) in picture.rgba.iter_mut().zip(buf.pixels()) {
                *o = p.0;
            }
        } else {
            // A frame smaller than the canvas at its offset (the decoders
            // composite, but stay safe): the rest transparent.
            picture.rgba.fill([0, 0, 0, 0]);
            for (x, y, p) in buf.enumerate_pixels() {
                let (cx, cy) = (x + frame.left(), y + frame.top());
                if cx < w && cy < h {
                    picture.rgba[(cy * w + cx) as usize] = p.0;
                }
            }
        }
        on_frame(&picture, seconds)?;
    }
    if count == 0 {
        return Err(MediaError::Corrupt("the animation has no frames".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8], limits: &Limits) -> Result<Vec<(Picture, f64)>, MediaError> {
        let mut out = Vec::new();
        decode(bytes, limits, &mut |p, s| {
            out.push((p.clone(), s));
            Ok(())
        })?;
        Ok(out)
    }

    fn png(w: u32, h: u32, rgba: &[u8]) -> Vec<u8> {
        let img = image::RgbaImage::from_raw(w, h, rgba.to_vec()).unwrap();
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_png_decodes_top_row_first() {
        let bytes = png(
            2,
            2,
            &[255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 9, 9, 9, 128],
        );
        let f = frames(&bytes, &Limits::default()).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].0.rgba,
            vec![
                [255, 0, 0, 255],
                [0, 255, 0, 255],
                [0, 0, 255, 255],
                [9, 9, 9, 128]
            ]
        );
    }

    #[test]
    fn a_huge_png_header_is_refused_before_decoding() {
        let mut bytes = png(1, 1, &[0, 0, 0, 255]);
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let e = frames(&bytes, &Limits::default()).unwrap_err();
        assert!(matches!(e, MediaError::TooLarge(_)), "{e}");
        assert!(e.to_string().contains("100000 × 100000"), "{e}");
    }

    #[test]
    fn a_truncated_png_is_an_error() {
        let bytes = png(16, 16, &[200; 16 * 16 * 4]);
        for cut in [8, 20, 40, bytes.len() - 20] {
            let e = frames(&bytes[..cut], &Limits::default());
            assert!(e.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_bytes_say_what_is_read() {
        let e = frames(b"hello world", &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("PNG, APNG, JPEG, GIF, WebP"), "{e}");
    }
}
