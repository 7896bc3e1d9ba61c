//! Host-name targets (`target = "node-3.city.lan"`): looked up when the
//! output opens, and again after a send fails, each time on a short-lived
//! thread of its own, so neither the frame loop nor site loading (`check`,
//! hot reload) ever waits on a resolver.
//!
//! Until the first answer the output sends nothing and reports itself
//! `degraded` ("looking up …"); a name that does not resolve makes it `down`
//! with the resolver's reason, and it keeps asking every couple of seconds.
//! A later lookup that fails while an earlier address is known keeps
//! sending there (`degraded`, with the reason): a flaky resolver must not
//! darken a street that was lit.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two lookups of one name.
const RETRY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Lookup {
    addr: Option<SocketAddr>,
    /// The last lookup's failure, if it failed.
    error: Option<String>,
    in_flight: bool,
    started: Option<Instant>,
}

/// What the output should report about its name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NameState {
    /// Resolved; the last lookup succeeded.
    Ok,
    /// The first lookup has not answered yet.
    Pending(String),
    /// Lookups fail and no address is known: nothing is sent.
    Failed(String),
    /// The last lookup failed; the previous address is still used.
    Stale(String),
}

/// A host name and port, resolved off the frame loop.
pub(crate) struct HostTarget {
    name: String,
    port: u16,
    lookup: Arc<Mutex<Lookup>>,
}

fn lock(m: &Mutex<Lookup>) -> std::sync::MutexGuard<'_, Lookup> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HostTarget {
    /// Start looking `name` up (its first IPv4 address; the outputs send
    /// from IPv4 sockets).
    pub(crate) fn start(name: &str, port: u16) -> HostTarget {
        let t = HostTarget {
            name: name.to_string(),
            port,
            lookup: Arc::default(),
        };
        t.refresh();
        t
    }

    /// Look the name up again, unless a lookup is running or one started
    /// less than [`RETRY`] ago. Never blocks.
    pub(crate) fn refresh(&self) {
        {
            let mut l = lock(&self.lookup);
            if l.in_flight || l.started.is_some_and(|s| s.elapsed() < RETRY) {
                return;
            }
            l.in_flight = true;
            l.started = Some(Instant::now());
        }
        let (name, port, lookup) = (self.name.clone(), self.port, self.lookup.clone());
        let spawned = std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let found = (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|mut addrs| addrs.find(SocketAddr::is_ipv4));
                let mut l = lock(&lookup);
                l.in_flight = false;
                match found {
                    Ok(Some(a)) => {
                        if l.addr != Some(a) {
                            tracing::info!(name = %name, address = %a, "output target resolved");
                        }
                        l.addr = Some(a);
                        l.error = None;
                    }
                    Ok(None) => l.error = Some(format!("`{name}` has no IPv4 address")),
                    Err(e) => l.error = Some(format!("cannot resolve `{name}`: {e}")),
                }
            });
        if let Err(e) = spawned {
            let mut l = lock(&self.lookup);
            l.in_flight = false;
            l.error = Some(format!("cannot start a lookup of `{}`: {e}", self.name));
        }
    }

    /// The address to send to, if one is known.
    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        lock(&self.lookup).addr
    }

    pub(crate) fn state(&self) -> NameState {
        let l = lock(&self.lookup);
        match (&l.addr, &l.error) {
            (Some(_), None) => NameState::Ok,
            (Some(a), Some(e)) => NameState::Stale(format!("{e}; still sending to {a}")),
            (None, Some(e)) => NameState::Failed(e.clone()),
            (None, None) => NameState::Pending(format!("looking up `{}`", self.name)),
        }
    }

    /// Put the name's state into an output's health (`degraded` while
    /// looking up or on a stale address, `down` when nothing resolves).
    pub(crate) fn report(&self, out: &mut super::OutputHealth) {
        match self.state() {
            NameState::Ok => {}
            NameState::Pending(why) | NameState::Stale(why) => {
                if out.state == super::OK {
                    out.state = super::DEGRADED;
                }
                out.last_error = Some(why);
            }
            NameState::Failed(why) => {
                out.state = super::DOWN;
                out.last_error = Some(why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(t: &HostTarget) -> NameState {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = t.state();
            if !matches!(s, NameState::Pending(_)) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn localhost_resolves_to_loopback() {
        let t = HostTarget::start("localhost", 6454);
        assert_eq!(settle(&t), NameState::Ok);
        let a = t.addr().unwrap();
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), 6454);
    }

    /// A failed lookup (made up here: a real one would ask a DNS server
    /// beyond this machine) is `down` with the reason, and a failure after
    /// a success keeps the address and is `degraded`.
    #[test]
    fn failures_show_in_health() {
        let t = HostTarget {
            name: "node-3.city.lan".into(),
            port: 6454,
            lookup: Arc::default(),
        };
        let mut h = super::super::OutputHealth {
            state: super::super::OK,
            ..Default::default()
        };
        t.report(&mut h);
        assert_eq!(h.state, super::super::DEGRADED);
        assert_eq!(
            h.last_error.as_deref(),
            Some("looking up `node-3.city.lan`")
        );
        lock(&t.lookup).error = Some("cannot resolve `node-3.city.lan`: no such host".into());
        t.report(&mut h);
        assert_eq!(h.state, super::super::DOWN);
        assert!(h.last_error.as_deref().unwrap().contains("no such host"));
        lock(&t.lookup).addr = Some("127.0.0.1:6454".parse().unwrap());
        h.state = super::super::OK;
        t.report(&mut h);
        assert_eq!(h.state, super::super::DEGRADED);
        assert!(h
            .last_error
            .unwrap()
            .contains("still sending to 127.0.0.1:6454"));
    }
}
