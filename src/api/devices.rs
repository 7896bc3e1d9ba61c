//! Device care over HTTP: what RDM found behind the outputs
//! (`GET /api/devices`), the maintenance list of open faults
//! (`GET /api/maintenance`), both as JSON or CSV (`?format=csv` or
//! `Accept: text/csv`) for a city's maintenance platform, and the few
//! writes a crew needs on one device (`POST /api/devices/{uid}`: DMX
//! start address, DEVICE_LABEL, IDENTIFY on/off; admin role, `confirm`
//! required, every attempt audited with its outcome).
//!
//! `?scope=fleet` answers for the whole fleet instead of this node: this
//! node's list and every peer's as the fleet carried it
//! (`crate::fleet::devices`), each row with its `node`, and each node's
//! age and whether its list is stale (the node offline or silent).
//!
//! Reads come from the device-care thread's view (`crate::rdm::care`)
//! and the asset record in the state database; a write is queued to
//! that thread, which owns the RDM line, and runs in a task of its own
//! so a client that disconnects cannot leave a change made but not
//! audited.

use super::auth::{Admin, Caller, Viewer};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::ApiState;
use crate::fleet::devices::{self, DroppedLists, NodeDevices, WireFault};
use crate::rdm::care::{CareView, Fault, Lang};
use crate::rdm::{Write, WriteOutcome};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nightscape_core::wire::rdm::Uid;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

type ApiResult<T> = Result<T, ApiError>;

/// `?format=` of the device-care reads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DevicesQuery {
    /// json (default) or csv (any case); `Accept: text/csv` also asks for CSV.
    #[param(pattern = r"^\s*([Jj][Ss][Oo][Nn]|[Cc][Ss][Vv])?\s*$")]
    pub format: Option<String>,
    /// `/api/devices` only: "true" lists the whole asset record (every
    /// device ever found, with first and last sight) instead of the last
    /// discovery.
    #[param(pattern = r"^\s*(true|false)?\s*$")]
    pub record: Option<String>,
    /// "node" (default): this controller's devices and faults; "fleet":
    /// every node's as the fleet carries them, each row with its `node`,
    /// and `nodes` with each node's age and staleness (needs `[fleet]`).
    #[param(pattern = r"^\s*(node|fleet)?\s*$")]
    pub scope: Option<String>,
    /// `/api/maintenance`: the language of each fault's `reading`, "en"
    /// (default) or "zh" (worded from the fault's structured `detail`).
    #[param(pattern = r"^\s*(en|zh)?\s*$")]
    pub lang: Option<String>,
}

/// `?lang=` of the maintenance list (400 naming `lang` for another).
fn lang_of(q: &DevicesQuery) -> ApiResult<Lang> {
    match q.lang.as_deref().map(str::trim) {
        None | Some("" | "en") => Ok(Lang::En),
        Some("zh") => Ok(Lang::Zh),
        Some(other) => Err(ApiError::bad_request(
            "lang",
            format!("lang `{other}`: use en or zh"),
        )),
    }
}

/// Whether `?scope=fleet` was asked for (400 naming `scope` for another word).
fn wants_fleet(q: &DevicesQuery) -> ApiResult<bool> {
    match q.scope.as_deref().map(str::trim) {
        None | Some("" | "node") => Ok(false),
        Some("fleet") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "scope",
            format!("scope `{other}`: use node or fleet"),
        )),
    }
}

/// One node's list in the fleet's answer.
struct NodeList {
    this_node: bool,
    received: Option<DateTime<Utc>>,
    stale: bool,
    stale_since: Option<DateTime<Utc>>,
    verified: Option<bool>,
    list: NodeDevices,
}

impl NodeList {
    /// Seconds since the node published this list (never negative: a
    /// peer's clock may run ahead).
    fn age_s(&self, now: DateTime<Utc>) -> f64 {
        let ms = (now - self.list.at).num_milliseconds().max(0);
        (ms as f64 / 100.0).round() / 10.0
    }

    fn summary(&self, now: DateTime<Utc>) -> serde_json::Value {
        let l = &self.list;
        json!({
            "node": l.node,
            "this_node": self.this_node,
            "enabled": l.enabled,
            "last_pass": l.last_pass,
            "at": l.at,
            "received": self.received,
            "age_s": self.age_s(now),
            "stale": self.stale,
            "stale_since": self.stale_since,
            "verified": self.verified,
            "devices": l.devices.len(),
            "devices_total": l.devices_total,
            "faults": l.faults.len(),
            "faults_total": l.faults_total,
        })
    }
}

/// This node's list and every peer's (this node first, then by name),
/// and what the fleet dropped; a 400 naming `scope` without `[fleet]`.
fn fleet_lists(st: &ApiState) -> ApiResult<(Vec<NodeList>, DroppedLists)> {
    let Some(fleet) = &st.fleet else {
        return Err(ApiError::bad_request(
            "scope",
            "scope=fleet: this controller is in no fleet ([fleet] in site.toml); use scope=node",
        ));
    };
    let (me, book) = {
        let v = fleet.lock().unwrap_or_else(|p| p.into_inner());
        (v.node.clone(), v.devices.clone())
    };
    let now = Utc::now();
    let mut out = vec![NodeList {
        this_node: true,
        received: None,
        stale: false,
        stale_since: None,
        verified: None,
        list: devices::summary(&me, &view_of(st), now),
    }];
    out.extend(
        book.lists()
            .into_iter()
            .filter(|h| h.list.node != me)
            .map(|h| NodeList {
                this_node: false,
                received: Some(h.received),
                stale: h.stale,
                stale_since: h.stale_since,
                verified: h.verified,
                list: h.list,
            }),
    );
    Ok((out, book.dropped()))
}

/// `/api/devices?scope=fleet`: every node's devices and missing fixtures.
fn fleet_devices(st: &ApiState, as_csv: bool) -> ApiResult<Response> {
    let (lists, dropped) = fleet_lists(st)?;
    let now = Utc::now();
    if as_csv {
        let mut rows = Vec::new();
        for n in &lists {
            for d in &n.list.devices {
                rows.push(vec![
                    n.list.node.clone(),
                    n.age_s(now).to_string(),
                    n.stale.to_string(),
                    opt(d.uid.clone()),
                    d.universe.to_string(),
                    opt(d.address),
                    opt(d.footprint),
                    opt(d.fixture.clone()),
                    d.patch.as_str().to_string(),
                    opt(d.manufacturer.clone()),
                    opt(d.model.clone()),
                    opt(d.label.clone()),
                    opt(d.lamp_hours),
                    opt(d.device_hours),
                    d.sensors.clone(),
                    opt(d.last_seen.map(|t| t.to_rfc3339())),
                    d.fix.clone(),
                ]);
            }
        }
        return Ok(csv(
            &[
                "node",
                "node_age_s",
                "stale",
                "uid",
                "universe",
                "address",
                "footprint",
                "fixture",
                "patch",
                "manufacturer",
                "model",
                "label",
                "lamp_hours",
                "device_hours",
                "sensors",
                "last_seen",
                "fix",
            ],
            rows,
        ));
    }
    Ok(fleet_json(
        &lists,
        "devices",
        |n| rows_of(&n.list.devices),
        &dropped,
        now,
    ))
}

/// Each item as JSON with its node's name and staleness.
fn rows_of<T: serde::Serialize>(items: &[T]) -> Vec<serde_json::Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or_default())
        .collect()
}

/// The fleet answer: every node's summary, and under `key` the rows
/// `rows` gives for each node, each marked with its node and staleness.
fn fleet_json(
    lists: &[NodeList],
    key: &str,
    rows: impl Fn(&NodeList) -> Vec<serde_json::Value>,
    dropped: &DroppedLists,
    now: DateTime<Utc>,
) -> Response {
    let mut all = Vec::new();
    for n in lists {
        for mut v in rows(n) {
            v["node"] = json!(n.list.node);
            v["stale"] = json!(n.stale);
            all.push(v);
        }
    }
    let mut answer = json!({
        "scope": "fleet",
        "nodes": lists.iter().map(|n| n.summary(now)).collect::<Vec<_>>(),
        "dropped": dropped,
    });
    answer[key] = json!(all);
    axum::Json(answer).into_response()
}

/// `/api/maintenance?scope=fleet`: every node's open faults, each
/// reading worded in `lang` from its `detail` where the node sent one.
fn fleet_maintenance(st: &ApiState, as_csv: bool, lang: Lang) -> ApiResult<Response> {
    let (mut lists, dropped) = fleet_lists(st)?;
    for f in lists.iter_mut().flat_map(|n| n.list.faults.iter_mut()) {
        if let Some(d) = &f.detail {
            f.reading = d.text(lang);
        }
    }
    let now = Utc::now();
    if as_csv {
        let mut rows = Vec::new();
        for n in &lists {
            for f in &n.list.faults {
                let mut row = vec![
                    n.list.node.clone(),
                    n.age_s(now).to_string(),
                    n.stale.to_string(),
                ];
                row.extend(FaultRow::from(f).cells());
                rows.push(row);
            }
        }
        let mut header = vec!["node", "node_age_s", "stale"];
        header.extend(FaultRow::HEADER);
        return Ok(csv(&header, rows));
    }
    Ok(fleet_json(
        &lists,
        "faults",
        |n| rows_of(&n.list.faults),
        &dropped,
        now,
    ))
}

/// Whether the answer is CSV: `?format=csv`, or `Accept: text/csv`.
fn wants_csv(q: &DevicesQuery, headers: &HeaderMap) -> ApiResult<bool> {
    match q.format.as_deref().map(|f| f.trim().to_ascii_lowercase()) {
        Some(f) if f == "csv" => Ok(true),
        Some(f) if f == "json" => Ok(false),
        Some(f) if !f.is_empty() => Err(ApiError::bad_request(
            "format",
            format!("format `{f}`: use json or csv"),
        )),
        _ => Ok(headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// One CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so a spreadsheet never runs a label a
/// device reported as a formula.
fn field(text: &str) -> String {
    let t = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t
    }
}

fn csv(header_row: &[&str], rows: Vec<Vec<String>>) -> Response {
    let mut out = header_row.join(",");
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = r.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn view_of(st: &ApiState) -> CareView {
    st.devices.as_ref().map(|d| d.view()).unwrap_or_default()
}

/// The fixtures RDM found on the outputs with `rdm = true`: identity,
/// DMX address and footprint, personality, hours, lamp, status, sensors,
/// and how each stands against the patch (matched, unmatched, mismatched,
/// with a one-line fix); fixtures patched but not answering under
/// `missing`. `?record=true`: the asset record instead. `?scope=fleet`:
/// every node's devices and missing fixtures as the fleet carries them
/// (`devices` each with `node` and `stale`; `nodes` with each node's
/// `age_s`, `stale` and counts; `dropped`: peers' lists or entries not
/// kept); CSV with `node,node_age_s,stale` first.
#[utoipa::path(get, path = "/api/devices", tag = "status", params(DevicesQuery),
    responses((status = 200, description = "JSON, or CSV with ?format=csv / Accept: text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn devices(
    State(st): State<ApiState>,
    _v: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DevicesQuery>,
) -> ApiResult<Response> {
    let as_csv = wants_csv(&q, &headers)?;
    if wants_fleet(&q)? {
        if q.record.is_some() {
            return Err(ApiError::bad_request(
                "record",
                "record is this node's asset record: use it without scope=fleet",
            ));
        }
        return fleet_devices(&st, as_csv);
    }
    let record = match q.record.as_deref().map(str::trim) {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "record",
                format!("record `{other}`: use true or false"),
            ))
        }
    };
    let assets = st
        .control
        .store()
        .run(crate::rdm::assets::list)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("device care: the asset record cannot be read: {e}");
            Vec::new()
        });
    if record {
        if as_csv {
            let rows = assets
                .iter()
                .map(|a| {
                    let d = &a.report;
                    vec![
                        a.uid.clone(),
                        a.universe.to_string(),
                        opt(d.dmx_address),
                        opt(a.fixture.clone()),
                        opt(d.manufacturer.clone()),
                        opt(d.model.clone()),
                        opt(d.label.clone()),
                        opt(d.lamp_hours),
                        opt(d.device_hours),
                        a.first_seen.to_rfc3339(),
                        a.last_seen.to_rfc3339(),
                        a.line.clone(),
                    ]
                })
                .collect();
            return Ok(csv(
                &[
                    "uid",
                    "universe",
                    "address",
                    "fixture",
                    "manufacturer",
                    "model",
                    "label",
                    "lamp_hours",
                    "device_hours",
                    "first_seen",
                    "last_seen",
                    "line",
                ],
                rows,
            ));
        }
        return Ok(axum::Json(json!({ "record": assets })).into_response());
    }
    let view = view_of(&st);
    let firsts: std::collections::HashMap<&str, chrono::DateTime<chrono::Utc>> = assets
        .iter()
        .map(|a| (a.uid.as_str(), a.first_seen))
        .collect();
    let first_seen = |uid: &str| firsts.get(uid).copied();
    if as_csv {
        let rows = view
            .devices
            .iter()
            .map(|d| {
                let r = &d.device;
                let uid = r.uid.to_string();
                let sensors: Vec<String> = r
                    .sensors
                    .iter()
                    .map(|s| format!("{}={}{}", s.name, opt(s.value), s.unit))
                    .collect();
                vec![
                    uid.clone(),
                    d.site_universe.to_string(),
                    opt(r.dmx_address),
                    opt(r.footprint),
                    opt(d.fixture.clone()),
                    serde_json::to_value(d.patch)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    opt(r.manufacturer.clone()),
                    opt(r.model.clone()),
                    opt(r.label.clone()),
                    opt(r.lamp_hours),
                    opt(r.device_hours),
                    sensors.join("; "),
                    opt(first_seen(&uid).map(|t| t.to_rfc3339())),
                    d.last_seen.to_rfc3339(),
                    d.fix.clone(),
                ]
            })
            .collect();
        return Ok(csv(
            &[
                "uid",
                "universe",
                "address",
                "footprint",
                "fixture",
                "patch",
                "manufacturer",
                "model",
                "label",
                "lamp_hours",
                "device_hours",
                "sensors",
                "first_seen",
                "last_seen",
                "fix",
            ],
            rows,
        ));
    }
    let devices: Vec<serde_json::Value> = view
        .devices
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let Some(t) = first_seen(&d.device.uid.to_string()) {
                v["first_seen"] = json!(t);
            }
            v
        })
        .collect();
    Ok(axum::Json(json!({
        "enabled": view.enabled,
        "every_s": view.every_s,
        "per_frame": view.per_frame,
        "max_requests_per_s": view.max_requests_per_s,
        "last_pass": view.last_pass,
        "passes": view.passes,
        "full_passes": view.full_passes,
        "full_every_passes": view.full_every_passes,
        "sweep": view.sweep,
        "requests": view.requests,
        "discovering": view.discovering,
        "lines": view.lines,
        "devices": devices,
        "missing": view.missing,
    }))
    .into_response())
}

/// One row of the maintenance list's CSV, borrowed from this node's fault
/// or from a peer's as the fleet carried it: the one place its columns
/// are written, so this node's list and the fleet's cannot drift apart.
struct FaultRow<'a> {
    kind: devices::FaultKind,
    fixture: Option<&'a str>,
    groups: &'a [String],
    position: Option<[f64; 2]>,
    universe: u16,
    address: Option<u16>,
    uid: Option<&'a str>,
    since: DateTime<Utc>,
    reading: &'a str,
    fix: &'a str,
}

impl<'a> FaultRow<'a> {
    /// The columns, in the order [`FaultRow::cells`] writes them.
    const HEADER: [&'static str; 10] = [
        "kind", "fixture", "groups", "x", "y", "address", "uid", "since", "reading", "fix",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.kind.as_str().to_string(),
            opt(self.fixture),
            self.groups.join(" "),
            opt(self.position.map(|p| p[0])),
            opt(self.position.map(|p| p[1])),
            match self.address {
                Some(a) => format!("{}.{a}", self.universe),
                None => self.universe.to_string(),
            },
            opt(self.uid),
            self.since.to_rfc3339(),
            self.reading.to_string(),
            self.fix.to_string(),
        ]
    }
}

impl<'a> From<&'a Fault> for FaultRow<'a> {
    fn from(f: &'a Fault) -> Self {
        FaultRow {
            kind: f.kind.into(),
            fixture: f.fixture.as_deref(),
            groups: &f.groups,
            position: f.position,
            universe: f.universe,
            address: f.address,
            uid: f.uid.as_deref(),
            since: f.since,
            reading: &f.reading,
            fix: &f.fix,
        }
    }
}

impl<'a> From<&'a WireFault> for FaultRow<'a> {
    fn from(f: &'a WireFault) -> Self {
        FaultRow {
            kind: f.kind,
            fixture: f.fixture.as_deref(),
            groups: &f.groups,
            position: f.position,
            universe: f.universe,
            address: f.address,
            uid: f.uid.as_deref(),
            since: f.since,
            reading: &f.reading,
            fix: &f.fix,
        }
    }
}

/// The maintenance list: every open fault (fixture missing, mismatched,
/// lamp failure, sensor out of range) with its fixture, groups, position,
/// universe.address, since when and the last reading — what a crew needs
/// in the morning. `?scope=fleet`: the whole city's list, every fault
/// with the `node` that reported it and whether that node's list is
/// `stale`, and `nodes` with each node's age.
#[utoipa::path(get, path = "/api/maintenance", tag = "status", params(DevicesQuery),
    responses((status = 200, description = "JSON, or CSV with ?format=csv / Accept: text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn maintenance(
    State(st): State<ApiState>,
    _v: Viewer,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DevicesQuery>,
) -> ApiResult<Response> {
    if q.record.is_some() {
        return Err(ApiError::bad_request(
            "record",
            "record applies to /api/devices only",
        ));
    }
    let lang = lang_of(&q)?;
    if wants_fleet(&q)? {
        return fleet_maintenance(&st, wants_csv(&q, &headers)?, lang);
    }
    let view = view_of(&st);
    let faults: Vec<Fault> = view
        .faults
        .iter()
        .cloned()
        .map(|mut f| {
            f.reading = f.detail.text(lang);
            f
        })
        .collect();
    if wants_csv(&q, &headers)? {
        return Ok(csv(
            &FaultRow::HEADER,
            faults.iter().map(|f| FaultRow::from(f).cells()).collect(),
        ));
    }
    Ok(axum::Json(json!({
        "enabled": view.enabled,
        "last_pass": view.last_pass,
        "faults": faults,
    }))
    .into_response())
}

/// What to change on a device.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WriteWhat {
    Address,
    Label,
    Identify,
}

/// A write to one device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceWriteRequest {
    /// "address" (DMX start address), "label" (DEVICE_LABEL) or "identify".
    pub what: WriteWhat,
    /// With "address": the new DMX start address, 1..512.
    #[schema(minimum = 1, maximum = 512)]
    pub address: Option<i64>,
    /// With "label": the new label, at most 32 bytes.
    #[schema(max_length = 32)]
    pub label: Option<String>,
    /// With "identify": true to make the fixture flash, false to stop.
    pub on: Option<bool>,
    /// Must be true: a write changes a fixture on a pole.
    #[serde(default)]
    pub confirm: bool,
}

impl DeviceWriteRequest {
    fn write(&self) -> ApiResult<Write> {
        let w = match self.what {
            WriteWhat::Address => {
                let a = self.address.ok_or_else(|| {
                    ApiError::unprocessable("address", "what = address needs `address` (1..512)")
                })?;
                let a = u16::try_from(a)
                    .ok()
                    .filter(|a| (1..=512).contains(a))
                    .ok_or_else(|| {
                        ApiError::unprocessable(
                            "address",
                            format!("address {a} is out of range: DMX start addresses are 1..512"),
                        )
                    })?;
                Write::Address { address: a }
            }
            WriteWhat::Label => Write::Label {
                label: self.label.clone().ok_or_else(|| {
                    ApiError::unprocessable("label", "what = label needs `label`")
                })?,
            },
            WriteWhat::Identify => Write::Identify {
                on: self.on.ok_or_else(|| {
                    ApiError::unprocessable("on", "what = identify needs `on` (true or false)")
                })?,
            },
        };
        w.validate().map_err(|m| {
            let f = match self.what {
                WriteWhat::Address => "address",
                WriteWhat::Label => "label",
                WriteWhat::Identify => "on",
            };
            ApiError::unprocessable(f, m)
        })?;
        if !self.confirm {
            return Err(ApiError::unprocessable(
                "confirm",
                "a write changes a fixture on site: send \"confirm\": true",
            ));
        }
        Ok(w)
    }
}

/// Change one device over RDM: its DMX start address, its DEVICE_LABEL,
/// or IDENTIFY on/off (the fixture flashes so a crew finds it; the
/// site's safety rules still apply to what it then shows). Admin only;
/// `confirm` must be true; audited with the device's answer.
#[utoipa::path(post, path = "/api/devices/{uid}", tag = "control",
    params(("uid" = String, Path, description = "The device's RDM UID, `mmmm:dddddddd` in hex")),
    request_body = DeviceWriteRequest,
    responses((status = 200, description = "The device acknowledged"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 504, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn write_device(
    State(st): State<ApiState>,
    Admin(caller): Admin,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<DeviceWriteRequest>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let uid: Uid = raw
        .trim()
        .parse()
        .map_err(|e: String| ApiError::bad_request("uid", e))?;
    let write = req.write()?;
    let Some(care) = st.devices.clone() else {
        return Err(ApiError::not_found(
            "device care is off on this controller: no output has rdm = true",
        ));
    };
    if !care.view().devices.iter().any(|d| d.device.uid.0 == uid) {
        return Err(ApiError::field(
            StatusCode::NOT_FOUND,
            "uid",
            format!("no device {uid} was found by RDM on this controller"),
        ));
    }
    let store = st.control.store().clone();
    // The write and its audit row in a task the request does not own.
    let task = crate::tasks::detached(async move {
        let w = write.clone();
        let outcome = crate::tasks::blocking(move || care.write(uid, w))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let entry = audit_entry(&caller, &write, uid, &outcome);
        if let Err(e) = store.run(move |s| s.audit(&entry)).await {
            tracing::warn!("device write not audited: {e}");
        }
        tracing::info!(uid = %uid, by = %caller.name, write = ?write, outcome = ?outcome, "device write");
        outcome
    });
    let outcome = task.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("device write failed: {e}"),
        )
    })?;
    match outcome {
        Ok(WriteOutcome::Done) => Ok(axum::Json(json!({ "uid": uid, "outcome": "done" }))),
        Ok(WriteOutcome::Refused { reason }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("device {uid} refused the write: {reason}"),
        )),
        Ok(WriteOutcome::NoReply) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("device {uid} did not answer the write"),
        )),
        Err(e) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e)),
    }
}

fn audit_entry(
    caller: &Caller,
    write: &Write,
    uid: Uid,
    outcome: &Result<WriteOutcome, String>,
) -> crate::store::AuditEntry {
    let result = match outcome {
        Ok(o) => serde_json::to_value(o).unwrap_or_default(),
        Err(e) => json!({ "outcome": "failed", "reason": e }),
    };
    crate::store::AuditEntry {
        at: chrono::Utc::now(),
        actor: caller.name.clone(),
        action: write.action().into(),
        detail: json!({ "uid": uid, "write": write, "result": result }),
        remote: caller.remote.map(|r| r.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{field, FaultRow};
    use crate::rdm::care::{CareView, Fault, FaultKind, Reading};

    /// A fault as this node's list writes it and as the fleet carried it
    /// to a peer: the same cells, column for column.
    #[test]
    fn a_fault_reads_the_same_in_this_nodes_csv_and_the_fleets() {
        let since = chrono::DateTime::parse_from_rfc3339("2026-12-07T21:04:05Z")
            .unwrap()
            .to_utc();
        let fault = |kind, address, position, detail| Fault {
            key: "rdm:k".into(),
            kind,
            fixture: Some("pole-3".into()),
            uid: Some("4e53:00000007".into()),
            groups: vec!["bridge".into(), "=east".into()],
            position,
            universe: 2,
            address,
            since,
            reading: "no answer, \"lamp\"".into(),
            detail,
            fix: "check the line".into(),
        };
        let faults = vec![
            fault(
                FaultKind::FixtureMissing,
                Some(17),
                Some([1.5, -2.0]),
                Reading::NotInTable,
            ),
            fault(FaultKind::LampFailure, None, None, Reading::NoAddress),
        ];
        let view = CareView {
            faults: faults.clone(),
            ..CareView::default()
        };
        let carried = crate::fleet::devices::summary("north", &view, since);
        assert_eq!(carried.faults.len(), faults.len());
        for (local, wire) in faults.iter().zip(&carried.faults) {
            let cells = FaultRow::from(local).cells();
            assert_eq!(cells.len(), FaultRow::HEADER.len());
            assert_eq!(FaultRow::from(wire).cells(), cells);
        }
        assert_eq!(
            FaultRow::from(&faults[0]).cells(),
            [
                "fixture_missing",
                "pole-3",
                "bridge =east",
                "1.5",
                "-2",
                "2.17",
                "4e53:00000007",
                "2026-12-07T21:04:05+00:00",
                "no answer, \"lamp\"",
                "check the line",
            ]
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=cmd()"), "'=cmd()");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
    }
}
