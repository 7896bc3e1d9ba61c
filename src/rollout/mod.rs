//! Site rollouts a city can undo: `nightscape fleet push` publishes the
//! site folder as a signed, versioned bundle on the fleet's broker; every
//! node verifies it, runs `nightscape check` on it, stores it beside the
//! versions before it in its state folder and switches to it at one
//! instant; `fleet rollback` switches every node back.
//!
//! Three retained topics under `<root>/<site>/rollout/`:
//! - `bundle`: the newest bundle: a signed envelope (as commands are,
//!   [`crate::fleet::trust`]) over its header ([`BundleHeader`]: version,
//!   SHA-256 of the archive, where the site folder is inside it), a
//!   newline, then the archive ([`bundle`]) itself. The signature covers
//!   the header, the header the archive's hash.
//! - `switch`: which version every node runs, from when ([`Switch`]),
//!   signed, with a sequence number (ms since the epoch when issued) that
//!   only grows: an older one is refused as replayed. It carries the
//!   versions pushed so far, so `rollback` needs no state of its own.
//! - `node/<name>`: each node's report ([`NodeReport`]): the version it
//!   runs, one it will switch to, what it refused and why, signed by the
//!   node. `push` and `rollback` print them; `fleet versions` lists them.
//!
//! The bundle has its own MQTT connection rather than riding the fleet's:
//! the fleet's client reads commands of at most 64 KiB through a queue
//! that must never wait, and its task must keep publishing status while a
//! bundle of up to [`bundle::MAX_BUNDLE_BYTES`] is read, written and
//! checked (seconds). A second client costs one TCP connection, and a
//! rollout can neither delay a command nor be dropped by the command
//! queue's bounds.
//!
//! A bundle is checked by running this same binary's `check` on the stored
//! copy in a child process, so a node judges a version exactly as the
//! designer's `nightscape check` does, and a hostile bundle that would
//! crash or exhaust the checker costs a child, not the lights (bounded
//! by [`CHECK_TIMEOUT`]). A version that fails is deleted, refused with an
//! alarm (`rollout_refused`), and the node keeps running what it runs.
//!
//! Versions live in `<state>/sites/<NNNNNN>-<hash>/files/`, and
//! `<state>/sites/current` is a symlink to the running one's site folder,
//! replaced atomically at each switch: `nightscape run --site
//! <state>/sites/current` starts the last version switched to, with or
//! without the broker. The switch itself goes through hot reload's path
//! ([`crate::daemon::reload::switch_to`]) with a configuration loaded
//! before the instant, so the frame loop changes sites at the next frame
//! after `--at`, on every node together (their clocks agree).

pub mod bundle;

use crate::alarms::Alarms;
use crate::daemon::Shared;
use crate::fleet::trust;
use chrono::{DateTime, Utc};
use nightscape_core::site::fleet::FleetSpec;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a node's `check` of a bundle may run before it is refused.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);
/// How far ahead a switch may be scheduled (`--at`).
pub const MAX_AHEAD: chrono::Duration = chrono::Duration::days(7);
/// How far a switch's sequence may be ahead of this node's clock before it
/// is refused as from the future.
const SEQ_AHEAD_MS: u64 = 10 * 60 * 1000;
/// How long a switch may wait for its bundle before `rollout_missing`.
const MISSING_AFTER: Duration = Duration::from_secs(10);
/// A signature refusal's alarm clears this long after the last one.
const FORGED_CLEARS_AFTER: Duration = Duration::from_secs(600);
/// The largest signed header before the archive.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Refusals a node report keeps (newest first).
const REPORT_REFUSALS: usize = 8;
/// Stored versions a node report lists (newest first).
const REPORT_STORED: usize = 32;

/// The rollout topics of a site.
#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(spec: &FleetSpec) -> Topics {
        Topics {
            base: format!("{}/{}/rollout", spec.topic_root, spec.topic_site),
        }
    }
    pub fn bundle(&self) -> String {
        format!("{}/bundle", self.base)
    }
    pub fn switch(&self) -> String {
        format!("{}/switch", self.base)
    }
    pub fn node(&self, node: &str) -> String {
        format!("{}/node/{node}", self.base)
    }
    pub fn node_all(&self) -> String {
        format!("{}/node/+", self.base)
    }
    /// The node a report topic is about.
    pub fn node_of<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/node/")
    }
}

/// A site version: its number (grows with each push) and the SHA-256 of
/// its archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VersionId {
    pub version: u64,
    pub hash: String,
}

impl VersionId {
    /// A version number of at least 1 and a 64-digit lowercase hex hash
    /// (it names a folder: nothing else may pass).
    pub fn valid(&self) -> bool {
        self.version >= 1
            && self.hash.len() == 64
            && self
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    /// Its folder's name under `<state>/sites/`.
    pub fn dir_name(&self) -> String {
        format!(
            "{:06}-{}",
            self.version,
            &self.hash[..12.min(self.hash.len())]
        )
    }
}

impl std::fmt::Display for VersionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "v{} ({})",
            self.version,
            &self.hash[..12.min(self.hash.len())]
        )
    }
}

/// What the signature of a bundle covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub id: VersionId,
    /// The site folder inside the archive (`site` or `.`).
    pub site_dir: String,
    pub bytes: u64,
    pub files: u32,
    /// The site's name (`[site] name`), for people reading the broker.
    pub site: String,
    pub created: DateTime<Utc>,
}

/// Which version to run, from when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    /// Grows with every switch issued (ms since the epoch when issued).
    pub seq: u64,
    pub to: VersionId,
    /// When to switch (None: at once). A wall-clock instant.
    pub at: Option<DateTime<Utc>>,
    /// The versions pushed, oldest first, ending with `to`: rollback goes
    /// to the one before.
    pub history: Vec<VersionId>,
    /// Whether this is a rollback.
    #[serde(default)]
    pub rollback: bool,
}

/// A version a node will switch to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub to: VersionId,
    pub at: Option<DateTime<Utc>>,
}

/// Something a node refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub version: Option<VersionId>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A node's rollout state, retained on `rollout/node/<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    /// The version it runs (None: the files of its `--site`, not a pushed version).
    pub running: Option<VersionId>,
    /// The last switch it applied.
    pub seq: u64,
    /// When it switched to `running` (its wall clock).
    #[serde(default)]
    pub switched_at: Option<DateTime<Utc>>,
    pub pending: Option<Pending>,
    /// Newest first.
    pub refused: Vec<Refused>,
    /// Versions stored in its state folder, newest first.
    pub stored: Vec<VersionId>,
    pub at: DateTime<Utc>,
}

/// What a node remembers between starts (`<state>/sites/rollout.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    seq: u64,
    running: Option<VersionId>,
}

/// `<state>/sites`.
pub fn sites_dir(state: &Path) -> PathBuf {
    state.join("sites")
}

/// The symlink to the running version's files.
pub fn current_link(state: &Path) -> PathBuf {
    sites_dir(state).join("current")
}

/// The site folder to start from: `<state>/sites/current/site` (deeper
/// when the version's profile library is more than one level up).
pub fn current_site(state: &Path) -> PathBuf {
    let site_dir = running_version(state)
        .and_then(|v| stored_header(state, &v))
        .map_or_else(|| "site".to_string(), |h| h.site_dir);
    current_link(state).join(site_dir)
}

fn version_dir(state: &Path, id: &VersionId) -> PathBuf {
    sites_dir(state).join(id.dir_name())
}

/// The stored version's header, if it is stored (complete).
pub fn stored_header(state: &Path, id: &VersionId) -> Option<BundleHeader> {
    let text = std::fs::read_to_string(version_dir(state, id).join("bundle.json")).ok()?;
    serde_json::from_str::<BundleHeader>(&text)
        .ok()
        .filter(|h| h.id == *id)
}

/// The site folder of a stored version.
pub fn site_folder(state: &Path, header: &BundleHeader) -> PathBuf {
    let files = version_dir(state, &header.id).join("files");
    if header.site_dir == "." {
        files
    } else {
        files.join(&header.site_dir)
    }
}

/// Every version stored in `state`, newest first.
pub fn stored_versions(state: &Path) -> Vec<VersionId> {
    let mut out: Vec<VersionId> = std::fs::read_dir(sites_dir(state))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("bundle.json")).ok()?;
            serde_json::from_str::<BundleHeader>(&text)
                .ok()
                .map(|h| h.id)
        })
        .collect();
    out.sort_by(|a, b| b.cmp(a));
    out
}

/// The running version as `rollout.json` says, or None.
pub fn running_version(state: &Path) -> Option<VersionId> {
    read_persisted(state).running
}

fn read_persisted(state: &Path) -> Persisted {
    std::fs::read_to_string(sites_dir(state).join("rollout.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_persisted(state: &Path, p: &Persisted) -> std::io::Result<()> {
    let path = sites_dir(state).join("rollout.json");
    let tmp = sites_dir(state).join("rollout.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(p).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

/// Point `<state>/sites/current` at a stored version's files (a relative
/// symlink, replaced atomically). It names the version's root, not its
/// site folder: the loader resolves `profiles = "../fixtures"` lexically,
/// and `current/site/../fixtures` must stay inside the version.
pub fn set_current(state: &Path, header: &BundleHeader) -> std::io::Result<()> {
    let rel = Path::new(&header.id.dir_name()).join("files");
    let tmp = sites_dir(state).join("current.tmp");
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&rel, &tmp)?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, rel.to_string_lossy().as_bytes())?;
    std::fs::rename(tmp, current_link(state))
}

/// Store a checked archive as a version (for `restore`): unpacked into a
/// fresh folder, renamed into place when complete.
pub fn store_version(
    state: &Path,
    header: &BundleHeader,
    archive: &[u8],
) -> Result<PathBuf, String> {
    if !header.id.valid() || bundle::sha256_hex(archive) != header.id.hash {
        return Err("the archive does not match its version's hash".into());
    }
    if stored_header(state, &header.id).is_some() {
        return Ok(site_folder(state, header));
    }
    let incoming = sites_dir(state).join(format!(".incoming-{}", header.id.dir_name()));
    let _ = std::fs::remove_dir_all(&incoming);
    std::fs::create_dir_all(&incoming).map_err(|e| format!("{}: {e}", incoming.display()))?;
    bundle::unpack(archive, &header.site_dir, &incoming.join("files"))
        .map_err(|e| e.to_string())?;
    finish_store(state, header, &incoming)
}

fn finish_store(state: &Path, header: &BundleHeader, incoming: &Path) -> Result<PathBuf, String> {
    std::fs::write(
        incoming.join("bundle.json"),
        serde_json::to_vec_pretty(header).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let dest = version_dir(state, &header.id);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(incoming, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(site_folder(state, header))
}

/// Install a version from a backup: stored, made current, recorded as
/// running (with the switch sequence it had), so the daemon started from
/// [`current_site`] runs it and takes no older switch from the broker.
pub fn install_restored(
    state: &Path,
    header: &BundleHeader,
    archive: &[u8],
    seq: u64,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(sites_dir(state)).map_err(|e| e.to_string())?;
    store_version(state, header, archive)?;
    set_current(state, header).map_err(|e| e.to_string())?;
    write_persisted(
        state,
        &Persisted {
            seq,
            running: Some(header.id.clone()),
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(current_site(state))
}

/// The switch sequence a node last applied.
pub fn applied_seq(state: &Path) -> u64 {
    read_persisted(state).seq
}

/// The archive of a stored version, packed again from its files (the
/// same bytes: packing is deterministic), for `backup`.
pub fn archive_of(state: &Path, header: &BundleHeader) -> Result<Vec<u8>, String> {
    let files = version_dir(state, &header.id).join("files");
    let mut entries = Vec::new();
    collect(&files, "", &mut entries)?;
    entries.sort();
    let mut archive = b"NSBUNDLE1\n".to_vec();
    for (name, path) in entries {
        let bytes = crate::config::read_regular(&path, bundle::MAX_BUNDLE_BYTES)?;
        archive.extend_from_slice(&(name.len() as u16).to_be_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        archive.extend_from_slice(&bytes);
    }
    if bundle::sha256_hex(&archive) != header.id.hash {
        return Err(format!(
            "the stored files of {} no longer match its hash (edited in place?)",
            header.id
        ));
    }
    Ok(archive)
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    for e in std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let kind = e.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            collect(&e.path(), &format!("{name}/"), out)?;
        } else if kind.is_file() {
            out.push((name, e.path()));
        }
    }
    Ok(())
}

/// MQTT options for a rollout connection: the fleet's broker, credentials
/// and TLS, and packets big enough for a bundle.
pub fn mqtt_options(spec: &FleetSpec, client_id: String) -> Result<MqttOptions, String> {
    let b = &spec.broker;
    let mut m = MqttOptions::new(client_id, b.host.clone(), b.port);
    m.set_keep_alive(Duration::from_secs(5));
    m.set_clean_session(true);
    let max = bundle::MAX_BUNDLE_BYTES as usize + MAX_HEADER_BYTES + 1024;
    m.set_max_packet_size(max, max);
    if let Some(user_var) = &spec.username_env {
        let user = std::env::var(user_var)
            .map_err(|_| format!("rollout: the broker user name variable {user_var} is not set"))?;
        let pass = match &spec.password_env {
            Some(v) => std::env::var(v)
                .map_err(|_| format!("rollout: the broker password variable {v} is not set"))?,
            None => String::new(),
        };
        m.set_credentials(user, pass);
    }
    if b.tls {
        // The fleet's own TLS set-up, so `[fleet] ca_file` holds here too.
        m.set_transport(crate::fleet::tls_transport(spec).map_err(|e| format!("rollout: {e}"))?);
    }
    Ok(m)
}

/// A bundle message: the signed header, a newline, the archive.
pub fn bundle_message(envelope: &[u8], archive: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(envelope.len() + 1 + archive.len());
    out.extend_from_slice(envelope);
    out.push(b'\n');
    out.extend_from_slice(archive);
    out
}

/// The command a whole-site rollout counts as for [`trust::Trust::allows`]:
/// target `*`, so a signer limited to some targets may not push a site.
fn whole_site() -> nightscape_core::control::fleet::Command {
    nightscape_core::control::fleet::Command {
        version: 0,
        origin: String::new(),
        released: None,
        override_: None,
        scene: None,
        master: None,
        skip: None,
        mode: None,
    }
}

/// Open a signed rollout message: its body, if the site's keys allow it.
fn open(shared: &Shared, topic: &str, envelope: &[u8]) -> Result<Vec<u8>, trust::Refusal> {
    let t = trust::Trust::from_site(&shared.config().site);
    let (body, signer) = t.open(topic, envelope)?;
    if let Some(s) = &signer {
        t.allows(s, &whole_site())?;
    }
    Ok(body)
}

/// What the daemon needs to take part in rollouts.
pub struct RolloutOptions {
    pub node: String,
    pub spec: FleetSpec,
    pub state_dir: PathBuf,
    /// The `--site` folder the daemon started from.
    pub folder: PathBuf,
    pub alarms: Arc<Alarms>,
    /// The binary whose `check` judges a bundle (this one).
    pub checker: PathBuf,
}

/// The daemon's handle: the node's report and the connection to close.
pub struct Rollout {
    pub report: Arc<Mutex<NodeReport>>,
    client: AsyncClient,
}

impl Rollout {
    /// Connect and start the rollout tasks (an unreachable broker is not
    /// an error: the client keeps trying).
    pub fn start(shared: Shared, opts: RolloutOptions) -> Result<Rollout, String> {
        let topics = Topics::new(&opts.spec);
        let mqtt = mqtt_options(
            &opts.spec,
            format!("nightscape-{}-{}-rollout", opts.spec.topic_site, opts.node),
        )?;
        let (client, eventloop) = AsyncClient::new(mqtt, 16);
        let persisted = read_persisted(&opts.state_dir);
        // The version this process runs: the one `current` names, when it
        // was started from there.
        let started_from_current = std::fs::canonicalize(&opts.folder)
            .ok()
            .zip(std::fs::canonicalize(sites_dir(&opts.state_dir)).ok())
            .is_some_and(|(f, s)| f.starts_with(s));
        let running = persisted.running.clone().filter(|_| started_from_current);
        if !started_from_current {
            tracing::info!(
                "rollout: running the files of {}; a pushed version will be stored under {} and switched to (start with --site {} to keep it across restarts)",
                opts.folder.display(),
                sites_dir(&opts.state_dir).display(),
                current_site(&opts.state_dir).display()
            );
        }
        let report = Arc::new(Mutex::new(NodeReport {
            node: opts.node.clone(),
            running,
            seq: persisted.seq,
            switched_at: None,
            pending: None,
            refused: Vec::new(),
            stored: stored_versions(&opts.state_dir)
                .into_iter()
                .take(REPORT_STORED)
                .collect(),
            at: Utc::now(),
        }));
        let key = trust::load_or_create(&opts.state_dir).ok();
        let (bundle_tx, bundle_rx) = watch::channel(None);
        let (switch_tx, switch_rx) = watch::channel(None);
        let (up_tx, up_rx) = watch::channel(0u64);
        crate::tasks::spawn(event_loop(
            eventloop,
            client.clone(),
            shared.clone(),
            topics.clone(),
            bundle_tx,
            switch_tx,
            up_tx,
        ));
        let worker = Worker {
            shared,
            topics,
            client: client.clone(),
            key,
            report: report.clone(),
            seq: persisted.seq,
            refused_versions: Vec::new(),
            wanted: None,
            scheduled: None,
            forged_at: None,
            opts,
        };
        crate::tasks::spawn(worker.run(bundle_rx, switch_rx, up_rx));
        Ok(Rollout { report, client })
    }

    /// Close the connection (at shutdown).
    pub async fn shutdown(&self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.client.disconnect()).await;
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

type Latest = watch::Sender<Option<Vec<u8>>>;

/// Drive the connection: subscribe on every connect, hand the newest
/// bundle and switch to the worker (only the newest of each matters: they
/// are retained states, not a log).
async fn event_loop(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    shared: Shared,
    topics: Topics,
    bundle_tx: Latest,
    switch_tx: Latest,
    up_tx: watch::Sender<u64>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(500);
                for t in [topics.bundle(), topics.switch()] {
                    if let Err(e) = client.try_subscribe(t, QoS::AtLeastOnce) {
                        tracing::warn!("rollout: subscribe: {e}");
                    }
                }
                up_tx.send_modify(|n| *n += 1);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.topic == topics.bundle() {
                    bundle_tx.send_replace(Some(p.payload.to_vec()));
                } else if p.topic == topics.switch() && p.payload.len() <= MAX_HEADER_BYTES {
                    switch_tx.send_replace(Some(p.payload.to_vec()));
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("rollout: broker: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A switch loaded and waiting for its instant.
struct Scheduled {
    switch: Switch,
    header: BundleHeader,
    config: crate::config::Config,
    when: tokio::time::Instant,
}

struct Worker {
    shared: Shared,
    topics: Topics,
    client: AsyncClient,
    key: Option<ed25519_dalek::SigningKey>,
    report: Arc<Mutex<NodeReport>>,
    /// The last switch applied.
    seq: u64,
    /// Versions whose check failed here.
    refused_versions: Vec<VersionId>,
    /// A switch whose bundle has not arrived, and since when.
    wanted: Option<(Switch, std::time::Instant)>,
    scheduled: Option<Scheduled>,
    /// When a forged message was last refused.
    forged_at: Option<std::time::Instant>,
    opts: RolloutOptions,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    async fn run(
        mut self,
        mut bundle_rx: watch::Receiver<Option<Vec<u8>>>,
        mut switch_rx: watch::Receiver<Option<Vec<u8>>>,
        mut up_rx: watch::Receiver<u64>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let when = self.scheduled.as_ref().map(|s| s.when);
            tokio::select! {
                r = bundle_rx.changed() => {
                    if r.is_err() { return; }
                    let payload = bundle_rx.borrow_and_update().clone();
                    if let Some(p) = payload { self.on_bundle(p).await; }
                }
                r = switch_rx.changed() => {
                    if r.is_err() { return; }
                    let payload = switch_rx.borrow_and_update().clone();
                    if let Some(p) = payload { self.on_switch(&p).await; }
                }
                r = up_rx.changed() => {
                    if r.is_err() { return; }
                    up_rx.borrow_and_update();
                    self.publish_report();
                }
                _ = async { tokio::time::sleep_until(when.unwrap_or_else(tokio::time::Instant::now)).await }, if when.is_some() => {
                    if let Some(s) = self.scheduled.take() { self.switch_now(s).await; }
                }
                _ = tick.tick() => {
                    if self.shared.stop.load(Ordering::Relaxed) { return; }
                    self.on_tick();
                }
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some((sw, since)) = &self.wanted {
            let (to, late) = (sw.to.clone(), since.elapsed() >= MISSING_AFTER);
            self.opts.alarms.set("rollout:missing", crate::alarms::AlarmKind::RolloutMissing, late, || {
                format!("site version {to} is to run, but its bundle is not stored on this node (it was not online when it was pushed?): still running the version before")
            });
        }
        if self
            .forged_at
            .is_some_and(|t| t.elapsed() >= FORGED_CLEARS_AFTER)
        {
            self.forged_at = None;
            self.opts.alarms.clear_others("rollout:forged:", &[]);
        }
    }

    /// A refusal: logged, raised, reported.
    fn refuse(&mut self, key: String, version: Option<VersionId>, reason: String) {
        tracing::warn!("rollout: {reason}");
        let message = reason.clone();
        self.opts.alarms.set(
            &key,
            crate::alarms::AlarmKind::RolloutRefused,
            true,
            move || message,
        );
        let mut r = lock(&self.report);
        r.refused.insert(
            0,
            Refused {
                version,
                reason,
                at: Utc::now(),
            },
        );
        r.refused.truncate(REPORT_REFUSALS);
        drop(r);
        self.publish_report();
    }

    /// A message whose signature, signer, order or time is refused;
    /// `what` starts with the kind of message (its alarm's key).
    fn forged(&mut self, what: &str, why: trust::Refusal) {
        self.forged_at = Some(std::time::Instant::now());
        let kind = if what.contains("switch") {
            "switch"
        } else {
            "bundle"
        };
        self.refuse(
            format!("rollout:forged:{kind}:{}", why.reason()),
            None,
            format!("{what} refused: {why}"),
        );
    }

    fn publish_report(&self) {
        let body = {
            let mut r = lock(&self.report);
            r.at = Utc::now();
            serde_json::to_string(&*r).unwrap_or_default()
        };
        let topic = self.topics.node(&self.opts.node);
        let payload = trust::maybe_sign(self.key.as_ref(), &self.opts.node, &topic, body);
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, true, payload)
        {
            tracing::debug!("rollout: report not queued: {e}");
        }
    }

    async fn on_bundle(&mut self, payload: Vec<u8>) {
        let topic = self.topics.bundle();
        let Some(nl) = payload
            .iter()
            .take(MAX_HEADER_BYTES)
            .position(|b| *b == b'\n')
        else {
            return self.forged("a site bundle", trust::Refusal::Unsigned);
        };
        let (envelope, archive) = (&payload[..nl], &payload[nl + 1..]);
        let body = match open(&self.shared, &topic, envelope) {
            Ok(b) => b,
            Err(why) => return self.forged("a site bundle", why),
        };
        let header = match serde_json::from_slice::<BundleHeader>(&body) {
            Ok(h) if h.id.valid() => h,
            _ => {
                return self.refuse(
                    "rollout:malformed".into(),
                    None,
                    "a site bundle refused: its header is not a nightscape bundle header".into(),
                )
            }
        };
        let id = header.id.clone();
        if archive.len() as u64 != header.bytes || bundle::sha256_hex(archive) != id.hash {
            return self.forged(&format!("site bundle {id}"), trust::Refusal::BadSignature);
        }
        if stored_header(&self.opts.state_dir, &id).is_none()
            && !self.refused_versions.contains(&id)
        {
            let state = self.opts.state_dir.clone();
            let checker = self.opts.checker.clone();
            let archive = archive.to_vec();
            let h = header.clone();
            let outcome =
                crate::tasks::blocking(move || store_checked(&state, &checker, &h, &archive))
                    .await
                    .unwrap_or_else(|e| Err(format!("the check did not finish: {e}")));
            match outcome {
                Ok(folder) => {
                    tracing::info!(version = %id, folder = %folder.display(), "rollout: site version checked and stored");
                    let stored = stored_versions(&self.opts.state_dir);
                    lock(&self.report).stored = stored.into_iter().take(REPORT_STORED).collect();
                    self.publish_report();
                }
                Err(problems) => {
                    self.refused_versions.push(id.clone());
                    let running = lock(&self.report)
                        .running
                        .as_ref()
                        .map_or("the files it runs".to_string(), |r| r.to_string());
                    return self.refuse(
                        format!("rollout:refused:v{}", id.version),
                        Some(id.clone()),
                        format!("site version {id} refused; still running {running}: {problems}"),
                    );
                }
            }
        }
        // A switch that waited for this bundle.
        if let Some((sw, _)) = self.wanted.clone() {
            if sw.to == id {
                self.wanted = None;
                self.opts.alarms.clear("rollout:missing");
                self.prepare(sw).await;
            }
        }
    }

    async fn on_switch(&mut self, envelope: &[u8]) {
        let topic = self.topics.switch();
        let body = match open(&self.shared, &topic, envelope) {
            Ok(b) => b,
            Err(why) => return self.forged("a site switch", why),
        };
        let sw = match serde_json::from_slice::<Switch>(&body) {
            Ok(s) if s.to.valid() => s,
            _ => {
                return self.refuse(
                    "rollout:malformed".into(),
                    None,
                    "a site switch refused: not a nightscape switch message".into(),
                )
            }
        };
        let latest = self
            .scheduled
            .as_ref()
            .map(|s| s.switch.seq)
            .into_iter()
            .chain(self.wanted.as_ref().map(|w| w.0.seq))
            .fold(self.seq, u64::max);
        if sw.seq == latest {
            return; // the retained message again, after a reconnect
        }
        if sw.seq < latest {
            return self.forged(&format!("a switch to {}", sw.to), trust::Refusal::Replayed);
        }
        let now = Utc::now();
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        if sw.seq > now_ms + SEQ_AHEAD_MS || sw.at.is_some_and(|a| a > now + MAX_AHEAD) {
            return self.forged(&format!("a switch to {}", sw.to), trust::Refusal::Future);
        }
        if self.refused_versions.contains(&sw.to) {
            let to = sw.to.clone();
            return self.refuse(
                format!("rollout:refused:v{}", to.version),
                Some(to.clone()),
                format!("a switch to site version {to} refused: that version failed `nightscape check` on this node"),
            );
        }
        self.scheduled = None;
        if stored_header(&self.opts.state_dir, &sw.to).is_none() {
            tracing::info!(version = %sw.to, "rollout: switch received before its bundle; waiting for it");
            lock(&self.report).pending = Some(Pending {
                to: sw.to.clone(),
                at: sw.at,
            });
            self.wanted = Some((sw, std::time::Instant::now()));
            self.publish_report();
            return;
        }
        self.wanted = None;
        self.opts.alarms.clear("rollout:missing");
        self.prepare(sw).await;
    }

    /// Load the version now, switch at its instant.
    async fn prepare(&mut self, sw: Switch) {
        let Some(header) = stored_header(&self.opts.state_dir, &sw.to) else {
            return;
        };
        let folder = site_folder(&self.opts.state_dir, &header);
        let loaded = crate::tasks::blocking(move || crate::config::load(&folder)).await;
        let config = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(d)) => {
                let first: Vec<String> = d.items.iter().take(3).map(|d| d.to_string()).collect();
                let to = sw.to.clone();
                return self.refuse(
                    format!("rollout:refused:v{}", to.version),
                    Some(to.clone()),
                    format!(
                        "site version {to} does not load on this node: {}",
                        first.join("; ")
                    ),
                );
            }
            Err(e) => {
                tracing::error!("rollout: loading a site version failed: {e}");
                return;
            }
        };
        let wait = sw
            .at
            .map(|a| (a - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO);
        lock(&self.report).pending = Some(Pending {
            to: sw.to.clone(),
            at: sw.at,
        });
        if !wait.is_zero() {
            tracing::info!(version = %sw.to, at = ?sw.at, "rollout: site version switches at its instant");
            self.publish_report();
        }
        self.scheduled = Some(Scheduled {
            switch: sw,
            header,
            config,
            when: tokio::time::Instant::now() + wait,
        });
    }

    async fn switch_now(&mut self, s: Scheduled) {
        let outcome = crate::daemon::reload::switch_to(s.config, &self.shared);
        let switched_at = Utc::now();
        let id = s.switch.to.clone();
        if let crate::daemon::reload::Reloaded::Switched { warnings } = outcome {
            for w in warnings {
                tracing::warn!("{w}");
            }
        }
        tracing::info!(version = %id, rollback = s.switch.rollback, "rollout: now running site version");
        self.seq = s.switch.seq;
        let state = &self.opts.state_dir;
        if let Err(e) = set_current(state, &s.header) {
            tracing::error!(
                "rollout: cannot point {} at {id}: {e}",
                current_link(state).display()
            );
        }
        if let Err(e) = write_persisted(
            state,
            &Persisted {
                seq: self.seq,
                running: Some(id.clone()),
            },
        ) {
            tracing::error!("rollout: cannot record the running version: {e}");
        }
        if !same_dir(&self.opts.folder, &current_site(state)) {
            tracing::warn!(
                "rollout: this node started from --site {}; it now runs {id} from {}, and a restart with the same --site would go back to the old files: start it with --site {}",
                self.opts.folder.display(),
                site_folder(state, &s.header).display(),
                current_site(state).display()
            );
        }
        // A version running here supersedes the refusals of versions before it.
        self.opts.alarms.clear_others("rollout:refused:", &[]);
        self.opts.alarms.clear_others("rollout:missing", &[]);
        self.opts.alarms.clear_others("rollout:malformed", &[]);
        {
            let mut r = lock(&self.report);
            r.running = Some(id);
            r.switched_at = Some(switched_at);
            r.seq = self.seq;
            r.pending = None;
        }
        self.publish_report();
    }
}

/// Unpack a bundle into a fresh folder, run `check` on it, and keep it
/// only if it passes. `Err`: the check's problems.
fn store_checked(
    state: &Path,
    checker: &Path,
    header: &BundleHeader,
    archive: &[u8],
) -> Result<PathBuf, String> {
    let incoming = sites_dir(state).join(format!(".incoming-{}", header.id.dir_name()));
    let _ = std::fs::remove_dir_all(&incoming);
    std::fs::create_dir_all(&incoming).map_err(|e| format!("{}: {e}", incoming.display()))?;
    let result = (|| {
        bundle::unpack(archive, &header.site_dir, &incoming.join("files"))
            .map_err(|e| format!("{e} (nothing of it was written)"))?;
        let site = if header.site_dir == "." {
            incoming.join("files")
        } else {
            incoming.join("files").join(&header.site_dir)
        };
        run_check(
            checker,
            &site,
            &incoming.join("check.log"),
            &incoming.join("files"),
        )
    })();
    match result {
        Ok(()) => {
            let _ = std::fs::remove_file(incoming.join("check.log"));
            finish_store(state, header, &incoming)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&incoming);
            Err(e)
        }
    }
}

/// Run `<checker> --site <site> check` with a time limit; `Err` holds its
/// first problems (paths relative to the bundle).
fn run_check(checker: &Path, site: &Path, log: &Path, root: &Path) -> Result<(), String> {
    let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(checker)
        .arg("--site")
        .arg(site)
        .arg("check")
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(out)
        .spawn()
        .map_err(|e| format!("cannot run {} check: {e}", checker.display()))?;
    let deadline = std::time::Instant::now() + CHECK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the check did not finish within {} s",
                    CHECK_TIMEOUT.as_secs()
                ));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let text = crate::config::read_regular(log, 64 * 1024)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let prefix = format!("{}/", root.display());
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("note:") && !l.starts_with("warning:") && !l.trim().is_empty())
        .filter(|l| !l.contains(": warning:"))
        .take(3)
        .map(|l| l.replace(&prefix, "").chars().take(300).collect())
        .collect();
    Err(if lines.is_empty() {
        format!("`nightscape check` failed on it (exit {status})")
    } else {
        format!("`nightscape check` failed on it: {}", lines.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_version_packs_back_to_its_hash_and_current_points_at_it() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("shows");
        let p = bundle::pack(&demo).unwrap();
        let header = BundleHeader {
            id: VersionId {
                version: 3,
                hash: bundle::sha256_hex(&p.archive),
            },
            site_dir: p.site_dir.clone(),
            bytes: p.archive.len() as u64,
            files: p.files as u32,
            site: "demo".into(),
            created: Utc::now(),
        };
        let dir = tempfile::tempdir().unwrap();
        let folder = store_version(dir.path(), &header, &p.archive).unwrap();
        assert_eq!(stored_versions(dir.path()), vec![header.id.clone()]);
        assert_eq!(archive_of(dir.path(), &header).unwrap(), p.archive);
        set_current(dir.path(), &header).unwrap();
        write_persisted(
            dir.path(),
            &Persisted {
                seq: 1,
                running: Some(header.id.clone()),
            },
        )
        .unwrap();
        assert!(same_dir(&folder, &current_site(dir.path())));
        // Loaded through the symlink, `../fixtures` stays in the version.
        let cfg = crate::config::load(&current_site(dir.path())).unwrap();
        assert!(!cfg.site.fixtures.is_empty());
        // A hash that does not match is refused.
        let mut wrong = header.clone();
        wrong.id.hash = "0".repeat(64);
        assert!(store_version(dir.path(), &wrong, &p.archive).is_err());
        assert!(!VersionId {
            version: 1,
            hash: "../../etc".into()
        }
        .valid());
    }
}
