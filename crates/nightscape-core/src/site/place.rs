//! The site's place and pace: where it is (latitude, longitude and
//! timezone, which the sun and the schedule's wall clock read), how often
//! frames go out (`fps`), and what the outputs are left with when the
//! daemon stops (`shutdown`). Each value is checked at its key; a bad one
//! costs only its default, so the rest of the file is still checked.

use super::RawSite;
use crate::diag::{Diagnostics, SourceFile};
use serde::Deserialize;
use std::ops::Range;

/// What the daemon leaves on the wire when it stops (`shutdown` in the
/// site file): hold the last frame (the default: a service restart must
/// not blink a street dark), black out, or a named show's look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnStop {
    Hold,
    Blackout,
    Show(String),
}

/// What the outputs carry when the daemon stops.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(super) enum RawShutdown {
    /// "hold" (keep the last frame; the default) or "blackout".
    #[schemars(extend("enum" = ["hold", "blackout"]))]
    Word(String),
    /// A show's look, sent three times on stop.
    Show {
        /// The show's name.
        #[schemars(example = &"curfew-white")]
        show: String,
    },
}

/// The site's place and pace, checked.
pub(super) struct Place {
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    pub(super) timezone: chrono_tz::Tz,
    pub(super) fps: u32,
    pub(super) on_stop: OnStop,
    /// Where `shutdown` was written (`0..0` when it was not).
    pub(super) on_stop_span: Range<usize>,
}

/// Read `latitude`, `longitude`, `timezone`, `shutdown` and `fps`, in that
/// order, each problem at its key.
pub(super) fn compile(file: &SourceFile, raw: &RawSite, diags: &mut Diagnostics) -> Place {
    let lat = *raw.latitude.get_ref();
    if !(-90.0..=90.0).contains(&lat) {
        diags.error(
            file,
            raw.latitude.span(),
            format!("latitude {lat} is out of range -90..90"),
        );
    }
    let lon = *raw.longitude.get_ref();
    if !(-180.0..=180.0).contains(&lon) {
        diags.error(
            file,
            raw.longitude.span(),
            format!("longitude {lon} is out of range -180..180"),
        );
    }
    let timezone: chrono_tz::Tz = raw.timezone.get_ref().parse().unwrap_or_else(|_| {
        diags.error(
            file,
            raw.timezone.span(),
            format!(
                "unknown timezone `{}`: use an IANA name like \"Asia/Shanghai\"",
                raw.timezone.get_ref()
            ),
        );
        chrono_tz::UTC
    });
    let (on_stop, on_stop_span) = match &raw.shutdown {
        None => (OnStop::Hold, 0..0),
        Some(s) => {
            let on_stop = match s.get_ref() {
                RawShutdown::Word(w) if w == "hold" => OnStop::Hold,
                RawShutdown::Word(w) if w == "blackout" => OnStop::Blackout,
                RawShutdown::Word(w) => {
                    diags.error(
                        file,
                        s.span(),
                        format!(
                            "shutdown `{w}`: use \"hold\", \"blackout\" or {{ show = \"name\" }}"
                        ),
                    );
                    OnStop::Hold
                }
                RawShutdown::Show { show } => OnStop::Show(show.clone()),
            };
            (on_stop, s.span())
        }
    };
    let fps = match &raw.fps {
        None => 40,
        Some(f) if (1..=44).contains(f.get_ref()) => *f.get_ref() as u32,
        Some(f) => {
            diags.error(
                file,
                f.span(),
                format!(
                    "fps {} is out of range: DMX512 carries 1..44 frames per second",
                    f.get_ref()
                ),
            );
            40
        }
    };
    Place {
        latitude: lat,
        longitude: lon,
        timezone,
        fps,
        on_stop,
        on_stop_span,
    }
}
