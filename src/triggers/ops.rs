//! The operator operations OSC and trigger actions perform: the same
//! changes the API makes (`api/overrides.rs`, `scenes.rs`, `masters.rs`, `schedule.rs`), with the same
//! checks and the same audit verbs, through the same [`ControlService`].
//!
//! The API's handlers take HTTP requests apart; these take the values an
//! OSC message or a trigger carries. Each builds the same control item,
//! validates it with the same function (`control::validate`, which every
//! source of commands runs), and hands it to the
//! service, which persists it with its audit entry before the lights
//! change. The audit's actor is the input's or the trigger's name and its
//! remote the sender's address, so the log says who asked.

use crate::control::ControlService;
use crate::control::{self, Action, Item, Master, Override, Scene};
use crate::control::{add_seconds, no_reply, ControlError, Written, DEFAULT_FADE_S};
use crate::daemon::Shared;
use crate::store::AuditEntry;
use serde_json::json;

/// Who asks: an input or a trigger, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Who {
    /// The input's name (`osc`), or `trigger:<name>`.
    pub actor: String,
    /// The sender's socket address, when there is one.
    pub remote: Option<String>,
}

/// What an operation returns when it cannot be done: control's error, as
/// the API's operations give it.
pub type OpResult<T> = Result<T, ControlError>;

/// Operations on the control service, as the API performs them.
#[derive(Clone)]
pub struct Ops {
    pub shared: Shared,
    pub control: ControlService,
}

/// An OSC float may be infinite or NaN; such a duration is no duration,
/// so [`control::validate`] refuses it as it refuses 0.
fn finite_or_none(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds
    } else {
        0.0
    }
}

impl Ops {
    fn audit(&self, who: &Who, action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            at: self.shared.clock.now(),
            actor: who.actor.clone(),
            action: action.into(),
            detail,
            remote: who.remote.clone(),
        }
    }

    /// `POST /api/scenes/<show>/trigger`.
    pub async fn start_scene(
        &self,
        who: &Who,
        show: &str,
        duration_s: f64,
        target: Option<&str>,
        fade_s: Option<f64>,
    ) -> OpResult<Scene> {
        let cfg = self.shared.config();
        let now = self.shared.clock.now();
        let scene = Scene {
            id: 0,
            show: show.to_string(),
            target: target.map(str::to_string),
            priority: control::SCENE,
            started: now,
            ends: add_seconds(now, finite_or_none(duration_s)),
            fade: fade_s,
            author: who.actor.clone(),
        };
        control::validate(&cfg, Item::Scene(&scene))?;
        let detail = json!({
            "show": show, "target": target, "priority": control::SCENE,
            "duration_s": duration_s, "fade_s": fade_s,
        });
        let audit = self.audit(who, "scene.trigger", detail);
        let s = self
            .control
            .add_scene(scene, audit, None, no_reply)
            .await?
            .applied()?;
        tracing::info!(id = s.id, show = %s.show, by = %who.actor, from = who.remote.as_deref().unwrap_or("-"), "scene triggered");
        Ok(s)
    }

    /// `DELETE /api/scenes/<id>` for every running scene of `show` (each
    /// fades out with its fade time). The number stopped; 404 when none
    /// of that show runs.
    pub async fn stop_scenes(&self, who: &Who, show: &str) -> OpResult<usize> {
        let cfg = self.shared.config();
        if cfg.show(show).is_none() {
            return Err(ControlError::not_found(
                "show",
                control::unknown_show(&cfg, show),
            ));
        }
        let book = self.control.book().await;
        let ids: Vec<i64> = book
            .scenes
            .values()
            .filter(|s| s.show == show && !book.cancelled_scenes.contains_key(&s.id))
            .map(|s| s.id)
            .collect();
        if ids.is_empty() {
            return Err(ControlError::not_found(
                "show",
                format!("no scene of `{show}` is running"),
            ));
        }
        let mut stopped = 0;
        for id in ids {
            let fade_cfg = cfg.clone();
            let fade = move |s: &Scene| {
                s.fade
                    .or_else(|| fade_cfg.show(&s.show).map(|sh| sh.fade_out))
                    .unwrap_or(0.0)
            };
            let now = self.shared.clock.now();
            let audit = self.audit(who, "scene.stop", json!({ "id": id, "show": show }));
            if let Written::Applied(Some(_), _) = self
                .control
                .stop_scene(id, fade, now, audit, None, |_| no_reply(&()))
                .await?
            {
                stopped += 1;
            }
        }
        tracing::info!(show, stopped, by = %who.actor, "scenes stopped");
        Ok(stopped)
    }

    /// `POST /api/master` (`target` "*" is the grand master).
    pub async fn set_master(&self, who: &Who, target: &str, level: f32) -> OpResult<()> {
        let cfg = self.shared.config();
        let m = Master {
            target: target.to_string(),
            level,
        };
        control::validate(&cfg, Item::Master(&m))?;
        let detail = json!({ "target": target, "level": level });
        let audit = self.audit(who, "master.set", detail);
        self.control.set_master(m, audit, None, no_reply).await?;
        tracing::debug!(target, level, by = %who.actor, "master set");
        Ok(())
    }

    /// `POST /api/overrides` with one of level, colour, show or blackout.
    /// `replace`: first release this actor's overrides of the same kind on
    /// the same target, so a colour picker sending a stream of colours
    /// keeps one override in force, not one per message.
    pub async fn add_override(
        &self,
        who: &Who,
        target: &str,
        action: Action,
        ttl_s: Option<f64>,
        fade_s: Option<f64>,
        replace: bool,
    ) -> OpResult<Override> {
        let cfg = self.shared.config();
        let fade = match fade_s {
            Some(f) => f,
            None if action == Action::Blackout => 0.0,
            None => DEFAULT_FADE_S,
        };
        let now = self.shared.clock.now();
        let o = Override {
            id: 0,
            target: target.to_string(),
            action,
            priority: control::OVERRIDE,
            created: now,
            expires: ttl_s.map(|t| add_seconds(now, finite_or_none(t))),
            fade,
            note: None,
            author: who.actor.clone(),
        };
        control::validate(&cfg, Item::Override(&o))?;
        if replace {
            let (actor, t) = (who.actor.clone(), o.target.clone());
            let same = std::mem::discriminant(&o.action);
            let book = self.control.book().await;
            let any = book.overrides.values().any(|x| {
                x.author == actor
                    && x.target == t
                    && std::mem::discriminant(&x.action) == same
                    && !book.cancelled_overrides.contains_key(&x.id)
            });
            if any {
                let audit = self.audit(
                    who,
                    "override.release_target",
                    json!({ "target": t, "replaced_by": who.actor }),
                );
                self.control
                    .release_overrides(
                        move |x: &Override| {
                            x.author == actor
                                && x.target == t
                                && std::mem::discriminant(&x.action) == same
                        },
                        now,
                        audit,
                        None,
                        |_| no_reply(&()),
                    )
                    .await?;
            }
        }
        let detail = json!({
            "target": o.target, "action": o.action, "priority": o.priority,
            "ttl_s": ttl_s, "fade_s": o.fade, "note": o.note,
        });
        let audit = self.audit(who, "override.create", detail);
        let o = self
            .control
            .add_override(o, audit, None, no_reply)
            .await?
            .applied()?;
        tracing::info!(id = o.id, target = %o.target, action = %o.action, by = %who.actor, "override created");
        Ok(o)
    }

    /// `DELETE /api/overrides` (every override) or `?target=` (those on a
    /// target: naming it, or with every fixture inside it). The number
    /// released.
    pub async fn release(&self, who: &Who, target: Option<&str>) -> OpResult<usize> {
        let cfg = self.shared.config();
        let now = self.shared.clock.now();
        let within: Option<std::collections::BTreeSet<u32>> = match target {
            None => None,
            Some(t) => Some(control::check_target(&cfg.site, t)?.into_iter().collect()),
        };
        let pick_target = target.map(str::to_string);
        let pick_cfg = cfg.clone();
        let pick = move |o: &Override| match (&pick_target, &within) {
            (Some(t), Some(set)) => control::released_by(&pick_cfg.site, t, set, o),
            _ => true,
        };
        let action = if target.is_some() {
            "override.release_target"
        } else {
            "override.release_all"
        };
        let audit = self.audit(who, action, json!({ "target": target }));
        let written = self
            .control
            .release_overrides(pick, now, audit, None, |_| no_reply(&()))
            .await?;
        let n = match written {
            Written::Applied(v, _) => v.len(),
            Written::Replayed(_) => 0,
        };
        tracing::info!(count = n, target = target.unwrap_or("*"), by = %who.actor, "overrides released");
        Ok(n)
    }

    /// `POST /api/skips` for tonight's entry that plays `show` (the first
    /// one not yet skipped, in the mode the night really plays in).
    pub async fn skip_tonight(&self, who: &Who, show: &str) -> OpResult<()> {
        let cfg = self.shared.config();
        let now = self.shared.clock.now();
        let night = cfg.schedule.night_of(now);
        let plan = self.shared.skips.night(&cfg.schedule, night);
        let Some(run) = plan
            .entries
            .iter()
            .find(|p| p.show == show && !self.shared.skips.contains(night, p.entry, &p.show))
        else {
            return Err(ControlError::invalid(
                "entry",
                format!(
                    "no entry of `{show}` is left to skip on the night of {night} (mode {})",
                    plan.mode
                ),
            ));
        };
        let skip = crate::store::Skip {
            id: 0,
            night,
            entry: run.entry,
            show: run.show.clone(),
            created: now,
            author: who.actor.clone(),
            note: None,
        };
        let detail = json!({ "night": night.to_string(), "entry": skip.entry, "show": skip.show, "note": null });
        let audit = self.audit(who, "schedule.skip", detail);
        let skip = self.control.add_skip(skip, audit, no_reply).await?;
        tracing::info!(id = skip.id, night = %night, show = %skip.show, by = %who.actor, "schedule entry skipped for the night");
        Ok(())
    }
}
