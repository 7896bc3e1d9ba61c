//! nightscape's integration tests: one binary, so the suite links once.
//!
//! Each module is one concern (a protocol, the API, the CLI, a daemon
//! behaviour); `common` holds the shared helpers (demo site in a temporary
//! folder, the daemon on a frozen clock, receivers on ports the test owns).
//! Every test binds to 127.0.0.1 port 0 or a port it owns, and waits for
//! observable events with an upper bound instead of sleeping.

mod api_console;
mod api_daemon;
mod api_hardening;
mod api_http;
mod artnet_health;
mod backup;
mod browser;
mod check_all;
mod check_bad_input;
mod cli_truth;
mod common;
mod daemon_failures;
mod daemon_schedule;
mod designer;
mod devices_browser;
mod devices_daemon;
mod e2e_artnet;
mod energy_cli;
mod energy_daemon;
mod fixture_import;
mod fleet;
mod fleet_broker;
mod fleet_clock;
mod fleet_devices;
mod fleet_ids;
mod fleet_measure;
mod fleet_signed;
mod fleet_standby;
mod fleet_tls;
mod fleet_unsynced;
mod force_mode;
mod hostile_files;
mod idempotency;
mod import_paths;
mod inputs;
mod inputs_artnet_unicast;
mod inputs_reload;
mod layers;
mod live_text;
mod media;
mod media_files;
mod monitor_batched;
mod osc;
mod output_discovery;
mod output_e2e_sacn;
mod output_site;
mod preview_clip;
mod rdm_client;
mod rdm_enttec;
mod rdm_enttec_daemon;
mod rdm_ola;
mod rollout;
mod scale;
mod schedule_cli;
mod schemas;
mod service_unit;
mod timecode;
mod triggers;
