//! RDM through an ENTTEC DMX USB Pro, on a real pseudo-terminal: a fake
//! widget holds the pty master with five responders behind it — four with
//! neighbouring UIDs, so discovery meets collisions and must split ranges —
//! answers label 11 (DISC_UNIQUE_BRANCH: silence as label 12, one
//! responder's encoded UID, or the OR of several as a collision would
//! garble the line), label 7 (DISC_UN_MUTE, DISC_MUTE, GETs) with label 5,
//! and `nightscape devices --port` must find all five and read them.
//!
//! Every wait is bounded.

use nightscape_core::wire::enttec::{encode_request, MessageReader};
use nightscape_core::wire::rdm::{self, pid, CommandClass, DeviceInfo, Message, Uid};
use serialport::{SerialPort, TTYPort};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One emulated responder.
#[derive(Debug, Clone)]
pub struct Responder {
    pub uid: Uid,
    pub address: u16,
    pub footprint: u16,
    pub label: String,
    pub lamp_hours: u32,
    /// On the line at all.
    pub present: bool,
    pub muted: bool,
}

/// The widget's line and what it saw, shared with the test.
#[derive(Debug, Default)]
pub struct Emu {
    pub responders: Vec<Responder>,
    pub branches: u64,
    pub collisions: u64,
    /// DISC_UN_MUTE broadcasts (each starts a full discovery).
    pub unmutes: u64,
    /// RDM requests by (PID, destination).
    pub asked: BTreeMap<(u16, Uid), u64>,
    /// Label 6 DMX frames received, and when.
    pub frames: u64,
    pub frame_times: Vec<Instant>,
    /// Slot 1 of the last frame.
    pub last_slot1: u8,
}

impl Emu {
    pub fn new(responders: Vec<Responder>) -> Arc<Mutex<Emu>> {
        Arc::new(Mutex::new(Emu {
            responders,
            ..Emu::default()
        }))
    }

    /// How often `p` was asked of `uid`.
    pub fn asked(&self, p: u16, uid: Uid) -> u64 {
        self.asked.get(&(p, uid)).copied().unwrap_or(0)
    }
}

fn as_u64(u: Uid) -> u64 {
    let b = u.to_bytes();
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn send(master: &mut TTYPort, label: u8, data: &[u8]) {
    let mut out = vec![0u8; data.len() + 8];
    let n = encode_request(label, data, &mut out);
    let _ = master.write_all(&out[..n]);
}

/// Reply `data` to one request as label 5 (status byte 0 first).
fn label5(master: &mut TTYPort, data: &[u8]) {
    let mut payload = vec![0u8];
    payload.extend_from_slice(data);
    send(master, 5, &payload);
}

fn silent(master: &mut TTYPort) {
    send(master, 12, &[]);
}

/// A DMX USB Pro on the pty master: labels 3 and 10 (parameters, serial
/// number) answered, label 6 frames counted, label 11 (DISC_UNIQUE_BRANCH:
/// silence as label 12, one responder's encoded UID, or the OR of several
/// as a collision garbles the line) and label 7 (DISC_UN_MUTE, DISC_MUTE,
/// GETs) answered for the responders in `emu` as label 5.
pub fn widget(mut master: TTYPort, emu: Arc<Mutex<Emu>>, stop: Arc<AtomicBool>) {
    master.set_timeout(Duration::from_millis(20)).unwrap();
    let mut reader = MessageReader::new();
    let mut buf = [0u8; 4096];
    let mut msg = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = match master.read(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        for m in reader.push(&buf[..n]) {
            let mut e = emu.lock().unwrap();
            match m.label {
                3 => send(&mut master, 3, &[0x44, 0x01, 9, 1, 40]),
                10 => send(&mut master, 10, &[0x78, 0x56, 0x34, 0x12]),
                6 => {
                    e.frames += 1;
                    e.frame_times.push(Instant::now());
                    e.last_slot1 = m.data.get(1).copied().unwrap_or(0);
                }
                _ => {}
            }
            let Ok(req) = rdm::decode(&m.data) else {
                continue;
            };
            *e.asked.entry((req.pid, req.dest)).or_default() += 1;
            match m.label {
                11 if req.pid == pid::DISC_UNIQUE_BRANCH && req.data.len() == 12 => {
                    e.branches += 1;
                    let lo = as_u64(Uid::from_bytes(req.data[..6].try_into().unwrap()));
                    let hi = as_u64(Uid::from_bytes(req.data[6..].try_into().unwrap()));
                    let answering: Vec<Uid> = e
                        .responders
                        .iter()
                        .filter(|r| r.present && !r.muted && (lo..=hi).contains(&as_u64(r.uid)))
                        .map(|r| r.uid)
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
                        e.collisions += 1;
                    }
                    label5(&mut master, &line);
                }
                7 => {
                    if req.dest == Uid::BROADCAST {
                        if req.pid == pid::DISC_UN_MUTE {
                            e.unmutes += 1;
                            e.responders.iter_mut().for_each(|r| r.muted = false);
                        }
                        silent(&mut master);
                        continue;
                    }
                    let Some(r) = e
                        .responders
                        .iter_mut()
                        .find(|r| r.uid == req.dest && r.present)
                    else {
                        silent(&mut master);
                        continue;
                    };
                    let mut status = 0u8;
                    let data: Vec<u8> = match (req.class, req.pid) {
                        (CommandClass::Discovery, pid::DISC_MUTE) => {
                            r.muted = true;
                            vec![0, 0]
                        }
                        (CommandClass::Get, pid::DEVICE_INFO) => {
                            let mut pd = Vec::new();
                            DeviceInfo {
                                protocol_version: 0x0100,
                                model_id: 9,
                                product_category: 0x0101,
                                software_version: 1,
                                footprint: r.footprint,
                                personality: 1,
                                personality_count: 1,
                                start_address: r.address,
                                sub_device_count: 0,
                                sensor_count: 0,
                            }
                            .encode(&mut pd);
                            pd
                        }
                        (CommandClass::Get, pid::DEVICE_LABEL) => r.label.clone().into_bytes(),
                        (CommandClass::Get, pid::DEVICE_MODEL_DESCRIPTION) => b"Wash 4".to_vec(),
                        (CommandClass::Get, pid::LAMP_HOURS) => r.lamp_hours.to_be_bytes().to_vec(),
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
}

/// Five responders, four with neighbouring UIDs (so branches collide).
fn five() -> Vec<Responder> {
    let uids = [
        Uid::new(0x1234, 1),
        Uid::new(0x1234, 2),
        Uid::new(0x1234, 3),
        Uid::new(0x1234, 4),
        Uid::new(0x4567, 0x89ab_cdef),
    ];
    uids.iter()
        .enumerate()
        .map(|(i, u)| Responder {
            uid: *u,
            address: 1 + 4 * i as u16,
            footprint: 4,
            label: format!("wash-{}", i + 1),
            lamp_hours: 100 * i as u32,
            present: true,
            muted: false,
        })
        .collect()
}

#[test]
fn devices_port_discovers_five_responders_through_an_enttec_pro_on_a_pty() {
    let (master, slave) = TTYPort::pair().expect("a pty pair");
    let path = slave.name().expect("the slave's path");
    let stop = Arc::new(AtomicBool::new(false));
    let emu = Emu::new(five());
    let (s2, e2) = (stop.clone(), emu.clone());
    let w = std::thread::spawn(move || widget(master, e2, s2));
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
    w.join().unwrap();
    let (branches, collisions) = {
        let e = emu.lock().unwrap();
        (e.branches, e.collisions)
    };
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
