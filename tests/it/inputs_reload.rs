//! `[[inputs]]` follow hot reload, end to end: the real daemon starts with
//! no OSC input; an OSC input added to the site file and saved opens its
//! socket (a scene started over real UDP shows on the Art-Net wire); a
//! second one on a port this test holds is reported `down` with why while
//! the daemon and the first input carry on; removing them closes their
//! ports (this test can bind them again). Every wait is bounded.

use crate::common;
use crate::osc::{free_udp_port, osc, s, Rig, ADMIN};
use serde_json::Value;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const PROBE: [u8; 3] = [255, 0, 255];

fn osc_input(name: &str, port: u16) -> String {
    format!("[[inputs]]\nname = \"{name}\"\nkind = \"osc\"\nlisten = \"127.0.0.1:{port}\"\n")
}

/// The site file as the daemon started with it, plus `extra`.
fn save_site(rig: &Rig, base: &str, extra: &str) {
    std::fs::write(rig.site.join("site.toml"), format!("{base}\n{extra}")).unwrap();
}

fn input<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
}

#[test]
fn osc_inputs_open_fail_and_close_as_the_site_file_changes() {
    let tmp_port = free_udp_port();
    let rig = Rig::start_with("", &[], |t| t);
    std::fs::write(
        rig.site.join("osc-probe.toml"),
        "name = \"osc-probe\"\nfade_in = \"0s\"\nfade_out = \"0s\"\n[[layers]]\ntarget = \"tower-crown\"\neffect = \"solid\"\ncolor = \"#ff00ff\"\n",
    )
    .unwrap();
    let base = std::fs::read_to_string(rig.site.join("site.toml")).unwrap();
    let v = rig.get("/api/inputs", ADMIN);
    assert!(input(&v, "desk").is_none(), "{v}");

    // Added: the socket opens and a scene start works.
    let port = tmp_port;
    save_site(&rig, &base, &osc_input("desk", port));
    rig.wait_api("/api/inputs", "the OSC input listed", |v| {
        input(v, "desk").is_some_and(|i| i["state"] == "idle" && i["error"].is_null())
    });
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{port}");
    let start = osc("/nightscape/scene/start", vec![s("osc-probe")]);
    tx.send_to(&start, &to).unwrap();
    rig.wait_crown("the scene started over OSC", |d| d == PROBE);

    // A second input on a port someone else holds: reported, not fatal;
    // the first keeps its socket.
    let held = UdpSocket::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    save_site(
        &rig,
        &base,
        &format!(
            "{}\n{}",
            osc_input("desk", port),
            osc_input("taken", held_port)
        ),
    );
    let v = rig.wait_api("/api/inputs", "the taken port reported", |v| {
        input(v, "taken").is_some_and(|i| i["state"] == "down" && i["error"].is_string())
    });
    assert_eq!(input(&v, "desk").unwrap()["state"], "idle", "{v}");
    let stop = osc("/nightscape/scene/stop", vec![s("osc-probe")]);
    tx.send_to(&stop, &to).unwrap();
    rig.wait_crown("the scene stopped over OSC", |d| d != PROBE);

    // Removed: both ports are free again, and the daemon still runs.
    save_site(&rig, &base, "");
    rig.wait_api("/api/inputs", "the OSC inputs gone", |v| {
        input(v, "desk").is_none() && input(v, "taken").is_none()
    });
    common::wait_for(
        "the removed input's port to close",
        Duration::from_secs(10),
        || UdpSocket::bind(("127.0.0.1", port)).is_ok(),
    );
    // Nothing listens there now: a scene start goes nowhere.
    let mine = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    drop(mine);
    tx.send_to(&start, &to).unwrap();
    common::drain(&rig.rx, Duration::from_millis(500));
    let (u, a) = rig.crown;
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        if let Some((pu, _, d)) = common::recv_artdmx(&rig.rx) {
            if pu == u {
                assert_ne!(d.get(a..a + 3), Some(&PROBE[..]), "a closed input acted");
            }
        }
    }
    let st = rig.get("/api/status", ADMIN);
    assert!(st["reload"]["applied"].as_u64().unwrap() >= 3, "{st}");
    drop(held);
}
