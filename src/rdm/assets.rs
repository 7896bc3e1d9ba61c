//! The asset record: every device RDM ever found, kept in the state
//! database (`rdm_assets`, `rdm_hours`), so a city can answer "how many
//! hours on the bridge PARs, which need relamping" across restarts and
//! after a fixture stopped answering.
//!
//! A device's row holds what it reported at last sight (as JSON), which
//! fixture of the site it was matched to, and when it was first and last
//! seen. Its hours go to `rdm_hours` only when they changed since the
//! last row, so the history grows with lamp hours, not with discoveries.
//! Written by the device-care thread (blocking SQLite is fine there; it
//! is never the frame loop).

use super::Device;
use crate::store::{instant_text, Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// One device as the record holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Asset {
    pub uid: String,
    /// The output line it was last found on.
    pub line: String,
    pub universe: u16,
    pub fixture: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub report: Device,
}

/// One point of a device's hours history.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Hours {
    pub at: DateTime<Utc>,
    pub lamp_hours: Option<u32>,
    pub device_hours: Option<u32>,
}

fn parse_at(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("rdm asset time `{text}`: {e}")))
}

/// Record what one discovery of `line` found at `at`: each device with the
/// fixture it was matched to (if any), in one transaction.
pub fn record(
    store: &Store,
    at: DateTime<Utc>,
    line: &str,
    universe: u16,
    found: &[(Device, Option<String>)],
) -> Result<(), StoreError> {
    let now = instant_text(at);
    store.with_transaction(|tx| {
        for (d, fixture) in found {
            let uid = d.uid.to_string();
            let report = serde_json::to_string(d)
                .map_err(|e| StoreError::Corrupt(format!("rdm report of {uid}: {e}")))?;
            tx.execute(
                "INSERT INTO rdm_assets (uid, line, universe, fixture, first_seen, last_seen, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
                 ON CONFLICT(uid) DO UPDATE SET line = excluded.line, universe = excluded.universe,
                   fixture = excluded.fixture, last_seen = excluded.last_seen, report = excluded.report",
                params![uid, line, universe, fixture, now, report],
            )?;
            if d.lamp_hours.is_none() && d.device_hours.is_none() {
                continue;
            }
            let last: Option<(Option<u32>, Option<u32>)> = tx
                .query_row(
                    "SELECT lamp_hours, device_hours FROM rdm_hours WHERE uid = ?1 ORDER BY at DESC LIMIT 1",
                    [&uid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if last != Some((d.lamp_hours, d.device_hours)) {
                tx.execute(
                    "INSERT OR REPLACE INTO rdm_hours (uid, at, lamp_hours, device_hours) VALUES (?1, ?2, ?3, ?4)",
                    params![uid, now, d.lamp_hours, d.device_hours],
                )?;
            }
        }
        Ok(())
    })
}

/// Every device in the record, by UID.
pub fn list(store: &Store) -> Result<Vec<Asset>, StoreError> {
    store.with_transaction(|tx| {
        let mut stmt = tx.prepare(
            "SELECT uid, line, universe, fixture, first_seen, last_seen, report FROM rdm_assets ORDER BY uid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u16>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (uid, line, universe, fixture, first, last, report) in rows {
            let report: Device = serde_json::from_str(&report)
                .map_err(|e| StoreError::Corrupt(format!("rdm report of {uid}: {e}")))?;
            out.push(Asset {
                uid,
                line,
                universe,
                fixture,
                first_seen: parse_at(&first)?,
                last_seen: parse_at(&last)?,
                report,
            });
        }
        Ok(out)
    })
}

/// A device's hours history, oldest first.
pub fn hours(store: &Store, uid: &str) -> Result<Vec<Hours>, StoreError> {
    store.with_transaction(|tx| {
        let mut stmt = tx.prepare(
            "SELECT at, lamp_hours, device_hours FROM rdm_hours WHERE uid = ?1 ORDER BY at",
        )?;
        let rows = stmt
            .query_map([uid], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<u32>>(1)?,
                    r.get::<_, Option<u32>>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(at, lamp_hours, device_hours)| {
                Ok(Hours {
                    at: parse_at(&at)?,
                    lamp_hours,
                    device_hours,
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdm::UidText;
    use nightscape_core::wire::rdm::Uid;

    #[test]
    fn devices_are_kept_with_first_sight_and_hours_only_when_they_change() {
        let store = Store::open_in_memory().unwrap();
        let t0: DateTime<Utc> = "2026-12-01T20:00:00Z".parse().unwrap();
        let mut d = Device {
            uid: UidText(Uid::new(0x1234, 1)),
            universe: 3,
            label: Some("bridge-par-1".into()),
            lamp_hours: Some(100),
            ..Device::default()
        };
        record(
            &store,
            t0,
            "artnet 10.0.4.20:6454 u3",
            3,
            &[(d.clone(), Some("bridge-par-1".into()))],
        )
        .unwrap();
        let t1 = t0 + chrono::Duration::minutes(15);
        record(
            &store,
            t1,
            "artnet 10.0.4.20:6454 u3",
            3,
            &[(d.clone(), None)],
        )
        .unwrap();
        d.lamp_hours = Some(101);
        let t2 = t1 + chrono::Duration::hours(1);
        record(
            &store,
            t2,
            "artnet 10.0.4.20:6454 u3",
            3,
            &[(d.clone(), Some("bridge-par-1".into()))],
        )
        .unwrap();
        let all = list(&store).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].uid, "1234:00000001");
        assert_eq!(all[0].first_seen, t0);
        assert_eq!(all[0].last_seen, t2);
        assert_eq!(all[0].report, d);
        assert_eq!(all[0].fixture.as_deref(), Some("bridge-par-1"));
        let h = hours(&store, "1234:00000001").unwrap();
        let lamp: Vec<_> = h.iter().map(|h| (h.at, h.lamp_hours)).collect();
        assert_eq!(lamp, vec![(t0, Some(100)), (t2, Some(101))]);
    }
}
