//! The daemon's energy hook: curfew caps and power budgets on every frame,
//! metering of the frame sent, and a writer thread that owns the SQLite
//! record so the frame loop never touches the disk.
//!
//! Flushing: what was metered goes to the writer every 30 simulated
//! seconds or every 5 real seconds, whichever comes first (at speed 1 the
//! real rule leads, so a short run is recorded too; at `--speed 600` the
//! simulated rule flushes several times a real second), and on `stop()`
//! (SIGTERM, or a failed frame loop). Between flushes, once a real second,
//! the hook hands the writer a copy of what it metered since the last
//! flush, which the writer keeps as the record's journal (one row, replaced
//! in place; the next flush adds the batch and deletes it in one
//! transaction). A daemon that starts folds a journal it finds, so a
//! `kill -9` loses about a second (the journal's age plus the write in
//! flight), not the 5 s since the last flush. A frame step is cut
//! to 2 s × the clock's speed, so a jump of the system clock (NTP, a
//! suspended machine) books no phantom energy while a sped-up clock still
//! books its long steps.
//!
//! If the record cannot be opened or written, the lights do not care: the
//! hook keeps limiting, the writer keeps the totals in memory (merged per
//! night, so bounded) and retries.

use super::meter::{Core, Meter, NightRecord, ScopeKind};
use super::store::EnergyStore;
use crate::config::Config;
use chrono::{DateTime, NaiveDate, Utc};
use nightscape_core::engine::{ActiveShow, Frame, Limits};
use nightscape_core::pipeline::FrameHook;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Seconds of simulated time between flushes.
pub(crate) const FLUSH_SIM_S: f64 = 30.0;
/// Real time between flushes, whatever the clock's speed.
pub(crate) const FLUSH_REAL: Duration = Duration::from_secs(5);
/// Real time between journal writes (what was metered since the last flush).
pub(crate) const JOURNAL_REAL: Duration = Duration::from_secs(1);
/// Longest real step booked as energy, scaled by the clock's speed.
pub(crate) const MAX_STEP_REAL_S: f64 = 2.0;

/// The power right now, for status pages (`GET /api/status`'s "power now").
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LivePower {
    pub at: Option<DateTime<Utc>>,
    pub site_w: f64,
    /// (group, W), in name order.
    pub groups: Vec<(String, f64)>,
    /// Whether a budget is scaling any scope this frame.
    pub limited: bool,
    /// Whether a curfew caps any fixture this frame.
    pub curfew: bool,
}

enum Msg {
    Add(BTreeMap<NaiveDate, NightRecord>),
    /// What was metered since the last `Add`, to keep as the journal.
    Journal(BTreeMap<NaiveDate, NightRecord>),
    Stop,
}

/// The frame hook. Build it with [`EnergyHook::open`] and push it into the
/// frame loop's hooks.
pub struct EnergyHook {
    core: Core,
    meter: Meter,
    tx: Option<mpsc::Sender<Msg>>,
    writer: Option<std::thread::JoinHandle<()>>,
    live: Arc<Mutex<LivePower>>,
    last_flush_sim: Option<DateTime<Utc>>,
    last_flush_real: Instant,
    last_journal_real: Instant,
}

impl EnergyHook {
    /// A hook recording into `<state>/energy.sqlite`, for a clock running
    /// at `speed` simulated seconds per real second. Never fails: a record
    /// that cannot be opened is logged and retried by the writer.
    pub(crate) fn open(state: &Path, speed: f64) -> EnergyHook {
        let speed = if speed.is_finite() {
            speed.max(1.0)
        } else {
            1.0
        };
        let store = match EnergyStore::open(state) {
            Ok(mut s) => {
                fold_journal(&mut s);
                Some(s)
            }
            Err(e) => {
                tracing::warn!("energy record unavailable, retrying later: {e}");
                None
            }
        };
        let (tx, rx) = mpsc::channel();
        let dir = state.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("energy-writer".into())
            .spawn(move || writer(dir, store, rx))
            .map_err(|e| tracing::warn!("cannot start the energy writer: {e}"))
            .ok();
        EnergyHook {
            core: Core::new(),
            meter: Meter::new(MAX_STEP_REAL_S * speed),
            tx: writer.as_ref().map(|_| tx),
            writer,
            live: Arc::default(),
            last_flush_sim: None,
            last_flush_real: Instant::now(),
            last_journal_real: Instant::now(),
        }
    }

    /// A handle to the power right now (updated every frame).
    pub(crate) fn live(&self) -> Arc<Mutex<LivePower>> {
        self.live.clone()
    }

    fn flush(&mut self) {
        if !self.meter.has_pending() {
            return;
        }
        let batch = self.meter.take();
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Add(batch));
        }
        self.last_flush_real = Instant::now();
        self.last_journal_real = self.last_flush_real;
    }

    /// Hand the writer a copy of what was metered since the last flush
    /// (once a real second: a clone of a few records per night).
    fn journal(&mut self) {
        if !self.meter.has_pending() {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Journal(self.meter.pending().clone()));
        }
        self.last_journal_real = Instant::now();
    }

    fn finish(&mut self) {
        self.flush();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl FrameHook for EnergyHook {
    fn limits(&mut self, config: &Config, at: DateTime<Utc>, limits: &mut Limits) {
        self.core.limits(config, at, limits);
    }

    fn review(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        frame: &Frame,
        limits: &mut Limits,
        pass: u32,
    ) -> bool {
        self.core.review(config, at, frame, limits, pass)
    }

    fn observe(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        active: &[ActiveShow],
        frame: &Frame,
    ) {
        let sample = self.core.sample(config, at, active, frame);
        if let Ok(mut live) = self.live.lock() {
            live.at = Some(at);
            live.site_w = sample.site_w();
            live.groups.clear();
            live.groups.extend(
                sample
                    .scopes
                    .iter()
                    .filter(|s| s.kind == Some(ScopeKind::Group))
                    .map(|s| (s.name.clone(), s.w)),
            );
            live.limited = sample.scopes.iter().any(|s| s.scale < 1.0);
            live.curfew = sample.scopes.iter().any(|s| s.curfew);
        }
        self.meter.push(config, sample);
        let sim_due = match self.last_flush_sim {
            None => {
                self.last_flush_sim = Some(at);
                false
            }
            Some(last) => {
                let since = nightscape_core::engine::seconds_between(last, at);
                !(0.0..FLUSH_SIM_S).contains(&since)
            }
        };
        if sim_due || self.last_flush_real.elapsed() >= FLUSH_REAL {
            self.last_flush_sim = Some(at);
            self.flush();
        } else if self.last_journal_real.elapsed() >= JOURNAL_REAL {
            self.journal();
        }
    }

    fn stop(&mut self) {
        self.finish();
    }
}

impl Drop for EnergyHook {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Fold the journal a killed predecessor left (before anything is metered).
fn fold_journal(store: &mut EnergyStore) {
    match store.fold_journal() {
        Ok(None) => {}
        Ok(Some(records)) => {
            let kwh: f64 = records
                .values()
                .flat_map(|r| &r.scopes)
                .filter(|s| s.kind == Some(ScopeKind::Site))
                .map(|s| s.kwh)
                .sum();
            tracing::warn!(
                wh = format!("{:.3}", kwh * 1000.0),
                "energy: the last run did not stop cleanly; its journal was added to the record"
            );
        }
        Err(e) => tracing::warn!("energy: cannot fold the journal of the last run: {e}"),
    }
}

/// The writer thread: merge what arrives, write it in one transaction,
/// keep it for the next try when the write fails. Journals are written as
/// they come (about once a second) when no batch is waiting.
fn writer(dir: PathBuf, mut store: Option<EnergyStore>, rx: mpsc::Receiver<Msg>) {
    let mut pending: BTreeMap<NaiveDate, NightRecord> = BTreeMap::new();
    // The newest journal the hook sent after its last batch (a journal
    // sent before a batch is part of it).
    let mut journal: Option<BTreeMap<NaiveDate, NightRecord>> = None;
    let mut last_try = Instant::now();
    let mut warned = false;
    let mut stop = false;
    while !stop {
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs(5)
        };
        let take = |m: Msg,
                    stop: &mut bool,
                    pending: &mut BTreeMap<_, NightRecord>,
                    journal: &mut Option<BTreeMap<_, NightRecord>>| match m {
            Msg::Journal(j) => *journal = Some(j),
            Msg::Add(batch) => {
                *journal = None;
                for (night, rec) in batch {
                    match pending.get_mut(&night) {
                        Some(p) => p.merge(&rec),
                        None => {
                            pending.insert(night, rec);
                        }
                    }
                }
            }
            Msg::Stop => *stop = true,
        };
        match rx.recv_timeout(wait) {
            Ok(m) => take(m, &mut stop, &mut pending, &mut journal),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => stop = true,
        }
        // Coalesce a backlog into one transaction.
        while let Ok(m) = rx.try_recv() {
            take(m, &mut stop, &mut pending, &mut journal);
        }
        if pending.is_empty() {
            if let (Some(j), Some(s)) = (journal.take(), store.as_mut()) {
                if let Err(e) = s.write_journal(&j) {
                    if !warned {
                        tracing::warn!("cannot write the energy journal (will retry): {e}");
                        warned = true;
                    }
                }
            }
            continue;
        }
        if store.is_none() && (stop || last_try.elapsed() >= Duration::from_secs(60)) {
            last_try = Instant::now();
            match EnergyStore::open(&dir) {
                Ok(s) => store = Some(s),
                Err(e) if !warned => {
                    tracing::warn!("energy record still unavailable: {e}");
                    warned = true;
                }
                Err(_) => {}
            }
        }
        if let Some(s) = store.as_mut() {
            match s.add_then_journal(&pending, journal.as_ref()) {
                Ok(()) => {
                    pending.clear();
                    journal = None;
                    warned = false;
                }
                Err(e) => {
                    if !warned {
                        tracing::warn!("cannot write the energy record (will retry): {e}");
                        warned = true;
                    }
                }
            }
        }
    }
    if !pending.is_empty() {
        tracing::warn!(
            nights = pending.len(),
            "energy not recorded at shutdown: the record could not be written"
        );
    }
}
