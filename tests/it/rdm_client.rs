//! `nightscape devices` against a scripted Art-Net node on 127.0.0.1: a
//! table of devices in two ArtTodData blocks, ACK_TIMER (asked again after
//! the time), ACK_OVERFLOW (parts joined), NACKs (unknown PID: field
//! absent; hardware fault: reported as unanswered), a sensor beyond its
//! normal range, a malformed reply that must not crash anything, and the
//! patch check against the demo site (matched, mismatched with a fix,
//! unmatched, missing).

use crate::common::demo_site_in;
use nightscape_core::wire::artnet::{
    encode_artrdm, encode_tod_data, parse_artrdm, parse_tod_request, TodData, TOD_FULL,
};
use nightscape_core::wire::rdm::{self, pid, CommandClass, DeviceInfo, Message, Uid};
use serde_json::Value;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const A: Uid = Uid::new(0x1234, 0x0000_0001); // at 3.201, 10 channels: matches searchlight-north
const B: Uid = Uid::new(0x1234, 0x0000_0002); // labelled searchlight-south, at 300: wrong address
const C: Uid = Uid::new(0x1234, 0x0000_0003); // at 3.500: in no fixture

fn info(address: u16, footprint: u16, sensors: u8) -> Vec<u8> {
    let mut pd = Vec::new();
    DeviceInfo {
        protocol_version: 0x0100,
        model_id: 7,
        product_category: 0x0101,
        software_version: 1,
        footprint,
        personality: 1,
        personality_count: 1,
        start_address: address,
        sub_device_count: 0,
        sensor_count: sensors,
    }
    .encode(&mut pd);
    pd
}

/// The scripted node: answers until `stop`.
fn fake_node(sock: UdpSocket, stop: Arc<AtomicBool>) {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    let mut msg = Vec::new();
    let mut lamp_timer_sent = false;
    let mut overflow_sent = false;
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Ok(pas) = parse_tod_request(&buf[..n]) {
            assert_eq!(pas, vec![3]);
            // Junk first: a malformed ArtTodData must be ignored.
            sock.send_to(b"Art-Net\0\x00\x81\x00", from).unwrap();
            for (block, uids) in [(0u8, vec![A, B]), (1, vec![C])] {
                let t = TodData {
                    rdm_version: 1,
                    port: 1,
                    bind_index: 1,
                    port_address: 3,
                    command_response: TOD_FULL,
                    uid_total: 3,
                    block,
                    uids,
                };
                encode_tod_data(&t, &mut out);
                sock.send_to(&out, from).unwrap();
            }
            continue;
        }
        let Ok((pa, body)) = parse_artrdm(&buf[..n]) else {
            continue;
        };
        assert_eq!(pa, 3);
        let req = rdm::decode(body).unwrap();
        assert_eq!(req.class, CommandClass::Get);
        let mut status = 0u8; // ACK
        let data: Vec<u8> = match (req.dest, req.pid) {
            (A, pid::DEVICE_INFO) => info(201, 10, 1),
            (A, pid::DEVICE_LABEL) => b"searchlight-north".to_vec(),
            (A, pid::MANUFACTURER_LABEL) => b"Test Co".to_vec(),
            (A, pid::DMX_START_ADDRESS) => 201u16.to_be_bytes().to_vec(),
            (A, pid::LAMP_HOURS) if !lamp_timer_sent => {
                lamp_timer_sent = true;
                status = 1; // ACK_TIMER: ask again in 0.2 s
                vec![0, 2]
            }
            (A, pid::LAMP_HOURS) => 1234u32.to_be_bytes().to_vec(),
            (A, pid::STATUS_MESSAGES) if !overflow_sent => {
                overflow_sent = true;
                status = 3; // ACK_OVERFLOW: first part
                vec![0, 0, 3, 0, 0x10, 0, 1, 0, 2]
            }
            (A, pid::STATUS_MESSAGES) => vec![0, 0, 4, 0, 0x11, 0, 3, 0, 4],
            (A, pid::SENSOR_DEFINITION) => {
                let mut d = vec![0, 0, 1, 0, 0xff, 0xd8, 0, 150, 0, 10, 0, 60, 0];
                d.extend_from_slice(b"LED board");
                d
            }
            (A, pid::SENSOR_VALUE) => vec![0, 0, 85, 0, 0, 0, 0, 0, 0],
            (B, pid::DEVICE_INFO) => info(300, 10, 0),
            (B, pid::DEVICE_LABEL) => b"searchlight-south".to_vec(),
            (C, pid::DEVICE_INFO) => {
                // A reply with a broken checksum first: must be ignored
                // (the client waits and asks again).
                let m = Message {
                    dest: req.src,
                    src: C,
                    transaction: req.transaction,
                    port_or_response: 0,
                    message_count: 0,
                    sub_device: 0,
                    class: CommandClass::GetResponse,
                    pid: req.pid,
                    data: &info(500, 4, 0),
                };
                rdm::encode(&m, &mut msg).unwrap();
                let last = msg.len() - 1;
                msg[last] ^= 0xff;
                encode_artrdm(3, &msg, &mut out);
                sock.send_to(&out, from).unwrap();
                info(500, 4, 0)
            }
            (C, pid::LAMP_HOURS) => {
                status = 2;
                vec![0, 2] // NACK hardware fault
            }
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
            class: CommandClass::GetResponse,
            pid: req.pid,
            data: &data,
        };
        rdm::encode(&m, &mut msg).unwrap();
        encode_artrdm(3, &msg, &mut out);
        sock.send_to(&out, from).unwrap();
    }
}

#[test]
fn devices_reads_a_scripted_node_and_checks_the_patch() {
    let dir = tempfile::tempdir().unwrap();
    let site = demo_site_in(dir.path());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let node = std::thread::spawn(move || fake_node(sock, s2));
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .arg("--site")
        .arg(&site)
        .args(["devices", "--universe", "3", "--target"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "1s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    node.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Patch problems exist, so exit 1 — but the listing is complete.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let devices = v["devices"].as_array().unwrap();
    let uids: Vec<&str> = devices.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(uids, ["1234:00000001", "1234:00000002", "1234:00000003"]);
    let a = &devices[0];
    assert_eq!(a["universe"], 3);
    assert_eq!(a["dmx_address"], 201);
    assert_eq!(a["footprint"], 10);
    assert_eq!(a["manufacturer"], "Test Co");
    assert_eq!(a["lamp_hours"], 1234, "ACK_TIMER followed: {a}");
    assert!(a.get("model").is_none(), "NACK unknown PID: field absent");
    assert!(a.get("unanswered").is_none(), "{a}");
    let status = a["status"].as_array().unwrap();
    assert_eq!(status.len(), 2, "ACK_OVERFLOW parts joined: {a}");
    assert_eq!(status[0]["severity"], "warning");
    assert_eq!(status[1]["severity"], "error");
    let sensor = &a["sensors"][0];
    assert_eq!(sensor["name"], "LED board");
    assert_eq!(sensor["value"], 85);
    assert_eq!(sensor["unit"], "°C");
    assert_eq!(sensor["normal"], serde_json::json!([10, 60]));
    let c = &devices[2];
    assert_eq!(c["dmx_address"], 500, "the bad-checksum reply was skipped");
    assert_eq!(c["unanswered"], serde_json::json!(["LAMP_HOURS"]));

    let patch = v["patch"].as_array().unwrap();
    let find = |uid: &str| patch.iter().find(|p| p["uid"] == uid).unwrap();
    assert_eq!(find("1234:00000001")["state"], "matched");
    assert_eq!(find("1234:00000001")["fixture"], "searchlight-north");
    let b = find("1234:00000002");
    assert_eq!(b["state"], "mismatched");
    assert_eq!(b["fixture"], "searchlight-south");
    assert!(
        b["fix"]
            .as_str()
            .unwrap()
            .contains("set its DMX start address to 211"),
        "{b}"
    );
    assert_eq!(find("1234:00000003")["state"], "unmatched");
    // Everything else patched on universe 3 did not answer.
    assert!(patch.iter().any(|p| p["state"] == "missing"));
    assert!(!patch
        .iter()
        .any(|p| p["state"] == "missing" && p["fixture"] == "searchlight-north"));
}
