//! Wire format of Art-Net 4 discovery and sync (Artistic Licence, "Art-Net 4
//! Protocol Specification", sections ArtPoll, ArtPollReply, ArtSync and ArtDmx):
//! the ArtPoll a controller broadcasts every 2.5-3 s, the ArtPollReply each
//! node answers with (parsed to learn which 15-bit Port-Addresses it outputs),
//! the ArtSync that latches all universes at once, and an ArtDmx parser for
//! tests and loopback receivers. Every packet starts with "Art-Net\0" and a
//! little-endian OpCode; ProtVer, where present, is big-endian 14. It exists so
//! discovery and the Art-Net output share one checked description of these
//! bytes; it holds no socket and no clock, encoders fill caller buffers, and
//! parsers return a [`WireError`] for short or foreign packets instead of
//! panicking.

use super::UNIVERSE_SIZE;
use std::net::Ipv4Addr;

/// Encode an ArtDmx packet for a 15-bit Port-Address into `buf`; returns
/// its length. Data is sent whole (512 slots): receivers that power up
/// mid-show pick up the full state from the next frame.
pub fn encode_artdmx(
    port_address: u16,
    sequence: u8,
    data: &[u8; UNIVERSE_SIZE],
    buf: &mut [u8; ARTDMX_HEADER_LEN + UNIVERSE_SIZE],
) -> usize {
    buf[0..8].copy_from_slice(b"Art-Net\0");
    buf[8..10].copy_from_slice(&0x5000u16.to_le_bytes());
    buf[10..12].copy_from_slice(&14u16.to_be_bytes());
    buf[12] = sequence;
    buf[13] = 0; // Physical: informational only.
                 // Port-Address: SubUni carries sub-net and universe nibbles, Net the top 7 bits.
    buf[14] = (port_address & 0xff) as u8;
    buf[15] = ((port_address >> 8) & 0x7f) as u8;
    buf[16..18].copy_from_slice(&(UNIVERSE_SIZE as u16).to_be_bytes());
    buf[ARTDMX_HEADER_LEN..].copy_from_slice(data);
    ARTDMX_HEADER_LEN + UNIVERSE_SIZE
}

/// UDP port for all Art-Net traffic (0x1936).
pub const ARTNET_PORT: u16 = 6454;
/// Length of the ArtPoll we send (the pre-Art-Net-4 form; see [`encode_artpoll`]).
pub const ARTPOLL_LEN: usize = 14;
/// Length of an ArtSync.
pub const ARTSYNC_LEN: usize = 14;
/// Length of a full Art-Net 4 ArtPollReply.
pub const ARTPOLLREPLY_LEN: usize = 239;
/// Shortest ArtPollReply the spec obliges consumers to accept.
pub const ARTPOLLREPLY_MIN_LEN: usize = 207;
/// Header of an ArtDmx before its data.
pub const ARTDMX_HEADER_LEN: usize = 18;

pub(crate) const OP_POLL: u16 = 0x2000;
pub(crate) const OP_POLL_REPLY: u16 = 0x2100;
pub const OP_DMX: u16 = 0x5000;
pub(crate) const OP_SYNC: u16 = 0x5200;
/// The only protocol version ever shipped; receivers test `ProtVer >= 14`.
pub(crate) const PROTOCOL_VERSION: u16 = 14;

/// ArtPoll Flags bit 1: send an ArtPollReply whenever the node's conditions
/// change, so a changed node is seen without waiting for the next poll.
pub(crate) const POLL_FLAG_REPLY_ON_CHANGE: u8 = 0x02;
/// ArtPoll DiagPriority DpLow. Diagnostics are not requested (Flags bit 2 is
/// clear), so nodes ignore it; a valid code is sent all the same.
pub(crate) const DIAG_PRIORITY_LOW: u8 = 0x10;
/// PortTypes bit 7: the port can output data from the Art-Net network.
pub(crate) const PORT_TYPE_OUTPUT: u8 = 0x80;
/// PortTypes bit 6: the port can input onto the Art-Net network.
pub const PORT_TYPE_INPUT: u8 = 0x40;
/// Status2 bit 3: the node supports 15-bit Port-Addresses (Art-Net 3 or 4).
pub(crate) const STATUS2_PORT_ADDRESS_15BIT: u8 = 0x08;

const ID: [u8; 8] = *b"Art-Net\0";

// ArtPollReply offsets (Art-Net 4, ArtPollReply packet definition table).
const OFF_OPCODE: usize = 8;
const OFF_IP: usize = 10;
const OFF_PORT: usize = 14; // little-endian
const OFF_VERS_INFO: usize = 16; // VersInfoH, VersInfoL
const OFF_NET_SWITCH: usize = 18;
const OFF_SUB_SWITCH: usize = 19;
const OFF_OEM: usize = 20; // OemHi, Oem
const OFF_UBEA: usize = 22;
const OFF_STATUS1: usize = 23;
const OFF_ESTA_MAN: usize = 24; // EstaManLo, EstaManHi
const OFF_SHORT_NAME: usize = 26;
const SHORT_NAME_LEN: usize = 18;
const OFF_LONG_NAME: usize = 44;
const LONG_NAME_LEN: usize = 64;
const OFF_NODE_REPORT: usize = 108;
const NODE_REPORT_LEN: usize = 64;
const OFF_NUM_PORTS: usize = 172; // NumPortsHi, NumPortsLo
const OFF_PORT_TYPES: usize = 174;
const OFF_GOOD_INPUT: usize = 178;
const OFF_GOOD_OUTPUT: usize = 182;
const OFF_SW_IN: usize = 186;
const OFF_SW_OUT: usize = 190;
const OFF_STYLE: usize = 200;
const OFF_MAC: usize = 201; // MacHi first
const OFF_BIND_IP: usize = 207;
const OFF_BIND_INDEX: usize = 211;
const OFF_STATUS2: usize = 212;

/// Why a byte slice is not the Art-Net packet asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("packet too short: need at least {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("packet ID is not \"Art-Net\\0\"")]
    BadId,
    #[error("OpCode is {got:#06x}, expected {expected:#06x}")]
    WrongOpCode { expected: u16, got: u16 },
    #[error("protocol version is {0}, expected 14 or later")]
    OldProtocol(u16),
    #[error("ArtDmx length field is {0}, expected 1..=512")]
    BadDmxLength(u16),
}

/// What an ArtPollReply says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub ip: Ipv4Addr,
    /// UDP port the node uses; always 6454 in practice.
    pub port: u16,
    /// VersInfo: the node's firmware revision.
    pub firmware: u16,
    /// Bits 14-8 of the Port-Address in its low 7 bits.
    pub net_switch: u8,
    /// Bits 7-4 of the Port-Address in its low 4 bits.
    pub sub_switch: u8,
    pub oem: u16,
    pub short_name: String,
    pub long_name: String,
    pub node_report: String,
    /// Ports described by this reply (at most 4 are meaningful).
    pub num_ports: u16,
    pub port_types: [u8; 4],
    pub sw_in: [u8; 4],
    pub sw_out: [u8; 4],
    /// `None` if the reply is too short to hold it or sends all zeros
    /// ("information not available").
    pub mac: Option<[u8; 6]>,
    /// Root device's IP when bound; `None` if absent (short reply) or 0.0.0.0.
    pub bind_ip: Option<Ipv4Addr>,
    /// `None` only if the reply is too short to hold it (under 212 bytes).
    pub bind_index: Option<u8>,
}

impl NodeInfo {
    /// 15-bit port addresses of the node's output ports:
    /// `(net<<8)|(sub<<4)|sw_out[i]` (each part masked to its field width),
    /// for `i < num_ports` (and < 4) where `port_types[i]` has the output bit
    /// (0x80). In reply order; may hold duplicates if the node reports them.
    pub fn output_universes(&self) -> Vec<u16> {
        let net = u16::from(self.net_switch & 0x7f) << 8;
        let sub = u16::from(self.sub_switch & 0x0f) << 4;
        let ports = usize::from(self.num_ports).min(4);
        self.port_types[..ports]
            .iter()
            .zip(&self.sw_out)
            .filter(|(ty, _)| *ty & PORT_TYPE_OUTPUT != 0)
            .map(|(_, sw)| net | sub | u16::from(sw & 0x0f))
            .collect()
    }
}

fn header(buf: &mut [u8], opcode: u16) {
    buf[..8].copy_from_slice(&ID);
    buf[OFF_OPCODE..OFF_OPCODE + 2].copy_from_slice(&opcode.to_le_bytes());
}

/// ArtPoll (OpCode 0x2000): ID, OpCode, ProtVer 14, Flags, DiagPriority —
/// the 14-byte form. Returns 14, or 0 (writing nothing) if `buf` is shorter.
///
/// Why not the 22-byte Art-Net 4 form: its extra fields (target Port-Address
/// range, ESTA and OEM codes) only mean something in Targeted Mode (Flags bit
/// 5), which discovery does not use, and the spec requires every consumer to
/// accept ArtPoll of 14 bytes or more, so 14 bytes reach Art-Net 3 and 4 nodes
/// alike. Flags asks for replies on change ([`POLL_FLAG_REPLY_ON_CHANGE`]);
/// diagnostics stay off.
pub fn encode_artpoll(buf: &mut [u8]) -> usize {
    if buf.len() < ARTPOLL_LEN {
        return 0;
    }
    header(buf, OP_POLL);
    buf[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    buf[12] = POLL_FLAG_REPLY_ON_CHANGE;
    buf[13] = DIAG_PRIORITY_LOW;
    ARTPOLL_LEN
}

/// The spec ArtSync packet: "Art-Net\0", OpCode 0x5200 little-endian,
/// ProtVer 14 big-endian, Aux1 0, Aux2 0 = 14 bytes.
pub fn encode_artsync(buf: &mut [u8; ARTSYNC_LEN]) {
    header(buf, OP_SYNC);
    buf[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    buf[12] = 0;
    buf[13] = 0;
}

/// Checks length (enough for ID and OpCode), ID and OpCode, in that order.
fn check_header(b: &[u8], expected: u16) -> Result<(), WireError> {
    if b.len() < 10 {
        return Err(WireError::TooShort {
            need: 10,
            got: b.len(),
        });
    }
    if b[..8] != ID {
        return Err(WireError::BadId);
    }
    let got = u16::from_le_bytes([b[OFF_OPCODE], b[OFF_OPCODE + 1]]);
    if got != expected {
        return Err(WireError::WrongOpCode { expected, got });
    }
    Ok(())
}

/// Fixed-size text field: up to the first NUL (the spec NUL-terminates them,
/// but a full field without one is taken whole), lossily decoded so a node's
/// odd bytes cannot make discovery fail.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn array4(b: &[u8], at: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    a
}

/// Parse ArtPollReply (OpCode 0x2100). Accepts the full 239-byte form and the
/// short forms older nodes send (any length from 207 up, as the spec asks of
/// consumers): MAC (201..207) is always present then; BindIp needs 211 bytes,
/// BindIndex 212, otherwise they are `None`. Rejects a wrong ID, a wrong
/// OpCode and anything under 207 bytes.
pub fn parse_artpollreply(bytes: &[u8]) -> Result<NodeInfo, WireError> {
    let b = bytes;
    check_header(b, OP_POLL_REPLY)?;
    if b.len() < ARTPOLLREPLY_MIN_LEN {
        return Err(WireError::TooShort {
            need: ARTPOLLREPLY_MIN_LEN,
            got: b.len(),
        });
    }
    let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let ip4 = |at: usize| Ipv4Addr::from(array4(b, at));

    let mut mac = [0u8; 6];
    mac.copy_from_slice(&b[OFF_MAC..OFF_MAC + 6]);
    let bind_ip = if b.len() >= OFF_BIND_IP + 4 {
        Some(ip4(OFF_BIND_IP)).filter(|ip| !ip.is_unspecified())
    } else {
        None
    };

    Ok(NodeInfo {
        ip: ip4(OFF_IP),
        port: u16::from_le_bytes([b[OFF_PORT], b[OFF_PORT + 1]]),
        firmware: be16(OFF_VERS_INFO),
        net_switch: b[OFF_NET_SWITCH],
        sub_switch: b[OFF_SUB_SWITCH],
        oem: be16(OFF_OEM),
        short_name: text(&b[OFF_SHORT_NAME..OFF_SHORT_NAME + SHORT_NAME_LEN]),
        long_name: text(&b[OFF_LONG_NAME..OFF_LONG_NAME + LONG_NAME_LEN]),
        node_report: text(&b[OFF_NODE_REPORT..OFF_NODE_REPORT + NODE_REPORT_LEN]),
        num_ports: be16(OFF_NUM_PORTS),
        port_types: array4(b, OFF_PORT_TYPES),
        sw_in: array4(b, OFF_SW_IN),
        sw_out: array4(b, OFF_SW_OUT),
        mac: Some(mac).filter(|m| m.iter().any(|&x| x != 0)),
        bind_ip,
        bind_index: b.get(OFF_BIND_INDEX).copied(),
    })
}

/// Copies `s` into a fixed text field, truncated (at a character boundary) so
/// at least one NUL always ends it, and NUL-pads the rest.
fn put_text(field: &mut [u8], s: &str) {
    field.fill(0);
    let mut end = s.len().min(field.len().saturating_sub(1));
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    field[..end].copy_from_slice(&s.as_bytes()[..end]);
}

/// Encode a full 239-byte ArtPollReply (used by tests and by a fake node in
/// integration tests). Fields `NodeInfo` does not carry are sent as: UBEA 0,
/// Status1 0, ESTA code 0, GoodInput/GoodOutput 0, Style 0 (StNode), Status2
/// 0x08 (15-bit Port-Address support, as an Art-Net 4 node would), the rest
/// zero. `mac: None` and `bind_ip: None` go out as zeros, `bind_index: None`
/// as 0. Names are truncated to leave a NUL (17, 63, 63 bytes). Returns 239.
pub fn encode_artpollreply(n: &NodeInfo, buf: &mut [u8; ARTPOLLREPLY_LEN]) -> usize {
    buf.fill(0);
    header(buf, OP_POLL_REPLY);
    buf[OFF_IP..OFF_IP + 4].copy_from_slice(&n.ip.octets());
    buf[OFF_PORT..OFF_PORT + 2].copy_from_slice(&n.port.to_le_bytes());
    buf[OFF_VERS_INFO..OFF_VERS_INFO + 2].copy_from_slice(&n.firmware.to_be_bytes());
    buf[OFF_NET_SWITCH] = n.net_switch;
    buf[OFF_SUB_SWITCH] = n.sub_switch;
    buf[OFF_OEM..OFF_OEM + 2].copy_from_slice(&n.oem.to_be_bytes());
    buf[OFF_UBEA] = 0;
    buf[OFF_STATUS1] = 0;
    buf[OFF_ESTA_MAN..OFF_ESTA_MAN + 2].copy_from_slice(&[0, 0]);
    put_text(
        &mut buf[OFF_SHORT_NAME..OFF_SHORT_NAME + SHORT_NAME_LEN],
        &n.short_name,
    );
    put_text(
        &mut buf[OFF_LONG_NAME..OFF_LONG_NAME + LONG_NAME_LEN],
        &n.long_name,
    );
    put_text(
        &mut buf[OFF_NODE_REPORT..OFF_NODE_REPORT + NODE_REPORT_LEN],
        &n.node_report,
    );
    buf[OFF_NUM_PORTS..OFF_NUM_PORTS + 2].copy_from_slice(&n.num_ports.to_be_bytes());
    buf[OFF_PORT_TYPES..OFF_PORT_TYPES + 4].copy_from_slice(&n.port_types);
    buf[OFF_GOOD_INPUT..OFF_GOOD_INPUT + 4].fill(0);
    buf[OFF_GOOD_OUTPUT..OFF_GOOD_OUTPUT + 4].fill(0);
    buf[OFF_SW_IN..OFF_SW_IN + 4].copy_from_slice(&n.sw_in);
    buf[OFF_SW_OUT..OFF_SW_OUT + 4].copy_from_slice(&n.sw_out);
    buf[OFF_STYLE] = 0;
    buf[OFF_MAC..OFF_MAC + 6].copy_from_slice(&n.mac.unwrap_or([0; 6]));
    let bind_ip = n.bind_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    buf[OFF_BIND_IP..OFF_BIND_IP + 4].copy_from_slice(&bind_ip.octets());
    buf[OFF_BIND_INDEX] = n.bind_index.unwrap_or(0);
    buf[OFF_STATUS2] = STATUS2_PORT_ADDRESS_15BIT;
    ARTPOLLREPLY_LEN
}

/// Style code of a controller (StController) in ArtPollReply.
pub(crate) const STYLE_CONTROLLER: u8 = 0x01;

/// Whether `bytes` is an ArtPoll (ID, OpCode 0x2000, at least ProtVer).
pub fn is_artpoll(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && check_header(bytes, OP_POLL).is_ok()
}

/// The ArtPollReply packets a controller sending `port_addresses` answers
/// an ArtPoll with: one reply per group of at most four Port-Addresses
/// that share Net and Sub-Net (a reply's ports share those), numbered by
/// BindIndex from 1, each port an input (data from this controller onto
/// the network) with its low nibble in SwIn.
pub fn controller_replies(
    ip: Ipv4Addr,
    short_name: &str,
    long_name: &str,
    port_addresses: &[u16],
) -> Vec<NodeInfo> {
    let mut sorted: Vec<u16> = port_addresses.iter().map(|p| p & 0x7fff).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut groups: Vec<Vec<u16>> = Vec::new();
    for pa in sorted {
        match groups.last_mut() {
            Some(g) if g.len() < 4 && g[0] >> 4 == pa >> 4 => g.push(pa),
            _ => groups.push(vec![pa]),
        }
    }
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    let total = groups.iter().map(Vec::len).sum::<usize>();
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let first = g.first().copied().unwrap_or(0);
            let mut port_types = [0u8; 4];
            let mut sw_in = [0u8; 4];
            for (k, pa) in g.iter().enumerate() {
                port_types[k] = PORT_TYPE_INPUT;
                sw_in[k] = (pa & 0x0f) as u8;
            }
            NodeInfo {
                ip,
                port: ARTNET_PORT,
                firmware: 1,
                net_switch: (first >> 8) as u8 & 0x7f,
                sub_switch: (first >> 4) as u8 & 0x0f,
                oem: 0xffff,
                short_name: short_name.to_string(),
                long_name: long_name.to_string(),
                node_report: format!("#0001 [{:04}] nightscape: sending {total} universes", 1),
                num_ports: g.len() as u16,
                port_types,
                sw_in,
                sw_out: [0; 4],
                mac: None,
                bind_ip: Some(ip),
                bind_index: Some(i.min(254) as u8 + 1),
            }
        })
        .collect()
}

/// [`encode_artpollreply`] with Style StController, as a controller answers.
pub fn encode_controller_reply(n: &NodeInfo, buf: &mut [u8; ARTPOLLREPLY_LEN]) -> usize {
    let len = encode_artpollreply(n, buf);
    buf[OFF_STYLE] = STYLE_CONTROLLER;
    len
}

// ---- Art-Net 4 RDM: ArtTodRequest, ArtTodData, ArtTodControl, ArtRdm ----
//
// Layouts (Art-Net 4 spec, "RDM Support"): every packet starts with ID,
// OpCode (LE), ProtVer (BE). Byte 21 is Net (bits 14-8 of the
// Port-Address), and the packets name a universe by the low byte of the
// Port-Address (sub-net << 4 | universe). ArtRdm carries the RDM message
// without its START code.

pub(crate) const OP_TOD_REQUEST: u16 = 0x8000;
pub const OP_TOD_DATA: u16 = 0x8100;
pub(crate) const OP_TOD_CONTROL: u16 = 0x8200;
pub const OP_RDM: u16 = 0x8300;
/// ArtTodRequest with one address: header (24) + 1.
pub(crate) const TOD_REQUEST_MIN_LEN: usize = 24;
pub(crate) const TOD_DATA_HEADER_LEN: usize = 28;
#[cfg(test)]
pub(crate) const TOD_CONTROL_LEN: usize = 24;
pub(crate) const RDM_HEADER_LEN: usize = 24;
/// RdmVer for RDM standard V1.0.
pub(crate) const RDM_VERSION: u8 = 0x01;
/// ArtTodData CommandResponse: the full table (0x00) or "not available".
pub const TOD_FULL: u8 = 0x00;
pub const TOD_NAK: u8 = 0xFF;
/// Most UIDs one ArtTodData carries.
pub(crate) const TOD_MAX_UIDS: usize = 200;

/// ArtTodControl commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TodCommand {
    None,
    /// Forget the table and run a full discovery.
    Flush,
    /// End of incremental discovery (Art-Net 4).
    End,
    IncrementalOn,
    IncrementalOff,
    Other(u8),
}

impl TodCommand {
    pub(crate) fn byte(self) -> u8 {
        match self {
            TodCommand::None => 0,
            TodCommand::Flush => 1,
            TodCommand::End => 2,
            TodCommand::IncrementalOn => 3,
            TodCommand::IncrementalOff => 4,
            TodCommand::Other(b) => b,
        }
    }
    #[cfg(test)]
    pub(crate) fn from_byte(b: u8) -> TodCommand {
        match b {
            0 => TodCommand::None,
            1 => TodCommand::Flush,
            2 => TodCommand::End,
            3 => TodCommand::IncrementalOn,
            4 => TodCommand::IncrementalOff,
            o => TodCommand::Other(o),
        }
    }
}

/// Split a 15-bit Port-Address into (Net, low byte).
pub(crate) fn port_address_parts(port_address: u16) -> (u8, u8) {
    (
        ((port_address >> 8) & 0x7f) as u8,
        (port_address & 0xff) as u8,
    )
}

/// Join Net and the low byte back into a 15-bit Port-Address.
pub(crate) fn port_address(net: u8, low: u8) -> u16 {
    (u16::from(net & 0x7f) << 8) | u16::from(low)
}

fn rdm_header(buf: &mut Vec<u8>, opcode: u16) {
    buf.clear();
    buf.extend_from_slice(&ID);
    buf.extend_from_slice(&opcode.to_le_bytes());
    buf.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    buf.resize(24, 0);
}

fn check_rdm(b: &[u8], opcode: u16, need: usize) -> Result<(), WireError> {
    check_header(b, opcode)?;
    if b.len() < need {
        return Err(WireError::TooShort { need, got: b.len() });
    }
    Ok(())
}

/// ArtTodRequest: ask a node for its table of devices on the given
/// Port-Addresses (all in one Net; at most 32). Command 0 = TodFull.
pub fn encode_tod_request(port_addresses: &[u16], buf: &mut Vec<u8>) -> usize {
    rdm_header(buf, OP_TOD_REQUEST);
    let list = &port_addresses[..port_addresses.len().min(32)];
    let net = list.first().map(|&p| port_address_parts(p).0).unwrap_or(0);
    buf[21] = net;
    buf[22] = 0;
    buf[23] = list.len() as u8;
    buf.truncate(24);
    buf.extend(list.iter().map(|&p| port_address_parts(p).1));
    buf.len()
}

/// The Port-Addresses an ArtTodRequest asks for.
pub fn parse_tod_request(b: &[u8]) -> Result<Vec<u16>, WireError> {
    check_rdm(b, OP_TOD_REQUEST, TOD_REQUEST_MIN_LEN)?;
    let count = usize::from(b[23]).min(32);
    let have = b.len() - 24;
    Ok(b[24..24 + count.min(have)]
        .iter()
        .map(|&low| port_address(b[21], low))
        .collect())
}

/// One ArtTodData packet: a block of a node's table of devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodData {
    pub rdm_version: u8,
    /// Physical port 1..4.
    pub port: u8,
    pub bind_index: u8,
    /// 15-bit Port-Address of the port.
    pub port_address: u16,
    /// [`TOD_FULL`] or [`TOD_NAK`].
    pub command_response: u8,
    /// UIDs in the whole table (all blocks).
    pub uid_total: u16,
    /// Index of this block, from 0.
    pub block: u8,
    pub uids: Vec<super::rdm::Uid>,
}

pub fn encode_tod_data(t: &TodData, buf: &mut Vec<u8>) -> usize {
    rdm_header(buf, OP_TOD_DATA);
    let (net, low) = port_address_parts(t.port_address);
    let uids = &t.uids[..t.uids.len().min(TOD_MAX_UIDS)];
    buf[12] = t.rdm_version;
    buf[13] = t.port;
    buf[20] = t.bind_index;
    buf[21] = net;
    buf[22] = t.command_response;
    buf[23] = low;
    buf.extend_from_slice(&t.uid_total.to_be_bytes());
    buf.push(t.block);
    buf.push(uids.len() as u8);
    for u in uids {
        buf.extend_from_slice(&u.to_bytes());
    }
    buf.len()
}

/// Parse ArtTodData. A UidCount larger than the bytes present is cut to
/// the whole UIDs that are there (a short packet loses devices, it does not
/// invent them).
pub fn parse_tod_data(b: &[u8]) -> Result<TodData, WireError> {
    check_rdm(b, OP_TOD_DATA, TOD_DATA_HEADER_LEN)?;
    let count = usize::from(b[27]).min((b.len() - TOD_DATA_HEADER_LEN) / 6);
    let uids = b[TOD_DATA_HEADER_LEN..TOD_DATA_HEADER_LEN + count * 6]
        .chunks_exact(6)
        .map(|c| super::rdm::Uid::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5]]))
        .collect();
    Ok(TodData {
        rdm_version: b[12],
        port: b[13],
        bind_index: b[20],
        port_address: port_address(b[21], b[23]),
        command_response: b[22],
        uid_total: u16::from_be_bytes([b[24], b[25]]),
        block: b[26],
        uids,
    })
}

/// ArtTodControl: `Flush` makes the node forget its table and rediscover.
pub fn encode_tod_control(port_address: u16, cmd: TodCommand, buf: &mut Vec<u8>) -> usize {
    rdm_header(buf, OP_TOD_CONTROL);
    let (net, low) = port_address_parts(port_address);
    buf[21] = net;
    buf[22] = cmd.byte();
    buf[23] = low;
    buf.len()
}

#[cfg(test)]
pub(crate) fn parse_tod_control(b: &[u8]) -> Result<(u16, TodCommand), WireError> {
    check_rdm(b, OP_TOD_CONTROL, TOD_CONTROL_LEN)?;
    Ok((port_address(b[21], b[23]), TodCommand::from_byte(b[22])))
}

/// ArtRdm: one RDM message for a universe. `rdm` is the message with or
/// without its START code (as `rdm::encode` writes it); the START code is
/// dropped on the wire, as Art-Net requires.
pub fn encode_artrdm(port_address: u16, rdm: &[u8], buf: &mut Vec<u8>) -> usize {
    rdm_header(buf, OP_RDM);
    let (net, low) = port_address_parts(port_address);
    buf[12] = RDM_VERSION;
    buf[21] = net;
    buf[22] = 0; // ArProcess
    buf[23] = low;
    let body = match rdm.first() {
        Some(&super::rdm::START_CODE) => &rdm[1..],
        _ => rdm,
    };
    buf.extend_from_slice(body);
    buf.len()
}

/// An ArtRdm packet: its Port-Address and the RDM message bytes (without
/// START code; decode them with `rdm::decode`).
pub fn parse_artrdm(b: &[u8]) -> Result<(u16, &[u8]), WireError> {
    check_rdm(b, OP_RDM, RDM_HEADER_LEN)?;
    Ok((port_address(b[21], b[23]), &b[RDM_HEADER_LEN..]))
}

#[cfg(test)]
mod controller_tests {
    use super::*;

    #[test]
    fn replies_group_by_net_and_sub_in_fours() {
        let r = controller_replies(
            Ipv4Addr::LOCALHOST,
            "ns",
            "nightscape",
            &[0, 1, 2, 3, 4, 17, 0x7fff],
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].output_universes(), Vec::<u16>::new());
        let inputs = |n: &NodeInfo| -> Vec<u16> {
            let base = u16::from(n.net_switch) << 8 | u16::from(n.sub_switch) << 4;
            (0..n.num_ports as usize)
                .map(|k| base | u16::from(n.sw_in[k]))
                .collect()
        };
        assert_eq!(inputs(&r[0]), [0, 1, 2, 3]);
        assert_eq!(inputs(&r[1]), [4]);
        assert_eq!(inputs(&r[2]), [17]);
        assert_eq!(inputs(&r[3]), [0x7fff]);
        assert_eq!(r[3].bind_index, Some(4));
        let mut buf = [0u8; ARTPOLLREPLY_LEN];
        encode_controller_reply(&r[3], &mut buf);
        let back = parse_artpollreply(&buf).unwrap();
        assert_eq!(back.sw_in, r[3].sw_in);
        assert_eq!(buf[OFF_STYLE], STYLE_CONTROLLER);
        let mut poll = [0u8; ARTPOLL_LEN];
        encode_artpoll(&mut poll);
        assert!(is_artpoll(&poll));
        assert!(!is_artpoll(&buf));
    }
}

/// Parse an ArtDmx packet (for tests / a loopback receiver):
/// `(sequence, physical, port_address, data)`, where the 15-bit
/// port_address is `(Net & 0x7f) << 8 | SubUni` and `data` is exactly the
/// Length field's worth of bytes (anything after it is ignored). Rejects a
/// wrong ID or OpCode, ProtVer < 14, a Length of 0 or over 512, and a packet
/// shorter than its Length says. An odd Length is accepted: the spec asks
/// senders for even lengths, but receivers lose nothing by taking odd ones.
pub fn parse_artdmx(bytes: &[u8]) -> Result<(u8, u8, u16, &[u8]), WireError> {
    let b = bytes;
    check_header(b, OP_DMX)?;
    if b.len() < ARTDMX_HEADER_LEN {
        return Err(WireError::TooShort {
            need: ARTDMX_HEADER_LEN,
            got: b.len(),
        });
    }
    let ver = u16::from_be_bytes([b[10], b[11]]);
    if ver < PROTOCOL_VERSION {
        return Err(WireError::OldProtocol(ver));
    }
    let sequence = b[12];
    let physical = b[13];
    let port_address = (u16::from(b[15] & 0x7f) << 8) | u16::from(b[14]);
    let len = u16::from_be_bytes([b[16], b[17]]);
    if len == 0 || len > 512 {
        return Err(WireError::BadDmxLength(len));
    }
    let end = ARTDMX_HEADER_LEN + usize::from(len);
    match b.get(ARTDMX_HEADER_LEN..end) {
        Some(data) => Ok((sequence, physical, port_address, data)),
        None => Err(WireError::TooShort {
            need: end,
            got: b.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_artsync() {
        let mut buf = [0xffu8; 14];
        encode_artsync(&mut buf);
        assert_eq!(
            buf,
            [b'A', b'r', b't', b'-', b'N', b'e', b't', 0, 0x00, 0x52, 0x00, 0x0e, 0x00, 0x00]
        );
    }

    #[test]
    fn golden_artpoll() {
        let mut buf = [0xffu8; 32];
        assert_eq!(encode_artpoll(&mut buf), 14);
        assert_eq!(
            buf[..14],
            [b'A', b'r', b't', b'-', b'N', b'e', b't', 0, 0x00, 0x20, 0x00, 0x0e, 0x02, 0x10]
        );
        assert_eq!(buf[14], 0xff, "nothing written past the packet");
        let mut small = [0u8; 13];
        assert_eq!(encode_artpoll(&mut small), 0);
        assert_eq!(small, [0; 13]);
    }

    /// A reply as a node would capture it, written with literal offsets from
    /// the spec's ArtPollReply table (independent of the module's constants).
    fn captured_reply(len: usize) -> Vec<u8> {
        let mut b = vec![0u8; 239];
        b[0..8].copy_from_slice(b"Art-Net\0");
        b[8] = 0x00; // OpPollReply 0x2100, low byte first
        b[9] = 0x21;
        b[10..14].copy_from_slice(&[10, 0, 0, 42]); // IP
        b[14] = 0x36; // Port 0x1936, low byte first
        b[15] = 0x19;
        b[16] = 0x01; // VersInfoH
        b[17] = 0x02; // VersInfoL
        b[18] = 0x01; // NetSwitch
        b[19] = 0x02; // SubSwitch
        b[20] = 0x04; // OemHi
        b[21] = 0x30; // Oem
        b[22] = 0; // Ubea
        b[23] = 0xd2; // Status1
        b[24] = b'l'; // EstaManLo
        b[25] = b'O'; // EstaManHi
        b[26..26 + 9].copy_from_slice(b"CityNode1"); // ShortName[18]
        b[44..44 + 17].copy_from_slice(b"City node, pier 7"); // LongName[64]
        b[108..108 + 21].copy_from_slice(b"#0001 [0042] Power On"); // NodeReport[64]
        b[172] = 0; // NumPortsHi
        b[173] = 3; // NumPortsLo
        b[174..178].copy_from_slice(&[0x80, 0x40, 0xc0, 0x80]); // PortTypes
        b[178..182].copy_from_slice(&[0, 0x80, 0, 0]); // GoodInput
        b[182..186].copy_from_slice(&[0x80, 0, 0x80, 0]); // GoodOutput
        b[186..190].copy_from_slice(&[0, 5, 6, 0]); // SwIn
        b[190..194].copy_from_slice(&[3, 4, 7, 9]); // SwOut
        b[200] = 0; // Style StNode
        b[201..207].copy_from_slice(&[0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]); // MAC
        b[207..211].copy_from_slice(&[10, 0, 0, 40]); // BindIp
        b[211] = 2; // BindIndex
        b[212] = 0x08; // Status2
        b.truncate(len);
        b
    }

    fn expected_node() -> NodeInfo {
        NodeInfo {
            ip: Ipv4Addr::new(10, 0, 0, 42),
            port: 6454,
            firmware: 0x0102,
            net_switch: 1,
            sub_switch: 2,
            oem: 0x0430,
            short_name: "CityNode1".into(),
            long_name: "City node, pier 7".into(),
            node_report: "#0001 [0042] Power On".into(),
            num_ports: 3,
            port_types: [0x80, 0x40, 0xc0, 0x80],
            sw_in: [0, 5, 6, 0],
            sw_out: [3, 4, 7, 9],
            mac: Some([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]),
            bind_ip: Some(Ipv4Addr::new(10, 0, 0, 40)),
            bind_index: Some(2),
        }
    }

    #[test]
    fn parse_full_239() {
        let n = parse_artpollreply(&captured_reply(239)).unwrap();
        assert_eq!(n, expected_node());
        // Port 4 is an output but num_ports is 3; port 2 is input only.
        assert_eq!(n.output_universes(), vec![0x123, 0x127]);
    }

    #[test]
    fn parse_short_forms() {
        let n = parse_artpollreply(&captured_reply(207)).unwrap();
        assert_eq!(
            n,
            NodeInfo {
                bind_ip: None,
                bind_index: None,
                ..expected_node()
            }
        );
        let n = parse_artpollreply(&captured_reply(211)).unwrap();
        assert_eq!(n.bind_ip, Some(Ipv4Addr::new(10, 0, 0, 40)));
        assert_eq!(n.bind_index, None);
        let n = parse_artpollreply(&captured_reply(212)).unwrap();
        assert_eq!(n, expected_node());
        // Longer than 239 (future growth) is fine too.
        let mut long = captured_reply(239);
        long.extend([0u8; 20]);
        assert_eq!(parse_artpollreply(&long).unwrap(), expected_node());
    }

    #[test]
    fn zero_mac_and_bind_ip_mean_none() {
        let mut b = captured_reply(239);
        b[201..211].fill(0);
        let n = parse_artpollreply(&b).unwrap();
        assert_eq!(n.mac, None);
        assert_eq!(n.bind_ip, None);
        assert_eq!(n.bind_index, Some(2));
    }

    #[test]
    fn rejects_foreign_packets() {
        assert_eq!(
            parse_artpollreply(&captured_reply(206)),
            Err(WireError::TooShort {
                need: 207,
                got: 206
            })
        );
        let mut b = captured_reply(239);
        b[7] = b'!';
        assert_eq!(parse_artpollreply(&b), Err(WireError::BadId));
        let mut b = captured_reply(239);
        b[9] = 0x20; // an ArtPoll
        assert_eq!(
            parse_artpollreply(&b),
            Err(WireError::WrongOpCode {
                expected: 0x2100,
                got: 0x2000
            })
        );
        // Our own ArtPoll, as seen on the discovery socket.
        let mut poll = [0u8; 14];
        encode_artpoll(&mut poll);
        assert!(matches!(
            parse_artpollreply(&poll),
            Err(WireError::WrongOpCode { .. })
        ));
        assert!(parse_artpollreply(&[]).is_err());
    }

    #[test]
    fn encoder_matches_captured_bytes() {
        // Same bytes as the hand-built capture except the fields NodeInfo
        // does not carry (Status1, EstaMan, GoodInput/GoodOutput).
        let mut want = captured_reply(239);
        want[23] = 0;
        want[24] = 0;
        want[25] = 0;
        want[178..186].fill(0);
        let mut buf = [0xffu8; 239];
        assert_eq!(encode_artpollreply(&expected_node(), &mut buf), 239);
        assert_eq!(&buf[..], &want[..]);
    }

    #[test]
    fn round_trip() {
        let n = expected_node();
        let mut buf = [0u8; 239];
        encode_artpollreply(&n, &mut buf);
        assert_eq!(parse_artpollreply(&buf).unwrap(), n);

        let m = NodeInfo {
            ip: Ipv4Addr::new(127, 0, 0, 1),
            firmware: 0xbeef,
            net_switch: 0x7f,
            sub_switch: 0x0f,
            oem: 0xffff,
            short_name: "s".repeat(30),
            long_name: "ü".repeat(40),
            node_report: String::new(),
            num_ports: 4,
            port_types: [0x80; 4],
            sw_out: [0, 1, 2, 15],
            mac: None,
            bind_ip: None,
            bind_index: Some(0),
            ..n
        };
        encode_artpollreply(&m, &mut buf);
        let p = parse_artpollreply(&buf).unwrap();
        assert_eq!(p.short_name, "s".repeat(17));
        // 63 bytes hold 31 two-byte characters.
        assert_eq!(p.long_name, "ü".repeat(31));
        assert_eq!(
            p,
            NodeInfo {
                short_name: "s".repeat(17),
                long_name: "ü".repeat(31),
                ..m.clone()
            }
        );
        assert_eq!(p.output_universes(), vec![0x7ff0, 0x7ff1, 0x7ff2, 0x7fff]);
    }

    #[test]
    fn output_universes_masks_and_limits() {
        let n = NodeInfo {
            net_switch: 0xff,        // only 7 bits count
            sub_switch: 0xf3,        // only 4 bits count
            sw_out: [0x1a, 0, 0, 0], // only 4 bits count
            num_ports: 200,          // more than 4: clamp
            port_types: [0x80, 0x00, 0x05, 0xc5],
            ..expected_node()
        };
        assert_eq!(n.output_universes(), vec![0x7f3a, 0x7f30]);
        let none = NodeInfo {
            num_ports: 0,
            ..expected_node()
        };
        assert!(none.output_universes().is_empty());
    }

    fn artdmx(net: u8, subuni: u8, seq: u8, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"Art-Net\0");
        b.extend([0x00, 0x50]); // OpDmx, low byte first
        b.extend([0x00, 0x0e]); // ProtVer 14, high byte first
        b.extend([seq, 0x01, subuni, net]);
        b.extend((data.len() as u16).to_be_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn artdmx_parses() {
        let pkt = artdmx(0x01, 0x23, 9, &[10, 20, 30, 40]);
        assert_eq!(
            parse_artdmx(&pkt).unwrap(),
            (9, 1, 0x123, &[10u8, 20, 30, 40][..])
        );
        let full = artdmx(0xff, 0xff, 255, &[1u8; 512]);
        let (_, _, pa, data) = parse_artdmx(&full).unwrap();
        assert_eq!(pa, 0x7fff);
        assert_eq!(data.len(), 512);
        // Trailing padding after Length bytes is ignored.
        let mut padded = artdmx(0, 1, 1, &[5, 6]);
        padded.extend([0u8; 10]);
        assert_eq!(parse_artdmx(&padded).unwrap().3, &[5, 6]);
        // Odd lengths are taken.
        assert_eq!(parse_artdmx(&artdmx(0, 1, 1, &[7])).unwrap().3, &[7]);
    }

    #[test]
    fn artdmx_rejects() {
        assert_eq!(
            parse_artdmx(&artdmx(0, 0, 0, &[])),
            Err(WireError::BadDmxLength(0))
        );
        assert_eq!(
            parse_artdmx(&artdmx(0, 0, 0, &[0; 513])),
            Err(WireError::BadDmxLength(513))
        );
        let mut old = artdmx(0, 0, 0, &[1, 2]);
        old[11] = 13;
        assert_eq!(parse_artdmx(&old), Err(WireError::OldProtocol(13)));
        let mut sync = [0u8; 14];
        encode_artsync(&mut sync);
        assert_eq!(
            parse_artdmx(&sync),
            Err(WireError::WrongOpCode {
                expected: 0x5000,
                got: 0x5200
            })
        );
        let pkt = artdmx(0, 0, 0, &[1, 2, 3, 4]);
        assert_eq!(
            parse_artdmx(&pkt[..20]),
            Err(WireError::TooShort { need: 22, got: 20 })
        );
    }

    #[test]
    fn every_prefix_is_handled() {
        let reply = captured_reply(239);
        for len in 0..reply.len() {
            let r = parse_artpollreply(&reply[..len]);
            assert_eq!(r.is_ok(), len >= 207, "prefix {len}");
        }
        let pkt = artdmx(0, 7, 3, &[9u8; 512]);
        for len in 0..pkt.len() {
            assert!(parse_artdmx(&pkt[..len]).is_err(), "prefix {len}");
        }
        assert!(parse_artdmx(&pkt).is_ok());
    }
}

#[cfg(test)]
mod rdm_packet_tests {
    use super::super::rdm::{self, CommandClass, Message, Uid};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tod_request_layout() {
        let mut buf = Vec::new();
        let n = encode_tod_request(&[0x0123], &mut buf);
        assert_eq!(n, 25);
        assert_eq!(&buf[..8], b"Art-Net\0");
        assert_eq!(&buf[8..10], &[0x00, 0x80]);
        assert_eq!(&buf[10..12], &[0, 14]);
        assert_eq!((buf[21], buf[22], buf[23], buf[24]), (1, 0, 1, 0x23));
        assert_eq!(parse_tod_request(&buf), Ok(vec![0x0123]));
    }

    #[test]
    fn tod_data_round_trip_and_short_packet() {
        let t = TodData {
            rdm_version: 1,
            port: 1,
            bind_index: 1,
            port_address: 0x0201,
            command_response: TOD_FULL,
            uid_total: 6,
            block: 0,
            uids: (0..6).map(|i| Uid::new(0x7a70, 0xffff_ff00 + i)).collect(),
        };
        let mut buf = Vec::new();
        assert_eq!(encode_tod_data(&t, &mut buf), 28 + 36);
        assert_eq!(buf[27], 6);
        assert_eq!(parse_tod_data(&buf), Ok(t.clone()));
        // A packet cut mid-UID keeps only the whole UIDs.
        let cut = parse_tod_data(&buf[..28 + 15]).unwrap();
        assert_eq!(cut.uids, t.uids[..2]);
        assert!(parse_tod_data(&buf[..27]).is_err());
        assert!(matches!(
            parse_tod_request(&buf),
            Err(WireError::WrongOpCode { .. })
        ));
    }

    #[test]
    fn tod_control_and_artrdm() {
        let mut buf = Vec::new();
        encode_tod_control(0x7f05, TodCommand::Flush, &mut buf);
        assert_eq!(buf.len(), 24);
        assert_eq!(parse_tod_control(&buf), Ok((0x7f05, TodCommand::Flush)));
        let mut msg = Vec::new();
        let m = Message::request(
            Uid::new(0x7a70, 1),
            Uid::new(0x4e53, 1),
            1,
            CommandClass::Get,
            rdm::pid::DEVICE_INFO,
            &[],
        );
        rdm::encode(&m, &mut msg).unwrap();
        let n = encode_artrdm(1, &msg, &mut buf);
        assert_eq!(n, 24 + msg.len() - 1, "START code dropped");
        assert_eq!(buf[24], rdm::SUB_START_CODE);
        let (pa, body) = parse_artrdm(&buf).unwrap();
        assert_eq!(pa, 1);
        assert_eq!(rdm::decode(body), Ok(m));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn rdm_packets_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..1300), op in 0usize..4) {
            let mut b = Vec::from(&ID[..]);
            b.extend_from_slice(&[OP_TOD_REQUEST, OP_TOD_DATA, OP_TOD_CONTROL, OP_RDM][op].to_le_bytes());
            b.extend_from_slice(&tail);
            let _ = parse_tod_request(&b);
            let _ = parse_tod_data(&b);
            let _ = parse_tod_control(&b);
            if let Ok((_, body)) = parse_artrdm(&b) {
                let _ = rdm::decode(body);
            }
        }

        #[test]
        fn tod_data_round_trips(pa in 0u16..0x8000, total in any::<u16>(), block in any::<u8>(),
                                ids in proptest::collection::vec(any::<[u8; 6]>(), 0..=200)) {
            let t = TodData { rdm_version: 1, port: 1, bind_index: 0, port_address: pa,
                command_response: TOD_FULL, uid_total: total, block,
                uids: ids.into_iter().map(Uid::from_bytes).collect() };
            let mut buf = Vec::new();
            encode_tod_data(&t, &mut buf);
            prop_assert_eq!(parse_tod_data(&buf), Ok(t));
        }
    }
}
