//! The systemd notify protocol, by hand: `READY=1` once the first frame is
//! on the wire, `WATCHDOG=1` from the frame loop itself, `STOPPING=1` on
//! the way out. Pinging from the frame loop (not a timer task) is the point:
//! if frames stop, pings stop, and systemd restarts the daemon.
//!
//! Without `NOTIFY_SOCKET` in the environment every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let path = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|p| !p.is_empty());
        let socket = path.and_then(|p| UnixDatagram::unbound().ok().map(|s| (s, p)));
        // Ping at half the watchdog period, as sd_notify(3) recommends.
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0)
            .map(|us| Duration::from_micros(us / 2));
        Notifier {
            socket,
            watchdog,
            last_ping: None,
        }
    }

    fn send(&self, msg: &str) {
        let Some((sock, path)) = &self.socket else {
            return;
        };
        let result = if let Some(name) = path.strip_prefix('@') {
            abstract_send(sock, name, msg)
        } else {
            sock.send_to(msg.as_bytes(), path).map(|_| ())
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }

    pub fn ready(&mut self) {
        self.send("READY=1\nSTATUS=sending frames");
        self.last_ping = Some(Instant::now());
    }

    /// Call once per frame; pings the watchdog when due.
    pub fn tick(&mut self) {
        let Some(every) = self.watchdog else {
            return;
        };
        if self.last_ping.is_none_or(|t| t.elapsed() >= every) {
            self.send("WATCHDOG=1");
            self.last_ping = Some(Instant::now());
        }
    }

    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }
}

#[cfg(target_os = "linux")]
fn abstract_send(sock: &UnixDatagram, name: &str, msg: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(msg.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn abstract_send(_: &UnixDatagram, _: &str, _: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("abstract sockets need Linux"))
}

/// The systemd unit shipped with nightscape, with `{SITE}` and `{STATE}`
/// where the folders go (`nightscape service` fills them in).
pub const UNIT: &str = include_str!("nightscape.service");

/// The unit for a site folder and a state folder (absolute paths).
pub fn unit(site: &std::path::Path, state: &std::path::Path) -> String {
    UNIT.replace("{SITE}", &site.display().to_string())
        .replace("{STATE}", &state.display().to_string())
}
