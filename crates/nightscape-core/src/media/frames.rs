//! A folder of numbered frames (`source = "fireworks/"`, `fps = 25`): which
//! files are frames, in which order, and when each shows.
//!
//! Animators export sequences as `0001.png`, `0002.png`, … or
//! `fireworks_0001.png`; a file system lists them in any order, and
//! sorting names as text puts `10.png` before `9.png`. So a frame's place
//! is the number in its name (the last run of digits before the
//! extension), and the frames play in the order of those numbers. A gap in
//! the numbering (a frame that failed to export) is allowed — the frames
//! play in order without it — but warned about, since it is usually a
//! mistake; two files with the same number are an error (which first?);
//! a file without a number (`notes.txt`) is left out with a warning, and
//! hidden files (`.DS_Store`) are left out silently.
//!
//! Pure: the daemon lists the folder and reads each file, this module
//! orders the names, and `show::media` decodes each file's bytes with the
//! same bounded decoders as any picture (every frame must be one still
//! picture of the first frame's size; the frames count against the same
//! [`super::Limits`] as an animation's).

/// The most frames a folder may hold (as for an animation).
pub const MAX_FRAMES: usize = super::image::MAX_FRAMES as usize;

/// Highest frame rate accepted: more than any LED controller shows.
pub const MAX_FPS: f64 = 120.0;

/// A folder's frames in play order, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOrder {
    /// File names, in the order of their numbers.
    pub frames: Vec<String>,
    /// Warnings (files left out, gaps in the numbering).
    pub warnings: Vec<String>,
}

/// The frame number in a file name: the last run of ASCII digits before
/// the extension (`fireworks_0042.png` → 42). None without digits, or a
/// number past `u64`.
pub fn frame_number(name: &str) -> Option<u64> {
    let stem = match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    };
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// Order the files of a folder (`names`, as listed, in any order) as
/// frames. Errors: no numbered frame, more than [`MAX_FRAMES`], two files
/// with one number.
pub fn order(names: &[String]) -> Result<FrameOrder, String> {
    let mut warnings = Vec::new();
    let mut numbered: Vec<(u64, &str)> = Vec::new();
    let mut unnumbered: Vec<&str> = Vec::new();
    for name in names {
        if name.starts_with('.') {
            continue;
        }
        match frame_number(name) {
            Some(n) => numbered.push((n, name)),
            None => unnumbered.push(name),
        }
    }
    if numbered.len() > MAX_FRAMES {
        return Err(format!(
            "the folder holds {} numbered frames: more than the {MAX_FRAMES} nightscape plays from one folder",
            numbered.len()
        ));
    }
    unnumbered.sort_unstable();
    if !unnumbered.is_empty() {
        warnings.push(format!(
            "{} left out: no frame number in {} name (frames are named 0001.png, 0002.png, …)",
            list(&unnumbered),
            if unnumbered.len() == 1 {
                "its"
            } else {
                "their"
            },
        ));
    }
    if numbered.is_empty() {
        return Err(
            "the folder has no numbered frames (name them 0001.png, 0002.png, … and set `fps`)"
                .into(),
        );
    }
    numbered.sort_unstable();
    if let Some(w) = numbered.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "`{}` and `{}` are both frame {}: which plays first is not known (rename one)",
            w[0].1, w[1].1, w[0].0
        ));
    }
    let missing: u64 = numbered.windows(2).map(|w| w[1].0 - w[0].0 - 1).sum();
    if let Some(w) = numbered.windows(2).find(|w| w[1].0 > w[0].0 + 1) {
        warnings.push(format!(
            "{missing} frame number{} missing (the first gap is between `{}` and `{}`): the frames play in order without {}",
            if missing == 1 { " is" } else { "s are" },
            w[0].1,
            w[1].1,
            if missing == 1 { "it" } else { "them" },
        ));
    }
    Ok(FrameOrder {
        frames: numbered.into_iter().map(|(_, n)| n.to_string()).collect(),
        warnings,
    })
}

/// "`a`, `b` and 3 more" for a warning.
fn list(names: &[&str]) -> String {
    match names.len() {
        1 => format!("`{}` is", names[0]),
        2 => format!("`{}` and `{}` are", names[0], names[1]),
        n => format!("`{}`, `{}` and {} more are", names[0], names[1], n - 2),
    }
}

/// Frame `k`'s duration in seconds at `fps`: frame starts fall on whole
/// milliseconds nearest `k / fps`, so 29.97 fps does not drift as 33 ms
/// steps would.
pub fn frame_seconds(k: usize, fps: f64) -> f64 {
    let start = |k: usize| (k as f64 * 1000.0 / fps).round();
    (start(k + 1) - start(k)) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_come_from_the_last_digits_before_the_extension() {
        assert_eq!(frame_number("0001.png"), Some(1));
        assert_eq!(frame_number("fireworks_0042.png"), Some(42));
        assert_eq!(frame_number("shot2_frame10.jpg"), Some(10));
        assert_eq!(frame_number("7"), Some(7));
        assert_eq!(frame_number("notes.txt"), None);
        assert_eq!(frame_number("v2.notes"), Some(2));
        assert_eq!(frame_number("99999999999999999999999.png"), None);
    }

    #[test]
    fn frames_play_in_number_order_not_name_order() {
        let o = order(&names(&["10.png", "9.png", "1.png", "2.png", ".DS_Store"])).unwrap();
        assert_eq!(o.frames, names(&["1.png", "2.png", "9.png", "10.png"]));
        // 3..8 are missing: one warning naming the first gap.
        assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
        assert!(
            o.warnings[0].contains("6 frame numbers are missing")
                && o.warnings[0].contains("`2.png` and `9.png`"),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn unnumbered_files_are_left_out_with_a_warning() {
        let o = order(&names(&["0002.png", "readme.txt", "0001.png"])).unwrap();
        assert_eq!(o.frames, names(&["0001.png", "0002.png"]));
        assert_eq!(o.warnings.len(), 1);
        assert!(
            o.warnings[0].contains("`readme.txt` is left out"),
            "{:?}",
            o.warnings
        );
    }

    #[test]
    fn empty_duplicate_and_oversized_folders_are_errors() {
        assert!(order(&[]).unwrap_err().contains("no numbered frames"));
        assert!(order(&names(&["a.png", ".hidden"]))
            .unwrap_err()
            .contains("no numbered frames"));
        let e = order(&names(&["0001.png", "1.png"])).unwrap_err();
        assert!(e.contains("both frame 1"), "{e}");
        let many: Vec<String> = (0..=MAX_FRAMES).map(|k| format!("{k}.png")).collect();
        assert!(order(&many).unwrap_err().contains("more than the 100000"));
    }

    #[test]
    fn frame_durations_do_not_drift() {
        let total: f64 = (0..2997).map(|k| frame_seconds(k, 29.97)).sum();
        assert!((total - 100.0).abs() < 1e-9, "{total}");
        assert_eq!(frame_seconds(0, 25.0), 0.04);
    }
}
