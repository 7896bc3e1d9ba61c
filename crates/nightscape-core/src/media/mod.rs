//! Media as pixels: pictures, animations, video and text, decoded from
//! bytes into pictures the render engine samples onto a site's cells.
//!
//! Everything here is pure (bytes in, pixels out): the daemon reads the
//! files, the core decodes them. Decoders are bounded: every decoder takes
//! [`Limits`] and refuses a file whose declared size would exceed them
//! before allocating for it, so a hostile header (a 100,000 × 100,000 PNG,
//! a GIF zip bomb) is a located error, never an allocation.
//!
//! `video` (MP4/H.264) and `text` (a bundled CJK-capable font) produce the
//! same [`Picture`] as the still and animated image decoders, so placement
//! and sampling are written once.

pub mod clip;
pub mod frames;
pub mod image;
pub mod place;
pub mod text;
pub mod video;

/// One decoded picture: sRGB, straight (not premultiplied) alpha,
/// row-major with the top row first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<[u8; 4]>,
}

impl Picture {
    /// A transparent picture of the given size.
    pub fn blank(width: u32, height: u32) -> Picture {
        Picture {
            width,
            height,
            rgba: vec![[0, 0, 0, 0]; width as usize * height as usize],
        }
    }
}

/// What a decoder may allocate for one file; checked against the file's
/// declared sizes before decoding.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest width or height accepted, in pixels.
    pub max_side: u32,
    /// Largest number of pixels in one frame.
    pub max_pixels: u64,
    /// Largest total of decoded pixels over all frames kept.
    pub max_total_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side: 8192,
            max_pixels: 4096 * 4096,
            max_total_pixels: 256 * 1024 * 1024,
        }
    }
}

/// Why a media file could not be used; the caller adds the file's path.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MediaError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    TooLarge(String),
}

/// Whether bytes look like an MP4 (ISO base media: `ftyp` box first).
pub fn is_mp4(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[4..8] == b"ftyp"
}

/// Decode any media nightscape reads — still and animated pictures
/// ([`image`]) or MP4 video ([`video`]) — handing each frame and how long
/// it shows (seconds) to `on_frame`. Video frames arrive already reduced
/// to fit `video_max` pixels (what the cells they land on can show).
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    video_max: (u32, u32),
    on_frame: &mut dyn FnMut(&Picture, f64) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    if !is_mp4(bytes) {
        return image::decode(bytes, limits, on_frame);
    }
    // The video decoder says when each frame starts; a frame's duration
    // is known when the next one arrives, so one small picture waits.
    let mut held: Option<(Picture, f64)> = None;
    let info = video::decode_mp4(bytes, limits, video_max, &mut |t, p| {
        if let Some((prev, at)) = held.take() {
            on_frame(&prev, t - at)?;
        }
        held = Some((p.clone(), t));
        Ok(())
    })?;
    if let Some((last, at)) = held {
        on_frame(&last, (info.duration - at).max(0.001))?;
    }
    Ok(())
}
