//! Bad input in a site's text is reported, located and never half
//! compiled: `check(case)` tables over the demo site held in memory.
//!
//! Each case edits the demo's text (a show added, a line of `site.toml` or
//! of a profile replaced, a fixture appended), compiles the files with
//! [`config::compile_with_media`] exactly as the daemon does after reading
//! the folder, and asserts every error it expects at `path:line:col` — the
//! line and column computed here from the edited text — with the key
//! phrases of its message; and that compiling returns `Err`, never a
//! partial configuration. Several problems in one compile are all
//! reported, and where a case says so, nothing else is (no cascade).
//!
//! The demo's files are read once from the repository (`shows/`,
//! `fixtures/`); the compile itself sees only text, as the core always
//! does. Reading a folder (a missing `site.toml`, an unreadable library, a
//! file that is not UTF-8) is the daemon's loader's and is tested beside it
//! (`src/config/tests_folder.rs`); the `check` command in its integration
//! tests (`tests/it/check_bad_input.rs`).

use nightscape_core::config::{self, Config, Sources};
use nightscape_core::diag::{Diagnostic, Diagnostics, Severity, SourceFile};
use nightscape_core::show::media::MediaFiles;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

// ------------------------------------------------------------ the demo

/// The demo site as the daemon reads it: every file of `shows/` and
/// `fixtures/` by its path relative to the repository (`shows/site.toml`,
/// `fixtures/x.toml`), TOML as text, media as bytes.
struct Demo {
    text: BTreeMap<String, String>,
    media: BTreeMap<PathBuf, Arc<Vec<u8>>>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut text = BTreeMap::new();
        let mut media = BTreeMap::new();
        for sub in ["shows", "fixtures"] {
            for e in std::fs::read_dir(repo.join(sub)).unwrap() {
                let path = e.unwrap().path();
                let rel = format!("{sub}/{}", path.file_name().unwrap().to_string_lossy());
                if path.extension().is_some_and(|x| x == "toml") {
                    text.insert(rel, std::fs::read_to_string(&path).unwrap());
                } else {
                    media.insert(PathBuf::from(rel), Arc::new(std::fs::read(&path).unwrap()));
                }
            }
        }
        Demo { text, media }
    })
}

/// Media layers' files, from the demo's bytes in memory.
struct DemoMedia;

impl MediaFiles for DemoMedia {
    fn read(&self, path: &Path) -> Result<Arc<Vec<u8>>, String> {
        demo()
            .media
            .get(path)
            .cloned()
            .ok_or_else(|| format!("no such file: {}", path.display()))
    }
}

/// One change to the demo's text.
#[derive(Clone, Copy)]
enum Edit {
    /// Write (or overwrite) a whole file.
    Write(&'static str, &'static str),
    /// Replace the one occurrence of a text in a file.
    Replace(&'static str, &'static str, &'static str),
    /// Append to a file (after a newline if it lacks one).
    Append(&'static str, &'static str),
}

use Edit::{Append, Replace, Write};

/// The demo's files after some edits.
struct Site {
    files: BTreeMap<String, String>,
}

impl Site {
    fn edited(edits: &[Edit]) -> Site {
        let mut files = demo().text.clone();
        for e in edits {
            match *e {
                Write(file, text) => {
                    files.insert(file.to_string(), text.to_string());
                }
                Replace(file, from, to) => {
                    let text = files.get_mut(file).unwrap_or_else(|| panic!("no {file}"));
                    assert_eq!(
                        text.matches(from).count(),
                        1,
                        "`{from}` must occur exactly once in {file}"
                    );
                    *text = text.replacen(from, to, 1);
                }
                Append(file, extra) => {
                    let text = files.get_mut(file).unwrap_or_else(|| panic!("no {file}"));
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(extra);
                }
            }
        }
        Site { files }
    }

    fn text(&self, file: &str) -> &str {
        self.files.get(file).unwrap_or_else(|| panic!("no {file}"))
    }

    /// Compile the files as the daemon's loader hands them to the core:
    /// the site file, the profile library (`fixtures/`) and every other
    /// `*.toml` beside the site file, each sorted by path.
    fn compile(&self) -> Result<Config, Diagnostics> {
        let pick = |dir: &str| -> Vec<SourceFile> {
            self.files
                .iter()
                .filter(|(p, _)| p.starts_with(dir) && p.as_str() != "shows/site.toml")
                .map(|(p, t)| SourceFile::new(p, t.clone()))
                .collect()
        };
        config::compile_with_media(
            Sources {
                folder: PathBuf::from("shows"),
                site: SourceFile::new("shows/site.toml", self.text("shows/site.toml")),
                profiles: pick("fixtures/"),
                profiles_unreadable: None,
                shows: pick("shows/"),
            },
            &DemoMedia,
            Diagnostics::new(),
        )
    }

    /// Compile, expecting failure; every diagnostic must be well formed.
    fn errors(&self) -> Vec<Diagnostic> {
        match self.compile() {
            Ok(cfg) => panic!(
                "expected the site to be rejected; it compiled with {} shows (warnings: {})",
                cfg.shows.len(),
                cfg.warnings
            ),
            Err(d) => {
                assert!(d.has_errors(), "Err without an error: {d}");
                for item in &d.items {
                    item.check_well_formed().unwrap_or_else(|e| panic!("{e}"));
                }
                d.items
            }
        }
    }
}

// ------------------------------------------------------- locating text

/// 1-based line and column (in characters) where the one occurrence of
/// `needle` starts in `text`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "`{needle}` must occur exactly once in the text under test"
    );
    line_col(text, text.find(needle).unwrap())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Where an error is, in the edited text of its file.
#[derive(Clone, Copy, Debug)]
enum At {
    /// The start of the one occurrence of this text.
    Text(&'static str),
    /// As `Text`, which must also be at the start of its line.
    LineStart(&'static str),
    /// As `Text`, which must also be at this line and column (the case
    /// states the place it means in numbers too).
    Pinned(&'static str, usize, usize),
    /// Where the token starts in the one occurrence of prefix + token.
    After(&'static str, &'static str),
    /// Where the token starts in the last occurrence of prefix + token.
    LastAfter(&'static str, &'static str),
    /// This line and column.
    LineCol(usize, usize),
}

impl At {
    fn place(self, text: &str) -> (usize, usize) {
        match self {
            At::Text(n) => locate(text, n),
            At::LineStart(n) => {
                let at = locate(text, n);
                assert_eq!(at.1, 1, "`{n}` is not at the start of its line");
                at
            }
            At::Pinned(n, line, col) => {
                assert_eq!(locate(text, n), (line, col), "`{n}`");
                (line, col)
            }
            At::After(prefix, token) => {
                assert!(!prefix.contains('\n'));
                let (line, col) = locate(text, &format!("{prefix}{token}"));
                (line, col + prefix.chars().count())
            }
            At::LastAfter(prefix, token) => {
                let (line, col) = line_col(text, text.rfind(&format!("{prefix}{token}")).unwrap());
                (line, col + prefix.chars().count())
            }
            At::LineCol(line, col) => (line, col),
        }
    }
}

// ------------------------------------------------------------ the check

/// An error a case expects: in `file`, at `at`, its message containing
/// every phrase of `says`.
struct Expect {
    file: &'static str,
    at: At,
    says: &'static [&'static str],
}

const fn err(file: &'static str, at: At, says: &'static [&'static str]) -> Expect {
    Expect { file, at, says }
}

/// A broken edit of the demo and what compiling it must report.
struct Case<'a> {
    /// What it shows (named in a failure).
    name: &'a str,
    edits: &'a [Edit],
    errors: &'a [Expect],
    /// Files with exactly this many errors (no cascade within them).
    counts: &'a [(&'a str, usize)],
    /// The exact number of errors in all files, if the case limits it.
    total: Option<usize>,
    /// Anything else the case asserts about all the diagnostics.
    also: Option<fn(&[Diagnostic])>,
}

const CASE: Case<'static> = Case {
    name: "",
    edits: &[],
    errors: &[],
    counts: &[],
    total: None,
    also: None,
};

fn dump(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("\n  {d}")).collect()
}

fn errors_in<'a>(diags: &'a [Diagnostic], file: &str) -> Vec<&'a Diagnostic> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error && d.path == Path::new(file))
        .collect()
}

fn check(case: &Case) {
    let site = Site::edited(case.edits);
    let diags = site.errors();
    let name = case.name;
    for e in case.errors {
        let at = e.at.place(site.text(e.file));
        let found = diags.iter().any(|d| {
            d.severity == Severity::Error
                && d.path == Path::new(e.file)
                && (d.line, d.col) == at
                && e.says.iter().all(|p| d.message.contains(p))
        });
        assert!(
            found,
            "{name}: no error in {} at {at:?} containing {:?}; got:{}",
            e.file,
            e.says,
            dump(&diags)
        );
    }
    for (file, n) in case.counts {
        assert_eq!(
            errors_in(&diags, file).len(),
            *n,
            "{name}: errors in {file}:{}",
            dump(&diags)
        );
    }
    if let Some(n) = case.total {
        let all = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        assert_eq!(all, n, "{name}: errors:{}", dump(&diags));
    }
    if let Some(also) = case.also {
        also(&diags);
    }
}

fn check_all(cases: &[Case]) {
    for case in cases {
        check(case);
    }
}

/// An edit that must compile, and what must then hold.
fn loads(name: &str, edits: &[Edit], then: impl FnOnce(&Config)) {
    let cfg = Site::edited(edits)
        .compile()
        .unwrap_or_else(|d| panic!("{name}: rejected:\n{d}"));
    then(&cfg);
}

/// The show file cases add (sorted after every demo show).
const BAD_SHOW: &str = "shows/zz-bad.toml";
const SITE: &str = "shows/site.toml";

// ------------------------------------------------------------- the demo

#[test]
fn the_demo_and_the_show_template_compile() {
    loads("the demo", &[], |cfg| {
        assert!(cfg.warnings.is_empty(), "warnings:\n{}", cfg.warnings);
        let show_files = demo()
            .text
            .keys()
            .filter(|p| p.starts_with("shows/") && p.as_str() != SITE)
            .count();
        assert_eq!(cfg.show_order.len(), show_files, "one show per show file");
    });
    // The bad-show cases below start from this; prove it is good on its own.
    loads(
        "a valid added show",
        &[Write(
            BAD_SHOW,
            "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\n",
        )],
        |cfg| assert!(cfg.show("probe").is_some()),
    );
}

// ------------------------------------------------------------ unknown keys

#[test]
fn unknown_keys() {
    check_all(&[
        Case {
            name: "unknown key in a show layer",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolour = \"red\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("colour", 5, 1), &["unknown field `colour`"])],
            ..CASE
        },
        Case {
            name: "unknown key in a cue",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"red\", fadr = \"1s\" },\n]\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("fadr", 6, 31), &["unknown field `fadr`"])],
            ..CASE
        },
        Case {
            name: "unknown key at the top of site.toml",
            edits: &[Replace(SITE, "fps = 40", "frames_per_second = 40")],
            errors: &[err(
                SITE,
                At::LineStart("frames_per_second"),
                &["unknown field `frames_per_second`"],
            )],
            ..CASE
        },
        Case {
            name: "unknown key in a hand-placed fixture of site.toml",
            edits: &[Replace(SITE, "address = \"3.211\"", "adress = \"3.211\"")],
            errors: &[err(SITE, At::Text("adress"), &["unknown field `adress`"])],
            ..CASE
        },
        Case {
            name: "unknown key in a profile",
            edits: &[Replace(
                "fixtures/tree-uplight-30w.toml",
                "standby_w = 0.5\n",
                "standby_w = 0.5\ncolour_temp = 3000\n",
            )],
            errors: &[err(
                "fixtures/tree-uplight-30w.toml",
                At::LineStart("colour_temp"),
                &["unknown field `colour_temp`"],
            )],
            ..CASE
        },
        Case {
            name: "unknown key in a profile mode",
            edits: &[Replace(
                "fixtures/inground-rgbw-36w.toml",
                "name = \"4ch\"\n",
                "name = \"4ch\"\nfootprint = 4\n",
            )],
            errors: &[err(
                "fixtures/inground-rgbw-36w.toml",
                At::Text("footprint"),
                &["unknown field `footprint`"],
            )],
            ..CASE
        },
    ]);
}

// -------------------------------------------------------------- wrong types

#[test]
fn wrong_types_and_shapes() {
    check_all(&[
        Case {
            // The value, not the key, is what is wrong.
            name: "fps as a word",
            edits: &[Replace(SITE, "fps = 40", "fps = \"fast\"")],
            errors: &[err(SITE, At::Text("\"fast\""), &["invalid type", "fast"])],
            ..CASE
        },
        Case {
            name: "fps out of range",
            edits: &[Replace(SITE, "fps = 40", "fps = 100")],
            errors: &[err(SITE, At::After("fps = ", "100"), &["fps 100 is out of range"])],
            ..CASE
        },
        Case {
            name: "level as a word",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\nlevel = \"bright\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("\"bright\"", 6, 9), &["`bright` is not a level"])],
            ..CASE
        },
        Case {
            name: "level above one",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"red\"\nlevel = 1.5\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("1.5"), &["level 1.5 is out of range"])],
            ..CASE
        },
        Case {
            name: "level of the wrong TOML type is located",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\nlevel = true\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("true"), &[])],
            ..CASE
        },
        Case {
            name: "chase width as a string",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"chase\"\nwidth = \"3\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"3\""), &["invalid type"])],
            ..CASE
        },
        Case {
            name: "latitude as a string",
            edits: &[Replace(SITE, "latitude = 25.04", "latitude = \"25.04 N\"")],
            errors: &[err(SITE, At::Text("\"25.04 N\""), &["invalid type"])],
            ..CASE
        },
        Case {
            name: "plan position with one coordinate",
            edits: &[Replace(SITE, "at = [103, 620]", "at = [103]")],
            errors: &[err(SITE, At::Text("[103]"), &["invalid length 1"])],
            ..CASE
        },
        Case {
            name: "missing required field points at its table",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\ncolor = \"red\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("[[layers]]", 2, 1), &["missing field `effect`"])],
            ..CASE
        },
        Case {
            name: "fixture without address points at its table",
            edits: &[Replace(SITE, "address = \"3.211\"\n", "")],
            errors: &[err(
                SITE,
                At::Text("[[fixtures]]\nname = \"searchlight-south\""),
                &["missing field `address`"],
            )],
            ..CASE
        },
    ]);
}

// ------------------------------------------------------ values out of shape

#[test]
fn values_out_of_shape() {
    check_all(&[
        Case {
            name: "bad colours are each reported at their value",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n\
                 [[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"#12345g\"\n\
                 [[layers]]\ntarget = \"trees\"\neffect = \"wave\"\ncolors = [\"red\", \"chartreusey\"]\n\
                 [[layers]]\ntarget = \"arcade\"\neffect = \"solid\"\ncolor = \"90000K\"\n",
            )],
            errors: &[
                err(BAD_SHOW, At::Text("\"#12345g\""), &["not a hex colour"]),
                err(BAD_SHOW, At::Text("\"chartreusey\""), &["unknown colour"]),
                err(BAD_SHOW, At::Text("\"90000K\""), &["out of range"]),
            ],
            counts: &[(BAD_SHOW, 3)],
            ..CASE
        },
        Case {
            // `"亮"` is the 37th character of line 6 (but starts at its 39th byte).
            name: "columns count characters, not bytes",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"紅\", level = \"亮\" },\n]\n",
            )],
            errors: &[
                err(BAD_SHOW, At::Pinned("\"亮\"", 6, 37), &["`亮` is not a level"]),
                err(BAD_SHOW, At::Text("\"紅\""), &["unknown colour `紅`"]),
            ],
            ..CASE
        },
        Case {
            name: "negative duration",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\nfade_in = \"-3s\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("\"-3s\"", 2, 11), &["negative"])],
            ..CASE
        },
        Case {
            name: "negative duration in a cue's fade",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"0s\", color = \"red\", fade = \"-3s\" },\n]\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"-3s\""), &["negative"])],
            ..CASE
        },
        Case {
            name: "zero period",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"bridge\"\neffect = \"pulse\"\nperiod = \"0s\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"0s\""), &["period must be longer than 0s"])],
            ..CASE
        },
        Case {
            name: "invalid values on keys the effect does not use",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"wave\"\nperiod = \"-3s\"\ndensity = 7\n",
            )],
            errors: &[
                err(BAD_SHOW, At::Text("\"-3s\""), &["negative"]),
                err(BAD_SHOW, At::After("density = ", "7"), &["out of range"]),
            ],
            ..CASE
        },
    ]);
}

// ----------------------------------------------------------------- the patch

/// A hand-placed fixture table to append to site.toml. Universe 4 of the
/// demo holds only tower-crown at 4.1..180, so 4.201.. is free.
macro_rules! fixture {
    ($name:literal, $profile:literal, $mode:literal, $address:literal) => {
        concat!(
            "\n[[fixtures]]\nname = \"",
            $name,
            "\"\nprofile = \"",
            $profile,
            "\"\nmode = \"",
            $mode,
            "\"\nat = [0, 0]\naddress = \"",
            $address,
            "\"\n"
        )
    };
}

#[test]
fn the_patch() {
    check_all(&[
        Case {
            name: "address 0.0",
            edits: &[Append(
                SITE,
                fixture!("probe", "rgbw-flood-120w", "5ch", "0.0"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"0.0\""),
                &["address 0 is out of range"],
            )],
            ..CASE
        },
        Case {
            name: "address past 512",
            edits: &[Append(
                SITE,
                fixture!("probe", "rgbw-flood-120w", "5ch", "0.513"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"0.513\""),
                &["address 513 is out of range"],
            )],
            ..CASE
        },
        Case {
            name: "address that is not universe.address",
            edits: &[Append(
                SITE,
                fixture!("probe", "rgbw-flood-120w", "5ch", "six"),
            )],
            errors: &[err(SITE, At::Text("\"six\""), &["is not a DMX address"])],
            ..CASE
        },
        Case {
            name: "array start out of range",
            edits: &[Replace(SITE, "start = \"3.1\"", "start = \"40000.1\"")],
            errors: &[err(
                SITE,
                At::Text("\"40000.1\""),
                &["universe 40000 is out of range"],
            )],
            ..CASE
        },
        Case {
            // 180 channels from 400 end at 579.
            name: "a pixel bar that does not fit its universe",
            edits: &[Append(
                SITE,
                fixture!("probe-bar", "rgb-pixel-bar-60", "180ch", "4.400"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"4.400\""),
                &[
                    "`probe-bar` does not fit its universe",
                    "180 channels",
                    "579",
                    "512",
                ],
            )],
            ..CASE
        },
        Case {
            // Reported on the second fixture, the one that takes taken channels.
            name: "overlapping hand-placed fixtures name both",
            edits: &[Append(
                SITE,
                concat!(
                    fixture!("probe-left", "rgbw-flood-120w", "5ch", "4.201"),
                    fixture!("probe-right", "rgbw-flood-120w", "8ch", "4.203")
                ),
            )],
            errors: &[err(
                SITE,
                At::Text("\"probe-right\""),
                &[
                    "overlaps",
                    "`probe-right`",
                    "`probe-left`",
                    "4.203",
                    "4.201",
                ],
            )],
            also: Some(|d| {
                let overlaps = d.iter().filter(|d| d.message.contains("overlaps")).count();
                assert_eq!(overlaps, 1, "{}", dump(d));
            }),
            ..CASE
        },
        Case {
            // avenue-poles-east-001 is at 0.1..0.5.
            name: "a hand-placed fixture overlapping an array fixture",
            edits: &[Append(
                SITE,
                fixture!("probe", "tree-uplight-30w", "1ch", "0.3"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"probe\""),
                &["overlaps", "`probe`", "`avenue-poles-east-001`"],
            )],
            ..CASE
        },
        Case {
            // It lists what the library does have.
            name: "unknown profile",
            edits: &[Append(
                SITE,
                fixture!("probe", "rgbw-flood-999w", "5ch", "4.201"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"rgbw-flood-999w\""),
                &["unknown profile `rgbw-flood-999w`", "rgbw-flood-120w"],
            )],
            ..CASE
        },
        Case {
            name: "unknown mode",
            edits: &[Append(
                SITE,
                fixture!("probe", "rgbw-flood-120w", "7ch", "4.201"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"7ch\""),
                &["has no mode `7ch`", "5ch", "8ch"],
            )],
            ..CASE
        },
        Case {
            name: "unknown path of an array",
            edits: &[Replace(
                SITE,
                "path = \"north-bridge\"",
                "path = \"south-bridge\"",
            )],
            errors: &[err(
                SITE,
                At::Text("\"south-bridge\""),
                &["unknown path `south-bridge`"],
            )],
            ..CASE
        },
        Case {
            name: "an empty glob in a group",
            edits: &[Replace(
                SITE,
                "square = [\"square-*\"]",
                "square = [\"nothing-*\"]",
            )],
            errors: &[err(
                SITE,
                At::Text("\"nothing-*\""),
                &["`nothing-*` in group `square` matches no fixture"],
            )],
            ..CASE
        },
        Case {
            // The second definition is the one reported, at its name's value.
            name: "duplicate hand-placed fixture names",
            edits: &[Append(
                SITE,
                concat!(
                    fixture!("probe-twin", "tree-uplight-30w", "1ch", "4.201"),
                    fixture!("probe-twin", "tree-uplight-30w", "1ch", "4.202")
                ),
            )],
            errors: &[err(
                SITE,
                At::LastAfter("name = ", "\"probe-twin\""),
                &["fixture name `probe-twin` is used twice"],
            )],
            ..CASE
        },
        Case {
            name: "a hand-placed fixture named like an array fixture",
            edits: &[Append(
                SITE,
                fixture!("avenue-poles-east-001", "tree-uplight-30w", "1ch", "4.201"),
            )],
            errors: &[err(
                SITE,
                At::Text("\"avenue-poles-east-001\""),
                &["fixture name `avenue-poles-east-001` is used twice"],
            )],
            ..CASE
        },
        Case {
            name: "negative length of a hand-placed fixture",
            edits: &[Replace(
                SITE,
                "heading = 90\nlength = 1.0",
                "heading = 90\nlength = -1.0",
            )],
            errors: &[err(
                SITE,
                At::Text("-1.0"),
                &["length must be 0 metres or more"],
            )],
            ..CASE
        },
        Case {
            name: "negative length of an array",
            edits: &[Replace(SITE, "length = 18 ", "length = -1.0 ")],
            errors: &[err(
                SITE,
                At::Text("-1.0"),
                &["length must be 0 metres or more"],
            )],
            ..CASE
        },
    ]);
    // The boundary: 4.201..205 and 4.206..213 touch but share no channel.
    loads(
        "fixtures side by side",
        &[Append(
            SITE,
            concat!(
                fixture!("probe-left", "rgbw-flood-120w", "5ch", "4.201"),
                fixture!("probe-right", "rgbw-flood-120w", "8ch", "4.206")
            ),
        )],
        |_| {},
    );
}

// ------------------------------------------------- the rest of site.toml

#[test]
fn the_site_file() {
    check_all(&[
        Case {
            name: "site-level values out of range",
            edits: &[
                Replace(SITE, "latitude = 25.04", "latitude = 125.04"),
                Replace(
                    SITE,
                    "timezone = \"Asia/Shanghai\"",
                    "timezone = \"Asia/Kunming-ish\"",
                ),
                Replace(SITE, "universes = \"0-14\"", "universes = \"14-0\""),
            ],
            errors: &[
                err(
                    SITE,
                    At::Text("125.04"),
                    &["latitude 125.04 is out of range"],
                ),
                err(
                    SITE,
                    At::Text("\"Asia/Kunming-ish\""),
                    &["unknown timezone `Asia/Kunming-ish`"],
                ),
                err(SITE, At::Text("\"14-0\""), &["runs backwards"]),
            ],
            ..CASE
        },
        Case {
            name: "unknown output kind",
            edits: &[Replace(
                SITE,
                "kind = \"artnet\"",
                "kind = \"dmx-over-pigeon\"",
            )],
            errors: &[err(
                SITE,
                At::Text("\"dmx-over-pigeon\""),
                &["unknown output kind `dmx-over-pigeon`"],
            )],
            ..CASE
        },
        Case {
            name: "an Art-Net output without a target points at the output",
            edits: &[Replace(SITE, "target = \"127.0.0.1\"", "")],
            errors: &[err(SITE, At::Text("[[outputs]]"), &["needs `target`"])],
            ..CASE
        },
        Case {
            name: "a schedule naming an unknown show",
            edits: &[Replace(SITE, "show = \"nightly\"", "show = \"nightlyy\"")],
            errors: &[err(
                SITE,
                At::Text("\"nightlyy\""),
                &["unknown show `nightlyy`"],
            )],
            ..CASE
        },
        Case {
            name: "a schedule start that is not a time",
            edits: &[Replace(
                SITE,
                "start = \"22:00\"",
                "start = \"half past ten\"",
            )],
            errors: &[err(
                SITE,
                At::Text("\"half past ten\""),
                &["`half past ten` is not a time"],
            )],
            ..CASE
        },
    ]);
    // site/mod.rs: "Groups may name other groups defined before them".
    // `searchlights` is defined above `tower-lights` (and sorts before it).
    loads(
        "a group naming a group defined before it",
        &[Replace(
            SITE,
            "searchlights = [\"searchlight-*\"]",
            "searchlights = [\"searchlight-*\"]\ntower-lights = [\"searchlights\", \"tower-crown\"]",
        )],
        |cfg| assert_eq!(cfg.site.groups["tower-lights"].len(), 3),
    );
    // `searchlights` is defined above `beacons`, but sorts after it.
    loads(
        "a group naming an earlier group that sorts after it",
        &[Replace(
            SITE,
            "searchlights = [\"searchlight-*\"]",
            "searchlights = [\"searchlight-*\"]\nbeacons = [\"searchlights\"]",
        )],
        |cfg| assert_eq!(cfg.site.groups["beacons"].len(), 2),
    );
}

// ------------------------------------------------------------- profiles

#[test]
fn profiles() {
    check_all(&[
        Case {
            name: "unknown channel role in a profile",
            edits: &[Replace(
                "fixtures/rgba-linear-48w.toml",
                "\"amber\"]",
                "\"ambre\"]",
            )],
            errors: &[err(
                "fixtures/rgba-linear-48w.toml",
                At::Text("\"ambre\""),
                &["unknown channel role `ambre`"],
            )],
            ..CASE
        },
        Case {
            name: "negative power in a profile",
            edits: &[Replace(
                "fixtures/rgba-linear-48w.toml",
                "power_w = 48",
                "power_w = -48",
            )],
            errors: &[err(
                "fixtures/rgba-linear-48w.toml",
                At::Text("-48"),
                &["power_w must be zero or more"],
            )],
            ..CASE
        },
        Case {
            name: "a mode wider than a universe points at the mode",
            edits: &[Replace(
                "fixtures/rgb-pixel-bar-60.toml",
                "name = \"180ch\"\ncells = 60",
                "name = \"180ch\"\ncells = 171",
            )],
            errors: &[err(
                "fixtures/rgb-pixel-bar-60.toml",
                At::Text("[[modes]]\nname = \"180ch\""),
                &["mode `180ch` needs 513 channels"],
            )],
            ..CASE
        },
    ]);
}

// ------------------------------------------------------------- syntax

#[test]
fn syntax_errors() {
    check_all(&[
        Case {
            // The array opens on line 5 and is never closed; the first token
            // that cannot continue it is `level` at the start of line 6.
            name: "an unclosed bracket in a show",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"wave\"\ncolors = [\"red\", \"blue\"\nlevel = 0.5\n",
            )],
            errors: &[err(BAD_SHOW, At::Pinned("level", 6, 1), &["expected `,`"])],
            counts: &[(BAD_SHOW, 1)],
            ..CASE
        },
        Case {
            // Right after `[groups`, where the `]` is missing.
            name: "a syntax error in site.toml still reports the shows' syntax errors",
            edits: &[
                Replace(SITE, "[groups]", "[groups"),
                Write(BAD_SHOW, "name = \"probe\"\nfade_in = = \"1s\"\n"),
            ],
            errors: &[
                err(SITE, At::After("[groups", "\n"), &["expected `]`"]),
                err(BAD_SHOW, At::After("fade_in = ", "= \"1s\""), &[]),
            ],
            counts: &[(SITE, 1), (BAD_SHOW, 1)],
            ..CASE
        },
        Case {
            // `30 W` reads as an unquoted string starting at `30`.
            name: "a syntax error in a profile",
            edits: &[Replace("fixtures/tree-uplight-30w.toml", "power_w = 30", "power_w = 30 W")],
            errors: &[err(
                "fixtures/tree-uplight-30w.toml",
                At::After("power_w = ", "30 W"),
                &["quoted"],
            )],
            counts: &[("fixtures/tree-uplight-30w.toml", 1)],
            ..CASE
        },
        Case {
            // The second definition is the wrong one.
            name: "a duplicate key in a show",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\nfade_in = \"1s\"\nfade_in = \"2s\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("fade_in = \"2s\""), &["duplicate key"])],
            ..CASE
        },
    ]);
}

// -------------------------------------------------------------- shows

#[test]
fn shows() {
    check_all(&[
        Case {
            name: "a show target that names nothing",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"plaza\""), &["target `plaza` matches no fixture"])],
            ..CASE
        },
        Case {
            name: "a show whose glob targets nothing",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"fountain-*\"\neffect = \"solid\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"fountain-*\""), &["matches no fixture"])],
            ..CASE
        },
        Case {
            name: "a show without layers",
            edits: &[Write(BAD_SHOW, "name = \"probe\"\nfade_in = \"1s\"\n")],
            errors: &[err(BAD_SHOW, At::LineCol(1, 1), &["has no [[layers]]"])],
            ..CASE
        },
        Case {
            name: "unknown effect",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"sparkle\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"sparkle\""), &["unknown effect `sparkle`"])],
            ..CASE
        },
        Case {
            name: "sequence cues out of order",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\ncues = [\n  { at = \"20s\", color = \"red\" },\n  { at = \"5s\", color = \"blue\" },\n]\n",
            )],
            errors: &[err(
                BAD_SHOW,
                At::Pinned("\"5s\"", 7, 10),
                &["comes before the previous cue"],
            )],
            ..CASE
        },
        Case {
            name: "a sequence without cues",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n[[layers]]\ntarget = \"square\"\neffect = \"sequence\"\n",
            )],
            errors: &[err(BAD_SHOW, At::Text("\"sequence\""), &["a sequence needs `cues"])],
            ..CASE
        },
        Case {
            name: "several errors in one show are reported together",
            edits: &[Write(
                BAD_SHOW,
                "name = \"probe\"\n\
                 fade_in = \"-3s\"\n\
                 [[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"#xyz\"\n\
                 [[layers]]\ntarget = \"plaza\"\neffect = \"solid\"\n\
                 [[layers]]\ntarget = \"trees\"\neffect = \"sparkle\"\n\
                 [[layers]]\ntarget = \"bridge\"\neffect = \"pulse\"\nlevel = \"bright\"\n",
            )],
            errors: &[
                err(BAD_SHOW, At::Text("\"-3s\""), &["negative"]),
                err(BAD_SHOW, At::Text("\"#xyz\""), &["not a hex colour"]),
                err(BAD_SHOW, At::Text("\"plaza\""), &["matches no fixture"]),
                err(BAD_SHOW, At::Text("\"sparkle\""), &["unknown effect"]),
                err(BAD_SHOW, At::Text("\"bright\""), &["not a level"]),
            ],
            counts: &[(BAD_SHOW, 5)],
            ..CASE
        },
        Case {
            name: "errors in several files are reported together",
            edits: &[
                Replace("fixtures/rgba-linear-48w.toml", "power_w = 48", "power_w = -48"),
                Append(SITE, fixture!("probe", "tree-uplight-30w", "1ch", "4.0")),
            ],
            errors: &[
                err("fixtures/rgba-linear-48w.toml", At::Text("-48"), &["power_w"]),
                err(SITE, At::Text("\"4.0\""), &["address 0 is out of range"]),
            ],
            ..CASE
        },
        Case {
            // A broken profile must not hide a broken show: the site still
            // compiles when the broken profile is unused.
            name: "show errors are reported beside a bad profile",
            edits: &[
                Write(
                    "fixtures/unused-probe.toml",
                    "name = \"probe\"\npower_w = 5\n[[modes]]\nname = \"1ch\"\nchannels = [\"dimmmer\"]\n",
                ),
                Write(
                    BAD_SHOW,
                    "name = \"probe\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"sparkle\"\n",
                ),
            ],
            errors: &[
                err(
                    "fixtures/unused-probe.toml",
                    At::Text("\"dimmmer\""),
                    &["unknown channel role"],
                ),
                err(BAD_SHOW, At::Text("\"sparkle\""), &["unknown effect"]),
            ],
            ..CASE
        },
        Case {
            // In the later file, at the name, and only there.
            name: "duplicate show names",
            edits: &[Write(
                BAD_SHOW,
                "# a copy that forgot to rename itself\nname = \"nightly\"\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\n",
            )],
            errors: &[err(
                BAD_SHOW,
                At::Text("\"nightly\""),
                &["show name `nightly` is used by two files"],
            )],
            counts: &[(BAD_SHOW, 1), ("shows/nightly.toml", 0)],
            ..CASE
        },
    ]);
}

// ------------------------------------------------------------- the fleet

/// The demo's output moved to node `bridge-2`, with `[fleet]` and two nodes.
macro_rules! fleet_site {
    ($broker:literal, $node:literal) => {
        Replace(
            SITE,
            "sync = true                     # ArtSync after each frame\n",
            concat!(
                "sync = true\nnode = \"",
                $node,
                "\"\n\n[fleet]\nbroker = \"",
                $broker,
                "\"\nusername_env = \"CITY_MQTT_USER\"\n\n[[nodes]]\nname = \"bridge-2\"\napi = \"127.0.0.1:8081\"\n[[nodes]]\nname = \"tower\"\napi = \"127.0.0.1:8082\"\n"
            ),
        )
    };
}

#[test]
fn the_fleet() {
    loads(
        "a fleet site",
        &[fleet_site!("mqtts://broker.example:8883", "bridge-2")],
        |cfg| {
            let f = cfg.site.fleet.as_ref().unwrap();
            assert!(f.broker.tls);
            assert_eq!(f.username_env.as_deref(), Some("CITY_MQTT_USER"));
            assert_eq!(f.topic_site, "flower-city-axis-demo");
            assert_eq!(cfg.site.nodes.len(), 2);
            assert_eq!(cfg.site.outputs[0].node.as_deref(), Some("bridge-2"));
            let mut only_tower = cfg.site.clone();
            only_tower.retain_node_outputs("tower");
            assert!(only_tower.outputs.is_empty());
        },
    );
    check_all(&[
        Case {
            name: "an output naming an unknown node",
            edits: &[fleet_site!("mqtt://127.0.0.1:1883", "bridge-9")],
            errors: &[err(
                SITE,
                At::After("node = ", "\"bridge-9\""),
                &["unknown node `bridge-9`", "bridge-2, tower"],
            )],
            ..CASE
        },
        Case {
            name: "a broker that is not an MQTT URL",
            edits: &[fleet_site!("http://broker:1883", "bridge-2")],
            errors: &[err(
                SITE,
                At::After("broker = ", "\"http://broker:1883\""),
                &["not a broker URL", "mqtt://"],
            )],
            ..CASE
        },
        Case {
            name: "an output without a node in a site with nodes",
            edits: &[Append(
                SITE,
                "[[nodes]]\nname = \"tower\"\napi = \"not an address\"\n",
            )],
            errors: &[err(
                SITE,
                At::After("api = ", "\"not an address\""),
                &["not an address for the node's API"],
            )],
            also: Some(|d| {
                assert!(
                    d.iter()
                        .any(|x| x.message.contains("every output names the node")),
                    "{}",
                    dump(d)
                );
            }),
            ..CASE
        },
    ]);
}

// ------------------------------------------- one edit, exactly one error

/// One edit of the demo and the one problem it must give: in `file`,
/// replace `from` with `to`; the only error is at the start of `at` (which
/// occurs once in the edited text) and contains `says`. Nothing else is
/// reported: no cascade.
const fn one<'a>(name: &'a str, edit: &'a [Edit], at: &'a [Expect]) -> Case<'a> {
    Case {
        name,
        edits: edit,
        errors: at,
        total: Some(1),
        ..CASE
    }
}

#[test]
fn each_of_these_edits_gives_one_located_error_and_no_cascade() {
    check_all(&[
        // A path of identical points has no length: an error, not an
        // array piled on one spot.
        one(
            "a path of identical points",
            &[Replace(
                SITE,
                "points = [[-30, 200], [-30, 1000]]",
                "points = [[-30, 200], [-30, 200], [-30, 200]]",
            )],
            &[err(
                SITE,
                At::Text("[[-30, 200], [-30, 200], [-30, 200]]"),
                &["are the same (-30, 200)"],
            )],
        ),
        // A cron expression that can never fire, named by its field.
        one(
            "cron on the 31st of February",
            &[Replace(
                SITE,
                "start = \"cron: 30 19-21 * * *\"",
                "start = \"cron: 0 0 31 2 *\"",
            )],
            &[err(
                SITE,
                At::Text("\"cron: 0 0 31 2 *\""),
                &["day of month field `31`"],
            )],
        ),
        one(
            "cron on the 30th of February",
            &[Replace(
                SITE,
                "start = \"cron: 30 19-21 * * *\"",
                "start = \"cron: 0 0 30 2 *\"",
            )],
            &[err(
                SITE,
                At::Text("\"cron: 0 0 30 2 *\""),
                &["never fires"],
            )],
        ),
        // A show that does not compile: said at the show, not again as
        // "unknown show" at the schedule entries that name it.
        one(
            "a show that does not compile",
            &[Replace(
                "shows/nightly.toml",
                "effect = \"wave\"",
                "effect = \"wav\"",
            )],
            &[err(
                "shows/nightly.toml",
                At::Text("\"wav\""),
                &["unknown effect `wav`"],
            )],
        ),
        // A misspelled profile, mode or path of an array: not again at the
        // groups naming its fixtures.
        one(
            "a misspelled profile of an array",
            &[Replace(
                SITE,
                "name = \"avenue-trees-east\"\nprofile = \"tree-uplight-30w\"",
                "name = \"avenue-trees-east\"\nprofile = \"tree-uplight-30\"",
            )],
            &[err(
                SITE,
                At::Text("\"tree-uplight-30\""),
                &["unknown profile `tree-uplight-30`"],
            )],
        ),
        one(
            "a misspelled mode of an array",
            &[Replace(
                SITE,
                "profile = \"inground-rgbw-36w\"\nmode = \"4ch\"",
                "profile = \"inground-rgbw-36w\"\nmode = \"4c\"",
            )],
            &[err(SITE, At::Text("\"4c\""), &["has no mode `4c`"])],
        ),
        one(
            "a misspelled path of an array",
            &[Replace(
                SITE,
                "path = \"north-bridge\"",
                "path = \"north-brige\"",
            )],
            &[err(
                SITE,
                At::Text("\"north-brige\""),
                &["unknown path `north-brige`"],
            )],
        ),
        // A broken profile file: said in it, not at the groups and show
        // targets of the fixtures that use it.
        one(
            "a broken profile",
            &[Replace(
                "fixtures/tree-uplight-30w.toml",
                "power_w = 30",
                "power_w = -30",
            )],
            &[err(
                "fixtures/tree-uplight-30w.toml",
                At::Text("-30"),
                &["power_w must be zero or more"],
            )],
        ),
        // A group misspelled where it is defined: one error there, not one
        // at each of the three shows and the energy budget naming it.
        one(
            "a group misspelled where it is defined",
            &[Replace(
                SITE,
                "searchlights = [\"searchlight-*\"]",
                "searchlight = [\"searchlight-*\"]",
            )],
            &[err(
                SITE,
                At::Text("[\"searchlight-*\"]"),
                &["group `searchlight`: 4 places name `searchlights` instead ("],
            )],
        ),
        // A mode misspelled where its rule defines it: one error, at the
        // first entry naming it, listing the others.
        one(
            "a mode misspelled where its rule defines it",
            &[Replace(SITE, "name = \"festival\"", "name = \"festivl\"")],
            &[err(
                SITE,
                At::Text("\"festival\"]\n\n[[schedule]]\nshow = \"nightly\""),
                &["mode `festivl`: 4 places name `festival` instead ("],
            )],
        ),
        // A misspelled table key: its tables are gone, and the arrays on
        // its paths are not reported as well.
        one(
            "a misspelled table key",
            &[Replace(
                SITE,
                "[[paths]]\nname = \"axis-avenue\"",
                "[[path]]\nname = \"axis-avenue\"",
            )],
            &[err(
                SITE,
                At::Text("path]]"),
                &["unknown field `path`; did you mean `paths`?"],
            )],
        ),
        // A misspelled required key: the unknown key with its did-you-mean,
        // not "missing field" as well.
        one(
            "a misspelled required key",
            &[Replace(SITE, "kind = \"artnet\"", "knd = \"artnet\"")],
            &[err(
                SITE,
                At::Text("knd"),
                &["unknown field `knd`; did you mean `kind`?"],
            )],
        ),
    ]);
}
