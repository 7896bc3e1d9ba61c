//! One daemon per state folder. Two daemons on one site would both send a
//! full stream, and operators' commands would reach only the frames of the
//! one whose API they happened to hit. `run` takes an exclusive `flock` on
//! `<state>/nightscape.lock` (holding its PID) before it opens any output;
//! a second instance exits non-zero naming the holder. The kernel releases
//! the lock when the holder dies, even by `kill -9`, so it is never stale.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the state folder.
pub const LOCK_FILE: &str = "nightscape.lock";

/// Held for the life of the daemon; dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// Why the state folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the state folder {} is in use by another nightscape (PID {pid}): run one daemon per state folder, or give this one another --state", dir.display())]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock the state folder ({}): {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Take the state folder's lock, creating the folder if needed.
pub fn lock_state(dir: &Path) -> Result<StateLock, LockError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    #[cfg(unix)]
    {
        use rustix::fs::{flock, FlockOperation};
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.to_string()
                    },
                });
            }
            return Err(io(e.into()));
        }
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    let _ = file.sync_all();
    Ok(StateLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = super::lock_state(dir.path()).unwrap();
        let again = super::lock_state(dir.path()).unwrap_err();
        let msg = again.to_string();
        assert!(
            msg.contains(&format!("PID {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        assert!(super::lock_state(dir.path()).is_ok());
    }
}
