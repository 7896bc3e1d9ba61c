//! RDM through an ENTTEC DMX USB Pro: the widget puts our RDM messages on
//! its DMX line and hands back what the line answered, so the controller
//! does discovery itself (E1.20 section 7, Appendix C: DISC_UNIQUE_BRANCH
//! over a UID range, a clean answer muted and the range asked again,
//! garbage — two responders at once — split in halves).
//!
//! Widget labels (DMX USB Pro API): 7 sends an RDM message (with its START
//! code) and listens for the reply; 11 sends a DISC_UNIQUE_BRANCH and
//! listens for the raw discovery answer; each reply comes back as label 5
//! (a status byte, then the bytes received) and silence on the line as
//! label 12. We also stop waiting after our own timeout, so a widget that
//! says nothing costs bounded time.
//!
//! This line owns its port: it is for `nightscape devices --port` while the
//! output is not running (the daemon's serial thread holding the port
//! cannot share it yet; see docs/devices.md).

use super::{Line, RdmClientError, Table};
use crate::output::enttec_wire::{encode_request, MessageReader};
use crate::output::serial::Link;
use nightscape_core::wire::rdm::{self, pid, unique_branch_pd, CommandClass, Message, Uid};
use std::time::{Duration, Instant};

/// Received DMX (and RDM) packet: status byte, then the data.
pub const LABEL_RECEIVED: u8 = 5;
/// Send an RDM packet and listen for its reply.
pub const LABEL_SEND_RDM: u8 = 7;
/// Send an RDM discovery request (DISC_UNIQUE_BRANCH).
pub const LABEL_RDM_DISCOVERY: u8 = 11;
/// The line stayed silent after an RDM request.
pub const LABEL_RDM_TIMEOUT: u8 = 12;

/// Most DISC_UNIQUE_BRANCH requests one discovery may send (48-bit UIDs:
/// a few per device plus the branches of collisions).
const MAX_BRANCHES: usize = 20_000;
/// How long a discovery request waits for its answer.
const DISCOVERY_WAIT: Duration = Duration::from_millis(100);

fn uid_u64(u: Uid) -> u64 {
    let b = u.to_bytes();
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn uid_of(v: u64) -> Uid {
    let b = v.to_be_bytes();
    Uid::from_bytes([b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The highest UID a responder may have (FFFF:FFFFFFFF is broadcast).
const MAX_UID: u64 = 0xFFFF_FFFF_FFFE;

/// RDM through one ENTTEC DMX USB Pro.
pub struct EnttecLine {
    link: Box<dyn Link>,
    reader: MessageReader,
    universe: u16,
    me: Uid,
    tn: u8,
    msg: Vec<u8>,
    out: Vec<u8>,
    rx: Vec<u8>,
}

/// What one request to the widget came back with.
enum Answer {
    Data(Vec<u8>),
    Silent,
}

impl EnttecLine {
    /// A line over `link`, reported as `universe`.
    pub fn new(link: Box<dyn Link>, universe: u16) -> EnttecLine {
        EnttecLine {
            link,
            reader: MessageReader::new(),
            universe,
            me: Uid::new(super::CONTROLLER_MANUFACTURER, std::process::id()),
            tn: 0,
            msg: Vec::with_capacity(rdm::MAX_MESSAGE_LEN),
            out: vec![0u8; 700],
            rx: vec![0u8; 1024],
        }
    }

    fn io(e: std::io::Error) -> RdmClientError {
        RdmClientError::Line(e.to_string())
    }

    /// Send `payload` under `label` and wait up to `timeout` for label 5
    /// (its data after the status byte) or label 12 (silence).
    fn request(
        &mut self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Answer, RdmClientError> {
        self.request_until(label, payload, timeout, &mut |_| true)
    }

    /// As [`EnttecLine::request`], skipping label-5 answers `want` refuses
    /// (a late answer to an earlier request).
    fn request_until(
        &mut self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
        want: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Answer, RdmClientError> {
        let n = encode_request(label, payload, &mut self.out);
        self.link.write_all(&self.out[..n]).map_err(Self::io)?;
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            let got = self.link.read(&mut self.rx).map_err(Self::io)?;
            if got == 0 {
                continue;
            }
            for m in self.reader.push(&self.rx[..got]) {
                match m.label {
                    LABEL_RECEIVED if !m.data.is_empty() && want(&m.data[1..]) => {
                        return Ok(Answer::Data(m.data[1..].to_vec()));
                    }
                    LABEL_RDM_TIMEOUT => return Ok(Answer::Silent),
                    _ => {}
                }
            }
        }
        Ok(Answer::Silent)
    }

    /// A discovery-class request to `dest` (a broadcast one is not answered).
    fn discovery_message(&mut self, dest: Uid, p: u16, data: &[u8]) -> Vec<u8> {
        self.tn = self.tn.wrapping_add(1);
        let m = Message::request(dest, self.me, self.tn, CommandClass::Discovery, p, data);
        // The parameter data here is at most 12 bytes: encoding cannot fail.
        let _ = rdm::encode(&m, &mut self.msg);
        self.msg.clone()
    }

    /// DISC_UNIQUE_BRANCH over `lower..=upper`: `None` silent, `Some(Ok)`
    /// one clean answer, `Some(Err)` a collision (or noise).
    fn branch(
        &mut self,
        lower: u64,
        upper: u64,
    ) -> Result<Option<Result<Uid, ()>>, RdmClientError> {
        let pd = unique_branch_pd(uid_of(lower), uid_of(upper));
        let req = self.discovery_message(Uid::BROADCAST, pid::DISC_UNIQUE_BRANCH, &pd);
        Ok(
            match self.request(LABEL_RDM_DISCOVERY, &req, DISCOVERY_WAIT)? {
                Answer::Silent => None,
                Answer::Data(d) if d.is_empty() => None,
                Answer::Data(d) => Some(rdm::decode_discovery_reply(&d).map_err(|_| ())),
            },
        )
    }

    /// DISC_MUTE one device; whether it acknowledged.
    fn mute(&mut self, uid: Uid) -> Result<bool, RdmClientError> {
        let req = self.discovery_message(uid, pid::DISC_MUTE, &[]);
        Ok(match self.request(LABEL_SEND_RDM, &req, DISCOVERY_WAIT)? {
            Answer::Data(d) => rdm::decode(&d).is_ok_and(|m| {
                m.src == uid
                    && m.pid == pid::DISC_MUTE
                    && m.class == CommandClass::DiscoveryResponse
            }),
            Answer::Silent => false,
        })
    }
}

impl Line for EnttecLine {
    fn universe(&self) -> u16 {
        self.universe
    }

    /// Full discovery: every responder un-muted, then the UID space
    /// searched by halves.
    fn table(&mut self, timeout: Duration) -> Result<Table, RdmClientError> {
        let deadline = Instant::now() + timeout;
        let req = self.discovery_message(Uid::BROADCAST, pid::DISC_UN_MUTE, &[]);
        // Broadcasts are not answered: the widget says so (label 12) or
        // not; wait the whole while, so a late label 12 cannot be taken
        // for the first branch's answer.
        self.request(LABEL_SEND_RDM, &req, DISCOVERY_WAIT)?;
        let mut found = Vec::new();
        let mut stack = vec![(0u64, MAX_UID)];
        let mut asked = 0;
        while let Some((lo, hi)) = stack.pop() {
            if asked >= MAX_BRANCHES || Instant::now() >= deadline {
                break;
            }
            asked += 1;
            match self.branch(lo, hi)? {
                None => {}
                // A clean answer that mutes is a device; others may share
                // the range, so it is asked again. An answer that does not
                // mute (garbled replies can pass the checksum, E1.20
                // Appendix C) counts as a collision: the range is split.
                Some(Ok(uid))
                    if (lo..=hi).contains(&uid_u64(uid))
                        && !found.contains(&uid)
                        && self.mute(uid)? =>
                {
                    found.push(uid);
                    stack.push((lo, hi));
                }
                Some(_) if lo < hi => {
                    let mid = lo + (hi - lo) / 2;
                    stack.push((mid + 1, hi));
                    stack.push((lo, mid));
                }
                Some(_) => {}
            }
        }
        found.sort();
        Ok(Table {
            // A widget answers for its line even when no device is on it.
            received: true,
            nak: false,
            uids: found,
        })
    }

    fn exchange(
        &mut self,
        request: &[u8],
        want: &mut dyn FnMut(&[u8]) -> bool,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        Ok(
            match self.request_until(LABEL_SEND_RDM, request, timeout, want)? {
                Answer::Data(d) => Some(d),
                Answer::Silent => None,
            },
        )
    }
}

/// Run one discovery through the widget at `port`.
pub fn discover(
    port: &str,
    universe: u16,
    timeout: Duration,
    request_timeout: Duration,
) -> Result<super::Discovery, RdmClientError> {
    use crate::output::serial::Opener;
    let link = crate::output::serial::PortOpener::enttec_pro(port)
        .open()
        .map_err(RdmClientError::Line)?;
    let mut line = EnttecLine::new(link, universe);
    let table = line.table(timeout)?;
    let mut req = super::Requester::new(request_timeout, Duration::ZERO);
    super::read_all(&mut req, &mut line, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_map_to_numbers_and_back_in_order() {
        let a = Uid::new(0x1234, 1);
        let b = Uid::new(0x1234, 2);
        assert_eq!(uid_of(uid_u64(a)), a);
        assert!(uid_u64(a) < uid_u64(b));
        assert_eq!(uid_u64(Uid::new(0xffff, 0xffff_fffe)), MAX_UID);
    }
}
