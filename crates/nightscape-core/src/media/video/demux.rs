//! The parts of an MP4 (ISO base media file) that H.264 decoding needs:
//! the first video track's codec, its avcC parameter sets, and its sample
//! table (where each frame's bytes are, and when it is shown).
//!
//! Written here rather than taken from a general MP4 reader because a show
//! file may come from anywhere: every size this reader trusts is checked
//! against the bytes that are really there before it is used, nothing is
//! allocated from a declared count that the file's own bytes do not back,
//! and a sample's bytes are borrowed from the file, never copied. Every
//! malformed file is an error that says what is wrong, never a panic.
//! Fragmented MP4 (`moof`) is refused with a hint: show clips are files,
//! not streams.

use crate::media::MediaError;

/// One track's codec as its sample entry names it, and its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrackKind {
    pub handler: [u8; 4],
    pub codec: [u8; 4],
}

/// The video track, ready to decode.
#[derive(Debug)]
pub(crate) struct VideoTrack<'a> {
    pub timescale: u32,
    /// avcC's NAL length field size (1, 2 or 4 bytes).
    pub nal_length_size: usize,
    pub sps: Vec<&'a [u8]>,
    pub pps: Vec<&'a [u8]>,
    /// In decode order.
    pub samples: Vec<Sample>,
    /// avc1's declared size (the SPS is what counts; this is for messages).
    pub declared: (u16, u16),
}

/// One access unit: where its bytes are and when it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub offset: usize,
    pub size: usize,
    /// Presentation time in the track's timescale (decode time plus the
    /// composition offset).
    pub pts: i64,
    /// How long it is shown (its decode-time delta).
    pub duration: u32,
}

/// The result of reading an MP4's boxes: its video track, or what tracks
/// it had instead.
pub(crate) enum Found<'a> {
    Video(VideoTrack<'a>),
    /// A video track whose codec is not H.264.
    OtherCodec([u8; 4]),
    /// No video track; the kinds of the tracks there are.
    NoVideo(Vec<TrackKind>),
}

/// At least this many bytes in each sample: a 4-byte length and a NAL
/// header. Bounds the sample count a file can declare by its size.
const MIN_SAMPLE_BYTES: usize = 5;

/// A box: its type, where its payload is (after the header) and its end.
#[derive(Clone, Copy, Debug)]
struct Atom {
    kind: [u8; 4],
    body: usize,
    end: usize,
}

fn corrupt(msg: impl Into<String>) -> MediaError {
    MediaError::Corrupt(msg.into())
}

pub(crate) fn fourcc(k: [u8; 4]) -> String {
    k.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// The boxes in `bytes[from..to]`, each checked to lie inside it.
fn atoms(bytes: &[u8], from: usize, to: usize) -> Result<Vec<Atom>, MediaError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        if to - at < 8 {
            return Err(corrupt(format!(
                "{} stray bytes at byte {at} where a box header should be: the file is cut short or not an MP4",
                to - at
            )));
        }
        let size32 = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().expect("4 bytes");
        let (size, header) = match size32 {
            0 => ((to - at) as u64, 8),
            1 => {
                if to - at < 16 {
                    return Err(corrupt("a box's 64-bit size is cut short"));
                }
                let large = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
                (large, 16)
            }
            s => (u64::from(s), 8),
        };
        if size < header as u64 {
            return Err(corrupt(format!(
                "box '{}' at byte {at} declares {size} bytes, less than its own header",
                fourcc(kind)
            )));
        }
        if size > (to - at) as u64 {
            return Err(corrupt(format!(
                "box '{}' at byte {at} declares {size} bytes but only {} remain: the file is cut short",
                fourcc(kind),
                to - at
            )));
        }
        let end = at + size as usize;
        out.push(Atom {
            kind,
            body: at + header,
            end,
        });
        at = end;
    }
    Ok(out)
}

fn child(bytes: &[u8], parent: Atom, kind: &[u8; 4]) -> Result<Option<Atom>, MediaError> {
    Ok(atoms(bytes, parent.body, parent.end)?
        .into_iter()
        .find(|a| &a.kind == kind))
}

fn need(bytes: &[u8], parent: Atom, kind: &[u8; 4]) -> Result<Atom, MediaError> {
    child(bytes, parent, kind)?.ok_or_else(|| {
        corrupt(format!(
            "box '{}' has no '{}' inside: the file is damaged",
            fourcc(parent.kind),
            fourcc(*kind)
        ))
    })
}

/// A bounds-checked big-endian reader over one box's payload.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    end: usize,
    what: [u8; 4],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], atom: Atom) -> Reader<'a> {
        Reader {
            bytes,
            at: atom.body,
            end: atom.end,
            what: atom.kind,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], MediaError> {
        if self.end - self.at < n {
            return Err(corrupt(format!(
                "box '{}' is shorter than its fields: the file is damaged",
                fourcc(self.what)
            )));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MediaError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, MediaError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, MediaError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn left(&self) -> usize {
        self.end - self.at
    }
    /// A full box's version and flags, then an entry count whose entries
    /// (`entry` bytes each) must fit in what is left.
    fn table(&mut self, entry: usize) -> Result<(u8, usize), MediaError> {
        let version = self.u32()? >> 24;
        let count = self.u32()? as usize;
        if count > self.left() / entry {
            return Err(corrupt(format!(
                "box '{}' declares {count} entries but holds at most {}: the file is damaged",
                fourcc(self.what),
                self.left() / entry
            )));
        }
        Ok((version as u8, count))
    }
}

/// Reads the first video track of an MP4.
pub(crate) fn read(bytes: &[u8]) -> Result<Found<'_>, MediaError> {
    let top = atoms(bytes, 0, bytes.len())?;
    if !top.iter().any(|a| &a.kind == b"ftyp") && !top.iter().any(|a| &a.kind == b"moov") {
        return Err(MediaError::Unsupported(
            "not an MP4 file (no 'ftyp' or 'moov' box); nightscape decodes H.264 video in MP4"
                .into(),
        ));
    }
    let moov = top
        .iter()
        .find(|a| &a.kind == b"moov")
        .copied()
        .ok_or_else(|| {
            corrupt(
                "the MP4 has no 'moov' box (its index): the file is cut short or was not finished",
            )
        })?;
    if top.iter().any(|a| &a.kind == b"moof") {
        return Err(MediaError::Unsupported(
            "fragmented MP4 (streaming segments) is not supported; re-save it as a plain MP4 (e.g. ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4)".into(),
        ));
    }
    let mut kinds = Vec::new();
    for trak in atoms(bytes, moov.body, moov.end)?
        .into_iter()
        .filter(|a| &a.kind == b"trak")
    {
        let mdia = need(bytes, trak, b"mdia")?;
        let hdlr = need(bytes, mdia, b"hdlr")?;
        let mut r = Reader::new(bytes, hdlr);
        r.take(8)?; // version, flags, pre_defined
        let handler: [u8; 4] = r.take(4)?.try_into().expect("4");
        let stbl = need(bytes, need(bytes, mdia, b"minf")?, b"stbl")?;
        let stsd = need(bytes, stbl, b"stsd")?;
        let entries = atoms(bytes, (stsd.body + 8).min(stsd.end), stsd.end)?;
        let Some(entry) = entries.first().copied() else {
            return Err(corrupt(
                "a track has no sample description: the file is damaged",
            ));
        };
        if &handler != b"vide" {
            kinds.push(TrackKind {
                handler,
                codec: entry.kind,
            });
            continue;
        }
        if &entry.kind != b"avc1" && &entry.kind != b"avc3" {
            return Ok(Found::OtherCodec(entry.kind));
        }
        return video_track(bytes, mdia, stbl, entry).map(Found::Video);
    }
    Ok(Found::NoVideo(kinds))
}

fn video_track<'a>(
    bytes: &'a [u8],
    mdia: Atom,
    stbl: Atom,
    entry: Atom,
) -> Result<VideoTrack<'a>, MediaError> {
    let mut r = Reader::new(bytes, need(bytes, mdia, b"mdhd")?);
    let version = r.u32()? >> 24;
    let timescale = if version == 1 {
        r.take(16)?;
        r.u32()?
    } else {
        r.take(8)?;
        r.u32()?
    };
    if timescale == 0 {
        return Err(corrupt(
            "the video track's timescale is 0: the file is damaged",
        ));
    }

    // VisualSampleEntry: 78 bytes of fields, then boxes (avcC among them).
    let mut r = Reader::new(bytes, entry);
    r.take(24)?;
    let declared = (r.u16()?, r.u16()?);
    r.take(50)?;
    let avcc = atoms(bytes, r.at, entry.end)?
        .into_iter()
        .find(|a| &a.kind == b"avcC")
        .ok_or_else(|| corrupt("the H.264 track has no 'avcC' (decoder configuration)"))?;
    let mut r = Reader::new(bytes, avcc);
    r.take(4)?; // version, profile, compatibility, level
    let nal_length_size = usize::from(r.u8()? & 3) + 1;
    if nal_length_size == 3 {
        return Err(corrupt(
            "avcC declares 3-byte NAL lengths, which H.264 in MP4 does not allow",
        ));
    }
    let mut sps = Vec::new();
    for _ in 0..(r.u8()? & 31) {
        let n = usize::from(r.u16()?);
        sps.push(r.take(n)?);
    }
    let mut pps = Vec::new();
    for _ in 0..r.u8()? {
        let n = usize::from(r.u16()?);
        pps.push(r.take(n)?);
    }

    let samples = sample_table(bytes, stbl)?;
    Ok(VideoTrack {
        timescale,
        nal_length_size,
        sps,
        pps,
        samples,
        declared,
    })
}

/// stsz + stsc + stco/co64 + stts + ctts → each sample's place and time.
fn sample_table(bytes: &[u8], stbl: Atom) -> Result<Vec<Sample>, MediaError> {
    // Sizes.
    let stsz = child(bytes, stbl, b"stsz")?.ok_or_else(|| {
        if matches!(child(bytes, stbl, b"stz2"), Ok(Some(_))) {
            MediaError::Unsupported("compact sample sizes ('stz2') are not supported".into())
        } else {
            corrupt("the video track has no sample sizes ('stsz'): the file is damaged")
        }
    })?;
    let mut r = Reader::new(bytes, stsz);
    r.u32()?;
    let fixed = r.u32()? as usize;
    let count = r.u32()? as usize;
    if count > bytes.len() / MIN_SAMPLE_BYTES {
        return Err(corrupt(format!(
            "the track declares {count} frames, more than a file of {} bytes can hold",
            bytes.len()
        )));
    }
    let mut sizes = Vec::with_capacity(count);
    if fixed != 0 {
        sizes.resize(count, fixed);
    } else {
        if count > r.left() / 4 {
            return Err(corrupt(
                "'stsz' lists fewer sizes than frames: the file is damaged",
            ));
        }
        for _ in 0..count {
            sizes.push(r.u32()? as usize);
        }
    }

    // Chunk offsets.
    let mut chunks = Vec::new();
    if let Some(stco) = child(bytes, stbl, b"stco")? {
        let mut r = Reader::new(bytes, stco);
        let (_, n) = r.table(4)?;
        for _ in 0..n {
            chunks.push(u64::from(r.u32()?));
        }
    } else if let Some(co64) = child(bytes, stbl, b"co64")? {
        let mut r = Reader::new(bytes, co64);
        let (_, n) = r.table(8)?;
        for _ in 0..n {
            chunks.push(r.u64()?);
        }
    } else {
        return Err(corrupt(
            "the video track has no chunk offsets ('stco'): the file is damaged",
        ));
    }

    // Samples per chunk → each sample's offset.
    let mut r = Reader::new(bytes, need(bytes, stbl, b"stsc")?);
    let (_, n) = r.table(12)?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let first = r.u32()? as usize;
        let per = r.u32()? as usize;
        r.u32()?;
        if first == 0 || runs.last().is_some_and(|&(f, _)| first <= f) {
            return Err(corrupt(
                "'stsc' chunk runs are out of order: the file is damaged",
            ));
        }
        runs.push((first, per));
    }
    let mut offsets = Vec::with_capacity(count);
    'chunks: for (c, &chunk_at) in chunks.iter().enumerate() {
        let run = runs.partition_point(|&(first, _)| first <= c + 1);
        let Some(&(_, per)) = run.checked_sub(1).and_then(|i| runs.get(i)) else {
            return Err(corrupt(
                "'stsc' does not cover the first chunk: the file is damaged",
            ));
        };
        let mut at = chunk_at;
        for _ in 0..per {
            let k = offsets.len();
            if k == count {
                break 'chunks;
            }
            offsets.push(at);
            at = at.saturating_add(sizes[k] as u64);
        }
    }
    if offsets.len() < count {
        return Err(corrupt(format!(
            "the chunk table places {} of {count} frames: the file is damaged",
            offsets.len()
        )));
    }

    // Decode times (stts) and composition offsets (ctts).
    let mut r = Reader::new(bytes, need(bytes, stbl, b"stts")?);
    let (_, n) = r.table(8)?;
    let mut durations = Vec::with_capacity(count);
    for _ in 0..n {
        let run = r.u32()? as usize;
        let delta = r.u32()?;
        let take = run.min(count - durations.len());
        durations.extend(std::iter::repeat_n(delta, take));
    }
    if durations.len() < count {
        // Missing trailing times: hold the last delta (or one tick).
        let last = durations.last().copied().unwrap_or(1);
        durations.resize(count, last);
    }
    let mut offsets_ct = vec![0i64; count];
    if let Some(ctts) = child(bytes, stbl, b"ctts")? {
        let mut r = Reader::new(bytes, ctts);
        let (_, n) = r.table(8)?;
        let mut k = 0;
        for _ in 0..n {
            let run = r.u32()? as usize;
            // Signed in version 1; writers put negative offsets in version
            // 0 too, so both are read as signed.
            let off = i64::from(r.u32()? as i32);
            let take = run.min(count - k);
            offsets_ct[k..k + take].fill(off);
            k += take;
        }
    }

    let mut out = Vec::with_capacity(count);
    let mut dts: i64 = 0;
    for k in 0..count {
        let (offset, size) = (offsets[k], sizes[k]);
        let end = offset.saturating_add(size as u64);
        if end > bytes.len() as u64 {
            return Err(corrupt(format!(
                "frame {} of {count} lies at bytes {offset}..{end}, past the end of the file ({} bytes): the file is cut short",
                k + 1,
                bytes.len()
            )));
        }
        out.push(Sample {
            offset: offset as usize,
            size,
            pts: dts.saturating_add(offsets_ct[k]),
            duration: durations[k],
        });
        dts = dts.saturating_add(i64::from(durations[k]));
    }
    Ok(out)
}

/// The NAL units of one sample (length-prefixed, as MP4 stores them).
pub(crate) fn nal_units(
    data: &[u8],
    length_size: usize,
) -> impl Iterator<Item = Result<&[u8], MediaError>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        if data.len() - at < length_size {
            at = data.len();
            return Some(Err(corrupt("a frame ends inside a NAL length field")));
        }
        let mut n = 0usize;
        for &b in &data[at..at + length_size] {
            n = (n << 8) | usize::from(b);
        }
        at += length_size;
        if n > data.len() - at {
            at = data.len();
            return Some(Err(corrupt(
                "a NAL unit runs past the end of its frame: the file is damaged",
            )));
        }
        let nal = &data[at..at + n];
        at += n;
        Some(Ok(nal))
    })
}
