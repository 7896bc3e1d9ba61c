//! The city's maintenance list over the fleet: each node publishes what
//! its device care (RDM) found and its open faults, and keeps the lists
//! its peers publish, so any node's API and console can show every
//! fixture and fault of the city with the node that reported it.
//!
//! One retained message per node (`<root>/<site>/devices/<node>`), like
//! its status: a node that (re)connects gets every peer's last list at
//! once. A node publishes its list when it changes (at most every
//! [`MIN_GAP`]) and again every [`REFRESH`], signed like its status when
//! the fleet signs. The list stays on the broker when a node goes away;
//! its peers mark it stale (the node's status went offline or silent, or
//! no list came for [`STALE_AFTER`]) rather than forget it: the faults a
//! dead controller last saw are still the crew's work.
//!
//! Everything here is bounded, both ways. A node sends at most
//! [`MAX_DEVICES`] devices and [`MAX_FAULTS`] faults, each text clipped,
//! shrunk until the message fits [`MAX_PAYLOAD`]. A receiver drops a
//! message over [`MAX_PAYLOAD`], from a node the site does not list, whose
//! signature does not verify, or that does not parse (keeping that node's
//! last good list), and reads at most [`MAX_DEVICES`] and [`MAX_FAULTS`]
//! entries of a list, dropping the rest and the entries that do not
//! parse; every drop is counted (`/api/fleet` `devices.dropped`). Nodes
//! kept are the site's `[[nodes]]`, so memory is bounded by the site.

use super::{inbox, lock, trust, Task};
use crate::rdm::care::{CareView, DeviceCare, FaultKind as CareFault, Reading};
use crate::rdm::patch::PatchState as CarePatch;
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Devices a node publishes, and a receiver keeps, per node at most.
pub(crate) const MAX_DEVICES: usize = 1024;
/// Faults a node publishes, and a receiver keeps, per node at most.
pub(crate) const MAX_FAULTS: usize = 512;
/// The largest device-list message (signed envelope included) a node
/// sends or reads; below the fleet's packet limit with room to spare.
pub(crate) const MAX_PAYLOAD: usize = 192 * 1024;
/// Characters of a text field kept at most (labels, readings, fixes).
const MAX_TEXT: usize = 160;
/// Groups of a fault kept at most.
const MAX_GROUPS: usize = 8;
/// An unchanged list is published again this often (so peers can tell a
/// quiet node from a gone one).
pub(crate) const REFRESH: Duration = Duration::from_secs(30);
/// A changed list waits at least this long after the last one.
const MIN_GAP: Duration = Duration::from_secs(2);
/// A list not refreshed for this long is stale even if its node's status
/// still arrives.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(95);

/// A fault kind as it travels (the alarm's kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FaultKind {
    FixtureMissing,
    FixtureMismatch,
    LampFailure,
    SensorOutOfRange,
}

impl From<CareFault> for FaultKind {
    fn from(k: CareFault) -> FaultKind {
        match k {
            CareFault::FixtureMissing => FaultKind::FixtureMissing,
            CareFault::FixtureMismatch => FaultKind::FixtureMismatch,
            CareFault::LampFailure => FaultKind::LampFailure,
            CareFault::SensorOutOfRange => FaultKind::SensorOutOfRange,
        }
    }
}

impl FaultKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FaultKind::FixtureMissing => "fixture_missing",
            FaultKind::FixtureMismatch => "fixture_mismatch",
            FaultKind::LampFailure => "lamp_failure",
            FaultKind::SensorOutOfRange => "sensor_out_of_range",
        }
    }
}

/// How a device or patched fixture stands against its node's patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Patch {
    Matched,
    Unmatched,
    Missing,
    Mismatched,
}

impl From<CarePatch> for Patch {
    fn from(p: CarePatch) -> Patch {
        match p {
            CarePatch::Matched => Patch::Matched,
            CarePatch::Unmatched => Patch::Unmatched,
            CarePatch::Missing => Patch::Missing,
            CarePatch::Mismatched => Patch::Mismatched,
        }
    }
}

impl Patch {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Patch::Matched => "matched",
            Patch::Unmatched => "unmatched",
            Patch::Missing => "missing",
            Patch::Mismatched => "mismatched",
        }
    }
}

/// One device found by a node, or one of its patched fixtures that did
/// not answer (`patch: missing`, no `uid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireDevice {
    /// RDM UID, `mmmm:dddddddd` (absent for a missing fixture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Site universe.
    pub universe: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    pub patch: Patch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lamp_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_hours: Option<u32>,
    /// Its sensors as read: `name=value unit; …`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sensors: String,
    /// What to do about it (empty when matched).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// One open fault of a node (its maintenance list's row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireFault {
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Site plan metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<[f64; 2]>,
    pub universe: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
    /// When its alarm was raised on the node (wall clock).
    pub since: DateTime<Utc>,
    /// The reading as the node worded it (English).
    #[serde(default)]
    pub reading: String,
    /// The reading as data, so a reader words it in its own language
    /// (absent, or not understood, from a node of another version).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "understood"
    )]
    pub detail: Option<Reading>,
    #[serde(default)]
    pub fix: String,
}

/// A node's device list as it travels (`…/devices/<node>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeDevices {
    pub node: String,
    /// When the node published it (its wall clock).
    pub at: DateTime<Utc>,
    /// Whether device care runs on the node (an output with `rdm = true`).
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<DateTime<Utc>>,
    #[serde(default)]
    pub devices: Vec<WireDevice>,
    /// How many the node has (more than `devices` when it had to cut).
    #[serde(default)]
    pub devices_total: usize,
    #[serde(default)]
    pub faults: Vec<WireFault>,
    #[serde(default)]
    pub faults_total: usize,
}

/// A list of at most `N` entries read from a message: the rest, and any
/// entry that does not parse as `T`, are skipped and counted. Never
/// allocates for more than `N` entries whatever the message claims.
struct Capped<T, const N: usize> {
    items: Vec<T>,
    dropped: usize,
}

impl<T, const N: usize> Default for Capped<T, N> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            dropped: 0,
        }
    }
}

impl<'de, T: DeserializeOwned, const N: usize> Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: DeserializeOwned, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Capped::<T, N>::default();
                while out.items.len() < N {
                    match seq.next_element::<serde_json::Value>()? {
                        None => return Ok(out),
                        Some(v) => match serde_json::from_value::<T>(v) {
                            Ok(t) => out.items.push(t),
                            Err(_) => out.dropped += 1,
                        },
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.dropped += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// [`NodeDevices`] as a receiver reads it: lists capped entry by entry.
#[derive(Deserialize)]
struct Incoming {
    node: String,
    at: DateTime<Utc>,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    last_pass: Option<DateTime<Utc>>,
    #[serde(default)]
    devices: Capped<WireDevice, MAX_DEVICES>,
    #[serde(default)]
    devices_total: usize,
    #[serde(default)]
    faults: Capped<WireFault, MAX_FAULTS>,
    #[serde(default)]
    faults_total: usize,
}

/// A value this version understands, else None (not a failed entry).
fn understood<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

fn clip(text: &str) -> String {
    super::clip(text, MAX_TEXT)
}

fn clip_opt(text: &Option<String>) -> Option<String> {
    text.as_deref().map(clip)
}

impl WireDevice {
    /// Every text clipped (what a receiver keeps of a peer's entry).
    fn bounded(mut self) -> WireDevice {
        for t in [
            &mut self.uid,
            &mut self.fixture,
            &mut self.manufacturer,
            &mut self.model,
            &mut self.label,
        ] {
            *t = clip_opt(t);
        }
        self.sensors = clip(&self.sensors);
        self.fix = clip(&self.fix);
        self
    }
}

impl WireFault {
    fn bounded(mut self) -> WireFault {
        self.fixture = clip_opt(&self.fixture);
        self.uid = clip_opt(&self.uid);
        self.groups.truncate(MAX_GROUPS);
        self.groups = self.groups.iter().map(|g| clip(g)).collect();
        self.position = self.position.filter(|p| p.iter().all(|v| v.is_finite()));
        self.reading = clip(&self.reading);
        self.fix = clip(&self.fix);
        match &mut self.detail {
            Some(Reading::Lamp { status, .. }) => status.truncate(16),
            Some(Reading::Sensor { sensor, unit, .. }) => {
                *sensor = clip(sensor);
                *unit = clip(unit);
            }
            _ => {}
        }
        self
    }
}

/// A node's device list from its device care's view, bounded (at most
/// [`MAX_DEVICES`] devices and missing fixtures, [`MAX_FAULTS`] faults,
/// texts clipped).
pub(crate) fn summary(node: &str, view: &CareView, at: DateTime<Utc>) -> NodeDevices {
    let mut devices: Vec<WireDevice> = view
        .devices
        .iter()
        .take(MAX_DEVICES)
        .map(|d| {
            let r = &d.device;
            let sensors: Vec<String> = r
                .sensors
                .iter()
                .take(8)
                .map(|s| match s.value {
                    Some(v) => format!("{}={v}{}", s.name, s.unit),
                    None => format!("{}=?", s.name),
                })
                .collect();
            WireDevice {
                uid: Some(r.uid.to_string()),
                universe: d.site_universe,
                address: r.dmx_address,
                footprint: r.footprint,
                fixture: d.fixture.clone(),
                patch: d.patch.into(),
                manufacturer: r.manufacturer.clone(),
                model: r.model.clone(),
                label: r.label.clone(),
                lamp_hours: r.lamp_hours,
                device_hours: r.device_hours,
                sensors: sensors.join("; "),
                fix: d.fix.clone(),
                last_seen: Some(d.last_seen),
            }
            .bounded()
        })
        .collect();
    let room = MAX_DEVICES - devices.len();
    devices.extend(view.missing.iter().take(room).map(|m| {
        WireDevice {
            uid: m.uid.clone(),
            universe: m.universe,
            address: m.address,
            footprint: None,
            fixture: m.fixture.clone(),
            patch: m.state.into(),
            manufacturer: None,
            model: None,
            label: None,
            lamp_hours: None,
            device_hours: None,
            sensors: String::new(),
            fix: m.fix.clone(),
            last_seen: None,
        }
        .bounded()
    }));
    let faults = view
        .faults
        .iter()
        .take(MAX_FAULTS)
        .map(|f| {
            WireFault {
                kind: f.kind.into(),
                fixture: f.fixture.clone(),
                uid: f.uid.clone(),
                groups: f.groups.clone(),
                position: f.position,
                universe: f.universe,
                address: f.address,
                since: f.since,
                reading: f.reading.clone(),
                detail: Some(f.detail.clone()),
                fix: f.fix.clone(),
            }
            .bounded()
        })
        .collect();
    NodeDevices {
        node: node.to_string(),
        at,
        enabled: view.enabled,
        last_pass: view.last_pass,
        devices,
        devices_total: view.devices.len() + view.missing.len(),
        faults,
        faults_total: view.faults.len(),
    }
}

/// The message for `list`, cut until `seal` (which signs it) gives at
/// most [`MAX_PAYLOAD`] bytes: devices first (halved each time), then
/// faults. The totals still say how many the node has.
pub(crate) fn encode_bounded(
    mut list: NodeDevices,
    seal: impl Fn(String) -> Vec<u8>,
) -> (NodeDevices, Vec<u8>) {
    loop {
        let payload = seal(serde_json::to_string(&list).unwrap_or_default());
        if payload.len() <= MAX_PAYLOAD || (list.devices.is_empty() && list.faults.is_empty()) {
            return (list, payload);
        }
        if !list.devices.is_empty() {
            list.devices.truncate(list.devices.len() / 2);
        } else {
            list.faults.truncate(list.faults.len() / 2);
        }
    }
}

/// Why a received list was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Oversized,
    Malformed,
    UnknownNode,
    Unverified,
}

/// Device lists (and entries) this node did not keep, by reason.
#[derive(Debug, Default)]
struct Counters {
    oversized: AtomicU64,
    malformed: AtomicU64,
    unknown_node: AtomicU64,
    unverified: AtomicU64,
    entries: AtomicU64,
}

/// [`Counters`] as the API shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DroppedLists {
    /// Messages over 192 KiB.
    pub oversized: u64,
    /// Messages that are not a device list (the node's last good one is kept).
    pub malformed: u64,
    /// Lists in the name of a node the site does not list.
    pub unknown_node: u64,
    /// Lists whose signature does not verify against the node's key.
    pub unverified: u64,
    /// Devices and faults left out of kept lists: past the caps
    /// (1024 devices, 512 faults a node) or not parsable.
    pub entries: u64,
}

/// A peer's list as this node holds it.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub list: NodeDevices,
    /// When it arrived here (this node's wall clock).
    pub received: DateTime<Utc>,
    /// Whether it verifies against the node's key (None: the fleet does not sign).
    pub verified: Option<bool>,
    /// Its node is offline or silent, or the list is older than [`STALE_AFTER`].
    pub stale: bool,
    pub stale_since: Option<DateTime<Utc>>,
    /// Entries of this list left out here.
    pub dropped_entries: usize,
}

/// Every peer's last device list, shared by the fleet task (writes) and
/// the API (reads). `/api/fleet` shows a summary of it.
#[derive(Debug, Default)]
pub struct Book {
    nodes: Mutex<BTreeMap<String, Held>>,
    counters: Counters,
}

impl Book {
    /// Keep `payload` as `node`'s list, or say why not (counted).
    pub(crate) fn receive(
        &self,
        node: &str,
        payload: &[u8],
        listed: bool,
        verified: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        let c = &self.counters;
        let refuse = |why: Refused, counter: &AtomicU64| {
            counter.fetch_add(1, Ordering::Relaxed);
            Err(why)
        };
        if payload.len() > MAX_PAYLOAD {
            return refuse(Refused::Oversized, &c.oversized);
        }
        if !listed {
            return refuse(Refused::UnknownNode, &c.unknown_node);
        }
        if verified == Some(false) {
            return refuse(Refused::Unverified, &c.unverified);
        }
        let body = trust::body_of(payload);
        let Ok(m) = serde_json::from_slice::<Incoming>(&body) else {
            return refuse(Refused::Malformed, &c.malformed);
        };
        if m.node != node {
            return refuse(Refused::Malformed, &c.malformed);
        }
        let dropped = m.devices.dropped + m.faults.dropped;
        c.entries.fetch_add(dropped as u64, Ordering::Relaxed);
        let list = NodeDevices {
            node: m.node,
            at: m.at,
            enabled: m.enabled,
            last_pass: m.last_pass,
            devices_total: m.devices_total.max(m.devices.items.len()),
            devices: m
                .devices
                .items
                .into_iter()
                .map(WireDevice::bounded)
                .collect(),
            faults_total: m.faults_total.max(m.faults.items.len()),
            faults: m.faults.items.into_iter().map(WireFault::bounded).collect(),
        };
        let mut nodes = lock(&self.nodes);
        let (stale, stale_since) = nodes
            .get(node)
            .map_or((false, None), |h| (h.stale, h.stale_since));
        nodes.insert(
            node.to_string(),
            Held {
                list,
                received: now,
                verified,
                stale,
                stale_since,
                dropped_entries: dropped,
            },
        );
        Ok(())
    }

    /// Mark each list stale or fresh: fresh while `alive(node)` and the
    /// list was refreshed within [`STALE_AFTER`].
    pub(crate) fn mark(&self, alive: impl Fn(&str) -> bool, now: DateTime<Utc>) {
        let limit = chrono::Duration::from_std(STALE_AFTER).unwrap_or_default();
        for (node, h) in lock(&self.nodes).iter_mut() {
            let stale = !alive(node) || now - h.received > limit;
            if stale && !h.stale {
                h.stale_since = Some(now);
            }
            if !stale {
                h.stale_since = None;
            }
            h.stale = stale;
        }
    }

    /// Forget the lists of nodes the site no longer lists.
    pub(crate) fn retain(&self, listed: impl Fn(&str) -> bool) {
        lock(&self.nodes).retain(|n, _| listed(n));
    }

    /// Every peer's list now.
    pub(crate) fn lists(&self) -> Vec<Held> {
        lock(&self.nodes).values().cloned().collect()
    }

    pub(crate) fn dropped(&self) -> DroppedLists {
        let c = &self.counters;
        DroppedLists {
            oversized: c.oversized.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            unknown_node: c.unknown_node.load(Ordering::Relaxed),
            unverified: c.unverified.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
        }
    }
}

/// `/api/fleet`'s `devices`: per peer, how old and how big its list is,
/// and what was dropped (the lists themselves: `/api/devices?scope=fleet`).
impl Serialize for Book {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Summary {
            at: DateTime<Utc>,
            received: DateTime<Utc>,
            stale: bool,
            devices: usize,
            faults: usize,
            truncated: bool,
        }
        let nodes: BTreeMap<String, Summary> = lock(&self.nodes)
            .iter()
            .map(|(n, h)| {
                (
                    n.clone(),
                    Summary {
                        at: h.list.at,
                        received: h.received,
                        stale: h.stale,
                        devices: h.list.devices.len(),
                        faults: h.list.faults.len(),
                        truncated: h.list.devices.len() < h.list.devices_total
                            || h.list.faults.len() < h.list.faults_total
                            || h.dropped_entries > 0,
                    },
                )
            })
            .collect();
        serde_json::json!({ "nodes": nodes, "dropped": self.dropped() }).serialize(s)
    }
}

/// [`Book`]'s summary behind an `Arc` (the fleet view's field).
pub(crate) fn serialize_book<S: serde::Serializer>(
    book: &Arc<Book>,
    s: S,
) -> Result<S::Ok, S::Error> {
    book.as_ref().serialize(s)
}

/// Where a node's own device list comes from: its device care, started
/// after the fleet (so it is handed over later, once).
pub(crate) type Source = Arc<OnceLock<Arc<DeviceCare>>>;

/// The fleet task's side: when to publish this node's list, and the book
/// of its peers' lists.
pub(crate) struct Publisher {
    pub source: Source,
    pub book: Arc<Book>,
    /// A hash of the last list sent, its instant left out.
    last_key: Option<u64>,
    last_sent: Option<Instant>,
    /// The payload last sent (to notice another on this node's topic).
    last_payload: Vec<u8>,
    /// Publish at the next chance whatever changed (a connect, or someone
    /// else's message on this node's topic).
    force: bool,
}

impl Publisher {
    pub(crate) fn new(source: Source, book: Arc<Book>) -> Publisher {
        Publisher {
            source,
            book,
            last_key: None,
            last_sent: None,
            last_payload: Vec::new(),
            force: true,
        }
    }

    /// This node's list to publish now, if any: when forced, changed (at
    /// most every [`MIN_GAP`]) or due for its refresh.
    fn due(&mut self, node: &str) -> Option<NodeDevices> {
        let care = self.source.get()?;
        let list = summary(node, &care.view(), Utc::now());
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            // When it was published and when each device last answered
            // change every discovery: news only with the refresh.
            let mut keyed = list.clone();
            keyed.at = DateTime::<Utc>::UNIX_EPOCH;
            for d in &mut keyed.devices {
                d.last_seen = None;
            }
            serde_json::to_string(&keyed)
                .unwrap_or_default()
                .hash(&mut h);
            h.finish()
        };
        let since = self.last_sent.map(|t| t.elapsed());
        let changed = self.last_key != Some(key);
        let due = self.force && since.is_none_or(|s| s >= MIN_GAP)
            || changed && since.is_none_or(|s| s >= MIN_GAP)
            || since.is_none_or(|s| s >= REFRESH);
        if !due {
            return None;
        }
        self.last_key = Some(key);
        Some(list)
    }
}

impl Task {
    fn devices_topic(&self, node: &str) -> String {
        format!("{}/devices/{node}", self.topics.base)
    }

    /// Subscribe to the peers' lists and publish ours again (on connect).
    pub(super) fn devices_connected(&mut self) {
        if let Err(e) = self
            .client
            .try_subscribe(self.devices_topic("+"), rumqttc::QoS::AtLeastOnce)
        {
            tracing::warn!("fleet: subscribe: {e}");
        }
        self.devices.force = true;
    }

    /// A list on `…/devices/<node>`: a peer's is kept if it passes
    /// [`Book::receive`]; another message on our own topic (a stale or
    /// forged retained one) is answered by publishing ours again.
    pub(super) fn on_devices(&mut self, node: &str, m: &inbox::Incoming) {
        if node == self.opts.node {
            if m.payload != self.devices.last_payload {
                self.devices.force = true;
            }
            return;
        }
        let listed = self.shared.config().site.node(node).is_some();
        self.refresh_trust();
        let verified = self.trust.verify_own(&m.topic, node, &m.payload);
        if let Err(why) = self
            .devices
            .book
            .receive(node, &m.payload, listed, verified, Utc::now())
        {
            tracing::debug!(
                node,
                ?why,
                bytes = m.payload.len(),
                "fleet: device list dropped"
            );
        }
    }

    /// Each second: mark peers' lists stale or fresh, publish ours when due.
    pub(super) fn devices_tick(&mut self) {
        let silent_after =
            Duration::from_secs_f64(self.opts.spec.status_every * super::SILENT_PERIODS + 5.0);
        let (connected, alive): (bool, Vec<String>) = {
            let view = lock(&self.view);
            let alive = view
                .nodes
                .iter()
                .filter(|(n, v)| {
                    v.status.online
                        && self
                            .heard
                            .get(*n)
                            .is_some_and(|t| t.elapsed() < silent_after)
                })
                .map(|(n, _)| n.clone())
                .collect();
            (view.connected, alive)
        };
        let book = self.devices.book.clone();
        let cfg = self.shared.config();
        book.retain(|n| cfg.site.node(n).is_some());
        book.mark(|n| connected && alive.iter().any(|a| a == n), Utc::now());
        if !connected {
            return;
        }
        let me = self.opts.node.clone();
        let Some(list) = self.devices.due(&me) else {
            return;
        };
        let topic = self.devices_topic(&me);
        let (_, payload) = encode_bounded(list, |body| self.own_payload(&topic, body));
        self.devices.force = false;
        self.devices.last_sent = Some(Instant::now());
        self.devices.last_payload = payload.clone();
        self.publish(topic, true, payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> DateTime<Utc> {
        "2026-12-31T12:00:00Z".parse().unwrap()
    }

    fn device(i: usize) -> serde_json::Value {
        // The first with a label far over the text limit.
        let label = if i == 0 {
            "x".repeat(1000)
        } else {
            String::new()
        };
        json!({"uid": format!("1234:{i:08x}"), "universe": 1, "patch": "matched", "label": label})
    }

    #[test]
    fn a_list_is_read_entry_by_entry_within_the_caps() {
        let book = Book::default();
        let mut devices: Vec<_> = (0..MAX_DEVICES + 10).map(device).collect();
        devices[3] = json!({"uid": 7}); // does not parse: dropped alone
        let fault = json!({"kind": "lamp_failure", "universe": 1, "since": t(), "fixture": "par-2",
                           "reading": "lamp state error", "fix": "relamp"});
        let msg = json!({"node": "b", "at": t(), "enabled": true, "devices": devices,
                         "faults": [fault, {"kind": "on_fire", "universe": 1, "since": t()},
                                    {"kind": "sensor_out_of_range", "universe": 1, "since": t(),
                                     "detail": {"kind": "smoke", "ppm": 3}},
                                    {"kind": "fixture_missing", "universe": 1, "since": t(),
                                     "detail": {"kind": "not_in_table"}}]});
        let payload = serde_json::to_vec(&msg).unwrap();
        assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
        book.receive("b", &payload, true, None, t()).unwrap();
        let held = book.lists();
        let l = &held[0].list;
        // The unparsable one is skipped and the next read in its place.
        assert_eq!(l.devices.len(), MAX_DEVICES);
        assert_eq!(l.devices[3].uid.as_deref(), Some("1234:00000004"));
        assert_eq!(l.faults.len(), 3);
        assert_eq!(l.faults[0].kind, FaultKind::LampFailure);
        // A detail this version does not know leaves the fault, without it.
        assert_eq!(l.faults[1].detail, None);
        assert_eq!(l.faults[2].detail, Some(Reading::NotInTable));
        // 1 unparsable + 9 past the cap + 1 unknown fault kind.
        assert_eq!(book.dropped().entries, 11);
        assert!(l.devices[0].label.as_ref().unwrap().chars().count() <= MAX_TEXT + 1);
    }

    #[test]
    fn bad_lists_are_refused_and_counted_and_the_last_good_one_kept() {
        let book = Book::default();
        let good =
            serde_json::to_vec(&json!({"node": "b", "at": t(), "devices": [device(1)]})).unwrap();
        book.receive("b", &good, true, None, t()).unwrap();
        assert_eq!(
            book.receive("b", b"not json", true, None, t()),
            Err(Refused::Malformed)
        );
        assert_eq!(
            book.receive(
                "b",
                br#"{"node": "c", "at": "2026-12-31T12:00:00Z"}"#,
                true,
                None,
                t()
            ),
            Err(Refused::Malformed)
        );
        assert_eq!(
            book.receive("b", &vec![b' '; MAX_PAYLOAD + 1], true, None, t()),
            Err(Refused::Oversized)
        );
        assert_eq!(
            book.receive("x", &good, false, None, t()),
            Err(Refused::UnknownNode)
        );
        assert_eq!(
            book.receive("b", &good, true, Some(false), t()),
            Err(Refused::Unverified)
        );
        let d = book.dropped();
        assert_eq!(
            (d.malformed, d.oversized, d.unknown_node, d.unverified),
            (2, 1, 1, 1)
        );
        assert_eq!(book.lists().len(), 1);
        assert_eq!(book.lists()[0].list.devices.len(), 1);
    }

    #[test]
    fn a_list_goes_stale_with_its_node_and_fresh_again() {
        let book = Book::default();
        let good = serde_json::to_vec(&json!({"node": "b", "at": t(), "devices": []})).unwrap();
        book.receive("b", &good, true, None, t()).unwrap();
        book.mark(|_| true, t());
        assert!(!book.lists()[0].stale);
        book.mark(|_| false, t());
        assert!(book.lists()[0].stale);
        assert_eq!(book.lists()[0].stale_since, Some(t()));
        let later = t() + chrono::Duration::seconds(200);
        book.mark(|_| true, later);
        assert!(book.lists()[0].stale, "not refreshed for 200 s");
        book.receive("b", &good, true, None, later).unwrap();
        book.mark(|_| true, later);
        assert!(!book.lists()[0].stale);
    }

    /// A measurement, not a check: what a full list costs to build,
    /// sign and read (`cargo test --release --lib measure_device_list -- --ignored --nocapture`).
    #[test]
    #[ignore = "measurement"]
    fn measure_device_list() {
        let d = |i: u32| WireDevice {
            uid: Some(format!("1234:{i:08x}")),
            universe: (i / 48) as u16,
            address: Some((i % 48 * 10 + 1) as u16),
            footprint: Some(10),
            fixture: Some(format!("bridge-par-{i}")),
            patch: Patch::Matched,
            manufacturer: Some("Test Co".into()),
            model: Some("Beam 1200".into()),
            label: Some(format!("bridge-par-{i}")),
            lamp_hours: Some(1500),
            device_hours: Some(9000),
            sensors: "LED board=41°C; supply=230V".into(),
            fix: String::new(),
            last_seen: Some(t()),
        };
        let f = |i: u32| WireFault {
            kind: FaultKind::LampFailure,
            fixture: Some(format!("bridge-par-{i}")),
            uid: Some(format!("1234:{i:08x}")),
            groups: vec!["bridge".into(), "river".into()],
            position: Some([10.0, 100.0]),
            universe: 1,
            address: Some(1),
            since: t(),
            reading: "lamp state error".into(),
            detail: Some(Reading::Lamp {
                state: None,
                status: vec![0x11],
            }),
            fix: "send a crew: relamp or replace its light source or driver".into(),
        };
        let list = NodeDevices {
            node: "bridge-2".into(),
            at: t(),
            enabled: true,
            last_pass: Some(t()),
            devices: (0..MAX_DEVICES as u32).map(d).collect(),
            devices_total: MAX_DEVICES,
            faults: (0..100).map(f).collect(),
            faults_total: 100,
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let n = 20;
        let t0 = Instant::now();
        let mut payload = Vec::new();
        for _ in 0..n {
            payload = encode_bounded(list.clone(), |body| {
                trust::sign(&key, "bridge-2", "r/s/devices/bridge-2", body)
            })
            .1;
        }
        let encode = t0.elapsed() / n;
        // What every second's change check costs (no signature).
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(serde_json::to_string(&list).unwrap());
        }
        let check = t0.elapsed() / n;
        let book = Book::default();
        let t0 = Instant::now();
        for _ in 0..n {
            book.receive("bridge-2", &payload, true, None, t()).unwrap();
        }
        let receive = t0.elapsed() / n;
        println!(
            "device list of {} devices and {} faults: {} bytes signed; serialize {:?}, encode+sign {:?}, receive {:?}",
            list.devices.len(),
            list.faults.len(),
            payload.len(),
            check,
            encode,
            receive
        );
    }

    #[test]
    fn what_a_node_sends_is_cut_to_fit() {
        let big = WireDevice {
            uid: Some("1234:00000001".into()),
            universe: 1,
            address: Some(1),
            footprint: Some(10),
            fixture: Some("f".repeat(MAX_TEXT)),
            patch: Patch::Matched,
            manufacturer: Some("m".repeat(MAX_TEXT)),
            model: Some("m".repeat(MAX_TEXT)),
            label: Some("\"".repeat(MAX_TEXT)),
            lamp_hours: Some(1),
            device_hours: Some(1),
            sensors: "s".repeat(MAX_TEXT),
            fix: "x".repeat(MAX_TEXT),
            last_seen: Some(t()),
        };
        let list = NodeDevices {
            node: "b".into(),
            at: t(),
            enabled: true,
            last_pass: None,
            devices: vec![big; MAX_DEVICES],
            devices_total: 5000,
            faults: Vec::new(),
            faults_total: 0,
        };
        // Signed: the body travels as a JSON string, quotes escaped.
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let (sent, payload) =
            encode_bounded(list, |body| trust::sign(&key, "b", "r/s/devices/b", body));
        assert!(payload.len() <= MAX_PAYLOAD, "{}", payload.len());
        assert!(!sent.devices.is_empty() && sent.devices.len() < MAX_DEVICES);
        assert_eq!(sent.devices_total, 5000);
        let book = Book::default();
        book.receive("b", &payload, true, Some(true), t()).unwrap();
        assert_eq!(book.lists()[0].list.devices.len(), sent.devices.len());
    }
}
