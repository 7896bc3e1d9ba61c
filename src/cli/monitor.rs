//! `nightscape monitor`: listen for Art-Net and sACN on this machine and
//! print, per universe, the frame rate, interval p50/p99/max, sequence gaps
//! and changed-frame rate over a window. For installers checking a node's
//! feed on site, and for measuring the daemon itself (docs/performance.md).
//!
//! Each listening socket has its own thread and its own statistics (no lock
//! per packet); they are merged when the window ends. Sockets ask for a
//! large receive buffer so a burst of thousands of universes is not dropped
//! by the kernel before we read it; drops the kernel still counts are
//! reported from /proc/net/udp where there is one.
//!
//! At 10,000 universes a sender puts 400,000 datagrams a second on the
//! wire. Read one by one, each costs the kernel a delivery (an skb queued,
//! a wake-up, a system call) and the monitor cannot keep up. So on Unix the
//! socket asks for UDP GRO (Linux ≥ 5.0): the daemon sends up to 122
//! ArtDmx (64 on older kernels) to one node per system call (UDP GSO), and with GRO
//! at the receiver the kernel delivers such a batch as one buffer instead of
//! cutting it up — on loopback that work is charged to the sender, so
//! the measuring tool would otherwise slow down what it measures. Reads
//! take up to `quinn_udp::BATCH_SIZE` buffers per system call (recvmmsg);
//! each buffer is split at the datagram size the kernel reports (`stride`)
//! and every datagram counted as before. A datagram's arrival time is the
//! kernel's receive timestamp where there is one (the monitor's own
//! scheduling delays do not show up as the sender's jitter), else the time
//! the read returned. Elsewhere, or with `--plain`, one `recv` per datagram.

use anyhow::{bail, Context, Result};
use clap::Args;
use nightscape_core::monitor::Monitor;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

#[derive(Args, Debug)]
pub(crate) struct MonitorArgs {
    /// Where to listen (repeatable); each socket takes Art-Net and sACN.
    /// Default: 127.0.0.1:6454 (Art-Net) and 127.0.0.1:5568 (sACN).
    #[arg(long)]
    pub listen: Vec<SocketAddr>,
    /// How long to measure.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Read one datagram per system call, without GRO or batching (the
    /// path of systems without them; for comparing the two).
    #[arg(long, hide = true)]
    pub plain: bool,
}

/// The receive buffer each socket asks for (the kernel doubles it for its
/// bookkeeping): several frames of 10,000 universes (5.3 MB of ArtDmx
/// each), so a reader that stalls for a moment loses nothing.
const RECV_BUFFER: usize = 32 << 20;

/// How often a waiting reader looks at the clock: the window's end is
/// noticed within this much.
const TICK: Duration = Duration::from_millis(50);

pub fn monitor(args: &MonitorArgs) -> Result<i32> {
    if args.format != "table" && args.format != "json" {
        bail!("--format must be table or json, not `{}`", args.format);
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 86_400.0) {
        bail!("--seconds must be more than 0 and at most a day");
    }
    let addrs = if args.listen.is_empty() {
        vec![
            SocketAddr::from(([127, 0, 0, 1], 6454)),
            SocketAddr::from(([127, 0, 0, 1], 5568)),
        ]
    } else {
        args.listen.clone()
    };
    let mut receivers = Vec::new();
    for a in &addrs {
        let s = bind(*a).with_context(|| format!("cannot listen on {a}"))?;
        eprintln!("listening on {}", s.local_addr()?);
        let r = Receiver::new(s, args.plain);
        eprintln!("  reading {}", r.describe());
        receivers.push(r);
    }
    let window = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let wall_start = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let clock = Clock {
        start,
        wall_start,
        deadline: start + window,
    };
    let handles: Vec<_> = receivers
        .into_iter()
        .map(|r| std::thread::spawn(move || r.receive(&clock)))
        .collect();
    let mut total = Monitor::new();
    let mut drops = 0u64;
    for h in handles {
        let (m, d) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a receiver thread failed"))??;
        total.absorb(m);
        drops += d;
    }
    let report = total.report(args.seconds);
    if args.format == "json" {
        let mut v = serde_json::to_value(&report)?;
        v["socket_drops"] = drops.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.table());
        // With GRO the kernel drops (and counts) whole coalesced buffers.
        println!(
            "{drops} drops counted by the kernel at our sockets before we read them \
             (with UDP GRO one drop can be up to 122 packets; the sequence gaps show where packets were lost)"
        );
    }
    Ok(0)
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Share the port with a node or OLA listening on the same machine.
    s.set_reuse_address(true)?;
    // Bursts of thousands of 530-byte packets per frame: ask for 32 MiB.
    // The kernel caps that at net.core.rmem_max (often 208 KiB) unless we
    // may override it (CAP_NET_ADMIN, as the measuring scripts run).
    #[cfg(target_os = "linux")]
    let forced = rustix::net::sockopt::set_socket_recv_buffer_size_force(&s, RECV_BUFFER).is_ok();
    #[cfg(not(target_os = "linux"))]
    let forced = false;
    if !forced {
        let _ = s.set_recv_buffer_size(RECV_BUFFER);
    }
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(TICK))?;
    Ok(s)
}

/// The window and the two clocks arrival times are measured from.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    /// `start` on the wall clock (since the Unix epoch): kernel receive
    /// timestamps are wall-clock times.
    wall_start: Duration,
    deadline: Instant,
}

impl Clock {
    fn now_ns(&self) -> u64 {
        Instant::now().duration_since(self.start).as_nanos() as u64
    }

    /// A kernel receive timestamp as nanoseconds into the window.
    #[cfg(unix)]
    fn kernel_ns(&self, stamp: Option<Duration>) -> u64 {
        match stamp {
            Some(t) => t.saturating_sub(self.wall_start).as_nanos() as u64,
            None => self.now_ns(),
        }
    }
}

/// One listening socket and how it is read.
struct Receiver {
    socket: UdpSocket,
    /// GRO and batched reads, where the platform has them (the socket is
    /// then non-blocking).
    #[cfg(unix)]
    batched: Option<quinn_udp::UdpSocketState>,
}

/// Room for the largest GRO buffer: at most 64 KiB (122 ArtDmx from a
/// sender's GSO batch).
#[cfg(unix)]
const GRO_BUFFER: usize = 1 << 16;

impl Receiver {
    fn new(socket: UdpSocket, plain: bool) -> Receiver {
        #[cfg(unix)]
        {
            let batched = if plain {
                None
            } else {
                quinn_udp::UdpSocketState::new((&socket).into()).ok()
            };
            if batched.is_none() {
                // UdpSocketState may have made the socket non-blocking before failing.
                let _ = socket.set_nonblocking(false);
            }
            Receiver { socket, batched }
        }
        #[cfg(not(unix))]
        {
            let _ = plain;
            Receiver { socket }
        }
    }

    fn describe(&self) -> String {
        #[cfg(unix)]
        if let Some(state) = &self.batched {
            return match state.gro_segments() {
                1 => format!(
                    "{} datagrams per system call (no UDP GRO here)",
                    quinn_udp::BATCH_SIZE
                ),
                n => format!(
                    "{} buffers per system call, each up to {n} datagrams (UDP GRO)",
                    quinn_udp::BATCH_SIZE
                ),
            };
        }
        "one datagram per system call".to_string()
    }

    /// Read until the window ends; the statistics and the kernel's drop
    /// count for the socket. Says on stderr how the datagrams came in.
    fn receive(self, clock: &Clock) -> Result<(Monitor, u64)> {
        let mut m = Monitor::new();
        let mut reads = Reads::default();
        #[cfg(unix)]
        match &self.batched {
            Some(state) => receive_batched(&self.socket, state, clock, &mut m, &mut reads)?,
            None => receive_plain(&self.socket, clock, &mut m, &mut reads)?,
        }
        #[cfg(not(unix))]
        receive_plain(&self.socket, clock, &mut m, &mut reads)?;
        let local = self.socket.local_addr()?;
        eprintln!(
            "{local}: {} datagrams in {} buffers from {} reads (at most {} datagrams in one buffer)",
            reads.datagrams, reads.buffers, reads.calls, reads.most_in_buffer
        );
        Ok((m, kernel_drops(local)))
    }
}

/// How the datagrams came in: to see that batching and GRO worked.
#[derive(Default)]
struct Reads {
    datagrams: u64,
    buffers: u64,
    /// System calls that returned data.
    calls: u64,
    most_in_buffer: u64,
}

impl Reads {
    fn buffer(&mut self, datagrams: u64) {
        self.datagrams += datagrams;
        self.buffers += 1;
        self.most_in_buffer = self.most_in_buffer.max(datagrams);
    }
}

fn quiet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// One blocking `recv` per datagram, with the read timeout as the tick.
fn receive_plain(
    s: &UdpSocket,
    clock: &Clock,
    m: &mut Monitor,
    reads: &mut Reads,
) -> std::io::Result<()> {
    let mut buf = [0u8; 2048];
    while Instant::now() < clock.deadline {
        match s.recv(&mut buf) {
            Ok(n) => {
                m.record(&buf[..n], clock.now_ns());
                reads.calls += 1;
                reads.buffer(1);
            }
            Err(e) if quiet(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Batched, GRO-coalesced reads on the non-blocking socket; `poll` waits
/// when it is empty, so the last reads of a burst are never held back
/// waiting for more (a blocking recvmmsg would wait to fill every buffer).
#[cfg(unix)]
fn receive_batched(
    s: &UdpSocket,
    state: &quinn_udp::UdpSocketState,
    clock: &Clock,
    m: &mut Monitor,
    reads: &mut Reads,
) -> std::io::Result<()> {
    use quinn_udp::{RecvMeta, BATCH_SIZE};
    use std::io::IoSliceMut;
    let mut storage = vec![0u8; GRO_BUFFER * BATCH_SIZE];
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    loop {
        let now = Instant::now();
        if now >= clock.deadline {
            break;
        }
        let read = {
            let mut chunks = storage.chunks_mut(GRO_BUFFER);
            let mut bufs: [IoSliceMut; BATCH_SIZE] =
                std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
            state.recv(s.into(), &mut bufs, &mut meta)
        };
        match read {
            Ok(n) => {
                reads.calls += 1;
                for (buf, meta) in storage.chunks(GRO_BUFFER).zip(&meta[..n]) {
                    let bytes = &buf[..meta.len.min(buf.len())];
                    m.record_segments(bytes, meta.stride, clock.kernel_ns(meta.timestamp));
                    reads.buffer(match meta.stride {
                        0 => 1,
                        s => bytes.len().div_ceil(s).max(1) as u64,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_readable(s, (clock.deadline - now).min(TICK))?
            }
            Err(e) if quiet(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Wait until `s` has a datagram or `timeout` passes.
#[cfg(unix)]
fn wait_readable(s: &UdpSocket, timeout: Duration) -> std::io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: TICK.as_nanos() as _,
    });
    let mut fds = [PollFd::new(s, PollFlags::IN)];
    match poll(&mut fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The kernel's drop counter of our socket (Linux /proc/net/udp), 0 when
/// unknown.
fn kernel_drops(local: SocketAddr) -> u64 {
    let SocketAddr::V4(v4) = local else {
        return 0;
    };
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let Ok(text) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&want.as_str()))
                .then(|| f.last().and_then(|d| d.parse::<u64>().ok()))
                .flatten()
        })
        .sum()
}
