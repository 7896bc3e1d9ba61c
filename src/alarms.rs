//! Alarms: conditions an operator must hear about — an output or node
//! down, a node on a different configuration, a rejected reload, clock
//! drift, a broker gap — raised once with the time, cleared when the
//! condition goes away.
//!
//! Sources call [`Alarms::set`] with the condition's current truth as
//! often as they like; only changes become events. Events go to anyone
//! subscribed (the fleet publishes them on MQTT, the webhook POSTs them),
//! and `GET /api/alarms` lists the active ones and the recently cleared.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// How many cleared alarms are kept for the API.
const RECENT: usize = 50;

/// One alarm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Identifies the condition (`output:artnet:10.0.4.20:6454`, `broker`, …).
    pub key: String,
    /// `output_down`, `config_differs`, `reload_rejected`, `clock_drift`, `broker_gap`.
    pub kind: String,
    pub message: String,
    pub raised: DateTime<Utc>,
    pub cleared: Option<DateTime<Utc>>,
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
    /// sent to subscribers. `message` is taken when the alarm is raised.
    pub fn set(
        &self,
        key: &str,
        kind: &str,
        on: bool,
        message: impl FnOnce() -> String,
        at: DateTime<Utc>,
    ) {
        let mut inner = self.lock();
        let event = match (on, inner.active.contains_key(key)) {
            (true, false) => {
                let a = Alarm {
                    key: key.to_string(),
                    kind: kind.to_string(),
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
    pub fn clear_others(&self, prefix: &str, keep: &[String], at: DateTime<Utc>) {
        let keys: Vec<String> = self
            .lock()
            .active
            .keys()
            .filter(|k| k.starts_with(prefix) && !keep.contains(k))
            .cloned()
            .collect();
        for k in keys {
            self.set(&k, "", false, String::new, at);
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
        let at = shared.clock.now();
        let outputs = shared
            .stats
            .lock()
            .map(|s| s.outputs.clone())
            .unwrap_or_default();
        let mut seen = Vec::new();
        for h in &outputs {
            let key = format!("output:{}:{}", h.kind, h.target);
            let down = h.state == crate::output::DOWN;
            alarms.set(
                &key,
                "output_down",
                down,
                || {
                    format!(
                        "{} output to {} is down: {}",
                        h.kind,
                        h.target,
                        h.last_error.as_deref().unwrap_or("no detail")
                    )
                },
                at,
            );
            seen.push(key);
        }
        alarms.clear_others("output:", &seen, at);
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
            "reload_rejected",
            reload_bad,
            || match &last {
                Some(r) => format!(
                    "the edited site files do not load ({}); still running the last good configuration: {}",
                    r.at,
                    r.problems.first().map_or("", String::as_str)
                ),
                None => "the edited site files do not load; still running the last good configuration".into(),
            },
            at,
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

/// A minimal HTTP/1.1 POST (the webhook is a plain-HTTP receiver on the
/// operator network; a TLS proxy can front it).
async fn post(url: &str, body: &str) -> std::io::Result<()> {
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
            "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
    fn raised_once_and_cleared() {
        let a = Alarms::default();
        let mut rx = a.subscribe();
        let t = Utc::now();
        a.set("broker", "broker_gap", true, || "gone".into(), t);
        a.set("broker", "broker_gap", true, || "gone again".into(), t);
        assert_eq!(a.active().len(), 1);
        assert_eq!(a.active()[0].message, "gone");
        a.set("broker", "broker_gap", false, String::new, t);
        assert!(a.active().is_empty());
        assert_eq!(a.recent()[0].cleared, Some(t));
        assert!(rx.try_recv().unwrap().cleared.is_none());
        assert!(rx.try_recv().unwrap().cleared.is_some());
        assert!(rx.try_recv().is_err());
    }
}
