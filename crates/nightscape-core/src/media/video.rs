//! MP4/H.264 video decoded in-process, frame by frame, into small
//! [`Picture`]s.
//!
//! Why this shape: a show's clip is sampled onto a few thousand cells, so
//! a 1080p frame is worth keeping only until it has been averaged down.
//! [`decode_mp4`] hands each frame to the caller already reduced to at
//! most the size it asked for (area average in Y′CbCr, every source pixel
//! counted once) and keeps nothing: memory is the decoder's reference
//! frames plus one small picture, whatever the clip's length.
//!
//! The decoder is Cisco's OpenH264, built from its bundled C++ source by
//! the `openh264` crate (no system library, no ffmpeg at run time). It
//! decodes 8-bit 4:2:0 progressive H.264 — Constrained Baseline, Main and
//! High profiles, B-frames included. The container is read by our own
//! bounded reader ([`demux`]) and every SPS is read by [`sps`] before the
//! decoder sees it, so a declared size past the caller's [`Limits`] is
//! refused before anything is allocated for it. Colours are converted as
//! BT.709 limited range (16–235), what HD video is mastered in.
//!
//! Time: frame k's time is its presentation time minus the first frame's,
//! in seconds; the decoder hands frames back in display order, so the
//! k-th frame out gets the k-th smallest presentation time.

mod demux;
mod sps;

use super::{Limits, MediaError, Picture};
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

/// What a clip is, from its header alone (see [`probe_mp4`]) or after
/// decoding it ([`decode_mp4`]).
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// The picture's size as coded (after cropping), in pixels.
    pub width: u32,
    pub height: u32,
    /// The size of the pictures handed to the caller.
    pub frame_width: u32,
    pub frame_height: u32,
    /// Frames in the track ([`probe_mp4`]) or frames decoded ([`decode_mp4`]).
    pub frames: u32,
    /// From the first frame's start to the last frame's end, seconds.
    pub duration: f64,
}

/// What nightscape's video decoder reads, for messages.
pub const DECODES: &str = "nightscape decodes H.264 (AVC) video in MP4 files";

/// The size a `width × height` picture is reduced to so that it fits in
/// `max` (aspect kept, never enlarged, at least 1 × 1).
pub fn fit_within(width: u32, height: u32, max: (u32, u32)) -> (u32, u32) {
    let (mw, mh) = (max.0.max(1), max.1.max(1));
    if width <= mw && height <= mh {
        return (width.max(1), height.max(1));
    }
    let scale = (f64::from(mw) / f64::from(width)).min(f64::from(mh) / f64::from(height));
    let w = (f64::from(width) * scale).round().clamp(1.0, f64::from(mw));
    let h = (f64::from(height) * scale)
        .round()
        .clamp(1.0, f64::from(mh));
    (w as u32, h as u32)
}

/// Reads a clip's header and parameter sets without decoding a frame:
/// the size, the frame count and the duration, or why it cannot be
/// decoded. `max` is the frame size the caller would ask for.
pub fn probe_mp4(bytes: &[u8], limits: &Limits, max: (u32, u32)) -> Result<VideoInfo, MediaError> {
    let track = video_track(bytes)?;
    let (width, height) = first_size(&track, limits)?;
    let (fw, fh) = fit_within(width, height, max);
    check_total(track.samples.len(), (fw, fh), limits)?;
    let times = Times::new(&track);
    Ok(VideoInfo {
        width,
        height,
        frame_width: fw,
        frame_height: fh,
        frames: track.samples.len() as u32,
        duration: times.duration,
    })
}

/// Decodes every frame of an MP4's first video track, in display order,
/// each reduced to fit in `max` (see [`fit_within`]), and hands it to
/// `on_frame` with its time in seconds from the clip's start. An error
/// from `on_frame` stops decoding and is returned.
pub fn decode_mp4(
    bytes: &[u8],
    limits: &Limits,
    max: (u32, u32),
    on_frame: &mut dyn FnMut(f64, &Picture) -> Result<(), MediaError>,
) -> Result<VideoInfo, MediaError> {
    let track = video_track(bytes)?;
    let (width, height) = first_size(&track, limits)?;
    let (fw, fh) = fit_within(width, height, max);
    check_total(track.samples.len(), (fw, fh), limits)?;
    let times = Times::new(&track);

    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| MediaError::Corrupt(format!("the H.264 decoder did not start: {e}")))?;
    let mut out = Output {
        limits,
        max,
        times: &times,
        next: 0,
        shrink: Shrink::default(),
        picture: Picture::blank(fw, fh),
        on_frame,
    };

    // Annex B for OpenH264: start codes instead of lengths, and the avcC's
    // parameter sets ahead of the first frame.
    let mut annexb = Vec::new();
    for set in track.sps.iter().chain(&track.pps) {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(set);
    }
    for (k, sample) in track.samples.iter().enumerate() {
        let data = &bytes[sample.offset..sample.offset + sample.size];
        for nal in demux::nal_units(data, track.nal_length_size) {
            let nal = nal?;
            if nal.first().is_some_and(|h| h & 0x1f == 7) {
                // An in-band SPS may change the size: check it as well.
                sps_size(nal, limits)?;
            }
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(nal);
        }
        let decoded = decoder.decode(&annexb).map_err(|e| {
            MediaError::Corrupt(format!(
                "frame {} of {} could not be decoded ({e}): the file is damaged, or uses an H.264 feature OpenH264 lacks",
                k + 1,
                track.samples.len()
            ))
        })?;
        annexb.clear();
        if let Some(yuv) = decoded {
            out.emit(&yuv)?;
        }
    }
    let rest = decoder
        .flush_remaining()
        .map_err(|e| MediaError::Corrupt(format!("the last frames could not be decoded ({e})")))?;
    for yuv in rest {
        out.emit(&yuv)?;
    }
    if out.next == 0 {
        return Err(MediaError::Corrupt(
            "the video track has no frame that decodes".into(),
        ));
    }
    Ok(VideoInfo {
        width,
        height,
        frame_width: fw,
        frame_height: fh,
        frames: out.next as u32,
        duration: times.duration,
    })
}

fn video_track(bytes: &[u8]) -> Result<demux::VideoTrack<'_>, MediaError> {
    match demux::read(bytes)? {
        demux::Found::Video(t) if t.samples.is_empty() => Err(MediaError::Corrupt(
            "the video track has no frames".into(),
        )),
        demux::Found::Video(t) => Ok(t),
        demux::Found::OtherCodec(codec) => Err(MediaError::Unsupported(format!(
            "the video track is '{}' ({}); {DECODES}: re-encode it, e.g. ffmpeg -i in -c:v libx264 -pix_fmt yuv420p out.mp4",
            demux::fourcc(codec),
            codec_name(codec)
        ))),
        demux::Found::NoVideo(kinds) if kinds.is_empty() => Err(MediaError::Unsupported(
            format!("the MP4 has no tracks; {DECODES}"),
        )),
        demux::Found::NoVideo(kinds) => Err(MediaError::Unsupported(format!(
            "the MP4 has no video track (only {}); {DECODES}",
            kinds
                .iter()
                .map(|k| format!(
                    "{} '{}'",
                    match &k.handler {
                        b"soun" => "audio",
                        b"text" | b"sbtl" | b"subt" => "subtitles",
                        b"hint" => "hint",
                        b"meta" => "metadata",
                        _ => "other",
                    },
                    demux::fourcc(k.codec)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn codec_name(codec: [u8; 4]) -> &'static str {
    match &codec {
        b"hvc1" | b"hev1" => "HEVC/H.265",
        b"av01" => "AV1",
        b"vp08" => "VP8",
        b"vp09" => "VP9",
        b"mp4v" => "MPEG-4 Part 2",
        b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" => "Apple ProRes",
        b"jpeg" | b"mjpa" => "Motion JPEG",
        _ => "not H.264",
    }
}

/// The size the avcC's first SPS declares, checked against the limits.
fn first_size(track: &demux::VideoTrack, limits: &Limits) -> Result<(u32, u32), MediaError> {
    let Some(sps) = track.sps.first() else {
        return Err(MediaError::Corrupt(format!(
            "the H.264 track ({}×{} declared) has no sequence parameter set",
            track.declared.0, track.declared.1
        )));
    };
    sps_size(sps, limits)
}

fn sps_size(nal: &[u8], limits: &Limits) -> Result<(u32, u32), MediaError> {
    let info = sps::parse(nal).map_err(|e| match e {
        sps::SpsError::Unsupported(m) => MediaError::Unsupported(m),
        sps::SpsError::Corrupt(m) => {
            MediaError::Corrupt(format!("the H.264 sequence parameter set is damaged: {m}"))
        }
    })?;
    let (w, h) = (info.width, info.height);
    if w > u64::from(limits.max_side) || h > u64::from(limits.max_side) || w * h > limits.max_pixels
    {
        return Err(MediaError::TooLarge(format!(
            "the video is {w}×{h} pixels, more than this site allows ({} pixels a side, {} in all)",
            limits.max_side, limits.max_pixels
        )));
    }
    Ok((w as u32, h as u32))
}

/// Refuses a clip whose delivered frames would add up past
/// `max_total_pixels` (the caller keeps what it samples from each).
fn check_total(frames: usize, size: (u32, u32), limits: &Limits) -> Result<(), MediaError> {
    let total = (frames as u64).saturating_mul(u64::from(size.0) * u64::from(size.1));
    if total > limits.max_total_pixels {
        return Err(MediaError::TooLarge(format!(
            "the clip has {frames} frames of {}×{} pixels once reduced, more than {} pixels in all: shorten it",
            size.0, size.1, limits.max_total_pixels
        )));
    }
    Ok(())
}

/// Presentation times in display order, in seconds from the first.
struct Times {
    seconds: Vec<f64>,
    duration: f64,
}

impl Times {
    fn new(track: &demux::VideoTrack) -> Times {
        let mut pts: Vec<(i64, u32)> = track.samples.iter().map(|s| (s.pts, s.duration)).collect();
        pts.sort_unstable();
        let scale = f64::from(track.timescale);
        let first = pts.first().map_or(0, |p| p.0);
        let seconds: Vec<f64> = pts
            .iter()
            .map(|&(p, _)| p.saturating_sub(first) as f64 / scale)
            .collect();
        let duration = pts.last().map_or(0.0, |&(p, d)| {
            p.saturating_sub(first).saturating_add(i64::from(d)) as f64 / scale
        });
        Times { seconds, duration }
    }
}

struct Output<'a, 'f> {
    limits: &'a Limits,
    max: (u32, u32),
    times: &'a Times,
    /// Frames handed out so far.
    next: usize,
    shrink: Shrink,
    picture: Picture,
    on_frame: &'a mut (dyn FnMut(f64, &Picture) -> Result<(), MediaError> + 'f),
}

impl Output<'_, '_> {
    fn emit(&mut self, yuv: &DecodedYUV) -> Result<(), MediaError> {
        let Some(&t) = self.times.seconds.get(self.next) else {
            // More pictures than samples: nothing to time them by.
            return Ok(());
        };
        let (w, h) = yuv.dimensions();
        if w as u64 > u64::from(self.limits.max_side)
            || h as u64 > u64::from(self.limits.max_side)
            || (w * h) as u64 > self.limits.max_pixels
            || w == 0
            || h == 0
        {
            return Err(MediaError::TooLarge(format!(
                "a decoded frame is {w}×{h} pixels, outside this site's limits"
            )));
        }
        let (fw, fh) = fit_within(w as u32, h as u32, self.max);
        if (self.picture.width, self.picture.height) != (fw, fh) {
            self.picture = Picture::blank(fw, fh);
        }
        self.shrink.run(yuv, &mut self.picture);
        self.next += 1;
        (self.on_frame)(t, &self.picture)
    }
}

/// Box-filter reduction of a decoded frame, with reusable buffers: each
/// source pixel belongs to exactly one output pixel (boxes differ by at
/// most one pixel), and Y, Cb and Cr are averaged before the colour
/// conversion, which is affine, so converting the average equals averaging
/// the conversion (but for clipping).
#[derive(Default)]
struct Shrink {
    /// Per source column, its output column.
    col: Vec<u32>,
    /// Per output column: Y, Cb, Cr sums and pixel count.
    sums: Vec<[u32; 4]>,
    size: (usize, usize, u32, u32),
}

impl Shrink {
    fn run(&mut self, yuv: &DecodedYUV, out: &mut Picture) {
        let (w, h) = yuv.dimensions();
        let (ow, oh) = (out.width, out.height);
        if self.size != (w, h, ow, oh) {
            self.col = (0..w)
                .map(|x| (x as u64 * u64::from(ow) / w as u64) as u32)
                .collect();
            self.sums = vec![[0; 4]; ow as usize];
            self.size = (w, h, ow, oh);
        }
        let (ys, us, vs) = yuv.strides();
        let (y_plane, u_plane, v_plane) = (yuv.y(), yuv.u(), yuv.v());
        let mut row_out = 0usize;
        for y in 0..h {
            let target = (y as u64 * u64::from(oh) / h as u64) as usize;
            if target != row_out {
                self.flush(out, row_out);
                row_out = target;
            }
            let yr = &y_plane[y * ys..y * ys + w];
            let ur = &u_plane[(y / 2) * us..];
            let vr = &v_plane[(y / 2) * vs..];
            for (x, &luma) in yr.iter().enumerate() {
                let s = &mut self.sums[self.col[x] as usize];
                s[0] += u32::from(luma);
                s[1] += u32::from(ur[x / 2]);
                s[2] += u32::from(vr[x / 2]);
                s[3] += 1;
            }
        }
        self.flush(out, row_out);
    }

    fn flush(&mut self, out: &mut Picture, row: usize) {
        let ow = out.width as usize;
        for (x, s) in self.sums.iter_mut().enumerate() {
            if s[3] == 0 {
                continue;
            }
            let n = s[3] as f32;
            out.rgba[row * ow + x] =
                bt709_limited(s[0] as f32 / n, s[1] as f32 / n, s[2] as f32 / n);
            *s = [0; 4];
        }
    }
}

/// BT.709 limited-range Y′CbCr (Y′ 16–235, Cb/Cr 16–240) to 8-bit R′G′B′
/// (the transfer function is the same in both, so no linearisation).
pub fn bt709_limited(y: f32, cb: f32, cr: f32) -> [u8; 4] {
    let y = (y - 16.0) * (255.0 / 219.0);
    let (cb, cr) = (
        (cb - 128.0) * (255.0 / 224.0),
        (cr - 128.0) * (255.0 / 224.0),
    );
    // Kr = 0.2126, Kb = 0.0722.
    let r = y + 1.5748 * cr;
    let g = y - 0.187_324 * cb - 0.468_124 * cr;
    let b = y + 1.8556 * cb;
    let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [q(r), q(g), q(b), 255]
}

#[cfg(test)]
mod tests;
