//! Outputs: where DMX frames leave the process.
//!
//! Each output owns its wire protocol and its socket or port, and reports
//! its health. The frame loop hands every output the whole [`Frame`]; an
//! output sends the universes it was configured for. Wire formats live in
//! `*_wire` modules that encode into caller buffers and never do I/O, so
//! they are tested byte for byte; the senders here are thin.

pub mod artnet;
pub mod artpoll_wire;
pub mod enttec_wire;
pub mod sacn_wire;

use crate::engine::Frame;
use crate::site::{OutputKind, Site};
use serde::Serialize;

/// How an output is doing, as the status page shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OutputHealth {
    pub kind: &'static str,
    pub target: String,
    pub universes: Vec<u16>,
    /// "ok", "degraded" (some sends failed recently) or "down".
    pub state: &'static str,
    pub frames_sent: u64,
    pub packets_sent: u64,
    pub send_errors: u64,
    pub last_error: Option<String>,
}

/// A destination for frames.
pub trait Output: Send {
    /// Send the universes this output carries from `frame`. Errors are
    /// recorded in the health, never propagated: one dead node must not stop
    /// the others.
    fn send(&mut self, frame: &Frame);
    fn health(&self) -> OutputHealth;
    /// Called once when the daemon stops, after the last frame: say goodbye
    /// on the wire where the protocol has a way (sACN stream termination),
    /// and release threads and ports.
    fn stop(&mut self) {}
}

/// Open every output the site declares. Outputs whose kind this build does
/// not drive yet are reported in the returned warnings and skipped.
pub fn open_all(site: &Site) -> (Vec<Box<dyn Output>>, Vec<String>) {
    let mut outputs: Vec<Box<dyn Output>> = Vec::new();
    let mut warnings = Vec::new();
    for cfg in &site.outputs {
        match &cfg.kind {
            OutputKind::ArtNet { target, sync } => match artnet::ArtNetOutput::open(*target, cfg.universes.clone(), *sync) {
                Ok(o) => outputs.push(Box::new(o)),
                Err(e) => warnings.push(format!("artnet output to {target}: cannot open a socket: {e}")),
            },
            other => warnings.push(format!(
                "{} output for universes {:?} is not driven by this build yet; its universes are not sent",
                other.name(),
                cfg.universes
            )),
        }
    }
    (outputs, warnings)
}
