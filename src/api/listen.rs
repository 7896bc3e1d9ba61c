//! Binding the operator API's address, and saying who holds it when it is
//! taken.
//!
//! A daemon whose API address is in use must not run on without its page:
//! a browser pointed at that address would reach the other program (often
//! another nightscape) and an operator would steer the wrong lights. So the
//! bind is done before any output opens and its failure is fatal to `run`.
//! On Linux the holder is looked up best effort: the listening socket's
//! inode from `/proc/net/tcp{,6}`, then the process whose `/proc/PID/fd`
//! links to `socket:[inode]` (only processes this user may inspect; else
//! the socket's owner uid is named).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why the API's address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("the operator API cannot listen on {addr}: the address is in use{}; stop that program or give this daemon another address (`[api] listen`, or --listen)", holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    InUse {
        addr: SocketAddr,
        holder: Option<Holder>,
    },
    #[error("the operator API cannot listen on {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Who listens on an address, as far as this process can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A process we could inspect.
    Process { pid: u32, command: String },
    /// A socket whose process is not visible to us (another user's).
    User { uid: u32 },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Process { pid, command } if command.is_empty() => write!(f, "PID {pid}"),
            Holder::Process { pid, command } => write!(f, "PID {pid} ({command})"),
            Holder::User { uid } => write!(
                f,
                "a process of user {uid} (not visible to this user: try `sudo ss -ltnp`)"
            ),
        }
    }
}

/// Bind the API's listener; a taken address names its holder.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, BindError> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(BindError::InUse {
            addr,
            holder: holder_of(addr),
        }),
        Err(source) => Err(BindError::Io { addr, source }),
    }
}

/// The process (or user) listening on `addr`, best effort.
pub(crate) fn holder_of(addr: SocketAddr) -> Option<Holder> {
    let mut listeners = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            listeners.extend(parse_listeners(&text));
        }
    }
    let (uid, inode) = pick(&listeners, addr)?;
    match process_with_socket(inode) {
        Some((pid, command)) => Some(Holder::Process { pid, command }),
        None => Some(Holder::User { uid }),
    }
}

/// A listening socket from `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listener {
    pub addr: SocketAddr,
    pub uid: u32,
    pub inode: u64,
}

/// The listening sockets (state `0A`) of a `/proc/net/tcp` or `tcp6` table.
pub(crate) fn parse_listeners(text: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some((ip, port)) = f[1].split_once(':') else {
            continue;
        };
        let (Some(ip), Ok(port)) = (parse_ip(ip), u16::from_str_radix(port, 16)) else {
            continue;
        };
        let (Ok(uid), Ok(inode)) = (f[7].parse::<u32>(), f[9].parse::<u64>()) else {
            continue;
        };
        out.push(Listener {
            addr: SocketAddr::new(ip, port),
            uid,
            inode,
        });
    }
    out
}

/// An address as the kernel prints it: each 32-bit word of the address
/// read in host byte order and printed in hex, so the word's native bytes
/// are the address's bytes in network order.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        _ => None,
    }
}

/// The listener that takes `addr`: the same address, else a wildcard on
/// either side on the same port.
fn pick(listeners: &[Listener], addr: SocketAddr) -> Option<(u32, u64)> {
    let same_port = || listeners.iter().filter(|l| l.addr.port() == addr.port());
    same_port()
        .find(|l| l.addr.ip() == addr.ip())
        .or_else(|| {
            same_port().find(|l| l.addr.ip().is_unspecified() || addr.ip().is_unspecified())
        })
        .or_else(|| same_port().next())
        .map(|l| (l.uid, l.inode))
}

/// The process holding socket `inode` open, with its command line.
fn process_with_socket(inode: u64) -> Option<(u32, String)> {
    let want = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let found = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|l| l.as_os_str() == want.as_str())
                .unwrap_or(false)
        });
        if found {
            let command = std::fs::read(entry.path().join("cmdline"))
                .map(|b| {
                    b.split(|&c| c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let command = if command.chars().count() > 120 {
                format!("{}…", command.chars().take(120).collect::<String>())
            } else {
                command
            };
            return Some((pid, command));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 99 1 0000000000000000 100 0 0 10 0
";

    /// Only listening sockets are read, with the kernel's byte order undone
    /// (the table above is as a little-endian machine prints it).
    #[cfg(target_endian = "little")]
    #[test]
    fn reads_listening_sockets_of_both_tables() {
        let v4 = parse_listeners(TCP);
        assert_eq!(
            v4,
            vec![
                Listener {
                    addr: "127.0.0.1:8080".parse().unwrap(),
                    uid: 1000,
                    inode: 4242
                },
                Listener {
                    addr: "0.0.0.0:22".parse().unwrap(),
                    uid: 0,
                    inode: 17
                },
            ]
        );
        let v6 = parse_listeners(TCP6);
        assert_eq!(v6[0].addr, "[::1]:8081".parse().unwrap());
        assert_eq!((v6[0].uid, v6[0].inode), (998, 99));
        assert!(parse_listeners("header\ngarbage line\n 0: zz:zz 0 0A\n").is_empty());
    }

    /// The exact address wins; a wildcard on the same port takes any address.
    #[cfg(target_endian = "little")]
    #[test]
    fn picks_the_listener_that_takes_the_address() {
        let l = parse_listeners(TCP);
        assert_eq!(
            pick(&l, "127.0.0.1:8080".parse().unwrap()),
            Some((1000, 4242))
        );
        assert_eq!(pick(&l, "10.0.0.5:22".parse().unwrap()), Some((0, 17)));
        assert_eq!(pick(&l, "127.0.0.1:9".parse().unwrap()), None);
    }

    /// A socket this process holds is found, with this process's PID.
    #[tokio::test]
    async fn a_taken_address_names_this_process() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");
        if cfg!(target_os = "linux") {
            assert!(
                text.contains(&format!("PID {}", std::process::id())),
                "{text}"
            );
        }
    }
}
