//! Clocks a fleet can vouch for: whether this node's clock is
//! synchronised, and holding the schedule while it is not.
//!
//! Every node of a fleet renders from its own clock, so a node whose clock
//! is wrong plays the wrong show at the wrong time, out of step with its
//! neighbours. With `[fleet] require_synced_clock` (on by default) a node
//! whose clock is known not to be synchronised does not start timed
//! entries on its own guess: the [`ClockHold`] frame hook holds the last
//! look (the schedule's shows frozen at the instant the hold began) or
//! plays `[fleet] unsynced_show`, operator overrides and scenes still
//! apply, and the fleet task raises `clock_unsynced`. It joins the
//! schedule as soon as the clock is trusted.
//!
//! Where the state comes from, first found wins: the file
//! `<state>/clock.sync` (one word, `synced` or `unsynced`: written by a
//! site's own check, or a test), then `timedatectl` (NTPSynchronized),
//! then `chronyc tracking` (leap status). None of them: unknown, which
//! does not hold (a node without NTP tooling cannot be told apart from a
//! good one). A simulated clock (`run --clock`) is not the system's: only
//! the file speaks for it.

use crate::config::Config;
use chrono::{DateTime, Utc};
use nightscape_core::engine::ActiveShow;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file that, when present, states this node's clock state.
pub const SYNC_FILE: &str = "clock.sync";

/// Whether this node's clock is synchronised, and who says so.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockState {
    /// None: no source could tell.
    pub synced: Option<bool>,
    /// "file", "timedatectl", "chrony" or "none".
    pub source: &'static str,
}

impl ClockState {
    /// One line for the status and the alarm.
    pub fn describe(&self) -> String {
        match self.synced {
            Some(true) => format!("synchronised ({})", self.source),
            Some(false) => format!("NOT synchronised ({})", self.source),
            None => "unknown (no timedatectl or chrony)".to_string(),
        }
    }
}

/// Read the clock state (blocking: it may run a command).
pub fn read(state_dir: Option<&Path>, simulated: bool) -> ClockState {
    if let Some(dir) = state_dir {
        if let Ok(text) = std::fs::read_to_string(dir.join(SYNC_FILE)) {
            let word = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let synced = match word.as_str() {
                "synced" | "synchronised" | "synchronized" | "yes" | "true" => Some(true),
                "unsynced" | "unsynchronised" | "unsynchronized" | "no" | "false" => Some(false),
                _ => None,
            };
            return ClockState {
                synced,
                source: "file",
            };
        }
    }
    if simulated {
        return ClockState {
            synced: None,
            source: "none",
        };
    }
    let run = |cmd: &str, args: &[&str]| -> Option<String> {
        let out = std::process::Command::new(cmd)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    if let Some(v) = run("timedatectl", &["show", "-p", "NTPSynchronized", "--value"]) {
        match v.trim() {
            "yes" => {
                return ClockState {
                    synced: Some(true),
                    source: "timedatectl",
                }
            }
            "no" => {
                return ClockState {
                    synced: Some(false),
                    source: "timedatectl",
                }
            }
            _ => {}
        }
    }
    if let Some(v) = run("chronyc", &["-c", "tracking"]) {
        // CSV; the last field is the leap status.
        if let Some(leap) = v.trim().split(',').next_back() {
            return ClockState {
                synced: Some(leap.trim() != "Not synchronised"),
                source: "chrony",
            };
        }
    }
    ClockState {
        synced: None,
        source: "none",
    }
}

/// What `/api/status` and `/api/fleet` say about this node's clock.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ClockSyncView {
    /// Whether the clock is synchronised (null: unknown).
    pub synced: Option<bool>,
    /// Who said so: "file", "timedatectl", "chrony" or "none".
    pub source: String,
    /// Whether the schedule is held because the clock is not synchronised.
    pub holding: bool,
    /// While holding: "last look" or the show played instead.
    pub plays: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// Shared between the fleet task (decides) and the frame hook (holds).
#[derive(Debug, Clone, Default)]
pub struct Hold {
    inner: Arc<Mutex<HoldInner>>,
}

#[derive(Debug, Default)]
struct HoldInner {
    /// Holding, and with which show instead of the last look.
    on: Option<Option<String>>,
    view: ClockSyncView,
}

impl Hold {
    /// Hold (with `show` instead of the last look) or join the schedule.
    pub(crate) fn set(&self, state: &ClockState, hold: Option<Option<String>>, now: DateTime<Utc>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let since = match (&g.on, &hold) {
            (None, Some(_)) => Some(now),
            (Some(_), Some(_)) => g.view.since,
            _ => None,
        };
        g.view = ClockSyncView {
            synced: state.synced,
            source: state.source.to_string(),
            holding: hold.is_some(),
            plays: hold
                .as_ref()
                .map(|s| s.clone().unwrap_or_else(|| "last look".into())),
            since,
        };
        g.on = hold;
    }

    pub fn view(&self) -> ClockSyncView {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .view
            .clone()
    }

    fn on(&self) -> Option<Option<String>> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on
            .clone()
    }

    /// The frame hook that holds the schedule.
    pub fn hook(&self) -> ClockHold {
        ClockHold {
            hold: self.clone(),
            held: None,
        }
    }
}

/// One schedule show as it played when the hold began.
struct Held {
    show: String,
    started: DateTime<Utc>,
    ends: Option<DateTime<Utc>>,
    priority: i32,
    continued: bool,
    continues: bool,
}

/// The frame hook: while holding, the schedule's shows (priorities below
/// the scene band) are frozen at the instant the hold began — each keeps
/// the phase it had, and none starts or ends — or replaced by the
/// unsynced show; operator scenes and overrides are left alone.
pub struct ClockHold {
    hold: Hold,
    /// When the hold began, and what played then.
    held: Option<(DateTime<Utc>, Vec<Held>)>,
}

impl crate::daemon::FrameHook for ClockHold {
    fn position<'a>(
        &mut self,
        config: &'a Config,
        at: DateTime<Utc>,
        active: &mut Vec<ActiveShow<'a>>,
    ) {
        let Some(instead) = self.hold.on() else {
            self.held = None;
            return;
        };
        let scheduled = |a: &ActiveShow<'_>| a.priority < crate::control::SCENE;
        if self.held.is_none() {
            let shows = active
                .iter()
                .filter(|a| scheduled(a))
                .map(|a| Held {
                    show: a.show.name.clone(),
                    started: a.started,
                    ends: a.ends,
                    priority: a.priority,
                    continued: a.continued,
                    continues: a.continues,
                })
                .collect();
            self.held = Some((at, shows));
        }
        let Some((from, shows)) = &self.held else {
            return;
        };
        let live: Vec<ActiveShow<'a>> = {
            let mut keep = Vec::with_capacity(active.len());
            let mut sched = Vec::new();
            for a in active.drain(..) {
                if scheduled(&a) {
                    sched.push(a);
                } else {
                    keep.push(a);
                }
            }
            *active = keep;
            sched
        };
        if let Some(name) = instead {
            if let Some(show) = config.show(&name) {
                active.push(ActiveShow::new(show, *from, None, 0));
                return;
            }
        }
        // Frozen: each held show's phase stays what it was at `from`.
        let shift = at - *from;
        for h in shows {
            let again = live
                .iter()
                .find(|a| a.show.name == h.show && a.started == h.started)
                .cloned();
            let a = match again {
                Some(a) => Some(a),
                None => config.show(&h.show).map(|s| {
                    let mut a = ActiveShow::new(s, h.started, h.ends, h.priority);
                    a.continued = h.continued;
                    a.continues = h.continues;
                    a
                }),
            };
            if let Some(mut a) = a {
                a.started += shift;
                a.ends = a.ends.map(|e| e + shift);
                active.push(a);
            }
        }
    }
}

/// Where a node's clock file lives.
pub fn sync_file(state_dir: &Path) -> PathBuf {
    state_dir.join(SYNC_FILE)
}
