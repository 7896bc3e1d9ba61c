//! A clip as one layer's cells see it: every frame already sampled, one
//! 8-bit sRGB colour per cell, with each frame's start time.
//!
//! This is the "decoded once, at the resolution the site samples" form: a
//! picture or video is decoded frame by frame when the show is compiled,
//! each frame averaged onto the layer's cells by [`super::place::Sampler`]
//! and dropped, so a 1080p minute on a 1,800-pixel facade keeps 1,800 × 3
//! bytes a frame, not 6 MB. Rendering a frame is a table look-up per cell
//! with nothing allocated. Frames identical to the one before are merged
//! (a still held for ten seconds of a GIF is one frame). A frame with
//! transparency also keeps one coverage byte per cell (how much of the
//! cell the picture covers, for the engine's mix with the layers below);
//! an opaque frame keeps none, so an opaque clip costs what it did.
//!
//! Which frame shows is a function of the time since the show started
//! alone ([`Timing::frame_at`]), so `render --at`, `preview`, the console's
//! scrubber and every node of a fleet agree.

use super::MediaError;

/// Frames × cells of sampled colour, and when each frame starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clip {
    cells: usize,
    /// Frame k's cells at `colors[k * cells..(k + 1) * cells]`.
    colors: Vec<[u8; 3]>,
    /// Start of each frame in the clip, milliseconds; the first is 0.
    starts_ms: Vec<u64>,
    /// The clip's length in milliseconds (the last frame's end).
    length_ms: u64,
    /// Coverage planes of the frames that are not opaque, `cells` bytes
    /// each; frame k's is plane `coverage_of[k]` (`OPAQUE`: none).
    coverage: Vec<u8>,
    coverage_of: Vec<u32>,
}

/// A frame every cell of which is wholly covered.
const OPAQUE: u32 = u32::MAX;

/// The most frames × cells a clip may hold (3 bytes each: 384 MiB).
pub const MAX_SAMPLES: u64 = 128 * 1024 * 1024;

impl Clip {
    pub fn new(cells: usize) -> Clip {
        Clip {
            cells,
            ..Clip::default()
        }
    }

    /// Add an opaque frame shown for `seconds` (a frame equal to the last
    /// one lengthens it instead). Refused past [`MAX_SAMPLES`].
    pub fn push(&mut self, colors: &[[u8; 3]], seconds: f64) -> Result<(), MediaError> {
        self.push_covered(colors, None, seconds)
    }

    /// Add a frame whose cells are covered `cover` (0..=255 a cell; None
    /// or all 255: opaque), as [`Clip::push`].
    pub fn push_covered(
        &mut self,
        colors: &[[u8; 3]],
        cover: Option<&[u8]>,
        seconds: f64,
    ) -> Result<(), MediaError> {
        debug_assert_eq!(colors.len(), self.cells);
        let cover = cover.filter(|c| c.iter().any(|&a| a != 255));
        debug_assert!(cover.is_none_or(|c| c.len() == self.cells));
        let ms = if seconds.is_finite() && seconds > 0.0 {
            (seconds * 1000.0).round().max(1.0) as u64
        } else {
            // GIF's "0 delay" frames: browsers show them for 100 ms.
            100
        };
        let n = self.starts_ms.len();
        if n > 0 && self.colors[(n - 1) * self.cells..] == *colors && self.coverage(n - 1) == cover
        {
            self.length_ms += ms;
            return Ok(());
        }
        if ((n + 1) as u64).saturating_mul(self.cells as u64) > MAX_SAMPLES {
            return Err(MediaError::TooLarge(format!(
                "the clip would keep more than {MAX_SAMPLES} cell samples ({} frames × {} cells): shorten it, lower its frame rate or target fewer cells",
                n + 1,
                self.cells
            )));
        }
        self.starts_ms.push(self.length_ms);
        self.colors.extend_from_slice(colors);
        match cover {
            None => self.coverage_of.push(OPAQUE),
            Some(c) => {
                self.coverage_of
                    .push((self.coverage.len() / self.cells.max(1)) as u32);
                self.coverage.extend_from_slice(c);
            }
        }
        self.length_ms += ms;
        Ok(())
    }

    /// Frame `k`'s coverage, one byte per cell (255 wholly covered), or
    /// None when every cell of it is (the last frame past the end).
    #[inline]
    pub fn coverage(&self, k: usize) -> Option<&[u8]> {
        let n = self.frames();
        if n == 0 || self.coverage.is_empty() {
            return None;
        }
        match self.coverage_of[k.min(n - 1)] {
            OPAQUE => None,
            p => {
                let at = p as usize * self.cells;
                self.coverage.get(at..at + self.cells)
            }
        }
    }

    /// Whether any frame lets what is below show through somewhere.
    pub fn has_coverage(&self) -> bool {
        !self.coverage.is_empty()
    }

    pub fn cells(&self) -> usize {
        self.cells
    }

    pub fn frames(&self) -> usize {
        self.starts_ms.len()
    }

    /// The clip's length in seconds.
    pub fn length(&self) -> f64 {
        self.length_ms as f64 / 1000.0
    }

    /// The clip's length in milliseconds.
    pub fn length_ms(&self) -> u64 {
        self.length_ms
    }

    /// When frame `k` starts, seconds into the clip.
    pub fn start_of(&self, k: usize) -> f64 {
        self.starts_ms.get(k).map_or(0.0, |&ms| ms as f64 / 1000.0)
    }

    /// Frame `k`'s colours, one per cell (the last frame past the end;
    /// empty for a clip without frames).
    pub fn frame(&self, k: usize) -> &[[u8; 3]] {
        let n = self.frames();
        if n == 0 {
            return &[];
        }
        let k = k.min(n - 1);
        &self.colors[k * self.cells..(k + 1) * self.cells]
    }

    /// The frame showing `seconds` into the clip (clamped into it).
    pub fn frame_at_clip_time(&self, seconds: f64) -> usize {
        if self.frames() <= 1 || !seconds.is_finite() || seconds <= 0.0 {
            return 0;
        }
        let ms = (seconds * 1000.0).floor() as u64;
        self.starts_ms
            .partition_point(|&s| s <= ms)
            .saturating_sub(1)
    }

    /// Bytes held (the memory report).
    pub fn bytes(&self) -> usize {
        self.colors.len() * 3 + self.starts_ms.len() * 12 + self.coverage.len()
    }
}

/// How show time becomes clip time: `start` seconds into the clip at the
/// show's start, `rate` × real time, looped (for ever, or `repeat` times
/// then holding the last frame) or played once and held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub start: f64,
    pub rate: f64,
    pub looping: bool,
    /// Plays before holding the last frame (with `looping`); None: for ever.
    pub repeat: Option<u32>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            start: 0.0,
            rate: 1.0,
            looping: true,
            repeat: None,
        }
    }
}

impl Timing {
    /// Milliseconds into the clip at `t` seconds after the show started,
    /// for a clip `length_ms` long. Whole microseconds first, so a loop
    /// boundary is not lost to binary fractions (1.7 s into a 0.8 s loop
    /// is 100 ms into it, not 99.999…).
    pub fn clip_ms(&self, t: f64, length_ms: u64) -> u64 {
        let x = self.start + t * self.rate;
        if length_ms == 0 || !x.is_finite() {
            return 0;
        }
        // Beyond ±2^62 µs (146,000 years) the show time is not real.
        let us = (x * 1e6).round().clamp(-4.6e18, 4.6e18) as i64;
        let ms = us.div_euclid(1000);
        let plays: Option<u64> = match (self.looping, self.repeat) {
            (false, _) => Some(1),
            (true, None) => None,
            (true, Some(n)) => Some(u64::from(n.max(1))),
        };
        if let Some(p) = plays {
            if ms >= 0 && ms as u64 >= length_ms.saturating_mul(p) {
                // Held on the last frame.
                return length_ms - 1;
            }
        }
        ms.rem_euclid(length_ms as i64) as u64
    }

    /// The frame of `clip` at `t` seconds after the show started.
    pub fn frame_at(&self, clip: &Clip, t: f64) -> usize {
        if clip.frames() <= 1 {
            return 0;
        }
        let ms = self.clip_ms(t, clip.length_ms);
        clip.starts_ms
            .partition_point(|&s| s <= ms)
            .saturating_sub(1)
    }

    /// Show seconds after which the look repeats, if it does (a looping
    /// clip of several frames), for the energy forecast's sample keys.
    pub fn period(&self, clip: &Clip) -> Option<f64> {
        (self.looping && self.repeat.is_none() && clip.frames() > 1 && self.rate != 0.0)
            .then(|| clip.length() / self.rate.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(frames: &[(u8, f64)]) -> Clip {
        let mut c = Clip::new(2);
        for &(v, s) in frames {
            c.push(&[[v, 0, 0], [0, v, 0]], s).unwrap();
        }
        c
    }

    #[test]
    fn frames_by_time_with_gif_delays() {
        // 0.1 s, 0.5 s, 0.2 s frames: 0.8 s long.
        let c = clip(&[(10, 0.1), (20, 0.5), (30, 0.2)]);
        assert_eq!(c.frames(), 3);
        assert!((c.length() - 0.8).abs() < 1e-9);
        let t = Timing::default();
        for (at, want) in [
            (0.0, 0),
            (0.099, 0),
            (0.1, 1),
            (0.59, 1),
            (0.6, 2),
            (0.79, 2),
            (0.8, 0),
            (1.7, 1),
            (2.35, 2),
        ] {
            assert_eq!(t.frame_at(&c, at), want, "at {at}");
        }
        assert_eq!(c.frame(1), &[[20, 0, 0], [0, 20, 0]]);
    }

    #[test]
    fn start_rate_once_and_repeat() {
        let c = clip(&[(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]);
        let from_two = Timing {
            start: 2.0,
            ..Timing::default()
        };
        assert_eq!(from_two.frame_at(&c, 0.0), 2);
        assert_eq!(from_two.frame_at(&c, 2.5), 0);
        let double = Timing {
            rate: 2.0,
            ..Timing::default()
        };
        assert_eq!(double.frame_at(&c, 1.0), 2);
        let once = Timing {
            looping: false,
            ..Timing::default()
        };
        assert_eq!(once.frame_at(&c, 3.5), 3);
        assert_eq!(once.frame_at(&c, 100.0), 3);
        let twice = Timing {
            repeat: Some(2),
            ..Timing::default()
        };
        assert_eq!(twice.frame_at(&c, 5.0), 1);
        assert_eq!(twice.frame_at(&c, 9.0), 3);
        assert_eq!(twice.period(&c), None);
        assert_eq!(Timing::default().period(&c), Some(4.0));
    }

    #[test]
    fn coverage_is_kept_only_for_frames_with_transparency() {
        let mut c = Clip::new(2);
        c.push_covered(&[[9, 0, 0], [0, 0, 0]], Some(&[255, 255]), 0.5)
            .unwrap();
        c.push_covered(&[[9, 0, 0], [0, 0, 0]], Some(&[255, 0]), 0.5)
            .unwrap();
        c.push_covered(&[[9, 0, 0], [0, 0, 0]], Some(&[255, 0]), 0.5)
            .unwrap();
        c.push(&[[1, 1, 1], [2, 2, 2]], 0.5).unwrap();
        // The first frame is opaque (no plane), the second and third are
        // one frame (same colours, same coverage), the last is opaque.
        assert_eq!(c.frames(), 3);
        assert!(c.has_coverage());
        assert_eq!(c.coverage(0), None);
        assert_eq!(c.coverage(1), Some(&[255u8, 0][..]));
        assert_eq!(c.coverage(2), None);
        assert_eq!(c.coverage(99), None);
        assert_eq!(c.start_of(2), 1.5);
        assert!(!clip(&[(5, 0.5)]).has_coverage());
    }

    #[test]
    fn equal_frames_merge() {
        let c = clip(&[(5, 0.5), (5, 0.5), (6, 1.0)]);
        assert_eq!(c.frames(), 2);
        assert_eq!(c.start_of(1), 1.0);
    }
}
