//! Helpers the daemon crate's own unit tests share (the integration suite
//! has its own in `tests/it/common`): a copy of the demo site to load, and
//! a bounded wait on a condition instead of a fixed sleep.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A copy of the repository's demo in `dir`, laid out like the repository
/// (`<dir>/shows` beside `<dir>/fixtures`, because `site.toml` finds its
/// profile library at `../fixtures`); the site folder.
pub(crate) fn demo_site_in(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["shows", "fixtures"] {
        let to = dir.join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    dir.join("shows")
}

/// Polls `f` every 20 ms until it holds (Some(elapsed)) or `limit` passes
/// (None).
pub(crate) fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
