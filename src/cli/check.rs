//! `nightscape check`: load everything, print every problem, exit 1 on any
//! error. Warnings are printed but do not fail the check. `--fixtures DIR`
//! checks a profile folder on its own (an import's output, a library being
//! built) with the same parser the site uses.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Print a diagnostic; on a terminal, with the source line and a caret
/// under the place (as rustc does).
fn report(d: &nightscape_core::diag::Diagnostic) {
    use std::io::IsTerminal;
    eprintln!("{d}");
    if std::io::stderr().is_terminal() {
        if let Ok(text) = std::fs::read_to_string(&d.path) {
            eprint!("{}", d.excerpt(&text));
        }
    }
}

/// Problems file by file (in the order files were first named), each
/// file's from top to bottom: the parser's and the compiler's problems of a
/// file are found in two passes but read as one list.
fn in_reading_order(
    items: &[nightscape_core::diag::Diagnostic],
) -> Vec<&nightscape_core::diag::Diagnostic> {
    let mut files: Vec<&Path> = Vec::new();
    for d in items {
        if !files.contains(&d.path.as_path()) {
            files.push(&d.path);
        }
    }
    let mut out: Vec<&nightscape_core::diag::Diagnostic> = items.iter().collect();
    out.sort_by_key(|d| {
        (
            files.iter().position(|f| *f == d.path.as_path()),
            d.line,
            d.col,
        )
    });
    out
}

#[derive(clap::Args, Debug, Default)]
pub(crate) struct CheckArgs {
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
            let mut lints = nightscape_core::diag::Diagnostics::new();
            nightscape_core::schedule::plan::lint(
                &cfg.schedule,
                &cfg.site.source,
                from,
                366,
                &mut lints,
            );
            cfg.warnings.extend(lints);
            // The [api] section is read when the daemon starts; check it now.
            match crate::api::ApiConfig::from_site(&cfg.site) {
                Ok((_, warnings)) => cfg.warnings.extend(warnings),
                Err(diags) => {
                    for d in &diags.items {
                        report(d);
                    }
                    eprintln!("{} error(s) found", diags.errors().count());
                    return Ok(1);
                }
            }
            // Public safety: shows that flash a large part of the site.
            let mut safety_diags = nightscape_core::diag::Diagnostics::new();
            let safety = nightscape_core::safety::parse(
                &cfg.site.source,
                &cfg.show_order,
                &mut safety_diags,
            );
            if !safety_diags.has_errors() {
                safety_diags.extend(safety_findings(&cfg, &safety));
            }
            let errors: Vec<_> = safety_diags.errors().cloned().collect();
            cfg.warnings.items.extend(
                safety_diags
                    .items
                    .into_iter()
                    .filter(|d| d.severity == nightscape_core::diag::Severity::Warning),
            );
            if !errors.is_empty() {
                for w in cfg.warnings.warnings() {
                    report(w);
                }
                for e in &errors {
                    report(e);
                }
                let n = errors.len();
                eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
                return Ok(1);
            }
            for w in cfg.warnings.warnings() {
                report(w);
            }
            if let Some(spec) = &cfg.site.fleet {
                fleet_versions(site, spec);
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
            for d in in_reading_order(&diags.items) {
                report(d);
            }
            let n = diags.errors().count();
            eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
            Ok(1)
        }
    }
}

/// Validate a profile folder alone.
fn check_fixtures(dir: &Path) -> Result<i32> {
    let mut diags = nightscape_core::diag::Diagnostics::new();
    let library = crate::config::load_profiles(dir, &mut diags);
    for d in &diags.items {
        report(d);
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

/// For a finding at a media layer: where in its clip the worst second
/// starts (" — 12.4 s into `fireworks.gif`"), so the designer can find
/// the frames in their editor; empty for other layers.
fn media_time(
    cfg: &crate::config::Config,
    f: &nightscape_core::safety::Finding,
    at: (usize, usize),
) -> String {
    use nightscape_core::show::effect::Effect;
    let Some(show) = cfg.show(&f.show) else {
        return String::new();
    };
    match show
        .layers
        .iter()
        .find(|l| l.location == at)
        .map(|l| &l.effect)
    {
        Some(Effect::Media(m)) => format!(
            " — {:.1} s into `{}`",
            m.clip_seconds(show.fade_in + f.at_s),
            m.source()
        ),
        _ => String::new(),
    }
}

/// The safety check's findings as located diagnostics: errors, or warnings
/// for shows the site allows (with its reason).
fn safety_findings(
    cfg: &crate::config::Config,
    safety: &nightscape_core::safety::SafetyConfig,
) -> nightscape_core::diag::Diagnostics {
    use nightscape_core::diag::{Diagnostic, Severity};
    let mut out = nightscape_core::diag::Diagnostics::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for f in nightscape_core::safety::check(&cfg.site, cfg.shows_in_order(), safety, threads) {
        let allowed = safety.allow.iter().any(|(s, _)| *s == f.show);
        let (severity, tail) = if allowed {
            (
                Severity::Warning,
                format!(
                    " (allowed under [safety]: {})",
                    safety.reason.as_deref().unwrap_or("")
                ),
            )
        } else {
            (
                Severity::Error,
                format!(
                    "; more than {} flashes a second over {:.0} % or more of a group or of the site can trigger seizures (WCAG 2.3.1 general flash, adapted): slow it, soften it, or list the show under [safety] allow with a reason",
                    safety.max_flashes_per_s,
                    safety.min_share * 100.0
                ),
            )
        };
        let what = format!(
            "show `{}` flashes {:.1} times a second on {} of {} fixtures ({:.0} %) of {}, {:.1} s after its fade-in",
            f.show,
            f.rate,
            f.flashing,
            f.fixtures,
            f.share() * 100.0,
            f.scope,
            f.at_s
        );
        let places: Vec<((usize, usize), &str)> = if f.layers.is_empty() {
            vec![(f.first_layer, " (its layers together)")]
        } else {
            f.layers.iter().map(|l| (*l, " (this layer)")).collect()
        };
        for ((line, col), which) in places {
            let clip = media_time(cfg, &f, (line, col));
            out.items.push(Diagnostic {
                path: f.path.clone(),
                line,
                col,
                severity,
                message: format!("{what}{which}{clip}{tail}"),
            });
        }
    }
    out
}

/// Compare this folder's configuration hash with what every node of the
/// fleet last published; a node on other files is a warning, an
/// unreachable broker a note (check must work offline).
fn fleet_versions(site: &Path, spec: &nightscape_core::site::fleet::FleetSpec) {
    let own = crate::fleet::config_hash(site);
    match super::fleet::gather(spec, 1.0) {
        Ok(Ok(nodes)) => {
            let mut differ = 0;
            for (name, (status, _)) in &nodes {
                if let Some(h) = status.config_hash.as_deref().filter(|h| *h != own) {
                    differ += 1;
                    eprintln!("warning: node {name} runs different site files (configuration hash {h}, this folder {own}): distribute the folder to every node");
                }
            }
            if differ == 0 && !nodes.is_empty() {
                eprintln!(
                    "note: {} node(s) on the broker run these files ({own})",
                    nodes.len()
                );
            }
        }
        Ok(Err(e)) => eprintln!("note: fleet configuration versions not compared ({e})"),
        Err(e) => eprintln!("note: fleet configuration versions not compared ({e})"),
    }
}
