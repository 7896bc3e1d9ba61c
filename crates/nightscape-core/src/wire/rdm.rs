//! RDM (ANSI E1.20, Remote Device Management) messages: the bytes a
//! controller sends to a fixture and the fixture's reply, plus the parameter
//! data (PD) of the parameters nightscape reads for device care.
//!
//! Pure and allocation-light: requests encode into the caller's reused
//! buffer, replies decode into borrowed views of the received bytes. Every
//! decoder checks lengths before it indexes, so a malformed or hostile reply
//! is an `Err`, never a panic (property-tested below).
//!
//! Message layout (E1.20 §6.2), offsets counted with the START code:
//! `0xCC 0x01 len dest[6] src[6] tn port/resp msgcount subdev[2] cc pid[2]
//! pdl pd[pdl] checksum[2]`, where `len` = 24 + pdl (everything before the
//! checksum) and the checksum is the 16-bit sum of every byte before it.
//! Art-Net's ArtRdm carries the message without the START code; the
//! decoder accepts both forms (the START code 0xCC and the sub-START code
//! 0x01 cannot be confused).

pub mod discovery;

use std::fmt;
use std::str::FromStr;

/// The RDM START code (E1.20 §6.2.1).
pub const START_CODE: u8 = 0xCC;
/// The sub-START code for RDM messages.
pub const SUB_START_CODE: u8 = 0x01;
/// Bytes before the parameter data, START code included.
pub const HEADER_LEN: usize = 24;
/// Largest parameter data length (E1.20 §6.2.3: message length ≤ 255).
pub const MAX_PDL: usize = 231;
/// Largest whole message: header, 231 bytes of PD, checksum.
pub const MAX_MESSAGE_LEN: usize = HEADER_LEN + MAX_PDL + 2;

/// Parameter IDs used by nightscape (E1.20 Table A-3).
pub mod pid {
    pub const DISC_UNIQUE_BRANCH: u16 = 0x0001;
    pub const DISC_MUTE: u16 = 0x0002;
    pub const DISC_UN_MUTE: u16 = 0x0003;
    pub const STATUS_MESSAGES: u16 = 0x0030;
    pub const SUPPORTED_PARAMETERS: u16 = 0x0050;
    pub const DEVICE_INFO: u16 = 0x0060;
    pub const DEVICE_MODEL_DESCRIPTION: u16 = 0x0080;
    pub const MANUFACTURER_LABEL: u16 = 0x0081;
    pub const DEVICE_LABEL: u16 = 0x0082;
    pub const SOFTWARE_VERSION_LABEL: u16 = 0x00C0;
    pub const DMX_PERSONALITY: u16 = 0x00E0;
    pub const DMX_START_ADDRESS: u16 = 0x00F0;
    pub const SENSOR_DEFINITION: u16 = 0x0200;
    pub const SENSOR_VALUE: u16 = 0x0201;
    pub const DEVICE_HOURS: u16 = 0x0400;
    pub const LAMP_HOURS: u16 = 0x0401;
    pub const LAMP_STATE: u16 = 0x0403;
    pub const IDENTIFY_DEVICE: u16 = 0x1000;
}

/// Status types for a STATUS_MESSAGES GET (E1.20 Table A-4).
pub mod status_type {
    pub const NONE: u8 = 0x00;
    pub const GET_LAST_MESSAGE: u8 = 0x01;
    pub const ADVISORY: u8 = 0x02;
    pub const WARNING: u8 = 0x03;
    pub const ERROR: u8 = 0x04;
}

/// Why an RDM byte slice or parameter data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdmError {
    #[error("RDM message too short: need {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("not an RDM message (START code {0:#04x})")]
    BadStartCode(u8),
    #[error("RDM sub-START code is {0:#04x}, expected 0x01")]
    BadSubStartCode(u8),
    #[error("RDM message length field {len} does not fit PDL {pdl}")]
    BadLength { len: u8, pdl: u8 },
    #[error("RDM checksum {got:#06x}, computed {computed:#06x}")]
    BadChecksum { got: u16, computed: u16 },
    #[error("RDM command class {0:#04x} is not one of E1.20's")]
    BadCommandClass(u8),
    #[error("RDM response type {0:#04x} is not ACK, ACK_TIMER, NACK_REASON or ACK_OVERFLOW")]
    BadResponseType(u8),
    #[error("parameter data of {pid:#06x} is {got} bytes, expected {expected}")]
    BadPdl {
        pid: u16,
        got: usize,
        expected: &'static str,
    },
    #[error("parameter data too long: {0} bytes (at most 231)")]
    PdTooLong(usize),
    #[error("discovery reply is malformed")]
    BadDiscoveryReply,
}

/// An RDM UID: ESTA manufacturer ID and device ID, printed `mmmm:dddddddd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uid {
    pub manufacturer: u16,
    pub device: u32,
}

impl Uid {
    /// Every device (E1.20 §5.1): `ffff:ffffffff`.
    pub const BROADCAST: Uid = Uid {
        manufacturer: 0xffff,
        device: 0xffff_ffff,
    };

    pub const fn new(manufacturer: u16, device: u32) -> Uid {
        Uid {
            manufacturer,
            device,
        }
    }

    pub fn to_bytes(self) -> [u8; 6] {
        let m = self.manufacturer.to_be_bytes();
        let d = self.device.to_be_bytes();
        [m[0], m[1], d[0], d[1], d[2], d[3]]
    }

    pub fn from_bytes(b: [u8; 6]) -> Uid {
        Uid {
            manufacturer: u16::from_be_bytes([b[0], b[1]]),
            device: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        }
    }

    fn read(b: &[u8], at: usize) -> Uid {
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[at..at + 6]);
        Uid::from_bytes(a)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:08x}", self.manufacturer, self.device)
    }
}

impl FromStr for Uid {
    type Err = String;
    fn from_str(s: &str) -> Result<Uid, String> {
        let bad = || format!("`{s}` is not an RDM UID: write it as mmmm:dddddddd in hex");
        let (m, d) = s.trim().split_once(':').ok_or_else(bad)?;
        if m.is_empty() || m.len() > 4 || d.is_empty() || d.len() > 8 {
            return Err(bad());
        }
        Ok(Uid {
            manufacturer: u16::from_str_radix(m, 16).map_err(|_| bad())?,
            device: u32::from_str_radix(d, 16).map_err(|_| bad())?,
        })
    }
}

impl serde::Serialize for Uid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Command class (E1.20 Table A-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    Discovery,
    DiscoveryResponse,
    Get,
    GetResponse,
    Set,
    SetResponse,
}

impl CommandClass {
    pub fn byte(self) -> u8 {
        match self {
            CommandClass::Discovery => 0x10,
            CommandClass::DiscoveryResponse => 0x11,
            CommandClass::Get => 0x20,
            CommandClass::GetResponse => 0x21,
            CommandClass::Set => 0x30,
            CommandClass::SetResponse => 0x31,
        }
    }

    pub fn from_byte(b: u8) -> Option<CommandClass> {
        Some(match b {
            0x10 => CommandClass::Discovery,
            0x11 => CommandClass::DiscoveryResponse,
            0x20 => CommandClass::Get,
            0x21 => CommandClass::GetResponse,
            0x30 => CommandClass::Set,
            0x31 => CommandClass::SetResponse,
            _ => return None,
        })
    }

    /// The class a responder answers a request of this class with.
    pub fn response(self) -> CommandClass {
        match self {
            CommandClass::Discovery | CommandClass::DiscoveryResponse => {
                CommandClass::DiscoveryResponse
            }
            CommandClass::Get | CommandClass::GetResponse => CommandClass::GetResponse,
            CommandClass::Set | CommandClass::SetResponse => CommandClass::SetResponse,
        }
    }
}

/// One RDM message, request or response, borrowing its parameter data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub dest: Uid,
    pub src: Uid,
    pub transaction: u8,
    /// Port ID in a request, response type in a response.
    pub port_or_response: u8,
    /// Queued messages the responder holds (responses only).
    pub message_count: u8,
    pub sub_device: u16,
    pub class: CommandClass,
    pub pid: u16,
    pub data: &'a [u8],
}

impl<'a> Message<'a> {
    /// A GET or SET request to the root device, port 1.
    pub fn request(
        dest: Uid,
        src: Uid,
        transaction: u8,
        class: CommandClass,
        pid: u16,
        data: &'a [u8],
    ) -> Message<'a> {
        Message {
            dest,
            src,
            transaction,
            port_or_response: 1,
            message_count: 0,
            sub_device: 0,
            class,
            pid,
            data,
        }
    }

    /// How the responder answered (responses only).
    pub fn response(&self) -> Result<Response<'a>, RdmError> {
        Ok(match self.port_or_response {
            0x00 => Response::Ack(self.data),
            0x01 => {
                let t = pd_u16(self.pid, self.data)?;
                Response::AckTimer { tenths: t }
            }
            0x02 => Response::Nack(NackReason::from_code(pd_u16(self.pid, self.data)?)),
            0x03 => Response::AckOverflow(self.data),
            other => return Err(RdmError::BadResponseType(other)),
        })
    }
}

/// Sum of the bytes, mod 2^16 (E1.20 §6.2.11).
pub fn checksum(bytes: &[u8]) -> u16 {
    bytes
        .iter()
        .fold(0u16, |acc, &b| acc.wrapping_add(u16::from(b)))
}

/// Encode `m` with its START code into `buf` (cleared first; its capacity is
/// reused). Returns the length. Parameter data over 231 bytes is refused.
pub fn encode(m: &Message<'_>, buf: &mut Vec<u8>) -> Result<usize, RdmError> {
    if m.data.len() > MAX_PDL {
        return Err(RdmError::PdTooLong(m.data.len()));
    }
    buf.clear();
    buf.push(START_CODE);
    buf.push(SUB_START_CODE);
    buf.push((HEADER_LEN + m.data.len()) as u8);
    buf.extend_from_slice(&m.dest.to_bytes());
    buf.extend_from_slice(&m.src.to_bytes());
    buf.push(m.transaction);
    buf.push(m.port_or_response);
    buf.push(m.message_count);
    buf.extend_from_slice(&m.sub_device.to_be_bytes());
    buf.push(m.class.byte());
    buf.extend_from_slice(&m.pid.to_be_bytes());
    buf.push(m.data.len() as u8);
    buf.extend_from_slice(m.data);
    let sum = checksum(buf);
    buf.extend_from_slice(&sum.to_be_bytes());
    Ok(buf.len())
}

/// Decode one message, with or without its START code. Trailing bytes after
/// the checksum are ignored (some transports pad).
pub fn decode(bytes: &[u8]) -> Result<Message<'_>, RdmError> {
    // Without the START code, the checksum still counts it (it is part of
    // the message on the wire); add it back.
    let (b, implied) = match bytes.first() {
        Some(&START_CODE) => (bytes, 0u16),
        Some(&SUB_START_CODE) => (bytes, u16::from(START_CODE)),
        Some(&other) => return Err(RdmError::BadStartCode(other)),
        None => return Err(RdmError::TooShort { need: 26, got: 0 }),
    };
    // Offsets into `b`: shift by one when the START code is absent.
    let o = if implied == 0 { 0usize } else { 1usize };
    let need = HEADER_LEN - o + 2;
    if b.len() < need {
        return Err(RdmError::TooShort { need, got: b.len() });
    }
    let at = |i: usize| i - o;
    if b[at(1)] != SUB_START_CODE {
        return Err(RdmError::BadSubStartCode(b[at(1)]));
    }
    let len = b[at(2)];
    let pdl = b[at(23)];
    if usize::from(len) != HEADER_LEN + usize::from(pdl) {
        return Err(RdmError::BadLength { len, pdl });
    }
    let end = usize::from(len) - o;
    if b.len() < end + 2 {
        return Err(RdmError::TooShort {
            need: end + 2,
            got: b.len(),
        });
    }
    let computed = checksum(&b[..end]).wrapping_add(implied);
    let got = u16::from_be_bytes([b[end], b[end + 1]]);
    if got != computed {
        return Err(RdmError::BadChecksum { got, computed });
    }
    let class = CommandClass::from_byte(b[at(20)]).ok_or(RdmError::BadCommandClass(b[at(20)]))?;
    Ok(Message {
        dest: Uid::read(b, at(3)),
        src: Uid::read(b, at(9)),
        transaction: b[at(15)],
        port_or_response: b[at(16)],
        message_count: b[at(17)],
        sub_device: u16::from_be_bytes([b[at(18)], b[at(19)]]),
        class,
        pid: u16::from_be_bytes([b[at(21)], b[at(22)]]),
        data: &b[at(24)..end],
    })
}

/// How a responder answered (E1.20 Table A-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    Ack(&'a [u8]),
    /// Ask again after this many tenths of a second.
    AckTimer {
        tenths: u16,
    },
    Nack(NackReason),
    /// More data follows: GET the same PID again and append.
    AckOverflow(&'a [u8]),
}

/// Why a responder refused (E1.20 Table A-17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackReason {
    UnknownPid,
    FormatError,
    HardwareFault,
    ProxyReject,
    WriteProtect,
    UnsupportedCommandClass,
    DataOutOfRange,
    BufferFull,
    PacketSizeUnsupported,
    SubDeviceOutOfRange,
    ProxyBufferFull,
    Other(u16),
}

impl NackReason {
    pub fn from_code(c: u16) -> NackReason {
        match c {
            0x0000 => NackReason::UnknownPid,
            0x0001 => NackReason::FormatError,
            0x0002 => NackReason::HardwareFault,
            0x0003 => NackReason::ProxyReject,
            0x0004 => NackReason::WriteProtect,
            0x0005 => NackReason::UnsupportedCommandClass,
            0x0006 => NackReason::DataOutOfRange,
            0x0007 => NackReason::BufferFull,
            0x0008 => NackReason::PacketSizeUnsupported,
            0x0009 => NackReason::SubDeviceOutOfRange,
            0x000A => NackReason::ProxyBufferFull,
            other => NackReason::Other(other),
        }
    }

    /// E1.20's name for the reason, for messages to people.
    pub fn name(self) -> &'static str {
        match self {
            NackReason::UnknownPid => "unknown PID",
            NackReason::FormatError => "format error",
            NackReason::HardwareFault => "hardware fault",
            NackReason::ProxyReject => "proxy reject",
            NackReason::WriteProtect => "write protected",
            NackReason::UnsupportedCommandClass => "unsupported command class",
            NackReason::DataOutOfRange => "data out of range",
            NackReason::BufferFull => "buffer full",
            NackReason::PacketSizeUnsupported => "packet size unsupported",
            NackReason::SubDeviceOutOfRange => "sub-device out of range",
            NackReason::ProxyBufferFull => "proxy buffer full",
            NackReason::Other(_) => "other reason",
        }
    }

    pub fn code(self) -> u16 {
        match self {
            NackReason::UnknownPid => 0x0000,
            NackReason::FormatError => 0x0001,
            NackReason::HardwareFault => 0x0002,
            NackReason::ProxyReject => 0x0003,
            NackReason::WriteProtect => 0x0004,
            NackReason::UnsupportedCommandClass => 0x0005,
            NackReason::DataOutOfRange => 0x0006,
            NackReason::BufferFull => 0x0007,
            NackReason::PacketSizeUnsupported => 0x0008,
            NackReason::SubDeviceOutOfRange => 0x0009,
            NackReason::ProxyBufferFull => 0x000A,
            NackReason::Other(c) => c,
        }
    }
}

fn bad_pdl(pid: u16, got: usize, expected: &'static str) -> RdmError {
    RdmError::BadPdl { pid, got, expected }
}

fn pd_u16(pid: u16, d: &[u8]) -> Result<u16, RdmError> {
    match d {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(bad_pdl(pid, d.len(), "2")),
    }
}

fn i16_at(d: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([d[at], d[at + 1]])
}

fn u16_at(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// DEVICE_INFO (E1.20 §10.5.1): 19 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DeviceInfo {
    pub protocol_version: u16,
    pub model_id: u16,
    pub product_category: u16,
    pub software_version: u32,
    pub footprint: u16,
    pub personality: u8,
    pub personality_count: u8,
    /// 1..=512, or 0xFFFF when the device has no DMX footprint.
    pub start_address: u16,
    pub sub_device_count: u16,
    pub sensor_count: u8,
}

impl DeviceInfo {
    pub const LEN: usize = 19;

    pub fn parse(d: &[u8]) -> Result<DeviceInfo, RdmError> {
        if d.len() != Self::LEN {
            return Err(bad_pdl(pid::DEVICE_INFO, d.len(), "19"));
        }
        Ok(DeviceInfo {
            protocol_version: u16_at(d, 0),
            model_id: u16_at(d, 2),
            product_category: u16_at(d, 4),
            software_version: u32::from_be_bytes([d[6], d[7], d[8], d[9]]),
            footprint: u16_at(d, 10),
            personality: d[12],
            personality_count: d[13],
            start_address: u16_at(d, 14),
            sub_device_count: u16_at(d, 16),
            sensor_count: d[18],
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.protocol_version.to_be_bytes());
        out.extend_from_slice(&self.model_id.to_be_bytes());
        out.extend_from_slice(&self.product_category.to_be_bytes());
        out.extend_from_slice(&self.software_version.to_be_bytes());
        out.extend_from_slice(&self.footprint.to_be_bytes());
        out.push(self.personality);
        out.push(self.personality_count);
        out.extend_from_slice(&self.start_address.to_be_bytes());
        out.extend_from_slice(&self.sub_device_count.to_be_bytes());
        out.push(self.sensor_count);
    }
}

/// A label PID's text (up to 32 bytes of ASCII; a NUL ends it early, odd
/// bytes are replaced rather than refused).
pub fn parse_text(d: &[u8]) -> String {
    let d = &d[..d.len().min(32)];
    let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
    String::from_utf8_lossy(&d[..end]).trim_end().to_string()
}

/// A 4-byte counter (DEVICE_HOURS, LAMP_HOURS).
pub fn parse_u32(pid: u16, d: &[u8]) -> Result<u32, RdmError> {
    match d {
        [a, b, c, e] => Ok(u32::from_be_bytes([*a, *b, *c, *e])),
        _ => Err(bad_pdl(pid, d.len(), "4")),
    }
}

/// DMX_START_ADDRESS GET response: 2 bytes.
pub fn parse_start_address(d: &[u8]) -> Result<u16, RdmError> {
    if d.len() != 2 {
        return Err(bad_pdl(pid::DMX_START_ADDRESS, d.len(), "2"));
    }
    Ok(u16_at(d, 0))
}

/// DMX_PERSONALITY GET response: (current, count).
pub fn parse_personality(d: &[u8]) -> Result<(u8, u8), RdmError> {
    match d {
        [cur, count] => Ok((*cur, *count)),
        _ => Err(bad_pdl(pid::DMX_PERSONALITY, d.len(), "2")),
    }
}

/// LAMP_STATE (E1.20 Table A-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LampState {
    Off,
    On,
    Strike,
    Standby,
    NotPresent,
    Error,
    Other(u8),
}

impl LampState {
    pub fn parse(d: &[u8]) -> Result<LampState, RdmError> {
        match d {
            [b] => Ok(match b {
                0 => LampState::Off,
                1 => LampState::On,
                2 => LampState::Strike,
                3 => LampState::Standby,
                4 => LampState::NotPresent,
                0x7F => LampState::Error,
                o => LampState::Other(*o),
            }),
            _ => Err(bad_pdl(pid::LAMP_STATE, d.len(), "1")),
        }
    }

    /// A lamp state a crew must look at.
    pub fn is_failure(self) -> bool {
        matches!(self, LampState::Error | LampState::NotPresent)
    }
}

/// Status message IDs (E1.20 Table B-2) that device care acts on.
pub mod status_id {
    /// The lamp went out when it should be lit.
    pub const LAMP_DOUSED: u16 = 0x0011;
    /// The lamp failed to strike.
    pub const LAMP_STRIKE: u16 = 0x0012;
    pub const OVERTEMP: u16 = 0x0021;
    pub const UNDERTEMP: u16 = 0x0022;
    pub const SENS_OUT_RANGE: u16 = 0x0023;
    /// A dimmer (for an LED fixture: its driver) failed.
    pub const DIM_FAILURE: u16 = 0x0044;

    /// Whether a status message with this ID says the light source failed.
    pub fn is_lamp_failure(id: u16) -> bool {
        matches!(id, LAMP_DOUSED | LAMP_STRIKE | DIM_FAILURE)
    }
}

/// One entry of STATUS_MESSAGES (E1.20 §10.3.2): 9 bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatusMessage {
    pub sub_device: u16,
    pub status_type: u8,
    pub message_id: u16,
    pub data1: i16,
    pub data2: i16,
}

impl StatusMessage {
    pub fn parse_list(d: &[u8]) -> Result<Vec<StatusMessage>, RdmError> {
        if d.len() % 9 != 0 {
            return Err(bad_pdl(pid::STATUS_MESSAGES, d.len(), "a multiple of 9"));
        }
        Ok(d.chunks_exact(9)
            .map(|c| StatusMessage {
                sub_device: u16_at(c, 0),
                status_type: c[2],
                message_id: u16_at(c, 3),
                data1: i16_at(c, 5),
                data2: i16_at(c, 7),
            })
            .collect())
    }

    /// Short name of the status type.
    pub fn severity(&self) -> &'static str {
        match self.status_type & 0x0f {
            status_type::ADVISORY => "advisory",
            status_type::WARNING => "warning",
            status_type::ERROR => "error",
            _ => "other",
        }
    }
}

/// SENSOR_DEFINITION (E1.20 §10.7.1): 13 bytes plus up to 32 of text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SensorDefinition {
    pub number: u8,
    pub kind: u8,
    pub unit: u8,
    pub prefix: u8,
    pub range: (i16, i16),
    pub normal: (i16, i16),
    pub recorded_support: u8,
    pub description: String,
}

impl SensorDefinition {
    pub fn parse(d: &[u8]) -> Result<SensorDefinition, RdmError> {
        if d.len() < 13 || d.len() > 13 + 32 {
            return Err(bad_pdl(pid::SENSOR_DEFINITION, d.len(), "13..=45"));
        }
        Ok(SensorDefinition {
            number: d[0],
            kind: d[1],
            unit: d[2],
            prefix: d[3],
            range: (i16_at(d, 4), i16_at(d, 6)),
            normal: (i16_at(d, 8), i16_at(d, 10)),
            recorded_support: d[12],
            description: parse_text(&d[13..]),
        })
    }

    /// The unit as a symbol with its prefix ("°C", "mV", "A"), "" for none.
    pub fn unit_symbol(&self) -> String {
        let prefix = match self.prefix {
            0x01 => "d",
            0x02 => "c",
            0x03 => "m",
            0x04 => "µ",
            0x05 => "n",
            0x11 => "da",
            0x12 => "h",
            0x13 => "k",
            0x14 => "M",
            _ => "",
        };
        let unit = match self.unit {
            0x01 => "°C",
            0x02 => "V DC",
            0x03 => "V AC peak",
            0x04 => "V AC",
            0x05 => "A DC",
            0x06 => "A AC peak",
            0x07 => "A AC",
            0x08 => "Hz",
            0x09 => "Ω",
            0x0A => "W",
            0x0B => "kg",
            0x0C => "m",
            0x15 => "s",
            0x16 => "°",
            0x18 => "cd",
            0x19 => "lm",
            0x1A => "lx",
            0x1C => "B",
            _ => "",
        };
        if unit.is_empty() {
            String::new()
        } else {
            format!("{prefix}{unit}")
        }
    }
}

/// SENSOR_VALUE (E1.20 §10.7.2): 9 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SensorValue {
    pub number: u8,
    pub present: i16,
    pub lowest: i16,
    pub highest: i16,
    pub recorded: i16,
}

impl SensorValue {
    pub fn parse(d: &[u8]) -> Result<SensorValue, RdmError> {
        if d.len() != 9 {
            return Err(bad_pdl(pid::SENSOR_VALUE, d.len(), "9"));
        }
        Ok(SensorValue {
            number: d[0],
            present: i16_at(d, 1),
            lowest: i16_at(d, 3),
            highest: i16_at(d, 5),
            recorded: i16_at(d, 7),
        })
    }
}

/// Parameter data of DISC_UNIQUE_BRANCH: the lower and upper bound UIDs.
pub fn unique_branch_pd(lower: Uid, upper: Uid) -> [u8; 12] {
    let mut pd = [0u8; 12];
    pd[..6].copy_from_slice(&lower.to_bytes());
    pd[6..].copy_from_slice(&upper.to_bytes());
    pd
}

/// Encode a DISC_UNIQUE_BRANCH reply (E1.20 §7.5): up to 7 × 0xFE
/// preamble, 0xAA, each UID byte as (b | 0xAA, b | 0x55), then the checksum
/// of those 12 bytes encoded the same way. No START code, no framing.
pub fn encode_discovery_reply(uid: Uid, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0xFE; 7]);
    out.push(0xAA);
    let start = out.len();
    for b in uid.to_bytes() {
        out.push(b | 0xAA);
        out.push(b | 0x55);
    }
    let sum = checksum(&out[start..]);
    for b in sum.to_be_bytes() {
        out.push(b | 0xAA);
        out.push(b | 0x55);
    }
}

/// Decode a DISC_UNIQUE_BRANCH reply. A collision of two responders shows
/// as a checksum mismatch (or garbage): `BadDiscoveryReply`, and the
/// caller branches further.
pub fn decode_discovery_reply(bytes: &[u8]) -> Result<Uid, RdmError> {
    let pre = bytes.iter().take(8).take_while(|&&b| b == 0xFE).count();
    let rest = &bytes[pre..];
    if rest.first() != Some(&0xAA) || rest.len() < 1 + 16 {
        return Err(RdmError::BadDiscoveryReply);
    }
    let e = &rest[1..17];
    let mut v = [0u8; 8];
    for (i, pair) in e.chunks_exact(2).enumerate() {
        v[i] = pair[0] & pair[1];
    }
    let sum = checksum(&e[..12]);
    if u16::from_be_bytes([v[6], v[7]]) != sum {
        return Err(RdmError::BadDiscoveryReply);
    }
    Ok(Uid::from_bytes([v[0], v[1], v[2], v[3], v[4], v[5]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CTL: Uid = Uid::new(0x4e53, 1);
    const DEV: Uid = Uid::new(0x7a70, 0xffff_ff00);

    #[test]
    fn uid_prints_and_parses_in_hex() {
        assert_eq!(DEV.to_string(), "7a70:ffffff00");
        assert_eq!("7a70:ffffff00".parse::<Uid>(), Ok(DEV));
        assert_eq!("7A70:FFFFFF00".parse::<Uid>(), Ok(DEV));
        assert!("7a70".parse::<Uid>().is_err());
        assert!("7a70:1ffffff00".parse::<Uid>().is_err());
        assert!("zz:1".parse::<Uid>().is_err());
    }

    /// The GET DEVICE_INFO request byte for byte, checksum included, as
    /// E1.20 §6.2 lays it out.
    #[test]
    fn get_request_bytes_and_checksum() {
        let mut buf = Vec::new();
        let m = Message::request(DEV, CTL, 7, CommandClass::Get, pid::DEVICE_INFO, &[]);
        let n = encode(&m, &mut buf).unwrap();
        assert_eq!(n, 26);
        assert_eq!(
            &buf[..24],
            &[
                0xCC, 0x01, 24, 0x7a, 0x70, 0xff, 0xff, 0xff, 0x00, 0x4e, 0x53, 0, 0, 0, 1, 7, 1,
                0, 0, 0, 0x20, 0x00, 0x60, 0
            ]
        );
        let sum: u32 = buf[..24].iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u16::from_be_bytes([buf[24], buf[25]]), sum as u16);
        // Decodes with and without the START code.
        assert_eq!(decode(&buf).unwrap(), m);
        assert_eq!(decode(&buf[1..]).unwrap(), m);
    }

    #[test]
    fn bad_checksum_length_and_codes_are_errors() {
        let mut buf = Vec::new();
        let m = Message::request(
            DEV,
            CTL,
            1,
            CommandClass::Set,
            pid::DEVICE_LABEL,
            b"Bridge 3",
        );
        encode(&m, &mut buf).unwrap();
        let mut b = buf.clone();
        *b.last_mut().unwrap() ^= 1;
        assert!(matches!(decode(&b), Err(RdmError::BadChecksum { .. })));
        let mut b = buf.clone();
        b[2] += 1;
        assert!(matches!(decode(&b), Err(RdmError::BadLength { .. })));
        let mut b = buf.clone();
        b[1] = 2;
        assert_eq!(decode(&b), Err(RdmError::BadSubStartCode(2)));
        assert_eq!(decode(&[0x55, 1, 2]), Err(RdmError::BadStartCode(0x55)));
        assert!(matches!(
            decode(&buf[..buf.len() - 1]),
            Err(RdmError::TooShort { .. })
        ));
        let big = [0u8; 232];
        let m = Message::request(DEV, CTL, 1, CommandClass::Set, 0x8000, &big);
        assert_eq!(encode(&m, &mut buf), Err(RdmError::PdTooLong(232)));
    }

    fn reply(resp: u8, pid: u16, data: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let m = Message {
            dest: CTL,
            src: DEV,
            transaction: 3,
            port_or_response: resp,
            message_count: 0,
            sub_device: 0,
            class: CommandClass::GetResponse,
            pid,
            data,
        };
        encode(&m, &mut buf).unwrap();
        buf
    }

    #[test]
    fn response_types_ack_timer_nack_overflow() {
        let b = reply(0x00, pid::DEVICE_LABEL, b"Bridge PAR 3");
        let m = decode(&b).unwrap();
        assert_eq!(m.response(), Ok(Response::Ack(b"Bridge PAR 3")));
        assert_eq!(parse_text(m.data), "Bridge PAR 3");
        let b = reply(0x01, pid::LAMP_HOURS, &[0, 15]);
        assert_eq!(
            decode(&b).unwrap().response(),
            Ok(Response::AckTimer { tenths: 15 })
        );
        for (code, want) in [
            (0u16, NackReason::UnknownPid),
            (1, NackReason::FormatError),
            (5, NackReason::UnsupportedCommandClass),
            (6, NackReason::DataOutOfRange),
            (0x0a, NackReason::ProxyBufferFull),
            (0x1234, NackReason::Other(0x1234)),
        ] {
            let b = reply(0x02, pid::LAMP_HOURS, &code.to_be_bytes());
            assert_eq!(decode(&b).unwrap().response(), Ok(Response::Nack(want)));
            assert_eq!(want.code(), code);
        }
        let b = reply(0x03, pid::STATUS_MESSAGES, &[1; 9]);
        assert_eq!(
            decode(&b).unwrap().response(),
            Ok(Response::AckOverflow(&[1; 9]))
        );
        let b = reply(0x02, pid::LAMP_HOURS, &[]);
        assert!(decode(&b).unwrap().response().is_err());
        let b = reply(0x09, pid::LAMP_HOURS, &[]);
        assert_eq!(
            decode(&b).unwrap().response(),
            Err(RdmError::BadResponseType(9))
        );
    }

    #[test]
    fn parameter_data_parsers() {
        let info = DeviceInfo {
            protocol_version: 0x0100,
            model_id: 1,
            product_category: 0x0101,
            software_version: 2,
            footprint: 4,
            personality: 1,
            personality_count: 3,
            start_address: 17,
            sub_device_count: 0,
            sensor_count: 2,
        };
        let mut pd = Vec::new();
        info.encode(&mut pd);
        assert_eq!(pd.len(), 19);
        assert_eq!(DeviceInfo::parse(&pd), Ok(info));
        assert!(DeviceInfo::parse(&pd[..18]).is_err());
        let mut def = vec![0, 0x00, 0x01, 0x00, 0xff, 0xd8, 0, 100, 0, 10, 0, 60, 1];
        def.extend_from_slice(b"LED board");
        let d = SensorDefinition::parse(&def).unwrap();
        assert_eq!(d.description, "LED board");
        assert_eq!(d.range, (-40, 100));
        assert_eq!(d.normal, (10, 60));
        assert_eq!(d.unit_symbol(), "°C");
        assert!(SensorDefinition::parse(&def[..12]).is_err());
        let v = SensorValue::parse(&[0, 0, 42, 0, 20, 0, 70, 0, 0]).unwrap();
        assert_eq!((v.present, v.lowest, v.highest), (42, 20, 70));
        assert_eq!(parse_u32(pid::LAMP_HOURS, &[0, 0, 1, 0]), Ok(256));
        assert!(parse_u32(pid::LAMP_HOURS, &[0, 0, 1]).is_err());
        assert_eq!(parse_personality(&[2, 5]), Ok((2, 5)));
        assert_eq!(parse_start_address(&[0x01, 0x02]), Ok(258));
        assert_eq!(LampState::parse(&[0x7f]), Ok(LampState::Error));
        assert!(LampState::parse(&[0x7f]).unwrap().is_failure());
        let list = StatusMessage::parse_list(&[0, 0, 4, 0, 1, 0, 2, 0, 3]).unwrap();
        assert_eq!(list[0].severity(), "error");
        assert_eq!(list[0].message_id, 1);
        assert!(StatusMessage::parse_list(&[0; 8]).is_err());
    }

    #[test]
    fn discovery_reply_round_trip_and_collision() {
        let mut out = Vec::new();
        encode_discovery_reply(DEV, &mut out);
        assert_eq!(out.len(), 24);
        assert_eq!(decode_discovery_reply(&out), Ok(DEV));
        // Shorter preamble (a responder may send fewer 0xFE).
        assert_eq!(decode_discovery_reply(&out[5..]), Ok(DEV));
        // Two responders answering at once: their bytes AND together.
        let mut other = Vec::new();
        encode_discovery_reply(Uid::new(0x1234, 5), &mut other);
        let collided: Vec<u8> = out.iter().zip(&other).map(|(a, b)| a & b).collect();
        assert_eq!(
            decode_discovery_reply(&collided),
            Err(RdmError::BadDiscoveryReply)
        );
        assert_eq!(
            unique_branch_pd(Uid::new(0, 0), Uid::BROADCAST)[6..],
            [0xff; 6]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = decode(&bytes) {
                let _ = m.response();
                let _ = DeviceInfo::parse(m.data);
                let _ = SensorDefinition::parse(m.data);
                let _ = SensorValue::parse(m.data);
                let _ = StatusMessage::parse_list(m.data);
                let _ = LampState::parse(m.data);
                let _ = parse_text(m.data);
            }
            let _ = decode_discovery_reply(&bytes);
            let _ = SensorDefinition::parse(&bytes);
            let _ = StatusMessage::parse_list(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(
            dest in any::<[u8; 6]>(), src in any::<[u8; 6]>(), tn in any::<u8>(),
            resp in any::<u8>(), count in any::<u8>(), sub in any::<u16>(),
            cc in 0usize..6, pidv in any::<u16>(),
            data in proptest::collection::vec(any::<u8>(), 0..=231),
            with_start in any::<bool>(),
        ) {
            let class = [CommandClass::Discovery, CommandClass::DiscoveryResponse, CommandClass::Get,
                CommandClass::GetResponse, CommandClass::Set, CommandClass::SetResponse][cc];
            let m = Message { dest: Uid::from_bytes(dest), src: Uid::from_bytes(src), transaction: tn,
                port_or_response: resp, message_count: count, sub_device: sub, class, pid: pidv, data: &data };
            let mut buf = Vec::new();
            encode(&m, &mut buf).unwrap();
            let slice = if with_start { &buf[..] } else { &buf[1..] };
            prop_assert_eq!(decode(slice).unwrap(), m);
        }

        #[test]
        fn one_flipped_byte_is_caught_or_harmless(idx in 0usize..26, bit in 0u8..8) {
            let mut buf = Vec::new();
            let m = Message::request(DEV, CTL, 9, CommandClass::Get, pid::SENSOR_VALUE, &[1]);
            encode(&m, &mut buf).unwrap();
            let idx = idx % buf.len();
            buf[idx] ^= 1 << bit;
            // A single flipped bit always changes the sum: never accepted.
            prop_assert!(decode(&buf).is_err());
        }

        #[test]
        fn discovery_reply_round_trips(m in any::<u16>(), d in any::<u32>()) {
            let mut out = Vec::new();
            encode_discovery_reply(Uid::new(m, d), &mut out);
            prop_assert_eq!(decode_discovery_reply(&out), Ok(Uid::new(m, d)));
        }
    }
}
