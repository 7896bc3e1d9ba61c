//! Triggers, end to end: the real daemon with `[[triggers]]` on the demo
//! site, set off by each kind the daemon receives here — an HTTP call
//! (`POST /api/triggers/<name>`), an OSC message, a UDP string (ASCII glob
//! and hex), an ArtTrigger on an Art-Net input, timecode (OSC
//! `/nightscape/timecode`) passing a cue, the clock passing a time, the
//! daemon's start — their
//! conditions (mode, time window, a show playing or not, a group's level),
//! the rate limit, the audit entries, the webhook action POST received by
//! a tiny HTTP server here, and the events sent out (`[[notify]]`: a
//! webhook and OSC). What changed is read from the Art-Net frames and the
//! API. MQTT topic matching is tested in the core
//! (`nightscape_core::triggers`). Every wait is bounded.

use crate::osc::{free_udp_port, osc, recv_osc, s, Rig, ADMIN};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

/// A tiny HTTP server: every request's path and JSON body, answered 200
/// (a thread per connection, so one slow client holds up no other).
fn webhook_server() -> (u16, mpsc::Receiver<(String, Value)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(c) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                if let Some(got) = one_request(c) {
                    let _ = tx.send(got);
                }
            });
        }
    });
    (port, rx)
}

/// Read one request (head, then Content-Length bytes of body) and answer 200.
fn one_request(mut c: std::net::TcpStream) -> Option<(String, Value)> {
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, len) = loop {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + len {
        let n = c.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some((path, body))
}

/// The next webhook POST to `path` satisfying `ok` within 10 s.
fn wait_hook(
    rx: &mpsc::Receiver<(String, Value)>,
    path: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((p, b)) if p == path && ok(&b) => return b,
            Ok(other) => seen.push(other),
            Err(_) => panic!("no webhook POST to {path} as expected; saw {seen:?}"),
        }
    }
}

#[test]
fn triggers_fire_on_each_kind_with_conditions_limits_audit_and_events() {
    // What the demo plays at the test's instant: its mode and a show.
    let demo = tempfile::tempdir().unwrap();
    let cfg = nightscape::config::load(&crate::common::demo_site_in(demo.path())).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(crate::osc::AT)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let night = cfg.schedule.night(cfg.schedule.night_of(at));
    let mode = night.mode.clone();
    let other_mode = cfg
        .schedule
        .modes
        .iter()
        .map(|m| m.name.clone())
        .find(|m| *m != mode)
        .unwrap();
    let playing = cfg.schedule.active_at(at)[0].show.clone();
    let later = night
        .entries
        .iter()
        .find(|p| p.start > at)
        .expect("an entry later tonight")
        .show
        .clone();

    let (osc_port, udp_port, notify_port, art_port) = (
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
    );
    let (hook, hooks) = webhook_server();
    let notify_rx = UdpSocket::bind(format!("127.0.0.1:{notify_port}")).unwrap();
    let rig = Rig::start(&format!(
        r##"
[[inputs]]
kind = "osc"
listen = "127.0.0.1:{osc_port}"

[[inputs]]
kind = "udp"
name = "kiosk"
listen = "127.0.0.1:{udp_port}"

[[inputs]]
kind = "artnet"
listen = "127.0.0.1:{art_port}"
universes = "14"

[[triggers]]
name = "art-3-7"
on = {{ art_trigger = 3, sub_key = 7 }}
do = [ {{ master = "bridge", level = 0.6 }} ]

[[triggers]]
name = "bridge-red"
on = {{ http = true }}
do = [ {{ override = "facade", color = "#ff0000", fade = "0s" }}, {{ webhook = "http://127.0.0.1:{hook}/hook", body = {{ text = "bridge red", n = 1 }} }} ]
limit = "30s"

[[triggers]]
name = "cue-blue"
on = {{ osc = "/cue/*/blue" }}
do = [ {{ override = "facade", color = "#0000ff", fade = "0s" }} ]
limit = "0s"

[[triggers]]
name = "kiosk-green"
on = {{ udp = "GREEN*", input = "kiosk" }}
do = [ {{ override = "facade", color = "#00ff00", fade = "0s" }} ]

[[triggers]]
name = "kiosk-release"
on = {{ hex = "02 52 03" }}
do = [ {{ release = "*" }} ]

[[triggers]]
name = "at-start"
on = {{ start = true }}
do = [ {{ master = "trees", level = "40%" }} ]

[[triggers]]
name = "clock"
on = {{ at = "20:00:04" }}
do = [ {{ master = "square", level = 0.3 }} ]

[[triggers]]
name = "cue-10s"
on = {{ timecode = "00:00:10:00" }}
do = [ {{ master = "arcade", level = 0.2 }} ]

[[triggers]]
name = "in-mode"
on = {{ http = true }}
when = {{ mode = "{mode}", between = ["19:00", "21:00"], playing = "{playing}", not_playing = "spring-festival", level = {{ group = "trees", below = "50%" }} }}
do = [ {{ skip = "{later}" }} ]

[[triggers]]
name = "other-mode"
on = {{ http = true }}
when = {{ mode = "{other_mode}" }}
do = [ {{ release = "*" }} ]

[[triggers]]
name = "late"
on = {{ http = true }}
when = {{ between = ["01:00", "02:00"] }}
do = [ {{ release = "*" }} ]

[[triggers]]
name = "festival-playing"
on = {{ http = true }}
when = {{ playing = "spring-festival" }}
do = [ {{ release = "*" }} ]

[[triggers]]
name = "trees-bright"
on = {{ http = true }}
when = {{ level = {{ group = "trees", above = "50%" }} }}
do = [ {{ release = "*" }} ]

[[triggers]]
name = "scene"
on = {{ http = true }}
do = [ {{ start = "spring-festival", for = "10m" }} ]

[[notify]]
webhook = "http://127.0.0.1:{hook}/events"

[[notify]]
osc = "127.0.0.1:{notify_port}"
events = ["scene.started"]
"##
    ));

    // The start trigger ran before anything else.
    rig.wait_api("/api/status", "the start trigger's master", |v| {
        v["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "trees")
    });

    // HTTP: the override on the wire, the webhook action received.
    let (code, body) = rig.post("/api/triggers/bridge-red");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["fired"], true);
    rig.wait_crown("red", |d| d == [255, 0, 0]);
    let b = wait_hook(&hooks, "/hook", |_| true);
    assert_eq!(b, serde_json::json!({ "text": "bridge red", "n": 1 }));
    // Rate limited within its 30 s; an unknown name is a 404 naming the field.
    let (code, body) = rig.post("/api/triggers/bridge-red");
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["field"], "name");
    let (code, body) = rig.post("/api/triggers/bridge-rde");
    assert_eq!(code, 404);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("did you mean `bridge-red`"),
        "{body}"
    );
    // A trigger that is not an HTTP trigger cannot be fired by HTTP.
    assert_eq!(rig.post("/api/triggers/cue-blue").0, 404);

    // OSC (pattern /cue/*/blue), then UDP strings on the kiosk input.
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&osc("/cue/7/blue", vec![]), ("127.0.0.1", osc_port))
        .unwrap();
    rig.wait_crown("blue", |d| d == [0, 0, 255]);
    tx.send_to(b"GREEN please\r\n", ("127.0.0.1", udp_port))
        .unwrap();
    rig.wait_crown("green", |d| d == [0, 255, 0]);
    tx.send_to(&[0x02, 0x52, 0x03], ("127.0.0.1", udp_port))
        .unwrap();
    rig.wait_api("/api/overrides", "released by the hex string", |v| {
        v.as_array()
            .unwrap()
            .iter()
            .all(|o| !o["released_at"].is_null())
    });

    // The clock: 20:00:04 on the daemon's clock (it started at 20:00:00).
    rig.wait_api("/api/status", "the clock trigger's master", |v| {
        v["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "square")
    });

    // ArtTrigger on the Art-Net input: another sub-key does nothing, the
    // trigger's key and sub-key fire it.
    let art = |key: u8, sub_key: u8| {
        let mut buf = [0u8; nightscape_core::wire::artcontrol::TRIGGER_LEN];
        let t = nightscape_core::wire::artcontrol::ArtTrigger {
            oem: 0xffff,
            key,
            sub_key,
            data: b"",
        };
        let n = nightscape_core::wire::artcontrol::encode_trigger(&t, &mut buf);
        tx.send_to(&buf[..n], ("127.0.0.1", art_port)).unwrap();
    };
    art(3, 8);
    std::thread::sleep(Duration::from_millis(300));
    art(3, 7);
    rig.wait_api("/api/status", "the ArtTrigger's master", |v| {
        v["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "bridge")
    });

    // Timecode (sent as OSC /nightscape/timecode) running over a cue.
    for code in ["00:00:09:20", "00:00:09:24", "00:00:10:01"] {
        tx.send_to(
            &osc("/nightscape/timecode", vec![s(code)]),
            ("127.0.0.1", osc_port),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    rig.wait_api("/api/status", "the timecode trigger's master", |v| {
        v["masters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["target"] == "arcade")
    });

    // Conditions: all hold for in-mode (skips the later entry); each other
    // one names what does not hold.
    let (code, body) = rig.post("/api/triggers/in-mode");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["errors"], serde_json::json!([]), "{body}");
    let skips = rig.get("/api/skips", ADMIN);
    assert!(
        skips
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["show"] == later.as_str()),
        "{skips}"
    );
    for (name, says) in [
        ("other-mode", format!("tonight's mode is `{mode}`")),
        ("late", "is outside 01:00–02:00".to_string()),
        (
            "festival-playing",
            "`spring-festival` is not playing".to_string(),
        ),
        ("trees-bright", "group `trees` is at 40%".to_string()),
    ] {
        let (code, body) = rig.post(&format!("/api/triggers/{name}"));
        assert_eq!(code, 409, "{name}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(&says),
            "{name}: {body}"
        );
    }

    // Events out: the scene a trigger starts reaches the webhook and OSC.
    assert_eq!(rig.post("/api/triggers/scene").0, 200);
    // Both events, in whichever order they were posted.
    let (mut started, mut fired) = (None, None);
    while started.is_none() || fired.is_none() {
        let b = wait_hook(&hooks, "/events", |b| {
            b["event"] == "scene.started"
                || (b["event"] == "trigger.fired" && b["trigger"] == "scene")
        });
        if b["event"] == "scene.started" {
            started = Some(b);
        } else {
            fired = Some(b);
        }
    }
    assert_eq!(started.unwrap()["show"], "spring-festival");
    assert!(fired.unwrap()["at"].is_string());
    let m = recv_osc(&notify_rx, Duration::from_secs(5)).expect("an OSC event");
    assert_eq!(m.addr, "/nightscape/event/scene/started");
    assert_eq!(m.args, vec![s("spring-festival")]);

    // The list: when each fired, what was refused.
    let list = rig.get("/api/triggers", ADMIN);
    let by = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n} not listed in {list}"))
            .clone()
    };
    for n in [
        "bridge-red",
        "cue-blue",
        "kiosk-green",
        "kiosk-release",
        "at-start",
        "clock",
        "cue-10s",
        "art-3-7",
        "in-mode",
        "scene",
    ] {
        assert_eq!(by(n)["fired"], 1, "{n}: {}", by(n));
        assert!(by(n)["last_fired"].is_string(), "{n}");
    }
    assert_eq!(by("bridge-red")["limited"], 1);
    assert_eq!(by("bridge-red")["on"], "http");
    assert_eq!(by("cue-blue")["detail"], "/cue/*/blue");
    assert_eq!(by("kiosk-release")["detail"], "02 52 03");
    assert_eq!(by("late")["fired"], 0);
    assert_eq!(by("late")["not_now"], 1);
    assert!(by("late")["last_fired"].is_null());

    // Audit: the firing and its actions, by the trigger, from the caller.
    let audit = rig.get("/api/audit?limit=200", ADMIN);
    let entries = audit.as_array().unwrap();
    let fire = entries
        .iter()
        .find(|e| e["action"] == "trigger.fire" && e["detail"]["trigger"] == "bridge-red")
        .expect("a trigger.fire entry");
    assert_eq!(fire["actor"], "trigger:bridge-red");
    assert_eq!(fire["detail"]["by"], "control-room");
    assert!(
        fire["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{fire}"
    );
    assert!(entries
        .iter()
        .any(|e| e["action"] == "override.create" && e["actor"] == "trigger:bridge-red"));
    let udp = entries
        .iter()
        .find(|e| e["action"] == "trigger.fire" && e["detail"]["trigger"] == "kiosk-green")
        .expect("the UDP firing");
    assert_eq!(udp["detail"]["by"], "kiosk");
    assert_eq!(udp["remote"], tx.local_addr().unwrap().to_string().as_str());
    assert!(entries
        .iter()
        .any(|e| e["action"] == "schedule.skip" && e["actor"] == "trigger:in-mode"));
}

/// MQTT: a message on the fleet's broker (a real mosquitto) fires the
/// trigger whose topic filter matches; a retained one does not.
#[test]
#[cfg_attr(
    not(feature = "slow-tests"),
    ignore = "slow tier: --features slow-tests"
)]
fn an_mqtt_message_fires_its_trigger() {
    let Some(bin) = crate::common::fleet::mosquitto() else {
        crate::common::skip_unless_ci(
            "an_mqtt_message_fires_its_trigger",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let broker_dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let _broker = crate::common::fleet::Broker::start(&bin, broker_dir.path(), port);
    let mut opts = rumqttc::MqttOptions::new("city-platform", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut conn) = rumqttc::Client::new(opts, 10);
    std::thread::spawn(move || for _ in conn.iter() {});
    // Retained before the daemon connects: delivered to it on subscribing
    // (flagged retained), and not fired (a reconnect would replay it).
    client
        .publish("city/bridge/red", rumqttc::QoS::AtLeastOnce, true, "old")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rig = Rig::start_with(
        &format!(
            r##"
[fleet]
broker = "mqtt://127.0.0.1:{port}"
topic_site = "trigtest"

[[nodes]]
name = "a"
api = "127.0.0.1:0"

[[triggers]]
name = "city-red"
on = {{ mqtt = "city/+/red" }}
do = [ {{ override = "facade", color = "#ff0000", fade = "0s" }} ]
"##
        ),
        &["--node", "a"],
        |t| t.replacen("kind = \"artnet\"", "kind = \"artnet\"\nnode = \"a\"", 1),
    );
    let fired = |rig: &Rig| {
        rig.get("/api/triggers", ADMIN)
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "city-red")
            .unwrap()["fired"]
            .as_u64()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fired(&rig), 0, "a retained message fired the trigger");
    // The daemon subscribes once connected; publish until it fires.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fired(&rig) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the MQTT trigger never fired"
        );
        client
            .publish("city/bridge/red", rumqttc::QoS::AtLeastOnce, false, "now")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    rig.wait_crown("red", |d| d == [255, 0, 0]);
    let audit = rig.get("/api/audit?limit=50", ADMIN);
    let fire = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "trigger.fire" && e["detail"]["trigger"] == "city-red")
        .expect("the MQTT firing audited");
    assert_eq!(fire["detail"]["by"], "mqtt");
    assert_eq!(fire["remote"], format!("127.0.0.1:{port}").as_str());
}
