//! Console takeover: DMX received over sACN or Art-Net merged into the
//! show's frame, per site universe, with the E1.31 source rules.
//!
//! A guest designer's console takes over the square for an hour; when it
//! stops, the show fades back. What happens between is decided here, as a
//! pure state machine: packets and their arrival time in (`now`, seconds
//! on any monotonic scale the caller keeps), a frame out. The daemon owns
//! the sockets and the clock (`src/inputs/`).
//!
//! The rules, per site universe:
//! - **Sources** are told apart by their CID (sACN) or their address
//!   (Art-Net). At most [`MAX_SOURCES`] per universe: a newcomer beyond
//!   that is refused and counted, never allocated for.
//! - **Priority** (E1.31 section 6.2.3): the highest-priority sources win;
//!   a source below the input's `min_priority` is ignored. Art-Net has no
//!   priority: its sources count as 100 (E1.31's default).
//! - **Equal priority**: the winners are merged highest-takes-precedence,
//!   per channel (what E1.31 receivers commonly do, and the only rule that
//!   does not depend on arrival order).
//! - **Loss**: a source silent for [`SOURCE_TIMEOUT_S`] (E1.31's
//!   E131_NETWORK_DATA_LOSS_TIMEOUT) or that sets the Stream_Terminated
//!   option is dropped at once; a lower-priority source still sending then
//!   takes over without a fade. When the last source leaves, the show comes
//!   back over the input's `release` (a crossfade from the console's last
//!   levels).
//! - **Sequence** (E1.31 section 6.7.2): a packet whose sequence number is
//!   0..-19 behind the last one from its source is out of order and dropped.
//! - **Mode**: `takeover` replaces the show's universe with the console's
//!   levels (slots past the console's data count as 0); `htp` keeps the
//!   higher of the show and the console per channel.
//! - **On top of the console**: the curfew caps, masters and power budgets
//!   (the frame's [`Limits`]) scale and cap the console's intensity
//!   channels (a fixture's dimmer, or its colour channels when it has
//!   none) before they are merged, and an emergency suppresses the console
//!   entirely (`suppressed`): an emergency blackout beats a console.

use crate::engine::{Frame, Limits};
use crate::fixture::Role;
use crate::site::inputs::{Input, MergeMode};
use crate::site::{Site, UNIVERSE_SIZE};

/// Sources per universe at most (E1.31 receivers typically track a handful;
/// the bound keeps a flood of forged CIDs from costing memory).
pub(crate) const MAX_SOURCES: usize = 8;
/// A source silent this long is lost (E1.31 section 6.7.1).
pub(crate) const SOURCE_TIMEOUT_S: f64 = 2.5;
/// Art-Net carries no priority: its sources count as E1.31's default.
pub const ARTNET_PRIORITY: u8 = 100;
/// Longest source name kept.
const MAX_NAME: usize = 64;

/// Who sent a packet: an sACN CID, or an Art-Net sender's IPv4 address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    Cid([u8; 16]),
    Addr([u8; 4], u16),
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceId::Cid(c) => {
                for (i, b) in c.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            SourceId::Addr(a, p) => write!(f, "{}.{}.{}.{}:{p}", a[0], a[1], a[2], a[3]),
        }
    }
}

/// One received DMX packet, decoded.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub source: SourceId,
    /// The source's name (sACN's Source Name; empty for Art-Net).
    pub name: &'a str,
    pub priority: u8,
    /// sACN's sequence number; None where the protocol has none in use.
    pub sequence: Option<u8>,
    /// sACN's Stream_Terminated option.
    pub terminated: bool,
    /// DMX slots 1.. (the start code already checked), at most 512.
    pub data: &'a [u8],
}

/// What became of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    Accepted,
    /// The input does not receive this universe.
    NotReceived,
    /// Below the input's `min_priority`.
    BelowMinPriority,
    /// Behind the source's last sequence number.
    OutOfSequence,
    /// The universe already has [`MAX_SOURCES`] sources.
    TooManySources,
    /// A stream-terminated packet: the source has left.
    Terminated,
}

#[derive(Debug, Clone)]
struct Source {
    id: SourceId,
    name: String,
    priority: u8,
    sequence: Option<u8>,
    data: Box<[u8; UNIVERSE_SIZE]>,
    last: f64,
    packets: u64,
}

/// Where a universe's light comes from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UniverseState {
    /// The show: no source.
    Show,
    /// A console (sources sending).
    Console,
    /// Fading back to the show after the last source left.
    Releasing,
    /// Sources are sending but an emergency holds them off.
    Suppressed,
}

#[derive(Debug, Clone)]
struct Universe {
    site_universe: u16,
    /// Index into the site's inputs.
    input: usize,
    mode: MergeMode,
    min_priority: u8,
    release: f64,
    sources: Vec<Source>,
    /// The console's merged levels in the last frame it drove.
    last_console: Box<[u8; UNIVERSE_SIZE]>,
    /// When the last source left (the release fade's start).
    released_at: Option<f64>,
    suppressed: bool,
    /// The console's intensity channels: (slot, fine slot, fixture).
    intensity: Vec<(u16, Option<u16>, u32)>,
    /// Their (scale, cap) at the last frame built, for a late merge.
    factors: Vec<(f32, f32)>,
    /// The show's levels of this universe at the last frame built.
    show: Box<[u8; UNIVERSE_SIZE]>,
    /// A packet arrived since the frame was built.
    dirty: bool,
    /// `apply` merged it into the last frame built (so `show` is that frame's).
    merged: bool,
}

/// One site universe's state, for the console and `/api/status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UniverseStatus {
    pub universe: u16,
    pub input: String,
    pub state: UniverseState,
    pub mode: MergeMode,
    /// The sources sending now, the winners first.
    pub sources: Vec<SourceStatus>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceStatus {
    pub id: String,
    pub name: String,
    pub priority: u8,
    /// Whether it is among the sources whose levels are used.
    pub winning: bool,
    /// Seconds since its last packet.
    pub age_s: f64,
    pub packets: u64,
}

/// Every site universe a DMX input lands on, and its sources.
#[derive(Debug, Clone, Default)]
pub struct Takeover {
    /// Sorted by site universe.
    universes: Vec<Universe>,
    /// Per input (site order): its wire universes' index into `universes`.
    routes: Vec<Vec<(u16, usize)>>,
    names: Vec<String>,
}

impl Takeover {
    /// The takeover state for `site`'s DMX inputs (none when it has none).
    /// Two inputs landing on one site universe share it: the first
    /// declared decides its mode and release.
    pub fn new(site: &Site) -> Takeover {
        Takeover::for_inputs(site, &site.inputs)
    }

    pub(crate) fn for_inputs(site: &Site, inputs: &[Input]) -> Takeover {
        let mut t = Takeover {
            names: inputs.iter().map(|i| i.name.clone()).collect(),
            ..Takeover::default()
        };
        for (n, input) in inputs.iter().enumerate() {
            let Some(d) = input.dmx() else { continue };
            for &to in &d.to {
                if t.universes.iter().any(|u| u.site_universe == to) {
                    continue;
                }
                t.universes.push(Universe {
                    site_universe: to,
                    input: n,
                    mode: d.mode,
                    min_priority: d.min_priority,
                    release: d.release,
                    sources: Vec::new(),
                    last_console: Box::new([0; UNIVERSE_SIZE]),
                    released_at: None,
                    suppressed: false,
                    intensity: intensity_slots(site, to),
                    factors: Vec::new(),
                    show: Box::new([0; UNIVERSE_SIZE]),
                    dirty: false,
                    merged: false,
                });
            }
        }
        t.universes.sort_by_key(|u| u.site_universe);
        for input in inputs {
            let mut r = Vec::new();
            if let Some(d) = input.dmx() {
                for (&w, &to) in d.universes.iter().zip(&d.to) {
                    if let Ok(i) = t.universes.binary_search_by_key(&to, |u| u.site_universe) {
                        r.push((w, i));
                    }
                }
            }
            t.routes.push(r);
        }
        t
    }

    /// Whether any input can take a universe over.
    pub fn is_empty(&self) -> bool {
        self.universes.is_empty()
    }

    #[cfg(test)]
    /// Whether any universe is driven or released by a console now (the
    /// frame loop's quick check).
    pub(crate) fn is_active(&self) -> bool {
        self.universes
            .iter()
            .any(|u| !u.sources.is_empty() || u.released_at.is_some())
    }

    /// Take a packet that input `input` received for wire universe `wire` at `now`.
    pub fn receive(&mut self, input: usize, wire: u16, p: &Packet, now: f64) -> Receipt {
        let Some(route) = self.routes.get(input) else {
            return Receipt::NotReceived;
        };
        let Ok(k) = route.binary_search_by_key(&wire, |r| r.0) else {
            return Receipt::NotReceived;
        };
        let u = &mut self.universes[route[k].1];
        let at = u.sources.iter().position(|s| s.id == p.source);
        if p.terminated {
            if let Some(i) = at {
                u.sources.remove(i);
                if u.sources.is_empty() {
                    u.released_at = Some(now);
                }
            }
            u.dirty = true;
            return Receipt::Terminated;
        }
        if p.priority < u.min_priority {
            return Receipt::BelowMinPriority;
        }
        let i = match at {
            Some(i) => {
                let s = &u.sources[i];
                if let (Some(last), Some(new)) = (s.sequence, p.sequence) {
                    let d = new.wrapping_sub(last) as i8;
                    if d <= 0 && d > -20 {
                        return Receipt::OutOfSequence;
                    }
                }
                i
            }
            None => {
                if u.sources.len() >= MAX_SOURCES {
                    return Receipt::TooManySources;
                }
                u.sources.push(Source {
                    id: p.source,
                    name: String::new(),
                    priority: 0,
                    sequence: None,
                    data: Box::new([0; UNIVERSE_SIZE]),
                    last: now,
                    packets: 0,
                });
                u.sources.len() - 1
            }
        };
        let s = &mut u.sources[i];
        if s.name != p.name {
            s.name = p.name.chars().take(MAX_NAME).collect();
        }
        s.priority = p.priority;
        s.sequence = p.sequence;
        s.last = now;
        u.dirty = true;
        s.packets += 1;
        let n = p.data.len().min(UNIVERSE_SIZE);
        s.data[..n].copy_from_slice(&p.data[..n]);
        s.data[n..].fill(0);
        u.released_at = None;
        Receipt::Accepted
    }

    /// Drop sources silent for [`SOURCE_TIMEOUT_S`]; the release fade of a
    /// universe left without any starts when its last source was heard.
    pub(crate) fn expire(&mut self, now: f64) {
        for u in &mut self.universes {
            if u.sources.is_empty() {
                continue;
            }
            let mut last_heard = f64::NEG_INFINITY;
            u.sources.retain(|s| {
                last_heard = last_heard.max(s.last);
                now - s.last < SOURCE_TIMEOUT_S
            });
            if u.sources.is_empty() {
                u.released_at = Some(last_heard + SOURCE_TIMEOUT_S);
            }
        }
    }

    /// Merge the consoles into `frame` (already the show's, limits
    /// applied) at `now`. `limits` scale and cap the consoles' intensity
    /// channels; `suppressed` (an emergency) keeps every console out.
    pub fn apply(&mut self, frame: &mut Frame, limits: &Limits, suppressed: bool, now: f64) {
        self.expire(now);
        for u in &mut self.universes {
            u.suppressed = suppressed && !u.sources.is_empty();
            u.dirty = false;
            u.merged = false;
            let Ok(fi) = frame.universes.binary_search(&u.site_universe) else {
                continue;
            };
            if suppressed {
                // The emergency's frame stands; when it ends, a console
                // still sending takes over at once, as it would after an
                // operator cleared it.
                continue;
            }
            // Every universe's show levels and limits are kept (512 bytes
            // each), so a console's first packet can still join this frame
            // at `apply_late`.
            u.factors.clear();
            u.factors.extend(u.intensity.iter().map(|&(_, _, f)| {
                let f = f as usize;
                (
                    limits.scale.get(f).copied().unwrap_or(1.0).clamp(0.0, 1.0),
                    limits.cap.get(f).copied().unwrap_or(1.0).clamp(0.0, 1.0),
                )
            }));
            u.show.copy_from_slice(&frame.data[fi]);
            u.merged = true;
            if u.sources.is_empty() && u.released_at.is_none() {
                continue;
            }
            merge_universe(u, &mut frame.data[fi], now);
        }
    }

    /// Merge again, into a frame already built by [`Takeover::apply`],
    /// what arrived since (a console's change then goes out with this
    /// frame instead of the next: the frame loop calls this just before
    /// sending). Only universes with news change, under the limits of the
    /// frame built; one not merged by `apply` waits for the next frame.
    pub fn apply_late(&mut self, frame: &mut Frame, now: f64) {
        for u in &mut self.universes {
            if !u.dirty || u.suppressed || !u.merged {
                continue;
            }
            u.dirty = false;
            let Ok(fi) = frame.universes.binary_search(&u.site_universe) else {
                continue;
            };
            let out = &mut frame.data[fi];
            out.copy_from_slice(&u.show[..]);
            merge_universe(u, out, now);
        }
    }

    /// Each universe's state and sources at `now`.
    pub fn status(&self, now: f64) -> Vec<UniverseStatus> {
        self.universes
            .iter()
            .map(|u| {
                let top = u.sources.iter().map(|s| s.priority).max();
                let mut sources: Vec<SourceStatus> = u
                    .sources
                    .iter()
                    .map(|s| SourceStatus {
                        id: s.id.to_string(),
                        name: s.name.clone(),
                        priority: s.priority,
                        winning: Some(s.priority) == top,
                        age_s: (now - s.last).max(0.0),
                        packets: s.packets,
                    })
                    .collect();
                sources.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
                UniverseStatus {
                    universe: u.site_universe,
                    input: self.names.get(u.input).cloned().unwrap_or_default(),
                    state: if u.suppressed {
                        UniverseState::Suppressed
                    } else if !u.sources.is_empty() {
                        UniverseState::Console
                    } else if u.released_at.is_some_and(|r| now - r < u.release) {
                        UniverseState::Releasing
                    } else {
                        UniverseState::Show
                    },
                    mode: u.mode,
                    sources,
                }
            })
            .collect()
    }
}

/// The console merged into `out` (the show's levels of the universe).
fn merge_universe(u: &mut Universe, out: &mut [u8; UNIVERSE_SIZE], now: f64) {
    let t = if u.sources.is_empty() {
        let since = now - u.released_at.unwrap_or(now);
        if u.release <= 0.0 || since >= u.release {
            u.released_at = None;
            return;
        }
        (since / u.release).clamp(0.0, 1.0)
    } else {
        let top = u.sources.iter().map(|s| s.priority).max().unwrap_or(0);
        let console = &mut u.last_console;
        console.fill(0);
        for s in u.sources.iter().filter(|s| s.priority == top) {
            for (c, v) in console.iter_mut().zip(s.data.iter()) {
                *c = (*c).max(*v);
            }
        }
        limit(console, &u.intensity, &u.factors);
        0.0
    };
    let c = &u.last_console;
    for (k, o) in out.iter_mut().enumerate() {
        let merged = match u.mode {
            MergeMode::Takeover => c[k],
            MergeMode::Htp => c[k].max(*o),
        };
        *o = if t == 0.0 {
            merged
        } else {
            let m = f64::from(merged);
            (m + (f64::from(*o) - m) * t).round() as u8
        };
    }
}

/// Scale and cap the console's intensity channels by the fixtures' limits
/// (`factors`: (scale, cap) per entry of `slots`).
fn limit(
    console: &mut [u8; UNIVERSE_SIZE],
    slots: &[(u16, Option<u16>, u32)],
    factors: &[(f32, f32)],
) {
    for (&(slot, fine, _), &(scale, cap)) in slots.iter().zip(factors) {
        if scale >= 1.0 && cap >= 1.0 {
            continue;
        }
        let (k, c) = (f64::from(scale), f64::from(cap));
        let s = slot as usize;
        match fine {
            Some(fs) => {
                let fs = fs as usize;
                let v = f64::from(u16::from(console[s]) << 8 | u16::from(console[fs])) / 65535.0;
                let v = ((v * k).min(c) * 65535.0).round() as u16;
                console[s] = (v >> 8) as u8;
                console[fs] = v as u8;
            }
            None => {
                let v = f64::from(console[s]) / 255.0;
                console[s] = ((v * k).min(c) * 255.0).round() as u8;
            }
        }
    }
}

/// The intensity slots (0-based) of site universe `u`'s fixtures: each
/// fixture's dimmer channels, or its colour channels when it has no dimmer.
fn intensity_slots(site: &Site, u: u16) -> Vec<(u16, Option<u16>, u32)> {
    let colour = |r: Role| {
        matches!(
            r,
            Role::Red
                | Role::Green
                | Role::Blue
                | Role::White
                | Role::Amber
                | Role::Uv
                | Role::Warm
                | Role::Cool
        )
    };
    let mut out = Vec::new();
    for (fi, f) in site.fixtures.iter().enumerate() {
        if f.universe != u {
            continue;
        }
        let mode = site.mode_of(f);
        let dimmed = mode.has(Role::Dimmer);
        let base = f.address.saturating_sub(1);
        for ch in &mode.channels {
            let wanted = if dimmed {
                ch.role == Role::Dimmer
            } else {
                colour(ch.role)
            };
            if !wanted || ch.fine {
                continue;
            }
            let slot = base + ch.offset;
            if slot as usize >= UNIVERSE_SIZE {
                continue;
            }
            let fine = ch
                .wide
                .then(|| {
                    mode.channels
                        .iter()
                        .find(|c| c.fine && c.role == ch.role && c.cell == ch.cell)
                        .map(|c| base + c.offset)
                })
                .flatten()
                .filter(|s| (*s as usize) < UNIVERSE_SIZE);
            out.push((slot, fine, fi as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, SourceFile};

    fn site(inputs: &str) -> Site {
        let text = format!(
            "name = \"t\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n\
             [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-3\"\n{inputs}"
        );
        let file = SourceFile::new("site.toml", text);
        let mut diags = Diagnostics::new();
        let s = crate::site::compile(&file, Default::default(), &mut diags);
        assert!(diags.errors().next().is_none(), "{:?}", diags.items);
        s.unwrap()
    }

    fn frame(site: &Site, level: u8) -> Frame {
        let mut f = Frame::new(site);
        for d in &mut f.data {
            d.fill(level);
        }
        f
    }

    fn packet(cid: u8, priority: u8, seq: u8, level: u8, data: &mut [u8; 512]) -> Packet<'_> {
        data.fill(level);
        Packet {
            source: SourceId::Cid([cid; 16]),
            name: "desk",
            priority,
            sequence: Some(seq),
            terminated: false,
            data: &data[..],
        }
    }

    const SACN: &str = "[[inputs]]\nkind = \"sacn\"\nuniverses = \"1-2\"\nto = 0\nmin_priority = 100\nrelease = \"2s\"\n";

    #[test]
    fn the_highest_priority_takes_over_and_the_show_fades_back() {
        let s = site(SACN);
        let mut t = Takeover::new(&s);
        let limits = Limits::none(&s);
        let mut buf = [0u8; 512];
        // Below min_priority: ignored.
        assert_eq!(
            t.receive(0, 1, &packet(1, 99, 0, 200, &mut buf), 0.0),
            Receipt::BelowMinPriority
        );
        assert_eq!(
            t.receive(0, 7, &packet(1, 150, 0, 200, &mut buf), 0.0),
            Receipt::NotReceived
        );
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 0, 200, &mut buf), 0.0),
            Receipt::Accepted
        );
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 0.01);
        assert_eq!(f.universe(0).unwrap()[0], 200);
        assert_eq!(
            f.universe(1).unwrap()[0],
            10,
            "universe 2 → site 1 has no source"
        );
        // A second source at 200 wins over the 150.
        assert_eq!(
            t.receive(0, 1, &packet(2, 200, 0, 50, &mut buf), 0.1),
            Receipt::Accepted
        );
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 0.1);
        assert_eq!(f.universe(0).unwrap()[0], 50);
        let st = t.status(0.1);
        assert_eq!(st[0].state, UniverseState::Console);
        assert_eq!(st[0].sources[0].priority, 200);
        assert!(st[0].sources[0].winning && !st[0].sources[1].winning);
        // The 200 terminates: the 150 is back at once, no fade.
        let mut p = packet(2, 200, 1, 50, &mut buf);
        p.terminated = true;
        assert_eq!(t.receive(0, 1, &p, 0.2), Receipt::Terminated);
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 0.2);
        assert_eq!(f.universe(0).unwrap()[0], 200);
        // The 150 falls silent: lost 2.5 s after its last packet, then
        // the show fades back over 2 s.
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 2.49);
        assert_eq!(f.universe(0).unwrap()[0], 200);
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 2.5 + 1.0);
        assert_eq!(f.universe(0).unwrap()[0], 105, "half way from 200 to 10");
        assert_eq!(t.status(3.5)[0].state, UniverseState::Releasing);
        let mut f = frame(&s, 10);
        t.apply(&mut f, &limits, false, 4.6);
        assert_eq!(f.universe(0).unwrap()[0], 10);
        assert_eq!(t.status(4.6)[0].state, UniverseState::Show);
        assert!(!t.is_active());
    }

    #[test]
    fn equal_priorities_merge_htp_and_htp_mode_keeps_the_show() {
        let s = site(&SACN.replace("min_priority = 100", "mode = \"htp\""));
        let mut t = Takeover::new(&s);
        let limits = Limits::none(&s);
        let mut a = [0u8; 512];
        let mut b = [0u8; 512];
        let mut pa = packet(1, 100, 0, 0, &mut a);
        let mut da = [0u8; 512];
        da[0] = 90;
        da[1] = 5;
        pa.data = &da;
        let mut db = [0u8; 512];
        db[0] = 30;
        db[1] = 80;
        let mut pb = packet(2, 100, 0, 0, &mut b);
        pb.data = &db;
        t.receive(0, 1, &pa, 0.0);
        t.receive(0, 1, &pb, 0.0);
        let mut f = frame(&s, 40);
        t.apply(&mut f, &limits, false, 0.0);
        assert_eq!(&f.universe(0).unwrap()[..3], &[90, 80, 40]);
    }

    #[test]
    fn out_of_sequence_packets_and_extra_sources_are_dropped() {
        let s = site(SACN);
        let mut t = Takeover::new(&s);
        let mut buf = [0u8; 512];
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 10, 1, &mut buf), 0.0),
            Receipt::Accepted
        );
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 9, 1, &mut buf), 0.0),
            Receipt::OutOfSequence
        );
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 10, 1, &mut buf), 0.0),
            Receipt::OutOfSequence
        );
        // 20 or more behind is a restarted source, accepted.
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 240, 1, &mut buf), 0.0),
            Receipt::Accepted
        );
        assert_eq!(
            t.receive(0, 1, &packet(1, 150, 241, 1, &mut buf), 0.0),
            Receipt::Accepted
        );
        for c in 2..=MAX_SOURCES as u8 {
            assert_eq!(
                t.receive(0, 1, &packet(c, 150, 0, 1, &mut buf), 0.0),
                Receipt::Accepted
            );
        }
        assert_eq!(
            t.receive(0, 1, &packet(99, 150, 0, 1, &mut buf), 0.0),
            Receipt::TooManySources
        );
    }

    #[test]
    fn a_late_merge_takes_what_arrived_after_the_frame_was_built() {
        let s = site(&SACN.replace("min_priority = 100", "mode = \"htp\""));
        let mut t = Takeover::new(&s);
        let mut buf = [0u8; 512];
        t.receive(0, 1, &packet(1, 150, 0, 100, &mut buf), 0.0);
        let mut f = frame(&s, 40);
        t.apply(&mut f, &Limits::none(&s), false, 0.0);
        assert_eq!(f.universe(0).unwrap()[0], 100);
        // Nothing new: nothing changes.
        t.apply_late(&mut f, 0.01);
        assert_eq!(f.universe(0).unwrap()[0], 100);
        // The console goes down to 20: HTP with the show's 40, not the old 100.
        t.receive(0, 1, &packet(1, 150, 1, 20, &mut buf), 0.015);
        t.apply_late(&mut f, 0.02);
        assert_eq!(f.universe(0).unwrap()[0], 40);
        assert_eq!(f.universe(1).unwrap()[0], 40, "other universes untouched");
    }

    #[test]
    fn limits_scale_and_cap_intensity_slots_only() {
        let mut c = [200u8; UNIVERSE_SIZE];
        c[3] = 0xff;
        c[4] = 0xff;
        let slots = [(0u16, None, 0u32), (3, Some(4), 1), (7, None, 2)];
        limit(&mut c, &slots, &[(0.5, 1.0), (1.0, 0.5), (1.0, 1.0)]);
        assert_eq!(c[0], 100);
        assert_eq!((c[3], c[4]), (0x80, 0x00));
        assert_eq!(
            (c[1], c[7]),
            (200, 200),
            "other channels and unlimited fixtures pass"
        );
    }

    #[test]
    fn an_emergency_suppresses_the_console_and_limits_scale_it() {
        let s = site(SACN);
        let mut t = Takeover::new(&s);
        let mut buf = [0u8; 512];
        t.receive(0, 1, &packet(1, 150, 0, 200, &mut buf), 0.0);
        let mut f = frame(&s, 0);
        t.apply(&mut f, &Limits::none(&s), true, 0.0);
        assert_eq!(f.universe(0).unwrap()[0], 0);
        assert_eq!(t.status(0.0)[0].state, UniverseState::Suppressed);
    }
}
