//! The schema, as an append-only list of migrations.
//!
//! A migration's position in [`MIGRATIONS`] is its version: the database
//! records the last one applied in `PRAGMA user_version`, and opening a
//! store applies the ones after it, each in its own transaction together
//! with the version bump, so a crash mid-upgrade leaves the previous
//! version intact. Never edit or reorder a migration that has shipped: add
//! a new one at the end (the energy record, for instance, arrives as the
//! next entry with its own `CREATE TABLE`).

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// What the step does, for logs and errors.
    pub name: &'static str,
    /// SQL run as one batch inside the step's transaction.
    pub sql: &'static str,
}

/// Every schema step, oldest first. Version N means the first N are applied.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "operator control, audit log and key-value settings",
        sql: r#"
        -- Instants are RFC 3339 UTC text with nanoseconds ("...T10:00:00.000000000Z"):
        -- fixed width, so text order is time order and `expires <= ?` works.
        -- AUTOINCREMENT so an id is never reused: cancelling a stale id must
        -- not hit a newer override.
        CREATE TABLE overrides (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            target    TEXT    NOT NULL,
            action    TEXT    NOT NULL,          -- control::Action as JSON
            priority  INTEGER NOT NULL,
            created   TEXT    NOT NULL,
            expires   TEXT,                      -- NULL: until cancelled
            fade      REAL    NOT NULL,
            note      TEXT,
            author    TEXT    NOT NULL,
            cancelled TEXT                       -- when an operator released it
        );
        CREATE TABLE scenes (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            show      TEXT    NOT NULL,
            target    TEXT,
            priority  INTEGER NOT NULL,
            started   TEXT    NOT NULL,
            ends      TEXT    NOT NULL,
            fade      REAL,
            author    TEXT    NOT NULL,
            cancelled TEXT
        );
        CREATE TABLE masters (
            target TEXT PRIMARY KEY,
            level  REAL NOT NULL
        );
        CREATE TABLE audit (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            at     TEXT NOT NULL,
            actor  TEXT NOT NULL,                -- the token's name, never its secret
            action TEXT NOT NULL,
            detail TEXT NOT NULL,                -- JSON
            remote TEXT
        );
        CREATE INDEX audit_at ON audit(at);
        CREATE TABLE kv (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
    "#,
    },
    Migration {
        name: "idempotency keys",
        sql: r#"
        -- The answer a write gave, kept for a day under the client's
        -- Idempotency-Key, written in the same transaction as the change, so
        -- a retry after a lost answer gets the same answer, never a second
        -- change. Keys are per token: two operators cannot collide.
        CREATE TABLE idempotency (
            actor   TEXT    NOT NULL,
            key     TEXT    NOT NULL,
            request TEXT    NOT NULL,            -- method, path and body as parsed
            status  INTEGER NOT NULL,
            body    TEXT    NOT NULL,
            at      TEXT    NOT NULL,
            PRIMARY KEY (actor, key)
        );
        CREATE INDEX idempotency_at ON idempotency(at);
    "#,
    },
    Migration {
        name: "schedule entries skipped for one night",
        sql: r#"
        -- "Skip tonight": an operator cancels one schedule entry for one night
        -- (rain, an event). Undoing keeps the row (undone = when), so the
        -- history is here as well as in the audit log.
        CREATE TABLE skips (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            night   TEXT    NOT NULL,            -- YYYY-MM-DD, the noon-to-noon night
            entry   INTEGER NOT NULL,            -- index of the [[schedule]] entry
            show    TEXT    NOT NULL,            -- the entry's show, as a guard against reordering
            created TEXT    NOT NULL,
            author  TEXT    NOT NULL,
            note    TEXT,
            undone  TEXT
        );
        CREATE INDEX skips_night ON skips(night);
    "#,
    },
    Migration {
        name: "override records carry their format version",
        sql: r#"
        -- The version of the override record format a row was written in
        -- (store::OVERRIDE_RECORD). A build meeting a row of a newer version
        -- leaves it out of force and says which version, instead of
        -- misreading it. Rows before this column are version 1.
        ALTER TABLE overrides ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    "#,
    },
    Migration {
        name: "one skip in force per night and entry",
        sql: r#"
        -- Two concurrent skips of one slot must not both be written: the
        -- second is refused by this index (the API answers 409). Rows that an
        -- older build duplicated are kept as history, marked undone when the
        -- first of them was made, so the index can be built.
        UPDATE skips SET undone = created
         WHERE undone IS NULL
           AND id NOT IN (SELECT MIN(id) FROM skips WHERE undone IS NULL GROUP BY night, entry, show);
        CREATE UNIQUE INDEX skips_one_per_slot ON skips(night, entry, show) WHERE undone IS NULL;
    "#,
    },
    Migration {
        name: "modes forced for one night",
        sql: r#"
        -- "Festival tonight": an operator forces one night's mode over the
        -- [[modes]] rules. Undoing or replacing keeps the row (undone = when),
        -- so the history is here as well as in the audit log; at most one
        -- force is in force per night.
        CREATE TABLE forced_modes (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            night   TEXT    NOT NULL,            -- YYYY-MM-DD, the noon-to-noon night
            mode    TEXT    NOT NULL,            -- a [[modes]] name of the site
            created TEXT    NOT NULL,
            author  TEXT    NOT NULL,
            note    TEXT,
            undone  TEXT
        );
        CREATE UNIQUE INDEX forced_modes_one_per_night ON forced_modes(night) WHERE undone IS NULL;
    "#,
    },
    Migration {
        name: "fleet-wide ids of overrides and scenes",
        sql: r#"
        -- The id that names the same override (or scene) on every node of a
        -- fleet ("<origin node>-<created, µs>-<origin's id>"), so an operator
        -- can release it from any node; the numeric id stays per node. NULL:
        -- not (yet) shared over a fleet.
        ALTER TABLE overrides ADD COLUMN fleet_id TEXT;
        ALTER TABLE scenes ADD COLUMN fleet_id TEXT;
        CREATE UNIQUE INDEX overrides_fleet_id ON overrides(fleet_id) WHERE fleet_id IS NOT NULL;
        CREATE UNIQUE INDEX scenes_fleet_id ON scenes(fleet_id) WHERE fleet_id IS NOT NULL;
    "#,
    },
    Migration {
        name: "RDM asset record",
        sql: r#"
        -- Device care (issue 27): every fixture RDM found, with what it
        -- reported at last sight (JSON), the site fixture it was matched to,
        -- and when it was first and last seen; its lamp and device hours as a
        -- history, one row per change (src/rdm/assets.rs).
        CREATE TABLE rdm_assets (
            uid        TEXT    PRIMARY KEY,      -- mmmm:dddddddd, hex
            line       TEXT    NOT NULL,         -- the output line it was found on
            universe   INTEGER NOT NULL,         -- the site universe
            fixture    TEXT,                     -- the site fixture it matched, at last sight
            first_seen TEXT    NOT NULL,
            last_seen  TEXT    NOT NULL,
            report     TEXT    NOT NULL          -- rdm::Device as JSON
        );
        CREATE TABLE rdm_hours (
            uid          TEXT    NOT NULL,
            at           TEXT    NOT NULL,
            lamp_hours   INTEGER,
            device_hours INTEGER,
            PRIMARY KEY (uid, at)
        );
    "#,
    },
    Migration {
        name: "idempotency fingerprints over canonical JSON",
        sql: r#"
        -- An Idempotency-Key's request is now its route and the SHA-256 of the
        -- request's canonical JSON (src/store/idempotency.rs), not a Rust Debug
        -- rendering. Rows written before cannot be recomputed: keep their route
        -- (the first line) and mark the rest legacy; a legacy row replays for
        -- the same key on the same route (docs/api.md, "Typed names").
        UPDATE idempotency
           SET request = CASE WHEN instr(request, char(10)) > 0
                              THEN substr(request, 1, instr(request, char(10)) - 1)
                              ELSE request END || char(10) || 'legacy'
         WHERE instr(request, char(10) || 'sha256:') = 0;
    "#,
    },
];
