//! nightscape-core: everything in nightscape that is a pure function of
//! its inputs.
//!
//! Fixture profiles, the site model and patch, shows and effects, the
//! schedule (plan, sun, lunar calendar, cron), the render engine, operator
//! control as data, the energy model, what plays when, the frame pipeline
//! and the wire codecs. Time is always an argument: nothing here reads a
//! clock, a file, a socket or the environment, and the crate does not
//! depend on an async runtime, a database or a serial library — the
//! compiler holds that line (see ARCHITECTURE.md). The same instant and
//! the same files therefore give the same frame in the daemon, in
//! `nightscape render`, in a second controller and after a restart.
//!
//! Layers, lowest first (a module uses only those above it in this list):
//! `color`, `units`, `diag` → `fixture`, `site`, `show`, `schedule`,
//! `engine` → `energy` (the power model, curfews, budgets) → `explain` (why
//! a night looks as it does) → `config` (a whole loaded site) → `control`, `pipeline` → `meter` (per-frame
//! metering and the forecast); `wire` stands alone; `generate` (test
//! sites as text) and `monitor` (receiver statistics) stand beside it.

pub mod color;
pub mod config;
pub mod control;
pub mod diag;
pub mod energy;
pub mod engine;
pub mod explain;
pub mod fixture;
pub mod generate;
pub mod local_time;
pub mod media;
pub mod meter;
pub mod monitor;
pub mod pipeline;
pub mod safety;
pub mod schedule;
pub mod schema;
pub mod show;
pub mod site;
pub mod suggest;
pub mod takeover;
pub mod timecode;
pub mod triggers;
pub mod units;
pub mod wire;
