//! What live text costs on the demo's east facade (20 bars × 60 pixels,
//! a column every 2 m, a pixel every 0.3 m): the layout of a new text
//! (once per change of the words: once a second for a countdown), and a
//! frame whose words have not changed (a lock, the template written into
//! a kept buffer, a compare, an `Arc` clone). Numbers for
//! docs/media-video-text.md.
//!
//! ```text
//! cargo run --release -p nightscape-core --example live_text_cost
//! ```

use chrono::{DateTime, Duration, TimeZone, Utc};
use nightscape_core::color::Color;
use nightscape_core::media::text::template::Template;
use nightscape_core::show::text::{clip_for, Align, LiveText, TextLook};
use std::time::Instant;

fn main() {
    let points: Vec<[f64; 2]> = (0..20)
        .flat_map(|bar| (0..60).map(move |p| [1.0 + 2.0 * bar as f64, 1.15 + 0.3 * p as f64]))
        .collect();
    let tz = chrono_tz::Asia::Shanghai;
    for (text, speed) in [
        ("{countdown:2027-02-06 00:00|seconds}", 0.0),
        ("新年倒计时 {countdown:2027-02-06 00:00|hms}", 6.0),
    ] {
        let template = Template::parse(text, tz).unwrap();
        let look = TextLook {
            text: template.representative(),
            size: 0.6,
            color: Color::rgb(1.0, 0.84, 0.0),
            speed,
            align: Align::Center,
        };
        let first = clip_for(&look, &points).unwrap();
        let frames = first.frames();
        let live = LiveText::new(template, look, points.clone(), first);
        let t0: DateTime<Utc> = Utc.with_ymd_and_hms(2027, 2, 5, 15, 0, 0).unwrap();
        // A new text each second: the layout.
        let n = 20;
        let start = Instant::now();
        for s in 0..n {
            std::hint::black_box(live.clip_at(t0 + Duration::seconds(s), s as f64));
        }
        let change = start.elapsed() / n as u32;
        // Frames within one second: the words unchanged.
        let m = 100_000;
        let at = t0 + Duration::milliseconds(n * 1000 + 100);
        live.clip_at(at, 0.0);
        let start = Instant::now();
        for k in 0..m {
            std::hint::black_box(live.clip_at(at + Duration::microseconds(k), 0.0));
        }
        let same = start.elapsed() / m as u32;
        // Frames 25 ms apart within one second: a scroll moves a step.
        let start = Instant::now();
        for k in 0..40 {
            std::hint::black_box(
                live.clip_at(at + Duration::milliseconds(k * 25), k as f64 * 0.025),
            );
        }
        let frame = start.elapsed() / 40;
        println!("  40 fps frames, same words: {frame:?} a frame");
        println!(
            "{text:?} speed {speed} m/s ({frames} clip frames): new words {change:?} each, unchanged words {same:?} a frame"
        );
    }
}
