//! The daemon's open-file budget. The API's connection cap keeps clients
//! from taking every descriptor; raising the soft `nofile` limit to the hard
//! one at start (systemd's `LimitNOFILE`, or the shell's) leaves the frame
//! loop, hot reload, SQLite and serial ports room beyond that cap.

/// Descriptors kept for everything that is not an API connection: outputs,
/// SQLite (database, WAL, shm, for two stores), hot reload reading files,
/// the listener, tokio's own.
pub const RESERVED: u64 = 128;

/// Raise the soft open-file limit to the hard limit. Returns (before,
/// after), or None where the platform has no such limit.
pub fn raise_nofile() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut l = getrlimit(Resource::Nofile);
        let before = l.current?;
        if let Some(max) = l.maximum {
            if max > before {
                l.current = Some(max);
                if setrlimit(Resource::Nofile, l).is_ok() {
                    return Some((before, max));
                }
            }
        }
        Some((before, before))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The API connections allowed with `soft` descriptors and `wanted`
/// configured: never more than leaves [`RESERVED`] free.
pub fn connection_budget(soft: u64, wanted: usize) -> usize {
    let room = soft.saturating_sub(RESERVED).max(8);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_never_gets_the_reserve() {
        assert_eq!(super::connection_budget(1024, 256), 256);
        assert_eq!(super::connection_budget(256, 256), 128);
        assert_eq!(super::connection_budget(100, 256), 8);
    }

    #[test]
    fn raising_keeps_or_grows_the_soft_limit() {
        if let Some((before, after)) = super::raise_nofile() {
            assert!(after >= before);
        }
    }
}
