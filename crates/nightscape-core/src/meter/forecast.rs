//! The forecast: what planned nights will draw, without a daemon.
//!
//! Each night (noon to noon) is cut into steps of `step` seconds; the
//! instant in the middle of each step is rendered with the same pieces the
//! daemon uses — [`crate::pipeline::Scheduled`] for what plays, the pure
//! engine for the look and the DMX, the energy [`Core`] for curfew caps and
//! budgets and the power sample — and the sample is booked for the whole
//! step. Operator overrides, scenes and masters are not forecast: they are
//! not planned.
//!
//! Error: midpoint sampling is exact for constant power and for power that
//! changes linearly within a step; what it misses are fades and effects
//! faster than the step, which average out over a site. A show that starts
//! or stops inside a step is booked as if it had held the step's middle
//! state, so each edge is off by at most half a step of its power: with the
//! default 10 s step a night with ten edges errs by under a minute of show
//! power (well under 0.1 % of a 5-hour night).
//!
//! Speed: a week is 60,480 samples at the default step, and rendering each
//! one took 10–20 s. But a sample is a pure function of what is drawn —
//! each visible show, its opacity and its phase, in drawing order — and of
//! which curfews are in force, and most shows repeat: a solid look never
//! changes once faded in, a rainbow repeats every wavelength ÷ speed, a
//! chase every step × cells, and runs that start at the same clock time
//! have the same phases every night. So each sample is keyed by those
//! inputs, with every layer's phase taken modulo its own repeat period
//! ([`Repeat`]; a layer's look depends on its phase alone, so no common
//! period of a show's layers is needed), and a sample already rendered for
//! an equal key is booked again instead of rendered again. The result is
//! the same as rendering every sample, up to float rounding of the phase
//! (microseconds over a night, see [`ns`]); a layer that does not repeat
//! (twinkle, a sequence that does not loop) keys on its raw phase, which
//! still matches the same instant of another night.

use super::{book_split, Core, NightRecord, RunSample, Sample};
use crate::config::Config;
use crate::control::CompiledControl;
use crate::energy::limit;
use crate::engine::{self, ActiveShow};
use crate::pipeline::{FrameBuilder, Program, Scheduled};
use crate::show::effect::Effect;
use crate::show::{Layer, Show};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};

/// A forecast asked for something it cannot do; `field` names the
/// request field at fault so the API can answer 400 with it.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadQuery {
    pub field: &'static str,
    pub message: String,
}

/// The longest forecast, in nights.
pub const MAX_DAYS: u32 = 366;
/// Samples remembered at most (a few MB); past it the memo starts over.
const MEMO_MAX: usize = 20_000;

/// How a show's look repeats in its phase (seconds since it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// The same at every phase.
    Const,
    /// The same every this many nanoseconds.
    Every(u64),
    /// Not known to repeat.
    Never,
}

/// A period in whole nanoseconds. A period that is not a whole number of
/// nanoseconds (a gradient's extent ÷ speed) is off by under half a
/// nanosecond per repeat: microseconds over a night, for effects that are
/// continuous in time (the discontinuous ones — chase steps, cues — have
/// periods written in whole units).
fn ns(period_s: f64) -> Repeat {
    let n = (period_s.abs() * 1e9).round();
    if !(n.is_finite() && (1000.0..=86_400e9).contains(&n)) {
        return Repeat::Never;
    }
    Repeat::Every(n as u64)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Repeat {
    /// The repeat of two things drawn together (not repeating when their
    /// common period would be longer than a day).
    pub(crate) fn and(self, other: Repeat) -> Repeat {
        match (self, other) {
            (Repeat::Never, _) | (_, Repeat::Never) => Repeat::Never,
            (Repeat::Const, r) | (r, Repeat::Const) => r,
            (Repeat::Every(a), Repeat::Every(b)) => {
                let l = (a / gcd(a, b)).saturating_mul(b);
                if l > 86_400_000_000_000 {
                    Repeat::Never
                } else {
                    Repeat::Every(l)
                }
            }
        }
    }

    /// A layer's repeat, from its effect (see `show::effect`) and motion.
    pub(crate) fn of_layer(layer: &Layer) -> Repeat {
        let every = |p: f64| if p > 0.0 { ns(p) } else { Repeat::Const };
        let look = match &layer.effect {
            Effect::Solid { .. } => Repeat::Const,
            Effect::Fade { colors, period } => every(
                period
                    * if colors.len() == 1 {
                        2.0
                    } else {
                        colors.len() as f64
                    },
            ),
            Effect::Chase { step, every: e, .. } => {
                let cells = (*e).min(layer.cells.len() as u32).max(1);
                every(step * cells as f64)
            }
            Effect::Wave {
                speed, wavelength, ..
            } => {
                if *speed == 0.0 || *wavelength <= 0.0 {
                    Repeat::Const
                } else {
                    every(wavelength / speed.abs())
                }
            }
            Effect::Gradient { speed, extent, .. } => {
                if *speed == 0.0 || *extent <= 0.0 {
                    Repeat::Const
                } else {
                    every(extent / speed.abs())
                }
            }
            Effect::Rainbow {
                speed,
                wavelength,
                period,
                ..
            } => {
                let spatial = if *wavelength > 0.0 && *speed != 0.0 {
                    every(wavelength / speed.abs())
                } else {
                    Repeat::Const
                };
                spatial.and(every(*period))
            }
            Effect::Twinkle { .. } => Repeat::Never,
            Effect::Pulse { period, .. } => every(*period),
            Effect::Sequence { period, .. } => match period {
                Some(p) => every(*p),
                None => Repeat::Never,
            },
            Effect::Media(m) => match m.period() {
                Some(p) => every(p),
                None if m.clip().frames() <= 1 => Repeat::Const,
                None => Repeat::Never,
            },
        };
        let motion = match &layer.motion {
            Some(m) if m.period > 0.0 && (m.pan_sweep != 0.0 || m.tilt_sweep != 0.0) => {
                // Tilt sweeps at half the pan rate.
                every(2.0 * m.period)
            }
            _ => Repeat::Const,
        };
        look.and(motion)
    }

    #[cfg(test)]
    /// A show's repeat: all its layers together. (The forecast keys each
    /// layer on its own phase instead, which needs no common period.)
    pub(crate) fn of_show(show: &Show) -> Repeat {
        show.layers
            .iter()
            .fold(Repeat::Const, |r, l| r.and(Repeat::of_layer(l)))
    }

    /// `phase_ns` reduced to what decides the look.
    fn reduce(self, phase_ns: i64) -> i64 {
        match self {
            Repeat::Const => 0,
            Repeat::Every(p) => phase_ns.rem_euclid(p as i64),
            Repeat::Never => phase_ns,
        }
    }
}

/// What decides a sample: per visible show in drawing order its identity,
/// priority and opacity, and each of its layers' reduced phase; and which
/// curfews are in force.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    shows: Vec<(usize, i32, u32)>,
    phases: Vec<i64>,
    curfews: u64,
}

/// A rendered sample and, per show run in it, the position in the key of
/// the show it belongs to (so a reuse books it to the run playing now).
struct Memo {
    sample: Sample,
    run_show: Vec<usize>,
}

/// The forecast, reusing equal samples (`memoise`) or rendering each one
/// (the reference the tests hold the reuse to, and `energy --estimate
/// --every-sample` for anyone who wants to check it).
pub fn run(
    config: &Config,
    from: NaiveDate,
    days: u32,
    step_s: f64,
    progress: &mut dyn FnMut(u32, u32),
    memoise: bool,
) -> Result<Vec<NightRecord>, BadQuery> {
    if days == 0 || days > MAX_DAYS {
        return Err(BadQuery {
            field: "days",
            message: format!("forecast 1 to {MAX_DAYS} nights, not {days}"),
        });
    }
    if !(step_s.is_finite() && (0.05..=3600.0).contains(&step_s)) {
        return Err(BadQuery {
            field: "step",
            message: format!("the sampling step must be 0.05 s to 1 h, not {step_s} s"),
        });
    }
    let site = &config.site;
    let program = Scheduled::default();
    let mut core = Core::new();
    // Every sample probes the uncapped output (samples are ≥ 50 ms apart).
    core.probe_every = 0.0;
    let mut builder = FrameBuilder::new(site);
    let control = CompiledControl::default();
    let mut records: BTreeMap<NaiveDate, NightRecord> = BTreeMap::new();
    let step = Duration::nanoseconds((step_s * 1e9) as i64);
    let repeats: HashMap<usize, Vec<Repeat>> = config
        .shows
        .values()
        .map(|s| (show_id(s), s.layers.iter().map(Repeat::of_layer).collect()))
        .collect();
    let curfews: Vec<&crate::energy::Curfew> = config
        .energy
        .curfew
        .iter()
        .chain(
            config
                .energy
                .groups
                .values()
                .filter_map(|g| g.curfew.as_ref()),
        )
        .take(64)
        .collect();
    let mut memo: HashMap<Key, Memo> = HashMap::new();
    let mut visible = Vec::new();
    for d in 0..days {
        let Some(night) = from.checked_add_days(chrono::Days::new(d as u64)) else {
            break;
        };
        records.insert(night, NightRecord::new(night));
        let (start, end) = config.schedule.window(night);
        // The curfews' windows of this night and the one before (a sample
        // belongs to the night of its instant, which is this one).
        let windows: Vec<Option<(DateTime<Utc>, DateTime<Utc>)>> = curfews
            .iter()
            .map(|c| limit::curfew_window(&config.schedule, night, c))
            .collect();
        let mut t0 = start;
        while t0 < end {
            let t1 = (t0 + step).min(end);
            let dt = engine::seconds_between(t0, t1);
            let at = t0 + (t1 - t0) / 2;
            let mut active = program.active(config, at);
            let key = key(&mut active, at, &repeats, &windows, &mut visible).filter(|_| memoise);
            let sample = match key.as_ref().and_then(|k| memo.get(k)) {
                Some(m) => {
                    let mut s = m.sample.clone();
                    s.at = Some(at);
                    for (run, &i) in s.runs.iter_mut().zip(&m.run_show) {
                        if let Some(a) = visible.get(i).and_then(|&v| active.get(v)) {
                            run.started = a.started;
                        }
                    }
                    s
                }
                None => {
                    builder.build(config, &active, &control, &mut [&mut core], at);
                    let sample = core.sample(config, at, &active, &builder.frame).clone();
                    if let Some(k) = key {
                        if memo.len() >= MEMO_MAX {
                            memo.clear();
                        }
                        let run_show = runs_to_shows(&sample.runs, &active, &visible);
                        memo.insert(
                            k,
                            Memo {
                                sample: sample.clone(),
                                run_show,
                            },
                        );
                    }
                    sample
                }
            };
            book_split(&mut records, config, &sample, t0, dt);
            t0 = t1;
        }
        progress(d + 1, days);
    }
    Ok(records.into_values().collect())
}

/// A show's identity within one configuration.
fn show_id(show: &Show) -> usize {
    show as *const Show as usize
}

/// The key of the sample at `at`, with `active` sorted into drawing order
/// (lowest priority first, ties by start, as the engine draws; the engine
/// is handed the same order, so the frame is the one it would draw
/// anyway), and `visible` the indices of the shows the key holds. None
/// when something the key does not capture is in play (a mask, which the
/// schedule never sets).
fn key(
    active: &mut [ActiveShow],
    at: DateTime<Utc>,
    repeats: &HashMap<usize, Vec<Repeat>>,
    windows: &[Option<(DateTime<Utc>, DateTime<Utc>)>],
    visible: &mut Vec<usize>,
) -> Option<Key> {
    active.sort_by_key(|a| (a.priority, a.started));
    visible.clear();
    let mut shows = Vec::with_capacity(active.len());
    let mut phases = Vec::new();
    for (i, a) in active.iter().enumerate() {
        if a.mask.is_some() {
            return None;
        }
        let opacity = a.opacity(at);
        if opacity <= 0.0 {
            continue;
        }
        // Live text writes the instant, not the phase: no other sample
        // has its look, so it is rendered (festival nights only, as a rule).
        if a.show.layers.iter().any(|l| l.effect.is_live()) {
            return None;
        }
        let phase = (at - a.started).num_nanoseconds()?;
        let layers = repeats.get(&show_id(a.show))?;
        visible.push(i);
        shows.push((show_id(a.show), a.priority, opacity.to_bits()));
        phases.extend(layers.iter().map(|r| r.reduce(phase)));
    }
    let mut curfews = 0u64;
    for (i, w) in windows.iter().enumerate() {
        if w.is_some_and(|(a, b)| a <= at && at < b) {
            curfews |= 1 << i;
        }
    }
    Some(Key {
        shows,
        phases,
        curfews,
    })
}

/// For each run of a sample, the position in `visible` of its show.
fn runs_to_shows(runs: &[RunSample], active: &[ActiveShow], visible: &[usize]) -> Vec<usize> {
    runs.iter()
        .map(|r| {
            visible
                .iter()
                .position(|&v| active[v].show.name == r.show && active[v].started == r.started)
                .unwrap_or(usize::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sources;
    use crate::diag::{Diagnostics, SourceFile};

    const PROFILE: &str = "name = \"rgb\"\npower_w = 40\nstandby_w = 1\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";

    /// A 31-lamp street with shows of every kind of repeat: a moving
    /// rainbow (periodic), a chase over a scrolling gradient (a period that
    /// is not whole nanoseconds), a twinkle (never repeats), a solid look
    /// with fades; a curfew, a budget that bites, and a tariff band.
    fn config() -> Config {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
            curfew = { from = \"23:00\", to = \"sunrise\", max_level = 0.3 }\n\
            [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0\"\n\
            [[paths]]\nname = \"p\"\npoints = [[0, 0], [300, 0]]\n\
            [[arrays]]\nname = \"lamp\"\nprofile = \"rgb\"\npath = \"p\"\nmode = \"3ch\"\nspacing = 10\nstart = \"0.1\"\n\
            [groups]\nwest = [\"lamp-00*\"]\n\
            [energy]\nmax_w = 700\n[energy.tariff]\nprice = 0.6\nbands = [ { name = \"peak\", from = \"18:00\", to = \"21:07\", price = 1.0 } ]\n\
            [[schedule]]\nshow = \"rainbow\"\nstart = \"12:00\"\nend = \"12:00\"\npriority = -10\n\
            [[schedule]]\nshow = \"static\"\nstart = \"sunset\"\nend = \"22:00\"\n\
            [[schedule]]\nshow = \"chase\"\nstart = \"cron: 30 19-20 * * *\"\nend = \"for 15m\"\npriority = 10\n\
            [[schedule]]\nshow = \"twinkle\"\nstart = \"21:00\"\nend = \"21:20\"\npriority = 20\n";
        let shows = [
            ("rainbow", "fade_in = \"3s\"\n[[layers]]\ntarget = \"*\"\neffect = \"rainbow\"\nspeed = \"20 m/s\"\nwavelength = \"300 m\"\nlevel = 0.4\n"),
            ("static", "fade_in = \"20s\"\nfade_out = \"20s\"\n[[layers]]\ntarget = \"west\"\neffect = \"solid\"\ncolor = \"3000K\"\nlevel = 0.7\n"),
            ("chase", "fade_in = \"2s\"\nfade_out = \"2s\"\n[[layers]]\ntarget = \"*\"\neffect = \"chase\"\ncolor = \"red\"\nstep = \"0.7s\"\nwidth = 3\n[[layers]]\ntarget = \"west\"\neffect = \"gradient\"\ncolors = [\"red\", \"blue\"]\nspeed = \"0.7 m/s\"\nblend = \"htp\"\n"),
            ("twinkle", "[[layers]]\ntarget = \"*\"\neffect = \"twinkle\"\ncolor = \"white\"\n"),
        ]
        .iter()
        .map(|(n, t)| SourceFile::new(format!("t/{n}.toml"), *t))
        .collect();
        let sources = Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new("fixtures/rgb.toml", PROFILE)],
            profiles_unreadable: None,
            shows,
        };
        crate::config::compile(sources, Diagnostics::new())
            .unwrap_or_else(|d| panic!("{:?}", d.items))
    }

    fn close(a: f64, b: f64, what: &str) {
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-3),
            "{what}: {a} vs {b}"
        );
    }

    /// Reusing samples gives what rendering every sample gives: per night,
    /// scope and show run.
    #[test]
    #[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
    fn reusing_samples_changes_nothing() {
        let cfg = config();
        let from = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        // Samples 20 s apart: every show, the 20 s fades, the tariff band's
        // edge and the curfew still fall in them, and the rainbow (a 15 s
        // period: three phases) and the static look recur, so most samples
        // are reused.
        let fast = run(&cfg, from, 3, 20.0, &mut |_, _| {}, true).unwrap();
        let slow = run(&cfg, from, 3, 20.0, &mut |_, _| {}, false).unwrap();
        assert_eq!(fast.len(), slow.len());
        for (f, s) in fast.iter().zip(&slow) {
            assert_eq!(f.night, s.night);
            assert_eq!(f.scopes.len(), s.scopes.len());
            for (a, b) in f.scopes.iter().zip(&s.scopes) {
                let w = format!("{} {}", f.night, a.name);
                assert_eq!(a.name, b.name);
                close(a.kwh, b.kwh, &w);
                close(a.cost, b.cost, &w);
                close(a.baseline_kwh, b.baseline_kwh, &w);
                close(a.peak_w, b.peak_w, &w);
                close(a.curfew_kwh, b.curfew_kwh, &w);
                close(a.curfew_uncapped_kwh, b.curfew_uncapped_kwh, &w);
                close(a.shed_kwh, b.shed_kwh, &w);
                close(a.lit_s, b.lit_s, &w);
                close(a.limited_s, b.limited_s, &w);
            }
            assert_eq!(f.runs.len(), s.runs.len(), "{}", f.night);
            for (a, b) in f.runs.iter().zip(&s.runs) {
                assert_eq!((&a.show, a.started), (&b.show, b.started));
                close(a.kwh, b.kwh, &a.show);
                close(a.seconds, b.seconds, &a.show);
            }
            let site = f.site().unwrap();
            assert!(site.kwh > 0.0 && site.shed_kwh > 0.0 && site.curfew_s > 0.0);
        }
    }

    /// A live text (its words from the clock) is never booked from
    /// another sample of the same phase: the forecast that reuses samples
    /// equals the one that renders each, night by night, though the show
    /// starts at the same clock time and phase every night.
    #[test]
    fn live_text_samples_are_rendered_not_reused() {
        let site = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
            [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0\"\n\
            [[paths]]\nname = \"p\"\npoints = [[0, 0], [300, 0]]\n\
            [[arrays]]\nname = \"lamp\"\nprofile = \"rgb\"\npath = \"p\"\nmode = \"3ch\"\nspacing = 10\nstart = \"0.1\"\n\
            [[schedule]]\nshow = \"count\"\nstart = \"19:00\"\nend = \"19:10\"\n";
        let show = "[[layers]]\ntarget = \"*\"\neffect = \"text\"\ntext = \"{countdown:2026-11-29 19:05|seconds}\"\ncolor = \"white\"\n";
        let cfg = crate::config::compile(
            Sources {
                folder: "t".into(),
                site: SourceFile::new("t/site.toml", site),
                profiles: vec![SourceFile::new("fixtures/rgb.toml", PROFILE)],
                profiles_unreadable: None,
                shows: vec![SourceFile::new("t/count.toml", show)],
            },
            Diagnostics::new(),
        )
        .unwrap_or_else(|d| panic!("{:?}", d.items));
        let from = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let fast = run(&cfg, from, 3, 30.0, &mut |_, _| {}, true).unwrap();
        let slow = run(&cfg, from, 3, 30.0, &mut |_, _| {}, false).unwrap();
        let kwh = |r: &[NightRecord]| -> Vec<f64> {
            r.iter().map(|n| n.site().map_or(0.0, |s| s.kwh)).collect()
        };
        let (f, s) = (kwh(&fast), kwh(&slow));
        for (a, b) in f.iter().zip(&s) {
            close(*a, *b, "night");
        }
        // The nights differ: the words do (days of seconds left, then a
        // short countdown to 19:05 and 0 after it).
        assert!(f[0] != f[2], "{f:?}");
    }

    #[test]
    fn repeats_of_effects() {
        let cfg = config();
        let r = |n: &str| Repeat::of_show(cfg.show(n).unwrap());
        // 300 m at 20 m/s.
        assert_eq!(r("rainbow"), Repeat::Every(15_000_000_000));
        assert_eq!(r("static"), Repeat::Const);
        assert_eq!(r("twinkle"), Repeat::Never);
        // A chase over 31 lamps (wrapping at the last) stepping 0.7 s
        // repeats every 21.7 s; the
        // gradient under it has no common period with it within a day,
        // which is why samples key each layer on its own phase.
        let chase = cfg.show("chase").unwrap();
        assert_eq!(
            Repeat::of_layer(&chase.layers[0]),
            Repeat::Every(21_700_000_000)
        );
        assert!(matches!(
            Repeat::of_layer(&chase.layers[1]),
            Repeat::Every(_)
        ));
        assert_eq!(r("chase"), Repeat::Never);
        assert_eq!(
            Repeat::Every(4_000).and(Repeat::Every(6_000)),
            Repeat::Every(12_000)
        );
        assert_eq!(
            Repeat::Const.and(Repeat::Every(6_000)),
            Repeat::Every(6_000)
        );
        assert_eq!(ns(0.1 + 0.2), Repeat::Every(300_000_000));
        assert_eq!(ns(1.0 / 3.0), Repeat::Every(333_333_333));
        assert_eq!(ns(1e-9), Repeat::Never);
    }
}
