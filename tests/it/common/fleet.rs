//! The fleet tests' rig: a real mosquitto on a loopback port the test
//! owns, the demo site turned into a fleet of nodes `a`, `b` and `c` (each
//! sending its universes to a UDP socket of the test), the nodes started
//! as real daemons with a frozen clock, their APIs read through an
//! operator token, and a plain MQTT client (a city system, an attacker)
//! that publishes and reads retained messages.
//!
//! One copy for every fleet test (fleet, fleet_broker, fleet_tls,
//! rollout, …): set-up written once, so a change of the site's layout or
//! of how a node starts is made here.

#![allow(dead_code)]

use crate::common;
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The topic root of the fleet site (`topic_site = "testcity"`).
pub(crate) const ROOT: &str = "nightscape/testcity";

pub(crate) const AT: &str = "2026-12-31T20:00:00+08:00";
pub(crate) const OPERATOR: &str = "operator-secret-0123456789";

pub(crate) fn mosquitto() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A mosquitto process on 127.0.0.1:port without persistence, killed on drop.
pub(crate) struct Broker(pub(crate) Child);

impl Broker {
    /// A plain listener on 127.0.0.1:`port`, anonymous clients allowed;
    /// its configuration is written into `dir`.
    pub(crate) fn start(bin: &Path, dir: &Path, port: u16) -> Broker {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap();
        Broker::with_conf(bin, &conf, port)
    }

    /// mosquitto with the configuration file `conf` (which names `port`):
    /// returns once it accepts connections there; fails the test if it
    /// exits (a configuration it refuses) or never listens.
    pub(crate) fn with_conf(bin: &Path, conf: &Path, port: u16) -> Broker {
        let child = Command::new(bin)
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        // Killed on drop if it never listens.
        let mut broker = Broker(child);
        let listens = common::wait_until(Duration::from_secs(10), || {
            if let Ok(Some(st)) = broker.0.try_wait() {
                panic!("mosquitto exited ({st}) with {}", conf.display());
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listens.is_some(), "mosquitto did not listen on {port}");
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn agent() -> ureq::Agent {
    super::http_agent(Duration::from_secs(5))
}

pub(crate) fn get(agent: &ureq::Agent, url: &str) -> Option<Value> {
    let mut r = agent
        .get(url)
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    r.body_mut().read_json().ok()
}

pub(crate) fn recv_universe(rx: &UdpSocket, universe: u16, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some((u, _, d)) = common::recv_artdmx(rx) {
            if u == universe {
                return Some(d);
            }
        }
    }
    None
}

/// Wait for a packet of `universe` with `want` at `offset`; how long it took.
pub(crate) fn wait_for_dmx(
    rx: &UdpSocket,
    universe: u16,
    offset: usize,
    want: &[u8],
    limit: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    let deadline = t0 + limit;
    while Instant::now() < deadline {
        if let Some((u, _, d)) = common::recv_artdmx(rx) {
            if u == universe && d.get(offset..offset + want.len()) == Some(want) {
                return Some(t0.elapsed());
            }
        }
    }
    None
}

pub(crate) struct Fleet {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) site: PathBuf,
    pub(crate) rx: [UdpSocket; 3],
    pub(crate) crown: (u16, usize),
}

pub(crate) const NODES: [&str; 3] = ["a", "b", "c"];

pub(crate) fn fleet_site(broker_port: u16) -> Fleet {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let cfg = nightscape::config::load(&site).unwrap();
    let i = cfg.site.fixture_by_name("tower-crown").unwrap() as usize;
    let f = &cfg.site.fixtures[i];
    let crown = (f.universe, f.address as usize - 1);
    let rx = [(); 3].map(|_| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s
    });
    // A sends every universe but the crown's; B and C both send the
    // crown's universe (a deliberate mirror, to compare their bytes).
    let others: Vec<String> = (0..=14u16)
        .filter(|u| *u != crown.0)
        .map(|u| u.to_string())
        .collect();
    let port = |i: usize| rx[i].local_addr().unwrap().port();
    let fleet = format!(
        r#"[fleet]
broker = "mqtt://127.0.0.1:{broker_port}"
topic_site = "testcity"
status_every = "0.5s"

[[nodes]]
name = "a"
api = "127.0.0.1:0"
[[nodes]]
name = "b"
api = "127.0.0.1:0"
[[nodes]]
name = "c"
api = "127.0.0.1:0"

[[outputs]]
kind = "artnet"
target = "127.0.0.1:{pa}"
universes = [{others}]
node = "a"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{pb}"
universes = {u}
node = "b"
[[outputs]]
kind = "artnet"
target = "127.0.0.1:{pc}"
universes = {u}
node = "c"
"#,
        pa = port(0),
        pb = port(1),
        pc = port(2),
        others = others.join(", "),
        u = crown.0,
    );
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("[[outputs]]").unwrap();
    let end = text.find("[api]").unwrap();
    let text = format!("{}{}\n{}", &text[..start], fleet, &text[end..]);
    std::fs::write(&p, text).unwrap();
    Fleet {
        tmp,
        site,
        rx,
        crown,
    }
}

/// [`common::wait_until`] for a condition read from the nodes' APIs:
/// polled every 100 ms, not 20. Each answer costs a debug node about a
/// millisecond of CPU (and the test as much again); fleet tests wait
/// seconds for messages to travel, and at 50 polls a second a node spent
/// as much on being asked as on running.
pub(crate) fn poll_until(limit: Duration, f: impl FnMut() -> bool) -> Option<Duration> {
    common::wait_until_every(limit, Duration::from_millis(100), f)
}

/// [`poll_until`] for a condition the test cannot go on without: fails
/// the test naming `what` when `limit` passes.
pub(crate) fn poll_for(what: &str, limit: Duration, f: impl FnMut() -> bool) -> Duration {
    poll_until(limit, f).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

pub(crate) fn start_node(f: &Fleet, i: usize) -> common::Daemon {
    let state = state_dir(f, i);
    common::spawn_daemon(
        &f.site,
        &[
            "--node",
            NODES[i],
            "--clock",
            AT,
            "--speed",
            "0",
            "--state",
            state.to_str().unwrap(),
        ],
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("RUST_LOG", "warn"),
        ],
    )
}

pub(crate) fn state_dir(f: &Fleet, i: usize) -> PathBuf {
    f.tmp.path().join(format!("var-{}", NODES[i]))
}

/// Node `i`'s API (each listens on port 0 and writes its address to its state folder).
pub(crate) fn base(f: &Fleet, i: usize) -> String {
    common::api_base(&state_dir(f, i))
}

pub(crate) fn connected(agent: &ureq::Agent, f: &Fleet, i: usize) -> bool {
    get(agent, &format!("{}/api/fleet", base(f, i))).is_some_and(|v| v["connected"] == json!(true))
}

/// Start node `i` and wait until it has joined the fleet.
pub(crate) fn join(f: &Fleet, i: usize) -> common::Daemon {
    let node = start_node(f, i);
    let agent = agent();
    poll_for(
        &format!("node {} to join the fleet", NODES[i]),
        Duration::from_secs(30),
        || connected(&agent, f, i),
    );
    node
}

/// Start the first `n` nodes and wait until each has joined the fleet
/// (connected to the broker, by its own API).
pub(crate) fn start_nodes(f: &Fleet, n: usize) -> Vec<common::Daemon> {
    let agent = agent();
    let nodes: Vec<_> = (0..n).map(|i| start_node(f, i)).collect();
    for (i, name) in NODES.iter().enumerate().take(n) {
        poll_for(
            &format!("node {name} to join the fleet"),
            Duration::from_secs(30),
            || connected(&agent, f, i),
        );
    }
    nodes
}

/// Messages a client received: (topic, payload).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A plain MQTT client (a city system, an attacker) on the test's broker.
pub(crate) struct Client {
    client: rumqttc::Client,
    pump: Option<std::thread::JoinHandle<()>>,
    acks: std::sync::mpsc::Receiver<()>,
    retained: Received,
}

impl Client {
    pub(crate) fn connect(port: u16, id: &str) -> Client {
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(64 << 20, 64 << 20);
        let (client, mut conn) = rumqttc::Client::new(opts, 64);
        let (tx, acks) = std::sync::mpsc::channel();
        let retained = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = retained.clone();
        let pump = std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        let _ = tx.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        seen.lock().unwrap().push((p.topic, p.payload.to_vec()));
                    }
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Client {
            client,
            pump: Some(pump),
            acks,
            retained,
        }
    }

    /// Publish every message (retained, QoS 0), then one at QoS 1 and wait
    /// for its acknowledgement: the broker then has them all.
    pub(crate) fn publish_all(&self, messages: &[(String, Vec<u8>)]) {
        for (topic, payload) in messages {
            self.client
                .publish(topic, rumqttc::QoS::AtMostOnce, true, payload.clone())
                .unwrap();
        }
        self.client
            .publish(
                format!("{ROOT}/test/done"),
                rumqttc::QoS::AtLeastOnce,
                false,
                b"1".to_vec(),
            )
            .unwrap();
        self.acks
            .recv_timeout(Duration::from_secs(60))
            .expect("the broker did not acknowledge the test's messages");
    }

    /// The retained messages under `filter`, as a fresh subscriber gets them.
    pub(crate) fn retained(&self, filter: &str, wait: Duration) -> Vec<(String, Vec<u8>)> {
        self.retained.lock().unwrap().clear();
        self.client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .unwrap();
        std::thread::sleep(wait);
        let _ = self.client.unsubscribe(filter);
        std::thread::sleep(Duration::from_millis(100));
        std::mem::take(&mut *self.retained.lock().unwrap())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}
