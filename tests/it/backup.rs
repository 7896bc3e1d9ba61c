//! `nightscape backup` / `restore` with a real daemon and real SQLite: an
//! operator's override and its audit entry, and the site version the node
//! runs, are backed up while the daemon runs (online backup); restore is
//! refused under the running daemon and over an existing database, and
//! into a fresh folder gives the same overrides and audit rows, the key,
//! and a site version that a daemon started from `sites/current/site`
//! runs with the override in force.

use crate::common;
use crate::common::fleet::{agent, get, AT, OPERATOR};
use crate::common::wait_until;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn nightscape(args: &[&str], paths: &[&Path]) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightscape"));
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    let out = c.env("RUST_LOG", "error").output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn rows(db: &Path, table: &str) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut s = c
        .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
        .unwrap();
    let n = s.column_count();
    s.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                v => format!("{v:?}"),
            })
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// A daemon on `site` and `state` (its log beside the state folder), and its API.
fn start(site: &Path, state: &Path) -> (common::Daemon, String) {
    let log = state.with_extension("log");
    let child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(site)
        .args([
            "--clock",
            AT,
            "--speed",
            "0",
            "--no-output",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(state)
        .env("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = common::Daemon(child);
    let addr = state.join("api.addr");
    assert!(
        wait_until(Duration::from_secs(20), || addr.is_file()).is_some(),
        "the daemon did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    (daemon, common::api_base(state))
}

#[test]
fn backup_of_a_running_node_restores_its_overrides_audit_key_and_site_version() {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    let state = tmp.path().join("var");
    std::fs::create_dir_all(&state).unwrap();
    // The node runs a pushed version (stored as a push stores it).
    std::fs::write(
        site.join("restored-show.toml"),
        "name = \"restored-show\"\n\n[[layers]]\ntarget = \"avenue\"\neffect = \"solid\"\ncolor = \"#203040\"\n",
    )
    .unwrap();
    let packed = nightscape::rollout::bundle::pack(&site).unwrap();
    let header = nightscape::rollout::BundleHeader {
        id: nightscape::rollout::VersionId {
            version: 4,
            hash: nightscape::rollout::bundle::sha256_hex(&packed.archive),
        },
        site_dir: packed.site_dir.clone(),
        bytes: packed.archive.len() as u64,
        files: packed.files as u32,
        site: "demo".into(),
        created: chrono::Utc::now(),
    };
    let current =
        nightscape::rollout::install_restored(&state, &header, &packed.archive, 77).unwrap();
    let (ok, key) = nightscape(&["fleet", "key", "--state"], &[&state]);
    assert!(ok, "{key}");

    let (_daemon, base) = start(&current, &state);
    let agent = agent();
    let r = agent
        .post(format!("{base}/api/overrides"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"target": "tower-crown", "color": "#00ff7f", "fade": 0, "ttl": "10h"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    // Backed up while the daemon runs.
    let out = tmp.path().join("node-a.nsbackup");
    let (ok, text) = nightscape(&["backup", "--state"], &[&state]);
    assert!(!ok, "--out is required: {text}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightscape"));
    let o = c
        .args(["backup", "--state"])
        .arg(&state)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("site version v4"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds the node's key");
    }

    // Not under a running daemon.
    let restore = |to: &Path, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nightscape"));
        c.args(["restore", "--state"])
            .arg(to)
            .arg("--from")
            .arg(&out)
            .args(extra);
        let o = c.output().unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (ok, text) = restore(&state, &["--force"]);
    assert!(
        !ok && text.contains("in use by another nightscape"),
        "{text}"
    );

    // Into a fresh folder: the same rows, key and site.
    let fresh = tmp.path().join("replacement");
    let (ok, text) = restore(&fresh, &[]);
    assert!(ok, "{text}");
    // The daemon's database, by the name an operator finds in the state folder.
    let db = "nightscape.sqlite3";
    for table in ["overrides", "audit"] {
        let (before, after) = (rows(&state.join(db), table), rows(&fresh.join(db), table));
        assert!(!before.is_empty(), "{table} is empty before the backup");
        assert_eq!(before, after, "{table}");
    }
    assert!(rows(&fresh.join(db), "overrides")
        .concat()
        .contains("00ff7f"));
    let (ok, key2) = nightscape(&["fleet", "key", "--state"], &[&fresh]);
    assert!(ok);
    assert_eq!(key, key2, "the replacement keeps the node's key");
    // Again over it: refused without --force.
    let (ok, text) = restore(&fresh, &[]);
    assert!(!ok && text.contains("already holds"), "{text}");

    // A daemon on the restored folder runs the version with the override.
    let site2 = fresh.join("sites/current/site");
    assert!(site2.join("restored-show.toml").is_file());
    let (_d2, base2) = start(&site2, &fresh);
    assert!(wait_until(Duration::from_secs(20), || {
        get(&agent, &format!("{base2}/api/overrides"))
            .is_some_and(|v| v.to_string().contains("#00ff7f"))
            && get(&agent, &format!("{base2}/api/shows"))
                .is_some_and(|v| v.to_string().contains("restored-show"))
    })
    .is_some());

    // A damaged file is refused, nothing written.
    let bad = tmp.path().join("bad.nsbackup");
    let mut bytes = std::fs::read(&out).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, bytes).unwrap();
    let empty = tmp.path().join("empty");
    let (ok, text) = nightscape(&["restore", "--from"], &[&bad]);
    assert!(!ok, "{text}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightscape"));
    let o = c
        .args(["restore", "--state"])
        .arg(&empty)
        .arg("--from")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a nightscape backup"));
    assert!(!empty.join(db).exists());
}
