//! Makes the demo's facade animation, `shows/fireworks.gif`: gold
//! fireworks over a deep red sky, 80 × 36 pixels (the tower facade's 40 m ×
//! 18 m at 2 px a metre), 40 frames at 10 fps, looping.
//!
//! Why a program and not a file from elsewhere: the demo ships only what
//! the project made, under the project's licence, and anyone can make it
//! again (`cargo run -p nightscape-core --example demo_animation -- OUT`).
//! It is flash-safe by design: the sky never changes, each burst rises and
//! fades over a second and covers a small part of the facade.

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};

const W: u32 = 80;
const H: u32 = 36;
const FRAMES: u32 = 40;

/// (centre x, centre y from the top, first frame, colour)
const BURSTS: [(f32, f32, u32, [u8; 3]); 4] = [
    (20.0, 12.0, 0, [255, 200, 60]),
    (56.0, 9.0, 10, [255, 240, 170]),
    (38.0, 15.0, 20, [255, 170, 40]),
    (66.0, 20.0, 30, [255, 220, 90]),
];

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shows/fireworks.gif".into());
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut bytes, 10);
        enc.set_repeat(Repeat::Infinite).unwrap();
        for k in 0..FRAMES {
            let img = frame(k);
            enc.encode_frame(Frame::from_parts(
                img,
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            ))
            .unwrap();
        }
    }
    std::fs::write(&out, bytes).unwrap();
    eprintln!("wrote {out}");
}

fn frame(k: u32) -> RgbaImage {
    let sky = [90.0f32, 0.0, 8.0];
    let mut img =
        RgbaImage::from_pixel(W, H, Rgba([sky[0] as u8, sky[1] as u8, sky[2] as u8, 255]));
    for (cx, cy, first, color) in BURSTS {
        // Each burst lives 12 frames (looping round the clip): 2 rising as
        // a spark from the bottom, 10 spreading and fading.
        let age = (k + FRAMES - first) % FRAMES;
        if age >= 12 {
            continue;
        }
        if age < 2 {
            let y = H as f32 - (H as f32 - cy) * (age as f32 + 1.0) / 2.0;
            put(&mut img, cx, y, color, 1.0);
            continue;
        }
        let t = (age - 2) as f32 / 10.0;
        let radius = 2.0 + 9.0 * t;
        let fade = (1.0 - t).powf(1.5);
        for ray in 0..14 {
            let a = ray as f32 / 14.0 * std::f32::consts::TAU + first as f32;
            for step in 0..3 {
                let r = radius * (1.0 - step as f32 * 0.18);
                // Gravity: the sparks droop as they fade.
                let x = cx + r * a.cos();
                let y = cy + r * a.sin() + 3.0 * t * t;
                put(&mut img, x, y, color, fade * (1.0 - step as f32 * 0.3));
            }
        }
    }
    img
}

/// Add `color` × `amount` at (x, y), spread over the four nearest pixels.
fn put(img: &mut RgbaImage, x: f32, y: f32, color: [u8; 3], amount: f32) {
    let (x0, y0) = (x.floor(), y.floor());
    for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
        let (px, py) = (x0 + dx, y0 + dy);
        if px < 0.0 || py < 0.0 || px >= W as f32 || py >= H as f32 {
            continue;
        }
        let w = (1.0 - (x - px).abs()) * (1.0 - (y - py).abs()) * amount;
        let p = img.get_pixel_mut(px as u32, py as u32);
        for (o, &c) in p.0.iter_mut().zip(&color) {
            *o = (f32::from(*o) + f32::from(c) * w).min(255.0) as u8;
        }
    }
}
