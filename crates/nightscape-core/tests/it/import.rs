//! Fixture import on real, hand-picked QLC+ and Open Fixture Library files
//! (copied into `tests/import-data/`, licences noted there): role mapping,
//! 16-bit pairs, pixel cells, a missing power figure, and malformed input.
//! Every imported profile is loaded back with the real profile parser.

use nightscape_core::diag::{Diagnostics, SourceFile};
use nightscape_core::fixture::import::{import, Format, ImportError, Imported, OflContext};
use nightscape_core::fixture::{parse_profile, Profile, Role};

fn data(rel: &str) -> String {
    let path = format!("{}/tests/import-data/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ofl_ctx(key: &str) -> OflContext {
    OflContext {
        manufacturer_key: Some(key.into()),
        manufacturers_json: Some(
            r#"{"stage-right": {"name": "Stage Right"}, "eurolite": {"name": "Eurolite"}, "generic": {"name": "Generic"}}"#.into(),
        ),
    }
}

/// Import and load the result with the profile parser the site uses.
fn load(format: Format, rel: &str, ctx: &OflContext) -> (Imported, Profile, Diagnostics) {
    let imported = import(format, rel, &data(rel), ctx).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let file = SourceFile::new(format!("{}.toml", imported.slug), imported.toml.clone());
    let mut diags = Diagnostics::new();
    let profile = parse_profile(&imported.slug, &file, &mut diags)
        .unwrap_or_else(|| panic!("{rel}: {diags}\n{}", imported.toml));
    (imported, profile, diags)
}

fn roles(p: &Profile, mode: &str) -> Vec<String> {
    p.mode(mode)
        .unwrap_or_else(|| panic!("no mode {mode}"))
        .channels
        .iter()
        .map(|c| c.role.word(c.fine))
        .collect()
}

#[test]
fn qxf_rgbw_par_maps_presets_and_keeps_every_slot() {
    let (imp, p, diags) = load(
        Format::Qxf,
        "qlcplus/Lixada-12-RGBW-LED-Par-Light.qxf",
        &OflContext::default(),
    );
    assert_eq!(imp.slug, "lixada-12-rgbw-led-par-light");
    assert_eq!(p.name, "12 RGBW LED Par Light");
    assert_eq!(p.manufacturer.as_deref(), Some("Lixada"));
    assert_eq!(p.power_w, 15.0);
    assert!(
        !p.needs_power && diags.is_empty() && imp.warnings.is_empty(),
        "{:?}",
        imp.warnings
    );
    assert_eq!(
        roles(&p, "Default"),
        ["dimmer", "strobe", "unused", "unused", "red", "green", "blue", "white"]
    );
    // The source's names stay beside the roles for the designer.
    assert!(imp.toml.contains("# 3 Color macro"), "{}", imp.toml);
    assert!(imp.toml.contains("Apache-2.0"));
}

#[test]
fn qxf_moving_head_pairs_16_bit_pan_and_tilt() {
    let (_, p, _) = load(
        Format::Qxf,
        "qlcplus/Scanic-Astute-LED-108.qxf",
        &OflContext::default(),
    );
    assert_eq!(
        roles(&p, "Mode 1"),
        [
            "unused",
            "red",
            "green",
            "blue",
            "strobe",
            "dimmer",
            "tilt",
            "pan",
            "unused",
            "pan_fine",
            "tilt_fine"
        ]
    );
    let m = p.mode("Mode 1").unwrap();
    assert!(
        m.channels[7].wide && m.channels[9].fine,
        "pan is a 16-bit pair"
    );
    assert_eq!((p.pan_range, p.tilt_range), (540.0, 230.0));
    assert_eq!(p.power_w, 150.0);
}

#[test]
fn qxf_pixel_bar_heads_become_cells() {
    let (imp, p, _) = load(
        Format::Qxf,
        "qlcplus/Stairville-xBrick-Full-Colour-16X3W.qxf",
        &OflContext::default(),
    );
    let m = p.mode("13 channel").unwrap();
    assert!(m.pixel);
    assert_eq!((m.cells, m.footprint), (4, 13));
    assert!(imp.toml.contains("cells = 4"), "{}", imp.toml);
    assert_eq!(m.channels[3].role, Role::Red);
    assert_eq!(m.channels[3].cell, Some(1));
    // The master dimmer follows the cells and acts on the whole bar.
    assert_eq!(
        (m.channels[12].role, m.channels[12].cell),
        (Role::Dimmer, None)
    );
    assert_eq!(
        roles(&p, "5 channel"),
        ["red", "green", "blue", "dimmer", "strobe"]
    );
}

#[test]
fn qxf_without_power_is_imported_but_marked() {
    let (imp, p, diags) = load(
        Format::Qxf,
        "qlcplus/Lixada-12-RGBW-LED-Par-Light-no-power.qxf",
        &OflContext::default(),
    );
    assert!(p.needs_power);
    assert_eq!(p.power_w, 0.0);
    assert!(
        imp.warnings.iter().any(|w| w.contains("no power figure")),
        "{:?}",
        imp.warnings
    );
    assert!(imp.toml.contains("needs_power = true"));
    // The profile loads, with a warning (not an error) that names the key.
    assert!(!diags.has_errors());
    let w: Vec<String> = diags.warnings().map(|d| d.to_string()).collect();
    assert!(
        w.len() == 1 && w[0].contains("power draw of `lixada-12-rgbw-led-par-light` is not known"),
        "{w:?}"
    );
}

#[test]
fn ofl_moving_head_rgbw_with_fine_aliases() {
    let (imp, p, _) = load(
        Format::Ofl,
        "ofl/mini-beam-rgbw.json",
        &ofl_ctx("stage-right"),
    );
    assert_eq!(imp.slug, "stage-right-mini-beam-rgbw");
    assert_eq!(p.manufacturer.as_deref(), Some("Stage Right"));
    assert_eq!(p.power_w, 50.0);
    assert_eq!(
        roles(&p, "11-channel"),
        [
            "pan",
            "pan_fine",
            "tilt",
            "tilt_fine",
            "unused",
            "dimmer",
            "strobe",
            "red",
            "green",
            "blue",
            "white"
        ]
    );
    assert_eq!(roles(&p, "13-channel").len(), 13);
    assert_eq!((p.pan_range, p.tilt_range), (540.0, 230.0));
}

#[test]
fn ofl_matrix_pixel_bar_becomes_cells() {
    let (imp, p, _) = load(
        Format::Ofl,
        "ofl/led-dmx-pixel-tube-16-rgb-ip20.json",
        &ofl_ctx("eurolite"),
    );
    let m = p.mode("48-channel").unwrap();
    assert!(m.pixel);
    assert_eq!((m.cells, m.footprint), (16, 48));
    assert_eq!(
        (m.channels[47].role, m.channels[47].cell),
        (Role::Blue, Some(15))
    );
    assert!(imp.toml.contains("MIT"));
}

#[test]
fn ofl_fixture_without_power_and_16_bit_colours() {
    let (imp, p, _) = load(Format::Ofl, "ofl/rgbwauv-fader.json", &ofl_ctx("generic"));
    assert!(p.needs_power);
    assert!(imp.warnings.iter().any(|w| w.contains("no power figure")));
    for m in &p.modes {
        for c in m.channels.iter().filter(|c| c.fine) {
            assert!(
                m.channels.iter().any(|w| w.wide && w.role == c.role),
                "{}: {:?} fine without a wide partner",
                m.name,
                c.role
            );
        }
    }
    let all: Vec<String> = p.modes.iter().flat_map(|m| roles(&p, &m.name)).collect();
    for r in ["red", "green", "blue", "white", "amber", "uv", "red_fine"] {
        assert!(all.iter().any(|x| x == r), "{r} missing in {all:?}");
    }
}

#[test]
fn malformed_xml_is_a_clear_failure() {
    let text = data("qlcplus/Lixada-12-RGBW-LED-Par-Light.qxf");
    let truncated = &text[..text.len() / 2];
    let e = import(Format::Qxf, "x.qxf", truncated, &OflContext::default()).unwrap_err();
    assert!(matches!(e, ImportError::Xml(_)), "{e}");
    assert!(e.to_string().starts_with("not well-formed XML"), "{e}");
    let e = import(Format::Qxf, "x.qxf", "<html/>", &OflContext::default()).unwrap_err();
    assert!(e.to_string().contains("<FixtureDefinition>"), "{e}");
    // Every prefix of a real file fails or imports; none panics.
    for cut in (0..text.len()).step_by(37) {
        if text.is_char_boundary(cut) {
            let _ = import(Format::Qxf, "x.qxf", &text[..cut], &OflContext::default());
        }
    }
}

#[test]
fn mode_referencing_a_missing_channel_is_named() {
    let text = data("qlcplus/Lixada-12-RGBW-LED-Par-Light.qxf").replace(
        "<Channel Number=\"7\">White</Channel>",
        "<Channel Number=\"7\">Whyte</Channel>",
    );
    let e = import(Format::Qxf, "x.qxf", &text, &OflContext::default()).unwrap_err();
    assert_eq!(
        e,
        ImportError::MissingChannel {
            mode: "Default".into(),
            channel: "Whyte".into()
        }
    );
    let text = data("ofl/mini-beam-rgbw.json").replacen("\"Pan fine\",", "\"Pan extra fine\",", 1);
    let e = import(Format::Ofl, "x.json", &text, &ofl_ctx("stage-right")).unwrap_err();
    assert!(
        e.to_string()
            .contains("references channel `Pan extra fine`"),
        "{e}"
    );
}

#[test]
fn wrong_json_types_are_named_by_path() {
    let ctx = ofl_ctx("eurolite");
    let base = data("ofl/led-dmx-pixel-tube-16-rgb-ip20.json");
    let cases = [
        (
            base.replace("\"power\": 38", "\"power\": \"38 W\""),
            "`physical.power` must be a number",
        ),
        (
            base.replace("\"name\": \"48-channel\"", "\"name\": 48"),
            "`modes[0].name` must be a string",
        ),
        (
            base.replace("\"pixelCount\": [16, 1, 1]", "\"pixelCount\": \"16\""),
            "`matrix.pixelCount` must be",
        ),
        (
            base.replace("\"channelOrder\": \"perPixel\"", "\"channelOrder\": 1"),
            "modes[0].channels[0].channelOrder",
        ),
        ("[1, 2]".to_string(), "must be an object"),
        (
            "{\"name\": \"x\", \"modes\": [{\"name\": \"m\", \"channels\": [true]}]}".to_string(),
            "`modes[0].channels[0]` must be a channel name",
        ),
    ];
    for (text, want) in cases {
        let e = import(Format::Ofl, "x.json", &text, &ctx).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    }
    let e = import(Format::Ofl, "x.json", &base[..base.len() - 40], &ctx).unwrap_err();
    assert!(matches!(e, ImportError::Json { .. }), "{e}");
    assert!(e.to_string().contains("line "), "{e}");
    // A redirect is not a fixture: the CLI skips it.
    let e = import(
        Format::Ofl,
        "x.json",
        r#"{"$schema": "https://x/schemas/fixture-redirect.json", "name": "Old", "redirectTo": "a/b", "reason": "FixtureRenamed"}"#,
        &ctx,
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::NotAFixture(_)), "{e}");
}

#[test]
fn damaged_files_never_panic() {
    // Every prefix, and the file with one character replaced at many
    // places, either imports or fails with a reason.
    for (format, rel, ctx) in [
        (
            Format::Qxf,
            "qlcplus/Stairville-xBrick-Full-Colour-16X3W.qxf",
            OflContext::default(),
        ),
        (
            Format::Ofl,
            "ofl/led-dmx-pixel-tube-16-rgb-ip20.json",
            ofl_ctx("eurolite"),
        ),
        (
            Format::Ofl,
            "ofl/mini-beam-rgbw.json",
            ofl_ctx("stage-right"),
        ),
    ] {
        let text = data(rel);
        let cuts: Vec<usize> = (0..text.len())
            .step_by(89)
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &cut in &cuts {
            let _ = import(format, rel, &text[..cut], &ctx);
            for junk in ["\"", "9", "]", "<"] {
                let mut damaged = text.clone();
                let end = (cut + 1..=text.len())
                    .find(|&e| text.is_char_boundary(e))
                    .unwrap_or(text.len());
                damaged.replace_range(cut..end, junk);
                if let Ok(i) = import(format, rel, &damaged, &ctx) {
                    // Whatever imports also loads.
                    let file = SourceFile::new("x.toml", i.toml);
                    let mut d = Diagnostics::new();
                    assert!(parse_profile("x", &file, &mut d).is_some(), "{d}");
                }
            }
        }
    }
}
