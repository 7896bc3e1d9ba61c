//! SMPTE timecode: frame counts at 24, 25, 29.97 drop-frame and 30 fps,
//! following a received code (chase, freewheel, what to do on loss), and
//! an LTC decoder (and encoder) for audio samples.
//!
//! A New Year show runs to music and fireworks on timecode: the show's
//! position is the received code (00:00:00:00 is its start), not the
//! clock. Codes arrive at frame rate over Art-Net (ArtTimeCode), OSC, MIDI
//! (MTC) or as audio (LTC); between them the position runs on, a jump in
//! the code re-locates the show at once (chase), and when the code stops
//! the show keeps running for `freewheel` seconds before it holds its last
//! look, stops or continues on the clock (`on_timecode_loss`). Pure: the
//! caller passes the time a code arrived and the time it asks about
//! (seconds on any monotonic scale), and samples in.

use crate::diag::{Diagnostics, SourceFile, Spanned};
use crate::site::inputs::InputKindName;
use crate::site::Site;
use serde::{Deserialize, Serialize};

/// The longest `freewheel`.
pub(crate) const MAX_FREEWHEEL_S: f64 = 600.0;

/// Where a show's timecode comes from (`timecode = "artnet"` in a show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimecodeSource {
    /// ArtTimeCode on the site's Art-Net input.
    Artnet,
    /// Audio LTC on the site's `ltc` input.
    Ltc,
    /// `/nightscape/timecode` on the site's OSC input.
    Osc,
    /// MIDI timecode on the site's `mtc` input.
    Mtc,
}

impl TimecodeSource {
    pub const ALL: [TimecodeSource; 4] = [
        TimecodeSource::Artnet,
        TimecodeSource::Ltc,
        TimecodeSource::Osc,
        TimecodeSource::Mtc,
    ];

    /// The input kind that carries it.
    pub(crate) fn input(self) -> InputKindName {
        match self {
            TimecodeSource::Artnet => InputKindName::Artnet,
            TimecodeSource::Ltc => InputKindName::Ltc,
            TimecodeSource::Osc => InputKindName::Osc,
            TimecodeSource::Mtc => InputKindName::Mtc,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.input().as_str()
    }
}

/// A show positioned by timecode instead of the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShowTimecode {
    pub source: TimecodeSource,
    /// Seconds the show runs on after the code stops (default 2).
    pub freewheel: f64,
    pub on_loss: OnLoss,
}

/// A show file's `timecode`, `freewheel` and `on_timecode_loss`, checked
/// against the site's inputs (a show cannot follow a code nothing receives).
pub(crate) fn compile_show_timecode(
    file: &SourceFile,
    site: &Site,
    source: Option<&Spanned<TimecodeSource>>,
    freewheel: Option<&Spanned<String>>,
    on_loss: Option<&Spanned<OnLoss>>,
    diags: &mut Diagnostics,
) -> Option<ShowTimecode> {
    let Some(source) = source else {
        for (key, span) in [
            ("freewheel", freewheel.map(|f| f.span())),
            ("on_timecode_loss", on_loss.map(|f| f.span())),
        ] {
            if let Some(span) = span {
                diags.warn(
                    file,
                    span,
                    format!("`{key}` has no effect on a show without `timecode`"),
                );
            }
        }
        return None;
    };
    let src = *source.get_ref();
    if !site.inputs.iter().any(|i| i.kind_name() == src.input()) {
        diags.error(
            file,
            source.span(),
            format!(
                "timecode = \"{}\" needs an [[inputs]] table with kind = \"{}\" in the site file",
                src.as_str(),
                src.as_str()
            ),
        );
    }
    let freewheel = match freewheel {
        None => 2.0,
        Some(f) => match crate::units::parse_duration(f.get_ref()) {
            Ok(d) if d <= MAX_FREEWHEEL_S => d,
            Ok(_) => {
                diags.error(file, f.span(), "freewheel is 0s..10m");
                2.0
            }
            Err(m) => {
                diags.error(file, f.span(), m);
                2.0
            }
        },
    };
    Some(ShowTimecode {
        source: src,
        freewheel,
        on_loss: on_loss.map_or(OnLoss::Hold, |o| *o.get_ref()),
    })
}

/// A SMPTE frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FrameRate {
    #[serde(rename = "24")]
    Fps24,
    #[serde(rename = "25")]
    Fps25,
    /// 30000/1001 frames a second, frames 0 and 1 dropped at every minute
    /// not divisible by ten so the count keeps to the clock.
    #[serde(rename = "29.97df")]
    Df2997,
    #[serde(rename = "30")]
    Fps30,
}

impl FrameRate {
    /// Real frames per second.
    pub fn fps(self) -> f64 {
        match self {
            FrameRate::Fps24 => 24.0,
            FrameRate::Fps25 => 25.0,
            FrameRate::Df2997 => 30_000.0 / 1001.0,
            FrameRate::Fps30 => 30.0,
        }
    }

    /// Frames counted per second in the code (30 for drop-frame).
    pub(crate) fn nominal(self) -> u32 {
        match self {
            FrameRate::Fps24 => 24,
            FrameRate::Fps25 => 25,
            FrameRate::Df2997 | FrameRate::Fps30 => 30,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FrameRate::Fps24 => "24",
            FrameRate::Fps25 => "25",
            FrameRate::Df2997 => "29.97df",
            FrameRate::Fps30 => "30",
        }
    }
}

/// One timecode: hours, minutes, seconds, frames at a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timecode {
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub frames: u8,
    pub rate: FrameRate,
}

impl Timecode {
    /// Whether the fields exist at this rate (drop-frame skips frames 0
    /// and 1 at the start of minutes not divisible by ten).
    pub fn is_valid(&self) -> bool {
        self.hours < 24
            && self.minutes < 60
            && self.seconds < 60
            && u32::from(self.frames) < self.rate.nominal()
            && !(self.rate == FrameRate::Df2997
                && self.seconds == 0
                && self.frames < 2
                && self.minutes % 10 != 0)
    }

    /// Frames since 00:00:00:00.
    pub fn frame_number(&self) -> u64 {
        let n = u64::from(self.rate.nominal());
        let total_minutes = u64::from(self.hours) * 60 + u64::from(self.minutes);
        let nominal = (total_minutes * 60 + u64::from(self.seconds)) * n + u64::from(self.frames);
        if self.rate == FrameRate::Df2997 {
            nominal - 2 * (total_minutes - total_minutes / 10)
        } else {
            nominal
        }
    }

    /// The code of frame `k` since 00:00:00:00 (wrapping at 24 hours).
    pub fn from_frame_number(k: u64, rate: FrameRate) -> Timecode {
        let n = u64::from(rate.nominal());
        let mut k = k;
        if rate == FrameRate::Df2997 {
            // 17,982 frames per ten minutes; 1,798 in each minute after the first.
            let per10 = 17_982;
            let d = k / per10;
            let m = k % per10;
            k += 18 * d + if m > 1 { 2 * ((m - 2) / 1798) } else { 0 };
        }
        let day = 24 * 3600 * n;
        k %= day;
        Timecode {
            hours: (k / (3600 * n)) as u8,
            minutes: (k / (60 * n) % 60) as u8,
            seconds: (k / n % 60) as u8,
            frames: (k % n) as u8,
            rate,
        }
    }

    /// Seconds since 00:00:00:00 on the real clock (a drop-frame code's
    /// frame count divided by 29.97).
    pub(crate) fn seconds(&self) -> f64 {
        self.frame_number() as f64 / self.rate.fps()
    }
}

impl std::fmt::Display for Timecode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.rate == FrameRate::Df2997 {
            ';'
        } else {
            ':'
        };
        write!(
            f,
            "{:02}:{:02}:{:02}{sep}{:02}",
            self.hours, self.minutes, self.seconds, self.frames
        )
    }
}

/// What a timecode show does when the code stops for longer than its
/// freewheel (`on_timecode_loss`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnLoss {
    /// Keep the last look (the show frozen where the code stopped).
    #[default]
    Hold,
    /// Stop the show (the schedule or whatever is below shows again).
    Stop,
    /// Run on the clock from where the code stopped.
    Continue,
}

/// Where a timecode show is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", content = "seconds", rename_all = "lowercase")]
pub enum Position {
    /// No code received yet.
    Waiting,
    /// Following the code (seconds since 00:00:00:00).
    Locked(f64),
    /// The code stopped less than `freewheel` ago: running on.
    Freewheel(f64),
    /// Lost, held at this position.
    Held(f64),
    /// Lost, the show stopped.
    Stopped,
    /// Lost, running on the clock.
    Continuing(f64),
}

impl Position {
    /// The show's position in seconds, if it plays.
    pub fn seconds(self) -> Option<f64> {
        match self {
            Position::Locked(s)
            | Position::Freewheel(s)
            | Position::Held(s)
            | Position::Continuing(s) => Some(s),
            Position::Waiting | Position::Stopped => None,
        }
    }
}

/// Following a received code.
#[derive(Debug, Clone)]
pub struct Chase {
    pub freewheel: f64,
    pub on_loss: OnLoss,
    /// The last code's position and when it arrived.
    last: Option<(f64, f64)>,
    rate: Option<FrameRate>,
    /// The same code arrived twice in a row: the source is paused, the
    /// position does not run on between codes.
    paused: bool,
    /// How many times the code jumped (re-located the show).
    pub jumps: u64,
    pub codes: u64,
    last_code: Option<Timecode>,
}

impl Chase {
    pub fn new(freewheel: f64, on_loss: OnLoss) -> Chase {
        Chase {
            freewheel,
            on_loss,
            last: None,
            rate: None,
            paused: false,
            jumps: 0,
            codes: 0,
            last_code: None,
        }
    }

    /// The code arrived at `now`; true when it jumped (more than two
    /// frames from where the position was running to).
    pub fn receive(&mut self, tc: Timecode, now: f64) -> bool {
        let pos = tc.seconds();
        let frame = 1.0 / tc.rate.fps();
        let mut jumped = false;
        if let Some(expected) = self.running(now) {
            if (pos - expected).abs() > 2.0 * frame + 0.02 && Some(tc) != self.last_code {
                jumped = true;
                self.jumps += 1;
            }
        }
        self.paused = self.last_code == Some(tc);
        self.last = Some((pos, now));
        self.rate = Some(tc.rate);
        self.last_code = Some(tc);
        self.codes += 1;
        jumped
    }

    /// The last code received.
    pub fn last_code(&self) -> Option<Timecode> {
        self.last_code
    }

    /// The position running on from the last code, ignoring loss.
    fn running(&self, now: f64) -> Option<f64> {
        let (pos, at) = self.last?;
        Some(if self.paused {
            pos
        } else {
            pos + (now - at).max(0.0)
        })
    }

    /// Where the show is at `now`.
    pub fn position(&self, now: f64) -> Position {
        self.position_with(now, self.freewheel, self.on_loss)
    }

    /// Where a show with its own `freewheel` and `on_loss` is at `now`
    /// (shows following one source may differ in both).
    pub fn position_with(&self, now: f64, freewheel: f64, on_loss: OnLoss) -> Position {
        let Some((pos, at)) = self.last else {
            return Position::Waiting;
        };
        let age = now - at;
        let frame = 1.0 / self.rate.map_or(25.0, FrameRate::fps);
        let locked_for = (3.0 * frame).max(0.1);
        let run = self.running(now).unwrap_or(pos);
        if age <= locked_for {
            return Position::Locked(run);
        }
        if age <= locked_for + freewheel {
            return Position::Freewheel(run);
        }
        let lost_at = if self.paused {
            pos
        } else {
            pos + locked_for + freewheel
        };
        match on_loss {
            OnLoss::Hold => Position::Held(lost_at),
            OnLoss::Stop => Position::Stopped,
            OnLoss::Continue => Position::Continuing(run),
        }
    }
}

/// LTC's sync word, bits 64..79 read into a register LSB first.
const SYNC: u128 = 0xBFFC;
const FRAME_BITS: u32 = 80;

/// One LTC frame decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LtcFrame {
    pub timecode: Timecode,
    /// The sample (counted from the decoder's first) where the frame's
    /// sync word ended: the instant the *next* frame starts.
    pub end_sample: u64,
    /// Frames per second measured from the bit rate.
    pub measured_fps: f64,
}

/// A biphase-mark LTC decoder over audio samples (any level, any
/// polarity). The bit period is measured as it goes (24–30 fps), so a
/// varispeed source is followed.
#[derive(Debug, Clone)]
pub struct LtcDecoder {
    sample_rate: f64,
    high: bool,
    peak: f32,
    since_edge: f64,
    /// Samples per bit, as measured.
    period: f64,
    half_pending: bool,
    reg: u128,
    sample: u64,
    /// Frames refused (bad BCD) after a sync word.
    pub rejected: u64,
}

impl LtcDecoder {
    pub fn new(sample_rate: u32) -> LtcDecoder {
        let sr = f64::from(sample_rate.max(1));
        LtcDecoder {
            sample_rate: sr,
            high: false,
            peak: 0.0,
            since_edge: 0.0,
            period: sr / 2000.0,
            half_pending: false,
            reg: 0,
            sample: 0,
            rejected: 0,
        }
    }

    /// Feed samples (-1..1); decoded frames are appended to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<LtcFrame>) {
        let (lo, hi) = (self.sample_rate / 2600.0, self.sample_rate / 1800.0);
        for &x in samples {
            self.sample += 1;
            self.since_edge += 1.0;
            let a = x.abs();
            // A peak follower with a slow decay: the edge threshold is a
            // tenth of the signal's level, whatever the gain.
            self.peak = if a > self.peak { a } else { self.peak * 0.9995 };
            let thr = (self.peak * 0.1).max(1e-4);
            let edge = if self.high { x < -thr } else { x > thr };
            if !edge {
                continue;
            }
            self.high = !self.high;
            let interval = self.since_edge;
            self.since_edge = 0.0;
            if interval < self.period * 0.25 {
                continue; // noise
            }
            if interval > self.period * 1.6 {
                // Silence or a lost edge: start the bit stream again.
                self.half_pending = false;
                continue;
            }
            let bit = if interval > self.period * 0.75 {
                self.period = (self.period * 0.9 + interval * 0.1).clamp(lo, hi);
                if self.half_pending {
                    self.half_pending = false;
                    continue;
                }
                0
            } else {
                self.period = (self.period * 0.9 + interval * 2.0 * 0.1).clamp(lo, hi);
                if !self.half_pending {
                    self.half_pending = true;
                    continue;
                }
                self.half_pending = false;
                1
            };
            self.reg = (self.reg >> 1) | (u128::from(bit as u8) << (FRAME_BITS - 1));
            if (self.reg >> 64) & 0xffff == SYNC {
                match self.frame() {
                    Some(f) => out.push(f),
                    None => self.rejected += 1,
                }
            }
        }
    }

    fn frame(&self) -> Option<LtcFrame> {
        let r = self.reg;
        let bits = |at: u32, n: u32| ((r >> at) & ((1 << n) - 1)) as u8;
        let measured_fps = self.sample_rate / (self.period * f64::from(FRAME_BITS));
        let df = bits(10, 1) == 1;
        let rate = if df {
            FrameRate::Df2997
        } else if measured_fps < 24.5 {
            FrameRate::Fps24
        } else if measured_fps < 27.5 {
            FrameRate::Fps25
        } else {
            FrameRate::Fps30
        };
        let (fu, ft) = (bits(0, 4), bits(8, 2));
        let (su, st) = (bits(16, 4), bits(24, 3));
        let (mu, mt) = (bits(32, 4), bits(40, 3));
        let (hu, ht) = (bits(48, 4), bits(56, 2));
        if [fu, su, mu, hu].iter().any(|d| *d > 9) {
            return None;
        }
        let tc = Timecode {
            hours: ht * 10 + hu,
            minutes: mt * 10 + mu,
            seconds: st * 10 + su,
            frames: ft * 10 + fu,
            rate,
        };
        tc.is_valid().then_some(LtcFrame {
            timecode: tc,
            end_sample: self.sample,
            measured_fps,
        })
    }
}

/// A MIDI timecode reader over a raw MIDI byte stream: quarter-frame
/// messages (`F1 0n`, eight make a code, which then stands two frames
/// behind the position) and full-frame SysEx (`F0 7F 7F 01 01 hh mm ss ff
/// F7`, sent on a locate). Other MIDI (notes, clock, other SysEx) is
/// skipped; a SysEx longer than 32 bytes is dropped unread.
#[derive(Debug, Clone, Default)]
pub struct MtcDecoder {
    pieces: [u8; 8],
    /// Which quarter frames arrived since piece 0.
    seen: u8,
    last_piece: Option<u8>,
    sysex: Vec<u8>,
    in_sysex: bool,
    /// A status byte waiting for its data byte (F1).
    want_qf: bool,
}

impl MtcDecoder {
    pub fn new() -> MtcDecoder {
        MtcDecoder::default()
    }

    fn rate(bits: u8) -> FrameRate {
        match bits & 3 {
            0 => FrameRate::Fps24,
            1 => FrameRate::Fps25,
            2 => FrameRate::Df2997,
            _ => FrameRate::Fps30,
        }
    }

    /// Feed bytes; each complete code is appended to `out` as the current
    /// position (a quarter-frame code already advanced by its two frames).
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Timecode>) {
        for &b in bytes {
            if b >= 0xF8 {
                continue; // real-time messages may come anywhere
            }
            if self.in_sysex {
                if b == 0xF7 {
                    self.in_sysex = false;
                    if let [0xF0, 0x7F, _, 0x01, 0x01, hr, m, sec, f] = self.sysex[..] {
                        let tc = Timecode {
                            hours: hr & 0x1F,
                            minutes: m,
                            seconds: sec,
                            frames: f,
                            rate: MtcDecoder::rate(hr >> 5),
                        };
                        if tc.is_valid() {
                            out.push(tc);
                        }
                    }
                    self.sysex.clear();
                } else if b & 0x80 != 0 {
                    self.in_sysex = false;
                    self.sysex.clear();
                } else if self.sysex.len() < 32 {
                    self.sysex.push(b);
                } else {
                    self.in_sysex = false;
                    self.sysex.clear();
                }
                if self.in_sysex || b != 0xF0 {
                    continue;
                }
            }
            if b == 0xF0 {
                self.in_sysex = true;
                self.sysex.clear();
                self.sysex.push(b);
                self.want_qf = false;
                continue;
            }
            if b & 0x80 != 0 {
                self.want_qf = b == 0xF1;
                continue;
            }
            if !self.want_qf {
                continue;
            }
            self.want_qf = false;
            let piece = b >> 4;
            if piece == 0 || self.last_piece.is_some_and(|l| piece != l + 1) {
                self.seen = 0;
            }
            self.last_piece = Some(piece);
            self.pieces[piece as usize] = b & 0x0F;
            self.seen |= 1 << piece;
            if piece == 7 && self.seen == 0xFF {
                let p = &self.pieces;
                let tc = Timecode {
                    frames: p[0] | (p[1] & 1) << 4,
                    seconds: p[2] | (p[3] & 3) << 4,
                    minutes: p[4] | (p[5] & 3) << 4,
                    hours: p[6] | (p[7] & 1) << 4,
                    rate: MtcDecoder::rate(p[7] >> 1),
                };
                if tc.is_valid() {
                    // Eight quarter frames span two frames: the code that
                    // began them is two frames old when the last arrives.
                    out.push(Timecode::from_frame_number(tc.frame_number() + 2, tc.rate));
                }
                self.seen = 0;
            }
        }
    }
}

/// The quarter-frame messages (`F1 0n` × 8) for `tc`, as a sender writes them.
pub fn mtc_quarter_frames(tc: Timecode) -> [u8; 16] {
    let r: u8 = match tc.rate {
        FrameRate::Fps24 => 0,
        FrameRate::Fps25 => 1,
        FrameRate::Df2997 => 2,
        FrameRate::Fps30 => 3,
    };
    let nib = [
        tc.frames & 0xF,
        tc.frames >> 4,
        tc.seconds & 0xF,
        tc.seconds >> 4,
        tc.minutes & 0xF,
        tc.minutes >> 4,
        tc.hours & 0xF,
        (tc.hours >> 4) | r << 1,
    ];
    let mut out = [0u8; 16];
    for (k, n) in nib.iter().enumerate() {
        out[2 * k] = 0xF1;
        out[2 * k + 1] = (k as u8) << 4 | n;
    }
    out
}

/// LTC audio for `frames` frames from `start`, at `sample_rate`, level
/// ±`amplitude`, appended to `out` (for tests, tools and benchmarks).
pub fn ltc_encode(
    start: Timecode,
    frames: u64,
    sample_rate: u32,
    amplitude: f32,
    out: &mut Vec<f32>,
) {
    let per_bit = f64::from(sample_rate) / (start.rate.fps() * f64::from(FRAME_BITS));
    let first = start.frame_number();
    let mut level = amplitude;
    let mut t = 0.0f64; // samples written, as a real number
    let mut written = 0u64;
    let emit = |until: f64, level: f32, out: &mut Vec<f32>, written: &mut u64| {
        while (*written as f64) < until {
            out.push(level);
            *written += 1;
        }
    };
    for k in 0..frames {
        let tc = Timecode::from_frame_number(first + k, start.rate);
        let mut reg: u128 = 0;
        let mut set = |at: u32, v: u8, n: u32| {
            reg |= (u128::from(v) & ((1 << n) - 1)) << at;
        };
        set(0, tc.frames % 10, 4);
        set(8, tc.frames / 10, 2);
        set(10, u8::from(tc.rate == FrameRate::Df2997), 1);
        set(16, tc.seconds % 10, 4);
        set(24, tc.seconds / 10, 3);
        set(32, tc.minutes % 10, 4);
        set(40, tc.minutes / 10, 3);
        set(48, tc.hours % 10, 4);
        set(56, tc.hours / 10, 2);
        reg |= SYNC << 64;
        for b in 0..FRAME_BITS {
            // Every bit starts with a transition; a one has a second in its middle.
            level = -level;
            if (reg >> b) & 1 == 1 {
                emit(t + per_bit / 2.0, level, out, &mut written);
                level = -level;
            }
            t += per_bit;
            emit(t, level, out, &mut written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(h: u8, m: u8, s: u8, f: u8, rate: FrameRate) -> Timecode {
        Timecode {
            hours: h,
            minutes: m,
            seconds: s,
            frames: f,
            rate,
        }
    }

    #[test]
    fn drop_frame_counts_like_the_clock() {
        let r = FrameRate::Df2997;
        assert_eq!(tc(0, 1, 0, 2, r).frame_number(), 1800);
        assert_eq!(tc(0, 10, 0, 0, r).frame_number(), 17_982);
        assert_eq!(tc(1, 0, 0, 0, r).frame_number(), 107_892);
        // One hour of DF code is 3600 real seconds to within 3.6 ms.
        assert!((tc(1, 0, 0, 0, r).seconds() - 3600.0).abs() < 0.004);
        for k in [
            0u64, 1, 1799, 1800, 1801, 17_981, 17_982, 107_891, 107_892, 2_000_000,
        ] {
            let t = Timecode::from_frame_number(k, r);
            assert!(t.is_valid(), "{t}");
            assert_eq!(t.frame_number(), k, "{t}");
        }
        assert_eq!(
            Timecode::from_frame_number(1800, r).to_string(),
            "00:01:00;02"
        );
        for rate in [FrameRate::Fps24, FrameRate::Fps25, FrameRate::Fps30] {
            let t = tc(10, 20, 30, 5, rate);
            assert_eq!(Timecode::from_frame_number(t.frame_number(), rate), t);
        }
        assert!(!tc(0, 1, 0, 0, r).is_valid());
        assert!(!tc(0, 0, 0, 25, FrameRate::Fps25).is_valid());
    }

    #[test]
    fn chase_follows_jumps_freewheels_then_holds_or_stops() {
        let r = FrameRate::Fps25;
        let mut c = Chase::new(2.0, OnLoss::Hold);
        assert_eq!(c.position(0.0), Position::Waiting);
        for k in 0..50u64 {
            assert!(!c.receive(Timecode::from_frame_number(250 + k, r), k as f64 / 25.0));
        }
        // Between codes the position runs on.
        let p = c.position(49.0 / 25.0 + 0.02).seconds().unwrap();
        assert!((p - (299.0 / 25.0 + 0.02)).abs() < 1e-9);
        // A jump back re-locates at once.
        assert!(c.receive(tc(0, 0, 5, 0, r), 2.0));
        assert_eq!(c.jumps, 1);
        assert_eq!(c.position(2.0), Position::Locked(5.0));
        // The code stops: freewheel for 2 s, then hold where it ran to.
        assert!(matches!(c.position(2.5), Position::Freewheel(s) if (s - 5.5).abs() < 1e-9));
        assert!(matches!(c.position(4.1), Position::Freewheel(_)));
        assert_eq!(c.position(4.2).seconds(), Some(5.0 + 0.12 + 2.0));
        assert!(matches!(c.position(9.0), Position::Held(_)));
        c.on_loss = OnLoss::Stop;
        assert_eq!(c.position(9.0), Position::Stopped);
        c.on_loss = OnLoss::Continue;
        assert_eq!(c.position(9.0), Position::Continuing(12.0));
        // A paused source (the same code again) does not run on.
        c.receive(tc(0, 0, 7, 0, r), 10.0);
        c.receive(tc(0, 0, 7, 0, r), 10.04);
        assert_eq!(c.position(10.08), Position::Locked(7.0));
    }

    fn decode(start: Timecode, frames: u64, sr: u32) -> Vec<LtcFrame> {
        let mut pcm = Vec::new();
        ltc_encode(start, frames, sr, 0.4, &mut pcm);
        let mut d = LtcDecoder::new(sr);
        let mut out = Vec::new();
        for chunk in pcm.chunks(333) {
            d.push(chunk, &mut out);
        }
        out
    }

    #[test]
    fn mtc_quarter_frames_and_full_frames_decode() {
        let r = FrameRate::Fps25;
        let mut d = MtcDecoder::new();
        let mut out = Vec::new();
        // Two codes' quarter frames with clock and a note between.
        let mut bytes = Vec::new();
        for k in [100u64, 102] {
            bytes.extend_from_slice(&mtc_quarter_frames(Timecode::from_frame_number(k, r)));
            bytes.extend_from_slice(&[0xF8, 0x90, 0x40, 0x7F]);
        }
        d.push(&bytes, &mut out);
        let got: Vec<u64> = out.iter().map(|t| t.frame_number()).collect();
        assert_eq!(got, [102, 104]);
        // A locate: full frame at 01:02:03:04, 30 fps (rate bits 11).
        out.clear();
        d.push(
            &[0xF0, 0x7F, 0x7F, 0x01, 0x01, 0x61, 2, 3, 4, 0xF7],
            &mut out,
        );
        assert_eq!(out, [tc(1, 2, 3, 4, FrameRate::Fps30)]);
        // Torn: pieces out of order make no code; a long SysEx is skipped.
        out.clear();
        let q = mtc_quarter_frames(Timecode::from_frame_number(50, r));
        d.push(&q[4..], &mut out);
        d.push(&[0xF0; 1], &mut out);
        d.push(&[1u8; 100], &mut out);
        d.push(&[0xF7], &mut out);
        assert!(out.is_empty());
        d.push(&q, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn ltc_round_trips_at_every_rate() {
        for (rate, sr) in [
            (FrameRate::Fps24, 48_000),
            (FrameRate::Fps25, 44_100),
            (FrameRate::Df2997, 48_000),
            (FrameRate::Fps30, 48_000),
        ] {
            let start = Timecode::from_frame_number(1795, rate);
            let got = decode(start, 40, sr);
            // The first frame is spent finding the bit rate.
            assert!(got.len() >= 38, "{rate:?}: {} frames", got.len());
            for f in &got {
                assert_eq!(f.timecode.rate, rate);
                // It ends where the next frame begins.
                let k = f.timecode.frame_number() - start.frame_number() + 1;
                let end = k as f64 * f64::from(sr) / rate.fps();
                assert!(
                    (f.end_sample as f64 - end).abs() < 3.0,
                    "{rate:?} {}",
                    f.timecode
                );
            }
            // The last frame's last bit ends at the next frame's first
            // edge, which this clip does not have.
            let last = got.last().unwrap().timecode;
            assert_eq!(last.frame_number(), start.frame_number() + 38, "{rate:?}");
            assert!(got
                .windows(2)
                .all(|w| w[1].timecode.frame_number() == w[0].timecode.frame_number() + 1));
        }
    }
}
