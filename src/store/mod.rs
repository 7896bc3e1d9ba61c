//! The runtime state store: one SQLite database in the state folder
//! (default `./var/`, never the site folder) holding operator overrides,
//! triggered scenes, masters, the audit log and small key-value settings,
//! with room for the energy record.
//!
//! Durability is the point: the city expects an override to survive a
//! power cut or a `kill -9`, so the database runs in WAL mode with
//! `synchronous = FULL` (writes are a handful per night; each commit is on
//! disk before the API answers), and every change is written together with
//! its audit row in one transaction. The schema is versioned by
//! `PRAGMA user_version` (see [`migrations`]).
//!
//! Every method here blocks. Async callers go through [`Store::run`], which
//! moves the work to tokio's blocking pool, so SQLite never stalls the
//! async workers that serve HTTP.

mod idempotency;
pub(crate) mod migrations;

use chrono::{DateTime, SecondsFormat, Utc};
use nightscape_core::control::{Action, ControlState, Master, Override, Scene};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

pub(crate) use migrations::{Migration, MIGRATIONS};

/// The database file's name inside the state folder.
pub(crate) const DB_FILE: &str = "nightscape.sqlite3";

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state database {path} has schema version {found}, newer than this build knows ({known}): run the newer nightscape or restore a backup")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("state database migration {version} ({name}): {source}")]
    Migration {
        version: usize,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database holds a value it cannot read: {0}")]
    Corrupt(String),
    #[error("state database task failed: {0}")]
    Task(String),
    /// The row would repeat one in force (a unique constraint refused it):
    /// nothing was written.
    #[error("{0}")]
    Duplicate(String),
}

/// One line of the audit log: who did what, when, from where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The token's name (never its secret).
    pub actor: String,
    /// A dotted verb: `override.create`, `scene.trigger`, `master.set`, …
    pub action: String,
    pub detail: serde_json::Value,
    /// The client's socket address, when known.
    pub remote: Option<String>,
}

/// An audit entry as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The override record format this build writes and reads (the
/// `version` column). Bump it when a row's meaning changes (a new action's
/// JSON, a new column a reader must honour); an older build then leaves
/// such rows out of force, logged and audited with their version, instead
/// of misreading them.
pub(crate) const OVERRIDE_RECORD: i64 = 1;

/// Control state as persisted, with the instants operators cancelled items
/// at (the in-memory model only needs the moved end; people reading the
/// status want to see "releasing").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Persisted {
    pub state: ControlState,
    pub cancelled_overrides: Vec<(i64, DateTime<Utc>)>,
    pub cancelled_scenes: Vec<(i64, DateTime<Utc>)>,
    /// Rows this build could not read, skipped (what and why).
    pub skipped: Vec<String>,
}

/// A write's `Idempotency-Key`, scoped to the token that sent it, with the
/// request it came with (a key reused for another request is refused).
/// Built by [`IdempotencyKey::new`]; compared by [`IdempotencyKey::matches`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdempotencyKey {
    pub actor: String,
    pub key: String,
    /// The request's fingerprint: its route, a newline and the SHA-256 of
    /// its canonical JSON (`idempotency.rs`).
    pub request: String,
}

/// An answer as it was sent: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReply {
    pub status: u16,
    pub body: String,
}

/// A night's mode forced by an operator (over the `[[modes]]` rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ForcedMode {
    pub id: i64,
    pub night: chrono::NaiveDate,
    pub mode: String,
    pub created: DateTime<Utc>,
    pub author: String,
    pub note: Option<String>,
}

/// How long an idempotency key is remembered.
pub(crate) const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::days(1);

/// A schedule entry skipped for one night.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    pub id: i64,
    pub night: chrono::NaiveDate,
    pub entry: usize,
    pub show: String,
    pub created: DateTime<Utc>,
    pub author: String,
    pub note: Option<String>,
}

/// A handle to the state database; cheap to clone, shared by every user.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The fleet-wide ids of the rows that have one, both ways (read on
    /// every API answer that lists overrides: no query for that).
    fleet_ids: Arc<RwLock<FleetIds>>,
}

/// The operator items a fleet names with one id on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FleetItem {
    Override,
    Scene,
}

impl FleetItem {
    fn table(self) -> &'static str {
        match self {
            FleetItem::Override => "overrides",
            FleetItem::Scene => "scenes",
        }
    }
}

/// [`Store::fleet_id`]'s cache of the `fleet_id` columns.
#[derive(Debug, Default)]
struct FleetIds {
    by_local: HashMap<(FleetItem, i64), String>,
    by_fleet: HashMap<(FleetItem, String), i64>,
}

impl FleetIds {
    fn insert(&mut self, kind: FleetItem, local: i64, fleet: String) {
        if let Some(old) = self.by_local.remove(&(kind, local)) {
            self.by_fleet.remove(&(kind, old));
        }
        if let Some(other) = self.by_fleet.remove(&(kind, fleet.clone())) {
            self.by_local.remove(&(kind, other));
        }
        self.by_local.insert((kind, local), fleet.clone());
        self.by_fleet.insert((kind, fleet), local);
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Instants as fixed-width RFC 3339 UTC text, so SQL text order is time order.
pub(crate) fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("instant `{text}`: {e}")))
}

fn parse_opt_instant(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_instant).transpose()
}

impl Store {
    /// Open (creating on first run) the database in `state_dir`, apply any
    /// pending migrations, and set WAL mode.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Folder {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path)
    }

    /// A throwaway store for tests and previews.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path)
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        // Another process (a second daemon, `sqlite3` in a shell) may hold a
        // lock briefly; wait rather than fail an operator's request.
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        // journal_mode answers with the mode in force (in-memory stays "memory").
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        migrate(&mut conn, &path, MIGRATIONS)?;
        let mut ids = FleetIds::default();
        for kind in [FleetItem::Override, FleetItem::Scene] {
            let sql = format!(
                "SELECT id, fleet_id FROM {} WHERE fleet_id IS NOT NULL",
                kind.table()
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for (local, fleet) in rows.flatten() {
                ids.insert(kind, local, fleet);
            }
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
            fleet_ids: Arc::new(RwLock::new(ids)),
        })
    }

    /// Name a row with its fleet-wide id (a row that had this id before
    /// loses it: the newest holder wins).
    pub(crate) fn set_fleet_id(
        &self,
        kind: FleetItem,
        local: i64,
        fleet: &str,
    ) -> Result<(), StoreError> {
        let table = kind.table();
        self.with_transaction(|tx| {
            tx.execute(
                &format!("UPDATE {table} SET fleet_id = NULL WHERE fleet_id = ?1 AND id <> ?2"),
                params![fleet, local],
            )?;
            tx.execute(
                &format!("UPDATE {table} SET fleet_id = ?1 WHERE id = ?2"),
                params![fleet, local],
            )?;
            Ok(())
        })?;
        self.fleet_ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, local, fleet.to_string());
        Ok(())
    }

    /// The fleet-wide id of a local row, if the fleet named it.
    pub(crate) fn fleet_id(&self, kind: FleetItem, local: i64) -> Option<String> {
        self.fleet_ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_local
            .get(&(kind, local))
            .cloned()
    }

    /// The local row a fleet-wide id names here, if any.
    pub(crate) fn local_id(&self, kind: FleetItem, fleet: &str) -> Option<i64> {
        self.fleet_ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_fleet
            .get(&(kind, fleet.to_string()))
            .copied()
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the blocking pool: the way async code uses the store.
    pub(crate) async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    {
        let store = self.clone();
        crate::tasks::blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Direct access for modules that own their own tables (energy): run
    /// `f` with the connection inside one transaction.
    pub(crate) fn with_transaction<R>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let r = f(&tx)?;
        tx.commit()?;
        Ok(r)
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Everything still in force at `now`: overrides not yet expired,
    /// scenes not yet ended, all masters. Items that ended are deleted on
    /// the way (their history is in the audit log).
    pub fn load(&self, now: DateTime<Utc>) -> Result<Persisted, StoreError> {
        self.prune(now)?;
        let conn = self.lock();
        let mut out = Persisted::default();
        let mut stmt = conn.prepare(
            "SELECT id, target, action, priority, created, expires, fade, note, author, cancelled, version
             FROM overrides ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, f64>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, i64>(10)?,
            ))
        })?;
        for (n, row) in rows.enumerate() {
            // One row this build cannot read (a newer build's value, a hand
            // edit) must not cost the operator every other override: skip it
            // and say so; the daemon logs and audits it.
            let parsed = row.map_err(StoreError::from).and_then(
                |(
                    id,
                    target,
                    action,
                    priority,
                    created,
                    expires,
                    fade,
                    note,
                    author,
                    cancelled,
                    version,
                )| {
                    if version > OVERRIDE_RECORD {
                        return Err(StoreError::Corrupt(format!(
                            "override {id} is an override record of version {version}, written by a newer nightscape; this build reads versions up to {OVERRIDE_RECORD}, so it is left out of force (run the newer nightscape, or release it there)"
                        )));
                    }
                    let action: Action = serde_json::from_str(&action)
                        .map_err(|e| StoreError::Corrupt(format!("override {id} action: {e}")))?;
                    let priority = i32::try_from(priority).map_err(|_| {
                        StoreError::Corrupt(format!("override {id} priority {priority}"))
                    })?;
                    let o = Override {
                        id,
                        target,
                        action,
                        priority,
                        created: parse_instant(&created)?,
                        expires: parse_opt_instant(expires)?,
                        fade,
                        note,
                        author,
                    };
                    Ok((o, parse_opt_instant(cancelled)?))
                },
            );
            match parsed {
                Ok((o, cancelled)) => {
                    if let Some(c) = cancelled {
                        out.cancelled_overrides.push((o.id, c));
                    }
                    out.state.overrides.push(o);
                }
                Err(e) => out.skipped.push(format!("override row {}: {e}", n + 1)),
            }
        }
        drop(stmt);
        let mut stmt = conn.prepare(
            "SELECT id, show, target, priority, started, ends, fade, author, cancelled
             FROM scenes ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<f64>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })?;
        for (n, row) in rows.enumerate() {
            let parsed = row.map_err(StoreError::from).and_then(
                |(id, show, target, priority, started, ends, fade, author, cancelled)| {
                    let priority = i32::try_from(priority).map_err(|_| {
                        StoreError::Corrupt(format!("scene {id} priority {priority}"))
                    })?;
                    let s = Scene {
                        id,
                        show,
                        target,
                        priority,
                        started: parse_instant(&started)?,
                        ends: parse_instant(&ends)?,
                        fade,
                        author,
                    };
                    Ok((s, parse_opt_instant(cancelled)?))
                },
            );
            match parsed {
                Ok((s, cancelled)) => {
                    if let Some(c) = cancelled {
                        out.cancelled_scenes.push((s.id, c));
                    }
                    out.state.scenes.push(s);
                }
                Err(e) => out.skipped.push(format!("scene row {}: {e}", n + 1)),
            }
        }
        drop(stmt);
        let mut stmt = conn.prepare("SELECT target, level FROM masters ORDER BY target")?;
        let rows = stmt.query_map([], |r| {
            Ok(Master {
                target: r.get(0)?,
                level: r.get::<_, f64>(1)? as f32,
            })
        })?;
        for (n, m) in rows.enumerate() {
            match m {
                Ok(m) => out.state.masters.push(m),
                Err(e) => out.skipped.push(format!("master row {}: {e}", n + 1)),
            }
        }
        Ok(out)
    }

    /// Delete overrides and scenes whose end is at or before `now`.
    /// Returns how many rows went.
    pub(crate) fn prune(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now_t = now;
        let now = instant_text(now);
        let conn = self.lock();
        let a = conn.execute(
            "DELETE FROM overrides WHERE expires IS NOT NULL AND expires <= ?1",
            [&now],
        )?;
        let b = conn.execute("DELETE FROM scenes WHERE ends <= ?1", [&now])?;
        conn.execute(
            "DELETE FROM idempotency WHERE at <= ?1",
            [instant_text(
                now_t
                    .checked_sub_signed(IDEMPOTENCY_TTL)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            )],
        )?;
        Ok(a + b)
    }

    /// Store a new override (its `id` is ignored) with its audit row;
    /// returns the id it got.
    pub fn insert_override(&self, o: &Override, audit: &AuditEntry) -> Result<i64, StoreError> {
        self.with_transaction(|tx| Store::insert_override_tx(tx, o, audit))
    }

    /// [`Store::insert_override`] inside the caller's transaction.
    pub(crate) fn insert_override_tx(
        tx: &rusqlite::Transaction<'_>,
        o: &Override,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let action = serde_json::to_string(&o.action)
            .map_err(|e| StoreError::Corrupt(format!("override action: {e}")))?;
        {
            tx.execute(
                "INSERT INTO overrides (target, action, priority, created, expires, fade, note, author, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    o.target,
                    action,
                    o.priority,
                    instant_text(o.created),
                    o.expires.map(instant_text),
                    o.fade,
                    o.note,
                    o.author,
                    OVERRIDE_RECORD
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_audit(tx, &with_id(audit, id))?;
            Ok(id)
        }
    }

    /// Move the ends of overrides (a release: their fade-out now ends at
    /// `ends`) and record when they were cancelled, with one audit row.
    /// Returns the ids that exist.
    pub fn release_overrides(
        &self,
        ids: &[(i64, DateTime<Utc>)],
        cancelled: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<Vec<i64>, StoreError> {
        self.with_transaction(|tx| Store::release_overrides_tx(tx, ids, cancelled, audit))
    }

    /// [`Store::release_overrides`] inside the caller's transaction.
    pub(crate) fn release_overrides_tx(
        tx: &rusqlite::Transaction<'_>,
        ids: &[(i64, DateTime<Utc>)],
        cancelled: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<Vec<i64>, StoreError> {
        {
            let mut done = Vec::new();
            for &(id, ends) in ids {
                let n = tx.execute(
                    "UPDATE overrides SET expires = ?2, cancelled = COALESCE(cancelled, ?3) WHERE id = ?1",
                    params![id, instant_text(ends), instant_text(cancelled)],
                )?;
                if n > 0 {
                    done.push(id);
                }
            }
            insert_audit(tx, audit)?;
            Ok(done)
        }
    }

    /// Move the end of an override that is not being released, with its
    /// audit row. False when no such override is in force.
    pub fn extend_override(
        &self,
        id: i64,
        expires: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with_transaction(|tx| Store::extend_override_tx(tx, id, expires, audit))
    }

    /// [`Store::extend_override`] inside `tx`.
    pub(crate) fn extend_override_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        expires: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let n = tx.execute(
            "UPDATE overrides SET expires = ?2 WHERE id = ?1 AND cancelled IS NULL AND expires IS NOT NULL",
            params![id, instant_text(expires)],
        )?;
        if n > 0 {
            insert_audit(tx, audit)?;
        }
        Ok(n > 0)
    }

    /// Skip a schedule entry for one night (its `id` is ignored), with its
    /// audit row; returns the id it got.
    pub fn insert_skip(&self, s: &Skip, audit: &AuditEntry) -> Result<i64, StoreError> {
        self.with_transaction(|tx| Store::insert_skip_tx(tx, s, audit))
    }

    /// [`Store::insert_skip`] inside `tx`. A skip of a night's entry that is
    /// already skipped (and not undone) is [`StoreError::Duplicate`]: the
    /// unique index `skips_one_per_slot` decides, so two concurrent skips of
    /// one slot can never both be written.
    pub(crate) fn insert_skip_tx(
        tx: &rusqlite::Transaction<'_>,
        s: &Skip,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let inserted = tx.execute(
            "INSERT INTO skips (night, entry, show, created, author, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                s.night.to_string(),
                s.entry as i64,
                s.show,
                instant_text(s.created),
                s.author,
                s.note
            ],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::Duplicate(format!(
                    "{} is already skipped on the night of {}",
                    s.show, s.night
                )));
            }
            other => other?,
        };
        let id = tx.last_insert_rowid();
        insert_audit(tx, &with_id(audit, id))?;
        Ok(id)
    }

    /// Undo a skip, with its audit row. False when no such skip is in force.
    pub fn undo_skip(
        &self,
        id: i64,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with_transaction(|tx| Store::undo_skip_tx(tx, id, at, audit))
    }

    /// [`Store::undo_skip`] inside `tx`.
    pub(crate) fn undo_skip_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let n = tx.execute(
            "UPDATE skips SET undone = ?2 WHERE id = ?1 AND undone IS NULL",
            params![id, instant_text(at)],
        )?;
        if n > 0 {
            insert_audit(tx, audit)?;
        }
        Ok(n > 0)
    }

    /// Skips in force for nights from `from` on, oldest night first.
    pub fn skips(&self, from: chrono::NaiveDate) -> Result<Vec<Skip>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, night, entry, show, created, author, note FROM skips
             WHERE undone IS NULL AND night >= ?1 ORDER BY night, id",
        )?;
        let rows = stmt.query_map([from.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, night, entry, show, created, author, note) = row?;
            out.push(Skip {
                id,
                night: chrono::NaiveDate::parse_from_str(&night, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("skip night `{night}`: {e}")))?,
                entry: usize::try_from(entry)
                    .map_err(|_| StoreError::Corrupt(format!("skip entry {entry}")))?,
                show,
                created: parse_instant(&created)?,
                author,
                note,
            });
        }
        Ok(out)
    }

    /// Force night `f.night`'s mode inside `tx` (its `id` is ignored),
    /// with its audit row: a force already in force for that night is
    /// replaced (marked undone now), so a night has at most one. Returns
    /// the new row's id.
    pub(crate) fn force_mode_tx(
        tx: &rusqlite::Transaction<'_>,
        f: &ForcedMode,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        tx.execute(
            "UPDATE forced_modes SET undone = ?2 WHERE night = ?1 AND undone IS NULL",
            params![f.night.to_string(), instant_text(f.created)],
        )?;
        tx.execute(
            "INSERT INTO forced_modes (night, mode, created, author, note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                f.night.to_string(),
                f.mode,
                instant_text(f.created),
                f.author,
                f.note
            ],
        )?;
        let id = tx.last_insert_rowid();
        insert_audit(tx, &with_id(audit, id))?;
        Ok(id)
    }

    /// Undo the force on `night` inside `tx`, with its audit row. False
    /// when none is in force.
    pub(crate) fn unforce_mode_tx(
        tx: &rusqlite::Transaction<'_>,
        night: chrono::NaiveDate,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let n = tx.execute(
            "UPDATE forced_modes SET undone = ?2 WHERE night = ?1 AND undone IS NULL",
            params![night.to_string(), instant_text(at)],
        )?;
        if n > 0 {
            insert_audit(tx, audit)?;
        }
        Ok(n > 0)
    }

    /// Forced modes in force for nights from `from` on, oldest night first.
    pub(crate) fn forced_modes(
        &self,
        from: chrono::NaiveDate,
    ) -> Result<Vec<ForcedMode>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, night, mode, created, author, note FROM forced_modes
             WHERE undone IS NULL AND night >= ?1 ORDER BY night",
        )?;
        let rows = stmt.query_map([from.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, night, mode, created, author, note) = row?;
            out.push(ForcedMode {
                id,
                night: chrono::NaiveDate::parse_from_str(&night, "%Y-%m-%d").map_err(|e| {
                    StoreError::Corrupt(format!("forced mode night `{night}`: {e}"))
                })?,
                mode,
                created: parse_instant(&created)?,
                author,
                note,
            });
        }
        Ok(out)
    }

    /// Store a triggered scene (its `id` is ignored) with its audit row.
    pub fn insert_scene(&self, s: &Scene, audit: &AuditEntry) -> Result<i64, StoreError> {
        self.with_transaction(|tx| Store::insert_scene_tx(tx, s, audit))
    }

    /// [`Store::insert_scene`] inside the caller's transaction.
    pub(crate) fn insert_scene_tx(
        tx: &rusqlite::Transaction<'_>,
        s: &Scene,
        audit: &AuditEntry,
    ) -> Result<i64, StoreError> {
        {
            tx.execute(
                "INSERT INTO scenes (show, target, priority, started, ends, fade, author)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.show,
                    s.target,
                    s.priority,
                    instant_text(s.started),
                    instant_text(s.ends),
                    s.fade,
                    s.author
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_audit(tx, &with_id(audit, id))?;
            Ok(id)
        }
    }

    /// Stop a scene early: it now ends (its fade-out finishes) at `ends`.
    /// Returns whether it existed.
    pub fn release_scene(
        &self,
        id: i64,
        ends: DateTime<Utc>,
        cancelled: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with_transaction(|tx| Store::release_scene_tx(tx, id, ends, cancelled, audit))
    }

    /// [`Store::release_scene`] inside the caller's transaction.
    pub(crate) fn release_scene_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        ends: DateTime<Utc>,
        cancelled: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        {
            let n = tx.execute(
                "UPDATE scenes SET ends = ?2, cancelled = COALESCE(cancelled, ?3) WHERE id = ?1",
                params![id, instant_text(ends), instant_text(cancelled)],
            )?;
            if n > 0 {
                insert_audit(tx, audit)?;
            }
            Ok(n > 0)
        }
    }

    /// Set a master; a level of 1 removes it (a master at full is no master).
    pub(crate) fn set_master(&self, m: &Master, audit: &AuditEntry) -> Result<(), StoreError> {
        self.with_transaction(|tx| Store::set_master_tx(tx, m, audit))
    }

    /// [`Store::set_master`] inside the caller's transaction.
    pub(crate) fn set_master_tx(
        tx: &rusqlite::Transaction<'_>,
        m: &Master,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        {
            if m.level >= 1.0 {
                tx.execute("DELETE FROM masters WHERE target = ?1", [&m.target])?;
            } else {
                tx.execute(
                    "INSERT INTO masters (target, level) VALUES (?1, ?2)
                     ON CONFLICT(target) DO UPDATE SET level = excluded.level",
                    params![m.target, m.level as f64],
                )?;
            }
            insert_audit(tx, audit)?;
            Ok(())
        }
    }

    /// The answer stored under `key` for its actor, if given since
    /// `not_before`, with the request it answered.
    pub fn idempotent_reply(
        &self,
        actor: &str,
        key: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<(String, StoredReply)>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT request, status, body FROM idempotency
                 WHERE actor = ?1 AND key = ?2 AND at > ?3",
                params![actor, key, instant_text(not_before)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        StoredReply {
                            status: r.get::<_, i64>(1)?.clamp(100, 599) as u16,
                            body: r.get(2)?,
                        },
                    ))
                },
            )
            .optional()?)
    }

    /// Remember `reply` under `key`, inside the transaction of the change it
    /// answers (a key that expired is replaced).
    pub(crate) fn put_idempotent_reply_tx(
        tx: &rusqlite::Transaction<'_>,
        key: &IdempotencyKey,
        reply: &StoredReply,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO idempotency (actor, key, request, status, body, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(actor, key) DO UPDATE SET request = excluded.request,
               status = excluded.status, body = excluded.body, at = excluded.at",
            params![
                key.actor,
                key.key,
                key.request,
                reply.status as i64,
                reply.body,
                instant_text(at)
            ],
        )?;
        Ok(())
    }

    /// Append an audit row on its own (for actions that change no table).
    pub(crate) fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with_transaction(|tx| insert_audit(tx, entry))
    }

    /// The latest `limit` audit rows, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_page(None, limit)
    }

    /// Up to `limit` audit rows older than the row `before` (all when
    /// None), newest first: cursor paging that costs the page, not the log.
    pub(crate) fn audit_page(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, at, actor, action, detail, remote FROM audit WHERE id < ?2 ORDER BY id DESC LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before.unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit, before], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, actor, action, detail, remote) = row?;
            out.push(AuditRow {
                id,
                entry: AuditEntry {
                    at: parse_instant(&at)?,
                    actor,
                    action,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::Corrupt(format!("audit {id} detail: {e}")))?,
                    remote,
                },
            });
        }
        Ok(out)
    }

    /// A setting, if set.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Every setting whose key starts with `prefix`, in key order.
    pub(crate) fn kv_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT key, value FROM kv WHERE substr(key, 1, ?2) = ?1 ORDER BY key")?;
        let rows = stmt
            .query_map(params![prefix, prefix.len() as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Set a setting.
    pub(crate) fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO kv (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}

/// The audit entry with the id of the row it created added to its detail.
fn with_id(audit: &AuditEntry, id: i64) -> AuditEntry {
    let mut a = audit.clone();
    if let serde_json::Value::Object(m) = &mut a.detail {
        m.insert("id".into(), id.into());
    }
    a
}

fn insert_audit(tx: &rusqlite::Transaction<'_>, a: &AuditEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit (at, actor, action, detail, remote) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            instant_text(a.at),
            a.actor,
            a.action,
            a.detail.to_string(),
            a.remote
        ],
    )?;
    Ok(())
}

/// Apply the migrations after the database's `user_version`.
fn migrate(conn: &mut Connection, path: &Path, list: &[Migration]) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found < 0 || found as usize > list.len() {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: list.len(),
        });
    }
    for (i, m) in list.iter().enumerate().skip(found as usize) {
        let version = i + 1;
        let err = |source| StoreError::Migration {
            version,
            name: m.name,
            source,
        };
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(m.sql).map_err(err)?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(version, name = m.name, "state database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn audit(action: &str) -> AuditEntry {
        AuditEntry {
            at: t(0),
            actor: "test".into(),
            action: action.into(),
            detail: serde_json::json!({}),
            remote: None,
        }
    }

    fn ov(expires: Option<i64>) -> Override {
        Override {
            id: 0,
            target: "square".into(),
            action: Action::Blackout,
            priority: 2000,
            created: t(0),
            expires: expires.map(t),
            fade: 1.5,
            note: Some("test".into()),
            author: "test".into(),
        }
    }

    /// A night has one forced mode at a time: forcing again replaces it
    /// (the old row kept as history), undoing leaves none, each audited.
    #[test]
    fn a_night_has_one_forced_mode_replaced_and_undone_as_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let night = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let force = |mode: &str, at: i64| ForcedMode {
            id: 0,
            night,
            mode: mode.into(),
            created: t(at),
            author: "ops".into(),
            note: None,
        };
        let a = audit("schedule.force_mode");
        let first = s
            .with_transaction(|tx| Store::force_mode_tx(tx, &force("festival", 1), &a))
            .unwrap();
        let second = s
            .with_transaction(|tx| Store::force_mode_tx(tx, &force("dark-day", 2), &a))
            .unwrap();
        assert_ne!(first, second);
        let now = s.forced_modes(night).unwrap();
        assert_eq!(
            now.iter()
                .map(|f| (f.id, f.mode.as_str()))
                .collect::<Vec<_>>(),
            [(second, "dark-day")]
        );
        // Nights before `from` are not listed.
        assert!(s
            .forced_modes(night.succ_opt().unwrap())
            .unwrap()
            .is_empty());
        let u = audit("schedule.unforce_mode");
        assert!(s
            .with_transaction(|tx| Store::unforce_mode_tx(tx, night, t(3), &u))
            .unwrap());
        assert!(!s
            .with_transaction(|tx| Store::unforce_mode_tx(tx, night, t(4), &u))
            .unwrap());
        assert!(s.forced_modes(night).unwrap().is_empty());
        let (rows, audits): (i64, i64) = {
            let c = s.lock();
            (
                c.query_row("SELECT COUNT(*) FROM forced_modes", [], |r| r.get(0))
                    .unwrap(),
                c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
                    .unwrap(),
            )
        };
        assert_eq!(
            (rows, audits),
            (2, 3),
            "history kept; two forces and one undo audited"
        );
    }

    #[test]
    fn a_second_skip_of_a_slot_is_refused_and_old_duplicates_are_kept_as_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        // A database as an older build left it: one slot skipped three times.
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate(&mut conn, &path, &MIGRATIONS[..4]).unwrap();
            for _ in 0..3 {
                conn.execute(
                    "INSERT INTO skips (night, entry, show, created, author) VALUES ('2026-12-31', 1, 'nightly', ?1, 'a')",
                    [instant_text(t(0))],
                )
                .unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let night = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let kept = s.skips(night).unwrap();
        assert_eq!(kept.iter().map(|k| k.id).collect::<Vec<_>>(), [1]);
        let rows: i64 = s
            .lock()
            .query_row("SELECT COUNT(*) FROM skips", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3, "the duplicates stay as history");
        let skip = Skip {
            id: 0,
            night,
            entry: 1,
            show: "nightly".into(),
            created: t(5),
            author: "b".into(),
            note: None,
        };
        let audits = |s: &Store| -> i64 {
            s.lock()
                .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
                .unwrap()
        };
        let before = audits(&s);
        match s.insert_skip(&skip, &audit("schedule.skip")) {
            Err(StoreError::Duplicate(m)) => assert!(m.contains("nightly"), "{m}"),
            other => panic!("a second skip of the slot: {other:?}"),
        }
        assert_eq!(audits(&s), before, "a refused skip is not audited");
        // Another entry, or the same one once undone, is fine.
        let other = Skip {
            entry: 2,
            ..skip.clone()
        };
        assert!(s.insert_skip(&other, &audit("schedule.skip")).is_ok());
        assert!(s.undo_skip(1, t(6), &audit("schedule.unskip")).unwrap());
        assert!(s.insert_skip(&skip, &audit("schedule.skip")).is_ok());
    }

    #[test]
    fn migrations_are_versioned_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_later_migration_applies_on_top() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let mut list = MIGRATIONS.to_vec();
        list.push(Migration {
            name: "energy",
            sql: "CREATE TABLE energy (night TEXT PRIMARY KEY, wh REAL NOT NULL);",
        });
        migrate(&mut conn, dir.path(), &list).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, list.len() as i64);
        drop(conn);
        // The older build refuses the newer database instead of misreading it.
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn overrides_round_trip_and_prune() {
        let s = Store::open_in_memory().unwrap();
        let a = s.insert_override(&ov(Some(100)), &audit("o")).unwrap();
        let b = s.insert_override(&ov(None), &audit("o")).unwrap();
        assert!(b > a);
        let p = s.load(t(50)).unwrap();
        assert_eq!(p.state.overrides.len(), 2);
        assert_eq!(p.state.overrides[0].expires, Some(t(100)));
        assert_eq!(p.state.overrides[0].note.as_deref(), Some("test"));
        assert_eq!(p.state.overrides[0].fade, 1.5);
        let p = s.load(t(100)).unwrap();
        assert_eq!(p.state.overrides.len(), 1);
        assert_eq!(p.state.overrides[0].id, b);
        // Ids are never reused.
        let c = s.insert_override(&ov(None), &audit("o")).unwrap();
        assert!(c > b);
        let done = s
            .release_overrides(&[(b, t(120)), (999, t(120))], t(119), &audit("r"))
            .unwrap();
        assert_eq!(done, vec![b]);
        let p = s.load(t(110)).unwrap();
        assert_eq!(p.cancelled_overrides, vec![(b, t(119))]);
        assert_eq!(s.audit_log(10).unwrap().len(), 4);
        assert_eq!(s.audit_log(10).unwrap()[0].entry.action, "r");
    }

    #[test]
    fn idempotent_replies_are_kept_for_a_day() {
        let s = Store::open_in_memory().unwrap();
        let key = IdempotencyKey {
            actor: "op".into(),
            key: "k1".into(),
            request: "POST /api/overrides".into(),
        };
        let reply = StoredReply {
            status: 201,
            body: "{}".into(),
        };
        s.with_transaction(|tx| {
            Store::insert_override_tx(tx, &ov(None), &audit("o"))?;
            Store::put_idempotent_reply_tx(tx, &key, &reply, t(0))
        })
        .unwrap();
        let found = s.idempotent_reply("op", "k1", t(-10)).unwrap();
        assert_eq!(found, Some((key.request.clone(), reply)));
        assert_eq!(s.idempotent_reply("other", "k1", t(-10)).unwrap(), None);
        // Older than the window: forgotten, then pruned.
        assert_eq!(s.idempotent_reply("op", "k1", t(0)).unwrap(), None);
        s.prune(t(86_400)).unwrap();
        assert_eq!(s.idempotent_reply("op", "k1", t(-10)).unwrap(), None);
    }

    #[test]
    fn an_unreadable_row_is_skipped_not_fatal() {
        let s = Store::open_in_memory().unwrap();
        let good = s.insert_override(&ov(None), &audit("o")).unwrap();
        let bad = s.insert_override(&ov(None), &audit("o")).unwrap();
        s.lock()
            .execute(
                "UPDATE overrides SET action = '{\"Strobe\":9}', created = 12 WHERE id = ?1",
                [bad],
            )
            .unwrap();
        let p = s.load(t(1)).unwrap();
        assert_eq!(p.state.overrides.len(), 1);
        assert_eq!(p.state.overrides[0].id, good);
        assert_eq!(p.skipped.len(), 1);
        assert!(p.skipped[0].contains("override"), "{:?}", p.skipped);
    }

    #[test]
    fn an_override_of_a_newer_record_version_is_refused_naming_it() {
        let s = Store::open_in_memory().unwrap();
        let good = s.insert_override(&ov(None), &audit("o")).unwrap();
        let newer = s.insert_override(&ov(None), &audit("o")).unwrap();
        let version: i64 = s
            .lock()
            .query_row("SELECT version FROM overrides WHERE id = ?1", [good], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, OVERRIDE_RECORD);
        s.lock()
            .execute("UPDATE overrides SET version = 2 WHERE id = ?1", [newer])
            .unwrap();
        let p = s.load(t(1)).unwrap();
        assert_eq!(
            p.state.overrides.iter().map(|o| o.id).collect::<Vec<_>>(),
            [good]
        );
        assert_eq!(p.skipped.len(), 1);
        assert!(
            p.skipped[0].contains(&format!(
                "override {newer} is an override record of version 2"
            )) && p.skipped[0].contains("versions up to 1"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn scenes_masters_kv() {
        let s = Store::open_in_memory().unwrap();
        let scene = Scene {
            id: 0,
            show: "nightly".into(),
            target: None,
            priority: 1000,
            started: t(0),
            ends: t(60),
            fade: None,
            author: "a".into(),
        };
        let id = s.insert_scene(&scene, &audit("s")).unwrap();
        assert!(s.release_scene(id, t(10), t(5), &audit("x")).unwrap());
        assert!(!s.release_scene(id + 1, t(10), t(5), &audit("x")).unwrap());
        let p = s.load(t(5)).unwrap();
        assert_eq!(p.state.scenes[0].ends, t(10));
        s.set_master(
            &Master {
                target: "*".into(),
                level: 0.5,
            },
            &audit("m"),
        )
        .unwrap();
        assert_eq!(s.load(t(5)).unwrap().state.masters[0].level, 0.5);
        s.set_master(
            &Master {
                target: "*".into(),
                level: 1.0,
            },
            &audit("m"),
        )
        .unwrap();
        assert!(s.load(t(5)).unwrap().state.masters.is_empty());
        assert_eq!(s.kv_get("cid").unwrap(), None);
        s.kv_set("cid", "abc").unwrap();
        s.kv_set("cid", "def").unwrap();
        assert_eq!(s.kv_get("cid").unwrap().as_deref(), Some("def"));
    }
}
