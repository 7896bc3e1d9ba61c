//! Generated city-scale sites for load tests and benchmarks: pixel bars
//! along avenues and up tower facades, N universes of RGB pixels, with a
//! show of wave, gradient and/or twinkle layers scheduled all day.
//!
//! The text is a pure function of the options (no clock, no randomness), so
//! two machines generate the same site and the benchmarks in `benches/`
//! measure the same work as `nightscape generate-site` on the command line.
//! The site is written as ordinary files so it goes through the same loader,
//! checks and daemon as a designer's site.

use std::fmt::Write as _;

/// What to animate in the generated show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratedEffect {
    Wave,
    Gradient,
    Twinkle,
    /// Wave on the avenues, a gradient up the facades, twinkle over both.
    All,
    /// A generated clip (`builtin:sweep`, 20 frames) mapped over every
    /// pixel in plan: the media layer's cost at city scale.
    Media,
}

impl GeneratedEffect {
    pub fn parse(s: &str) -> Option<GeneratedEffect> {
        Some(match s {
            "wave" => GeneratedEffect::Wave,
            "gradient" => GeneratedEffect::Gradient,
            "twinkle" => GeneratedEffect::Twinkle,
            "all" => GeneratedEffect::All,
            "media" => GeneratedEffect::Media,
            _ => return None,
        })
    }
}

/// Options of a generated site.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    pub universes: u32,
    /// RGB pixels per bar; bars never straddle a universe, so a universe
    /// holds `170 / bar_pixels` bars (170 × 3 = 510 channels).
    pub bar_pixels: u32,
    pub effect: GeneratedEffect,
    /// `artnet` or `sacn`.
    pub protocol: String,
    /// Where the output sends (an IP, `ip:port`, or `multicast` for sACN).
    pub target: String,
    pub fps: u32,
}

impl SiteSpec {
    pub fn new(universes: u32) -> SiteSpec {
        SiteSpec {
            universes,
            bar_pixels: 170,
            effect: GeneratedEffect::All,
            protocol: "artnet".into(),
            target: "127.0.0.1".into(),
            fps: 40,
        }
    }

    fn bars_per_universe(&self) -> u32 {
        (170 / self.bar_pixels.clamp(1, 170)).max(1)
    }
}

/// The largest site generated: the patch has 32,768 universes.
pub(crate) const MAX_UNIVERSES: u32 = 32_768;
/// Universes per array: an avenue side, or one tower's facade.
const AVENUE_UNIVERSES: u32 = 200;
const FACADE_UNIVERSES: u32 = 50;
/// Pixel pitch of the bars (60 per metre, the common strip density).
const PIXELS_PER_METRE: f64 = 60.0;
pub const SHOW_NAME: &str = "city";

/// A generated site's files as the loader's [`crate::config::Sources`]
/// (as if read from a folder named `generated`), for compiling in memory:
/// benchmarks, examples and tests skip the disk.
pub fn sources(files: Vec<(String, String)>) -> crate::config::Sources {
    use crate::diag::SourceFile;
    let (mut site, mut profiles, mut shows) = (None, Vec::new(), Vec::new());
    for (path, text) in files {
        match path.as_str() {
            "site.toml" => site = Some(SourceFile::new(path, text)),
            p if p.starts_with("fixtures/") => profiles.push(SourceFile::new(path, text)),
            _ => shows.push(SourceFile::new(path, text)),
        }
    }
    crate::config::Sources {
        folder: "generated".into(),
        site: site.unwrap_or_else(|| SourceFile::new("site.toml", "")),
        profiles,
        profiles_unreadable: None,
        shows,
    }
}

/// The files of a generated site, as (path relative to the site folder,
/// contents). The profile library is the `fixtures` folder inside it.
pub fn site_files(spec: &SiteSpec) -> Result<Vec<(String, String)>, String> {
    if spec.universes == 0 || spec.universes > MAX_UNIVERSES {
        return Err(format!(
            "--universes must be 1..={MAX_UNIVERSES}, not {}",
            spec.universes
        ));
    }
    if !(1..=170).contains(&spec.bar_pixels) {
        return Err(format!(
            "--bar-pixels must be 1..=170 (RGB pixels in 512 channels), not {}",
            spec.bar_pixels
        ));
    }
    if spec.protocol != "artnet" && spec.protocol != "sacn" {
        return Err(format!(
            "--protocol must be artnet or sacn, not `{}`",
            spec.protocol
        ));
    }
    let px = spec.bar_pixels;
    let profile_name = format!("rgb-pixel-bar-{px}");
    let profile = format!(
        "# An RGB pixel bar of {px} cells at {PIXELS_PER_METRE} per metre (generated).\n\
         name = \"RGB pixel bar, {px} cells\"\n\
         power_w = {power}\n\
         standby_w = 0.5\n\n\
         [[modes]]\n\
         name = \"{ch}ch\"\n\
         cells = {px}\n\
         cell = [\"red\", \"green\", \"blue\"]\n",
        power = (px as f64 * 0.3).max(1.0),
        ch = px * 3,
    );
    Ok(vec![
        (format!("fixtures/{profile_name}.toml"), profile),
        ("site.toml".into(), site_toml(spec, &profile_name)),
        (format!("{SHOW_NAME}.toml"), show_toml(spec)),
    ])
}

fn site_toml(spec: &SiteSpec, profile: &str) -> String {
    let n = spec.universes;
    let k = spec.bars_per_universe();
    let bar_m = spec.bar_pixels as f64 / PIXELS_PER_METRE;
    let mut s = String::new();
    let _ = write!(
        s,
        "# A generated city district: {n} universes of RGB pixel bars ({px} px each,\n\
         # {k} per universe) along avenues and up tower facades.\n\
         # Made by `nightscape generate-site`; the show `{SHOW_NAME}` plays all day.\n\
         name = \"generated district, {n} universes\"\n\
         latitude = 30.25\n\
         longitude = 120.17\n\
         timezone = \"Asia/Shanghai\"\n\
         fps = {fps}\n\
         profiles = \"fixtures\"\n\n\
         [[outputs]]\n\
         kind = \"{proto}\"\n\
         target = \"{target}\"\n\
         universes = \"0-{last}\"\n\
         sync = true\n\n\
         [api]\n\
         listen = \"127.0.0.1:8080\"\n\
         public_read = true\n\n",
        px = spec.bar_pixels,
        fps = spec.fps,
        proto = spec.protocol,
        target = spec.target,
        last = n - 1,
    );
    // Half the universes line the avenues (both sides), half climb facades.
    let avenue_total = n.div_ceil(2);
    let facade_total = n - avenue_total;
    let mut universe = 0u32;
    let mut arrays = String::new();
    let mut paths = String::new();
    let spacing = bar_m + 0.5;
    let mut i = 0;
    while universe < avenue_total {
        let us = AVENUE_UNIVERSES.min(avenue_total - universe);
        let count = us * k;
        let length = count as f64 * spacing + 10.0;
        let avenue = i / 2;
        let side = if i % 2 == 0 { "east" } else { "west" };
        if i % 2 == 0 {
            let x = avenue as f64 * 80.0;
            let _ = write!(
                paths,
                "[[paths]]\nname = \"avenue-{avenue}\"\npoints = [[{x}, 0], [{x}, {length:.1}]]\n\n"
            );
        }
        let offset = if i % 2 == 0 { 15 } else { -15 };
        let _ = write!(
            arrays,
            "[[arrays]]\nname = \"avenue-{avenue}-{side}\"\nprofile = \"{profile}\"\nmode = \"{ch}ch\"\n\
             path = \"avenue-{avenue}\"\noffset = {offset}\nspacing = {spacing:.3}\nfrom = 0\nto = {to:.3}\n\
             length = {bar_m:.3}\nstart = \"{universe}.1\"\n\n",
            ch = spec.bar_pixels * 3,
            to = (count - 1) as f64 * spacing,
        );
        universe += us;
        i += 1;
    }
    let mut tower = 0;
    while universe < avenue_total + facade_total {
        let us = FACADE_UNIVERSES.min(avenue_total + facade_total - universe);
        let count = us * k;
        let length = count as f64 * 0.5 + 5.0;
        let (x, y) = (
            -200.0 - (tower % 10) as f64 * 60.0,
            (tower / 10) as f64 * 60.0,
        );
        let _ = write!(
            paths,
            "[[paths]]\nname = \"tower-{tower}\"\npoints = [[{x}, {y}], [{x2:.1}, {y}]]\n\n",
            x2 = x - length,
        );
        let _ = write!(
            arrays,
            "[[arrays]]\nname = \"facade-{tower}\"\nprofile = \"{profile}\"\nmode = \"{ch}ch\"\n\
             path = \"tower-{tower}\"\nspacing = 0.5\nfrom = 0\nto = {to:.1}\n\
             heading = 0\nlength = {bar_m:.3}\nstart = \"{universe}.1\"\n\n",
            ch = spec.bar_pixels * 3,
            to = (count - 1) as f64 * 0.5,
        );
        universe += us;
        tower += 1;
    }
    s.push_str("# --- geometry (metres, x east, y north) ---\n");
    s.push_str(&paths);
    s.push_str("# --- the patch ---\n");
    s.push_str(&arrays);
    s.push_str("[groups]\navenues = [\"avenue-*\"]\n");
    if facade_total > 0 {
        s.push_str("facades = [\"facade-*\"]\n");
    }
    let _ = write!(
        s,
        "\n[[modes]]\nname = \"every-night\"\n\n\
         [[schedule]]\nshow = \"{SHOW_NAME}\"\nstart = \"12:00\"\nend = \"12:00\"   # noon to noon: always\n"
    );
    s
}

fn show_toml(spec: &SiteSpec) -> String {
    let wave = "effect = \"wave\"\ncolors = [\"#ff4000\", \"#0040ff\"]\nspeed = \"6 m/s\"\nwavelength = \"90 m\"\n";
    let gradient =
        "effect = \"gradient\"\ncolors = [\"#ff0060\", \"#ffd000\", \"#00c0ff\"]\nspeed = \"2 m/s\"\n";
    let twinkle =
        "effect = \"twinkle\"\ncolors = [\"#000000\", \"#ffffff\"]\ndensity = 0.05\nduration = \"0.6s\"\nseed = 7\n";
    let mut s = format!(
        "# Generated by `nightscape generate-site`.\nname = \"{SHOW_NAME}\"\nfade_in = \"2s\"\n\n"
    );
    match spec.effect {
        GeneratedEffect::Wave => s += &format!("[[layers]]\ntarget = \"*\"\n{wave}"),
        GeneratedEffect::Gradient => s += &format!("[[layers]]\ntarget = \"*\"\n{gradient}"),
        GeneratedEffect::Twinkle => s += &format!("[[layers]]\ntarget = \"*\"\n{twinkle}"),
        GeneratedEffect::Media => {
            s += "[[layers]]\ntarget = \"*\"\neffect = \"media\"\nsource = \"builtin:sweep\"\n"
        }
        GeneratedEffect::All => {
            s += &format!("[[layers]]\ntarget = \"avenues\"\n{wave}\n");
            if spec.universes > 1 {
                s += &format!("[[layers]]\ntarget = \"facades\"\n{gradient}\n");
            }
            s += &format!("[[layers]]\ntarget = \"*\"\nblend = \"htp\"\nlevel = 0.8\n{twinkle}");
        }
    }
    s
}
