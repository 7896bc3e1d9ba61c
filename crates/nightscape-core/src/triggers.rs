//! Show-control triggers as data: what sets a trigger off (`on`), what must
//! hold for it to act (`when`), what it does (`do`), and how often it may.
//!
//! The site file declares them (`[[triggers]]`, read by `site::triggers`);
//! the daemon feeds this module what happened — an OSC message, a UDP
//! string, an ArtTrigger, a timecode step, the clock passing a time, an
//! MQTT message, an HTTP call, its own start — and runs the actions of the
//! triggers that match, through the same control service as the API. Kept
//! pure, like the rest of the core: time is an argument and the state the
//! conditions read is handed in as a [`Context`], so a rule can be tested
//! against any instant without a clock or a socket.
//!
//! Rate limiting is per trigger (`limit`, default one second): a button
//! that bounces or a flood of packets runs the actions at most once per
//! interval; what was refused is counted, never queued.

use crate::schedule::plan::{Schedule, TimeSpec};
use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use std::ops::Range;

/// Default interval between two firings of one trigger, seconds.
pub(crate) const DEFAULT_LIMIT_S: f64 = 1.0;

/// How long a scene started by a trigger or by OSC plays when no `for` is
/// given: a night, so it ends by itself if nobody stops it.
pub const DEFAULT_SCENE_S: f64 = 12.0 * 3600.0;

/// Triggers declared by a site, with where their events go out.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    pub rules: Vec<Trigger>,
    pub notify: Vec<Notify>,
}

/// One `[[triggers]]` table, compiled.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Unique in the site; also the HTTP trigger's path segment.
    pub name: String,
    pub on: On,
    pub when: Conditions,
    pub actions: Vec<Act>,
    /// Seconds that must pass between two firings.
    pub limit_s: f64,
    /// Where the table is written in the site file.
    pub span: Range<usize>,
}

/// What sets a trigger off.
#[derive(Debug, Clone)]
pub enum On {
    /// An OSC message to this address (OSC's `*` and `?` match within a
    /// part of the address).
    Osc(String),
    /// A datagram on a `udp` input (any, or the one named).
    Udp {
        input: Option<String>,
        pattern: UdpPattern,
    },
    /// An Art-Net ArtTrigger with this key (and sub-key, when given).
    ArtTrigger { key: u8, sub_key: Option<u8> },
    /// Received timecode passing this position.
    Timecode(Timecode),
    /// The site's clock passing a time of day or a sun event (with offset).
    At(TimeSpec),
    /// A message on this topic of the fleet's broker (MQTT `+` and `#`).
    Mqtt(String),
    /// `POST /api/triggers/<name>`.
    Http,
    /// The daemon's start.
    Start,
}

impl On {
    /// The kind as the console and the API show it.
    pub fn kind(&self) -> OnKind {
        match self {
            On::Osc(_) => OnKind::Osc,
            On::Udp { .. } => OnKind::Udp,
            On::ArtTrigger { .. } => OnKind::ArtTrigger,
            On::Timecode(_) => OnKind::Timecode,
            On::At(_) => OnKind::At,
            On::Mqtt(_) => OnKind::Mqtt,
            On::Http => OnKind::Http,
            On::Start => OnKind::Start,
        }
    }
}

/// The kinds of [`On`], as names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnKind {
    Osc,
    Udp,
    ArtTrigger,
    Timecode,
    At,
    Mqtt,
    Http,
    Start,
}

/// How a UDP datagram is matched: bytes exactly (written in hex), or an
/// ASCII glob (`*` any run, `?` one byte). Line ends a sender adds (`\r`,
/// `\n`) are not part of an ASCII match.
#[derive(Debug, Clone, PartialEq)]
pub enum UdpPattern {
    Exact(Vec<u8>),
    Glob(Vec<u8>),
}

impl UdpPattern {
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        match self {
            UdpPattern::Exact(b) => data == b.as_slice(),
            UdpPattern::Glob(g) => {
                let mut end = data.len();
                while end > 0 && matches!(data[end - 1], b'\r' | b'\n') {
                    end -= 1;
                }
                glob_bytes(g, &data[..end])
            }
        }
    }
}

/// `*` and `?` over bytes, iteratively (no recursion, linear backtracking
/// to the last star: a hostile datagram cannot make this expensive).
fn glob_bytes(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// OSC address pattern match: `*` and `?` within one part (between `/`).
pub(crate) fn osc_matches(pattern: &str, address: &str) -> bool {
    let mut p = pattern.split('/');
    let mut a = address.split('/');
    loop {
        match (p.next(), a.next()) {
            (None, None) => return true,
            (Some(pp), Some(aa)) => {
                if !glob_bytes(pp.as_bytes(), aa.as_bytes()) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// MQTT topic filter match: `+` one level, `#` the rest.
pub(crate) fn mqtt_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(ff), Some(tt)) if ff == tt => {}
            _ => return false,
        }
    }
}

/// A timecode position: hours, minutes, seconds, frames. Ordered as
/// written, so no frame rate is needed to compare two of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Timecode {
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub frames: u8,
}

impl Timecode {
    /// `HH:MM:SS:FF` (`;` before the frames, drop-frame style, accepted).
    pub fn parse(text: &str) -> Result<Timecode, String> {
        let bad =
            || format!("`{text}` is not a timecode: write it HH:MM:SS:FF, like \"00:01:30:00\"");
        let t = text.trim().replace(';', ":");
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() != 4 {
            return Err(bad());
        }
        let n: Vec<u8> = parts
            .iter()
            .map(|p| p.parse::<u8>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if n[0] > 23 || n[1] > 59 || n[2] > 59 || n[3] > 29 {
            return Err(format!(
                "`{text}` is out of range: hours 0..23, minutes and seconds 0..59, frames 0..29"
            ));
        }
        Ok(Timecode {
            hours: n[0],
            minutes: n[1],
            seconds: n[2],
            frames: n[3],
        })
    }

    /// Whole seconds from 00:00:00:00 (frames left out).
    fn whole_seconds(self) -> u32 {
        u32::from(self.hours) * 3600 + u32::from(self.minutes) * 60 + u32::from(self.seconds)
    }
}

impl std::fmt::Display for Timecode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}:{:02}:{:02}",
            self.hours, self.minutes, self.seconds, self.frames
        )
    }
}

/// What the daemon saw happen (the clock is asked separately: [`Triggers::due`]).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Osc {
        address: &'a str,
    },
    Udp {
        input: &'a str,
        data: &'a [u8],
    },
    ArtTrigger {
        key: u8,
        sub_key: u8,
    },
    /// Timecode moved from `from` (None: it was not running) to `to`.
    Timecode {
        from: Option<Timecode>,
        to: Timecode,
    },
    Mqtt {
        topic: &'a str,
    },
    Http {
        name: &'a str,
    },
    Start,
}

/// Timecode passing a cue fires it when it runs forward over it in a
/// small step; a relocation (a jump back, or forward by more than this)
/// fires only a cue it lands on exactly, so a chase to the end of a show
/// does not fire every cue on the way.
const TIMECODE_STEP_S: u32 = 2;

impl On {
    /// Whether `event` sets this off.
    pub fn matches(&self, event: &Event<'_>) -> bool {
        match (self, event) {
            (On::Osc(p), Event::Osc { address }) => osc_matches(p, address),
            (On::Udp { input, pattern }, Event::Udp { input: i, data }) => {
                input.as_deref().is_none_or(|n| n == *i) && pattern.matches(data)
            }
            (On::ArtTrigger { key, sub_key }, Event::ArtTrigger { key: k, sub_key: s }) => {
                key == k && sub_key.is_none_or(|x| x == *s)
            }
            (On::Timecode(at), Event::Timecode { from, to }) => match from {
                Some(f) if f < to && to.whole_seconds() - f.whole_seconds() <= TIMECODE_STEP_S => {
                    f < at && at <= to
                }
                _ => at == to,
            },
            (On::Mqtt(filter), Event::Mqtt { topic }) => mqtt_matches(filter, topic),
            (On::Http, Event::Http { .. }) | (On::Start, Event::Start) => true,
            _ => false,
        }
    }
}

/// Conditions that must all hold (empty: always).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// The night's mode is one of these.
    pub modes: Vec<String>,
    /// The site's wall clock is in `[from, to)`; a window past midnight
    /// (`from` after `to`) wraps.
    pub between: Option<(NaiveTime, NaiveTime)>,
    /// These shows are playing (schedule or scene).
    pub playing: Vec<String>,
    /// These shows are not playing.
    pub not_playing: Vec<String>,
    pub levels: Vec<LevelCheck>,
}

/// A group's level compared with a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelCheck {
    pub group: String,
    /// Holds when the level is above this (exclusive).
    pub above: Option<f32>,
    /// Holds when the level is below this (exclusive).
    pub below: Option<f32>,
}

/// What the conditions read, handed in by the daemon.
pub struct Context<'a> {
    /// The mode of the night in force (forced or chosen by `[[modes]]`).
    pub mode: &'a str,
    /// The site's wall-clock time now.
    pub local: NaiveTime,
    /// Whether a show plays now.
    pub playing: &'a dyn Fn(&str) -> bool,
    /// A group's level now, 0..1 (None: no such group).
    pub level: &'a dyn Fn(&str) -> Option<f32>,
}

impl Conditions {
    /// `Ok` when every condition holds, else the first that does not, as
    /// an operator reads it.
    pub fn check(&self, ctx: &Context<'_>) -> Result<(), String> {
        if !self.modes.is_empty() && !self.modes.iter().any(|m| m == ctx.mode) {
            return Err(format!(
                "tonight's mode is `{}`, not {}",
                ctx.mode,
                self.modes.join(" or ")
            ));
        }
        if let Some((from, to)) = self.between {
            let t = ctx.local;
            let inside = if from <= to {
                from <= t && t < to
            } else {
                t >= from || t < to
            };
            if !inside {
                return Err(format!(
                    "{} is outside {}–{}",
                    t.format("%H:%M:%S"),
                    from.format("%H:%M"),
                    to.format("%H:%M")
                ));
            }
        }
        if let Some(s) = self.playing.iter().find(|s| !(ctx.playing)(s)) {
            return Err(format!("show `{s}` is not playing"));
        }
        if let Some(s) = self.not_playing.iter().find(|s| (ctx.playing)(s)) {
            return Err(format!("show `{s}` is playing"));
        }
        for c in &self.levels {
            let Some(l) = (ctx.level)(&c.group) else {
                return Err(format!("group `{}` is not in the site", c.group));
            };
            if c.above.is_some_and(|a| l <= a) || c.below.is_some_and(|b| l >= b) {
                return Err(format!(
                    "group `{}` is at {}%{}{}",
                    c.group,
                    crate::units::percent(f64::from(l)),
                    c.above
                        .map(|a| format!(", not above {}%", crate::units::percent(f64::from(a))))
                        .unwrap_or_default(),
                    c.below
                        .map(|b| format!(", not below {}%", crate::units::percent(f64::from(b))))
                        .unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }
}

/// What an override does, as written in a trigger (the daemon turns it
/// into the control module's action).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideWhat {
    Level(f32),
    Color(String),
    Show(String),
    Blackout,
}

/// One action of a trigger's `do` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Act {
    /// Start a show as a scene.
    Start {
        show: String,
        duration_s: f64,
        target: Option<String>,
        fade_s: Option<f64>,
    },
    /// Stop the scenes of a show (each fades out).
    Stop { show: String },
    /// Create an override.
    Override {
        target: String,
        what: OverrideWhat,
        ttl_s: Option<f64>,
        fade_s: Option<f64>,
    },
    /// Set a master ("*": the site's).
    Master { target: String, level: f32 },
    /// Release overrides (every one, or those on a target).
    Release { target: Option<String> },
    /// Skip tonight's schedule entry that plays this show.
    Skip { show: String },
    /// POST a JSON body to a URL.
    Webhook {
        url: String,
        body: serde_json::Value,
    },
}

/// Where events go out.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub to: NotifyTo,
    /// The events sent (every kind when empty).
    pub events: Vec<EventKind>,
}

impl Notify {
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotifyTo {
    /// `http://host:port/path`: a JSON POST per event.
    Webhook(String),
    /// An OSC message per event to this address.
    Osc(std::net::SocketAddr),
}

/// The events nightscape tells the outside world about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum EventKind {
    #[serde(rename = "scene.started")]
    SceneStarted,
    #[serde(rename = "scene.stopped")]
    SceneStopped,
    #[serde(rename = "alarm.raised")]
    AlarmRaised,
    #[serde(rename = "alarm.cleared")]
    AlarmCleared,
    #[serde(rename = "trigger.fired")]
    TriggerFired,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::SceneStarted,
        EventKind::SceneStopped,
        EventKind::AlarmRaised,
        EventKind::AlarmCleared,
        EventKind::TriggerFired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::SceneStarted => "scene.started",
            EventKind::SceneStopped => "scene.stopped",
            EventKind::AlarmRaised => "alarm.raised",
            EventKind::AlarmCleared => "alarm.cleared",
            EventKind::TriggerFired => "trigger.fired",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == text)
    }

    /// The OSC address an event goes out on: `/nightscape/event/scene/started`, …
    pub fn osc_address(self) -> String {
        format!("/nightscape/event/{}", self.name().replace('.', "/"))
    }
}

impl Triggers {
    pub fn get(&self, name: &str) -> Option<(usize, &Trigger)> {
        self.rules.iter().enumerate().find(|(_, t)| t.name == name)
    }

    /// The triggers `event` sets off, in file order.
    pub fn matching<'s>(&'s self, event: &'s Event<'s>) -> impl Iterator<Item = usize> + 's {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.on.matches(event))
            .map(|(i, _)| i)
    }

    /// The clock triggers whose time falls in `(from, to]`: each is
    /// resolved in the nights of both ends (a time past midnight belongs
    /// to the night before), so a step over noon misses nothing. A step
    /// longer than a day (a clock jump) fires nothing: the daemon was not
    /// watching, and catching up a day of cues would be wrong.
    pub fn due(&self, schedule: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<usize> {
        if to <= from || (to - from) > chrono::Duration::hours(24) {
            return Vec::new();
        }
        let mut nights = vec![schedule.night_of(from)];
        let last = schedule.night_of(to);
        if last != nights[0] {
            nights.push(last);
        }
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, t)| match &t.on {
                On::At(spec) => nights.iter().any(|&n| {
                    schedule
                        .resolve(n, spec, None)
                        .is_some_and(|at| from < at && at <= to)
                }),
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// When each trigger last fired, and the rate limit. Keyed by the
/// trigger's name, so a reload that reorders or edits the site file keeps
/// what each trigger did.
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    last: std::collections::HashMap<String, DateTime<Utc>>,
}

impl Limiter {
    /// Admit a firing of trigger `name` at `now` and remember it, or refuse
    /// it with the seconds left until it may fire again. A clock that went
    /// back admits (the interval is measured forward only).
    pub fn admit(&mut self, name: &str, limit_s: f64, now: DateTime<Utc>) -> Result<(), f64> {
        if let Some(&last) = self.last.get(name) {
            let since = (now - last).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            if since >= 0.0 && since < limit_s {
                return Err(limit_s - since);
            }
        }
        self.last.insert(name.to_string(), now);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn last(&self, name: &str) -> Option<DateTime<Utc>> {
        self.last.get(name).copied()
    }

    #[cfg(test)]
    /// Forget triggers no longer declared (bounded by the site's count).
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.last.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tc(s: &str) -> Timecode {
        Timecode::parse(s).unwrap()
    }

    #[test]
    fn udp_glob_ascii_and_hex_exact() {
        let g = UdpPattern::Glob(b"GO *".to_vec());
        assert!(g.matches(b"GO 12\r\n"));
        assert!(g.matches(b"GO "));
        assert!(!g.matches(b"GOX"));
        let q = UdpPattern::Glob(b"B?N".to_vec());
        assert!(q.matches(b"BTN") && !q.matches(b"BTTN"));
        let h = UdpPattern::Exact(vec![0x02, 0x47, 0x03]);
        assert!(h.matches(&[0x02, 0x47, 0x03]));
        assert!(!h.matches(&[0x02, 0x47, 0x03, 0x0a]));
        // A long hostile datagram against many stars stays linear.
        let many = UdpPattern::Glob(b"*a*a*a*a*a*a*a*b".to_vec());
        assert!(!many.matches(&[b'a'; 60_000]));
    }

    #[test]
    fn osc_and_mqtt_patterns() {
        assert!(osc_matches("/cue/*/go", "/cue/12/go"));
        assert!(!osc_matches("/cue/*/go", "/cue/12/13/go"));
        assert!(osc_matches("/a/b", "/a/b"));
        assert!(!osc_matches("/a/b", "/a/bc"));
        assert!(mqtt_matches("city/+/cmd", "city/bridge/cmd"));
        assert!(mqtt_matches("city/#", "city/bridge/cmd"));
        assert!(!mqtt_matches("city/+", "city/bridge/cmd"));
        assert!(!mqtt_matches("city/bridge", "city/bridge/cmd"));
    }

    #[test]
    fn timecode_fires_when_passed_forward_not_on_a_chase() {
        let on = On::Timecode(tc("00:01:00:00"));
        let ev = |from: Option<&str>, to: &str| Event::Timecode {
            from: from.map(tc),
            to: tc(to),
        };
        assert!(on.matches(&ev(Some("00:00:59:24"), "00:01:00:00")));
        assert!(on.matches(&ev(Some("00:00:59:20"), "00:01:00:02")));
        assert!(!on.matches(&ev(Some("00:01:00:00"), "00:01:00:01")));
        // Jumps: back, far forward, first code.
        assert!(!on.matches(&ev(Some("00:00:10:00"), "00:05:00:00")));
        assert!(!on.matches(&ev(Some("00:02:00:00"), "00:00:59:00")));
        assert!(on.matches(&ev(Some("00:02:00:00"), "00:01:00:00")));
        assert!(on.matches(&ev(None, "00:01:00:00")));
        assert!(Timecode::parse("00:01:00").is_err());
        assert!(Timecode::parse("24:00:00:00").is_err());
        assert_eq!(tc("01:02:03;04").to_string(), "01:02:03:04");
    }

    fn ctx_eval(
        c: &Conditions,
        mode: &str,
        at: (u32, u32),
        playing: &[&str],
        level: f32,
    ) -> Result<(), String> {
        let playing = |s: &str| playing.contains(&s);
        let level = |g: &str| (g == "bridge").then_some(level);
        c.check(&Context {
            mode,
            local: NaiveTime::from_hms_opt(at.0, at.1, 0).unwrap(),
            playing: &playing,
            level: &level,
        })
    }

    #[test]
    fn conditions_each_kind() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let c = Conditions::default();
        assert!(ctx_eval(&c, "normal", (3, 0), &[], 0.0).is_ok());
        let c = Conditions {
            modes: vec!["festival".into()],
            ..Default::default()
        };
        assert!(ctx_eval(&c, "festival", (3, 0), &[], 0.0).is_ok());
        assert!(ctx_eval(&c, "normal", (3, 0), &[], 0.0)
            .unwrap_err()
            .contains("`normal`"));
        let c = Conditions {
            between: Some((t(18, 0), t(2, 0))),
            ..Default::default()
        };
        assert!(ctx_eval(&c, "m", (23, 0), &[], 0.0).is_ok());
        assert!(ctx_eval(&c, "m", (1, 59), &[], 0.0).is_ok());
        assert!(ctx_eval(&c, "m", (2, 0), &[], 0.0).is_err());
        assert!(ctx_eval(&c, "m", (12, 0), &[], 0.0).is_err());
        let c = Conditions {
            between: Some((t(9, 0), t(17, 0))),
            ..Default::default()
        };
        assert!(ctx_eval(&c, "m", (12, 0), &[], 0.0).is_ok());
        assert!(ctx_eval(&c, "m", (18, 0), &[], 0.0).is_err());
        let c = Conditions {
            playing: vec!["a".into()],
            not_playing: vec!["b".into()],
            ..Default::default()
        };
        assert!(ctx_eval(&c, "m", (1, 0), &["a"], 0.0).is_ok());
        assert!(ctx_eval(&c, "m", (1, 0), &[], 0.0).is_err());
        assert!(ctx_eval(&c, "m", (1, 0), &["a", "b"], 0.0).is_err());
        let c = Conditions {
            levels: vec![LevelCheck {
                group: "bridge".into(),
                above: Some(0.5),
                below: Some(0.9),
            }],
            ..Default::default()
        };
        assert!(ctx_eval(&c, "m", (1, 0), &[], 0.6).is_ok());
        assert!(ctx_eval(&c, "m", (1, 0), &[], 0.5).is_err());
        assert!(ctx_eval(&c, "m", (1, 0), &[], 0.95).is_err());
    }

    #[test]
    fn rate_limit_per_trigger() {
        let mut l = Limiter::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 20, 0, 0).unwrap();
        let ms = |n| t0 + chrono::Duration::milliseconds(n);
        assert!(l.admit("a", 1.0, t0).is_ok());
        let left = l.admit("a", 1.0, ms(400)).unwrap_err();
        assert!((left - 0.6).abs() < 1e-9);
        // The other trigger is not held back.
        assert!(l.admit("b", 1.0, ms(400)).is_ok());
        assert!(l.admit("a", 1.0, ms(1000)).is_ok());
        assert_eq!(l.last("a"), Some(ms(1000)));
        // A clock that stepped back admits.
        assert!(l.admit("a", 1.0, ms(-5000)).is_ok());
        l.retain(|n| n == "b");
        assert_eq!(l.last("a"), None);
        assert!(l.last("b").is_some());
    }

    #[test]
    fn matching_by_event_kind() {
        let rule = |name: &str, on: On| Trigger {
            name: name.into(),
            on,
            when: Conditions::default(),
            actions: Vec::new(),
            limit_s: 1.0,
            span: 0..0,
        };
        let t = Triggers {
            rules: vec![
                rule("a", On::Osc("/cue/1".into())),
                rule("b", On::Http),
                rule("c", On::Start),
                rule(
                    "d",
                    On::ArtTrigger {
                        key: 3,
                        sub_key: None,
                    },
                ),
                rule("e", On::Mqtt("city/+/go".into())),
                rule(
                    "f",
                    On::Udp {
                        input: Some("kiosk".into()),
                        pattern: UdpPattern::Glob(b"GO".to_vec()),
                    },
                ),
            ],
            notify: Vec::new(),
        };
        let hits = |e: Event<'_>| t.matching(&e).collect::<Vec<_>>();
        assert_eq!(hits(Event::Osc { address: "/cue/1" }), vec![0]);
        assert_eq!(hits(Event::Http { name: "b" }), vec![1]);
        assert_eq!(hits(Event::Start), vec![2]);
        assert_eq!(hits(Event::ArtTrigger { key: 3, sub_key: 9 }), vec![3]);
        assert_eq!(
            hits(Event::ArtTrigger { key: 4, sub_key: 0 }),
            Vec::<usize>::new()
        );
        assert_eq!(hits(Event::Mqtt { topic: "city/x/go" }), vec![4]);
        assert_eq!(
            hits(Event::Udp {
                input: "kiosk",
                data: b"GO\n"
            }),
            vec![5]
        );
        assert!(hits(Event::Udp {
            input: "other",
            data: b"GO"
        })
        .is_empty());
    }

    #[test]
    fn clock_triggers_fire_once_as_time_passes() {
        let schedule = Schedule {
            entries: Vec::new(),
            modes: Vec::new(),
            latitude: 22.54,
            longitude: 114.06,
            tz: chrono_tz::Asia::Shanghai,
        };
        let at = |s: &str| On::At(crate::schedule::plan::parse_time(s).unwrap());
        let rule = |on: On| Trigger {
            name: "x".into(),
            on,
            when: Conditions::default(),
            actions: Vec::new(),
            limit_s: 1.0,
            span: 0..0,
        };
        let t = Triggers {
            rules: vec![rule(at("21:30")), rule(at("01:00")), rule(at("sunset"))],
            notify: Vec::new(),
        };
        // 21:30 Shanghai = 13:30 UTC.
        let u = |h, m, s| Utc.with_ymd_and_hms(2026, 6, 1, h, m, s).unwrap();
        assert_eq!(t.due(&schedule, u(13, 29, 59), u(13, 30, 0)), vec![0]);
        assert!(t.due(&schedule, u(13, 30, 0), u(13, 30, 1)).is_empty());
        // 01:00 the next morning belongs to the night of 1 June.
        assert_eq!(t.due(&schedule, u(16, 59, 59), u(17, 0, 0)), vec![1]);
        // Sunset in Shenzhen on 1 June is about 19:05 local (11:05 UTC).
        assert_eq!(t.due(&schedule, u(10, 0, 0), u(12, 0, 0)), vec![2]);
        // A clock jump of more than a day fires nothing.
        assert!(t
            .due(
                &schedule,
                u(0, 0, 0),
                u(0, 0, 0) + chrono::Duration::days(2)
            )
            .is_empty());
    }
}
