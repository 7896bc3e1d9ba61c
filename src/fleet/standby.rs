//! Standby controllers: a node that sends another node's outputs while
//! that node is silent (`[[nodes]] standby_for = ["a"]`).
//!
//! Rendering is a pure function of the site files, the operator state
//! (replicated by the fleet) and the clock, so a standby that opens the
//! silent node's outputs sends the very frames that node would have sent.
//! What must never happen on Art-Net is two senders at once (receivers
//! merge or flicker), so both sides are gated:
//!
//! - the standby opens the covered node's outputs at start but sends
//!   nothing until that node is silent (no heartbeat for
//!   [`SILENT_AFTER`], or its last will / offline status arrived) and it
//!   is the lowest-named live standby of that node; it then claims the
//!   node (a retained `standby/<node>` message) and raises `standby_active`;
//! - a node that has standbys holds its own outputs at start until it has
//!   been connected for [`CLAIM_WAIT`] and no live standby claims it; a
//!   standby releases its claim as soon as it hears the node again, and the
//!   node starts sending when that release arrives. Without a broker at
//!   all, a node sends its own outputs after [`ALONE_AFTER`] (lights
//!   matter more than the rule).
//!
//! sACN outputs follow the same rule (one sender at a time) rather than
//! sending all the time at a lower priority: one rule for both protocols,
//! and receivers that do not implement sACN priority behave.

use crate::output::{Output, OutputHealth};
use nightscape_core::engine::Frame;
use nightscape_core::site::Site;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A node is silent after this long without a heartbeat or status.
pub(crate) const SILENT_AFTER: Duration = Duration::from_millis(1500);
/// Heartbeats: this often from every node that has a standby.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);
/// How long a node with standbys waits after connecting for a claim on it.
pub(crate) const CLAIM_WAIT: Duration = Duration::from_millis(600);
/// A node that never reaches the broker sends its own outputs after this.
pub(crate) const ALONE_AFTER: Duration = Duration::from_secs(3);

/// The retained claim a standby publishes on `standby/<covered>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// The standby.
    pub by: String,
    /// Whether it is sending the covered node's outputs now.
    pub active: bool,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// This node's own outputs, when others stand by for it.
#[derive(Debug)]
struct Own {
    open: AtomicBool,
    connected_once: AtomicBool,
    started: Instant,
}

impl Own {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
            || (!self.connected_once.load(Ordering::Relaxed)
                && self.started.elapsed() >= ALONE_AFTER)
    }
}

/// Which gated outputs may send now: shared by the frame loop (reads) and
/// the fleet task (decides).
#[derive(Debug, Clone, Default)]
pub struct Gates {
    own: Option<Arc<Own>>,
    covers: BTreeMap<String, Arc<AtomicBool>>,
}

impl Gates {
    /// Whether this node's own outputs are gated (someone stands by for it).
    pub fn has_standbys(&self) -> bool {
        self.own.is_some()
    }

    /// The nodes this one stands by for.
    pub fn covers(&self) -> impl Iterator<Item = &str> {
        self.covers.keys().map(String::as_str)
    }

    pub(crate) fn set_own(&self, open: bool) {
        if let Some(o) = &self.own {
            o.open.store(open, Ordering::Relaxed);
        }
    }

    pub(crate) fn own_open(&self) -> bool {
        self.own.as_ref().is_none_or(|o| o.is_open())
    }

    pub(crate) fn connected(&self) {
        if let Some(o) = &self.own {
            o.connected_once.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_cover(&self, node: &str, on: bool) {
        if let Some(g) = self.covers.get(node) {
            g.store(on, Ordering::Relaxed);
        }
    }

    pub(crate) fn covering(&self, node: &str) -> bool {
        self.covers
            .get(node)
            .is_some_and(|g| g.load(Ordering::Relaxed))
    }
}

/// What `run` does for standbys: decided from the whole site before the
/// node's own outputs are kept.
pub struct Plan {
    pub gates: Gates,
    /// The site with only the outputs of the nodes this one covers (None:
    /// it covers none).
    covered: Option<Site>,
}

impl Plan {
    /// For node `me` of `site` (all outputs still in it).
    pub fn new(site: &Site, me: &str) -> Plan {
        let covers: Vec<String> = site
            .node(me)
            .map(|n| n.standby_for.clone())
            .unwrap_or_default();
        let has_standbys = site
            .nodes
            .iter()
            .any(|n| n.standby_for.iter().any(|c| c == me));
        let gates = Gates {
            own: has_standbys.then(|| {
                Arc::new(Own {
                    open: AtomicBool::new(false),
                    connected_once: AtomicBool::new(false),
                    started: Instant::now(),
                })
            }),
            covers: covers
                .iter()
                .map(|c| (c.clone(), Arc::new(AtomicBool::new(false))))
                .collect(),
        };
        let covered = (!covers.is_empty()).then(|| {
            let mut s = site.clone();
            s.outputs.retain(|o| {
                o.node
                    .as_deref()
                    .is_some_and(|n| covers.iter().any(|c| c == n))
            });
            s
        });
        Plan { gates, covered }
    }

    /// Gate this node's own outputs (when it has standbys) and open the
    /// covered nodes' outputs, gated, after them. Returns warnings.
    pub fn wrap(
        &self,
        outputs: &mut Vec<Box<dyn Output>>,
        state_dir: &std::path::Path,
    ) -> Vec<String> {
        if let Some(own) = &self.gates.own {
            let taken = std::mem::take(outputs);
            *outputs = taken
                .into_iter()
                .map(|o| {
                    Box::new(Gated {
                        inner: o,
                        gate: Gate::Own(own.clone()),
                    }) as Box<dyn Output>
                })
                .collect();
        }
        let mut warnings = Vec::new();
        let Some(site) = &self.covered else {
            return warnings;
        };
        for o in &site.outputs {
            let node = o.node.clone().unwrap_or_default();
            let Some(gate) = self.gates.covers.get(&node) else {
                continue;
            };
            let mut one = site.clone();
            one.outputs = vec![o.clone()];
            let (opened, w) = crate::output::open_all(&one, state_dir);
            warnings.extend(w.into_iter().map(|w| format!("standby for {node}: {w}")));
            for inner in opened {
                tracing::info!(covers = %node, target = %inner.health().target, "standby output open (sends only while {node} is silent)");
                outputs.push(Box::new(Gated {
                    inner,
                    gate: Gate::Cover(gate.clone()),
                }));
            }
        }
        warnings
    }
}

#[derive(Debug)]
enum Gate {
    Own(Arc<Own>),
    Cover(Arc<AtomicBool>),
}

impl Gate {
    fn is_open(&self) -> bool {
        match self {
            Gate::Own(o) => o.is_open(),
            Gate::Cover(g) => g.load(Ordering::Relaxed),
        }
    }
}

/// An output that sends only while its gate is open.
struct Gated {
    inner: Box<dyn Output>,
    gate: Gate,
}

impl Output for Gated {
    fn send(&mut self, frame: &Frame) {
        if self.gate.is_open() {
            self.inner.send(frame);
        }
    }
    fn prepare(&mut self, frame: &Frame) {
        if self.gate.is_open() {
            self.inner.prepare(frame);
        }
    }
    fn send_prepared(&mut self, frame: &Frame) {
        if self.gate.is_open() {
            self.inner.send_prepared(frame);
        }
    }
    fn on_own_thread(&self) -> bool {
        self.inner.on_own_thread()
    }
    fn send_at(&mut self, frame: &mut Frame, at: Instant, take: bool) {
        if self.gate.is_open() {
            self.inner.send_at(frame, at, take);
        }
    }
    fn health(&self) -> OutputHealth {
        self.inner.health()
    }
    fn health_into(&self, out: &mut OutputHealth) {
        self.inner.health_into(out);
    }
    fn watch_nodes(&mut self, watch: &Arc<crate::output::artpoll::NodeWatch>) {
        self.inner.watch_nodes(watch);
    }
}

/// The fleet task's side: who is alive, who claims whom, what to do.
#[derive(Debug)]
pub(crate) struct Standby {
    me: String,
    gates: Gates,
    /// For each node: its standbys, lowest name first.
    standbys_of: HashMap<String, Vec<String>>,
    /// When each peer was last heard (heartbeat or fresh online status).
    heard: HashMap<String, Instant>,
    /// Peers whose offline status (or last will) came after they were heard.
    offline: HashMap<String, bool>,
    /// The newest claim on each node, and when it arrived.
    claims: HashMap<String, (Claim, Instant)>,
    connected_since: Option<Instant>,
    /// When each covered node went silent (for the alarm's message).
    silent_since: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// The view behind `/api/fleet`.
    pub(crate) view: Arc<Mutex<StandbyView>>,
}

/// Standby state as `/api/fleet` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StandbyView {
    /// The nodes this one stands by for, and whether it sends their outputs now.
    pub covering: BTreeMap<String, bool>,
    /// This node's own outputs when others stand by for it: "sending", or
    /// "held" (a standby sends them, or the fleet has not said yet).
    pub own_outputs: Option<String>,
}

/// What the fleet task should publish or raise after a [`Standby::tick`].
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    /// Started sending `node`'s outputs.
    Cover(String),
    /// Stopped sending them (the node is back, or a lower standby covers it).
    Release(String),
}

impl Standby {
    pub(crate) fn new(
        nodes: &[nightscape_core::site::fleet::NodeSpec],
        me: &str,
        gates: Gates,
    ) -> Standby {
        let mut standbys_of: HashMap<String, Vec<String>> = HashMap::new();
        for n in nodes {
            for c in &n.standby_for {
                standbys_of
                    .entry(c.clone())
                    .or_default()
                    .push(n.name.clone());
            }
        }
        for v in standbys_of.values_mut() {
            v.sort();
        }
        Standby {
            me: me.to_string(),
            gates,
            standbys_of,
            heard: HashMap::new(),
            offline: HashMap::new(),
            claims: HashMap::new(),
            connected_since: None,
            silent_since: HashMap::new(),
            view: Arc::new(Mutex::new(StandbyView::default())),
        }
    }

    /// Whether this node sends heartbeats: it has standbys, or is one (a
    /// node held by a standby's claim must know the standby is alive).
    pub(crate) fn beats(&self) -> bool {
        self.involved()
    }

    /// Whether this node has anything to do with standbys.
    pub(crate) fn involved(&self) -> bool {
        self.gates.has_standbys() || self.gates.covers().next().is_some()
    }

    pub(crate) fn heard(&mut self, node: &str, now: Instant) {
        self.heard.insert(node.to_string(), now);
        self.offline.insert(node.to_string(), false);
    }

    pub(crate) fn went_offline(&mut self, node: &str) {
        self.offline.insert(node.to_string(), true);
    }

    pub(crate) fn claim(&mut self, covered: &str, claim: Claim) {
        self.claims
            .insert(covered.to_string(), (claim, Instant::now()));
    }

    pub(crate) fn connected(&mut self, now: Instant) {
        self.connected_since = Some(now);
        self.gates.connected();
    }

    pub(crate) fn disconnected(&mut self) {
        self.connected_since = None;
    }

    fn alive(&self, node: &str, now: Instant) -> bool {
        node == self.me
            || (!self.offline.get(node).copied().unwrap_or(false)
                && self
                    .heard
                    .get(node)
                    .is_some_and(|t| now.duration_since(*t) < SILENT_AFTER))
    }

    /// Decide who sends what now. `wall` stamps alarms.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        wall: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let settled = self
            .connected_since
            .is_some_and(|t| now.duration_since(t) >= SILENT_AFTER);
        let covers: Vec<String> = self.gates.covers().map(str::to_string).collect();
        for a in &covers {
            let silent = !self.alive(a, now);
            if silent {
                self.silent_since.entry(a.clone()).or_insert(wall);
            } else {
                self.silent_since.remove(a);
            }
            let lowest_live = self
                .standbys_of
                .get(a)
                .and_then(|v| v.iter().find(|s| self.alive(s, now)))
                .cloned();
            let covering = self.gates.covering(a);
            // Take over only once connected long enough to have heard the
            // node's heartbeats; keep covering through a broker gap (the
            // node is dead as far as anyone knows).
            let should = silent
                && lowest_live.as_deref() == Some(self.me.as_str())
                && (settled || (covering && self.connected_since.is_none()));
            if should && !covering {
                self.gates.set_cover(a, true);
                out.push(Action::Cover(a.clone()));
            } else if !should && covering {
                self.gates.set_cover(a, false);
                out.push(Action::Release(a.clone()));
            }
        }
        // This node's own outputs: held while a live standby claims them.
        if self.gates.has_standbys() {
            let open = match (self.connected_since, self.claims.get(&self.me)) {
                // A release that arrived since this node connected: the
                // standby has stopped, start now.
                (Some(t), Some((c, at))) if !c.active && *at >= t => true,
                (Some(t), claim) if now.duration_since(t) >= CLAIM_WAIT => match claim {
                    // The claimer is taken as alive unless known gone: an
                    // offline status, or silent for a whole window after
                    // this node connected.
                    Some((c, _)) if c.active => {
                        self.offline.get(&c.by).copied().unwrap_or(false)
                            || (now.duration_since(t) >= SILENT_AFTER && !self.alive(&c.by, now))
                    }
                    _ => true,
                },
                (Some(_), _) => false,
                // Without the broker: keep what was decided (or the
                // gate's own fallback for a node that never connected).
                (None, _) => self.gates.own_open(),
            };
            self.gates.set_own(open);
        }
        {
            let mut v = self.view.lock().unwrap_or_else(|p| p.into_inner());
            v.covering = covers
                .iter()
                .map(|c| (c.clone(), self.gates.covering(c)))
                .collect();
            v.own_outputs = self.gates.has_standbys().then(|| {
                if self.gates.own_open() {
                    "sending".to_string()
                } else {
                    "held".to_string()
                }
            });
        }
        out
    }

    /// When `node` went silent, as this node saw it.
    pub(crate) fn silent_since(&self, node: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.silent_since.get(node).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightscape_core::site::fleet::NodeSpec;

    fn node(name: &str, standby_for: &[&str]) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            api: None,
            key: None,
            standby_for: standby_for.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn gates(own: bool, covers: &[&str]) -> Gates {
        Gates {
            own: own.then(|| {
                Arc::new(Own {
                    open: AtomicBool::new(false),
                    connected_once: AtomicBool::new(false),
                    started: Instant::now(),
                })
            }),
            covers: covers
                .iter()
                .map(|c| (c.to_string(), Arc::new(AtomicBool::new(false))))
                .collect(),
        }
    }

    #[test]
    fn the_lowest_live_standby_covers_a_silent_node_and_hands_back() {
        let nodes = [node("a", &[]), node("d", &["a"]), node("e", &["a"])];
        let wall = chrono::Utc::now();
        let t0 = Instant::now();
        let mut d = Standby::new(&nodes, "d", gates(false, &["a"]));
        let mut e = Standby::new(&nodes, "e", gates(false, &["a"]));
        for s in [&mut d, &mut e] {
            s.connected(t0);
            s.heard("a", t0);
        }
        d.heard("e", t0);
        e.heard("d", t0);
        // Not settled yet: nobody takes over, even with a silent.
        assert!(d.tick(t0 + Duration::from_millis(100), wall).is_empty());
        // a heard, d and e alive: nobody covers.
        let t1 = t0 + Duration::from_millis(1400);
        for s in [&mut d, &mut e] {
            s.heard("a", t1);
        }
        d.heard("e", t1);
        e.heard("d", t1);
        let t2 = t1 + Duration::from_millis(200);
        assert!(d.tick(t2, wall).is_empty());
        assert!(e.tick(t2, wall).is_empty());
        // a's last will: d (lowest) covers, e does not.
        d.went_offline("a");
        e.went_offline("a");
        assert_eq!(d.tick(t2, wall), vec![Action::Cover("a".into())]);
        assert!(e.tick(t2, wall).is_empty());
        assert!(d.gates.covering("a") && !e.gates.covering("a"));
        // d goes silent too: e takes over.
        let t3 = t1 + SILENT_AFTER + Duration::from_millis(10);
        assert_eq!(e.tick(t3, wall), vec![Action::Cover("a".into())]);
        // a back: e hands back at once.
        e.heard("a", t3);
        assert_eq!(e.tick(t3, wall), vec![Action::Release("a".into())]);
        assert!(!e.gates.covering("a"));
    }

    #[test]
    fn a_node_with_standbys_holds_its_outputs_while_a_live_standby_claims_them() {
        let nodes = [node("a", &[]), node("d", &["a"])];
        let wall = chrono::Utc::now();
        let t0 = Instant::now();
        let mut a = Standby::new(&nodes, "a", gates(true, &[]));
        assert!(a.beats() && !a.gates.own_open(), "held at start");
        a.connected(t0);
        a.claim(
            "a",
            Claim {
                by: "d".into(),
                active: true,
                at: wall,
            },
        );
        a.heard("d", t0);
        a.tick(t0 + CLAIM_WAIT, wall);
        assert!(!a.gates.own_open(), "d claims a and is alive: a holds");
        // d releases: a sends.
        a.claim(
            "a",
            Claim {
                by: "d".into(),
                active: false,
                at: wall,
            },
        );
        a.tick(t0 + CLAIM_WAIT, wall);
        assert!(a.gates.own_open());
        // A claim by a standby that has gone does not hold a.
        let mut a2 = Standby::new(&nodes, "a", gates(true, &[]));
        a2.connected(t0);
        a2.claim(
            "a",
            Claim {
                by: "d".into(),
                active: true,
                at: wall,
            },
        );
        a2.tick(t0 + CLAIM_WAIT, wall);
        assert!(!a2.gates.own_open(), "not yet known gone");
        a2.tick(t0 + SILENT_AFTER, wall);
        assert!(a2.gates.own_open(), "d never heard for a whole window");
        // No claim at all: a sends once it has waited for one.
        let mut a3 = Standby::new(&nodes, "a", gates(true, &[]));
        a3.connected(t0);
        a3.tick(t0 + Duration::from_millis(10), wall);
        assert!(!a3.gates.own_open());
        a3.tick(t0 + CLAIM_WAIT, wall);
        assert!(a3.gates.own_open());
    }
}
