//! Issue 23: a GIF clip of the demo fits its purpose (a minute in well
//! under 4 MB, not ~20 MB) and shows its progress on a terminal only.

use std::process::Command;

fn gif_args(site: &std::path::Path, out: &std::path::Path) -> Vec<String> {
    vec![
        "preview".into(),
        "--site".into(),
        site.display().to_string(),
        // The nightly show runs at 20:30: dots move in every frame.
        "--from".into(),
        "2026-12-31 20:31:00".into(),
        "--to".into(),
        "2026-12-31 20:31:10".into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

/// Ten seconds of the running show at the default 10 fps and 960 px: at
/// most a sixth of the 4 MB a minute may take (each frame used to be stored
/// whole with its own palette: ~3.3 MB for these ten seconds).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_gif_of_the_demo_is_small() {
    let tmp = tempfile::tempdir().unwrap();
    let site = crate::common::demo_site_in(tmp.path());
    let out = tmp.path().join("clip.gif");
    let run = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(gif_args(&site, &out))
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
    assert!(bytes <= 4_000_000 / 6, "{bytes} bytes for 10 s");
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
    assert_eq!(cs, 1010, "101 frames of 10 cs");
}

/// On a terminal (util-linux `script` gives one) the clip says how far it
/// is: "gif: frame N of 101".
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn a_gif_shows_progress_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let site = crate::common::demo_site_in(tmp.path());
    let out = tmp.path().join("clip.gif");
    let mut cmd = env!("CARGO_BIN_EXE_nightscape").to_string();
    for a in gif_args(&site, &out) {
        cmd.push_str(&format!(" '{a}'"));
    }
    let run = match Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: no `script` to provide a terminal ({e})");
            return;
        }
    };
    let tty = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{tty}");
    assert!(tty.contains("gif: frame 101 of 101"), "{tty}");
    assert!(out.exists());
}
