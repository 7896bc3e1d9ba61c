//! Shows on timecode, end to end: a real daemon with an Art-Net input on
//! loopback follows real ArtTimeCode packets (forward, a jump back, the
//! code stopping → freewheel → hold, or stop), read back from the frames
//! it sends; and LTC, decoded from WAV files generated here at 25 and
//! 29.97 drop-frame, and followed by a daemon whose `ltc` input plays one.
//! The position error against the code sent is measured and printed.
//!
//! The show `tc` holds red = 10 × the second it is at (a cue a second,
//! no fades), so the wire says where the show is.

use super::inputs::{free_port, run, site, until};
use nightscape_core::timecode::{ltc_encode, FrameRate, LtcDecoder, Timecode};
use nightscape_core::wire::artcontrol::{encode_timecode, ArtTimeCode, TimecodeType, TIMECODE_LEN};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn tc_show(source: &str, on_loss: &str) -> String {
    let cues: Vec<String> = (0..26)
        .map(|s| {
            format!(
                "{{ at = \"{s}s\", color = \"#{:02x}0000\", fade = \"0s\" }}",
                s * 10
            )
        })
        .collect();
    format!(
        "name = \"tc\"\nfade_in = \"0s\"\ntimecode = \"{source}\"\nfreewheel = \"1s\"\non_timecode_loss = \"{on_loss}\"\n\
         [[layers]]\ntarget = \"a\"\neffect = \"sequence\"\ncues = [{}]\n",
        cues.join(", ")
    )
}

fn send_tc(tx: &UdpSocket, to: &str, frame: u64) {
    let t = Timecode::from_frame_number(frame, FrameRate::Fps25);
    let mut buf = [0u8; TIMECODE_LEN];
    encode_timecode(
        &ArtTimeCode {
            stream: 0,
            hours: t.hours,
            minutes: t.minutes,
            seconds: t.seconds,
            frames: t.frames,
            kind: TimecodeType::Ebu25,
        },
        &mut buf,
    );
    tx.send_to(&buf, to).unwrap();
}

/// Send frames `from..to` at 25 fps, in real time.
fn play(tx: &UdpSocket, to: &str, from: u64, frames: u64) {
    let t0 = Instant::now();
    for k in 0..frames {
        send_tc(tx, to, from + k);
        let due = t0 + Duration::from_millis(40 * (k + 1));
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    }
}

fn red(rx: &UdpSocket, want: u8, within: Duration) -> bool {
    until(rx, 0, within, |d| d[0] == want).is_some()
}

fn artnet_daemon(
    on_loss: &str,
) -> (
    tempfile::TempDir,
    super::common::Daemon,
    String,
    UdpSocket,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let ap = free_port();
    let show = tc_show("artnet", on_loss);
    let (site, rx) = site(
        dir.path(),
        &format!("[[inputs]]\nkind = \"artnet\"\nlisten = \"127.0.0.1:{ap}\"\nuniverses = 9\n"),
        &[("tc", &show)],
    );
    let (d, base) = run(&site, "tc");
    (dir, d, base, rx, format!("127.0.0.1:{ap}"))
}

#[test]
fn artnet_timecode_forward_jump_back_stop_freewheel_then_hold() {
    let (_dir, _d, base, rx, to) = artnet_daemon("hold");
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Before any code, `hold` waits at the start: red 0.
    assert!(red(&rx, 0, Duration::from_secs(10)));
    // Forward from 00:00:05:00 for 1.2 s.
    play(&tx, &to, 125, 20);
    assert!(red(&rx, 50, Duration::from_millis(300)), "at 5 s");
    play(&tx, &to, 145, 10);
    assert!(red(&rx, 60, Duration::from_millis(300)), "at 6 s");

    // Position error while locked: /api/inputs against the code sent.
    let mut errs = Vec::new();
    let t0 = Instant::now();
    let start = 160u64;
    for k in 0..50u64 {
        send_tc(&tx, &to, start + k);
        let sent_at = Instant::now();
        if k % 5 == 4 {
            let q0 = Instant::now();
            let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            let mid = q0 + q0.elapsed() / 2;
            let expected = (start + k) as f64 / 25.0 + (mid - sent_at).as_secs_f64();
            let got = v["timecode"][0]["position"]["seconds"].as_f64().unwrap();
            errs.push((got - expected).abs());
        }
        let due = t0 + Duration::from_millis(40 * (k + 1));
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    }
    errs.sort_by(f64::total_cmp);
    println!(
        "ArtTimeCode position error over {} samples: p50 {:.2} ms, max {:.2} ms (1 frame = 40 ms)",
        errs.len(),
        errs[errs.len() / 2] * 1000.0,
        errs[errs.len() - 1] * 1000.0
    );
    assert!(errs[errs.len() / 2] < 0.040, "{errs:?}");

    // A jump back to 00:00:02:00 re-locates at once.
    let t = Instant::now();
    play(&tx, &to, 50, 3);
    assert!(
        red(&rx, 20, Duration::from_millis(200)),
        "chased back to 2 s"
    );
    println!(
        "jump back seen on the wire within {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    // The code stops at 00:00:02:03: 1 s freewheel runs it to about
    // 3.2 s (red 30), then it holds there.
    assert!(
        red(&rx, 30, Duration::from_millis(1500)),
        "freewheel ran on"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        until(&rx, 0, Duration::from_millis(1500), |d| d[0] != 30).is_none(),
        "held at the last look"
    );
    let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(v["timecode"][0]["source"], "artnet");
    assert!(v["timecode"][0]["jumps"].as_u64().unwrap() >= 1, "{v}");
}

#[test]
fn artnet_timecode_lost_stops_the_show() {
    let (_dir, _d, _base, rx, to) = artnet_daemon("stop");
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    play(&tx, &to, 125, 10);
    assert!(red(&rx, 50, Duration::from_millis(500)));
    // Lost after ~1.1 s: the show stops (nothing else plays: dark).
    let t = Instant::now();
    assert!(red(&rx, 0, Duration::from_secs(3)));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "not before the freewheel: {took:?}"
    );
}

fn wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let mut w = Vec::new();
    let data = (samples.len() * 2) as u32;
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&((s * 32767.0) as i16).to_le_bytes());
    }
    w
}

/// Read a 16-bit mono WAV this test wrote (the header is 44 bytes).
fn unwav(bytes: &[u8]) -> (u32, Vec<f32>) {
    assert_eq!(&bytes[..4], b"RIFF");
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    let s = bytes[44..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    (rate, s)
}

#[test]
fn ltc_from_generated_wav_files_at_25_and_29_97_drop_frame() {
    let dir = tempfile::tempdir().unwrap();
    for (rate, start, sr) in [
        (FrameRate::Fps25, "00:59:58:10", 48_000u32),
        (FrameRate::Df2997, "00:00:59:20", 44_100),
    ] {
        let p: Vec<u8> = start.split(':').map(|x| x.parse().unwrap()).collect();
        let start = Timecode {
            hours: p[0],
            minutes: p[1],
            seconds: p[2],
            frames: p[3],
            rate,
        };
        // Three seconds, at a quiet level with an offset-free sign flip.
        let mut pcm = Vec::new();
        ltc_encode(start, (3.0 * rate.fps()) as u64, sr, 0.2, &mut pcm);
        let inverted: Vec<f32> = pcm.iter().map(|s| -s).collect();
        for (name, samples) in [("ltc", &pcm), ("ltc-inverted", &inverted)] {
            let path = dir.path().join(format!("{name}-{}.wav", rate.label()));
            std::fs::write(&path, wav(samples, sr)).unwrap();
            let (got_sr, back) = unwav(&std::fs::read(&path).unwrap());
            let mut d = LtcDecoder::new(got_sr);
            let mut frames = Vec::new();
            d.push(&back, &mut frames);
            let n = (3.0 * rate.fps()) as u64;
            assert!(
                frames.len() as u64 >= n - 2,
                "{name} {rate:?}: {} of {n}",
                frames.len()
            );
            let mut worst = 0.0f64;
            for f in &frames {
                assert_eq!(f.timecode.rate, rate);
                let k = f.timecode.frame_number() - start.frame_number() + 1;
                let end = k as f64 / rate.fps();
                worst = worst.max((f.end_sample as f64 / f64::from(sr) - end).abs());
            }
            // Across the hour (25) and the dropped frames of minute 1 (DF).
            let codes: Vec<String> = frames.iter().map(|f| f.timecode.to_string()).collect();
            if rate == FrameRate::Df2997 {
                assert!(
                    codes.contains(&"00:00:59;29".to_string())
                        && codes.contains(&"00:01:00;02".to_string())
                );
                assert!(!codes
                    .iter()
                    .any(|c| c == "00:01:00;00" || c == "00:01:00;01"));
            } else {
                assert!(
                    codes.contains(&"00:59:59:24".to_string())
                        && codes.contains(&"01:00:00:00".to_string())
                );
            }
            println!(
                "LTC {} from {name}.wav at {sr} Hz: {} frames, frame-end error max {:.3} ms",
                rate.label(),
                frames.len(),
                worst * 1000.0
            );
            assert!(worst < 1.0 / rate.fps());
        }
    }
}

#[test]
fn a_show_follows_ltc_played_from_a_wav_file() {
    let dir = tempfile::tempdir().unwrap();
    let start = Timecode {
        hours: 0,
        minutes: 0,
        seconds: 4,
        frames: 0,
        rate: FrameRate::Fps25,
    };
    let mut pcm = vec![0.0f32; 4_800];
    ltc_encode(start, 200, 48_000, 0.3, &mut pcm);
    let wav_path = dir.path().join("track.wav");
    std::fs::write(&wav_path, wav(&pcm, 48_000)).unwrap();
    let show = tc_show("ltc", "hold");
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"ltc\"\ndevice = \"{}\"\n",
            wav_path.display()
        ),
        &[("tc", &show)],
    );
    let (_d, base) = run(&site, "tc");
    // The file plays as the daemon starts: 00:00:04:00 on for 8 s.
    assert!(
        red(&rx, 80, Duration::from_secs(10)),
        "followed the LTC to 8 s"
    );
    assert!(red(&rx, 90, Duration::from_millis(1100)), "and to 9 s");
    let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(v["timecode"][0]["source"], "ltc", "{v}");
    assert_eq!(v["timecode"][0]["rate"], "25", "{v}");
}

#[test]
fn a_show_follows_mtc_from_a_midi_stream() {
    use nightscape_core::timecode::mtc_quarter_frames;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("midi");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        super::common::skip_unless_ci(
            "a_show_follows_mtc_from_a_midi_stream",
            "mkfifo (coreutils) is needed",
        );
        return;
    }
    let show = tc_show("mtc", "hold");
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"mtc\"\ndevice = \"{}\"\n",
            fifo.display()
        ),
        &[("tc", &show)],
    );
    let (_d, base) = run(&site, "tc");
    // The daemon reads the FIFO; this side writes MIDI as a sender would:
    // a locate (full frame), then quarter frames at 25 fps from 00:00:04:00.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&[0xF0, 0x7F, 0x7F, 0x01, 0x01, 0x20, 0, 0, 4, 0xF7])
        .unwrap();
    let t0 = Instant::now();
    let start = 100u64;
    let mut seen50 = false;
    for k in 0..40u64 {
        // Each code's eight quarter frames take two frames (80 ms).
        let q = mtc_quarter_frames(Timecode::from_frame_number(start + 2 * k, FrameRate::Fps25));
        for (i, pair) in q.chunks(2).enumerate() {
            w.write_all(pair).unwrap();
            let due = t0 + Duration::from_millis(80 * k + 10 * (i as u64 + 1));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        if !seen50 && k > 20 {
            seen50 = red(&rx, 50, Duration::from_millis(10));
        }
    }
    // 00:00:04:00 + 3.2 s: the show reached 5 s, then 6 s (red 60) and held.
    assert!(
        seen50 || red(&rx, 60, Duration::from_secs(2)),
        "followed MTC"
    );
    let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(v["timecode"][0]["source"], "mtc", "{v}");
    assert!(v["inputs"][0]["accepted"].as_u64().unwrap() >= 30, "{v}");
}
