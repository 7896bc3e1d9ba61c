//! The daemon's Art-Net presence: a thread that answers ArtPoll with
//! ArtPollReply naming the universes this controller sends — so
//! DMX-Workshop, consoles and other controllers see it — and polls the
//! Art-Net outputs' nodes every 2.5–3 s, as Art-Net 4 asks of a
//! controller, to know whether each is alive.
//!
//! Where it listens decides whether a receiver on the same machine keeps
//! its frames. Linux hands a *unicast* datagram for a port that several
//! sockets share (SO_REUSEADDR) to one of them only: the most specific
//! bind, and among equals the last bound. A service on `0.0.0.0:6454`
//! would therefore take the ArtDmx that the daemon (or anyone) sends to
//! an OLA or visualiser on `127.0.0.1:6454` that was started first. So
//! with the default `[artnet] listen = "0.0.0.0:6454"` the service never
//! binds the wildcard address ([`plan_binds`]): for each interface whose
//! broadcast domain holds an Art-Net output's node, it binds that
//! interface's own address (unicast polls, the nodes' replies) and its
//! broadcast address (broadcast polls), plus `255.255.255.255` (limited
//! broadcast polls) — broadcasts reach every sharing socket, so local
//! receivers still get them. Loopback is never bound, nor an address of
//! this machine that an output sends to (a receiver listens there); an
//! output to this machine needs no liveness polling. A site that names an
//! address (`listen = "10.0.4.1:6454"`, or `127.0.0.1:…`) gets exactly
//! that one socket.
//!
//! A node that has answered and then stays silent for two poll periods
//! and a second turns its outputs `down` with "node not answering ArtPoll
//! since …" ([`NodeWatch`], read by the output's health); its first reply
//! after that brings them back by themselves. A node that never answered
//! is not judged (some receivers do not implement ArtPoll); the outputs'
//! own send accounting still applies to it.
//!
//! If an address cannot be had (another program holds the port without
//! sharing), the daemon logs that and serves the others, or runs without
//! this service: frames never depend on it.
//!
//! **One port, two consumers.** The daemon's Art-Net input (`[[inputs]]
//! kind = "artnet"`, `crate::inputs`) usually listens on `0.0.0.0:6454`,
//! the port these sockets share. A console that *unicasts* its ArtDmx,
//! ArtTimeCode or ArtTrigger to this machine's address reaches the more
//! specific socket, this service's, not the input's; so every packet that
//! is not the service's own business (ArtPoll, ArtPollReply, RDM) and came
//! to a socket bound to one of this machine's unicast addresses is handed
//! to [`hand_art_packets_to`]'s receiver (the inputs, which check the
//! sender, the port and the opcode as they do for their own socket).
//! Broadcasts are never handed on: they reach the input's own socket too.

use chrono::{DateTime, Utc};
use nightscape_core::wire::artnet::{
    controller_replies, encode_artpoll, encode_controller_reply, is_artpoll, parse_artpollreply,
    ARTPOLLREPLY_LEN, ARTPOLL_LEN,
};
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
    pub(crate) fn down_reason(&self, target: SocketAddr) -> Option<String> {
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
pub(crate) struct ArtPollSettings {
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
    /// The first address listened on, or the configured one when the
    /// service had nothing to bind (every output on this machine).
    pub local: SocketAddr,
    /// Every address the service listens on.
    pub listening: Vec<SocketAddr>,
    /// Where ArtTodData and ArtRdm received on port 6454 go (device care,
    /// `crate::rdm::care`): nodes answer RDM to port 6454, which these
    /// sockets hold. Set by [`ArtPollService::rdm_tap`].
    rdm: RdmTap,
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

/// The sender RDM packets are handed to, once someone asked for them.
type RdmTap = Arc<Mutex<Option<std::sync::mpsc::SyncSender<(SocketAddr, Vec<u8>)>>>>;

/// A UDP socket on `addr` with SO_REUSEADDR and SO_BROADCAST.
fn bind_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The local IPv4 address that routes to `to` (no packet is sent).
fn route_source(to: SocketAddr) -> Option<Ipv4Addr> {
    let s = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).ok()?;
    // A broadcast target can be "connected" only with SO_BROADCAST.
    let _ = s.set_broadcast(true);
    s.connect(to).ok()?;
    match s.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// The local IPv4 address that routes to `to`, else `fallback`'s.
fn local_ip_towards(to: SocketAddr, fallback: IpAddr) -> Ipv4Addr {
    match route_source(to) {
        Some(ip) => ip,
        None => match fallback {
            IpAddr::V4(ip) if !ip.is_unspecified() => ip,
            _ => Ipv4Addr::LOCALHOST,
        },
    }
}

/// One IPv4 route of this machine (a line of Linux `/proc/net/route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub dest: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub mask: Ipv4Addr,
}

/// The routes of `/proc/net/route` text (addresses are hex in host order,
/// little-endian on every Linux we run on); unreadable lines are skipped.
pub(crate) fn parse_routes(text: &str) -> Vec<Route> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Route {
                dest: hex(f.get(1)?)?,
                gateway: hex(f.get(2)?)?,
                mask: hex(f.get(7)?)?,
            })
        })
        .collect()
}

/// The broadcast address of the directly attached network that holds
/// `ip` (the longest on-link route containing it); none for /31 and /32.
pub(crate) fn broadcast_of(ip: Ipv4Addr, routes: &[Route]) -> Option<Ipv4Addr> {
    let ip = u32::from(ip);
    routes
        .iter()
        .filter(|r| r.gateway.is_unspecified())
        .filter(|r| {
            let m = u32::from(r.mask);
            m != 0 && m.leading_ones() <= 30 && ip & m == u32::from(r.dest) & m
        })
        .max_by_key(|r| u32::from(r.mask).leading_ones())
        .map(|r| Ipv4Addr::from(u32::from(r.dest) | !u32::from(r.mask)))
}

/// Where the service listens when the site left `listen` at the wildcard
/// address: never the wildcard itself (it would take unicast ArtDmx from
/// a receiver on this machine).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BindPlan {
    /// This machine's addresses on the outputs' networks: unicast polls
    /// and the nodes' replies arrive there, and our polls leave from them.
    pub unicast: Vec<Ipv4Addr>,
    /// Those networks' broadcast addresses, then `255.255.255.255`.
    pub broadcast: Vec<Ipv4Addr>,
    /// Outputs that send to this machine (loopback or one of its own
    /// addresses): a receiver listens there, so its address is not bound.
    pub local_targets: Vec<SocketAddr>,
}

/// The bind plan for `targets`. `source(t)`: the address this machine
/// sends to `t` from (the routing table's answer), `None` without a route.
pub(crate) fn plan_binds(
    targets: &[SocketAddr],
    routes: &[Route],
    source: impl Fn(SocketAddr) -> Option<Ipv4Addr>,
) -> BindPlan {
    let mut plan = BindPlan::default();
    let mut served: Vec<Ipv4Addr> = Vec::new();
    for &t in targets {
        let IpAddr::V4(ip) = t.ip() else { continue };
        let from = source(t);
        let local = ip.is_loopback() || ip.is_unspecified() || from == Some(ip);
        if local {
            if !plan.local_targets.contains(&t) {
                plan.local_targets.push(t);
            }
        } else if let Some(from) = from.filter(|f| !f.is_loopback()) {
            if !served.contains(&from) {
                served.push(from);
            }
        }
    }
    let receivers: Vec<IpAddr> = plan.local_targets.iter().map(|t| t.ip()).collect();
    for ip in served {
        if !receivers.contains(&IpAddr::V4(ip)) {
            plan.unicast.push(ip);
        }
        if let Some(b) = broadcast_of(ip, routes) {
            if !plan.broadcast.contains(&b) {
                plan.broadcast.push(b);
            }
        }
        if !plan.broadcast.contains(&Ipv4Addr::BROADCAST) {
            // Pushed once, after the first network's own broadcast.
            plan.broadcast.push(Ipv4Addr::BROADCAST);
        }
    }
    if let Some(i) = plan
        .broadcast
        .iter()
        .position(|b| *b == Ipv4Addr::BROADCAST)
    {
        let limited = plan.broadcast.remove(i);
        plan.broadcast.push(limited);
    }
    plan
}

/// One socket of the service. `from`: the unicast address it is bound to,
/// so sends to peers routed from there leave from it (source port 6454,
/// as the spec asks).
struct Endpoint {
    socket: UdpSocket,
    from: Option<Ipv4Addr>,
    /// Bound to one of this machine's unicast addresses: unicast for an
    /// Art-Net input sharing the port lands here.
    unicast: bool,
}

/// Receives what the service got for an Art-Net input: the local address
/// it arrived at (this machine's address and the service's port), the
/// sender and the packet.
pub(crate) type ArtPacketTap = Arc<dyn Fn(SocketAddr, SocketAddr, &[u8]) + Send + Sync>;

static ART_PACKETS: Mutex<Option<ArtPacketTap>> = Mutex::new(None);

/// From now on, packets unicast to the service's addresses that are not
/// the service's own business go to `tap` (the daemon's Art-Net inputs
/// register here; `None` stops it). Process-wide: one daemon per process.
pub(crate) fn hand_art_packets_to(tap: Option<ArtPacketTap>) {
    *ART_PACKETS.lock().unwrap_or_else(|p| p.into_inner()) = tap;
}

fn art_packet_tap() -> Option<ArtPacketTap> {
    ART_PACKETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

impl ArtPollService {
    /// Bind and start the thread. `Err` when no address could be had.
    pub(crate) fn start(settings: ArtPollSettings) -> io::Result<ArtPollService> {
        let port = settings.listen.port();
        let mut endpoints = Vec::new();
        // Sends to peers no bound address routes to (and every send when
        // the site named its address) leave from this socket.
        let fallback;
        if !settings.listen.ip().is_unspecified() {
            fallback = bind_shared(settings.listen)?;
        } else {
            let routes = std::fs::read_to_string("/proc/net/route")
                .map(|t| parse_routes(&t))
                .unwrap_or_default();
            let plan = plan_binds(&settings.targets, &routes, route_source);
            if !plan.local_targets.is_empty() {
                tracing::info!(
                    targets = ?plan.local_targets,
                    "Art-Net outputs to this machine: their addresses are not listened on, so a receiver there keeps every frame"
                );
            }
            let mut last_err = None;
            let wanted = plan.unicast.iter().map(|ip| (*ip, true));
            let wanted = wanted.chain(plan.broadcast.iter().map(|ip| (*ip, false)));
            let mut tried = 0;
            for (ip, unicast) in wanted {
                tried += 1;
                let addr = SocketAddr::new(IpAddr::V4(ip), port);
                match bind_shared(addr) {
                    Ok(socket) => endpoints.push(Endpoint {
                        socket,
                        from: unicast.then_some(ip),
                        unicast,
                    }),
                    Err(e) => {
                        tracing::warn!("Art-Net service: cannot listen on {addr} ({e})");
                        last_err = Some(e);
                    }
                }
            }
            if let (true, Some(e)) = (endpoints.is_empty() && tried > 0, last_err) {
                return Err(e);
            }
            fallback = bind_shared(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))?;
        }
        let mut listening = Vec::new();
        for e in &endpoints {
            listening.push(e.socket.local_addr()?);
        }
        if !settings.listen.ip().is_unspecified() {
            listening.push(fallback.local_addr()?);
        }
        let local = listening.first().copied().unwrap_or(settings.listen);
        // A site that named its address: that socket takes unicast when
        // the address is this machine's (not a broadcast address).
        let named = !settings.listen.ip().is_unspecified() && is_this_machine(settings.listen);
        endpoints.push(Endpoint {
            socket: fallback,
            from: None,
            unicast: named,
        });
        for e in &endpoints {
            e.socket.set_nonblocking(true)?;
        }
        let watch = Arc::new(NodeWatch::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (watch.clone(), stop.clone());
        let rdm = RdmTap::default();
        let tap = rdm.clone();
        let thread = std::thread::Builder::new()
            .name("artnet-poll".into())
            .spawn(move || run(endpoints, settings, w, s, tap))?;
        Ok(ArtPollService {
            watch,
            local,
            listening,
            rdm,
            stop,
            thread: Some(thread),
        })
    }
}

impl ArtPollService {
    /// From now on, hand every ArtTodData and ArtRdm this service receives
    /// to the returned receiver (bounded: when it falls behind, packets
    /// are dropped, never queued without end).
    pub(crate) fn rdm_tap(&self) -> std::sync::mpsc::Receiver<(SocketAddr, Vec<u8>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(256);
        *self.rdm.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }
}

/// The index of the socket to send to `to` from: the one bound to the
/// address this machine routes `to` from, else the last (the fallback).
fn sender_for(endpoints: &[Endpoint], to: SocketAddr) -> usize {
    let from = route_source(to);
    endpoints
        .iter()
        .position(|e| e.from.is_some() && e.from == from)
        .unwrap_or(endpoints.len() - 1)
}

fn run(
    endpoints: Vec<Endpoint>,
    s: ArtPollSettings,
    watch: Arc<NodeWatch>,
    stop: Arc<AtomicBool>,
    rdm: RdmTap,
) {
    let mut poll = [0u8; ARTPOLL_LEN];
    encode_artpoll(&mut poll);
    let mut reply = [0u8; ARTPOLLREPLY_LEN];
    let mut buf = [0u8; 1500];
    let silent_after = s.poll_every * 2 + Duration::from_secs(1);
    let mut next_poll = Instant::now();
    let listen_ip = s.listen.ip();
    let ours: Vec<SocketAddr> = endpoints
        .iter()
        .filter_map(|e| e.socket.local_addr().ok())
        .collect();
    // Targets on this machine are a local receiver's: not polled.
    let polled: Vec<(SocketAddr, usize)> = s
        .targets
        .iter()
        .copied()
        .filter(|t| !s.listen.ip().is_unspecified() || !is_this_machine(*t))
        .map(|t| (t, sender_for(&endpoints, t)))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        if !s.poll_every.is_zero() && Instant::now() >= next_poll {
            next_poll = Instant::now() + s.poll_every;
            for (t, via) in &polled {
                if let Err(e) = endpoints[*via].socket.send_to(&poll, t) {
                    tracing::debug!(target = %t, "ArtPoll not sent: {e}");
                }
            }
        }
        watch.judge(silent_after);
        let mut got = false;
        for e in &endpoints {
            // Bounded per pass, so one flooded socket cannot starve polling.
            for _ in 0..64 {
                let (n, from) = match e.socket.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(err) => {
                        if !matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                                | io::ErrorKind::ConnectionRefused
                        ) {
                            tracing::debug!("Art-Net service socket: {err}");
                        }
                        break;
                    }
                };
                got = true;
                let packet = &buf[..n];
                if is_artpoll(packet) {
                    if ours.contains(&from) {
                        continue; // our own poll, looped back
                    }
                    if s.answer {
                        let ip = local_ip_towards(from, listen_ip);
                        let out = &endpoints[sender_for(&endpoints, from)].socket;
                        for info in
                            controller_replies(ip, &s.short_name, &s.long_name, &s.port_addresses)
                        {
                            let len = encode_controller_reply(&info, &mut reply);
                            // The spec sends replies to the poller's port
                            // 6454; we answer the address it polled from,
                            // which is that for every spec poller.
                            if let Err(e) = out.send_to(&reply[..len], from) {
                                tracing::debug!(to = %from, "ArtPollReply not sent: {e}");
                            }
                        }
                    }
                } else if parse_artpollreply(packet).is_ok() {
                    watch.reply_from(from, &s.targets);
                } else if is_rdm_reply(packet) {
                    if let Some(tx) = rdm.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        let _ = tx.try_send((from, packet.to_vec()));
                    }
                } else if e.unicast && !ours.contains(&from) {
                    // A console's ArtDmx, ArtTimeCode or ArtTrigger sent to
                    // this machine: the Art-Net input's, if one shares the port.
                    if let (Some(tap), Ok(at)) = (art_packet_tap(), e.socket.local_addr()) {
                        tap(at, from, packet);
                    }
                }
            }
        }
        if !got {
            // Replies within 20 ms are well inside the spec's 3 s.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An ArtTodData or ArtRdm packet (what a node answers RDM with).
fn is_rdm_reply(p: &[u8]) -> bool {
    use nightscape_core::wire::artnet::{OP_RDM, OP_TOD_DATA};
    p.len() >= 10
        && p.starts_with(b"Art-Net\0")
        && matches!(u16::from_le_bytes([p[8], p[9]]), OP_TOD_DATA | OP_RDM)
}

/// Whether `t` is loopback or an address of this machine.
fn is_this_machine(t: SocketAddr) -> bool {
    match t.ip() {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_unspecified() || route_source(t) == Some(ip),
        IpAddr::V6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth1\t0004000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// `/proc/net/route` is read as the kernel writes it, and a network's
    /// broadcast address comes from its longest on-link route.
    #[test]
    fn routes_give_each_network_its_broadcast_address() {
        let routes = parse_routes(ROUTES);
        assert_eq!(routes.len(), 4);
        assert_eq!(routes[0].gateway, v4("192.0.2.1"));
        assert_eq!(routes[1].dest, v4("192.0.2.0"));
        assert_eq!(routes[1].mask, v4("255.255.255.0"));
        assert_eq!(
            broadcast_of(v4("192.0.2.2"), &routes),
            Some(v4("192.0.2.255"))
        );
        assert_eq!(
            broadcast_of(v4("10.0.4.1"), &routes),
            Some(v4("10.0.4.255"))
        );
        assert_eq!(
            broadcast_of(v4("10.0.9.1"), &routes),
            Some(v4("10.0.255.255"))
        );
        // The default route is not a broadcast domain.
        assert_eq!(broadcast_of(v4("203.0.113.5"), &routes), None);
        assert!(parse_routes("header only\nbad line\n").is_empty());
    }

    /// The default listen address binds the outputs' networks, never the
    /// wildcard, never loopback, never an address a local output sends to.
    #[test]
    fn the_plan_binds_the_outputs_networks_and_leaves_local_receivers_alone() {
        let routes = parse_routes(ROUTES);
        let source = |t: SocketAddr| match t.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => Some(Ipv4Addr::LOCALHOST),
            IpAddr::V4(ip) if ip.octets()[0] == 10 => Some(v4("10.0.4.1")),
            IpAddr::V4(ip) if ip == v4("192.0.2.2") => Some(ip),
            _ => Some(v4("192.0.2.2")),
        };
        let sa = |s: &str| -> SocketAddr { s.parse().unwrap() };
        // The demo: every output on loopback. Nothing is bound.
        let plan = plan_binds(&[sa("127.0.0.1:6454")], &routes, source);
        assert!(plan.unicast.is_empty() && plan.broadcast.is_empty());
        assert_eq!(plan.local_targets, vec![sa("127.0.0.1:6454")]);
        // Nodes on 10.0.4.x (one of them a broadcast target).
        let plan = plan_binds(
            &[
                sa("10.0.4.20:6454"),
                sa("10.0.4.21:6454"),
                sa("10.0.4.255:6454"),
            ],
            &routes,
            source,
        );
        assert_eq!(plan.unicast, vec![v4("10.0.4.1")]);
        assert_eq!(plan.broadcast, vec![v4("10.0.4.255"), Ipv4Addr::BROADCAST]);
        assert!(plan.local_targets.is_empty());
        // A visualiser on this machine's own 192.0.2.2 beside a node on
        // the same network: the network's broadcast is served, the
        // receiver's address is not bound.
        let plan = plan_binds(
            &[
                sa("192.0.2.2:6454"),
                sa("192.0.2.50:6454"),
                sa("10.0.4.20:6454"),
            ],
            &routes,
            source,
        );
        assert_eq!(plan.unicast, vec![v4("10.0.4.1")]);
        assert_eq!(
            plan.broadcast,
            vec![v4("192.0.2.255"), v4("10.0.4.255"), Ipv4Addr::BROADCAST]
        );
        assert_eq!(plan.local_targets, vec![sa("192.0.2.2:6454")]);
    }

    /// A receiver that shares the port (SO_REUSEADDR, as OLA does) and was
    /// bound before the service still gets unicast sent to it. The service
    /// here uses a port of the test's own, with the default wildcard listen.
    #[test]
    fn a_receiver_bound_first_keeps_its_unicast() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let receiver = bind_shared(SocketAddr::from(([0, 0, 0, 0], port))).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let svc = ArtPollService::start(ArtPollSettings {
            listen: SocketAddr::from(([0, 0, 0, 0], port)),
            poll_every: Duration::from_secs(1),
            answer: true,
            targets: vec![target],
            port_addresses: vec![0],
            short_name: "t".into(),
            long_name: "t".into(),
        })
        .unwrap();
        assert!(
            svc.listening.iter().all(|a| !a.ip().is_unspecified()),
            "{:?}",
            svc.listening
        );
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut got = 0;
        let mut buf = [0u8; 64];
        for i in 0..5u8 {
            tx.send_to(&[i; 18], target).unwrap();
            if receiver.recv_from(&mut buf).is_ok() {
                got += 1;
            }
        }
        assert_eq!(got, 5, "the receiver lost unicast to the Art-Net service");
    }
}
