//! The operator control service: the one owner of the live [`ControlState`].
//!
//! Every change follows the same path, under one lock so changes apply in
//! the order they were accepted: persist (with its audit row, in one
//! transaction, on the blocking pool), then update the in-memory state,
//! compile it against the configuration in force, and swap the result into
//! `shared.control`, where the frame loop picks it up on its next frame. A
//! change the store refused is not applied at all, so what the lights do
//! never differs from what a restart would restore.
//!
//! Every change runs to completion in a task of its own, not in the
//! request's future: a client that resets the connection mid-request makes
//! the server drop the handler, and a change that was committed to SQLite
//! but dropped before it reached memory would come into force only at the
//! next restart. Spawned tasks run to the end whether or not anyone awaits
//! them, so memory and disk never disagree.
//!
//! The service also prunes items whose fade-out has finished. `Shared`
//! keeps a copy of the state (`control_state`) so that a configuration
//! reload recompiles it in the same step as the swap.

use super::ApiError;
use crate::control::{ControlState, Master, Override, Scene};
use crate::daemon::Shared;
use crate::store::{
    AuditEntry, IdempotencyKey, Skip, Store, StoreError, StoredReply, IDEMPOTENCY_TTL,
};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The live control state plus what the status page shows about it.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub state: ControlState,
    /// When operators released overrides that are still fading out.
    pub cancelled_overrides: BTreeMap<i64, DateTime<Utc>>,
    pub cancelled_scenes: BTreeMap<i64, DateTime<Utc>>,
}

/// A change an operator made on this node, for the fleet to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Override(Override),
    Scene(Scene),
    Master(Master),
}

/// Handle to the service; cheap to clone.
#[derive(Clone)]
pub struct ControlService {
    shared: Shared,
    store: Store,
    inner: Arc<Mutex<Book>>,
    /// Overrides in force at most (released ones fading out do not count).
    max_overrides: usize,
    /// Where this node's own changes go to be published to the fleet.
    fleet: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Change>>>,
}

/// `a + seconds`, saturating instead of overflowing on absurd input.
pub fn add_seconds(a: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let nanos = (seconds.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
    a.checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Run `work` in a task of its own and wait for it: if the caller is
/// dropped (the client went away), the work still finishes.
async fn detached<R, F>(work: F) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: std::future::Future<Output = Result<R, ApiError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::from(StoreError::Task(e.to_string())))?
}

/// What a write did: applied now (with the answer it gave), or a retry
/// with a known `Idempotency-Key` answered as the first time.
#[derive(Debug)]
pub enum Written<R> {
    Applied(R, StoredReply),
    Replayed(StoredReply),
}

/// Active overrides allowed by default (`[api] max_overrides`).
pub const MAX_OVERRIDES: usize = 1000;

impl ControlService {
    /// Load what is still in force from the store, compile it against the
    /// configuration in `shared`, and swap it in: call once at daemon start,
    /// before the first operator request.
    pub async fn load(shared: Shared, store: Store) -> Result<ControlService, StoreError> {
        let now = shared.clock.now();
        let persisted = store.run(move |s| s.load(now)).await?;
        for why in &persisted.skipped {
            tracing::error!("state store: {why}; skipped (it is not in force)");
            let entry = AuditEntry {
                at: now,
                actor: "nightscape".into(),
                action: "store.unreadable_row".into(),
                detail: serde_json::json!({ "row": why }),
                remote: None,
            };
            if let Err(e) = store.run(move |s| s.audit(&entry)).await {
                tracing::warn!("state store: cannot audit the skipped row: {e}");
            }
        }
        let book = Book {
            state: persisted.state,
            cancelled_overrides: persisted.cancelled_overrides.into_iter().collect(),
            cancelled_scenes: persisted.cancelled_scenes.into_iter().collect(),
        };
        tracing::info!(
            overrides = book.state.overrides.len(),
            scenes = book.state.scenes.len(),
            masters = book.state.masters.len(),
            "operator control restored from the state store"
        );
        let svc = ControlService {
            shared,
            store,
            inner: Arc::new(Mutex::new(book)),
            max_overrides: MAX_OVERRIDES,
            fleet: Arc::default(),
        };
        svc.install(&*svc.inner.lock().await);
        svc.sync_skips().await?;
        Ok(svc)
    }

    /// Allow at most `n` overrides in force.
    pub fn with_max_overrides(mut self, n: usize) -> ControlService {
        self.max_overrides = n;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A copy of the live state.
    pub async fn book(&self) -> Book {
        self.inner.lock().await.clone()
    }

    /// Send this node's own changes to the fleet from now on.
    pub fn connect_fleet(&self, tx: tokio::sync::mpsc::UnboundedSender<Change>) {
        let _ = self.fleet.set(tx);
    }

    fn publish(&self, change: Change) {
        if let Some(tx) = self.fleet.get() {
            let _ = tx.send(change);
        }
    }

    /// Hand the state to `shared`, which compiles it against the
    /// configuration in force and swaps it in for the next frame (and
    /// recompiles it by itself when the configuration is reloaded).
    ///
    /// Items are ordered by their start instant first: nodes of a fleet
    /// receive the same items in different orders, and items of equal
    /// priority must merge in the same order everywhere.
    fn install(&self, book: &Book) {
        let mut state = book.state.clone();
        state
            .overrides
            .sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        state
            .scenes
            .sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
        for w in self.shared.set_control(state) {
            tracing::warn!("operator control: {w}");
        }
    }

    /// Compile and swap in again (the daemon's reload does this itself
    /// through `Shared::install_config`; this is for anything else that
    /// replaces `shared.control`).
    pub async fn recompile(&self) {
        self.install(&*self.inner.lock().await);
    }

    /// The answer already given under `idem`, if any: the caller holds the
    /// lock, so a retry racing its original waits for it and replays it.
    async fn replay(
        &self,
        idem: &Option<IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredReply>, ApiError> {
        let Some(k) = idem.clone() else {
            return Ok(None);
        };
        let since = now
            .checked_sub_signed(IDEMPOTENCY_TTL)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let (actor, key) = (k.actor.clone(), k.key.clone());
        let found = self
            .store
            .run(move |s| s.idempotent_reply(&actor, &key, since))
            .await?;
        match found {
            None => Ok(None),
            Some((request, reply)) if request == k.request => Ok(Some(reply)),
            Some((request, _)) => Err(ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key",
                format!(
                    "this Idempotency-Key was used in the last 24 h for another request ({}): use a new key for a new request",
                    request.lines().next().unwrap_or("")
                ),
            )),
        }
    }

    /// The answer stored under `key`, if any (for a retry whose change has
    /// since ended).
    pub async fn replayed(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredReply>, ApiError> {
        let _inner = self.inner.lock().await;
        self.replay(&Some(key.clone()), now).await
    }

    /// Persist and apply a new override (its `id` is assigned here).
    /// `respond` builds the answer (stored with `idem`, in the same
    /// transaction as the override).
    pub async fn add_override(
        &self,
        o: Override,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Override) -> StoredReply + Send + 'static,
    ) -> Result<Written<Override>, ApiError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            let now = audit.at;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let in_force = inner
                .state
                .overrides
                .iter()
                .filter(|o| !inner.cancelled_overrides.contains_key(&o.id))
                .count();
            if in_force >= svc.max_overrides {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "{in_force} overrides are in force, the most this site allows ([api] max_overrides = {}): release some first",
                        svc.max_overrides
                    ),
                ));
            }
            let (o, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let mut o = o;
                        o.id = Store::insert_override_tx(tx, &o, &audit)?;
                        let reply = respond(&o);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((o, reply))
                    })
                })
                .await?;
            inner.state.overrides.push(o.clone());
            svc.install(&inner);
            svc.publish(Change::Override(o.clone()));
            Ok(Written::Applied(o, reply))
        })
        .await
    }

    /// Release the overrides `pick` selects that are not already being
    /// released: each fades out over its own fade time from `now`. Applied
    /// with the overrides as they now are. The audit row lists the ids.
    pub async fn release_overrides(
        &self,
        pick: impl Fn(&Override) -> bool + Send + 'static,
        now: DateTime<Utc>,
        mut audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Vec<Override>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Vec<Override>>, ApiError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let mut changes: Vec<(i64, DateTime<Utc>)> = Vec::new();
            let mut out: Vec<Override> = Vec::new();
            for o in &inner.state.overrides {
                if !pick(o) || inner.cancelled_overrides.contains_key(&o.id) {
                    continue;
                }
                let ends = add_seconds(now, o.fade);
                let ends = o.expires.map_or(ends, |e| e.min(ends));
                changes.push((o.id, ends));
                let mut released = o.clone();
                released.expires = Some(ends);
                out.push(released);
            }
            if let serde_json::Value::Object(m) = &mut audit.detail {
                m.insert(
                    "released".into(),
                    changes.iter().map(|c| c.0).collect::<Vec<_>>().into(),
                );
            }
            let list = changes.clone();
            let (done, out, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let done = Store::release_overrides_tx(tx, &list, now, &audit)?;
                        out.retain(|o| done.contains(&o.id));
                        let reply = respond(&out);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((done, out, reply))
                    })
                })
                .await?;
            for (id, ends) in changes.into_iter().filter(|c| done.contains(&c.0)) {
                inner.cancelled_overrides.insert(id, now);
                if let Some(o) = inner.state.overrides.iter_mut().find(|o| o.id == id) {
                    o.expires = Some(ends);
                }
            }
            if !out.is_empty() {
                svc.install(&inner);
            }
            for o in &out {
                svc.publish(Change::Override(o.clone()));
            }
            Ok(Written::Applied(out, reply))
        })
        .await
    }

    /// Give an override `by` more seconds before it ends. `None` when no
    /// such override is in force, or it is being released, or it has no end.
    pub async fn extend_override(
        &self,
        id: i64,
        by: f64,
        audit: AuditEntry,
    ) -> Result<Option<Override>, StoreError> {
        let mut inner = self.inner.lock().await;
        if inner.cancelled_overrides.contains_key(&id) {
            return Ok(None);
        }
        let Some(expires) = inner
            .state
            .overrides
            .iter()
            .find(|o| o.id == id)
            .and_then(|o| o.expires)
        else {
            return Ok(None);
        };
        let expires = add_seconds(expires, by);
        let found = self
            .store
            .run(move |s| s.extend_override(id, expires, &audit))
            .await?;
        if !found {
            return Ok(None);
        }
        let mut out = None;
        if let Some(o) = inner.state.overrides.iter_mut().find(|o| o.id == id) {
            o.expires = Some(expires);
            out = Some(o.clone());
        }
        self.install(&inner);
        Ok(out)
    }

    /// Skips in force from last night on (a night may still be running
    /// past midnight).
    pub async fn skips(&self) -> Result<Vec<Skip>, StoreError> {
        let cfg = self.shared.config();
        let tonight = cfg.schedule.night_of(self.shared.clock.now());
        let from = tonight.pred_opt().unwrap_or(tonight);
        self.store.run(move |s| s.skips(from)).await
    }

    /// Hand the skips in force to the schedule program.
    async fn sync_skips(&self) -> Result<Vec<Skip>, StoreError> {
        let skips = self.skips().await?;
        self.shared
            .skips
            .set(skips.iter().map(|s| (s.night, s.entry, s.show.clone())));
        Ok(skips)
    }

    /// Persist a skip and apply it from the next frame.
    pub async fn add_skip(&self, mut skip: Skip, audit: AuditEntry) -> Result<Skip, StoreError> {
        let _guard = self.inner.lock().await;
        let row = skip.clone();
        skip.id = self.store.run(move |s| s.insert_skip(&row, &audit)).await?;
        self.sync_skips().await?;
        Ok(skip)
    }

    /// Undo a skip; false when no such skip is in force.
    pub async fn undo_skip(
        &self,
        id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let _guard = self.inner.lock().await;
        let done = self
            .store
            .run(move |s| s.undo_skip(id, now, &audit))
            .await?;
        self.sync_skips().await?;
        Ok(done)
    }

    /// Persist and start a scene (its `id` is assigned here).
    pub async fn add_scene(
        &self,
        s: Scene,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Scene) -> StoredReply + Send + 'static,
    ) -> Result<Written<Scene>, ApiError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            let now = audit.at;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let (s, reply) = svc
                .store
                .run(move |st| {
                    st.with_transaction(|tx| {
                        let mut s = s;
                        s.id = Store::insert_scene_tx(tx, &s, &audit)?;
                        let reply = respond(&s);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((s, reply))
                    })
                })
                .await?;
            inner.state.scenes.push(s.clone());
            svc.install(&inner);
            svc.publish(Change::Scene(s.clone()));
            Ok(Written::Applied(s, reply))
        })
        .await
    }

    /// Stop a scene: it fades out over `fade` seconds from `now`. `None`
    /// when no such scene is running; an already stopping scene is returned
    /// as it is (with when it was stopped).
    #[allow(clippy::too_many_arguments)]
    pub async fn stop_scene(
        &self,
        id: i64,
        fade: impl Fn(&Scene) -> f64 + Send + 'static,
        now: DateTime<Utc>,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(Option<&(Scene, DateTime<Utc>)>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Option<(Scene, DateTime<Utc>)>>, ApiError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let Some(scene) = inner.state.scenes.iter().find(|s| s.id == id).cloned() else {
                let reply = respond(None);
                return Ok(Written::Applied(None, reply));
            };
            if let Some(&at) = inner.cancelled_scenes.get(&id) {
                let found = Some((scene, at));
                let reply = respond(found.as_ref());
                return Ok(Written::Applied(found, reply));
            }
            let ends = add_seconds(now, fade(&scene)).min(scene.ends);
            let mut stopped = scene;
            stopped.ends = ends;
            let (found, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let found = Store::release_scene_tx(tx, id, ends, now, &audit)?;
                        let found = found.then_some((stopped, now));
                        let reply = respond(found.as_ref());
                        if let (Some(k), Some(_)) = (&idem, &found) {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((found, reply))
                    })
                })
                .await?;
            if found.is_some() {
                inner.cancelled_scenes.insert(id, now);
                if let Some(s) = inner.state.scenes.iter_mut().find(|s| s.id == id) {
                    s.ends = ends;
                }
                svc.install(&inner);
            }
            if let Some((s, _)) = &found {
                svc.publish(Change::Scene(s.clone()));
            }
            Ok(Written::Applied(found, reply))
        })
        .await
    }

    /// Set a master (level 1 removes it). Applied with every master in force.
    pub async fn set_master(
        &self,
        m: Master,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Vec<Master>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Vec<Master>>, ApiError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            let now = audit.at;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let m_published = m.clone();
            let mut masters = inner.state.masters.clone();
            masters.retain(|x| x.target != m.target);
            if m.level < 1.0 {
                masters.push(m.clone());
                masters.sort_by(|a, b| a.target.cmp(&b.target));
            }
            let after = masters.clone();
            let reply = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        Store::set_master_tx(tx, &m, &audit)?;
                        let reply = respond(&masters);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok(reply)
                    })
                })
                .await?;
            inner.state.masters = after.clone();
            svc.install(&inner);
            svc.publish(Change::Master(m_published));
            Ok(Written::Applied(after, reply))
        })
        .await
    }

    /// Apply an override that came from the fleet, then persist it (not
    /// published again). The order is the reverse of an operator's change
    /// on purpose: the broker already holds the command, so the lights
    /// need not wait for this node's disk; the row follows a moment later
    /// and is what a restart without the broker restores. If the store
    /// refuses it, it is taken off again.
    pub async fn insert_override(
        &self,
        mut o: Override,
        audit: AuditEntry,
    ) -> Result<Override, StoreError> {
        let mut inner = self.inner.lock().await;
        let provisional = inner
            .state
            .overrides
            .iter()
            .map(|x| x.id)
            .min()
            .unwrap_or(0)
            .min(0)
            - 1;
        o.id = provisional;
        inner.state.overrides.push(o.clone());
        self.install(&inner);
        let row = o.clone();
        let stored = self
            .store
            .run(move |s| s.insert_override(&row, &audit))
            .await;
        let slot = inner
            .state
            .overrides
            .iter()
            .position(|x| x.id == provisional);
        match (stored, slot) {
            (Ok(id), Some(i)) => {
                inner.state.overrides[i].id = id;
                o.id = id;
                self.install(&inner);
                Ok(o)
            }
            (Ok(id), None) => {
                o.id = id;
                Ok(o)
            }
            (Err(e), slot) => {
                if let Some(i) = slot {
                    inner.state.overrides.remove(i);
                }
                self.install(&inner);
                Err(e)
            }
        }
    }

    /// Apply a scene that came from the fleet, then persist it (not
    /// published again; the order as for [`ControlService::insert_override`]).
    pub async fn insert_scene(&self, mut s: Scene, audit: AuditEntry) -> Result<Scene, StoreError> {
        let mut inner = self.inner.lock().await;
        let provisional = inner
            .state
            .scenes
            .iter()
            .map(|x| x.id)
            .min()
            .unwrap_or(0)
            .min(0)
            - 1;
        s.id = provisional;
        inner.state.scenes.push(s.clone());
        self.install(&inner);
        let row = s.clone();
        let stored = self
            .store
            .run(move |st| st.insert_scene(&row, &audit))
            .await;
        let slot = inner.state.scenes.iter().position(|x| x.id == provisional);
        match (stored, slot) {
            (Ok(id), Some(i)) => {
                inner.state.scenes[i].id = id;
                s.id = id;
                self.install(&inner);
                Ok(s)
            }
            (Ok(id), None) => {
                s.id = id;
                Ok(s)
            }
            (Err(e), slot) => {
                if let Some(i) = slot {
                    inner.state.scenes.remove(i);
                }
                self.install(&inner);
                Err(e)
            }
        }
    }

    /// End an override at `ends` because the fleet says it was released
    /// at `released` (not published again). False when there is no such
    /// override.
    pub async fn end_override(
        &self,
        id: i64,
        ends: DateTime<Utc>,
        released: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().await;
        let list = vec![(id, ends)];
        let done = self
            .store
            .run(move |s| s.release_overrides(&list, released, &audit))
            .await?;
        if !done.contains(&id) {
            return Ok(false);
        }
        inner.cancelled_overrides.insert(id, released);
        if let Some(o) = inner.state.overrides.iter_mut().find(|o| o.id == id) {
            o.expires = Some(ends);
        }
        self.install(&inner);
        Ok(true)
    }

    /// End a scene at `ends` because the fleet says it was stopped at
    /// `stopped` (not published again).
    pub async fn end_scene(
        &self,
        id: i64,
        ends: DateTime<Utc>,
        stopped: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().await;
        let found = self
            .store
            .run(move |s| s.release_scene(id, ends, stopped, &audit))
            .await?;
        if !found {
            return Ok(false);
        }
        inner.cancelled_scenes.insert(id, stopped);
        if let Some(s) = inner.state.scenes.iter_mut().find(|s| s.id == id) {
            s.ends = ends;
        }
        self.install(&inner);
        Ok(true)
    }

    /// Set a master that came from the fleet (not published again).
    pub async fn apply_master(&self, m: Master, audit: AuditEntry) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        let row = m.clone();
        self.store.run(move |s| s.set_master(&row, &audit)).await?;
        let masters = &mut inner.state.masters;
        masters.retain(|x| x.target != m.target);
        if m.level < 1.0 {
            masters.push(m);
            masters.sort_by(|a, b| a.target.cmp(&b.target));
        }
        self.install(&inner);
        Ok(())
    }

    /// Housekeeping, about once a second: drop items whose fade-out has
    /// finished, from memory and from the store.
    pub async fn maintain(&self) -> Result<(), StoreError> {
        let now = self.shared.clock.now();
        let mut inner = self.inner.lock().await;
        if !inner.state.prune(now) {
            return Ok(());
        }
        let book = &mut *inner;
        let live: Vec<i64> = book.state.overrides.iter().map(|o| o.id).collect();
        book.cancelled_overrides.retain(|id, _| live.contains(id));
        let live: Vec<i64> = book.state.scenes.iter().map(|s| s.id).collect();
        book.cancelled_scenes.retain(|id, _| live.contains(id));
        self.install(&inner);
        self.store.run(move |s| s.prune(now)).await?;
        Ok(())
    }
}
