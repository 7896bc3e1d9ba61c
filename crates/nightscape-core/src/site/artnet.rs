//! `[artnet]`: the daemon's own Art-Net socket, which answers ArtPoll (so
//! consoles and DMX-Workshop see the controller) and polls the outputs'
//! nodes to know they are alive. Absent, it listens on 0.0.0.0:6454 and
//! polls every 2.75 s, as the spec asks.

use super::targets::parse_target;
use crate::diag::{Diagnostics, SourceFile, Spanned};
use serde::Deserialize;
use std::net::SocketAddr;

/// `[artnet]`: the daemon's own Art-Net socket, which answers ArtPoll
/// (so consoles and DMX-Workshop see the controller) and polls the
/// outputs' nodes to know they are alive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtNetService {
    /// Where the socket listens (default 0.0.0.0:6454, shared with
    /// SO_REUSEADDR).
    pub listen: SocketAddr,
    /// Seconds between polls (the spec asks 2.5–3 s); 0 = no polling.
    pub poll_every: f64,
    /// Answer ArtPoll with ArtPollReply.
    pub answer: bool,
}

impl Default for ArtNetService {
    fn default() -> Self {
        ArtNetService {
            listen: SocketAddr::from(([0, 0, 0, 0], 6454)),
            poll_every: 2.75,
            answer: true,
        }
    }
}

/// `[artnet]`: the daemon's own Art-Net socket (answers ArtPoll, polls
/// the outputs' nodes).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArtNetService {
    /// Where the socket listens (default "0.0.0.0:6454", shared with SO_REUSEADDR).
    #[serde(default)]
    #[schemars(example = &"10.0.4.1:6454")]
    listen: Option<Spanned<String>>,
    /// Time between ArtPolls to the outputs' nodes: "0s" (off) or 0.5s..60s
    /// (default "2.75s"; the spec asks 2.5..3 s).
    #[serde(default)]
    #[schemars(example = &"2.75s", regex(pattern = crate::units::DURATION_PATTERN))]
    poll_every: Option<Spanned<String>>,
    /// Answer ArtPoll with ArtPollReply (default true).
    #[serde(default)]
    #[schemars(example = false)]
    answer: Option<bool>,
}

pub(super) fn compile(
    file: &SourceFile,
    raw: Option<&Spanned<RawArtNetService>>,
    diags: &mut Diagnostics,
) -> ArtNetService {
    let mut out = ArtNetService::default();
    let Some(raw) = raw else {
        return out;
    };
    let r = raw.get_ref();
    if let Some(l) = &r.listen {
        match parse_target(l.get_ref(), 6454) {
            Ok(a) => out.listen = a,
            Err(m) => diags.error(file, l.span(), m),
        }
    }
    if let Some(p) = &r.poll_every {
        match crate::units::parse_duration(p.get_ref()) {
            Ok(d) if d == 0.0 || (0.5..=60.0).contains(&d) => out.poll_every = d,
            Ok(_) => diags.error(
                file,
                p.span(),
                "poll_every must be 0s (off) or 0.5s..60s; the Art-Net spec asks 2.5s..3s",
            ),
            Err(m) => diags.error(file, p.span(), m),
        }
    }
    if let Some(a) = r.answer {
        out.answer = a;
    }
    out
}
