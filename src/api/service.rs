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

use crate::control::{ControlState, Master, Override, Scene};
use crate::daemon::Shared;
use crate::store::{AuditEntry, Store, StoreError};
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

/// Handle to the service; cheap to clone.
#[derive(Clone)]
pub struct ControlService {
    shared: Shared,
    store: Store,
    inner: Arc<Mutex<Book>>,
}

/// `a + seconds`, saturating instead of overflowing on absurd input.
pub fn add_seconds(a: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let nanos = (seconds.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
    a.checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Run `work` in a task of its own and wait for it: if the caller is
/// dropped (the client went away), the work still finishes.
async fn detached<R, F>(work: F) -> Result<R, StoreError>
where
    R: Send + 'static,
    F: std::future::Future<Output = Result<R, StoreError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

impl ControlService {
    /// Load what is still in force from the store, compile it against the
    /// configuration in `shared`, and swap it in: call once at daemon start,
    /// before the first operator request.
    pub async fn load(shared: Shared, store: Store) -> Result<ControlService, StoreError> {
        let now = shared.clock.now();
        let persisted = store.run(move |s| s.load(now)).await?;
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
        };
        svc.install(&*svc.inner.lock().await);
        Ok(svc)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A copy of the live state.
    pub async fn book(&self) -> Book {
        self.inner.lock().await.clone()
    }

    /// Hand the state to `shared`, which compiles it against the
    /// configuration in force and swaps it in for the next frame (and
    /// recompiles it by itself when the configuration is reloaded).
    fn install(&self, book: &Book) {
        for w in self.shared.set_control(book.state.clone()) {
            tracing::warn!("operator control: {w}");
        }
    }

    /// Compile and swap in again (the daemon's reload does this itself
    /// through `Shared::install_config`; this is for anything else that
    /// replaces `shared.control`).
    pub async fn recompile(&self) {
        self.install(&*self.inner.lock().await);
    }

    /// Persist and apply a new override (its `id` is assigned here).
    pub async fn add_override(
        &self,
        o: Override,
        audit: AuditEntry,
    ) -> Result<Override, StoreError> {
        let svc = self.clone();
        detached(async move { svc.add_override_now(o, audit).await }).await
    }

    async fn add_override_now(
        &self,
        mut o: Override,
        audit: AuditEntry,
    ) -> Result<Override, StoreError> {
        let mut inner = self.inner.lock().await;
        let row = o.clone();
        o.id = self
            .store
            .run(move |s| s.insert_override(&row, &audit))
            .await?;
        inner.state.overrides.push(o.clone());
        self.install(&inner);
        Ok(o)
    }

    /// Release the overrides `pick` selects that are not already being
    /// released: each fades out over its own fade time from `now`. Returns
    /// the overrides as they now are. The audit row lists the ids.
    pub async fn release_overrides(
        &self,
        pick: impl Fn(&Override) -> bool + Send + 'static,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<Vec<Override>, StoreError> {
        let svc = self.clone();
        detached(async move { svc.release_overrides_now(pick, now, audit).await }).await
    }

    async fn release_overrides_now(
        &self,
        pick: impl Fn(&Override) -> bool + Send,
        now: DateTime<Utc>,
        mut audit: AuditEntry,
    ) -> Result<Vec<Override>, StoreError> {
        let mut inner = self.inner.lock().await;
        let mut changes: Vec<(i64, DateTime<Utc>)> = Vec::new();
        for o in &inner.state.overrides {
            if !pick(o) || inner.cancelled_overrides.contains_key(&o.id) {
                continue;
            }
            let ends = add_seconds(now, o.fade);
            let ends = o.expires.map_or(ends, |e| e.min(ends));
            changes.push((o.id, ends));
        }
        if let serde_json::Value::Object(m) = &mut audit.detail {
            m.insert(
                "released".into(),
                changes.iter().map(|c| c.0).collect::<Vec<_>>().into(),
            );
        }
        let list = changes.clone();
        let done = self
            .store
            .run(move |s| s.release_overrides(&list, now, &audit))
            .await?;
        let mut out = Vec::new();
        for (id, ends) in changes.into_iter().filter(|c| done.contains(&c.0)) {
            inner.cancelled_overrides.insert(id, now);
            if let Some(o) = inner.state.overrides.iter_mut().find(|o| o.id == id) {
                o.expires = Some(ends);
                out.push(o.clone());
            }
        }
        if !out.is_empty() {
            self.install(&inner);
        }
        Ok(out)
    }

    /// Persist and start a scene (its `id` is assigned here).
    pub async fn add_scene(&self, s: Scene, audit: AuditEntry) -> Result<Scene, StoreError> {
        let svc = self.clone();
        detached(async move { svc.add_scene_now(s, audit).await }).await
    }

    async fn add_scene_now(&self, mut s: Scene, audit: AuditEntry) -> Result<Scene, StoreError> {
        let mut inner = self.inner.lock().await;
        let row = s.clone();
        s.id = self
            .store
            .run(move |st| st.insert_scene(&row, &audit))
            .await?;
        inner.state.scenes.push(s.clone());
        self.install(&inner);
        Ok(s)
    }

    /// Stop a scene: it fades out over `fade` seconds from `now`. `None`
    /// when no such scene is running; an already stopping scene is returned
    /// as it is.
    pub async fn stop_scene(
        &self,
        id: i64,
        fade: impl Fn(&Scene) -> f64 + Send + 'static,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<Option<Scene>, StoreError> {
        let svc = self.clone();
        detached(async move { svc.stop_scene_now(id, fade, now, audit).await }).await
    }

    async fn stop_scene_now(
        &self,
        id: i64,
        fade: impl Fn(&Scene) -> f64 + Send,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<Option<Scene>, StoreError> {
        let mut inner = self.inner.lock().await;
        let Some(scene) = inner.state.scenes.iter().find(|s| s.id == id).cloned() else {
            return Ok(None);
        };
        if inner.cancelled_scenes.contains_key(&id) {
            return Ok(Some(scene));
        }
        let ends = add_seconds(now, fade(&scene)).min(scene.ends);
        let found = self
            .store
            .run(move |s| s.release_scene(id, ends, now, &audit))
            .await?;
        if !found {
            return Ok(None);
        }
        inner.cancelled_scenes.insert(id, now);
        let mut out = None;
        if let Some(s) = inner.state.scenes.iter_mut().find(|s| s.id == id) {
            s.ends = ends;
            out = Some(s.clone());
        }
        self.install(&inner);
        Ok(out)
    }

    /// Set a master (level 1 removes it). Returns every master in force.
    pub async fn set_master(
        &self,
        m: Master,
        audit: AuditEntry,
    ) -> Result<Vec<Master>, StoreError> {
        let svc = self.clone();
        detached(async move { svc.set_master_now(m, audit).await }).await
    }

    async fn set_master_now(
        &self,
        m: Master,
        audit: AuditEntry,
    ) -> Result<Vec<Master>, StoreError> {
        let mut inner = self.inner.lock().await;
        let row = m.clone();
        self.store.run(move |s| s.set_master(&row, &audit)).await?;
        let masters = &mut inner.state.masters;
        masters.retain(|x| x.target != m.target);
        if m.level < 1.0 {
            masters.push(m);
            masters.sort_by(|a, b| a.target.cmp(&b.target));
        }
        let out = masters.clone();
        self.install(&inner);
        Ok(out)
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
