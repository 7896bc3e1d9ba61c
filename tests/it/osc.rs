//! OSC in, end to end: the real daemon with `[[inputs]] kind = "osc"` on a
//! loopback port, OSC messages sent over real UDP (encoded by `rosc`), and
//! what changed read from the Art-Net frames the daemon sends (decoded from
//! a socket on 127.0.0.1) and from its API. Each address of the fixed
//! space performs the API's operation with the API's audit entry (actor:
//! the input's name, remote: the sender's address); wrong type tags,
//! unknown shows and groups are answered with `/nightscape/error`; junk is
//! dropped; a sender `allow` does not list is ignored. Every wait is bounded.

use crate::common;
use rosc::{OscMessage, OscPacket, OscType};
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(crate) const AT: &str = "2026-12-31T20:00:00+08:00";
pub(crate) const OPERATOR: &str = "operator-secret-0123456789";
pub(crate) const ADMIN: &str = "admin-secret-0123456789";

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(5))
}

/// (universe, offset) of fixture `name`'s first channel, as the daemon's
/// API lists its patch (`/api/fixtures`: the 1-based start address).
pub(crate) fn patch_of(agent: &ureq::Agent, base: &str, token: &str, name: &str) -> (u16, usize) {
    let mut r = agent
        .get(format!("{base}/api/fixtures"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "GET /api/fixtures");
    let list: Value = r.body_mut().read_json().unwrap();
    let f = list
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in /api/fixtures"));
    (
        f["universe"].as_u64().unwrap() as u16,
        f["address"].as_u64().unwrap() as usize - 1,
    )
}

/// A daemon on the demo site with `extra` appended to its site file.
pub(crate) struct Rig {
    pub _tmp: tempfile::TempDir,
    pub site: PathBuf,
    pub state: PathBuf,
    pub rx: UdpSocket,
    pub base: String,
    pub agent: ureq::Agent,
    /// (universe, offset) of tower-crown's first channel (group facade).
    pub crown: (u16, usize),
    pub _daemon: common::Daemon,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.keep_log();
        }
    }
}

impl Rig {
    pub(crate) fn start(extra: &str) -> Rig {
        Rig::start_with(extra, &[], |t| t)
    }

    /// As [`Rig::start`], with more `run` arguments and the site file's
    /// text edited by `edit` first.
    pub(crate) fn start_with(
        extra: &str,
        args: &[&str],
        edit: impl FnOnce(String) -> String,
    ) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let site = common::demo_site_in(tmp.path());
        let rx = common::artnet_receiver(&site);
        let p = site.join("site.toml");
        let text = edit(std::fs::read_to_string(&p).unwrap());
        std::fs::write(&p, format!("{text}\n{extra}\n")).unwrap();
        let state = tmp.path().join("var");
        let envs = [
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("NIGHTSCAPE_ADMIN_TOKEN", ADMIN),
            ("RUST_LOG", "info,nightscape::triggers=debug"),
        ];
        // The daemon's log goes to a file: a failing test leaves a copy
        // (its path is printed) to read why.
        let log = tmp.path().join("daemon.log");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"));
        cmd.args(["run", "--site"])
            .arg(&site)
            .args([
                "--state",
                state.to_str().unwrap(),
                "--clock",
                AT,
                "--speed",
                "1",
            ])
            .args(args)
            .envs(envs)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let daemon = common::Daemon(cmd.spawn().expect("start the daemon"));
        let base = common::api_base(&state);
        let agent = agent();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = agent.get(format!("{base}/healthz")).call() {
                if r.status().as_u16() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        let crown = patch_of(&agent, &base, OPERATOR, "tower-crown");
        Rig {
            _tmp: tmp,
            site,
            state,
            rx,
            base,
            agent,
            crown,
            _daemon: daemon,
        }
    }

    fn keep_log(&self) {
        let to = std::env::temp_dir().join(format!("nightscape-rig-{}.log", std::process::id()));
        if std::fs::copy(self._tmp.path().join("daemon.log"), &to).is_ok() {
            eprintln!("the daemon's log: {}", to.display());
        }
    }

    pub(crate) fn get(&self, path: &str, token: &str) -> Value {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.body_mut().read_json().unwrap()
    }

    pub(crate) fn post(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .send_empty()
            .unwrap();
        let s = r.status().as_u16();
        (s, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// Wait until tower-crown's first three channels satisfy `ok`.
    pub(crate) fn wait_crown(&self, what: &str, ok: impl Fn(&[u8]) -> bool) {
        let (u, a) = self.crown;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            if let Some((pu, _, d)) = common::recv_artdmx(&self.rx) {
                if pu == u {
                    if let Some(rgb) = d.get(a..a + 3) {
                        if ok(rgb) {
                            return;
                        }
                        last = rgb.to_vec();
                    }
                }
            }
        }
        panic!("tower-crown never showed {what} on the wire (last {last:?})");
    }

    /// Wait until `GET path` satisfies `ok`.
    pub(crate) fn wait_api(&self, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.get(path, ADMIN);
            if ok(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: {path} is {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn osc(addr: &str, args: Vec<OscType>) -> Vec<u8> {
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    }))
    .unwrap()
}

pub(crate) fn s(v: &str) -> OscType {
    OscType::String(v.into())
}

/// The next OSC message on `sock` within `limit`.
pub(crate) fn recv_osc(sock: &UdpSocket, limit: Duration) -> Option<OscMessage> {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    match rosc::decoder::decode_udp(&buf[..n]).ok()?.1 {
        OscPacket::Message(m) => Some(m),
        OscPacket::Bundle(_) => None,
    }
}

fn osc_input(port: u16) -> String {
    format!("[[inputs]]\nkind = \"osc\"\nlisten = \"127.0.0.1:{port}\"\n")
}

#[test]
fn each_osc_address_changes_the_wire_with_the_apis_audit() {
    let port = free_udp_port();
    let rig = Rig::start(&osc_input(port));
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = tx.local_addr().unwrap().to_string();
    let send = |m: Vec<u8>| {
        tx.send_to(&m, to).unwrap();
    };

    // A colour on a group: an override, as POST /api/overrides makes.
    send(osc("/nightscape/group/facade/color", vec![s("#0000ff")]));
    rig.wait_crown("blue", |d| d == [0, 0, 255]);
    // A stream of colours (a picker) keeps one override of this input.
    for c in ["#00ff00", "#ff0000", "#0000ff"] {
        send(osc("/nightscape/group/facade/color", vec![s(c)]));
        std::thread::sleep(Duration::from_millis(30));
    }
    rig.wait_api("/api/overrides", "one colour override in force", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|o| o["released_at"].is_null())
            .count()
            == 1
    });
    // The group's level: its master.
    send(osc(
        "/nightscape/group/facade/level",
        vec![OscType::Float(0.5)],
    ));
    rig.wait_crown("blue at half", |d| {
        d[0] == 0 && d[1] == 0 && (100..=160).contains(&d[2])
    });
    send(osc(
        "/nightscape/group/facade/level",
        vec![OscType::Float(1.0)],
    ));
    rig.wait_crown("blue again", |d| d == [0, 0, 255]);
    // The site's master.
    send(osc("/nightscape/master", vec![OscType::Float(0.0)]));
    rig.wait_crown("dark under the master", |d| d == [0, 0, 0]);
    let st = rig.get("/api/status", ADMIN);
    assert!(
        st["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "*"),
        "{}",
        st["masters"]
    );
    send(osc("/nightscape/master", vec![OscType::Int(1)]));
    rig.wait_crown("blue after the master is back", |d| d == [0, 0, 255]);
    // Blackout of a group.
    send(osc("/nightscape/blackout", vec![s("facade")]));
    rig.wait_crown("blacked out", |d| d == [0, 0, 0]);
    // Release: every override fades away; the crown is no longer blue or dark by us.
    send(osc("/nightscape/release", vec![]));
    rig.wait_api("/api/overrides", "every override released", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|o| !o["released_at"].is_null())
    });
    // A scene.
    send(osc("/nightscape/scene/start", vec![s("spring-festival")]));
    let scenes = rig.wait_api("/api/scenes", "the scene started", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|s| s["show"] == "spring-festival" && s["author"] == "osc")
    });
    assert_eq!(scenes[0]["priority"], 1000);
    send(osc("/nightscape/scene/stop", vec![s("spring-festival")]));
    rig.wait_api("/api/scenes", "the scene stopping", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|s| !s["released_at"].is_null())
    });

    // Each came with the API's audit entry: actor the input, remote the sender.
    let audit = rig.wait_api("/api/audit?limit=100", "audit entries", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "scene.stop")
    });
    let ours: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "osc")
        .collect();
    for action in [
        "override.create",
        "master.set",
        "override.release_all",
        "scene.trigger",
        "scene.stop",
    ] {
        let e = ours
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} by osc in {audit}"));
        assert_eq!(e["remote"], me.as_str(), "{e}");
    }
    // The group's level is its master (newest first: 1.0, then 0.5).
    let levels: Vec<f64> = ours
        .iter()
        .filter(|e| e["action"] == "master.set" && e["detail"]["target"] == "facade")
        .map(|e| e["detail"]["level"].as_f64().unwrap())
        .collect();
    assert_eq!(levels, vec![1.0, 0.5]);
}

#[test]
fn bad_osc_is_answered_or_dropped_and_strangers_are_ignored() {
    let (port, lan) = (free_udp_port(), free_udp_port());
    let rig = Rig::start(&format!(
        "{}[[inputs]]\nkind = \"osc\"\nname = \"osc-lan\"\nlisten = \"127.0.0.1:{lan}\"\nallow = [\"10.9.0.0/16\"]\n",
        osc_input(port)
    ));
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ask = |m: Vec<u8>| -> Option<OscMessage> {
        tx.send_to(&m, to).unwrap();
        recv_osc(&tx, Duration::from_secs(3))
    };
    let error_for = |m: Vec<u8>, addr: &str, says: &str| {
        let r = ask(m).unwrap_or_else(|| panic!("no answer to {addr}"));
        assert_eq!(r.addr, "/nightscape/error");
        assert_eq!(r.args[0], s(addr));
        let why = match &r.args[1] {
            OscType::String(w) => w.clone(),
            a => panic!("{a:?}"),
        };
        assert!(why.contains(says), "{addr}: {why}");
    };
    error_for(
        osc("/nightscape/master", vec![s("loud")]),
        "/nightscape/master",
        "takes ,f",
    );
    error_for(
        osc("/nightscape/master", vec![OscType::Float(1.5)]),
        "/nightscape/master",
        "out of range",
    );
    error_for(
        osc("/nightscape/scene/start", vec![s("no-such-show")]),
        "/nightscape/scene/start",
        "unknown show `no-such-show`",
    );
    error_for(
        osc("/nightscape/scene/start", vec![]),
        "/nightscape/scene/start",
        "takes ,s",
    );
    error_for(
        osc("/nightscape/scene/stop", vec![s("spring-festival")]),
        "/nightscape/scene/stop",
        "no scene of `spring-festival` is running",
    );
    error_for(
        osc("/nightscape/group/brdge/level", vec![OscType::Float(0.5)]),
        "/nightscape/group/brdge/level",
        "did you mean `bridge`",
    );
    error_for(
        osc("/nightscape/group/bridge/color", vec![s("not-a-colour")]),
        "/nightscape/group/bridge/color",
        "",
    );
    error_for(
        osc("/nightscape/blackout", vec![s("nowhere")]),
        "/nightscape/blackout",
        "matches no fixture",
    );
    error_for(
        osc("/nightscape/launch", vec![]),
        "/nightscape/launch",
        "no such address",
    );
    // Junk: not OSC, truncated, oversized, deep arrays — dropped, no answer.
    let good = osc("/nightscape/master", vec![OscType::Float(0.25)]);
    let mut junk: Vec<Vec<u8>> = vec![
        b"GO\r\n".to_vec(),
        vec![0; 9000],
        b"/a\0\0,[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\0".to_vec(),
    ];
    for cut in [1, 4, 8, good.len() - 1] {
        junk.push(good[..cut].to_vec());
    }
    for j in &junk {
        tx.send_to(j, to).unwrap();
    }
    assert!(recv_osc(&tx, Duration::from_millis(500)).is_none());
    // A stranger (allow lists 10.9.0.0/16 only): ignored, no answer.
    tx.send_to(
        &osc("/nightscape/master", vec![OscType::Float(0.0)]),
        format!("127.0.0.1:{lan}").parse::<SocketAddr>().unwrap(),
    )
    .unwrap();
    assert!(recv_osc(&tx, Duration::from_millis(500)).is_none());
    // The daemon is fine, and nothing above changed a master.
    let st = rig.get("/api/status", ADMIN);
    assert!(
        st["masters"].as_array().unwrap().is_empty(),
        "{}",
        st["masters"]
    );
    tx.send_to(&good, to).unwrap();
    rig.wait_api("/api/status", "the good message applied", |v| {
        v["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "*")
    });
    let _ = (&rig.site, &rig.state);
}
