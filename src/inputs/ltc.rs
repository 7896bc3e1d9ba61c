//! Reading LTC audio for an `ltc` input: from an ALSA capture device
//! through `arecord` (alsa-utils; raw 16-bit mono at the input's
//! `sample_rate`), or, when `device` names a `.wav` file, from that file
//! played at its real pace (a rehearsal with the show's timecode track, and
//! how the decoder is tested end to end). Samples go to the pure decoder
//! (`nightscape_core::timecode::LtcDecoder`); each frame decoded becomes the
//! position of the frame that starts as it ends.

use super::{Inputs, Running};
use nightscape_core::site::inputs::DeviceInput;
use nightscape_core::timecode::{LtcDecoder, LtcFrame, Timecode, TimecodeSource};
use std::io::Read;
use std::time::{Duration, Instant};

/// Largest WAV file read (a timecode track of a long show at 48 kHz mono
/// 16-bit is about 350 MB an hour: read in blocks, never whole).
const BLOCK_SAMPLES: usize = 480;

pub(super) fn run(inputs: &Inputs, r: &Running, dev: &DeviceInput) {
    let result = if dev.device.to_ascii_lowercase().ends_with(".wav") {
        play_wav(inputs, r, &dev.device)
    } else {
        capture(inputs, r, dev)
    };
    if let Err(e) = result {
        tracing::warn!(device = %dev.device, "LTC input stopped: {e}");
        if let Some(slot) = super::lock(&inputs.state).errors.get_mut(r.index()) {
            *slot = Some(e.to_string());
        }
    }
}

fn deliver(inputs: &Inputs, r: &Running, frames: &mut Vec<LtcFrame>) {
    for f in frames.drain(..) {
        // The frame just ended: the code now is the next one's.
        let next = Timecode::from_frame_number(f.timecode.frame_number() + 1, f.timecode.rate);
        inputs.feed_timecode(TimecodeSource::Ltc, next);
        let now = inputs.now();
        let mut st = super::lock(&inputs.state);
        if let Some(c) = st.counters.get_mut(r.index()) {
            c.packets += 1;
            c.accepted += 1;
            c.last_at = Some(now);
        }
    }
}

fn capture(inputs: &Inputs, r: &Running, dev: &DeviceInput) -> std::io::Result<()> {
    let mut child = std::process::Command::new("arecord")
        .args([
            "-q",
            "-D",
            &dev.device,
            "-t",
            "raw",
            "-f",
            "S16_LE",
            "-c",
            "1",
        ])
        .arg("-r")
        .arg(dev.sample_rate.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| std::io::Error::other(format!("cannot start arecord (alsa-utils): {e}")))?;
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut dec = LtcDecoder::new(dev.sample_rate);
    let mut bytes = vec![0u8; BLOCK_SAMPLES * 2];
    let mut samples = Vec::with_capacity(BLOCK_SAMPLES);
    let mut frames = Vec::new();
    while !r.stopped(inputs) {
        let got = out.read(&mut bytes)?;
        if got == 0 {
            let _ = child.wait();
            return Err(std::io::Error::other("arecord ended (device gone?)"));
        }
        samples.clear();
        samples.extend(
            bytes[..got & !1]
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
        );
        dec.push(&samples, &mut frames);
        deliver(inputs, r, &mut frames);
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// The PCM format of a WAV file this reader takes: 16-bit integer, any
/// channel count (the first channel is read), any rate.
struct Wav {
    channels: u16,
    rate: u32,
    data_len: u64,
}

fn read_wav_header(r: &mut impl Read) -> std::io::Result<Wav> {
    let bad = |m: &str| std::io::Error::other(format!("not a 16-bit PCM WAV file: {m}"));
    let mut h = [0u8; 12];
    r.read_exact(&mut h)?;
    if &h[..4] != b"RIFF" || &h[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut fmt: Option<(u16, u32, u16)> = None;
    // Chunks until `data`; at most 64 of them before it.
    for _ in 0..64 {
        let mut c = [0u8; 8];
        r.read_exact(&mut c)?;
        let len = u32::from_le_bytes([c[4], c[5], c[6], c[7]]) as u64;
        match &c[..4] {
            b"fmt " => {
                if !(16..=64).contains(&len) {
                    return Err(bad("fmt chunk size"));
                }
                let mut f = vec![0u8; len as usize];
                r.read_exact(&mut f)?;
                let format = u16::from_le_bytes([f[0], f[1]]);
                let channels = u16::from_le_bytes([f[2], f[3]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                let bits = u16::from_le_bytes([f[14], f[15]]);
                if format != 1 || bits != 16 || channels == 0 || !(8_000..=192_000).contains(&rate)
                {
                    return Err(bad("only 16-bit integer PCM, 8..192 kHz"));
                }
                fmt = Some((channels, rate, bits));
            }
            b"data" => {
                let (channels, rate, _) = fmt.ok_or_else(|| bad("data before fmt"))?;
                return Ok(Wav {
                    channels,
                    rate,
                    data_len: len,
                });
            }
            _ => {
                std::io::copy(&mut r.take(len + (len & 1)), &mut std::io::sink())?;
            }
        }
    }
    Err(bad("no data chunk"))
}

fn play_wav(inputs: &Inputs, r: &Running, path: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut wav_in = std::io::BufReader::new(file);
    let wav = read_wav_header(&mut wav_in)?;
    let frame_bytes = usize::from(wav.channels) * 2;
    let mut dec = LtcDecoder::new(wav.rate);
    let mut bytes = vec![0u8; BLOCK_SAMPLES * frame_bytes];
    let mut samples = Vec::with_capacity(BLOCK_SAMPLES);
    let mut frames = Vec::new();
    let start = Instant::now();
    let mut played: u64 = 0;
    let mut left = wav.data_len;
    while left > 0 && !r.stopped(inputs) {
        let want = (bytes.len() as u64).min(left) as usize;
        let want = want - want % frame_bytes;
        if want == 0 {
            break;
        }
        wav_in.read_exact(&mut bytes[..want])?;
        left -= want as u64;
        samples.clear();
        samples.extend(
            bytes[..want]
                .chunks_exact(frame_bytes)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
        );
        played += samples.len() as u64;
        // Played at the file's pace: these samples are heard by now.
        let due = start + Duration::from_secs_f64(played as f64 / f64::from(wav.rate));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        dec.push(&samples, &mut frames);
        deliver(inputs, r, &mut frames);
    }
    tracing::info!(file = %path, "LTC input: the file ended");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_headers_are_read_and_bad_ones_refused() {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        w.extend_from_slice(b"LIST\x04\0\0\0abcd");
        w.extend_from_slice(b"fmt \x10\0\0\0");
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&48_000u32.to_le_bytes());
        w.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
        w.extend_from_slice(&4u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data\x08\0\0\0");
        let h = read_wav_header(&mut &w[..]).unwrap();
        assert_eq!((h.channels, h.rate, h.data_len), (2, 48_000, 8));
        let mut f = w.clone();
        f[34 + 12] = 8; // 8-bit
        assert!(read_wav_header(&mut &f[..]).is_err());
        assert!(read_wav_header(&mut &b"RIFX"[..]).is_err());
    }
}
