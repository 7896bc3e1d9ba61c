//! Tests of the effects, one behaviour each.

use super::*;

fn at(t: f64, index: u32, along: f32) -> CellInput {
    CellInput {
        t,
        along,
        u: along / 100.0,
        index,
        count: 10,
        id: index,
    }
}
const RED: Color = Color::rgb(1.0, 0.0, 0.0);
const BLUE: Color = Color::rgb(0.0, 0.0, 1.0);

#[test]
fn fade_crossfades_and_wraps() {
    let e = Effect::Fade {
        colors: vec![RED, BLUE],
        period: 10.0,
    };
    assert_eq!(e.eval(&at(0.0, 0, 0.0)), (RED, 1.0));
    assert_eq!(e.eval(&at(5.0, 0, 0.0)).0, Color::rgb(0.5, 0.0, 0.5));
    assert_eq!(e.eval(&at(10.0, 0, 0.0)).0, BLUE);
    // Wrap-around: the blue→red half of the cycle.
    assert_eq!(e.eval(&at(15.0, 0, 0.0)).0, Color::rgb(0.5, 0.0, 0.5));
    assert_eq!(e.eval(&at(20.0, 0, 0.0)).0, RED);
    let single = Effect::Fade {
        colors: vec![RED],
        period: 4.0,
    };
    assert_eq!(single.eval(&at(2.0, 0, 0.0)).1, 0.5);
    assert_eq!(single.eval(&at(6.0, 0, 0.0)).1, 0.5);
    assert_eq!(single.eval(&at(8.0, 0, 0.0)).1, 0.0);
}

#[test]
fn chase_steps_and_repeats() {
    let e = Effect::Chase {
        on: RED,
        off: Color::BLACK,
        step: 0.5,
        width: 2,
        every: 5,
    };
    let lit = |t: f64| -> Vec<u32> {
        (0..10)
            .filter(|&i| e.eval(&at(t, i, 0.0)).1 > 0.0)
            .collect()
    };
    assert_eq!(lit(0.0), vec![0, 1, 5, 6]);
    assert_eq!(lit(0.5), vec![1, 2, 6, 7]);
    assert_eq!(lit(2.0), vec![0, 4, 5, 9]);
    // Negative phase (before the show started) still wraps cleanly.
    assert_eq!(lit(-0.5), vec![0, 4, 5, 9]);
}

#[test]
fn wave_travels_at_its_speed() {
    let e = Effect::Wave {
        colors: vec![RED],
        speed: 4.0,
        wavelength: 120.0,
        depth: 1.0,
    };
    assert_eq!(e.eval(&at(0.0, 0, 0.0)).1, 1.0);
    assert!((e.eval(&at(0.0, 0, 60.0)).1).abs() < 1e-6);
    // 15 s later the crest has moved 60 m.
    assert!((e.eval(&at(15.0, 0, 60.0)).1 - 1.0).abs() < 1e-6);
    let two = Effect::Wave {
        colors: vec![RED, BLUE],
        speed: 0.0,
        wavelength: 100.0,
        depth: 1.0,
    };
    assert_eq!(two.eval(&at(0.0, 0, 50.0)).0, RED.lerp(BLUE, 0.0));
    assert_eq!(two.eval(&at(0.0, 0, 0.0)).0, BLUE);
}

#[test]
fn gradient_spans_the_extent() {
    let e = Effect::Gradient {
        colors: vec![RED, BLUE],
        speed: 0.0,
        extent: 100.0,
    };
    assert_eq!(e.eval(&at(0.0, 0, 0.0)).0, RED);
    assert_eq!(e.eval(&at(0.0, 0, 50.0)).0, Color::rgb(0.5, 0.0, 0.5));
    assert_eq!(e.eval(&at(0.0, 0, 100.0)).0, BLUE);
    let scrolling = Effect::Gradient {
        colors: vec![RED, BLUE],
        speed: 10.0,
        extent: 100.0,
    };
    assert_eq!(scrolling.eval(&at(5.0, 0, 50.0)).0, RED);
}

#[test]
fn rainbow_hues() {
    let e = Effect::Rainbow {
        speed: 0.0,
        wavelength: 0.0,
        period: 12.0,
        saturation: 1.0,
    };
    assert_eq!(e.eval(&at(0.0, 0, 0.0)).0, RED);
    assert_eq!(e.eval(&at(4.0, 0, 0.0)).0, Color::rgb(0.0, 1.0, 0.0));
    assert_eq!(e.eval(&at(8.0, 0, 0.0)).0, BLUE);
    assert_eq!(e.eval(&at(12.0, 0, 0.0)).0, RED);
}

#[test]
fn twinkle_is_deterministic_and_sparse() {
    let e = Effect::Twinkle {
        base: BLUE,
        sparkle: Color::WHITE,
        density: 0.2,
        duration: 1.0,
        seed: 7,
    };
    let mut sparkling = 0;
    for id in 0..1000 {
        let c = CellInput {
            t: 12.25,
            along: 0.0,
            u: 0.0,
            index: id,
            count: 1000,
            id,
        };
        let a = e.eval(&c);
        assert_eq!(a, e.eval(&c));
        if a.0 != BLUE {
            sparkling += 1;
        }
    }
    assert!((150..250).contains(&sparkling), "{sparkling}");
    let other_seed = Effect::Twinkle {
        base: BLUE,
        sparkle: Color::WHITE,
        density: 0.2,
        duration: 1.0,
        seed: 8,
    };
    let differs = (0..100).any(|id| {
        let c = CellInput {
            t: 3.5,
            along: 0.0,
            u: 0.0,
            index: id,
            count: 100,
            id,
        };
        e.eval(&c) != other_seed.eval(&c)
    });
    assert!(differs);
}

#[test]
fn pulse_breathes() {
    let e = Effect::Pulse {
        color: RED,
        period: 4.0,
        depth: 0.5,
    };
    assert_eq!(e.eval(&at(0.0, 0, 0.0)).1, 0.5);
    assert_eq!(e.eval(&at(2.0, 0, 0.0)).1, 1.0);
    assert_eq!(e.eval(&at(4.0, 0, 0.0)).1, 0.5);
}

#[test]
fn sequence_fades_between_cues_and_loops() {
    let cues = vec![
        Cue {
            at: 0.0,
            color: BLUE,
            level: 1.0,
            fade: 3.0,
        },
        Cue {
            at: 20.0,
            color: RED,
            level: 1.0,
            fade: 3.0,
        },
    ];
    let e = Effect::Sequence {
        cues: cues.clone(),
        period: Some(40.0),
    };
    assert_eq!(e.eval(&at(10.0, 0, 0.0)), (BLUE, 1.0));
    assert_eq!(e.eval(&at(23.0, 0, 0.0)), (RED, 1.0));
    let mid = e.eval(&at(21.5, 0, 0.0));
    assert_eq!(mid.1, 0.5);
    assert_eq!(mid.0, Color::rgb(1.0, 0.0, 1.0));
    // Wrap-around: at 41.5 s cue 0 is half way back from red to blue.
    assert_eq!(e.eval(&at(41.5, 0, 0.0)), mid);
    let once = Effect::Sequence { cues, period: None };
    assert_eq!(once.eval(&at(1.5, 0, 0.0)), (BLUE, 0.5));
    assert_eq!(once.eval(&at(100.0, 0, 0.0)), (RED, 1.0));
    assert_eq!(once.eval(&at(-1.0, 0, 0.0)).1, 0.0);
}
