//! sACN (ANSI E1.31) output: one data packet per universe per frame, with
//! the output's priority, a sequence number per universe, our source name
//! and a CID that stays the same across restarts; an optional universe
//! synchronisation packet after each frame; three stream-termination
//! packets per universe on stop.
//!
//! Packets are built in place ([`SacnPackets`]: headers once, then only
//! sequence and slots per frame) and sent like Art-Net: to a unicast
//! receiver in UDP GSO batches, from the output thread for 32 universes and
//! more (see `threaded`), with `only_changed` as an option; rather than
//! through the `sacn` crate: that crate's source blocks
//! and runs its own thread, which would put a second clock and a queue
//! between the frame and the wire, and it cannot share our health
//! accounting. Unicast goes to the configured receiver; multicast sends each
//! universe to 239.255.hi.lo:5568 (TTL 1, the E1.31 default scope, looped
//! back so a receiver on this machine sees it too).
//!
//! The CID identifies this controller to receivers, which merge and
//! prioritise sources by it; a new CID after every restart would look like
//! a second source appearing while the first times out. So it is generated
//! once and kept in the state folder as `sacn-cid` (32 hex digits).

use super::udp::{UdpSender, UniverseIndex};
use super::{Output, OutputHealth};
use nightscape_core::engine::Frame;
use nightscape_core::site::{SacnTarget, UNIVERSE_SIZE};
use nightscape_core::wire::sacn::{
    discovery_pages, encode_data, encode_discovery, encode_sync, multicast_addr, DataPacket,
    DATA_PACKET_LEN, DISCOVERY_INTERVAL_S, DISCOVERY_UNIVERSE, OFF_OPTIONS, OFF_SEQUENCE,
    OFF_SLOTS, OPT_STREAM_TERMINATED, SACN_PORT, SYNC_PACKET_LEN,
};
use std::io::Write;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

/// File in the state folder that holds the CID.
pub(crate) const CID_FILE: &str = "sacn-cid";
/// E1.31 section 6.2.6: a source that stops sends three packets with the
/// Stream_Terminated bit.
pub(crate) const TERMINATION_PACKETS: usize = 3;

/// How an sACN output is set up.
#[derive(Debug, Clone)]
pub struct SacnSettings {
    pub target: SacnTarget,
    /// 0..=200; larger values are sent as 200.
    pub priority: u8,
    /// Universe of the sync packets; `None` sends unsynchronised.
    pub sync_address: Option<u16>,
    pub source_name: String,
    pub cid: [u8; 16],
}

/// E1.31 section 6.6.2: a source that suppresses unchanged data sends the
/// non-changing data three times before it suppresses it (we count the
/// three after the changed packet itself), then a keep-alive every 800–1000 ms.
pub(crate) const REPEATS_BEFORE_SUPPRESSION: u8 = 3;

/// Every data packet of an sACN output, built in place in one contiguous,
/// preallocated buffer, like [`super::artnet::ArtDmxPackets`]: the headers
/// (CID, source name, priority, sync address, universe) are written once;
/// per frame only the sequence number and the slots change. Equal-sized
/// packets back to back are what UDP segmentation offload sends to one
/// receiver in one system call.
pub(crate) struct SacnPackets {
    universes: Vec<u16>,
    /// The sequence number the next packet of each universe carries.
    sequences: Vec<u8>,
    buf: Vec<u8>,
    frame_index: UniverseIndex,
    /// Frames since each universe was last sent (change-only mode).
    idle: Vec<u32>,
    /// Unchanged packets still to send after a change (change-only mode).
    repeats: Vec<u8>,
    due: Vec<bool>,
}

impl SacnPackets {
    /// Packets for site universes `universes[i]` sent as E1.31 universe
    /// `wire[i]` (lists cut to the shorter), all slots 0.
    pub(crate) fn new(settings: &SacnSettings, universes: &[u16], wire: &[u16]) -> SacnPackets {
        let n = universes.len().min(wire.len());
        let mut buf = vec![0u8; n * DATA_PACKET_LEN];
        let zero = [0u8; UNIVERSE_SIZE];
        for (i, packet) in buf.chunks_exact_mut(DATA_PACKET_LEN).enumerate() {
            let packet: &mut [u8; DATA_PACKET_LEN] = packet.try_into().expect("exact chunk");
            encode_data(
                &DataPacket {
                    cid: settings.cid,
                    source_name: &settings.source_name,
                    priority: settings.priority,
                    sync_address: settings.sync_address.unwrap_or(0),
                    sequence: 0,
                    preview: false,
                    stream_terminated: false,
                    universe: wire[i],
                    start_code: 0,
                    slots: &zero,
                },
                packet,
            );
        }
        SacnPackets {
            universes: universes[..n].to_vec(),
            sequences: vec![0; n],
            buf,
            frame_index: UniverseIndex::with_capacity(n),
            idle: vec![u32::MAX; n],
            repeats: vec![0; n],
            due: vec![true; n],
        }
    }

    /// Build every universe's packet from `frame`: the default.
    pub(crate) fn build(&mut self, frame: &Frame) {
        self.build_inner(frame, None);
    }

    /// Build the universes whose data changed, the three repeats that
    /// follow a change, and those not sent for `keep_alive` frames; the
    /// rest keep their packet. Returns how many are due.
    pub(crate) fn build_changed(&mut self, frame: &Frame, keep_alive: u32) -> usize {
        self.build_inner(frame, Some(keep_alive))
    }

    fn build_inner(&mut self, frame: &Frame, keep_alive: Option<u32>) -> usize {
        self.frame_index.update(&self.universes, frame);
        let zero = [0u8; UNIVERSE_SIZE];
        let mut due = 0;
        for (i, packet) in self.buf.chunks_exact_mut(DATA_PACKET_LEN).enumerate() {
            let data = self.frame_index.data(i, frame, &zero);
            let payload = &mut packet[OFF_SLOTS..];
            let send = match keep_alive {
                None => true,
                Some(k) => {
                    if payload != &data[..] {
                        self.repeats[i] = REPEATS_BEFORE_SUPPRESSION + 1;
                    }
                    self.repeats[i] > 0 || self.idle[i] >= k
                }
            };
            self.due[i] = send;
            if send {
                payload.copy_from_slice(data);
                packet[OFF_SEQUENCE] = self.sequences[i];
                self.sequences[i] = self.sequences[i].wrapping_add(1);
                self.repeats[i] = self.repeats[i].saturating_sub(1);
                self.idle[i] = 0;
                due += 1;
            } else {
                self.idle[i] = self.idle[i].saturating_add(1);
            }
        }
        due
    }

    /// Mark every packet stream-terminated (E1.31 section 6.2.6), each
    /// with its next sequence number, its last slots kept: call once per
    /// round of termination packets.
    pub(crate) fn terminate(&mut self) {
        for (i, packet) in self.buf.chunks_exact_mut(DATA_PACKET_LEN).enumerate() {
            packet[OFF_OPTIONS] |= OPT_STREAM_TERMINATED;
            packet[OFF_SEQUENCE] = self.sequences[i];
            self.sequences[i] = self.sequences[i].wrapping_add(1);
            self.due[i] = true;
        }
    }

    /// All packets, back to back, `DATA_PACKET_LEN` bytes each.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Runs of consecutive packets due this frame, as byte ranges of
    /// [`bytes`](Self::bytes).
    pub(crate) fn due_runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        super::udp::due_runs(&self.due, DATA_PACKET_LEN)
    }
}

/// Where a universe's packets go on a multicast output: its group, sACN port.
fn multicast_group(universe: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(multicast_addr(universe), SACN_PORT))
}

/// One sACN source towards one receiver or the multicast groups.
pub struct SacnOutput {
    udp: UdpSender,
    settings: SacnSettings,
    /// E1.31 universe on the wire for each site universe (1..=63999).
    wire: Vec<u16>,
    /// Each universe's multicast group and port, worked out once.
    groups: Vec<SocketAddr>,
    packets: SacnPackets,
    /// Change-only mode: frames between keep-alives, or `None` to send
    /// every universe every frame.
    keep_alive: Option<u32>,
    sync_sequence: u8,
    stopped: bool,
    /// The packets hold a frame built by [`Output::prepare`], not sent yet.
    prepared: bool,
    /// When the next Universe Discovery packets go out (every 10 s).
    next_discovery: Instant,
    discovery_buf: Vec<u8>,
    /// Send stream termination on stop (`shutdown = "hold"` turns it off).
    terminate_on_stop: bool,
    /// A unicast target written as a host name: resolved off the frame loop.
    host: Option<super::resolve::HostTarget>,
}

impl SacnOutput {
    /// Site universe `universes[i]` goes out as E1.31 universe `wire[i]`.
    /// Lists of different lengths are cut to the shorter.
    pub fn open(
        settings: SacnSettings,
        universes: Vec<u16>,
        wire: Vec<u16>,
    ) -> std::io::Result<SacnOutput> {
        Self::open_bound(settings, universes, wire, None, None)
    }

    /// [`SacnOutput::open`] sending from a local address and/or on a named
    /// interface (`bind`, `interface` in the site file).
    pub(crate) fn open_bound(
        settings: SacnSettings,
        mut universes: Vec<u16>,
        mut wire: Vec<u16>,
        bind: Option<std::net::IpAddr>,
        interface: Option<&str>,
    ) -> std::io::Result<SacnOutput> {
        let n = universes.len().min(wire.len());
        universes.truncate(n);
        wire.truncate(n);
        let udp = UdpSender::open_bound(
            OutputHealth {
                kind: super::Protocol::Sacn,
                target: settings.target.to_string(),
                universes: universes.clone(),
                ..Default::default()
            },
            bind,
            interface,
        )?;
        if settings.target == SacnTarget::Multicast {
            // TTL 1 is also the kernel default; set it so the scope is a
            // decision written down here, not an accident.
            let _ = udp.socket().set_multicast_ttl_v4(1);
            let _ = udp.socket().set_multicast_loop_v4(true);
        }
        Ok(SacnOutput {
            udp,
            packets: SacnPackets::new(&settings, &universes, &wire),
            settings,
            groups: wire.iter().map(|&w| multicast_group(w)).collect(),
            wire,
            keep_alive: None,
            sync_sequence: 0,
            stopped: false,
            prepared: false,
            next_discovery: Instant::now(),
            discovery_buf: Vec::new(),
            terminate_on_stop: true,
            host: None,
        })
    }

    /// Send to `name` (at the unicast target's port), looked up now on a
    /// thread of its own and again after a send fails; nothing is sent
    /// until it resolves, and the health says why.
    pub fn to_host(mut self, name: &str) -> SacnOutput {
        let port = match self.settings.target {
            SacnTarget::Unicast(a) => a.port(),
            SacnTarget::Multicast => return self,
        };
        self.udp.health.target = format!("{name}:{port}");
        self.host = Some(super::resolve::HostTarget::start(name, port));
        self
    }

    /// `false`: stop without stream termination, so receivers keep the
    /// last data until their own loss timeout (E1.31 leaves what they do
    /// then to the receiver; many hold the last look).
    pub(crate) fn terminate_on_stop(mut self, terminate: bool) -> SacnOutput {
        self.terminate_on_stop = terminate;
        self
    }

    /// Send a universe only when its data changed (then three repeats),
    /// and every universe again after `keep_alive` frames without a packet
    /// (so at least every `keep_alive + 1` frames; 0 = every frame). E1.31
    /// asks for a keep-alive every 0.8 to 1 s; the daemon passes 0.9 s.
    pub fn only_changed(mut self, keep_alive: u32) -> SacnOutput {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// E1.31 Universe Discovery (section 8): every 10 s, the sorted list of
    /// universes this source sends, in pages of 512, to the discovery
    /// universe's multicast group (multicast outputs) or to the receiver.
    fn send_discovery(&mut self) {
        let to = self.destination(DISCOVERY_UNIVERSE);
        let pages = discovery_pages(&self.wire);
        let last = (pages.len() - 1).min(255) as u8;
        for (i, page) in pages.iter().enumerate().take(256) {
            let len = encode_discovery(
                self.settings.cid,
                &self.settings.source_name,
                i as u8,
                last,
                page,
                &mut self.discovery_buf,
            );
            let packet = std::mem::take(&mut self.discovery_buf);
            self.udp.send(&packet[..len], to);
            self.discovery_buf = packet;
        }
    }

    fn destination(&self, wire_universe: u16) -> SocketAddr {
        match self.settings.target {
            SacnTarget::Unicast(a) => a,
            SacnTarget::Multicast => multicast_group(wire_universe),
        }
    }

    /// Send the packets due: to one receiver in GSO batches, to multicast
    /// groups (one per universe) in `sendmmsg` batches.
    fn send_due(&mut self) {
        let bytes = self.packets.bytes();
        match self.settings.target {
            SacnTarget::Unicast(to) => {
                for run in self.packets.due_runs() {
                    self.udp.send_segments(&bytes[run], DATA_PACKET_LEN, to);
                }
            }
            SacnTarget::Multicast => {
                for run in self.packets.due_runs() {
                    let groups = &self.groups
                        [run.start / DATA_PACKET_LEN..run.end.div_ceil(DATA_PACKET_LEN)];
                    self.udp.send_each(&bytes[run], DATA_PACKET_LEN, groups);
                }
            }
        }
    }
}

impl SacnOutput {
    /// Sequence numbers and data of `frame` into the packets (every
    /// universe, or in change-only mode the changed and the due ones).
    fn build(&mut self, frame: &Frame) {
        match self.keep_alive {
            None => self.packets.build(frame),
            Some(k) => {
                self.packets.build_changed(frame, k);
            }
        }
    }
}

impl Output for SacnOutput {
    fn send(&mut self, frame: &Frame) {
        self.prepare(frame);
        self.send_prepared(frame);
    }

    /// Builds the packets (sequence numbers and data), unless there is no
    /// receiver to send to yet or the stream has ended.
    fn prepare(&mut self, frame: &Frame) {
        if self.stopped || self.host.as_ref().is_some_and(|h| h.addr().is_none()) {
            return;
        }
        self.build(frame);
        self.prepared = true;
    }

    fn send_prepared(&mut self, frame: &Frame) {
        if self.stopped {
            return;
        }
        if let Some(h) = &self.host {
            match h.addr() {
                Some(a) => self.settings.target = SacnTarget::Unicast(a),
                None => {
                    self.prepared = false;
                    h.refresh();
                    return;
                }
            }
        }
        if !std::mem::take(&mut self.prepared) {
            self.build(frame);
        }
        self.udp.begin_frame();
        if Instant::now() >= self.next_discovery {
            self.next_discovery = Instant::now() + Duration::from_secs(DISCOVERY_INTERVAL_S);
            self.send_discovery();
        }
        self.send_due();
        if let Some(sync_address) = self.settings.sync_address {
            let mut sync = [0u8; SYNC_PACKET_LEN];
            let len = encode_sync(
                self.settings.cid,
                self.sync_sequence,
                sync_address,
                &mut sync,
            );
            self.sync_sequence = self.sync_sequence.wrapping_add(1);
            let to = self.destination(sync_address);
            self.udp.send(&sync[..len], to);
        }
        if self.udp.frame_failed() {
            if let Some(h) = &self.host {
                h.refresh();
            }
        }
        self.udp.end_frame();
    }

    fn health(&self) -> OutputHealth {
        let mut h = OutputHealth::default();
        self.health_into(&mut h);
        h
    }

    fn health_into(&self, out: &mut OutputHealth) {
        self.udp.health.copy_into(out);
        if let Some(h) = &self.host {
            h.report(out);
        }
    }

    /// Three rounds of stream-termination packets: receivers drop this
    /// source at once instead of waiting out their 2.5 s loss timer, then
    /// apply their own loss behaviour (or take another source's data).
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if !self.terminate_on_stop {
            tracing::info!(target = %self.settings.target, "sACN: stopping without stream termination (shutdown = \"hold\"); receivers keep the last data until their loss timeout");
            return;
        }
        tracing::info!(target = %self.settings.target, "sACN: stream terminated; receivers now apply their own loss behaviour (they do not necessarily hold the last frame)");
        self.udp.begin_frame();
        for _ in 0..TERMINATION_PACKETS {
            self.packets.terminate();
            self.send_due();
        }
        self.udp.end_frame();
    }
}

/// Load the CID from `<state_dir>/sacn-cid`, or make one and save it there
/// (creating the folder). Returns the CID and, when it could not be kept or
/// had to be replaced, a warning; a CID that cannot be saved is still used
/// for this run.
pub(crate) fn load_or_create_cid(state_dir: &Path) -> ([u8; 16], Option<String>) {
    let path = state_dir.join(CID_FILE);
    let mut note = None;
    match std::fs::read_to_string(&path) {
        Ok(text) => match parse_cid(&text) {
            Some(cid) => return (cid, None),
            None => {
                note = Some(format!(
                    "{} does not hold a CID (32 hex digits); a new one replaces it, so receivers see a new sACN source",
                    path.display()
                ));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return (
                new_cid(),
                Some(format!(
                    "cannot read {}: {e}; the sACN CID is new for this run only",
                    path.display()
                )),
            );
        }
    }
    let cid = new_cid();
    match save_cid(state_dir, &path, &cid) {
        Ok(()) => (cid, note),
        Err(e) => (
            cid,
            Some(format!(
                "cannot save the sACN CID to {}: {e}; receivers will see a new source after every restart",
                path.display()
            )),
        ),
    }
}

/// 32 hex digits; dashes and surrounding whitespace are allowed (a UUID
/// written by hand).
pub(crate) fn parse_cid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.trim().bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut cid = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        cid[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(cid)
}

/// The CID as 32 lowercase hex digits.
pub(crate) fn format_cid(cid: &[u8; 16]) -> String {
    cid.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4) UUID. If the OS has no randomness to give, the
/// clock and process id stand in: uniqueness matters here, secrecy does not.
fn new_cid() -> [u8; 16] {
    let mut cid = [0u8; 16];
    if getrandom::fill(&mut cid).is_err() {
        use std::hash::{BuildHasher, Hasher};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, chunk) in cid.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    cid[6] = (cid[6] & 0x0f) | 0x40; // version 4
    cid[8] = (cid[8] & 0x3f) | 0x80; // RFC 4122 variant
    cid
}

/// Write through a temporary file and a rename, so a power cut leaves
/// either no file or a whole one, never half a CID.
fn save_cid(dir: &Path, path: &Path, cid: &[u8; 16]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{CID_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{}", format_cid(cid))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_text_round_trip() {
        let cid = new_cid();
        assert_eq!(cid[6] >> 4, 4);
        assert_eq!(cid[8] >> 6, 2);
        let text = format_cid(&cid);
        assert_eq!(text.len(), 32);
        assert_eq!(parse_cid(&text), Some(cid));
        assert_eq!(parse_cid(&format!("  {text}\n")), Some(cid));
        assert_eq!(
            parse_cid("01234567-89ab-cdef-0123-456789ABCDEF"),
            Some([
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ])
        );
        let long = format!("{text}0");
        for bad in [
            "",
            "xyz",
            &text[..31],
            &long,
            "g123456789abcdef0123456789abcdef",
            "é123456789abcdef0123456789abcd",
        ] {
            assert_eq!(parse_cid(bad), None, "{bad}");
        }
    }

    #[test]
    fn two_new_cids_differ() {
        assert_ne!(new_cid(), new_cid());
    }

    #[test]
    fn cid_is_created_kept_and_replaced_when_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("var").join("nested");
        let (a, w) = load_or_create_cid(&dir);
        assert!(w.is_none(), "{w:?}");
        let text = std::fs::read_to_string(dir.join(CID_FILE)).unwrap();
        assert_eq!(text.trim(), format_cid(&a));
        let (b, w) = load_or_create_cid(&dir);
        assert_eq!(a, b);
        assert!(w.is_none());
        std::fs::write(dir.join(CID_FILE), "not a cid").unwrap();
        let (c, w) = load_or_create_cid(&dir);
        assert_ne!(c, a);
        assert!(w.unwrap().contains("does not hold a CID"));
        assert_eq!(load_or_create_cid(&dir).0, c);
    }

    #[test]
    fn unusable_state_dir_still_gives_a_cid() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the folder should be: neither read nor save works.
        let blocker = tmp.path().join("var");
        std::fs::write(&blocker, "x").unwrap();
        let (_, w) = load_or_create_cid(&blocker);
        assert!(w.is_some());
    }
}

#[cfg(test)]
mod tests_discovery;
#[cfg(test)]
mod tests_wire;
