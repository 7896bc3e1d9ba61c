//! `nightscape import --from qxf|ofl PATH... --out DIR`: turn QLC+ or Open
//! Fixture Library definitions into profile files.
//!
//! The conversion itself is pure ([`crate::fixture::import`]); this is the
//! file side: walking folders, finding an OFL file's manufacturer list,
//! choosing file names, never overwriting unless asked, and the summary. A
//! broken source file is a reported failure, never a stop.

use crate::fixture::import::{self, Format, ImportError, OflContext};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum From {
    /// QLC+ fixture definitions (.qxf).
    Qxf,
    /// Open Fixture Library JSON.
    Ofl,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
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

/// Every file under `path` with the extension, sorted (a file given by name
/// is taken whatever its extension).
fn collect(path: &Path, ext: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                collect(&p, ext, out)?;
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext)) {
                out.push(p);
            }
        }
        Ok(())
    } else if path.is_file() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or folder",
        ))
    }
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
        let text = cache
            .entry(candidate.clone())
            .or_insert_with(|| std::fs::read_to_string(&candidate).ok());
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
        let bytes = match std::fs::read(path) {
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
        let target = args.out.join(format!("{slug}.toml"));
        if target.exists() && !args.overwrite {
            failed.push((
                path.clone(),
                format!(
                    "{} already exists (--overwrite replaces it)",
                    target.display()
                ),
            ));
            continue;
        }
        if let Err(e) = std::fs::write(&target, &imported.toml) {
            failed.push((
                path.clone(),
                format!("cannot write {}: {e}", target.display()),
            ));
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
