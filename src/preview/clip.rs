//! GIF clips sized for their purpose: one global palette and only what
//! changed per frame.
//!
//! A clip of the site plan is mostly still: background, paths, zones,
//! labels and the legend never change, the caption changes once a second,
//! and only the dots move. Quantising every frame on its own (NeuQuant per
//! frame, a local palette each) cost ~60 ms and ~35 kB a frame. Here the
//! palette is chosen once, from a few frames spread over the clip (median
//! cut over a 5-bit-per-channel histogram), every frame is mapped through a
//! lookup table, and each frame stores only the rectangle that changed,
//! with unchanged pixels transparent (long runs LZW packs to almost
//! nothing); a frame with no change lengthens the previous one's delay.
//! Pure: RGBA in, bytes out.

use std::borrow::Cow;

/// The palette index left for "unchanged" (transparent) pixels.
const TRANSPARENT: u8 = 255;
/// Colours available to the picture (the last index is transparency).
const COLORS: usize = 255;

/// Why a clip could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClipError {
    #[error("a clip of {0}×{1} pixels is out of range (1..=65535 a side)")]
    Size(u32, u32),
    #[error("frame {0} has {1} bytes, not width × height × 4")]
    Frame(u64, usize),
    #[error("cannot encode the GIF: {0}")]
    Encode(String),
}

/// A global palette and the table mapping 15-bit colours to it.
#[derive(Debug, Clone)]
pub(crate) struct Palette {
    /// `COLORS` RGB triples (unused entries black).
    pub rgb: Vec<[u8; 3]>,
    /// Index per 5-5-5 colour key, filled on first use.
    lut: Vec<u8>,
    filled: Vec<bool>,
}

fn key(r: u8, g: u8, b: u8) -> usize {
    ((r as usize >> 3) << 10) | ((g as usize >> 3) << 5) | (b as usize >> 3)
}

impl Palette {
    /// A palette for these RGBA pictures (median cut over their colours).
    pub(crate) fn from_samples(samples: &[&[u8]]) -> Palette {
        let mut hist = vec![0u32; 1 << 15];
        for s in samples {
            for p in s.chunks_exact(4) {
                let k = key(p[0], p[1], p[2]);
                hist[k] = hist[k].saturating_add(1);
            }
        }
        let bins: Vec<(usize, u32)> = hist
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(k, &n)| (k, n))
            .collect();
        let rgb = median_cut(bins, COLORS);
        Palette {
            rgb,
            lut: vec![0; 1 << 15],
            filled: vec![false; 1 << 15],
        }
    }

    /// The palette index for an opaque colour.
    pub(crate) fn index(&mut self, r: u8, g: u8, b: u8) -> u8 {
        let k = key(r, g, b);
        if !self.filled[k] {
            // The bin's centre, matched to the nearest entry once.
            let c = [
                ((k >> 10) as i32) * 8 + 4,
                (((k >> 5) & 31) as i32) * 8 + 4,
                ((k & 31) as i32) * 8 + 4,
            ];
            let mut best = (i32::MAX, 0u8);
            for (i, p) in self.rgb.iter().enumerate() {
                let d = (0..3)
                    .map(|j| {
                        let e = c[j] - p[j] as i32;
                        e * e
                    })
                    .sum::<i32>();
                if d < best.0 {
                    best = (d, i as u8);
                }
            }
            self.lut[k] = best.1;
            self.filled[k] = true;
        }
        self.lut[k]
    }

    /// The palette as GIF wants it: 256 RGB triples.
    fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.rgb.iter().flatten().copied().collect();
        out.resize(256 * 3, 0);
        out
    }
}

/// Median cut: split the box with the most weight × extent at the median
/// of its longest side until there are `n` boxes; each box's colour is its
/// weighted mean. Weights are √count, so a few hundred dot colours are not
/// drowned by a million background pixels.
fn median_cut(bins: Vec<(usize, u32)>, n: usize) -> Vec<[u8; 3]> {
    let chan = |k: usize, j: usize| ((k >> (10 - 5 * j)) & 31) as u32;
    let weight = |c: u32| (c as f64).sqrt();
    let mut boxes: Vec<Vec<(usize, u32)>> = if bins.is_empty() {
        Vec::new()
    } else {
        vec![bins]
    };
    while boxes.len() < n {
        // The box to split: largest extent × weight, with 2+ colours.
        let mut pick = None;
        let mut best = 0.0;
        for (i, b) in boxes.iter().enumerate() {
            if b.len() < 2 {
                continue;
            }
            let ext = (0..3)
                .map(|j| {
                    let lo = b.iter().map(|e| chan(e.0, j)).min().unwrap_or(0);
                    let hi = b.iter().map(|e| chan(e.0, j)).max().unwrap_or(0);
                    hi - lo
                })
                .max()
                .unwrap_or(0) as f64;
            let w: f64 = b.iter().map(|e| weight(e.1)).sum();
            let score = (ext + 1.0) * w;
            if score > best {
                best = score;
                pick = Some(i);
            }
        }
        let Some(i) = pick else { break };
        let mut b = boxes.swap_remove(i);
        let axis = (0..3)
            .max_by_key(|&j| {
                let lo = b.iter().map(|e| chan(e.0, j)).min().unwrap_or(0);
                let hi = b.iter().map(|e| chan(e.0, j)).max().unwrap_or(0);
                hi - lo
            })
            .unwrap_or(0);
        b.sort_unstable_by_key(|e| (chan(e.0, axis), e.0));
        let total: f64 = b.iter().map(|e| weight(e.1)).sum();
        let mut acc = 0.0;
        let mut cut = 1;
        for (k, e) in b.iter().enumerate() {
            acc += weight(e.1);
            if acc >= total / 2.0 {
                cut = (k + 1).clamp(1, b.len() - 1);
                break;
            }
        }
        let tail = b.split_off(cut);
        boxes.push(b);
        boxes.push(tail);
    }
    let mut out: Vec<[u8; 3]> = boxes
        .iter()
        .map(|b| {
            // Mean by pixel count: the colour most of the box's pixels have.
            let total: f64 = b.iter().map(|e| e.1 as f64).sum::<f64>().max(1.0);
            let mut m = [0.0f64; 3];
            for e in b {
                for (j, v) in m.iter_mut().enumerate() {
                    *v += (chan(e.0, j) as f64 * 8.0 + 4.0) * e.1 as f64;
                }
            }
            m.map(|v| (v / total).round().clamp(0.0, 255.0) as u8)
        })
        .collect();
    // Pure black and white are kept exact (text, dark cells).
    for c in [[0, 0, 0], [255, 255, 255]] {
        if out.len() < n && !out.contains(&c) {
            out.push(c);
        }
    }
    out.truncate(n);
    if out.is_empty() {
        out.push([0, 0, 0]);
    }
    out
}

/// Writes frames of one size into a GIF, each as the rectangle that changed.
pub(crate) struct ClipWriter {
    width: u16,
    height: u16,
    palette: Palette,
    /// The picture as shown after the last frame (palette indices).
    shown: Vec<u8>,
    pending: Option<::gif::Frame<'static>>,
    encoder: ::gif::Encoder<Vec<u8>>,
    frames: u64,
}

impl ClipWriter {
    /// A looping clip of `width`×`height` with this palette.
    pub(crate) fn new(width: u32, height: u32, palette: Palette) -> Result<ClipWriter, ClipError> {
        let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
            return Err(ClipError::Size(width, height));
        };
        if w == 0 || h == 0 {
            return Err(ClipError::Size(width, height));
        }
        let enc = |e: ::gif::EncodingError| ClipError::Encode(e.to_string());
        let mut encoder = ::gif::Encoder::new(Vec::new(), w, h, &palette.bytes()).map_err(enc)?;
        encoder.set_repeat(::gif::Repeat::Infinite).map_err(enc)?;
        Ok(ClipWriter {
            width: w,
            height: h,
            palette,
            shown: Vec::new(),
            pending: None,
            encoder,
            frames: 0,
        })
    }

    /// Add a frame (opaque RGBA, row by row) shown for `delay_cs`
    /// hundredths of a second.
    pub(crate) fn push(&mut self, rgba: &[u8], delay_cs: u16) -> Result<(), ClipError> {
        let (w, h) = (self.width as usize, self.height as usize);
        if rgba.len() != w * h * 4 {
            return Err(ClipError::Frame(self.frames, rgba.len()));
        }
        self.frames += 1;
        let idx: Vec<u8> = rgba
            .chunks_exact(4)
            .map(|p| self.palette.index(p[0], p[1], p[2]))
            .collect();
        if self.shown.is_empty() {
            // The first frame is whole.
            let frame = ::gif::Frame {
                width: self.width,
                height: self.height,
                buffer: Cow::Owned(idx.clone()),
                delay: delay_cs,
                dispose: ::gif::DisposalMethod::Keep,
                ..::gif::Frame::default()
            };
            self.shown = idx;
            return self.queue(frame);
        }
        // The rectangle that changed.
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for y in 0..h {
            let row = &idx[y * w..(y + 1) * w];
            let old = &self.shown[y * w..(y + 1) * w];
            if row == old {
                continue;
            }
            let first = row.iter().zip(old).position(|(a, b)| a != b).unwrap_or(0);
            let last = w
                - 1
                - row
                    .iter()
                    .rev()
                    .zip(old.iter().rev())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
            x0 = x0.min(first);
            x1 = x1.max(last);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            // Nothing changed: the previous frame stays up longer.
            if let Some(p) = self.pending.as_mut() {
                p.delay = p.delay.saturating_add(delay_cs);
            }
            return Ok(());
        }
        let (rw, rh) = (x1 - x0 + 1, y1 - y0 + 1);
        let mut buf = Vec::with_capacity(rw * rh);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let i = y * w + x;
                if idx[i] == self.shown[i] {
                    buf.push(TRANSPARENT);
                } else {
                    buf.push(idx[i]);
                    self.shown[i] = idx[i];
                }
            }
        }
        let frame = ::gif::Frame {
            left: x0 as u16,
            top: y0 as u16,
            width: rw as u16,
            height: rh as u16,
            buffer: Cow::Owned(buf),
            delay: delay_cs,
            dispose: ::gif::DisposalMethod::Keep,
            transparent: Some(TRANSPARENT),
            ..::gif::Frame::default()
        };
        self.queue(frame)
    }

    fn queue(&mut self, frame: ::gif::Frame<'static>) -> Result<(), ClipError> {
        if let Some(p) = self.pending.replace(frame) {
            self.encoder
                .write_frame(&p)
                .map_err(|e| ClipError::Encode(e.to_string()))?;
        }
        Ok(())
    }

    /// The finished file.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ClipError> {
        if let Some(p) = self.pending.take() {
            self.encoder
                .write_frame(&p)
                .map_err(|e| ClipError::Encode(e.to_string()))?;
        }
        self.encoder
            .into_inner()
            .map_err(|e| ClipError::Encode(e.to_string()))
    }
}

/// Hundredths of a second frame `k` of a clip at `fps` is shown, so the
/// delays add up to the clip's length without drifting (10 fps → 10 each;
/// 3 fps → 33, 33, 34, …), and never below 2 (browsers slow faster frames).
pub(crate) fn delay_cs(k: u64, fps: u32) -> u16 {
    let at = |k: u64| (k as f64 * 100.0 / fps.max(1) as f64).round() as u64;
    (at(k + 1) - at(k)).clamp(2, u16::MAX as u64) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: usize, h: usize, c: [u8; 3]) -> Vec<u8> {
        (0..w * h).flat_map(|_| [c[0], c[1], c[2], 255]).collect()
    }

    /// Decode a GIF into its composed frames (RGBA) and delays.
    fn decode(bytes: &[u8]) -> Vec<(Vec<u8>, u16)> {
        let mut opts = ::gif::DecodeOptions::new();
        opts.set_color_output(::gif::ColorOutput::RGBA);
        let mut d = opts.read_info(bytes).unwrap();
        let (w, h) = (d.width() as usize, d.height() as usize);
        let mut canvas = vec![0u8; w * h * 4];
        let mut out = Vec::new();
        while let Some(f) = d.read_next_frame().unwrap() {
            for y in 0..f.height as usize {
                for x in 0..f.width as usize {
                    let s = (y * f.width as usize + x) * 4;
                    if f.buffer[s + 3] == 0 {
                        continue;
                    }
                    let t = ((y + f.top as usize) * w + x + f.left as usize) * 4;
                    canvas[t..t + 4].copy_from_slice(&f.buffer[s..s + 4]);
                }
            }
            out.push((canvas.clone(), f.delay));
        }
        out
    }

    /// Frames come back as drawn (exact for colours the palette holds),
    /// unchanged frames only lengthen the delay, and a change is stored as
    /// its rectangle.
    #[test]
    fn frames_round_trip_as_changed_rectangles() {
        let (w, h) = (40, 30);
        let a = solid(w, h, [11, 15, 20]);
        let mut b = a.clone();
        for y in 10..14 {
            for x in 5..9 {
                let i = (y * w + x) * 4;
                b[i..i + 3].copy_from_slice(&[255, 0, 0]);
            }
        }
        let pal = Palette::from_samples(&[&a, &b]);
        let mut clip = ClipWriter::new(w as u32, h as u32, pal).unwrap();
        clip.push(&a, 10).unwrap();
        clip.push(&a, 10).unwrap();
        clip.push(&b, 10).unwrap();
        let bytes = clip.finish().unwrap();
        let frames = decode(&bytes);
        assert_eq!(frames.len(), 2, "the repeated frame is merged");
        assert_eq!(frames[0].1, 20);
        assert_eq!(frames[1].1, 10);
        let px = |f: &Vec<u8>, x: usize, y: usize| {
            let i = (y * w + x) * 4;
            [f[i], f[i + 1], f[i + 2]]
        };
        // Exact: 8-bit values whose 5-bit bins hold one colour keep it
        // within the bin (the bin's mean is its centre).
        let near = |c: [u8; 3], want: [u8; 3]| {
            c.iter()
                .zip(want)
                .all(|(a, b)| (*a as i32 - b as i32).abs() <= 4)
        };
        assert!(near(px(&frames[0].0, 0, 0), [11, 15, 20]));
        assert!(
            near(px(&frames[1].0, 6, 11), [255, 0, 0]),
            "{:?}",
            px(&frames[1].0, 6, 11)
        );
        assert!(near(px(&frames[1].0, 20, 20), [11, 15, 20]));
        // The second stored frame is the 4×4 square only.
        let mut d = ::gif::DecodeOptions::new().read_info(&bytes[..]).unwrap();
        let _ = d.read_next_frame().unwrap();
        let f = d.read_next_frame().unwrap().unwrap();
        assert_eq!((f.left, f.top, f.width, f.height), (5, 10, 4, 4));
    }

    /// Many colours get distinct entries; none is the transparent index.
    #[test]
    fn the_palette_spreads_over_the_colours_used() {
        let mut img = Vec::new();
        for r in 0..16u8 {
            for g in 0..16u8 {
                img.extend_from_slice(&[r * 16, g * 16, 128, 255]);
            }
        }
        let mut pal = Palette::from_samples(&[&img]);
        assert!(pal.rgb.len() <= COLORS);
        let mut seen = std::collections::BTreeSet::new();
        for p in img.chunks_exact(4) {
            let i = pal.index(p[0], p[1], p[2]);
            assert_ne!(i, TRANSPARENT);
            seen.insert(i);
        }
        assert!(seen.len() >= 200, "{} entries used", seen.len());
        assert!(!Palette::from_samples(&[]).rgb.is_empty());
    }

    #[test]
    fn delays_add_up_without_drift() {
        let total: u32 = (0..30).map(|k| delay_cs(k, 3) as u32).sum();
        assert_eq!(total, 1000);
        assert_eq!(delay_cs(0, 10), 10);
        assert_eq!(delay_cs(5, 50), 2);
    }

    #[test]
    fn a_wrong_frame_size_is_an_error() {
        let pal = Palette::from_samples(&[]);
        let mut clip = ClipWriter::new(4, 4, pal).unwrap();
        assert!(clip.push(&[0; 10], 10).is_err());
        assert!(ClipWriter::new(70000, 4, Palette::from_samples(&[])).is_err());
    }
}
