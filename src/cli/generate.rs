//! `nightscape generate-site`: write a city-scale test site (pixel bars
//! along avenues and up facades, N universes, a show playing all day) for
//! load tests, benchmarks and trying a controller at district scale.

use anyhow::{bail, Result};
use clap::Args;
use nightscape_core::generate::{self, GeneratedEffect, SiteSpec};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// How many universes (170 RGB pixels each).
    #[arg(long)]
    pub universes: u32,
    /// wave, gradient, twinkle, all (wave on the avenues, a gradient up
    /// the facades, twinkle over everything) or media (a generated clip
    /// mapped over every pixel).
    #[arg(long, default_value = "all")]
    pub effect: String,
    /// RGB pixels per bar (170 / this many bars share a universe).
    #[arg(long, default_value_t = 170)]
    pub bar_pixels: u32,
    /// artnet or sacn.
    #[arg(long, default_value = "artnet")]
    pub protocol: String,
    /// Where the output sends.
    #[arg(long, default_value = "127.0.0.1")]
    pub target: String,
    /// Frames per second.
    #[arg(long, default_value_t = 40)]
    pub fps: u32,
    /// The site folder to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn generate_site(args: &GenerateArgs) -> Result<i32> {
    let Some(effect) = GeneratedEffect::parse(&args.effect) else {
        bail!(
            "--effect must be wave, gradient, twinkle, all or media, not `{}`",
            args.effect
        );
    };
    let spec = SiteSpec {
        universes: args.universes,
        bar_pixels: args.bar_pixels,
        effect,
        protocol: args.protocol.clone(),
        target: args.target.clone(),
        fps: args.fps,
    };
    if let Err(e) = write_site(&spec, &args.out) {
        eprintln!("{e}");
        return Ok(1);
    }
    println!(
        "wrote {} ({} universes); try: nightscape check --site {0} && nightscape run --site {0}",
        args.out.display(),
        args.universes
    );
    Ok(0)
}

/// Write a generated site into `dir` (created if missing).
pub fn write_site(spec: &SiteSpec, dir: &Path) -> Result<(), String> {
    for (rel, text) in generate::site_files(spec)? {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
