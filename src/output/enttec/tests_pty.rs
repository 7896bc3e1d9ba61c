//! The serial outputs through real pseudo-terminals, beside the code (was
//! tests/it/output_enttec.rs), `serialport::TTYPort::pair` (
//! no socat). A fake ENTTEC DMX USB Pro holds the pty master: it answers
//! label 3 (parameters) and label 10 (serial number) and decodes the label-6
//! frames the output writes, so framing and values are checked byte for
//! byte and the widget's serial and firmware must show in the health. Open
//! DMX frames are read the same way; its break cannot be observed through a
//! pty (Linux ptys accept TIOCSBRK and do nothing), so only the bytes and
//! the measured break/MAB times in the health are checked. Unplugging is
//! dropping the master: the output must go `down`, then come back by itself
//! on a fresh pty (a new pair has a new path, so the test's opener follows
//! the path the test gives it) and count a reconnect.
//!
//! Every wait is bounded (a few seconds at most) and no assertion is on
//! timing.

use crate::output::enttec::ProDriver;
use crate::output::serial::{Link, Opener, PortOpener, SerialOutput, SerialSettings};
use crate::output::{self, Output, OutputHealth};
use crate::test_support::wait_until;
use nightscape_core::diag::{Diagnostics, SourceFile};
use nightscape_core::engine::Frame;
use nightscape_core::site::{self, UNIVERSE_SIZE};
use nightscape_core::wire::enttec::{encode_request, MessageReader};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// `TTYPort::pair` is documented as not thread-safe on some platforms.
static PTY_LOCK: Mutex<()> = Mutex::new(());

fn pty() -> (TTYPort, TTYPort, String) {
    let _g = PTY_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (master, slave) = TTYPort::pair().expect("a pty pair");
    let path = slave.name().expect("the slave's path");
    (master, slave, path)
}

/// Messages a widget received, as (label, data), shared with the test.
type Received = Arc<Mutex<Vec<(u8, Vec<u8>)>>>;

/// The device end of a pty, acting as a widget.
struct Widget {
    stop: Arc<AtomicBool>,
    /// Every message the widget received, as (label, data).
    got: Received,
    /// Raw bytes received (for Open DMX, which has no framing).
    raw: Arc<Mutex<Vec<u8>>>,
    junk: Arc<Mutex<u64>>,
    thread: Option<JoinHandle<()>>,
    /// Kept open so the master never sees a hang-up between the output's
    /// opens; the output opens the same path itself.
    _slave: TTYPort,
}

impl Widget {
    /// `pro`: answer labels 3 and 10 like a DMX USB Pro (firmware 1.68,
    /// serial 12345678).
    fn spawn(mut master: TTYPort, slave: TTYPort, pro: bool) -> Widget {
        let stop = Arc::new(AtomicBool::new(false));
        let got: Received = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let junk = Arc::new(Mutex::new(0));
        let (s, g, r, j) = (stop.clone(), got.clone(), raw.clone(), junk.clone());
        let thread = std::thread::spawn(move || {
            let mut reader = MessageReader::new();
            let mut buf = [0u8; 4096];
            let mut out = [0u8; 16];
            while !s.load(Ordering::SeqCst) {
                let n = match master.read(&mut buf) {
                    Ok(n) => n,
                    Err(_) => {
                        // Timeout, or no slave open right now.
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                r.lock().unwrap().extend_from_slice(&buf[..n]);
                if !pro {
                    continue;
                }
                for m in reader.push(&buf[..n]) {
                    let reply = match m.label {
                        3 => Some(encode_request(3, &[0x44, 0x01, 9, 1, 40], &mut out)),
                        10 => Some(encode_request(10, &[0x78, 0x56, 0x34, 0x12], &mut out)),
                        _ => None,
                    };
                    if let Some(len) = reply {
                        let _ = master.write_all(&out[..len]);
                    }
                    g.lock().unwrap().push((m.label, m.data));
                }
                *j.lock().unwrap() = reader.junk_bytes();
            }
            // Dropping `master` here is the unplug.
        });
        Widget {
            stop,
            got,
            raw,
            junk,
            thread: Some(thread),
            _slave: slave,
        }
    }

    fn frames(&self) -> Vec<Vec<u8>> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, _)| *l == 6)
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// Pull the plug: the master closes.
    fn unplug(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Widget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn eventually(what: &str, out: &dyn Output, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(5), cond).is_some(),
        "timed out waiting for {what}; health {:?}",
        out.health()
    );
}

fn frame(u: u16, v: u8) -> Frame {
    let mut d = [v; UNIVERSE_SIZE];
    d[0] = v.wrapping_add(1);
    d[511] = v.wrapping_add(2);
    Frame {
        universes: vec![u],
        data: vec![d],
    }
}

/// The label-6 data the Pro should get for `frame(_, v)`.
fn pro_data(v: u8) -> Vec<u8> {
    let mut want = vec![0u8];
    want.extend_from_slice(&frame(0, v).data[0]);
    want
}

fn site_with(outputs: &str) -> site::Site {
    let text = format!("name = \"t\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n{outputs}");
    let file = SourceFile::new("site.toml", text);
    let mut d = Diagnostics::new();
    site::compile(&file, Default::default(), &mut d).unwrap_or_else(|| panic!("{d:?}"))
}

fn only(site: &site::Site, state: &std::path::Path) -> Box<dyn Output> {
    let (mut outs, warnings) = output::open_all(site, state);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(outs.len(), 1);
    outs.remove(0)
}

#[test]
fn pro_identifies_itself_and_gets_label_6_frames() {
    let (master, slave, path) = pty();
    let widget = Widget::spawn(master, slave, true);
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with(&format!(
        "[[outputs]]\nkind = \"enttec-pro\"\nport = \"{path}\"\nuniverses = 3\n"
    ));
    let mut out = only(&site, tmp.path());
    eventually("the widget's answers", out.as_ref(), || {
        out.health().state.as_str() == "ok"
    });
    let h = out.health();
    let dev = h.device.clone().expect("device info");
    assert_eq!(dev.serial.as_deref(), Some("12345678"));
    assert_eq!(dev.firmware.as_deref(), Some("1.68"));
    assert_eq!(dev.rate_fps, Some(40));
    assert_eq!(
        (h.kind.as_str(), h.target.as_str(), h.universes.as_slice()),
        ("enttec-pro", path.as_str(), &[3u16][..])
    );

    for v in 10..20u8 {
        out.send(&frame(3, v));
        std::thread::sleep(Duration::from_millis(3));
    }
    eventually("the last frame", out.as_ref(), || {
        widget.frames().last() == Some(&pro_data(19))
    });
    let frames = widget.frames();
    // Latest wins: some frames may be skipped (and a slow machine may see
    // the 1 s refresh repeat one), but each one written is whole and is one
    // that was sent, in order.
    let mut last = 10;
    for f in &frames {
        let v = (10..20u8)
            .find(|&v| *f == pro_data(v))
            .expect("a frame that was sent");
        assert!(v >= last, "frames out of order");
        last = v;
    }
    assert_eq!(*widget.junk.lock().unwrap(), 0, "bytes outside Pro framing");
    // The requests came first, exactly once.
    let labels: Vec<u8> = widget
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(l, _)| *l)
        .take(2)
        .collect();
    assert_eq!(labels, [3, 10]);
    out.stop();
    assert!(out.health().frames_sent as usize >= frames.len());
    assert_eq!(out.health().send_errors, 0);
}

#[test]
fn open_dmx_writes_start_code_and_512_slots_continuously() {
    let (master, slave, path) = pty();
    let widget = Widget::spawn(master, slave, false);
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with(&format!(
        "fps = 40\n[[outputs]]\nkind = \"open-dmx\"\nport = \"{path}\"\nuniverses = 2\n"
    ));
    let mut out = only(&site, tmp.path());
    eventually("open", out.as_ref(), || out.health().state.as_str() == "ok");
    out.send(&frame(2, 77));
    // One frame sent, yet the line keeps being refreshed at the frame rate.
    eventually("three frames", out.as_ref(), || {
        widget.raw.lock().unwrap().len() >= 3 * 513
    });
    out.stop();
    let raw = widget.raw.lock().unwrap().clone();
    assert_eq!(raw.len() % 513, 0, "only whole frames");
    for chunk in raw.chunks(513) {
        assert_eq!(chunk[0], 0, "start code");
        assert_eq!(&chunk[1..], &frame(2, 77).data[0][..]);
    }
    let dev = out.health().device.expect("measured timing");
    assert!(
        dev.break_us.unwrap() >= 110.0 && dev.mab_us.unwrap() >= 16.0,
        "{dev:?}"
    );
}

/// Opens whatever path the test currently points it at: a replugged USB
/// widget comes back under the same name, a new pty does not.
struct FollowPath(Arc<Mutex<String>>);

impl Opener for FollowPath {
    fn open(&mut self) -> Result<Box<dyn Link>, String> {
        let path = self.0.lock().unwrap().clone();
        PortOpener::enttec_pro(&path).open()
    }
    fn name(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn pro_unplugged_goes_down_and_comes_back_by_itself() {
    let (master, slave, path) = pty();
    let widget = Widget::spawn(master, slave, true);
    let current = Arc::new(Mutex::new(path));
    let settings = SerialSettings {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(80),
        stop_timeout: Duration::from_secs(2),
    };
    let mut out = SerialOutput::start(
        Box::new(FollowPath(current.clone())),
        Box::new(ProDriver::with_hello_timeout(Duration::from_millis(300))),
        0,
        settings,
    )
    .unwrap();
    eventually("open", &out, || out.health().state.as_str() == "ok");
    out.send(&frame(0, 1));
    eventually("frame 1", &out, || {
        widget.frames().last() == Some(&pro_data(1))
    });

    widget.unplug();
    // The next writes fail: frames keep being sent, as the frame loop does.
    let mut v = 2u8;
    let down = wait_until(Duration::from_secs(5), || {
        if out.health().state.as_str() == "down" {
            return true;
        }
        out.send(&frame(0, v));
        v = v.wrapping_add(1).max(2);
        false
    });
    assert!(down.is_some(), "never went down: {:?}", out.health());
    let h: OutputHealth = out.health();
    assert!(h.send_errors >= 1, "{h:?}");
    assert!(h.last_error.is_some());
    assert_eq!(h.reconnects, 0);

    // A new widget appears; the output finds it and sends the newest frame.
    let (master, slave, path) = pty();
    let widget = Widget::spawn(master, slave, true);
    *current.lock().unwrap() = path;
    out.send(&frame(0, 200));
    eventually("reconnect", &out, || {
        out.health().reconnects == 1 && out.health().state.as_str() == "ok"
    });
    eventually("the newest frame", &out, || {
        widget.frames().last() == Some(&pro_data(200))
    });
    assert_eq!(
        out.health().device.unwrap().serial.as_deref(),
        Some("12345678")
    );
    out.stop();
}

#[test]
fn a_missing_port_is_down_and_does_not_hold_anything_up() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("ttyUSB-not-here");
    let site = site_with(&format!(
        "[[outputs]]\nkind = \"enttec-pro\"\nport = \"{}\"\nuniverses = 0\n",
        missing.display()
    ));
    let mut out = only(&site, tmp.path());
    for v in 0..50 {
        out.send(&frame(0, v));
    }
    eventually("an open error", out.as_ref(), || {
        out.health()
            .last_error
            .is_some_and(|e| e.contains("ttyUSB-not-here"))
    });
    assert_eq!(out.health().state.as_str(), "down");
    out.stop();
}
