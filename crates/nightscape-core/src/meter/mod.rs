//! Metering as pure state machines: [`Core`] takes part in each frame
//! (curfew caps, budget scales, the power sample of the frame sent) and
//! [`NightRecord`] integrates samples over time into per-night totals per
//! scope (the site, each group, the fixtures in no group) and per show run.
//!
//! Both the daemon's frame hook and the forecast drive the same `Core`, so
//! the forecast limits and meters exactly as the daemon would.
//!
//! Curfew compliance needs what the frame would have drawn uncapped. The
//! choice here: on a "probe" frame (at most one per simulated second while
//! a curfew is in force) the curfew cap is not applied in `limits()`; the
//! first `review()` measures that uncapped frame, applies the cap and asks
//! for a re-map. The uncapped watts are held until the next probe. The cost
//! is one extra DMX mapping per second of curfew, not a second render.
//!
//! A fixture's energy is attributed to one show run per frame: the highest
//! priority active show whose layers target it (later start wins ties, as
//! in rendering). Fixtures no show targets (standby) belong to no run, so
//! runs add up to at most the site total.

pub mod forecast;

use crate::config::Config;
use crate::energy::config::{Curfew, EnergyConfig};
use crate::energy::limit;
use crate::energy::model::PowerModel;
use crate::engine::{ActiveShow, Frame, Limits};
use crate::schedule::plan::Schedule;
use crate::show::Show;
use crate::site::Site;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    Site,
    Group,
    /// The fixtures in no group (so groups plus this stack to the site
    /// when groups do not overlap).
    Ungrouped,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Site => "site",
            ScopeKind::Group => "group",
            ScopeKind::Ungrouped => "ungrouped",
        }
    }

    pub fn parse(s: &str) -> Option<ScopeKind> {
        match s {
            "site" => Some(ScopeKind::Site),
            "group" => Some(ScopeKind::Group),
            "ungrouped" => Some(ScopeKind::Ungrouped),
            _ => None,
        }
    }
}

/// The name the record uses for the fixtures in no group.
pub const UNGROUPED: &str = "(ungrouped)";

/// A scope of the site with its rules.
#[derive(Debug, Clone)]
pub struct ScopeDef {
    pub kind: ScopeKind,
    pub name: String,
    pub members: Vec<u32>,
    pub max_w: Option<f64>,
}

/// A curfew's interval on one night (None: it does not happen that night).
type Window = Option<(DateTime<Utc>, DateTime<Utc>)>;

/// Everything per configuration: the power model, scopes, budgets,
/// curfews, and the fixtures each show targets (filled lazily).
pub struct SiteModel {
    pub power: PowerModel,
    pub scopes: Vec<ScopeDef>,
    /// Scope indices with a budget: groups first, the site last, so the
    /// site's scale is solved on loads the group budgets already lowered.
    budgets: Vec<usize>,
    /// Curfews with the fixtures they cover.
    curfews: Vec<(Curfew, Vec<u32>)>,
    windows: HashMap<(usize, NaiveDate), Window>,
    /// Keyed by show name: within one configuration generation (the model
    /// is rebuilt for each) a name always means the same targets — config
    /// shows by their file, operator shows by `override-<id>`.
    shows: HashMap<String, Arc<[u32]>>,
}

impl SiteModel {
    pub fn new(site: &Site, energy: &EnergyConfig) -> SiteModel {
        let all: Vec<u32> = (0..site.fixtures.len() as u32).collect();
        let mut scopes = vec![ScopeDef {
            kind: ScopeKind::Site,
            name: site.name.clone(),
            members: all.clone(),
            max_w: energy.max_w,
        }];
        let mut grouped = vec![false; site.fixtures.len()];
        for (name, members) in &site.groups {
            for &f in members {
                if let Some(g) = grouped.get_mut(f as usize) {
                    *g = true;
                }
            }
            scopes.push(ScopeDef {
                kind: ScopeKind::Group,
                name: name.clone(),
                members: members.clone(),
                max_w: energy.groups.get(name).and_then(|g| g.max_w),
            });
        }
        let ungrouped: Vec<u32> = all
            .iter()
            .copied()
            .filter(|&f| !grouped[f as usize])
            .collect();
        if !ungrouped.is_empty() {
            scopes.push(ScopeDef {
                kind: ScopeKind::Ungrouped,
                name: UNGROUPED.to_string(),
                members: ungrouped,
                max_w: None,
            });
        }
        let mut budgets: Vec<usize> = (1..scopes.len())
            .filter(|&i| scopes[i].max_w.is_some())
            .collect();
        if scopes[0].max_w.is_some() {
            budgets.push(0);
        }
        let mut curfews = Vec::new();
        if let Some(c) = &energy.curfew {
            curfews.push((c.clone(), all));
        }
        for (name, g) in &energy.groups {
            if let (Some(c), Some(members)) = (&g.curfew, site.groups.get(name)) {
                curfews.push((c.clone(), members.clone()));
            }
        }
        SiteModel {
            power: PowerModel::new(site),
            scopes,
            budgets,
            curfews,
            windows: HashMap::new(),
            shows: HashMap::new(),
        }
    }

    /// Fill `cap` (one per fixture, 1 = free) with the curfew caps in force
    /// at `at`; returns whether any fixture is under curfew.
    fn curfew_caps(&mut self, schedule: &Schedule, at: DateTime<Utc>, cap: &mut Vec<f32>) -> bool {
        cap.clear();
        cap.resize(self.power.len(), 1.0);
        if self.curfews.is_empty() {
            return false;
        }
        let night = schedule.night_of(at);
        if self.windows.len() > 64 {
            self.windows.clear();
        }
        let mut any = false;
        for (i, (c, members)) in self.curfews.iter().enumerate() {
            let w = *self
                .windows
                .entry((i, night))
                .or_insert_with(|| limit::curfew_window(schedule, night, c));
            if w.is_some_and(|(a, b)| a <= at && at < b) {
                any = true;
                for &f in members {
                    if let Some(x) = cap.get_mut(f as usize) {
                        *x = x.min(c.max_level);
                    }
                }
            }
        }
        any
    }

    /// The fixtures a show's layers target, cached per show name.
    fn show_fixtures(&mut self, site: &Site, show: &Show) -> Arc<[u32]> {
        if let Some(v) = self.shows.get(&show.name) {
            return v.clone();
        }
        if self.shows.len() > 256 {
            self.shows.clear();
        }
        let mut mark = vec![false; site.fixtures.len()];
        for layer in &show.layers {
            for &c in &layer.cells {
                if let Some(cell) = site.cells.get(c as usize) {
                    if let Some(m) = mark.get_mut(cell.fixture as usize) {
                        *m = true;
                    }
                }
            }
            for &f in &layer.fixtures {
                if let Some(m) = mark.get_mut(f as usize) {
                    *m = true;
                }
            }
        }
        let list: Arc<[u32]> = mark
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .map(|(i, _)| i as u32)
            .collect();
        self.shows.insert(show.name.clone(), list.clone());
        list
    }
}

/// One scope's power at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeSample {
    pub kind: Option<ScopeKind>,
    pub name: String,
    pub w: f64,
    /// Every fixture a show targets at full, the rest at standby.
    pub baseline_w: f64,
    /// Whether any member emits light.
    pub lit: bool,
    /// Whether any member is under a curfew, and the watts of those members
    /// as sent and as they would be uncapped.
    pub curfew: bool,
    pub curfew_w: f64,
    pub curfew_uncapped_w: f64,
    /// Standby watts of the members under curfew: light reduction is
    /// measured above it.
    pub curfew_standby_w: f64,
    pub max_w: Option<f64>,
    /// The budget scale applied to the scope this frame (1 = not limited).
    pub scale: f32,
    /// Watts the budget took off.
    pub shed_w: f64,
    /// Still above its budget after the last allowed pass.
    pub over: bool,
}

/// One show run's power at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSample {
    pub show: String,
    pub started: DateTime<Utc>,
    pub w: f64,
}

/// The power of one frame, per scope and per show run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub at: Option<DateTime<Utc>>,
    pub scopes: Vec<ScopeSample>,
    pub runs: Vec<RunSample>,
}

impl Sample {
    /// The site's watts.
    pub fn site_w(&self) -> f64 {
        self.scopes.first().map_or(0.0, |s| s.w)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `limits()` ran; the next review measures the probe or budgets.
    Start,
    Budget,
}

/// The per-frame energy logic shared by the daemon hook and the forecast.
pub struct Core {
    generation: Option<u64>,
    model: Option<SiteModel>,
    curfew_cap: Vec<f32>,
    under_curfew: bool,
    probing: bool,
    stage: Stage,
    last_probe: Option<DateTime<Utc>>,
    /// Seconds between probes of the uncapped frame during curfew.
    pub probe_every: f64,
    uncapped_w: Vec<f32>,
    load: Vec<f32>,
    w: Vec<f32>,
    pre_budget_w: Vec<f32>,
    pred: Vec<f32>,
    budget_scale: Vec<f32>,
    budget_seen: bool,
    fresh: bool,
    claimed: Vec<bool>,
    sample: Sample,
}

impl Default for Core {
    fn default() -> Self {
        Core::new()
    }
}

impl Core {
    pub fn new() -> Core {
        Core {
            generation: None,
            model: None,
            curfew_cap: Vec::new(),
            under_curfew: false,
            probing: false,
            stage: Stage::Budget,
            last_probe: None,
            probe_every: 1.0,
            uncapped_w: Vec::new(),
            load: Vec::new(),
            w: Vec::new(),
            pre_budget_w: Vec::new(),
            pred: Vec::new(),
            budget_scale: Vec::new(),
            budget_seen: false,
            fresh: false,
            claimed: Vec::new(),
            sample: Sample::default(),
        }
    }

    /// Rebuild the model when the configuration changes (each one the
    /// daemon installs carries a new generation number).
    fn ensure(&mut self, config: &Config) {
        if self.generation != Some(config.generation) || self.model.is_none() {
            self.generation = Some(config.generation);
            self.model = Some(SiteModel::new(&config.site, &config.energy));
            self.uncapped_w.clear();
            self.last_probe = None;
        }
    }

    /// Before mapping: curfew caps (unless this frame probes the uncapped
    /// output, in which case `review` applies them).
    pub fn limits(&mut self, config: &Config, at: DateTime<Utc>, limits: &mut Limits) {
        self.ensure(config);
        self.fresh = false;
        self.budget_seen = false;
        self.stage = Stage::Start;
        let Some(model) = self.model.as_mut() else {
            return;
        };
        self.budget_scale.clear();
        self.budget_scale.resize(model.scopes.len(), 1.0);
        self.under_curfew = model.curfew_caps(&config.schedule, at, &mut self.curfew_cap);
        self.probing = self.under_curfew
            && match self.last_probe {
                None => true,
                Some(p) => {
                    let since = crate::engine::seconds_between(p, at);
                    !(0.0..self.probe_every).contains(&since)
                }
            };
        if self.under_curfew && !self.probing {
            apply_caps(&self.curfew_cap, limits);
        }
    }

    fn measure(&mut self, frame: &Frame) {
        if let Some(m) = &self.model {
            m.power.estimate(frame, &mut self.load, &mut self.w);
            self.fresh = true;
        }
    }

    /// After mapping: measure the probe, solve budgets; true asks the loop
    /// to map again. `pass` counts maps (0..=3; after pass 3 none follows).
    pub fn review(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        frame: &Frame,
        limits: &mut Limits,
        pass: u32,
    ) -> bool {
        self.ensure(config);
        self.fresh = false;
        if self.probing && self.stage == Stage::Start && pass < 3 {
            self.measure(frame);
            self.uncapped_w.clone_from(&self.w);
            self.last_probe = Some(at);
            self.probing = false;
            self.fresh = false;
            self.stage = Stage::Budget;
            apply_caps(&self.curfew_cap, limits);
            return true;
        }
        self.stage = Stage::Budget;
        if !config.energy.has_budgets() {
            return false;
        }
        self.measure(frame);
        if !self.budget_seen {
            self.pre_budget_w.clone_from(&self.w);
            self.budget_seen = true;
        }
        if pass >= 3 {
            return false;
        }
        // After the review of pass 2 one more map follows and it is final:
        // leave room for 8-bit rounding and caps the prediction ignores.
        let margin = if pass >= 2 { 0.98 } else { 0.998 };
        let Some(model) = self.model.as_ref() else {
            return false;
        };
        self.pred.clone_from(&self.load);
        let mut again = false;
        for &b in &model.budgets {
            let scope = &model.scopes[b];
            let Some(max_w) = scope.max_w else { continue };
            let now = limit::predicted_w(&model.power, &scope.members, &self.pred, 1.0);
            if now <= max_w {
                continue;
            }
            let t = limit::solve_scale(&model.power, &scope.members, &self.pred, max_w * margin);
            if t >= 1.0 {
                continue;
            }
            for &f in &scope.members {
                let f = f as usize;
                if let Some(s) = limits.scale.get_mut(f) {
                    *s *= t;
                }
                if let Some(p) = self.pred.get_mut(f) {
                    *p *= t.max(0.0).powf(model.power.exponent(f));
                }
            }
            if let Some(s) = self.budget_scale.get_mut(b) {
                *s *= t;
            }
            again = true;
        }
        again
    }

    /// The frame as sent: its power per scope and show run.
    pub fn sample(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        active: &[ActiveShow],
        frame: &Frame,
    ) -> &Sample {
        self.ensure(config);
        if !self.fresh {
            self.measure(frame);
        }
        self.fresh = false;
        let site = &config.site;
        let Some(model) = self.model.as_mut() else {
            return &self.sample;
        };
        let n = model.power.len();
        // Show runs: each fixture to the topmost show that targets it.
        let mut order: Vec<&ActiveShow> = active.iter().filter(|a| a.opacity(at) > 0.0).collect();
        order.sort_by(|a, b| b.priority.cmp(&a.priority).then(b.started.cmp(&a.started)));
        self.claimed.clear();
        self.claimed.resize(n, false);
        self.sample.runs.clear();
        for a in order {
            let fixtures = model.show_fixtures(site, a.show);
            let mut w = 0.0f64;
            let mut any = false;
            for &f in fixtures.iter() {
                let fi = f as usize;
                if a.mask.is_some_and(|m| !m.get(fi).copied().unwrap_or(false)) {
                    continue;
                }
                if let Some(c) = self.claimed.get_mut(fi) {
                    if !*c {
                        *c = true;
                        any = true;
                        w += self.w.get(fi).copied().unwrap_or(0.0) as f64;
                    }
                }
            }
            if any {
                match self
                    .sample
                    .runs
                    .iter_mut()
                    .find(|r| r.show == a.show.name && r.started == a.started)
                {
                    Some(r) => r.w += w,
                    None => self.sample.runs.push(RunSample {
                        show: a.show.name.clone(),
                        started: a.started,
                        w,
                    }),
                }
            }
        }
        let uncapped_ok = self.uncapped_w.len() == n;
        self.sample.at = Some(at);
        self.sample
            .scopes
            .resize(model.scopes.len(), ScopeSample::default());
        for (i, (scope, out)) in model
            .scopes
            .iter()
            .zip(self.sample.scopes.iter_mut())
            .enumerate()
        {
            let mut s = ScopeSample {
                kind: Some(scope.kind),
                name: std::mem::take(&mut out.name),
                max_w: scope.max_w,
                scale: self.budget_scale.get(i).copied().unwrap_or(1.0),
                ..ScopeSample::default()
            };
            if s.name != scope.name {
                s.name.clone_from(&scope.name);
            }
            for &f in &scope.members {
                let f = f as usize;
                let w = self.w.get(f).copied().unwrap_or(0.0) as f64;
                s.w += w;
                s.lit |= self.load.get(f).copied().unwrap_or(0.0) > 0.0;
                s.baseline_w +=
                    if self.claimed.get(f).copied().unwrap_or(false) && model.power.is_sent(f) {
                        model.power.full_w(f)
                    } else {
                        model.power.standby_w(f)
                    } as f64;
                if self.under_curfew && self.curfew_cap.get(f).copied().unwrap_or(1.0) < 1.0 {
                    s.curfew = true;
                    s.curfew_w += w;
                    s.curfew_standby_w += model.power.standby_w(f) as f64;
                    s.curfew_uncapped_w += if uncapped_ok {
                        self.uncapped_w[f] as f64
                    } else {
                        w
                    };
                }
                if scope.max_w.is_some() && self.budget_seen {
                    s.shed_w +=
                        (self.pre_budget_w.get(f).copied().unwrap_or(0.0) as f64 - w).max(0.0);
                }
            }
            s.over = scope.max_w.is_some_and(|m| s.w > m * 1.001);
            *out = s;
        }
        &self.sample
    }
}

fn apply_caps(cap: &[f32], limits: &mut Limits) {
    for (c, l) in cap.iter().zip(limits.cap.iter_mut()) {
        if *c < *l {
            *l = *c;
        }
    }
}

/// One scope's totals for one night.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeRecord {
    pub kind: Option<ScopeKind>,
    pub name: String,
    pub kwh: f64,
    pub cost: f64,
    pub co2_kg: f64,
    pub baseline_kwh: f64,
    pub peak_w: f64,
    /// Seconds any member emitted light (burn time).
    pub lit_s: f64,
    /// Seconds metered.
    pub metered_s: f64,
    pub curfew_s: f64,
    pub curfew_kwh: f64,
    pub curfew_uncapped_kwh: f64,
    pub curfew_standby_kwh: f64,
    pub max_w: Option<f64>,
    /// Seconds the budget scaled the scope, the deepest scale, and the
    /// energy it took off.
    pub limited_s: f64,
    pub min_scale: Option<f64>,
    pub shed_kwh: f64,
    /// Seconds still above the budget.
    pub over_s: f64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
}

/// One show run's totals for one night.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub show: String,
    pub started: DateTime<Utc>,
    pub kwh: f64,
    pub cost: f64,
    pub co2_kg: f64,
    pub peak_w: f64,
    pub seconds: f64,
}

/// A night's totals (or, in the frame hook, what was added since the last
/// flush: the store adds these up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightRecord {
    pub night: NaiveDate,
    pub scopes: Vec<ScopeRecord>,
    pub runs: Vec<RunRecord>,
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl NightRecord {
    pub fn new(night: NaiveDate) -> NightRecord {
        NightRecord {
            night,
            scopes: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// The scope record for (kind, name), created empty when missing.
    pub fn scope_mut(&mut self, kind: ScopeKind, name: &str) -> &mut ScopeRecord {
        let i = match self
            .scopes
            .iter()
            .position(|s| s.kind == Some(kind) && s.name == name)
        {
            Some(i) => i,
            None => {
                self.scopes.push(ScopeRecord {
                    kind: Some(kind),
                    name: name.to_string(),
                    ..ScopeRecord::default()
                });
                self.scopes.len() - 1
            }
        };
        &mut self.scopes[i]
    }

    pub fn scope(&self, kind: ScopeKind, name: &str) -> Option<&ScopeRecord> {
        self.scopes
            .iter()
            .find(|s| s.kind == Some(kind) && s.name == name)
    }

    /// The site scope (whatever the site was called).
    pub fn site(&self) -> Option<&ScopeRecord> {
        self.scopes.iter().find(|s| s.kind == Some(ScopeKind::Site))
    }

    /// Book `sample` as drawn for `dt` seconds from `from`, at `price` per
    /// kWh and `co2` kg per kWh.
    pub fn book(&mut self, sample: &Sample, from: DateTime<Utc>, dt: f64, price: f64, co2: f64) {
        if !(dt.is_finite() && dt > 0.0) {
            return;
        }
        let to = from + chrono::Duration::nanoseconds((dt * 1e9) as i64);
        for s in &sample.scopes {
            let Some(kind) = s.kind else { continue };
            let r = self.scope_mut(kind, &s.name);
            let kwh = s.w * dt / crate::energy::J_PER_KWH;
            r.kwh += kwh;
            r.cost += kwh * price;
            r.co2_kg += kwh * co2;
            r.baseline_kwh += s.baseline_w * dt / crate::energy::J_PER_KWH;
            r.peak_w = r.peak_w.max(s.w);
            r.metered_s += dt;
            if s.lit {
                r.lit_s += dt;
            }
            if s.curfew {
                r.curfew_s += dt;
                r.curfew_kwh += s.curfew_w * dt / crate::energy::J_PER_KWH;
                r.curfew_uncapped_kwh += s.curfew_uncapped_w * dt / crate::energy::J_PER_KWH;
                r.curfew_standby_kwh += s.curfew_standby_w * dt / crate::energy::J_PER_KWH;
            }
            if s.max_w.is_some() {
                r.max_w = s.max_w;
            }
            if s.scale < 1.0 {
                r.limited_s += dt;
                r.min_scale = min_opt(r.min_scale, Some(s.scale as f64));
            }
            r.shed_kwh += s.shed_w * dt / crate::energy::J_PER_KWH;
            if s.over {
                r.over_s += dt;
            }
            r.first_at = Some(r.first_at.map_or(from, |f| f.min(from)));
            r.last_at = Some(r.last_at.map_or(to, |l| l.max(to)));
        }
        for run in &sample.runs {
            let kwh = run.w * dt / crate::energy::J_PER_KWH;
            let r = match self
                .runs
                .iter_mut()
                .position(|r| r.show == run.show && r.started == run.started)
            {
                Some(i) => &mut self.runs[i],
                None => {
                    self.runs.push(RunRecord {
                        show: run.show.clone(),
                        started: run.started,
                        kwh: 0.0,
                        cost: 0.0,
                        co2_kg: 0.0,
                        peak_w: 0.0,
                        seconds: 0.0,
                    });
                    let i = self.runs.len() - 1;
                    &mut self.runs[i]
                }
            };
            r.kwh += kwh;
            r.cost += kwh * price;
            r.co2_kg += kwh * co2;
            r.peak_w = r.peak_w.max(run.w);
            r.seconds += dt;
        }
    }

    /// Add another record of the same night (deltas, or a reload).
    pub fn merge(&mut self, other: &NightRecord) {
        for s in &other.scopes {
            let Some(kind) = s.kind else { continue };
            let r = self.scope_mut(kind, &s.name);
            r.kwh += s.kwh;
            r.cost += s.cost;
            r.co2_kg += s.co2_kg;
            r.baseline_kwh += s.baseline_kwh;
            r.peak_w = r.peak_w.max(s.peak_w);
            r.lit_s += s.lit_s;
            r.metered_s += s.metered_s;
            r.curfew_s += s.curfew_s;
            r.curfew_kwh += s.curfew_kwh;
            r.curfew_uncapped_kwh += s.curfew_uncapped_kwh;
            r.curfew_standby_kwh += s.curfew_standby_kwh;
            if s.max_w.is_some() {
                r.max_w = s.max_w;
            }
            r.limited_s += s.limited_s;
            r.min_scale = min_opt(r.min_scale, s.min_scale);
            r.shed_kwh += s.shed_kwh;
            r.over_s += s.over_s;
            r.first_at = match (r.first_at, s.first_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            r.last_at = match (r.last_at, s.last_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        for run in &other.runs {
            match self
                .runs
                .iter_mut()
                .find(|r| r.show == run.show && r.started == run.started)
            {
                Some(r) => {
                    r.kwh += run.kwh;
                    r.cost += run.cost;
                    r.co2_kg += run.co2_kg;
                    r.peak_w = r.peak_w.max(run.peak_w);
                    r.seconds += run.seconds;
                }
                None => self.runs.push(run.clone()),
            }
        }
    }
}

/// Integrates samples from a live clock into per-night records: each frame
/// is booked for the time until the next one (its instants, not the wall
/// clock, so a simulated clock meters simulated time), a step longer than
/// `max_step` seconds is cut to it (a clock jump books no phantom energy),
/// and a step across local noon is split between the two nights.
pub struct Meter {
    prev: Option<Sample>,
    pub max_step: f64,
    /// Totals since the last [`Meter::take`], per night.
    pending: BTreeMap<NaiveDate, NightRecord>,
}

impl Meter {
    pub fn new(max_step: f64) -> Meter {
        Meter {
            prev: None,
            max_step,
            pending: BTreeMap::new(),
        }
    }

    /// Book the previous sample up to `sample.at`, then keep `sample`.
    pub fn push(&mut self, config: &Config, sample: &Sample) {
        let Some(at) = sample.at else { return };
        if let Some(prev) = &self.prev {
            if let Some(p) = prev.at {
                let dt = crate::engine::seconds_between(p, at).min(self.max_step);
                if dt > 0.0 {
                    book_split(&mut self.pending, config, prev, p, dt);
                }
            }
        }
        match &mut self.prev {
            Some(prev) => prev.clone_from(sample),
            None => self.prev = Some(sample.clone()),
        }
    }

    /// Whether anything was booked since the last take.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// What was booked since the last take, left in place (for a journal
    /// written between takes).
    pub fn pending(&self) -> &BTreeMap<NaiveDate, NightRecord> {
        &self.pending
    }

    /// What was booked since the last take.
    pub fn take(&mut self) -> BTreeMap<NaiveDate, NightRecord> {
        std::mem::take(&mut self.pending)
    }
}

/// Book `sample` for `dt` seconds from `from` into the night(s) it covers.
pub(crate) fn book_split(
    records: &mut BTreeMap<NaiveDate, NightRecord>,
    config: &Config,
    sample: &Sample,
    from: DateTime<Utc>,
    dt: f64,
) {
    let schedule = &config.schedule;
    let energy = &config.energy;
    let mut from = from;
    let mut left = dt;
    // At most two nights for any sane step; the bound guards odd input.
    for _ in 0..4 {
        if left <= 0.0 {
            break;
        }
        let night = schedule.night_of(from);
        let (_, end) = schedule.window(night);
        let here = crate::engine::seconds_between(from, end).clamp(0.0, left);
        let here = if here <= 0.0 { left } else { here };
        let local = from.with_timezone(&schedule.tz).time();
        let price = energy.tariff.price_at(local);
        records
            .entry(night)
            .or_insert_with(|| NightRecord::new(night))
            .book(sample, from, here, price, energy.co2_kg_per_kwh);
        left -= here;
        from = end;
    }
}

/// The dusk-to-dawn baseline of `members` on night `date`, in kWh: their
/// rated watts (every emitter at full) from sunset to sunrise, as a
/// conventional photocell-switched installation burns. The polar rule
/// applies: all night in polar night, nothing under the midnight sun.
pub fn dusk_to_dawn_kwh(
    schedule: &Schedule,
    power: &PowerModel,
    members: &[u32],
    date: NaiveDate,
) -> f64 {
    use crate::schedule::sun::SunEvent;
    let (_, dusk) = schedule.sun_in_night(date, SunEvent::Sunset);
    let (_, dawn) = schedule.sun_in_night(date, SunEvent::Sunrise);
    let hours = (crate::engine::seconds_between(dusk, dawn) / 3600.0).max(0.0);
    let watts: f64 = members
        .iter()
        .map(|&f| power.full_w(f as usize) as f64)
        .sum();
    watts * hours / 1000.0
}

/// Curfew caps and power budgets without metering or a record: what
/// `nightscape render` applies so its frame is the daemon's frame. The
/// metering [`Core`] is that hook; sampling is simply not asked for.
pub type Limiter = Core;

impl crate::pipeline::FrameHook for Core {
    fn limits(&mut self, config: &Config, at: DateTime<Utc>, limits: &mut Limits) {
        Core::limits(self, config, at, limits);
    }

    fn review(
        &mut self,
        config: &Config,
        at: DateTime<Utc>,
        frame: &Frame,
        limits: &mut Limits,
        pass: u32,
    ) -> bool {
        Core::review(self, config, at, frame, limits, pass)
    }
}
