//! Reading a site folder: `site.toml`, the profile library it names, and
//! every other `*.toml` in the folder as a show.
//!
//! This is the one place that reads configuration files; compiling their
//! text is pure and lives in `nightscape_core::config`, which returns a
//! complete [`Config`] or every located problem.
//!
//! Files are hostile until read: only regular files are opened (a FIFO
//! named `*.toml` would block `check`, hot reload and shutdown for ever; a
//! symlink to `/dev/zero` would read until memory runs out), and each is
//! read up to [`MAX_FILE_BYTES`].

pub use nightscape_core::config::{compile, Config, Sources};
use nightscape_core::diag::{Diagnostics, SourceFile};
use nightscape_core::site;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest configuration file read (8 MiB): a site, profile or show
/// file is a few kilobytes; anything near this is a mistake or an attack.
pub(crate) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Read a configuration file: a regular file (symlinks to one are fine) of
/// at most [`MAX_FILE_BYTES`], as UTF-8. Never blocks on a FIFO or device.
pub(crate) fn read_file(path: &Path) -> Result<String, String> {
    let bytes = read_regular(path, MAX_FILE_BYTES)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Read a regular file (symlinks to one are fine) of at most `cap` bytes.
/// Never blocks and never reads a device: the kind is checked before the
/// file is opened (opening some devices has effects of its own), the file
/// is opened non-blocking (a FIFO swapped in meanwhile cannot hold the
/// open) and checked again once open, and at most `cap + 1` bytes are read
/// whatever the size said.
pub(crate) fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(describe)?;
    if !meta.is_file() {
        return Err(format!(
            "is not a regular file ({}): nightscape reads only regular files",
            kind_of(&meta.file_type())
        ));
    }
    if meta.len() > cap {
        return Err(too_big_for(meta.len(), cap));
    }
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| describe(e.into()))?;
    let file = std::fs::File::from(fd);
    // Checked again on the open file: it may have been swapped meanwhile.
    let meta = file.metadata().map_err(describe)?;
    if !meta.is_file() {
        return Err(format!(
            "is not a regular file ({}): nightscape reads only regular files",
            kind_of(&meta.file_type())
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(cap) as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(describe)?;
    if bytes.len() as u64 > cap {
        return Err(too_big_for(bytes.len() as u64, cap));
    }
    Ok(bytes)
}

fn too_big_for(len: u64, cap: u64) -> String {
    if cap == MAX_FILE_BYTES {
        return too_big(len);
    }
    format!("is {len} bytes, larger than the {cap} bytes nightscape reads for one file")
}

fn too_big(len: u64) -> String {
    format!(
        "is {} bytes, larger than the 8 MiB nightscape reads for one file",
        len
    )
}

fn describe(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (the daemon's user cannot read it)".into()
        }
        std::io::ErrorKind::NotFound => "not found".into(),
        _ => e.to_string(),
    }
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

/// The files a site folder consists of (for hot reload's change detection).
pub(crate) fn site_files(folder: &Path) -> Vec<PathBuf> {
    site_files_with(folder, profile_dir_of(&folder.join("site.toml")).as_deref())
}

/// As [`site_files`], with the profile library already known (the watcher
/// caches it and reads site.toml again only when it changes).
pub(crate) fn site_files_with(folder: &Path, profile_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut files = toml_files(folder).unwrap_or_default();
    if let Some(dir) = profile_dir {
        files.extend(toml_files(dir).unwrap_or_default());
    }
    files
}

/// The profile library the site file names, if it can be read.
pub(crate) fn profile_dir_of(site_file: &Path) -> Option<PathBuf> {
    let text = read_file(site_file).ok()?;
    profile_dir(&SourceFile::new(site_file, text))
}

/// The profile library a site file names, unless the file is past the
/// reader's limits: finding the `profiles` key reads the whole file, and a
/// file nested 100,000 deep would overflow the stack (an abort, not a
/// panic) before loading could report it at its place.
fn profile_dir(site_file: &SourceFile) -> Option<PathBuf> {
    nightscape_core::diag::within_limits(&site_file.text).then(|| site::profile_dir(site_file))
}

fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// Characters refused anywhere in a configuration file, raw or escaped:
/// NUL, and the bidirectional controls that make text display differently
/// from what it is (names that look alike but are not, "Trojan Source").
const REFUSED_CHARS: &[(char, &str)] = &[
    ('\u{0}', "NUL"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
];

/// Report every refused character in `file`, raw or as a TOML escape
/// (`\u0000`, `\u202E`), at its line and column, up to the file's cap on
/// problems (a megabyte of NUL bytes is a hundred problems and a note, not
/// a million). Returns whether any was found.
fn refuse_control_chars(file: &SourceFile, diags: &mut Diagnostics) -> bool {
    let mut found = false;
    for (i, c) in file.text.char_indices() {
        if let Some((_, name)) = REFUSED_CHARS.iter().find(|(r, _)| *r == c) {
            // The one past the cap becomes the note that the list stops.
            let full = diags.is_full(&file.path);
            diags.error(
                file,
                i..i + c.len_utf8(),
                format!(
                    "U+{:04X} {name} is not allowed in nightscape files: remove it",
                    c as u32
                ),
            );
            found = true;
            if full {
                return true;
            }
        }
    }
    let lower = file.text.to_ascii_lowercase();
    for (c, name) in REFUSED_CHARS {
        for esc in [
            format!("\\u{:04x}", *c as u32),
            format!("\\u{:08x}", *c as u32),
        ] {
            for (i, _) in lower.match_indices(&esc) {
                let full = diags.is_full(&file.path);
                diags.error(
                    file,
                    i..i + esc.len(),
                    format!("the escape for U+{:04X} {name} is not allowed in nightscape files: remove it", *c as u32),
                );
                found = true;
                if full {
                    return true;
                }
            }
        }
    }
    found
}

/// Read every file in `paths`; a file that cannot be read is reported and
/// left out, and so is one past the TOML reader's limits (reported at its
/// place): no stage after this one reads it with a reader that would
/// recurse 100,000 levels deep.
fn read_all(paths: Vec<PathBuf>, diags: &mut Diagnostics) -> Vec<SourceFile> {
    paths
        .into_iter()
        .filter_map(|path| match read_file(&path) {
            Ok(text) => {
                let file = SourceFile::new(&path, text);
                refuse_control_chars(&file, diags);
                if !nightscape_core::diag::within_limits(&file.text) {
                    // Reports each limit passed, reads nothing.
                    let _ = nightscape_core::diag::parse_all::<toml::Table>(&file, diags);
                    return None;
                }
                Some(file)
            }
            Err(e) => {
                diags.file_error(&path, format!("cannot read: {e}"));
                None
            }
        })
        .collect()
}

/// Read and parse a profile folder on its own (`check --fixtures`): the
/// same parser the site uses, every problem in `diags`.
pub(crate) fn load_profiles(dir: &Path, diags: &mut Diagnostics) -> site::Library {
    let files = match toml_files(dir) {
        Ok(f) => read_all(f, diags),
        Err(e) => {
            diags.file_error(
                dir,
                format!("cannot read the profile folder: {}", describe(e)),
            );
            return site::Library::default();
        }
    };
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
    // A folder that cannot be listed is one problem, said once, not an
    // "unknown show" for every reference to a show it holds.
    let listed = match toml_files(folder) {
        Ok(l) => l,
        Err(e) => {
            diags.file_error(
                folder,
                format!("cannot list the site folder: {}", describe(e)),
            );
            return Err(diags);
        }
    };
    let text = match read_file(&site_path) {
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
    refuse_control_chars(&site_file, &mut diags);
    // A library that cannot be read is one problem, at the `profiles` key,
    // not an "unknown profile" for every array and fixture. A site file past
    // the reader's limits is reported by compiling it; no library is read.
    let (profiles, profiles_unreadable) = match profile_dir(&site_file).map(|d| {
        let files = toml_files(&d);
        (d, files)
    }) {
        None => (Vec::new(), None),
        Some((_, Ok(files))) => (read_all(files, &mut diags), None),
        Some((profile_dir, Err(e))) => (
            Vec::new(),
            Some(format!(
                "cannot read the profile library {}: {}",
                profile_dir.display(),
                describe(e)
            )),
        ),
    };
    let shows = listed.into_iter().filter(|p| *p != site_path).collect();
    let shows = read_all(shows, &mut diags);
    let media = FolderMedia::default();
    let compiled = nightscape_core::config::compile_with_media(
        Sources {
            folder: folder.to_path_buf(),
            site: site_file,
            profiles,
            profiles_unreadable,
            shows,
        },
        &media,
        diags,
    );
    remember_media(folder, media.asked.into_inner());
    compiled
}

/// The largest media file read for a media layer (512 MiB: a minute of
/// 1080p H.264 is about 100 MB); larger is a mistake or an attack.
pub(crate) const MAX_MEDIA_BYTES: u64 = 512 * 1024 * 1024;

/// Media layers' files (`source = "…"`), read from the site folder when
/// the core compiles a show, as hostile as configuration files: regular
/// files only, never a FIFO or device, at most [`MAX_MEDIA_BYTES`]; a
/// folder of frames is listed up to the most frames a folder may hold.
/// Every path asked for is noted (read or not: a missing file is watched
/// for until it appears) for hot reload ([`media_files`]).
#[derive(Default)]
struct FolderMedia {
    asked: std::cell::RefCell<Vec<PathBuf>>,
}

impl nightscape_core::show::media::MediaFiles for FolderMedia {
    fn read(&self, path: &Path) -> Result<std::sync::Arc<Vec<u8>>, String> {
        self.asked.borrow_mut().push(path.to_path_buf());
        read_regular(path, MAX_MEDIA_BYTES).map(std::sync::Arc::new)
    }

    fn is_folder(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_dir())
    }

    fn list(&self, path: &Path) -> Result<Vec<String>, String> {
        use nightscape_core::media::frames::MAX_FRAMES;
        // The folder itself: its time changes when a frame is added,
        // removed or renamed.
        self.asked.borrow_mut().push(path.to_path_buf());
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(describe)? {
            let entry = entry.map_err(describe)?;
            // Sub-folders are not frames (symlinks are read as files).
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            names.push(entry.file_name().to_string_lossy().into_owned());
            if names.len() > MAX_FRAMES {
                return Err(format!(
                    "the folder holds more than {MAX_FRAMES} files: more than nightscape plays from one folder"
                ));
            }
        }
        Ok(names)
    }
}

/// The media paths the newest load of each site folder asked for.
static MEDIA_FILES: std::sync::Mutex<Vec<(PathBuf, Vec<PathBuf>)>> =
    std::sync::Mutex::new(Vec::new());

fn remember_media(folder: &Path, mut paths: Vec<PathBuf>) {
    paths.sort();
    paths.dedup();
    let mut all = MEDIA_FILES.lock().unwrap_or_else(|p| p.into_inner());
    match all.iter_mut().find(|(f, _)| f == folder) {
        Some((_, p)) => *p = paths,
        None => all.push((folder.to_path_buf(), paths)),
    }
}

/// The media files and frame folders the newest load of `folder` asked for
/// (the files its shows' media layers name, read or not), for hot reload
/// to notice a replaced picture.
pub(crate) fn media_files(folder: &Path) -> Vec<PathBuf> {
    let all = MEDIA_FILES.lock().unwrap_or_else(|p| p.into_inner());
    all.iter()
        .find(|(f, _)| f == folder)
        .map(|(_, p)| p.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests_folder;
#[cfg(test)]
mod tests_golden;
#[cfg(test)]
mod tests_properties;
