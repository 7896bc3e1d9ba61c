//! Bad input is reported, located and never half-loaded.
//!
//! Each test copies the demo site (`shows/` + `fixtures/`) into a temporary
//! folder, breaks or adds one file, loads it with `config::load` and asserts
//! that the problem comes back as `path:line:col: message` at the exact place
//! of the bad token (line and column computed here from the text the test
//! wrote), with the key phrase of the message — and that loading returns
//! `Err`, never a partial configuration. Several problems in one load are all
//! reported, not just the first. The last tests run the real binary's
//! `check` command: exit 1, located lines on stderr and nothing on stdout
//! for a bad site; exit 0 and an `ok:` line for the demo.
//!

use nightscape::config::{self, Config};
use nightscape::diag::{Diagnostic, Diagnostics, Severity};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---------------------------------------------------------------- helpers

/// A copy of the demo site in a temporary folder, laid out like the
/// repository (`<tmp>/shows`, `<tmp>/fixtures`) because `site.toml` finds
/// its profile library at `../fixtures`.
struct TestSite {
    tmp: tempfile::TempDir,
}

impl TestSite {
    fn demo() -> TestSite {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["shows", "fixtures"] {
            let to = tmp.path().join(sub);
            fs::create_dir_all(&to).unwrap();
            for e in fs::read_dir(repo.join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    fs::copy(e.path(), to.join(e.file_name())).unwrap();
                }
            }
        }
        TestSite { tmp }
    }

    /// The site folder (what `--site` names).
    fn shows(&self) -> PathBuf {
        self.tmp.path().join("shows")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Write (or overwrite) a file; returns the text for locating tokens.
    fn write(&self, rel: &str, text: &str) -> String {
        fs::write(self.path(rel), text).unwrap();
        text.to_string()
    }

    /// Replace the one occurrence of `from` in a file; returns the new text.
    fn replace(&self, rel: &str, from: &str, to: &str) -> String {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur exactly once in {rel}"
        );
        self.write(rel, &text.replacen(from, to, 1))
    }

    /// Append to a file; returns the whole new text.
    fn append(&self, rel: &str, extra: &str) -> String {
        let mut text = self.read(rel);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(extra);
        self.write(rel, &text)
    }

    fn load(&self) -> Result<Config, Diagnostics> {
        config::load(&self.shows())
    }

    /// Load, expecting failure; every diagnostic must be well formed.
    fn errors(&self) -> Vec<Diagnostic> {
        match self.load() {
            Ok(cfg) => panic!(
                "expected the site to be rejected; it loaded with {} shows (warnings: {})",
                cfg.shows.len(),
                cfg.warnings
            ),
            Err(d) => {
                assert!(d.has_errors(), "Err without an error: {d}");
                for item in &d.items {
                    assert!(item.line >= 1 && item.col >= 1, "not 1-based: {item}");
                    let shown = item.to_string();
                    let head = format!("{}:{}:{}: ", item.path.display(), item.line, item.col);
                    assert!(
                        shown.starts_with(&head),
                        "`{shown}` is not path:line:col: message"
                    );
                    assert!(!item.message.trim().is_empty(), "empty message: {shown}");
                }
                d.items
            }
        }
    }
}

/// 1-based line and column (in characters) where the one occurrence of
/// `needle` starts in `text`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` must occur exactly once in the text under test"
    );
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Where `token` starts in the one occurrence of `prefix` + `token`.
fn locate_after(text: &str, prefix: &str, token: &str) -> (usize, usize) {
    assert!(!prefix.contains('\n'));
    let (line, col) = locate(text, &format!("{prefix}{token}"));
    (line, col + prefix.chars().count())
}

/// Whether two paths name the same file (diagnostics may say
/// `shows/../fixtures/x.toml`).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn dump(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("\n  {d}")).collect()
}

/// Assert an error at exactly `file:line:col` whose message contains every
/// phrase; returns it.
fn expect_error<'a>(
    diags: &'a [Diagnostic],
    file: &Path,
    (line, col): (usize, usize),
    phrases: &[&str],
) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| {
            d.severity == Severity::Error
                && same_file(&d.path, file)
                && d.line == line
                && d.col == col
                && phrases.iter().all(|p| d.message.contains(p))
        })
        .unwrap_or_else(|| {
            panic!(
                "no error at {}:{line}:{col} containing {phrases:?}; got:{}",
                file.display(),
                dump(diags)
            )
        })
}

/// Errors located in one file.
fn errors_in<'a>(diags: &'a [Diagnostic], file: &Path) -> Vec<&'a Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error && same_file(&d.path, file))
        .collect()
}

/// The show file tests add (sorted after every demo show).
const BAD_SHOW: &str = "shows/zz-bad.toml";

/// A hand-placed fixture table to append to site.toml. Universe 4 of the
/// demo holds only tower-crown at 4.1..180, so 4.201.. is free.
fn fixture(name: &str, profile: &str, mode: &str, address: &str) -> String {
    format!(
        "\n[[fixtures]]\nname = \"{name}\"\nprofile = \"{profile}\"\nmode = \"{mode}\"\nat = [0, 0]\naddress = \"{address}\"\n"
    )
}

// ------------------------------------------------------------- the demo

#[test]
fn demo_site_loads_with_zero_errors_and_zero_warnings() {
    let site = TestSite::demo();
    let cfg = site
        .load()
        .unwrap_or_else(|d| panic!("demo site rejected:\n{d}"));
    assert!(cfg.warnings.is_empty(), "warnings:\n{}", cfg.warnings);
    let show_files = fs::read_dir(site.shows())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| !p.ends_with("site.toml"))
        .count();
    assert_eq!(cfg.show_order.len(), show_files, "one show per show file");
    for name in ["nightly", "spring-festival", "curfew-white"] {
        assert!(cfg.show(name).is_some(), "demo show `{name}` missing");
    }
    assert!(!cfg.site.fixtures.is_empty());
}

#[test]
fn a_valid_added_show_loads_so_the_show_template_is_sound() {
    // The bad-show tests below start from this; prove it is good on its own.
    let site = TestSite::demo();
    site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\n",
    );
    let cfg = site
        .load()
        .unwrap_or_else(|d| panic!("template rejected:\n{d}"));
    assert!(cfg.show("probe").is_some());
}

// ------------------------------------------------------------ unknown keys

#[test]
fn unknown_key_in_a_show_layer() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolour = \"red\"\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "colour"), (5, 1));
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        (5, 1),
        &["unknown field `colour`"],
    );
}

#[test]
fn unknown_key_in_a_cue() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"red\", fadr = \"1s\" },\n]\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "fadr"), (6, 31));
    expect_error(&d, &site.path(BAD_SHOW), (6, 31), &["unknown field `fadr`"]);
}

#[test]
fn unknown_key_at_the_top_of_site_toml() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "fps = 40", "frames_per_second = 40");
    let d = site.errors();
    let at = locate(&text, "frames_per_second");
    assert_eq!(at.1, 1);
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        at,
        &["unknown field `frames_per_second`"],
    );
}

#[test]
fn unknown_key_in_a_hand_placed_fixture_of_site_toml() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "address = \"3.211\"",
        "adress = \"3.211\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "adress"),
        &["unknown field `adress`"],
    );
}

#[test]
fn unknown_key_in_a_profile() {
    let site = TestSite::demo();
    let rel = "fixtures/tree-uplight-30w.toml";
    let text = site.replace(
        rel,
        "standby_w = 0.5\n",
        "standby_w = 0.5\ncolour_temp = 3000\n",
    );
    let d = site.errors();
    let at = locate(&text, "colour_temp");
    assert_eq!(at.1, 1);
    expect_error(&d, &site.path(rel), at, &["unknown field `colour_temp`"]);
}

#[test]
fn unknown_key_in_a_profile_mode() {
    let site = TestSite::demo();
    let rel = "fixtures/inground-rgbw-36w.toml";
    let text = site.replace(rel, "name = \"4ch\"\n", "name = \"4ch\"\nfootprint = 4\n");
    let d = site.errors();
    expect_error(
        &d,
        &site.path(rel),
        locate(&text, "footprint"),
        &["unknown field `footprint`"],
    );
}

// -------------------------------------------------------------- wrong types

#[test]
fn wrong_type_fps_as_a_word() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "fps = 40", "fps = \"fast\"");
    let d = site.errors();
    // The value, not the key, is what is wrong.
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"fast\""),
        &["invalid type", "fast"],
    );
}

#[test]
fn fps_out_of_range() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "fps = 40", "fps = 100");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate_after(&text, "fps = ", "100"),
        &["fps 100 is out of range"],
    );
}

#[test]
fn wrong_type_level_as_a_word() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\nlevel = \"bright\"\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "\"bright\""), (6, 9));
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        (6, 9),
        &["`bright` is not a level"],
    );
}

#[test]
fn level_above_one() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\nlevel = 1.5\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "1.5"),
        &["level 1.5 is out of range"],
    );
}

#[test]
fn level_of_the_wrong_toml_type_is_located() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\nlevel = true\n",
    );
    let d = site.errors();
    expect_error(&d, &site.path(BAD_SHOW), locate(&text, "true"), &[]);
}

#[test]
fn wrong_type_chase_width_as_a_string() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"chase\"\nwidth = \"3\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"3\""),
        &["invalid type"],
    );
}

#[test]
fn wrong_type_latitude_as_a_string() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "latitude = 25.04",
        "latitude = \"25.04 N\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"25.04 N\""),
        &["invalid type"],
    );
}

#[test]
fn plan_position_with_one_coordinate() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "at = [103, 620]", "at = [103]");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "[103]"),
        &["invalid length 1"],
    );
}

#[test]
fn missing_required_field_points_at_its_table() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\ncolor = \"red\"\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "[[layers]]"), (2, 1));
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        (2, 1),
        &["missing field `effect`"],
    );
}

#[test]
fn fixture_without_address_points_at_its_table() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "address = \"3.211\"\n", "");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "[[fixtures]]\nname = \"searchlight-south\""),
        &["missing field `address`"],
    );
}

// ------------------------------------------------------ values out of shape

#[test]
fn bad_colours_are_each_reported_at_their_value() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n\
         [[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"#12345g\"\n\
         [[layers]]\ntarget = \"trees\"\neffect = \"wave\"\ncolors = [\"red\", \"chartreusey\"]\n\
         [[layers]]\ntarget = \"arcade\"\neffect = \"solid\"\ncolor = \"90000K\"\n",
    );
    let d = site.errors();
    let file = site.path(BAD_SHOW);
    expect_error(
        &d,
        &file,
        locate(&text, "\"#12345g\""),
        &["not a hex colour"],
    );
    expect_error(
        &d,
        &file,
        locate(&text, "\"chartreusey\""),
        &["unknown colour"],
    );
    expect_error(&d, &file, locate(&text, "\"90000K\""), &["out of range"]);
    assert_eq!(errors_in(&d, &file).len(), 3, "{}", dump(&d));
}

#[test]
fn columns_count_characters_not_bytes() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"紅\", level = \"亮\" },\n]\n",
    );
    let d = site.errors();
    // `"亮"` is the 37th character of line 6 (but starts at its 39th byte).
    assert_eq!(locate(&text, "\"亮\""), (6, 37));
    let file = site.path(BAD_SHOW);
    expect_error(&d, &file, (6, 37), &["`亮` is not a level"]);
    expect_error(&d, &file, locate(&text, "\"紅\""), &["unknown colour `紅`"]);
}

#[test]
fn negative_duration() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\nfade_in = \"-3s\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "\"-3s\""), (2, 11));
    expect_error(&d, &site.path(BAD_SHOW), (2, 11), &["negative"]);
}

#[test]
fn negative_duration_in_a_cue_fade() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"red\", fade = \"-3s\" },\n]\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"-3s\""),
        &["negative"],
    );
}

#[test]
fn zero_period_is_rejected() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"bridge\"\neffect = \"pulse\"\nperiod = \"0s\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"0s\""),
        &["period must be longer than 0s"],
    );
}

#[test]
fn invalid_values_on_keys_the_effect_does_not_use_are_reported() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"wave\"\nperiod = \"-3s\"\ndensity = 7\n",
    );
    let d = site.errors();
    let file = site.path(BAD_SHOW);
    expect_error(&d, &file, locate(&text, "\"-3s\""), &["negative"]);
    expect_error(
        &d,
        &file,
        locate_after(&text, "density = ", "7"),
        &["out of range"],
    );
}

// ----------------------------------------------------------------- the patch

#[test]
fn address_zero_dot_zero() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "5ch", "0.0"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"0.0\""),
        &["address 0 is out of range"],
    );
}

#[test]
fn address_past_512() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "5ch", "0.513"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"0.513\""),
        &["address 513 is out of range"],
    );
}

#[test]
fn address_that_is_not_universe_dot_address() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "5ch", "six"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"six\""),
        &["is not a DMX address"],
    );
}

#[test]
fn array_start_out_of_range() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "start = \"3.1\"", "start = \"40000.1\"");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"40000.1\""),
        &["universe 40000 is out of range"],
    );
}

#[test]
fn pixel_bar_that_does_not_fit_its_universe() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe-bar", "rgb-pixel-bar-60", "180ch", "4.400"),
    );
    let d = site.errors();
    // 180 channels from 400 end at 579.
    let e = expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"4.400\""),
        &[
            "`probe-bar` does not fit its universe",
            "180 channels",
            "579",
        ],
    );
    assert!(e.message.contains("512"), "{e}");
}

#[test]
fn overlapping_hand_placed_fixtures_name_both() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &(fixture("probe-left", "rgbw-flood-120w", "5ch", "4.201")
            + &fixture("probe-right", "rgbw-flood-120w", "8ch", "4.203")),
    );
    let d = site.errors();
    // Reported on the second fixture, the one that takes taken channels.
    let e = expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"probe-right\""),
        &["overlaps", "`probe-right`", "`probe-left`"],
    );
    assert!(
        e.message.contains("4.203") && e.message.contains("4.201"),
        "{e}"
    );
    let overlaps = d.iter().filter(|d| d.message.contains("overlaps")).count();
    assert_eq!(overlaps, 1, "{}", dump(&d));
}

#[test]
fn fixtures_side_by_side_do_not_overlap() {
    // The boundary: 4.201..205 and 4.206..213 touch but share no channel.
    let site = TestSite::demo();
    site.append(
        "shows/site.toml",
        &(fixture("probe-left", "rgbw-flood-120w", "5ch", "4.201")
            + &fixture("probe-right", "rgbw-flood-120w", "8ch", "4.206")),
    );
    site.load()
        .unwrap_or_else(|d| panic!("adjacent fixtures rejected:\n{d}"));
}

#[test]
fn hand_placed_fixture_overlapping_an_array_fixture() {
    let site = TestSite::demo();
    // avenue-poles-east-001 is at 0.1..0.5.
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "tree-uplight-30w", "1ch", "0.3"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"probe\""),
        &["overlaps", "`probe`", "`avenue-poles-east-001`"],
    );
}

#[test]
fn unknown_profile() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-999w", "5ch", "4.201"),
    );
    let d = site.errors();
    let e = expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"rgbw-flood-999w\""),
        &["unknown profile `rgbw-flood-999w`"],
    );
    // It lists what the library does have.
    assert!(e.message.contains("rgbw-flood-120w"), "{e}");
}

#[test]
fn unknown_mode() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "7ch", "4.201"),
    );
    let d = site.errors();
    let e = expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"7ch\""),
        &["has no mode `7ch`"],
    );
    assert!(
        e.message.contains("5ch") && e.message.contains("8ch"),
        "{e}"
    );
}

#[test]
fn unknown_path_of_an_array() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "path = \"north-bridge\"",
        "path = \"south-bridge\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"south-bridge\""),
        &["unknown path `south-bridge`"],
    );
}

#[test]
fn empty_glob_in_a_group() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "square = [\"square-*\"]",
        "square = [\"nothing-*\"]",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"nothing-*\""),
        &["`nothing-*` in group `square` matches no fixture"],
    );
}

#[test]
fn duplicate_hand_placed_fixture_names() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &(fixture("probe-twin", "tree-uplight-30w", "1ch", "4.201")
            + &fixture("probe-twin", "tree-uplight-30w", "1ch", "4.202")),
    );
    let d = site.errors();
    // The second definition is the one reported, at its name's value.
    let second = text.rfind("name = \"probe-twin\"").unwrap();
    let line = text[..second].matches('\n').count() + 1;
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        (line, 8),
        &["fixture name `probe-twin` is used twice"],
    );
}

#[test]
fn hand_placed_fixture_named_like_an_array_fixture() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("avenue-poles-east-001", "tree-uplight-30w", "1ch", "4.201"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"avenue-poles-east-001\""),
        &["fixture name `avenue-poles-east-001` is used twice"],
    );
}

#[test]
fn negative_length_of_a_hand_placed_fixture() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "heading = 90\nlength = 1.0",
        "heading = 90\nlength = -1.0",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "-1.0"),
        &["length must be 0 metres or more"],
    );
}

#[test]
fn negative_length_of_an_array() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "length = 18 ", "length = -1.0 ");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "-1.0"),
        &["length must be 0 metres or more"],
    );
}

#[test]
fn site_level_values_out_of_range() {
    let site = TestSite::demo();
    site.replace("shows/site.toml", "latitude = 25.04", "latitude = 125.04");
    site.replace(
        "shows/site.toml",
        "timezone = \"Asia/Shanghai\"",
        "timezone = \"Asia/Kunming-ish\"",
    );
    let text = site.replace(
        "shows/site.toml",
        "universes = \"0-14\"",
        "universes = \"14-0\"",
    );
    let d = site.errors();
    let file = site.path("shows/site.toml");
    expect_error(
        &d,
        &file,
        locate(&text, "125.04"),
        &["latitude 125.04 is out of range"],
    );
    expect_error(
        &d,
        &file,
        locate(&text, "\"Asia/Kunming-ish\""),
        &["unknown timezone `Asia/Kunming-ish`"],
    );
    expect_error(&d, &file, locate(&text, "\"14-0\""), &["runs backwards"]);
}

#[test]
fn unknown_output_kind() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "kind = \"artnet\"",
        "kind = \"dmx-over-pigeon\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"dmx-over-pigeon\""),
        &["unknown output kind `dmx-over-pigeon`"],
    );
}

#[test]
fn artnet_output_without_target_points_at_the_output() {
    let site = TestSite::demo();
    let text = site.replace("shows/site.toml", "target = \"127.0.0.1\"", "");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "[[outputs]]"),
        &["needs `target`"],
    );
}

#[test]
fn groups_may_name_a_group_defined_before_them() {
    // site/mod.rs: "Groups may name other groups defined before them".
    // `searchlights` is defined above `tower-lights` (and sorts before it).
    let site = TestSite::demo();
    site.replace(
        "shows/site.toml",
        "searchlights = [\"searchlight-*\"]",
        "searchlights = [\"searchlight-*\"]\ntower-lights = [\"searchlights\", \"tower-crown\"]",
    );
    let cfg = site
        .load()
        .unwrap_or_else(|d| panic!("a group naming an earlier group was rejected:\n{d}"));
    assert_eq!(cfg.site.groups["tower-lights"].len(), 3);
}

#[test]
fn groups_may_name_an_earlier_group_that_sorts_after_them() {
    // `searchlights` is defined above `beacons`, but sorts after it.
    let site = TestSite::demo();
    site.replace(
        "shows/site.toml",
        "searchlights = [\"searchlight-*\"]",
        "searchlights = [\"searchlight-*\"]\nbeacons = [\"searchlights\"]",
    );
    let cfg = site
        .load()
        .unwrap_or_else(|d| panic!("a group naming an earlier group was rejected:\n{d}"));
    assert_eq!(cfg.site.groups["beacons"].len(), 2);
}

#[test]
fn schedule_naming_an_unknown_show() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "show = \"nightly\"",
        "show = \"nightlyy\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"nightlyy\""),
        &["unknown show `nightlyy`"],
    );
}

#[test]
fn schedule_start_that_is_not_a_time() {
    let site = TestSite::demo();
    let text = site.replace(
        "shows/site.toml",
        "start = \"22:00\"",
        "start = \"half past ten\"",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&text, "\"half past ten\""),
        &["`half past ten` is not a time"],
    );
}

// ------------------------------------------------------------- profiles

#[test]
fn unknown_channel_role_in_a_profile() {
    let site = TestSite::demo();
    let rel = "fixtures/rgba-linear-48w.toml";
    let text = site.replace(rel, "\"amber\"]", "\"ambre\"]");
    let d = site.errors();
    expect_error(
        &d,
        &site.path(rel),
        locate(&text, "\"ambre\""),
        &["unknown channel role `ambre`"],
    );
}

#[test]
fn negative_power_in_a_profile() {
    let site = TestSite::demo();
    let rel = "fixtures/rgba-linear-48w.toml";
    let text = site.replace(rel, "power_w = 48", "power_w = -48");
    let d = site.errors();
    expect_error(
        &d,
        &site.path(rel),
        locate(&text, "-48"),
        &["power_w must be zero or more"],
    );
}

#[test]
fn mode_wider_than_a_universe_points_at_the_mode() {
    let site = TestSite::demo();
    let rel = "fixtures/rgb-pixel-bar-60.toml";
    let text = site.replace(
        rel,
        "name = \"180ch\"\ncells = 60",
        "name = \"180ch\"\ncells = 171",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(rel),
        locate(&text, "[[modes]]\nname = \"180ch\""),
        &["mode `180ch` needs 513 channels"],
    );
}

// -------------------------------------------------------------- files

#[test]
fn missing_site_toml_names_the_file() {
    let site = TestSite::demo();
    fs::remove_file(site.path("shows/site.toml")).unwrap();
    let d = site.errors();
    assert_eq!(d.len(), 1, "{}", dump(&d));
    assert_eq!(d[0].path, site.shows().join("site.toml"));
    assert_eq!((d[0].line, d[0].col), (1, 1));
    assert!(
        d[0].message.contains("cannot read the site file"),
        "{}",
        d[0]
    );
    assert!(d[0].to_string().contains("site.toml:1:1: "), "{}", d[0]);
}

#[test]
fn missing_profile_library_is_reported() {
    let site = TestSite::demo();
    site.replace(
        "shows/site.toml",
        "profiles = \"../fixtures\"",
        "profiles = \"../no-such-library\"",
    );
    let d = site.errors();
    // Said at the `profiles` key of site.toml, naming the folder.
    assert!(
        d.iter().any(|e| e.path.ends_with("site.toml")
            && e.message.contains("cannot read the profile library")
            && e.message.contains("no-such-library")),
        "{}",
        dump(&d)
    );
}

#[test]
fn show_file_that_is_not_utf8_is_reported_not_a_panic() {
    let site = TestSite::demo();
    fs::write(site.path(BAD_SHOW), b"name = \"\xff\xfe\"\n").unwrap();
    let d = site.errors();
    let e = expect_error(&d, &site.path(BAD_SHOW), (1, 1), &["cannot read"]);
    assert!(e.to_string().contains("zz-bad.toml:1:1: "), "{e}");
}

#[test]
fn syntax_error_in_a_show_unclosed_bracket() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"wave\"\ncolors = [\"red\", \"blue\"\nlevel = 0.5\n",
    );
    let d = site.errors();
    let errs = errors_in(&d, &site.path(BAD_SHOW));
    assert_eq!(errs.len(), 1, "{}", dump(&d));
    // The array opens on line 5 and is never closed; the first token that
    // cannot continue it is `level` at the start of line 6.
    assert_eq!(locate(&text, "level"), (6, 1));
    assert_eq!((errs[0].line, errs[0].col), (6, 1), "{}", errs[0]);
    assert!(errs[0].message.contains("expected `,`"), "{}", errs[0]);
}

#[test]
fn syntax_error_in_site_toml_still_reports_the_shows_syntax_errors() {
    let site = TestSite::demo();
    let site_text = site.replace("shows/site.toml", "[groups]", "[groups");
    let show_text = site.write(BAD_SHOW, "name = \"probe\"\nfade_in = = \"1s\"\n");
    let d = site.errors();
    let s = errors_in(&d, &site.path("shows/site.toml"));
    assert_eq!(s.len(), 1, "{}", dump(&d));
    // Right after `[groups`, where the `]` is missing.
    assert_eq!(
        (s[0].line, s[0].col),
        locate_after(&site_text, "[groups", "\n"),
        "{}",
        s[0]
    );
    assert!(s[0].message.contains("expected `]`"), "{}", s[0]);
    let b = errors_in(&d, &site.path(BAD_SHOW));
    assert_eq!(b.len(), 1, "{}", dump(&d));
    assert_eq!(
        (b[0].line, b[0].col),
        locate_after(&show_text, "fade_in = ", "= \"1s\""),
        "{}",
        b[0]
    );
}

#[test]
fn syntax_error_in_a_profile() {
    let site = TestSite::demo();
    let rel = "fixtures/tree-uplight-30w.toml";
    let text = site.replace(rel, "power_w = 30", "power_w = 30 W");
    let d = site.errors();
    let e = errors_in(&d, &site.path(rel));
    assert_eq!(e.len(), 1, "{}", dump(&d));
    // `30 W` reads as an unquoted string starting at `30`.
    assert_eq!(
        (e[0].line, e[0].col),
        locate_after(&text, "power_w = ", "30 W"),
        "{}",
        e[0]
    );
    assert!(e[0].message.contains("quoted"), "{}", e[0]);
}

#[test]
fn duplicate_key_in_a_show() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\nfade_in = \"1s\"\nfade_in = \"2s\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    // The second definition is the wrong one.
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "fade_in = \"2s\""),
        &["duplicate key"],
    );
}

// -------------------------------------------------------------- shows

#[test]
fn show_target_that_names_nothing() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"plaza\""),
        &["target `plaza` matches no fixture"],
    );
}

#[test]
fn show_whose_glob_targets_nothing() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"fountain-*\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"fountain-*\""),
        &["matches no fixture"],
    );
}

#[test]
fn show_without_layers() {
    let site = TestSite::demo();
    site.write(BAD_SHOW, "name = \"probe\"\nfade_in = \"1s\"\n");
    let d = site.errors();
    expect_error(&d, &site.path(BAD_SHOW), (1, 1), &["has no [[layers]]"]);
}

#[test]
fn unknown_effect() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"sparkle\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"sparkle\""),
        &["unknown effect `sparkle`"],
    );
}

#[test]
fn sequence_cues_out_of_order() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"20s\", color = \"red\" },\n  { at = \"5s\", color = \"blue\" },\n]\n",
    );
    let d = site.errors();
    assert_eq!(locate(&text, "\"5s\""), (7, 10));
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        (7, 10),
        &["comes before the previous cue"],
    );
}

#[test]
fn sequence_without_cues() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"sequence\""),
        &["a sequence needs `cues"],
    );
}

#[test]
fn several_errors_in_one_show_are_reported_together() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n\
         fade_in = \"-3s\"\n\
         [[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"#xyz\"\n\
         [[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n\
         [[layers]]\ntarget = \"trees\"\neffect = \"sparkle\"\n\
         [[layers]]\ntarget = \"bridge\"\neffect = \"pulse\"\nlevel = \"bright\"\n",
    );
    let d = site.errors();
    let file = site.path(BAD_SHOW);
    let wanted = [
        (locate(&text, "\"-3s\""), "negative"),
        (locate(&text, "\"#xyz\""), "not a hex colour"),
        (locate(&text, "\"plaza\""), "matches no fixture"),
        (locate(&text, "\"sparkle\""), "unknown effect"),
        (locate(&text, "\"bright\""), "not a level"),
    ];
    for (at, phrase) in wanted {
        expect_error(&d, &file, at, &[phrase]);
    }
    assert_eq!(errors_in(&d, &file).len(), wanted.len(), "{}", dump(&d));
}

#[test]
fn errors_in_several_files_are_reported_together() {
    let site = TestSite::demo();
    let profile = "fixtures/rgba-linear-48w.toml";
    let p_text = site.replace(profile, "power_w = 48", "power_w = -48");
    let s_text = site.append(
        "shows/site.toml",
        &fixture("probe", "tree-uplight-30w", "1ch", "4.0"),
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(profile),
        locate(&p_text, "-48"),
        &["power_w"],
    );
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate(&s_text, "\"4.0\""),
        &["address 0 is out of range"],
    );
}

#[test]
fn show_errors_are_reported_beside_a_bad_profile() {
    // A broken profile must not hide a broken show: the site still compiles
    // when the broken profile is unused.
    let site = TestSite::demo();
    let rel = "fixtures/unused-probe.toml";
    let p_text = site.write(
        rel,
        "name = \"probe\"\npower_w = 5\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmmer\"]\n",
    );
    let s_text = site.write(
        BAD_SHOW,
        "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"sparkle\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(rel),
        locate(&p_text, "\"dimmmer\""),
        &["unknown channel role"],
    );
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&s_text, "\"sparkle\""),
        &["unknown effect"],
    );
}

#[test]
fn duplicate_show_names_are_reported_in_the_later_file() {
    let site = TestSite::demo();
    site.write(
        BAD_SHOW,
        "# a copy that forgot to rename itself\nname = \"nightly\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    let e = errors_in(&d, &site.path(BAD_SHOW));
    assert_eq!(e.len(), 1, "{}", dump(&d));
    assert!(
        e[0].message
            .contains("show name `nightly` is used by two files"),
        "{}",
        e[0]
    );
    assert!(errors_in(&d, &site.path("shows/nightly.toml")).is_empty());
}

#[test]
fn duplicate_show_names_are_reported_at_the_name() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "# a copy that forgot to rename itself\nname = \"nightly\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path(BAD_SHOW),
        locate(&text, "\"nightly\""),
        &["show name `nightly` is used by two files"],
    );
}

// ----------------------------------------------------- the real binary

fn check(site: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("check")
        .arg("--site")
        .arg(site)
        .env_remove("RUST_LOG")
        .output()
        .expect("run nightscape check")
}

#[test]
fn binary_check_on_the_demo_exits_0_with_an_ok_line() {
    let site = TestSite::demo();
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:{stdout}\nstderr:{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok:")),
        "stdout: {stdout}"
    );
    assert!(stderr.trim().is_empty(), "demo check printed: {stderr}");
}

#[test]
fn binary_check_on_a_bad_show_exits_1_with_located_lines_and_no_stdout() {
    let site = TestSite::demo();
    let text = site.write(
        BAD_SHOW,
        "name = \"probe\"\nfade_in = \"-3s\"\n[[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n",
    );
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let file = site.shows().join("zz-bad.toml");
    for (needle, phrase) in [("\"-3s\"", "negative"), ("\"plaza\"", "matches no fixture")] {
        let (l, c) = locate(&text, needle);
        let head = format!("{}:{l}:{c}: ", file.display());
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&head) && line.contains(phrase)),
            "no line starting `{head}` with `{phrase}` in:\n{stderr}"
        );
    }
}

#[test]
fn binary_check_on_a_bad_site_exits_1_with_located_lines() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        &fixture("probe", "rgbw-flood-120w", "5ch", "0.513"),
    );
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let (l, c) = locate(&text, "\"0.513\"");
    let head = format!("{}:{l}:{c}: ", site.shows().join("site.toml").display());
    assert!(
        stderr.lines().any(|line| line.starts_with(&head)),
        "no line starting `{head}` in:\n{stderr}"
    );
    assert!(stderr.contains("1 error found"), "{stderr}");
}

#[test]
fn binary_check_on_a_folder_without_site_toml_exits_1() {
    let site = TestSite::demo();
    fs::remove_file(site.path("shows/site.toml")).unwrap();
    let out = check(&site.shows());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stdout.is_empty(), "partial output on stdout: {stdout}");
    let head = format!("{}:1:1: ", site.shows().join("site.toml").display());
    assert!(
        stderr.lines().any(|l| l.starts_with(&head)),
        "no line starting `{head}` in:\n{stderr}"
    );
}

// ------------------------------------------------------------- the fleet

/// The demo's output moved to node `bridge-2`, with `[fleet]` and two nodes.
fn fleet_site(site: &TestSite, broker: &str, node: &str) -> String {
    site.replace(
        "shows/site.toml",
        "sync = true                     # ArtSync after each frame\n",
        &format!("sync = true\nnode = \"{node}\"\n\n[fleet]\nbroker = \"{broker}\"\nusername_env = \"CITY_MQTT_USER\"\n\n[[nodes]]\nname = \"bridge-2\"\napi = \"127.0.0.1:8081\"\n[[nodes]]\nname = \"tower\"\napi = \"127.0.0.1:8082\"\n"),
    )
}

#[test]
fn a_fleet_site_loads_with_its_nodes() {
    let site = TestSite::demo();
    fleet_site(&site, "mqtts://broker.example:8883", "bridge-2");
    let cfg = config::load(&site.shows()).unwrap_or_else(|d| panic!("{d}"));
    let f = cfg.site.fleet.as_ref().unwrap();
    assert!(f.broker.tls);
    assert_eq!(f.username_env.as_deref(), Some("CITY_MQTT_USER"));
    assert_eq!(f.topic_site, "flower-city-axis-demo");
    assert_eq!(cfg.site.nodes.len(), 2);
    assert_eq!(cfg.site.outputs[0].node.as_deref(), Some("bridge-2"));
    let mut only_tower = cfg.site.clone();
    only_tower.retain_node_outputs("tower");
    assert!(only_tower.outputs.is_empty());
}

#[test]
fn an_output_naming_an_unknown_node() {
    let site = TestSite::demo();
    let text = fleet_site(&site, "mqtt://127.0.0.1:1883", "bridge-9");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate_after(&text, "node = ", "\"bridge-9\""),
        &["unknown node `bridge-9`", "bridge-2, tower"],
    );
}

#[test]
fn a_broker_that_is_not_an_mqtt_url() {
    let site = TestSite::demo();
    let text = fleet_site(&site, "http://broker:1883", "bridge-2");
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate_after(&text, "broker = ", "\"http://broker:1883\""),
        &["not a broker URL", "mqtt://"],
    );
}

#[test]
fn an_output_without_a_node_in_a_site_with_nodes() {
    let site = TestSite::demo();
    let text = site.append(
        "shows/site.toml",
        "[[nodes]]\nname = \"tower\"\napi = \"not an address\"\n",
    );
    let d = site.errors();
    expect_error(
        &d,
        &site.path("shows/site.toml"),
        locate_after(&text, "api = ", "\"not an address\""),
        &["not an address for the node's API"],
    );
    assert!(
        d.iter()
            .any(|x| x.message.contains("every output names the node")),
        "{}",
        dump(&d)
    );
}

// ------------------------------------------- one edit, exactly one error

mod one_edit {
    use super::*;

    /// One edit of the demo site and the one problem it must give: in `file`,
    /// replace `from` with `to`; the only error is at the start of `at` (which
    /// occurs once in the edited text, `from` replaced) and contains `says`.
    /// Nothing else is reported: no cascade.
    struct Case {
        file: &'static str,
        from: &'static str,
        to: &'static str,
        at: &'static str,
        says: &'static str,
    }

    fn check(case: Case) {
        let site = TestSite::demo();
        let text = site.replace(case.file, case.from, case.to);
        let diags = site.errors();
        let errors: Vec<&Diagnostic> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "`{}` → `{}`: expected one error; got:{}",
            case.from,
            case.to,
            dump(&diags)
        );
        expect_error(
            &diags,
            &site.path(case.file),
            locate(&text, case.at),
            &[case.says],
        );
    }

    #[test]
    fn each_of_these_edits_gives_one_located_error_and_no_cascade() {
        for case in [
            // A profile library that is not there: said once, at the key,
            // not as "unknown profile" for every array and fixture using it.
            Case {
                file: "shows/site.toml",
                from: "profiles = \"../fixtures\"",
                to: "profiles = \"../fixturez\"",
                at: "\"../fixturez\"",
                says: "cannot read the profile library",
            },
            // A path of identical points has no length: an error, not an
            // array piled on one spot.
            Case {
                file: "shows/site.toml",
                from: "points = [[-30, 200], [-30, 1000]]",
                to: "points = [[-30, 200], [-30, 200], [-30, 200]]",
                at: "[[-30, 200], [-30, 200], [-30, 200]]",
                says: "are the same (-30, 200)",
            },
            // A cron expression that can never fire, named by its field.
            Case {
                file: "shows/site.toml",
                from: "start = \"cron: 30 19-21 * * *\"",
                to: "start = \"cron: 0 0 31 2 *\"",
                at: "\"cron: 0 0 31 2 *\"",
                says: "day of month field `31`",
            },
            Case {
                file: "shows/site.toml",
                from: "start = \"cron: 30 19-21 * * *\"",
                to: "start = \"cron: 0 0 30 2 *\"",
                at: "\"cron: 0 0 30 2 *\"",
                says: "never fires",
            },
            // A show that does not compile: said at the show, not again as
            // "unknown show" at the schedule entries that name it.
            Case {
                file: "shows/nightly.toml",
                from: "effect = \"wave\"",
                to: "effect = \"wav\"",
                at: "\"wav\"",
                says: "unknown effect `wav`",
            },
            // A misspelled profile, mode or path of an array: not again at
            // the groups naming its fixtures.
            Case {
                file: "shows/site.toml",
                from: "name = \"avenue-trees-east\"\nprofile = \"tree-uplight-30w\"",
                to: "name = \"avenue-trees-east\"\nprofile = \"tree-uplight-30\"",
                at: "\"tree-uplight-30\"",
                says: "unknown profile `tree-uplight-30`",
            },
            Case {
                file: "shows/site.toml",
                from: "profile = \"inground-rgbw-36w\"\nmode = \"4ch\"",
                to: "profile = \"inground-rgbw-36w\"\nmode = \"4c\"",
                at: "\"4c\"",
                says: "has no mode `4c`",
            },
            Case {
                file: "shows/site.toml",
                from: "path = \"north-bridge\"",
                to: "path = \"north-brige\"",
                at: "\"north-brige\"",
                says: "unknown path `north-brige`",
            },
            // A broken profile file: said in it, not at the groups and show
            // targets of the fixtures that use it.
            Case {
                file: "fixtures/tree-uplight-30w.toml",
                from: "power_w = 30",
                to: "power_w = -30",
                at: "-30",
                says: "power_w must be zero or more",
            },
            // A group misspelled where it is defined: one error there, not
            // one at each of the three shows and the energy budget naming it.
            Case {
                file: "shows/site.toml",
                from: "searchlights = [\"searchlight-*\"]",
                to: "searchlight = [\"searchlight-*\"]",
                at: "[\"searchlight-*\"]",
                says: "group `searchlight`: 4 places name `searchlights` instead (",
            },
            // A mode misspelled where its rule defines it: one error, at
            // the first entry naming it, listing the others.
            Case {
                file: "shows/site.toml",
                from: "name = \"festival\"",
                to: "name = \"festivl\"",
                at: "\"festival\"]\n\n[[schedule]]\nshow = \"nightly\"",
                says: "mode `festivl`: 4 places name `festival` instead (",
            },
            // A misspelled table key: its tables are gone, and the arrays on
            // its paths are not reported as well.
            Case {
                file: "shows/site.toml",
                from: "[[paths]]\nname = \"axis-avenue\"",
                to: "[[path]]\nname = \"axis-avenue\"",
                at: "path]]",
                says: "unknown field `path`; did you mean `paths`?",
            },
            // A misspelled required key: the unknown key with its
            // did-you-mean, not "missing field" as well.
            Case {
                file: "shows/site.toml",
                from: "kind = \"artnet\"",
                to: "knd = \"artnet\"",
                at: "knd",
                says: "unknown field `knd`; did you mean `kind`?",
            },
        ] {
            check(case);
        }
    }
}
