//! `[rdm]` and `rdm = true` on outputs: which DMX lines the daemon asks
//! for their fixtures over RDM (ANSI E1.20), how often, how gently, and
//! the sensor limits a city sets beyond what each fixture calls normal.
//!
//! Only Art-Net and ENTTEC DMX USB Pro outputs can carry RDM: sACN has
//! none (and RDMnet, E1.33, is out of scope), an Open DMX widget cannot
//! receive. `rdm = true` on those is a warning, not an error, so switching
//! an output's kind stays a one-line edit.
//!
//! ```toml
//! [[outputs]]
//! kind = "artnet"
//! target = "10.0.4.20"
//! universes = "0-3"
//! rdm = true
//!
//! [rdm]
//! every = "15m"          # an incremental discovery of every RDM line this often
//! full_every = "24h"     # and a full one this often (a whole number of `every`)
//! per_frame = 2          # RDM requests per DMX frame at most (1..8)
//! listen = "10.0.4.1:6454"   # optional: where replies are received
//!
//! [[rdm.sensors]]        # a limit beyond the fixture's own normal range
//! kind = "temperature"   # or name = "LED board" (the sensor's description)
//! max = 70               # in the sensor's unit as the fixture reports it
//! ```

use super::outputs::OutputKindName;
use super::{parse_target, RawOutput};
use crate::diag::{Diagnostics, SourceFile, Spanned};
use serde::Deserialize;
use std::net::SocketAddr;

/// The default time between discoveries: 15 minutes.
pub const DEFAULT_EVERY_S: f64 = 900.0;
/// Shortest time between discoveries (a test or a commissioning session).
pub const MIN_EVERY_S: f64 = 1.0;
/// Longest time between discoveries: a week.
pub const MAX_EVERY_S: f64 = 7.0 * 24.0 * 3600.0;
/// The default time between full discoveries: a day.
pub const DEFAULT_FULL_EVERY_S: f64 = 24.0 * 3600.0;
/// Longest time between full discoveries: 30 days.
pub const MAX_FULL_EVERY_S: f64 = 30.0 * 24.0 * 3600.0;
/// RDM requests per DMX frame by default.
pub const DEFAULT_PER_FRAME: u32 = 2;
/// Most RDM requests per frame a site may ask for: more would take a DMX
/// line's time from the frames themselves.
pub const MAX_PER_FRAME: u32 = 8;

/// What `[rdm]` says, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RdmSettings {
    /// Seconds between discoveries (incremental ones but every
    /// [`RdmSettings::full_every_passes`]-th).
    pub every: f64,
    /// Seconds between full discoveries (at least `every`).
    pub full_every: f64,
    /// RDM requests per DMX frame at most.
    pub per_frame: u32,
    /// Where replies are received (and requests sent from); `None`: an
    /// ephemeral port, plus whatever the Art-Net service hands on.
    pub listen: Option<SocketAddr>,
    /// Limits on sensors beyond each fixture's own normal range.
    pub sensors: Vec<SensorLimit>,
}

impl Default for RdmSettings {
    fn default() -> Self {
        RdmSettings {
            every: DEFAULT_EVERY_S,
            full_every: DEFAULT_FULL_EVERY_S,
            per_frame: DEFAULT_PER_FRAME,
            listen: None,
            sensors: Vec::new(),
        }
    }
}

impl RdmSettings {
    /// A full discovery every this many passes (the first pass is full):
    /// `full_every / every`, rounded, at least 1.
    pub fn full_every_passes(&self) -> u64 {
        let n = (self.full_every / self.every.max(MIN_EVERY_S)).round();
        if n.is_finite() && n >= 1.0 {
            n as u64
        } else {
            1
        }
    }
}

/// The E1.20 sensor types a limit can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorKind {
    Temperature,
    Voltage,
    Current,
}

impl SensorKind {
    fn parse(text: &str) -> Option<SensorKind> {
        match text.trim() {
            "temperature" => Some(SensorKind::Temperature),
            "voltage" => Some(SensorKind::Voltage),
            "current" => Some(SensorKind::Current),
            _ => None,
        }
    }

    /// The E1.20 sensor type code (Table A-12).
    pub fn code(self) -> u8 {
        match self {
            SensorKind::Temperature => 0x00,
            SensorKind::Voltage => 0x01,
            SensorKind::Current => 0x02,
        }
    }
}

/// Which sensors a limit applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorMatch {
    Kind(SensorKind),
    /// The sensor's description (SENSOR_DEFINITION), any case.
    Name(String),
}

/// A limit on a sensor's value, in its unit as the fixture reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorLimit {
    pub matches: SensorMatch,
    pub min: Option<i32>,
    pub max: Option<i32>,
}

impl SensorLimit {
    /// Whether this limit is about a sensor of type `kind` described as `name`.
    pub fn applies(&self, kind: u8, name: &str) -> bool {
        match &self.matches {
            SensorMatch::Kind(k) => k.code() == kind,
            SensorMatch::Name(n) => n.eq_ignore_ascii_case(name.trim()),
        }
    }

    /// Whether `value` is beyond this limit.
    pub fn exceeded(&self, value: i32) -> bool {
        self.min.is_some_and(|m| value < m) || self.max.is_some_and(|m| value > m)
    }
}

/// `[rdm]` as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRdm {
    /// Time between discoveries of the outputs with `rdm = true`:
    /// 1s..7d (default "15m"). Incremental ones (only new devices are
    /// searched for, the known ones checked) but every `full_every`.
    #[serde(default)]
    #[schemars(example = &"15m", regex(pattern = crate::units::DURATION_PATTERN))]
    every: Option<Spanned<String>>,
    /// Time between full discoveries (every device found again from
    /// scratch; Art-Net nodes told to flush their tables): at least
    /// `every`, at most 720h (default "24h").
    #[serde(default)]
    #[schemars(example = &"24h", regex(pattern = crate::units::DURATION_PATTERN))]
    full_every: Option<Spanned<String>>,
    /// RDM requests per DMX frame at most, 1..8 (default 2), so the DMX
    /// line keeps its frame rate while fixtures are asked.
    #[serde(default)]
    #[schemars(example = 2, range(min = 1, max = 8))]
    per_frame: Option<Spanned<i64>>,
    /// Where RDM replies are received: an IPv4 address and port (default:
    /// an ephemeral port, plus the replies the Art-Net service receives).
    #[serde(default)]
    #[schemars(example = &"10.0.4.1:6454")]
    listen: Option<Spanned<String>>,
    /// Limits on fixtures' sensors beyond their own normal range.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "kind": "temperature", "max": 70 }]))]
    sensors: Vec<Spanned<RawSensorLimit>>,
}

/// One `[[rdm.sensors]]` limit.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSensorLimit {
    /// The sensor type the limit applies to: "temperature", "voltage" or "current".
    #[serde(default)]
    #[schemars(example = &"temperature", extend("enum" = ["temperature", "voltage", "current"]))]
    kind: Option<Spanned<String>>,
    /// Or the sensor's description as the fixture reports it (any case).
    #[serde(default)]
    #[schemars(example = &"LED board")]
    name: Option<String>,
    /// Lowest value still in range, in the sensor's unit as reported.
    #[serde(default)]
    #[schemars(example = 0)]
    min: Option<i32>,
    /// Highest value still in range, in the sensor's unit as reported.
    #[serde(default)]
    #[schemars(example = 70)]
    max: Option<i32>,
}

/// Compile `[rdm]`; each problem at its key.
pub(super) fn compile(
    file: &SourceFile,
    raw: Option<&Spanned<RawRdm>>,
    diags: &mut Diagnostics,
) -> RdmSettings {
    let mut out = RdmSettings::default();
    let Some(raw) = raw else {
        return out;
    };
    let r = raw.get_ref();
    if let Some(e) = &r.every {
        match crate::units::parse_duration(e.get_ref()) {
            Ok(d) if (MIN_EVERY_S..=MAX_EVERY_S).contains(&d) => out.every = d,
            Ok(_) => diags.error(
                file,
                e.span(),
                "`every` must be 1s..7d (a city usually asks every 15m to 1h)",
            ),
            Err(m) => diags.error(file, e.span(), m),
        }
    }
    if let Some(f) = &r.full_every {
        match crate::units::parse_duration(f.get_ref()) {
            Ok(d) if d < out.every => diags.error(
                file,
                f.span(),
                format!(
                    "`full_every` must be at least `every` ({}s): full discoveries are some of the passes",
                    out.every
                ),
            ),
            Ok(d) if d <= MAX_FULL_EVERY_S => out.full_every = d,
            Ok(_) => diags.error(
                file,
                f.span(),
                "`full_every` must be at most 720h (30 days; a city usually runs a full discovery daily)",
            ),
            Err(m) => diags.error(file, f.span(), m),
        }
    } else if out.every > out.full_every {
        // `every` above the default day: every pass is a full one.
        out.full_every = out.every;
    }
    if let Some(p) = &r.per_frame {
        match u32::try_from(*p.get_ref()) {
            Ok(n) if (1..=MAX_PER_FRAME).contains(&n) => out.per_frame = n,
            _ => diags.error(
                file,
                p.span(),
                format!("`per_frame` must be 1..{MAX_PER_FRAME} RDM requests per DMX frame"),
            ),
        }
    }
    if let Some(l) = &r.listen {
        match parse_target(l.get_ref(), 6454) {
            Ok(a) => out.listen = Some(a),
            Err(m) => diags.error(file, l.span(), m),
        }
    }
    for s in &r.sensors {
        let v = s.get_ref();
        let matches = match (&v.kind, &v.name) {
            (Some(k), None) => match SensorKind::parse(k.get_ref()) {
                Some(k) => SensorMatch::Kind(k),
                None => {
                    diags.error(
                        file,
                        k.span(),
                        format!(
                            "unknown sensor kind `{}`: use temperature, voltage or current (or `name` for one sensor)",
                            k.get_ref()
                        ),
                    );
                    continue;
                }
            },
            (None, Some(n)) if !n.trim().is_empty() => SensorMatch::Name(n.trim().to_string()),
            _ => {
                diags.error(
                    file,
                    s.span(),
                    "a sensor limit names either `kind` (temperature, voltage, current) or `name` (the sensor's description), one of them",
                );
                continue;
            }
        };
        if v.min.is_none() && v.max.is_none() {
            diags.error(file, s.span(), "a sensor limit needs `min`, `max` or both");
            continue;
        }
        if let (Some(lo), Some(hi)) = (v.min, v.max) {
            if lo > hi {
                diags.error(file, s.span(), format!("`min` {lo} is above `max` {hi}"));
                continue;
            }
        }
        out.sensors.push(SensorLimit {
            matches,
            min: v.min,
            max: v.max,
        });
    }
    out
}

/// `rdm` on one output: whether the daemon asks that output's line, with
/// a warning where the kind cannot carry RDM.
pub(super) fn output_rdm(
    file: &SourceFile,
    ro: &RawOutput,
    kind: OutputKindName,
    diags: &mut Diagnostics,
) -> bool {
    let Some(flag) = &ro.rdm else {
        return false;
    };
    if !*flag.get_ref() {
        return false;
    }
    let why = match kind {
        OutputKindName::Artnet | OutputKindName::EnttecPro => return true,
        OutputKindName::Sacn => "sACN has no RDM (RDMnet, E1.33, is not supported): use an Art-Net output to the same node for device care",
        OutputKindName::OpenDmx => "an Open DMX widget cannot receive, so it has no RDM: an ENTTEC DMX USB Pro can",
    };
    diags.warn(file, flag.span(), format!("`rdm` is ignored: {why}"));
    false
}

#[cfg(test)]
mod tests {
    use crate::diag::{Diagnostics, SourceFile};

    fn site_text(kind: &str, extra_output: &str, rdm: &str) -> String {
        format!(
            "name = \"t\"\nlatitude = 25.0\nlongitude = 102.7\ntimezone = \"Asia/Shanghai\"\n\
             [[outputs]]\nkind = \"{kind}\"\ntarget = \"10.0.4.20\"\nuniverses = 1\n{extra_output}\n{rdm}\n"
        )
    }

    /// The site and its diagnostics (errors and warnings, as printed).
    fn load(text: &str) -> (Option<crate::site::Site>, String) {
        let mut d = Diagnostics::new();
        let lib = crate::site::parse_profiles(&[], &mut d);
        let site = crate::site::compile(&SourceFile::new("site.toml", text), lib, &mut d);
        let ok = !d.has_errors();
        (site.filter(|_| ok), d.to_string())
    }

    #[test]
    fn rdm_settings_are_read_with_their_defaults_and_limits() {
        let (site, d) = load(&site_text("artnet", "rdm = true", ""));
        let site = site.unwrap_or_else(|| panic!("{d}"));
        assert!(site.outputs[0].rdm);
        assert_eq!(site.rdm, super::RdmSettings::default());
        let (site, d) = load(&site_text(
            "artnet",
            "",
            "[rdm]\nevery = \"1h\"\nfull_every = \"24h\"\nper_frame = 3\nlisten = \"10.0.4.1\"\n[[rdm.sensors]]\nkind = \"temperature\"\nmax = 70\n[[rdm.sensors]]\nname = \"LED board\"\nmin = 5\n",
        ));
        let site = site.unwrap_or_else(|| panic!("{d}"));
        assert!(!site.outputs[0].rdm);
        assert_eq!(site.rdm.every, 3600.0);
        assert_eq!(site.rdm.full_every, 86400.0);
        assert_eq!(site.rdm.full_every_passes(), 24);
        assert_eq!(site.rdm.per_frame, 3);
        assert_eq!(site.rdm.listen, Some("10.0.4.1:6454".parse().unwrap()));
        assert!(site.rdm.sensors[0].applies(0, "anything"));
        assert!(!site.rdm.sensors[0].applies(1, "anything"));
        assert!(site.rdm.sensors[0].exceeded(71) && !site.rdm.sensors[0].exceeded(70));
        assert!(site.rdm.sensors[1].applies(1, "led BOARD "));
        assert!(site.rdm.sensors[1].exceeded(4));
    }

    #[test]
    fn bad_rdm_settings_are_refused_at_their_key() {
        for (rdm, says) in [
            ("[rdm]\nevery = \"0.5s\"", "`every` must be 1s..7d"),
            ("[rdm]\nper_frame = 9", "`per_frame` must be 1..8"),
            (
                "[rdm]\nevery = \"1h\"\nfull_every = \"30m\"",
                "`full_every` must be at least `every`",
            ),
            ("[rdm]\nfull_every = \"960h\"", "at most 720h"),
            ("[rdm]\nfull_every = \"often\"", "site.toml:"),
            ("[rdm]\nlisten = \"nowhere:x\"", "not an IPv4 address"),
            (
                "[[rdm.sensors]]\nmax = 3\nkind = \"temperature\"\nname = \"x\"",
                "either `kind`",
            ),
            (
                "[[rdm.sensors]]\nkind = \"temperature\"",
                "needs `min`, `max`",
            ),
            ("[[rdm.sensors]]\nkind = \"pressure\"\nmax = 1", "pressure"),
            ("[rdm]\noften = true", "often"),
        ] {
            let (site, d) = load(&site_text("artnet", "", rdm));
            assert!(site.is_none(), "{rdm}: loaded");
            assert!(d.contains(says), "{rdm}: {d}");
            assert!(d.contains("site.toml:"), "{d}");
        }
    }

    #[test]
    fn rdm_on_sacn_is_a_warning_that_says_why() {
        let (site, d) = load(&site_text("sacn", "rdm = true", ""));
        let site = site.unwrap_or_else(|| panic!("{d}"));
        assert!(!site.outputs[0].rdm);
        assert!(d.contains("sACN has no RDM"), "{d}");
    }
}
