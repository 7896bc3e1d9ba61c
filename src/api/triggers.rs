//! The triggers' API: `GET /api/triggers` lists each `[[triggers]]` rule
//! with what sets it off and when it last fired (the console's Triggers
//! list), `POST /api/triggers/<name>` fires an HTTP trigger (operator
//! role) — the city platform's "bridge to red".
//!
//! Firing goes through the daemon's show control (`crate::triggers`): the
//! same conditions, rate limit, audit entries and actions as any other
//! way a trigger is set off; the caller's token name and address are the
//! firing's author.

use super::auth::{Operator, Viewer};
use super::error::{ApiError, ApiPath, ErrorBody};
use super::ApiState;
use crate::triggers::ops::Who;
use crate::triggers::Outcome;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One trigger as the console lists it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerView {
    pub name: String,
    /// What sets it off: osc, udp, art_trigger, timecode, at, mqtt, http, start.
    pub on: String,
    /// The `on` value as written (an address, a pattern, a time), when it has one.
    pub detail: Option<String>,
    /// The actions, in order: start, stop, override, master, release, skip, webhook.
    pub actions: Vec<String>,
    /// Fires at most once per this many seconds.
    pub limit_s: f64,
    /// Firings since the daemon started.
    pub fired: u64,
    pub last_fired: Option<DateTime<Utc>>,
    /// `last_fired` on the site's wall clock, `HH:MM:SS`.
    pub last_fired_local: Option<String>,
    /// Events refused by the rate limit.
    pub limited: u64,
    /// Events refused because a condition did not hold.
    pub not_now: u64,
    /// Why the last refused or failed event did not act.
    pub last_refusal: Option<String>,
}

/// The answer to firing an HTTP trigger.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FiredView {
    pub trigger: String,
    pub fired: bool,
    /// The errors of actions that failed (the others were done).
    pub errors: Vec<String>,
}

fn on_detail(on: &nightscape_core::triggers::On) -> Option<String> {
    use nightscape_core::triggers::{On, UdpPattern};
    match on {
        On::Osc(a) | On::Mqtt(a) => Some(a.clone()),
        On::Udp { input, pattern } => {
            let p = match pattern {
                UdpPattern::Glob(g) => String::from_utf8_lossy(g).into_owned(),
                UdpPattern::Exact(b) => b
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            Some(match input {
                Some(i) => format!("{p} ({i})"),
                None => p,
            })
        }
        On::ArtTrigger { key, sub_key } => Some(match sub_key {
            Some(s) => format!("{key}/{s}"),
            None => key.to_string(),
        }),
        On::Timecode(t) => Some(t.to_string()),
        On::At(_) | On::Http | On::Start => None,
    }
}

fn action_name(a: &nightscape_core::triggers::Act) -> String {
    use nightscape_core::triggers::Act;
    match a {
        Act::Start { show, .. } => format!("start {show}"),
        Act::Stop { show } => format!("stop {show}"),
        Act::Override { target, .. } => format!("override {target}"),
        Act::Master { target, level } => format!(
            "master {target} {}%",
            nightscape_core::units::percent(f64::from(*level))
        ),
        Act::Release { target } => format!("release {}", target.as_deref().unwrap_or("*")),
        Act::Skip { show } => format!("skip {show}"),
        Act::Webhook { url, .. } => format!("webhook {url}"),
    }
}

fn show_control(st: &ApiState) -> Result<&std::sync::Arc<crate::triggers::ShowControl>, ApiError> {
    st.triggers.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "show control is not running on this daemon",
        )
    })
}

/// The site's triggers, each with when it last fired.
#[utoipa::path(get, path = "/api/triggers", tag = "control",
    responses((status = 200, body = Vec<TriggerView>), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn list_triggers(
    State(st): State<ApiState>,
    _v: Viewer,
) -> Result<Json<Vec<TriggerView>>, ApiError> {
    let sc = show_control(&st)?;
    let tz = st.shared.config().site.timezone;
    Ok(Json(
        sc.list()
            .into_iter()
            .map(|(t, log)| TriggerView {
                on: serde_json::to_value(t.on.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                detail: on_detail(&t.on),
                actions: t.actions.iter().map(action_name).collect(),
                limit_s: t.limit_s,
                name: t.name,
                fired: log.fired,
                last_fired_local: log
                    .last_fired
                    .map(|t| t.with_timezone(&tz).format("%H:%M:%S").to_string()),
                last_fired: log.last_fired,
                limited: log.limited,
                not_now: log.not_now,
                last_refusal: log.last_refusal,
            })
            .collect(),
    ))
}

/// Fire an HTTP trigger (`on = { http = true }`): its conditions are
/// checked, its rate limit applies, its actions run in order.
#[utoipa::path(post, path = "/api/triggers/{name}", tag = "control",
    params(("name" = String, Path, description = "The trigger's name")),
    responses((status = 200, description = "Fired (errors lists actions that failed)", body = FiredView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No HTTP trigger of that name", body = ErrorBody),
        (status = 409, description = "A condition does not hold now", body = ErrorBody),
        (status = 429, description = "Rate limited: fired less than `limit` ago", body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn fire_trigger(
    State(st): State<ApiState>,
    Operator(caller): Operator,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<FiredView>, ApiError> {
    let sc = show_control(&st)?;
    let who = Who {
        actor: caller.name.clone(),
        remote: caller.remote.map(|r| r.to_string()),
    };
    match sc.fire_http(&name, &who).await {
        None => {
            let cfg = st.shared.config();
            let http: Vec<&str> = cfg
                .triggers
                .rules
                .iter()
                .filter(|t| matches!(t.on, nightscape_core::triggers::On::Http))
                .map(|t| t.name.as_str())
                .collect();
            Err(ApiError::field(
                StatusCode::NOT_FOUND,
                "name",
                format!(
                    "no HTTP trigger `{name}` (the site has: {}){}",
                    if http.is_empty() {
                        "none".to_string()
                    } else {
                        http.join(", ")
                    },
                    nightscape_core::suggest::hint(&name, http.iter().copied())
                ),
            ))
        }
        Some(Outcome::Fired(errors)) => Ok(Json(FiredView {
            trigger: name,
            fired: true,
            errors,
        })),
        Some(Outcome::Limited(left)) => Err(ApiError::field(
            StatusCode::TOO_MANY_REQUESTS,
            "name",
            format!("trigger `{name}` fired less than its limit ago: again in {left:.1}s"),
        )),
        Some(Outcome::NotNow(why)) => Err(ApiError::field(
            StatusCode::CONFLICT,
            "name",
            format!("trigger `{name}` does not act now: {why}"),
        )),
    }
}
