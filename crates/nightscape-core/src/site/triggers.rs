//! The site file's `[[triggers]]` and `[[notify]]` tables: read, checked
//! and compiled into [`crate::triggers::Triggers`].
//!
//! A trigger names shows, groups and modes, so it is compiled after the
//! shows and the schedule (`config::compile` calls [`compile`]); every
//! problem is reported at its key as `file:line:col`, all of them in one
//! pass, and a site with a broken trigger is not loaded (the daemon keeps
//! its last good configuration). What cannot be known from the files — a
//! show stopped that is not playing, a webhook that does not answer — is
//! the daemon's to log when the trigger fires.

use crate::diag::{Diagnostics, SourceFile, Spanned};
use crate::schedule::plan::{Schedule, TimeSpec};
use crate::site::Site;
use crate::triggers::{
    Act, Conditions, EventKind, LevelCheck, Notify, NotifyTo, On, OverrideWhat, Timecode, Trigger,
    Triggers, UdpPattern, DEFAULT_LIMIT_S, DEFAULT_SCENE_S,
};
use crate::units::{self, LevelValue};
use chrono::NaiveTime;
use serde::Deserialize;
use std::ops::Range;

/// Longest trigger name (it is a URL path segment and a console label).
const MAX_NAME: usize = 64;
/// Most triggers and actions a site may declare (bounded work per event).
const MAX_TRIGGERS: usize = 1024;
const MAX_ACTIONS: usize = 32;

/// The two sections of the site file this module reads.
#[derive(Deserialize, schemars::JsonSchema)]
struct RawFile {
    /// Show-control rules: when something happens (`on`) and conditions
    /// hold (`when`), do a list of actions (`do`), at most once per
    /// `limit`. See docs/show-control.md.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "bridge-red", "on": { "http": true }, "do": [{ "start": "bridge-red", "for": "10m" }] }]))]
    triggers: Vec<Spanned<RawTrigger>>,
    /// Where events (scene started/stopped, alarm raised/cleared, trigger
    /// fired) are sent: a webhook (JSON POST) or an OSC address.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "osc": "127.0.0.1:53001", "events": ["scene.started", "scene.stopped"] }]))]
    notify: Vec<Spanned<RawNotify>>,
}

/// One `[[triggers]]` table.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    /// Unique name: letters, digits, `-` and `_` (an HTTP trigger is
    /// `POST /api/triggers/<name>`).
    #[schemars(example = &"bridge-red", regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    name: Spanned<String>,
    /// What sets it off: exactly one of `osc`, `udp`, `hex`,
    /// `art_trigger`, `timecode`, `at`, `mqtt`, `http`, `start`.
    #[schemars(example = serde_json::json!({ "osc": "/cue/bridge-red" }))]
    on: Spanned<RawOn>,
    /// Conditions that must all hold for it to act.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "mode": "festival", "between": ["18:00", "02:00"] }))]
    when: Option<Spanned<RawWhen>>,
    /// The actions, in order: each table has one of `start`, `stop`,
    /// `override`, `master`, `release`, `skip`, `webhook`.
    #[serde(rename = "do")]
    #[schemars(example = serde_json::json!([{ "start": "bridge-red", "for": "10m" }]))]
    actions: Spanned<Vec<Spanned<RawAct>>>,
    /// Fires at most once per this interval (default "1s"); what comes
    /// sooner is counted and dropped.
    #[serde(default)]
    #[schemars(example = &"5s")]
    limit: Option<Spanned<String>>,
}

/// `on`: one kind key (with `input`/`sub_key` beside `udp`/`hex`/`art_trigger`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOn {
    /// An OSC address on an OSC input (`*` and `?` within a part).
    #[serde(default)]
    #[schemars(example = &"/cue/bridge-red")]
    osc: Option<Spanned<String>>,
    /// An ASCII datagram on a `udp` input, glob (`*`, `?`); trailing line ends ignored.
    #[serde(default)]
    #[schemars(example = &"BUTTON-*")]
    udp: Option<Spanned<String>>,
    /// A datagram on a `udp` input, exactly these bytes in hex ("02 47 4f 03").
    #[serde(default)]
    #[schemars(example = &"02 47 4f 03")]
    hex: Option<Spanned<String>>,
    /// With `udp` or `hex`: only datagrams on the input of this name.
    #[serde(default)]
    #[schemars(example = &"kiosk")]
    input: Option<Spanned<String>>,
    /// An Art-Net ArtTrigger key, 0..255 (on the site's Art-Net input).
    #[serde(default)]
    #[schemars(example = 17, range(min = 0, max = 255))]
    art_trigger: Option<Spanned<i64>>,
    /// With `art_trigger`: only this sub-key, 0..255 (default any).
    #[serde(default)]
    #[schemars(example = 0, range(min = 0, max = 255))]
    sub_key: Option<Spanned<i64>>,
    /// Received timecode passing HH:MM:SS:FF.
    #[serde(default)]
    #[schemars(example = &"00:01:30:00")]
    timecode: Option<Spanned<String>>,
    /// The site's clock passing a time: "21:30", or a sun event with an
    /// offset, "sunset + 15m".
    #[serde(default)]
    #[schemars(example = &"sunset + 15m")]
    at: Option<Spanned<String>>,
    /// A topic on the fleet's MQTT broker (`+` and `#` wildcards).
    #[serde(default)]
    #[schemars(example = &"city/bridge/cmd")]
    mqtt: Option<Spanned<String>>,
    /// `true`: `POST /api/triggers/<name>` (operator token).
    #[serde(default)]
    #[schemars(example = true)]
    http: Option<Spanned<bool>>,
    /// `true`: when the daemon starts.
    #[serde(default)]
    #[schemars(example = true)]
    start: Option<Spanned<bool>>,
}

/// `when`: every condition given must hold.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    /// Tonight's mode is this one (or one of these).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", example = &"festival")]
    mode: Option<OneOrMany>,
    /// The site's wall clock between two times, ["18:00", "02:00"] (past
    /// midnight wraps; the end is not included).
    #[serde(default)]
    #[schemars(example = serde_json::json!(["18:00", "02:00"]))]
    between: Option<Spanned<Vec<Spanned<String>>>>,
    /// These shows are playing (schedule or scene).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", example = &"nightly")]
    playing: Option<OneOrMany>,
    /// These shows are not playing.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", example = &"fireworks")]
    not_playing: Option<OneOrMany>,
    /// A group's master level above and/or below a level.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "group": "bridge", "above": "50%" }))]
    level: Option<Spanned<RawLevel>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    /// The group.
    #[schemars(example = &"bridge")]
    group: Spanned<String>,
    /// Holds when the level is above this.
    #[serde(default)]
    #[schemars(example = &"50%")]
    above: Option<Spanned<LevelValue>>,
    /// Holds when the level is below this.
    #[serde(default)]
    #[schemars(example = 0.2)]
    below: Option<Spanned<LevelValue>>,
}

/// One action: one verb key, with the keys that verb reads.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAct {
    /// Start this show as a scene (as `POST /api/scenes/<show>/trigger`).
    #[serde(default)]
    #[schemars(example = &"bridge-red")]
    start: Option<Spanned<String>>,
    /// With `start`: how long it plays (default 12h, or until stopped).
    #[serde(default, rename = "for")]
    #[schemars(example = &"10m")]
    duration: Option<Spanned<String>>,
    /// With `start`: only on this group, fixture or glob; with `release`
    /// see there.
    #[serde(default)]
    #[schemars(example = &"bridge")]
    target: Option<Spanned<String>>,
    /// With `start` or `override`: fade in and out.
    #[serde(default)]
    #[schemars(example = &"2s")]
    fade: Option<Spanned<String>>,
    /// Stop the scenes of this show (each fades out).
    #[serde(default)]
    #[schemars(example = &"bridge-red")]
    stop: Option<Spanned<String>>,
    /// Override this group, fixture or glob ("*": the site) with one of
    /// `level`, `color`, `show`, `blackout`.
    #[serde(default, rename = "override")]
    #[schemars(example = &"bridge")]
    override_: Option<Spanned<String>>,
    /// With `override` or `master`: a level 0..1 or "0%".."100%".
    #[serde(default)]
    #[schemars(example = &"40%")]
    level: Option<Spanned<LevelValue>>,
    /// With `override`: a steady colour.
    #[serde(default)]
    #[schemars(example = &"#ff2000")]
    color: Option<Spanned<String>>,
    /// With `override`: play this show on the target.
    #[serde(default)]
    #[schemars(example = &"bridge-red")]
    show: Option<Spanned<String>>,
    /// With `override`: dark.
    #[serde(default)]
    #[schemars(example = true)]
    blackout: Option<Spanned<bool>>,
    /// With `override`: it ends by itself after this long.
    #[serde(default)]
    #[schemars(example = &"5m")]
    ttl: Option<Spanned<String>>,
    /// Set the master of this group ("*": the site's) to `level`.
    #[serde(default)]
    #[schemars(example = &"*")]
    master: Option<Spanned<String>>,
    /// Release overrides: "*" every one, or those on this target.
    #[serde(default)]
    #[schemars(example = &"*")]
    release: Option<Spanned<String>>,
    /// Skip tonight's schedule entry that plays this show.
    #[serde(default)]
    #[schemars(example = &"nightly")]
    skip: Option<Spanned<String>>,
    /// POST `body` as JSON to this http:// URL.
    #[serde(default)]
    #[schemars(example = &"http://10.0.4.9:8000/hooks/nightscape")]
    webhook: Option<Spanned<String>>,
    /// With `webhook`: the JSON body (a table; default `{}`).
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "text": "bridge red" }))]
    body: Option<serde_json::Value>,
}

/// One `[[notify]]` table: `webhook` or `osc`, and which events.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    /// POST each event as JSON to this http:// URL.
    #[serde(default)]
    #[schemars(example = &"http://10.0.4.9:8000/hooks/nightscape")]
    webhook: Option<Spanned<String>>,
    /// Send each event as an OSC message (`/nightscape/event/...`) to this IPv4 address:port.
    #[serde(default)]
    #[schemars(example = &"127.0.0.1:53001")]
    osc: Option<Spanned<String>>,
    /// The events sent (default all): "scene.started", "scene.stopped",
    /// "alarm.raised", "alarm.cleared", "trigger.fired".
    #[serde(default)]
    #[schemars(example = serde_json::json!(["scene.started", "trigger.fired"]))]
    events: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A string or a list of strings; list items keep their own spans.
struct OneOrMany(Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enum Inner {
            One(String),
            Many(Vec<Spanned<String>>),
        }
        impl<'de> Deserialize<'de> for Inner {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Inner;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a string or a list of strings")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Inner, E> {
                        Ok(Inner::One(v.to_string()))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<Inner, A::Error> {
                        let mut v = Vec::new();
                        while let Some(x) = seq.next_element::<Spanned<String>>()? {
                            v.push(x);
                        }
                        Ok(Inner::Many(v))
                    }
                }
                d.deserialize_any(V)
            }
        }
        let s = Spanned::<Inner>::deserialize(d)?;
        let span = s.span();
        Ok(OneOrMany(match s.into_inner() {
            Inner::One(x) => vec![Spanned::new(span, x)],
            Inner::Many(v) => v,
        }))
    }
}

/// The JSON Schema of the two sections (merged into the site's).
pub(crate) fn json_schema() -> serde_json::Value {
    crate::schema::schema_of::<RawFile>()
}

/// What a trigger may name, from the rest of the configuration.
pub(crate) struct Names<'a> {
    pub site: &'a Site,
    /// Shows of the site (including ones that failed to compile: their
    /// problems are reported at the show).
    pub shows: &'a [String],
    pub schedule: &'a Schedule,
}

/// Read and check the site file's `[[triggers]]` and `[[notify]]`.
pub(crate) fn compile(file: &SourceFile, names: &Names<'_>, diags: &mut Diagnostics) -> Triggers {
    let mut out = Triggers::default();
    let Some(raw) = crate::diag::parse_all::<RawFile>(file, diags) else {
        return out;
    };
    if raw.triggers.len() > MAX_TRIGGERS {
        diags.error(
            file,
            raw.triggers[MAX_TRIGGERS].span(),
            format!("a site may declare at most {MAX_TRIGGERS} triggers"),
        );
        return out;
    }
    for t in &raw.triggers {
        let mut c = Checker { file, diags, names };
        if let Some(trigger) = c.trigger(t) {
            if out.rules.iter().any(|x| x.name == trigger.name) {
                c.diags.error(
                    file,
                    t.get_ref().name.span(),
                    format!("trigger `{}` is defined twice", trigger.name),
                );
                continue;
            }
            out.rules.push(trigger);
        }
    }
    for n in &raw.notify {
        let mut c = Checker { file, diags, names };
        if let Some(n) = c.notify(n) {
            out.notify.push(n);
        }
    }
    out
}

struct Checker<'a, 'n> {
    file: &'a SourceFile,
    diags: &'a mut Diagnostics,
    names: &'a Names<'n>,
}

impl Checker<'_, '_> {
    fn err(&mut self, span: Range<usize>, m: impl Into<String>) {
        self.diags.error(self.file, span, m);
    }

    fn duration(&mut self, v: &Spanned<String>, what: &str, positive: bool) -> Option<f64> {
        match units::parse_duration(v.get_ref()) {
            Ok(s) if positive && s <= 0.0 => {
                self.err(v.span(), format!("{what} must be more than 0s"));
                None
            }
            Ok(s) if s > 366.0 * 86400.0 => {
                self.err(v.span(), format!("{what} is longer than a year"));
                None
            }
            Ok(s) => Some(s),
            Err(m) => {
                self.err(v.span(), m);
                None
            }
        }
    }

    fn level(&mut self, v: &Spanned<LevelValue>) -> Option<f32> {
        match v.get_ref().to_level() {
            Ok(l) => Some(l as f32),
            Err(m) => {
                self.err(v.span(), m);
                None
            }
        }
    }

    fn show(&mut self, v: &Spanned<String>) -> Option<String> {
        let s = v.get_ref().trim();
        if self.names.shows.iter().any(|x| x == s) {
            return Some(s.to_string());
        }
        self.err(v.span(), crate::suggest::unknown_show(s, self.names.shows));
        None
    }

    fn target(&mut self, v: &Spanned<String>) -> Option<String> {
        let t = v.get_ref().trim();
        let site = self.names.site;
        if t.is_empty() || site.resolve_target(t).is_empty() {
            if site.names_unpatched(t) {
                return None;
            }
            self.err(
                v.span(),
                format!(
                    "target `{t}` matches no fixture, group or glob in the site (use \"*\" for everything){}",
                    crate::suggest::hint_glob(
                        t,
                        site.groups
                            .keys()
                            .map(String::as_str)
                            .chain(site.fixtures.iter().map(|f| f.name.as_str()))
                    )
                ),
            );
            return None;
        }
        Some(t.to_string())
    }

    fn trigger(&mut self, t: &Spanned<RawTrigger>) -> Option<Trigger> {
        let rt = t.get_ref();
        let name = rt.name.get_ref();
        let mut ok = true;
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.err(
                rt.name.span(),
                format!("trigger name `{name}`: use 1 to {MAX_NAME} letters, digits, `-` or `_` (it is part of a URL)"),
            );
            ok = false;
        }
        let on = self.on(&rt.on);
        let when = match &rt.when {
            None => Some(Conditions::default()),
            Some(w) => self.when(w),
        };
        let acts = rt.actions.get_ref();
        if acts.is_empty() {
            self.err(rt.actions.span(), "`do` lists no action");
            ok = false;
        }
        if acts.len() > MAX_ACTIONS {
            self.err(
                rt.actions.span(),
                format!("a trigger does at most {MAX_ACTIONS} actions"),
            );
            ok = false;
        }
        let mut actions = Vec::new();
        for a in acts.iter().take(MAX_ACTIONS) {
            match self.act(a) {
                Some(a) => actions.push(a),
                None => ok = false,
            }
        }
        let limit_s = match &rt.limit {
            None => Some(DEFAULT_LIMIT_S),
            Some(l) => self.duration(l, "limit", false),
        };
        match (ok, on, when, limit_s) {
            (true, Some(on), Some(when), Some(limit_s)) => Some(Trigger {
                name: name.clone(),
                on,
                when,
                actions,
                limit_s,
                span: t.span(),
            }),
            _ => None,
        }
    }

    fn on(&mut self, on: &Spanned<RawOn>) -> Option<On> {
        let r = on.get_ref();
        let kinds: Vec<(&str, Range<usize>)> = [
            ("osc", r.osc.as_ref().map(|v| v.span())),
            ("udp", r.udp.as_ref().map(|v| v.span())),
            ("hex", r.hex.as_ref().map(|v| v.span())),
            ("art_trigger", r.art_trigger.as_ref().map(|v| v.span())),
            ("timecode", r.timecode.as_ref().map(|v| v.span())),
            ("at", r.at.as_ref().map(|v| v.span())),
            ("mqtt", r.mqtt.as_ref().map(|v| v.span())),
            ("http", r.http.as_ref().map(|v| v.span())),
            ("start", r.start.as_ref().map(|v| v.span())),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        match kinds.as_slice() {
            [] => {
                self.err(
                    on.span(),
                    "`on` needs one of osc, udp, hex, art_trigger, timecode, at, mqtt, http, start",
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                self.err(
                    second.1.clone(),
                    format!(
                        "`on` takes one kind: {} and {} are both given (write two triggers)",
                        first.0, second.0
                    ),
                );
                return None;
            }
        }
        if let Some(i) = &r.input {
            if r.udp.is_none() && r.hex.is_none() {
                self.err(i.span(), "`input` goes with `udp` or `hex`");
                return None;
            }
        }
        if let Some(s) = &r.sub_key {
            if r.art_trigger.is_none() {
                self.err(s.span(), "`sub_key` goes with `art_trigger`");
                return None;
            }
        }
        let input = r.input.as_ref().map(|i| i.get_ref().trim().to_string());
        if let Some(v) = &r.osc {
            let a = v.get_ref();
            if !a.starts_with('/') || a.len() > 255 || !a.bytes().all(|b| b.is_ascii_graphic()) {
                self.err(v.span(), format!("OSC address `{a}`: it starts with `/` and has no spaces, like \"/cue/bridge-red\""));
                return None;
            }
            if a == "/nightscape" || a.starts_with("/nightscape/") {
                self.err(v.span(), format!("OSC address `{a}` is in nightscape's own address space (/nightscape/...): choose another, like \"/cue/...\""));
                return None;
            }
            return Some(On::Osc(a.clone()));
        }
        if let Some(v) = &r.udp {
            let a = v.get_ref();
            if a.is_empty() || !a.is_ascii() || a.len() > 1024 {
                self.err(
                    v.span(),
                    "a `udp` pattern is 1 to 1024 ASCII characters (write other bytes with `hex`)",
                );
                return None;
            }
            return Some(On::Udp {
                input,
                pattern: UdpPattern::Glob(a.as_bytes().to_vec()),
            });
        }
        if let Some(v) = &r.hex {
            let digits: String = v.get_ref().chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = (digits.len() % 2 == 0 && !digits.is_empty() && digits.len() <= 2048)
                .then(|| {
                    (0..digits.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
                        .collect::<Option<Vec<u8>>>()
                })
                .flatten();
            let Some(bytes) = bytes else {
                self.err(
                    v.span(),
                    format!(
                        "`{}` is not hex bytes: write pairs of hex digits, like \"02 47 4f 03\"",
                        v.get_ref()
                    ),
                );
                return None;
            };
            return Some(On::Udp {
                input,
                pattern: UdpPattern::Exact(bytes),
            });
        }
        let byte = |c: &mut Self, v: &Spanned<i64>, what: &str| -> Option<u8> {
            match u8::try_from(*v.get_ref()) {
                Ok(b) => Some(b),
                Err(_) => {
                    c.err(
                        v.span(),
                        format!("{what} {} is out of range 0..255", v.get_ref()),
                    );
                    None
                }
            }
        };
        if let Some(v) = &r.art_trigger {
            let key = byte(self, v, "art_trigger")?;
            let sub_key = match &r.sub_key {
                None => None,
                Some(s) => Some(byte(self, s, "sub_key")?),
            };
            return Some(On::ArtTrigger { key, sub_key });
        }
        if let Some(v) = &r.timecode {
            return match Timecode::parse(v.get_ref()) {
                Ok(t) => Some(On::Timecode(t)),
                Err(m) => {
                    self.err(v.span(), m);
                    None
                }
            };
        }
        if let Some(v) = &r.at {
            return match crate::schedule::plan::parse_time(v.get_ref()) {
                Ok(t @ (TimeSpec::Clock(_) | TimeSpec::Sun { .. })) => Some(On::At(t)),
                Ok(_) => {
                    self.err(
                        v.span(),
                        "`at` is a time of day (\"21:30\") or a sun event (\"sunset + 15m\")",
                    );
                    None
                }
                Err(m) => {
                    self.err(v.span(), m);
                    None
                }
            };
        }
        if let Some(v) = &r.mqtt {
            let t = v.get_ref();
            let bad_wild = t.split('/').enumerate().any(|(i, level)| {
                (level.contains('#') && (level != "#" || i + 1 != t.split('/').count()))
                    || (level.contains('+') && level != "+")
            });
            if t.is_empty() || t.len() > 1024 || bad_wild {
                self.err(v.span(), format!("MQTT topic filter `{t}`: levels separated by `/`, `+` a whole level, `#` the last level"));
                return None;
            }
            return Some(On::Mqtt(t.clone()));
        }
        for (v, on) in [(&r.http, On::Http), (&r.start, On::Start)] {
            if let Some(v) = v {
                if !*v.get_ref() {
                    self.err(v.span(), "write `true` (or leave the trigger out)");
                    return None;
                }
                return Some(on);
            }
        }
        None
    }

    fn when(&mut self, w: &Spanned<RawWhen>) -> Option<Conditions> {
        let r = w.get_ref();
        let mut ok = true;
        let mut c = Conditions::default();
        if let Some(m) = &r.mode {
            let declared: Vec<&str> = self
                .names
                .schedule
                .modes
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            for v in &m.0 {
                let name = v.get_ref().trim();
                if declared.contains(&name) {
                    c.modes.push(name.to_string());
                } else {
                    let has = if declared.is_empty() {
                        "the site declares no [[modes]]".to_string()
                    } else {
                        format!("the site has: {}", declared.join(", "))
                    };
                    self.err(
                        v.span(),
                        format!(
                            "unknown mode `{name}` ({has}){}",
                            crate::suggest::hint(name, declared.iter().copied())
                        ),
                    );
                    ok = false;
                }
            }
        }
        if let Some(b) = &r.between {
            let times: Vec<Option<NaiveTime>> = b
                .get_ref()
                .iter()
                .map(|t| {
                    let text = t.get_ref().trim();
                    let p = NaiveTime::parse_from_str(text, "%H:%M")
                        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
                        .ok();
                    if p.is_none() {
                        self.err(
                            t.span(),
                            format!("`{text}` is not a time of day: write it like \"18:00\""),
                        );
                    }
                    p
                })
                .collect();
            match times.as_slice() {
                [Some(a), Some(z)] if a != z => c.between = Some((*a, *z)),
                [Some(_), Some(_)] => {
                    self.err(b.span(), "`between` needs two different times");
                    ok = false;
                }
                [_, _] => ok = false,
                _ => {
                    self.err(
                        b.span(),
                        "`between` is two times, like [\"18:00\", \"02:00\"]",
                    );
                    ok = false;
                }
            }
        }
        for (list, out) in [
            (&r.playing, &mut c.playing),
            (&r.not_playing, &mut c.not_playing),
        ] {
            for v in list.iter().flat_map(|l| l.0.iter()) {
                match self.show(v) {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
        }
        if let Some(l) = &r.level {
            let rl = l.get_ref();
            let group = rl.group.get_ref().trim();
            if !self.names.site.groups.contains_key(group) {
                self.err(
                    rl.group.span(),
                    format!(
                        "unknown group `{group}`{}",
                        crate::suggest::hint(
                            group,
                            self.names.site.groups.keys().map(String::as_str)
                        )
                    ),
                );
                ok = false;
            }
            let above = rl.above.as_ref().map(|v| self.level(v));
            let below = rl.below.as_ref().map(|v| self.level(v));
            if above.is_none() && below.is_none() {
                self.err(l.span(), "`level` needs `above` or `below`");
                ok = false;
            }
            if above.is_some_and(|a| a.is_none()) || below.is_some_and(|b| b.is_none()) {
                ok = false;
            }
            c.levels.push(LevelCheck {
                group: group.to_string(),
                above: above.flatten(),
                below: below.flatten(),
            });
        }
        ok.then_some(c)
    }

    fn act(&mut self, a: &Spanned<RawAct>) -> Option<Act> {
        let r = a.get_ref();
        let verbs: Vec<(&str, Range<usize>)> = [
            ("start", r.start.as_ref().map(|v| v.span())),
            ("stop", r.stop.as_ref().map(|v| v.span())),
            ("override", r.override_.as_ref().map(|v| v.span())),
            ("master", r.master.as_ref().map(|v| v.span())),
            ("release", r.release.as_ref().map(|v| v.span())),
            ("skip", r.skip.as_ref().map(|v| v.span())),
            ("webhook", r.webhook.as_ref().map(|v| v.span())),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        let verb = match verbs.as_slice() {
            [] => {
                self.err(
                    a.span(),
                    "an action needs one of start, stop, override, master, release, skip, webhook",
                );
                return None;
            }
            [(v, _)] => *v,
            [first, second, ..] => {
                self.err(
                    second.1.clone(),
                    format!(
                        "one action per table: {} and {} are both given (list them as two actions)",
                        first.0, second.0
                    ),
                );
                return None;
            }
        };
        // Keys that belong to another verb are mistakes, not ignored.
        let allowed: &[&str] = match verb {
            "start" => &["for", "target", "fade"],
            "override" => &["level", "color", "show", "blackout", "ttl", "fade"],
            "master" => &["level"],
            "webhook" => &["body"],
            _ => &[],
        };
        let extra: [(&str, Option<Range<usize>>); 8] = [
            ("for", r.duration.as_ref().map(|v| v.span())),
            ("target", r.target.as_ref().map(|v| v.span())),
            ("fade", r.fade.as_ref().map(|v| v.span())),
            ("level", r.level.as_ref().map(|v| v.span())),
            ("color", r.color.as_ref().map(|v| v.span())),
            ("show", r.show.as_ref().map(|v| v.span())),
            ("blackout", r.blackout.as_ref().map(|v| v.span())),
            ("ttl", r.ttl.as_ref().map(|v| v.span())),
        ];
        for (k, span) in extra {
            if let Some(span) = span {
                if !allowed.contains(&k) {
                    self.err(span, format!("`{k}` does not go with `{verb}`"));
                    return None;
                }
            }
        }
        if r.body.is_some() && verb != "webhook" {
            self.err(a.span(), format!("`body` does not go with `{verb}`"));
            return None;
        }
        let fade = match &r.fade {
            None => None,
            Some(f) => Some(self.duration(f, "fade", false)?),
        };
        match verb {
            "start" => {
                let show = self.show(r.start.as_ref()?)?;
                let duration_s = match &r.duration {
                    None => DEFAULT_SCENE_S,
                    Some(d) => self.duration(d, "for", true)?,
                };
                let target = match &r.target {
                    None => None,
                    Some(t) => Some(self.target(t)?),
                };
                Some(Act::Start {
                    show,
                    duration_s,
                    target,
                    fade_s: fade,
                })
            }
            "stop" => Some(Act::Stop {
                show: self.show(r.stop.as_ref()?)?,
            }),
            "override" => {
                let target = self.target(r.override_.as_ref()?);
                let mut given = Vec::new();
                if let Some(l) = &r.level {
                    given.push(self.level(l).map(OverrideWhat::Level));
                }
                if let Some(c) = &r.color {
                    given.push(match crate::color::Color::parse(c.get_ref()) {
                        Ok(_) => Some(OverrideWhat::Color(c.get_ref().trim().to_string())),
                        Err(m) => {
                            self.err(c.span(), m);
                            None
                        }
                    });
                }
                if let Some(s) = &r.show {
                    given.push(self.show(s).map(OverrideWhat::Show));
                }
                if let Some(b) = &r.blackout {
                    if !*b.get_ref() {
                        self.err(b.span(), "write `blackout = true` (or leave it out)");
                        return None;
                    }
                    given.push(Some(OverrideWhat::Blackout));
                }
                let what = match given.len() {
                    0 => {
                        self.err(
                            a.span(),
                            "`override` needs one of level, color, show or blackout = true",
                        );
                        return None;
                    }
                    1 => given.pop().flatten()?,
                    _ => {
                        self.err(
                            a.span(),
                            "`override` takes only one of level, color, show or blackout",
                        );
                        return None;
                    }
                };
                let ttl_s = match &r.ttl {
                    None => None,
                    Some(t) => Some(self.duration(t, "ttl", true)?),
                };
                Some(Act::Override {
                    target: target?,
                    what,
                    ttl_s,
                    fade_s: fade,
                })
            }
            "master" => {
                let m = r.master.as_ref()?;
                let target = self.target(m);
                let Some(l) = &r.level else {
                    self.err(a.span(), "`master` needs a `level`");
                    return None;
                };
                let level = self.level(l)?;
                Some(Act::Master {
                    target: target?,
                    level,
                })
            }
            "release" => {
                let t = r.release.as_ref()?;
                let target = if t.get_ref().trim() == "*" {
                    None
                } else {
                    Some(self.target(t)?)
                };
                Some(Act::Release { target })
            }
            "skip" => {
                let s = r.skip.as_ref()?;
                let show = self.show(s)?;
                if !self.names.schedule.entries.iter().any(|e| e.show == show) {
                    self.err(s.span(), format!("no [[schedule]] entry plays `{show}`, so there is no entry of it to skip"));
                    return None;
                }
                Some(Act::Skip { show })
            }
            "webhook" => {
                let u = r.webhook.as_ref()?;
                let url = webhook_url(u.get_ref())
                    .map_err(|m| self.err(u.span(), m))
                    .ok()?;
                let body = r.body.clone().unwrap_or_else(|| serde_json::json!({}));
                if serde_json::to_string(&body).map_or(0, |s| s.len()) > 16 * 1024 {
                    self.err(u.span(), "the webhook's body is larger than 16 KiB");
                    return None;
                }
                Some(Act::Webhook { url, body })
            }
            _ => None,
        }
    }

    fn notify(&mut self, n: &Spanned<RawNotify>) -> Option<Notify> {
        let r = n.get_ref();
        let to = match (&r.webhook, &r.osc) {
            (Some(u), None) => NotifyTo::Webhook(
                webhook_url(u.get_ref())
                    .map_err(|m| self.err(u.span(), m))
                    .ok()?,
            ),
            (None, Some(o)) => match o.get_ref().trim().parse::<std::net::SocketAddrV4>() {
                Ok(a) if a.port() != 0 => NotifyTo::Osc(std::net::SocketAddr::V4(a)),
                _ => {
                    self.err(
                        o.span(),
                        format!(
                            "`{}` is not an IPv4 address with a port, like \"127.0.0.1:53001\"",
                            o.get_ref()
                        ),
                    );
                    return None;
                }
            },
            (Some(_), Some(o)) => {
                self.err(
                    o.span(),
                    "a [[notify]] table is a `webhook` or an `osc` address, not both",
                );
                return None;
            }
            (None, None) => {
                self.err(
                    n.span(),
                    "[[notify]] needs `webhook` (an http:// URL) or `osc` (address:port)",
                );
                return None;
            }
        };
        let mut events = Vec::new();
        for e in r.events.iter().flat_map(|e| e.get_ref().iter()) {
            match EventKind::parse(e.get_ref().trim()) {
                Some(k) => events.push(k),
                None => {
                    let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                    self.err(
                        e.span(),
                        format!(
                            "unknown event `{}` (events: {}){}",
                            e.get_ref(),
                            all.join(", "),
                            crate::suggest::hint(e.get_ref(), all.iter().copied())
                        ),
                    );
                    return None;
                }
            }
        }
        Some(Notify { to, events })
    }
}

/// An `http://host:port/path` URL (no TLS: a proxy on the operator
/// network can front it).
fn webhook_url(text: &str) -> Result<String, String> {
    let t = text.trim();
    let rest = t.strip_prefix("http://").ok_or_else(|| {
        format!("`{t}`: a webhook is an http:// URL, like \"http://10.0.4.9:8000/hook\"")
    })?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || t.len() > 2048 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`{t}` is not a usable http:// URL"));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use crate::config::{compile as compile_config, Sources};
    use crate::diag::{Diagnostics, SourceFile};

    const PROFILE: &str = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";
    const SITE: &str =
        "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
[[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0\"\n\
[[fixtures]]\nname = \"b1\"\nprofile = \"rgb\"\nmode = \"3ch\"\nat = [0, 0]\naddress = \"0.1\"\n\
[groups]\nbridge = [\"b1\"]\n\
[[modes]]\nname = \"festival\"\ndates = \"--02-01..--02-02\"\n[[modes]]\nname = \"normal\"\n\
[[schedule]]\nshow = \"nightly\"\nstart = \"sunset\"\nend = \"23:00\"\n";
    const SHOW: &str =
        "name = \"nightly\"\n[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"#ffffff\"\n";

    fn load(extra: &str) -> Result<crate::config::Config, Vec<String>> {
        let sources = Sources {
            folder: "site".into(),
            site: SourceFile::new("site.toml", format!("{SITE}{extra}")),
            profiles: vec![SourceFile::new("rgb.toml", PROFILE)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("nightly.toml", SHOW)],
        };
        compile_config(sources, Diagnostics::default()).map_err(|d| {
            d.errors()
                .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
                .collect()
        })
    }

    #[test]
    fn a_full_trigger_compiles() {
        let cfg = load(
            "[[triggers]]\nname = \"bridge-red\"\non = { osc = \"/cue/red\" }\n\
             when = { mode = \"festival\", between = [\"18:00\", \"02:00\"], playing = \"nightly\", level = { group = \"bridge\", above = \"10%\" } }\n\
             do = [ { start = \"nightly\", for = \"10m\", target = \"bridge\" }, { override = \"bridge\", color = \"#ff0000\", ttl = \"5m\" },\n\
                    { master = \"*\", level = 0.5 }, { release = \"*\" }, { skip = \"nightly\" }, { stop = \"nightly\" },\n\
                    { webhook = \"http://127.0.0.1:9/h\", body = { text = \"red\", n = 3 } } ]\nlimit = \"5s\"\n\
             [[triggers]]\nname = \"go\"\non = { http = true }\ndo = [ { release = \"bridge\" } ]\n\
             [[notify]]\nosc = \"127.0.0.1:53001\"\nevents = [\"scene.started\"]\n",
        )
        .unwrap();
        let t = &cfg.triggers;
        assert_eq!(t.rules.len(), 2);
        let r = &t.rules[0];
        assert_eq!(r.actions.len(), 7);
        assert_eq!(r.limit_s, 5.0);
        assert_eq!(r.when.modes, vec!["festival".to_string()]);
        assert_eq!(t.rules[1].limit_s, crate::triggers::DEFAULT_LIMIT_S);
        match &r.actions[6] {
            crate::triggers::Act::Webhook { body, .. } => {
                assert_eq!(body["text"], "red");
                assert_eq!(body["n"], 3);
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(t.notify.len(), 1);
    }

    #[test]
    fn problems_are_located_and_all_reported() {
        let errs = load(
            "[[triggers]]\nname = \"a b\"\non = { osc = \"/x\", http = true }\ndo = []\n\
             [[triggers]]\nname = \"b\"\non = { at = \"cron: * * * * *\" }\nwhen = { mode = \"festivl\" }\n\
             do = [ { start = \"nighty\" }, { override = \"nowhere\", level = 2 }, { master = \"*\" }, { stop = \"nightly\", for = \"1m\" } ]\n\
             [[triggers]]\nname = \"b\"\non = { http = true }\ndo = [ { webhook = \"https://x\" } ]\n\
             [[notify]]\nosc = \"nowhere\"\n",
        )
        .unwrap_err();
        // Lines counted from the end of SITE (its last line ends with a newline).
        let base = super::tests::SITE.lines().count();
        let has = |line: usize, text: &str| {
            assert!(
                errs.iter()
                    .any(|e| e.starts_with(&format!("{}:", line + base)) && e.contains(text)),
                "no error at site line {} with `{text}` in {errs:#?}",
                line + base
            )
        };
        has(2, "trigger name `a b`");
        has(3, "`on` takes one kind: osc and http");
        has(4, "`do` lists no action");
        has(7, "`at` is a time of day");
        has(8, "unknown mode `festivl`");
        has(9, "unknown show `nighty`");
        has(9, "matches no fixture");
        has(9, "`master` needs a `level`");
        has(9, "`for` does not go with `stop`");
        has(13, "a webhook is an http:// URL");
        has(15, "not an IPv4 address");
    }

    #[test]
    fn duplicate_names_and_on_kinds() {
        let errs = load(
            "[[triggers]]\nname = \"x\"\non = { start = true }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"x\"\non = { art_trigger = 300 }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"y\"\non = { hex = \"0g\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"z\"\non = { osc = \"/nightscape/master\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"w\"\non = { mqtt = \"a/#/b\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"v\"\non = { timecode = \"1:2:3\" }\ndo = [ { release = \"*\" } ]\n",
        )
        .unwrap_err();
        let all = errs.join("\n");
        assert!(all.contains("art_trigger 300 is out of range"), "{all}");
        assert!(all.contains("is not hex bytes"), "{all}");
        assert!(all.contains("nightscape's own address space"), "{all}");
        assert!(all.contains("MQTT topic filter"), "{all}");
        assert!(all.contains("is not a timecode"), "{all}");
        let ok = load(
            "[[triggers]]\nname = \"x\"\non = { start = true }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"y\"\non = { udp = \"GO*\", input = \"kiosk\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"z\"\non = { hex = \"02 47 03\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"w\"\non = { at = \"sunset + 15m\" }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"v\"\non = { art_trigger = 5, sub_key = 1 }\ndo = [ { release = \"*\" } ]\n",
        )
        .unwrap();
        assert_eq!(ok.triggers.rules.len(), 5);
        let dup = load(
            "[[triggers]]\nname = \"x\"\non = { start = true }\ndo = [ { release = \"*\" } ]\n\
             [[triggers]]\nname = \"x\"\non = { http = true }\ndo = [ { release = \"*\" } ]\n",
        )
        .unwrap_err();
        assert!(dup.iter().any(|e| e.contains("defined twice")), "{dup:?}");
    }
}
