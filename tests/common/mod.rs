//! Helpers shared by the integration tests: a copy of the demo site in a
//! temporary folder, with the Art-Net target pointed at a test socket.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Copy the demo site (shows/ and fixtures/) into `dir`; returns the site folder.
pub fn demo_site_in(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("shows"), &dir.join("shows"));
    copy_dir(&root.join("fixtures"), &dir.join("fixtures"));
    dir.join("shows")
}

/// Point every Art-Net output of the site at `target`.
pub fn retarget(site: &Path, target: &str) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replace("target = \"127.0.0.1\"", &format!("target = \"{target}\""));
    std::fs::write(p, text).unwrap();
}
