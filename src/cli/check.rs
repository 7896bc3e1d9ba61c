//! `nightscape check`: load everything, print every problem, exit 1 on any
//! error. Warnings are printed but do not fail the check.

use anyhow::Result;
use std::path::Path;

pub fn check(site: &Path) -> Result<i32> {
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
