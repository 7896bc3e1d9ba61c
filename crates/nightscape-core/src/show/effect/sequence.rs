//! Sequences: a timeline of cues, each fading in from the one before,
//! looping every `period` if set. A fade crossfades light, not colour and
//! level apart, so red at 100 % to blue at 50 % passes through dim purple.

use super::Cue;
use crate::color::Color;

pub(super) fn sequence(cues: &[Cue], period: Option<f64>, t: f64) -> (Color, f32) {
    let Some(first) = cues.first() else {
        return (Color::BLACK, 0.0);
    };
    let t = match period {
        Some(p) if p > 0.0 => t.rem_euclid(p),
        _ => t,
    };
    let Some(i) = cues.iter().rposition(|c| c.at <= t) else {
        // Before the first cue of a non-looping sequence: dark, fading in.
        let f = if first.fade > 0.0 { 0.0 } else { 1.0 };
        return (first.color, first.level * f);
    };
    let cur = &cues[i];
    let prev = if i > 0 {
        Some(&cues[i - 1])
    } else if period.is_some() {
        cues.last()
    } else {
        None
    };
    let f = if cur.fade > 0.0 {
        ((t - cur.at) / cur.fade).clamp(0.0, 1.0) as f32
    } else {
        1.0
    };
    match prev {
        // Crossfade light, not colour and level separately, so a cue from
        // red at 100% to blue at 50% passes through a dim purple.
        Some(p) => {
            let a = p.color.at(p.level);
            let b = cur.color.at(cur.level);
            let l = a.mix(b, f);
            let i = l.intensity();
            if i > 0.0 {
                let mut c = Color::rgb(l.r / i, l.g / i, l.b / i);
                c.kelvin = l.kelvin;
                (c, i)
            } else {
                (cur.color, 0.0)
            }
        }
        None => (cur.color, cur.level * f),
    }
}
