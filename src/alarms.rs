//! Alarms: conditions an operator must hear about — an output or node
//! down, a node on a different configuration, a rejected reload, clock
//! drift, a broker gap — raised once with the time, cleared when the
//! condition goes away.
//!
//! Sources call [`Alarms::set`] with the condition's current truth as
//! often as they like; only changes become events. Conditions that flap
//! (a peer restarting, a clock estimate, a broker connection) go through a
//! [`Hysteresis`]: they must hold for a while before they raise, and be
//! gone for a while before they clear. Raised and cleared times are the
//! wall clock (when an operator hears of it), even when the daemon renders
//! on a simulated clock. Events go to anyone
//! subscribed (the fleet publishes them on MQTT, the webhook POSTs them),
//! and `GET /api/alarms` lists the active ones and the recently cleared.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// How many cleared alarms are kept for the API.
const RECENT: usize = 50;

/// What kind of condition an alarm is: a closed set, so a webhook, an MQTT
/// subscriber or a show-control trigger can act on it without parsing the
/// message. Serialised in snake case (`"output_down"`); the OpenAPI document
/// lists every value.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// An output is down (its port closed, its sends failing, or its
    /// Art-Net node no longer answering).
    OutputDown,
    /// Edited site files do not load; the last good configuration runs.
    ReloadRejected,
    /// A fleet peer went silent or offline.
    NodeDown,
    /// A fleet peer runs other site files.
    ConfigDiffers,
    /// This node sends a silent peer's outputs (it stands by for it).
    StandbyActive,
    /// A fleet peer's clock is further off than `[fleet] max_offset`.
    ClockDrift,
    /// This node's clock is not synchronised: it holds timed entries.
    ClockUnsynced,
    /// The fleet's broker is unreachable.
    BrokerGap,
    /// The broker refused this node's login.
    BrokerRefused,
    /// A fleet command was refused (signature, bounds, origin).
    CommandRefused,
    /// A site version is to run, but its bundle is not stored here.
    RolloutMissing,
    /// A rollout bundle or switch was refused.
    RolloutRefused,
    /// RDM: a patched fixture did not answer discovery.
    FixtureMissing,
    /// RDM: the device at a fixture's address is not the one patched.
    FixtureMismatch,
    /// RDM: a fixture reports a lamp failure.
    LampFailure,
    /// RDM: a fixture's sensor reads outside its range.
    SensorOutOfRange,
}

impl AlarmKind {
    /// Every kind, in declaration order.
    pub const ALL: [AlarmKind; 16] = [
        AlarmKind::OutputDown,
        AlarmKind::ReloadRejected,
        AlarmKind::NodeDown,
        AlarmKind::ConfigDiffers,
        AlarmKind::StandbyActive,
        AlarmKind::ClockDrift,
        AlarmKind::ClockUnsynced,
        AlarmKind::BrokerGap,
        AlarmKind::BrokerRefused,
        AlarmKind::CommandRefused,
        AlarmKind::RolloutMissing,
        AlarmKind::RolloutRefused,
        AlarmKind::FixtureMissing,
        AlarmKind::FixtureMismatch,
        AlarmKind::LampFailure,
        AlarmKind::SensorOutOfRange,
    ];

    /// The kind's name as serialised (logs use it).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::OutputDown => "output_down",
            AlarmKind::ReloadRejected => "reload_rejected",
            AlarmKind::NodeDown => "node_down",
            AlarmKind::StandbyActive => "standby_active",
            AlarmKind::ConfigDiffers => "config_differs",
            AlarmKind::ClockDrift => "clock_drift",
            AlarmKind::ClockUnsynced => "clock_unsynced",
            AlarmKind::BrokerGap => "broker_gap",
            AlarmKind::BrokerRefused => "broker_refused",
            AlarmKind::CommandRefused => "command_refused",
            AlarmKind::RolloutMissing => "rollout_missing",
            AlarmKind::RolloutRefused => "rollout_refused",
            AlarmKind::FixtureMissing => "fixture_missing",
            AlarmKind::FixtureMismatch => "fixture_mismatch",
            AlarmKind::LampFailure => "lamp_failure",
            AlarmKind::SensorOutOfRange => "sensor_out_of_range",
        }
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alarm.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alarm {
    /// Identifies the condition (`output:artnet:10.0.4.20:6454`, `broker`, …).
    pub key: String,
    pub kind: AlarmKind,
    pub message: String,
    pub raised: DateTime<Utc>,
    pub cleared: Option<DateTime<Utc>>,
}

/// `GET /api/alarms`: the active alarms and the recently cleared (newest
/// first, at most 50).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlarmsView {
    pub active: Vec<Alarm>,
    pub recent: Vec<Alarm>,
}

#[derive(Default)]
struct Inner {
    active: BTreeMap<String, Alarm>,
    recent: VecDeque<Alarm>,
}

/// The node's alarm list; share it behind an `Arc`.
pub struct Alarms {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Alarm>,
}

impl Default for Alarms {
    fn default() -> Self {
        Alarms {
            inner: Mutex::default(),
            events: broadcast::channel(64).0,
        }
    }
}

impl Alarms {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Say whether the condition `key` holds now. Raising an active alarm
    /// or clearing an inactive one does nothing; a change is logged and
    /// sent to subscribers, stamped with the wall clock. `message` is taken
    /// when the alarm is raised.
    pub fn set(&self, key: &str, kind: AlarmKind, on: bool, message: impl FnOnce() -> String) {
        let at = Utc::now();
        let mut inner = self.lock();
        let event = match (on, inner.active.contains_key(key)) {
            (true, false) => {
                let a = Alarm {
                    key: key.to_string(),
                    kind,
                    message: message(),
                    raised: at,
                    cleared: None,
                };
                tracing::warn!(alarm = %a.kind, since = %a.raised, "{}", a.message);
                inner.active.insert(key.to_string(), a.clone());
                a
            }
            (false, true) => {
                let Some(mut a) = inner.active.remove(key) else {
                    return;
                };
                a.cleared = Some(at);
                tracing::info!(alarm = %a.kind, raised = %a.raised, "cleared: {}", a.message);
                inner.recent.push_front(a.clone());
                inner.recent.truncate(RECENT);
                a
            }
            _ => return,
        };
        drop(inner);
        let _ = self.events.send(event);
    }

    /// Clear every active alarm whose key starts with `prefix` and is not in `keep`.
    pub fn clear_others(&self, prefix: &str, keep: &[String]) {
        let keys: Vec<String> = self
            .lock()
            .active
            .keys()
            .filter(|k| k.starts_with(prefix) && !keep.contains(k))
            .cloned()
            .collect();
        for k in keys {
            self.clear(&k);
        }
    }

    /// Clear `key` if it is active (its kind is the one it was raised with).
    pub fn clear(&self, key: &str) {
        let kind = self.lock().active.get(key).map(|a| a.kind);
        if let Some(kind) = kind {
            self.set(key, kind, false, String::new);
        }
    }

    pub fn active(&self) -> Vec<Alarm> {
        self.lock().active.values().cloned().collect()
    }

    pub fn recent(&self) -> Vec<Alarm> {
        self.lock().recent.iter().cloned().collect()
    }

    /// Raised and cleared alarms from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Alarm> {
        self.events.subscribe()
    }
}

/// A condition must hold for `raise_after` before it raises its alarm and
/// be gone for `clear_after` before it clears it (monotonic time, so a
/// simulated or stepped clock changes nothing).
#[derive(Default)]
pub struct Hysteresis {
    /// Per key: the condition's last reported truth and since when.
    seen: std::collections::HashMap<String, (bool, std::time::Instant)>,
}

impl Hysteresis {
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        alarms: &Alarms,
        key: &str,
        kind: AlarmKind,
        on: bool,
        raise_after: std::time::Duration,
        clear_after: std::time::Duration,
        message: impl FnOnce() -> String,
    ) {
        self.set_at(
            alarms,
            key,
            kind,
            on,
            raise_after,
            clear_after,
            message,
            std::time::Instant::now(),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn set_at(
        &mut self,
        alarms: &Alarms,
        key: &str,
        kind: AlarmKind,
        on: bool,
        raise_after: std::time::Duration,
        clear_after: std::time::Duration,
        message: impl FnOnce() -> String,
        now: std::time::Instant,
    ) {
        let e = self.seen.entry(key.to_string()).or_insert((on, now));
        if e.0 != on {
            *e = (on, now);
        }
        let held = now.saturating_duration_since(e.1);
        if on && held >= raise_after {
            alarms.set(key, kind, true, message);
        } else if !on && held >= clear_after {
            alarms.set(key, kind, false, String::new);
        }
    }

    /// Forget the conditions under `prefix` not in `keep`, clearing their alarms.
    pub fn forget_others(&mut self, alarms: &Alarms, prefix: &str, keep: &[String]) {
        self.seen
            .retain(|k, _| !k.starts_with(prefix) || keep.contains(k));
        alarms.clear_others(prefix, keep);
    }
}

/// Watch this node's own conditions once a second until `shared.stop`:
/// outputs down (including Art-Net nodes that stopped answering) and
/// rejected reloads.
pub async fn watch_local(shared: crate::daemon::Shared, alarms: std::sync::Arc<Alarms>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut reload_seen = shared
        .reload
        .lock()
        .map(|r| (r.applied, r.rejected))
        .unwrap_or_default();
    let mut reload_bad = false;
    while !shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        let outputs = shared
            .stats
            .lock()
            .map(|s| s.outputs.clone())
            .unwrap_or_default();
        let mut seen = Vec::new();
        for h in &outputs {
            let key = format!("output:{}:{}", h.kind, h.target);
            let down = h.state == crate::output::DOWN;
            alarms.set(&key, AlarmKind::OutputDown, down, || {
                format!(
                    "{} output to {} is down: {}",
                    h.kind,
                    h.target,
                    h.last_error.as_deref().unwrap_or("no detail")
                )
            });
            seen.push(key);
        }
        alarms.clear_others("output:", &seen);
        // A rejected edit raises the alarm; the next applied one clears it.
        let (applied, rejected, last) = shared
            .reload
            .lock()
            .map(|r| (r.applied, r.rejected, r.last_rejected.clone()))
            .unwrap_or_default();
        if rejected > reload_seen.1 {
            reload_bad = true;
        }
        if applied > reload_seen.0 {
            reload_bad = false;
        }
        reload_seen = (applied, rejected);
        alarms.set(
            "reload",
            AlarmKind::ReloadRejected,
            reload_bad,
            || match &last {
                Some(r) => format!(
                    "the edited site files do not load ({}); still running the last good configuration: {}",
                    r.at,
                    r.problems.first().map_or("", String::as_str)
                ),
                None => "the edited site files do not load; still running the last good configuration".into(),
            },
        );
    }
}

/// POST every alarm event as JSON to `url` (`http://host:port/path`),
/// best effort: a webhook that is down costs a log line, never the loop.
pub async fn webhook(url: String, alarms: std::sync::Arc<Alarms>) {
    let mut rx = alarms.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let body = serde_json::to_string(&event).unwrap_or_default();
        if let Err(e) = post(&url, &body).await {
            tracing::warn!(webhook = %url, "alarm webhook: {e}");
        }
    }
}

/// A minimal HTTP/1.1 POST of a JSON body (a webhook is a plain-HTTP
/// receiver on the operator network; a TLS proxy can front it). Only a 2xx
/// answer is a success. Alarm webhooks and show control's events out
/// (`triggers/out.rs`) both send through it.
pub(crate) async fn post(url: &str, body: &str) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// webhooks"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: nightscape\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head).await?;
        let line = String::from_utf8_lossy(&head[..n]);
        if !line.starts_with("HTTP/1.1 2") && !line.starts_with("HTTP/1.0 2") {
            return Err(std::io::Error::other(format!(
                "answered {}",
                line.lines().next().unwrap_or("")
            )));
        }
        Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), fut)
        .await
        .map_err(|_| std::io::Error::other("timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_once_and_cleared_at_wall_clock_times() {
        let a = Alarms::default();
        let mut rx = a.subscribe();
        let t = Utc::now();
        a.set("broker", AlarmKind::BrokerGap, true, || "gone".into());
        a.set("broker", AlarmKind::BrokerGap, true, || "gone again".into());
        assert_eq!(a.active().len(), 1);
        assert_eq!(a.active()[0].message, "gone");
        assert!(a.active()[0].raised >= t && a.active()[0].raised <= Utc::now());
        a.set("broker", AlarmKind::BrokerGap, false, String::new);
        assert!(a.active().is_empty());
        let cleared = a.recent()[0].cleared.unwrap();
        assert!(cleared >= t && cleared <= Utc::now());
        assert!(rx.try_recv().unwrap().cleared.is_none());
        assert!(rx.try_recv().unwrap().cleared.is_some());
        assert!(rx.try_recv().is_err());
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    /// `as_str` (logs, keys) is the serialised name, and the JSON names are
    /// the ones alarms have always carried.
    #[test]
    fn kinds_are_named_as_serialised() {
        for k in AlarmKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str(), "{k:?}");
            let back: AlarmKind = serde_json::from_value(k.as_str().into()).unwrap();
            assert_eq!(back, k);
        }
        assert_eq!(AlarmKind::ALL.len(), {
            let mut v = AlarmKind::ALL.to_vec();
            v.sort();
            v.dedup();
            v.len()
        });
        // RDM's fault kinds raise alarms of the same name.
        for f in [
            crate::rdm::care::FaultKind::FixtureMissing,
            crate::rdm::care::FaultKind::FixtureMismatch,
            crate::rdm::care::FaultKind::LampFailure,
            crate::rdm::care::FaultKind::SensorOutOfRange,
        ] {
            assert_eq!(AlarmKind::from(f).as_str(), f.as_str());
        }
    }

    #[test]
    fn clearing_others_keeps_the_kind_they_were_raised_with() {
        let a = Alarms::default();
        a.set("output:x", AlarmKind::OutputDown, true, || "x".into());
        a.set("output:y", AlarmKind::OutputDown, true, || "y".into());
        a.clear_others("output:", &["output:y".to_string()]);
        assert_eq!(a.active().len(), 1);
        assert_eq!(a.recent()[0].key, "output:x");
        assert_eq!(a.recent()[0].kind, AlarmKind::OutputDown);
        let json = serde_json::to_value(&a.recent()[0]).unwrap();
        assert_eq!(json["kind"], "output_down");
    }
}

#[cfg(test)]
mod hysteresis_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_condition_must_hold_before_it_raises_or_clears() {
        let a = Alarms::default();
        let mut h = Hysteresis::default();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let at = |h: &mut Hysteresis, on: bool, secs: u64| {
            h.set_at(
                &a,
                "node:b",
                AlarmKind::NodeDown,
                on,
                10 * s,
                5 * s,
                || "b down".into(),
                t0 + s * secs as u32,
            );
            a.active().len()
        };
        assert_eq!(at(&mut h, true, 0), 0);
        assert_eq!(at(&mut h, true, 9), 0);
        // Back before the grace: never raised.
        assert_eq!(at(&mut h, false, 9), 0);
        assert_eq!(at(&mut h, true, 12), 0);
        assert_eq!(at(&mut h, true, 22), 1);
        assert_eq!(at(&mut h, false, 23), 1);
        assert_eq!(at(&mut h, false, 27), 1);
        assert_eq!(at(&mut h, false, 28), 0);
        assert_eq!(a.recent().len(), 1);
    }
}
