//! MQTT triggers: a connection of its own to the fleet's broker
//! (`[fleet] broker`), subscribed to the topic filters the site's
//! `on = { mqtt = "…" }` triggers name, firing them as messages arrive.
//!
//! Its own connection, not the fleet's: the fleet's client carries the
//! city's control state and must never wait on a trigger's actions. Retained
//! messages do not fire (a reconnect would replay the last one), and
//! incoming packets are capped at 64 KiB. Filters added by a hot reload are
//! subscribed within five seconds; a site that had no MQTT trigger at start
//! has no connection until the daemon restarts.

use super::ops::Who;
use super::ShowControl;
use nightscape_core::site::fleet::FleetSpec;
use nightscape_core::triggers::{Event, On};
use rumqttc::{AsyncClient, Event as MqttEvent, Packet, QoS};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The topic filters the configuration's triggers name.
fn filters(sc: &ShowControl) -> BTreeSet<String> {
    sc.ops()
        .shared
        .config()
        .triggers
        .rules
        .iter()
        .filter_map(|t| match &t.on {
            On::Mqtt(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the site in force has MQTT triggers and a broker for them.
pub fn wanted(sc: &ShowControl) -> Option<FleetSpec> {
    let cfg = sc.ops().shared.config();
    let spec = cfg.site.fleet.clone()?;
    (!filters(sc).is_empty()).then_some(spec)
}

/// Connect and fire MQTT triggers until the daemon stops.
pub async fn run(sc: Arc<ShowControl>, spec: FleetSpec, client_id: String) {
    let mut opts = match crate::rollout::mqtt_options(&spec, client_id) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("MQTT triggers: {e}");
            return;
        }
    };
    opts.set_max_packet_size(64 * 1024, 4 * 1024);
    let broker = format!("{}:{}", spec.broker.host, spec.broker.port);
    let (client, mut events) = AsyncClient::new(opts, 64);
    let mut subscribed: BTreeSet<String> = BTreeSet::new();
    let mut check = tokio::time::interval(Duration::from_secs(5));
    let who = Who {
        actor: "mqtt".into(),
        remote: Some(broker.clone()),
    };
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!(broker = %broker, "MQTT triggers connected");
                    subscribed.clear();
                    for f in filters(&sc) {
                        if client.subscribe(f.clone(), QoS::AtMostOnce).await.is_ok() {
                            subscribed.insert(f);
                        }
                    }
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    if p.retain {
                        continue;
                    }
                    sc.handle(Event::Mqtt { topic: &p.topic }, &who).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(broker = %broker, "MQTT triggers: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = check.tick() => {
                if sc.ops().shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = client.disconnect().await;
                    return;
                }
                for f in filters(&sc).difference(&subscribed.clone()) {
                    if client.subscribe(f.clone(), QoS::AtMostOnce).await.is_ok() {
                        subscribed.insert(f.clone());
                    }
                }
            }
        }
    }
}
