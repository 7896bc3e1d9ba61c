// The names of the API's closed sets, in one table: the page compares what
// the API sends against NAMES.<set>.<name>, never against a literal, so a
// value the server renames fails one test (`the_pages_names_are_the_apis`
// in src/api/views.rs, which holds each set equal to the Rust enum that
// serialises it, as /api/openapi.json lists it) instead of silently
// hiding a chip or a button. One set a line: `  set: ["name", ...],`.
// Served first, in front of strings.js and app.js.
"use strict";

const NAMES = closedSets({
  override_state: ["pending", "fading_in", "active", "fading_out", "releasing"],
  override_kind: ["level", "color", "show", "blackout"],
  health: ["ok", "degraded", "down"],
  liveness: ["ok", "starting", "stalled"],
  role: ["viewer", "operator", "admin"],
  alarm_kind: ["output_down", "reload_rejected", "node_down", "config_differs", "standby_active", "clock_drift", "clock_unsynced", "broker_gap", "broker_refused", "command_refused", "rollout_missing", "rollout_refused", "fixture_missing", "fixture_mismatch", "lamp_failure", "sensor_out_of_range"],
  patch: ["matched", "unmatched", "missing", "mismatched"],
  input_state: ["listening", "down", "idle"],
  universe_state: ["show", "console", "releasing", "suppressed"],
  timecode_state: ["waiting", "locked", "freewheel", "held", "stopped", "continuing"],
  trigger_on: ["osc", "udp", "art_trigger", "timecode", "at", "mqtt", "http", "start"],
});

// Each set as a frozen object whose keys are its names (NAMES.health.ok === "ok").
function closedSets(sets) {
  const out = {};
  for (const [set, names] of Object.entries(sets)) out[set] = Object.freeze(Object.fromEntries(names.map((n) => [n, n])));
  return Object.freeze(out);
}
