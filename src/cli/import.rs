//! `nightscape import --from qxf|ofl PATH... --out DIR`: turn QLC+ or Open
//! Fixture Library definitions into profile files.
//!
//! The conversion itself is pure ([`nightscape_core::fixture::import`]); this is the
//! file side: walking folders, finding an OFL file's manufacturer list,
//! choosing file names, never overwriting unless asked, and the summary. A
//! broken source file is a reported failure, never a stop.
//!
//! Paths are hostile until read, as site files are: only regular files
//! (links to one are fine) of at most 8 MiB are read, without blocking (a
//! FIFO or `/dev/zero` named `*.qxf` is a failure at its path); links to
//! folders inside a source folder are not followed (a loop would never
//! end). Profiles are written to a temporary file in `--out` and renamed
//! into place, so nothing is ever written through a link: a link in
//! `--out` is an existing file (refused without `--overwrite`, replaced
//! itself with it), never a way out of `--out`.

use anyhow::{bail, Result};
use nightscape_core::fixture::import::{self, Format, ImportError, OflContext};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum From {
    /// QLC+ fixture definitions (.qxf).
    Qxf,
    /// Open Fixture Library JSON.
    Ofl,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ImportArgs {
    /// The library format of the source files.
    #[arg(long, value_enum)]
    pub from: From,
    /// Source files or folders (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The profile folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace profile files that already exist.
    #[arg(long)]
    pub overwrite: bool,
}

/// The largest source file read: definitions are tens of kilobytes.
const MAX_SOURCE_BYTES: u64 = crate::config::MAX_FILE_BYTES;

/// How deep source folders are searched.
const MAX_FOLDER_DEPTH: usize = 16;

/// Every file under `path` with the extension, sorted (a file given by name
/// is taken whatever its extension; whether it is a regular file is judged
/// when it is read, at its path).
fn collect(path: &Path, ext: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // The path given is followed: the user named it.
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder")
        } else {
            e
        }
    })?;
    if meta.is_dir() {
        walk(path, ext, out, 0)
    } else {
        out.push(path.to_path_buf());
        Ok(())
    }
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        // Not followed: a link to a folder is skipped (a link back up would
        // loop for ever); a link to a file is read if it is a regular one.
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_FOLDER_DEPTH {
                walk(&p, ext, out, depth + 1)?;
            }
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext))
            && !(meta.file_type().is_symlink() && p.is_dir())
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Write `text` as `dir/name`: into a new temporary file beside it (created
/// exclusively, so never through a link), then moved into place. Without
/// `overwrite` the move is a hard link, which fails if the name exists in
/// any form, a dangling link included; with it, a rename, which replaces
/// the name itself (a link is replaced, not followed).
fn write_profile(dir: &Path, name: &str, text: &str, overwrite: bool) -> Result<(), String> {
    use std::io::Write;
    // Slugs are letters, digits and dashes; anything else must not make a
    // path that leaves `dir`.
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!("`{name}` is not a plain file name"));
    }
    let target = dir.join(name);
    let exists = || {
        format!(
            "{} already exists (--overwrite replaces it)",
            target.display()
        )
    };
    match std::fs::symlink_metadata(&target) {
        Ok(_) if !overwrite => return Err(exists()),
        Ok(meta) if meta.is_dir() => return Err(format!("{} is a folder", target.display())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot write {}: {e}", target.display())),
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        // Only a file this run created is removed (not one that was there).
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(&tmp);
        }
        return Err(format!("cannot write {}: {e}", tmp.display()));
    }
    let moved = if overwrite {
        std::fs::rename(&tmp, &target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))
    } else {
        let linked = std::fs::hard_link(&tmp, &target);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
            Err(e) => Err(format!("cannot write {}: {e}", target.display())),
        }
    };
    if moved.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    moved
}

/// `Manufacturer/file.qxf`: the last folder and the file name.
fn source_name(path: &Path) -> String {
    let file = path.file_name().map(|f| f.to_string_lossy().to_string());
    let dir = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|d| d.to_string_lossy().to_string());
    match (dir, file) {
        (Some(d), Some(f)) => format!("{d}/{f}"),
        (None, Some(f)) => f,
        _ => path.display().to_string(),
    }
}

/// An OFL file's manufacturer key (its folder) and the nearest
/// `manufacturers.json` up the tree (read once per folder).
fn ofl_context(path: &Path, cache: &mut BTreeMap<PathBuf, Option<String>>) -> OflContext {
    let dir = path.parent().unwrap_or(Path::new("."));
    let key = dir
        .file_name()
        .map(|d| d.to_string_lossy().to_string())
        .filter(|k| !k.is_empty());
    let mut list = None;
    for anc in dir.ancestors().take(4) {
        let candidate = anc.join("manufacturers.json");
        let text = cache.entry(candidate.clone()).or_insert_with(|| {
            crate::config::read_regular(&candidate, MAX_SOURCE_BYTES)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        });
        if let Some(t) = text {
            list = Some(t.clone());
            break;
        }
    }
    OflContext {
        manufacturer_key: key,
        manufacturers_json: list,
    }
}

pub fn import(args: &ImportArgs) -> Result<i32> {
    let format = match args.from {
        From::Qxf => Format::Qxf,
        From::Ofl => Format::Ofl,
    };
    let mut files = Vec::new();
    for p in &args.paths {
        if let Err(e) = collect(p, format.extension(), &mut files) {
            eprintln!("error: {}: {e}", p.display());
            return Ok(1);
        }
    }
    if files.is_empty() {
        eprintln!(
            "error: no .{} files found in {}",
            format.extension(),
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(1);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        bail!("cannot create {}: {e}", args.out.display());
    }

    let mut cache = BTreeMap::new();
    let mut written: BTreeSet<String> = BTreeSet::new();
    let (mut clean, mut warned, mut skipped) = (0usize, 0usize, 0usize);
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    for path in &files {
        // A manufacturers list is not a fixture; skip it without a word.
        if format == Format::Ofl && path.file_name().is_some_and(|f| f == "manufacturers.json") {
            skipped += 1;
            continue;
        }
        let bytes = match crate::config::read_regular(path, MAX_SOURCE_BYTES) {
            Ok(b) => b,
            Err(e) => {
                failed.push((path.clone(), format!("cannot read: {e}")));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let ctx = match format {
            Format::Ofl => ofl_context(path, &mut cache),
            Format::Qxf => OflContext::default(),
        };
        let imported = match import::import(format, &source_name(path), &text, &ctx) {
            Ok(i) => i,
            Err(ImportError::NotAFixture(why)) => {
                println!(
                    "{}: skipped: not a fixture definition ({why})",
                    path.display()
                );
                skipped += 1;
                continue;
            }
            Err(e) => {
                failed.push((path.clone(), e.to_string()));
                continue;
            }
        };
        // Two sources with the same manufacturer and model in one run: the
        // later gets a numbered name rather than replacing the first.
        let mut slug = imported.slug.clone();
        let mut warnings = imported.warnings.clone();
        if written.contains(&slug) {
            let mut n = 2;
            while written.contains(&format!("{slug}-{n}")) {
                n += 1;
            }
            let new = format!("{slug}-{n}");
            warnings.push(format!(
                "another source in this import is also `{slug}`: written as `{new}`"
            ));
            slug = new;
        }
        let name = format!("{slug}.toml");
        if let Err(e) = write_profile(&args.out, &name, &imported.toml, args.overwrite) {
            failed.push((path.clone(), e));
            continue;
        }
        written.insert(slug);
        for w in &warnings {
            eprintln!("{}: warning: {w}", path.display());
        }
        if warnings.is_empty() {
            clean += 1;
        } else {
            warned += 1;
        }
    }
    for (path, why) in &failed {
        eprintln!("{}: failed: {why}", path.display());
    }
    println!(
        "imported {} profile(s) into {} ({clean} clean, {warned} with warnings); {} failed{}",
        clean + warned,
        args.out.display(),
        failed.len(),
        if skipped > 0 {
            format!("; {skipped} skipped (not fixtures)")
        } else {
            String::new()
        }
    );
    Ok(if failed.is_empty() { 0 } else { 2 })
}
