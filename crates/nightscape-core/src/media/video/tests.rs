//! The video decoder against two tiny clips made by `testdata/make-clips.py`
//! (40 × 24, 8 fps, 16 frames; frame i: top half PALETTE[i / 2], bottom
//! half grey 16·i), and against damaged and foreign files.

use super::*;

const BASELINE: &[u8] = include_bytes!("testdata/colours-baseline.mp4");
const HIGH: &[u8] = include_bytes!("testdata/colours-high.mp4");

const PALETTE: [[u8; 3]; 8] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
    [255, 0, 255],
    [255, 255, 255],
    [128, 128, 128],
];

fn decode_all(
    bytes: &[u8],
    max: (u32, u32),
) -> Result<(VideoInfo, Vec<(f64, Picture)>), MediaError> {
    let mut frames = Vec::new();
    let info = decode_mp4(bytes, &Limits::default(), max, &mut |t, p| {
        frames.push((t, p.clone()));
        Ok(())
    })?;
    Ok((info, frames))
}

fn px(p: &Picture, x: u32, y: u32) -> [u8; 3] {
    let c = p.rgba[(y * p.width + x) as usize];
    assert_eq!(c[3], 255);
    [c[0], c[1], c[2]]
}

fn near(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, y)| (i32::from(x) - i32::from(y)).abs() <= tol)
}

fn check_clip(bytes: &[u8]) {
    let (info, frames) = decode_all(bytes, (1000, 1000)).unwrap();
    assert_eq!(
        (info.width, info.height),
        (40, 24),
        "cropped to 40 × 24, not 48 × 32"
    );
    assert_eq!((info.frame_width, info.frame_height), (40, 24));
    assert_eq!(info.frames, 16);
    assert!((info.duration - 2.0).abs() < 1e-9, "{}", info.duration);
    assert_eq!(frames.len(), 16);
    for (i, (t, p)) in frames.iter().enumerate() {
        assert!((t - i as f64 / 8.0).abs() < 1e-9, "frame {i} at {t}");
        // Away from the edge between the halves (chroma is shared by 2 × 2
        // pixels and the encoder blurs a little).
        let top = px(p, 20, 3);
        let bottom = px(p, 20, 20);
        assert!(
            near(top, PALETTE[i / 2], 6),
            "frame {i}: top {top:?}, want {:?}",
            PALETTE[i / 2]
        );
        let grey = (16 * i) as u8;
        assert!(
            near(bottom, [grey; 3], 4),
            "frame {i}: bottom {bottom:?}, want grey {grey}"
        );
        // Top row first: row 0 is the top colour.
        assert!(near(px(p, 0, 0), PALETTE[i / 2], 12), "frame {i} row 0");
    }
}

#[test]
fn baseline_clip_frames_have_their_colours_in_time_order() {
    check_clip(BASELINE);
}

#[test]
fn b_frames_come_back_in_display_order() {
    check_clip(HIGH);
}

#[test]
fn frames_are_reduced_to_the_size_asked_for() {
    let (info, frames) = decode_all(BASELINE, (10, 10)).unwrap();
    // 40 × 24 into 10 × 10 keeps the aspect: 10 × 6.
    assert_eq!((info.frame_width, info.frame_height), (10, 6));
    let p = &frames[5].1;
    assert_eq!((p.width, p.height), (10, 6));
    // Each output pixel averages a 4 × 4 box: rows 0–2 are the top half,
    // rows 3–5 the bottom.
    assert!(near(px(p, 5, 0), PALETTE[2], 6), "{:?}", px(p, 5, 0));
    assert!(near(px(p, 5, 5), [80; 3], 4), "{:?}", px(p, 5, 5));
}

#[test]
fn probe_reads_the_header_without_decoding() {
    let info = probe_mp4(HIGH, &Limits::default(), (20, 20)).unwrap();
    assert_eq!(
        info,
        VideoInfo {
            width: 40,
            height: 24,
            frame_width: 20,
            frame_height: 12,
            frames: 16,
            duration: 2.0
        }
    );
}

#[test]
fn an_error_from_the_caller_stops_decoding() {
    let mut seen = 0;
    let err = decode_mp4(BASELINE, &Limits::default(), (8, 8), &mut |_, _| {
        seen += 1;
        if seen == 3 {
            Err(MediaError::TooLarge("enough".into()))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err, MediaError::TooLarge("enough".into()));
    assert_eq!(seen, 3);
}

#[test]
fn bt709_limited_range_primaries() {
    // Y′CbCr of 100 % red, green and blue in BT.709 limited range
    // (Y′ = 16 + 219·K, Cb/Cr = 128 ± 112·…), then white and black.
    let ycc = |r: f32, g: f32, b: f32| {
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        (
            16.0 + 219.0 * y,
            128.0 + 112.0 * (b - y) / 0.9278,
            128.0 + 112.0 * (r - y) / 0.7874,
        )
    };
    for (rgb, want) in [
        ((1.0, 0.0, 0.0), [255, 0, 0, 255]),
        ((0.0, 1.0, 0.0), [0, 255, 0, 255]),
        ((0.0, 0.0, 1.0), [0, 0, 255, 255]),
        ((0.5, 0.25, 0.75), [128, 64, 191, 255]),
    ] {
        let (y, cb, cr) = ycc(rgb.0, rgb.1, rgb.2);
        assert_eq!(bt709_limited(y, cb, cr), want, "{rgb:?}");
    }
    assert_eq!(bt709_limited(235.0, 128.0, 128.0), [255, 255, 255, 255]);
    assert_eq!(bt709_limited(16.0, 128.0, 128.0), [0, 0, 0, 255]);
    // Out-of-range codes clip instead of wrapping.
    assert_eq!(bt709_limited(255.0, 128.0, 128.0), [255, 255, 255, 255]);
    assert_eq!(bt709_limited(0.0, 128.0, 128.0), [0, 0, 0, 255]);
}

#[test]
fn fit_within_keeps_aspect_and_never_enlarges() {
    assert_eq!(fit_within(1920, 1080, (64, 64)), (64, 36));
    assert_eq!(fit_within(1080, 1920, (64, 64)), (36, 64));
    assert_eq!(fit_within(40, 24, (100, 100)), (40, 24));
    assert_eq!(fit_within(4000, 2, (10, 10)), (10, 1));
    assert_eq!(fit_within(1920, 1080, (0, 0)), (1, 1));
}

// ---- bad input --------------------------------------------------------

fn unsupported(bytes: &[u8]) -> String {
    match decode_mp4(bytes, &Limits::default(), (8, 8), &mut |_, _| Ok(())) {
        Err(MediaError::Unsupported(m)) => m,
        other => panic!("want Unsupported, got {other:?}"),
    }
}

/// An MP4 with one track whose sample entry is `codec` under `handler`,
/// written by hand (the boxes the reader needs, nothing else).
fn mp4_with_track(handler: &[u8; 4], codec: &[u8; 4]) -> Vec<u8> {
    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }
    let mut hdlr = vec![0u8; 8];
    hdlr.extend_from_slice(handler);
    hdlr.extend_from_slice(&[0; 13]);
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(bx(codec, &[0u8; 78]));
    let empty_table = [0u8; 8];
    let stbl = [
        bx(b"stsd", &stsd),
        bx(b"stts", &empty_table),
        bx(b"stsc", &empty_table),
        bx(b"stsz", &[0u8; 12]),
        bx(b"stco", &empty_table),
    ]
    .concat();
    let mut mdhd = vec![0u8; 12];
    mdhd.extend_from_slice(&1000u32.to_be_bytes());
    mdhd.extend_from_slice(&[0; 8]);
    let mdia = [
        bx(b"mdhd", &mdhd),
        bx(b"hdlr", &hdlr),
        bx(b"minf", &bx(b"stbl", &stbl)),
    ]
    .concat();
    let moov = bx(b"moov", &bx(b"trak", &bx(b"mdia", &mdia)));
    [bx(b"ftyp", b"isom\0\0\0\0isom"), moov].concat()
}

#[test]
fn an_mp4_with_no_video_track_says_what_it_has_and_what_decodes() {
    let m = unsupported(&mp4_with_track(b"soun", b"mp4a"));
    assert!(m.contains("no video track"), "{m}");
    assert!(m.contains("audio 'mp4a'"), "{m}");
    assert!(m.contains("H.264"), "{m}");
}

#[test]
fn a_hevc_track_is_named_and_refused() {
    let m = unsupported(&mp4_with_track(b"vide", b"hvc1"));
    assert!(m.contains("'hvc1' (HEVC/H.265)"), "{m}");
    assert!(m.contains("H.264"), "{m}");
}

#[test]
fn not_an_mp4_is_refused() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    assert!(decode_all(png, (8, 8)).is_err());
    assert!(decode_all(&[], (8, 8)).is_err());
    let m = unsupported(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    assert!(m.contains("not an MP4"), "{m}");
}

#[test]
fn every_truncation_of_a_clip_is_an_error_or_fewer_frames_never_a_panic() {
    for clip in [BASELINE, HIGH] {
        for cut in (0..clip.len()).step_by(7) {
            match decode_all(&clip[..cut], (8, 8)) {
                Err(e) => assert!(!e.to_string().is_empty()),
                Ok((info, _)) => panic!("cut at {cut} of {} decoded {info:?}", clip.len()),
            }
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    // Every byte of the header region changed in turn (the frames' bytes
    // are the decoder's business; the container is ours).
    let moov_at = BASELINE.windows(4).position(|w| w == b"moov").unwrap() - 4;
    for i in (0..BASELINE.len()).filter(|&i| i < 64 || i >= moov_at) {
        // A byte "changed" to the value it has is the clip itself
        // (decoded by the tests above): skipped, a fifth of the decodes.
        for v in [0u8, 0xff, 0x7f].into_iter().filter(|&v| v != BASELINE[i]) {
            let mut b = BASELINE.to_vec();
            b[i] = v;
            let _ = decode_all(&b, (8, 8));
        }
    }
}

#[test]
fn a_giant_declared_picture_is_refused_before_decoding() {
    // The clip's own SPS says 40 × 24; with a 32-pixel side limit it is
    // refused by size, not decoded.
    let small = Limits {
        max_side: 32,
        ..Limits::default()
    };
    let err = decode_mp4(BASELINE, &small, (8, 8), &mut |_, _| panic!("decoded")).unwrap_err();
    assert!(
        matches!(&err, MediaError::TooLarge(m) if m.contains("40×24")),
        "{err:?}"
    );
    assert!(probe_mp4(BASELINE, &small, (8, 8)).is_err());
}

#[test]
fn too_many_frames_for_the_total_is_refused() {
    let tight = Limits {
        max_total_pixels: 15 * 40 * 24,
        ..Limits::default()
    };
    let err = probe_mp4(BASELINE, &tight, (100, 100)).unwrap_err();
    assert!(matches!(err, MediaError::TooLarge(_)), "{err:?}");
}

// ---- through a show: effect = "media" with an MP4 ----------------------

#[test]
fn a_media_layer_plays_the_clip_frame_by_show_time() {
    use crate::diag::{Diagnostics, SourceFile};
    use crate::engine::{render_frame, ActiveShow};
    use crate::show::media::MediaMap;
    use chrono::{TimeZone, Utc};
    use std::path::PathBuf;
    use std::sync::Arc;

    let rgb = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
    // A 5 × 4 facade (the clip's 40 × 24 is 5:3; stretched, a row of cells
    // takes six rows of the picture): the top row sees the top colour.
    let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
        [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-1\"\n\
        [[surfaces]]\nname = \"east\"\norigin = [0, 0]\nheading = 90\nwidth = 5\nheight = 4\n\
        [[arrays]]\nname = \"px\"\nprofile = \"rgb\"\nmode = \"3ch\"\nsurface = \"east\"\nat = [0.5, 0.5]\nspacing = 1\ncolumns = 5\nrows = 4\nstart = \"0.1\"\n";
    let show = "[[layers]]\ntarget = \"px-*\"\neffect = \"media\"\nsource = \"clip.mp4\"\n";
    let sources = crate::config::Sources {
        folder: "t".into(),
        site: SourceFile::new("t/site.toml", site),
        profiles: vec![SourceFile::new("t/fixtures/rgb.toml", rgb)],
        profiles_unreadable: None,
        shows: vec![SourceFile::new("t/s.toml", show)],
    };
    let media = MediaMap(
        [(PathBuf::from("t/clip.mp4"), Arc::new(HIGH.to_vec()))]
            .into_iter()
            .collect(),
    );
    let cfg = crate::config::compile_with_media(sources, &media, Diagnostics::new())
        .unwrap_or_else(|d| {
            panic!(
                "{:?}",
                d.items.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            )
        });
    let mut s = (**cfg.show("s").unwrap()).clone();
    s.fade_in = 0.0;
    let start = Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap();
    // The array fills rows from the bottom: fixture 17 is the top row's middle.
    let top_middle = &cfg.site.fixtures[17];
    let bottom_middle = &cfg.site.fixtures[2];
    for loop_k in 0..2 {
        for i in 0..16 {
            let t = loop_k as f64 * 2.0 + (i as f64 + 0.5) / 8.0;
            let at = start + chrono::Duration::microseconds((t * 1e6) as i64);
            let frame = render_frame(&cfg.site, &[ActiveShow::new(&s, start, None, 0)], at);
            let dmx = |f: &crate::site::Fixture| {
                let u = frame.universe(f.universe).unwrap();
                [
                    u[f.address as usize - 1],
                    u[f.address as usize],
                    u[f.address as usize + 1],
                ]
            };
            let top = dmx(top_middle);
            assert!(
                near(top, PALETTE[i / 2], 10),
                "t {t}: top {top:?}, want {:?}",
                PALETTE[i / 2]
            );
            let bottom = dmx(bottom_middle);
            let grey = (16 * i) as u8;
            assert!(
                near(bottom, [grey; 3], 10),
                "t {t}: bottom {bottom:?}, want grey {grey}"
            );
        }
    }
}
