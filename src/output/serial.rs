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
//!
//! **RDM between frames.** A DMX USB Pro carries RDM too, but only one
//! party can own its port, and that is this thread. So device care
//! (`crate::rdm::care`) does not open the port: it hands each RDM request
//! (a widget label and its bytes) to the thread through [`RdmPort`], and
//! the thread puts it on the line after a frame, at most `per_frame` after
//! each frame written, one in flight at a time. While a request is in
//! flight the thread polls the port for the widget's answer (label 5 with
//! the reply, label 12 for silence) in 2 ms steps and keeps taking new
//! frames from the mailbox between polls, so a frame is never held behind
//! an RDM reply; the answer goes back to the requester on a channel. An
//! answer that comes after its request's time is dropped, never given to
//! the next request. Outputs are rebuilt on every reload while device care
//! lives on, so the two meet in a registry by port name ([`rdm_port`]):
//! each request looks the port up again, and a new output's thread
//! replaces the old one's entry.

use super::enttec::{LABEL_RDM_TIMEOUT, LABEL_RECEIVED};
use super::{DeviceInfo, Output, OutputHealth, DEGRADED, DOWN, OK};
use nightscape_core::engine::Frame;
use nightscape_core::site::UNIVERSE_SIZE;
use nightscape_core::wire::enttec::{encode_request, MessageReader, MAX_DATA_LEN};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
    /// Wait at most this long in [`Link::read`] from now on (the RDM
    /// poll between frames needs a short one). Links without a timeout of
    /// their own ignore it.
    fn set_read_timeout(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// Opens (and after a failure, reopens) the port.
pub(crate) trait Opener: Send {
    fn open(&mut self) -> Result<Box<dyn Link>, String>;
    /// The port's name, for health and messages.
    fn name(&self) -> String;
}

/// What a driver learnt when the port opened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hello {
    pub device: Option<DeviceInfo>,
    /// Set when the device did not answer as expected: the output keeps
    /// writing, but reports `degraded` with this message.
    pub problem: Option<String>,
}

/// One widget's protocol: what to say on open, how to write a frame.
pub(crate) trait Driver: Send {
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
    /// Whether the widget carries RDM with the DMX USB Pro's labels (7 and
    /// 11 out; 5 and 12 back): the thread then takes RDM requests between
    /// frames (see "RDM between frames" above).
    fn carries_rdm(&self) -> bool {
        false
    }
}

/// How often the thread looks for an RDM answer while one is in flight.
const RDM_POLL: Duration = Duration::from_millis(2);
/// RDM requests waiting for the line at most (device care sends one at a
/// time; a little room for a write from the API).
const RDM_QUEUE: usize = 4;
/// A line that has not had a frame for this long has no DMX to protect:
/// its RDM budget is refilled anyway.
const RDM_IDLE_REFILL: Duration = Duration::from_millis(100);

/// What the widget answered to one RDM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RdmAnswer {
    /// Label 5: the bytes the line brought back (status byte removed).
    Data(Vec<u8>),
    /// Label 12, or nothing within the request's time.
    Silent,
}

/// One RDM request for the thread.
struct RdmRequest {
    label: u8,
    payload: Vec<u8>,
    timeout: Duration,
    reply: mpsc::Sender<Result<RdmAnswer, String>>,
}

/// The side door of a serial output that carries RDM: requests go to its
/// thread, answers come back. Cheap to clone.
#[derive(Clone)]
pub struct RdmPort {
    tx: mpsc::SyncSender<RdmRequest>,
    per_frame: Arc<AtomicU32>,
    /// Requests put on the line so far.
    sent: Arc<AtomicU64>,
    id: u64,
    /// To wake the thread when a request comes between two frames.
    mailbox: Arc<Mailbox>,
}

impl RdmPort {
    /// Put `payload` on the line under widget `label` and wait for the
    /// widget's answer: at most `timeout` once on the line, plus the wait
    /// for a frame's turn (bounded too).
    pub(crate) fn request(
        &self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<RdmAnswer, String> {
        if payload.len() > MAX_DATA_LEN {
            return Err(format!("an RDM request of {} bytes", payload.len()));
        }
        let (reply, rx) = mpsc::channel();
        self.tx
            .try_send(RdmRequest {
                label,
                payload: payload.to_vec(),
                timeout,
                reply,
            })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => "the widget's RDM queue is full".to_string(),
                mpsc::TrySendError::Disconnected(_) => "the output's thread has stopped".into(),
            })?;
        self.mailbox.poke();
        // Its turn comes after the next frame (the idle refill bounds it
        // when no frames come); then its own time.
        match rx.recv_timeout(timeout + RDM_IDLE_REFILL * 5 + Duration::from_millis(500)) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(RdmAnswer::Silent),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the output's thread dropped the request (port closed)".into())
            }
        }
    }

    /// RDM requests to put on the line after each frame at most (1..8).
    pub(crate) fn set_per_frame(&self, n: u32) {
        self.per_frame.store(n.clamp(1, 8), Ordering::Relaxed);
    }

    /// Requests put on the line so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The serial outputs that carry RDM now, by port name.
static RDM_PORTS: Mutex<BTreeMap<String, RdmPort>> = Mutex::new(BTreeMap::new());
static RDM_IDS: AtomicU64 = AtomicU64::new(1);

fn ports() -> MutexGuard<'static, BTreeMap<String, RdmPort>> {
    RDM_PORTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running output on `port` that carries RDM, if there is one.
pub(crate) fn rdm_port(port: &str) -> Option<RdmPort> {
    ports().get(port).cloned()
}

/// The thread's side of [`RdmPort`].
struct RdmSide {
    rx: mpsc::Receiver<RdmRequest>,
    per_frame: Arc<AtomicU32>,
    sent: Arc<AtomicU64>,
    name: String,
    id: u64,
    /// Requests still allowed before the next frame.
    budget: u32,
    last_refill: Instant,
    /// The next request, taken from the channel, waiting for a budget.
    next: Option<RdmRequest>,
    in_flight: Option<(RdmRequest, Instant)>,
    reader: MessageReader,
    out: Vec<u8>,
    rx_buf: Vec<u8>,
}

impl RdmSide {
    fn register(name: String, mailbox: Arc<Mailbox>) -> RdmSide {
        let (tx, rx) = mpsc::sync_channel(RDM_QUEUE);
        let id = RDM_IDS.fetch_add(1, Ordering::Relaxed);
        let per_frame = Arc::new(AtomicU32::new(2));
        let sent = Arc::new(AtomicU64::new(0));
        ports().insert(
            name.clone(),
            RdmPort {
                tx,
                per_frame: per_frame.clone(),
                sent: sent.clone(),
                id,
                mailbox,
            },
        );
        RdmSide {
            rx,
            per_frame,
            sent,
            name,
            id,
            budget: 0,
            last_refill: Instant::now(),
            next: None,
            in_flight: None,
            reader: MessageReader::new(),
            out: vec![0; MAX_DATA_LEN + 8],
            rx_buf: vec![0; 1024],
        }
    }

    /// A frame went out: the next `per_frame` requests may follow it.
    fn refill(&mut self) {
        self.budget = self.per_frame.load(Ordering::Relaxed).max(1);
        self.last_refill = Instant::now();
    }

    /// When the thread must look at RDM again at the latest (`None`:
    /// nothing to do until a frame or a request comes).
    fn wake_by(&mut self) -> Option<Instant> {
        if self.next.is_none() {
            self.next = self.rx.try_recv().ok();
        }
        let now = Instant::now();
        if self.in_flight.is_some() {
            Some(now + RDM_POLL)
        } else if self.next.is_some() {
            Some(if self.budget > 0 {
                now
            } else {
                self.last_refill + RDM_IDLE_REFILL
            })
        } else {
            None
        }
    }

    /// The port is closed: whatever waits is answered so.
    fn fail_all(&mut self, why: &str) {
        if let Some((r, _)) = self.in_flight.take() {
            let _ = r.reply.send(Err(why.to_string()));
        }
        if let Some(r) = self.next.take() {
            let _ = r.reply.send(Err(why.to_string()));
        }
        while let Ok(r) = self.rx.try_recv() {
            let _ = r.reply.send(Err(why.to_string()));
        }
        self.reader = MessageReader::new();
    }

    /// Read the answer to the request in flight, end it when it came or
    /// its time is up, and put the next request on the line when the
    /// frame's budget allows. Never waits longer than one short read.
    fn service(&mut self, link: &mut dyn Link) -> io::Result<()> {
        if self.in_flight.is_none() && self.last_refill.elapsed() >= RDM_IDLE_REFILL {
            self.refill();
        }
        if let Some((_, deadline)) = &self.in_flight {
            let deadline = *deadline;
            let n = link.read(&mut self.rx_buf)?;
            let mut answer = None;
            for m in self.reader.push(&self.rx_buf[..n]) {
                match m.label {
                    LABEL_RECEIVED if answer.is_none() => {
                        answer = Some(RdmAnswer::Data(m.data.get(1..).unwrap_or(&[]).to_vec()))
                    }
                    LABEL_RDM_TIMEOUT if answer.is_none() => answer = Some(RdmAnswer::Silent),
                    _ => {}
                }
            }
            if answer.is_none() && Instant::now() >= deadline {
                answer = Some(RdmAnswer::Silent);
            }
            match answer {
                Some(a) => {
                    if let Some((r, _)) = self.in_flight.take() {
                        let _ = r.reply.send(Ok(a));
                    }
                }
                None => return Ok(()),
            }
        }
        if self.budget == 0 {
            return Ok(());
        }
        let Some(r) = self.next.take().or_else(|| self.rx.try_recv().ok()) else {
            return Ok(());
        };
        // Whatever came late for an earlier request is not this one's.
        let n = link.read(&mut self.rx_buf)?;
        let _ = self.reader.push(&self.rx_buf[..n]);
        let len = encode_request(r.label, &r.payload, &mut self.out);
        link.write_all(&self.out[..len])?;
        self.budget -= 1;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now() + r.timeout;
        self.in_flight = Some((r, deadline));
        Ok(())
    }
}

impl Drop for RdmSide {
    fn drop(&mut self) {
        self.fail_all("the output stopped");
        let mut p = ports();
        if p.get(&self.name).is_some_and(|e| e.id == self.id) {
            p.remove(&self.name);
        }
    }
}

/// A real serial port, opened through `serialport`.
pub(crate) struct PortOpener {
    path: String,
    baud: u32,
    stop_bits: serialport::StopBits,
}

impl PortOpener {
    /// The Pro is a USB device behind an FTDI FIFO: the baud rate is not
    /// used on the wire, any value works.
    pub(crate) fn enttec_pro(path: &str) -> PortOpener {
        PortOpener {
            path: path.to_string(),
            baud: 115_200,
            stop_bits: serialport::StopBits::One,
        }
    }

    /// Open DMX is a bare FTDI UART: DMX512 is 250 kbaud, 8N2.
    pub(crate) fn open_dmx(path: &str) -> PortOpener {
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

    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.0.set_timeout(timeout).map_err(io::Error::from)
    }
}

/// Timing of the serial thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SerialSettings {
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
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

/// The one-frame mailbox between `send` and the thread.
struct Slot {
    frame: Box<[u8; UNIVERSE_SIZE]>,
    fresh: bool,
    stop: bool,
    /// An RDM request came: wake the thread without a frame.
    poke: bool,
}

struct Mailbox {
    slot: Mutex<Slot>,
    cv: Condvar,
}

enum Wake {
    Fresh,
    Stop,
    Timeout,
    Poke,
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

    fn poke(&self) {
        self.lock().poke = true;
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
            if s.poke {
                s.poke = false;
                return Wake::Poke;
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
pub(crate) struct SerialOutput {
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
    pub(crate) fn start(
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
                poke: false,
            }),
            cv: Condvar::new(),
        });
        let rdm = driver
            .carries_rdm()
            .then(|| RdmSide::register(opener.name(), mailbox.clone()));
        let (done_tx, done_rx) = mpsc::channel();
        let worker = Worker {
            opener,
            driver,
            mailbox: mailbox.clone(),
            health: health.clone(),
            settings,
            rdm,
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
    rdm: Option<RdmSide>,
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
                        if let Some(r) = self.rdm.as_mut() {
                            r.fail_all(&e);
                        }
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
            let refresh_at = if write_now {
                Instant::now()
            } else {
                last_write + self.driver.refresh()
            };
            let until = match self.rdm.as_mut().and_then(RdmSide::wake_by) {
                Some(t) => t.min(refresh_at),
                None => refresh_at,
            };
            let mut write = match self.mailbox.wait(until, &mut frame) {
                Wake::Fresh => {
                    have_frame = true;
                    true
                }
                Wake::Stop => return,
                Wake::Timeout | Wake::Poke => Instant::now() >= refresh_at,
            };
            if write && !have_frame {
                // The refresh time passed before any frame: nothing to say.
                last_write = Instant::now();
                write = false;
            }
            write_now = false;
            let mut result = Ok(());
            if write {
                result = self.driver.write_frame(port.as_mut(), &frame);
                last_write = Instant::now();
                let mut h = lock(&self.health);
                if result.is_ok() {
                    h.frames_sent += 1;
                    h.packets_sent += 1;
                    if let Some(m) = self.driver.measured() {
                        h.device = Some(m);
                    }
                    drop(h);
                    if let Some(r) = self.rdm.as_mut() {
                        r.refill();
                    }
                }
            }
            if result.is_ok() {
                if let Some(r) = self.rdm.as_mut() {
                    result = r.service(port.as_mut());
                }
            }
            if let Err(e) = result {
                {
                    let mut h = lock(&self.health);
                    h.send_errors += 1;
                    h.state = DOWN;
                    h.last_error = Some(format!("write to {}: {e}", self.opener.name()));
                }
                if let Some(r) = self.rdm.as_mut() {
                    r.fail_all("the port was lost");
                }
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

    /// Open the port and greet the device; sets the health on success.
    fn open(&mut self) -> Result<Box<dyn Link>, String> {
        let mut link = self.opener.open()?;
        let hello = self
            .driver
            .hello(link.as_mut())
            .map_err(|e| format!("{} opened, then: {e}", self.opener.name()))?;
        if self.rdm.is_some() {
            // RDM answers are polled between frames: a read must not hold
            // the thread longer than a poll step.
            link.set_read_timeout(Duration::from_millis(1))
                .map_err(|e| format!("{}: cannot set its read timeout: {e}", self.opener.name()))?;
        }
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
