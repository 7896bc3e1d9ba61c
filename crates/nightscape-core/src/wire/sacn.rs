//! Wire format of streaming ACN (sACN, ANSI E1.31-2018): the byte layout of the
//! E1.31 Data Packet (root layer, data-packet framing layer, DMP layer; E1.31
//! section 4.1, Table 4-1, and sections 5-7) and of the Universe
//! Synchronization Packet (section 4.2, Table 4-2, and section 6.3), plus the
//! multicast group of a universe (section 9.3.1) and the sequence-number rule
//! receivers apply (section 6.7.2). It exists so the sACN output can build a
//! packet into a fixed, reused buffer with no allocation per frame, and so
//! tests and discovery can check what went on the wire with a strict decoder.
//! Nothing here touches a socket or a clock: encoders fill caller-supplied
//! buffers, the decoder reads a byte slice and reports malformed input as a
//! [`WireError`] instead of panicking.

use std::net::Ipv4Addr;

/// UDP port for E1.31 (ACN_SDT_MULTICAST_PORT, E1.31 section 9.3.2).
pub const SACN_PORT: u16 = 5568;
/// Length of a data packet carrying a start code and 512 slots.
pub const DATA_PACKET_LEN: usize = 638;
/// Length of a universe synchronization packet (Table 4-2).
pub const SYNC_PACKET_LEN: usize = 49;
/// Most slots (excluding the start code) one data packet carries.
pub const MAX_SLOTS: usize = 512;
/// Highest universe number E1.31 allows (section 6.2.7; 64000-64214 are reserved).
pub const MAX_UNIVERSE: u16 = 63999;
/// Highest priority a source may transmit (section 6.2.3).
pub const MAX_PRIORITY: u8 = 200;

/// Options bit 7: Preview_Data (section 6.2.6).
pub const OPT_PREVIEW: u8 = 0x80;
/// Options bit 6: Stream_Terminated (section 6.2.6).
pub const OPT_STREAM_TERMINATED: u8 = 0x40;

const ACN_PACKET_IDENTIFIER: [u8; 12] = *b"ASC-E1.17\0\0\0";
const PREAMBLE_SIZE: u16 = 0x0010;
const POSTAMBLE_SIZE: u16 = 0x0000;
const VECTOR_ROOT_E131_DATA: u32 = 0x0000_0004;
const VECTOR_ROOT_E131_EXTENDED: u32 = 0x0000_0008;
const VECTOR_E131_DATA_PACKET: u32 = 0x0000_0002;
const VECTOR_E131_EXTENDED_SYNCHRONIZATION: u32 = 0x0000_0001;
const VECTOR_E131_EXTENDED_DISCOVERY: u32 = 0x0000_0002;
const VECTOR_DMP_SET_PROPERTY: u8 = 0x02;
const DMP_ADDRESS_AND_DATA_TYPE: u8 = 0xa1;
/// Every flags+length field in E1.31 carries flags 0x7 in its top nibble.
const PDU_FLAGS: u8 = 0x7;

// Byte offsets from E1.31 Table 4-1 (data packet) / Table 4-2 (sync packet).
const OFF_ROOT_FLEN: usize = 16;
const OFF_ROOT_VECTOR: usize = 18;
const OFF_CID: usize = 22;
const OFF_FRAMING_FLEN: usize = 38;
const OFF_FRAMING_VECTOR: usize = 40;
const OFF_SOURCE_NAME: usize = 44;
const SOURCE_NAME_LEN: usize = 64;
const OFF_PRIORITY: usize = 108;
const OFF_SYNC_ADDRESS: usize = 109;
/// Where a data packet's sequence number sits (what changes per frame).
pub const OFF_SEQUENCE: usize = 111;
/// A data packet's options byte (stream terminated, preview).
pub const OFF_OPTIONS: usize = 112;
const OFF_UNIVERSE: usize = 113;
const OFF_DMP_FLEN: usize = 115;
const OFF_DMP_VECTOR: usize = 117;
const OFF_DMP_ADDR_TYPE: usize = 118;
const OFF_DMP_FIRST_ADDR: usize = 119;
const OFF_DMP_ADDR_INC: usize = 121;
const OFF_DMP_COUNT: usize = 123;
const OFF_START_CODE: usize = 125;
/// Where a data packet's slots start (after the start code).
pub const OFF_SLOTS: usize = 126;
// Sync packet framing layer (Table 4-2).
const OFF_SYNC_SEQUENCE: usize = 44;
const OFF_SYNC_SYNC_ADDRESS: usize = 45;
const OFF_SYNC_RESERVED: usize = 47;

/// Everything needed to build one E1.31 data packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPacket<'a> {
    /// Component Identifier (a UUID) of this source; stable for its lifetime.
    pub cid: [u8; 16],
    /// Human-readable source name; UTF-8, truncated to 63 bytes on the wire.
    pub source_name: &'a str,
    /// 0..=200; the encoder clamps larger values to 200.
    pub priority: u8,
    /// Universe that carries this stream's sync packets; 0 = unsynchronized.
    pub sync_address: u16,
    pub sequence: u8,
    pub preview: bool,
    pub stream_terminated: bool,
    /// 1..=63999; see [`valid_universe`]. Not checked by the encoder.
    pub universe: u16,
    /// DMX512-A start code; 0 for dimmer data.
    pub start_code: u8,
    /// Up to 512 slot values; more are ignored.
    pub slots: &'a [u8],
}

/// A decoded E1.31 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Data {
        cid: [u8; 16],
        source_name: String,
        priority: u8,
        sync_address: u16,
        sequence: u8,
        /// Raw options byte: see [`OPT_PREVIEW`], [`OPT_STREAM_TERMINATED`]; bit 5 is Force_Synchronization.
        options: u8,
        universe: u16,
        start_code: u8,
        slots: Vec<u8>,
    },
    Sync {
        cid: [u8; 16],
        sequence: u8,
        sync_address: u16,
    },
}

/// Why a byte slice is not an E1.31 data or sync packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("packet too short: need at least {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("preamble size is {0:#06x}, expected 0x0010")]
    BadPreamble(u16),
    #[error("postamble size is {0:#06x}, expected 0x0000")]
    BadPostamble(u16),
    #[error("ACN packet identifier is not \"ASC-E1.17\\0\\0\\0\"")]
    BadPacketIdentifier,
    #[error("{layer} layer flags are {flags:#x}, expected 0x7")]
    BadFlags { layer: &'static str, flags: u8 },
    #[error("{layer} layer length is {got}, but the packet leaves {expected} bytes for it")]
    BadLength {
        layer: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("root layer vector is {0:#010x}, expected 0x00000004 (data) or 0x00000008 (extended)")]
    BadRootVector(u32),
    #[error("framing layer vector is {framing:#010x}, not valid under root vector {root:#010x}")]
    BadFramingVector { root: u32, framing: u32 },
    #[error("universe discovery packets are not decoded")]
    UniverseDiscovery,
    #[error("DMP vector is {0:#04x}, expected 0x02")]
    BadDmpVector(u8),
    #[error("DMP address type & data type is {0:#04x}, expected 0xa1")]
    BadAddressType(u8),
    #[error("DMP first property address is {0}, expected 0")]
    BadFirstAddress(u16),
    #[error("DMP address increment is {0}, expected 1")]
    BadAddressIncrement(u16),
    #[error("DMP property value count is {got}, but the packet holds {expected} values")]
    BadPropertyCount { got: u16, expected: usize },
}

/// True for the universe numbers E1.31 permits on the wire (1..=63999).
/// Universe 0 and 64000.. are reserved (E1.31 section 6.2.7), so callers must
/// check this before [`encode_data`], which writes whatever it is given.
pub fn valid_universe(u: u16) -> bool {
    (1..=MAX_UNIVERSE).contains(&u)
}

/// Multicast group for a universe: 239.255.hi.lo (E1.31 section 9.3.1).
pub fn multicast_addr(universe: u16) -> Ipv4Addr {
    let [hi, lo] = universe.to_be_bytes();
    Ipv4Addr::new(239, 255, hi, lo)
}

#[cfg(test)]
/// E1.31 6.7.2 sequence rule: is `new` out of order / duplicate relative to
/// `last`, i.e. is -20 < (int8)(new - last) <= 0? Receivers drop such packets;
/// the window of 20 lets a restarted source (big jump) be accepted at once.
pub(crate) fn is_stale(last: u8, new: u8) -> bool {
    let diff = new.wrapping_sub(last) as i8;
    diff <= 0 && diff > -20
}

fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// A PDU's flags+length word: flags 0x7 in the top nibble, the PDU's length
/// (from this field to the end of the packet) in the low 12 bits.
fn flags_and_length(pdu_len: usize) -> u16 {
    (u16::from(PDU_FLAGS) << 12) | (pdu_len as u16 & 0x0fff)
}

/// Root layer up to and including the CID (bytes 0..38), shared by every
/// E1.31 packet type.
fn write_root(buf: &mut [u8], total: usize, vector: u32, cid: &[u8; 16]) {
    put_u16(buf, 0, PREAMBLE_SIZE);
    put_u16(buf, 2, POSTAMBLE_SIZE);
    buf[4..16].copy_from_slice(&ACN_PACKET_IDENTIFIER);
    put_u16(buf, OFF_ROOT_FLEN, flags_and_length(total - OFF_ROOT_FLEN));
    put_u32(buf, OFF_ROOT_VECTOR, vector);
    buf[OFF_CID..OFF_CID + 16].copy_from_slice(cid);
}

/// Longest prefix of `s` that fits in `max` bytes without splitting a UTF-8
/// character (a split character would make receivers show garbage).
fn truncate_utf8(s: &str, max: usize) -> &[u8] {
    if s.len() <= max {
        return s.as_bytes();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

/// Writes a full E1.31 data packet (root layer, framing layer, DMP layer; all
/// flags+length fields filled in) into `buf` and returns its length,
/// `126 + slots` (638 for 512 slots). Send `&buf[..len]`.
///
/// * Slots beyond 512 are ignored; fewer than 512 make a shorter packet
///   (E1.31 allows 1..=513 property values including the start code).
/// * The source name is truncated to 63 bytes (at a character boundary) and
///   NUL-padded to 64, so it is always NUL-terminated as section 6.2.2 asks.
/// * Priority is clamped to 200: section 6.2.3 forbids sending more.
/// * The universe is written as given: the caller validates it with
///   [`valid_universe`] (the encoder has no error path, by design, so the hot
///   path stays branch-light and allocation-free).
pub fn encode_data(p: &DataPacket, buf: &mut [u8; DATA_PACKET_LEN]) -> usize {
    let n = p.slots.len().min(MAX_SLOTS);
    let total = OFF_SLOTS + n;

    write_root(buf, total, VECTOR_ROOT_E131_DATA, &p.cid);

    put_u16(
        buf,
        OFF_FRAMING_FLEN,
        flags_and_length(total - OFF_FRAMING_FLEN),
    );
    put_u32(buf, OFF_FRAMING_VECTOR, VECTOR_E131_DATA_PACKET);
    let name = &mut buf[OFF_SOURCE_NAME..OFF_SOURCE_NAME + SOURCE_NAME_LEN];
    name.fill(0);
    let src = truncate_utf8(p.source_name, SOURCE_NAME_LEN - 1);
    name[..src.len()].copy_from_slice(src);
    buf[OFF_PRIORITY] = p.priority.min(MAX_PRIORITY);
    put_u16(buf, OFF_SYNC_ADDRESS, p.sync_address);
    buf[OFF_SEQUENCE] = p.sequence;
    let mut options = 0;
    if p.preview {
        options |= OPT_PREVIEW;
    }
    if p.stream_terminated {
        options |= OPT_STREAM_TERMINATED;
    }
    buf[OFF_OPTIONS] = options;
    put_u16(buf, OFF_UNIVERSE, p.universe);

    put_u16(buf, OFF_DMP_FLEN, flags_and_length(total - OFF_DMP_FLEN));
    buf[OFF_DMP_VECTOR] = VECTOR_DMP_SET_PROPERTY;
    buf[OFF_DMP_ADDR_TYPE] = DMP_ADDRESS_AND_DATA_TYPE;
    put_u16(buf, OFF_DMP_FIRST_ADDR, 0);
    put_u16(buf, OFF_DMP_ADDR_INC, 1);
    // The count includes the start code, hence +1.
    put_u16(buf, OFF_DMP_COUNT, (n + 1) as u16);
    buf[OFF_START_CODE] = p.start_code;
    buf[OFF_SLOTS..total].copy_from_slice(&p.slots[..n]);
    total
}

/// Writes an E1.31 Universe Synchronization packet (Table 4-2) into `buf` and
/// returns its length (always 49). `sync_address` is the universe on which
/// receivers listen for it, the same value the data packets carry.
pub fn encode_sync(
    cid: [u8; 16],
    sequence: u8,
    sync_address: u16,
    buf: &mut [u8; SYNC_PACKET_LEN],
) -> usize {
    let total = SYNC_PACKET_LEN;
    write_root(buf, total, VECTOR_ROOT_E131_EXTENDED, &cid);
    put_u16(
        buf,
        OFF_FRAMING_FLEN,
        flags_and_length(total - OFF_FRAMING_FLEN),
    );
    put_u32(
        buf,
        OFF_FRAMING_VECTOR,
        VECTOR_E131_EXTENDED_SYNCHRONIZATION,
    );
    buf[OFF_SYNC_SEQUENCE] = sequence;
    put_u16(buf, OFF_SYNC_SYNC_ADDRESS, sync_address);
    // Reserved: transmitted as zero (section 6.3.4).
    put_u16(buf, OFF_SYNC_RESERVED, 0);
    total
}

/// The universe E1.31 Universe Discovery packets are sent on (section 8,
/// Appendix A: 239.255.250.214).
pub const DISCOVERY_UNIVERSE: u16 = 64214;
/// Seconds between Universe Discovery packets (E131_UNIVERSE_DISCOVERY_INTERVAL).
pub const DISCOVERY_INTERVAL_S: u64 = 10;
/// Universes one discovery page lists at most (section 8.5).
pub(crate) const DISCOVERY_PAGE_SIZE: usize = 512;
const VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST: u32 = 0x0000_0001;
const OFF_DISC_RESERVED: usize = 108;
const OFF_DISC_FLEN: usize = 112;
const OFF_DISC_VECTOR: usize = 114;
const OFF_DISC_PAGE: usize = 118;
const OFF_DISC_LAST_PAGE: usize = 119;
const OFF_DISC_LIST: usize = 120;

/// A decoded Universe Discovery packet (one page of a source's list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub cid: [u8; 16],
    pub source_name: String,
    pub page: u8,
    pub last_page: u8,
    pub universes: Vec<u16>,
}

/// The pages of a source's Universe Discovery: the universes sorted and
/// deduplicated (section 8.5 asks for ascending order), 512 per page.
pub fn discovery_pages(universes: &[u16]) -> Vec<Vec<u16>> {
    let mut u: Vec<u16> = universes
        .iter()
        .copied()
        .filter(|u| valid_universe(*u))
        .collect();
    u.sort_unstable();
    u.dedup();
    if u.is_empty() {
        return vec![Vec::new()];
    }
    u.chunks(DISCOVERY_PAGE_SIZE).map(<[u16]>::to_vec).collect()
}

/// Writes one E1.31 Universe Discovery packet (Table 4-3) into `buf`
/// (cleared and reused) and returns its length, `120 + 2 × universes`.
/// `universes` is one page (at most 512 are written) in ascending order.
pub fn encode_discovery(
    cid: [u8; 16],
    source_name: &str,
    page: u8,
    last_page: u8,
    universes: &[u16],
    buf: &mut Vec<u8>,
) -> usize {
    let n = universes.len().min(DISCOVERY_PAGE_SIZE);
    let total = OFF_DISC_LIST + 2 * n;
    buf.clear();
    buf.resize(total, 0);
    write_root(buf, total, VECTOR_ROOT_E131_EXTENDED, &cid);
    put_u16(
        buf,
        OFF_FRAMING_FLEN,
        flags_and_length(total - OFF_FRAMING_FLEN),
    );
    put_u32(buf, OFF_FRAMING_VECTOR, VECTOR_E131_EXTENDED_DISCOVERY);
    let src = truncate_utf8(source_name, SOURCE_NAME_LEN - 1);
    buf[OFF_SOURCE_NAME..OFF_SOURCE_NAME + src.len()].copy_from_slice(src);
    put_u32(buf, OFF_DISC_RESERVED, 0);
    put_u16(buf, OFF_DISC_FLEN, flags_and_length(total - OFF_DISC_FLEN));
    put_u32(
        buf,
        OFF_DISC_VECTOR,
        VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST,
    );
    buf[OFF_DISC_PAGE] = page;
    buf[OFF_DISC_LAST_PAGE] = last_page;
    for (i, u) in universes.iter().take(n).enumerate() {
        put_u16(buf, OFF_DISC_LIST + 2 * i, *u);
    }
    total
}

/// Decode a Universe Discovery packet, checking the preamble, identifier,
/// every flags+length field against the packet's length, and the vectors.
pub fn decode_discovery(bytes: &[u8]) -> Result<Discovery, WireError> {
    let b = bytes;
    need(b, OFF_DISC_LIST)?;
    if get_u16(b, 0) != PREAMBLE_SIZE {
        return Err(WireError::BadPreamble(get_u16(b, 0)));
    }
    if get_u16(b, 2) != POSTAMBLE_SIZE {
        return Err(WireError::BadPostamble(get_u16(b, 2)));
    }
    if b[4..16] != ACN_PACKET_IDENTIFIER {
        return Err(WireError::BadPacketIdentifier);
    }
    for (layer, at) in [
        ("root", OFF_ROOT_FLEN),
        ("framing", OFF_FRAMING_FLEN),
        ("discovery", OFF_DISC_FLEN),
    ] {
        let v = get_u16(b, at);
        let flags = (v >> 12) as u8;
        if flags != PDU_FLAGS {
            return Err(WireError::BadFlags { layer, flags });
        }
        let len = usize::from(v & 0x0fff);
        if len != b.len() - at {
            return Err(WireError::BadLength {
                layer,
                got: len,
                expected: b.len() - at,
            });
        }
    }
    let root = get_u32(b, OFF_ROOT_VECTOR);
    let framing = get_u32(b, OFF_FRAMING_VECTOR);
    if root != VECTOR_ROOT_E131_EXTENDED || framing != VECTOR_E131_EXTENDED_DISCOVERY {
        return Err(WireError::BadFramingVector { root, framing });
    }
    let list = &b[OFF_DISC_LIST..];
    if get_u32(b, OFF_DISC_VECTOR) != VECTOR_UNIVERSE_DISCOVERY_UNIVERSE_LIST || list.len() % 2 != 0
    {
        return Err(WireError::BadFramingVector { root, framing });
    }
    let mut cid = [0u8; 16];
    cid.copy_from_slice(&b[OFF_CID..OFF_CID + 16]);
    let name = &b[OFF_SOURCE_NAME..OFF_SOURCE_NAME + SOURCE_NAME_LEN];
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Ok(Discovery {
        cid,
        source_name: String::from_utf8_lossy(&name[..end]).into_owned(),
        page: b[OFF_DISC_PAGE],
        last_page: b[OFF_DISC_LAST_PAGE],
        universes: list
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect(),
    })
}

// Decoder helpers: callers check the length first, so these never go out of
// bounds; `get` keeps that true even if a check is ever wrong.
fn get_u16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Checks a flags+length field: flags must be 0x7 and the length must cover
/// exactly the rest of the datagram (E1.31 carries one PDU per layer, so any
/// other value means a truncated or padded packet).
fn check_flen(b: &[u8], at: usize, layer: &'static str) -> Result<(), WireError> {
    let word = get_u16(b, at);
    let flags = (word >> 12) as u8;
    if flags != PDU_FLAGS {
        return Err(WireError::BadFlags { layer, flags });
    }
    let got = usize::from(word & 0x0fff);
    let expected = b.len() - at;
    if got != expected {
        return Err(WireError::BadLength {
            layer,
            got,
            expected,
        });
    }
    Ok(())
}

fn need(b: &[u8], n: usize) -> Result<(), WireError> {
    if b.len() < n {
        Err(WireError::TooShort {
            need: n,
            got: b.len(),
        })
    } else {
        Ok(())
    }
}

fn cid_of(b: &[u8]) -> [u8; 16] {
    let mut cid = [0u8; 16];
    if let Some(s) = b.get(OFF_CID..OFF_CID + 16) {
        cid.copy_from_slice(s);
    }
    cid
}

/// Parses an E1.31 data packet or universe synchronization packet.
///
/// Validates, in wire order, the preamble/postamble sizes, the ACN packet
/// identifier, every layer's flags and length (each must reach exactly to the
/// end of `bytes`), the root, framing and DMP vectors, the DMP address type
/// (0xa1), first address (0), increment (1) and property count; the error
/// names the first field that is wrong. Priority and universe are reported as
/// received, not range-checked, so tests can see exactly what was sent.
/// Universe discovery packets are recognised but reported as
/// [`WireError::UniverseDiscovery`].
pub fn decode(bytes: &[u8]) -> Result<Decoded, WireError> {
    let b = bytes;
    // Both packet types are at least as long as a sync packet.
    need(b, SYNC_PACKET_LEN)?;
    let pre = get_u16(b, 0);
    if pre != PREAMBLE_SIZE {
        return Err(WireError::BadPreamble(pre));
    }
    let post = get_u16(b, 2);
    if post != POSTAMBLE_SIZE {
        return Err(WireError::BadPostamble(post));
    }
    if b[4..16] != ACN_PACKET_IDENTIFIER {
        return Err(WireError::BadPacketIdentifier);
    }
    check_flen(b, OFF_ROOT_FLEN, "root")?;
    let root = get_u32(b, OFF_ROOT_VECTOR);
    if root != VECTOR_ROOT_E131_DATA && root != VECTOR_ROOT_E131_EXTENDED {
        return Err(WireError::BadRootVector(root));
    }
    check_flen(b, OFF_FRAMING_FLEN, "framing")?;
    let framing = get_u32(b, OFF_FRAMING_VECTOR);
    let cid = cid_of(b);

    match (root, framing) {
        (VECTOR_ROOT_E131_DATA, VECTOR_E131_DATA_PACKET) => decode_data(b, cid),
        (VECTOR_ROOT_E131_EXTENDED, VECTOR_E131_EXTENDED_SYNCHRONIZATION) => {
            // The framing length check above already pinned the length; a
            // sync packet has nothing after its reserved field.
            if b.len() != SYNC_PACKET_LEN {
                return Err(WireError::BadLength {
                    layer: "framing",
                    got: b.len() - OFF_FRAMING_FLEN,
                    expected: SYNC_PACKET_LEN - OFF_FRAMING_FLEN,
                });
            }
            Ok(Decoded::Sync {
                cid,
                sequence: b[OFF_SYNC_SEQUENCE],
                sync_address: get_u16(b, OFF_SYNC_SYNC_ADDRESS),
            })
        }
        (VECTOR_ROOT_E131_EXTENDED, VECTOR_E131_EXTENDED_DISCOVERY) => {
            Err(WireError::UniverseDiscovery)
        }
        _ => Err(WireError::BadFramingVector { root, framing }),
    }
}

fn decode_data(b: &[u8], cid: [u8; 16]) -> Result<Decoded, WireError> {
    // Up to and including the start code.
    need(b, OFF_SLOTS)?;
    check_flen(b, OFF_DMP_FLEN, "DMP")?;
    if b[OFF_DMP_VECTOR] != VECTOR_DMP_SET_PROPERTY {
        return Err(WireError::BadDmpVector(b[OFF_DMP_VECTOR]));
    }
    if b[OFF_DMP_ADDR_TYPE] != DMP_ADDRESS_AND_DATA_TYPE {
        return Err(WireError::BadAddressType(b[OFF_DMP_ADDR_TYPE]));
    }
    let first = get_u16(b, OFF_DMP_FIRST_ADDR);
    if first != 0 {
        return Err(WireError::BadFirstAddress(first));
    }
    let inc = get_u16(b, OFF_DMP_ADDR_INC);
    if inc != 1 {
        return Err(WireError::BadAddressIncrement(inc));
    }
    let count = get_u16(b, OFF_DMP_COUNT);
    let expected = b.len() - OFF_START_CODE;
    if usize::from(count) != expected || expected > MAX_SLOTS + 1 {
        return Err(WireError::BadPropertyCount {
            got: count,
            expected,
        });
    }

    let name = &b[OFF_SOURCE_NAME..OFF_SOURCE_NAME + SOURCE_NAME_LEN];
    // The name should be NUL-terminated; if a sender filled all 64 bytes,
    // take them all rather than reject an otherwise valid packet.
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    let source_name = String::from_utf8_lossy(&name[..end]).into_owned();

    Ok(Decoded::Data {
        cid,
        source_name,
        priority: b[OFF_PRIORITY],
        sync_address: get_u16(b, OFF_SYNC_ADDRESS),
        sequence: b[OFF_SEQUENCE],
        options: b[OFF_OPTIONS],
        universe: get_u16(b, OFF_UNIVERSE),
        start_code: b[OFF_START_CODE],
        slots: b[OFF_SLOTS..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: [u8; 16] = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];

    fn packet<'a>(slots: &'a [u8], name: &'a str) -> DataPacket<'a> {
        DataPacket {
            cid: CID,
            source_name: name,
            priority: 100,
            sync_address: 0,
            sequence: 0,
            preview: false,
            stream_terminated: false,
            universe: 1,
            start_code: 0,
            slots,
        }
    }

    /// Built by hand, field by field, from E1.31-2018 Table 4-1: 3 slots,
    /// universe 0x0102, priority 150, sync address 7, sequence 0xfe, preview.
    #[rustfmt::skip]
    const GOLDEN_3: [u8; 129] = [
        // 0: preamble size 0x0010, postamble size 0x0000
        0x00, 0x10, 0x00, 0x00,
        // 4: ACN packet identifier "ASC-E1.17\0\0\0"
        0x41, 0x53, 0x43, 0x2d, 0x45, 0x31, 0x2e, 0x31, 0x37, 0x00, 0x00, 0x00,
        // 16: root flags+length: 0x7000 | (129 - 16 = 113 = 0x71)
        0x70, 0x71,
        // 18: VECTOR_ROOT_E131_DATA
        0x00, 0x00, 0x00, 0x04,
        // 22: CID
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
        // 38: framing flags+length: 0x7000 | (129 - 38 = 91 = 0x5b)
        0x70, 0x5b,
        // 40: VECTOR_E131_DATA_PACKET
        0x00, 0x00, 0x00, 0x02,
        // 44: source name "Test", NUL-padded to 64
        b'T', b'e', b's', b't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        // 108: priority 150
        150,
        // 109: synchronization address 7
        0x00, 0x07,
        // 111: sequence number
        0xfe,
        // 112: options: Preview_Data
        0x80,
        // 113: universe 0x0102
        0x01, 0x02,
        // 115: DMP flags+length: 0x7000 | (129 - 115 = 14 = 0x0e)
        0x70, 0x0e,
        // 117: VECTOR_DMP_SET_PROPERTY
        0x02,
        // 118: address type & data type
        0xa1,
        // 119: first property address 0
        0x00, 0x00,
        // 121: address increment 1
        0x00, 0x01,
        // 123: property value count = 3 slots + start code
        0x00, 0x04,
        // 125: DMX512-A start code
        0x00,
        // 126: slots
        10, 20, 30,
    ];

    #[test]
    fn golden_data_packet_is_byte_exact() {
        let p = DataPacket {
            priority: 150,
            sync_address: 7,
            sequence: 0xfe,
            preview: true,
            universe: 0x0102,
            ..packet(&[10, 20, 30], "Test")
        };
        let mut buf = [0xffu8; DATA_PACKET_LEN];
        let n = encode_data(&p, &mut buf);
        assert_eq!(n, 129);
        assert_eq!(&buf[..n], &GOLDEN_3[..]);
    }

    #[test]
    fn full_packet_length_fields_match_the_spec() {
        let slots = [0x55u8; 512];
        let mut buf = [0u8; DATA_PACKET_LEN];
        let n = encode_data(&packet(&slots, "x"), &mut buf);
        assert_eq!(n, DATA_PACKET_LEN);
        // The values E1.31 Table 4-1 gives for a full universe.
        assert_eq!(buf[16..18], [0x72, 0x6e]);
        assert_eq!(buf[38..40], [0x72, 0x58]);
        assert_eq!(buf[115..117], [0x72, 0x0b]);
        assert_eq!(buf[123..125], [0x02, 0x01]);
        assert!(buf[126..].iter().all(|&v| v == 0x55));
    }

    #[test]
    fn golden_decodes() {
        let d = decode(&GOLDEN_3).unwrap();
        assert_eq!(
            d,
            Decoded::Data {
                cid: CID,
                source_name: "Test".into(),
                priority: 150,
                sync_address: 7,
                sequence: 0xfe,
                options: OPT_PREVIEW,
                universe: 0x0102,
                start_code: 0,
                slots: vec![10, 20, 30],
            }
        );
    }

    #[test]
    fn data_round_trip_all_sizes() {
        let all: Vec<u8> = (0..512u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut buf = [0u8; DATA_PACKET_LEN];
        for n in 0..=512 {
            let p = DataPacket {
                stream_terminated: n % 2 == 1,
                sequence: n as u8,
                universe: 63999,
                sync_address: 63999,
                start_code: 0xdd,
                ..packet(&all[..n], "nightscape")
            };
            let len = encode_data(&p, &mut buf);
            assert_eq!(len, 126 + n);
            match decode(&buf[..len]).unwrap() {
                Decoded::Data {
                    slots,
                    options,
                    sequence,
                    universe,
                    sync_address,
                    start_code,
                    source_name,
                    ..
                } => {
                    assert_eq!(slots, &all[..n]);
                    assert_eq!(options, if n % 2 == 1 { OPT_STREAM_TERMINATED } else { 0 });
                    assert_eq!(sequence, n as u8);
                    assert_eq!(universe, 63999);
                    assert_eq!(sync_address, 63999);
                    assert_eq!(start_code, 0xdd);
                    assert_eq!(source_name, "nightscape");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn more_than_512_slots_are_cut() {
        let slots = [1u8; 600];
        let mut buf = [0u8; DATA_PACKET_LEN];
        assert_eq!(encode_data(&packet(&slots, ""), &mut buf), 638);
    }

    #[test]
    fn priority_is_clamped_to_200() {
        let mut buf = [0u8; DATA_PACKET_LEN];
        let p = DataPacket {
            priority: 255,
            ..packet(&[], "")
        };
        encode_data(&p, &mut buf);
        assert_eq!(buf[108], 200);
    }

    #[test]
    fn source_name_is_truncated_and_nul_terminated() {
        let long = "a".repeat(100);
        let mut buf = [0xffu8; DATA_PACKET_LEN];
        encode_data(&packet(&[], &long), &mut buf);
        assert!(buf[44..107].iter().all(|&c| c == b'a'));
        assert_eq!(buf[107], 0);
        match decode(&buf[..126]).unwrap() {
            Decoded::Data { source_name, .. } => assert_eq!(source_name, "a".repeat(63)),
            other => panic!("unexpected {other:?}"),
        }

        // A 2-byte character straddling byte 63 is dropped whole.
        let name = format!("{}é", "b".repeat(62));
        encode_data(&packet(&[], &name), &mut buf);
        assert_eq!(buf[44 + 62], 0);
        match decode(&buf[..126]).unwrap() {
            Decoded::Data { source_name, .. } => assert_eq!(source_name, "b".repeat(62)),
            other => panic!("unexpected {other:?}"),
        }

        // A shorter name leaves no bytes of a previous, longer one behind.
        encode_data(&packet(&[], "short"), &mut buf);
        assert!(buf[44 + 5..108].iter().all(|&c| c == 0));
    }

    #[rustfmt::skip]
    const GOLDEN_SYNC: [u8; 49] = [
        0x00, 0x10, 0x00, 0x00,
        0x41, 0x53, 0x43, 0x2d, 0x45, 0x31, 0x2e, 0x31, 0x37, 0x00, 0x00, 0x00,
        // 16: root flags+length 0x7000 | 33
        0x70, 0x21,
        // 18: VECTOR_ROOT_E131_EXTENDED
        0x00, 0x00, 0x00, 0x08,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
        // 38: framing flags+length 0x7000 | 11
        0x70, 0x0b,
        // 40: VECTOR_E131_EXTENDED_SYNCHRONIZATION
        0x00, 0x00, 0x00, 0x01,
        // 44: sequence, 45: sync address 0x1234, 47: reserved
        0x2a, 0x12, 0x34, 0x00, 0x00,
    ];

    #[test]
    fn golden_sync_packet() {
        let mut buf = [0xffu8; SYNC_PACKET_LEN];
        assert_eq!(encode_sync(CID, 42, 0x1234, &mut buf), 49);
        assert_eq!(buf, GOLDEN_SYNC);
        assert_eq!(
            decode(&buf).unwrap(),
            Decoded::Sync {
                cid: CID,
                sequence: 42,
                sync_address: 0x1234
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = GOLDEN_3.to_vec();
            f(&mut b);
            decode(&b).unwrap_err()
        };
        assert_eq!(e(&|b| b[1] = 0x20), WireError::BadPreamble(0x20));
        assert_eq!(e(&|b| b[3] = 1), WireError::BadPostamble(1));
        assert_eq!(e(&|b| b[6] = b'X'), WireError::BadPacketIdentifier);
        assert_eq!(
            e(&|b| b[16] = 0x60),
            WireError::BadFlags {
                layer: "root",
                flags: 6
            }
        );
        assert_eq!(
            e(&|b| b[17] = 0x72),
            WireError::BadLength {
                layer: "root",
                got: 0x72,
                expected: 113
            }
        );
        assert_eq!(e(&|b| b[21] = 5), WireError::BadRootVector(5));
        assert_eq!(
            e(&|b| b[39] = 0),
            WireError::BadLength {
                layer: "framing",
                got: 0,
                expected: 91
            }
        );
        assert_eq!(
            e(&|b| b[43] = 1),
            WireError::BadFramingVector {
                root: 4,
                framing: 1
            }
        );
        assert_eq!(
            e(&|b| b[115] = 0xf0),
            WireError::BadFlags {
                layer: "DMP",
                flags: 0xf
            }
        );
        assert_eq!(e(&|b| b[117] = 3), WireError::BadDmpVector(3));
        assert_eq!(e(&|b| b[118] = 0xa0), WireError::BadAddressType(0xa0));
        assert_eq!(e(&|b| b[120] = 1), WireError::BadFirstAddress(1));
        assert_eq!(e(&|b| b[122] = 2), WireError::BadAddressIncrement(2));
        assert_eq!(
            e(&|b| b[124] = 3),
            WireError::BadPropertyCount {
                got: 3,
                expected: 4
            }
        );
        // Trailing bytes make every layer's length disagree; root is first.
        assert!(matches!(
            e(&|b| b.push(0)),
            WireError::BadLength { layer: "root", .. }
        ));

        let mut sync = GOLDEN_SYNC;
        sync[43] = 2;
        assert_eq!(decode(&sync), Err(WireError::UniverseDiscovery));
        sync[43] = 9;
        assert_eq!(
            decode(&sync),
            Err(WireError::BadFramingVector {
                root: 8,
                framing: 9
            })
        );
        assert!(decode(&sync).unwrap_err().to_string().contains("framing"));
    }

    #[test]
    fn every_prefix_is_rejected_without_panic() {
        let slots = [7u8; 512];
        let mut buf = [0u8; DATA_PACKET_LEN];
        let n = encode_data(&packet(&slots, "prefix"), &mut buf);
        for len in 0..n {
            assert!(decode(&buf[..len]).is_err(), "prefix {len} accepted");
        }
        assert!(decode(&buf[..n]).is_ok());
        for len in 0..GOLDEN_SYNC.len() {
            assert!(decode(&GOLDEN_SYNC[..len]).is_err());
        }
    }

    #[test]
    fn universe_range() {
        assert!(!valid_universe(0));
        assert!(valid_universe(1));
        assert!(valid_universe(63999));
        assert!(!valid_universe(64000));
        assert!(!valid_universe(u16::MAX));
    }

    #[test]
    fn multicast_groups() {
        assert_eq!(multicast_addr(1), Ipv4Addr::new(239, 255, 0, 1));
        assert_eq!(multicast_addr(256), Ipv4Addr::new(239, 255, 1, 0));
        assert_eq!(multicast_addr(63999), Ipv4Addr::new(239, 255, 249, 255));
    }

    #[test]
    fn sequence_rule() {
        // Duplicate and up to 19 behind: stale.
        assert!(is_stale(10, 10));
        assert!(is_stale(10, 9));
        assert!(is_stale(10, 5));
        assert!(is_stale(20, 1)); // -19
        assert!(!is_stale(20, 0)); // -20: treated as a source restart
        assert!(!is_stale(10, 11));
        assert!(!is_stale(255, 0)); // wrap forward
        assert!(is_stale(0, 255)); // one behind across the wrap
        assert!(is_stale(5, 242)); // -19 across the wrap
        assert!(!is_stale(5, 241)); // -20 across the wrap
        assert!(!is_stale(0, 127)); // far ahead
        assert!(!is_stale(0, 128)); // (int8) -128: outside the window
                                    // Exhaustive check against the spec's formula written with i32 maths.
        for last in 0..=255u8 {
            for new in 0..=255u8 {
                let mut d = i32::from(new) - i32::from(last);
                if d > 127 {
                    d -= 256;
                } else if d < -128 {
                    d += 256;
                }
                assert_eq!(is_stale(last, new), d <= 0 && d > -20, "{last} {new}");
            }
        }
    }
}
