//! `nightscape check` on broken copies of the demo, data-driven: each case
//! edits files and lists the exact problems `check` must print for them,
//! in reading order — every problem of a file, not only the first serde
//! error, each at `path:line:col`, with "did you mean" for near misses of
//! keys, effects, targets, groups, shows, modes, holidays, profiles,
//! modes of a profile and paths.

use crate::common;
use std::path::Path;
use std::process::Command;

/// An edit of one demo file: replace `find` by `with` (`find` empty: the
/// whole file is `with`).
struct Edit<'a> {
    file: &'a str,
    find: &'a str,
    with: &'a str,
}

fn edit<'a>(file: &'a str, find: &'a str, with: &'a str) -> Edit<'a> {
    Edit { file, find, with }
}

/// Apply `edits` to a copy of the demo, run `check` and compare the problems
/// printed for the edited files (paths relative to the copy) with `expect`.
fn check(edits: &[Edit], expect: &[&str]) {
    let (got, code, stderr) = run_check(edits);
    assert_eq!(got, expect, "full output:\n{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
}

/// Apply `edits` to a copy of the demo and run `check`: the problems
/// printed for the edited files (paths relative to the copy), the exit
/// code and the whole of stderr.
fn run_check(edits: &[Edit]) -> (Vec<String>, Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    for e in edits {
        let p = tmp.path().join(e.file);
        let text = if e.find.is_empty() {
            e.with.to_string()
        } else {
            let old = std::fs::read_to_string(&p).unwrap();
            assert!(old.contains(e.find), "{}: no `{}`", e.file, e.find);
            old.replacen(e.find, e.with, 1)
        };
        std::fs::write(&p, text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("--site")
        .arg(&site)
        .arg("check")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = format!("{}/", tmp.path().display());
    let got: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| edits.iter().any(|e| l.starts_with(&format!("{}:", e.file))))
        .map(str::to_string)
        .collect();
    let _ = Path::new(&prefix);
    (got, out.status.code(), stderr.into_owned())
}

const SHOW: &str = "shows/mid-autumn.toml";

#[test]
fn a_show_with_three_unknown_keys_and_a_bad_colour_lists_all_four() {
    check(
        &[edit(
            SHOW,
            "",
            "name = \"mid-autumn\"\nfade_inn = \"8s\"\n\n[[layers]]\ntarget = \"avenue\"\neffect = \"wave\"\ncolors = [\"3000K\", \"#ffb00\"]\nsped = \"4 m/s\"\n\n[[layers]]\ntarget = \"trees\"\neffect = \"solid\"\ncolour = \"gold\"\n",
        )],
        &[
            "shows/mid-autumn.toml:2:1: unknown field `fade_inn`; did you mean `fade_in`?",
            "shows/mid-autumn.toml:7:20: `#ffb00` is not a hex colour: write #rrggbb or #rgb",
            "shows/mid-autumn.toml:8:1: unknown field `sped`; did you mean `speed`?",
            "shows/mid-autumn.toml:13:1: unknown field `colour`; did you mean `color`?",
        ],
    );
}

#[test]
fn every_problem_of_each_kind_of_file() {
    // A wrong type, an unknown effect and a target near a group, in one file.
    check(
        &[edit(
            SHOW,
            "",
            "fade_in = 8\n[[layers]]\ntarget = \"avenu\"\neffect = \"wav\"\n[[layers]]\ntarget = \"trees\"\neffect = \"pluse\"\nwidth = \"2\"\n",
        )],
        &[
            "shows/mid-autumn.toml:1:11: invalid type: integer `8`, expected a string",
            "shows/mid-autumn.toml:3:10: target `avenu` matches no fixture, group or glob in the site; did you mean `avenue`?",
            "shows/mid-autumn.toml:4:10: unknown effect `wav`: use solid, fade, chase, wave, gradient, rainbow, twinkle, pulse, sequence, media, text; did you mean `wave`? (`nightscape effects` lists them)",
            "shows/mid-autumn.toml:7:10: unknown effect `pluse`: use solid, fade, chase, wave, gradient, rainbow, twinkle, pulse, sequence, media, text; did you mean `pulse`? (`nightscape effects` lists them)",
            "shows/mid-autumn.toml:8:9: invalid type: string \"2\", expected i64",
        ],
    );
    // A profile: an unknown key, a wrong type and a bad role.
    check(
        &[edit(
            "fixtures/tree-uplight-30w.toml",
            "",
            "name = \"Tree uplight\"\npowr_w = 30\npower_w = 30\nstandby_w = \"1\"\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimer\"]\n",
        )],
        &[
            "fixtures/tree-uplight-30w.toml:2:1: unknown field `powr_w`; did you mean `power_w`?",
            "fixtures/tree-uplight-30w.toml:4:13: invalid type: string \"1\", expected f64",
            "fixtures/tree-uplight-30w.toml:7:13: unknown channel role `dimer`: use dimmer, red, green, blue, white, amber, uv, warm, cool, cct, strobe, pan, tilt, zoom (each may end in _fine), fixed:<value> or unused; did you mean `dimmer`?",
        ],
    );
    // The site: unknown keys at the top, in an output and in [safety].
    check(
        &[
            edit("shows/site.toml", "fps = 40", "fps = 40\nlatitud = 1"),
            edit("shows/site.toml", "sync = true ", "snyc = true "),
        ],
        &[
            "shows/site.toml:11:1: unknown field `latitud`; did you mean `latitude`?",
            "shows/site.toml:19:1: unknown field `snyc`; did you mean `sync`?",
        ],
    );
}

#[test]
fn did_you_mean_for_names() {
    let cases: &[(&[Edit], &[&str])] = &[
        // A group's members (a glob and a name), a profile, a profile's mode
        // and a path.
        (
            &[
                edit("shows/site.toml", "trees = [\"avenue-trees-*\"]", "trees = [\"avenue-tres-*\", \"avenue-poles-eats-001\"]"),
                edit("shows/site.toml", "profile = \"tree-uplight-30w\"", "profile = \"tree-uplight-30\""),
                edit("shows/site.toml", "mode = \"4ch\"", "mode = \"4c\""),
                edit("shows/site.toml", "path = \"north-bridge\"", "path = \"north-brige\""),
            ],
            &[
                "shows/site.toml:71:11: unknown profile `tree-uplight-30` (the library has: eurolite-led-dmx-pixel-tube-16-rgb-ip20, inground-rgbw-36w, rgb-pixel-bar-60, rgba-linear-48w, rgbw-flood-120w, searchlight-moving-1200w, stairville-hl-x9-quad-color-flood-9x8w, tree-uplight-30w, tunable-wallwasher-72w); did you mean `tree-uplight-30w`?",
                "shows/site.toml:98:8: profile `inground-rgbw-36w` has no mode `4c` (it has: 4ch); did you mean `4ch`?",
                "shows/site.toml:107:8: unknown path `north-brige`; did you mean `north-bridge`?",
                "shows/site.toml:178:10: `avenue-tres-*` in group `trees` matches no fixture; did you mean `avenue-trees-*`?",
                "shows/site.toml:178:27: `avenue-poles-eats-001` in group `trees` matches no fixture; did you mean `avenue-poles-east-001`?",
                // The arrays that failed above have no fixtures to match:
                // their groups are not reported as well.
            ],
        ),
        // Schedule: a show, a mode and a holiday; safety and energy: a show
        // and a group.
        (
            &[
                edit("shows/site.toml", "show = \"curfew-white\"", "show = \"curfew-whit\""),
                edit("shows/site.toml", "modes = [\"show-night\"]", "modes = [\"show-nigth\"]"),
                edit("shows/site.toml", "\"mid_autumn\"]", "\"mid_autum\"]"),
                edit("shows/site.toml", "[energy.groups.searchlights]", "[energy.groups.searchlight]"),
            ],
            &[
                "shows/site.toml:205:16: unknown group `searchlight` in [energy.groups] (the site's groups: arcade, avenue, bridge, facade, searchlights, square, trees); did you mean `searchlights`?",
                "shows/site.toml:215:75: unknown holiday `mid_autum`; did you mean `mid_autumn`? (known: new_year, spring_festival_eve, spring_festival, lantern_festival, qingming, labour_day, dragon_boat, qixi, mid_autumn, national_day, double_ninth, christmas_eve, christmas, new_years_eve)",
                "shows/site.toml:241:10: unknown mode `show-nigth`: define it in a [[modes]] rule; did you mean `show-night`?",
                "shows/site.toml:260:8: unknown show `curfew-whit` (the site has: curfew-white, daylight-preview, new-year-countdown, nightly, spring-festival, static-evening); did you mean `curfew-white`?",
            ],
        ),
        // [safety] is checked once the rest of the site loads.
        (
            &[edit("shows/site.toml", "[groups]", "[safety]\nallow = [\"nightly-\"]\nreason = \"test\"\n\n[groups]")],
            &["shows/site.toml:177:10: safety allow names `nightly-`, which is not a show (the site has: curfew-white, daylight-preview, new-year-countdown, nightly, spring-festival, static-evening); did you mean `nightly`?"],
        ),
        // A show's target: a glob and a group.
        (
            &[edit(
                SHOW,
                "",
                "[[layers]]\ntarget = \"searchlight*\"\neffect = \"solid\"\n[[layers]]\ntarget = \"avenue-pole-*\"\neffect = \"solid\"\n[[layers]]\ntarget = \"bridg\"\neffect = \"solid\"\n",
            )],
            &[
                "shows/mid-autumn.toml:5:10: target `avenue-pole-*` matches no fixture, group or glob in the site; did you mean `avenue-poles-*`?",
                "shows/mid-autumn.toml:8:10: target `bridg` matches no fixture, group or glob in the site; did you mean `bridge`?",
            ],
        ),
    ];
    for (edits, expect) in cases {
        check(edits, expect);
    }
}

const SEARCHLIGHT: &str = "fixtures/searchlight-moving-1200w.toml";

/// A strobe channel is part of the safety check: `strobe` on the demo's
/// two searchlights (group `searchlights`, profile without `strobe_hz`)
/// fails at the layer, with the level and why it counts as too fast; with
/// a stated `strobe_hz`, the rate decides (check(input, expect)).
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn check_counts_strobe_channels_in_the_safety_check() {
    let layer = |strobe: &str| {
        format!("[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"3000K\"\n\n[[layers]]\ntarget = \"searchlights\"\neffect = \"solid\"\ncolor = \"white\"\nstrobe = {strobe}\n")
    };
    let tail = "; more than 3 flashes a second over 25 % or more of a group or of the site can trigger seizures (WCAG 2.3.1 general flash, adapted): slow it, soften it, or list the show under [safety] allow with a reason";
    let unstated = format!("shows/mid-autumn.toml:6:1: show `mid-autumn` flashes 25.0 times a second on 2 of 2 fixtures (100 %) of group `searchlights`, their strobe channel at 50 % (profile `searchlight-moving-1200w` states no strobe_hz, so an open strobe counts as too fast (at 25 Hz)), 0.0 s after its fade-in (this layer){tail}");
    let stated = format!("shows/mid-autumn.toml:6:1: show `mid-autumn` flashes 13.0 times a second on 2 of 2 fixtures (100 %) of group `searchlights`, their strobe channel at 50 % (13.0 Hz by the strobe_hz of profile `searchlight-moving-1200w`), 0.0 s after its fade-in (this layer){tail}");
    let cases: Vec<(Option<&str>, String, Vec<String>)> = vec![
        (None, layer("0.5"), vec![unstated]),
        (Some("strobe_hz = [1, 25]"), layer("0.5"), vec![stated]),
        // 1 + 4 × 0.25 = 2 flashes a second: below the threshold.
        (Some("strobe_hz = [1, 5]"), layer("0.25"), vec![]),
        (None, layer("0"), vec![]),
    ];
    for (hz, show, expect) in cases {
        // Five seconds of each show (the least `[safety] seconds` allows,
        // not the default 60): every strobe here flashes from its start.
        let mut edits = vec![
            edit(SHOW, "", &show),
            edit(
                "shows/site.toml",
                "[groups]",
                "[safety]\nseconds = 5\n\n[groups]",
            ),
        ];
        let profile = hz.map(|k| format!("tilt_range = 270\n{k}"));
        if let Some(p) = &profile {
            edits.push(edit(SEARCHLIGHT, "tilt_range = 270", p));
        }
        let (got, code, stderr) = run_check(&edits);
        assert_eq!(got, expect, "{hz:?} {show}\nfull output:\n{stderr}");
        let want = if expect.is_empty() { 0 } else { 1 };
        assert_eq!(code, Some(want), "{hz:?} {show}\n{stderr}");
    }
    // `effect = "strobe"` points at the key.
    check(
        &[edit(SHOW, "", "[[layers]]\ntarget = \"searchlights\"\neffect = \"strobe\"\n")],
        &["shows/mid-autumn.toml:3:10: unknown effect `strobe`: did you mean the `strobe` key? It is set beside an effect, e.g. `effect = \"solid\"` and `strobe = 0.5` in the same layer (`nightscape effects` lists the effects: solid, fade, chase, wave, gradient, rainbow, twinkle, pulse, sequence, media, text)"],
    );
}
