//! What a DMX-over-IP receiver sees, per universe: frame rate, the spread
//! of inter-arrival intervals (p50/p99/max), sequence gaps and how many
//! frames changed the data. The maths behind `nightscape monitor`.
//!
//! Pure: packets come in as bytes with their arrival time in nanoseconds
//! (from whatever clock the caller reads), so tests feed exact timings. The
//! parsers are deliberately lighter than `output::*_wire`'s full decoders:
//! a monitor at 10,000 universes sees 400,000 packets a second and must not
//! allocate per packet.

use serde::Serialize;

/// Which protocol a packet came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Artnet,
    Sacn,
}

impl Protocol {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Artnet => "artnet",
            Protocol::Sacn => "sacn",
        }
    }
}

/// A DMX packet as the monitor needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DmxPacket<'a> {
    pub protocol: Protocol,
    pub universe: u16,
    pub sequence: u8,
    pub data: &'a [u8],
}

/// What a datagram is, as far as the monitor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    Dmx(DmxPacket<'a>),
    /// ArtSync or E1.31 universe synchronization.
    Sync(Protocol),
    Other,
}

const ART_ID: &[u8; 8] = b"Art-Net\0";
const ACN_ID: &[u8; 12] = b"ASC-E1.17\0\0\0";
const SACN_SLOTS: usize = 126;

/// Classify one datagram.
pub(crate) fn classify(b: &[u8]) -> Packet<'_> {
    if b.len() >= 10 && &b[..8] == ART_ID {
        let op = u16::from_le_bytes([b[8], b[9]]);
        return match op {
            0x5000 if b.len() >= 18 => {
                let len = usize::from(u16::from_be_bytes([b[16], b[17]]));
                match b.get(18..18 + len) {
                    Some(data) if len > 0 && len <= 512 => Packet::Dmx(DmxPacket {
                        protocol: Protocol::Artnet,
                        universe: (u16::from(b[15] & 0x7f) << 8) | u16::from(b[14]),
                        sequence: b[12],
                        data,
                    }),
                    _ => Packet::Other,
                }
            }
            0x5200 => Packet::Sync(Protocol::Artnet),
            _ => Packet::Other,
        };
    }
    if b.len() >= 49 && &b[4..16] == ACN_ID {
        let root = u32::from_be_bytes([b[18], b[19], b[20], b[21]]);
        let framing = u32::from_be_bytes([b[40], b[41], b[42], b[43]]);
        return match (root, framing) {
            // E1.31 data: root 0x04, framing 0x02, DMP with a start code.
            (0x0000_0004, 0x0000_0002) if b.len() > SACN_SLOTS => {
                let count = usize::from(u16::from_be_bytes([b[123], b[124]]));
                // Slots after the start code; only DMX (start code 0) counts.
                match b.get(SACN_SLOTS..SACN_SLOTS + count.saturating_sub(1)) {
                    Some(data) if b[125] == 0 && count >= 1 => Packet::Dmx(DmxPacket {
                        protocol: Protocol::Sacn,
                        universe: u16::from_be_bytes([b[113], b[114]]),
                        sequence: b[111],
                        data,
                    }),
                    _ => Packet::Other,
                }
            }
            (0x0000_0008, 0x0000_0001) => Packet::Sync(Protocol::Sacn),
            _ => Packet::Other,
        };
    }
    Packet::Other
}

/// The sequence a sender should use next. Art-Net counts 1..=255 (0 means
/// "sequencing off"); E1.31 counts 0..=255.
fn next_sequence(p: Protocol, s: u8) -> u8 {
    match p {
        Protocol::Artnet if s == 255 => 1,
        _ => s.wrapping_add(1),
    }
}

/// Everything one universe has shown so far.
#[derive(Debug, Clone)]
struct Universe {
    frames: u64,
    changed: u64,
    gaps: u64,
    last_ns: u64,
    last_seq: u8,
    /// Inter-arrival intervals in microseconds.
    intervals: Vec<u32>,
    /// The last frame's data as a [`fingerprint`], not a copy: at 10,000
    /// universes the copies were 5 MB the reader compared against and
    /// rewrote 400,000 times a second (four tenths of the monitor's time,
    /// mostly waiting for memory), on the machine it measures.
    fingerprint: u64,
}

/// A 64-bit fingerprint of a frame's data (its length included): four
/// independent multiply-xor lanes over 8-byte words, so the multiplies
/// overlap. Each step is a bijection of the lane, so a frame that differs
/// from the one before in a single word or in length always changes the
/// fingerprint; other changes are missed with a chance of about 2⁻⁶⁴,
/// which a changed-frame *rate* can bear.
fn fingerprint(data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lanes = [
        0x243F_6A88_85A3_08D3u64,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    ];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            *lane = (*lane ^ w).wrapping_mul(K);
        }
    }
    let rest = blocks.remainder();
    for (k, word) in rest.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        lanes[k] = (lanes[k] ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // Zero-padding the tail would make "…, 0" and "…" alike: the length
    // goes in too.
    let mut h = data.len() as u64;
    for lane in lanes {
        h = (h.rotate_left(23) ^ lane).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// Per-universe statistics over a measuring window.
#[derive(Debug, Default)]
pub struct Monitor {
    /// Where each (protocol, universe)'s record sits in `universes`
    /// (`u32::MAX`: not seen), indexed directly by [`slot`]: at 400,000
    /// packets a second, hashing the key was a fifth of the monitor's
    /// time. Empty until the first DMX packet.
    slots: Vec<u32>,
    universes: Vec<((Protocol, u16), Universe)>,
    syncs: [u64; 2],
    other: u64,
}

/// Art-Net Port-Addresses 0..=32767, then sACN universes 0..=65535.
const SLOTS: usize = 32_768 + 65_536;

fn slot(protocol: Protocol, universe: u16) -> usize {
    match protocol {
        Protocol::Artnet => usize::from(universe & 0x7fff),
        Protocol::Sacn => 32_768 + usize::from(universe),
    }
}

/// One universe's line of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UniverseReport {
    pub protocol: Protocol,
    pub universe: u16,
    pub frames: u64,
    /// Frames per second over the window.
    pub fps: f64,
    pub interval_p50_ms: f64,
    pub interval_p99_ms: f64,
    pub interval_max_ms: f64,
    /// Frames lost or reordered according to the sequence numbers.
    pub sequence_gaps: u64,
    /// Frames per second whose data differed from the frame before.
    pub changed_fps: f64,
}

/// The whole report: a summary and a line per universe.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub seconds: f64,
    pub universes: usize,
    pub packets: u64,
    pub syncs: u64,
    pub other_packets: u64,
    pub fps_min: f64,
    pub fps_median: f64,
    pub interval_p99_ms_worst: f64,
    pub interval_max_ms_worst: f64,
    pub sequence_gaps: u64,
    pub per_universe: Vec<UniverseReport>,
}

impl Monitor {
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// Take in what another receiver (another socket) saw. A universe seen
    /// by both keeps the busier record: one feed per universe is the norm.
    pub fn absorb(&mut self, other: Monitor) {
        for (k, u) in other.universes {
            match self.find(k) {
                Some(i) if self.universes[i].1.frames >= u.frames => {}
                Some(i) => self.universes[i].1 = u,
                None => {
                    self.insert(k, u);
                }
            }
        }
        self.syncs[0] += other.syncs[0];
        self.syncs[1] += other.syncs[1];
        self.other += other.other;
    }

    fn find(&self, (protocol, universe): (Protocol, u16)) -> Option<usize> {
        match self.slots.get(slot(protocol, universe)) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }

    fn insert(&mut self, key: (Protocol, u16), u: Universe) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![u32::MAX; SLOTS];
        }
        let i = self.universes.len();
        self.slots[slot(key.0, key.1)] = i as u32;
        self.universes.push((key, u));
        i
    }

    /// Account one datagram that arrived at `at_ns`.
    pub fn record(&mut self, bytes: &[u8], at_ns: u64) {
        match classify(bytes) {
            Packet::Dmx(p) => self.record_dmx(p, at_ns),
            Packet::Sync(Protocol::Artnet) => self.syncs[0] += 1,
            Packet::Sync(Protocol::Sacn) => self.syncs[1] += 1,
            Packet::Other => self.other += 1,
        }
    }

    /// Account a receive buffer holding several datagrams back to back,
    /// each `stride` bytes but the last, which may be shorter: what one
    /// read returns when the kernel coalesced a sender's batch (UDP GRO).
    /// All arrived together at `at_ns`. A `stride` of 0 or at least the
    /// buffer's length means one datagram.
    pub fn record_segments(&mut self, bytes: &[u8], stride: usize, at_ns: u64) {
        if stride == 0 || stride >= bytes.len() {
            return self.record(bytes, at_ns);
        }
        for datagram in bytes.chunks(stride) {
            self.record(datagram, at_ns);
        }
    }

    fn record_dmx(&mut self, p: DmxPacket, at_ns: u64) {
        let key = (p.protocol, p.universe);
        let i = match self.find(key) {
            Some(i) => i,
            None => self.insert(
                key,
                Universe {
                    frames: 0,
                    changed: 0,
                    gaps: 0,
                    last_ns: at_ns,
                    last_seq: p.sequence,
                    // Small: 10,000 universes appear within one frame,
                    // and touching 4 KiB each for them at once stalled the
                    // reader long enough for the kernel to drop packets.
                    intervals: Vec::with_capacity(64),
                    fingerprint: 0,
                },
            ),
        };
        let fingerprint = fingerprint(p.data);
        let u = &mut self.universes[i].1;
        if u.frames > 0 {
            u.intervals
                .push((at_ns.saturating_sub(u.last_ns) / 1000).min(u32::MAX as u64) as u32);
            // Art-Net sequence 0 means the sender does not sequence.
            let sequenced = !(p.protocol == Protocol::Artnet && p.sequence == 0);
            if sequenced && p.sequence != next_sequence(p.protocol, u.last_seq) {
                u.gaps += 1;
            }
            if u.fingerprint != fingerprint {
                u.changed += 1;
            }
        }
        u.frames += 1;
        u.last_ns = at_ns;
        u.last_seq = p.sequence;
        u.fingerprint = fingerprint;
    }

    /// The report over a window of `seconds`.
    pub fn report(&self, seconds: f64) -> Report {
        let secs = if seconds > 0.0 { seconds } else { 1.0 };
        let mut per: Vec<UniverseReport> = self
            .universes
            .iter()
            .map(|&((protocol, universe), ref u)| {
                let mut iv = u.intervals.clone();
                iv.sort_unstable();
                let pct = |q: f64| -> f64 {
                    if iv.is_empty() {
                        return 0.0;
                    }
                    let i = ((iv.len() as f64 - 1.0) * q).round() as usize;
                    iv[i.min(iv.len() - 1)] as f64 / 1000.0
                };
                UniverseReport {
                    protocol,
                    universe,
                    frames: u.frames,
                    fps: u.frames as f64 / secs,
                    interval_p50_ms: pct(0.5),
                    interval_p99_ms: pct(0.99),
                    interval_max_ms: iv.last().map_or(0.0, |&m| m as f64 / 1000.0),
                    sequence_gaps: u.gaps,
                    changed_fps: u.changed as f64 / secs,
                }
            })
            .collect();
        per.sort_by_key(|r| (r.protocol, r.universe));
        let mut fps: Vec<f64> = per.iter().map(|r| r.fps).collect();
        fps.sort_by(f64::total_cmp);
        let worst = |f: fn(&UniverseReport) -> f64| per.iter().map(f).fold(0.0, f64::max);
        Report {
            seconds,
            universes: per.len(),
            packets: per.iter().map(|r| r.frames).sum(),
            syncs: self.syncs.iter().sum(),
            other_packets: self.other,
            fps_min: fps.first().copied().unwrap_or(0.0),
            fps_median: fps.get(fps.len() / 2).copied().unwrap_or(0.0),
            interval_p99_ms_worst: worst(|r| r.interval_p99_ms),
            interval_max_ms_worst: worst(|r| r.interval_max_ms),
            sequence_gaps: per.iter().map(|r| r.sequence_gaps).sum(),
            per_universe: per,
        }
    }
}

impl Report {
    /// The human table: one line per universe, then the summary.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6} {:>9}",
            "proto", "universe", "frames", "fps", "p50 ms", "p99 ms", "max ms", "gaps", "changed/s"
        );
        for r in &self.per_universe {
            let _ = writeln!(
                s,
                "{:<7} {:>8} {:>8} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>9.2}",
                r.protocol.name(),
                r.universe,
                r.frames,
                r.fps,
                r.interval_p50_ms,
                r.interval_p99_ms,
                r.interval_max_ms,
                r.sequence_gaps,
                r.changed_fps
            );
        }
        let _ = writeln!(
            s,
            "{} universes, {} packets + {} syncs in {:.1} s; fps min {:.2} median {:.2}; \
             interval p99 worst {:.2} ms, max {:.2} ms; {} sequence gaps",
            self.universes,
            self.packets,
            self.syncs,
            self.seconds,
            self.fps_min,
            self.fps_median,
            self.interval_p99_ms_worst,
            self.interval_max_ms_worst,
            self.sequence_gaps
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::artnet::{encode_artdmx, ARTDMX_HEADER_LEN};
    use crate::wire::sacn as sacn_wire;

    fn artdmx(universe: u16, seq: u8, fill: u8) -> Vec<u8> {
        let mut buf = [0u8; ARTDMX_HEADER_LEN + 512];
        let n = encode_artdmx(universe, seq, &[fill; 512], &mut buf);
        buf[..n].to_vec()
    }

    #[test]
    fn coalesced_buffers_split_at_the_stride_with_a_short_last_datagram() {
        // Three full ArtDmx of 512 slots and a last one of 2 slots, as one
        // GRO buffer; then the same datagrams one by one: the same report.
        let full: Vec<Vec<u8>> = (0..3).map(|u| artdmx(u, 1, 9)).collect();
        // Art-Net allows 2..=512 slots: the length field says 2.
        let mut short = artdmx(3, 1, 7);
        short[16..18].copy_from_slice(&2u16.to_be_bytes());
        short.truncate(ARTDMX_HEADER_LEN + 2);
        let mut buffer = full.concat();
        buffer.extend_from_slice(&short);
        let mut coalesced = Monitor::new();
        coalesced.record_segments(&buffer, full[0].len(), 5);
        let mut single = Monitor::new();
        for d in full.iter().map(Vec::as_slice).chain([&short[..]]) {
            single.record(d, 5);
        }
        let r = coalesced.report(1.0);
        assert_eq!((r.universes, r.packets, r.other_packets), (4, 4, 0));
        assert_eq!(r, single.report(1.0));
        // No stride (or one as long as the buffer): one datagram; an empty
        // datagram is counted, not a panic.
        let mut m = Monitor::new();
        m.record_segments(&full[0], 0, 0);
        m.record_segments(&full[1], full[1].len(), 0);
        m.record_segments(&[], 0, 0);
        m.record_segments(&[], 530, 0);
        let r = m.report(1.0);
        assert_eq!((r.universes, r.packets, r.other_packets), (2, 2, 2));
    }

    #[test]
    fn a_changed_byte_or_length_always_changes_the_fingerprint() {
        let mut frame = [0u8; 512];
        for (k, b) in frame.iter_mut().enumerate() {
            *b = (k * 7 % 251) as u8;
        }
        let base = fingerprint(&frame);
        // Every bit of every byte, full frames and a short one.
        for len in [512, 510, 3] {
            let base = fingerprint(&frame[..len]);
            for pos in 0..len {
                for bit in 0..8 {
                    let mut changed = frame;
                    changed[pos] ^= 1 << bit;
                    assert_ne!(
                        fingerprint(&changed[..len]),
                        base,
                        "len {len} byte {pos} bit {bit}"
                    );
                }
            }
        }
        // Every length of dark data tells apart (a dark universe that grows
        // by a channel is a change), and none equals the full frame.
        let dark = [0u8; 512];
        let mut seen: std::collections::BTreeSet<u64> =
            (0..=512).map(|n| fingerprint(&dark[..n])).collect();
        assert_eq!(seen.len(), 513);
        assert!(seen.insert(base));
    }

    #[test]
    fn absorb_keeps_the_busier_record_and_tells_protocols_apart() {
        let mut a = Monitor::new();
        let mut b = Monitor::new();
        for seq in 1..=3u8 {
            a.record(&artdmx(1, seq, 0), u64::from(seq));
            b.record(&artdmx(0x7fff, seq, 0), u64::from(seq));
        }
        // Universe 1 twice in `b` (fewer frames than `a`'s), universe 2 once.
        b.record(&artdmx(1, 1, 0), 0);
        b.record(&artdmx(1, 2, 0), 1);
        b.record(&artdmx(2, 9, 0), 0);
        let mut sacn = [0u8; sacn_wire::DATA_PACKET_LEN];
        let n = sacn_wire::encode_data(
            &sacn_wire::DataPacket {
                cid: [7; 16],
                source_name: "m",
                priority: 100,
                sync_address: 0,
                sequence: 1,
                preview: false,
                stream_terminated: false,
                universe: 1,
                start_code: 0,
                slots: &[5; 512],
            },
            &mut sacn,
        );
        b.record(&sacn[..n], 0);
        a.absorb(b);
        let r = a.report(1.0);
        let got: Vec<_> = r
            .per_universe
            .iter()
            .map(|u| (u.protocol, u.universe, u.frames))
            .collect();
        assert_eq!(
            got,
            [
                (Protocol::Artnet, 1, 3),
                (Protocol::Artnet, 2, 1),
                (Protocol::Artnet, 0x7fff, 3),
                (Protocol::Sacn, 1, 1)
            ]
        );
    }

    #[test]
    fn artnet_frames_intervals_gaps_and_changes() {
        let mut m = Monitor::new();
        // Universe 3 at 25 ms with one lost frame (sequence 4 missing) and
        // data changing on every other frame.
        let mut t = 0u64;
        for seq in [1u8, 2, 3, 5, 6, 7] {
            m.record(&artdmx(3, seq, seq / 2), t);
            t += 25_000_000;
        }
        m.record(&artdmx(0x7fff, 0, 1), 0);
        m.record(&[0u8; 14], 0);
        let r = m.report(1.0);
        assert_eq!(r.universes, 2);
        let u3 = &r.per_universe[0];
        assert_eq!((u3.universe, u3.frames, u3.sequence_gaps), (3, 6, 1));
        assert_eq!(u3.interval_p50_ms, 25.0);
        assert_eq!(u3.interval_max_ms, 25.0);
        // 0,1,1,2,3,3: changes at 2nd, 4th and 5th frames.
        assert_eq!(u3.changed_fps, 3.0);
        assert_eq!(r.per_universe[1].universe, 0x7fff);
        assert_eq!(r.other_packets, 1);
        assert_eq!(r.sequence_gaps, 1);
    }

    #[test]
    fn artnet_sequence_wraps_past_zero() {
        let mut m = Monitor::new();
        for (i, seq) in [254u8, 255, 1, 2].into_iter().enumerate() {
            m.record(&artdmx(1, seq, 0), i as u64 * 1_000_000);
        }
        assert_eq!(m.report(1.0).sequence_gaps, 0);
    }

    #[test]
    fn sacn_data_and_sync_are_recognised() {
        let mut m = Monitor::new();
        let mut buf = [0u8; sacn_wire::DATA_PACKET_LEN];
        let mut slots = [0u8; 512];
        for (i, seq) in [255u8, 0, 1].into_iter().enumerate() {
            slots[0] = seq;
            let p = sacn_wire::DataPacket {
                cid: [7; 16],
                source_name: "t",
                priority: 100,
                sync_address: 0,
                sequence: seq,
                preview: false,
                stream_terminated: false,
                universe: 9,
                start_code: 0,
                slots: &slots,
            };
            let n = sacn_wire::encode_data(&p, &mut buf);
            m.record(&buf[..n], i as u64 * 20_000_000);
        }
        let r = m.report(2.0);
        assert_eq!(r.universes, 1);
        let u = &r.per_universe[0];
        assert_eq!((u.protocol, u.universe, u.frames), (Protocol::Sacn, 9, 3));
        assert_eq!(u.sequence_gaps, 0);
        assert_eq!(u.fps, 1.5);
        assert_eq!(u.changed_fps, 1.0);
        assert_eq!(u.interval_p99_ms, 20.0);
    }

    #[test]
    fn garbage_never_panics() {
        let mut m = Monitor::new();
        let mut b = artdmx(1, 1, 1);
        b[17] = 0xff; // length beyond the packet
        m.record(&b, 0);
        m.record(b"Art-Net\0", 0);
        m.record(&[0u8; 200], 0);
        assert_eq!(m.report(1.0).universes, 0);
    }
}
