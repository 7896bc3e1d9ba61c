//! `nightscape preview`: pictures of the site for designers, rendered by
//! the daemon's own pipeline and sending nothing anywhere.
//!
//! - `--at TIME --out F.png|F.svg`: the site plan at an instant.
//! - `--night DATE --out F.png|F.html`: a whole night, a row per fixture and
//!   a column per step; the HTML plays the night on the map with a scrubber.
//! - `--from T --to T --fps N --out F.gif`: an animation.

use super::{parse_date_arg, parse_time_arg, TimeArg};
use crate::config::Config;
use crate::preview::{self, map, night, Sampler};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct PreviewArgs {
    /// A picture of this instant (RFC 3339 or site time "YYYY-MM-DD HH:MM").
    #[arg(long, value_parser = parse_time_arg)]
    pub at: Option<TimeArg>,
    /// A whole night (YYYY-MM-DD, the evening's date): PNG or HTML.
    #[arg(long, value_parser = parse_date_arg)]
    pub night: Option<NaiveDate>,
    /// With --to: an animation from this instant.
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<TimeArg>,
    /// With --from: the animation's last instant.
    #[arg(long, value_parser = parse_time_arg)]
    pub to: Option<TimeArg>,
    /// Animation frames per second of the clip.
    #[arg(long, default_value_t = 10)]
    pub fps: u32,
    /// Animation: seconds of show time per second of clip (60 = a minute a second).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Night: the time step of a column ("1m", "30s").
    #[arg(long, default_value = "1m")]
    pub step: String,
    /// Play this show instead of the schedule.
    #[arg(long)]
    pub show: Option<String>,
    /// When --show started (default: a minute before the first instant).
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<TimeArg>,
    /// Where to write: .png or .svg (--at), .png or .html (--night), .gif.
    #[arg(long)]
    pub out: PathBuf,
    /// Picture width in pixels (default 1920; height follows at 16:9 for
    /// maps, from the rows for a night; animations default to 960).
    #[arg(long)]
    pub width: Option<u32>,
}

/// Most frames an animation may have (a bound on time and file size).
const MAX_GIF_FRAMES: u64 = 3000;

pub fn preview(site: &Path, args: &PreviewArgs) -> Result<i32> {
    let Some(cfg) = super::load_or_report(site) else {
        return Ok(1);
    };
    match run(&cfg, args) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("{e:#}");
            Ok(1)
        }
    }
}

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn run(cfg: &Config, args: &PreviewArgs) -> Result<()> {
    let tz = cfg.site.timezone;
    let resolve = |a: &Option<TimeArg>, flag: &str| {
        super::resolve_opt(a, flag, tz).map_err(anyhow::Error::msg)
    };
    let at = resolve(&args.at, "--at")?;
    let from = resolve(&args.from, "--from")?;
    let to = resolve(&args.to, "--to")?;
    let since = resolve(&args.since, "--since")?;
    if let Some(w) = args.width {
        if !(320..=8192).contains(&w) {
            bail!("--width: {w} is out of range (320..=8192 pixels)");
        }
    }
    let out = &args.out;
    match (at, args.night, from, to) {
        (Some(at), None, None, None) => {
            let program = program(cfg, args, since.unwrap_or(at - Duration::minutes(1)))?;
            let width = args.width.unwrap_or(1920);
            let layout = map::MapLayout::new(&cfg.site, width, width * 9 / 16);
            let mut sampler = Sampler::new(cfg, program);
            let sample = sampler.sample(at);
            let lines = caption(cfg, args, at, &sample);
            let scene = map::moment(&cfg.site, &layout, &sample.cells, &cfg.site.name, &lines);
            let bytes = match ext(out).as_str() {
                "png" => scene.to_png()?,
                "svg" => scene.to_svg().into_bytes(),
                other => bail!("--out: a picture of an instant is .png or .svg, not `.{other}`"),
            };
            write(out, &bytes)
        }
        (None, Some(date), None, None) => {
            let e = ext(out);
            if e != "png" && e != "html" {
                bail!("--out: a night is .png or .html, not `.{e}`");
            }
            let step = nightscape_core::units::parse_duration(&args.step)
                .map_err(|m| anyhow::anyhow!("--step: {m}"))?;
            if !(1.0..=3600.0).contains(&step) {
                bail!("--step: between 1s and 1h");
            }
            let (start, end) = night::span(cfg, date);
            let program = program(cfg, args, since.unwrap_or(start - Duration::minutes(1)))?;
            let data = night::sample(cfg, program, date, start, end, step);
            let bytes = if e == "png" {
                night::scene(cfg, &data, args.width.unwrap_or(1920)).to_png()?
            } else {
                night::html(cfg, &data).into_bytes()
            };
            write(out, &bytes)
        }
        (None, None, Some(from), Some(to)) => {
            if ext(out) != "gif" {
                bail!("--out: an animation is .gif, not `.{}`", ext(out));
            }
            if to <= from {
                bail!("--to must be after --from");
            }
            if !(1..=50).contains(&args.fps) {
                bail!("--fps: 1 to 50");
            }
            if !(args.speed.is_finite() && args.speed > 0.0) {
                bail!("--speed must be more than 0");
            }
            let clip_s = nightscape_core::engine::seconds_between(from, to) / args.speed;
            let frames = (clip_s * args.fps as f64).ceil() as u64 + 1;
            if frames > MAX_GIF_FRAMES {
                bail!(
                    "{frames} frames is too many (at most {MAX_GIF_FRAMES}): shorten --from/--to, lower --fps or raise --speed"
                );
            }
            let since = since.unwrap_or(from - Duration::minutes(1));
            let width = args.width.unwrap_or(960);
            let bytes = gif(
                cfg,
                program(cfg, args, since)?,
                program(cfg, args, since)?,
                from,
                frames,
                args,
                width,
            )?;
            write(out, &bytes)
        }
        _ => bail!(
            "say what to draw: --at TIME (png/svg), --night DATE (png/html), or --from TIME --to TIME (gif)"
        ),
    }
}

fn program(
    cfg: &Config,
    args: &PreviewArgs,
    since: DateTime<Utc>,
) -> Result<Box<dyn crate::daemon::Program>> {
    super::program_for(cfg, args.show.as_deref(), since).map_err(anyhow::Error::msg)
}

fn write(out: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

/// The caption of a moment: the instant in site time, the night and its
/// mode, sun times, and what plays.
fn caption(
    cfg: &Config,
    args: &PreviewArgs,
    at: DateTime<Utc>,
    s: &preview::Sample,
) -> Vec<String> {
    let tz = cfg.site.timezone;
    let local = at.with_timezone(&tz);
    let date = cfg.schedule.night_of(at);
    let n = cfg.schedule.night(date);
    let hm = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.with_timezone(&tz).format("%H:%M").to_string())
            .unwrap_or_else(|| "--:--".into())
    };
    let mut lines = vec![
        local.format("%a %Y-%m-%d %H:%M:%S %:z").to_string(),
        format!("({})", tz.name()),
        String::new(),
        format!("Night of {} {}: mode {}", date, date.format("%a"), n.mode),
        format!("Sunset {} · sunrise {}", hm(n.sunset), hm(n.sunrise)),
        String::new(),
    ];
    match &args.show {
        Some(show) => lines.push(format!("Playing --show {show} (not the schedule):")),
        None => lines.push("Playing (the schedule):".into()),
    }
    if s.playing.is_empty() {
        lines.push("  nothing: dark".into());
    }
    for (name, prio, opacity, started) in &s.playing {
        lines.push(format!(
            "  {name}: priority {prio}, {:.0} %, since {}",
            opacity * 100.0,
            started.with_timezone(&tz).format("%H:%M:%S")
        ));
    }
    lines
}

/// How many moments the clip's one palette is chosen from.
const PALETTE_SAMPLES: u64 = 6;

/// The clip: the still part of the picture drawn once, each moment's dots
/// and caption over a copy of it, written with one palette and only the
/// rectangle that changed (`preview::clip`). On a terminal, a progress
/// line on stderr.
fn gif(
    cfg: &Config,
    program: Box<dyn crate::daemon::Program>,
    palette_program: Box<dyn crate::daemon::Program>,
    from: DateTime<Utc>,
    frames: u64,
    args: &PreviewArgs,
    width: u32,
) -> Result<Vec<u8>> {
    let layout = map::MapLayout::new(&cfg.site, width, width * 9 / 16);
    let title = &cfg.site.name;
    let still = map::still(&cfg.site, &layout, title).to_pixmap()?;
    let step_ms = 1000.0 / args.fps as f64;
    let instant =
        |k: u64| from + Duration::milliseconds((k as f64 * step_ms * args.speed).round() as i64);
    // The still part with the caption, kept while the caption reads the
    // same (it changes once a second; the dots may change every frame).
    let mut captioned: Option<(Vec<String>, tiny_skia::Pixmap)> = None;
    let mut draw = |sampler: &mut Sampler, k: u64| -> Result<tiny_skia::Pixmap> {
        let at = instant(k);
        let sample = sampler.sample(at);
        let lines = caption(cfg, args, at, &sample);
        let base = match &captioned {
            Some((l, pm)) if *l == lines => pm,
            _ => {
                let mut pm = still.clone();
                let mut text = preview::Scene::new(layout.width, layout.height, map::BACKGROUND);
                map::draw_caption(&layout, title, &lines, &mut text);
                text.paint_over(&mut pm);
                &captioned.insert((lines, pm)).1
            }
        };
        let mut pm = base.clone();
        let mut dots = preview::Scene::new(layout.width, layout.height, map::BACKGROUND);
        map::draw_fills(&layout, &sample.cells, &mut dots);
        dots.paint_over(&mut pm);
        Ok(pm)
    };
    let mut progress = Progress::new(frames);
    // The palette from a few moments spread over the clip.
    let mut sampler = Sampler::new(cfg, palette_program);
    let picks: Vec<u64> = (0..PALETTE_SAMPLES.min(frames))
        .map(|i| i * (frames - 1) / (PALETTE_SAMPLES.min(frames) - 1).max(1))
        .collect();
    let mut samples = Vec::new();
    for k in picks {
        samples.push(draw(&mut sampler, k)?);
    }
    let data: Vec<&[u8]> = samples.iter().map(|p| p.data()).collect();
    let palette = preview::clip::Palette::from_samples(&data);
    drop(samples);
    let mut clip = preview::clip::ClipWriter::new(layout.width, layout.height, palette)?;
    let mut sampler = Sampler::new(cfg, program);
    for k in 0..frames {
        let pm = draw(&mut sampler, k)?;
        clip.push(pm.data(), preview::clip::delay_cs(k, args.fps))?;
        progress.frame(k + 1);
    }
    progress.finish();
    Ok(clip.finish()?)
}

/// "gif: frame 120 of 601" on stderr, rewritten in place, only when stderr
/// is a terminal (a pipe or a log never gets carriage returns), at most
/// ten times a second.
struct Progress {
    tty: bool,
    frames: u64,
    last: Option<std::time::Instant>,
    shown: bool,
}

impl Progress {
    fn new(frames: u64) -> Progress {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            frames,
            last: None,
            shown: false,
        }
    }

    fn frame(&mut self, done: u64) {
        if !self.tty {
            return;
        }
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t).as_millis() < 100)
            && done < self.frames
        {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rgif: frame {done} of {} ({:.0} %)",
            self.frames,
            done as f64 * 100.0 / self.frames.max(1) as f64
        );
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.shown {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
