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
//! The walk itself is the core's state machine
//! (`nightscape_core::wire::rdm::discovery`): full or incremental.
//!
//! Two ways to the widget: `nightscape devices --port` holds the port
//! itself (the output must not be running); the daemon's device care asks
//! through the running output's thread, which puts the requests between
//! its DMX frames (`crate::output::serial`, "RDM between frames").

use super::{Line, RdmClientError, Table};
use crate::output::serial::{rdm_port, Link, RdmAnswer};
use nightscape_core::wire::enttec::{encode_request, MessageReader};
use nightscape_core::wire::rdm::discovery::{BranchAnswer, Discovery, Reply, Step, Sweep};
use nightscape_core::wire::rdm::{self, pid, unique_branch_pd, CommandClass, Message, Uid};
use std::time::{Duration, Instant};

pub use crate::output::enttec::{
    LABEL_RDM_DISCOVERY, LABEL_RDM_TIMEOUT, LABEL_RECEIVED, LABEL_SEND_RDM,
};

/// Most DISC_UNIQUE_BRANCH requests one discovery may send (48-bit UIDs:
/// a few per device plus the branches of collisions).
const MAX_BRANCHES: usize = 20_000;
/// How long a discovery request waits for its answer.
const DISCOVERY_WAIT: Duration = Duration::from_millis(100);

/// What one request to the widget came back with.
enum Answer {
    Data(Vec<u8>),
    Silent,
}

/// How requests reach the widget: its port held here (the command line),
/// or the running output's thread that holds it (the daemon).
trait Widget: Send {
    /// Send `payload` under `label`; wait up to `timeout` for label 5 that
    /// `want` accepts (its data after the status byte) or label 12.
    fn request(
        &mut self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
        want: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Answer, RdmClientError>;
}

/// The port, ours alone.
struct Direct {
    link: Box<dyn Link>,
    reader: MessageReader,
    out: Vec<u8>,
    rx: Vec<u8>,
}

impl Widget for Direct {
    fn request(
        &mut self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
        want: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Answer, RdmClientError> {
        let io = |e: std::io::Error| RdmClientError::Line(e.to_string());
        let n = encode_request(label, payload, &mut self.out);
        self.link.write_all(&self.out[..n]).map_err(io)?;
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            let got = self.link.read(&mut self.rx).map_err(io)?;
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
}

/// The running `enttec-pro` output on a port: requests go between its
/// frames (`crate::output::serial`, "RDM between frames"). The output is
/// looked up on every request, so a reload's new output is followed.
struct Interleaved {
    port: String,
}

impl Widget for Interleaved {
    fn request(
        &mut self,
        label: u8,
        payload: &[u8],
        timeout: Duration,
        want: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Answer, RdmClientError> {
        let Some(p) = rdm_port(&self.port) else {
            return Err(RdmClientError::Line(format!(
                "the enttec-pro output on {} is not running",
                self.port
            )));
        };
        Ok(
            match p
                .request(label, payload, timeout)
                .map_err(RdmClientError::Line)?
            {
                // One answer per request: a late one for an earlier
                // request is no answer to this one.
                RdmAnswer::Data(d) if want(&d) => Answer::Data(d),
                _ => Answer::Silent,
            },
        )
    }
}

/// RDM through one ENTTEC DMX USB Pro.
pub struct EnttecLine {
    widget: Box<dyn Widget>,
    universe: u16,
    me: Uid,
    tn: u8,
    msg: Vec<u8>,
}

impl EnttecLine {
    /// A line over `link` (a port we hold), reported as `universe`.
    pub fn new(link: Box<dyn Link>, universe: u16) -> EnttecLine {
        EnttecLine::over(
            Box::new(Direct {
                link,
                reader: MessageReader::new(),
                out: vec![0u8; 700],
                rx: vec![0u8; 1024],
            }),
            universe,
        )
    }

    /// A line through the running output on `port` (the daemon).
    pub fn interleaved(port: &str, universe: u16) -> EnttecLine {
        EnttecLine::over(
            Box::new(Interleaved {
                port: port.to_string(),
            }),
            universe,
        )
    }

    fn over(widget: Box<dyn Widget>, universe: u16) -> EnttecLine {
        EnttecLine {
            widget,
            universe,
            me: Uid::new(super::CONTROLLER_MANUFACTURER, std::process::id()),
            tn: 0,
            msg: Vec::with_capacity(rdm::MAX_MESSAGE_LEN),
        }
    }

    /// A discovery-class request to `dest` (a broadcast one is not answered).
    fn discovery_message(&mut self, dest: Uid, p: u16, data: &[u8]) -> Vec<u8> {
        self.tn = self.tn.wrapping_add(1);
        let m = Message::request(dest, self.me, self.tn, CommandClass::Discovery, p, data);
        // The parameter data here is at most 12 bytes: encoding cannot fail.
        let _ = rdm::encode(&m, &mut self.msg);
        self.msg.clone()
    }

    /// DISC_UNIQUE_BRANCH over `lower..=upper`.
    fn branch(&mut self, lower: Uid, upper: Uid) -> Result<BranchAnswer, RdmClientError> {
        let pd = unique_branch_pd(lower, upper);
        let req = self.discovery_message(Uid::BROADCAST, pid::DISC_UNIQUE_BRANCH, &pd);
        Ok(
            match self
                .widget
                .request(LABEL_RDM_DISCOVERY, &req, DISCOVERY_WAIT, &mut |_| true)?
            {
                Answer::Silent => BranchAnswer::Silent,
                Answer::Data(d) if d.is_empty() => BranchAnswer::Silent,
                Answer::Data(d) => match rdm::decode_discovery_reply(&d) {
                    Ok(u) => BranchAnswer::Clean(u),
                    Err(_) => BranchAnswer::Garbled,
                },
            },
        )
    }

    /// DISC_MUTE one device; whether it acknowledged.
    fn mute(&mut self, uid: Uid) -> Result<bool, RdmClientError> {
        let req = self.discovery_message(uid, pid::DISC_MUTE, &[]);
        let mut ok = |d: &[u8]| {
            rdm::decode(d).is_ok_and(|m| {
                m.src == uid
                    && m.pid == pid::DISC_MUTE
                    && m.class == CommandClass::DiscoveryResponse
            })
        };
        Ok(matches!(
            self.widget
                .request(LABEL_SEND_RDM, &req, DISCOVERY_WAIT, &mut ok)?,
            Answer::Data(_)
        ))
    }
}

impl Line for EnttecLine {
    fn universe(&self) -> u16 {
        self.universe
    }

    /// The controller's own discovery (the core's state machine carried
    /// out on the line): full — everyone un-muted, the UID space searched
    /// by halves — or incremental — `known` muted one by one (which checks
    /// they answer), then only un-muted devices searched for.
    fn table(
        &mut self,
        timeout: Duration,
        sweep: Sweep,
        known: &[Uid],
    ) -> Result<Table, RdmClientError> {
        let deadline = Instant::now() + timeout;
        let mut d = match sweep {
            Sweep::Full => Discovery::full(MAX_BRANCHES),
            Sweep::Incremental => Discovery::incremental(known.iter().copied(), MAX_BRANCHES),
        };
        while Instant::now() < deadline {
            let reply = match d.step() {
                Step::Done => break,
                Step::UnMuteAll => {
                    let req = self.discovery_message(Uid::BROADCAST, pid::DISC_UN_MUTE, &[]);
                    // Broadcasts are not answered: the widget says so
                    // (label 12) or not; wait the whole while, so a late
                    // label 12 cannot be taken for the first branch's.
                    self.widget
                        .request(LABEL_SEND_RDM, &req, DISCOVERY_WAIT, &mut |_| true)?;
                    Reply::UnMuted
                }
                Step::Mute(u) => Reply::Muted(self.mute(u)?),
                Step::Branch { lower, upper } => Reply::Branch(self.branch(lower, upper)?),
            };
            d.answer(reply);
        }
        let out = d.outcome();
        Ok(Table {
            // A widget answers for its line even when no device is on it.
            received: true,
            nak: false,
            uids: out.devices,
            new: Some(out.new),
        })
    }

    fn exchange(
        &mut self,
        request: &[u8],
        want: &mut dyn FnMut(&[u8]) -> bool,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        Ok(
            match self
                .widget
                .request(LABEL_SEND_RDM, request, timeout, want)?
            {
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
    let table = line.table(timeout, Sweep::Full, &[])?;
    let mut req = super::Requester::new(request_timeout, Duration::ZERO);
    super::read_all(&mut req, &mut line, table)
}
