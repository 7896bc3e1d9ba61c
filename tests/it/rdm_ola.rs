//! End to end: `nightscape devices` against an independent RDM
//! implementation, OLA's `olad` running as an Art-Net node with its dummy
//! plugin's six RDM responders (`../shared/peers/ola-rdm-node.sh`: olad in
//! a private network namespace at 10.77.0.2, our command at 10.77.0.1).
//!
//! Needs root (network namespaces), `olad` and the peers script (found at
//! `$NIGHTSCAPE_PEERS/ola-rdm-node.sh`, else `../shared/peers/` beside the
//! repository). Without them it is skipped with a loud message, except in
//! CI (`CI=true`), where it fails.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn script() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTSCAPE_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peers"));
    let s = dir.join("ola-rdm-node.sh");
    s.exists().then_some(s)
}

/// Why this machine cannot run the test, if it cannot.
fn missing() -> Option<String> {
    if Command::new("olad").arg("--version").output().is_err() {
        return Some("`olad` is not installed (apt-get install ola)".into());
    }
    if script().is_none() {
        return Some("ola-rdm-node.sh not found (set NIGHTSCAPE_PEERS)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok();
    if uid.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return Some("needs root for its network namespaces".into());
    }
    None
}

fn skip_or_fail(name: &str) -> bool {
    match missing() {
        Some(why) => {
            crate::common::skip_unless_ci(name, &why);
            true
        }
        None => false,
    }
}

#[test]
fn devices_finds_olas_six_responders_with_info_and_sensors() {
    if skip_or_fail("devices_finds_olas_six_responders_with_info_and_sensors") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(script().unwrap())
        .current_dir(dir.path())
        .args(["-u", "1", "-t", "40", "--"])
        .arg(env!("CARGO_BIN_EXE_nightscape"))
        .args([
            "devices",
            "--target",
            "10.77.0.2",
            "--universe",
            "1",
            "--listen",
            "10.77.0.1:6454",
            "--timeout",
            "3s",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rc {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let devices = v["devices"].as_array().unwrap();
    let uids: Vec<&str> = devices.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(
        uids,
        [
            "7a70:ffffff00",
            "7a70:ffffff01",
            "7a70:ffffff02",
            "7a70:ffffff03",
            "7a70:ffffff04",
            "7a70:ffffff05"
        ],
        "{stdout}"
    );
    for d in devices {
        assert_eq!(d["universe"], 1);
        assert_eq!(d["manufacturer"], "Open Lighting Project", "{d}");
        assert!(d["model"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        assert!(d["label"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        assert!(d["software"].as_str().is_some(), "{d}");
        assert!(d["footprint"].is_u64(), "{d}");
        assert!(d.get("unanswered").is_none(), "every GET answered: {d}");
    }
    let by = |uid: &str| devices.iter().find(|d| d["uid"] == uid).unwrap();
    // The dummy device: address 1, 5 channels, personality 2 of 4, three
    // load-average sensors.
    let dummy = by("7a70:ffffff00");
    assert_eq!(dummy["model"], "Dummy Model");
    assert_eq!(dummy["dmx_address"], 1);
    assert_eq!(dummy["footprint"], 5);
    assert_eq!(dummy["personality"]["count"], 4);
    assert_eq!(dummy["sensors"].as_array().unwrap().len(), 3);
    // Moving lights support the lamp and hours PIDs.
    let ml = by("7a70:ffffff02");
    assert_eq!(ml["model"], "OLA Moving Light");
    assert_eq!(ml["footprint"], 17);
    assert_eq!(ml["lamp_state"], "on");
    assert!(
        ml["lamp_hours"].is_u64() && ml["device_hours"].is_u64(),
        "{ml}"
    );
    // The dimmer has no lamp: those PIDs are NACKed and simply absent.
    let dim = by("7a70:ffffff01");
    assert!(dim.get("lamp_hours").is_none(), "{dim}");
    // The sensor device: a temperature in °C with its normal range, a
    // voltage with prefix and unit, and a value for each.
    let sd = by("7a70:ffffff05");
    assert_eq!(sd["model"], "OLA Sensor Device");
    let sensors = sd["sensors"].as_array().unwrap();
    assert!(sensors.len() >= 3, "{sd}");
    let temp = sensors
        .iter()
        .find(|s| s["name"] == "Fake Temperature")
        .unwrap();
    assert_eq!(temp["unit"], "°C");
    assert_eq!(temp["normal"], serde_json::json!([10, 20]));
    assert!(temp["value"].is_i64(), "{temp}");
    let volt = sensors
        .iter()
        .find(|s| s["name"] == "Fake Voltage")
        .unwrap();
    assert_eq!(volt["unit"], "dV DC");
    for s in sensors {
        assert!(s["value"].is_i64(), "every sensor has a value: {s}");
    }
}
