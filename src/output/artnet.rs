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

use super::udp::UdpSender;
use super::{Output, OutputHealth};
use crate::engine::Frame;
use crate::site::UNIVERSE_SIZE;
use crate::wire::artnet::{encode_artdmx, encode_artsync, ARTDMX_HEADER_LEN, ARTSYNC_LEN};
use std::net::SocketAddr;

/// Art-Net sequence numbers run 1..=255 per universe; 0 means "off".
fn next_sequence(s: u8) -> u8 {
    if s == 255 {
        1
    } else {
        s + 1
    }
}

/// One Art-Net destination.
pub struct ArtNetOutput {
    udp: UdpSender,
    target: SocketAddr,
    universes: Vec<u16>,
    /// Port-Address on the wire for each of `universes`.
    wire: Vec<u16>,
    sequences: Vec<u8>,
    sync: bool,
    buf: Box<[u8; ARTDMX_HEADER_LEN + UNIVERSE_SIZE]>,
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
        mut universes: Vec<u16>,
        mut wire: Vec<u16>,
        sync: bool,
    ) -> std::io::Result<ArtNetOutput> {
        let n = universes.len().min(wire.len());
        universes.truncate(n);
        wire.truncate(n);
        let udp = UdpSender::open(OutputHealth {
            kind: super::Protocol::Artnet,
            target: target.to_string(),
            universes: universes.clone(),
            ..Default::default()
        })?;
        Ok(ArtNetOutput {
            udp,
            target,
            sequences: vec![0; n],
            universes,
            wire,
            sync,
            buf: Box::new([0; ARTDMX_HEADER_LEN + UNIVERSE_SIZE]),
        })
    }
}

impl Output for ArtNetOutput {
    fn send(&mut self, frame: &Frame) {
        self.udp.begin_frame();
        let zero = [0u8; UNIVERSE_SIZE];
        for i in 0..self.universes.len() {
            let data = frame.universe(self.universes[i]).unwrap_or(&zero);
            self.sequences[i] = next_sequence(self.sequences[i]);
            let len = encode_artdmx(self.wire[i], self.sequences[i], data, &mut self.buf);
            self.udp.send(&self.buf[..len], self.target);
        }
        if self.sync {
            let mut sync = [0u8; ARTSYNC_LEN];
            encode_artsync(&mut sync);
            self.udp.send(&sync, self.target);
        }
        self.udp.end_frame();
    }

    fn health(&self) -> OutputHealth {
        self.udp.health.clone()
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
            super::super::artpoll_wire::parse_artdmx(p).map(|(s, _, pa, d)| (s, pa, d[0]))
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
            let (seq, _, pa, d) = super::super::artpoll_wire::parse_artdmx(&b[..n]).unwrap();
            got.push((seq, pa, d[0]));
        }
        assert_eq!(got, [(1, 0x100, 1), (1, 0x7fff, 2)]);
        assert_eq!(out.health().universes, [0, 1]);
    }
}
