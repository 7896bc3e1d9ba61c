//! The daemon's Art-Net presence: one socket (by default 0.0.0.0:6454,
//! shared through SO_REUSEADDR) on its own thread that answers ArtPoll
//! with ArtPollReply naming the universes this controller sends — so
//! DMX-Workshop, consoles and other controllers see it — and polls the
//! Art-Net outputs' nodes every 2.5–3 s, as Art-Net 4 asks of a
//! controller, to know whether each is alive.
//!
//! A node that has answered and then stays silent for two poll periods
//! and a second turns its outputs `down` with "node not answering ArtPoll
//! since …" ([`NodeWatch`], read by the output's health); its first reply
//! after that brings them back by themselves. A node that never answered
//! is not judged (some receivers do not implement ArtPoll); the outputs'
//! own send accounting still applies to it.
//!
//! If the port cannot be had (another program holds it without sharing),
//! the daemon logs that and runs without this service: frames never
//! depend on it. While our socket is bound, Linux hands unicast packets
//! for the port to one of the sharing sockets only, so a receiver on the
//! same machine may miss unicast ArtPoll/ArtPollReply (not ArtDmx, which
//! goes to the receiver's own port); `nightscape nodes` says so.

use super::artpoll_wire::{
    controller_replies, encode_artpoll, encode_controller_reply, is_artpoll, parse_artpollreply,
    ARTPOLLREPLY_LEN, ARTPOLL_LEN,
};
use chrono::{DateTime, Utc};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is known of one polled node.
#[derive(Debug, Clone, Default)]
struct Live {
    last_reply: Option<(Instant, DateTime<Utc>)>,
    /// Set while the node is overdue: the wall-clock time of its last reply.
    silent_since: Option<DateTime<Utc>>,
}

/// Liveness of the polled nodes, shared with the outputs' health.
#[derive(Debug, Default)]
pub struct NodeWatch {
    nodes: Mutex<HashMap<SocketAddr, Live>>,
}

impl NodeWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Live>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why `target`'s node counts as down, if it does.
    pub fn down_reason(&self, target: SocketAddr) -> Option<String> {
        let since = self.lock().get(&target)?.silent_since?;
        Some(format!(
            "node not answering ArtPoll since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }

    /// Whether `target` has ever answered.
    pub fn answered(&self, target: SocketAddr) -> bool {
        self.lock()
            .get(&target)
            .is_some_and(|l| l.last_reply.is_some())
    }

    fn reply_from(&self, from: SocketAddr, targets: &[SocketAddr]) {
        let mut nodes = self.lock();
        // A node replies from ip:6454, which is the target unless the site
        // wrote another port; then the IP alone identifies it.
        let key = if targets.contains(&from) {
            Some(from)
        } else {
            let same_ip: Vec<&SocketAddr> =
                targets.iter().filter(|t| t.ip() == from.ip()).collect();
            (same_ip.len() == 1).then(|| *same_ip[0])
        };
        let Some(key) = key else { return };
        let live = nodes.entry(key).or_default();
        if live.silent_since.take().is_some() {
            tracing::info!(node = %key, "Art-Net node answers ArtPoll again");
        }
        live.last_reply = Some((Instant::now(), Utc::now()));
    }

    fn judge(&self, silent_after: Duration) {
        for (addr, live) in self.lock().iter_mut() {
            if let (Some((at, wall)), None) = (live.last_reply, live.silent_since) {
                if at.elapsed() > silent_after {
                    live.silent_since = Some(wall);
                    tracing::warn!(node = %addr, since = %wall, "Art-Net node stopped answering ArtPoll");
                }
            }
        }
    }
}

/// What the service needs to know.
#[derive(Debug, Clone)]
pub struct ArtPollSettings {
    pub listen: SocketAddr,
    /// Between polls; zero: never poll.
    pub poll_every: Duration,
    pub answer: bool,
    /// The Art-Net outputs' targets.
    pub targets: Vec<SocketAddr>,
    /// The Port-Addresses this controller sends (wire numbers).
    pub port_addresses: Vec<u16>,
    pub short_name: String,
    pub long_name: String,
}

/// The running service.
pub struct ArtPollService {
    pub watch: Arc<NodeWatch>,
    pub local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ArtPollService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP socket on `addr` with SO_REUSEADDR and SO_BROADCAST.
fn bind_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The local IPv4 address that routes to `to` (no packet is sent).
fn local_ip_towards(to: SocketAddr, fallback: IpAddr) -> Ipv4Addr {
    let probe = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
        .and_then(|s| s.connect(to).and_then(|_| s.local_addr()));
    match probe.map(|a| a.ip()) {
        Ok(IpAddr::V4(ip)) if !ip.is_unspecified() => ip,
        _ => match fallback {
            IpAddr::V4(ip) if !ip.is_unspecified() => ip,
            _ => Ipv4Addr::LOCALHOST,
        },
    }
}

impl ArtPollService {
    /// Bind and start the thread. `Err` when the port cannot be had.
    pub fn start(settings: ArtPollSettings) -> io::Result<ArtPollService> {
        let socket = bind_shared(settings.listen)?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let local = socket.local_addr()?;
        let watch = Arc::new(NodeWatch::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (watch.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("artnet-poll".into())
            .spawn(move || run(socket, settings, w, s))?;
        Ok(ArtPollService {
            watch,
            local,
            stop,
            thread: Some(thread),
        })
    }
}

fn run(socket: UdpSocket, s: ArtPollSettings, watch: Arc<NodeWatch>, stop: Arc<AtomicBool>) {
    let mut poll = [0u8; ARTPOLL_LEN];
    encode_artpoll(&mut poll);
    let mut reply = [0u8; ARTPOLLREPLY_LEN];
    let mut buf = [0u8; 1500];
    let silent_after = s.poll_every * 2 + Duration::from_secs(1);
    let mut next_poll = Instant::now();
    let listen_ip = s.listen.ip();
    while !stop.load(Ordering::Relaxed) {
        if !s.poll_every.is_zero() && Instant::now() >= next_poll {
            next_poll = Instant::now() + s.poll_every;
            for t in &s.targets {
                if let Err(e) = socket.send_to(&poll, t) {
                    tracing::debug!(target = %t, "ArtPoll not sent: {e}");
                }
            }
        }
        watch.judge(silent_after);
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let packet = &buf[..n];
                if is_artpoll(packet) {
                    if from == socket.local_addr().unwrap_or(from) {
                        continue; // our own poll, looped back
                    }
                    if s.answer {
                        let ip = local_ip_towards(from, listen_ip);
                        for info in
                            controller_replies(ip, &s.short_name, &s.long_name, &s.port_addresses)
                        {
                            let len = encode_controller_reply(&info, &mut reply);
                            // The spec sends replies to the poller's port
                            // 6454; we answer the address it polled from,
                            // which is that for every spec poller.
                            if let Err(e) = socket.send_to(&reply[..len], from) {
                                tracing::debug!(to = %from, "ArtPollReply not sent: {e}");
                            }
                        }
                    }
                } else if parse_artpollreply(packet).is_ok() {
                    watch.reply_from(from, &s.targets);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => {
                tracing::warn!("Art-Net service socket: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
