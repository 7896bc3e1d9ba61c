//! nightscape: a city nightscape lighting controller.
//!
//! Files in (fixture profiles, a site, shows), DMX out (Art-Net), on a frame
//! clock. The crate is laid out by concept; see ARCHITECTURE.md for the map
//! and the invariants. The render core ([`engine`]) is pure; everything that
//! touches a clock, a socket or a file sits at the edges ([`output`],
//! [`cli`], [`config`]).

pub mod api;
pub mod cli;
pub mod clock;
pub mod color;
pub mod config;
pub mod control;
pub mod daemon;
pub mod diag;
pub mod energy;
pub mod engine;
pub mod fixture;
pub mod output;
pub mod schedule;
pub mod show;
pub mod site;
pub mod store;
pub mod units;
