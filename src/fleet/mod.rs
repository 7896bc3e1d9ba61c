//! The fleet: many nightscape controllers of one site, in lock-step
//! through an MQTT broker.
//!
//! Every node loads the same site folder and renders from the same clock,
//! so frames agree without talking; the broker only carries commands and
//! status. An operator's change accepted by any node's API is published
//! as a retained, versioned command ([`wire`]); every node (the sender
//! too) applies the same set through its own [`ControlService`], so the
//! same priority and TTL rules run everywhere and any node's API shows
//! the whole city's control state. Received commands are persisted in the
//! node's store with the rest of the operator state, so a node restarted
//! while the broker is down still applies the commands it last saw.
//!
//! Two tasks run per node: the MQTT event loop (connects, reconnects
//! every half second while the broker is away, forwards what arrives) and
//! the fleet task (applies commands, publishes this node's changes,
//! status, energy and alarms, keeps the view behind `GET /api/fleet`).
//! Losing the broker stops nothing: the frame loop keeps the schedule and
//! the commands it has; the gap is logged, raised as an alarm, and
//! reported in the status when the broker returns.

use nightscape_core::control::fleet as wire;

pub mod clock;
pub mod devices;
mod inbox;
pub mod standby;
pub mod trust;

use crate::alarms::Alarms;
use crate::control::Change;
use crate::control::ControlService;
use crate::control::{self, Controlled, Numbered, Override, Scene};
use crate::daemon::Shared;
use crate::store::AuditEntry;
use chrono::{DateTime, Utc};
use nightscape_core::site::fleet::FleetSpec;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wire::{Command, Kind, Status, Topics};

/// A node counts as gone when nothing was heard from it for this many
/// status periods (plus a few seconds for the broker's own keep-alive).
const SILENT_PERIODS: f64 = 3.0;
/// How long a peer must be gone before `node_down`: longer than a
/// restart takes (its goodbye, then its status again), and than its last
/// will takes to fire (1.5 × the 5 s keep-alive).
const NODE_DOWN_AFTER: Duration = Duration::from_secs(10);
/// How long the broker must be away before `broker_gap`.
const BROKER_GAP_AFTER: Duration = Duration::from_secs(2);
/// How long a peer must run other files before `config_differs` (an
/// edit copied to every node arrives a few seconds apart).
const CONFIG_AFTER: Duration = Duration::from_secs(5);
/// How long an offset must stay over (or under) a frame to raise (or clear) `clock_drift`.
const DRIFT_AFTER: Duration = Duration::from_secs(10);
/// A `command_refused` alarm clears this long after the last refusal.
const REFUSAL_CLEARS_AFTER: Duration = Duration::from_secs(60);
/// How long a condition must be gone before its alarm clears.
const CLEAR_AFTER: Duration = Duration::from_secs(3);
/// Clock samples kept per peer (the estimate is the median of the fastest third).
const CLOCK_SAMPLES: usize = 15;
/// Peers probed per status period at most (round-robin beyond).
const PROBES_PER_PERIOD: usize = 8;

/// What this node knows of one node of the fleet (itself included).
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub status: Status,
    /// When its last status arrived (this node's clock).
    pub last_seen: DateTime<Utc>,
    /// Its clock minus ours (ms): the median of recent clock probes over
    /// the broker with the shortest round trips (None until three).
    pub clock_offset_ms: Option<f64>,
    /// How far off `clock_offset_ms` can be (ms): half the longest round
    /// trip among the probes it was taken from.
    pub clock_error_ms: Option<f64>,
    /// Whether its configuration hash equals ours.
    pub same_config: Option<bool>,
    /// Whether its status verifies against its listed key (None: the
    /// fleet does not sign).
    pub verified: Option<bool>,
}

/// The fleet as this node sees it: `GET /api/fleet`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    pub site: String,
    pub node: String,
    pub broker: String,
    pub connected: bool,
    /// Since when the broker is unreachable (None while connected).
    pub disconnected_since: Option<DateTime<Utc>>,
    pub config_hash: String,
    pub rtt_ms: Option<f64>,
    pub last_gap: Option<wire::Gap>,
    /// Why the last attempt to reach the broker failed (kept after it
    /// succeeds again, for the record).
    pub last_error: Option<String>,
    pub nodes: BTreeMap<String, NodeView>,
    /// Messages from the broker this node did not apply, by reason.
    pub dropped: Dropped,
    /// Standby state: whom this node covers, whether its own outputs are held.
    pub standby: standby::StandbyView,
    /// This node's clock: synchronised or not, and whether it holds the schedule.
    pub clock: clock::ClockSyncView,
    /// The peers' device lists ([`devices`]): a summary here, the lists
    /// at `/api/devices?scope=fleet`.
    #[serde(serialize_with = "devices::serialize_book")]
    pub devices: Arc<devices::Book>,
}

/// Handle kept by the daemon.
#[derive(Clone)]
pub struct Fleet {
    pub view: Arc<Mutex<FleetView>>,
    client: AsyncClient,
    topics: Topics,
    node: String,
    /// Set by [`Fleet::shutdown`]: the connection's end is then a goodbye,
    /// not a broker gap.
    stopping: Arc<AtomicBool>,
    key: Option<ed25519_dalek::SigningKey>,
    /// Where this node's device list comes from ([`Fleet::publish_devices`]).
    devices: devices::Source,
}

/// What the fleet task needs besides the control service.
pub struct FleetOptions {
    pub node: String,
    pub spec: FleetSpec,
    /// The site folder (its files are hashed into the status).
    pub folder: PathBuf,
    /// The state folder (tonight's kWh comes from its energy record).
    pub state_dir: Option<PathBuf>,
    /// The power now (W), if measured.
    pub power: Option<Arc<dyn Fn() -> Option<f64> + Send + Sync>>,
    pub alarms: Arc<Alarms>,
    /// The gates of this node's own outputs and of those it stands by for
    /// ([`standby::Plan`]; default: none).
    pub standby: standby::Gates,
    /// The schedule hold of a node whose clock is not synchronised (its
    /// frame hook is in the frame loop).
    pub hold: clock::Hold,
}

/// A stable hash (FNV-1a, 64 bit) of the site files: names relative to
/// the folder, then contents. It detects nodes running different file
/// versions; it is not a security check.
pub fn config_hash(folder: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut files = crate::config::site_files(folder);
    files.sort();
    for f in files {
        let name = f
            .strip_prefix(folder)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        eat(name.as_bytes());
        eat(&[0]);
        eat(&std::fs::read(&f).unwrap_or_default());
        eat(&[0]);
    }
    format!("{h:016x}")
}

/// Chrony's view of the clock, where chronyc is installed (one line).
fn ntp_state() -> Option<String> {
    let out = std::process::Command::new("chronyc")
        .args(["-c", "tracking"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // CSV: ref id, ref name, stratum, ref time, system time offset (s), ...
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Vec<&str> = line.trim().split(',').collect();
    let offset: f64 = fields.get(4)?.parse().ok()?;
    Some(format!(
        "chrony: {} stratum {}, offset {:.3} ms",
        fields.get(1)?,
        fields.get(2)?,
        offset * 1000.0
    ))
}

/// Messages from the MQTT event loop to the fleet task.
enum Net {
    Up,
    /// The connection failed: why, and whether the broker refused the
    /// login (not worth calling a gap in the network).
    Down(String, bool),
}

/// The largest command message a node reads (bigger ones are dropped and
/// counted): an override's text fields are bounded far below this.
pub(crate) const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// The largest status, energy, alarm or ping message a node reads.
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// What the MQTT client reads off the wire at most. Far above what any
/// node sends, so an oversized message on a topic we subscribe to is read
/// and dropped here instead of failing the connection (which the broker
/// would answer with the same retained message after every reconnect).
const MAX_INCOMING_PACKET: usize = 64 * 1024 * 1024;
/// What a node publishes at most (its messages are bounded by construction:
/// see [`bounded_alarms`] and [`Task::own_status`]).
const MAX_OUTGOING_PACKET: usize = 256 * 1024;

/// Messages the fleet did not apply, by reason (`GET /api/fleet`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    oversized: AtomicU64,
    malformed: AtomicU64,
    queue_full: AtomicU64,
    refused: AtomicU64,
    unverified: AtomicU64,
}

/// [`Counters`] as the fleet view shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dropped {
    /// Bigger than a node reads (commands 64 KiB, other messages 256 KiB).
    pub oversized: u64,
    /// Not a message of the fleet's format.
    pub malformed: u64,
    /// Dropped while the incoming queue was full (received again later).
    pub queue_full: u64,
    /// Commands refused: out of bounds, over the override cap, unknown names.
    pub refused: u64,
    /// Status, probe, heartbeat or standby messages whose signature did
    /// not verify against the sender's listed key (ignored).
    pub unverified: u64,
}

impl Counters {
    fn view(&self) -> Dropped {
        Dropped {
            oversized: self.oversized.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            unverified: self.unverified.load(Ordering::Relaxed),
        }
    }
}

/// Whether a command message is an emergency override (a cheap look at
/// its priority, for the queue's room).
fn is_emergency(section_rest: &str, payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "override")]
        o: Option<PeekO>,
    }
    #[derive(Deserialize)]
    struct PeekO {
        priority: Option<i32>,
    }
    section_rest.starts_with("override/")
        && serde_json::from_slice::<Peek>(payload)
            .ok()
            .and_then(|p| p.o?.priority)
            .is_some_and(|p| p >= control::EMERGENCY)
}

/// Drive the MQTT connection: forward connects and losses to the fleet
/// task, and queue what arrives in the inbox (size-checked, coalesced).
/// Never waits on the fleet task, so the keep-alive never starves.
async fn event_loop(
    mut eventloop: rumqttc::EventLoop,
    shared: Shared,
    net_tx: mpsc::UnboundedSender<Net>,
    inbox: Arc<inbox::Inbox>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    spec: FleetSpec,
) {
    let topics = Topics::new(&spec.topic_root, &spec.topic_site);
    let mut backoff = Duration::from_millis(500);
    let mut warned_oversize = false;
    loop {
        if shared.stop.load(Ordering::Relaxed) || stopping.load(Ordering::Relaxed) {
            return;
        }
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(500);
                let _ = net_tx.send(Net::Up);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let received = shared.clock.now();
                let section = topics.split(&p.topic);
                let limit = match section {
                    Some(("cmd", _)) => MAX_COMMAND_BYTES,
                    _ => MAX_MESSAGE_BYTES,
                };
                if p.payload.len() > limit {
                    counters.oversized.fetch_add(1, Ordering::Relaxed);
                    if !warned_oversize {
                        warned_oversize = true;
                        tracing::warn!(topic = %p.topic, bytes = p.payload.len(), limit, "fleet: oversized message dropped (further ones are only counted in /api/fleet)");
                    }
                    continue;
                }
                let urgent =
                    matches!(section, Some(("cmd", rest)) if is_emergency(rest, &p.payload));
                let m = inbox::Incoming {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retained: p.retain,
                    received,
                };
                if inbox.offer(m, urgent) == inbox::Offer::Full {
                    counters.queue_full.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {}
            Err(e) => {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let (refused, why) = describe_connection_error(&spec, &e);
                if net_tx.send(Net::Down(why, refused)).is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One command item this node knows, as persisted in the store's
/// key-value table (`fleet/<kind>/<key>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    version: u64,
    origin: String,
    /// The local override or scene row (None for masters and for items
    /// seen only after they had ended).
    local_id: Option<i64>,
    /// The newest command seen for the item (a release is a tombstone:
    /// kept, so an older version arriving later is answered with it).
    #[serde(default)]
    command: Option<Command>,
    /// That command's message as it travelled (a signed envelope is
    /// published again as it is: only its signer can sign it).
    #[serde(default)]
    raw: Option<String>,
}

/// This node's last will: its status with `online = false`, retained.
fn last_will(node: &str, topics: &Topics, key: Option<&ed25519_dalek::SigningKey>) -> LastWill {
    let offline = serde_json::to_string(&Status {
        node: node.to_string(),
        online: false,
        at: None,
        config_hash: None,
        rtt_ms: None,
        ntp: None,
        playing: Vec::new(),
        outputs: Vec::new(),
        power_w: None,
        tonight_kwh: None,
        fps: 0,
        last_gap: None,
        offsets_ms: BTreeMap::new(),
    })
    .unwrap_or_default();
    let offline = trust::maybe_sign(key, node, &topics.status(node), offline);
    LastWill::new(topics.status(node), offline, QoS::AtLeastOnce, true)
}

/// The TLS transport for an `mqtts://` broker: the certificate authorities
/// of `[fleet] ca_file` when given (a city's own CA), else the system's.
pub fn tls_transport(spec: &FleetSpec) -> Result<Transport, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match &spec.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("fleet: ca_file {}: {e}", path.display()))?;
            for c in certs {
                let c = c.map_err(|e| format!("fleet: ca_file {}: {e}", path.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("fleet: ca_file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "fleet: ca_file {} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)",
                    path.display()
                ));
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err("fleet: mqtts:// needs the system's root certificates, and none were found (install ca-certificates, or name the broker's CA in [fleet] ca_file)".into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("fleet: TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(Arc::new(tls)),
    ))
}

/// Why the broker connection failed, in words an operator can act on: a
/// refused login names the credential variables, a TLS failure says so.
pub(crate) fn describe_connection_error(
    spec: &FleetSpec,
    e: &rumqttc::ConnectionError,
) -> (bool, String) {
    use rumqttc::{ConnectReturnCode, ConnectionError};
    let vars = match (&spec.username_env, &spec.password_env) {
        (Some(u), Some(p)) => format!("the user name in {u} and the password in {p}"),
        (Some(u), None) => format!("the user name in {u} (no password_env)"),
        _ => "no credentials (the site names no username_env)".to_string(),
    };
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => (
            true,
            format!("the broker refused this node's login ({code:?}): check {vars}"),
        ),
        ConnectionError::ConnectionRefused(code) => (
            true,
            format!("the broker refused the connection ({code:?})"),
        ),
        ConnectionError::Tls(t) => (false, format!("TLS: {t}")),
        other => (false, other.to_string()),
    }
}

fn mqtt_options(
    spec: &FleetSpec,
    client_id: String,
    will: Option<LastWill>,
) -> Result<MqttOptions, String> {
    let b = &spec.broker;
    let mut m = MqttOptions::new(client_id, b.host.clone(), b.port);
    m.set_keep_alive(Duration::from_secs(5));
    m.set_clean_session(true);
    m.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    if let Some(w) = will {
        m.set_last_will(w);
    }
    if let Some(user_var) = &spec.username_env {
        let user = std::env::var(user_var)
            .map_err(|_| format!("fleet: the broker user name variable {user_var} is not set"))?;
        let pass = match &spec.password_env {
            Some(v) => std::env::var(v)
                .map_err(|_| format!("fleet: the broker password variable {v} is not set"))?,
            None => String::new(),
        };
        m.set_credentials(user, pass);
    }
    if b.tls {
        m.set_transport(tls_transport(spec)?);
    }
    Ok(m)
}

impl Fleet {
    /// Connect to the broker and start the fleet tasks on the current
    /// tokio runtime. Errors are configuration problems (a credential
    /// variable unset); an unreachable broker is not an error.
    pub async fn start(
        shared: Shared,
        control: ControlService,
        opts: FleetOptions,
    ) -> Result<Fleet, String> {
        let topics = Topics::new(&opts.spec.topic_root, &opts.spec.topic_site);
        let client_id = format!("nightscape-{}-{}", opts.spec.topic_site, opts.node);
        let key = match &opts.state_dir {
            Some(dir) => match trust::load_or_create(dir) {
                Ok(k) => {
                    let listed = shared.config().site.node(&opts.node).and_then(|n| n.key);
                    let mine = trust::public(&k);
                    if listed.is_some_and(|l| l != mine) {
                        tracing::error!("fleet: this node's key ({mine}) is not the one the site lists for node {}: the other nodes will refuse its commands", opts.node);
                    }
                    Some(k)
                }
                Err(e) => {
                    tracing::error!("fleet: {e}; this node's commands go unsigned");
                    None
                }
            },
            None => None,
        };
        let will = last_will(&opts.node, &topics, key.as_ref());
        let mqtt = mqtt_options(&opts.spec, client_id, Some(will))?;
        let (client, eventloop) = AsyncClient::new(mqtt, 1024);
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(inbox::Inbox::default());
        let counters = Arc::new(Counters::default());
        let stopping = Arc::new(AtomicBool::new(false));
        crate::tasks::spawn(event_loop(
            eventloop,
            shared.clone(),
            net_tx,
            inbox.clone(),
            counters.clone(),
            stopping.clone(),
            opts.spec.clone(),
        ));
        let config_hash = config_hash(&opts.folder);
        let now = shared.clock.now();
        let (device_source, device_book) = (devices::Source::default(), Arc::default());
        let view = Arc::new(Mutex::new(FleetView {
            site: shared.config().site.name.clone(),
            node: opts.node.clone(),
            broker: opts.spec.broker.to_string(),
            connected: false,
            disconnected_since: Some(now),
            config_hash,
            rtt_ms: None,
            last_gap: None,
            last_error: None,
            nodes: BTreeMap::new(),
            dropped: Dropped::default(),
            standby: standby::StandbyView::default(),
            clock: clock::ClockSyncView::default(),
            devices: Arc::clone(&device_book),
        }));
        let (change_tx, change_rx) = mpsc::unbounded_channel();
        control.connect_fleet(change_tx);
        let items = load_items(&control).await;
        let fleet = Fleet {
            view: view.clone(),
            client: client.clone(),
            topics: topics.clone(),
            node: opts.node.clone(),
            stopping: stopping.clone(),
            key: key.clone(),
            devices: device_source.clone(),
        };
        let max_overrides = control.max_overrides();
        let standby = standby::Standby::new(
            &shared.config().site.nodes,
            &opts.node,
            opts.standby.clone(),
        );
        let task = Task {
            devices: devices::Publisher::new(device_source, device_book),
            clock_seen: None,
            standby,
            inbox,
            counters,
            stopping,
            max_overrides,
            resubscribe_at: None,
            started: Instant::now(),
            restored: HashMap::new(),
            hyst: crate::alarms::Hysteresis::default(),
            heard: HashMap::new(),
            clocks: HashMap::new(),
            probes: HashMap::new(),
            probe_cursor: 0,
            started_at: shared.clock.now(),
            last_error: String::new(),
            refused_login: false,
            key,
            trust: trust::Trust::from_site(&shared.config().site),
            trust_cfg: 0,
            refusals: HashMap::new(),
            shared,
            control,
            client,
            topics,
            view,
            last_version: items.values().map(|i| i.version).max().unwrap_or(0),
            items,
            seen_since_connect: HashSet::new(),
            resync_at: None,
            ping: None,
            rtt_ms: None,
            alarms_rx: opts.alarms.subscribe(),
            opts,
            down_since: None,
            broker_up_once: false,
        };
        crate::tasks::spawn(task.run(net_rx, change_rx));
        Ok(fleet)
    }

    /// Publish this node's device list (and its changes) from `care`.
    pub fn publish_devices(&self, care: Arc<crate::rdm::care::DeviceCare>) {
        let _ = self.devices.set(care);
    }

    /// Say goodbye: publish this node's offline status (the last will
    /// covers a crash) and disconnect, waiting at most `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let topic = self.topics.status(&self.node);
        let offline = serde_json::json!({"node": self.node, "online": false}).to_string();
        let offline = trust::maybe_sign(self.key.as_ref(), &self.node, &topic, offline);
        let c = self.client.clone();
        let _ = tokio::time::timeout(timeout, async move {
            let _ = c.publish(topic, QoS::AtLeastOnce, true, offline).await;
            let _ = c.disconnect().await;
        })
        .await;
    }
}

async fn load_items(control: &ControlService) -> HashMap<String, Item> {
    let rows = control
        .store()
        .run(|s| s.kv_prefix("fleet/"))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("fleet: cannot read the commands last seen: {e}");
            Vec::new()
        });
    rows.into_iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("fleet/")?.to_string();
            serde_json::from_str::<Item>(&v).ok().map(|i| (key, i))
        })
        .collect()
}

struct Task {
    /// This node's device list out, the peers' in ([`devices`]).
    devices: devices::Publisher,
    /// Who covers whom ([`standby`]).
    standby: standby::Standby,
    /// The clock state last read.
    clock_seen: Option<clock::ClockState>,
    inbox: Arc<inbox::Inbox>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    /// `[api] max_overrides`: the fleet keeps to it too.
    max_overrides: usize,
    /// When to subscribe to the commands again (after the inbox overflowed).
    resubscribe_at: Option<Instant>,
    /// When this node's fleet task started.
    started: Instant,
    /// When each item's newest command was last published again.
    restored: HashMap<String, Instant>,
    hyst: crate::alarms::Hysteresis,
    /// When each peer's last fresh status arrived.
    heard: HashMap<String, Instant>,
    /// Per peer: recent clock probes `(offset ms, delay ms)`.
    clocks: HashMap<String, VecDeque<(f64, f64)>>,
    /// Per peer: the nonces of the probes still unanswered (a few).
    probes: HashMap<String, VecDeque<u64>>,
    probe_cursor: usize,
    /// The render clock when this node's fleet task started.
    started_at: DateTime<Utc>,
    /// The last reason the broker connection failed.
    last_error: String,
    /// Whether that was the broker refusing the login.
    refused_login: bool,
    /// This node's signing key (`<state>/node.key`).
    key: Option<ed25519_dalek::SigningKey>,
    /// Who may sign commands, and for which configuration (its address).
    trust: trust::Trust,
    trust_cfg: usize,
    /// When a command was last refused, per reason (for the alarms).
    refusals: HashMap<&'static str, Instant>,
    shared: Shared,
    control: ControlService,
    client: AsyncClient,
    topics: Topics,
    view: Arc<Mutex<FleetView>>,
    opts: FleetOptions,
    /// `<kind>/<key>` → what this node has applied.
    items: HashMap<String, Item>,
    last_version: u64,
    /// Command topics received since the last connect (no need to
    /// republish those).
    seen_since_connect: HashSet<String>,
    resync_at: Option<Instant>,
    ping: Option<(u64, Instant)>,
    rtt_ms: Option<f64>,
    alarms_rx: tokio::sync::broadcast::Receiver<crate::alarms::Alarm>,
    down_since: Option<DateTime<Utc>>,
    broker_up_once: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Task {
    async fn run(
        mut self,
        mut net: mpsc::UnboundedReceiver<Net>,
        mut changes: mpsc::UnboundedReceiver<Change>,
    ) {
        let every = Duration::from_secs_f64(self.opts.spec.status_every);
        let mut status_tick = tokio::time::interval(every);
        // Housekeeping, and the standby heartbeat, on one tick.
        let mut second = tokio::time::interval(standby::HEARTBEAT_EVERY);
        self.down_since = Some(self.shared.clock.now());
        let inbox = self.inbox.clone();
        loop {
            if self.shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            tokio::select! {
                m = net.recv() => match m {
                    Some(Net::Up) => self.on_connect().await,
                    Some(Net::Down(e, refused)) => self.on_disconnect(&e, refused),
                    None => return,
                },
                _ = inbox.wait() => {
                    if let Some(m) = inbox.pop() {
                        self.on_message(&m).await;
                    }
                }
                c = changes.recv() => match c {
                    Some(c) => self.on_local_change(c).await,
                    None => return,
                },
                _ = status_tick.tick() => self.publish_status().await,
                _ = second.tick() => self.housekeeping().await,
                a = self.alarms_rx.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = a {
                        return;
                    }
                    self.publish_alarms();
                }
            }
        }
    }

    fn next_version(&mut self) -> u64 {
        self.last_version = wall_ns().max(self.last_version.saturating_add(1));
        self.last_version
    }

    /// Refuse a command: counted, logged (the first ten, then every
    /// thousandth, so a flood does not flood the log).
    fn refuse(&self, item_key: &str, origin: &str, why: &str) {
        let n = self.counters.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 10 || n % 1000 == 0 {
            tracing::warn!(
                key = item_key,
                origin,
                refused = n,
                "fleet: command refused: {why}"
            );
        }
    }

    /// Publish the newest command this node knows for an item again
    /// (retained), after an older one replaced it on the broker. At most
    /// once per item every few seconds: a replay loop costs little.
    fn restore(&mut self, kind: Kind, key: &str, item_key: &str, known: &Item) {
        let Some(cmd) = &known.command else { return };
        let now = Instant::now();
        if self
            .restored
            .get(item_key)
            .is_some_and(|t| now.duration_since(*t) < RESTORE_EVERY)
        {
            return;
        }
        if self.restored.len() > 10_000 {
            self.restored
                .retain(|_, t| now.duration_since(*t) < RESTORE_EVERY);
        }
        self.restored.insert(item_key.to_string(), now);
        tracing::info!(
            key = item_key,
            version = cmd.version,
            "fleet: an older version of a command reached the broker; publishing the newest again"
        );
        let topic = self.topics.cmd(kind, key);
        let payload = match &known.raw {
            Some(r) => r.clone().into_bytes(),
            None => self.command_payload(&topic, cmd),
        };
        self.publish(topic, true, payload);
    }

    /// A command as this node publishes it: signed with its key when it
    /// has one.
    fn command_payload(&self, topic: &str, cmd: &Command) -> Vec<u8> {
        let body = serde_json::to_string(cmd).unwrap_or_default();
        match &self.key {
            Some(k) => trust::sign(k, &self.opts.node, topic, body),
            None => body.into_bytes(),
        }
    }

    /// Rebuild who may sign from the configuration in force (after a reload).
    fn refresh_trust(&mut self) {
        let cfg = self.shared.config();
        let id = Arc::as_ptr(&cfg) as usize;
        if id != self.trust_cfg {
            self.trust = trust::Trust::from_site(&cfg.site);
            self.trust_cfg = id;
        }
    }

    /// Refuse a command for who signed it (or did not): counted, logged
    /// and alarmed with the reason; the alarm clears a minute after the
    /// last such refusal.
    fn refuse_signed(&mut self, item_key: &str, why: trust::Refusal) {
        let reason = why.reason();
        self.refuse(item_key, "?", &format!("command refused: {why}"));
        self.refusals.insert(reason, Instant::now());
        let key = format!("refused:{reason}");
        let item = item_key.to_string();
        self.opts
            .alarms
            .set(&key, crate::alarms::AlarmKind::CommandRefused, true, || {
                format!("command refused: {why} ({item})")
            });
    }

    /// A command from the fleet checked as every command is
    /// (`control::validate`); refused (and false) when it does not pass.
    fn valid<T: Controlled>(&self, x: &T, item_key: &str, origin: &str) -> bool {
        match control::validate(&self.shared.config(), x.item()) {
            Ok(()) => true,
            Err(e) => {
                self.refuse(item_key, origin, &e.to_string());
                false
            }
        }
    }

    /// A new override or scene from the fleet put in force and stored
    /// (audited `fleet.<kind>.apply`): its id here.
    async fn insert<T: Numbered>(
        &self,
        x: T,
        item_key: &str,
        origin: &str,
        detail: serde_json::Value,
    ) -> Result<i64, ()> {
        let kind = item_key.split('/').next().unwrap_or_default();
        let audit = self.audit(origin, &format!("fleet.{kind}.apply"), detail);
        match self.control.insert(x, audit).await {
            Ok(x) => Ok(x.id()),
            Err(e) => {
                tracing::warn!("fleet: {kind} {item_key}: {e}");
                Err(())
            }
        }
    }

    fn audit(&self, origin: &str, action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            at: self.shared.clock.now(),
            actor: format!("fleet:{origin}"),
            action: action.to_string(),
            detail,
            remote: None,
        }
    }

    async fn remember(&mut self, key: &str, item: Item) {
        let value = serde_json::to_string(&item).unwrap_or_default();
        let k = format!("fleet/{key}");
        if let Err(e) = self
            .control
            .store()
            .run(move |s| s.kv_set(&k, &value))
            .await
        {
            tracing::warn!("fleet: cannot persist command {key}: {e}");
        }
        self.items.insert(key.to_string(), item);
    }

    fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        // A packet over the client's limit would fail the connection: what
        // a node sends is bounded by construction, and this is the backstop.
        if payload.len() + topic.len() + 16 > MAX_OUTGOING_PACKET {
            tracing::warn!(
                topic,
                bytes = payload.len(),
                "fleet: message too large to publish; not sent"
            );
            return;
        }
        // try_publish: while the broker is away the request queue fills and
        // old status is worth nothing; commands are republished on reconnect.
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            tracing::debug!("fleet: not queued: {e}");
        }
    }

    /// Store the fleet-wide id of a local override or scene (its item key
    /// without the kind), so the API shows it and takes it in place of the
    /// local id. Written once per row.
    async fn name_fleet_id(&self, kind: Kind, local: i64, key: &str) {
        let item = match kind {
            Kind::Override => crate::store::FleetItem::Override,
            Kind::Scene => crate::store::FleetItem::Scene,
            _ => return,
        };
        let store = self.control.store();
        if store.fleet_id(item, local).as_deref() == Some(key) {
            return;
        }
        let key = key.to_string();
        if let Err(e) = store.run(move |s| s.set_fleet_id(item, local, &key)).await {
            tracing::warn!(
                "fleet: cannot store the fleet id of {} {local}: {e}",
                kind.as_str()
            );
        }
    }

    fn item_key_for_local(&self, kind: Kind, id: i64) -> Option<String> {
        let prefix = format!("{}/", kind.as_str());
        self.items
            .iter()
            .find(|(k, i)| k.starts_with(&prefix) && i.local_id == Some(id))
            .map(|(k, _)| k.clone())
    }

    async fn on_local_change(&mut self, c: Change) {
        let version = self.next_version();
        let origin = self.opts.node.clone();
        let now = self.shared.clock.now();
        let (kind, key, local_id, mut cmd) = match &c {
            Change::Override(o) => {
                let existing = self.item_key_for_local(Kind::Override, o.id);
                let key = existing.clone().map_or_else(
                    || format!("{}-{}-{}", origin, o.created.timestamp_micros(), o.id),
                    |k| k["override/".len()..].to_string(),
                );
                // A change to an item this node published before is a
                // release when the service says the override is being
                // released, and otherwise an extension (a new end).
                let released = match &existing {
                    Some(_) => self
                        .control
                        .book()
                        .await
                        .cancelled_overrides
                        .get(&o.id)
                        .copied(),
                    None => None,
                };
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released,
                    override_: Some(wire::WireOverride::from_override(o)),
                    scene: None,
                    master: None,
                    skip: None,
                    mode: None,
                };
                (Kind::Override, key, Some(o.id), cmd)
            }
            Change::Scene(s) => {
                let existing = self.item_key_for_local(Kind::Scene, s.id);
                let key = existing.clone().map_or_else(
                    || format!("{}-{}-{}", origin, s.started.timestamp_micros(), s.id),
                    |k| k["scene/".len()..].to_string(),
                );
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released: existing.map(|_| now),
                    override_: None,
                    scene: Some(wire::WireScene::from_scene(s)),
                    master: None,
                    skip: None,
                    mode: None,
                };
                (Kind::Scene, key, Some(s.id), cmd)
            }
            Change::Master(m) => {
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released: None,
                    override_: None,
                    scene: None,
                    master: Some(m.clone()),
                    skip: None,
                    mode: None,
                };
                (Kind::Master, wire::master_key(&m.target), None, cmd)
            }
            Change::Skip(sk) | Change::UndoSkip(sk, _) => {
                let released = match &c {
                    Change::UndoSkip(_, at) => Some(*at),
                    _ => None,
                };
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released,
                    override_: None,
                    scene: None,
                    master: None,
                    skip: Some(wire::WireSkip {
                        night: sk.night,
                        entry: sk.entry,
                        show: sk.show.clone(),
                        created: sk.created,
                        author: sk.author.clone(),
                        note: sk.note.clone(),
                    }),
                    mode: None,
                };
                (Kind::Skip, wire::skip_key(sk.night, sk.entry), None, cmd)
            }
            Change::ForceMode(f) => {
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released: None,
                    override_: None,
                    scene: None,
                    master: None,
                    skip: None,
                    mode: Some(wire::WireMode {
                        night: f.night,
                        mode: f.mode.clone(),
                        created: f.created,
                        author: f.author.clone(),
                        note: f.note.clone(),
                    }),
                };
                (Kind::Mode, wire::mode_key(f.night), None, cmd)
            }
            Change::UnforceMode(night, at) => {
                // The tombstone carries the mode it undoes (as this node
                // last knew it), so the body stays a whole mode command.
                let key = wire::mode_key(*night);
                let before = self
                    .items
                    .get(&format!("mode/{key}"))
                    .and_then(|i| i.command.as_ref()?.mode.clone());
                let mode = before.unwrap_or_else(|| wire::WireMode {
                    night: *night,
                    mode: String::new(),
                    created: *at,
                    author: origin.clone(),
                    note: None,
                });
                let cmd = Command {
                    version,
                    origin: origin.clone(),
                    released: Some(*at),
                    override_: None,
                    scene: None,
                    master: None,
                    skip: None,
                    mode: Some(mode),
                };
                (Kind::Mode, key, None, cmd)
            }
        };
        cmd.origin = origin.clone();
        // Publish first: the other nodes' lights should not wait for this
        // node's disk. The bookkeeping row only matters after a restart.
        let topic = self.topics.cmd(kind, &key);
        let payload = self.command_payload(&topic, &cmd);
        self.publish(topic, true, payload.clone());
        if let Some(id) = local_id {
            self.name_fleet_id(kind, id, &key).await;
        }
        let item_key = format!("{}/{key}", kind.as_str());
        self.remember(
            &item_key,
            Item {
                version,
                origin,
                local_id,
                raw: Some(String::from_utf8_lossy(&payload).into_owned()),
                command: Some(cmd),
            },
        )
        .await;
    }

    async fn on_message(&mut self, m: &inbox::Incoming) {
        let Some((section, rest)) = self.topics.split(&m.topic) else {
            return;
        };
        let payload = m.payload.as_slice();
        match section {
            "cmd" => self.on_command(rest, payload).await,
            "status" => self.on_status(rest, m),
            "probe" if rest == self.opts.node => self.on_probe(m),
            "alive"
                if rest != self.opts.node
                    && !m.retained
                    && self.verified_from(&m.topic, rest, payload) =>
            {
                self.standby.heard(rest, Instant::now());
                self.standby_tick();
            }
            "standby" => {
                let body = trust::body_of(payload);
                match serde_json::from_slice::<standby::Claim>(&body) {
                    // A claim holds a node's outputs dark: only its standby's.
                    Ok(c) if !self.verified_from(&m.topic, &c.by.clone(), payload) => {}
                    Ok(c) => {
                        self.standby.claim(rest, c);
                        self.standby_tick();
                    }
                    Err(_) => {
                        self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            "energy" => {}
            "devices" => self.on_devices(rest, m),
            "ping" if rest == self.opts.node => {
                let nonce: Option<u64> = std::str::from_utf8(payload)
                    .ok()
                    .and_then(|s| s.parse().ok());
                if let (Some(n), Some((sent, at))) = (nonce, self.ping) {
                    if n == sent {
                        let rtt = at.elapsed().as_secs_f64() * 1000.0;
                        self.rtt_ms = Some(rtt);
                        lock(&self.view).rtt_ms = Some(rtt);
                        self.ping = None;
                    }
                }
            }
            _ => {}
        }
    }

    async fn on_command(&mut self, rest: &str, payload: &[u8]) {
        let Some((kind, key)) = rest.split_once('/') else {
            return;
        };
        let Some(kind) = Kind::parse(kind) else {
            tracing::debug!(topic = rest, "fleet: unknown command kind");
            return;
        };
        let item_key = format!("{}/{key}", kind.as_str());
        self.seen_since_connect.insert(item_key.clone());
        if payload.is_empty() {
            // A cleared retained message: the item was forgotten by the
            // broker, not released (items end by their own times).
            return;
        }
        let topic = self.topics.cmd(kind, key);
        self.refresh_trust();
        let (body, signer) = match self.trust.open(&topic, payload) {
            Ok(b) => b,
            Err(r) => {
                self.refuse_signed(&item_key, r);
                return;
            }
        };
        let cmd = match Command::parse(kind, &body) {
            Ok(c) => c,
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(topic = rest, "fleet: command ignored: {e}");
                return;
            }
        };
        if let Some(s) = &signer {
            if let Err(r) = self.trust.allows(s, &cmd) {
                self.refuse_signed(&item_key, r);
                return;
            }
        }
        let now = self.shared.clock.now();
        if cmd.version > wall_ns().saturating_add(FUTURE_VERSION_NS) {
            self.refuse_signed(&item_key, trust::Refusal::Future);
            return;
        }
        let known = self.items.get(&item_key).cloned();
        if let Some(k) = &known {
            if !wire::newer((cmd.version, &cmd.origin), (k.version, &k.origin)) {
                if wire::newer((k.version, &k.origin), (cmd.version, &cmd.origin)) {
                    if self.trust.required {
                        self.refuse_signed(&item_key, trust::Refusal::Replayed);
                    }
                    // An older version replaced the broker's copy (a replay,
                    // or a node that missed the change): put the newest back,
                    // so a node starting with empty state gets it.
                    self.restore(kind, key, &item_key, k);
                }
                return;
            }
        }
        if let Err(why) = check_bounds(&cmd, now) {
            if why.starts_with("it starts in the future") {
                self.refuse_signed(&item_key, trust::Refusal::Future);
            }
            self.refuse(&item_key, &cmd.origin, &why);
            return;
        }
        self.last_version = self.last_version.max(cmd.version);
        let raw = String::from_utf8_lossy(payload).into_owned();
        let now = self.shared.clock.now();
        let cfg = self.shared.config();
        let detail = serde_json::json!({ "key": item_key, "version": cmd.version });
        let local_id = match kind {
            Kind::Override => {
                let Some(w) = &cmd.override_ else { return };
                match known.as_ref().and_then(|k| k.local_id) {
                    Some(id) => {
                        let current = self
                            .control
                            .book()
                            .await
                            .overrides
                            .get(&id)
                            .and_then(|o| o.expires);
                        match (w.expires, cmd.released, current) {
                            // Not released and ending later: extended.
                            (Some(ends), None, Some(cur)) if ends > cur => {
                                let by = nightscape_core::engine::seconds_between(cur, ends);
                                let audit =
                                    self.audit(&cmd.origin, "fleet.override.extend", detail);
                                let extended = self
                                    .control
                                    .extend_override(id, by, audit, crate::control::no_reply)
                                    .await;
                                if let Err(e) = extended {
                                    tracing::warn!("fleet: override {item_key}: {e}");
                                    return;
                                }
                            }
                            (Some(ends), None, Some(cur)) if ends == cur => {}
                            // Released, or ending sooner.
                            (Some(ends), released, _) => {
                                let at = released.unwrap_or(now);
                                let audit =
                                    self.audit(&cmd.origin, "fleet.override.release", detail);
                                let ended = self.control.end::<Override>(id, ends, at, audit);
                                if let Err(e) = ended.await {
                                    tracing::warn!("fleet: override {item_key}: {e}");
                                    return;
                                }
                            }
                            (None, _, _) => {}
                        }
                        Some(id)
                    }
                    None if w.expires.is_some_and(|e| e <= now) => None,
                    None => {
                        let o: Override = w.to_override();
                        if !self.valid(&o, &item_key, &cmd.origin) {
                            return;
                        }
                        if o.priority < control::EMERGENCY {
                            let in_force = self.control.book().await.overrides_in_force();
                            let limit = self
                                .max_overrides
                                .saturating_sub(emergency_room(self.max_overrides));
                            if in_force >= limit {
                                self.refuse(
                                    &item_key,
                                    &cmd.origin,
                                    &format!("{in_force} overrides are in force, the most the fleet may add ([api] max_overrides = {}, {} kept for emergencies)", self.max_overrides, emergency_room(self.max_overrides)),
                                );
                                return;
                            }
                        }
                        let Ok(id) = self.insert(o, &item_key, &cmd.origin, detail).await else {
                            return;
                        };
                        Some(id)
                    }
                }
            }
            Kind::Scene => {
                let Some(w) = &cmd.scene else { return };
                match known.as_ref().and_then(|k| k.local_id) {
                    Some(id) => {
                        let at = cmd.released.unwrap_or(now);
                        let audit = self.audit(&cmd.origin, "fleet.scene.stop", detail);
                        let ended = self.control.end::<Scene>(id, w.ends, at, audit);
                        if let Err(e) = ended.await {
                            tracing::warn!("fleet: scene {item_key}: {e}");
                            return;
                        }
                        Some(id)
                    }
                    None if w.ends <= now => None,
                    None => {
                        let s: Scene = w.to_scene();
                        if !self.valid(&s, &item_key, &cmd.origin) {
                            return;
                        }
                        let Ok(id) = self.insert(s, &item_key, &cmd.origin, detail).await else {
                            return;
                        };
                        Some(id)
                    }
                }
            }
            Kind::Master => {
                let Some(m) = &cmd.master else { return };
                if !self.valid(m, &item_key, &cmd.origin) {
                    return;
                }
                let audit = self.audit(&cmd.origin, "fleet.master.set", detail);
                if let Err(e) = self.control.apply_master(m.clone(), audit).await {
                    tracing::warn!("fleet: master {item_key}: {e}");
                    return;
                }
                None
            }
            Kind::Skip => {
                let Some(w) = &cmd.skip else { return };
                if key != wire::skip_key(w.night, w.entry) {
                    self.refuse(
                        &item_key,
                        &cmd.origin,
                        "the skip names another slot than its topic",
                    );
                    return;
                }
                // A night already over is history: remembered, not applied
                // (the service lists skips from last night on only).
                let over = cfg
                    .schedule
                    .night_of(now)
                    .pred_opt()
                    .is_some_and(|y| w.night < y);
                let existing = match self.control.skips().await {
                    Ok(v) => v
                        .into_iter()
                        .find(|s| s.night == w.night && s.entry == w.entry),
                    Err(e) => {
                        tracing::warn!("fleet: skip {item_key}: {e}");
                        return;
                    }
                };
                match (cmd.released, existing) {
                    (Some(_), Some(s)) => {
                        let audit = self.audit(&cmd.origin, "fleet.schedule.unskip", detail);
                        if let Err(e) = self.control.apply_undo_skip(s.id, now, audit).await {
                            tracing::warn!("fleet: skip {item_key}: {e}");
                            return;
                        }
                    }
                    (Some(_), None) | (None, Some(_)) => {}
                    (None, None) if over => {}
                    (None, None) => {
                        // The entry must play that night with that show on
                        // this node too: another schedule is refused.
                        let plan = cfg.schedule.night(w.night);
                        if !plan
                            .entries
                            .iter()
                            .any(|p| p.entry == w.entry && p.show == w.show)
                        {
                            self.refuse(
                                &item_key,
                                &cmd.origin,
                                &format!(
                                    "entry {} ({}) does not play on the night of {} here",
                                    w.entry, w.show, w.night
                                ),
                            );
                            return;
                        }
                        let skip = crate::store::Skip {
                            id: 0,
                            night: w.night,
                            entry: w.entry,
                            show: w.show.clone(),
                            created: w.created,
                            author: w.author.clone(),
                            note: w.note.clone(),
                        };
                        let audit = self.audit(&cmd.origin, "fleet.schedule.skip", detail);
                        if let Err(e) = self.control.apply_skip(skip, audit).await {
                            tracing::warn!("fleet: skip {item_key}: {e}");
                            return;
                        }
                    }
                }
                None
            }
            Kind::Mode => {
                let Some(w) = &cmd.mode else { return };
                if key != wire::mode_key(w.night) {
                    self.refuse(
                        &item_key,
                        &cmd.origin,
                        "the forced mode names another night than its topic",
                    );
                    return;
                }
                let over = cfg
                    .schedule
                    .night_of(now)
                    .pred_opt()
                    .is_some_and(|y| w.night < y);
                let current = match self.control.forced_modes().await {
                    Ok(v) => v.into_iter().find(|f| f.night == w.night).map(|f| f.mode),
                    Err(e) => {
                        tracing::warn!("fleet: mode {item_key}: {e}");
                        return;
                    }
                };
                match (cmd.released, current) {
                    (Some(_), Some(_)) => {
                        let audit = self.audit(&cmd.origin, "fleet.schedule.unforce_mode", detail);
                        if let Err(e) = self.control.apply_unforce_mode(w.night, now, audit).await {
                            tracing::warn!("fleet: mode {item_key}: {e}");
                            return;
                        }
                    }
                    (Some(_), None) => {}
                    (None, _) if over => {}
                    (None, current) => {
                        if !cfg.schedule.modes.iter().any(|m| m.name == w.mode) {
                            self.refuse(
                                &item_key,
                                &cmd.origin,
                                &format!("mode `{}` is not declared here", w.mode),
                            );
                            return;
                        }
                        if current.as_deref() != Some(w.mode.as_str()) {
                            let forced = crate::store::ForcedMode {
                                id: 0,
                                night: w.night,
                                mode: w.mode.clone(),
                                created: w.created,
                                author: w.author.clone(),
                                note: w.note.clone(),
                            };
                            let audit =
                                self.audit(&cmd.origin, "fleet.schedule.force_mode", detail);
                            if let Err(e) = self.control.apply_force_mode(forced, audit).await {
                                tracing::warn!("fleet: mode {item_key}: {e}");
                                return;
                            }
                        }
                    }
                }
                None
            }
        };
        tracing::debug!(key = %item_key, origin = %cmd.origin, version = cmd.version, "fleet command applied");
        if let Some(id) = local_id {
            self.name_fleet_id(kind, id, key).await;
        }
        self.remember(
            &item_key,
            Item {
                version: cmd.version,
                origin: cmd.origin.clone(),
                local_id,
                command: Some(cmd),
                raw: Some(raw),
            },
        )
        .await;
    }

    fn on_status(&mut self, node: &str, m: &inbox::Incoming) {
        let body = trust::body_of(&m.payload);
        let Ok(mut status) = serde_json::from_slice::<Status>(&body) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(node, "fleet: unreadable status");
            return;
        };
        if node == self.opts.node {
            // This node's own entry is kept by publish_status; its own
            // status, echoed by the broker every tick, is not verified
            // (a signature check per tick for nothing).
            return;
        }
        self.refresh_trust();
        let verified = self.trust.verify_own(&m.topic, node, &m.payload);
        // A status the broker kept from before this node started says
        // where the peer was, not that it is alive now.
        let stale = m.retained && status.at.is_none_or(|at| at < self.started_at);
        if verified == Some(false) {
            // Shown (marked) in the view, but a forged status must not
            // make a standby take over or hold back.
            self.counters.unverified.fetch_add(1, Ordering::Relaxed);
        } else if !stale {
            self.heard.insert(node.to_string(), Instant::now());
            if status.online {
                self.standby.heard(node, Instant::now());
            }
        }
        if !status.online && !stale && verified != Some(false) {
            // Its goodbye or its last will: gone now, not in a while.
            self.standby.went_offline(node);
        }
        if !status.online {
            // What it last measured is not live any more.
            status.power_w = None;
        }
        let last_seen = if stale {
            status.at.map_or(m.received, |at| at.min(m.received))
        } else {
            m.received
        };
        let est = self
            .clocks
            .get(node)
            .and_then(|c| wire::estimate_offset(&c.iter().copied().collect::<Vec<_>>()));
        let mut view = lock(&self.view);
        let same = status.config_hash.as_ref().map(|h| *h == view.config_hash);
        view.nodes.insert(
            node.to_string(),
            NodeView {
                status,
                last_seen,
                clock_offset_ms: est.map(|e| e.0),
                clock_error_ms: est.map(|e| e.1),
                same_config: same,
                verified,
            },
        );
        drop(view);
        self.standby_tick();
    }

    /// Decide who sends which outputs now, and say so: a retained claim
    /// when this node starts or stops covering another, and the alarm.
    fn standby_tick(&mut self) {
        if !self.standby.involved() {
            return;
        }
        let wall = Utc::now();
        for action in self.standby.tick(Instant::now(), wall) {
            let (node, active) = match &action {
                standby::Action::Cover(n) => (n.clone(), true),
                standby::Action::Release(n) => (n.clone(), false),
            };
            let since = self.standby.silent_since(&node);
            if active {
                tracing::warn!(covers = %node, "standby: node {node} is silent; sending its outputs");
            } else {
                tracing::info!(covers = %node, "standby: node {node} is back (or another standby covers it); its outputs are handed back");
            }
            let me = self.opts.node.clone();
            self.opts.alarms.set(
                &format!("standby:{node}"),
                crate::alarms::AlarmKind::StandbyActive,
                active,
                || match since {
                    Some(t) => {
                        format!("node {me} sends node {node}'s outputs ({node} silent since {t})")
                    }
                    None => format!("node {me} sends node {node}'s outputs"),
                },
            );
            let claim = standby::Claim {
                by: me,
                active,
                at: wall,
            };
            let topic = self.standby_topic(&node);
            let body = serde_json::to_string(&claim).unwrap_or_default();
            self.standby.claim(&node, claim);
            self.publish(topic.clone(), true, self.own_payload(&topic, body));
        }
        lock(&self.view).standby = lock(&self.standby.view).clone();
    }

    /// Whether a message on `topic` from `node` verifies against its listed
    /// key (always, when the fleet does not sign); one that does not is
    /// counted and ignored.
    fn verified_from(&mut self, topic: &str, node: &str, payload: &[u8]) -> bool {
        self.refresh_trust();
        if self.trust.verify_own(topic, node, payload) == Some(false) {
            self.counters.unverified.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                topic,
                node,
                "fleet: message not signed by the node it names; ignored"
            );
            return false;
        }
        true
    }

    fn standby_topic(&self, node: &str) -> String {
        format!(
            "{}/{}/standby/{node}",
            self.opts.spec.topic_root, self.opts.spec.topic_site
        )
    }

    fn alive_topic(&self, node: &str) -> String {
        format!(
            "{}/{}/alive/{node}",
            self.opts.spec.topic_root, self.opts.spec.topic_site
        )
    }

    /// A clock probe on this node's probe topic: a peer's request (answer
    /// it at once) or the answer to one of ours (a sample).
    fn on_probe(&mut self, m: &inbox::Incoming) {
        if m.retained {
            return;
        }
        let Ok(p) = serde_json::from_slice::<wire::Probe>(&trust::body_of(&m.payload)) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if p.from == self.opts.node {
            return;
        }
        // A probe (or its answer) must come from the node it names: a
        // forged answer would move this node's view of a peer's clock.
        if !self.verified_from(&m.topic, &p.from, &m.payload) {
            return;
        }
        match (p.t2, p.t3) {
            (None, _) | (_, None) => {
                if p.from.len() > 200 {
                    return;
                }
                let topic = self.topics.probe(&p.from);
                let answer = wire::Probe {
                    from: self.opts.node.clone(),
                    nonce: p.nonce,
                    t1: p.t1,
                    t2: Some(m.received),
                    t3: Some(self.shared.clock.now()),
                };
                let body = serde_json::to_string(&answer).unwrap_or_default();
                let payload = self.own_payload(&topic, body);
                self.publish_qos0(topic, payload);
            }
            (Some(t2), Some(t3)) => {
                let Some(sent) = self.probes.get_mut(&p.from) else {
                    return;
                };
                let Some(i) = sent.iter().position(|n| *n == p.nonce) else {
                    return;
                };
                sent.remove(i);
                let sample = wire::probe_offset(p.t1, t2, t3, m.received);
                let c = self.clocks.entry(p.from.clone()).or_default();
                c.push_back(sample);
                while c.len() > CLOCK_SAMPLES {
                    c.pop_front();
                }
                let est = wire::estimate_offset(&c.iter().copied().collect::<Vec<_>>());
                if let Some(n) = lock(&self.view).nodes.get_mut(&p.from) {
                    n.clock_offset_ms = est.map(|e| e.0);
                    n.clock_error_ms = est.map(|e| e.1);
                }
            }
        }
    }

    /// Probe the clocks of a few live peers (round-robin).
    fn send_probes(&mut self) {
        let peers: Vec<String> = lock(&self.view)
            .nodes
            .iter()
            .filter(|(n, v)| {
                **n != self.opts.node && v.status.online && self.heard.contains_key(*n)
            })
            .map(|(n, _)| n.clone())
            .collect();
        if peers.is_empty() {
            return;
        }
        let count = peers.len().min(PROBES_PER_PERIOD);
        for k in 0..count {
            let peer = &peers[(self.probe_cursor + k) % peers.len()];
            let nonce = self.next_version();
            let sent = self.probes.entry(peer.clone()).or_default();
            sent.push_back(nonce);
            while sent.len() > 4 {
                sent.pop_front();
            }
            let probe = wire::Probe {
                from: self.opts.node.clone(),
                nonce,
                t1: self.shared.clock.now(),
                t2: None,
                t3: None,
            };
            let topic = self.topics.probe(peer);
            let body = serde_json::to_string(&probe).unwrap_or_default();
            let payload = self.own_payload(&topic, body);
            self.publish_qos0(topic, payload);
        }
        self.probe_cursor = (self.probe_cursor + count) % peers.len();
    }

    fn publish_qos0(&self, topic: String, payload: Vec<u8>) {
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtMostOnce, false, payload)
        {
            tracing::debug!("fleet: not queued: {e}");
        }
    }

    async fn on_connect(&mut self) {
        self.refused_login = false;
        let now = self.shared.clock.now();
        for t in [
            self.topics.cmd_all(),
            self.topics.status_all(),
            self.topics.energy_all(),
            self.topics.ping(&self.opts.node),
        ] {
            if let Err(e) = self.client.try_subscribe(t, QoS::AtLeastOnce) {
                tracing::warn!("fleet: subscribe: {e}");
            }
        }
        if let Err(e) = self
            .client
            .try_subscribe(self.topics.probe(&self.opts.node), QoS::AtMostOnce)
        {
            tracing::warn!("fleet: subscribe: {e}");
        }
        if self.standby.involved() {
            let (alive, claims) = (self.alive_topic("+"), self.standby_topic("+"));
            for (t, q) in [(alive, QoS::AtMostOnce), (claims, QoS::AtLeastOnce)] {
                if let Err(e) = self.client.try_subscribe(t, q) {
                    tracing::warn!("fleet: subscribe: {e}");
                }
            }
            self.standby.connected(Instant::now());
        }
        let gap = self
            .down_since
            .take()
            .filter(|_| self.broker_up_once)
            .map(|from| {
                let seconds = nightscape_core::engine::seconds_between(from, now);
                wire::Gap {
                    from,
                    to: now,
                    seconds,
                }
            });
        if let Some(g) = &gap {
            tracing::warn!(from = %g.from, to = %g.to, seconds = format!("{:.1}", g.seconds), "fleet: broker back after a gap; ran on the schedule and the commands it had");
        } else {
            tracing::info!(broker = %self.opts.spec.broker, node = %self.opts.node, "fleet: connected to the broker");
        }
        self.broker_up_once = true;
        {
            let mut view = lock(&self.view);
            view.connected = true;
            view.disconnected_since = None;
            if gap.is_some() {
                view.last_gap = gap;
            }
        }

        self.seen_since_connect.clear();
        // Give the broker a moment to deliver its retained commands, then
        // republish what is in force here and the broker lacks (a broker
        // restarted without persistence forgets every retained message).
        self.resync_at = Some(Instant::now() + Duration::from_millis(1000));
        self.publish_status().await;
        self.publish_alarms();
        self.devices_connected();
    }

    fn on_disconnect(&mut self, error: &str, refused: bool) {
        self.refused_login = refused;
        self.standby.disconnected();
        if self.stopping.load(Ordering::Relaxed) || self.shared.stop.load(Ordering::Relaxed) {
            // This node is saying goodbye: not a gap in the broker.
            return;
        }
        let now = self.shared.clock.now();
        let was_up = {
            let mut view = lock(&self.view);
            let was = view.connected;
            view.connected = false;
            if view.disconnected_since.is_none() {
                view.disconnected_since = Some(now);
            }
            was
        };
        if was_up {
            self.down_since = Some(now);
            tracing::warn!(broker = %self.opts.spec.broker, "fleet: lost the broker ({error}); running on the schedule and the commands in force");
        }
        // The alarm is raised by housekeeping once the gap has lasted.
        self.last_error = error.to_string();
        lock(&self.view).last_error = Some(error.to_string());
    }

    /// Republish the in-force items the broker did not deliver since connect.
    async fn resync(&mut self) {
        let book = self.control.book().await;
        let mut out: Vec<(Kind, String, Command)> = Vec::new();
        for o in book.overrides.values() {
            let key = self.item_key_for_local(Kind::Override, o.id);
            if key
                .as_ref()
                .is_some_and(|k| self.seen_since_connect.contains(k))
            {
                continue;
            }
            let (k, item) = match key {
                Some(k) => {
                    let i = self.items[&k].clone();
                    (k["override/".len()..].to_string(), i)
                }
                None => (
                    format!(
                        "{}-{}-{}",
                        self.opts.node,
                        o.created.timestamp_micros(),
                        o.id
                    ),
                    Item {
                        version: self.next_version(),
                        origin: self.opts.node.clone(),
                        local_id: Some(o.id),
                        command: None,
                        raw: None,
                    },
                ),
            };
            let cmd = Command {
                version: item.version,
                origin: item.origin.clone(),
                released: book.cancelled_overrides.get(&o.id).copied(),
                override_: Some(wire::WireOverride::from_override(o)),
                scene: None,
                master: None,
                skip: None,
                mode: None,
            };
            let mut item = item;
            item.command = Some(cmd.clone());
            self.name_fleet_id(Kind::Override, o.id, &k).await;
            self.remember(&format!("override/{k}"), item).await;
            out.push((Kind::Override, k, cmd));
        }
        for s in book.scenes.values() {
            let key = self.item_key_for_local(Kind::Scene, s.id);
            if key
                .as_ref()
                .is_some_and(|k| self.seen_since_connect.contains(k))
            {
                continue;
            }
            let (k, item) = match key {
                Some(k) => {
                    let i = self.items[&k].clone();
                    (k["scene/".len()..].to_string(), i)
                }
                None => (
                    format!(
                        "{}-{}-{}",
                        self.opts.node,
                        s.started.timestamp_micros(),
                        s.id
                    ),
                    Item {
                        version: self.next_version(),
                        origin: self.opts.node.clone(),
                        local_id: Some(s.id),
                        command: None,
                        raw: None,
                    },
                ),
            };
            let cmd = Command {
                version: item.version,
                origin: item.origin.clone(),
                released: book.cancelled_scenes.get(&s.id).copied(),
                override_: None,
                scene: Some(wire::WireScene::from_scene(s)),
                master: None,
                skip: None,
                mode: None,
            };
            let mut item = item;
            item.command = Some(cmd.clone());
            self.name_fleet_id(Kind::Scene, s.id, &k).await;
            self.remember(&format!("scene/{k}"), item).await;
            out.push((Kind::Scene, k, cmd));
        }
        for m in &book.masters {
            let k = wire::master_key(&m.target);
            let item_key = format!("master/{k}");
            if self.seen_since_connect.contains(&item_key) {
                continue;
            }
            let item = match self.items.get(&item_key) {
                Some(i) => i.clone(),
                None => Item {
                    version: self.next_version(),
                    origin: self.opts.node.clone(),
                    local_id: None,
                    command: None,
                    raw: None,
                },
            };
            let cmd = Command {
                version: item.version,
                origin: item.origin.clone(),
                released: None,
                override_: None,
                scene: None,
                master: Some(m.clone()),
                skip: None,
                mode: None,
            };
            let mut item = item;
            item.command = Some(cmd.clone());
            self.remember(&item_key, item).await;
            out.push((Kind::Master, k, cmd));
        }
        // Skips and forced modes (and their undos) this node knows: the
        // newest command of each, as it travelled.
        let mut raws: Vec<(String, Vec<u8>)> = Vec::new();
        for (item_key, item) in &self.items {
            let Some((kind, k)) = item_key.split_once('/') else {
                continue;
            };
            let Some(kind @ (Kind::Skip | Kind::Mode)) = Kind::parse(kind) else {
                continue;
            };
            if self.seen_since_connect.contains(item_key) {
                continue;
            }
            let Some(cmd) = &item.command else { continue };
            let topic = self.topics.cmd(kind, k);
            let payload = match &item.raw {
                Some(r) => r.clone().into_bytes(),
                None => self.command_payload(&topic, cmd),
            };
            raws.push((topic, payload));
        }
        for (topic, payload) in raws {
            self.publish(topic, true, payload);
        }
        if !out.is_empty() {
            tracing::info!(
                items = out.len(),
                "fleet: republishing commands in force that the broker did not hold"
            );
        }
        for (kind, key, cmd) in out {
            let topic = self.topics.cmd(kind, &key);
            let payload = self.command_payload(&topic, &cmd);
            self.publish(topic, true, payload);
        }
    }

    async fn housekeeping(&mut self) {
        if self.standby.beats() && lock(&self.view).connected {
            let topic = self.alive_topic(&self.opts.node);
            let payload = self.own_payload(&topic, String::new());
            self.publish_qos0(topic, payload);
        }
        self.standby_tick();
        self.devices_tick();
        if self.resync_at.is_some_and(|t| Instant::now() >= t) {
            self.resync_at = None;
            self.resync().await;
        }
        // Commands dropped while the inbox was full are still retained on
        // the broker: subscribe again once caught up, and it sends them.
        if self.inbox.take_overflow() > 0 {
            self.resubscribe_at = Some(Instant::now() + Duration::from_secs(2));
        }
        if self.inbox.len() == 0 && self.resubscribe_at.is_some_and(|t| Instant::now() >= t) {
            self.resubscribe_at = None;
            tracing::info!(
                "fleet: the incoming queue overflowed; asking the broker for the commands again"
            );
            if let Err(e) = self
                .client
                .try_subscribe(self.topics.cmd_all(), QoS::AtLeastOnce)
            {
                tracing::warn!("fleet: subscribe: {e}");
            }
        }
        lock(&self.view).dropped = self.counters.view();
        let quiet: Vec<&'static str> = self
            .refusals
            .iter()
            .filter(|(_, t)| t.elapsed() > REFUSAL_CLEARS_AFTER)
            .map(|(r, _)| *r)
            .collect();
        for r in quiet {
            self.refusals.remove(r);
            self.opts.alarms.set(
                &format!("refused:{r}"),
                crate::alarms::AlarmKind::CommandRefused,
                false,
                String::new,
            );
        }
        // Alarms, each with hysteresis: the broker, then (while connected)
        // peers silent, on other files, drifting.
        let view = lock(&self.view).clone();
        let since = self.down_since;
        let broker = self.opts.spec.broker.to_string();
        let error = self.last_error.clone();
        // A refused login is not a network gap: its own alarm, at once,
        // naming what to check.
        let refused = !view.connected && self.refused_login;
        self.opts.alarms.set(
            "broker_login",
            crate::alarms::AlarmKind::BrokerRefused,
            refused,
            || format!("broker {broker}: {error}"),
        );
        self.hyst.set(
            &self.opts.alarms,
            "broker",
            crate::alarms::AlarmKind::BrokerGap,
            !view.connected && !self.refused_login,
            BROKER_GAP_AFTER,
            CLEAR_AFTER,
            || match since {
                Some(t) => format!("broker {broker} unreachable since {t}: {error}"),
                None => format!("broker {broker} unreachable: {error}"),
            },
        );
        if !view.connected {
            return;
        }
        let silent_after =
            Duration::from_secs_f64(self.opts.spec.status_every * SILENT_PERIODS + 5.0);
        let frame_ms = self.opts.spec.max_offset_ms;
        let alarms = self.opts.alarms.clone();
        let mut keep = Vec::new();
        for (name, n) in &view.nodes {
            if *name == self.opts.node {
                continue;
            }
            // Silent: nothing fresh heard for a while (a status retained
            // from before this node started is not news of the peer).
            let silent = match self.heard.get(name) {
                Some(t) => t.elapsed() > silent_after,
                None => self.started.elapsed() > silent_after,
            };
            let gone = !n.status.online || silent;
            let key = format!("node:{name}");
            let last_seen = n.last_seen;
            self.hyst.set(
                &alarms,
                &key,
                crate::alarms::AlarmKind::NodeDown,
                gone,
                NODE_DOWN_AFTER,
                CLEAR_AFTER,
                || format!("node {name} offline since {last_seen}"),
            );
            keep.push(key);
            let key = format!("config:{name}");
            let differs = n.status.online && n.same_config == Some(false);
            self.hyst.set(
                &alarms,
                &key,
                crate::alarms::AlarmKind::ConfigDiffers,
                differs,
                CONFIG_AFTER,
                CLEAR_AFTER,
                || {
                    format!(
                        "node {name} runs different site files (hash {} here {})",
                        n.status.config_hash.as_deref().unwrap_or("?"),
                        view.config_hash
                    )
                },
            );
            keep.push(key);
            let key = format!("drift:{name}");
            let drift =
                n.status.online && !silent && n.clock_offset_ms.is_some_and(|o| o.abs() > frame_ms);
            self.hyst.set(
                &alarms,
                &key,
                crate::alarms::AlarmKind::ClockDrift,
                drift,
                DRIFT_AFTER,
                DRIFT_AFTER,
                || {
                    format!(
                        "node {name}'s clock is {:.1} ms off this node's (more than [fleet] max_offset, {frame_ms:.1} ms)",
                        n.clock_offset_ms.unwrap_or(0.0)
                    )
                },
            );
            keep.push(key);
        }
        for prefix in ["node:", "config:", "drift:"] {
            self.hyst.forget_others(&alarms, prefix, &keep);
        }
    }

    fn own_status(&self) -> Status {
        let now = self.shared.clock.now();
        let stats = self
            .shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let cfg = self.shared.config();
        let view = lock(&self.view);
        Status {
            node: self.opts.node.clone(),
            online: true,
            at: Some(now),
            config_hash: Some(view.config_hash.clone()),
            rtt_ms: self.rtt_ms,
            ntp: None,
            // Bounded by construction (a few KiB whatever the site): the
            // console needs a summary, not the patch.
            playing: stats
                .active_shows
                .iter()
                .take(50)
                .map(|n| clip(n, 100))
                .collect(),
            outputs: stats
                .outputs
                .iter()
                .take(64)
                .map(|h| wire::OutputStatus {
                    kind: h.kind.into(),
                    target: clip(&h.target, 200),
                    state: h.state.into(),
                    universes: h.universes.iter().take(256).copied().collect(),
                    last_error: h.last_error.as_deref().map(|e| clip(e, 300)),
                })
                .collect(),
            power_w: self
                .opts
                .power
                .as_ref()
                .and_then(|p| p())
                .filter(|w| w.is_finite()),
            tonight_kwh: None,
            fps: cfg.site.fps,
            last_gap: view.last_gap.clone(),
            offsets_ms: self
                .clocks
                .iter()
                .take(64)
                .filter_map(|(n, c)| {
                    let (est, _) = wire::estimate_offset(&c.iter().copied().collect::<Vec<_>>())?;
                    Some((clip(n, 100), (est * 1000.0).round() / 1000.0))
                })
                .collect(),
        }
    }

    /// Hold the schedule while the clock is known not to be synchronised
    /// (`[fleet] require_synced_clock`), say so, and join when it is.
    fn clock_state(&mut self, state: &clock::ClockState) {
        let spec = &self.opts.spec;
        let hold = (spec.require_synced_clock && state.synced == Some(false))
            .then(|| spec.unsynced_show.clone());
        let was = self.clock_seen.as_ref().map(|c| c.synced);
        if was != Some(state.synced) {
            tracing::info!(clock = %state.describe(), holding = hold.is_some(), "fleet: clock state");
        }
        let now = self.shared.clock.now();
        self.opts.hold.set(state, hold.clone(), now);
        let node = self.opts.node.clone();
        let plays = hold
            .as_ref()
            .map(|s| match s {
                Some(show) => format!("plays `{show}`"),
                None => "holds the last look".to_string(),
            })
            .unwrap_or_default();
        let describe = state.describe();
        self.opts
            .alarms
            .set("clock:unsynced", crate::alarms::AlarmKind::ClockUnsynced, hold.is_some(), || {
                format!("node {node}'s clock is {describe}: it does not start timed entries on its own guess and {plays} until the clock is synchronised")
            });
        lock(&self.view).clock = self.opts.hold.view();
        self.clock_seen = Some(state.clone());
    }

    async fn publish_status(&mut self) {
        let hash_folder = self.opts.folder.clone();
        let state_dir = self.opts.state_dir.clone();
        let night = self
            .shared
            .config()
            .schedule
            .night_of(self.shared.clock.now());
        let simulated = matches!(self.shared.clock, crate::clock::Clock::Simulated { .. });
        let clock_dir = self.opts.state_dir.clone();
        let (hash, tonight, ntp, clock_state) = crate::tasks::blocking(move || {
            let kwh = state_dir.and_then(|d| tonight_kwh(&d, night));
            let state = clock::read(clock_dir.as_deref(), simulated);
            (config_hash(&hash_folder), kwh, ntp_state(), Some(state))
        })
        .await
        .unwrap_or_default();
        if let Some(state) = clock_state {
            self.clock_state(&state);
        }
        let ntp = match (&self.clock_seen, ntp) {
            (Some(c), Some(n)) => Some(format!("{}; {n}", c.describe())),
            (Some(c), None) => Some(c.describe()),
            (None, n) => n,
        };
        if !hash.is_empty() {
            lock(&self.view).config_hash = hash;
        }
        let mut status = self.own_status();
        status.tonight_kwh = tonight;
        status.ntp = ntp;
        // This node's own entry needs no broker.
        {
            let mut view = lock(&self.view);
            let now = self.shared.clock.now();
            let me = self.opts.node.clone();
            view.nodes.insert(
                me,
                NodeView {
                    status: status.clone(),
                    last_seen: now,
                    clock_offset_ms: Some(0.0),
                    clock_error_ms: Some(0.0),
                    same_config: Some(true),
                    verified: None,
                },
            );
            if !view.connected {
                return;
            }
        }
        let energy = wire::Energy {
            node: self.opts.node.clone(),
            at: status.at.unwrap_or_else(|| self.shared.clock.now()),
            power_w: status.power_w,
            tonight_kwh: status.tonight_kwh,
        };
        let topic = self.topics.status(&self.opts.node);
        let body = serde_json::to_string(&status).unwrap_or_default();
        self.publish(topic.clone(), true, self.own_payload(&topic, body));
        let topic = self.topics.energy(&self.opts.node);
        let body = serde_json::to_string(&energy).unwrap_or_default();
        self.publish(topic.clone(), true, self.own_payload(&topic, body));
        let nonce = self.next_version();
        self.ping = Some((nonce, Instant::now()));
        self.publish(
            self.topics.ping(&self.opts.node),
            false,
            nonce.to_string().into_bytes(),
        );
        self.send_probes();
    }

    fn publish_alarms(&self) {
        let list = bounded_alarms(&self.opts.node, self.opts.alarms.active());
        let topic = self.topics.alarms(&self.opts.node);
        let body = serde_json::to_string(&list).unwrap_or_default();
        self.publish(topic.clone(), true, self.own_payload(&topic, body));
    }

    /// A status, energy or alarms message of this node: signed when it has a key.
    fn own_payload(&self, topic: &str, body: String) -> Vec<u8> {
        trust::maybe_sign(self.key.as_ref(), &self.opts.node, topic, body)
    }
}

/// Alarms published per node at most (the rest are counted).
pub(crate) const MAX_PUBLISHED_ALARMS: usize = 100;
/// Characters of an alarm's key and message published at most.
const MAX_ALARM_TEXT: usize = 300;

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

/// A node's alarms message, bounded by construction: at most
/// [`MAX_PUBLISHED_ALARMS`] alarms (the oldest raised first), each text
/// clipped, with the total count, so it stays far below the packet limit
/// whatever happens to the node (about 100 × 700 bytes).
pub(crate) fn bounded_alarms(
    node: &str,
    mut active: Vec<crate::alarms::Alarm>,
) -> serde_json::Value {
    let total = active.len();
    active.sort_by(|a, b| a.raised.cmp(&b.raised).then_with(|| a.key.cmp(&b.key)));
    active.truncate(MAX_PUBLISHED_ALARMS);
    for a in &mut active {
        a.key = clip(&a.key, MAX_ALARM_TEXT);
        a.message = clip(&a.message, MAX_ALARM_TEXT);
    }
    serde_json::json!({
        "node": node,
        "active": active,
        "total": total,
        "truncated": total > active.len(),
    })
}

fn tonight_kwh(state_dir: &Path, night: chrono::NaiveDate) -> Option<f64> {
    let store = crate::energy::store::EnergyStore::open_existing(state_dir).ok()??;
    let nights = store.nights(night, night).ok()?;
    let kwh = nights
        .iter()
        .flat_map(|n| n.scopes.iter())
        .filter(|s| matches!(s.kind, Some(crate::energy::meter::ScopeKind::Site)))
        .map(|s| s.kwh)
        .sum();
    Some(kwh)
}

/// Nanoseconds since 1970 by the wall clock (command versions).
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A command whose version is further ahead of this node's wall clock is
/// refused: it would win over every later change for that long.
const FUTURE_VERSION_NS: u64 = 24 * 3600 * 1_000_000_000;
/// How far ahead of this node's clock an item may start.
const FUTURE_START_S: i64 = 60;
/// How often an item's newest command is published again at most.
const RESTORE_EVERY: Duration = Duration::from_secs(5);

/// Override slots the fleet leaves free for an operator's emergency: the
/// fleet adds ordinary overrides only up to `max − room`.
pub(crate) fn emergency_room(max_overrides: usize) -> usize {
    (max_overrides / 20).clamp(1, 50)
}

/// The API's bounds on a command from the broker: the same text lengths,
/// durations and priorities an operator could give (so nothing from the
/// broker outranks an emergency), an item that starts no later than a
/// minute from now, and an end after its start.
fn check_bounds(cmd: &Command, now: DateTime<Utc>) -> Result<(), String> {
    use crate::control::{MAX_SECONDS, MAX_TEXT};
    let text = |field: &str, v: &str| {
        if v.chars().count() > MAX_TEXT {
            Err(format!("{field} is longer than {MAX_TEXT} characters"))
        } else {
            Ok(())
        }
    };
    let priority = |p: i32| {
        if (0..=control::EMERGENCY).contains(&p) {
            Ok(())
        } else {
            Err(format!(
                "priority {p} is outside 0..={}",
                control::EMERGENCY
            ))
        }
    };
    let fade = |f: f64| {
        if f.is_finite() && (0.0..=MAX_SECONDS).contains(&f) {
            Ok(())
        } else {
            Err(format!("fade {f} s is outside 0..={MAX_SECONDS} s"))
        }
    };
    let span = |from: DateTime<Utc>, to: Option<DateTime<Utc>>| {
        if from > now + chrono::Duration::seconds(FUTURE_START_S) {
            return Err(format!("it starts in the future ({from})"));
        }
        if let Some(to) = to {
            let s = nightscape_core::engine::seconds_between(from, to);
            if !(0.0..=MAX_SECONDS).contains(&s) {
                return Err(format!(
                    "its duration {s:.0} s is outside 0..={MAX_SECONDS} s"
                ));
            }
        }
        Ok(())
    };
    text("origin", &cmd.origin)?;
    if let Some(o) = &cmd.override_ {
        text("target", &o.target)?;
        text("author", &o.author)?;
        if let Some(n) = &o.note {
            text("note", n)?;
        }
        if let control::Action::Color(c) | control::Action::Show(c) = &o.action {
            text("action", c)?;
        }
        priority(o.priority)?;
        fade(o.fade)?;
        span(o.created, o.expires)?;
    }
    if let Some(sc) = &cmd.scene {
        text("show", &sc.show)?;
        text("author", &sc.author)?;
        if let Some(t) = &sc.target {
            text("target", t)?;
        }
        priority(sc.priority)?;
        if let Some(f) = sc.fade {
            fade(f)?;
        }
        span(sc.started, Some(sc.ends))?;
    }
    if let Some(m) = &cmd.master {
        text("target", &m.target)?;
    }
    if let Some(s) = &cmd.skip {
        text("show", &s.show)?;
        text("author", &s.author)?;
        if let Some(n) = &s.note {
            text("note", n)?;
        }
    }
    if let Some(m) = &cmd.mode {
        text("mode", &m.mode)?;
        text("author", &m.author)?;
        if let Some(n) = &m.note {
            text("note", n)?;
        }
    }
    Ok(())
}

/// One node as the broker holds it: its retained status, energy and alarms.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSnapshot {
    pub status: Status,
    pub energy: Option<wire::Energy>,
    /// Its alarms message (`{node, active, total, truncated}`), if any.
    pub alarms: Option<serde_json::Value>,
    /// Whether its status, energy and alarms messages verify against its
    /// listed key (None: the fleet does not sign, or no site keys were given).
    pub verified: Option<bool>,
    /// Which of its messages did not verify ("status", "energy", "alarms").
    pub unverified: Vec<&'static str>,
}

/// Every node's retained status and energy as the broker holds them,
/// gathered for `wait` by a short-lived client (for `check`). `Err` when
/// the broker cannot be reached.
pub async fn snapshot(
    spec: &FleetSpec,
    wait: Duration,
) -> Result<BTreeMap<String, (Status, Option<wire::Energy>)>, String> {
    Ok(snapshot_full(spec, wait, None)
        .await?
        .into_iter()
        .map(|(n, s)| (n, (s.status, s.energy)))
        .collect())
}

/// Every node's retained status, energy and alarms as the broker holds
/// them, gathered for `wait` by a short-lived client (`nightscape fleet
/// status`). An offline node's power is not live: it is left out.
pub async fn snapshot_full(
    spec: &FleetSpec,
    wait: Duration,
    trust: Option<&trust::Trust>,
) -> Result<BTreeMap<String, NodeSnapshot>, String> {
    let topics = Topics::new(&spec.topic_root, &spec.topic_site);
    let mqtt = mqtt_options(spec, format!("nightscape-cli-{}", std::process::id()), None)?;
    let (client, mut eventloop) = AsyncClient::new(mqtt, 16);
    let mut out: BTreeMap<String, NodeSnapshot> = BTreeMap::new();
    let mut energy: BTreeMap<String, wire::Energy> = BTreeMap::new();
    let mut alarms: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    // Per node: the kinds of its messages that did not verify.
    let mut bad: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut connected = false;
    loop {
        let ev = match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Err(_) => break,
            Ok(ev) => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                for t in [
                    topics.status_all(),
                    topics.energy_all(),
                    topics.alarms_all(),
                ] {
                    let _ = client.try_subscribe(t, QoS::AtLeastOnce);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.payload.len() > MAX_MESSAGE_BYTES {
                    continue;
                }
                let body = trust::body_of(&p.payload);
                if let Some((kind @ ("status" | "energy" | "alarms"), node)) =
                    topics.split(&p.topic)
                {
                    if trust.and_then(|t| t.verify_own(&p.topic, node, &p.payload)) == Some(false) {
                        let kind: &'static str = match kind {
                            "status" => "status",
                            "energy" => "energy",
                            _ => "alarms",
                        };
                        bad.entry(node.to_string()).or_default().push(kind);
                    }
                }
                match topics.split(&p.topic) {
                    Some(("status", node)) => {
                        if let Ok(s) = serde_json::from_slice::<Status>(&body) {
                            out.insert(
                                node.to_string(),
                                NodeSnapshot {
                                    status: s,
                                    energy: None,
                                    alarms: None,
                                    verified: trust
                                        .and_then(|t| t.verify_own(&p.topic, node, &p.payload)),
                                    unverified: Vec::new(),
                                },
                            );
                        }
                    }
                    Some(("energy", node)) => {
                        if let Ok(e) = serde_json::from_slice::<wire::Energy>(&body) {
                            energy.insert(node.to_string(), e);
                        }
                    }
                    Some(("alarms", node)) => {
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                            alarms.insert(node.to_string(), v);
                        }
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !connected {
                    let (_, why) = describe_connection_error(spec, &e);
                    return Err(format!("broker {}: {why}", spec.broker));
                }
                break;
            }
        }
    }
    let _ = client.try_disconnect();
    for (node, n) in out.iter_mut() {
        n.energy = energy.remove(node);
        n.alarms = alarms.remove(node);
        if let Some(mut b) = bad.remove(node) {
            b.sort();
            b.dedup();
            n.verified = Some(false);
            n.unverified = b;
        }
        if !n.status.online {
            n.status.power_w = None;
            if let Some(e) = &mut n.energy {
                e.power_w = None;
            }
        }
    }
    Ok(out)
}

/// A node's clock offset as its peers measure it (ms, the median of what
/// each reports in its status), from a snapshot.
pub fn fleet_offset_ms(nodes: &BTreeMap<String, NodeSnapshot>, node: &str) -> Option<f64> {
    let mut seen: Vec<f64> = nodes
        .iter()
        .filter(|(n, s)| n.as_str() != node && s.status.online)
        .filter_map(|(_, s)| s.status.offsets_ms.get(node).copied())
        .filter(|o| o.is_finite())
        .collect();
    if seen.is_empty() {
        return None;
    }
    seen.sort_by(f64::total_cmp);
    let n = seen.len();
    Some(if n % 2 == 1 {
        seen[n / 2]
    } else {
        (seen[n / 2 - 1] + seen[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarms_message_is_bounded_whatever_the_alarms() {
        let at = Utc::now();
        let many: Vec<crate::alarms::Alarm> = (0..10_000)
            .map(|i| crate::alarms::Alarm {
                key: format!("node:{i}:{}", "k".repeat(10_000)),
                kind: crate::alarms::AlarmKind::NodeDown,
                message: "m".repeat(100_000),
                raised: at,
                cleared: None,
            })
            .collect();
        let v = bounded_alarms("a", many);
        let bytes = serde_json::to_vec(&v).unwrap().len();
        assert!(bytes < 100 * 1024, "{bytes} bytes");
        assert_eq!(v["total"], 10_000);
        assert_eq!(v["truncated"], true);
        assert_eq!(v["active"].as_array().unwrap().len(), MAX_PUBLISHED_ALARMS);
    }

    #[test]
    fn commands_out_of_the_api_bounds_are_refused() {
        let now = Utc::now();
        let ok = Command::parse(
            Kind::Override,
            format!(
                r##"{{"version": 1, "override": {{"target": "*", "action": {{"color": "#ff0000"}}, "created": "{}", "priority": 1000000}}}}"##,
                now.to_rfc3339()
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(check_bounds(&ok, now), Ok(()));
        let mut c = ok.clone();
        c.override_.as_mut().unwrap().priority = control::EMERGENCY + 1;
        assert!(check_bounds(&c, now).unwrap_err().contains("priority"));
        let mut c = ok.clone();
        c.override_.as_mut().unwrap().note = Some("n".repeat(501));
        assert!(check_bounds(&c, now).unwrap_err().contains("note"));
        let mut c = ok.clone();
        c.override_.as_mut().unwrap().fade = f64::NAN;
        assert!(check_bounds(&c, now).unwrap_err().contains("fade"));
        let mut c = ok.clone();
        c.override_.as_mut().unwrap().expires = Some(now + chrono::Duration::days(400));
        assert!(check_bounds(&c, now).unwrap_err().contains("duration"));
        let mut c = ok;
        c.override_.as_mut().unwrap().created = now + chrono::Duration::days(1);
        assert!(check_bounds(&c, now).unwrap_err().contains("future"));
        assert_eq!(emergency_room(1000), 50);
        assert_eq!(emergency_room(20), 1);
        assert_eq!(emergency_room(0), 1);
    }
}
