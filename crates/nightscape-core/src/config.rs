//! A whole loaded site: `site.toml`, its profile library and its shows,
//! compiled together from their text.
//!
//! [`compile`] returns either a complete [`Config`] (with warnings) or
//! every problem found, located — never half a configuration — which is
//! what lets the daemon keep running its last good configuration when an
//! edit is broken. Reading the folder is the daemon's job (`config.rs`
//! there); this module only sees text and the names to report it under.

use crate::diag::{Diagnostics, SourceFile};
use crate::schedule::plan::{self, Schedule};
use crate::show::{self, Show};
use crate::site::{self, Site};
use std::collections::BTreeMap;
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
    /// Which configuration this is within one process: the daemon numbers
    /// each one it installs, so per-configuration caches compare a number
    /// instead of a memory address that a reload may reuse.
    pub generation: u64,
}

impl Config {
    pub fn show(&self, name: &str) -> Option<&Arc<Show>> {
        self.shows.get(name)
    }
}

/// A site folder's files as read: the site file, the profile files and
/// every other `*.toml` beside the site file (the shows), each sorted by
/// path. Problems met while reading arrive in `diags`.
pub struct Sources {
    /// The site folder, named in folder-wide messages.
    pub folder: std::path::PathBuf,
    pub site: SourceFile,
    pub profiles: Vec<SourceFile>,
    /// The profile library could not be read: why (said once, at the site
    /// file's `profiles` key; profile names are then not checked).
    pub profiles_unreadable: Option<String>,
    pub shows: Vec<SourceFile>,
}

/// Compile a site folder's text. `Err` carries every problem found.
pub fn compile(sources: Sources, mut diags: Diagnostics) -> Result<Config, Diagnostics> {
    let Sources {
        folder,
        site: site_file,
        profiles,
        profiles_unreadable,
        shows: show_sources,
    } = sources;
    let mut profiles = site::parse_profiles(&profiles, &mut diags);
    profiles.unreadable = profiles_unreadable;
    let site = site::compile(&site_file, profiles, &mut diags);

    let mut shows = BTreeMap::new();
    let mut show_order = Vec::new();
    let mut show_files: Vec<(SourceFile, Option<Show>)> = Vec::new();
    for file in show_sources {
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
                format!(
                    "shutdown show `{name}` is not a show of this site{}",
                    crate::suggest::hint(name, shows.keys().map(String::as_str))
                ),
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
            &folder,
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
        generation: 0,
    })
}

/// The JSON Schema of one kind of file (`nightscape schema`), from the
/// raw types of the modules that parse it; a site file is read by several. The site's `[api]`
/// table and `state_dir` belong to the daemon, which fills them in.
pub fn json_schema(kind: crate::schema::Kind) -> serde_json::Value {
    use crate::schema::Kind;
    match kind {
        Kind::Profile => crate::fixture::json_schema(),
        Kind::Show => crate::show::json_schema(),
        Kind::Site => {
            let mut site = crate::site::json_schema();
            for part in [
                crate::energy::config::json_schema(),
                crate::safety::json_schema(),
                crate::schedule::plan::json_schema(),
            ] {
                crate::schema::merge_properties(&mut site, &part);
            }
            site
        }
    }
}
