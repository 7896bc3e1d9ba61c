//! The operator control service: the one owner of the live [`ControlState`].
//!
//! Every change follows the same path, under one lock so changes apply in
//! the order they were accepted: persist (with its audit row, in one
//! transaction, on the blocking pool), then update the in-memory book,
//! compile the changed item (only that one) against the configuration in
//! force, and swap a new `shared.control` in, where the frame loop picks it
//! up on its next frame. A change the store refused is not applied at all,
//! so what the lights do never differs from what a restart would restore.
//!
//! A change costs O(log n) in the number of items in force, not O(n): the
//! book and the compiled control are persistent maps keyed by id (and by
//! merge order), so a copy shares every item and an edit copies only the
//! path to the changed one. With 10,000 overrides in force, creating one
//! more compiles one override (`benches/perf/override_scale.rs` measures it).
//!
//! Every change runs to completion in a task of its own, not in the
//! request's future: a client that resets the connection mid-request makes
//! the server drop the handler, and a change that was committed to SQLite
//! but dropped before it reached memory would come into force only at the
//! next restart. Spawned tasks run to the end whether or not anyone awaits
//! them, so memory and disk never disagree.
//!
//! The service also prunes items whose fade-out has finished. The compiled
//! control keeps what each item was compiled from, so a configuration
//! reload recompiles it in the same step as the swap.

use super::{CompiledControl, ControlError, ControlState, Item, Map, Master, Override, Scene};
use crate::daemon::Shared;
use crate::store::{
    AuditEntry, ForcedMode, IdempotencyKey, Skip, Store, StoreError, StoredReply, IDEMPOTENCY_TTL,
};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The live control state plus what the status page shows about it. A
/// clone is O(1) (the maps are persistent), so readers take one and let
/// go of the lock at once.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// Overrides in force (including those fading out), by id.
    pub overrides: Map<i64, Override>,
    /// Scenes in force (including those fading out), by id.
    pub scenes: Map<i64, Scene>,
    pub masters: Vec<Master>,
    /// When operators released overrides that are still fading out.
    pub cancelled_overrides: Map<i64, DateTime<Utc>>,
    pub cancelled_scenes: Map<i64, DateTime<Utc>>,
}

impl Book {
    /// Overrides in force and not being released (what the cap counts).
    pub fn overrides_in_force(&self) -> usize {
        self.overrides.size() - self.cancelled_overrides.size()
    }

    /// The book as it persists.
    pub fn state(&self) -> ControlState {
        ControlState {
            overrides: self.overrides.values().cloned().collect(),
            scenes: self.scenes.values().cloned().collect(),
            masters: self.masters.clone(),
        }
    }
}

/// An item operators put in force — an override, a scene, a master — as
/// the service keeps it: how its row is written, where it sits in the book,
/// how it compiles and what the fleet is told. Every path that puts one in
/// force goes through it: an operator's change ([`ControlService::create`]),
/// the fleet's ([`ControlService::insert`], [`ControlService::end`],
/// [`ControlService::apply_master`]), a release, a stop, an extension
/// ([`ControlService::apply`]).
pub(crate) trait Controlled: Clone + Send + Sync + 'static {
    /// Write its row with its audit entry inside `tx` (an override or a
    /// scene gets its id here).
    fn store_tx(
        tx: &rusqlite::Transaction<'_>,
        item: &mut Self,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;
    /// Put it in the book, in place of the one it replaces.
    fn put(book: &mut Book, item: &Self);
    /// Put it in the compiled control.
    fn compile(c: &mut CompiledControl, item: &Self, cfg: &crate::config::Config)
        -> Option<String>;
    /// What the fleet is told.
    fn change(item: &Self) -> Change;
    /// As [`super::validate`] checks it.
    fn item(&self) -> Item<'_>;
}

/// An item with an id of its own (an override, a scene): the fleet applies
/// it before its row is written, under a provisional id, and ends it by id.
pub(crate) trait Numbered: Controlled {
    fn id(&self) -> i64;
    fn set_id(&mut self, id: i64);
    /// Give it a new end (released, stopped).
    fn set_end(&mut self, ends: DateTime<Utc>);
    fn of(book: &Book) -> &Map<i64, Self>;
    fn of_mut(book: &mut Book) -> &mut Map<i64, Self>;
    /// When operators released those still fading out.
    fn cancelled_mut(book: &mut Book) -> &mut Map<i64, DateTime<Utc>>;
    fn uncompile(c: &mut CompiledControl, item: &Self);
    /// Mark its row released at `at`, ending at `ends`; false when there is
    /// no such row in force.
    fn release_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        ends: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
}

impl Controlled for Override {
    fn store_tx(
        tx: &rusqlite::Transaction<'_>,
        o: &mut Override,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        o.id = Store::insert_override_tx(tx, o, audit)?;
        Ok(())
    }
    fn put(book: &mut Book, o: &Override) {
        book.overrides.insert_mut(o.id, o.clone());
    }
    fn compile(
        c: &mut CompiledControl,
        o: &Override,
        cfg: &crate::config::Config,
    ) -> Option<String> {
        c.put_override(o, cfg)
    }
    fn change(o: &Override) -> Change {
        Change::Override(o.clone())
    }
    fn item(&self) -> Item<'_> {
        Item::Override(self)
    }
}

impl Numbered for Override {
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_end(&mut self, ends: DateTime<Utc>) {
        self.expires = Some(ends);
    }
    fn of(book: &Book) -> &Map<i64, Override> {
        &book.overrides
    }
    fn of_mut(book: &mut Book) -> &mut Map<i64, Override> {
        &mut book.overrides
    }
    fn cancelled_mut(book: &mut Book) -> &mut Map<i64, DateTime<Utc>> {
        &mut book.cancelled_overrides
    }
    fn uncompile(c: &mut CompiledControl, o: &Override) {
        c.remove_override(o);
    }
    fn release_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        ends: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        Ok(Store::release_overrides_tx(tx, &[(id, ends)], at, audit)?.contains(&id))
    }
}

impl Controlled for Scene {
    fn store_tx(
        tx: &rusqlite::Transaction<'_>,
        s: &mut Scene,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        s.id = Store::insert_scene_tx(tx, s, audit)?;
        Ok(())
    }
    fn put(book: &mut Book, s: &Scene) {
        book.scenes.insert_mut(s.id, s.clone());
    }
    fn compile(c: &mut CompiledControl, s: &Scene, cfg: &crate::config::Config) -> Option<String> {
        c.put_scene(s, cfg)
    }
    fn change(s: &Scene) -> Change {
        Change::Scene(s.clone())
    }
    fn item(&self) -> Item<'_> {
        Item::Scene(self)
    }
}

impl Numbered for Scene {
    fn id(&self) -> i64 {
        self.id
    }
    fn set_id(&mut self, id: i64) {
        self.id = id;
    }
    fn set_end(&mut self, ends: DateTime<Utc>) {
        self.ends = ends;
    }
    fn of(book: &Book) -> &Map<i64, Scene> {
        &book.scenes
    }
    fn of_mut(book: &mut Book) -> &mut Map<i64, Scene> {
        &mut book.scenes
    }
    fn cancelled_mut(book: &mut Book) -> &mut Map<i64, DateTime<Utc>> {
        &mut book.cancelled_scenes
    }
    fn uncompile(c: &mut CompiledControl, s: &Scene) {
        c.remove_scene(s);
    }
    fn release_tx(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        ends: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        Store::release_scene_tx(tx, id, ends, at, audit)
    }
}

impl Controlled for Master {
    fn store_tx(
        tx: &rusqlite::Transaction<'_>,
        m: &mut Master,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        Store::set_master_tx(tx, m, audit)
    }
    /// One master per target, kept in target order; level 1 removes it.
    fn put(book: &mut Book, m: &Master) {
        book.masters.retain(|x| x.target != m.target);
        if m.level < 1.0 {
            book.masters.push(m.clone());
            book.masters.sort_by(|a, b| a.target.cmp(&b.target));
        }
    }
    fn compile(c: &mut CompiledControl, m: &Master, cfg: &crate::config::Config) -> Option<String> {
        c.set_master(m, cfg)
    }
    fn change(m: &Master) -> Change {
        Change::Master(m.clone())
    }
    fn item(&self) -> Item<'_> {
        Item::Master(self)
    }
}

/// A change an operator made on this node, for the fleet to publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Override(Override),
    Scene(Scene),
    Master(Master),
    /// A schedule entry skipped for one night.
    Skip(Skip),
    /// That skip undone, and when.
    UndoSkip(Skip, DateTime<Utc>),
    /// A night's mode forced (replacing one forced before).
    ForceMode(ForcedMode),
    /// The mode forced for a night undone, and when.
    UnforceMode(chrono::NaiveDate, DateTime<Utc>),
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
pub(crate) fn add_seconds(a: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    let nanos = (seconds.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
    a.checked_add_signed(chrono::Duration::nanoseconds(nanos))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Run `work` in a task of its own and wait for it: if the caller is
/// dropped (the client went away), the work still finishes.
async fn detached<R, F>(work: F) -> Result<R, ControlError>
where
    R: Send + 'static,
    F: std::future::Future<Output = Result<R, ControlError>> + Send + 'static,
{
    crate::tasks::detached(work)
        .await
        .map_err(|e| ControlError::from(StoreError::Task(e.to_string())))?
}

/// The `Idempotency-Key` of the request being served, for the writes whose
/// handlers do not hand the service a key themselves (extend, skip and
/// undo-skip, in `api/overrides.rs` and `api/schedule.rs`): the guard sets it around such a handler
/// (`guard::idempotent`) with the caller and the request it must match; the
/// service reads it before it detaches the write and stores the answer in
/// the write's own transaction; a retry's stored answer is left here for the
/// guard to send in place of the handler's.
#[derive(Debug)]
pub(crate) struct RequestKey {
    pub(crate) key: IdempotencyKey,
    pub(crate) replay: std::sync::Mutex<Option<StoredReply>>,
}

impl RequestKey {
    fn replayed(ambient: &Option<Arc<RequestKey>>, reply: StoredReply) {
        if let Some(a) = ambient {
            *a.replay.lock().unwrap_or_else(|p| p.into_inner()) = Some(reply);
        }
    }
}

tokio::task_local! {
    pub(crate) static REQUEST_KEY: Arc<RequestKey>;
}

fn request_key() -> Option<Arc<RequestKey>> {
    REQUEST_KEY.try_with(Arc::clone).ok()
}

/// The answer of a write that no `Idempotency-Key` can replay (the
/// fleet's, OSC's, a trigger's): nothing is stored, so nothing is built.
pub(crate) fn no_reply<T: ?Sized>(_: &T) -> StoredReply {
    StoredReply {
        status: StatusCode::OK.as_u16(),
        body: String::new(),
    }
}

/// What a write did: applied now (with the answer it gave), or a retry
/// with a known `Idempotency-Key` answered as the first time.
#[derive(Debug)]
pub(crate) enum Written<R> {
    Applied(R, StoredReply),
    Replayed(StoredReply),
}

impl<R> Written<R> {
    /// What a write without an `Idempotency-Key` did (such a write cannot
    /// be a replay).
    pub(crate) fn applied(self) -> Result<R, ControlError> {
        match self {
            Written::Applied(r, _) => Ok(r),
            Written::Replayed(_) => Err(ControlError::Conflict {
                field: None,
                message: "a write without a key was replayed".into(),
            }),
        }
    }
}

/// Active overrides allowed by default (`[api] max_overrides`).
pub(crate) const MAX_OVERRIDES: usize = 1000;

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
        let state = persisted.state;
        let book = Book {
            overrides: state.overrides.iter().map(|o| (o.id, o.clone())).collect(),
            scenes: state.scenes.iter().map(|s| (s.id, s.clone())).collect(),
            masters: state.masters.clone(),
            cancelled_overrides: persisted.cancelled_overrides.into_iter().collect(),
            cancelled_scenes: persisted.cancelled_scenes.into_iter().collect(),
        };
        tracing::info!(
            overrides = book.overrides.size(),
            scenes = book.scenes.size(),
            masters = book.masters.len(),
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
        svc.sync_forced_modes().await?;
        Ok(svc)
    }

    /// Allow at most `n` overrides in force.
    pub fn with_max_overrides(mut self, n: usize) -> ControlService {
        self.max_overrides = n;
        self
    }

    /// Overrides in force at most (`[api] max_overrides`): the fleet keeps
    /// to it too.
    pub(crate) fn max_overrides(&self) -> usize {
        self.max_overrides
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A copy of the live state.
    pub async fn book(&self) -> Book {
        self.inner.lock().await.clone()
    }

    /// Send this node's own changes to the fleet from now on.
    pub(crate) fn connect_fleet(&self, tx: tokio::sync::mpsc::UnboundedSender<Change>) {
        let _ = self.fleet.set(tx);
    }

    fn publish(&self, change: Change) {
        if let Some(tx) = self.fleet.get() {
            let _ = tx.send(change);
        }
    }

    /// Hand the whole state to `shared`, which compiles it against the
    /// configuration in force and swaps it in for the next frame (and
    /// recompiles it by itself when the configuration is reloaded). At
    /// start only: a change compiles just what it changed ([`Self::compile`]).
    fn install(&self, book: &Book) {
        for w in self.shared.set_control(&book.state()) {
            tracing::warn!("operator control: {w}");
        }
    }

    /// Change the compiled control in force: `change` touches only the
    /// items it names (merge order comes from the items' keys: start
    /// instant, then id, the same on every node of a fleet).
    fn compile(
        &self,
        change: impl FnOnce(&mut CompiledControl, &crate::config::Config) -> Option<String>,
    ) {
        for w in self
            .shared
            .change_control(|c, cfg| change(c, cfg).into_iter().collect())
        {
            tracing::warn!("operator control: {w}");
        }
    }

    /// Put `item` in the book and the compiled control in force.
    pub(crate) fn apply<T: Controlled>(&self, book: &mut Book, item: &T) {
        T::put(book, item);
        self.compile(|c, cfg| T::compile(c, item, cfg));
    }

    /// [`Self::apply`] for many items, swapped in at once.
    fn apply_all<T: Controlled>(&self, book: &mut Book, items: &[T]) {
        if items.is_empty() {
            return;
        }
        for x in items {
            T::put(book, x);
        }
        for w in self
            .shared
            .change_control(|c, cfg| items.iter().filter_map(|x| T::compile(c, x, cfg)).collect())
        {
            tracing::warn!("operator control: {w}");
        }
    }

    /// Compile everything and swap it in again (for anything that replaces
    /// `shared.control` wholesale; a reload does this by itself).
    pub async fn recompile(&self) {
        self.install(&*self.inner.lock().await);
    }

    /// The answer already given under `idem`, if any: the caller holds the
    /// lock, so a retry racing its original waits for it and replays it.
    async fn replay(
        &self,
        idem: &Option<IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredReply>, ControlError> {
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
            Some((request, reply)) if k.matches(&request) => Ok(Some(reply)),
            Some((request, _)) => Err(ControlError::KeyReused(format!(
                    "this Idempotency-Key was used in the last 24 h for another request ({}): use a new key for a new request",
                request.lines().next().unwrap_or("")
            ))),
        }
    }

    /// The answer stored under `key`, if any (for a retry whose change has
    /// since ended).
    pub(crate) async fn replayed(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredReply>, ControlError> {
        let _inner = self.inner.lock().await;
        self.replay(&Some(key.clone()), now).await
    }

    /// Persist and apply an operator's item (an override's or a scene's
    /// `id` is assigned here), in a task the request does not own. `admit`
    /// may refuse it given the book; `respond` builds the answer from the
    /// item and the book with it (stored with `idem`, in the same
    /// transaction as the row).
    async fn create<T: Controlled>(
        &self,
        item: T,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        admit: impl FnOnce(&ControlService, &Book) -> Result<(), ControlError> + Send + 'static,
        respond: impl FnOnce(&T, &Book) -> StoredReply + Send + 'static,
    ) -> Result<Written<T>, ControlError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            let now = audit.at;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            admit(&svc, &inner)?;
            let book = inner.clone();
            let (item, book, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let (mut item, mut book) = (item, book);
                        T::store_tx(tx, &mut item, &audit)?;
                        T::put(&mut book, &item);
                        let reply = respond(&item, &book);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((item, book, reply))
                    })
                })
                .await?;
            *inner = book;
            svc.compile(|c, cfg| T::compile(c, &item, cfg));
            svc.publish(T::change(&item));
            Ok(Written::Applied(item, reply))
        })
        .await
    }

    /// Persist and apply a new override (its `id` is assigned here), unless
    /// `max_overrides` are in force already.
    pub(crate) async fn add_override(
        &self,
        o: Override,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Override) -> StoredReply + Send + 'static,
    ) -> Result<Written<Override>, ControlError> {
        // An emergency is never refused for lack of room: a cap full of
        // ordinary overrides (or a flood of them) must not stop a blackout.
        // It still has a ceiling, twice the cap, so memory stays bounded.
        let emergency = o.priority >= super::EMERGENCY;
        let admit = move |svc: &ControlService, book: &Book| {
            let in_force = book.overrides_in_force();
            let cap = if emergency {
                svc.max_overrides.saturating_mul(2)
            } else {
                svc.max_overrides
            };
            if in_force >= cap {
                return Err(ControlError::Conflict {
                    field: None,
                    message: format!(
                        "{in_force} overrides are in force, the most this site allows ([api] max_overrides = {}): release some first",
                        svc.max_overrides
                    ),
                });
            }
            Ok(())
        };
        self.create(o, audit, idem, admit, move |o, _| respond(o))
            .await
    }

    /// Release the overrides `pick` selects that are not already being
    /// released: each fades out over its own fade time from `now`. Applied
    /// with the overrides as they now are. The audit row lists the ids.
    pub(crate) async fn release_overrides(
        &self,
        pick: impl Fn(&Override) -> bool + Send + 'static,
        now: DateTime<Utc>,
        mut audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Vec<Override>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Vec<Override>>, ControlError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let mut changes: Vec<(i64, DateTime<Utc>)> = Vec::new();
            let mut out: Vec<Override> = Vec::new();
            for o in inner.overrides.values() {
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
            let (_done, out, reply) = svc
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
            for o in &out {
                inner.cancelled_overrides.insert_mut(o.id, now);
            }
            svc.apply_all(&mut inner, &out);
            for o in &out {
                svc.publish(Change::Override(o.clone()));
            }
            Ok(Written::Applied(out, reply))
        })
        .await
    }

    /// Give an override `by` more seconds before it ends. `None` when no
    /// such override is in force, or it is being released, or it has no end.
    /// Runs in a task of its own like every write, and honours the request's
    /// `Idempotency-Key` ([`REQUEST_KEY`]): a retry moves the end once;
    /// `respond` builds the answer stored with the key.
    pub(crate) async fn extend_override(
        &self,
        id: i64,
        by: f64,
        audit: AuditEntry,
        respond: impl FnOnce(&Override) -> StoredReply + Send + 'static,
    ) -> Result<Option<Override>, ControlError> {
        let ambient = request_key();
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            let now = audit.at;
            let idem = ambient.as_ref().map(|a| a.key.clone());
            if let Some(r) = svc.replay(&idem, now).await? {
                RequestKey::replayed(&ambient, r);
                return Ok(inner.overrides.get(&id).cloned());
            }
            if inner.cancelled_overrides.contains_key(&id) {
                return Ok(None);
            }
            let Some(mut o) = inner.overrides.get(&id).cloned() else {
                return Ok(None);
            };
            let Some(expires) = o.expires else {
                return Ok(None);
            };
            let expires = add_seconds(expires, by);
            o.expires = Some(expires);
            let answer = idem.as_ref().map(|_| respond(&o));
            let found = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let found = Store::extend_override_tx(tx, id, expires, &audit)?;
                        if let (true, Some(k), Some(answer)) = (found, &idem, &answer) {
                            Store::put_idempotent_reply_tx(tx, k, answer, now)?;
                        }
                        Ok(found)
                    })
                })
                .await?;
            if !found {
                return Ok(None);
            }
            svc.apply(&mut inner, &o);
            // The fleet carries a later end as an extension; a node that
            // applies it from the broker echoes it once at the same end,
            // which its peers ignore.
            svc.publish(Change::Override(o.clone()));
            Ok(Some(o))
        })
        .await
    }

    /// Skips in force from last night on (a night may still be running
    /// past midnight).
    pub(crate) async fn skips(&self) -> Result<Vec<Skip>, StoreError> {
        let from = self.last_night();
        self.store.run(move |s| s.skips(from)).await
    }

    /// The night before tonight: skips and forced modes from it on are
    /// in force, since a night may still be running past midnight.
    fn last_night(&self) -> chrono::NaiveDate {
        let cfg = self.shared.config();
        let tonight = cfg.schedule.night_of(self.shared.clock.now());
        tonight.pred_opt().unwrap_or(tonight)
    }

    /// Hand the skips in force to the schedule program.
    async fn sync_skips(&self) -> Result<Vec<Skip>, StoreError> {
        let skips = self.skips().await?;
        self.shared
            .skips
            .set(skips.iter().map(|s| (s.night, s.entry, s.show.clone())));
        Ok(skips)
    }

    /// Persist a skip and apply it from the next frame, in a task of its
    /// own, honouring the request's `Idempotency-Key`. A second skip of a
    /// slot already skipped is a 409 (the store's unique index decides, so
    /// two at once cannot both be written). `respond` builds the answer
    /// stored with the key.
    pub(crate) async fn add_skip(
        &self,
        skip: Skip,
        audit: AuditEntry,
        respond: impl FnOnce(&Skip) -> StoredReply + Send + 'static,
    ) -> Result<Skip, ControlError> {
        self.write_skip(skip, audit, respond, true).await
    }

    /// A skip another node of the fleet made: persisted and applied like
    /// [`Self::add_skip`], not published again.
    pub(crate) async fn apply_skip(
        &self,
        skip: Skip,
        audit: AuditEntry,
    ) -> Result<Skip, ControlError> {
        self.write_skip(skip, audit, no_reply, false).await
    }

    async fn write_skip(
        &self,
        skip: Skip,
        audit: AuditEntry,
        respond: impl FnOnce(&Skip) -> StoredReply + Send + 'static,
        publish: bool,
    ) -> Result<Skip, ControlError> {
        let ambient = request_key();
        let svc = self.clone();
        detached(async move {
            let _guard = svc.inner.lock().await;
            let now = audit.at;
            let idem = ambient.as_ref().map(|a| a.key.clone());
            if let Some(r) = svc.replay(&idem, now).await? {
                RequestKey::replayed(&ambient, r);
                return Ok(skip);
            }
            let skip = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let mut skip = skip;
                        skip.id = Store::insert_skip_tx(tx, &skip, &audit)?;
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &respond(&skip), now)?;
                        }
                        Ok(skip)
                    })
                })
                .await
                .map_err(|e| match e {
                    StoreError::Duplicate(m) => ControlError::Conflict {
                        field: Some("entry".into()),
                        message: m,
                    },
                    e => e.into(),
                })?;
            svc.sync_skips().await?;
            if publish {
                svc.publish(Change::Skip(skip.clone()));
            }
            Ok(skip)
        })
        .await
    }

    /// Undo a skip; false when no such skip is in force. In a task of its
    /// own, honouring the request's `Idempotency-Key`.
    pub(crate) async fn undo_skip(
        &self,
        id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, ControlError> {
        self.remove_skip(id, now, audit, true).await
    }

    /// A skip undone on another node of the fleet: like
    /// [`Self::undo_skip`], not published again.
    pub(crate) async fn apply_undo_skip(
        &self,
        id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, ControlError> {
        self.remove_skip(id, now, audit, false).await
    }

    async fn remove_skip(
        &self,
        id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
        publish: bool,
    ) -> Result<bool, ControlError> {
        let ambient = request_key();
        let svc = self.clone();
        detached(async move {
            let _guard = svc.inner.lock().await;
            let idem = ambient.as_ref().map(|a| a.key.clone());
            if let Some(r) = svc.replay(&idem, now).await? {
                RequestKey::replayed(&ambient, r);
                return Ok(true);
            }
            // What the fleet is told: the skip by its night, entry and show.
            let undone = if publish {
                svc.skips().await?.into_iter().find(|s| s.id == id)
            } else {
                None
            };
            let done = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let done = Store::undo_skip_tx(tx, id, now, &audit)?;
                        if let (true, Some(k)) = (done, &idem) {
                            let answer = StoredReply {
                                status: StatusCode::NO_CONTENT.as_u16(),
                                body: String::new(),
                            };
                            Store::put_idempotent_reply_tx(tx, k, &answer, now)?;
                        }
                        Ok(done)
                    })
                })
                .await?;
            svc.sync_skips().await?;
            if let (true, Some(s)) = (done, undone) {
                svc.publish(Change::UndoSkip(s, now));
            }
            Ok(done)
        })
        .await
    }

    /// Modes forced for nights from last night on (a night may still be
    /// running past midnight).
    pub(crate) async fn forced_modes(&self) -> Result<Vec<ForcedMode>, StoreError> {
        let from = self.last_night();
        self.store.run(move |s| s.forced_modes(from)).await
    }

    /// Hand the forced modes in force to the schedule program (they travel
    /// in the same handle as the skips).
    async fn sync_forced_modes(&self) -> Result<Vec<ForcedMode>, StoreError> {
        let forced = self.forced_modes().await?;
        self.shared
            .skips
            .set_modes(forced.iter().map(|f| (f.night, f.mode.clone())));
        Ok(forced)
    }

    /// Persist a night's forced mode (replacing one already forced for
    /// that night) and apply it from the next frame, in a task of its own;
    /// `respond` builds the answer, stored with `idem` in the same
    /// transaction as the row.
    pub(crate) async fn force_mode(
        &self,
        forced: ForcedMode,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&ForcedMode) -> StoredReply + Send + 'static,
    ) -> Result<Written<ForcedMode>, ControlError> {
        self.write_forced_mode(forced, audit, idem, respond, true)
            .await
    }

    /// A mode forced on another node of the fleet: persisted and applied
    /// like [`Self::force_mode`], not published again.
    pub(crate) async fn apply_force_mode(
        &self,
        forced: ForcedMode,
        audit: AuditEntry,
    ) -> Result<ForcedMode, ControlError> {
        let empty = |_: &ForcedMode| StoredReply {
            status: StatusCode::CREATED.as_u16(),
            body: String::new(),
        };
        match self
            .write_forced_mode(forced.clone(), audit, None, empty, false)
            .await?
        {
            Written::Applied(f, _) => Ok(f),
            Written::Replayed(_) => Ok(forced),
        }
    }

    async fn write_forced_mode(
        &self,
        forced: ForcedMode,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&ForcedMode) -> StoredReply + Send + 'static,
        publish: bool,
    ) -> Result<Written<ForcedMode>, ControlError> {
        let svc = self.clone();
        detached(async move {
            let _guard = svc.inner.lock().await;
            let now = audit.at;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let (forced, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let mut forced = forced;
                        forced.id = Store::force_mode_tx(tx, &forced, &audit)?;
                        let reply = respond(&forced);
                        if let Some(k) = &idem {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((forced, reply))
                    })
                })
                .await?;
            svc.sync_forced_modes().await?;
            if publish {
                svc.publish(Change::ForceMode(forced.clone()));
            }
            Ok(Written::Applied(forced, reply))
        })
        .await
    }

    /// Undo the mode forced for `night`: the `[[modes]]` rules choose again
    /// from the next frame. `respond` gets whether one was in force; only
    /// an undo that happened is stored with `idem`.
    pub(crate) async fn unforce_mode(
        &self,
        night: chrono::NaiveDate,
        now: DateTime<Utc>,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(bool) -> StoredReply + Send + 'static,
    ) -> Result<Written<bool>, ControlError> {
        self.remove_forced_mode(night, now, audit, idem, respond, true)
            .await
    }

    /// The mode forced for a night undone on another node of the fleet:
    /// like [`Self::unforce_mode`], not published again. Whether one was
    /// in force.
    pub(crate) async fn apply_unforce_mode(
        &self,
        night: chrono::NaiveDate,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, ControlError> {
        let empty = |_: bool| StoredReply {
            status: StatusCode::NO_CONTENT.as_u16(),
            body: String::new(),
        };
        match self
            .remove_forced_mode(night, now, audit, None, empty, false)
            .await?
        {
            Written::Applied(done, _) => Ok(done),
            Written::Replayed(_) => Ok(false),
        }
    }

    async fn remove_forced_mode(
        &self,
        night: chrono::NaiveDate,
        now: DateTime<Utc>,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(bool) -> StoredReply + Send + 'static,
        publish: bool,
    ) -> Result<Written<bool>, ControlError> {
        let svc = self.clone();
        detached(async move {
            let _guard = svc.inner.lock().await;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let (done, reply) = svc
                .store
                .run(move |s| {
                    s.with_transaction(|tx| {
                        let done = Store::unforce_mode_tx(tx, night, now, &audit)?;
                        let reply = respond(done);
                        if let (true, Some(k)) = (done, &idem) {
                            Store::put_idempotent_reply_tx(tx, k, &reply, now)?;
                        }
                        Ok((done, reply))
                    })
                })
                .await?;
            svc.sync_forced_modes().await?;
            if done && publish {
                svc.publish(Change::UnforceMode(night, now));
            }
            Ok(Written::Applied(done, reply))
        })
        .await
    }

    /// Persist and start a scene (its `id` is assigned here).
    pub(crate) async fn add_scene(
        &self,
        s: Scene,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Scene) -> StoredReply + Send + 'static,
    ) -> Result<Written<Scene>, ControlError> {
        self.create(s, audit, idem, |_, _| Ok(()), move |s, _| respond(s))
            .await
    }

    /// Stop a scene: it fades out over `fade` seconds from `now`. `None`
    /// when no such scene is running; an already stopping scene is returned
    /// as it is (with when it was stopped).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn stop_scene(
        &self,
        id: i64,
        fade: impl Fn(&Scene) -> f64 + Send + 'static,
        now: DateTime<Utc>,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(Option<&(Scene, DateTime<Utc>)>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Option<(Scene, DateTime<Utc>)>>, ControlError> {
        let svc = self.clone();
        detached(async move {
            let mut inner = svc.inner.lock().await;
            if let Some(r) = svc.replay(&idem, now).await? {
                return Ok(Written::Replayed(r));
            }
            let Some(scene) = inner.scenes.get(&id).cloned() else {
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
            if let Some((s, _)) = &found {
                inner.cancelled_scenes.insert_mut(id, now);
                svc.apply(&mut inner, s);
                svc.publish(Change::Scene(s.clone()));
            }
            Ok(Written::Applied(found, reply))
        })
        .await
    }

    /// Set a master (level 1 removes it). `respond` gets every master in
    /// force with it.
    pub(crate) async fn set_master(
        &self,
        m: Master,
        audit: AuditEntry,
        idem: Option<IdempotencyKey>,
        respond: impl FnOnce(&Vec<Master>) -> StoredReply + Send + 'static,
    ) -> Result<Written<Master>, ControlError> {
        self.create(
            m,
            audit,
            idem,
            |_, _| Ok(()),
            move |_, book| respond(&book.masters),
        )
        .await
    }

    /// Apply an override or a scene that came from the fleet, then persist
    /// it (not published again). The order is the reverse of an operator's
    /// change on purpose: the broker already holds the command, so the
    /// lights need not wait for this node's disk; the row follows a moment
    /// later and is what a restart without the broker restores. Until then
    /// it is in force under a provisional id (below every stored one); if
    /// the store refuses it, it is taken off again.
    pub(crate) async fn insert<T: Numbered>(
        &self,
        mut item: T,
        audit: AuditEntry,
    ) -> Result<T, StoreError> {
        let mut inner = self.inner.lock().await;
        let provisional = T::of(&inner).first().map_or(0, |(id, _)| *id).min(0) - 1;
        item.set_id(provisional);
        self.apply(&mut inner, &item);
        let row = item.clone();
        let stored = self
            .store
            .run(move |s| {
                s.with_transaction(|tx| {
                    let mut row = row;
                    T::store_tx(tx, &mut row, &audit)?;
                    Ok(row.id())
                })
            })
            .await;
        // Nothing else can have taken it out: the lock is held throughout.
        T::of_mut(&mut inner).remove_mut(&provisional);
        let provisional_item = item.clone();
        match stored {
            Ok(id) => {
                item.set_id(id);
                T::put(&mut inner, &item);
                self.compile(|c, cfg| {
                    T::uncompile(c, &provisional_item);
                    T::compile(c, &item, cfg)
                });
                Ok(item)
            }
            Err(e) => {
                self.compile(|c, _| {
                    T::uncompile(c, &provisional_item);
                    None
                });
                Err(e)
            }
        }
    }

    /// End an override or a scene at `ends` because the fleet says it was
    /// released or stopped at `at` (not published again). False when there
    /// is no such item in force.
    pub(crate) async fn end<T: Numbered>(
        &self,
        id: i64,
        ends: DateTime<Utc>,
        at: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().await;
        let done = self
            .store
            .run(move |s| s.with_transaction(|tx| T::release_tx(tx, id, ends, at, &audit)))
            .await?;
        if !done {
            return Ok(false);
        }
        T::cancelled_mut(&mut inner).insert_mut(id, at);
        if let Some(mut x) = T::of(&inner).get(&id).cloned() {
            x.set_end(ends);
            self.apply(&mut inner, &x);
        }
        Ok(true)
    }

    /// Set a master that came from the fleet (not published again).
    pub(crate) async fn apply_master(
        &self,
        m: Master,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().await;
        let row = m.clone();
        self.store.run(move |s| s.set_master(&row, &audit)).await?;
        self.apply(&mut inner, &m);
        Ok(())
    }

    /// Housekeeping, about once a second: drop items whose fade-out has
    /// finished, from memory and from the store.
    pub(crate) async fn maintain(&self) -> Result<(), StoreError> {
        let now = self.shared.clock.now();
        let mut inner = self.inner.lock().await;
        // One pass of comparisons a second; only what ended is changed.
        let overrides: Vec<Override> = inner
            .overrides
            .values()
            .filter(|o| o.expires.is_some_and(|e| e <= now))
            .cloned()
            .collect();
        let scenes: Vec<Scene> = inner
            .scenes
            .values()
            .filter(|s| s.ends <= now)
            .cloned()
            .collect();
        if overrides.is_empty() && scenes.is_empty() {
            return Ok(());
        }
        for o in &overrides {
            inner.overrides.remove_mut(&o.id);
            inner.cancelled_overrides.remove_mut(&o.id);
        }
        for s in &scenes {
            inner.scenes.remove_mut(&s.id);
            inner.cancelled_scenes.remove_mut(&s.id);
        }
        self.compile(|c, _| {
            overrides.iter().for_each(|o| c.remove_override(o));
            scenes.iter().for_each(|s| c.remove_scene(s));
            None
        });
        self.store.run(move |s| s.prune(now)).await?;
        Ok(())
    }
}
