//! Issue 23: a GIF clip of the demo fits its purpose (a minute in well
//! under 4 MB, not ~20 MB) and shows its progress on a terminal only.
//! The clips are seconds long, not a minute: a debug build draws each
//! 960 px frame in about a seventh of a second.

use std::process::Command;

/// `preview` of the running show from 20:31:00 for `seconds`, into `out`.
fn gif_args(site: &std::path::Path, out: &std::path::Path, seconds: u32) -> Vec<String> {
    vec![
        "preview".into(),
        "--site".into(),
        site.display().to_string(),
        // The nightly show runs at 20:30: dots move in every frame.
        "--from".into(),
        "2026-12-31 20:31:00".into(),
        "--to".into(),
        format!("2026-12-31 20:31:{seconds:02}"),
        "--out".into(),
        out.display().to_string(),
    ]
}

/// Two seconds of the running show at the default 10 fps and 960 px: at
/// most their share of the 4 MB a minute may take (4 MB × 2/60, 133 kB).
/// Each frame used to be stored whole with its own palette (~1.6 MB for
/// five seconds, ~650 kB for these two); now about 61 kB, most of it the
/// first, whole picture. Two seconds, not five: the debug build draws
/// each frame (and six more for the palette) in about a seventh of a
/// second, and 21 frames show the same as 51.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_gif_of_the_demo_is_small() {
    let tmp = tempfile::tempdir().unwrap();
    let site = crate::common::demo_site_in(tmp.path());
    let out = tmp.path().join("clip.gif");
    let run = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(gif_args(&site, &out, 2))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !stderr.contains("gif: frame") && !stderr.contains('\r'),
        "no progress line into a pipe: {stderr}"
    );
    let bytes = std::fs::metadata(&out).unwrap().len();
    assert!(bytes <= 4_000_000 * 2 / 60, "{bytes} bytes for 2 s");
    // Every frame decodes to the full picture, and the delays add up to
    // the clip's length.
    let mut dec = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(&out).unwrap())
        .unwrap();
    assert_eq!((dec.width(), dec.height()), (960, 540));
    let mut cs = 0u32;
    while let Some(f) = dec.read_next_frame().unwrap() {
        cs += u32::from(f.delay);
    }
    assert_eq!(cs, 210, "21 frames of 10 cs");
}

/// On a terminal (util-linux `script` gives one) the clip says how far it
/// is: "gif: frame N of 11" (a one-second clip).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_gif_shows_progress_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let site = crate::common::demo_site_in(tmp.path());
    let out = tmp.path().join("clip.gif");
    let mut cmd = env!("CARGO_BIN_EXE_nightscape").to_string();
    // The progress line is asked about, not the picture: 320 px wide
    // instead of the default 960 (1.8 s of CPU in a debug build, not 2.4).
    let mut args = gif_args(&site, &out, 1);
    args.extend(["--width".into(), "320".into()]);
    for a in args {
        cmd.push_str(&format!(" '{a}'"));
    }
    let run = match Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            crate::common::skip_unless_ci(
                "a_gif_shows_progress_on_a_terminal",
                &format!("no `script` to provide a terminal ({e}; apt-get install util-linux)"),
            );
            return;
        }
    };
    let tty = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{tty}");
    assert!(tty.contains("gif: frame 11 of 11"), "{tty}");
    assert!(out.exists());
}
