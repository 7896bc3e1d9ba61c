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
    /// Show-control rules and where events go out (`[[triggers]]`, `[[notify]]`).
    pub triggers: Arc<crate::triggers::Triggers>,
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

    /// The shows in file order (`show_order`), as the safety check and the
    /// reports walk them.
    pub fn shows_in_order(&self) -> impl Iterator<Item = &Show> {
        self.show_order
            .iter()
            .filter_map(|name| self.shows.get(name).map(|show| &**show))
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

/// Compile a site folder's text. `Err` carries every problem found, each
/// once: what only follows from another problem is left out.
pub fn compile(sources: Sources, diags: Diagnostics) -> Result<Config, Diagnostics> {
    compile_with_media(sources, &show::media::NoMedia, diags)
}

/// [`compile`], with the files media layers name (`source = "…"`, relative
/// to the show's folder) read through `media`: the daemon reads them from
/// the site folder; without it only `builtin:` sources play.
pub fn compile_with_media(
    sources: Sources,
    media: &dyn show::media::MediaFiles,
    diags: Diagnostics,
) -> Result<Config, Diagnostics> {
    compile_all(sources, media, diags).map_err(|mut d| {
        drop_missing_named_by_a_typo(&mut d);
        d
    })
}

/// A misspelled required key is one mistake, which serde reports twice:
/// the key it does not know (`unknown field `knd`; did you mean `kind`?`)
/// and the one it misses (`missing field `kind``, at the start of the
/// table). The second is dropped when the first names it, later in the
/// same file and before another table missing the same key.
fn drop_missing_named_by_a_typo(diags: &mut Diagnostics) {
    let missing_of = |d: &crate::diag::Diagnostic| -> Option<String> {
        let rest = d.message.strip_prefix("missing field `")?;
        let key = rest.strip_suffix('`')?;
        (d.severity == crate::diag::Severity::Error).then(|| key.to_string())
    };
    let at = |d: &crate::diag::Diagnostic| (d.line, d.col);
    let items = &diags.items;
    let drop: Vec<bool> = items
        .iter()
        .map(|m| {
            let Some(key) = missing_of(m) else {
                return false;
            };
            let hint = format!("did you mean `{key}`?");
            items.iter().any(|u| {
                u.path == m.path
                    && u.message.starts_with("unknown field `")
                    && u.message.contains(&hint)
                    && at(u) >= at(m)
                    // The nearest table before the typo that misses the key.
                    && !items.iter().any(|k| {
                        k.path == m.path
                            && missing_of(k).as_deref() == Some(key.as_str())
                            && at(k) > at(m)
                            && at(k) <= at(u)
                    })
            })
        })
        .collect();
    let mut keep = drop.iter().map(|d| !d);
    diags.items.retain(|_| keep.next().unwrap_or(true));
}

/// A group whose name is misspelled where it is defined is one mistake,
/// which every place naming it would report ("target `searchlights`
/// matches no fixture …; did you mean `searchlight`?"). When two or more
/// places name the same unknown name and suggest the same defined group,
/// they are replaced by one error at that group's definition.
fn one_misspelled_group(site: &Site, diags: &mut Diagnostics) {
    // (unknown name, suggested name) of an error about a name that
    // matches nothing.
    let unknown = |d: &crate::diag::Diagnostic| -> Option<(String, String)> {
        let m = &d.message;
        if d.severity != crate::diag::Severity::Error
            || !(m.contains("matches no fixture")
                || m.starts_with("unknown group `")
                || m.starts_with("unknown mode `"))
        {
            return None;
        }
        let named = m.split('`').nth(1)?;
        let hint = m.split("did you mean `").nth(1)?.split('`').next()?;
        Some((named.to_string(), hint.to_string()))
    };
    let mut by_name: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, d) in diags.items.iter().enumerate() {
        if let Some(key) = unknown(d) {
            by_name.entry(key).or_default().push(i);
        }
    }
    let mut drop = vec![false; diags.items.len()];
    let mut merged = Vec::new();
    for ((named, group), places) in by_name {
        if places.len() < 2 || site.groups.contains_key(&named) {
            continue;
        }
        // At the group's definition; a mode (defined by a [[modes]] rule)
        // at the first place that names it, the others listed.
        let (span, what) = match site.group_span(&group) {
            Some(span) => (Some(span), "group"),
            None if diags.items[places[0]].message.starts_with("unknown mode `") => (None, "mode"),
            None => continue,
        };
        let list: Vec<String> = places
            .iter()
            .map(|&i| {
                let d = &diags.items[i];
                format!("{}:{}:{}", d.path.display(), d.line, d.col)
            })
            .collect();
        let message = format!(
            "{what} `{group}`: {} places name `{named}` instead ({}); did you mean `{named}`?",
            places.len(),
            list.join(", ")
        );
        for &i in &places {
            drop[i] = true;
        }
        match span {
            Some(span) => merged.push((span, message)),
            None => {
                drop[places[0]] = false;
                diags.items[places[0]].message = message;
            }
        }
    }
    let mut keep = drop.iter().map(|d| !d);
    diags.items.retain(|_| keep.next().unwrap_or(true));
    for (span, message) in merged {
        diags.error(&site.source, span, message);
    }
}

fn compile_all(
    sources: Sources,
    media: &dyn show::media::MediaFiles,
    mut diags: Diagnostics,
) -> Result<Config, Diagnostics> {
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
    // Shows that did not compile (their problems are reported at the
    // show): the schedule and the shutdown may still name them without
    // being reported too.
    let mut failed_shows: Vec<String> = Vec::new();
    for file in show_sources {
        match &site {
            Some(site) => {
                let compiled = show::compile_with(&file, site, media, &mut diags);
                if compiled.is_none() {
                    failed_shows.push(show::declared_name(&file));
                }
                show_files.push((file, compiled));
            }
            // Without a site there is nothing to resolve targets against, but
            // the designer still wants the show's own syntax errors now.
            None => {
                // Through the bounded reader: the limits hold for callers
                // that never went through the daemon's loader.
                let _ = crate::diag::parse_all::<toml::Table>(&file, &mut diags);
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
        if !shows.contains_key(name) && !failed_shows.contains(name) {
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
    let mut names: Vec<String> = shows.keys().cloned().collect();
    names.extend(failed_shows.iter().cloned());
    names.sort();
    names.dedup();
    let schedule = plan::compile(
        &site.source,
        site.latitude,
        site.longitude,
        site.timezone,
        &names,
        &mut diags,
    );
    let energy = crate::energy::config::parse(&site.source, &site, &mut diags);
    let triggers = site::triggers::compile(
        &site.source,
        &site::triggers::Names {
            site: &site,
            shows: &names,
            schedule: &schedule,
        },
        &mut diags,
    );
    one_misspelled_group(&site, &mut diags);
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
        triggers: Arc::new(triggers),
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
                crate::site::triggers::json_schema(),
            ] {
                crate::schema::merge_properties(&mut site, &part);
            }
            site
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "name = \"t\"\nlatitude = 22.54\nlongitude = 114.06\ntimezone = \"Asia/Shanghai\"\n\
[[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = [0]\n\
[[paths]]\nname = \"street\"\npoints = [[0, 0], [100, 0]]\n\
[[arrays]]\nname = \"lamp\"\nprofile = \"rgb\"\nmode = \"3ch\"\npath = \"street\"\nspacing = 10\nstart = \"0.1\"\n\
[[fixtures]]\nname = \"tower\"\nprofile = \"rgb\"\nmode = \"3ch\"\naddress = \"0.100\"\nat = [0, 50]\n\
[groups]\nlamps = [\"lamp-*\"]\nfirst = [\"lamp-001\", \"lamp-002\"]\nlit = [\"lamps\", \"tower\"]\nbig = [\"lamp*\"]\n\
[[schedule]]\nshow = \"evening\"\nstart = \"19:00\"\nend = \"22:00\"\n";

    const RGB: &str = "name = \"rgb\"\npower_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n";

    const EVENING: &str = "[[layers]]\ntarget = \"lit\"\neffect = \"solid\"\ncolor = \"white\"\n";

    /// The errors of the site edited by `edits` (find, replace in
    /// site.toml), the profile and the show `evening` given, as `path:line:col: message`.
    fn errors(edits: &[(&str, &str)], profile: &str, show: &str) -> Vec<String> {
        let mut site = SITE.to_string();
        for (find, with) in edits {
            assert!(site.contains(find), "no `{find}`");
            site = site.replacen(find, with, 1);
        }
        let sources = Sources {
            folder: "t".into(),
            site: SourceFile::new("t/site.toml", site),
            profiles: vec![SourceFile::new("t/fixtures/rgb.toml", profile)],
            profiles_unreadable: None,
            shows: vec![SourceFile::new("t/evening.toml", show)],
        };
        match compile(sources, Diagnostics::new()) {
            Ok(_) => Vec::new(),
            Err(d) => d.errors().map(|d| d.to_string()).collect(),
        }
    }

    /// One mistake gives one error: what depends on a failed item (a
    /// show the schedule names, an array or fixture a group names, a group
    /// another group names) is not reported again (check(input, expect)).
    #[test]
    fn one_mistake_gives_one_error() {
        // (site edits, profile, show, errors)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a [&'a str]);
        let cases: &[Case] = &[
            // Everything right.
            (&[], RGB, EVENING, &[]),
            // A show that fails to compile, named by the schedule and the
            // shutdown: said once, at the show.
            (
                &[("[[outputs]]", "shutdown = { show = \"evening\" }\n[[outputs]]")],
                RGB,
                "[[layers]]\ntarget = \"lit\"\neffect = \"wav\"\n",
                &["t/evening.toml:3:10: unknown effect `wav`: use solid, fade, chase, wave, gradient, rainbow, twinkle, pulse, sequence, media, text; did you mean `wave`? (`nightscape effects` lists them)"],
            ),
            // Named by `name =`, not by its file name.
            (
                &[("show = \"evening\"", "show = \"dusk\"")],
                RGB,
                "name = \"dusk\"\n[[layers]]\ntarget = \"nowhere\"\neffect = \"solid\"\n",
                &["t/evening.toml:3:10: target `nowhere` matches no fixture, group or glob in the site"],
            ),
            // A misspelled profile: the array fails, and the groups naming
            // its lamps (a glob, names, a group of them, a glob over
            // groups and fixtures) are not reported.
            (
                &[("profile = \"rgb\"\nmode = \"3ch\"\npath", "profile = \"rgbb\"\nmode = \"3ch\"\npath")],
                RGB,
                EVENING,
                &["t/site.toml:14:11: unknown profile `rgbb` (the library has: rgb); did you mean `rgb`?"],
            ),
            // A misspelled path and mode.
            (
                &[("path = \"street\"", "path = \"stret\"")],
                RGB,
                EVENING,
                &["t/site.toml:16:8: unknown path `stret`; did you mean `street`?"],
            ),
            (
                &[("mode = \"3ch\"\naddress", "mode = \"3c\"\naddress")],
                RGB,
                EVENING,
                &["t/site.toml:22:8: profile `rgb` has no mode `3c` (it has: 3ch); did you mean `3ch`?"],
            ),
            // A misspelled required key: the unknown key with its
            // did-you-mean, not the missing key as well.
            (
                &[("kind = \"artnet\"", "knd = \"artnet\"")],
                RGB,
                EVENING,
                &["t/site.toml:6:1: unknown field `knd`; did you mean `kind`?"],
            ),
            (
                &[("latitude", "lattitude")],
                RGB,
                EVENING,
                &["t/site.toml:2:1: unknown field `lattitude`; did you mean `latitude`?"],
            ),
            (
                &[],
                "name = \"rgb\"\npowr_w = 10\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n",
                EVENING,
                &["t/fixtures/rgb.toml:2:1: unknown field `powr_w`; did you mean `power_w`?"],
            ),
            // A group misspelled where it is defined: one error there, not
            // one at every place naming it.
            (
                &[("lit = [", "lt = [")],
                RGB,
                "[[layers]]\ntarget = \"lit\"\neffect = \"solid\"\n[[layers]]\ntarget = \"lit\"\neffect = \"solid\"\ncolor = \"red\"\n",
                &["t/site.toml:28:6: group `lt`: 2 places name `lit` instead (t/evening.toml:2:10, t/evening.toml:5:10); did you mean `lit`?"],
            ),
            // Named once: that place is the likelier mistake.
            (
                &[],
                RGB,
                "[[layers]]\ntarget = \"lt\"\neffect = \"solid\"\n",
                &["t/evening.toml:2:10: target `lt` matches no fixture, group or glob in the site; did you mean `lit`?"],
            ),
            // A broken profile: said in its file, once.
            (
                &[],
                "name = \"rgb\"\npower_w = -1\n[[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n",
                EVENING,
                &["t/fixtures/rgb.toml:2:11: power_w must be zero or more watts, found -1"],
            ),
            // A group member that is wrong by itself is still reported.
            (
                &[("first = [\"lamp-001\", \"lamp-002\"]", "first = [\"lamp-001\", \"lamp-02\"]")],
                RGB,
                EVENING,
                &["t/site.toml:27:22: `lamp-02` in group `first` matches no fixture; did you mean `lamp-002`?"],
            ),
        ];
        for &(edits, profile, show, expect) in cases {
            assert_eq!(errors(edits, profile, show), expect, "{edits:?}\n{show}");
        }
    }
}
