//! The two ENTTEC USB widgets as [`Driver`]s for the serial thread.
//!
//! **DMX USB Pro**: a microcontroller that frames DMX itself. On every open
//! we ask for its parameters (label 3: firmware, break, MAB, rate) and its
//! serial number (label 10) and show them in the output's health; a port
//! that answers neither is probably not a Pro (an Open DMX, a GPS, a modem),
//! so the output keeps writing but reports `degraded` and says so. Frames go
//! out as label 6 messages; the widget repeats the last one on the line by
//! itself, so one write per new frame is enough. The Pro also carries RDM
//! (labels below): the serial thread puts device care's requests on the
//! line between two frames (`super::serial`, "RDM between frames").
//!
//! **Open DMX**: a bare FTDI UART at 250 kbaud 8N2, so the host makes the
//! DMX timing: wait for the previous frame to leave (a break sent while
//! bytes are still in the UART would cut them off), hold a break of at
//! least 110 µs, release it for a mark-after-break of at least 16 µs (OLA's
//! values; DMX512 asks for ≥ 92 µs and ≥ 12 µs), then write the start code
//! and 512 slots. Sleeps are measured, not trusted: each is repeated until
//! the clock says the time has passed, and the lengths we got are shown in
//! the health. The line must be refreshed continuously, so this driver
//! rewrites the last frame every frame period even when nothing changed.

use super::serial::{Driver, Hello, Link};
use super::DeviceInfo;
use nightscape_core::site::UNIVERSE_SIZE;
use nightscape_core::wire::enttec::{
    encode_request, encode_send_dmx, open_dmx_frame, parse_params, parse_serial, MessageReader,
    LABEL_GET_PARAMS, LABEL_GET_SERIAL, SEND_DMX_MAX_LEN,
};
use std::io;
use std::time::{Duration, Instant};

/// Received DMX (and RDM) packet: status byte, then the bytes received.
pub const LABEL_RECEIVED: u8 = 5;
/// Send an RDM packet and listen for its reply.
pub const LABEL_SEND_RDM: u8 = 7;
/// Send an RDM discovery request (DISC_UNIQUE_BRANCH) and listen for the
/// raw discovery answer.
pub const LABEL_RDM_DISCOVERY: u8 = 11;
/// The line stayed silent after an RDM request.
pub const LABEL_RDM_TIMEOUT: u8 = 12;

/// How long the Pro has to answer labels 3 and 10 after an open.
const HELLO_TIMEOUT: Duration = Duration::from_millis(500);
/// Open DMX break and mark-after-break we aim for (at least).
pub(crate) const OPEN_DMX_BREAK: Duration = Duration::from_micros(110);
pub(crate) const OPEN_DMX_MAB: Duration = Duration::from_micros(16);

/// ENTTEC DMX USB Pro.
pub struct ProDriver {
    buf: Box<[u8; SEND_DMX_MAX_LEN]>,
    hello_timeout: Duration,
}

impl ProDriver {
    pub(crate) fn new() -> ProDriver {
        ProDriver {
            buf: Box::new([0; SEND_DMX_MAX_LEN]),
            hello_timeout: HELLO_TIMEOUT,
        }
    }

    /// For tests: a shorter wait for a widget that will not answer.
    pub fn with_hello_timeout(timeout: Duration) -> ProDriver {
        ProDriver {
            hello_timeout: timeout,
            ..ProDriver::new()
        }
    }
}

impl Default for ProDriver {
    fn default() -> Self {
        ProDriver::new()
    }
}

/// "1.68" from the label-3 firmware word (major in the high byte).
fn firmware_text(fw: u16) -> String {
    let [minor, major] = fw.to_le_bytes();
    format!("{major}.{minor}")
}

impl Driver for ProDriver {
    fn kind(&self) -> super::Protocol {
        super::Protocol::EnttecPro
    }

    fn hello(&mut self, link: &mut dyn Link) -> io::Result<Hello> {
        let mut req = [0u8; 8];
        // Ask for no user-configuration bytes: we only want the header.
        let n = encode_request(LABEL_GET_PARAMS, &[0, 0], &mut req);
        link.write_all(&req[..n])?;
        let n = encode_request(LABEL_GET_SERIAL, &[], &mut req);
        link.write_all(&req[..n])?;

        let mut reader = MessageReader::new();
        let mut params = None;
        let mut serial = None;
        let mut got_serial_reply = false;
        let mut rbuf = [0u8; 256];
        let deadline = Instant::now() + self.hello_timeout;
        while (params.is_none() || !got_serial_reply) && Instant::now() < deadline {
            let n = link.read(&mut rbuf)?;
            for m in reader.push(&rbuf[..n]) {
                match m.label {
                    LABEL_GET_PARAMS => params = parse_params(&m.data).or(params),
                    LABEL_GET_SERIAL => {
                        got_serial_reply = true;
                        serial = parse_serial(&m.data).or(serial);
                    }
                    // Anything else (received DMX, unknown labels) is not
                    // for us.
                    _ => {}
                }
            }
        }
        if params.is_none() && !got_serial_reply {
            return Ok(Hello {
                device: None,
                problem: Some(format!(
                    "no answer to Get Widget Parameters (label 3) within {} ms: is this a DMX USB Pro? Frames are sent anyway",
                    self.hello_timeout.as_millis()
                )),
            });
        }
        Ok(Hello {
            device: Some(DeviceInfo {
                serial: serial.map(|s| format!("{s:08}")),
                firmware: params.map(|p| firmware_text(p.firmware)),
                break_us: params.map(|p| p.break_us),
                mab_us: params.map(|p| p.mab_us),
                rate_fps: params.map(|p| p.rate_fps),
            }),
            problem: None,
        })
    }

    fn write_frame(&mut self, link: &mut dyn Link, slots: &[u8; UNIVERSE_SIZE]) -> io::Result<()> {
        let n = encode_send_dmx(slots, &mut self.buf[..]);
        link.write_all(&self.buf[..n])
    }

    fn refresh(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn carries_rdm(&self) -> bool {
        true
    }
}

/// ENTTEC Open DMX (FTDI, host-timed).
pub(crate) struct OpenDmxDriver {
    buf: Box<[u8; 513]>,
    period: Duration,
    measured: Option<(Duration, Duration)>,
}

impl OpenDmxDriver {
    /// `fps` paces the refresh when the frame loop sends nothing new.
    pub(crate) fn new(fps: u32) -> OpenDmxDriver {
        OpenDmxDriver {
            buf: Box::new([0; 513]),
            period: Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 44))),
            measured: None,
        }
    }
}

/// Sleep until at least `min` has passed since `since`; returns the time
/// that actually passed. `thread::sleep` may wake early on some platforms
/// and always wakes late on a busy machine; late is harmless here (DMX
/// allows a break up to a second), early is not, hence the loop.
fn hold(since: Instant, min: Duration) -> Duration {
    loop {
        let e = since.elapsed();
        if e >= min {
            return e;
        }
        std::thread::sleep(min - e);
    }
}

impl Driver for OpenDmxDriver {
    fn kind(&self) -> super::Protocol {
        super::Protocol::OpenDmx
    }

    fn hello(&mut self, _link: &mut dyn Link) -> io::Result<Hello> {
        // An FTDI UART has nothing to say.
        Ok(Hello::default())
    }

    fn write_frame(&mut self, link: &mut dyn Link, slots: &[u8; UNIVERSE_SIZE]) -> io::Result<()> {
        open_dmx_frame(slots, &mut self.buf);
        link.drain()?;
        link.set_break(true)?;
        let brk = hold(Instant::now(), OPEN_DMX_BREAK);
        link.set_break(false)?;
        let mab = hold(Instant::now(), OPEN_DMX_MAB);
        link.write_all(&self.buf[..])?;
        self.measured = Some((brk, mab));
        Ok(())
    }

    fn refresh(&self) -> Duration {
        self.period
    }

    fn measured(&self) -> Option<DeviceInfo> {
        self.measured.map(|(b, m)| DeviceInfo {
            break_us: Some(b.as_secs_f32() * 1e6),
            mab_us: Some(m.as_secs_f32() * 1e6),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightscape_core::wire::enttec::Message;
    use std::collections::VecDeque;

    /// Records writes and break toggles in order; replies from a script.
    #[derive(Default)]
    struct Script {
        written: Vec<u8>,
        events: Vec<String>,
        replies: VecDeque<Vec<u8>>,
    }
    impl Link for Script {
        fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.written.extend_from_slice(bytes);
            self.events.push(format!("write {}", bytes.len()));
            Ok(())
        }
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.replies.pop_front() {
                Some(r) => {
                    let n = r.len().min(buf.len());
                    buf[..n].copy_from_slice(&r[..n]);
                    Ok(n)
                }
                None => {
                    std::thread::sleep(Duration::from_millis(5));
                    Ok(0)
                }
            }
        }
        fn drain(&mut self) -> io::Result<()> {
            self.events.push("drain".into());
            Ok(())
        }
        fn set_break(&mut self, on: bool) -> io::Result<()> {
            self.events.push(format!("break {on}"));
            Ok(())
        }
    }

    fn msg(label: u8, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; data.len() + 5];
        let n = encode_request(label, data, &mut b);
        b.truncate(n);
        b
    }

    #[test]
    fn pro_hello_reads_params_and_serial_in_any_chunking() {
        let mut stream = msg(LABEL_GET_PARAMS, &[0x44, 0x01, 9, 1, 40]);
        stream.extend(msg(LABEL_GET_SERIAL, &[0x78, 0x56, 0x34, 0x12]));
        let mut link = Script::default();
        // Split the replies in awkward places, with junk in front.
        link.replies.push_back(vec![0x00, 0x13]);
        link.replies.push_back(stream[..3].to_vec());
        link.replies.push_back(stream[3..9].to_vec());
        link.replies.push_back(stream[9..].to_vec());
        let hello = ProDriver::new().hello(&mut link).unwrap();
        assert_eq!(hello.problem, None);
        let d = hello.device.unwrap();
        assert_eq!(d.serial.as_deref(), Some("12345678"));
        assert_eq!(d.firmware.as_deref(), Some("1.68"));
        assert_eq!(d.rate_fps, Some(40));
        assert!((d.break_us.unwrap() - 96.03).abs() < 0.01);
        // It asked with exactly the two requests.
        let sent = MessageReader::new().push(&link.written);
        assert_eq!(
            sent,
            vec![
                Message {
                    label: 3,
                    data: vec![0, 0]
                },
                Message {
                    label: 10,
                    data: vec![]
                }
            ]
        );
    }

    #[test]
    fn pro_that_stays_silent_is_degraded_not_failed() {
        let mut link = Script::default();
        let hello = ProDriver::with_hello_timeout(Duration::from_millis(30))
            .hello(&mut link)
            .unwrap();
        assert!(hello.device.is_none());
        assert!(hello.problem.unwrap().contains("label 3"));
    }

    #[test]
    fn pro_frame_is_label_6_with_start_code_and_512_slots() {
        let mut link = Script::default();
        let mut slots = [0u8; UNIVERSE_SIZE];
        slots[0] = 0x7E; // delimiters inside data must not confuse anyone
        slots[511] = 0xE7;
        ProDriver::new().write_frame(&mut link, &slots).unwrap();
        let msgs = MessageReader::new().push(&link.written);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].label, 6);
        assert_eq!(msgs[0].data.len(), 513);
        assert_eq!(msgs[0].data[0], 0);
        assert_eq!(&msgs[0].data[1..], &slots[..]);
    }

    #[test]
    fn open_dmx_drains_breaks_then_writes_513_bytes() {
        let mut link = Script::default();
        let mut d = OpenDmxDriver::new(40);
        let mut slots = [0u8; UNIVERSE_SIZE];
        slots[0] = 255;
        slots[511] = 1;
        d.write_frame(&mut link, &slots).unwrap();
        assert_eq!(
            link.events,
            ["drain", "break true", "break false", "write 513"]
        );
        assert_eq!(link.written[0], 0);
        assert_eq!(link.written[1], 255);
        assert_eq!(link.written[512], 1);
        let m = d.measured().unwrap();
        assert!(m.break_us.unwrap() >= 110.0);
        assert!(m.mab_us.unwrap() >= 16.0);
        assert_eq!(d.refresh(), Duration::from_millis(25));
    }

    #[test]
    fn firmware_is_major_dot_minor() {
        assert_eq!(firmware_text(0x0144), "1.68");
        assert_eq!(firmware_text(0x0200), "2.0");
    }
}

#[cfg(test)]
mod tests_pty;
