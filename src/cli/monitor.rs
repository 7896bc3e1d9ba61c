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

use crate::monitor::Monitor;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct MonitorArgs {
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
}

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
    let mut sockets = Vec::new();
    for a in &addrs {
        let s = bind(*a).with_context(|| format!("cannot listen on {a}"))?;
        eprintln!("listening on {}", s.local_addr()?);
        sockets.push(s);
    }
    let window = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let deadline = start + window;
    let handles: Vec<_> = sockets
        .into_iter()
        .map(|s| std::thread::spawn(move || receive(s, start, deadline)))
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
        println!("{drops} packets dropped by the kernel before we read them");
    }
    Ok(0)
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Share the port with a node or OLA listening on the same machine.
    s.set_reuse_address(true)?;
    // Bursts of thousands of 530-byte packets per frame: ask for 32 MiB
    // (the kernel caps it at net.core.rmem_max).
    let _ = s.set_recv_buffer_size(32 << 20);
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(s)
}

fn receive(s: UdpSocket, start: Instant, deadline: Instant) -> Result<(Monitor, u64)> {
    let mut m = Monitor::new();
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match s.recv(&mut buf) {
            Ok(n) => {
                let at = Instant::now().duration_since(start).as_nanos() as u64;
                m.record(&buf[..n], at);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let drops = s.local_addr().map(kernel_drops).unwrap_or(0);
    Ok((m, drops))
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
