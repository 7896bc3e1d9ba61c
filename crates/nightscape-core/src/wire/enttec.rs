//! Wire format of the ENTTEC USB DMX interfaces. The DMX USB Pro speaks framed
//! messages over its virtual serial port, `7E label lenLSB lenMSB data.. E7`
//! with 0..=600 data bytes ("DMX USB Pro Widget API Specification 1.44",
//! section "Message Format"); we use label 6 (Output Only Send DMX Packet
//! Request), label 3 (Get Widget Parameters) and label 10 (Get Widget Serial
//! Number). The Open DMX is a bare FTDI UART with no framing: the host makes
//! the break itself and then writes the start code and 512 slots. This module
//! only builds and parses those bytes, into caller-supplied buffers, so the
//! serial output can reuse one buffer per frame, and tests (and a fake widget)
//! can read back exactly what was sent. Nothing here opens a port or sleeps,
//! and no input makes it panic.

/// First byte of every Pro message.
pub const START: u8 = 0x7E;
/// Last byte of every Pro message.
pub const END: u8 = 0xE7;
/// Get Widget Parameters (request data: user-config size, 2 bytes LE).
pub const LABEL_GET_PARAMS: u8 = 3;
/// Output Only Send DMX Packet Request.
pub(crate) const LABEL_SEND_DMX: u8 = 6;
/// Get Widget Serial Number (request data: none; reply: 4 bytes BCD).
pub const LABEL_GET_SERIAL: u8 = 10;

/// Largest data section the API allows in one message.
pub const MAX_DATA_LEN: usize = 600;
/// Label, two length bytes and the start delimiter before the data; the end
/// delimiter after it.
const OVERHEAD: usize = 5;
/// DMX slots (excluding the start code) in a full universe.
pub const MAX_SLOTS: usize = 512;
/// The widget refuses label 6 packets with fewer than 24 slots.
pub(crate) const MIN_SLOTS: usize = 24;
/// Longest label-6 message: 5 bytes of framing + start code + 512 slots.
pub const SEND_DMX_MAX_LEN: usize = OVERHEAD + 1 + MAX_SLOTS;
/// Break and MAB times in the label-3 reply count in units of 10.67 µs.
const TIME_UNIT_US: f32 = 10.67;

/// One whole Pro message: its label and its data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub label: u8,
    pub data: Vec<u8>,
}

/// The label-3 reply: firmware version and the widget's DMX output timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WidgetParams {
    pub firmware: u16,
    /// DMX break time in microseconds (spec range 9..=127 units).
    pub break_us: f32,
    /// Mark-after-break time in microseconds (spec range 1..=127 units).
    pub mab_us: f32,
    /// Output rate in packets per second, 1..=40; 0 means "as fast as possible".
    pub rate_fps: u8,
}

/// Frames `data` as `7E label lenLSB lenMSB data E7`. The caller has checked
/// that it fits.
fn frame(label: u8, data_len: usize, buf: &mut [u8]) -> usize {
    let [lo, hi] = (data_len as u16).to_le_bytes();
    buf[0] = START;
    buf[1] = label;
    buf[2] = lo;
    buf[3] = hi;
    buf[4 + data_len] = END;
    data_len + OVERHEAD
}

/// Label 6 "Output Only Send DMX Packet": `7E 06 lenLSB lenMSB [start code 0,
/// slots...] E7`. Pads with zeros to at least 24 slots (the widget minimum)
/// and ignores slots past 512. Returns the length written, which is at most
/// [`SEND_DMX_MAX_LEN`] (518); if `buf` is too short for the message it
/// writes nothing and returns 0, so a 518-byte buffer always suffices.
pub fn encode_send_dmx(slots: &[u8], buf: &mut [u8]) -> usize {
    let n = slots.len().min(MAX_SLOTS);
    let padded = n.max(MIN_SLOTS);
    let data_len = 1 + padded;
    if buf.len() < data_len + OVERHEAD {
        return 0;
    }
    buf[4] = 0; // DMX512 start code for dimmer data
    buf[5..5 + n].copy_from_slice(&slots[..n]);
    buf[5 + n..5 + padded].fill(0);
    frame(LABEL_SEND_DMX, data_len, buf)
}

/// Any request: `7E label lenLSB lenMSB payload E7`, e.g. label 3 with
/// `[0, 0]` (ask for no user-config bytes) or label 10 with `[]`. Returns the
/// length written, or 0 (writing nothing) if the payload is over 600 bytes or
/// `buf` is shorter than `payload.len() + 5`.
pub fn encode_request(label: u8, payload: &[u8], buf: &mut [u8]) -> usize {
    if payload.len() > MAX_DATA_LEN || buf.len() < payload.len() + OVERHEAD {
        return 0;
    }
    buf[4..4 + payload.len()].copy_from_slice(payload);
    frame(label, payload.len(), buf)
}

/// Incremental reader for widget replies and (in tests) for what we sent:
/// feed bytes as they arrive in any chunking, get whole messages back.
///
/// It resyncs on junk: bytes before a `7E` are skipped; a candidate whose
/// length is over 600 or that does not end in `E7` is abandoned and the
/// search restarts one byte after its `7E`, so a real message hidden behind
/// a false start is still found. Data is length-delimited, so `7E`/`E7`
/// inside a message's data are fine. It holds at most one partial message
/// (under 606 bytes) between calls.
#[derive(Debug, Default)]
pub struct MessageReader {
    pending: Vec<u8>,
    junk: u64,
}

impl MessageReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and returns every message they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(bytes);
        let buf = &self.pending;
        let mut pos = 0;
        loop {
            match buf[pos..].iter().position(|&b| b == START) {
                Some(skip) => {
                    self.junk += skip as u64;
                    pos += skip;
                }
                None => {
                    self.junk += (buf.len() - pos) as u64;
                    pos = buf.len();
                    break;
                }
            }
            let rest = &buf[pos..];
            if rest.len() < 4 {
                break; // header incomplete: wait for more
            }
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            if len > MAX_DATA_LEN {
                // Not a real header: drop this 7E and search again.
                self.junk += 1;
                pos += 1;
                continue;
            }
            let Some(&end) = rest.get(4 + len) else {
                break; // body incomplete: wait for more
            };
            if end != END {
                self.junk += 1;
                pos += 1;
                continue;
            }
            out.push(Message {
                label: rest[1],
                data: rest[4..4 + len].to_vec(),
            });
            pos += len + OVERHEAD;
        }
        self.pending.drain(..pos);
        out
    }

    /// Bytes skipped so far while resyncing (junk and abandoned false starts).
    pub fn junk_bytes(&self) -> u64 {
        self.junk
    }
}

/// Parses the label-3 reply data: firmware LSB, firmware MSB, break time and
/// MAB time (each in units of 10.67 µs) and rate (packets per second), then
/// any user-config bytes, which are ignored. `None` if under 5 bytes. Values
/// are reported as sent, not range-checked, so a caller can log odd widgets.
pub fn parse_params(data: &[u8]) -> Option<WidgetParams> {
    let &[fw_lo, fw_hi, brk, mab, rate, ..] = data else {
        return None;
    };
    Some(WidgetParams {
        firmware: u16::from_le_bytes([fw_lo, fw_hi]),
        break_us: f32::from(brk) * TIME_UNIT_US,
        mab_us: f32::from(mab) * TIME_UNIT_US,
        rate_fps: rate,
    })
}

/// Parses the label-10 reply: 4 bytes of packed BCD, least significant byte
/// first, e.g. `78 56 34 12` is serial 12345678. `None` if under 4 bytes or a
/// nibble is not a decimal digit (which would mean we misread the reply).
pub fn parse_serial(data: &[u8]) -> Option<u32> {
    let bytes = data.get(..4)?;
    let mut value = 0u32;
    for &b in bytes.iter().rev() {
        let (hi, lo) = (b >> 4, b & 0x0f);
        if hi > 9 || lo > 9 {
            return None;
        }
        value = value * 100 + u32::from(hi) * 10 + u32::from(lo);
    }
    Some(value)
}

/// Open DMX (raw FTDI): the bytes to write after the break — start code 0 and
/// then 512 slots, always the full 513 so every frame takes the same time on
/// the line. Missing slots are zero; slots past 512 are ignored.
pub fn open_dmx_frame(slots: &[u8], buf: &mut [u8; 513]) {
    let n = slots.len().min(MAX_SLOTS);
    buf[0] = 0;
    buf[1..1 + n].copy_from_slice(&slots[..n]);
    buf[1 + n..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_dmx_pads_to_24_slots() {
        let mut buf = [0xaau8; 600];
        let n = encode_send_dmx(&[1, 2, 3], &mut buf);
        // 25 data bytes (start code + 24 slots) = 0x19.
        let mut want = vec![0x7E, 0x06, 0x19, 0x00, 0x00, 1, 2, 3];
        want.extend([0u8; 21]);
        want.push(0xE7);
        assert_eq!(n, 30);
        assert_eq!(&buf[..n], &want[..]);
    }

    #[test]
    fn send_dmx_full_universe() {
        let slots: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut buf = [0u8; 518];
        let n = encode_send_dmx(&slots, &mut buf);
        assert_eq!(n, 518);
        // 513 = 0x0201, LSB first.
        assert_eq!(buf[..5], [0x7E, 0x06, 0x01, 0x02, 0x00]);
        assert_eq!(&buf[5..517], &slots[..]);
        assert_eq!(buf[517], 0xE7);
        // More than 512 slots: the rest is ignored.
        let many = [9u8; 700];
        assert_eq!(encode_send_dmx(&many, &mut buf), 518);
        assert_eq!(buf[517], 0xE7);
    }

    #[test]
    fn send_dmx_exact_sizes_and_small_buffers() {
        for n in 0..=512usize {
            let slots = vec![0x11u8; n];
            let mut buf = [0u8; 518];
            let len = encode_send_dmx(&slots, &mut buf);
            assert_eq!(len, 6 + n.max(24));
            // One byte short: nothing written.
            let mut small = vec![0u8; len - 1];
            assert_eq!(encode_send_dmx(&slots, &mut small), 0);
            assert!(small.iter().all(|&b| b == 0));
        }
        assert_eq!(encode_send_dmx(&[], &mut []), 0);
    }

    #[test]
    fn requests() {
        let mut buf = [0u8; 16];
        let n = encode_request(LABEL_GET_PARAMS, &[0, 0], &mut buf);
        assert_eq!(&buf[..n], &[0x7E, 0x03, 0x02, 0x00, 0x00, 0x00, 0xE7]);
        let n = encode_request(LABEL_GET_SERIAL, &[], &mut buf);
        assert_eq!(&buf[..n], &[0x7E, 0x0A, 0x00, 0x00, 0xE7]);
        assert_eq!(encode_request(3, &[0; 12], &mut buf), 0);
        let mut big = [0u8; 700];
        assert_eq!(encode_request(3, &[0; 601], &mut big), 0);
        assert_eq!(encode_request(3, &[0; 600], &mut big), 605);
        assert_eq!(big[2..4], [0x58, 0x02]);
    }

    fn sample_stream() -> (Vec<u8>, Vec<Message>) {
        let mut bytes = Vec::new();
        let mut msgs = Vec::new();
        let mut buf = [0u8; 700];
        // Data containing both delimiters, to prove length framing wins.
        let slots: Vec<u8> = (0..40)
            .map(|i| if i % 2 == 0 { 0x7E } else { 0xE7 })
            .collect();
        let n = encode_send_dmx(&slots, &mut buf);
        bytes.extend_from_slice(&buf[..n]);
        let mut data = vec![0];
        data.extend(&slots);
        msgs.push(Message { label: 6, data });
        let n = encode_request(LABEL_GET_SERIAL, &[], &mut buf);
        bytes.extend_from_slice(&buf[..n]);
        msgs.push(Message {
            label: 10,
            data: vec![],
        });
        let n = encode_request(LABEL_GET_PARAMS, &[0x44, 0x01, 9, 1, 40], &mut buf);
        bytes.extend_from_slice(&buf[..n]);
        msgs.push(Message {
            label: 3,
            data: vec![0x44, 0x01, 9, 1, 40],
        });
        (bytes, msgs)
    }

    #[test]
    fn reader_any_chunking() {
        let (bytes, msgs) = sample_stream();
        // One shot.
        assert_eq!(MessageReader::new().push(&bytes), msgs);
        // Byte by byte.
        let mut r = MessageReader::new();
        let got: Vec<Message> = bytes.iter().flat_map(|b| r.push(&[*b])).collect();
        assert_eq!(got, msgs);
        assert_eq!(r.junk_bytes(), 0);
        // Every two-way split.
        for cut in 0..=bytes.len() {
            let mut r = MessageReader::new();
            let mut got = r.push(&bytes[..cut]);
            got.extend(r.push(&bytes[cut..]));
            assert_eq!(got, msgs, "cut at {cut}");
        }
    }

    #[test]
    fn reader_every_prefix_yields_only_whole_messages() {
        let (bytes, msgs) = sample_stream();
        let ends: Vec<usize> = {
            let first = 5 + 41;
            vec![first, first + 5, first + 5 + 10]
        };
        for len in 0..=bytes.len() {
            let got = MessageReader::new().push(&bytes[..len]);
            let complete = ends.iter().filter(|&&e| e <= len).count();
            assert_eq!(got, msgs[..complete], "prefix {len}");
        }
    }

    #[test]
    fn reader_resyncs_on_junk() {
        let (bytes, msgs) = sample_stream();
        let mut stream = vec![0x00, 0x13, 0xE7, 0x42];
        // A false start: 7E with a plausible length but no E7 where it should be.
        stream.extend([0x7E, 0x06, 0x02, 0x00, 0xAA, 0xBB, 0xCC]);
        // A false start with an impossible length (0xFFFF > 600).
        stream.extend([0x7E, 0x01, 0xFF, 0xFF]);
        stream.extend(&bytes);
        stream.extend([0x55, 0x7E]);
        let mut r = MessageReader::new();
        assert_eq!(r.push(&stream), msgs);
        // 4 + 7 + 4 junk before, 0x55 after; the trailing 7E waits as a header.
        assert_eq!(r.junk_bytes(), 16);
        // That dangling 7E plus more junk resolves without a message.
        assert!(r.push(&[0x00, 0xFF, 0xFF]).is_empty());
        assert_eq!(r.push(&bytes), msgs);
    }

    #[test]
    fn reader_finds_message_inside_false_start() {
        // A 7E whose claimed body swallows a real message: the reader must
        // back off and find the real one.
        let mut buf = [0u8; 8];
        let n = encode_request(10, &[], &mut buf);
        let mut stream = vec![0x7E, 0x00, 0x08, 0x00];
        stream.extend(&buf[..n]);
        stream.extend([0x00, 0x00, 0x00, 0x00]); // byte 4+8 is not E7
        let got = MessageReader::new().push(&stream);
        assert_eq!(
            got,
            vec![Message {
                label: 10,
                data: vec![]
            }]
        );
    }

    #[test]
    fn params() {
        let p = parse_params(&[0x44, 0x01, 9, 1, 40]).unwrap();
        assert_eq!(p.firmware, 0x0144);
        assert!((p.break_us - 96.03).abs() < 1e-3);
        assert!((p.mab_us - 10.67).abs() < 1e-4);
        assert_eq!(p.rate_fps, 40);
        // User-config bytes after the five are ignored.
        assert_eq!(
            parse_params(&[1, 2, 3, 4, 5, 6, 7]).unwrap().firmware,
            0x0201
        );
        for len in 0..5 {
            assert!(parse_params(&[1, 2, 3, 4, 5][..len]).is_none());
        }
    }

    #[test]
    fn serial() {
        assert_eq!(parse_serial(&[0x78, 0x56, 0x34, 0x12]), Some(12_345_678));
        assert_eq!(parse_serial(&[0x01, 0, 0, 0]), Some(1));
        assert_eq!(parse_serial(&[0x99, 0x99, 0x99, 0x99]), Some(99_999_999));
        assert_eq!(parse_serial(&[0x0A, 0, 0, 0]), None);
        assert_eq!(parse_serial(&[0, 0, 0, 0xA0]), None);
        for len in 0..4 {
            assert_eq!(parse_serial(&[1, 2, 3, 4][..len]), None);
        }
    }

    #[test]
    fn open_dmx() {
        let mut buf = [0xffu8; 513];
        open_dmx_frame(&[1, 2, 3], &mut buf);
        assert_eq!(buf[..4], [0, 1, 2, 3]);
        assert!(buf[4..].iter().all(|&b| b == 0));
        let full = [7u8; 600];
        open_dmx_frame(&full, &mut buf);
        assert_eq!(buf[0], 0);
        assert!(buf[1..].iter().all(|&b| b == 7));
        open_dmx_frame(&[], &mut buf);
        assert!(buf.iter().all(|&b| b == 0));
    }
}
