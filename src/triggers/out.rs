//! Events out: scene started/stopped, alarm raised/cleared and trigger
//! fired, sent to each `[[notify]]` that wants them — a webhook (a JSON
//! POST) or an OSC address (`/nightscape/event/<kind>` with string
//! arguments) — so a show-control system can follow nightscape.
//!
//! Sending is best effort and off every other path: a receiver that is
//! down costs a log line; a slow one delays only later events to itself
//! (each webhook POST has 5 s). Scene events come from watching the
//! control service's book (a scene appears, a scene is stopped or ends),
//! so scenes started by the API, OSC, a trigger or the fleet are all seen.

use super::{OutEvent, ShowControl};
use nightscape_core::triggers::{EventKind, NotifyTo};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

use crate::alarms::post;

/// The OSC message for an event: `/nightscape/event/scene/started ,s show`,
/// `…/alarm/raised ,sss key kind message`, `…/trigger/fired ,s name`.
pub fn osc_message(e: &OutEvent) -> rosc::OscMessage {
    let s = |k: &str| rosc::OscType::String(e.detail[k].as_str().unwrap_or_default().to_string());
    let args = match e.event {
        EventKind::SceneStarted | EventKind::SceneStopped => vec![s("show")],
        EventKind::AlarmRaised | EventKind::AlarmCleared => vec![s("key"), s("kind"), s("message")],
        EventKind::TriggerFired => vec![s("trigger")],
    };
    rosc::OscMessage {
        addr: e.event.osc_address(),
        args,
    }
}

/// Send every event to the `[[notify]]` tables that want it (read from the
/// configuration in force at each event).
pub async fn notify(sc: Arc<ShowControl>) {
    let mut rx = sc.subscribe();
    let sock = match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("notify: no UDP socket for OSC out: {e}");
            None
        }
    };
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("notify: {n} events were not sent (too many at once)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let cfg = sc.ops().shared.config();
        tracing::debug!(
            event = e.event.name(),
            to = cfg.triggers.notify.len(),
            "event out"
        );
        for n in cfg.triggers.notify.iter().filter(|n| n.wants(e.event)) {
            match &n.to {
                NotifyTo::Webhook(url) => {
                    let (url, body) = (url.clone(), serde_json::to_string(&e).unwrap_or_default());
                    crate::tasks::spawn(async move {
                        if let Err(err) = post(&url, &body).await {
                            tracing::warn!(webhook = %url, "event webhook: {err}");
                        }
                    });
                }
                NotifyTo::Osc(to) => {
                    let packet = rosc::OscPacket::Message(osc_message(&e));
                    if let (Some(s), Ok(bytes)) = (&sock, rosc::encoder::encode(&packet)) {
                        if let Err(err) = s.send_to(&bytes, to).await {
                            tracing::debug!(to = %to, "OSC event: {err}");
                        }
                    }
                }
            }
        }
    }
}

/// Emit scene started/stopped by watching the book (every 100 ms).
pub async fn watch_scenes(sc: Arc<ShowControl>) {
    // id → (show, stopping)
    let mut known: BTreeMap<i64, (String, bool)> = BTreeMap::new();
    let mut first = true;
    let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if sc
            .ops()
            .shared
            .stop
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let book = sc.ops().control.book().await;
        let now = sc.ops().shared.clock.now();
        let mut seen: BTreeMap<i64, (String, bool)> = BTreeMap::new();
        for s in book.scenes.values() {
            let stopping = book.cancelled_scenes.contains_key(&s.id) || s.ends <= now;
            seen.insert(s.id, (s.show.clone(), stopping));
        }
        if !first {
            for (id, (show, stopping)) in &seen {
                let was = known.get(id);
                if was.is_none() && !stopping {
                    sc.emit(
                        EventKind::SceneStarted,
                        serde_json::json!({ "id": id, "show": show }),
                    );
                }
                if *stopping && was.is_some_and(|w| !w.1) {
                    sc.emit(
                        EventKind::SceneStopped,
                        serde_json::json!({ "id": id, "show": show }),
                    );
                }
            }
            for (id, (show, stopping)) in &known {
                if !seen.contains_key(id) && !stopping {
                    sc.emit(
                        EventKind::SceneStopped,
                        serde_json::json!({ "id": id, "show": show }),
                    );
                }
            }
        }
        first = false;
        known = seen;
    }
}

/// Emit alarm raised/cleared from the node's alarms.
pub async fn watch_alarms(sc: Arc<ShowControl>, alarms: Arc<crate::alarms::Alarms>) {
    let mut rx = alarms.subscribe();
    loop {
        let a = match rx.recv().await {
            Ok(a) => a,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let kind = if a.cleared.is_some() {
            EventKind::AlarmCleared
        } else {
            EventKind::AlarmRaised
        };
        sc.emit(
            kind,
            serde_json::json!({ "key": a.key, "kind": a.kind, "message": a.message }),
        );
    }
}
