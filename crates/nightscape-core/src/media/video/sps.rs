//! The picture size an H.264 sequence parameter set declares, read before
//! the decoder sees it.
//!
//! OpenH264 allocates its frame buffers from the SPS, so a hostile file
//! that declares a 100,000 × 100,000 picture would allocate before any
//! error. Reading the SPS ourselves (ITU-T H.264 § 7.3.2.1.1, as far as
//! the frame size and cropping) lets the caller's [`Limits`] refuse it
//! first, and lets formats OpenH264 cannot decode (10-bit, 4:2:2, 4:4:4,
//! interlaced) be named instead of failing as "corrupt".
//!
//! [`Limits`]: crate::media::Limits

/// What one SPS says about the pictures that follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpsInfo {
    pub profile_idc: u8,
    /// Displayed size, after cropping.
    pub width: u64,
    pub height: u64,
}

/// Why an SPS was refused: `Unsupported` names a format we do not decode,
/// `Corrupt` a bitstream that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpsError {
    Unsupported(String),
    Corrupt(&'static str),
}

/// Reads an SPS NAL unit (header byte included, emulation-prevention
/// bytes still in).
pub(crate) fn parse(nal: &[u8]) -> Result<SpsInfo, SpsError> {
    let rbsp = unescape(nal.get(1..).unwrap_or_default());
    let mut r = Bits {
        data: &rbsp,
        pos: 0,
    };
    let profile_idc = r.bits(8)? as u8;
    r.bits(8)?; // constraint flags
    r.bits(8)?; // level_idc
    r.ue()?; // seq_parameter_set_id
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        let luma_depth = r.ue()? + 8;
        let chroma_depth = r.ue()? + 8;
        if chroma_format_idc != 1 || luma_depth != 8 || chroma_depth != 8 {
            return Err(SpsError::Unsupported(format!(
                "the video is {}-bit {}; nightscape decodes 8-bit 4:2:0 H.264 (re-encode with -pix_fmt yuv420p)",
                luma_depth,
                match chroma_format_idc {
                    0 => "monochrome (4:0:0)",
                    1 => "4:2:0",
                    2 => "4:2:2",
                    _ => "4:4:4",
                }
            )));
        }
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            // seq_scaling_matrix_present_flag: skip the lists.
            for i in 0..8 {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(SpsError::Corrupt(
                    "num_ref_frames_in_pic_order_cnt_cycle over 255",
                ));
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(SpsError::Corrupt("pic_order_cnt_type over 2")),
    }
    r.ue()?; // max_num_ref_frames
    r.bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bits(1)? == 1;
    if !frame_mbs_only {
        return Err(SpsError::Unsupported(
            "the video is interlaced; nightscape decodes progressive H.264 (re-encode without interlacing)"
                .into(),
        ));
    }
    r.bits(1)?; // direct_8x8_inference_flag
    let (mut crop_x, mut crop_y) = (0, 0);
    if r.bits(1)? == 1 {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        // 4:2:0, progressive: crop units are 2 × 2 luma samples.
        crop_x = 2 * (left + right);
        crop_y = 2 * (top + bottom);
    }
    let (full_w, full_h) = (width_mbs * 16, height_map_units * 16);
    if crop_x >= full_w || crop_y >= full_h {
        return Err(SpsError::Corrupt("cropping removes the whole picture"));
    }
    Ok(SpsInfo {
        profile_idc,
        width: full_w - crop_x,
        height: full_h - crop_y,
    })
}

/// Drops the emulation-prevention byte of each `00 00 03`.
fn unescape(data: &[u8]) -> Vec<u8> {
    // An SPS is tens of bytes; the part we read is at most a few hundred.
    let data = &data[..data.len().min(1024)];
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_scaling_list(r: &mut Bits, size: usize) -> Result<(), SpsError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Result<u64, SpsError> {
        let mut v = 0u64;
        for _ in 0..n {
            let byte = *self
                .data
                .get(self.pos / 8)
                .ok_or(SpsError::Corrupt("the sequence parameter set ends early"))?;
            v = (v << 1) | u64::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Unsigned Exp-Golomb; at most 32 leading zeros, as the standard allows.
    fn ue(&mut self) -> Result<u64, SpsError> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 32 {
                return Err(SpsError::Corrupt(
                    "an Exp-Golomb code is longer than 32 bits",
                ));
            }
        }
        Ok((1u64 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Result<i64, SpsError> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes bits MSB first, for building SPSs in tests.
    struct Writer(Vec<bool>);
    impl Writer {
        fn bits(&mut self, v: u64, n: u32) {
            for i in (0..n).rev() {
                self.0.push((v >> i) & 1 == 1);
            }
        }
        fn ue(&mut self, v: u64) {
            let x = v + 1;
            let len = 64 - x.leading_zeros();
            self.bits(0, len - 1);
            self.bits(x, len);
        }
        fn bytes(&self) -> Vec<u8> {
            let mut out = vec![0x67];
            for chunk in self.0.chunks(8) {
                let mut b = 0u8;
                for (i, &bit) in chunk.iter().enumerate() {
                    b |= (bit as u8) << (7 - i);
                }
                out.push(b);
            }
            out
        }
    }

    fn baseline_sps(width_mbs: u64, height_mbs: u64, crop: Option<[u64; 4]>) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.bits(66, 8);
        w.bits(0xC0, 8);
        w.bits(30, 8);
        w.ue(0);
        w.ue(0); // log2_max_frame_num_minus4
        w.ue(2); // poc type 2
        w.ue(1); // max refs
        w.bits(0, 1);
        w.ue(width_mbs - 1);
        w.ue(height_mbs - 1);
        w.bits(1, 1); // frame_mbs_only
        w.bits(1, 1);
        match crop {
            Some(c) => {
                w.bits(1, 1);
                for v in c {
                    w.ue(v);
                }
            }
            None => w.bits(0, 1),
        }
        w.bits(0, 1); // vui
        w.bits(1, 1); // stop bit
        w.bytes()
    }

    #[test]
    fn reads_size_and_cropping() {
        let sps = parse(&baseline_sps(120, 68, Some([0, 0, 0, 4]))).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.profile_idc, 66);
    }

    #[test]
    fn a_giant_declared_size_is_read_not_allocated() {
        let sps = parse(&baseline_sps(6250, 6250, None)).unwrap();
        assert_eq!((sps.width, sps.height), (100_000, 100_000));
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let full = baseline_sps(120, 68, None);
        for cut in 1..full.len() - 1 {
            assert!(parse(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(&[0x67, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse(&[]).is_err());
    }
}
