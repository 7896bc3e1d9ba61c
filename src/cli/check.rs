//! `nightscape check`: load everything, print every problem, exit 1 on any
//! error. Warnings are printed but do not fail the check. `--fixtures DIR`
//! checks a profile folder on its own (an import's output, a library being
//! built) with the same parser the site uses.

use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Default)]
pub struct CheckArgs {
    /// Check only this profile folder (every *.toml in it), not a site.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
}

pub fn check(site: &Path, args: &CheckArgs) -> Result<i32> {
    if let Some(dir) = &args.fixtures {
        return check_fixtures(dir);
    }
    match crate::config::load(site) {
        Ok(mut cfg) => {
            // Look a year ahead for overlaps and polar nights.
            let from = cfg.schedule.night_of(chrono::Utc::now());
            let mut lints = crate::diag::Diagnostics::new();
            crate::schedule::plan::lint(&cfg.schedule, &cfg.site.source, from, 366, &mut lints);
            cfg.warnings.extend(lints);
            // The [api] section is read when the daemon starts; check it now.
            match crate::api::ApiConfig::from_site(&cfg.site) {
                Ok((_, warnings)) => cfg.warnings.extend(warnings),
                Err(diags) => {
                    for d in &diags.items {
                        eprintln!("{d}");
                    }
                    eprintln!("{} error(s) found", diags.errors().count());
                    return Ok(1);
                }
            }
            for w in cfg.warnings.warnings() {
                eprintln!("{w}");
            }
            let s = &cfg.site;
            println!(
                "ok: {} — {} fixtures ({} cells), {} universes, {} shows ({})",
                s.name,
                s.fixtures.len(),
                s.cells.len(),
                s.universes.len(),
                cfg.shows.len(),
                cfg.show_order.join(", ")
            );
            Ok(0)
        }
        Err(diags) => {
            for d in &diags.items {
                eprintln!("{d}");
            }
            let n = diags.errors().count();
            eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
            Ok(1)
        }
    }
}

/// Validate a profile folder alone.
fn check_fixtures(dir: &Path) -> Result<i32> {
    let mut diags = crate::diag::Diagnostics::new();
    let library = crate::config::load_profiles(dir, &mut diags);
    for d in &diags.items {
        eprintln!("{d}");
    }
    let errors = diags.errors().count();
    if errors > 0 || library.profiles.is_empty() {
        if library.profiles.is_empty() && errors == 0 {
            eprintln!("{}: no profiles (*.toml) found", dir.display());
        }
        eprintln!(
            "{errors} error{} found; {} profile{} ok, {} broken",
            if errors == 1 { "" } else { "s" },
            library.profiles.len(),
            if library.profiles.len() == 1 { "" } else { "s" },
            library.broken.len()
        );
        return Ok(1);
    }
    let modes: usize = library.profiles.iter().map(|p| p.modes.len()).sum();
    let needs_power = library.profiles.iter().filter(|p| p.needs_power).count();
    println!(
        "ok: {} profiles, {modes} modes{} in {}",
        library.profiles.len(),
        if needs_power > 0 {
            format!(" ({needs_power} need a power figure)")
        } else {
            String::new()
        },
        dir.display()
    );
    Ok(0)
}
