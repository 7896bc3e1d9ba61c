//! Art-Net 4 output: ArtDmx per universe per frame, then an optional
//! ArtSync, unicast to the configured node.
//!
//! Packets are encoded by hand into one reused buffer: the
//! `artnet_protocol` crate allocates a `Vec` per packet, which is fine for
//! discovery but not for thousands of universes at 40 fps. The tests check
//! our bytes against the crate's encoder and decode them with its parser.
//! The socket is bound to an ephemeral port, never 6454, so a receiver on
//! the same machine (OLA, a visualiser, the tests) can hold that port.

use super::artpoll_wire::{encode_artsync, ARTSYNC_LEN};
use super::{Output, OutputHealth};
use crate::engine::Frame;
use crate::site::UNIVERSE_SIZE;
use std::net::{SocketAddr, UdpSocket};

pub const ARTDMX_HEADER_LEN: usize = 18;

/// Encode an ArtDmx packet for a 15-bit Port-Address into `buf`; returns
/// its length. Data is sent whole (512 slots): receivers that power up
/// mid-show pick up the full state from the next frame.
pub fn encode_artdmx(
    port_address: u16,
    sequence: u8,
    data: &[u8; UNIVERSE_SIZE],
    buf: &mut [u8; ARTDMX_HEADER_LEN + UNIVERSE_SIZE],
) -> usize {
    buf[0..8].copy_from_slice(b"Art-Net\0");
    buf[8..10].copy_from_slice(&0x5000u16.to_le_bytes());
    buf[10..12].copy_from_slice(&14u16.to_be_bytes());
    buf[12] = sequence;
    buf[13] = 0; // Physical: informational only.
                 // Port-Address: SubUni carries sub-net and universe nibbles, Net the top 7 bits.
    buf[14] = (port_address & 0xff) as u8;
    buf[15] = ((port_address >> 8) & 0x7f) as u8;
    buf[16..18].copy_from_slice(&(UNIVERSE_SIZE as u16).to_be_bytes());
    buf[ARTDMX_HEADER_LEN..].copy_from_slice(data);
    ARTDMX_HEADER_LEN + UNIVERSE_SIZE
}

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
    socket: UdpSocket,
    target: SocketAddr,
    universes: Vec<u16>,
    sequences: Vec<u8>,
    sync: bool,
    buf: Box<[u8; ARTDMX_HEADER_LEN + UNIVERSE_SIZE]>,
    health: OutputHealth,
    recent_errors: u32,
}

impl ArtNetOutput {
    pub fn open(
        target: SocketAddr,
        universes: Vec<u16>,
        sync: bool,
    ) -> std::io::Result<ArtNetOutput> {
        let socket = UdpSocket::bind(("0.0.0.0", 0))?;
        // A full send buffer must cost a dropped packet, not a late frame.
        socket.set_nonblocking(true)?;
        let _ = socket.set_broadcast(true);
        Ok(ArtNetOutput {
            socket,
            target,
            sequences: vec![0; universes.len()],
            health: OutputHealth {
                kind: "artnet",
                target: target.to_string(),
                universes: universes.clone(),
                state: "ok",
                ..Default::default()
            },
            universes,
            sync,
            buf: Box::new([0; ARTDMX_HEADER_LEN + UNIVERSE_SIZE]),
            recent_errors: 0,
        })
    }

    fn send_packet(&mut self, len: usize, sync_packet: Option<&[u8]>) {
        let bytes = match sync_packet {
            Some(p) => p,
            None => &self.buf[..len],
        };
        match self.socket.send_to(bytes, self.target) {
            Ok(_) => self.health.packets_sent += 1,
            Err(e) => {
                self.health.send_errors += 1;
                self.recent_errors += 1;
                self.health.last_error = Some(e.to_string());
            }
        }
    }
}

impl Output for ArtNetOutput {
    fn send(&mut self, frame: &Frame) {
        self.recent_errors = 0;
        let zero = [0u8; UNIVERSE_SIZE];
        for i in 0..self.universes.len() {
            let u = self.universes[i];
            let data = frame.universe(u).unwrap_or(&zero);
            self.sequences[i] = next_sequence(self.sequences[i]);
            let len = encode_artdmx(u, self.sequences[i], data, &mut self.buf);
            self.send_packet(len, None);
        }
        if self.sync {
            let mut sync = [0u8; ARTSYNC_LEN];
            encode_artsync(&mut sync);
            self.send_packet(0, Some(&sync));
        }
        self.health.frames_sent += 1;
        self.health.state = match self.recent_errors {
            0 => "ok",
            n if (n as usize) < self.universes.len() => "degraded",
            _ => "down",
        };
    }

    fn health(&self) -> OutputHealth {
        self.health.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use artnet_protocol::{ArtCommand, Output as CrateOutput, PortAddress};

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
        assert_eq!(out.health().state, "ok");
    }
}
