//! `nightscape backup --state DIR --out FILE` and `nightscape restore
//! --state DIR --from FILE`: a replaced controller back in minutes.
//!
//! A backup holds the operator state database and the energy record, each
//! copied with SQLite's online backup API (a consistent copy while the
//! daemon keeps writing: WAL and all), the node's key and sACN CID (the
//! replacement keeps the identity the site lists and receivers know), and
//! the site version the node runs (its bundle, as pushed). It is one
//! archive in the rollout bundle's format (sorted, length-prefixed, paths
//! checked), written 0600 since it holds the node's secret key.
//!
//! Restore takes the state folder's lock first, so it can never write
//! under a running daemon; it refuses to replace an existing state
//! database without `--force`, writes only the names it knows (whatever
//! else a backup file holds is ignored), checks each database before
//! moving it into place, and removes the old database's WAL files so
//! none is replayed onto the restored copy.

use crate::rollout::{self, bundle, BundleHeader};
use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct BackupArgs {
    /// The state folder to back up (the daemon may be running).
    #[arg(long)]
    pub state: PathBuf,
    /// The backup file to write (mode 0600: it holds the node's key).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The state folder to restore into (no daemon may be running on it).
    #[arg(long)]
    pub state: PathBuf,
    /// The backup file made by `nightscape backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace the operator state database (and key) already there.
    #[arg(long)]
    pub force: bool,
}

/// The largest backup file read (1 GiB).
const MAX_BACKUP_BYTES: u64 = 1024 * 1024 * 1024;

/// The SQLite files of a state folder, as they are named in it and in a backup.
const DATABASES: &[&str] = &[crate::store::DB_FILE, crate::energy::store::DB_FILE];
/// Small files copied as they are.
const FILES: &[&str] = &["node.key", crate::output::sacn::CID_FILE];

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created: chrono::DateTime<chrono::Utc>,
    /// The state folder it was made from.
    from: String,
    databases: Vec<String>,
    files: Vec<String>,
    site: Option<SiteVersion>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SiteVersion {
    header: BundleHeader,
    seq: u64,
}

pub fn backup(args: &BackupArgs) -> Result<i32> {
    let state = &args.state;
    if !state.join(crate::store::DB_FILE).is_file() {
        eprintln!(
            "{}: no operator state database ({}) here: is --state the daemon's state folder?",
            state.display(),
            crate::store::DB_FILE
        );
        return Ok(1);
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Manifest {
        format: 1,
        created: chrono::Utc::now(),
        from: state.display().to_string(),
        databases: Vec::new(),
        files: Vec::new(),
        site: None,
    };
    let work = tempfile_dir(args.out.parent().unwrap_or(Path::new(".")))?;
    for name in DATABASES {
        let src = state.join(name);
        if !src.is_file() {
            continue;
        }
        let copy = work.join(name);
        online_copy(&src, &copy).with_context(|| format!("backing up {}", src.display()))?;
        let bytes = std::fs::read(&copy)?;
        println!("{name}: {}", describe_db(&copy));
        files.push((format!("state/{name}"), bytes));
        manifest.databases.push(name.to_string());
    }
    for name in FILES {
        if let Ok(bytes) = crate::config::read_regular(&state.join(name), 1024 * 1024) {
            files.push((format!("state/{name}"), bytes));
            manifest.files.push(name.to_string());
        }
    }
    if let Some(id) = rollout::running_version(state) {
        match rollout::stored_header(state, &id) {
            Some(header) => match rollout::archive_of(state, &header) {
                Ok(archive) => {
                    println!("site version {id}: {} files", header.files);
                    files.push(("site.bundle".into(), archive));
                    manifest.site = Some(SiteVersion {
                        header,
                        seq: rollout::applied_seq(state),
                    });
                }
                Err(e) => eprintln!("warning: site version {id} left out: {e}"),
            },
            None => eprintln!("warning: site version {id} is not stored: left out"),
        }
    } else {
        println!("site: this node runs no pushed version (its --site files are not in the backup)");
    }
    let _ = std::fs::remove_dir_all(&work);
    files.push(("backup.json".into(), serde_json::to_vec_pretty(&manifest)?));
    let archive = bundle::write_archive(&mut files)?;
    write_private(&args.out, &archive)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes; it holds the node's secret key: keep it private)",
        args.out.display(),
        archive.len()
    );
    Ok(0)
}

pub fn restore(args: &RestoreArgs) -> Result<i32> {
    let state = &args.state;
    let bytes = match crate::config::read_regular(&args.from, MAX_BACKUP_BYTES) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", args.from.display());
            return Ok(1);
        }
    };
    let entries = match bundle::entries_of(&bytes) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: not a nightscape backup: {e}", args.from.display());
            return Ok(1);
        }
    };
    let get = |name: &str| entries.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
    let Some(manifest) =
        get("backup.json").and_then(|b| serde_json::from_slice::<Manifest>(b).ok())
    else {
        eprintln!(
            "{}: not a nightscape backup (no backup.json)",
            args.from.display()
        );
        return Ok(1);
    };
    // No daemon may run on the folder while it is restored.
    let _lock = match crate::daemon::lock::lock_state(state) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("not restored: {e}");
            return Ok(1);
        }
    };
    if state.join(crate::store::DB_FILE).exists() && !args.force {
        eprintln!(
            "not restored: {} already holds an operator state database; restore into a new folder, or --force to replace it",
            state.display()
        );
        return Ok(1);
    }
    for name in DATABASES {
        if !manifest.databases.iter().any(|d| d == name) {
            continue;
        }
        let Some(db) = get(&format!("state/{name}")) else {
            eprintln!("not restored: the backup lists {name} but does not hold it");
            return Ok(1);
        };
        let tmp = state.join(format!("{name}.restoring"));
        std::fs::write(&tmp, db)?;
        if let Err(e) = integrity(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("not restored: {name} in the backup is damaged: {e}");
            return Ok(1);
        }
        let dest = state.join(name);
        for side in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(state.join(format!("{name}{side}")));
        }
        std::fs::rename(&tmp, &dest)?;
        println!("{name}: {}", describe_db(&dest));
    }
    for name in FILES {
        let Some(b) = get(&format!("state/{name}")) else {
            continue;
        };
        let dest = state.join(name);
        if dest.exists() && !args.force {
            eprintln!(
                "{name}: kept the one already in {} (--force replaces it)",
                state.display()
            );
            continue;
        }
        let _ = std::fs::remove_file(&dest);
        write_private(&dest, b)?;
    }
    if let Some(site) = &manifest.site {
        let Some(archive) = get("site.bundle") else {
            eprintln!(
                "not restored: the backup names site version {} but does not hold it",
                site.header.id
            );
            return Ok(1);
        };
        match rollout::install_restored(state, &site.header, archive, site.seq) {
            Ok(folder) => {
                println!(
                    "site version {} restored; start the node with: nightscape run --site {} --state {} --node NAME",
                    site.header.id,
                    folder.display(),
                    state.display()
                );
            }
            Err(e) => {
                eprintln!("not restored: site version {}: {e}", site.header.id);
                return Ok(1);
            }
        }
    }
    println!(
        "restored {} (made {}) into {}",
        args.from.display(),
        manifest
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        state.display()
    );
    Ok(0)
}

/// Copy a live SQLite database with the online backup API.
fn online_copy(src: &Path, dest: &Path) -> Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let from = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut to = Connection::open(dest)?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to)?;
        b.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
    }
    // One self-contained file: no WAL beside it.
    to.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn integrity(path: &Path) -> Result<(), String> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if ok == "ok" {
        Ok(())
    } else {
        Err(ok)
    }
}

/// Rows per table, for the person making or restoring a backup.
fn describe_db(path: &Path) -> String {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return "unreadable".into();
    };
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    let counts: Vec<String> = tables
        .iter()
        .filter_map(|t| {
            let n: i64 = c
                .query_row(
                    &format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")),
                    [],
                    |r| r.get(0),
                )
                .ok()?;
            Some(format!("{t} {n}"))
        })
        .collect();
    counts.join(", ")
}

/// A fresh work folder beside the output.
fn tempfile_dir(near: &Path) -> Result<PathBuf> {
    let dir = near.join(format!(".nightscape-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Write a file only its owner can read, atomically (a temporary file
/// renamed into place).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}
