//! Reading MIDI timecode for an `mtc` input from a raw MIDI device
//! (ALSA's `/dev/snd/midiC1D0`, or any character device or FIFO that
//! carries the MIDI byte stream). Bytes go to the pure decoder
//! (`nightscape_core::timecode::MtcDecoder`); each code is a position.
//! The read blocks: the thread ends with the process (or when the device
//! goes away, which the console then shows as `down`).

use super::{Inputs, Running};
use nightscape_core::site::inputs::DeviceInput;
use nightscape_core::timecode::{MtcDecoder, TimecodeSource};
use std::io::Read;

pub(super) fn run(inputs: &Inputs, r: &Running, dev: &DeviceInput) {
    if let Err(e) = read(inputs, r, dev) {
        tracing::warn!(device = %dev.device, "MTC input stopped: {e}");
        if let Some(slot) = super::lock(&inputs.state).errors.get_mut(r.index()) {
            *slot = Some(e.to_string());
        }
    }
}

fn read(inputs: &Inputs, r: &Running, dev: &DeviceInput) -> std::io::Result<()> {
    let mut f = std::fs::File::open(&dev.device)?;
    if f.metadata()?.is_dir() {
        return Err(std::io::Error::other("a folder, not a MIDI device"));
    }
    let mut dec = MtcDecoder::new();
    let mut buf = [0u8; 256];
    let mut codes = Vec::new();
    while !r.stopped(inputs) {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Err(std::io::Error::other("the MIDI device ended"));
        }
        dec.push(&buf[..got], &mut codes);
        for tc in codes.drain(..) {
            inputs.feed_timecode(TimecodeSource::Mtc, tc);
            let now = inputs.now();
            let mut st = super::lock(&inputs.state);
            if let Some(c) = st.counters.get_mut(r.index()) {
                c.packets += 1;
                c.accepted += 1;
                c.last_at = Some(now);
            }
        }
    }
    Ok(())
}
