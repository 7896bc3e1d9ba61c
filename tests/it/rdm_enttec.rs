//! RDM through an ENTTEC DMX USB Pro, on a real pseudo-terminal: a fake
//! widget holds the pty master with five responders behind it — four with
//! neighbouring UIDs, so discovery meets collisions and must split ranges —
//! answers label 11 (DISC_UNIQUE_BRANCH: silence as label 12, one
//! responder's encoded UID, or the OR of several as a collision would
//! garble the line), label 7 (DISC_UN_MUTE, DISC_MUTE, GETs) with label 5,
//! and `nightscape devices --port` must find all five and read them.
//!
//! Every wait is bounded.

use nightscape::output::enttec_wire::{encode_request, MessageReader};
use nightscape_core::wire::rdm::{self, pid, CommandClass, DeviceInfo, Message, Uid};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const UIDS: [Uid; 5] = [
    Uid::new(0x1234, 1),
    Uid::new(0x1234, 2),
    Uid::new(0x1234, 3),
    Uid::new(0x1234, 4),
    Uid::new(0x4567, 0x89ab_cdef),
];

fn as_u64(u: Uid) -> u64 {
    let b = u.to_bytes();
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// Reply `data` to one request as label 5 (status byte 0 first).
fn label5(master: &mut TTYPort, data: &[u8]) {
    let mut payload = vec![0u8];
    payload.extend_from_slice(data);
    let mut out = vec![0u8; payload.len() + 8];
    let n = encode_request(5, &payload, &mut out);
    let _ = master.write_all(&out[..n]);
}

fn silent(master: &mut TTYPort) {
    let mut out = [0u8; 8];
    let n = encode_request(12, &[], &mut out);
    let _ = master.write_all(&out[..n]);
}

fn widget(mut master: TTYPort, stop: Arc<AtomicBool>) -> (usize, usize) {
    master.set_timeout(Duration::from_millis(20)).unwrap();
    let mut muted = [false; 5];
    let mut reader = MessageReader::new();
    let mut buf = [0u8; 2048];
    let (mut branches, mut collisions) = (0, 0);
    let mut msg = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = match master.read(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        for m in reader.push(&buf[..n]) {
            let Ok(req) = rdm::decode(&m.data) else {
                continue;
            };
            match m.label {
                11 if req.pid == pid::DISC_UNIQUE_BRANCH && req.data.len() == 12 => {
                    branches += 1;
                    let lo = as_u64(Uid::from_bytes(req.data[..6].try_into().unwrap()));
                    let hi = as_u64(Uid::from_bytes(req.data[6..].try_into().unwrap()));
                    let answering: Vec<Uid> = UIDS
                        .iter()
                        .zip(&muted)
                        .filter(|(u, m)| !**m && (lo..=hi).contains(&as_u64(**u)))
                        .map(|(u, _)| *u)
                        .collect();
                    if answering.is_empty() {
                        silent(&mut master);
                        continue;
                    }
                    // Responders answering at once: their bytes ORed on the line.
                    let mut line = vec![0u8; 24];
                    for u in &answering {
                        let mut one = Vec::new();
                        rdm::encode_discovery_reply(*u, &mut one);
                        for (a, b) in line.iter_mut().zip(&one) {
                            *a |= *b;
                        }
                    }
                    if answering.len() > 1 {
                        collisions += 1;
                    }
                    label5(&mut master, &line);
                }
                7 => {
                    if req.dest == Uid::BROADCAST {
                        if req.pid == pid::DISC_UN_MUTE {
                            muted = [false; 5];
                        }
                        silent(&mut master);
                        continue;
                    }
                    let Some(i) = UIDS.iter().position(|u| *u == req.dest) else {
                        silent(&mut master);
                        continue;
                    };
                    let mut status = 0u8;
                    let data: Vec<u8> = match (req.class, req.pid) {
                        (CommandClass::Discovery, pid::DISC_MUTE) => {
                            muted[i] = true;
                            vec![0, 0]
                        }
                        (CommandClass::Get, pid::DEVICE_INFO) => {
                            let mut pd = Vec::new();
                            DeviceInfo {
                                protocol_version: 0x0100,
                                model_id: 9,
                                product_category: 0x0101,
                                software_version: 1,
                                footprint: 4,
                                personality: 1,
                                personality_count: 1,
                                start_address: 1 + 4 * i as u16,
                                sub_device_count: 0,
                                sensor_count: 0,
                            }
                            .encode(&mut pd);
                            pd
                        }
                        (CommandClass::Get, pid::DEVICE_LABEL) => {
                            format!("wash-{}", i + 1).into_bytes()
                        }
                        (CommandClass::Get, pid::LAMP_HOURS) => {
                            (100 * i as u32).to_be_bytes().to_vec()
                        }
                        _ => {
                            status = 2;
                            vec![0, 0]
                        }
                    };
                    let reply = Message {
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
                    rdm::encode(&reply, &mut msg).unwrap();
                    label5(&mut master, &msg);
                }
                _ => {}
            }
        }
    }
    (branches, collisions)
}

#[test]
fn devices_port_discovers_five_responders_through_an_enttec_pro_on_a_pty() {
    let (master, slave) = TTYPort::pair().expect("a pty pair");
    let path = slave.name().expect("the slave's path");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let w = std::thread::spawn(move || widget(master, s2));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .current_dir(dir.path())
        .args([
            "devices",
            "--port",
            &path,
            "--universe",
            "7",
            "--timeout",
            "1s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let (branches, collisions) = w.join().unwrap();
    drop(slave);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{stderr}\nbranches {branches}, collisions {collisions}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let devices = v["devices"].as_array().unwrap();
    let uids: Vec<&str> = devices.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(
        uids.len(),
        5,
        "branches {branches}, collisions {collisions}: {stdout}\n{stderr}"
    );
    assert_eq!(
        uids,
        [
            "1234:00000001",
            "1234:00000002",
            "1234:00000003",
            "1234:00000004",
            "4567:89abcdef"
        ]
    );
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d["universe"], 7);
        assert_eq!(d["dmx_address"], 1 + 4 * i);
        assert_eq!(d["footprint"], 4);
        assert_eq!(d["label"], format!("wash-{}", i + 1));
        assert_eq!(d["lamp_hours"], 100 * i);
    }
    assert!(collisions > 0, "the test must make discovery split ranges");
    assert!(branches < 2000, "discovery took {branches} branches");
}
