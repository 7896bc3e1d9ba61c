//! The UDP side shared by the Art-Net and sACN outputs: one non-blocking
//! socket on an ephemeral port, and the bookkeeping that turns send results
//! into an [`OutputHealth`].
//!
//! Non-blocking because the frame loop sends on its own thread: a full
//! socket buffer or an unresolvable neighbour must cost a dropped, counted
//! packet, never a late frame for every other output. The state looks back
//! over a second, not one frame, so a single `EWOULDBLOCK` shows as
//! `degraded` for a second instead of flickering the state (and the log)
//! every other frame.

use super::{OutputHealth, DEGRADED, DOWN, OK};
use nightscape_core::engine::Frame;
use nightscape_core::site::UNIVERSE_SIZE;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How far back the state looks.
const WINDOW: Duration = Duration::from_secs(1);

/// Datagrams per `sendmmsg` call (the kernel takes up to 1024; 64 keeps
/// the per-call arrays a few kilobytes of stack).
pub(crate) const MMSG_BATCH: usize = 64;

/// UDP_MAX_SEGMENTS of older kernels, and of newer ones.
const GSO_SEGMENTS_OLDER: usize = 64;
const GSO_SEGMENTS_NEWER: usize = 128;

pub(crate) struct UdpSender {
    socket: UdpSocket,
    /// Segmentation offload (UDP GSO), where the kernel has it: many equal
    /// datagrams to one destination in one system call.
    gso: Option<quinn_udp::UdpSocketState>,
    /// Datagrams per GSO call. `quinn-udp` reports 64, the limit of older
    /// kernels; newer ones take 128, which a 64 KiB send of 530-byte
    /// ArtDmx caps at 122: half the system calls at city scale. Tried
    /// first, and 64 from the first refusal on.
    gso_segments: usize,
    /// `sendmmsg` works here (cleared if the kernel says it has none).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    mmsg: bool,
    pub health: OutputHealth,
    frame_errors: u32,
    frame_sent: u32,
    last_ok: Option<Instant>,
    last_err: Option<Instant>,
    last_error_key: Option<(std::io::ErrorKind, Option<i32>, SocketAddr)>,
}

impl UdpSender {
    /// A non-blocking sender on an ephemeral port, sending from `bind` (a local address, port 0)
    /// and/or on `interface` (SO_BINDTODEVICE), so the traffic leaves on
    /// the lighting network of a machine with several.
    pub(crate) fn open_bound(
        health: OutputHealth,
        bind: Option<std::net::IpAddr>,
        interface: Option<&str>,
    ) -> std::io::Result<UdpSender> {
        // Port 0, never 6454 or 5568: a receiver on this machine (OLA, a
        // visualiser, the tests) must be able to hold those.
        let ip = bind.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let addr = std::net::SocketAddr::new(ip, 0);
        let raw = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(dev) = interface {
            raw.bind_device(Some(dev.as_bytes())).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot send on interface {dev}: {e}"))
            })?;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        if let Some(dev) = interface {
            return Err(std::io::Error::other(format!(
                "interface = \"{dev}\" needs Linux; use bind = \"<address>\""
            )));
        }
        raw.bind(&addr.into())?;
        if let std::net::IpAddr::V4(v4) = ip {
            if !v4.is_unspecified() {
                // Multicast leaves by the bound address's interface.
                let _ = raw.set_multicast_if_v4(&v4);
            }
        }
        let socket: UdpSocket = raw.into();
        socket.set_nonblocking(true)?;
        // Broadcast targets (2.255.255.255, 127.255.255.255) need it; a
        // failure only matters if such a target is configured, and then
        // shows as send errors.
        let _ = socket.set_broadcast(true);
        let gso = quinn_udp::UdpSocketState::new((&socket).into())
            .ok()
            .filter(|g| g.max_gso_segments() > 1);
        Ok(UdpSender {
            socket,
            gso,
            gso_segments: GSO_SEGMENTS_NEWER,
            mmsg: true,
            health: OutputHealth {
                state: OK,
                ..health
            },
            frame_errors: 0,
            frame_sent: 0,
            last_ok: None,
            last_err: None,
            last_error_key: None,
        })
    }

    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Whether a send of the current frame failed.
    pub(crate) fn frame_failed(&self) -> bool {
        self.frame_errors > 0
    }

    pub(crate) fn begin_frame(&mut self) {
        self.frame_errors = 0;
        self.frame_sent = 0;
    }

    pub(crate) fn send(&mut self, bytes: &[u8], to: SocketAddr) {
        match self.socket.send_to(bytes, to) {
            Ok(_) => {
                self.health.packets_sent += 1;
                self.frame_sent += 1;
            }
            Err(e) => {
                self.health.send_errors += 1;
                self.frame_errors += 1;
                self.note_error(&e, to);
            }
        }
    }

    /// Send `bytes` as datagrams of `segment` bytes each (the last may be
    /// shorter) to one destination, batched by GSO where the kernel has it
    /// (up to its segment limit per call), else one call per datagram.
    pub(crate) fn send_segments(&mut self, bytes: &[u8], segment: usize, to: SocketAddr) {
        let segment = segment.max(1);
        let mut at = 0;
        while at < bytes.len() {
            let batch = match &self.gso {
                // Keep a batch under the 64 KiB a single UDP send may carry.
                Some(g) => self
                    .gso_segments
                    .max(g.max_gso_segments())
                    .min(65_000 / segment)
                    .max(1),
                None => 1,
            };
            let chunk = &bytes[at..(at + segment * batch).min(bytes.len())];
            at += chunk.len();
            let packets = chunk.len().div_ceil(segment) as u64;
            let result = match &self.gso {
                Some(g) if packets > 1 => g.try_send(
                    (&self.socket).into(),
                    &quinn_udp::Transmit {
                        destination: to,
                        ecn: None,
                        contents: chunk,
                        segment_size: Some(segment),
                        src_ip: None,
                    },
                ),
                _ => {
                    for p in chunk.chunks(segment) {
                        self.send(p, to);
                    }
                    continue;
                }
            };
            match result {
                Ok(()) => {
                    self.health.packets_sent += packets;
                    self.frame_sent += packets as u32;
                }
                Err(e)
                    if e.raw_os_error() == Some(22)
                        && packets > GSO_SEGMENTS_OLDER as u64
                        && self.gso_segments > GSO_SEGMENTS_OLDER =>
                {
                    // A kernel that takes 64 at most: this batch again, in 64s.
                    self.gso_segments = GSO_SEGMENTS_OLDER;
                    at -= chunk.len();
                }
                Err(e) => {
                    self.health.send_errors += packets;
                    self.frame_errors += packets as u32;
                    self.note_error(&e, to);
                    // Some paths refuse offload (EIO, EINVAL): fall back to
                    // one datagram per call from now on.
                    if matches!(e.raw_os_error(), Some(5) | Some(22)) {
                        self.gso = None;
                    }
                }
            }
        }
    }

    /// Send datagram k (`bytes[k × segment ..]`, the last may be shorter)
    /// to `to[k]`: many destinations, e.g. one multicast group per sACN
    /// universe, where GSO (one destination per call) cannot help. On
    /// Linux up to [`MMSG_BATCH`] datagrams go in one `sendmmsg` call; a
    /// datagram the kernel refuses is counted and skipped and the rest of
    /// the batch still goes. Elsewhere, one call per datagram.
    pub(crate) fn send_each(&mut self, bytes: &[u8], segment: usize, to: &[SocketAddr]) {
        let segment = segment.max(1);
        let n = bytes.len().div_ceil(segment).min(to.len());
        let datagram = |k: usize| &bytes[k * segment..((k + 1) * segment).min(bytes.len())];
        #[allow(unused_mut)]
        let mut k0 = 0;
        #[cfg(target_os = "linux")]
        while self.mmsg && k0 < n {
            let k1 = (k0 + MMSG_BATCH).min(n);
            k0 = self.send_mmsg(k0, k1, &datagram, to);
        }
        // Without `sendmmsg` (or after the kernel said it has none).
        for (k, &addr) in to.iter().enumerate().take(n).skip(k0) {
            self.send(datagram(k), addr);
        }
    }

    /// One `sendmmsg` batch: datagrams `k0..k1` (at most [`MMSG_BATCH`]).
    /// Returns where the caller goes on (k1, or k0 when the call is not
    /// available here and the batch must go one by one).
    #[cfg(target_os = "linux")]
    fn send_mmsg<'b>(
        &mut self,
        k0: usize,
        k1: usize,
        datagram: &impl Fn(usize) -> &'b [u8],
        to: &[SocketAddr],
    ) -> usize {
        use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
        use std::io::IoSlice;
        // Fixed-size arrays on the stack (unused tail entries repeat the
        // last datagram and are never passed to the kernel): nothing is
        // allocated per frame.
        let last = k1 - 1;
        let addrs: [SocketAddrAny; MMSG_BATCH] =
            std::array::from_fn(|i| SocketAddrAny::from(to[(k0 + i).min(last)]));
        let iovs: [[IoSlice<'_>; 1]; MMSG_BATCH] =
            std::array::from_fn(|i| [IoSlice::new(datagram((k0 + i).min(last)))]);
        let mut controls: [SendAncillaryBuffer<'_, '_, '_>; MMSG_BATCH] =
            std::array::from_fn(|_| SendAncillaryBuffer::default());
        let mut i = 0;
        let mut msgs = controls.each_mut().map(|control| {
            let m = MMsgHdr::new_with_addr(&addrs[i], &iovs[i], control);
            i += 1;
            m
        });
        let count = k1 - k0;
        let mut done = 0;
        while done < count {
            match sendmmsg(&self.socket, &mut msgs[done..count], SendFlags::empty()) {
                Ok(0) => break,
                Ok(sent) => {
                    self.health.packets_sent += sent as u64;
                    self.frame_sent += sent as u32;
                    done += sent;
                }
                Err(rustix::io::Errno::NOSYS) if done == 0 => {
                    self.mmsg = false;
                    return k0;
                }
                Err(e) => {
                    // The first datagram not sent is the one refused.
                    self.health.send_errors += 1;
                    self.frame_errors += 1;
                    self.note_error(&e.into(), to[k0 + done]);
                    done += 1;
                }
            }
        }
        k0 + count
    }

    /// Keep the error for the health report. The text is only written
    /// when the error differs from the last one: a full socket buffer fails
    /// thousands of sends a second, and a string for each is waste.
    fn note_error(&mut self, e: &std::io::Error, to: SocketAddr) {
        let key = (e.kind(), e.raw_os_error(), to);
        if self.last_error_key != Some(key) || self.health.last_error.is_none() {
            self.last_error_key = Some(key);
            self.health.last_error = Some(format!("send to {to}: {e}"));
        }
    }

    /// Close the frame's books: count it and work out the state.
    pub(crate) fn end_frame(&mut self) {
        let now = Instant::now();
        self.health.frames_sent += 1;
        if self.frame_sent > 0 {
            self.last_ok = Some(now);
        }
        if self.frame_errors > 0 {
            self.last_err = Some(now);
        }
        let recent = |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) <= WINDOW);
        self.health.state = match (recent(self.last_ok), recent(self.last_err)) {
            (_, false) => OK,
            (true, true) => DEGRADED,
            (false, true) => DOWN,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsendable_target_is_down_and_counted() {
        let mut u = UdpSender::open_bound(OutputHealth::default(), None, None).unwrap();
        // Port 0 cannot be sent to: every send fails at once.
        let dead: SocketAddr = "127.0.0.1:0".parse().unwrap();
        u.begin_frame();
        u.send(b"x", dead);
        u.end_frame();
        assert_eq!(u.health.state, DOWN);
        assert_eq!(u.health.send_errors, 1);
        assert!(u
            .health
            .last_error
            .as_deref()
            .unwrap()
            .contains("127.0.0.1:0"));

        // One packet through, one not: degraded.
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.begin_frame();
        u.send(b"x", rx.local_addr().unwrap());
        u.send(b"x", dead);
        u.end_frame();
        assert_eq!(u.health.state, DEGRADED);
        assert_eq!((u.health.packets_sent, u.health.frames_sent), (1, 2));
    }

    /// More datagrams to one node than one GSO call takes (122 of 530
    /// bytes on a kernel that takes 128, 64 on an older one): every one
    /// arrives, whole and in order, and is counted once.
    #[test]
    fn a_long_run_to_one_node_arrives_whole_and_in_order() {
        const SEGMENT: usize = 530;
        const N: usize = 150;
        let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        // Room for a whole call's worth queued at once.
        let _ = rx.set_recv_buffer_size(4 << 20);
        rx.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let rx: UdpSocket = rx.into();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut bytes = vec![0u8; SEGMENT * N];
        for (k, datagram) in bytes.chunks_mut(SEGMENT).enumerate() {
            datagram.fill(k as u8);
            datagram[..2].copy_from_slice(&(k as u16).to_be_bytes());
        }
        let mut u = UdpSender::open_bound(OutputHealth::default(), None, None).unwrap();
        u.begin_frame();
        u.send_segments(&bytes, SEGMENT, rx.local_addr().unwrap());
        u.end_frame();
        let mut buf = [0u8; 2048];
        for k in 0..N {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(n, SEGMENT, "datagram {k}");
            assert_eq!(
                &buf[..n],
                &bytes[k * SEGMENT..(k + 1) * SEGMENT],
                "datagram {k}"
            );
        }
        assert_eq!((u.health.packets_sent, u.health.send_errors), (N as u64, 0));
        assert_eq!(u.health.state, OK);
    }

    /// Datagrams to many destinations (as sACN multicast sends, one group
    /// per universe) arrive whole, in order, each at its own receiver,
    /// across several `sendmmsg` batches; a refused one is counted and the
    /// rest still go; a short last datagram keeps its length.
    #[test]
    fn send_each_delivers_every_datagram_to_its_own_destination() {
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| {
                let r = UdpSocket::bind("127.0.0.1:0").unwrap();
                r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                r
            })
            .collect();
        let dead: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // 150 datagrams of 40 bytes (the last one 17), round robin over the
        // receivers, with datagram 70 (mid-batch) and 128 (a batch's
        // first) sent to port 0, which the kernel refuses.
        let n = 150;
        let bytes: Vec<u8> = (0..n * 40 - 23).map(|i| (i / 40) as u8).collect();
        let to: Vec<SocketAddr> = (0..n)
            .map(|k| match k {
                70 | 128 => dead,
                _ => receivers[k % 3].local_addr().unwrap(),
            })
            .collect();
        let mut u = UdpSender::open_bound(OutputHealth::default(), None, None).unwrap();
        u.begin_frame();
        u.send_each(&bytes, 40, &to);
        u.end_frame();
        assert_eq!(u.health.packets_sent, (n - 2) as u64);
        assert_eq!(u.health.send_errors, 2);
        let mut buf = [0u8; 64];
        for k in (0..n).filter(|&k| k != 70 && k != 128) {
            let len = receivers[k % 3].recv(&mut buf).unwrap();
            assert_eq!(len, if k == n - 1 { 17 } else { 40 }, "datagram {k}");
            assert!(buf[..len].iter().all(|&b| b == k as u8), "datagram {k}");
        }
    }
}

/// Where each of an output's universes sits in the frame (`u32::MAX`: not
/// in it, sent as zeros). Rebuilt only when the frame's universe list
/// changes (a reload), so the per-frame cost is one slice comparison.
#[derive(Debug, Default)]
pub(crate) struct UniverseIndex {
    frame_universes: Vec<u16>,
    index: Vec<u32>,
}

impl UniverseIndex {
    pub(crate) fn with_capacity(n: usize) -> UniverseIndex {
        UniverseIndex {
            frame_universes: Vec::new(),
            index: Vec::with_capacity(n),
        }
    }

    /// Follow `frame` for the output's `universes`.
    pub(crate) fn update(&mut self, universes: &[u16], frame: &Frame) {
        if self.frame_universes != frame.universes {
            self.frame_universes.clone_from(&frame.universes);
            self.index.clear();
            self.index.extend(universes.iter().map(|u| {
                frame
                    .universes
                    .binary_search(u)
                    .map_or(u32::MAX, |i| i as u32)
            }));
        }
    }

    /// The data of the output's `i`-th universe in `frame`, or `zero`.
    #[inline]
    pub(crate) fn data<'a>(
        &self,
        i: usize,
        frame: &'a Frame,
        zero: &'a [u8; UNIVERSE_SIZE],
    ) -> &'a [u8; UNIVERSE_SIZE] {
        match self.index[i] {
            u32::MAX => zero,
            k => &frame.data[k as usize],
        }
    }
}

/// Runs of consecutive due packets of `packet_len` bytes each, as byte
/// ranges of the packets laid back to back: each run is one batched send.
pub(crate) fn due_runs(
    due: &[bool],
    packet_len: usize,
) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let n = due.len();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < n && !due[i] {
            i += 1;
        }
        if i >= n {
            return None;
        }
        let start = i;
        while i < n && due[i] {
            i += 1;
        }
        Some(start * packet_len..i * packet_len)
    })
}
