//! The flash-safety check of a generated site on the core alone, timed:
//! what `nightscape check` spends compiling the site and checking its show,
//! measured after a core build (about two minutes) instead of a whole
//! release build, and a binary small enough for `perf record` or callgrind
//! to attribute (`--toggle-collect='nightscape_core::safety::check'`).
//!
//! ```text
//! cargo build --release -p nightscape-core --example check
//! CHECK=10000,42,all target/release/examples/check
//! ```
//!
//! `CHECK=UNIVERSES,BAR_PIXELS[,EFFECT]`: the site of `generate-site
//! --universes UNIVERSES --bar-pixels BAR_PIXELS --effect EFFECT` (`all`
//! unless given), compiled from its files in memory, then checked with the
//! default thresholds on every core. Prints each phase's wall time and the
//! findings (none for a generated site).

use nightscape_core::config::{self, Config};
use nightscape_core::diag::Diagnostics;
use nightscape_core::generate::{self, site_files, GeneratedEffect, SiteSpec};
use nightscape_core::safety::{self, SafetyConfig};
use std::time::Instant;

fn main() {
    let spec = std::env::var("CHECK").unwrap_or_else(|_| "10000,42".into());
    let mut parts = spec.split(',');
    let mut next = |what| {
        parts
            .next()
            .unwrap_or_else(|| panic!("CHECK=UNIVERSES,BAR_PIXELS: no {what}"))
    };
    let u: u32 = next("universes").parse().expect("universes");
    let px: u32 = next("bar pixels").parse().expect("bar pixels");
    let effect = parts.next().unwrap_or("all");
    let mut spec = SiteSpec::new(u);
    spec.bar_pixels = px;
    spec.effect = GeneratedEffect::parse(effect).expect("effect: wave, gradient, twinkle or all");
    let files = site_files(&spec).expect("site spec");
    let t = Instant::now();
    let cfg = site(files);
    let compiled = t.elapsed();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let findings = safety::check(
        &cfg.site,
        cfg.shows_in_order(),
        &SafetyConfig::default(),
        threads,
    );
    let checked = t.elapsed();
    println!(
        "{u} universes × {px} px of {effect}: {} fixtures, {} cells; compile {:.3} s, safety check {:.3} s ({threads} threads), {} finding(s)",
        cfg.site.fixtures.len(),
        cfg.site.cells.len(),
        compiled.as_secs_f64(),
        checked.as_secs_f64(),
        findings.len()
    );
    for f in findings {
        println!("{f:?}");
    }
}

/// The generated site, compiled from its files in memory.
fn site(files: Vec<(String, String)>) -> Config {
    config::compile(generate::sources(files), Diagnostics::new())
        .unwrap_or_else(|d| panic!("{:?}", d.items))
}
