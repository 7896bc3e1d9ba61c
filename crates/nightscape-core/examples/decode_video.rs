//! Measures the video decoder on a real file: decode time and peak memory
//! for a clip reduced to a facade's resolution as it decodes.
//!
//! `cargo run --release -p nightscape-core --example decode_video -- CLIP.mp4 [MAX_W MAX_H]`
//!
//! Prints the clip's size, frames, duration, wall time, frames per second
//! and the process's peak resident memory (VmHWM, Linux).

use nightscape_core::media::video::{decode_mp4, probe_mp4};
use nightscape_core::media::Limits;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: decode_video CLIP.mp4 [MAX_W MAX_H]")?;
    let w: u32 = args.next().map_or(Ok(64), |s| s.parse())?;
    let h: u32 = args.next().map_or(Ok(128), |s| s.parse())?;
    let bytes = std::fs::read(&path)?;
    let limits = Limits::default();
    let probe = probe_mp4(&bytes, &limits, (w, h))?;
    println!("{path}: {} bytes, {probe:?}", bytes.len());
    let started = Instant::now();
    let mut checksum = 0u64;
    let info = decode_mp4(&bytes, &limits, (w, h), &mut |_, p| {
        // Keep what a caller would: nothing but a sum (so nothing is optimised away).
        checksum = checksum.wrapping_add(p.rgba.iter().map(|c| u64::from(c[1])).sum::<u64>());
        Ok(())
    })?;
    let took = started.elapsed().as_secs_f64();
    let hwm = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    println!(
        "decoded {} frames of {}x{} to {}x{} in {took:.2} s ({:.1} frames/s, {:.2}x real time); {hwm}; checksum {checksum}",
        info.frames,
        info.width,
        info.height,
        info.frame_width,
        info.frame_height,
        f64::from(info.frames) / took,
        info.duration / took
    );
    Ok(())
}
