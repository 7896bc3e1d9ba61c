//! The city's maintenance list over the fleet, with two real daemons and
//! a real mosquitto on a loopback port the test owns: node b asks a
//! scripted Art-Net node whose three RDM responders include one that
//! vanished and one with a failed lamp; node a, which has no fixtures of
//! its own, lists b's devices and faults with b's name
//! (`/api/maintenance?scope=fleet`, `/api/devices?scope=fleet`, JSON and
//! CSV). Messages on b's device topic that are garbage, too big or too
//! long are dropped and counted on a (its last good list kept) and b
//! publishes its own list again. When b stops, a marks b's list stale.
//! A browser photographs a's Devices tab in the fleet view.
//!
//! Slow tier; needs mosquitto (and chromium for the photographs): skipped
//! with a message without them, failing under CI=true. Every wait is
//! bounded.

use crate::common;
use crate::common::fleet::{mosquitto, Broker, Client, ROOT};
use crate::common::free_port;
use crate::devices_daemon::{get_text, rdm_site, scripted_node, three_responders, Script};
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-secret-0123456789";
const VIEWER: &str = "viewer-secret-0123456789";

/// The device-care test's site (three searchlights on universe 1 behind
/// `node`), made a fleet of a and b on the broker at `port`: b sends the
/// output and asks its RDM devices; a has no output.
fn fleet_rdm_site(dir: &Path, node: std::net::SocketAddr, port: u16) -> PathBuf {
    let site = rdm_site(dir, node, "1s");
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replacen("rdm = true\n", "rdm = true\nnode = \"b\"\n", 1);
    let fleet = format!(
        "[fleet]\nbroker = \"mqtt://127.0.0.1:{port}\"\ntopic_site = \"testcity\"\nstatus_every = \"0.5s\"\n\n\
         [[nodes]]\nname = \"a\"\n[[nodes]]\nname = \"b\"\n\n[rdm]"
    );
    let text = text.replacen("[rdm]", &fleet, 1);
    std::fs::write(&p, text).unwrap();
    site
}

/// The scripted node with par-3 gone and par-1's lamp failed, on its thread.
struct Node {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    fn start() -> Node {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let mut devices = three_responders();
        devices[2].present = false;
        devices[0].lamp = 0x7f;
        let script: Script = Arc::new(Mutex::new(devices));
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            scripted_node(sock, 1, script, s, Arc::new(AtomicU64::new(0)))
        });
        Node {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(site: &Path, dir: &Path, name: &str) -> (common::Daemon, String) {
    let state = dir.join(format!("var-{name}"));
    let d = common::spawn_daemon(
        site,
        &[
            "--node",
            name,
            "--show",
            "glow",
            "--state",
            state.to_str().unwrap(),
        ],
        &[
            ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
            ("NIGHTSCAPE_VIEWER_TOKEN", VIEWER),
            ("RUST_LOG", "warn"),
        ],
    );
    (d, common::api_base(&state))
}

fn get(agent: &ureq::Agent, base: &str, path: &str) -> Option<Value> {
    let (s, _, body) = get_text(agent, base, path, VIEWER, "application/json");
    (s == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Poll until `ok` gives Some (at most `limit`); panics with the last body.
fn wait<T>(
    agent: &ureq::Agent,
    base: &str,
    path: &str,
    limit: Duration,
    ok: impl Fn(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let v = get(agent, base, path);
        if let Some(t) = v.as_ref().and_then(&ok) {
            return t;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {v:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// b's faults as a lists them: (kind, fixture, node, stale), sorted.
fn faults_of_b(v: &Value) -> Vec<(String, String, String, bool)> {
    let mut out: Vec<_> = v["faults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["node"] == "b")
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_string(),
                f["fixture"].as_str().unwrap_or("").to_string(),
                f["node"].as_str().unwrap_or("").to_string(),
                f["stale"] == json!(true),
            )
        })
        .collect();
    out.sort();
    out
}

fn want_faults(stale: bool) -> Vec<(String, String, String, bool)> {
    vec![
        ("fixture_missing".into(), "par-3".into(), "b".into(), stale),
        ("lamp_failure".into(), "par-1".into(), "b".into(), stale),
    ]
}

fn node_entry<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["nodes"].as_array()?.iter().find(|n| n["node"] == name)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_carries_each_nodes_devices_and_faults_marks_the_gone_stale_and_drops_garbage() {
    let name = "fleet_carries_each_nodes_devices_and_faults_marks_the_gone_stale_and_drops_garbage";
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            name,
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Broker::start(&bin, dir.path(), port);
    let node = Node::start();
    let site = fleet_rdm_site(dir.path(), node.addr, port);
    let (_a, base_a) = start(&site, dir.path(), "a");
    let (mut b, base_b) = start(&site, dir.path(), "b");
    let agent = crate::devices_daemon::agent();
    let long = Duration::from_secs(40);

    // b finds its faults itself first.
    wait(&agent, &base_b, "/api/maintenance", long, |v| {
        (v["faults"].as_array()?.len() == 2).then_some(())
    });
    let t0 = Instant::now();
    // a lists them with b's name, fresh.
    let m = wait(&agent, &base_a, "/api/maintenance?scope=fleet", long, |v| {
        (faults_of_b(v) == want_faults(false)).then(|| v.clone())
    });
    println!(
        "fleet devices: b's faults listed on a {} ms after b had them",
        t0.elapsed().as_millis()
    );
    assert_eq!(m["scope"], "fleet");
    let me = node_entry(&m, "a").expect("a's own entry");
    assert_eq!(me["this_node"], true);
    assert_eq!(me["enabled"], false, "a has no rdm output: {me}");
    let nb = node_entry(&m, "b").expect("b's entry");
    assert_eq!(nb["this_node"], false);
    assert_eq!(nb["stale"], false);
    assert_eq!(nb["enabled"], true);
    assert_eq!(nb["faults"], 2);
    assert!(nb["age_s"].as_f64().is_some_and(|s| s < 60.0), "{nb}");
    let lamp = m["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "lamp_failure")
        .unwrap();
    assert_eq!(lamp["universe"], 1);
    assert_eq!(lamp["address"], 1);
    assert_eq!(lamp["groups"], json!(["bridge"]));
    assert!(
        lamp["reading"]
            .as_str()
            .unwrap()
            .contains("lamp state error"),
        "{lamp}"
    );
    // This node's own list is unchanged: a has no devices.
    let own = get(&agent, &base_a, "/api/maintenance").unwrap();
    assert_eq!(own["faults"], json!([]), "{own}");

    // The devices: two that answer, par-3 missing; each with b's name.
    let d = get(&agent, &base_a, "/api/devices?scope=fleet").unwrap();
    let mut devs: Vec<(String, String, String)> = d["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["node"].as_str().unwrap().to_string(),
                x["fixture"].as_str().unwrap_or("").to_string(),
                x["patch"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    devs.sort();
    assert_eq!(
        devs,
        vec![
            ("b".into(), "par-1".into(), "matched".into()),
            ("b".into(), "par-2".into(), "matched".into()),
            ("b".into(), "par-3".into(), "missing".into()),
        ],
        "{d:#}"
    );
    let par1 = d["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["fixture"] == "par-1")
        .unwrap();
    assert_eq!(par1["uid"], "1234:00000001");
    assert_eq!(par1["model"], "Beam 1200");
    assert_eq!(par1["lamp_hours"], 1500);

    // CSV with the node first.
    let (s, ct, csv) = get_text(
        &agent,
        &base_a,
        "/api/maintenance?scope=fleet&format=csv",
        VIEWER,
        "*/*",
    );
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "node,node_age_s,stale,kind,fixture,groups,x,y,address,uid,since,reading,fix"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("b,") && l.contains(",false,")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",lamp_failure,par-1,bridge,10,100,1.1,")),
        "{csv}"
    );
    let (_, _, csv) = get_text(
        &agent,
        &base_a,
        "/api/devices?scope=fleet",
        VIEWER,
        "text/csv",
    );
    assert!(
        csv.starts_with("node,node_age_s,stale,uid,universe,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // Readings travel as data too: worded in Chinese on a.
    let zh = get(&agent, &base_a, "/api/maintenance?scope=fleet&lang=zh").unwrap();
    let lamp = zh["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "lamp_failure")
        .unwrap();
    assert_eq!(lamp["detail"]["kind"], "lamp", "{lamp}");
    assert!(
        lamp["reading"].as_str().unwrap().contains("灯状态"),
        "{lamp}"
    );
    // A bad scope is a 400 naming it.
    let (s, _, body) = get_text(&agent, &base_a, "/api/devices?scope=city", VIEWER, "*/*");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("\"field\":\"scope\""), "{body}");

    // Garbage, an oversized message and a list of 3,000 devices (far over the cap) on b's
    // topic: dropped and counted on a, b's faults still listed there.
    let client = Client::connect(port, "vandal");
    let topic = format!("{ROOT}/devices/b");
    client.publish_all(&[(topic.clone(), b"{not json".to_vec())]);
    let dropped = |what: &'static str, at_least: u64| {
        wait(
            &agent,
            &base_a,
            "/api/fleet",
            Duration::from_secs(15),
            move |v| {
                let n = v["devices"]["dropped"][what].as_u64()?;
                (n >= at_least).then_some(n)
            },
        )
    };
    dropped("malformed", 1);
    let big = format!(
        r#"{{"node": "b", "at": "2026-12-31T12:00:00Z", "devices": [], "pad": "{}"}}"#,
        "x".repeat(200 * 1024)
    );
    client.publish_all(&[(topic.clone(), big.into_bytes())]);
    dropped("oversized", 1);
    let m = get(&agent, &base_a, "/api/maintenance?scope=fleet").unwrap();
    assert_eq!(faults_of_b(&m), want_faults(false), "{m:#}");
    let many: Vec<Value> = (0..3000)
        .map(|i| json!({"uid": format!("7777:{i:08x}"), "universe": 9, "patch": "unmatched"}))
        .collect();
    let flood =
        json!({"node": "b", "at": "2026-12-31T12:00:00Z", "enabled": true, "devices": many});
    client.publish_all(&[(topic.clone(), serde_json::to_vec(&flood).unwrap())]);
    dropped("entries", 3000 - 1024);
    // b notices another message on its topic and publishes its own again.
    wait(&agent, &base_a, "/api/devices?scope=fleet", long, |v| {
        let n = v["devices"]
            .as_array()?
            .iter()
            .filter(|x| x["node"] == "b")
            .count();
        (n == 3).then_some(())
    });
    let retained = client.retained(&topic, Duration::from_millis(500));
    let body: Value =
        serde_json::from_slice(&retained.last().expect("b's retained list").1).unwrap();
    // Signed with b's key (every node has one): the list is the envelope's body.
    let body: Value = match body["body"].as_str() {
        Some(inner) => serde_json::from_str(inner).unwrap(),
        None => body,
    };
    assert_eq!(body["node"], "b");
    assert_eq!(body["devices"].as_array().unwrap().len(), 3, "{body}");
    drop(client);

    // b stops: a keeps its list, marked stale.
    let stopped = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &b.0.id().to_string()])
        .status();
    let m = wait(&agent, &base_a, "/api/maintenance?scope=fleet", long, |v| {
        (faults_of_b(v) == want_faults(true)).then(|| v.clone())
    });
    println!(
        "fleet devices: b's list stale on a {} ms after b was stopped",
        stopped.elapsed().as_millis()
    );
    let nb = node_entry(&m, "b").unwrap();
    assert_eq!(nb["stale"], true);
    assert!(nb["stale_since"].is_string(), "{nb}");
    let _ = b.0.wait();
    let (_, _, csv) = get_text(
        &agent,
        &base_a,
        "/api/maintenance?scope=fleet&format=csv",
        VIEWER,
        "*/*",
    );
    assert!(csv.lines().skip(1).all(|l| l.contains(",true,")), "{csv}");
}

mod browser_view {
    //! a's Devices tab in the fleet view, in headless Chromium.
    use super::*;
    use crate::browser::{browser, enabled, until};
    use crate::common::webdriver::{Client as Web, Locator};

    async fn js(c: &Web, script: &str) -> Value {
        c.execute(script, vec![]).await.unwrap()
    }

    async fn set_viewport(c: &Web, w: u32, h: u32) {
        c.set_window_size(w, h).await.unwrap();
        let inner = js(c, "return [window.innerWidth, window.innerHeight];").await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap() as u32,
            inner[1].as_u64().unwrap() as u32,
        );
        c.set_window_size(w + w.saturating_sub(iw), h + h.saturating_sub(ih))
            .await
            .unwrap();
    }

    async fn screenshot(c: &Web, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), c.screenshot().await.unwrap()).unwrap();
    }

    /// The table's rows as (node, fixture, state cell text).
    async fn rows(c: &Web) -> Vec<(String, String, String)> {
        let v = js(
            c,
            "return [...document.querySelectorAll('#devices-body table.devices tbody tr:not(.actions-row)')].map(r => [r.dataset.node || '', r.dataset.fixture || r.dataset.uid, r.lastChild.textContent]);",
        )
        .await;
        serde_json::from_value(v).unwrap()
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn browser_devices_tab_shows_the_whole_fleet_with_node_names_en_and_zh() {
        let name = "browser_devices_tab_shows_the_whole_fleet_with_node_names_en_and_zh";
        let Some(bin) = mosquitto() else {
            common::skip_unless_ci(
                name,
                "mosquitto is not installed (apt-get install mosquitto)",
            );
            return;
        };
        if !enabled(name) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let _broker = Broker::start(&bin, dir.path(), port);
        let node = Node::start();
        let site = fleet_rdm_site(dir.path(), node.addr, port);
        let (_a, base) = start(&site, dir.path(), "a");
        let (_b, _) = start(&site, dir.path(), "b");
        let agent = crate::devices_daemon::agent();
        wait(
            &agent,
            &base,
            "/api/maintenance?scope=fleet",
            Duration::from_secs(40),
            |v| (faults_of_b(v) == want_faults(false)).then_some(()),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_driver, c) = browser(1366, 768).await;
            set_viewport(&c, 1366, 768).await;
            c.goto(&format!("{base}/")).await.unwrap();
            until(Duration::from_secs(15), "the sign-in button", || async {
                c.find(Locator::Id("sign-in")).await.ok()
            })
            .await;
            js(&c, "localStorage.setItem('nightscape-lang', 'en'); localStorage.removeItem('nightscape-devices-scope');").await;
            c.refresh().await.unwrap();
            until(Duration::from_secs(15), "the sign-in button", || async {
                c.find(Locator::Id("sign-in")).await.ok()
            })
            .await;
            let need = c.find(Locator::Id("need-token-sign-in")).await;
            match need {
                Ok(b) if b.is_displayed().await.unwrap_or(false) => b.click().await.unwrap(),
                _ => c.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap(),
            }
            c.find(Locator::Id("token")).await.unwrap().send_keys(VIEWER).await.unwrap();
            c.find(Locator::Id("signin-ok")).await.unwrap().click().await.unwrap();
            until(Duration::from_secs(15), "signed in", || async {
                let who = c.find(Locator::Id("who")).await.ok()?.text().await.ok()?;
                who.contains("city-dashboard").then_some(())
            })
            .await;
            // The tab bar is redrawn as the sign-in lands: click until the tab takes it.
            until(Duration::from_secs(15), "the Devices tab clicked", || async {
                let tab = c.find(Locator::Css(".tabs button[data-tab=devices]")).await.ok()?;
                tab.click().await.ok()
            })
            .await;
            // The switch is there and on "Whole fleet"; b's three rows with b's name.
            let got = until(Duration::from_secs(20), "the fleet's devices", || async {
                let r = rows(&c).await;
                (r.len() == 3 && r.iter().all(|x| x.0 == "b")).then_some(r)
            })
            .await;
            let pressed = js(&c, "return [...document.querySelectorAll('#devices-scope button')].map(b => [b.dataset.scope, b.getAttribute('aria-pressed'), b.offsetParent !== null]);").await;
            assert_eq!(pressed, json!([["node", "false", true], ["fleet", "true", true]]));
            let state_of = |f: &str| got.iter().find(|r| r.1 == f).map(|r| r.2.clone()).unwrap_or_default();
            assert!(state_of("par-1").contains("Lamp failure"), "{got:?}");
            assert!(state_of("par-3").contains("Not answering"), "{got:?}");
            let heads = js(&c, "return [...document.querySelectorAll('#devices-body table.devices th')].map(h => h.textContent);").await;
            assert_eq!(heads[0], "Node");
            let faults = js(&c, "return [...document.querySelectorAll('#maintenance li.fault')].map(l => l.dataset.node + ':' + l.dataset.fault).sort();").await;
            assert_eq!(faults, json!(["b:fixture_missing", "b:lamp_failure"]));
            let strip = js(&c, "return document.getElementById('device-nodes').textContent;").await;
            assert!(strip.as_str().unwrap().contains("b: 3 devices, 2 faults"), "{strip}");
            let ringed = js(&c, "return [...document.querySelectorAll('#map g.fxg.faulty')].map(g => g.dataset.fixture).sort();").await;
            assert_eq!(ringed, json!(["par-1", "par-3"]));
            screenshot(&c, "fleet-devices-en-1366x768.png").await;
            // The node filter: a has none, b has three.
            js(&c, "const s = document.getElementById('devices-node'); s.value = 'a'; s.dispatchEvent(new Event('change'));").await;
            until(Duration::from_secs(5), "no rows for a", || async { rows(&c).await.is_empty().then_some(()) }).await;
            js(&c, "const s = document.getElementById('devices-node'); s.value = 'b'; s.dispatchEvent(new Event('change'));").await;
            until(Duration::from_secs(5), "b's rows", || async { (rows(&c).await.len() == 3).then_some(()) }).await;
            // This node: a has no device care.
            js(&c, "document.querySelector('#devices-scope button[data-scope=node]').click();").await;
            until(Duration::from_secs(10), "this node's view", || async {
                let t = c.find(Locator::Id("devices-body")).await.ok()?.text().await.ok()?;
                t.contains("Device care is off").then_some(())
            })
            .await;
            js(&c, "document.querySelector('#devices-scope button[data-scope=fleet]').click();").await;
            until(Duration::from_secs(10), "the fleet again", || async { (rows(&c).await.len() == 3).then_some(()) }).await;
            // Chinese on a phone.
            c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
            until(Duration::from_secs(5), "Chinese", || async {
                let r = rows(&c).await;
                r.iter().any(|x| x.2.contains("光源故障")).then_some(())
            })
            .await;
            let heads = js(&c, "return [...document.querySelectorAll('#devices-body table.devices th')].map(h => h.textContent);").await;
            assert_eq!(heads[0], "节点");
            set_viewport(&c, 390, 844).await;
            js(&c, "document.getElementById('tab-devices').scrollIntoView();").await;
            screenshot(&c, "fleet-devices-zh-390x844.png").await;
            c.close().await.unwrap();
        });
    }
}
