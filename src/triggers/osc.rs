//! OSC in: a UDP server per `[[inputs]] kind = "osc"`, with nightscape's
//! fixed address space and the site's OSC triggers.
//!
//! | address | arguments | the API's operation |
//! | --- | --- | --- |
//! | `/nightscape/scene/start` | `,s show` (`,sf show seconds`) | `POST /api/scenes/<show>/trigger` |
//! | `/nightscape/scene/stop` | `,s show` | `DELETE /api/scenes/<id>` of each scene of the show |
//! | `/nightscape/master` | `,f 0..1` | `POST /api/master` (the site's) |
//! | `/nightscape/group/<g>/level` | `,f 0..1` | `POST /api/master` (the group's) |
//! | `/nightscape/group/<g>/color` | `,s #rrggbb` | `POST /api/overrides` colour (the last one replaces this input's previous) |
//! | `/nightscape/blackout` | `,s group` | `POST /api/overrides` blackout |
//! | `/nightscape/release` | none, or `,s target` | `DELETE /api/overrides` |
//! | `/nightscape/timecode` | `,s HH:MM:SS:FF` (`,ss code rate`) | positions `timecode = "osc"` shows; fires timecode triggers |
//!
//! The socket is read on a task of its own that only checks the sender
//! (`allow`, loopback by default), decodes and queues; a worker performs
//! the operations in order. The queue is bounded: a flood costs dropped
//! (counted) messages, never memory or the frame loop, and a burst of
//! fader moves to one address is coalesced to its last value. A message
//! that cannot be done (an unknown show, a wrong type tag) is answered to
//! its sender with `/nightscape/error ,ss <address> <why>` and logged;
//! bundles are opened and their messages done at once (time tags are not
//! scheduled). Datagrams that are not OSC are dropped and counted.

use super::ops::{OpResult, Ops, Who};
use super::ShowControl;
use crate::control::{Action, ControlError};
use rosc::{OscMessage, OscPacket, OscType};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest datagram read; a longer one is dropped whole.
const MAX_DATAGRAM: usize = 8 * 1024;
/// Messages waiting for the worker at most.
const QUEUE: usize = 256;
/// Nested arrays (`[` in type tags) allowed in one datagram.
const MAX_ARRAYS: usize = 16;

/// One OSC input as the server needs it.
#[derive(Clone)]
pub struct OscInput {
    /// The input's name: the audit's actor.
    pub name: String,
    pub listen: SocketAddr,
    /// Whether a source address may send.
    pub allow: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

/// What an OSC input counted since the daemon started.
#[derive(Debug, Default, Serialize)]
pub struct OscStats {
    pub received: AtomicU64,
    /// From an address `allow` does not list.
    pub not_allowed: AtomicU64,
    /// Not OSC, truncated, oversized.
    pub malformed: AtomicU64,
    /// The queue was full.
    pub dropped: AtomicU64,
    /// Operations done.
    pub done: AtomicU64,
    /// Operations refused (answered with /nightscape/error).
    pub refused: AtomicU64,
}

struct Job {
    msg: OscMessage,
    from: SocketAddr,
}

/// Bind `input.listen` and serve it until the runtime stops. Returns the
/// bound address (port 0 is the kernel's choice) and the counters.
pub async fn serve(
    input: OscInput,
    control: Arc<ShowControl>,
) -> std::io::Result<(SocketAddr, Arc<OscStats>)> {
    serve_until(input, control, std::future::pending()).await
}

/// [`serve`] until `stop` completes (the input was removed or changed on
/// reload): the socket closes once the messages already queued are done.
pub async fn serve_until(
    input: OscInput,
    control: Arc<ShowControl>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, Arc<OscStats>)> {
    let sock = Arc::new(UdpSocket::bind(input.listen).await?);
    let bound = sock.local_addr()?;
    tracing::info!(input = %input.name, listen = %bound, "OSC input listening");
    let stats = Arc::new(OscStats::default());
    let (tx, rx) = mpsc::channel::<Job>(QUEUE);
    crate::tasks::spawn(worker(
        rx,
        sock.clone(),
        input.name.clone(),
        control,
        stats.clone(),
    ));
    let st = stats.clone();
    crate::tasks::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut stop = std::pin::pin!(stop);
        loop {
            let got = tokio::select! {
                _ = &mut stop => break,
                got = sock.recv_from(&mut buf) => got,
            };
            let (n, from) = match got {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier replies surface here on
                    // Linux; the socket is still good.
                    tracing::debug!(input = %input.name, "OSC receive: {e}");
                    continue;
                }
            };
            st.received.fetch_add(1, Ordering::Relaxed);
            if !(input.allow)(from.ip()) {
                st.not_allowed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(input = %input.name, %from, "OSC from an address not allowed: dropped");
                continue;
            }
            let Some(msgs) = decode(&buf[..n]) else {
                st.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(input = %input.name, %from, bytes = n, "not an OSC packet: dropped");
                continue;
            };
            for msg in msgs {
                if tx.try_send(Job { msg, from }).is_err() {
                    st.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    Ok((bound, stats))
}

/// The messages of one datagram (bundles opened), or None when it is not
/// OSC or is larger than [`MAX_DATAGRAM`].
pub fn decode(data: &[u8]) -> Option<Vec<OscMessage>> {
    if data.len() > MAX_DATAGRAM || data.iter().filter(|&&b| b == b'[').count() > MAX_ARRAYS {
        return None;
    }
    let (_, packet) = rosc::decoder::decode_udp(data).ok()?;
    let mut out = Vec::new();
    let mut stack = vec![packet];
    while let Some(p) = stack.pop() {
        match p {
            OscPacket::Message(m) => out.push(m),
            OscPacket::Bundle(b) => stack.extend(b.content.into_iter().rev()),
        }
    }
    Some(out)
}

/// Whether a message sets a value that only its last occurrence matters
/// for (faders, colour pickers).
fn coalescable(addr: &str) -> bool {
    addr == "/nightscape/master"
        || (addr.starts_with("/nightscape/group/")
            && (addr.ends_with("/level") || addr.ends_with("/color")))
}

async fn worker(
    mut rx: mpsc::Receiver<Job>,
    sock: Arc<UdpSocket>,
    input: String,
    control: Arc<ShowControl>,
    stats: Arc<OscStats>,
) {
    let mut batch: Vec<Job> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(j) = rx.try_recv() {
            batch.push(j);
        }
        // Keep the last value per (sender, address) for faders.
        let mut keep = vec![true; batch.len()];
        for i in 0..batch.len() {
            if coalescable(&batch[i].msg.addr) {
                keep[i] = !batch[i + 1..]
                    .iter()
                    .any(|j| j.msg.addr == batch[i].msg.addr && j.from == batch[i].from);
            }
        }
        for (job, keep) in batch.drain(..).zip(keep) {
            if !keep {
                continue;
            }
            let who = Who {
                actor: input.clone(),
                remote: Some(job.from.to_string()),
            };
            match handle(&control, &who, &job.msg).await {
                Ok(()) => {
                    stats.done.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(input = %input, from = %job.from, address = %job.msg.addr, "OSC refused: {e}");
                    let reply = OscPacket::Message(OscMessage {
                        addr: "/nightscape/error".into(),
                        args: vec![
                            OscType::String(job.msg.addr.clone()),
                            OscType::String(e.to_string()),
                        ],
                    });
                    if let Ok(bytes) = rosc::encoder::encode(&reply) {
                        let _ = sock.send_to(&bytes, job.from).await;
                    }
                }
            }
        }
    }
}

fn bad_args(addr: &str, want: &str, args: &[OscType]) -> ControlError {
    let got: String = args.iter().map(tag).collect();
    ControlError::invalid("args", format!("{addr} takes ,{want} (got ,{got})"))
}

/// The OSC type tag of an argument.
fn tag(a: &OscType) -> char {
    match a {
        OscType::Int(_) => 'i',
        OscType::Float(_) => 'f',
        OscType::String(_) => 's',
        OscType::Blob(_) => 'b',
        OscType::Time(_) => 't',
        OscType::Long(_) => 'h',
        OscType::Double(_) => 'd',
        OscType::Char(_) => 'c',
        OscType::Color(_) => 'r',
        OscType::Midi(_) => 'm',
        OscType::Bool(true) => 'T',
        OscType::Bool(false) => 'F',
        OscType::Array(_) => '[',
        OscType::Nil => 'N',
        OscType::Inf => 'I',
    }
}

/// A number argument: `f`, `d` or `i` (a controller that sends integers
/// for 0 and 1 is understood).
fn number(a: &OscType) -> Option<f64> {
    match a {
        OscType::Float(f) => Some(f64::from(*f)),
        OscType::Double(d) => Some(*d),
        OscType::Int(i) => Some(f64::from(*i)),
        _ => None,
    }
}

fn string(a: &OscType) -> Option<&str> {
    match a {
        OscType::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Perform one message: an address of the fixed space, then the site's
/// OSC triggers (which never name `/nightscape/...`).
pub async fn handle(control: &Arc<ShowControl>, who: &Who, m: &OscMessage) -> OpResult<()> {
    let ops: &Ops = control.ops();
    let addr = m.addr.as_str();
    let args = m.args.as_slice();
    match addr {
        "/nightscape/scene/start" => {
            let (show, duration) = match args {
                [s] => (string(s), Some(nightscape_core::triggers::DEFAULT_SCENE_S)),
                [s, d] => (string(s), number(d)),
                _ => (None, None),
            };
            let (Some(show), Some(duration)) = (show, duration) else {
                return Err(bad_args(addr, "s (show) or ,sf (show, seconds)", args));
            };
            ops.start_scene(who, show, duration, None, None)
                .await
                .map(|_| ())
        }
        "/nightscape/scene/stop" => match args {
            [s] if string(s).is_some() => ops
                .stop_scenes(who, string(s).unwrap_or_default())
                .await
                .map(|_| ()),
            _ => Err(bad_args(addr, "s (show)", args)),
        },
        "/nightscape/master" => match args {
            [l] if number(l).is_some() => {
                let l = number(l).unwrap_or_default();
                ops.set_master(who, "*", l as f32).await
            }
            _ => Err(bad_args(addr, "f (0..1)", args)),
        },
        "/nightscape/blackout" => match args {
            [g] if string(g).is_some() => {
                let target = string(g).unwrap_or_default().trim();
                ops.add_override(who, target, Action::Blackout, None, None, true)
                    .await
                    .map(|_| ())
            }
            _ => Err(bad_args(addr, "s (group)", args)),
        },
        "/nightscape/timecode" => {
            let (code, rate) = match args {
                [c] => (string(c), Some("25")),
                [c, r] => (string(c), string(r)),
                _ => (None, None),
            };
            let (Some(code), Some(rate)) = (code, rate) else {
                return Err(bad_args(
                    addr,
                    "s (HH:MM:SS:FF) or ,ss (code, 24|25|29.97df|30)",
                    args,
                ));
            };
            let tc = timecode(code, rate)?;
            let Some(inputs) = crate::inputs::running() else {
                return Err(ControlError::Unavailable(
                    "the inputs are not running".into(),
                ));
            };
            inputs.feed_timecode(nightscape_core::timecode::TimecodeSource::Osc, tc);
            Ok(())
        }
        "/nightscape/release" => match args {
            [] => ops.release(who, None).await.map(|_| ()),
            [t] if string(t).is_some() => {
                let t = string(t).unwrap_or_default().trim();
                let t = (t != "*").then_some(t);
                ops.release(who, t).await.map(|_| ())
            }
            _ => Err(bad_args(addr, " (nothing) or ,s (target)", args)),
        },
        _ => {
            if let Some(rest) = addr.strip_prefix("/nightscape/group/") {
                let Some((group, what)) = rest.rsplit_once('/') else {
                    return Err(unknown(addr));
                };
                let cfg = ops.shared.config();
                if !cfg.site.groups.contains_key(group) {
                    return Err(ControlError::not_found(
                        "group",
                        format!(
                            "unknown group `{group}`{}",
                            nightscape_core::suggest::hint(
                                group,
                                cfg.site.groups.keys().map(String::as_str)
                            )
                        ),
                    ));
                }
                return match (what, args) {
                    ("level", [l]) if number(l).is_some() => {
                        ops.set_master(who, group, number(l).unwrap_or_default() as f32)
                            .await
                    }
                    ("level", _) => Err(bad_args(addr, "f (0..1)", args)),
                    ("color", [c]) if string(c).is_some() => {
                        let c = string(c).unwrap_or_default().trim().to_string();
                        ops.add_override(who, group, Action::Color(c), None, None, true)
                            .await
                            .map(|_| ())
                    }
                    ("color", _) => Err(bad_args(addr, "s (#rrggbb)", args)),
                    _ => Err(unknown(addr)),
                };
            }
            if addr.starts_with("/nightscape/") || addr == "/nightscape" {
                return Err(unknown(addr));
            }
            let fired = control
                .handle(crate::triggers::Event::Osc { address: addr }, who)
                .await;
            if fired == 0 {
                tracing::debug!(address = addr, "OSC message no trigger listens to");
            }
            Ok(())
        }
    }
}

/// `HH:MM:SS:FF` at a rate ("24", "25", "29.97df", "30"; a `;` before the
/// frames means drop-frame).
fn timecode(code: &str, rate: &str) -> OpResult<nightscape_core::timecode::Timecode> {
    use nightscape_core::timecode::{FrameRate, Timecode};
    let drop = code.contains(';');
    let rate = match (rate.trim(), drop) {
        (_, true) | ("29.97df", _) | ("29.97", _) => FrameRate::Df2997,
        ("24", _) => FrameRate::Fps24,
        ("25", _) => FrameRate::Fps25,
        ("30", _) => FrameRate::Fps30,
        (r, _) => {
            return Err(ControlError::invalid(
                "rate",
                format!("frame rate `{r}`: use 24, 25, 29.97df or 30"),
            ))
        }
    };
    let t = nightscape_core::triggers::Timecode::parse(code)
        .map_err(|m| ControlError::invalid("timecode", m))?;
    let tc = Timecode {
        hours: t.hours,
        minutes: t.minutes,
        seconds: t.seconds,
        frames: t.frames,
        rate,
    };
    if !tc.is_valid() {
        return Err(ControlError::invalid(
            "timecode",
            format!("{code} does not exist at {} fps", rate.label()),
        ));
    }
    Ok(tc)
}

fn unknown(addr: &str) -> ControlError {
    ControlError::not_found(
        "address",
        format!(
            "no such address `{addr}`: nightscape answers /nightscape/scene/start, /nightscape/scene/stop, /nightscape/master, /nightscape/group/<group>/level, /nightscape/group/<group>/color, /nightscape/blackout, /nightscape/release, /nightscape/timecode"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(addr: &str, args: Vec<OscType>) -> Vec<u8> {
        rosc::encoder::encode(&OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        }))
        .unwrap()
    }

    #[test]
    fn decodes_messages_and_bundles_and_refuses_junk() {
        let one = decode(&msg("/nightscape/master", vec![OscType::Float(0.5)])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].addr, "/nightscape/master");
        let bundle = rosc::encoder::encode(&OscPacket::Bundle(rosc::OscBundle {
            timetag: rosc::OscTime {
                seconds: 0,
                fractional: 1,
            },
            content: vec![
                OscPacket::Message(OscMessage {
                    addr: "/a".into(),
                    args: vec![],
                }),
                OscPacket::Bundle(rosc::OscBundle {
                    timetag: rosc::OscTime {
                        seconds: 0,
                        fractional: 1,
                    },
                    content: vec![OscPacket::Message(OscMessage {
                        addr: "/b".into(),
                        args: vec![],
                    })],
                }),
            ],
        }))
        .unwrap();
        let all = decode(&bundle).unwrap();
        assert_eq!(
            all.iter().map(|m| m.addr.as_str()).collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        assert!(decode(b"GO\r\n").is_none());
        assert!(decode(&[]).is_none());
        let full = msg("/nightscape/scene/start", vec![OscType::String("x".into())]);
        for cut in 0..full.len() {
            // Every truncation is refused or decoded, never a panic.
            let _ = decode(&full[..cut]);
        }
        assert!(decode(&vec![0u8; MAX_DATAGRAM + 1]).is_none());
        let mut deep = b"/a\0\0,".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 1000));
        deep.extend(std::iter::repeat_n(b']', 1000));
        assert!(decode(&deep).is_none());
    }

    #[test]
    fn faders_coalesce_other_addresses_do_not() {
        assert!(coalescable("/nightscape/master"));
        assert!(coalescable("/nightscape/group/bridge/level"));
        assert!(coalescable("/nightscape/group/bridge/color"));
        assert!(!coalescable("/nightscape/scene/start"));
        assert!(!coalescable("/nightscape/blackout"));
    }
}
