//! Reading a site folder: `site.toml`, the profile library it names, and
//! every other `*.toml` in the folder as a show.
//!
//! This is the one place that reads configuration files; compiling their
//! text is pure and lives in `nightscape_core::config`, which returns a
//! complete [`Config`] or every located problem.

use crate::diag::{Diagnostics, SourceFile};
use crate::site;
pub use nightscape_core::config::{compile, Config, Sources};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The files a site folder consists of (for hot reload's change detection).
pub fn site_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = toml_files(folder);
    let site_file = folder.join("site.toml");
    if let Ok(text) = std::fs::read_to_string(&site_file) {
        files.extend(toml_files(&site::profile_dir(&SourceFile::new(
            &site_file, text,
        ))));
    }
    files
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Read every file in `paths`; a file that cannot be read is reported and
/// left out.
fn read_all(paths: Vec<PathBuf>, diags: &mut Diagnostics) -> Vec<SourceFile> {
    paths
        .into_iter()
        .filter_map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Some(SourceFile::new(&path, text)),
            Err(e) => {
                diags.file_error(&path, format!("cannot read: {e}"));
                None
            }
        })
        .collect()
}

/// Read and parse a profile folder on its own (`check --fixtures`): the
/// same parser the site uses, every problem in `diags`.
pub fn load_profiles(dir: &Path, diags: &mut Diagnostics) -> site::Library {
    if let Err(e) = std::fs::read_dir(dir) {
        diags.file_error(dir, format!("cannot read the profile folder: {e}"));
        return site::Library::default();
    }
    let files = read_all(toml_files(dir), diags);
    site::parse_profiles(&files, diags)
}

/// Configurations loaded so far by this process: each gets the next
/// number as its generation, so caches keyed by it never confuse two.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Load a site folder. `Err` carries every problem found.
pub fn load(folder: &Path) -> Result<Config, Diagnostics> {
    let mut config = read(folder)?;
    config.generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    Ok(config)
}

fn read(folder: &Path) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::new();
    let site_path = folder.join("site.toml");
    let text = match std::fs::read_to_string(&site_path) {
        Ok(t) => t,
        Err(e) => {
            diags.file_error(
                &site_path,
                format!("cannot read the site file: {e} (is --site pointing at the folder with site.toml?)"),
            );
            return Err(diags);
        }
    };
    let site_file = SourceFile::new(&site_path, text);
    let profile_dir = site::profile_dir(&site_file);
    let profiles = match std::fs::read_dir(&profile_dir) {
        Ok(_) => read_all(toml_files(&profile_dir), &mut diags),
        Err(e) => {
            diags.file_error(
                &profile_dir,
                format!("cannot read the profile library: {e}"),
            );
            Vec::new()
        }
    };
    let shows = toml_files(folder)
        .into_iter()
        .filter(|p| *p != site_path)
        .collect();
    let shows = read_all(shows, &mut diags);
    compile(
        Sources {
            folder: folder.to_path_buf(),
            site: site_file,
            profiles,
            shows,
        },
        diags,
    )
}
