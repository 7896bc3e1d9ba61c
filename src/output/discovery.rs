//! Art-Net node discovery: send ArtPoll to the site's Art-Net targets (and
//! any broadcast address asked for), collect the ArtPollReply packets that
//! come back within a timeout, and describe each node: IP, names, ports and
//! the 15-bit Port-Addresses (universes) it outputs.
//!
//! Nodes answer on UDP port 6454 of the poller, so discovery must listen
//! there. Other Art-Net programs on the same machine (OLA, a visualiser)
//! often hold that port; we bind with SO_REUSEADDR (through `socket2`, std
//! cannot set it) so the bind succeeds beside any of them that also set it,
//! as OLA does. If the port cannot be had anyway, discovery reports itself
//! unavailable and that is all: outputs send from their own ephemeral
//! ports and never depend on it. Note that while our socket is bound (the
//! few seconds of a discovery), Linux delivers unicast packets for 6454 to
//! the most recently bound socket, so a local OLA misses unicast Art-Net
//! for that long; that is why discovery runs on demand only, never in the
//! background. It blocks for the timeout: call it from a plain thread or
//! `spawn_blocking`, not from an async task.

use nightscape_core::wire::artnet::{
    encode_artpoll, parse_artpollreply, NodeInfo, ARTNET_PORT, ARTPOLL_LEN, PORT_TYPE_INPUT,
};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long `nightscape nodes` listens by default. The spec lets a node
/// wait up to a second before it replies.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why discovery could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("Art-Net discovery is unavailable: cannot listen on {addr} ({source}); another program holds the port without sharing it. Outputs are not affected")]
    PortUnavailable {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("no address to poll: the site has no Art-Net output; name one with --target")]
    NoTargets,
    #[error("no ArtPoll could be sent, so no node could answer: {0}")]
    SendFailed(String),
    #[error("discovery socket: {0}")]
    Socket(#[source] io::Error),
}

/// One node (or one bind index of a multi-port node) that answered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    /// The address the reply came from.
    pub from: SocketAddr,
    /// The IP the node states in its reply.
    pub ip: Ipv4Addr,
    pub short_name: String,
    pub long_name: String,
    pub node_report: String,
    /// Firmware revision (VersInfo).
    pub firmware: u16,
    pub oem: u16,
    /// "00:1b:21:aa:bb:cc", if the node gives one.
    pub mac: Option<String>,
    /// Which of a multi-port node's replies this is (1-based; absent in
    /// replies shorter than 212 bytes).
    pub bind_index: Option<u8>,
    /// 15-bit Port-Addresses of the ports that output DMX (the universes
    /// this node will take from the network).
    pub outputs: Vec<u16>,
    /// Port-Addresses of the ports that input DMX onto the network.
    pub inputs: Vec<u16>,
}

impl Node {
    pub(crate) fn from_reply(from: SocketAddr, n: &NodeInfo) -> Node {
        let net = u16::from(n.net_switch & 0x7f) << 8;
        let sub = u16::from(n.sub_switch & 0x0f) << 4;
        let ports = usize::from(n.num_ports).min(4);
        let inputs = n.port_types[..ports]
            .iter()
            .zip(&n.sw_in)
            .filter(|(ty, _)| *ty & PORT_TYPE_INPUT != 0)
            .map(|(_, sw)| net | sub | u16::from(sw & 0x0f))
            .collect();
        Node {
            from,
            ip: n.ip,
            short_name: n.short_name.clone(),
            long_name: n.long_name.clone(),
            node_report: n.node_report.clone(),
            firmware: n.firmware,
            oem: n.oem,
            mac: n.mac.map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            }),
            bind_index: n.bind_index,
            outputs: n.output_universes(),
            inputs,
        }
    }
}

/// What a discovery found: the nodes that answered, sorted by IP and bind
/// index, and the targets the poll could not be sent to, with why (no
/// route, permission refused): a silent network and an unsent poll are
/// different findings.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Discovery {
    pub nodes: Vec<Node>,
    pub unsent: Vec<Unsent>,
}

/// A target the ArtPoll could not be sent to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unsent {
    pub target: SocketAddr,
    pub error: String,
}

/// Why a send failed, in words an installer acts on.
fn send_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
            format!("no route to it ({e}): is this machine on that network?")
        }
        io::ErrorKind::PermissionDenied => format!(
            "permission refused ({e}): a firewall rule, or a broadcast address the system does not allow"
        ),
        _ => e.to_string(),
    }
}

/// Poll `targets` (unicast or broadcast addresses, usually port 6454) from
/// 0.0.0.0:6454 and return the nodes that answered within `timeout`, and
/// the targets the poll could not be sent to.
pub fn discover(targets: &[SocketAddr], timeout: Duration) -> Result<Discovery, DiscoveryError> {
    discover_on(
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, ARTNET_PORT)),
        targets,
        timeout,
    )
}

/// [`discover`] listening on `listen` instead of 0.0.0.0:6454: tests use an
/// ephemeral port, and a machine with several interfaces may want one.
pub(crate) fn discover_on(
    listen: SocketAddr,
    targets: &[SocketAddr],
    timeout: Duration,
) -> Result<Discovery, DiscoveryError> {
    if targets.is_empty() {
        return Err(DiscoveryError::NoTargets);
    }
    let socket = bind_shared(listen).map_err(|source| DiscoveryError::PortUnavailable {
        addr: listen,
        source,
    })?;
    let mut poll = [0u8; ARTPOLL_LEN];
    encode_artpoll(&mut poll);
    let send_all = |socket: &UdpSocket| -> Vec<Unsent> {
        targets
            .iter()
            .filter_map(|t| {
                socket.send_to(&poll, t).err().map(|e| Unsent {
                    target: *t,
                    error: send_error(&e),
                })
            })
            .collect()
    };
    let unsent = send_all(&socket);
    if unsent.len() == targets.len() {
        let list: Vec<String> = unsent
            .iter()
            .map(|u| format!("{}: {}", u.target, u.error))
            .collect();
        return Err(DiscoveryError::SendFailed(list.join("; ")));
    }
    let start = Instant::now();
    let deadline = start + timeout;
    // A second poll halfway through, for a poll or reply lost on a busy
    // network; replies to both are merged below.
    let mut repoll = (timeout >= Duration::from_secs(1)).then(|| start + timeout / 2);

    // Keyed so one node's repeated replies (two polls, reply-on-change)
    // collapse, while a multi-port node's bind indexes stay apart.
    let mut nodes: BTreeMap<(Ipv4Addr, u8, SocketAddr), Node> = BTreeMap::new();
    let mut buf = [0u8; 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if repoll.is_some_and(|t| now >= t) {
            repoll = None;
            // Failing the second time changes nothing we can act on.
            let _ = send_all(&socket);
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(DiscoveryError::Socket)?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                // Our own poll looped back, ArtDmx from a local sender,
                // junk: anything that is not a reply is skipped.
                if let Ok(info) = parse_artpollreply(&buf[..n]) {
                    let node = Node::from_reply(from, &info);
                    nodes.insert((node.ip, node.bind_index.unwrap_or(0), from), node);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // An ICMP error from an earlier poll can surface here on some
            // systems; it is not a reason to stop listening.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(DiscoveryError::Socket(e)),
        }
    }
    Ok(Discovery {
        nodes: nodes.into_values().collect(),
        unsent,
    })
}

/// A UDP socket on `addr` with SO_REUSEADDR (shares the port with other
/// programs that set it too) and SO_BROADCAST (broadcast targets).
fn bind_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_targets_is_an_error_before_any_bind() {
        assert!(matches!(
            discover_on(
                "127.0.0.1:0".parse().unwrap(),
                &[],
                Duration::from_millis(10)
            ),
            Err(DiscoveryError::NoTargets)
        ));
    }

    #[test]
    fn port_held_without_reuse_is_reported_unavailable() {
        // std binds without SO_REUSEADDR: nobody can share this port.
        let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = holder.local_addr().unwrap();
        let err = discover_on(addr, &[addr], Duration::from_millis(10)).unwrap_err();
        assert!(
            matches!(err, DiscoveryError::PortUnavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("Outputs are not affected"));
    }

    #[test]
    fn inputs_are_listed_from_sw_in() {
        let info = NodeInfo {
            ip: Ipv4Addr::new(10, 0, 0, 9),
            port: 6454,
            firmware: 1,
            net_switch: 0,
            sub_switch: 1,
            oem: 0,
            short_name: "n".into(),
            long_name: "node".into(),
            node_report: String::new(),
            num_ports: 2,
            port_types: [0xc0, 0x40, 0x80, 0x80],
            sw_in: [3, 4, 5, 6],
            sw_out: [7, 8, 9, 10],
            mac: Some([1, 2, 3, 4, 5, 0xab]),
            bind_ip: None,
            bind_index: Some(1),
        };
        let n = Node::from_reply("10.0.0.9:6454".parse().unwrap(), &info);
        assert_eq!(n.inputs, [0x13, 0x14]);
        assert_eq!(n.outputs, [0x17]);
        assert_eq!(n.mac.as_deref(), Some("01:02:03:04:05:ab"));
    }
}

#[cfg(test)]
mod tests_poll;
