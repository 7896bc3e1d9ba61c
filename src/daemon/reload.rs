//! Hot reload: watch the site folder, the profile library and the media
//! files the shows name, and when a file changes, load everything again. A complete configuration is
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
//!
//! Loading runs off the watcher, one generation per edit: a newer edit
//! starts loading at once, even while an older one is still being judged,
//! and whatever finishes after a newer edit was seen is dropped, so the
//! next good edit applies within seconds whatever the one before it held.

use super::Shared;
use crate::config;
use nightscape_core::diag::Diagnostics;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// The media files and frame folders the shows' media layers name (as the
/// newest load asked for them, [`config::media_files`]), stamped: a
/// replaced `fireworks.gif` reloads the site like an edited show.
fn media_stamp(folder: &Path) -> Stamp {
    config::media_files(folder)
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map(|m| m.len()).unwrap_or(0);
            (p, modified, len)
        })
        .collect()
}

/// Whether a media file changed between two stamps: one both hold, with
/// another time or size (a file in only one of them is a show naming
/// another file, which that show's own edit already reloaded). Both are
/// sorted by path.
fn media_changed(before: &Stamp, now: &Stamp) -> bool {
    now.iter().any(|(p, m, l)| {
        before
            .binary_search_by(|(q, _, _)| q.cmp(p))
            .is_ok_and(|i| (before[i].1, before[i].2) != (*m, *l))
    })
}

/// Outcome of one reload attempt, for the log and the tests.
#[derive(Debug)]
pub enum Reloaded {
    Switched { warnings: Vec<String> },
    Rejected { problems: Vec<String> },
}

/// Load the folder and switch to it if it is complete.
pub fn reload_now(folder: &Path, shared: &Shared) -> Reloaded {
    record(shared, apply(config::load(folder), shared))
}

/// Switch to a configuration loaded ahead of time (a site version pushed
/// over the fleet, switched at its instant: `rollout`), counted in the
/// same record as an edit of the folder.
pub fn switch_to(cfg: config::Config, shared: &Shared) -> Reloaded {
    record(shared, apply(Ok(cfg), shared))
}

/// Count an outcome in hot reload's record (`/api/status`).
fn record(shared: &Shared, outcome: Reloaded) -> Reloaded {
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

/// Switch to a loaded configuration if it is complete.
fn apply(loaded: Result<config::Config, Diagnostics>, shared: &Shared) -> Reloaded {
    match loaded {
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

/// The loads the watcher started: each edit gets the next generation, and
/// only the newest generation's outcome is applied or recorded.
#[derive(Default)]
struct Loads {
    /// The newest edit's generation.
    latest: AtomicU64,
    /// Generations being loaded now (at most [`MAX_LOADS`]) and the newest
    /// one loaded; the lock under which an outcome is checked against
    /// `latest` and applied, so an older load can never replace a newer
    /// configuration.
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    loading: Vec<u64>,
    /// The newest generation whose load ended (applied or rejected).
    done: u64,
}

/// Loads at once: the newest edit's, and an older one still finishing
/// (loading cannot be interrupted half way, but its work is bounded by the
/// reader's limits). A third edit meanwhile is loaded by whichever
/// finishes first.
const MAX_LOADS: usize = 2;

/// Watch `folder` until `shared.stop` is set (run on its own thread).
///
/// Loading runs off this thread, one generation per edit: a newer edit
/// starts its own load at once instead of waiting for one in progress (a
/// hostile file being judged), and a load that finishes after a newer edit
/// was seen is dropped, never applied or recorded.
pub fn watch(folder: PathBuf, shared: Shared, interval: Duration) {
    let loads = Arc::new(Loads::default());
    let loader: Loader = Arc::new(config::load);
    let mut profiles = ProfileDir::default();
    let mut last = stamp(&folder, &mut profiles);
    let mut last_media = media_stamp(&folder);
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(interval);
        let now = stamp(&folder, &mut profiles);
        let media = media_stamp(&folder);
        let media_edited = media_changed(&last_media, &media);
        last_media = media;
        if now == last && !media_edited {
            continue;
        }
        // Let an editor finish writing (several files, or write-then-rename).
        std::thread::sleep(Duration::from_millis(200));
        last = stamp(&folder, &mut profiles);
        last_media = media_stamp(&folder);
        start(&loads, &folder, &shared, &loader);
    }
}

/// How a generation is loaded (the daemon: [`config::load`]; tests: slow
/// or failing loads on purpose).
type Loader = Arc<dyn Fn(&Path) -> Result<config::Config, Diagnostics> + Send + Sync>;

/// A new edit: the next generation, loaded on a thread of its own unless
/// [`MAX_LOADS`] are running (then the first to finish loads it).
fn start(loads: &Arc<Loads>, folder: &Path, shared: &Shared, loader: &Loader) {
    // Counted under the lock the loads check it under.
    let mut running = lock(&loads.running);
    let generation = loads.latest.fetch_add(1, Ordering::SeqCst) + 1;
    if running.loading.len() >= MAX_LOADS {
        return;
    }
    running.loading.push(generation);
    drop(running);
    let (f, s, l, load) = (
        folder.to_path_buf(),
        shared.clone(),
        loads.clone(),
        loader.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || load_generations(&f, &s, &l, &load, generation));
    if let Err(e) = spawned {
        tracing::error!("cannot start loading the changed site files: {e}");
        lock(&loads.running).loading.retain(|g| *g != generation);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Load `generation`, apply it if it is still the newest edit, then load
/// the newest edit if no load has it.
fn load_generations(
    folder: &Path,
    shared: &Shared,
    loads: &Loads,
    loader: &Loader,
    mut generation: u64,
) {
    loop {
        // A bug in loading must not end hot reload for the life of the
        // process: contain it, report it, and keep watching.
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loader(folder)));
        let mut running = lock(&loads.running);
        let newest = loads.latest.load(Ordering::SeqCst);
        match loaded {
            Err(_) => {
                tracing::error!(folder = %folder.display(), "loading the changed site files failed unexpectedly; still running the last good configuration");
            }
            Ok(_) if generation != newest => {
                tracing::info!(
                    folder = %folder.display(),
                    "a newer edit arrived while the site files were loading: that load is dropped"
                );
            }
            // Applied under the lock: no other load can apply between the
            // check and the switch.
            Ok(result) => log(folder, record(shared, apply(result, shared))),
        }
        // The newest edit has had its load, whatever came of it (a load
        // that panics is not tried again until the next edit).
        if generation == newest {
            running.done = generation;
        }
        running.loading.retain(|g| *g != generation);
        // An edit that arrived while every load slot was taken: nobody has
        // loaded it or is loading it.
        if newest > running.done
            && !running.loading.contains(&newest)
            && !shared.stop.load(Ordering::Relaxed)
        {
            generation = newest;
            running.loading.push(generation);
            continue;
        }
        return;
    }
}

fn log(folder: &Path, outcome: Reloaded) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    fn demo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")
    }

    /// A loader whose n-th call (from 1) waits `slow[n - 1]` and is
    /// rejected, or, past the list, loads the demo site at once.
    fn loader(slow: &'static [u64], calls: Arc<AtomicUsize>) -> Loader {
        Arc::new(move |folder: &Path| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            match slow.get(n) {
                Some(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    let mut d = Diagnostics::new();
                    d.file_error(folder, format!("hostile edit {}", n + 1));
                    Err(d)
                }
                None => config::load(folder),
            }
        })
    }

    fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
        let deadline = Instant::now() + within;
        while !done() {
            assert!(Instant::now() < deadline, "{what} within {within:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn status(shared: &Shared) -> (u64, u64) {
        let r = lock(&shared.reload);
        (r.applied, r.rejected)
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn a_newer_edit_applies_while_an_older_one_is_still_loading_and_the_older_is_dropped() {
        let cfg = config::load(&demo()).unwrap();
        let first = cfg.generation;
        let shared = Shared::new(cfg, crate::clock::Clock::System);
        let loads = Arc::new(Loads::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let load = loader(&[3000], calls.clone());
        start(&loads, &demo(), &shared, &load);
        wait_for("the hostile load started", Duration::from_secs(5), || {
            calls.load(Ordering::SeqCst) == 1
        });
        let edited = Instant::now();
        start(&loads, &demo(), &shared, &load);
        wait_for("the good edit applied", Duration::from_secs(2), || {
            status(&shared) == (1, 0)
        });
        assert!(edited.elapsed() < Duration::from_millis(2500));
        let good = shared.config().generation;
        assert_ne!(good, first);
        // The hostile load ends later: dropped, neither applied nor
        // recorded as the newest edit's rejection.
        wait_for("the hostile load ended", Duration::from_secs(10), || {
            lock(&loads.running).loading.is_empty()
        });
        assert_eq!(status(&shared), (1, 0));
        assert_eq!(shared.config().generation, good);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn an_edit_while_both_loads_run_is_loaded_by_the_first_to_finish() {
        let cfg = config::load(&demo()).unwrap();
        let shared = Shared::new(cfg, crate::clock::Clock::System);
        let loads = Arc::new(Loads::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let load = loader(&[800, 1600], calls.clone());
        for _ in 0..2 {
            start(&loads, &demo(), &shared, &load);
        }
        wait_for("both loads started", Duration::from_secs(5), || {
            calls.load(Ordering::SeqCst) == 2
        });
        // Two more edits while both slots are taken: only the newest is
        // loaded, once, by the first load to finish.
        start(&loads, &demo(), &shared, &load);
        start(&loads, &demo(), &shared, &load);
        assert_eq!(lock(&loads.running).loading.len(), MAX_LOADS);
        wait_for("every load ended", Duration::from_secs(20), || {
            lock(&loads.running).loading.is_empty()
        });
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(status(&shared), (1, 0));
        assert_eq!(loads.latest.load(Ordering::SeqCst), 4);
    }
}

#[cfg(test)]
mod tests_hostile;
