//! The energy record: its own SQLite file in the state folder
//! (`<state>/energy.sqlite`), beside the runtime store, so the frame hook's
//! writer thread never contends with the API's transactions.
//!
//! Conventions follow `crate::store`: rusqlite bundled, WAL, `synchronous =
//! FULL` (a commit is on disk before the next flush; a power cut loses at
//! most the interval since the last flush), and the schema versioned by
//! `PRAGMA user_version` with append-only migrations, each applied in its
//! own transaction with the version bump.
//!
//! The writer only ever *adds*: each flush carries what was metered since
//! the previous one, and an upsert adds it to the night's row (peaks take
//! the maximum, the deepest budget scale the minimum). A restarted daemon
//! therefore continues the night's counters without reading them first, and
//! a flush that fails is retried with the next one merged in.
//!
//! Between flushes the writer keeps a journal: one row (`journal`, id 1)
//! holding what was metered since the last flush, replaced about once a
//! second. A flush adds its batch and deletes the journal in the same
//! transaction, so a journal is never counted twice; a daemon that starts
//! and finds one (its predecessor was killed) folds it in the same way
//! ([`EnergyStore::fold_journal`]). A `kill -9` loses about a second.

use super::meter::{NightRecord, RunRecord, ScopeKind, ScopeRecord};
use super::EnergyError;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name inside the state folder.
pub(crate) const DB_FILE: &str = "energy.sqlite";

/// The schema, oldest first; version N means the first N are applied.
/// Never edit a shipped entry: append.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "per-night energy per scope and per show run",
        r#"
    -- Nights are local dates (noon to noon, site timezone), 'YYYY-MM-DD'.
    -- Instants are RFC 3339 UTC with nanoseconds: text order is time order.
    CREATE TABLE scope_night (
        night               TEXT NOT NULL,
        kind                TEXT NOT NULL,      -- site | group | ungrouped
        name                TEXT NOT NULL,
        kwh                 REAL NOT NULL DEFAULT 0,
        cost                REAL NOT NULL DEFAULT 0,
        co2_kg              REAL NOT NULL DEFAULT 0,
        baseline_kwh        REAL NOT NULL DEFAULT 0,
        peak_w              REAL NOT NULL DEFAULT 0,
        lit_s               REAL NOT NULL DEFAULT 0,
        metered_s           REAL NOT NULL DEFAULT 0,
        curfew_s            REAL NOT NULL DEFAULT 0,
        curfew_kwh          REAL NOT NULL DEFAULT 0,
        curfew_uncapped_kwh REAL NOT NULL DEFAULT 0,
        curfew_standby_kwh  REAL NOT NULL DEFAULT 0,
        max_w               REAL,               -- the budget last in force
        limited_s           REAL NOT NULL DEFAULT 0,
        min_scale           REAL,               -- NULL: never limited
        shed_kwh            REAL NOT NULL DEFAULT 0,
        over_s              REAL NOT NULL DEFAULT 0,
        first_at            TEXT,
        last_at             TEXT,
        PRIMARY KEY (night, kind, name)
    );
    CREATE TABLE show_run (
        night   TEXT NOT NULL,
        show    TEXT NOT NULL,
        started TEXT NOT NULL,
        kwh     REAL NOT NULL DEFAULT 0,
        cost    REAL NOT NULL DEFAULT 0,
        co2_kg  REAL NOT NULL DEFAULT 0,
        peak_w  REAL NOT NULL DEFAULT 0,
        seconds REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (night, show, started)
    );
    "#,
    ),
    (
        "the journal: energy metered since the last flush",
        r#"
    -- At most one row: the night records (JSON) metered since the last
    -- flush, replaced about once a second, deleted by the flush that adds them.
    CREATE TABLE journal (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        records TEXT NOT NULL,
        written TEXT NOT NULL
    );
    "#,
    ),
];

/// An open energy record.
pub struct EnergyStore {
    conn: Connection,
    path: PathBuf,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, EnergyError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| EnergyError::Corrupt(format!("instant `{s}`: {e}")))
}

fn parse_night(s: &str) -> Result<NaiveDate, EnergyError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| EnergyError::Corrupt(format!("night `{s}`: {e}")))
}

impl EnergyStore {
    /// Open (creating the folder and file) and migrate.
    pub(crate) fn open(state: &Path) -> Result<EnergyStore, EnergyError> {
        std::fs::create_dir_all(state).map_err(|source| EnergyError::Folder {
            path: state.to_path_buf(),
            source,
        })?;
        let path = state.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| EnergyError::Open {
            path: path.clone(),
            source,
        })?;
        let mut s = EnergyStore { conn, path };
        s.setup()?;
        s.migrate()?;
        Ok(s)
    }

    /// Open an existing record for reading; `None` when there is none yet
    /// (nothing has been metered in this state folder).
    pub(crate) fn open_existing(state: &Path) -> Result<Option<EnergyStore>, EnergyError> {
        let path = state.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| EnergyError::Open {
            path: path.clone(),
            source,
        })?;
        let mut s = EnergyStore { conn, path };
        s.setup()?;
        s.migrate()?;
        Ok(Some(s))
    }

    fn setup(&mut self) -> Result<(), EnergyError> {
        let open = |source| EnergyError::Open {
            path: self.path.clone(),
            source,
        };
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(open)?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(open)?;
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(open)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), EnergyError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(EnergyError::TooNew {
                path: self.path.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, (_name, sql)) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Add metered totals (one transaction for all nights). The journal
    /// goes in the same transaction: what it held is part of `records`.
    pub(crate) fn add(
        &mut self,
        records: &BTreeMap<NaiveDate, NightRecord>,
    ) -> Result<(), EnergyError> {
        self.add_then_journal(records, None)
    }

    /// Add `records` and replace the journal with `journal` (what was
    /// metered after them), in one transaction.
    pub(crate) fn add_then_journal(
        &mut self,
        records: &BTreeMap<NaiveDate, NightRecord>,
        journal: Option<&BTreeMap<NaiveDate, NightRecord>>,
    ) -> Result<(), EnergyError> {
        let journal = journal.map(journal_text).transpose()?;
        let tx = self.conn.transaction()?;
        add_tx(&tx, records)?;
        tx.execute("DELETE FROM journal", [])?;
        if let Some(text) = journal {
            write_journal_tx(&tx, &text)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replace the journal with what was metered since the last flush.
    pub(crate) fn write_journal(
        &mut self,
        records: &BTreeMap<NaiveDate, NightRecord>,
    ) -> Result<(), EnergyError> {
        let text = journal_text(records)?;
        write_journal_tx(&self.conn, &text)?;
        Ok(())
    }

    /// The journal left by a daemon that did not stop (killed, power cut):
    /// add it to the record and delete it, in one transaction. Returns
    /// what was folded (`None`: there was no journal). Only the daemon
    /// that holds the state folder's lock calls this, before it meters.
    pub(crate) fn fold_journal(
        &mut self,
    ) -> Result<Option<BTreeMap<NaiveDate, NightRecord>>, EnergyError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT records FROM journal WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        let Some(text) = text else {
            return Ok(None);
        };
        let records: BTreeMap<NaiveDate, NightRecord> = serde_json::from_str(&text)
            .map_err(|e| EnergyError::Corrupt(format!("the energy journal: {e}")))?;
        self.add(&records)?;
        Ok(Some(records))
    }
}

fn journal_text(records: &BTreeMap<NaiveDate, NightRecord>) -> Result<String, EnergyError> {
    serde_json::to_string(records)
        .map_err(|e| EnergyError::Corrupt(format!("the energy journal: {e}")))
}

fn write_journal_tx(conn: &Connection, text: &str) -> Result<(), EnergyError> {
    conn.execute(
        "INSERT INTO journal (id, records, written) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET records = excluded.records, written = excluded.written",
        params![text, ts(Utc::now())],
    )?;
    Ok(())
}

/// [`EnergyStore::add`] inside the caller's transaction.
fn add_tx(
    tx: &rusqlite::Transaction<'_>,
    records: &BTreeMap<NaiveDate, NightRecord>,
) -> Result<(), EnergyError> {
    {
        let mut scope = tx.prepare_cached(
                "INSERT INTO scope_night (night, kind, name, kwh, cost, co2_kg, baseline_kwh, peak_w,
                    lit_s, metered_s, curfew_s, curfew_kwh, curfew_uncapped_kwh, curfew_standby_kwh, max_w,
                    limited_s, min_scale, shed_kwh, over_s, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
                 ON CONFLICT (night, kind, name) DO UPDATE SET
                    kwh = kwh + excluded.kwh,
                    cost = cost + excluded.cost,
                    co2_kg = co2_kg + excluded.co2_kg,
                    baseline_kwh = baseline_kwh + excluded.baseline_kwh,
                    peak_w = MAX(peak_w, excluded.peak_w),
                    lit_s = lit_s + excluded.lit_s,
                    metered_s = metered_s + excluded.metered_s,
                    curfew_s = curfew_s + excluded.curfew_s,
                    curfew_kwh = curfew_kwh + excluded.curfew_kwh,
                    curfew_uncapped_kwh = curfew_uncapped_kwh + excluded.curfew_uncapped_kwh,
                    curfew_standby_kwh = curfew_standby_kwh + excluded.curfew_standby_kwh,
                    max_w = COALESCE(excluded.max_w, max_w),
                    limited_s = limited_s + excluded.limited_s,
                    min_scale = CASE WHEN min_scale IS NULL THEN excluded.min_scale
                                     WHEN excluded.min_scale IS NULL THEN min_scale
                                     ELSE MIN(min_scale, excluded.min_scale) END,
                    shed_kwh = shed_kwh + excluded.shed_kwh,
                    over_s = over_s + excluded.over_s,
                    first_at = CASE WHEN first_at IS NULL OR excluded.first_at < first_at
                                    THEN excluded.first_at ELSE first_at END,
                    last_at = CASE WHEN last_at IS NULL OR excluded.last_at > last_at
                                   THEN excluded.last_at ELSE last_at END",
            )?;
        let mut run = tx.prepare_cached(
            "INSERT INTO show_run (night, show, started, kwh, cost, co2_kg, peak_w, seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (night, show, started) DO UPDATE SET
                    kwh = kwh + excluded.kwh,
                    cost = cost + excluded.cost,
                    co2_kg = co2_kg + excluded.co2_kg,
                    peak_w = MAX(peak_w, excluded.peak_w),
                    seconds = seconds + excluded.seconds",
        )?;
        for (night, rec) in records {
            let night = night.format("%Y-%m-%d").to_string();
            for s in &rec.scopes {
                let Some(kind) = s.kind else { continue };
                scope.execute(params![
                    night,
                    kind.as_str(),
                    s.name,
                    s.kwh,
                    s.cost,
                    s.co2_kg,
                    s.baseline_kwh,
                    s.peak_w,
                    s.lit_s,
                    s.metered_s,
                    s.curfew_s,
                    s.curfew_kwh,
                    s.curfew_uncapped_kwh,
                    s.curfew_standby_kwh,
                    s.max_w,
                    s.limited_s,
                    s.min_scale,
                    s.shed_kwh,
                    s.over_s,
                    s.first_at.map(ts),
                    s.last_at.map(ts),
                ])?;
            }
            for r in &rec.runs {
                run.execute(params![
                    night,
                    r.show,
                    ts(r.started),
                    r.kwh,
                    r.cost,
                    r.co2_kg,
                    r.peak_w,
                    r.seconds,
                ])?;
            }
        }
    }
    Ok(())
}

impl EnergyStore {
    /// The recorded nights from `from` to `to` (inclusive), oldest first.
    pub(crate) fn nights(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NightRecord>, EnergyError> {
        let (f, t) = (
            from.format("%Y-%m-%d").to_string(),
            to.format("%Y-%m-%d").to_string(),
        );
        let mut out: BTreeMap<NaiveDate, NightRecord> = BTreeMap::new();
        let mut q = self.conn.prepare(
            "SELECT night, kind, name, kwh, cost, co2_kg, baseline_kwh, peak_w, lit_s, metered_s,
                    curfew_s, curfew_kwh, curfew_uncapped_kwh, curfew_standby_kwh, max_w,
                    limited_s, min_scale, shed_kwh, over_s, first_at, last_at
             FROM scope_night WHERE night >= ?1 AND night <= ?2 ORDER BY night, kind, name",
        )?;
        let mut rows = q.query(params![f, t])?;
        while let Some(r) = rows.next()? {
            let night = parse_night(&r.get::<_, String>(0)?)?;
            let kind: String = r.get(1)?;
            let kind = ScopeKind::parse(&kind)
                .ok_or_else(|| EnergyError::Corrupt(format!("scope kind `{kind}`")))?;
            let first: Option<String> = r.get(19)?;
            let last: Option<String> = r.get(20)?;
            let rec = ScopeRecord {
                kind: Some(kind),
                name: r.get(2)?,
                kwh: r.get(3)?,
                cost: r.get(4)?,
                co2_kg: r.get(5)?,
                baseline_kwh: r.get(6)?,
                peak_w: r.get(7)?,
                lit_s: r.get(8)?,
                metered_s: r.get(9)?,
                curfew_s: r.get(10)?,
                curfew_kwh: r.get(11)?,
                curfew_uncapped_kwh: r.get(12)?,
                curfew_standby_kwh: r.get(13)?,
                max_w: r.get(14)?,
                limited_s: r.get(15)?,
                min_scale: r.get(16)?,
                shed_kwh: r.get(17)?,
                over_s: r.get(18)?,
                first_at: first.as_deref().map(parse_ts).transpose()?,
                last_at: last.as_deref().map(parse_ts).transpose()?,
            };
            out.entry(night)
                .or_insert_with(|| NightRecord::new(night))
                .scopes
                .push(rec);
        }
        let mut q = self.conn.prepare(
            "SELECT night, show, started, kwh, cost, co2_kg, peak_w, seconds
             FROM show_run WHERE night >= ?1 AND night <= ?2 ORDER BY night, started, show",
        )?;
        let mut rows = q.query(params![f, t])?;
        while let Some(r) = rows.next()? {
            let night = parse_night(&r.get::<_, String>(0)?)?;
            let run = RunRecord {
                show: r.get(1)?,
                started: parse_ts(&r.get::<_, String>(2)?)?,
                kwh: r.get(3)?,
                cost: r.get(4)?,
                co2_kg: r.get(5)?,
                peak_w: r.get(6)?,
                seconds: r.get(7)?,
            };
            out.entry(night)
                .or_insert_with(|| NightRecord::new(night))
                .runs
                .push(run);
        }
        Ok(out.into_values().collect())
    }

    /// The latest night with a record, if any.
    pub(crate) fn last_night(&self) -> Result<Option<NaiveDate>, EnergyError> {
        let s: Option<String> =
            self.conn
                .query_row("SELECT MAX(night) FROM scope_night", [], |r| r.get(0))?;
        s.as_deref().map(parse_night).transpose()
    }
}
