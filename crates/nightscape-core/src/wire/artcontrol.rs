//! Art-Net's show-control packets: ArtTimeCode (OpTimeCode 0x9700: SMPTE
//! or EBU time from a show computer) and ArtTrigger (OpTrigger 0x9900: a
//! key and sub-key a console or a button panel fires).
//!
//! The daemon receives them on its Art-Net input; tests and tools send
//! them. Like the other codecs, this stands alone (nothing else of the
//! crate) and never allocates: decoding borrows, encoding writes into the
//! caller's buffer. Anything that is not exactly such a packet is an error
//! the receiver drops.

/// OpCode of ArtTimeCode.
pub const OP_TIMECODE: u16 = 0x9700;
/// OpCode of ArtTrigger.
pub const OP_TRIGGER: u16 = 0x9900;
/// ArtTimeCode's length.
pub const TIMECODE_LEN: usize = 19;
/// ArtTrigger's header before its 512 data bytes.
pub(crate) const TRIGGER_HEADER_LEN: usize = 18;
/// ArtTrigger's full length.
pub const TRIGGER_LEN: usize = TRIGGER_HEADER_LEN + 512;
const ID: [u8; 8] = *b"Art-Net\0";
const PROTOCOL_VERSION: u16 = 14;

/// Why bytes are not the packet asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("packet too short: need {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("packet too long: at most {max} bytes, got {got}")]
    TooLong { max: usize, got: usize },
    #[error("packet ID is not \"Art-Net\\0\"")]
    BadId,
    #[error("OpCode is {got:#06x}, expected {expected:#06x}")]
    WrongOpCode { expected: u16, got: u16 },
    #[error("protocol version is {0}, expected 14 or later")]
    OldProtocol(u16),
    #[error("timecode field out of range: {0}")]
    BadTime(&'static str),
    #[error("timecode type {0} is not 0 (film 24), 1 (EBU 25), 2 (DF 29.97) or 3 (SMPTE 30)")]
    BadType(u8),
}

/// Art-Net's timecode types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimecodeType {
    Film24,
    Ebu25,
    Df2997,
    Smpte30,
}

impl TimecodeType {
    pub(crate) fn byte(self) -> u8 {
        match self {
            TimecodeType::Film24 => 0,
            TimecodeType::Ebu25 => 1,
            TimecodeType::Df2997 => 2,
            TimecodeType::Smpte30 => 3,
        }
    }

    /// Frames counted per second (30 for drop-frame).
    pub(crate) fn nominal_fps(self) -> u8 {
        match self {
            TimecodeType::Film24 => 24,
            TimecodeType::Ebu25 => 25,
            TimecodeType::Df2997 | TimecodeType::Smpte30 => 30,
        }
    }
}

/// One ArtTimeCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtTimeCode {
    /// Art-Net 4's stream id (0: the master).
    pub stream: u8,
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub frames: u8,
    pub kind: TimecodeType,
}

/// One ArtTrigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtTrigger<'a> {
    /// The manufacturer code the key is meant for; 0xffff: every device,
    /// with `key` one of Art-Net's (0 ASCII, 1 macro, 2 soft key, 3 show).
    pub oem: u16,
    pub key: u8,
    pub sub_key: u8,
    /// The payload (up to 512 bytes; may be shorter than the spec's 512).
    pub data: &'a [u8],
}

fn header(b: &[u8], op: u16, min: usize, max: usize) -> Result<(), ControlError> {
    if b.len() < min {
        return Err(ControlError::TooShort {
            need: min,
            got: b.len(),
        });
    }
    if b.len() > max {
        return Err(ControlError::TooLong { max, got: b.len() });
    }
    if b[..8] != ID {
        return Err(ControlError::BadId);
    }
    let got = u16::from_le_bytes([b[8], b[9]]);
    if got != op {
        return Err(ControlError::WrongOpCode { expected: op, got });
    }
    let ver = u16::from_be_bytes([b[10], b[11]]);
    if ver < PROTOCOL_VERSION {
        return Err(ControlError::OldProtocol(ver));
    }
    Ok(())
}

/// The OpCode of an Art-Net packet, if `b` starts like one.
pub fn opcode(b: &[u8]) -> Option<u16> {
    (b.len() >= 10 && b[..8] == ID).then(|| u16::from_le_bytes([b[8], b[9]]))
}

/// Decode an ArtTimeCode. Fields are range-checked against its type
/// (frames below the type's rate; drop-frame skips frames 0 and 1 at
/// minutes not divisible by ten, so those are refused too). A few bytes of
/// trailing padding are tolerated; more is not this packet.
pub fn decode_timecode(b: &[u8]) -> Result<ArtTimeCode, ControlError> {
    header(b, OP_TIMECODE, TIMECODE_LEN, TIMECODE_LEN + 8)?;
    let kind = match b[18] {
        0 => TimecodeType::Film24,
        1 => TimecodeType::Ebu25,
        2 => TimecodeType::Df2997,
        3 => TimecodeType::Smpte30,
        t => return Err(ControlError::BadType(t)),
    };
    let t = ArtTimeCode {
        stream: b[13],
        frames: b[14],
        seconds: b[15],
        minutes: b[16],
        hours: b[17],
        kind,
    };
    if t.frames >= kind.nominal_fps() {
        return Err(ControlError::BadTime("frames"));
    }
    if t.seconds > 59 {
        return Err(ControlError::BadTime("seconds"));
    }
    if t.minutes > 59 {
        return Err(ControlError::BadTime("minutes"));
    }
    if t.hours > 23 {
        return Err(ControlError::BadTime("hours"));
    }
    if kind == TimecodeType::Df2997 && t.seconds == 0 && t.frames < 2 && t.minutes % 10 != 0 {
        return Err(ControlError::BadTime("frames (dropped in drop-frame)"));
    }
    Ok(t)
}

/// Encode an ArtTimeCode into `buf`.
pub fn encode_timecode(t: &ArtTimeCode, buf: &mut [u8; TIMECODE_LEN]) {
    buf[..8].copy_from_slice(&ID);
    buf[8..10].copy_from_slice(&OP_TIMECODE.to_le_bytes());
    buf[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    buf[12] = 0;
    buf[13] = t.stream;
    buf[14] = t.frames;
    buf[15] = t.seconds;
    buf[16] = t.minutes;
    buf[17] = t.hours;
    buf[18] = t.kind.byte();
}

/// Decode an ArtTrigger (its data may be shorter than 512 bytes; longer
/// is refused).
pub fn decode_trigger(b: &[u8]) -> Result<ArtTrigger<'_>, ControlError> {
    header(b, OP_TRIGGER, TRIGGER_HEADER_LEN, TRIGGER_LEN)?;
    Ok(ArtTrigger {
        oem: u16::from_be_bytes([b[14], b[15]]),
        key: b[16],
        sub_key: b[17],
        data: &b[TRIGGER_HEADER_LEN..],
    })
}

/// Encode an ArtTrigger into `buf`; returns the length (the header and
/// `data`, at most 512 bytes of it).
pub fn encode_trigger(t: &ArtTrigger, buf: &mut [u8; TRIGGER_LEN]) -> usize {
    buf[..8].copy_from_slice(&ID);
    buf[8..10].copy_from_slice(&OP_TRIGGER.to_le_bytes());
    buf[10..12].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    buf[12] = 0;
    buf[13] = 0;
    buf[14..16].copy_from_slice(&t.oem.to_be_bytes());
    buf[16] = t.key;
    buf[17] = t.sub_key;
    let n = t.data.len().min(512);
    buf[TRIGGER_HEADER_LEN..TRIGGER_HEADER_LEN + n].copy_from_slice(&t.data[..n]);
    TRIGGER_HEADER_LEN + n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecode_round_trips_and_bad_fields_are_refused() {
        let t = ArtTimeCode {
            stream: 0,
            hours: 1,
            minutes: 2,
            seconds: 3,
            frames: 24,
            kind: TimecodeType::Ebu25,
        };
        let mut buf = [0u8; TIMECODE_LEN];
        encode_timecode(&t.clone(), &mut buf);
        // The spec's layout: ID, OpCode LE, ProtVer, Filler, Stream, F S M H, Type.
        assert_eq!(
            &buf[..],
            b"Art-Net\0\x00\x97\x00\x0e\x00\x00\x18\x03\x02\x01\x01"
        );
        assert_eq!(decode_timecode(&buf), Ok(t));
        assert_eq!(opcode(&buf), Some(OP_TIMECODE));
        assert!(matches!(
            decode_timecode(&buf[..18]),
            Err(ControlError::TooShort { .. })
        ));
        let mut long = [0u8; 40];
        long[..19].copy_from_slice(&buf);
        assert!(matches!(
            decode_timecode(&long),
            Err(ControlError::TooLong { .. })
        ));
        let mut b = buf;
        b[14] = 25;
        assert_eq!(decode_timecode(&b), Err(ControlError::BadTime("frames")));
        b[14] = 0;
        b[18] = 7;
        assert_eq!(decode_timecode(&b), Err(ControlError::BadType(7)));
        let mut df = buf;
        df[18] = 2;
        df[14] = 1;
        df[15] = 0;
        df[16] = 1;
        assert!(
            decode_timecode(&df).is_err(),
            "01:01:00;01 does not exist in DF"
        );
        df[16] = 10;
        assert!(decode_timecode(&df).is_ok());
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(decode_timecode(&bad), Err(ControlError::BadId));
    }

    #[test]
    fn trigger_round_trips() {
        let t = ArtTrigger {
            oem: 0xffff,
            key: 3,
            sub_key: 7,
            data: b"go",
        };
        let mut buf = [0u8; TRIGGER_LEN];
        let n = encode_trigger(&t, &mut buf);
        assert_eq!(n, 20);
        assert_eq!(decode_trigger(&buf[..n]), Ok(t));
        assert_eq!(decode_trigger(&buf).unwrap().data.len(), 512);
        assert!(decode_trigger(&buf[..17]).is_err());
        let big = [0u8; TRIGGER_LEN + 1];
        assert!(decode_trigger(&big).is_err());
    }
}
