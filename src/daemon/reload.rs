//! Hot reload: watch the site folder and the profile library, and when a
//! file changes, load everything again. A complete configuration is
//! switched in at the next frame; a broken one is reported, problem by
//! problem as `path:line:col`, and the last good configuration keeps
//! running.
//!
//! Polling file metadata (mtime and size) once a second is deliberate: it
//! needs no platform watcher, survives editors that replace files, and a
//! second is fast enough for a designer saving a show. Nothing is read or
//! parsed unless a stamp changed (site.toml is read again only to find the
//! profile library when site.toml itself changed), and loading reads only
//! regular files of bounded size, so a FIFO or a device dropped into the
//! folder can never block the watcher or shutdown.

use super::Shared;
use crate::config;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// The profile library's folder, known from site.toml's stamp.
#[derive(Default)]
struct ProfileDir {
    site_stamp: Option<(Option<SystemTime>, u64)>,
    dir: Option<PathBuf>,
}

fn stamp(folder: &Path, profiles: &mut ProfileDir) -> Stamp {
    let site_file = folder.join("site.toml");
    let meta = std::fs::metadata(&site_file).ok();
    let key = meta.map(|m| (m.modified().ok(), m.len()));
    if profiles.site_stamp != key || key.is_none() {
        profiles.site_stamp = key;
        profiles.dir = config::profile_dir_of(&site_file);
    }
    config::site_files_with(folder, profiles.dir.as_deref())
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map(|m| m.len()).unwrap_or(0);
            (p, modified, len)
        })
        .collect()
}

/// Outcome of one reload attempt, for the log and the tests.
#[derive(Debug)]
pub enum Reloaded {
    Switched { warnings: Vec<String> },
    Rejected { problems: Vec<String> },
}

/// Load the folder and switch to it if it is complete.
pub fn reload_now(folder: &Path, shared: &Shared) -> Reloaded {
    let outcome = load_and_switch(folder, shared);
    let mut status = shared.reload.lock().unwrap_or_else(|p| p.into_inner());
    match &outcome {
        Reloaded::Switched { .. } => {
            status.applied += 1;
            status.last_applied = Some(chrono::Utc::now());
        }
        Reloaded::Rejected { problems } => {
            status.rejected += 1;
            status.last_rejected = Some(super::RejectedReload {
                at: chrono::Utc::now(),
                problems: problems.clone(),
            });
        }
    }
    outcome
}

fn load_and_switch(folder: &Path, shared: &Shared) -> Reloaded {
    match config::load(folder) {
        Ok(cfg) => {
            let mut warnings: Vec<String> =
                cfg.warnings.warnings().map(|w| w.to_string()).collect();
            // Outputs own sockets and ports opened at start-up; a changed
            // [[outputs]] only takes effect on restart, so say so.
            if cfg.site.outputs != shared.config().site.outputs {
                warnings.push(format!(
                    "{}: [[outputs]] changed; outputs keep their start-up settings until nightscape restarts",
                    cfg.site.source.path.display()
                ));
            }
            warnings.extend(shared.install_config(cfg));
            Reloaded::Switched { warnings }
        }
        Err(diags) => Reloaded::Rejected {
            problems: diags.items.iter().map(|d| d.to_string()).collect(),
        },
    }
}

/// Watch `folder` until `shared.stop` is set (run on its own thread).
pub fn watch(folder: PathBuf, shared: Shared, interval: Duration) {
    let mut profiles = ProfileDir::default();
    let mut last = stamp(&folder, &mut profiles);
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(interval);
        let now = stamp(&folder, &mut profiles);
        if now == last {
            continue;
        }
        // Let an editor finish writing (several files, or write-then-rename).
        std::thread::sleep(Duration::from_millis(200));
        last = stamp(&folder, &mut profiles);
        // A bug in loading must not end hot reload for the life of the
        // process: contain it, report it, and keep watching.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reload_now(&folder, &shared)
        }));
        let Ok(outcome) = attempt else {
            tracing::error!(folder = %folder.display(), "loading the changed site files failed unexpectedly; still running the last good configuration");
            continue;
        };
        match outcome {
            Reloaded::Switched { warnings } => {
                tracing::info!(folder = %folder.display(), "site files changed: new configuration loaded");
                for w in warnings {
                    tracing::warn!("{w}");
                }
            }
            Reloaded::Rejected { problems } => {
                tracing::error!(
                    folder = %folder.display(),
                    problems = problems.len(),
                    "site files changed but do not load; still running the last good configuration"
                );
                for p in problems {
                    tracing::error!("{p}");
                }
            }
        }
    }
}
