//! UDP strings in: a socket per `[[inputs]] kind = "udp"`, whose datagrams
//! fire the triggers that match them (`on = { udp = "GO*" }` or
//! `on = { hex = "02 47 03" }`) — a kiosk button, a PLC, a show computer
//! sending plain text.
//!
//! Like the OSC input: the sender must be allowed (loopback by default),
//! a datagram longer than 1 KiB is dropped, and matching runs on a worker
//! behind a bounded queue, so a flood costs dropped datagrams, counted.

use super::ops::Who;
use super::ShowControl;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

const MAX_DATAGRAM: usize = 1024;
const QUEUE: usize = 256;

/// One UDP input as the server needs it.
#[derive(Clone)]
pub struct UdpInput {
    pub name: String,
    pub listen: SocketAddr,
    pub allow: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
}

/// What a UDP input counted.
#[derive(Debug, Default)]
pub struct UdpStats {
    pub received: AtomicU64,
    pub not_allowed: AtomicU64,
    pub oversized: AtomicU64,
    pub dropped: AtomicU64,
    pub fired: AtomicU64,
}

/// Bind and serve `input`; the bound address and the counters.
pub async fn serve(
    input: UdpInput,
    sc: Arc<ShowControl>,
) -> std::io::Result<(SocketAddr, Arc<UdpStats>)> {
    serve_until(input, sc, std::future::pending()).await
}

/// [`serve`] until `stop` completes (the input was removed or changed on
/// reload): the socket closes then.
pub async fn serve_until(
    input: UdpInput,
    sc: Arc<ShowControl>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, Arc<UdpStats>)> {
    let sock = tokio::net::UdpSocket::bind(input.listen).await?;
    let bound = sock.local_addr()?;
    tracing::info!(input = %input.name, listen = %bound, "UDP input listening");
    let stats = Arc::new(UdpStats::default());
    let (tx, mut rx) = mpsc::channel::<(Vec<u8>, SocketAddr)>(QUEUE);
    let (name, st) = (input.name.clone(), stats.clone());
    crate::tasks::spawn(async move {
        while let Some((data, from)) = rx.recv().await {
            let who = Who {
                actor: name.clone(),
                remote: Some(from.to_string()),
            };
            let ev = nightscape_core::triggers::Event::Udp {
                input: &name,
                data: &data,
            };
            let n = sc.handle(ev, &who).await;
            st.fired.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    let st = stats.clone();
    crate::tasks::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut stop = std::pin::pin!(stop);
        loop {
            let got = tokio::select! {
                _ = &mut stop => break,
                got = sock.recv_from(&mut buf) => got,
            };
            let Ok((n, from)) = got else {
                continue;
            };
            st.received.fetch_add(1, Ordering::Relaxed);
            if !(input.allow)(from.ip()) {
                st.not_allowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if n > MAX_DATAGRAM {
                st.oversized.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if tx.try_send((buf[..n].to_vec(), from)).is_err() {
                st.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok((bound, stats))
}
