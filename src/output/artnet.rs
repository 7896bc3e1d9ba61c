//! Art-Net 4 output: ArtDmx per universe per frame, then an optional
//! ArtSync, unicast (or directed broadcast) to the configured node.
//!
//! Packets are encoded by hand into one reused buffer: the
//! `artnet_protocol` crate allocates a `Vec` per packet, which is fine for
//! discovery but not for thousands of universes at 40 fps. The tests check
//! our bytes against the crate's encoder and decode them with its parser.
//! Site universes go out under their wire Port-Address (`remap` /
//! `wire_offset`), each with its own sequence counter. The socket is
//! non-blocking on an ephemeral port, never 6454 (see `udp`).

use super::udp::{UdpSender, UniverseIndex};
use super::{Output, OutputHealth};
use nightscape_core::engine::Frame;
use nightscape_core::site::UNIVERSE_SIZE;
use nightscape_core::wire::artnet::{
    encode_artdmx, encode_artsync, ARTDMX_HEADER_LEN, ARTSYNC_LEN,
};
use std::net::SocketAddr;

/// Art-Net sequence numbers run 1..=255 per universe; 0 means "off".
fn next_sequence(s: u8) -> u8 {
    if s == 255 {
        1
    } else {
        s + 1
    }
}

/// Bytes of one whole ArtDmx packet (512 slots).
pub(crate) const ARTDMX_LEN: usize = ARTDMX_HEADER_LEN + UNIVERSE_SIZE;

/// Every ArtDmx packet of an output, built in place in one contiguous,
/// preallocated buffer: headers are written once, and per frame only the
/// sequence byte and the data change. Contiguous equal-sized packets to one
/// node are what UDP segmentation offload sends in one system call.
pub struct ArtDmxPackets {
    universes: Vec<u16>,
    sequences: Vec<u8>,
    buf: Vec<u8>,
    /// Index of each universe in the frame's list (`u32::MAX`: not in the
    /// frame, sent dark), for the frame layout it was worked out for.
    frame_index: UniverseIndex,
    /// Frames since each universe was last sent (change-only mode).
    idle: Vec<u32>,
    /// Whether each universe goes out this frame.
    due: Vec<bool>,
}

impl ArtDmxPackets {
    /// Packets for site universes `universes[i]` sent as Port-Address
    /// `wire[i]` (lists cut to the shorter).
    pub fn new(universes: &[u16], wire: &[u16]) -> ArtDmxPackets {
        let n = universes.len().min(wire.len());
        let mut buf = vec![0u8; n * ARTDMX_LEN];
        let zero = [0u8; UNIVERSE_SIZE];
        for (i, packet) in buf.chunks_exact_mut(ARTDMX_LEN).enumerate() {
            let packet: &mut [u8; ARTDMX_LEN] = packet.try_into().expect("exact chunk");
            encode_artdmx(wire[i], 0, &zero, packet);
        }
        ArtDmxPackets {
            universes: universes[..n].to_vec(),
            sequences: vec![0; n],
            buf,
            frame_index: UniverseIndex::with_capacity(n),
            idle: vec![u32::MAX; n],
            due: vec![true; n],
        }
    }

    pub fn len(&self) -> usize {
        self.universes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.universes.is_empty()
    }

    /// Build every universe's packet from `frame` (each gets its next
    /// sequence number): the default, every universe every frame.
    pub fn build(&mut self, frame: &Frame) {
        self.build_inner(frame, None);
    }

    /// Build only the universes whose data changed since they were last
    /// sent, or that have not been sent for `keep_alive` frames; the rest
    /// keep their previous packet and sequence. Returns how many are due.
    pub(crate) fn build_changed(&mut self, frame: &Frame, keep_alive: u32) -> usize {
        self.build_inner(frame, Some(keep_alive))
    }

    fn build_inner(&mut self, frame: &Frame, keep_alive: Option<u32>) -> usize {
        self.frame_index.update(&self.universes, frame);
        let zero = [0u8; UNIVERSE_SIZE];
        let mut due = 0;
        for (i, packet) in self.buf.chunks_exact_mut(ARTDMX_LEN).enumerate() {
            let data = self.frame_index.data(i, frame, &zero);
            let payload = &mut packet[ARTDMX_HEADER_LEN..];
            let send = match keep_alive {
                None => true,
                Some(k) => payload != &data[..] || self.idle[i] >= k,
            };
            self.due[i] = send;
            if send {
                payload.copy_from_slice(data);
                self.sequences[i] = next_sequence(self.sequences[i]);
                packet[12] = self.sequences[i];
                self.idle[i] = 0;
                due += 1;
            } else {
                self.idle[i] = self.idle[i].saturating_add(1);
            }
        }
        due
    }

    /// All packets, back to back, `ARTDMX_LEN` bytes each.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Runs of consecutive packets due this frame, as byte ranges of
    /// [`bytes`](Self::bytes) (every packet after [`build`](Self::build)).
    pub(crate) fn due_runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        super::udp::due_runs(&self.due, ARTDMX_LEN)
    }
}

/// One Art-Net destination.
pub struct ArtNetOutput {
    udp: UdpSender,
    target: SocketAddr,
    sync: bool,
    packets: ArtDmxPackets,
    /// Change-only mode: frames between keep-alives (about a second), or
    /// `None` to send every universe every frame.
    keep_alive: Option<u32>,
    /// Where ArtSync goes (the target unless `sync_to` says otherwise).
    sync_to: SocketAddr,
    /// Whether the node answers ArtPoll (the Art-Net service's view).
    watch: Option<std::sync::Arc<super::artpoll::NodeWatch>>,
    /// The wire Port-Addresses, for the Art-Net service's ArtPollReply.
    wire: Vec<u16>,
    /// A target written as a host name: resolved off the frame loop.
    host: Option<super::resolve::HostTarget>,
    /// ArtSync goes to the target (not a `sync_to` address of its own).
    sync_to_target: bool,
    /// The packets hold a frame built by [`Output::prepare`], not sent yet.
    prepared: bool,
}

impl ArtNetOutput {
    /// An output whose wire Port-Addresses are the site universes.
    pub fn open(
        target: SocketAddr,
        universes: Vec<u16>,
        sync: bool,
    ) -> std::io::Result<ArtNetOutput> {
        let wire = universes.clone();
        Self::open_mapped(target, universes, wire, sync)
    }

    /// An output sending site universe `universes[i]` as Port-Address
    /// `wire[i]`. Lists of different lengths are cut to the shorter.
    pub fn open_mapped(
        target: SocketAddr,
        universes: Vec<u16>,
        wire: Vec<u16>,
        sync: bool,
    ) -> std::io::Result<ArtNetOutput> {
        Self::open_bound(target, universes, wire, sync, None, None)
    }

    /// [`ArtNetOutput::open_mapped`] sending from a local address and/or
    /// on a named interface (`bind`, `interface` in the site file).
    pub(crate) fn open_bound(
        target: SocketAddr,
        mut universes: Vec<u16>,
        mut wire: Vec<u16>,
        sync: bool,
        bind: Option<std::net::IpAddr>,
        interface: Option<&str>,
    ) -> std::io::Result<ArtNetOutput> {
        let n = universes.len().min(wire.len());
        universes.truncate(n);
        wire.truncate(n);
        let udp = UdpSender::open_bound(
            OutputHealth {
                kind: super::Protocol::Artnet,
                target: target.to_string(),
                universes: universes.clone(),
                ..Default::default()
            },
            bind,
            interface,
        )?;
        Ok(ArtNetOutput {
            udp,
            target,
            sync,
            packets: ArtDmxPackets::new(&universes, &wire),
            keep_alive: None,
            sync_to: target,
            watch: None,
            wire,
            host: None,
            sync_to_target: true,
            prepared: false,
        })
    }

    /// Send to `name` (at the target's port), looked up now on a thread of
    /// its own and again after a send fails; nothing is sent until it
    /// resolves. The health names the name, and says why while it does not.
    pub fn to_host(mut self, name: &str) -> ArtNetOutput {
        let port = self.target.port();
        self.udp.health.target = format!("{name}:{port}");
        self.host = Some(super::resolve::HostTarget::start(name, port));
        self
    }

    /// Send a universe only when its data changed, and every universe at
    /// least every `keep_alive` frames (Art-Net asks for one a second; the
    /// daemon passes its fps, or a little less).
    pub(crate) fn only_changed(mut self, keep_alive: u32) -> ArtNetOutput {
        self.keep_alive = Some(keep_alive.max(1));
        self
    }
}

impl ArtNetOutput {
    /// Send ArtSync to `to` instead of the target, or (None) not at all:
    /// outputs sharing one broadcast sync address leave it to the last of
    /// them, so the nodes see one ArtSync per frame, after every ArtDmx.
    pub(crate) fn sync_to(mut self, to: Option<SocketAddr>) -> ArtNetOutput {
        match to {
            Some(a) => {
                self.sync_to = a;
                self.sync_to_target = false;
            }
            None => self.sync = false,
        }
        self
    }
}

impl ArtNetOutput {
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

impl Output for ArtNetOutput {
    fn send(&mut self, frame: &Frame) {
        self.prepare(frame);
        self.send_prepared(frame);
    }

    /// Builds the packets (sequence numbers and data), unless there is no
    /// node to send to yet: a frame never sent must not use up a sequence
    /// number.
    fn prepare(&mut self, frame: &Frame) {
        if self.host.as_ref().is_some_and(|h| h.addr().is_none()) {
            return;
        }
        self.build(frame);
        self.prepared = true;
    }

    fn send_prepared(&mut self, frame: &Frame) {
        if let Some(h) = &self.host {
            match h.addr() {
                Some(a) => {
                    self.target = a;
                    if self.sync_to_target {
                        self.sync_to = a;
                    }
                }
                None => {
                    // Nothing to send to yet: the health says why.
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
        for run in self.packets.due_runs() {
            self.udp
                .send_segments(&self.packets.bytes()[run], ARTDMX_LEN, self.target);
        }
        if self.sync {
            let mut sync = [0u8; ARTSYNC_LEN];
            encode_artsync(&mut sync);
            self.udp.send(&sync, self.sync_to);
        }
        if self.udp.frame_failed() {
            if let Some(h) = &self.host {
                // The node may have moved: ask again (at most every 2 s).
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

    /// Art-Net has no stream termination: the nodes keep the last frame
    /// they received until they hear from a controller again.
    fn stop(&mut self) {
        tracing::info!(target = %self.target, "Art-Net: no more frames; the node holds the last one it received");
    }

    fn watch_nodes(&mut self, watch: &std::sync::Arc<super::artpoll::NodeWatch>) {
        self.watch = Some(watch.clone());
    }

    /// A host-name target is not polled by the Art-Net service (its
    /// address is known only once resolved).
    fn artnet_target(&self) -> Option<(SocketAddr, Vec<u16>)> {
        if self.host.is_some() {
            return None;
        }
        Some((self.target, self.wire.clone()))
    }

    fn health_into(&self, out: &mut OutputHealth) {
        self.udp.health.copy_into(out);
        if let Some(h) = &self.host {
            h.report(out);
            return;
        }
        if let Some(reason) = self.watch.as_ref().and_then(|w| w.down_reason(self.target)) {
            out.state = super::DOWN;
            out.last_error = Some(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use artnet_protocol::{ArtCommand, Output as CrateOutput, PortAddress};
    use std::net::UdpSocket;

    #[test]
    fn artdmx_matches_the_crate_byte_for_byte() {
        let mut data = [0u8; UNIVERSE_SIZE];
        for (i, d) in data.iter_mut().enumerate() {
            *d = (i * 7) as u8;
        }
        let mut buf = Box::new([0u8; ARTDMX_HEADER_LEN + UNIVERSE_SIZE]);
        for pa in [0u16, 1, 0x123, 0x7fff] {
            let len = encode_artdmx(pa, 42, &data, &mut buf);
            let reference = ArtCommand::Output(CrateOutput {
                sequence: 42,
                port_address: PortAddress::try_from(pa).unwrap(),
                data: data.to_vec().into(),
                ..CrateOutput::default()
            })
            .write_to_buffer()
            .unwrap();
            assert_eq!(&buf[..len], &reference[..], "port address {pa:#x}");
            match ArtCommand::from_buffer(&buf[..len]).unwrap() {
                ArtCommand::Output(o) => {
                    assert_eq!(u16::from(o.port_address), pa);
                    assert_eq!(o.sequence, 42);
                    assert_eq!(o.data.as_ref(), &data[..]);
                }
                other => panic!("decoded {other:?}"),
            }
        }
    }

    #[test]
    fn sequence_skips_zero() {
        assert_eq!(next_sequence(0), 1);
        assert_eq!(next_sequence(254), 255);
        assert_eq!(next_sequence(255), 1);
    }

    #[test]
    fn sends_each_universe_with_its_own_sequence_and_a_sync() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut out = ArtNetOutput::open(rx.local_addr().unwrap(), vec![3, 17], true).unwrap();
        let frame = Frame {
            universes: vec![3],
            data: vec![[9; UNIVERSE_SIZE]],
        };
        for _ in 0..2 {
            out.send(&frame);
        }
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        for _ in 0..6 {
            let (n, _) = rx.recv_from(&mut b).unwrap();
            got.push(b[..n].to_vec());
        }
        let dmx = |p: &[u8]| {
            nightscape_core::wire::artnet::parse_artdmx(p).map(|(s, _, pa, d)| (s, pa, d[0]))
        };
        assert_eq!(dmx(&got[0]).unwrap(), (1, 3, 9));
        assert_eq!(dmx(&got[1]).unwrap(), (1, 17, 0));
        assert_eq!(got[2].len(), 14);
        assert_eq!(&got[2][8..10], &[0x00, 0x52]);
        assert_eq!(dmx(&got[3]).unwrap(), (2, 3, 9));
        assert_eq!(dmx(&got[4]).unwrap(), (2, 17, 0));
        assert_eq!(out.health().packets_sent, 6);
        assert_eq!(out.health().state, crate::output::OK);
    }

    #[test]
    fn remapped_universes_go_out_under_their_wire_port_address() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut out = ArtNetOutput::open_mapped(
            rx.local_addr().unwrap(),
            vec![0, 1],
            vec![0x100, 0x7fff],
            false,
        )
        .unwrap();
        let frame = Frame {
            universes: vec![0, 1],
            data: vec![[1; UNIVERSE_SIZE], [2; UNIVERSE_SIZE]],
        };
        out.send(&frame);
        let mut b = [0u8; 1024];
        let mut got = Vec::new();
        for _ in 0..2 {
            let (n, _) = rx.recv_from(&mut b).unwrap();
            let (seq, _, pa, d) = nightscape_core::wire::artnet::parse_artdmx(&b[..n]).unwrap();
            got.push((seq, pa, d[0]));
        }
        assert_eq!(got, [(1, 0x100, 1), (1, 0x7fff, 2)]);
        assert_eq!(out.health().universes, [0, 1]);
    }

    #[test]
    // The runs are byte ranges compared as a list of ranges, not a range of bytes.
    #[allow(clippy::single_range_in_vec_init)]
    fn only_changed_universes_are_rebuilt_and_every_one_keeps_alive() {
        let mut p = ArtDmxPackets::new(&[0, 1, 2], &[10, 11, 12]);
        let mut frame = Frame {
            universes: vec![0, 1, 2],
            data: vec![[0; UNIVERSE_SIZE]; 3],
        };
        let seqs = |p: &ArtDmxPackets| {
            p.bytes()
                .chunks(ARTDMX_LEN)
                .map(|b| nightscape_core::wire::artnet::parse_artdmx(b).unwrap().0)
                .collect::<Vec<_>>()
        };
        let runs = |p: &ArtDmxPackets| p.due_runs().collect::<Vec<_>>();
        // The first frame sends everything.
        assert_eq!(p.build_changed(&frame, 3), 3);
        assert_eq!(runs(&p), [0..3 * ARTDMX_LEN]);
        // Only universe 1 changed: only it goes out, with its next sequence.
        frame.data[1][0] = 9;
        assert_eq!(p.build_changed(&frame, 3), 1);
        assert_eq!(runs(&p), [ARTDMX_LEN..2 * ARTDMX_LEN]);
        assert_eq!(seqs(&p), [1, 2, 1]);
        assert_eq!(p.bytes()[ARTDMX_LEN + ARTDMX_HEADER_LEN], 9);
        // Nothing changes: quiet until the keep-alive is due (3 frames
        // without a packet), then the idle ones go out again.
        assert_eq!(p.build_changed(&frame, 3), 0);
        assert_eq!(p.build_changed(&frame, 3), 0);
        assert_eq!(p.build_changed(&frame, 3), 2);
        assert_eq!(runs(&p), [0..ARTDMX_LEN, 2 * ARTDMX_LEN..3 * ARTDMX_LEN]);
        assert_eq!(seqs(&p), [2, 2, 2]);
        // The default builds all, every frame, with the Port-Address kept.
        p.build(&frame);
        assert_eq!(seqs(&p), [3, 3, 3]);
        let pa = nightscape_core::wire::artnet::parse_artdmx(&p.bytes()[2 * ARTDMX_LEN..])
            .unwrap()
            .2;
        assert_eq!(pa, 12);
    }

    #[test]
    fn a_hundred_universes_arrive_whole_and_in_order_from_batched_sends() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let universes: Vec<u16> = (0..100).collect();
        let mut out =
            ArtNetOutput::open(rx.local_addr().unwrap(), universes.clone(), false).unwrap();
        let frame = Frame {
            universes: universes.clone(),
            data: universes
                .iter()
                .map(|&u| [u as u8; UNIVERSE_SIZE])
                .collect(),
        };
        out.send(&frame);
        let mut b = [0u8; 2048];
        for u in 0..100u16 {
            let n = rx.recv(&mut b).unwrap();
            assert_eq!(n, ARTDMX_LEN);
            let (seq, _, pa, d) = nightscape_core::wire::artnet::parse_artdmx(&b[..n]).unwrap();
            assert_eq!((seq, pa, d[0], d[511]), (1, u, u as u8, u as u8));
        }
        assert_eq!(out.health().packets_sent, 100);
        assert_eq!(out.health().state, crate::output::OK);
    }
}
