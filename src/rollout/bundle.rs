//! A site version as one deterministic archive: every file of the site
//! folder (site.toml, shows, media in sub-folders) and the profile library
//! site.toml names, at paths relative to one root.
//!
//! Our own length-prefixed format rather than tar: a tar carries owners,
//! modes, times, links and devices, each of which a hostile bundle could
//! use and each of which would have to be refused; this format can say
//! only "a file at this path holds these bytes". The same folder always
//! gives the same bytes (entries sorted by path, nothing else recorded), so
//! its SHA-256 names the content.
//!
//! Layout: `NSBUNDLE1\n`, then per file, in strictly ascending path order,
//! the path's length (u16, big-endian), the path (UTF-8, `/`-separated),
//! the size (u64, big-endian) and the bytes. Unpacking refuses anything
//! else: an absolute path, `.`/`..`/empty components, a backslash, NUL or
//! control characters, a path out of order or repeated, a size past the
//! end, more than [`MAX_FILES`] files or [`MAX_BUNDLE_BYTES`] in all. Files
//! are written only below a folder that unpacking creates itself, so a
//! bundle cannot write outside it.
//!
//! The site folder is stored as `site/`, and the profile library where
//! site.toml's relative path finds it from there (`profiles =
//! "../fixtures"`: `fixtures/`), so the stored copy loads without editing
//! site.toml. A library named by an absolute path cannot travel and is
//! refused when packing.

use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// The largest archive pushed or accepted (64 MiB): shows and profiles are
/// kilobytes; media files make up the rest.
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;
/// The most files an archive may hold.
pub const MAX_FILES: usize = 10_000;
/// The longest path inside an archive (bytes) and the deepest.
const MAX_PATH: usize = 1024;
const MAX_DEPTH: usize = 32;
const MAGIC: &[u8] = b"NSBUNDLE1\n";

/// Why an archive was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a nightscape site bundle")]
    NotABundle,
    #[error("the bundle is cut short")]
    Truncated,
    #[error("the bundle is larger than {} MiB", MAX_BUNDLE_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the bundle holds more than {MAX_FILES} files")]
    TooManyFiles,
    #[error("the bundle holds a path that is not allowed: `{0}`")]
    BadPath(String),
    #[error("the bundle's paths are out of order or repeated at `{0}`")]
    Order(String),
    #[error("the bundle has no site.toml in its site folder")]
    NoSite,
    #[error("cannot write the bundle: {0}")]
    Io(String),
}

/// A site folder packed for the broker.
#[derive(Debug, Clone)]
pub struct Packed {
    pub archive: Vec<u8>,
    /// Where the site folder is inside the archive (`site`; `_up1/site`
    /// when the profile library is two levels up).
    pub site_dir: String,
    pub files: usize,
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An archive of `(path, bytes)`, sorted by path (paths are checked).
pub fn write_archive(files: &mut [(String, Vec<u8>)]) -> Result<Vec<u8>, BundleError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = MAGIC.to_vec();
    for (name, bytes) in files.iter() {
        check_path(name)?;
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// Whether one path component may appear in an archive.
fn good_component(c: &str) -> bool {
    !c.is_empty() && c != "." && c != ".." && !c.chars().any(|ch| ch == '\\' || ch.is_control())
}

/// Check a path written in an archive; `Err` names it.
pub fn check_path(p: &str) -> Result<(), BundleError> {
    let bad = || BundleError::BadPath(p.chars().take(200).collect());
    if p.is_empty() || p.len() > MAX_PATH || p.starts_with('/') {
        return Err(bad());
    }
    let parts: Vec<&str> = p.split('/').collect();
    if parts.len() > MAX_DEPTH || !parts.iter().all(|c| good_component(c)) {
        return Err(bad());
    }
    Ok(())
}

/// Pack the site folder `folder` (and the profile library its site.toml
/// names). Errors are messages for the person pushing.
pub fn pack(folder: &Path) -> Result<Packed, String> {
    let site_file = folder.join("site.toml");
    let text = crate::config::read_file(&site_file)
        .map_err(|e| format!("{}: {e}", site_file.display()))?;
    #[derive(serde::Deserialize)]
    struct Only {
        profiles: Option<String>,
    }
    let rel = toml::from_str::<Only>(&text)
        .ok()
        .and_then(|o| o.profiles)
        .unwrap_or_else(|| "../fixtures".to_string());
    if Path::new(&rel).is_absolute() {
        return Err(format!(
            "{}: `profiles = \"{rel}\"` is an absolute path; a pushed site carries its profile library only at a path relative to the site folder (e.g. \"../fixtures\")",
            site_file.display()
        ));
    }
    // The library's place relative to the site folder: `ups` levels up,
    // then `downs`.
    let (mut ups, mut downs) = (0usize, Vec::<String>::new());
    for c in Path::new(&rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if downs.pop().is_none() {
                    ups += 1;
                }
            }
            Component::Normal(s) => downs.push(s.to_string_lossy().into_owned()),
            _ => return Err(format!("{}: bad `profiles` path", site_file.display())),
        }
    }
    // The site folder is `site/`, as deep below the archive's root as the
    // library is above it (`_up1/site` for "../../lib/fixtures").
    let site_dir: Vec<String> = (1..ups.max(1))
        .map(|i| format!("_up{i}"))
        .chain(std::iter::once("site".to_string()))
        .collect();
    if ups > 0 && downs.first() == site_dir.first() {
        return Err(format!(
            "{}: the profile library `{rel}` would take the site folder's place in the bundle; move it or rename it",
            site_file.display()
        ));
    }
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    walk(folder, &site_dir, &mut entries)?;
    if ups > 0 {
        let lib = folder.join(&rel);
        if let Ok(read) = std::fs::read_dir(&lib) {
            for e in read.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    let mut parts = downs.clone();
                    parts.push(e.file_name().to_string_lossy().into_owned());
                    entries.push((parts.join("/"), p));
                }
            }
        }
    }
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);
    if entries.len() > MAX_FILES {
        return Err(format!(
            "the site holds more than {MAX_FILES} files: a bundle carries at most that many"
        ));
    }
    let mut archive = MAGIC.to_vec();
    for (name, path) in &entries {
        check_path(name).map_err(|e| format!("{}: {e}", path.display()))?;
        let room = MAX_BUNDLE_BYTES.saturating_sub(archive.len() as u64);
        let bytes = crate::config::read_regular(path, room).map_err(|e| {
            format!(
                "{}: {e} (a bundle is at most {} MiB in all)",
                path.display(),
                MAX_BUNDLE_BYTES / 1024 / 1024
            )
        })?;
        archive.extend_from_slice(&(name.len() as u16).to_be_bytes());
        archive.extend_from_slice(name.as_bytes());
        archive.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        archive.extend_from_slice(&bytes);
        if archive.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(format!(
                "the site folder is larger than {} MiB, the most a bundle carries",
                MAX_BUNDLE_BYTES / 1024 / 1024
            ));
        }
    }
    Ok(Packed {
        archive,
        site_dir: site_dir.join("/"),
        files: entries.len(),
    })
}

/// Every regular file below `dir` (hidden names, symlinked folders and
/// special files left out), named under `prefix`.
fn walk(dir: &Path, prefix: &[String], out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        let mut parts = prefix.to_vec();
        parts.push(name);
        if kind.is_dir() {
            if parts.len() > MAX_DEPTH {
                return Err(format!("{}: folders nested too deep", e.path().display()));
            }
            walk(&e.path(), &parts, out)?;
        } else if std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()) {
            out.push((parts.join("/"), e.path()));
            if out.len() > MAX_FILES {
                return Err(format!(
                    "the site holds more than {MAX_FILES} files: a bundle carries at most that many"
                ));
            }
        }
    }
    Ok(())
}

/// The files of an archive, checked: `(path, bytes)` in order.
pub fn entries(archive: &[u8]) -> Result<Vec<(&str, &[u8])>, BundleError> {
    if archive.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    entries_of(archive)
}

/// An archive's files in the same form, at any size the caller allows
/// (a backup file holds databases as well as a site).
pub fn entries_of(archive: &[u8]) -> Result<Vec<(&str, &[u8])>, BundleError> {
    let mut rest = archive.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?;
    let mut out: Vec<(&str, &[u8])> = Vec::new();
    while !rest.is_empty() {
        if out.len() >= MAX_FILES {
            return Err(BundleError::TooManyFiles);
        }
        let (len, r) = rest.split_at_checked(2).ok_or(BundleError::Truncated)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let (name, r) = r.split_at_checked(len).ok_or(BundleError::Truncated)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| BundleError::BadPath(String::from_utf8_lossy(name).into_owned()))?;
        check_path(name)?;
        if let Some((last, _)) = out.last() {
            if *last >= name {
                return Err(BundleError::Order(name.to_string()));
            }
        }
        let (size, r) = r.split_at_checked(8).ok_or(BundleError::Truncated)?;
        let size = u64::from_be_bytes(size.try_into().map_err(|_| BundleError::Truncated)?);
        let size = usize::try_from(size).map_err(|_| BundleError::Truncated)?;
        let (bytes, r) = r.split_at_checked(size).ok_or(BundleError::Truncated)?;
        out.push((name, bytes));
        rest = r;
    }
    Ok(out)
}

/// Write `archive` into the new folder `dest` (which must not exist),
/// after checking all of it; the site folder must hold site.toml.
pub fn unpack(archive: &[u8], site_dir: &str, dest: &Path) -> Result<usize, BundleError> {
    let files = entries(archive)?;
    if site_dir != "." {
        check_path(site_dir)?;
    }
    let site_toml = if site_dir == "." {
        "site.toml".to_string()
    } else {
        format!("{site_dir}/site.toml")
    };
    if !files.iter().any(|(n, _)| *n == site_toml) {
        return Err(BundleError::NoSite);
    }
    let io = |e: std::io::Error| BundleError::Io(e.to_string());
    std::fs::create_dir(dest).map_err(io)?;
    for (name, bytes) in &files {
        // Every component was checked: the path stays below `dest`, and
        // every folder on it is one this function created.
        let path = dest.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("shows")
    }

    #[test]
    fn the_demo_packs_the_same_every_time_and_unpacks_to_a_loadable_site() {
        let a = pack(&demo()).unwrap();
        let b = pack(&demo()).unwrap();
        assert_eq!(a.archive, b.archive);
        assert_eq!(a.site_dir, "site");
        let names: Vec<&str> = entries(&a.archive).unwrap().iter().map(|e| e.0).collect();
        assert!(names.contains(&"site/site.toml"), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("fixtures/")),
            "{names:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("v1");
        unpack(&a.archive, &a.site_dir, &dest).unwrap();
        let cfg = crate::config::load(&dest.join("site")).unwrap();
        assert!(!cfg.site.fixtures.is_empty());
    }

    fn one(name: &str, bytes: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&(name.len() as u16).to_be_bytes());
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn hostile_archives_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "../evil.toml",
            "/etc/passwd",
            "site/../../x",
            "a//b",
            "./site.toml",
            "a\\..\\b",
            "a\0b",
            "",
        ] {
            let dest = dir.path().join("x");
            let e = unpack(&one(name, b"x"), ".", &dest).unwrap_err();
            assert!(matches!(e, BundleError::BadPath(_)), "{name:?}: {e}");
            assert!(!dest.exists());
        }
        // Cut short, a size past the end, out of order, not a bundle.
        let good = one("site.toml", b"name = 1");
        assert_eq!(
            entries(&good[..good.len() - 1]),
            Err(BundleError::Truncated)
        );
        let mut twice = good.clone();
        twice.extend_from_slice(&good[MAGIC.len()..]);
        assert!(matches!(entries(&twice), Err(BundleError::Order(_))));
        assert_eq!(entries(b"PK\x03\x04"), Err(BundleError::NotABundle));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&1u16.to_be_bytes());
        huge.push(b'a');
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(entries(&huge), Err(BundleError::Truncated));
        // No site.toml where the header says the site is.
        assert_eq!(
            unpack(&one("shows.toml", b""), ".", &dir.path().join("y")),
            Err(BundleError::NoSite)
        );
    }
}
