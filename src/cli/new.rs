//! `nightscape new site|show|profile NAME`: starting files, commented, that
//! pass `nightscape check` as written, so a designer edits something that
//! works instead of a blank page.
//!
//! - `new site NAME`: a folder `NAME/` with `shows/site.toml` (one path, one
//!   array of floodlights, a group, an Art-Net output to 127.0.0.1, a
//!   schedule, API tokens read from `NIGHTSCAPE_{ADMIN,OPERATOR,VIEWER}_TOKEN`),
//!   `shows/evening.toml` and `fixtures/rgbw-flood.toml`.
//! - `new show NAME`: `<site>/NAME.toml`, a layer on the site's first group
//!   (run inside a site folder without `--site`, the site is that folder).
//! - `new profile NAME`: `<profile library>/NAME.toml`.
//!
//! Nothing is overwritten.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Kind {
    Site,
    Show,
    Profile,
}

#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// What to start: a site folder, a show, or a fixture profile.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Its name (a folder for a site; a file name without .toml otherwise).
    pub name: String,
}

const PROFILE: &str = r#"# A fixture profile: what the fixture is and how its DMX channels are laid out.
# `nightscape check` validates it; every site in this folder's library may use it.
name = "RGBW LED floodlight 100 W"
power_w = 100          # electrical power with every emitter at full (watts)
standby_w = 1.5        # power when dark but powered
dimmer_curve = "square"   # linear | square | gamma = 2.2: how the dimmer maps to light

# Modes: one per DMX personality. Channel roles: dimmer, dimmer_fine, red,
# green, blue, white, amber, uv, warm, cool, cct, strobe, pan, tilt, zoom,
# fixed:N (a constant), none (unused).
[[modes]]
name = "5ch"
channels = ["dimmer", "red", "green", "blue", "white"]

[[modes]]
name = "4ch"
channels = ["red", "green", "blue", "white"]
"#;

const SITE: &str = r#"# A site: where it is, what is patched where, what plays when.
# Geometry is in metres (x east, y north). `nightscape check --site shows`
# validates everything; `nightscape preview --at "YYYY-MM-DD 20:00" --out a.png`
# draws it without touching a node.
name = "NAME"
latitude = 22.54                # for sunset and sunrise
longitude = 114.06
timezone = "Asia/Shanghai"      # IANA name: times you write are in this zone
fps = 40
profiles = "../fixtures"        # the profile library, relative to this folder

[[outputs]]
kind = "artnet"                 # or "sacn", "enttec-pro", "open-dmx"
target = "127.0.0.1"            # a node's IP; stays on this machine until you change it
universes = "0"

[[paths]]                       # a line fixtures stand along
name = "street"
points = [[0, 0], [0, 300]]

[[arrays]]                      # identical fixtures along a path
name = "street-poles"
profile = "rgbw-flood"          # fixtures/rgbw-flood.toml
mode = "5ch"
path = "street"
offset = 8                      # metres right of the direction of travel
spacing = 30
start = "0.1"                   # universe.address; later fixtures follow on

[groups]                        # names shows target
street = ["street-poles-*"]

[[modes]]                       # what kind of night it is; first match wins
name = "normal"

[[schedule]]                    # what plays when
show = "evening"
start = "sunset - 10m"
end = "23:00"

[api]                           # the operator page: http://127.0.0.1:8080/
listen = "127.0.0.1:8080"
# Sign in with a token. Secrets never live here: each token names the
# environment variable `nightscape run` reads it from (it names them as it
# starts). Set one to a long random secret, e.g.
#   export NIGHTSCAPE_OPERATOR_TOKEN=$(openssl rand -hex 24)
tokens = [
  { name = "admin", role = "admin", env = "NIGHTSCAPE_ADMIN_TOKEN" },
  { name = "operator", role = "operator", env = "NIGHTSCAPE_OPERATOR_TOKEN" },
  { name = "viewer", role = "viewer", env = "NIGHTSCAPE_VIEWER_TOKEN" },
]
"#;

const SHOW: &str = r##"# A show: layers of effects on targets. `nightscape effects` lists every
# effect and its parameters; later layers go over earlier ones.
name = "NAME"
fade_in = "8s"
fade_out = "8s"

[[layers]]
target = "TARGET"               # a group, a fixture name or a glob
effect = "wave"
colors = ["3000K", "#ffb000"]   # hex, CSS names, or colour temperatures
speed = "2 m/s"
wavelength = "120 m"
level = 0.8
"##;

pub fn new(site: &Path, args: &NewArgs) -> Result<i32> {
    let name = args.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("`{name}` is not a usable name: letters, digits, '-' and '_' only");
    }
    match args.kind {
        Kind::Site => {
            let root = PathBuf::from(name);
            if root.exists() {
                bail!("{} already exists; nothing written", root.display());
            }
            write_new(
                &root.join("shows/site.toml"),
                &SITE.replace("\"NAME\"", &format!("{name:?}")),
            )?;
            write_new(
                &root.join("shows/evening.toml"),
                &SHOW
                    .replace("\"NAME\"", "\"evening\"")
                    .replace("TARGET", "street"),
            )?;
            write_new(&root.join("fixtures/rgbw-flood.toml"), PROFILE)?;
            eprintln!(
                "next: nightscape check --site {0}/shows, then nightscape preview --site {0}/shows --at 20:00 --out {0}.png;\n\
                 to sign in to the page, set NIGHTSCAPE_OPERATOR_TOKEN (or _ADMIN_ / _VIEWER_) to a long random secret before nightscape run --site {0}/shows",
                root.display()
            );
        }
        Kind::Show => {
            // A target that exists, so the file passes `check` as written.
            let target = crate::config::load(site)
                .ok()
                .and_then(|c| c.site.groups.keys().next().cloned())
                .unwrap_or_else(|| "*".to_string());
            write_new(
                &site.join(format!("{name}.toml")),
                &SHOW
                    .replace("\"NAME\"", &format!("{name:?}"))
                    .replace("TARGET", &target),
            )?;
        }
        Kind::Profile => {
            let site_file = site.join("site.toml");
            let dir = match std::fs::read_to_string(&site_file) {
                Ok(text) => nightscape_core::site::profile_dir(
                    &nightscape_core::diag::SourceFile::new(&site_file, text),
                ),
                Err(_) => site.join("../fixtures"),
            };
            write_new(&dir.join(format!("{name}.toml")), PROFILE)?;
        }
    }
    Ok(0)
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    if path.exists() {
        bail!("{} already exists; nothing written", path.display());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
