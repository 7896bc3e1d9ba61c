//! The claim on the CPU of the threads that put frames on the wire (the
//! frame loop, the render threads it spawns, which inherit its policy, and
//! the output threads): they run above request handling, so a burst of API
//! work cannot delay a frame.
//!
//! The workspace forbids `unsafe`, and neither std nor our rustix features
//! wrap `sched_setscheduler`, so the real-time policy is asked of
//! util-linux's `chrt` for this thread's id (`SCHED_RR` at priority
//! [`RT_PRIORITY`]: above every normal thread, below the kernel's own and
//! anything an administrator set higher; the kernel's real-time throttling
//! still leaves 5 % of each second to everything else). Where that is
//! refused (no root, no `CAP_SYS_NICE`, no `LimitRTPRIO`), the thread's
//! nice value is lowered to [`NICE`] with `setpriority` (needs
//! `CAP_SYS_NICE` or `LimitNICE`); where that is refused too, the thread
//! keeps the default priority and the log says so once.

use std::fmt;

/// `SCHED_RR` priority asked for (1–99; low, so an administrator's
/// real-time tasks still come first).
pub(crate) const RT_PRIORITY: u8 = 10;
/// The nice value asked for when real time is refused.
pub(crate) const NICE: i32 = -10;

/// What a thread got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Priority {
    /// `SCHED_RR` at this priority.
    RealTime(u8),
    /// Normal scheduling at this nice value.
    Nice(i32),
    /// Unchanged, and why.
    Default(String),
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Priority::RealTime(p) => write!(f, "SCHED_RR priority {p}"),
            Priority::Nice(n) => write!(f, "nice {n}"),
            Priority::Default(why) => write!(f, "default priority ({why})"),
        }
    }
}

/// This thread's kernel id (Linux: `/proc/thread-self` → `PID/task/TID`).
fn thread_id() -> Option<i32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Raise the calling thread as far as the system allows; what it got.
pub(crate) fn raise_this_thread() -> Priority {
    if std::env::var_os("NIGHTSCAPE_NO_PRIORITY").is_some() {
        return Priority::Default("NIGHTSCAPE_NO_PRIORITY is set".into());
    }
    let Some(tid) = thread_id() else {
        return Priority::Default("no thread id (not Linux)".into());
    };
    let chrt = std::process::Command::new("chrt")
        .args(["--rr", "-p", &RT_PRIORITY.to_string(), &tid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if chrt.is_ok_and(|s| s.success()) {
        return Priority::RealTime(RT_PRIORITY);
    }
    #[cfg(unix)]
    {
        let pid = rustix::process::Pid::from_raw(tid);
        match rustix::process::setpriority_process(pid, NICE) {
            Ok(()) => Priority::Nice(NICE),
            Err(e) => Priority::Default(format!(
                "real-time and nice {NICE} both refused: {e}; give the service CAP_SYS_NICE or LimitRTPRIO={RT_PRIORITY}"
            )),
        }
    }
    #[cfg(not(unix))]
    Priority::Default("not supported here".into())
}

/// The policy and nice value of thread `tid` as the kernel reports them
/// (`/proc/self/task/TID/stat` fields 18–19 and 40–41: priority, nice, rt
/// priority, policy), for tests and the log.
pub fn describe(tid: i32) -> Option<(i64, i64)> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let nice = f.get(19 - 3)?.parse().ok()?;
    let policy = f.get(41 - 3)?.parse().ok()?;
    Some((nice, policy))
}

/// This thread's id, for [`describe`].
pub fn current_thread_id() -> Option<i32> {
    thread_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the system allows, the thread ends as reported: real time
    /// as policy 2 (`SCHED_RR`), a nice value as that nice value, or
    /// unchanged.
    #[test]
    fn a_raised_thread_is_what_it_reports() {
        let got = std::thread::spawn(|| {
            let before = describe(current_thread_id().unwrap()).unwrap();
            let p = raise_this_thread();
            let after = describe(current_thread_id().unwrap()).unwrap();
            (p, before, after)
        })
        .join()
        .unwrap();
        eprintln!("{} (nice, policy) {:?} -> {:?}", got.0, got.1, got.2);
        match got.0 {
            Priority::RealTime(_) => assert_eq!(got.2 .1, 2),
            Priority::Nice(n) => assert_eq!(got.2, (n as i64, 0)),
            Priority::Default(_) => assert_eq!(got.2, got.1),
        }
    }
}
