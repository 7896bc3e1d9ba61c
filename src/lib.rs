//! nightscape: a city nightscape lighting controller — the daemon.
//!
//! Files in (fixture profiles, a site, shows), DMX out (Art-Net, sACN,
//! serial widgets), on a frame clock. Everything pure (the render core, the
//! schedule, the energy model, wire codecs) lives in the `nightscape-core`
//! crate, which this one uses by its own name (`nightscape_core::…`, no
//! re-exports under old paths); this crate holds what
//! touches a clock, a socket or a file: [`config`] loading, [`output`],
//! [`store`], [`api`], [`daemon`], [`cli`]. See ARCHITECTURE.md.

pub mod alarms;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod energy;
pub mod fleet;
pub mod inputs;
pub mod output;
pub mod preview;
pub mod rdm;
pub mod rollout;
pub mod store;
mod tasks;
pub mod triggers;

#[cfg(test)]
mod test_support;
