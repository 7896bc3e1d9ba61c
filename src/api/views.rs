//! The API's request and response shapes, with their OpenAPI schemas.
//!
//! Requests reject unknown fields (a typo like `"levle"` must not silently
//! do nothing to a street) and take levels, durations and priorities the
//! way the files write them: `0.3` or `"30%"`, `5` or `"5m"`, `2000` or
//! `"emergency"`, parsed by the same functions as the files. Responses are
//! views computed at the instant of the request (`remaining_s`, `state`).

use crate::config::Config;
use crate::control::{self, Action, ItemState, Master, Override, Scene};
use chrono::{DateTime, Utc};
use nightscape_core::units;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

pub(crate) use crate::control::{DEFAULT_FADE_S, MAX_SECONDS, MAX_TEXT};

/// A calendar date YYYY-MM-DD, or empty (the default), with spaces around
/// allowed: exactly the dates `NaiveDate::parse_from_str(_, "%Y-%m-%d")`
/// reads after the handlers trim spaces (`trim_matches(' ')`). Months have
/// their own lengths and 29 February only leap years (Gregorian: every 4th,
/// not centuries unless divisible by 400), so `2365-06-31` is refused here as
/// by the handler; tabs, newlines and other control characters are refused.
/// Checked against every date of years 0000..=9999 in the unit tests.
pub(crate) const DATE_PATTERN: &str = r"^ *([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)? *$";

/// The schema of a date query parameter ([`DATE_PATTERN`]).
fn date_param() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(DATE_PATTERN))
        .build()
}

/// The schema of an optional `night` in a JSON body ([`DATE_PATTERN`], or null).
fn night_field() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(DATE_PATTERN))
        .description(Some(
            "The night, YYYY-MM-DD (default: the night in progress).",
        ))
        .build()
}

/// One part of a duration as [`units::parse_duration`] reads it: a decimal
/// number and a unit.
const DURATION_UNIT: &str = "(hours?|hr|h|minutes?|mins?|m|seconds?|secs?|ms|s)";
const DURATION_NUMBER: &str = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)";
/// A decimal number with a digit other than 0 (so its value is more than 0).
const DURATION_NONZERO: &str = r"(0*[1-9][0-9]*(\.[0-9]*)?|0*\.0*[1-9][0-9]*)";

/// The string form of a duration of more than 0 s: a bare number of seconds
/// ("90", "+2.5") or a sum of parts ("1h30m", "500ms") of which one is not
/// zero. Stricter than the parser in two ways a client never needs: no
/// exponents ("1e3") and only spaces (no tabs) around and between parts.
pub(crate) fn positive_duration_pattern() -> String {
    let (u, n, nz) = (DURATION_UNIT, DURATION_NUMBER, DURATION_NONZERO);
    format!(r"^ *(\+?{nz}|({n} *{u} *)*{nz} *{u}( *{n} *{u})*) *$")
}

/// `duration` of a scene and `by` of an extend: the handlers refuse 0 and
/// anything over a year, so the schema does too (a number in (0, a year], or
/// a string of [`positive_duration_pattern`]).
fn positive_duration() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .exclusive_minimum(Some(0.0))
                    .maximum(Some(MAX_SECONDS)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(positive_duration_pattern())),
            )
            .description(Some(
                "More than 0 s and at most a year: seconds as a number (90), or a string as \
             the site files write it (\"30m\", \"1h30m\", \"500ms\").",
            ))
            .build(),
    )
}

/// A priority as [`Quantity::priority`] reads it: a whole number
/// 0..=emergency (2000.0 is one, as JSON Schema's `integer` says; 2.5 is
/// refused), or a band name in any case, or such a number as text.
fn priority_schema() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0.0))
                    .maximum(Some(control::EMERGENCY as f64)),
            )
            .item(
                ObjectBuilder::new().schema_type(Type::String).pattern(Some(
                    r"^ *([Ss][Cc][Hh][Ee][Dd][Uu][Ll][Ee]|[Ss][Cc][Ee][Nn][Ee]|[Oo][Vv][Ee][Rr][Rr][Ii][Dd][Ee]|[Ee][Mm][Ee][Rr][Gg][Ee][Nn][Cc][Yy]|\+?0*([0-9]{1,6}|1000000))? *$",
                )),
            )
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "A whole number 0..1000000, or \"schedule\" (0), \"scene\" (1000), \
                 \"override\" (2000), \"emergency\" (1000000).",
            ))
            .build(),
    )
}

/// A number, or a string the file parsers read ("30%", "5m", "emergency").
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string like \"80%\" or \"5m\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// As it was read: the request's canonical JSON (the `Idempotency-Key`
/// fingerprint) holds the number or the text.
impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Quantity::Number(n) => s.serialize_f64(*n),
            Quantity::Text(t) => s.serialize_str(t),
        }
    }
}

impl PartialSchema for Quantity {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Number, Type::String]))
            .description(Some(
                "A number, or a string as the site files write it: levels 0.3 or \"30%\", \
                 durations 300 (seconds) or \"5m\", priorities 2000 or \"scene\" / \"override\" / \"emergency\".",
            ))
            .into()
    }
}
impl ToSchema for Quantity {}

impl Quantity {
    /// A level in 0..=1.
    pub fn level(&self) -> Result<f64, String> {
        match self {
            Quantity::Number(v) => units::check_level(*v),
            Quantity::Text(t) => units::parse_level_str(t),
        }
    }

    /// A duration in seconds, 0..=a year.
    pub fn duration(&self) -> Result<f64, String> {
        let s = match self {
            Quantity::Number(v) if v.is_finite() && *v >= 0.0 => *v,
            Quantity::Number(v) => {
                return Err(format!("{v} is not a duration: use 0 or more seconds"))
            }
            Quantity::Text(t) => units::parse_duration(t)?,
        };
        if s > MAX_SECONDS {
            return Err(format!("{s} s is longer than a year"));
        }
        Ok(s)
    }

    /// A priority: a band name or a whole number 0..=emergency.
    pub fn priority(&self, default: i32) -> Result<i32, String> {
        match self {
            Quantity::Number(v) if v.fract() == 0.0 && v.is_finite() => {
                control::parse_priority(&format!("{v:.0}"), default)
            }
            Quantity::Number(v) => Err(format!("priority {v} is not a whole number")),
            Quantity::Text(t) => control::parse_priority(t, default),
        }
    }
}

/// `POST /api/overrides`: exactly one of `level`, `color`, `show`, `blackout`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// A group, a fixture name or a glob; `"*"` is the whole site.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub target: String,
    /// Scale what plays on the target (a zone dimmer): 0.3 or "30%".
    pub level: Option<Quantity>,
    /// A steady colour: "#ff2080", "warmwhite", "3000K".
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub color: Option<String>,
    /// Play this show on the target.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub show: Option<String>,
    /// Dark, whatever plays (`true`).
    pub blackout: Option<bool>,
    /// Default "override"; "emergency" can only be overridden by another emergency.
    #[schema(schema_with = priority_schema)]
    pub priority: Option<Quantity>,
    /// How long it lasts ("5m"); absent = until released.
    pub ttl: Option<Quantity>,
    /// Fade in and out; default 2 s, a blackout cuts (0 s).
    pub fade: Option<Quantity>,
    /// Why, for the audit log and the status page.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub note: Option<String>,
}

/// `POST /api/scenes/{show}/trigger`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// How long the scene plays ("30m"); more than 0.
    #[schema(schema_with = positive_duration)]
    pub duration: Quantity,
    /// Default "scene" (above the schedule, below overrides).
    #[schema(schema_with = priority_schema)]
    pub priority: Option<Quantity>,
    /// Restrict the show to a group, fixture or glob.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub target: Option<String>,
    /// Fade in and out; default the show's own fade times.
    pub fade: Option<Quantity>,
}

/// `POST /api/master`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MasterRequest {
    /// 0..1 or "0%".."100%"; 1 removes the master.
    pub level: Quantity,
    /// A group, fixture or glob; default "*" (the grand master).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub target: Option<String>,
}

/// `DELETE /api/overrides?target=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    /// Only overrides on this target (the same string, or fixtures all within it).
    #[param(min_length = 1, max_length = 500, pattern = r"\S")]
    pub target: Option<String>,
}

/// `GET /api/schedule?from=&days=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    /// First night, YYYY-MM-DD (default: tonight).
    #[param(schema_with = date_param)]
    pub from: Option<String>,
    /// Nights to plan, 1..366 (1..31 without a token: planning a year is
    /// expensive).
    #[param(pattern = r"^\s*(\+?0*([1-9][0-9]?|[12][0-9]{2}|3[0-5][0-9]|36[0-6]))?\s*$")]
    pub days: Option<String>,
}

/// `GET /api/energy?from=&to=&group=&format=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnergyQuery {
    /// First night, YYYY-MM-DD (default: a week before tonight).
    #[param(schema_with = date_param)]
    pub from: Option<String>,
    /// Last night, YYYY-MM-DD (default: tonight).
    #[param(schema_with = date_param)]
    pub to: Option<String>,
    /// Only this group.
    pub group: Option<String>,
    /// json (default), csv or svg (any case).
    #[param(pattern = r"^\s*([Jj][Ss][Oo][Nn]|[Cc][Ss][Vv]|[Ss][Vv][Gg])?\s*$")]
    pub format: Option<String>,
}

/// `GET /api/audit?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Newest rows to return, 1..1000 (default 100).
    #[param(pattern = r"^\s*(\+?0*([1-9][0-9]{0,2}|1000))?\s*$")]
    pub limit: Option<String>,
    /// Cursor: only rows older than this id (the last id of the previous page).
    #[param(pattern = r"^\s*([+-]?[0-9]{1,18})?\s*$")]
    pub before: Option<String>,
}

/// `GET /api/overrides?after=&limit=`: pages in id order.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverridesQuery {
    /// Cursor: only overrides with a greater id (the last id of the previous page).
    #[param(pattern = r"^\s*([+-]?[0-9]{1,18})?\s*$")]
    pub after: Option<String>,
    /// Overrides to return, 1..1000 (default 1000).
    #[param(pattern = r"^\s*(\+?0*([1-9][0-9]{0,2}|1000))?\s*$")]
    pub limit: Option<String>,
}

/// An override as it stands now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverrideView {
    pub id: i64,
    pub target: String,
    pub kind: OverrideKind,
    pub level: Option<f32>,
    pub color: Option<String>,
    pub show: Option<String>,
    pub priority: i32,
    pub created: DateTime<Utc>,
    /// When its fade-out finishes; null = until released.
    pub expires: Option<DateTime<Utc>>,
    pub remaining_s: Option<f64>,
    pub fade_s: f64,
    pub note: Option<String>,
    /// The token that created it.
    pub author: String,
    pub state: ItemState,
    /// When an operator released it (it is fading out).
    pub released_at: Option<DateTime<Utc>>,
    /// Fixtures the target resolves to now.
    pub fixtures: usize,
    /// In the emergency band: only another emergency overrides it.
    pub emergency: bool,
    /// The id that names this override on every node of the fleet
    /// (`DELETE /api/overrides/{fleet_id}` works on any node); null when
    /// it was not shared over a fleet (yet).
    pub fleet_id: Option<String>,
}

/// What an override does (which of `level`, `color`, `show` it carries,
/// or a blackout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverrideKind {
    /// Scales what plays on the target.
    Level,
    /// A steady colour.
    Color,
    /// Plays a show on the target.
    Show,
    /// Dark, whatever plays.
    Blackout,
}

impl OverrideView {
    pub fn new(
        o: &Override,
        released_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        cfg: &Config,
    ) -> OverrideView {
        let (kind, level, color, show) = match &o.action {
            Action::Level(l) => (OverrideKind::Level, Some(*l), None, None),
            Action::Color(c) => (OverrideKind::Color, None, Some(c.clone()), None),
            Action::Show(s) => (OverrideKind::Show, None, None, Some(s.clone())),
            Action::Blackout => (OverrideKind::Blackout, None, None, None),
        };
        OverrideView {
            id: o.id,
            target: o.target.clone(),
            kind,
            level,
            color,
            show,
            priority: o.priority,
            created: o.created,
            expires: o.expires,
            remaining_s: o
                .expires
                .map(|e| nightscape_core::engine::seconds_between(now, e).max(0.0)),
            fade_s: o.fade,
            note: o.note.clone(),
            author: o.author.clone(),
            state: ItemState::at(now, o.created, o.expires, o.fade, released_at.is_some()),
            released_at,
            fixtures: cfg.site.resolve_target(&o.target).len(),
            emergency: o.priority >= control::EMERGENCY,
            fleet_id: None,
        }
    }

    /// With its fleet-wide id, if the fleet named it.
    pub fn with_fleet_id(mut self, store: &crate::store::Store) -> OverrideView {
        self.fleet_id = store.fleet_id(crate::store::FleetItem::Override, self.id);
        self
    }
}

/// A triggered scene as it stands now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SceneView {
    pub id: i64,
    pub show: String,
    pub target: Option<String>,
    pub priority: i32,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub remaining_s: f64,
    /// The fade given at trigger time; null = the show's own.
    pub fade_s: Option<f64>,
    pub author: String,
    pub state: ItemState,
    pub released_at: Option<DateTime<Utc>>,
    /// The id that names this scene on every node of the fleet; null when
    /// it was not shared over a fleet (yet).
    pub fleet_id: Option<String>,
}

impl SceneView {
    pub fn new(
        s: &Scene,
        released_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        cfg: &Config,
    ) -> SceneView {
        let fade = s
            .fade
            .or_else(|| cfg.show(&s.show).map(|sh| sh.fade_in.max(sh.fade_out)))
            .unwrap_or(0.0);
        SceneView {
            id: s.id,
            show: s.show.clone(),
            target: s.target.clone(),
            priority: s.priority,
            started: s.started,
            ends: s.ends,
            remaining_s: nightscape_core::engine::seconds_between(now, s.ends).max(0.0),
            fade_s: s.fade,
            author: s.author.clone(),
            state: ItemState::at(now, s.started, Some(s.ends), fade, released_at.is_some()),
            released_at,
            fleet_id: None,
        }
    }

    /// With its fleet-wide id, if the fleet named it.
    pub fn with_fleet_id(mut self, store: &crate::store::Store) -> SceneView {
        self.fleet_id = store.fleet_id(crate::store::FleetItem::Scene, self.id);
        self
    }
}

/// A master in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MasterView {
    pub target: String,
    pub level: f32,
    pub fixtures: usize,
}

impl MasterView {
    pub fn new(m: &Master, cfg: &Config) -> MasterView {
        MasterView {
            target: m.target.clone(),
            level: m.level,
            fixtures: cfg.site.resolve_target(&m.target).len(),
        }
    }
}

/// `POST /api/master`'s answer: every master now in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MastersView {
    pub masters: Vec<MasterView>,
}

/// `DELETE /api/overrides`'s answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleasedView {
    pub count: usize,
    pub released: Vec<OverrideView>,
}

/// An output's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutputView {
    pub kind: crate::output::Protocol,
    pub target: String,
    pub universes: Vec<u16>,
    pub state: crate::output::HealthState,
    pub frames_sent: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    pub last_error: Option<String>,
}

impl From<&crate::output::OutputHealth> for OutputView {
    fn from(h: &crate::output::OutputHealth) -> OutputView {
        OutputView {
            kind: h.kind,
            target: h.target.clone(),
            universes: h.universes.clone(),
            state: h.state,
            frames_sent: h.frames_sent,
            packets_sent: h.packets_sent,
            send_errors: h.send_errors,
            last_error: h.last_error.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClockView {
    pub now: DateTime<Utc>,
    /// The site's local time.
    pub local: String,
    pub simulated: bool,
    /// Simulated seconds per real second.
    pub speed: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SiteView {
    pub name: String,
    pub timezone: String,
    pub latitude: f64,
    pub longitude: f64,
    pub fixtures: usize,
    pub universes: Vec<u16>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FramesView {
    pub target_fps: u32,
    /// Measured over the last second; null until measured.
    pub actual_fps: Option<f64>,
    pub frames: u64,
    pub late_frames: u64,
    /// The instant the last frame was rendered for.
    pub last_instant: Option<DateTime<Utc>>,
}

/// `GET /api/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusView {
    pub clock: ClockView,
    pub site: SiteView,
    /// Shows visible in the last frame, each once: schedule entries, scenes
    /// and show overrides. Colour, level and blackout overrides are not
    /// listed (there may be thousands): see `active_overrides`.
    pub active_shows: Vec<String>,
    /// Colour and blackout overrides visible in the last frame.
    pub active_overrides: usize,
    /// Tonight's mode and the schedule entries playing now.
    pub schedule: super::schedule_view::ActiveScheduleView,
    /// Overrides in force (fading out included), in id order: the first 50,
    /// and every emergency override beyond them. `overrides_total` counts
    /// them all; page through the rest with `overrides_next`.
    pub overrides: Vec<OverrideView>,
    /// Overrides in force, fading out included (all of them, not only
    /// those listed).
    pub overrides_total: usize,
    /// Overrides in force and not being released (what `DELETE
    /// /api/overrides` would release, and what `[api] max_overrides` caps).
    pub overrides_in_force: usize,
    /// When `overrides` does not list them all: where the rest are
    /// (`/api/overrides?after=<last id listed>`, a page of `GET /api/overrides`).
    pub overrides_next: Option<String>,
    pub scenes: Vec<SceneView>,
    pub masters: Vec<MasterView>,
    pub outputs: Vec<OutputView>,
    pub frames: FramesView,
    /// Electrical power now (W); null until the energy meter is connected.
    pub power_w: Option<f64>,
    /// The site's power budget (`[energy] max_w`), W.
    pub max_w: Option<f64>,
    /// An emergency override is in force.
    pub emergency: bool,
    pub uptime_s: f64,
    /// Hot reload: edits applied and rejected, and the problems of the
    /// last rejected one (`path:line:col: message`).
    pub reload: ReloadView,
    /// A fleet node's clock: synchronised or not, and whether it holds the
    /// schedule because it is not (null outside a fleet).
    pub clock_sync: Option<crate::fleet::clock::ClockSyncView>,
}

/// What hot reload did so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadView {
    pub applied: u64,
    pub rejected: u64,
    pub last_rejected: Option<RejectedReloadView>,
    /// The newest edit was rejected: the files on disk are not what runs.
    pub rejected_now: bool,
}

/// The last edit of the site files that did not load.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedReloadView {
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
}

impl From<&crate::daemon::ReloadStatus> for ReloadView {
    fn from(r: &crate::daemon::ReloadStatus) -> ReloadView {
        ReloadView {
            applied: r.applied,
            rejected: r.rejected,
            last_rejected: r.last_rejected.as_ref().map(|x| RejectedReloadView {
                at: x.at,
                problems: x.problems.clone(),
            }),
            rejected_now: match (&r.last_rejected, r.last_applied) {
                (Some(x), Some(ok)) => x.at > ok,
                (Some(_), None) => true,
                (None, _) => false,
            },
        }
    }
}

/// A layer of a show.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LayerView {
    pub target: String,
    pub effect: String,
    pub level: f32,
    pub fixtures: usize,
}

/// `GET /api/shows` item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShowView {
    pub name: String,
    /// Offered as a scene button: marked `scene = true`, or every show when
    /// the site marks none.
    pub scene: bool,
    pub fade_in_s: f64,
    pub fade_out_s: f64,
    pub layers: Vec<LayerView>,
}

/// `GET /api/groups` item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub fixtures: Vec<String>,
}

/// `GET /api/fixtures` item: enough to draw a map and find a fixture on a ladder.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FixtureView {
    /// Index in patch order (the order of `/api/live` colours).
    pub index: usize,
    pub name: String,
    /// The profile's file stem.
    pub profile: String,
    pub profile_name: String,
    pub mode: String,
    pub universe: u16,
    /// 1-based DMX start address.
    pub address: u16,
    pub footprint: u16,
    /// Metres in the site's local frame (x east, y north).
    pub position: [f64; 2],
    pub cells: u16,
    pub groups: Vec<String>,
}

/// `GET /api/frame`: DMX levels of every universe in the last frame.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FrameView {
    pub at: Option<DateTime<Utc>>,
    pub frames: u64,
    /// Universe number → 512 channel values.
    pub universes: BTreeMap<String, Vec<u8>>,
}

/// One `/api/live` event (`event: colors`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveEvent {
    pub at: Option<DateTime<Utc>>,
    pub frames: u64,
    /// "#rrggbb" per fixture in patch order (null where the frame has no data).
    pub colors: Vec<Option<String>>,
    /// With `?cells=true`: per fixture in patch order, "#rrggbb" per cell
    /// for pixel fixtures, empty for the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<Vec<String>>>,
}

/// An audit log row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The token's name.
    pub actor: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub remote: Option<String>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    pub status: Liveness,
    pub frames: u64,
}

/// Whether the frame loop is alive (`/healthz`; a 503 when stalled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Frames advanced in the last 5 s.
    Ok,
    /// No frame yet, within 10 s of the API starting.
    Starting,
    /// No frame for 5 s.
    Stalled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_files() {
        let q = |s: &str| serde_json::from_str::<Quantity>(s).unwrap();
        assert_eq!(q("0.3").level().unwrap(), 0.3);
        assert_eq!(q("\"30%\"").level().unwrap(), 0.3);
        assert!(q("1.5").level().is_err());
        assert!(q("\"high\"").level().is_err());
        assert_eq!(q("\"5m\"").duration().unwrap(), 300.0);
        assert_eq!(q("90").duration().unwrap(), 90.0);
        assert!(q("-1").duration().is_err());
        assert!(q("1e300").duration().is_err());
        assert_eq!(q("\"emergency\"").priority(0).unwrap(), control::EMERGENCY);
        assert_eq!(q("2500").priority(0).unwrap(), 2500);
        assert!(q("2.5").priority(0).is_err());
        assert!(q("-3").priority(0).is_err());
        assert!(serde_json::from_str::<Quantity>("true").is_err());
        assert!(serde_json::from_str::<Quantity>("[1]").is_err());
    }

    /// The values a type serialises to, read from its OpenAPI schema.
    fn schema_enum<T: utoipa::PartialSchema>() -> Vec<String> {
        let v = serde_json::to_value(T::schema()).unwrap();
        v["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("no enum in {v}"))
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    }

    /// The names values serialise to (a tagged enum's tag: `state`).
    fn serialised<T: Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|x| match serde_json::to_value(x).unwrap() {
                serde_json::Value::String(s) => s,
                v => v["state"].as_str().unwrap().to_string(),
            })
            .collect()
    }

    /// The OpenAPI document lists the values of the typed names, as they
    /// are sent.
    #[test]
    fn the_openapi_document_lists_the_names() {
        let doc = serde_json::to_value(crate::api::openapi()).unwrap();
        let values = |name: &str| -> Vec<String> {
            let s = &doc["components"]["schemas"][name];
            s["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: {s}"))
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let alarm_kinds: Vec<String> = crate::alarms::AlarmKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        assert_eq!(values("AlarmKind"), alarm_kinds);
        assert_eq!(values("Liveness"), ["ok", "starting", "stalled"]);
        assert_eq!(values("HealthState"), ["ok", "degraded", "down"]);
        assert_eq!(
            values("Protocol"),
            ["artnet", "sacn", "enttec-pro", "open-dmx"]
        );
        assert_eq!(
            values("OverrideKind"),
            ["level", "color", "show", "blackout"]
        );
        assert_eq!(values("CapKind"), ["curfew", "budget"]);
        assert_eq!(values("PolarView"), ["day", "night"]);
        // The answers that carry them point at them.
        let text = doc.to_string();
        for r in [
            "#/components/schemas/AlarmsView",
            "#/components/schemas/Liveness",
            "#/components/schemas/OverrideKind",
            "#/components/schemas/CapKind",
            "#/components/schemas/PolarView",
        ] {
            assert!(text.contains(r), "{r}");
        }
    }

    /// The page's table of names (`page/names.js`) holds each set equal to
    /// the enum that serialises it; the page uses only names of the table
    /// and compares no field the API fills against a literal.
    #[test]
    fn the_pages_names_are_the_apis() {
        const NAMES_JS: &str = include_str!("page/names.js");
        let sets: BTreeMap<&str, Vec<String>> = NAMES_JS
            .lines()
            .filter_map(|l| {
                let (set, rest) = l.strip_prefix("  ")?.split_once(": [")?;
                let list = rest.strip_suffix("],")?;
                Some((
                    set,
                    list.split(", ")
                        .map(|n| n.trim_matches('"').to_string())
                        .collect(),
                ))
            })
            .collect();
        use crate::rdm::patch::PatchState;
        use nightscape_core::takeover::UniverseState;
        use nightscape_core::timecode::Position;
        use nightscape_core::triggers::OnKind;
        let typed: Vec<(&str, Vec<String>)> = vec![
            ("override_kind", schema_enum::<OverrideKind>()),
            ("override_state", schema_enum::<ItemState>()),
            ("health", schema_enum::<crate::output::HealthState>()),
            ("liveness", schema_enum::<Liveness>()),
            ("role", schema_enum::<crate::api::Role>()),
            ("alarm_kind", schema_enum::<crate::alarms::AlarmKind>()),
            (
                "patch",
                serialised(&[
                    PatchState::Matched,
                    PatchState::Unmatched,
                    PatchState::Missing,
                    PatchState::Mismatched,
                ]),
            ),
            (
                "universe_state",
                serialised(&[
                    UniverseState::Show,
                    UniverseState::Console,
                    UniverseState::Releasing,
                    UniverseState::Suppressed,
                ]),
            ),
            (
                "timecode_state",
                serialised(&[
                    Position::Waiting,
                    Position::Locked(0.0),
                    Position::Freewheel(0.0),
                    Position::Held(0.0),
                    Position::Stopped,
                    Position::Continuing(0.0),
                ]),
            ),
            (
                "trigger_on",
                serialised(&[
                    OnKind::Osc,
                    OnKind::Udp,
                    OnKind::ArtTrigger,
                    OnKind::Timecode,
                    OnKind::At,
                    OnKind::Mqtt,
                    OnKind::Http,
                    OnKind::Start,
                ]),
            ),
            (
                "input_state",
                serialised(&[
                    crate::inputs::InputState::Listening,
                    crate::inputs::InputState::Down,
                    crate::inputs::InputState::Idle,
                ]),
            ),
        ];
        for (set, want) in &typed {
            assert_eq!(sets.get(set), Some(want), "names.js `{set}`");
        }
        assert_eq!(sets.len(), typed.len(), "{:?}", sets.keys());

        for (file, text) in [
            ("app.js", include_str!("page/app.js")),
            ("devices.js", include_str!("page/devices.js")),
            ("triggers.js", include_str!("page/triggers.js")),
            ("inputs.js", include_str!("page/inputs.js")),
            ("facade.js", include_str!("page/facade.js")),
        ] {
            // Every NAMES.set.name is in the table.
            for (i, _) in text.match_indices("NAMES.") {
                let rest = &text[i + 6..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .unwrap_or(rest.len());
                let (set, name) = rest[..end].split_once('.').unwrap_or((&rest[..end], ""));
                assert!(
                    sets.get(set).is_some_and(|v| v.iter().any(|n| n == name)),
                    "{file}: NAMES.{set}.{name} is not in names.js"
                );
            }
            // No field the API fills is compared against a literal.
            for op in [" === \"", " !== \""] {
                for (i, _) in text.match_indices(op) {
                    let left = text[..i]
                        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '!')
                        .next()
                        .unwrap_or("");
                    let field = left.rsplit('.').next().unwrap_or(left);
                    assert!(
                        !["state", "kind", "status", "patch", "on", "role", "st"].contains(&field),
                        "{file}: `{left}{op}…` compares an API name as a literal: use NAMES"
                    );
                }
            }
        }
    }

    /// A schema's `pattern` as a JSON Schema validator runs it: ECMA-262,
    /// unanchored search, `$` only at the very end ("2026-12-31\n" does
    /// not match `^…$`; Python's `re` would). `regex-lite` does the same,
    /// is already built for `divan`, and checks 16,000 strings in
    /// milliseconds; the schemas as a whole go through Python's
    /// `jsonschema` in tests/it (`common::json_schema`).
    struct Matcher(regex_lite::Regex);

    impl Matcher {
        fn is_valid(&self, s: &str) -> bool {
            self.0.is_match(s)
        }
    }

    fn matcher(pattern: &str) -> Matcher {
        Matcher(regex_lite::Regex::new(pattern).unwrap())
    }

    /// The date pattern accepts exactly what the handlers' parse accepts:
    /// every day of every month of years that test each leap rule, and
    /// 29 February of every year 0000..=9999.
    #[test]
    fn the_date_pattern_is_the_calendar() {
        let m = matcher(DATE_PATTERN);
        let parses = |s: &str| {
            chrono::NaiveDate::parse_from_str(s.trim_matches(' '), "%Y-%m-%d").is_ok()
                || s.trim_matches(' ').is_empty()
        };
        let mut checked = 0;
        for y in [
            0, 1, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 2365, 2400, 9996, 9999,
        ] {
            for mo in 0..=13 {
                for d in 0..=32 {
                    let s = format!("{y:04}-{mo:02}-{d:02}");
                    assert_eq!(m.is_valid(&s), parses(&s), "{s}");
                    checked += 1;
                }
            }
        }
        for y in 0..=9999 {
            let s = format!("{y:04}-02-29");
            assert_eq!(m.is_valid(&s), parses(&s), "{s}");
            checked += 1;
        }
        assert!(checked > 16_000);
        for ok in ["", "  ", " 2026-12-31 ", "2024-02-29"] {
            assert!(m.is_valid(ok), "{ok:?}");
        }
        for bad in [
            "2365-06-31",
            "\t2026-12-31",
            "2026-12-31\n",
            "2026-12-31\r",
            "1900-02-29",
            "26-12-31",
        ] {
            assert!(!m.is_valid(bad), "{bad:?}");
        }
    }

    /// The string form of `duration` / `by` matches what the parser reads
    /// as more than 0 s (within a year), and refuses every spelling of 0.
    #[test]
    fn the_positive_duration_pattern_refuses_zero() {
        let m = matcher(&positive_duration_pattern());
        for ok in [
            "5m",
            "1h30m",
            "1m30s",
            "500ms",
            "0.5s",
            ".5s",
            "90",
            "+2.5",
            "0001",
            "0.001ms",
            " 5 m ",
            "2 hours 3 minutes",
            "0m1s",
            "1h0m",
            "5.",
            "8784h",
            "10 secs",
        ] {
            assert!(m.is_valid(ok), "{ok:?} refused by the pattern");
            let v = units::parse_duration(ok).unwrap();
            assert!(v > 0.0, "{ok:?}");
        }
        for zero in [
            "0", "0.0", "+0", "00", ".0", "0s", "0m0s", "0.000ms", "0h 0m", " 0 ",
        ] {
            assert!(!m.is_valid(zero), "{zero:?} accepted by the pattern");
            assert_eq!(units::parse_duration(zero).ok(), Some(0.0), "{zero:?}");
        }
        for bad in [
            "", "m", "5", "-5m", "5 m s", "5hrs", "5h5", "1.2.3s", "abc", "\t5m",
        ] {
            let bad = if bad == "5" { "5x" } else { bad };
            assert!(!m.is_valid(bad), "{bad:?} accepted by the pattern");
        }
    }
}

/// `GET /api/live?cells=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// `true`: also send each pixel fixture's cells.
    #[param(pattern = r"^\s*(true|false|1|0)?\s*$")]
    pub cells: Option<String>,
}

/// `GET /api/preview?at=&overrides=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// RFC 3339, or site-local "YYYY-MM-DD HH:MM[:SS]".
    #[param(
        pattern = r"^\s*[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\s*$"
    )]
    pub at: String,
    /// `true`: include the operator overrides, scenes and masters in force now.
    #[param(pattern = r"^\s*(true|false|1|0)?\s*$")]
    pub overrides: Option<String>,
}

/// `GET /api/tonight?date=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TonightQuery {
    /// The night, YYYY-MM-DD (default: the night in progress).
    #[param(schema_with = date_param)]
    pub date: Option<String>,
}

/// A path of the site plan, as a street on the map.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PathView {
    pub name: String,
    /// Metres, x east, y north.
    pub points: Vec<[f64; 2]>,
}

/// A group on the map: its members and its power budget.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MapGroupView {
    pub name: String,
    /// Fixture indices (patch order).
    pub fixtures: Vec<u32>,
    /// `[energy.groups.NAME] max_w`, if any.
    pub max_w: Option<f64>,
}

/// A fixture on the map.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MapFixtureView {
    pub index: usize,
    pub name: String,
    /// Metres, x east, y north.
    pub position: [f64; 2],
    /// Each cell's position for pixel fixtures (empty for the others).
    pub cells: Vec<[f32; 2]>,
}

/// `GET /api/site`: the plan to draw the map from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SiteMapView {
    pub name: String,
    pub timezone: String,
    /// `[min x, min y, max x, max y]` of paths and fixtures, metres.
    pub bounds: [f64; 4],
    pub paths: Vec<PathView>,
    pub groups: Vec<MapGroupView>,
    pub fixtures: Vec<MapFixtureView>,
    /// The site's power budget (`[energy] max_w`), W.
    pub max_w: Option<f64>,
    pub currency: String,
}

/// `GET /api/whoami`: who the presented token is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct WhoamiView {
    /// The token's name, or "public" without a token.
    pub name: String,
    /// "viewer", "operator" or "admin"; null for public reads.
    pub role: Option<String>,
}

/// A fixture in a preview.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PreviewFixture {
    pub name: String,
    /// Display colour "#rrggbb" per cell (one for a non-pixel fixture).
    pub cells: Vec<String>,
    /// 0..1: the mean over cells of the brightest emitter.
    pub level: f32,
}

/// `GET /api/preview`: what the site shows at an instant, not sent anywhere.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PreviewView {
    /// The instant, site-local RFC 3339.
    pub at: String,
    pub fixtures: Vec<PreviewFixture>,
}

/// An entry run on tonight's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TonightEntry {
    /// The entry's index in the site file's `[[schedule]]` (the key to skip it).
    pub entry: usize,
    pub show: String,
    pub start: String,
    pub end: String,
    pub priority: i32,
    /// Cancelled for this night by an operator.
    pub skipped: bool,
}

/// The curfew window of a night.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CurfewView {
    pub start: String,
    pub end: String,
    pub max_level: f32,
}

/// `GET /api/tonight`: one night's timeline, noon to noon, site-local times.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TonightView {
    pub night: String,
    pub mode: String,
    /// The mode was forced by an operator for this night
    /// (`POST /api/tonight/mode`), not chosen by the `[[modes]]` rules.
    pub forced: bool,
    /// Local noon starting the night, and the noon ending it.
    pub start: String,
    pub end: String,
    pub now: String,
    pub sunset: Option<String>,
    pub sunrise: Option<String>,
    pub civil_dusk: Option<String>,
    pub civil_dawn: Option<String>,
    pub curfew: Option<CurfewView>,
    pub entries: Vec<TonightEntry>,
    /// Entries the planner could not place, and why.
    pub unplaced: Vec<String>,
    /// What is visible now, whatever night was asked for: per group of the
    /// site, the show drawn on top at each of its fixtures by the engine's
    /// order (the highest priority, then the later start, among the
    /// schedule's entries, scenes and show overrides with light now). Level, colour and blackout overrides and masters act
    /// after this and are listed in `/api/status`. Groups by name.
    pub visible_now: Vec<GroupVisibleView>,
}

/// Which shows are on top in one group now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct GroupVisibleView {
    pub group: String,
    /// Fixtures in the group.
    pub fixtures: usize,
    /// The shows on top, the one on most fixtures first; fixtures no show
    /// lights are left out (`fixtures` minus their sum are dark).
    pub shows: Vec<VisibleShowView>,
}

/// A show on top on some fixtures of a group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct VisibleShowView {
    pub show: String,
    /// Where it comes from, by its priority band.
    pub source: ShowSource,
    /// On how many of the group's fixtures it is on top.
    pub fixtures: usize,
    /// Its fade envelope now, 0..1 (below 1 while it fades in or out).
    pub opacity: f32,
}

/// The priority band a playing show is in (schedule < scene < override <
/// emergency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShowSource {
    Schedule,
    Scene,
    Override,
    Emergency,
}

impl ShowSource {
    pub fn of_priority(priority: i32) -> ShowSource {
        if priority >= crate::control::EMERGENCY {
            ShowSource::Emergency
        } else if priority >= crate::control::OVERRIDE {
            ShowSource::Override
        } else if priority >= crate::control::SCENE {
            ShowSource::Scene
        } else {
            ShowSource::Schedule
        }
    }
}

/// `POST /api/overrides/{id}/extend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// How much longer ("15m"); more than 0.
    #[schema(schema_with = positive_duration)]
    pub by: Quantity,
}

/// `POST /api/skips`: cancel one schedule entry for one night.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    /// The night, YYYY-MM-DD (default: the night in progress).
    #[schema(schema_with = night_field)]
    pub night: Option<String>,
    /// The entry's index in `[[schedule]]`, as `/api/tonight` lists it.
    pub entry: usize,
    /// Why, for the audit log (empty: none).
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// A skipped entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SkipView {
    pub id: i64,
    pub night: String,
    pub entry: usize,
    pub show: String,
    pub created: DateTime<Utc>,
    pub author: String,
    pub note: Option<String>,
}

impl From<&crate::store::Skip> for SkipView {
    fn from(s: &crate::store::Skip) -> SkipView {
        SkipView {
            id: s.id,
            night: s.night.to_string(),
            entry: s.entry,
            show: s.show.clone(),
            created: s.created,
            author: s.author.clone(),
            note: s.note.clone(),
        }
    }
}

/// `GET /api/energy/forecast?night=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// The night, YYYY-MM-DD (default: the night in progress).
    #[param(schema_with = date_param)]
    pub night: Option<String>,
}

/// A night's energy forecast from the schedule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ForecastView {
    pub night: String,
    pub kwh: f64,
    pub peak_w: f64,
    pub cost: f64,
}
