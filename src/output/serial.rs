//! Serial DMX widgets on their own threads: the machinery shared by the
//! ENTTEC DMX USB Pro and Open DMX drivers ([`enttec`](super::enttec)).
//!
//! A serial write blocks (a 513-slot DMX frame is ~22.7 ms on the line, and
//! a USB widget that hangs can block longer), so a serial output never
//! writes on the frame loop's thread, nor on an async worker. Its `send`
//! copies the universe into a one-frame mailbox, latest wins, and returns;
//! the output's own thread takes the newest frame and writes it. Frames the
//! thread could not keep up with are replaced, never queued, so a slow
//! widget shows an older look for a moment and never a growing delay.
//!
//! The thread owns the port. When a write fails (the widget was unplugged,
//! the USB hub lost power) it reports `down` with the error, closes the
//! port and reopens it with backoff (0.5 s doubling to 10 s), then writes
//! the newest frame at once and reports `ok` again, counting a reconnect.
//! Opening and the bytes on the wire are behind two small traits,
//! [`Opener`] and [`Link`], so the retry state machine is tested with fakes
//! and the framing with a pty pair.

use super::{DeviceInfo, Output, OutputHealth, DEGRADED, DOWN, OK};
use crate::engine::Frame;
use crate::site::UNIVERSE_SIZE;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bytes-and-break interface a driver writes to: a serial port, or a
/// fake in tests.
pub trait Link: Send {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Read what has arrived, waiting at most the port's timeout (about
    /// 100 ms); `Ok(0)` if nothing came.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Wait until everything written has left the host (tcdrain).
    fn drain(&mut self) -> io::Result<()>;
    /// Hold the line in break (`true`) or release it.
    fn set_break(&mut self, on: bool) -> io::Result<()>;
}

/// Opens (and after a failure, reopens) the port.
pub trait Opener: Send {
    fn open(&mut self) -> Result<Box<dyn Link>, String>;
    /// The port's name, for health and messages.
    fn name(&self) -> String;
}

/// What a driver learnt when the port opened.
#[derive(Debug, Clone, Default)]
pub struct Hello {
    pub device: Option<DeviceInfo>,
    /// Set when the device did not answer as expected: the output keeps
    /// writing, but reports `degraded` with this message.
    pub problem: Option<String>,
}

/// One widget's protocol: what to say on open, how to write a frame.
pub trait Driver: Send {
    fn kind(&self) -> super::Protocol;
    /// Called after every successful open. An `Err` counts as a failed open.
    fn hello(&mut self, link: &mut dyn Link) -> io::Result<Hello>;
    fn write_frame(&mut self, link: &mut dyn Link, slots: &[u8; UNIVERSE_SIZE]) -> io::Result<()>;
    /// Write the last frame again after this long without a new one. Open
    /// DMX needs a continuous stream; the Pro repeats by itself, so its
    /// refresh only notices an unplugged widget when frames stop coming.
    fn refresh(&self) -> Duration;
    /// Anything the driver measured while writing (Open DMX break timing),
    /// merged into the health after each frame.
    fn measured(&self) -> Option<DeviceInfo> {
        None
    }
}

/// A real serial port, opened through `serialport`.
pub struct PortOpener {
    path: String,
    baud: u32,
    stop_bits: serialport::StopBits,
}

impl PortOpener {
    /// The Pro is a USB device behind an FTDI FIFO: the baud rate is not
    /// used on the wire, any value works.
    pub fn enttec_pro(path: &str) -> PortOpener {
        PortOpener {
            path: path.to_string(),
            baud: 115_200,
            stop_bits: serialport::StopBits::One,
        }
    }

    /// Open DMX is a bare FTDI UART: DMX512 is 250 kbaud, 8N2.
    pub fn open_dmx(path: &str) -> PortOpener {
        PortOpener {
            path: path.to_string(),
            baud: 250_000,
            stop_bits: serialport::StopBits::Two,
        }
    }
}

impl Opener for PortOpener {
    fn open(&mut self) -> Result<Box<dyn Link>, String> {
        // DTR/RTS are left alone (`dtr_on_open` unset): the widgets do not
        // use them, and ptys reject the modem-line ioctls with ENOTTY.
        serialport::new(&self.path, self.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(self.stop_bits)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .map(|p| Box::new(SerialLink(p)) as Box<dyn Link>)
            .map_err(|e| format!("cannot open {}: {e}", self.path))
    }

    fn name(&self) -> String {
        self.path.clone()
    }
}

struct SerialLink(Box<dyn serialport::SerialPort>);

impl Link for SerialLink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    fn set_break(&mut self, on: bool) -> io::Result<()> {
        let r = if on {
            self.0.set_break()
        } else {
            self.0.clear_break()
        };
        r.map_err(io::Error::from)
    }
}

/// Timing of the serial thread.
#[derive(Debug, Clone, Copy)]
pub struct SerialSettings {
    /// First wait before reopening a lost port; doubles each failure.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long `stop` waits for the thread to write its last frame and
    /// close the port before leaving it behind.
    pub stop_timeout: Duration,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(1),
        }
    }
}

/// Retry delays: `min`, doubling, capped at `max`; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// The one-frame mailbox between `send` and the thread.
struct Slot {
    frame: Box<[u8; UNIVERSE_SIZE]>,
    fresh: bool,
    stop: bool,
}

struct Mailbox {
    slot: Mutex<Slot>,
    cv: Condvar,
}

enum Wake {
    Fresh,
    Stop,
    Timeout,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, data: &[u8; UNIVERSE_SIZE]) {
        let mut s = self.lock();
        s.frame.copy_from_slice(data);
        s.fresh = true;
        drop(s);
        self.cv.notify_one();
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.cv.notify_one();
    }

    /// Wait for a new frame (copied into `out`), a stop, or `until`. A
    /// frame given before the stop is delivered first, so the last frame
    /// the daemon sends reaches the widget.
    fn wait(&self, until: Instant, out: &mut [u8; UNIVERSE_SIZE]) -> Wake {
        let mut s = self.lock();
        loop {
            if s.fresh {
                out.copy_from_slice(&s.frame[..]);
                s.fresh = false;
                return Wake::Fresh;
            }
            if s.stop {
                return Wake::Stop;
            }
            let now = Instant::now();
            if now >= until {
                return Wake::Timeout;
            }
            s = match self.cv.wait_timeout(s, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Sleep until `until` unless stopped; new frames stay in the slot.
    /// True if stop was asked.
    fn sleep(&self, until: Instant) -> bool {
        let mut s = self.lock();
        loop {
            if s.stop {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            s = match self.cv.wait_timeout(s, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// A serial widget output: the handle the frame loop holds.
pub struct SerialOutput {
    universe: u16,
    mailbox: Arc<Mailbox>,
    health: Arc<Mutex<OutputHealth>>,
    thread: Option<JoinHandle<()>>,
    done: Option<mpsc::Receiver<()>>,
    stop_timeout: Duration,
}

impl SerialOutput {
    /// Start the thread for `universe` (a site universe). The port is
    /// opened on the thread; until it opens the output reports `down`.
    pub fn start(
        opener: Box<dyn Opener>,
        driver: Box<dyn Driver>,
        universe: u16,
        settings: SerialSettings,
    ) -> io::Result<SerialOutput> {
        let health = Arc::new(Mutex::new(OutputHealth {
            kind: driver.kind(),
            target: opener.name(),
            universes: vec![universe],
            state: DOWN,
            last_error: Some("not opened yet".into()),
            ..Default::default()
        }));
        let mailbox = Arc::new(Mailbox {
            slot: Mutex::new(Slot {
                frame: Box::new([0; UNIVERSE_SIZE]),
                fresh: false,
                stop: false,
            }),
            cv: Condvar::new(),
        });
        let (done_tx, done_rx) = mpsc::channel();
        let worker = Worker {
            opener,
            driver,
            mailbox: mailbox.clone(),
            health: health.clone(),
            settings,
        };
        let name = format!("dmx-{}", worker.driver.kind());
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            worker.run();
            // Dropping the sender tells `stop` we are done.
            drop(done_tx);
        })?;
        Ok(SerialOutput {
            universe,
            mailbox,
            health,
            thread: Some(thread),
            done: Some(done_rx),
            stop_timeout: settings.stop_timeout,
        })
    }
}

impl Output for SerialOutput {
    fn send(&mut self, frame: &Frame) {
        match frame.universe(self.universe) {
            Some(d) => self.mailbox.put(d),
            None => self.mailbox.put(&[0; UNIVERSE_SIZE]),
        }
    }

    fn health(&self) -> OutputHealth {
        lock(&self.health).clone()
    }

    fn stop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        self.mailbox.stop();
        match done.recv_timeout(self.stop_timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // A write stuck in the kernel: leave the thread behind
                // rather than hold up shutdown; the process exit ends it.
                let mut h = lock(&self.health);
                h.last_error = Some(format!(
                    "the serial thread did not finish within {:?}",
                    self.stop_timeout
                ));
                self.thread = None;
            }
            _ => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Drop for SerialOutput {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(h: &Mutex<OutputHealth>) -> MutexGuard<'_, OutputHealth> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

struct Worker {
    opener: Box<dyn Opener>,
    driver: Box<dyn Driver>,
    mailbox: Arc<Mailbox>,
    health: Arc<Mutex<OutputHealth>>,
    settings: SerialSettings,
}

impl Worker {
    fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
        let mut link: Option<Box<dyn Link>> = None;
        let mut frame = Box::new([0u8; UNIVERSE_SIZE]);
        // Nothing is written before the daemon's first frame: zeros at
        // start-up would blink a street that the nodes are holding.
        let mut have_frame = false;
        let mut opened_before = false;
        let mut write_now = false;
        let mut last_write = Instant::now();
        loop {
            let Some(port) = link.as_mut() else {
                match self.open() {
                    Ok(l) => {
                        if opened_before {
                            lock(&self.health).reconnects += 1;
                        }
                        opened_before = true;
                        backoff.reset();
                        link = Some(l);
                        // Bring a replugged widget up to date at once.
                        write_now = have_frame;
                    }
                    Err(e) => {
                        {
                            let mut h = lock(&self.health);
                            h.state = DOWN;
                            h.last_error = Some(e);
                        }
                        let wait = backoff.next_delay();
                        if self.mailbox.sleep(Instant::now() + wait) {
                            return;
                        }
                    }
                }
                continue;
            };
            let until = if write_now {
                Instant::now()
            } else {
                last_write + self.driver.refresh()
            };
            write_now = false;
            match self.mailbox.wait(until, &mut frame) {
                Wake::Fresh => have_frame = true,
                Wake::Stop => return,
                Wake::Timeout if !have_frame => {
                    last_write = Instant::now();
                    continue;
                }
                Wake::Timeout => {}
            }
            let result = self.driver.write_frame(port.as_mut(), &frame);
            last_write = Instant::now();
            let mut h = lock(&self.health);
            match result {
                Ok(()) => {
                    h.frames_sent += 1;
                    h.packets_sent += 1;
                    if let Some(m) = self.driver.measured() {
                        h.device = Some(m);
                    }
                }
                Err(e) => {
                    h.send_errors += 1;
                    h.state = DOWN;
                    h.last_error = Some(format!("write to {}: {e}", self.opener.name()));
                    drop(h);
                    // Closing the port lets the device node go away and
                    // come back (a replugged USB widget); reopen below.
                    link = None;
                    let wait = backoff.next_delay();
                    if self.mailbox.sleep(Instant::now() + wait) {
                        return;
                    }
                }
            }
        }
    }

    /// Open the port and greet the device; sets the health on success.
    fn open(&mut self) -> Result<Box<dyn Link>, String> {
        let mut link = self.opener.open()?;
        let hello = self
            .driver
            .hello(link.as_mut())
            .map_err(|e| format!("{} opened, then: {e}", self.opener.name()))?;
        let mut h = lock(&self.health);
        h.device = hello.device;
        match hello.problem {
            Some(p) => {
                h.state = DEGRADED;
                h.last_error = Some(p);
            }
            None => {
                h.state = OK;
                h.last_error = None;
            }
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let got: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
        // A cap below the start is raised to it rather than shrinking.
        let mut odd = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(odd.next_delay(), Duration::from_secs(2));
        assert_eq!(odd.next_delay(), Duration::from_secs(2));
    }

    /// What the fake port saw, shared with the test.
    #[derive(Default)]
    struct Wire {
        frames: Mutex<Vec<u8>>,
        unplugged: AtomicBool,
        opens: AtomicUsize,
        failed_opens: AtomicUsize,
    }

    struct FakeLink(Arc<Wire>);
    impl Link for FakeLink {
        fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            if self.0.unplugged.load(Ordering::SeqCst) {
                return Err(io::Error::other("device gone (EIO)"));
            }
            // The fake driver writes one byte per frame: the first slot.
            self.0.frames.lock().unwrap().push(bytes[0]);
            Ok(())
        }
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn drain(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn set_break(&mut self, _: bool) -> io::Result<()> {
            Ok(())
        }
    }

    struct FakeOpener(Arc<Wire>);
    impl Opener for FakeOpener {
        fn open(&mut self) -> Result<Box<dyn Link>, String> {
            if self.0.unplugged.load(Ordering::SeqCst) {
                self.0.failed_opens.fetch_add(1, Ordering::SeqCst);
                return Err("cannot open /dev/fake: No such file or directory".into());
            }
            self.0.opens.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(FakeLink(self.0.clone())))
        }
        fn name(&self) -> String {
            "/dev/fake".into()
        }
    }

    struct FakeDriver;
    impl Driver for FakeDriver {
        fn kind(&self) -> crate::output::Protocol {
            crate::output::Protocol::EnttecPro
        }
        fn hello(&mut self, _: &mut dyn Link) -> io::Result<Hello> {
            Ok(Hello {
                device: Some(DeviceInfo {
                    serial: Some("00000001".into()),
                    ..Default::default()
                }),
                problem: None,
            })
        }
        fn write_frame(
            &mut self,
            link: &mut dyn Link,
            slots: &[u8; UNIVERSE_SIZE],
        ) -> io::Result<()> {
            link.write_all(&slots[..1])
        }
        fn refresh(&self) -> Duration {
            Duration::from_secs(60)
        }
    }

    fn frame(u: u16, v: u8) -> Frame {
        Frame {
            universes: vec![u],
            data: vec![[v; UNIVERSE_SIZE]],
        }
    }

    /// Poll `cond` for up to 5 s; bounded so a bug fails instead of hanging.
    fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn fast() -> SerialSettings {
        SerialSettings {
            backoff_min: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            stop_timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn unplug_goes_down_retries_and_resumes_with_the_newest_frame() {
        let wire = Arc::new(Wire::default());
        let mut out = SerialOutput::start(
            Box::new(FakeOpener(wire.clone())),
            Box::new(FakeDriver),
            7,
            fast(),
        )
        .unwrap();
        eventually("open", || out.health().state == OK);
        assert_eq!(
            out.health().device.unwrap().serial.as_deref(),
            Some("00000001")
        );
        out.send(&frame(7, 1));
        eventually("frame 1", || wire.frames.lock().unwrap().as_slice() == [1]);

        // Unplug: the next write fails, the output goes down and retries.
        wire.unplugged.store(true, Ordering::SeqCst);
        out.send(&frame(7, 2));
        eventually("down", || out.health().state == DOWN);
        eventually("retries", || wire.failed_opens.load(Ordering::SeqCst) >= 3);
        let h = out.health();
        assert_eq!(h.send_errors, 1);
        assert!(
            h.last_error.unwrap().contains("No such file"),
            "{:?}",
            out.health()
        );
        // Frames keep coming while it is down; only the newest survives.
        for v in 3..=9 {
            out.send(&frame(7, v));
        }

        // Replug: it reopens by itself and writes the newest frame at once.
        wire.unplugged.store(false, Ordering::SeqCst);
        eventually("resumed", || wire.frames.lock().unwrap().last() == Some(&9));
        let h = out.health();
        assert_eq!(h.state, OK);
        assert_eq!(h.reconnects, 1);
        assert_eq!(h.last_error, None);
        assert_eq!(wire.opens.load(Ordering::SeqCst), 2);
        assert_eq!(*wire.frames.lock().unwrap(), [1, 9]);
        out.stop();
    }

    #[test]
    fn missing_port_at_start_is_down_not_an_error() {
        let wire = Arc::new(Wire::default());
        wire.unplugged.store(true, Ordering::SeqCst);
        let mut out = SerialOutput::start(
            Box::new(FakeOpener(wire.clone())),
            Box::new(FakeDriver),
            0,
            fast(),
        )
        .unwrap();
        out.send(&frame(0, 5));
        eventually("a failed open", || {
            wire.failed_opens.load(Ordering::SeqCst) >= 1
        });
        assert_eq!(out.health().state, DOWN);
        wire.unplugged.store(false, Ordering::SeqCst);
        eventually("first frame", || {
            wire.frames.lock().unwrap().as_slice() == [5]
        });
        // Coming up the first time is not a reconnect.
        assert_eq!(out.health().reconnects, 0);
        out.stop();
    }

    #[test]
    fn send_never_waits_for_the_port_and_stop_writes_the_last_frame() {
        /// A link whose writes take 50 ms, like a slow widget.
        struct Slow(Arc<Wire>);
        impl Link for Slow {
            fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
                std::thread::sleep(Duration::from_millis(50));
                self.0.frames.lock().unwrap().push(bytes[0]);
                Ok(())
            }
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn drain(&mut self) -> io::Result<()> {
                Ok(())
            }
            fn set_break(&mut self, _: bool) -> io::Result<()> {
                Ok(())
            }
        }
        struct SlowOpener(Arc<Wire>);
        impl Opener for SlowOpener {
            fn open(&mut self) -> Result<Box<dyn Link>, String> {
                Ok(Box::new(Slow(self.0.clone())))
            }
            fn name(&self) -> String {
                "/dev/slow".into()
            }
        }
        let wire = Arc::new(Wire::default());
        let mut out = SerialOutput::start(
            Box::new(SlowOpener(wire.clone())),
            Box::new(FakeDriver),
            1,
            fast(),
        )
        .unwrap();
        eventually("open", || out.health().state == OK);
        // 200 sends in a row: each only fills the mailbox. Their total time
        // is not asserted (no timing assertions); what is checked is that
        // they were not queued: far fewer than 200 writes happen.
        for v in 0..200u8 {
            out.send(&frame(1, v));
        }
        out.send(&frame(1, 250));
        out.stop();
        let frames = wire.frames.lock().unwrap().clone();
        assert_eq!(
            frames.last(),
            Some(&250),
            "the last frame is written on stop"
        );
        assert!(
            frames.len() < 20,
            "{} writes: frames were queued",
            frames.len()
        );
    }
}
