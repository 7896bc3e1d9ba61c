//! Device care in the running daemon, against a scripted Art-Net node with
//! three RDM responders on universe 1 (a site of three searchlights):
//! discovery at `[rdm] every`, the patch verified, and each fault raised
//! once as an alarm and cleared on recovery — a responder that disappears
//! (fixture_missing), one re-addressed on a ladder (fixture_mismatch, then
//! put back by an admin's write through the API, audited), a lamp failure
//! and an over-temperature sensor beyond the site's limit. The maintenance
//! list and the devices are read as JSON and CSV over real HTTP.
//!
//! Every wait is bounded.

use crate::common;
use nightscape_core::wire::artnet::{
    encode_artrdm, encode_tod_data, parse_artrdm, parse_tod_request, TodData, TOD_FULL,
};
use nightscape_core::wire::rdm::{self, pid, CommandClass, DeviceInfo, Message, Uid};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-secret-0123456789";
const VIEWER: &str = "viewer-secret-0123456789";

/// One scripted responder.
#[derive(Debug, Clone)]
pub struct Responder {
    pub uid: Uid,
    pub address: u16,
    pub footprint: u16,
    pub label: String,
    /// Answers at all (in the table of devices and to requests).
    pub present: bool,
    /// LAMP_STATE: 1 on, 0x7F error.
    pub lamp: u8,
    /// Temperature sensor 0 (normal 0..100 °C).
    pub temperature: i16,
    /// RDM requests this responder got, by PID.
    pub asked: BTreeMap<u16, u64>,
}

/// The node's devices, changed by the test while it runs.
pub type Script = Arc<Mutex<Vec<Responder>>>;

fn info(r: &Responder) -> Vec<u8> {
    let mut pd = Vec::new();
    DeviceInfo {
        protocol_version: 0x0100,
        model_id: 7,
        product_category: 0x0101,
        software_version: 1,
        footprint: r.footprint,
        personality: 1,
        personality_count: 1,
        start_address: r.address,
        sub_device_count: 0,
        sensor_count: 1,
    }
    .encode(&mut pd);
    pd
}

/// A scripted Art-Net node on `sock` for Port-Address `universe`: answers
/// ArtTodRequest with the present responders and their GETs and SETs, until
/// `stop`. Counts the RDM requests it got in `requests`; ignores ArtDmx.
pub fn scripted_node(
    sock: UdpSocket,
    universe: u16,
    script: Script,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
) {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (mut out, mut msg) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Ok(pas) = parse_tod_request(&buf[..n]) {
            if !pas.contains(&universe) {
                continue;
            }
            let uids: Vec<Uid> = script
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.present)
                .map(|r| r.uid)
                .collect();
            let t = TodData {
                rdm_version: 1,
                port: 1,
                bind_index: 1,
                port_address: universe,
                command_response: TOD_FULL,
                uid_total: uids.len() as u16,
                block: 0,
                uids,
            };
            encode_tod_data(&t, &mut out);
            let _ = sock.send_to(&out, from);
            continue;
        }
        let Ok((pa, body)) = parse_artrdm(&buf[..n]) else {
            continue;
        };
        if pa != universe {
            continue;
        }
        let Ok(req) = rdm::decode(body) else { continue };
        requests.fetch_add(1, Ordering::Relaxed);
        let mut devices = script.lock().unwrap();
        let Some(r) = devices.iter_mut().find(|r| r.uid == req.dest && r.present) else {
            continue; // not on the line: silence, as on a real DMX line
        };
        *r.asked.entry(req.pid).or_default() += 1;
        let mut status = 0u8; // ACK
        let data: Vec<u8> = match (req.class, req.pid) {
            (CommandClass::Get, pid::DEVICE_INFO) => info(r),
            (CommandClass::Get, pid::DEVICE_LABEL) => r.label.as_bytes().to_vec(),
            (CommandClass::Get, pid::MANUFACTURER_LABEL) => b"Test Co".to_vec(),
            (CommandClass::Get, pid::DEVICE_MODEL_DESCRIPTION) => b"Beam 1200".to_vec(),
            (CommandClass::Get, pid::DMX_START_ADDRESS) => r.address.to_be_bytes().to_vec(),
            (CommandClass::Get, pid::LAMP_HOURS) => 1500u32.to_be_bytes().to_vec(),
            (CommandClass::Get, pid::LAMP_STATE) => vec![r.lamp],
            (CommandClass::Get, pid::STATUS_MESSAGES) => Vec::new(),
            (CommandClass::Get, pid::SENSOR_DEFINITION) => {
                // Sensor 0: temperature, °C, range -40..150, normal 0..100.
                let mut d = vec![0, 0, 1, 0, 0xff, 0xd8, 0, 150, 0, 0, 0, 100, 0];
                d.extend_from_slice(b"LED board");
                d
            }
            (CommandClass::Get, pid::SENSOR_VALUE) => {
                let t = r.temperature.to_be_bytes();
                vec![0, t[0], t[1], 0, 0, 0, 0, 0, 0]
            }
            (CommandClass::Set, pid::DMX_START_ADDRESS) if req.data.len() == 2 => {
                r.address = u16::from_be_bytes([req.data[0], req.data[1]]);
                Vec::new()
            }
            (CommandClass::Set, pid::DEVICE_LABEL) => {
                r.label = String::from_utf8_lossy(req.data).into_owned();
                Vec::new()
            }
            (CommandClass::Set, pid::IDENTIFY_DEVICE) => Vec::new(),
            _ => {
                status = 2;
                vec![0, 0] // NACK unknown PID
            }
        };
        let m = Message {
            dest: req.src,
            src: req.dest,
            transaction: req.transaction,
            port_or_response: status,
            message_count: 0,
            sub_device: 0,
            class: req.class.response(),
            pid: req.pid,
            data: &data,
        };
        rdm::encode(&m, &mut msg).unwrap();
        encode_artrdm(universe, &msg, &mut out);
        let _ = sock.send_to(&out, from);
    }
}

/// Three searchlights on universe 1 at 1, 11 and 21, each a responder.
pub fn three_responders() -> Vec<Responder> {
    (1..=3u16)
        .map(|i| Responder {
            uid: Uid::new(0x1234, u32::from(i)),
            address: 1 + (i - 1) * 10,
            footprint: 10,
            label: format!("par-{i}"),
            present: true,
            lamp: 1,
            temperature: 40,
            asked: BTreeMap::new(),
        })
        .collect()
}

/// A site folder of three searchlights on universe 1, its Art-Net output
/// to `node` with `rdm = true`, discovery every `every`, a show lighting
/// them all, the API on port 0 with admin and viewer tokens.
pub fn rdm_site(dir: &Path, node: std::net::SocketAddr, every: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::copy_dir(&root.join("fixtures"), &dir.join("fixtures"));
    let site = dir.join("shows");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("site.toml"),
        format!(
            r#"name = "Bridge (device care test)"
latitude = 25.04
longitude = 102.71
timezone = "Asia/Shanghai"
fps = 40
profiles = "../fixtures"

[[outputs]]
kind = "artnet"
target = "{node}"
universes = 1
rdm = true

[rdm]
every = "{every}"
listen = "127.0.0.1:0"
[[rdm.sensors]]
kind = "temperature"
max = 70

[api]
listen = "127.0.0.1:0"
tokens = [
  {{ name = "lighting-admin", role = "admin", env = "NIGHTSCAPE_ADMIN_TOKEN" }},
  {{ name = "city-dashboard", role = "viewer", env = "NIGHTSCAPE_VIEWER_TOKEN" }},
]

[[fixtures]]
name = "par-1"
profile = "searchlight-moving-1200w"
mode = "10ch"
at = [10, 100]
address = "1.1"

[[fixtures]]
name = "par-2"
profile = "searchlight-moving-1200w"
mode = "10ch"
at = [20, 100]
address = "1.11"

[[fixtures]]
name = "par-3"
profile = "searchlight-moving-1200w"
mode = "10ch"
at = [30, 100]
address = "1.21"

[groups]
bridge = ["par-*"]
"#
        ),
    )
    .unwrap();
    std::fs::write(
        site.join("glow.toml"),
        "name = \"glow\"\n[[layers]]\ntarget = \"bridge\"\neffect = \"solid\"\ncolor = \"#ffffff\"\nlevel = 0.5\n",
    )
    .unwrap();
    site
}

pub fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(40))
}

/// GET `path` with `token`: status, content type and body text.
pub fn get_text(
    agent: &ureq::Agent,
    base: &str,
    path: &str,
    token: &str,
    accept: &str,
) -> (u16, String, String) {
    let mut r = agent
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", accept)
        .call()
        .unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        r.status().as_u16(),
        ct,
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub fn get_json(agent: &ureq::Agent, base: &str, path: &str) -> Value {
    let (s, _, body) = get_text(agent, base, path, VIEWER, "application/json");
    assert_eq!(s, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn post(agent: &ureq::Agent, base: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let mut r = agent
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .send_json(body)
        .unwrap();
    let s = r.status().as_u16();
    (s, r.body_mut().read_json().unwrap_or(Value::Null))
}

/// Poll `path` until `ok` holds (at most `limit`); the last body.
pub fn wait_json(
    agent: &ureq::Agent,
    base: &str,
    path: &str,
    limit: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = get_json(agent, base, path);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rdm_alarms(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["active"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["key"].as_str().unwrap().starts_with("rdm:"))
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn device_care_finds_faults_raises_them_once_and_clears_them_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let node = sock.local_addr().unwrap();
    let script: Script = Arc::new(Mutex::new(three_responders()));
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let t = {
        let (script, stop, requests) = (script.clone(), stop.clone(), requests.clone());
        std::thread::spawn(move || scripted_node(sock, 1, script, stop, requests))
    };
    let site = rdm_site(dir.path(), node, "1s");
    let state = dir.path().join("state");
    let state_s = state.to_str().unwrap().to_string();
    let _d = common::spawn_daemon(
        &site,
        &["--show", "glow", "--state", &state_s],
        &[
            ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
            ("NIGHTSCAPE_VIEWER_TOKEN", VIEWER),
            ("RUST_LOG", "warn"),
        ],
    );
    let base = common::api_base(&state);
    let a = agent();
    let long = Duration::from_secs(30);

    // 1. Everything answers: three matched devices, no fault.
    let v = wait_json(&a, &base, "/api/devices", long, |v| {
        v["passes"].as_u64().unwrap_or(0) >= 1
            && v["devices"].as_array().is_some_and(|d| d.len() == 3)
    });
    assert_eq!(v["enabled"], true);
    assert_eq!(v["lines"][0]["state"], "answered", "{v:#}");
    let d0 = &v["devices"][0];
    assert_eq!(d0["uid"], "1234:00000001");
    assert_eq!(d0["fixture"], "par-1");
    assert_eq!(d0["patch"], "matched");
    assert_eq!(d0["dmx_address"], 1);
    assert_eq!(d0["lamp_hours"], 1500);
    assert_eq!(d0["model"], "Beam 1200");
    assert_eq!(d0["sensors"][0]["value"], 40);
    assert!(d0["first_seen"].is_string(), "{d0}");
    assert!(v["missing"].as_array().unwrap().is_empty());
    let m = get_json(&a, &base, "/api/maintenance");
    assert!(m["faults"].as_array().unwrap().is_empty(), "{m:#}");
    assert!(rdm_alarms(&get_json(&a, &base, "/api/alarms")).is_empty());

    // 2. Faults: par-3 vanishes, par-2 is re-addressed to 31, par-1's lamp
    // fails and its board reads 85 °C (within its own normal 0..100 but
    // beyond the site's limit of 70).
    {
        let mut s = script.lock().unwrap();
        s[2].present = false;
        s[1].address = 31;
        s[0].lamp = 0x7f;
        s[0].temperature = 85;
    }
    let want = vec![
        (
            "fixture_mismatch".to_string(),
            "rdm:fixture_mismatch:par-2".to_string(),
        ),
        (
            "fixture_missing".to_string(),
            "rdm:fixture_missing:par-3".to_string(),
        ),
        (
            "lamp_failure".to_string(),
            "rdm:lamp_failure:par-1".to_string(),
        ),
        (
            "sensor_out_of_range".to_string(),
            "rdm:sensor_out_of_range:par-1:0".to_string(),
        ),
    ];
    let alarms = wait_json(&a, &base, "/api/alarms", long, |v| rdm_alarms(v) == want);
    let raised: Vec<Value> = alarms["active"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["key"].as_str().unwrap().starts_with("rdm:"))
        .map(|x| x["raised"].clone())
        .collect();
    let m = get_json(&a, &base, "/api/maintenance");
    let faults = m["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 4, "{m:#}");
    let missing = faults
        .iter()
        .find(|f| f["kind"] == "fixture_missing")
        .unwrap();
    assert_eq!(missing["fixture"], "par-3");
    assert_eq!(missing["groups"], json!(["bridge"]));
    assert_eq!(missing["position"], json!([30.0, 100.0]));
    assert_eq!(missing["universe"], 1);
    assert_eq!(missing["address"], 21);
    let mismatch = faults
        .iter()
        .find(|f| f["kind"] == "fixture_mismatch")
        .unwrap();
    assert!(
        mismatch["fix"]
            .as_str()
            .unwrap()
            .contains("set its DMX start address to 11"),
        "{mismatch}"
    );
    let hot = faults
        .iter()
        .find(|f| f["kind"] == "sensor_out_of_range")
        .unwrap();
    assert!(hot["reading"].as_str().unwrap().contains("85"), "{hot}");
    assert!(hot["reading"].as_str().unwrap().contains("70"), "{hot}");
    let lamp = faults.iter().find(|f| f["kind"] == "lamp_failure").unwrap();
    assert!(
        lamp["reading"]
            .as_str()
            .unwrap()
            .contains("lamp state error"),
        "{lamp}"
    );

    // The same list as CSV, by query and by Accept header.
    let (s, ct, csv) = get_text(&a, &base, "/api/maintenance?format=csv", VIEWER, "*/*");
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "kind,fixture,groups,x,y,address,uid,since,reading,fix"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fixture_missing,par-3,bridge,30,100,1.21,")),
        "{csv}"
    );
    let (_, ct, csv) = get_text(&a, &base, "/api/devices", VIEWER, "text/csv");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("1234:00000002,1,31,10,par-2,mismatched,")),
        "{csv}"
    );
    let (s, _, body) = get_text(&a, &base, "/api/maintenance?format=xml", VIEWER, "*/*");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("\"field\":\"format\""), "{body}");

    // Each reading as data beside its English sentence, and in Chinese
    // with ?lang=zh (JSON and CSV).
    assert_eq!(hot["detail"]["kind"], "sensor", "{hot}");
    assert_eq!(hot["detail"]["value"], 85, "{hot}");
    assert_eq!(hot["detail"]["bound"], "site_limit", "{hot}");
    assert_eq!(hot["detail"]["max"], 70, "{hot}");
    assert_eq!(lamp["detail"]["state"], "error", "{lamp}");
    assert_eq!(missing["detail"]["kind"], "not_in_table", "{missing}");
    let zh = get_json(&a, &base, "/api/maintenance?lang=zh");
    let zh_reading = |kind: &str| {
        zh["faults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .and_then(|f| f["reading"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        zh_reading("sensor_out_of_range").contains("读数 85")
            && zh_reading("sensor_out_of_range").contains("超出站点限值 ..70"),
        "{zh:#}"
    );
    assert_eq!(zh_reading("lamp_failure"), "灯状态 故障", "{zh:#}");
    assert_eq!(zh_reading("fixture_missing"), "不在该线路的设备表中");
    assert_eq!(zh_reading("fixture_mismatch"), "在 1.31 应答");
    let (s, _, csv) = get_text(
        &a,
        &base,
        "/api/maintenance?format=csv&lang=zh",
        VIEWER,
        "*/*",
    );
    assert_eq!(s, 200);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("fixture_missing,par-3,") && l.contains("不在该线路的设备表中")),
        "{csv}"
    );
    let (s, _, body) = get_text(&a, &base, "/api/maintenance?lang=fr", VIEWER, "*/*");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("\"field\":\"lang\""), "{body}");

    // Raised once: more passes do not raise them again.
    let passes = get_json(&a, &base, "/api/devices")["passes"]
        .as_u64()
        .unwrap();
    wait_json(&a, &base, "/api/devices", long, |v| {
        v["passes"].as_u64().unwrap() >= passes + 2
    });
    let again = get_json(&a, &base, "/api/alarms");
    let raised_again: Vec<Value> = again["active"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["key"].as_str().unwrap().starts_with("rdm:"))
        .map(|x| x["raised"].clone())
        .collect();
    assert_eq!(raised, raised_again);

    // 3. Writes: a viewer may not, confirm is required, an admin may.
    let path = "/api/devices/1234:00000002";
    let (s, _) = post(
        &a,
        &base,
        path,
        VIEWER,
        json!({"what": "address", "address": 11, "confirm": true}),
    );
    assert_eq!(s, 403);
    let (s, e) = post(
        &a,
        &base,
        path,
        ADMIN,
        json!({"what": "address", "address": 11}),
    );
    assert_eq!((s, e["field"].as_str()), (422, Some("confirm")), "{e}");
    let (s, e) = post(
        &a,
        &base,
        path,
        ADMIN,
        json!({"what": "address", "address": 600, "confirm": true}),
    );
    assert_eq!((s, e["field"].as_str()), (422, Some("address")), "{e}");
    let (s, e) = post(
        &a,
        &base,
        "/api/devices/nonsense",
        ADMIN,
        json!({"what": "identify", "on": true, "confirm": true}),
    );
    assert_eq!((s, e["field"].as_str()), (400, Some("uid")), "{e}");
    let (s, e) = post(
        &a,
        &base,
        path,
        ADMIN,
        json!({"what": "address", "address": 11, "confirm": true}),
    );
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["outcome"], "done");
    assert_eq!(
        script.lock().unwrap()[1].address,
        11,
        "the SET reached the responder"
    );
    let (s, e) = post(
        &a,
        &base,
        path,
        ADMIN,
        json!({"what": "identify", "on": true, "confirm": true}),
    );
    assert_eq!(s, 200, "{e}");
    let (s, _, audit) = get_text(&a, &base, "/api/audit", ADMIN, "application/json");
    assert_eq!(s, 200);
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let set = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "device.set_address")
        .unwrap_or_else(|| panic!("{audit:#}"));
    assert_eq!(set["actor"], "lighting-admin");
    assert_eq!(set["detail"]["uid"], "1234:00000002");
    assert_eq!(set["detail"]["write"]["address"], 11);
    assert_eq!(set["detail"]["result"]["outcome"], "done");
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == "device.identify"));

    // 4. Recovery: par-3 back, par-1 relamped and cooled: every fault clears.
    {
        let mut s = script.lock().unwrap();
        s[2].present = true;
        s[0].lamp = 1;
        s[0].temperature = 40;
    }
    let v = wait_json(&a, &base, "/api/alarms", long, |v| rdm_alarms(v).is_empty());
    let cleared: Vec<&str> = v["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["key"].as_str().unwrap().starts_with("rdm:"))
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 4, "each raised once, cleared once: {v:#}");
    let m = get_json(&a, &base, "/api/maintenance");
    assert!(m["faults"].as_array().unwrap().is_empty(), "{m:#}");

    // The asset record keeps every device with its first sight.
    let r = get_json(&a, &base, "/api/devices?record=true");
    assert_eq!(r["record"].as_array().unwrap().len(), 3, "{r:#}");
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}

/// Per-frame timing of the ArtDmx a node received: frames a second and the
/// interval percentiles (ms).
fn interval_stats(arrivals: &[Instant]) -> (f64, [f64; 4]) {
    let mut iv: Vec<f64> = arrivals
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    iv.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        iv.get(((iv.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let span = arrivals
        .last()
        .unwrap()
        .duration_since(arrivals[0])
        .as_secs_f64();
    (
        (arrivals.len() - 1) as f64 / span,
        [pick(0.5), pick(0.95), pick(0.99), pick(1.0)],
    )
}

/// Measurement, not a check (run it by name with `--ignored --nocapture`;
/// `NIGHTSCAPE_BIN` may name a release build): a node with 48 RDM
/// responders on the universe it receives, discovery every second (so it
/// never stops), and the ArtDmx that node gets timed for 20 s — against
/// the same daemon with `rdm = false`. Numbers go to docs/devices.md.
#[test]
#[ignore = "measurement: run by name"]
fn measure_frame_rate_while_discovering() {
    let bin =
        std::env::var("NIGHTSCAPE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nightscape").into());
    for rdm_on in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let node = sock.local_addr().unwrap();
        let rx = sock.try_clone().unwrap();
        let responders: Vec<Responder> = (0..48u16)
            .map(|i| Responder {
                uid: Uid::new(0x1234, u32::from(i) + 1),
                address: 1 + i * 10,
                footprint: 10,
                label: format!("par-{}", i + 1),
                present: true,
                lamp: 1,
                temperature: 40,
                asked: BTreeMap::new(),
            })
            .collect();
        let script: Script = Arc::new(Mutex::new(responders));
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let arrivals = Arc::new(Mutex::new(Vec::<Instant>::with_capacity(4096)));
        let site = rdm_site(dir.path(), node, "1s");
        // 48 fixtures instead of three.
        let p = site.join("site.toml");
        let mut text = std::fs::read_to_string(&p).unwrap();
        let cut = text.find("[[fixtures]]").unwrap();
        text.truncate(cut);
        for i in 0..48 {
            text.push_str(&format!(
                "[[fixtures]]\nname = \"par-{}\"\nprofile = \"searchlight-moving-1200w\"\nmode = \"10ch\"\nat = [{}, 100]\naddress = \"1.{}\"\n\n",
                i + 1,
                i * 10,
                1 + i * 10
            ));
        }
        text.push_str("[groups]\nbridge = [\"par-*\"]\n");
        if !rdm_on {
            text = text.replace("rdm = true", "rdm = false");
        }
        std::fs::write(&p, text).unwrap();
        // The node: RDM answered by the scripted node on its own socket,
        // ArtDmx arrivals taken from a clone (both see every packet the
        // other does not: the scripted node ignores ArtDmx, so it is read
        // here by peeking before it).
        let t = {
            let (script, stop, requests, arrivals) = (
                script.clone(),
                stop.clone(),
                requests.clone(),
                arrivals.clone(),
            );
            std::thread::spawn(move || timed_node(rx, 1, script, stop, requests, arrivals))
        };
        let state = dir.path().join("state");
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["run", "--site"])
            .arg(&site)
            .args(["--show", "glow", "--state"])
            .arg(&state);
        cmd.env("NIGHTSCAPE_ADMIN_TOKEN", ADMIN)
            .env("NIGHTSCAPE_VIEWER_TOKEN", VIEWER)
            .env("RUST_LOG", "warn");
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let _d = common::Daemon(cmd.spawn().unwrap());
        let base = common::api_base(&state);
        std::thread::sleep(Duration::from_secs(3));
        arrivals.lock().unwrap().clear();
        let r0 = requests.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(20));
        let got = arrivals.lock().unwrap().clone();
        let r1 = requests.load(Ordering::Relaxed);
        let v = get_json(&agent(), &base, "/api/devices");
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        drop(sock);
        let (fps, [p50, p95, p99, max]) = interval_stats(&got);
        let late = got
            .windows(2)
            .filter(|w| w[1] - w[0] > Duration::from_micros(37_500))
            .count();
        println!(
            "rdm {}: {} frames in 20 s = {fps:.2} fps; interval ms p50 {p50:.2} p95 {p95:.2} p99 {p99:.2} max {max:.2}; intervals > 1.5 periods: {late}; RDM requests {:.1}/s; passes {} devices {}",
            if rdm_on { "on " } else { "off" },
            got.len(),
            (r1 - r0) as f64 / 20.0,
            v["passes"],
            v["devices"].as_array().map_or(0, Vec::len),
        );
    }
}

/// [`scripted_node`] that also notes when each ArtDmx for `universe` came.
fn timed_node(
    sock: UdpSocket,
    universe: u16,
    script: Script,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
) {
    // One socket, two readers would race: instead a relay socket pair —
    // this thread reads everything, notes ArtDmx, and passes RDM on to a
    // scripted node behind a second socket, answering with its replies.
    let inner = UdpSocket::bind("127.0.0.1:0").unwrap();
    let inner_addr = inner.local_addr().unwrap();
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.connect(inner_addr).unwrap();
    relay
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let s2 = stop.clone();
    let node = std::thread::spawn(move || scripted_node(inner, universe, script, s2, requests));
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut from_daemon: Option<std::net::SocketAddr> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let p = &buf[..n];
            if p.len() > 18 && p.starts_with(b"Art-Net\0") && p[8] == 0x00 && p[9] == 0x50 {
                arrivals.lock().unwrap().push(Instant::now());
            } else {
                from_daemon = Some(from);
                let _ = relay.send(p);
            }
        }
        while let Ok(n) = relay.recv(&mut buf) {
            if let Some(to) = from_daemon {
                let _ = sock.send_to(&buf[..n], to);
            }
        }
    }
    node.join().unwrap();
}

/// Why this machine cannot run the OLA test, if it cannot.
fn ola_missing() -> Option<String> {
    if Command::new("olad").arg("--version").output().is_err() {
        return Some("`olad` is not installed (apt-get install ola)".into());
    }
    if Command::new("curl").arg("--version").output().is_err() {
        return Some("`curl` is not installed".into());
    }
    if ola_script().is_none() {
        return Some("ola-rdm-node.sh not found (set NIGHTSCAPE_PEERS)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok();
    if uid.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return Some("needs root for its network namespaces".into());
    }
    None
}

fn ola_script() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTSCAPE_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peers"));
    let s = dir.join("ola-rdm-node.sh");
    s.exists().then_some(s)
}

/// The daemon against an independent RDM implementation: OLA's `olad` as
/// an Art-Net node at 10.77.0.2 with six dummy responders (the peers
/// script, in network namespaces), the daemon at 10.77.0.1 with `rdm =
/// true` on its output and no `[rdm] listen`: the node's replies to port
/// 6454 reach device care only through the Art-Net service's sockets (the
/// tap). `/api/devices` is read from inside the namespace with curl.
#[test]
fn device_care_in_the_daemon_finds_olas_six_responders() {
    let name = "device_care_in_the_daemon_finds_olas_six_responders";
    if let Some(why) = ola_missing() {
        common::skip_unless_ci(name, &why);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let site = rdm_site(dir.path(), "10.77.0.2:6454".parse().unwrap(), "1h");
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "listen = \"127.0.0.1:0\"\n[[rdm.sensors]]",
        "[[rdm.sensors]]",
    );
    assert!(!text.contains("[rdm]\nevery = \"1h\"\nlisten"), "{text}");
    std::fs::write(&p, text).unwrap();
    let state = dir.path().join("state");
    let run = dir.path().join("run.sh");
    std::fs::write(
        &run,
        format!(
            r#"#!/bin/sh
NIGHTSCAPE_ADMIN_TOKEN={ADMIN} NIGHTSCAPE_VIEWER_TOKEN={VIEWER} RUST_LOG=warn "{bin}" run --site "{site}" --show glow --state "{state}" >/dev/null 2>&1 &
P=$!
i=0; while [ ! -s "{state}/api.addr" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
A=$(cat "{state}/api.addr")
i=0; J=""
while [ $i -lt 200 ]; do
  J=$(curl -s -m 2 -H "Authorization: Bearer {VIEWER}" "http://$A/api/devices")
  echo "$J" | grep -q '"passes":[1-9]' && break
  sleep 0.2; i=$((i+1))
done
echo "$J"
kill $P; wait $P 2>/dev/null
"#,
            bin = env!("CARGO_BIN_EXE_nightscape"),
            site = site.display(),
            state = state.display(),
        ),
    )
    .unwrap();
    let out = Command::new(ola_script().unwrap())
        .current_dir(dir.path())
        .args(["-u", "1", "-t", "60", "--", "sh"])
        .arg(&run)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    assert_eq!(v["lines"][0]["state"], "answered", "{v:#}");
    let uids: Vec<&str> = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        uids.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        6,
        "{v:#}"
    );
    assert!(
        uids.iter().all(|u| u.starts_with("7a70:ffffff0")),
        "{uids:?}"
    );
    let dummy = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["uid"] == "7a70:ffffff00")
        .unwrap();
    assert_eq!(dummy["manufacturer"], "Open Lighting Project");
    assert_eq!(dummy["sensors"].as_array().unwrap().len(), 3, "{dummy}");
}

/// Incremental passes (the default `full_every` of a day, `every` 1 s):
/// after the first, full pass each known device is asked only for what
/// changes — never its names or sensor definitions again — and a
/// responder switched on later is found and read in full. Requests are
/// counted per responder and PID at the scripted node.
#[test]
fn incremental_passes_read_only_what_changes_and_find_a_newcomer() {
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let node = sock.local_addr().unwrap();
    let script: Script = Arc::new(Mutex::new(three_responders()));
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let t = {
        let (script, stop, requests) = (script.clone(), stop.clone(), requests.clone());
        std::thread::spawn(move || scripted_node(sock, 1, script, stop, requests))
    };
    let site = rdm_site(dir.path(), node, "1s");
    let state = dir.path().join("state");
    let state_s = state.to_str().unwrap().to_string();
    let _d = common::spawn_daemon(
        &site,
        &["--show", "glow", "--state", &state_s],
        &[
            ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
            ("NIGHTSCAPE_VIEWER_TOKEN", VIEWER),
            ("RUST_LOG", "warn"),
        ],
    );
    let base = common::api_base(&state);
    let a = agent();
    let long = Duration::from_secs(30);
    let v = wait_json(&a, &base, "/api/devices", long, |v| {
        v["passes"].as_u64().unwrap_or(0) >= 3
            && v["devices"].as_array().is_some_and(|d| d.len() == 3)
    });
    assert_eq!(v["full_passes"], 1, "{v:#}");
    assert_eq!(v["full_every_passes"], 86400, "{v:#}");
    {
        let s = script.lock().unwrap();
        for r in s.iter() {
            let n = |p: u16| r.asked.get(&p).copied().unwrap_or(0);
            for p in [
                pid::DEVICE_MODEL_DESCRIPTION,
                pid::MANUFACTURER_LABEL,
                pid::DEVICE_LABEL,
                pid::SENSOR_DEFINITION,
            ] {
                assert_eq!(n(p), 1, "{}: PID {p:#06x} asked {} times", r.uid, n(p));
            }
            assert!(n(pid::SENSOR_VALUE) >= 3, "{}: {:?}", r.uid, r.asked);
            assert!(n(pid::LAMP_STATE) >= 3, "{}: {:?}", r.uid, r.asked);
            assert!(n(pid::DEVICE_INFO) >= 3, "{}: {:?}", r.uid, r.asked);
        }
    }
    // A fourth responder is switched on: an incremental pass finds it
    // and reads it in full; the others' identity is still read once.
    {
        let mut s = script.lock().unwrap();
        let mut r = s[0].clone();
        r.uid = Uid::new(0x1234, 4);
        r.address = 31;
        r.label = "par-4".into();
        r.asked.clear();
        s.push(r);
    }
    let v = wait_json(&a, &base, "/api/devices", long, |v| {
        v["devices"].as_array().is_some_and(|d| d.len() == 4)
    });
    assert_eq!(v["full_passes"], 1, "{v:#}");
    let d4 = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["uid"] == "1234:00000004")
        .unwrap();
    assert_eq!(d4["model"], "Beam 1200", "{d4}");
    assert_eq!(d4["sensors"][0]["name"], "LED board", "{d4}");
    {
        let s = script.lock().unwrap();
        for r in s.iter() {
            let n = r
                .asked
                .get(&pid::DEVICE_MODEL_DESCRIPTION)
                .copied()
                .unwrap_or(0);
            assert_eq!(n, 1, "{}: read its model {n} times", r.uid);
        }
    }
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}
