//! A network output on its own thread, fed by the frame loop through a
//! double buffer: the loop hands each frame over as soon as it is built,
//! with its deadline ([`Output::send_at`]), copied into a spare buffer or,
//! when this is the frame's only consumer, swapped for one (at 1,000
//! universes the copy was a twentieth of the daemon's time); latest wins.
//! The output thread builds the packets while the frame waits, then wakes
//! on the deadline itself and only makes the system calls: the wire's
//! timing is one timer wake-up, not the frame loop's wake-up and then this
//! thread's, and at 10,000 universes 5 MB of packet building stays out of
//! the send. At thousands of universes the kernel's time per packet is
//! most of a frame; on its own thread it overlaps with rendering the next
//! frame instead of adding to it, on a second core.
//!
//! Small outputs (a few universes) stay on the frame loop: for them a
//! thread hand-off costs more than the sends.
//!
//! Nothing is allocated per frame: the frame buffers and the health
//! snapshot are reused. If the thread is still busy with the previous frame
//! when the next arrives, the pending one is replaced (counted in the log
//! only by the frames a receiver does not see; the loop never waits).

use super::{Output, OutputHealth};
use nightscape_core::engine::Frame;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a frame handed over for a deadline is held back.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// Outputs carrying at least this many universes get their own thread.
pub(crate) const THREADED_MIN_UNIVERSES: usize = 32;

/// Put `output` on its own thread if it carries enough universes.
pub(crate) fn maybe_threaded(output: Box<dyn Output>, universes: usize) -> Box<dyn Output> {
    if universes < THREADED_MIN_UNIVERSES {
        return output;
    }
    match OutputThread::start(output) {
        Ok(t) => Box::new(t),
        Err(output) => output,
    }
}

#[derive(Default)]
struct Slot {
    /// The frame waiting to be sent.
    pending: Option<Frame>,
    /// When the pending frame goes on the wire (None: at once).
    send_at: Option<Instant>,
    /// The thread is sending a frame.
    sending: bool,
    /// Buffers the loop may fill next. Three buffers in all (one being
    /// sent, one pending, one being filled or, swapped, the frame loop's)
    /// mean the loop always finds one.
    spares: Vec<Frame>,
    primed: bool,
    health: OutputHealth,
    stop: bool,
    /// The thread has stopped its output and is gone.
    done: bool,
    /// The Art-Net service's node liveness, for the thread to hand to its output.
    watch: Option<Arc<super::artpoll::NodeWatch>>,
}

struct Handoff {
    slot: Mutex<Slot>,
    wake: Condvar,
}

fn lock(h: &Handoff) -> std::sync::MutexGuard<'_, Slot> {
    h.slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// An output running on a thread of its own.
pub struct OutputThread {
    handoff: Arc<Handoff>,
    thread: Option<JoinHandle<()>>,
    /// The output's Art-Net target, read before it moved to the thread.
    artnet: Option<(std::net::SocketAddr, Vec<u16>)>,
}

impl OutputThread {
    /// Start the thread; gives the output back if no thread can be started.
    pub fn start(output: Box<dyn Output>) -> Result<OutputThread, Box<dyn Output>> {
        let artnet = output.artnet_target();
        let handoff = Arc::new(Handoff {
            slot: Mutex::new(Slot {
                health: output.health(),
                ..Slot::default()
            }),
            wake: Condvar::new(),
        });
        // The output moves into the thread; if spawning fails we need it
        // back, so it travels in a shared cell.
        let cell = Arc::new(Mutex::new(Some(output)));
        let (h, c) = (handoff.clone(), cell.clone());
        let spawned = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                // This thread puts frames on the wire: above request
                // handling, like the frame loop.
                let got = super::priority::raise_this_thread();
                tracing::debug!("output thread at {got}");
                let output = c.lock().ok().and_then(|mut o| o.take());
                if let Some(output) = output {
                    run(output, &h);
                }
            });
        match spawned {
            Ok(thread) => Ok(OutputThread {
                handoff,
                thread: Some(thread),
                artnet,
            }),
            Err(_) => match cell.lock().ok().and_then(|mut o| o.take()) {
                Some(o) => Err(o),
                None => Err(Box::new(Gone)),
            },
        }
    }
}

fn run(mut output: Box<dyn Output>, h: &Handoff) {
    let mut slot = lock(h);
    loop {
        if let Some(w) = slot.watch.take() {
            output.watch_nodes(&w);
        }
        if let Some(frame) = slot.pending.take() {
            let at = slot.send_at.take();
            slot.sending = true;
            drop(slot);
            // Packets are built while the frame waits for its deadline:
            // on the deadline only the system calls are left.
            output.prepare(&frame);
            if let Some(wait) = at.and_then(|at| at.checked_duration_since(Instant::now())) {
                // A deadline is within a period; never hold a frame longer.
                std::thread::sleep(wait.min(MAX_HOLD));
            }
            output.send_prepared(&frame);
            slot = lock(h);
            slot.sending = false;
            output.health_into(&mut slot.health);
            slot.spares.push(frame);
            // The frame loop may be waiting in `settle`.
            h.wake.notify_all();
            continue;
        }
        if slot.stop {
            drop(slot);
            output.stop();
            let mut slot = lock(h);
            output.health_into(&mut slot.health);
            slot.done = true;
            h.wake.notify_all();
            return;
        }
        slot = h.wake.wait(slot).unwrap_or_else(|p| p.into_inner());
    }
}

impl OutputThread {
    /// A buffer for the next frame: a spare, or the pending one the thread
    /// has not started on (latest wins). None once the thread is gone.
    fn take_buffer(&self, frame: &Frame) -> Option<Frame> {
        let mut slot = lock(&self.handoff);
        if slot.done {
            return None;
        }
        if !slot.primed {
            // All the buffers there will ever be, made once.
            slot.primed = true;
            slot.spares.reserve(3);
            slot.spares.push(frame.clone());
            slot.spares.push(frame.clone());
        }
        Some(
            slot.spares
                .pop()
                .or_else(|| slot.pending.take())
                .unwrap_or_else(|| frame.clone()),
        )
    }

    fn hand_over(&self, buf: Frame, at: Option<Instant>) {
        let mut slot = lock(&self.handoff);
        if let Some(old) = slot.pending.replace(buf) {
            slot.spares.push(old);
        }
        slot.send_at = at;
        self.handoff.wake.notify_all();
    }
}

impl Output for OutputThread {
    fn send(&mut self, frame: &Frame) {
        let Some(mut buf) = self.take_buffer(frame) else {
            return;
        };
        // Field by field: reuses the buffers' allocations.
        buf.universes.clone_from(&frame.universes);
        buf.data.clone_from(&frame.data);
        self.hand_over(buf, None);
    }

    fn on_own_thread(&self) -> bool {
        true
    }

    /// With `take`, the frame itself goes to the thread and the caller
    /// gets a spare (four buffers in all go round): no copy on the frame
    /// loop. A spare of another shape (the patch changed) is given back as
    /// it is; the frame builder makes a fresh one for the new patch.
    fn send_at(&mut self, frame: &mut Frame, at: Instant, take: bool) {
        let Some(mut buf) = self.take_buffer(frame) else {
            return;
        };
        if take {
            std::mem::swap(&mut buf, frame);
        } else {
            buf.universes.clone_from(&frame.universes);
            buf.data.clone_from(&frame.data);
        }
        self.hand_over(buf, Some(at));
    }

    fn health(&self) -> OutputHealth {
        lock(&self.handoff).health.clone()
    }

    fn settle(&self, until: std::time::Instant) {
        let mut slot = lock(&self.handoff);
        while (slot.pending.is_some() || slot.sending) && !slot.done {
            let Some(left) = until.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            slot = match self.handoff.wake.wait_timeout(slot, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn health_into(&self, out: &mut OutputHealth) {
        lock(&self.handoff).health.copy_into(out);
    }

    fn watch_nodes(&mut self, watch: &Arc<super::artpoll::NodeWatch>) {
        lock(&self.handoff).watch = Some(watch.clone());
        self.handoff.wake.notify_all();
    }

    fn artnet_target(&self) -> Option<(std::net::SocketAddr, Vec<u16>)> {
        self.artnet.clone()
    }

    /// Let the thread send what it was given, then stop the output there
    /// (sACN termination) and join it.
    fn stop(&mut self) {
        {
            let mut slot = lock(&self.handoff);
            slot.stop = true;
            self.handoff.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OutputThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stand-in when neither a thread nor the output could be had back.
struct Gone;

impl Output for Gone {
    fn send(&mut self, _frame: &Frame) {}
    fn health(&self) -> OutputHealth {
        OutputHealth::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output whose sends take as long as it is told.
    struct Slow(std::time::Duration, Arc<Mutex<u32>>);

    impl Output for Slow {
        fn send(&mut self, _frame: &Frame) {
            std::thread::sleep(self.0);
            *self.1.lock().unwrap() += 1;
        }
        fn health(&self) -> OutputHealth {
            OutputHealth::default()
        }
    }

    /// `settle` returns once the thread has sent what it was handed, and
    /// no later than its bound when the send takes longer.
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn settle_waits_for_the_send_but_not_past_its_bound() {
        use std::time::{Duration, Instant};
        let frame = Frame {
            universes: vec![0],
            data: vec![[0; UNIVERSE_SIZE]],
        };
        let sent = Arc::new(Mutex::new(0));
        let mut t = OutputThread::start(Box::new(Slow(Duration::from_millis(30), sent.clone())))
            .ok()
            .unwrap();
        t.send(&frame);
        t.settle(Instant::now() + Duration::from_secs(10));
        assert_eq!(*sent.lock().unwrap(), 1, "settled before the send finished");
        // A send far longer than the bound: settle gives up at the bound.
        let sent = Arc::new(Mutex::new(0));
        let mut t = OutputThread::start(Box::new(Slow(Duration::from_secs(3), sent.clone())))
            .ok()
            .unwrap();
        t.send(&frame);
        let began = Instant::now();
        t.settle(began + Duration::from_millis(50));
        assert_eq!(*sent.lock().unwrap(), 0);
        assert!(began.elapsed() < Duration::from_secs(3));
        t.stop();
        assert_eq!(*sent.lock().unwrap(), 1);
    }
    use crate::output::artnet::ArtNetOutput;
    use nightscape_core::site::UNIVERSE_SIZE;
    use nightscape_core::wire::artnet::parse_artdmx;
    use std::net::UdpSocket;

    #[test]
    fn frames_go_out_from_the_thread_in_order_and_stop_joins() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let out = ArtNetOutput::open(rx.local_addr().unwrap(), vec![0, 1], false).unwrap();
        let mut t = OutputThread::start(Box::new(out)).ok().unwrap();
        let frame = |v: u8| Frame {
            universes: vec![0, 1],
            data: vec![[v; UNIVERSE_SIZE]; 2],
        };
        t.send(&frame(7));
        let mut b = [0u8; 1024];
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = rx.recv(&mut b).unwrap();
            let (seq, _, pa, d) = parse_artdmx(&b[..n]).unwrap();
            got.push((seq, pa, d[0]));
        }
        assert_eq!(got, [(1, 0, 7), (1, 1, 7)]);
        // Settled: the frame is out (health counts both packets).
        t.settle(std::time::Instant::now() + std::time::Duration::from_secs(5));
        assert_eq!(t.health().packets_sent, 2);
        t.stop();
        assert_eq!(t.health().packets_sent, 2);
        // After stop nothing more is sent.
        t.send(&frame(9));
        rx.set_nonblocking(true).unwrap();
        assert!(rx.recv(&mut b).is_err());
    }

    /// Taking the frame instead of copying it: each frame handed over goes
    /// on the wire with its own bytes, and the caller always gets back a
    /// buffer of the frame's shape (from the first frame on), so the buffers
    /// go round without one being made per frame.
    #[test]
    fn a_taken_frame_is_sent_and_a_spare_of_its_shape_comes_back() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let out = ArtNetOutput::open(rx.local_addr().unwrap(), vec![3, 4], false).unwrap();
        let mut t = OutputThread::start(Box::new(out)).ok().unwrap();
        let mut frame = Frame {
            universes: vec![3, 4],
            data: vec![[0; UNIVERSE_SIZE]; 2],
        };
        let mut b = [0u8; 1024];
        let mut buffers = std::collections::BTreeSet::new();
        for v in 1..=6u8 {
            // What a build does: every byte written.
            frame.data[0].fill(v);
            frame.data[1].fill(v + 100);
            buffers.insert(frame.data.as_ptr() as usize);
            t.send_at(&mut frame, std::time::Instant::now(), true);
            assert_eq!(frame.universes, [3, 4], "frame {v}");
            assert_eq!(frame.data.len(), 2, "frame {v}");
            for k in 0..2u16 {
                let n = rx.recv(&mut b).unwrap();
                let (seq, _, pa, d) = parse_artdmx(&b[..n]).unwrap();
                let want = if k == 0 { v } else { v + 100 };
                assert_eq!((seq, pa), (v, 3 + k), "frame {v}");
                assert!(d.iter().all(|&x| x == want), "frame {v} universe {pa}");
            }
            t.settle(std::time::Instant::now() + std::time::Duration::from_secs(5));
        }
        // The frame's own buffer and the thread's spares, nothing more.
        assert!(buffers.len() <= 4, "{} buffers", buffers.len());
        t.stop();
    }

    /// A frame handed over for a deadline is on the wire no sooner than
    /// the deadline, with its own bytes and the next sequence number; the
    /// caller's copy is left as it was when it is not taken.
    #[test]
    fn a_frame_handed_over_early_goes_out_on_its_deadline() {
        use std::time::{Duration, Instant};
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let out = ArtNetOutput::open(rx.local_addr().unwrap(), vec![0], false).unwrap();
        let mut t = OutputThread::start(Box::new(out)).ok().unwrap();
        let mut b = [0u8; 1024];
        for (k, hold) in [150u64, 0, 80].into_iter().enumerate() {
            let v = k as u8 + 1;
            let mut frame = Frame {
                universes: vec![0],
                data: vec![[v; UNIVERSE_SIZE]],
            };
            let at = Instant::now() + Duration::from_millis(hold);
            t.send_at(&mut frame, at, false);
            assert!(frame.data[0].iter().all(|&x| x == v), "not taken");
            let n = rx.recv(&mut b).unwrap();
            let arrived = Instant::now();
            assert!(arrived >= at, "frame {v} went out {:?} early", at - arrived);
            let (seq, _, pa, d) = parse_artdmx(&b[..n]).unwrap();
            assert_eq!((seq, pa), (v, 0));
            assert!(d.iter().all(|&x| x == v), "frame {v}");
            t.settle(Instant::now() + Duration::from_secs(5));
        }
        t.stop();
    }
}
