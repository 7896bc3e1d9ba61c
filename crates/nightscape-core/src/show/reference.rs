//! The effect reference: one table naming every effect and each of its
//! parameters with unit, range, default, meaning and an example.
//!
//! It is the single source for the show compiler (which effect names exist,
//! which keys each one reads, the numeric defaults), the "has no effect on"
//! warnings, `nightscape effects`, the generated `docs/effects.md` (a test
//! keeps it in sync) and the effect names the API reports, so they cannot
//! disagree. Adding an effect means adding a row here and a variant in
//! [`super::effect::Effect`]; a test fails until both agree.

/// What kind of value a parameter takes (decides how it is parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A duration: "8s", "500ms", "2m".
    Duration,
    /// A speed: "4 m/s".
    Speed,
    /// A distance: "120 m".
    Distance,
    /// A level: 0..=1 or "80%".
    Level,
    /// A whole number of cells.
    Count,
    /// A colour: hex, a CSS name, or "3000K".
    Color,
    /// A list of colours.
    Colors,
    /// true / false.
    Bool,
    /// An integer seed.
    Integer,
    /// A list of cue tables.
    Cues,
    /// Degrees (a number).
    Degrees,
    /// A word or name (a target, an effect, a blend mode).
    Text,
    /// A plain number (a share, a factor).
    Number,
}

impl Unit {
    pub fn describe(self) -> &'static str {
        match self {
            Unit::Duration => "duration (\"8s\", \"500ms\", \"2m\")",
            Unit::Speed => "speed (\"4 m/s\")",
            Unit::Distance => "distance (\"120 m\")",
            Unit::Level => "level (0..1 or \"80%\")",
            Unit::Count => "cells (whole number)",
            Unit::Color => "colour (\"#ffb000\", \"orange\", \"3000K\")",
            Unit::Colors => "list of colours",
            Unit::Bool => "true / false",
            Unit::Integer => "integer",
            Unit::Cues => "list of { at, color, level, fade }",
            Unit::Degrees => "degrees (a number)",
            Unit::Text => "text",
            Unit::Number => "number",
        }
    }
}

/// One parameter of an effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub key: &'static str,
    pub unit: Unit,
    pub range: &'static str,
    /// The default in base units (seconds, m/s, metres, 0..1, cells), used
    /// by the compiler; NaN where there is no numeric default.
    pub default: f64,
    /// The default as a designer reads it.
    pub default_text: &'static str,
    pub meaning: &'static str,
}

/// One effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    /// A layer using it, as TOML.
    pub example: &'static str,
}

impl EffectSpec {
    pub fn param(&self, key: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.key == key)
    }

    /// The compiler's default for `key` (NaN if the effect has none).
    pub fn default(&self, key: &str) -> f64 {
        self.param(key).map_or(f64::NAN, |p| p.default)
    }

    /// Whether the effect reads `key`.
    pub fn reads(&self, key: &str) -> bool {
        self.param(key).is_some()
    }
}

const N: f64 = f64::NAN;

const fn p(
    key: &'static str,
    unit: Unit,
    range: &'static str,
    default: f64,
    default_text: &'static str,
    meaning: &'static str,
) -> Param {
    Param {
        key,
        unit,
        range,
        default,
        default_text,
        meaning,
    }
}

/// Every effect, in the order the reference lists them.
pub const EFFECTS: &[EffectSpec] = &[
    EffectSpec {
        name: "solid",
        summary: "One colour, steady.",
        params: &[p("color", Unit::Color, "any colour", N, "white", "The colour.")],
        example: "target = \"trees\"\neffect = \"solid\"\ncolor = \"3000K\"\nlevel = 0.6",
    },
    EffectSpec {
        name: "fade",
        summary: "Crossfades through the colours, one colour per period; a single colour fades up and down (a triangle).",
        params: &[
            p("colors", Unit::Colors, "one or more", N, "[white]", "The colours in order (or `color` for one)."),
            p("period", Unit::Duration, "> 0", 10.0, "10s", "Time from one colour to the next (one ramp for a single colour)."),
        ],
        example: "target = \"arcade\"\neffect = \"fade\"\ncolors = [\"#ff8c00\", \"#ffd8a8\"]\nperiod = \"30s\"",
    },
    EffectSpec {
        name: "chase",
        summary: "A lit window of `width` cells stepping along the layer every `step`, repeating every `every` cells.",
        params: &[
            p("colors", Unit::Colors, "one or two", N, "[white, black]", "The lit colour, then the unlit one (black = off)."),
            p("step", Unit::Duration, "> 0", 0.5, "0.5s", "Time the window stays on a cell before moving one on. Each cell flashes once per `every` steps: keep `step × every` above 0.33 s on large groups (see the safety check)."),
            p("width", Unit::Count, "1..=100000", 1.0, "1", "Cells lit at once in each window."),
            p("every", Unit::Count, "1..=100000", N, "all cells", "Cells from one window to the next: the pattern repeats every `every` cells along the axis."),
        ],
        example: "target = \"bridge\"\neffect = \"chase\"\ncolors = [\"#ff2020\", \"#200000\"]\nstep = \"0.25s\"\nwidth = 2\nevery = 8",
    },
    EffectSpec {
        name: "wave",
        summary: "A travelling sine along the layer's axis: between two colours, or one colour's level with the given depth.",
        params: &[
            p("colors", Unit::Colors, "one or two", N, "[white]", "One colour (its level waves) or two (the colour waves between them)."),
            p("speed", Unit::Speed, "any (negative runs backwards)", 2.0, "2 m/s", "How fast the crests travel along the axis."),
            p("wavelength", Unit::Distance, "> 0", 50.0, "50 m", "Distance from crest to crest."),
            p("depth", Unit::Level, "0..=1", 1.0, "1", "With one colour: how far the level dips in the troughs (1 = to dark)."),
        ],
        example: "target = \"avenue\"\neffect = \"wave\"\ncolors = [\"3000K\", \"#ffb000\"]\nspeed = \"4 m/s\"\nwavelength = \"120 m\"",
    },
    EffectSpec {
        name: "gradient",
        summary: "Colours spread evenly across the layer's extent along its axis, optionally scrolling.",
        params: &[
            p("colors", Unit::Colors, "one or more", N, "[white]", "The colour stops, first to last along the axis."),
            p("speed", Unit::Speed, "any", 0.0, "0 m/s", "Scroll speed of the gradient (0 = still)."),
        ],
        example: "target = \"facade\"\neffect = \"gradient\"\ncolors = [\"#ff8c00\", \"#ffd8a8\", \"#ff8c00\"]\nspeed = \"0.2 m/s\"",
    },
    EffectSpec {
        name: "rainbow",
        summary: "Hues spread along the axis (over `wavelength`) and cycling in time (every `period`).",
        params: &[
            p("speed", Unit::Speed, "any", 0.0, "0 m/s", "How fast the hues travel along the axis (needs `wavelength`)."),
            p("wavelength", Unit::Distance, "> 0", 100.0, "none (every cell the same hue)", "Distance over which the hues go once round the colour wheel."),
            p("period", Unit::Duration, "> 0", 20.0, "20s (when no wavelength)", "Time for the hues to go once round the wheel in place."),
            p("saturation", Unit::Level, "0..=1", 1.0, "1", "1 = pure hues, lower = pastel."),
        ],
        example: "target = \"square\"\neffect = \"rainbow\"\nwavelength = \"40 m\"\nspeed = \"5 m/s\"",
    },
    EffectSpec {
        name: "twinkle",
        summary: "Random sparkles over a base colour, the same on every controller (deterministic from `seed`).",
        params: &[
            p("colors", Unit::Colors, "one or two", N, "[white, white]", "The base colour, then the sparkle colour."),
            p("density", Unit::Level, "0..=1", 0.1, "0.1", "Share of cells sparkling at any moment."),
            p("duration", Unit::Duration, "> 0", 1.0, "1s", "How long one sparkle takes to rise and fall."),
            p("seed", Unit::Integer, "any u64", 1.0, "1", "Changes the random pattern."),
        ],
        example: "target = \"trees\"\neffect = \"twinkle\"\ncolors = [\"3000K\", \"white\"]\ndensity = 0.3\nduration = \"2s\"",
    },
    EffectSpec {
        name: "pulse",
        summary: "The level breathing with a raised cosine.",
        params: &[
            p("color", Unit::Color, "any colour", N, "white", "The colour."),
            p("period", Unit::Duration, "> 0", 4.0, "4s", "One breath, from low to high and back. Below 0.67 s on a large group it fails the safety check."),
            p("depth", Unit::Level, "0..=1", 1.0, "1", "How far the level dips (1 = to dark, 0.4 = a gentle swell)."),
        ],
        example: "target = \"bridge\"\neffect = \"pulse\"\ncolor = \"#1e3cff\"\nperiod = \"12s\"\ndepth = 0.4",
    },
    EffectSpec {
        name: "sequence",
        summary: "A timeline of cues, each fading to its colour and level; loops if asked.",
        params: &[
            p("cues", Unit::Cues, "one or more, in time order", N, "(required)", "`{ at = \"20s\", color = \"#ff2080\", level = 1, fade = \"3s\" }`: at `at` after the start, fade over `fade` to `color` at `level`."),
            p("loop", Unit::Bool, "true / false", N, "false", "Start again after the last cue."),
            p("period", Unit::Duration, "> 0, after the last cue", N, "evenly spaced", "Loop length (with `loop = true`); by default the last cue lasts as long as the gap before it."),
        ],
        example: "target = \"square\"\neffect = \"sequence\"\nloop = true\ncues = [\n  { at = \"0s\",  color = \"#0050ff\", fade = \"3s\" },\n  { at = \"20s\", color = \"#ff2080\", fade = \"3s\" },\n]",
    },
    EffectSpec {
        name: "media",
        summary: "A picture, animation or video mapped onto the target's cells by where they are: on the surface they stand on (top = up), else in plan (top = north). Each cell shows the picture's average over its footprint; the frame is chosen by the time since the show started (docs/media.md).",
        params: &[
            p("source", Unit::Text, "a file or folder in the show's folder, builtin:test-card, builtin:sweep", N, "(required)", "PNG, JPEG, WebP, GIF, APNG, animated WebP or MP4 (H.264), or a folder of numbered frames (`fireworks/`: 0001.png, 0002.png, … with `fps`), relative to the show's folder; decoded once when the site loads."),
            p("fit", Unit::Text, "stretch / contain / cover", N, "stretch", "stretch: the picture's corners on the corners of the cells' box; contain: all of it, aspect kept (dark bars); cover: the box filled, aspect kept (overflow cut)."),
            p("x", Unit::Number, "any", 0.0, "0", "Moves the picture right by this share of the box's width."),
            p("y", Unit::Number, "any", 0.0, "0", "Moves the picture up by this share of the box's height."),
            p("scale", Unit::Number, "> 0, up to 1000", 1.0, "1", "Size after fitting (2 = twice as large)."),
            p("rotate", Unit::Degrees, "any", 0.0, "0", "Turns the picture clockwise about its centre."),
            p("rate", Unit::Number, "-100..=100", 1.0, "1", "Playback speed (0.5 = half speed, 0 = hold the `start` frame)."),
            p("start", Unit::Duration, ">= 0", 0.0, "0s", "Where in the clip the show's start falls."),
            p("loop", Unit::Bool, "true / false", N, "true", "Play again from the start after the end (false: play once, hold the last frame)."),
            p("repeat", Unit::Integer, "1 or more", N, "for ever", "With `loop`: plays before holding the last frame."),
            p("fps", Unit::Number, "> 0, up to 120", N, "(required for a folder)", "Frames a second of a folder of numbered frames (files keep their own timing)."),
        ],
        example: "target = \"facade\"\neffect = \"media\"\nsource = \"builtin:test-card\"\nfit = \"contain\"\nrate = 1\nstart = \"2s\"\nx = 0\ny = 0\nscale = 1\nrotate = 0\nrepeat = 3",
    },
    EffectSpec {
        name: "text",
        summary: "One line of text in the bundled CJK font (Noto Sans CJK SC Bold subset: ASCII, the 3,755 common hanzi, festival words), on the target's cells by where they are, like media: standing still or scrolling. A character the font lacks shows as a box and check warns (docs/media-video-text.md).",
        params: &[
            p("text", Unit::Text, "one line", N, "(required)", "The words, e.g. \"新年快乐 2027\"."),
            p("size", Unit::Level, "> 0", 0.8, "80%", "The text's height (one em: a hanzi's height) as a share of the target's height."),
            p("color", Unit::Color, "any colour", N, "white", "The text's colour; around the letters the layers below show through (dark over nothing)."),
            p("speed", Unit::Speed, "any (0 stands still)", 0.0, "0 m/s", "Scroll speed along the target (right on a facade, east in plan); positive moves the text leftward, in from the right edge, looping."),
            p("align", Unit::Text, "left / center / right", N, "center", "Where text standing still sits across the target (vertically it is centred)."),
        ],
        example: "target = \"facade\"\neffect = \"text\"\ntext = \"新年快乐\"\nsize = \"80%\"\ncolor = \"#ff3030\"\nspeed = \"0 m/s\"\nalign = \"center\"",
    },
];

/// Keys every layer takes, whatever its effect.
pub const COMMON: &[Param] = &[
    p("target", Unit::Text, "a group, fixture name or glob", N, "(required)", "Which fixtures the layer drives."),
    p("effect", Unit::Text, "an effect name", N, "(required)", "One of the effects below."),
    p("level", Unit::Level, "0..=1", 1.0, "1", "The layer's intensity."),
    p("blend", Unit::Text, "ltp / htp", N, "ltp", "ltp: the layer replaces what is below; htp: the brighter wins per primary."),
    p("direction", Unit::Degrees, "0..360 (compass degrees)", N, "along the path", "The axis effects travel along: a heading, else the path the fixtures stand on, else the longer side of their extent."),
];

/// Moving-head keys any layer may set; a layer that sets one drives the
/// pan, tilt, zoom and strobe of the moving heads among its fixtures
/// (fixtures without those channels ignore them).
pub const MOTION: &[Param] = &[
    p("pan", Unit::Degrees, "within the profile's pan_range", 0.0, "0", "Pan from centre."),
    p("tilt", Unit::Degrees, "within the profile's tilt_range", 0.0, "0", "Tilt from centre."),
    p("pan_sweep", Unit::Degrees, "any", 0.0, "0", "Amplitude of a slow sinusoidal pan sweep around `pan` (uses `period`, default 30s)."),
    p("tilt_sweep", Unit::Degrees, "any", 0.0, "0", "Amplitude of the tilt sweep around `tilt`, at half the pan rate so the beam draws a figure."),
    p("zoom", Unit::Level, "0..=1", 0.5, "0.5", "Beam zoom (0 = narrowest)."),
    p("strobe", Unit::Level, "0..=1", 0.0, "0", "Strobe channel level (0 = open, no strobe); the profile's `strobe_hz` says how many flashes a second a level is. Strobing faster than the safety threshold on a large group fails the safety check; on a profile without `strobe_hz`, any strobe above 0 does."),
];

/// Examples for the layer keys no effect example above uses (TOML values),
/// so the schema can show an example for every key.
const EXTRA_EXAMPLES: &[(&str, &str)] = &[
    ("color", "\"3000K\""),
    ("blend", "\"htp\""),
    ("direction", "90"),
    ("seed", "7"),
    ("fps", "25"),
    ("pan", "0"),
    ("tilt", "30"),
    ("pan_sweep", "60"),
    ("tilt_sweep", "10"),
    ("zoom", "0.3"),
    ("strobe", "0"),
    ("period", "\"12s\""),
    ("level", "0.6"),
    ("saturation", "0.6"),
];

/// Every key a layer may carry, with the effects that read it: the layer
/// keys of the show schema, in table order.
pub fn layer_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = COMMON.iter().map(|p| p.key).collect();
    for e in EFFECTS {
        for p in e.params {
            if !keys.contains(&p.key) {
                keys.push(p.key);
            }
        }
    }
    for p in MOTION {
        keys.push(p.key);
    }
    keys
}

/// The JSON Schema pattern a value of this unit must match (strings only).
fn unit_pattern(unit: Unit) -> Option<&'static str> {
    match unit {
        Unit::Duration => Some(crate::units::DURATION_PATTERN),
        Unit::Speed => Some(crate::units::SPEED_PATTERN),
        Unit::Distance => Some(crate::units::DISTANCE_PATTERN),
        _ => None,
    }
}

fn describe_param(p: &Param) -> String {
    format!(
        "{} Unit: {}; range {}; default {}.",
        p.meaning,
        p.unit.describe(),
        p.range,
        p.default_text
    )
}

/// Schema transform for a `[[layers]]` table (`#[schemars(transform)]` on
/// the show parser's raw layer): every key's description, unit pattern,
/// range and example come from this table, and `effect` may only name an
/// effect in it, so the schema, the compiler and `nightscape effects`
/// cannot disagree.
pub fn layer_schema(schema: &mut schemars::Schema) {
    use serde_json::{json, Value};
    let mut examples: Vec<(String, Value)> = Vec::new();
    let mut add_examples = |toml_text: &str| {
        if let Ok(t) = toml::from_str::<toml::Table>(toml_text) {
            for (k, v) in t {
                if !examples.iter().any(|(key, _)| *key == k) {
                    if let Ok(j) = serde_json::to_value(&v) {
                        examples.push((k, j));
                    }
                }
            }
        }
    };
    for e in EFFECTS {
        add_examples(e.example);
    }
    for (k, v) in EXTRA_EXAMPLES {
        add_examples(&format!("{k} = {v}"));
    }
    let Some(Value::Object(props)) = schema.get_mut("properties") else {
        return;
    };
    for (key, prop) in props.iter_mut() {
        let Value::Object(prop) = prop else { continue };
        let own = COMMON.iter().chain(MOTION).find(|p| p.key == key);
        let readers: Vec<(&EffectSpec, &Param)> = EFFECTS
            .iter()
            .filter_map(|e| e.param(key).map(|p| (e, p)))
            .collect();
        let mut text = String::new();
        if let Some(p) = own {
            text = describe_param(p);
            if let Some(pat) = unit_pattern(p.unit) {
                prop.insert("pattern".into(), json!(pat));
            }
        } else if key == "color" {
            text = "One colour: hex, a CSS name or a colour temperature (\"#ffb000\", \"orange\", \"3000K\"); the same as `colors` with one entry.".into();
        }
        if !readers.is_empty() {
            let unit = readers[0].1.unit;
            if text.is_empty() {
                text = format!("Unit: {}.", unit.describe());
            }
            text.push_str(" Read by:");
            for (e, p) in &readers {
                text.push_str(&format!(
                    "\n- {}: {} (range {}; default {})",
                    e.name, p.meaning, p.range, p.default_text
                ));
            }
            if let Some(pat) = unit_pattern(unit) {
                prop.insert("pattern".into(), json!(pat));
            }
            if unit == Unit::Count {
                prop.insert("minimum".into(), json!(1));
                prop.insert("maximum".into(), json!(100_000));
            }
            let others: Vec<&str> = EFFECTS
                .iter()
                .filter(|e| !e.reads(key))
                .map(|e| e.name)
                .collect();
            if !others.is_empty() && key != "color" && key != "colors" {
                text.push_str(&format!(
                    "\nHas no effect on {} layers (`check` warns).",
                    others.join(", ")
                ));
            }
        }
        if key == "effect" {
            prop.insert("enum".into(), json!(names()));
            text.push_str(" Effects:");
            for e in EFFECTS {
                text.push_str(&format!("\n- {}: {}", e.name, e.summary));
            }
        }
        if key == "blend" {
            // Case does not matter to the compiler; the enum is for completion.
            prop.remove("type");
            prop.insert(
                "anyOf".into(),
                crate::schema::words_any_case(&["ltp", "htp"]),
            );
        }
        if !text.is_empty() {
            prop.insert("description".into(), json!(text.trim()));
        }
        if let Some((_, v)) = examples.iter().find(|(k, _)| k == key) {
            prop.insert("examples".into(), json!([v]));
        }
    }
    // A sequence needs its cues; other effects' missing keys take defaults.
    schema.insert(
        "allOf".into(),
        json!([{
            "if": { "properties": { "effect": { "const": "sequence" } }, "required": ["effect"] },
            "then": { "required": ["cues"] }
        }]),
    );
    schema.insert(
        "description".into(),
        json!("One layer: an effect on a target. `nightscape effects` lists every effect and its keys."),
    );
}

/// The effect called `name`.
pub fn spec(name: &str) -> Option<&'static EffectSpec> {
    EFFECTS.iter().find(|e| e.name == name)
}

/// Every effect name, in table order.
pub fn names() -> Vec<&'static str> {
    EFFECTS.iter().map(|e| e.name).collect()
}

/// The reference as Markdown (`docs/effects.md` is exactly this).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Effect reference\n\n<!-- Generated from crates/nightscape-core/src/show/reference.rs by `nightscape effects --markdown`; a test keeps it in sync. Do not edit by hand. -->\n\nEvery `[[layers]]` table of a show names a `target` and an `effect`; the keys below say what each effect reads. A key an effect does not read is warned about by `nightscape check`.\n\n## Keys of every layer\n\n| key | range | default | meaning |\n| --- | --- | --- | --- |\n",
    );
    for p in COMMON {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            p.key, p.range, p.default_text, p.meaning
        ));
    }
    for e in EFFECTS {
        s.push_str(&format!("\n## `{}`\n\n{}\n\n", e.name, e.summary));
        s.push_str("| key | unit | range | default | meaning |\n| --- | --- | --- | --- | --- |\n");
        for p in e.params {
            s.push_str(&markdown_row(p));
        }
        s.push_str(&format!("\n```toml\n[[layers]]\n{}\n```\n", e.example));
    }
    s.push_str("\n## Moving heads\n\nAny layer may also set these; they drive the pan, tilt, zoom and strobe channels of the moving heads among its fixtures.\n\n| key | unit | range | default | meaning |\n| --- | --- | --- | --- | --- |\n");
    for p in MOTION {
        s.push_str(&markdown_row(p));
    }
    s
}

/// One key of an effect (or of the moving heads) as a Markdown table row.
fn markdown_row(p: &Param) -> String {
    format!(
        "| `{}` | {} | {} | {} | {} |\n",
        p.key,
        p.unit.describe(),
        p.range,
        p.default_text,
        p.meaning.replace('|', "\\|")
    )
}

/// One key of an effect (or of the moving heads) as terminal text.
fn text_row(p: &Param) -> String {
    format!(
        "    {:<11} {} · {} · default {}\n                {}\n",
        p.key,
        p.unit.describe(),
        p.range,
        p.default_text,
        p.meaning
    )
}

/// The reference as plain text for a terminal.
pub fn text() -> String {
    let mut s = String::new();
    for e in EFFECTS {
        s.push_str(&format!("{}: {}\n", e.name, e.summary));
        for p in e.params {
            s.push_str(&text_row(p));
        }
        let ex = e.example.replace('\n', "\n      ");
        s.push_str(&format!("  example:\n      [[layers]]\n      {ex}\n\n"));
    }
    s.push_str("moving heads (any layer):\n");
    for p in MOTION {
        s.push_str(&text_row(p));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_examples_parse_as_toml() {
        let mut n = names();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), EFFECTS.len());
        for e in EFFECTS {
            let t: toml::Table =
                toml::from_str(e.example).unwrap_or_else(|err| panic!("{}: {err}", e.name));
            assert_eq!(t["effect"].as_str(), Some(e.name));
            for key in t.keys() {
                assert!(
                    e.reads(key)
                        || COMMON.iter().any(|c| c.key == *key)
                        || key == "color"
                        || key == "colors",
                    "{}: the example uses `{key}`, which the table does not list",
                    e.name
                );
            }
        }
    }
}

#[cfg(test)]
mod agreement {
    use super::*;
    use crate::diag::{Diagnostics, SourceFile};

    /// Every row compiles from its own example against a small site, to an
    /// effect whose name is the row's: the table, the compiler and
    /// `Effect::name` agree.
    #[test]
    fn every_example_compiles_to_its_effect() {
        let site_text = "name = \"t\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\n[[paths]]\nname = \"p\"\npoints = [[0, 0], [100, 0]]\n[[arrays]]\nname = \"lamp\"\nprofile = \"dim\"\npath = \"p\"\nmode = \"3ch\"\nspacing = 10\nstart = \"0.1\"\n[groups]\ntrees = [\"lamp-*\"]\navenue = [\"lamp-*\"]\narcade = [\"lamp-*\"]\nbridge = [\"lamp-*\"]\nfacade = [\"lamp-*\"]\nsquare = [\"lamp-*\"]\n";
        let profile = "name = \"d\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
        let sources = crate::config::Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site_text),
            profiles: vec![SourceFile::new("fixtures/dim.toml", profile)],
            profiles_unreadable: None,
            shows: EFFECTS
                .iter()
                .map(|e| {
                    SourceFile::new(
                        format!("t/{}.toml", e.name),
                        format!("[[layers]]\n{}\n", e.example),
                    )
                })
                .collect(),
        };
        let cfg = crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items));
        for e in EFFECTS {
            let show = cfg.show(e.name).unwrap();
            assert_eq!(show.layers[0].effect.name(), e.name);
            // The per-cell phase kept for the renderer: a twinkle's hash of
            // (seed, cell) for every cell, nothing for any other effect.
            let layer = &show.layers[0];
            match layer.effect {
                crate::show::effect::Effect::Twinkle { seed, .. } => {
                    assert_eq!(layer.phase.len(), layer.cells.len());
                    for (&cell, &phase) in layer.cells.iter().zip(&layer.phase) {
                        let want = crate::show::effect::twinkle_phase(seed, cell);
                        assert_eq!(phase.to_bits(), want.to_bits(), "cell {cell}");
                    }
                }
                _ => assert!(layer.phase.is_empty(), "{}", e.name),
            }
        }
    }
}
