//! Loading a site folder: `site.toml`, the profile library it names, and
//! every other `*.toml` in the folder as a show.
//!
//! This is the one place that reads configuration files. It returns either
//! a complete [`Config`] (with warnings) or every problem found, located —
//! never half a configuration — which is what lets the daemon keep running
//! its last good configuration when an edit is broken.

use crate::diag::{Diagnostics, SourceFile};
use crate::schedule::plan::{self, Schedule};
use crate::show::{self, Show};
use crate::site::{self, Site};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded, validated site with its shows.
#[derive(Debug, Clone)]
pub struct Config {
    pub site: Site,
    pub shows: BTreeMap<String, Arc<Show>>,
    /// Show names in file order (sorted by file name): the first is the
    /// default show when nothing else says what to play.
    pub show_order: Vec<String>,
    pub schedule: Schedule,
    /// Curfew, power budgets, tariff and CO₂ factor (`curfew`, `[energy]`).
    pub energy: crate::energy::EnergyConfig,
    pub warnings: Diagnostics,
}

impl Config {
    pub fn show(&self, name: &str) -> Option<&Arc<Show>> {
        self.shows.get(name)
    }
}

/// The files a site folder consists of (for hot reload's change detection).
pub fn site_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = toml_files(folder);
    let site_file = folder.join("site.toml");
    if let Ok(text) = std::fs::read_to_string(&site_file) {
        files.extend(toml_files(&site::profile_dir(&SourceFile::new(
            &site_file, text,
        ))));
    }
    files
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Load a site folder. `Err` carries every problem found.
pub fn load(folder: &Path) -> Result<Config, Diagnostics> {
    let mut diags = Diagnostics::new();
    let site_path = folder.join("site.toml");
    let text = match std::fs::read_to_string(&site_path) {
        Ok(t) => t,
        Err(e) => {
            diags.file_error(
                &site_path,
                format!("cannot read the site file: {e} (is --site pointing at the folder with site.toml?)"),
            );
            return Err(diags);
        }
    };
    let site_file = SourceFile::new(&site_path, text);
    let profiles = site::load_profiles(&site::profile_dir(&site_file), &mut diags);
    let site = site::compile(&site_file, profiles, &mut diags);

    let mut shows = BTreeMap::new();
    let mut show_order = Vec::new();
    let mut show_files: Vec<(SourceFile, Option<Show>)> = Vec::new();
    for path in toml_files(folder).into_iter().filter(|p| *p != site_path) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                diags.file_error(&path, format!("cannot read: {e}"));
                continue;
            }
        };
        let file = SourceFile::new(&path, text);
        match &site {
            Some(site) => {
                let compiled = show::compile(&file, site, &mut diags);
                show_files.push((file, compiled));
            }
            // Without a site there is nothing to resolve targets against, but
            // the designer still wants the show's own syntax errors now.
            None => {
                if let Err(e) = toml::from_str::<toml::Table>(&file.text) {
                    diags.toml_error(&file, &e);
                }
            }
        }
    }
    for (file, show) in show_files {
        if let Some(show) = show {
            if shows.contains_key(&show.name) {
                diags.error(
                    &file,
                    show.name_span.clone(),
                    format!("show name `{}` is used by two files", show.name),
                );
                continue;
            }
            show_order.push(show.name.clone());
            shows.insert(show.name.clone(), Arc::new(show));
        }
    }
    let Some(site) = site else {
        return Err(diags);
    };
    if let crate::site::OnStop::Show(name) = &site.on_stop {
        if !shows.contains_key(name) {
            diags.error(
                &site.source,
                site.on_stop_span.clone(),
                format!("shutdown show `{name}` is not a show of this site"),
            );
        }
    }
    let names: Vec<String> = shows.keys().cloned().collect();
    let schedule = plan::compile(
        &site.source,
        site.latitude,
        site.longitude,
        site.timezone,
        &names,
        &mut diags,
    );
    let energy = crate::energy::config::parse(&site.source, &site, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    if shows.is_empty() {
        diags.file_error(
            folder,
            "the site folder has no shows: add a show file next to site.toml",
        );
        return Err(diags);
    }
    Ok(Config {
        site,
        shows,
        show_order,
        schedule,
        energy,
        warnings: diags,
    })
}
