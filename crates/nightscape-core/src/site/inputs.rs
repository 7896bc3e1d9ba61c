//! `[[inputs]]`: what the daemon listens to besides its clock and its API.
//!
//! Show control opens nightscape to the outside world — a guest console
//! taking over the square over sACN or Art-Net, timecode from a show
//! computer, OSC cues, plain UDP strings from a kiosk — and every such door
//! must be declared here, so `check` can validate it, the console can show
//! it, and nothing listens that the site file does not name. Parsing is
//! pure and located like every other section; the sockets live in the
//! daemon (`src/inputs/`), the merge rules in `crate::takeover` and the
//! timecode in `crate::timecode`.
//!
//! ```toml
//! [[inputs]]
//! kind = "sacn"          # E1.31: multicast joined on `interface`, unicast accepted
//! universes = "1-2"      # sACN universes received
//! to = 0                 # the first site universe they land on, in order
//! mode = "takeover"      # or "htp"
//! min_priority = 100     # sources below are ignored
//! release = "2s"         # fade back to the show after the source stops
//! ```
//!
//! Which keys apply depends on `kind`; a key that does not apply is warned
//! about, not rejected (as for outputs).

use super::{parse_target, parse_universes, UniverseList, MAX_UNIVERSE};
use crate::diag::Spanned;
use crate::diag::{Diagnostics, SourceFile};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

/// The most universes one input may receive: each costs a 512-byte buffer
/// per source, and a console rarely drives more than a few dozen.
pub(crate) const MAX_INPUT_UNIVERSES: usize = 1024;
/// The longest `release` fade.
pub(crate) const MAX_RELEASE_S: f64 = 60.0;
/// sACN port (E1.31 section 9.3.1).
pub const SACN_PORT: u16 = 5568;
/// Art-Net port.
pub const ARTNET_PORT: u16 = 6454;

/// What kind of input, as written in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputKindName {
    /// E1.31 (streaming ACN) DMX in.
    Sacn,
    /// Art-Net in: ArtDmx, ArtTimeCode, ArtTrigger.
    Artnet,
    /// OSC over UDP.
    Osc,
    /// Plain UDP datagrams (strings or bytes) for triggers.
    Udp,
    /// Audio linear timecode from a capture device.
    Ltc,
    /// MIDI timecode from a raw MIDI device.
    Mtc,
}

impl InputKindName {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKindName::Sacn => "sacn",
            InputKindName::Artnet => "artnet",
            InputKindName::Osc => "osc",
            InputKindName::Udp => "udp",
            InputKindName::Ltc => "ltc",
            InputKindName::Mtc => "mtc",
        }
    }

    /// "an `osc`", "a `udp`": the kind with its article, for messages.
    fn article(self) -> String {
        let a = if matches!(self, InputKindName::Udp) {
            "a"
        } else {
            "an"
        };
        format!("{a} `{}`", self.as_str())
    }
}

/// How received DMX meets the show's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// While a source sends, its universes replace the show's.
    Takeover,
    /// Highest of the show's and the console's level, per channel.
    Htp,
}

/// An IPv4 network a sender may be in (`allow = ["10.0.4.0/24"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Loopback, the default for command inputs.
    pub(crate) const LOOPBACK: Ipv4Net = Ipv4Net {
        addr: Ipv4Addr::new(127, 0, 0, 0),
        prefix: 8,
    };
    /// Every address, the default for DMX inputs.
    pub(crate) const ANY: Ipv4Net = Ipv4Net {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    pub(crate) fn parse(text: &str) -> Result<Ipv4Net, String> {
        let bad = || {
            format!(
                "`{text}` is not an IPv4 address or network: write \"10.0.4.7\" or \"10.0.4.0/24\""
            )
        };
        let t = text.trim();
        let (a, p) = match t.split_once('/') {
            Some((a, p)) => (a.trim(), p.trim().parse::<u8>().map_err(|_| bad())?),
            None => (t, 32),
        };
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p > 32 {
            return Err(bad());
        }
        let net = Ipv4Net { addr, prefix: p };
        if u32::from(addr) & !net.mask() != 0 {
            return Err(format!(
                "`{text}` has host bits set: the network is {}/{p}",
                Ipv4Addr::from(u32::from(addr) & net.mask())
            ));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub(crate) fn contains(self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return false,
            },
        };
        u32::from(v4) & self.mask() == u32::from(self.addr) & self.mask()
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A DMX input (sACN or Art-Net): which universes it receives, where they
/// land and how they merge.
#[derive(Debug, Clone, PartialEq)]
pub struct DmxInput {
    pub listen: SocketAddr,
    /// sACN: the interface (name like "eth1" or an IPv4 address) multicast
    /// groups are joined on; `None`: the system's default.
    pub interface: Option<String>,
    /// Wire universes received (sACN 1..32767, Art-Net Port-Address
    /// 0..32767), sorted.
    pub universes: Vec<u16>,
    /// The site universe each of `universes` lands on, in the same order.
    pub to: Vec<u16>,
    pub mode: MergeMode,
    /// sACN sources below this priority are ignored (Art-Net sources count
    /// as priority 100, Art-Net having none).
    pub min_priority: u8,
    /// Seconds of the fade back to the show after the last source leaves.
    pub release: f64,
}

impl DmxInput {
    #[cfg(test)]
    /// The site universe wire universe `u` lands on, if received.
    pub(crate) fn site_universe(&self, wire: u16) -> Option<u16> {
        self.universes.binary_search(&wire).ok().map(|i| self.to[i])
    }
}

/// A packet input (OSC, UDP): where it listens and who may send.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketInput {
    pub listen: SocketAddr,
}

/// An audio or MIDI timecode input.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInput {
    /// The capture device: an ALSA name ("hw:1,0") for LTC, a raw MIDI
    /// device file ("/dev/snd/midiC1D0") for MTC.
    pub device: String,
    /// LTC: samples per second the device is read at.
    pub sample_rate: u32,
}

/// What an input is.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    Sacn(DmxInput),
    Artnet(DmxInput),
    Osc(PacketInput),
    Udp(PacketInput),
    Ltc(DeviceInput),
    Mtc(DeviceInput),
}

/// One `[[inputs]]` table, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Its name (logs, the console, audit entries): `name`, or the kind
    /// for the first of its kind and `<kind>-<n>` for the n-th.
    pub name: String,
    pub kind: InputKind,
    /// Source addresses that may send (network inputs).
    pub allow: Vec<Ipv4Net>,
    /// Where the table is written.
    pub span: Range<usize>,
}

impl Input {
    pub fn kind_name(&self) -> InputKindName {
        match self.kind {
            InputKind::Sacn(_) => InputKindName::Sacn,
            InputKind::Artnet(_) => InputKindName::Artnet,
            InputKind::Osc(_) => InputKindName::Osc,
            InputKind::Udp(_) => InputKindName::Udp,
            InputKind::Ltc(_) => InputKindName::Ltc,
            InputKind::Mtc(_) => InputKindName::Mtc,
        }
    }

    /// Whether `ip` may send to this input.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(ip))
    }

    /// The DMX side of an sACN or Art-Net input.
    pub(crate) fn dmx(&self) -> Option<&DmxInput> {
        match &self.kind {
            InputKind::Sacn(d) | InputKind::Artnet(d) => Some(d),
            _ => None,
        }
    }

    /// Where a network input listens.
    pub(crate) fn listen(&self) -> Option<SocketAddr> {
        match &self.kind {
            InputKind::Sacn(d) | InputKind::Artnet(d) => Some(d.listen),
            InputKind::Osc(p) | InputKind::Udp(p) => Some(p.listen),
            InputKind::Ltc(_) | InputKind::Mtc(_) => None,
        }
    }
}

#[cfg(test)]
/// The site's inputs, with lookups the daemon and the shows use.
pub(crate) fn by_kind(inputs: &[Input], kind: InputKindName) -> impl Iterator<Item = &Input> {
    inputs.iter().filter(move |i| i.kind_name() == kind)
}

/// A site universe given as a number or a numeric string.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawUniverse {
    Number(#[schemars(range(min = 0, max = 32767))] i64),
    Text(#[schemars(regex(pattern = r"^\s*[0-9]+\s*$"))] String),
}

/// One `[[inputs]]` table as written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInput {
    /// What is received: "sacn", "artnet", "osc", "udp", "ltc" or "mtc".
    #[schemars(example = &"sacn")]
    kind: Spanned<InputKindName>,
    /// The input's name in logs, on the console and in audit entries
    /// (default: the kind, then `<kind>-2`, …).
    #[serde(default)]
    #[schemars(example = &"guest-console")]
    name: Option<Spanned<String>>,
    /// Network inputs: the local address and port to listen on (sACN
    /// default "0.0.0.0:5568", Art-Net "0.0.0.0:6454"; OSC and UDP need it).
    #[serde(default)]
    #[schemars(example = &"127.0.0.1:9000")]
    listen: Option<Spanned<String>>,
    /// sACN: the interface multicast groups are joined on, a name ("eth1")
    /// or this machine's IPv4 address there (default: the system's choice).
    #[serde(default)]
    #[schemars(example = &"eth1")]
    interface: Option<Spanned<String>>,
    /// sACN and Art-Net: the universes received, as on the wire: 3, "1-2",
    /// "1-3,8" or [1, 2].
    #[serde(default)]
    #[schemars(example = &"1-2")]
    universes: Option<Spanned<UniverseList>>,
    /// sACN and Art-Net: the first site universe the received universes
    /// land on, in order (default: the same numbers).
    #[serde(default)]
    #[schemars(example = 0)]
    to: Option<Spanned<RawUniverse>>,
    /// sACN and Art-Net: "takeover" (while a source sends, its universes
    /// replace the show's; the default) or "htp" (highest of both per channel).
    #[serde(default)]
    #[schemars(example = &"takeover")]
    mode: Option<Spanned<MergeMode>>,
    /// sACN: sources below this priority (0..200) are ignored (default 0).
    #[serde(default)]
    #[schemars(example = 100, range(min = 0, max = 200))]
    min_priority: Option<Spanned<i64>>,
    /// sACN and Art-Net: the fade back to the show after the last source
    /// stops (2.5 s without data) or terminates its stream, 0s..60s
    /// (default "2s").
    #[serde(default)]
    #[schemars(example = &"2s", regex(pattern = crate::units::DURATION_PATTERN))]
    release: Option<Spanned<String>>,
    /// Network inputs: the source addresses or networks that may send
    /// (default: loopback only for OSC and UDP, any for sACN and Art-Net).
    #[serde(default)]
    #[schemars(example = serde_json::json!(["127.0.0.1/32", "10.0.4.0/24"]))]
    allow: Option<Spanned<Vec<Spanned<String>>>>,
    /// LTC and MTC: the capture device (ALSA "hw:1,0" for LTC, a raw MIDI
    /// device such as "/dev/snd/midiC1D0" for MTC).
    #[serde(default)]
    #[schemars(example = &"hw:1,0")]
    device: Option<Spanned<String>>,
    /// LTC: samples per second read from the device, 8000..192000 (default 48000).
    #[serde(default)]
    #[schemars(example = 48000, range(min = 8000, max = 192000))]
    sample_rate: Option<Spanned<i64>>,
}

/// Compile the `[[inputs]]` tables. `sent` is every site universe an
/// output carries (a console's levels for any other go nowhere: warned).
pub(crate) fn compile_inputs(
    file: &SourceFile,
    raw: &[Spanned<RawInput>],
    sent: &[u16],
    diags: &mut Diagnostics,
) -> Vec<Input> {
    let mut out: Vec<Input> = Vec::new();
    let mut counts: std::collections::HashMap<InputKindName, usize> = Default::default();
    for table in raw {
        let r = table.get_ref();
        let kind = *r.kind.get_ref();
        let n = {
            let c = counts.entry(kind).or_default();
            *c += 1;
            *c
        };
        warn_inapplicable(file, r, kind, diags);
        let name = match &r.name {
            Some(s) => {
                let t = s.get_ref().trim();
                if t.is_empty() || t.len() > 64 || t.chars().any(char::is_control) {
                    diags.error(
                        file,
                        s.span(),
                        "an input's name is 1..64 printable characters",
                    );
                    continue;
                }
                t.to_string()
            }
            None if n == 1 => kind.as_str().to_string(),
            None => format!("{}-{n}", kind.as_str()),
        };
        if out.iter().any(|i| i.name == name) {
            let at = r.name.as_ref().map_or(table.span(), |s| s.span());
            diags.error(
                file,
                at,
                format!("input `{name}` is declared twice: give each a different `name`"),
            );
            continue;
        }
        let listen = |default: Option<u16>, diags: &mut Diagnostics| -> Option<SocketAddr> {
            match (&r.listen, default) {
                (Some(l), d) => match parse_target(l.get_ref(), d.unwrap_or(0)) {
                    Ok(a) if a.port() != 0 => Some(a),
                    Ok(_) => {
                        diags.error(file, l.span(), format!("`{}`: an input listens on a port: write it like \"127.0.0.1:9000\"", l.get_ref()));
                        None
                    }
                    Err(m) => {
                        diags.error(file, l.span(), m);
                        None
                    }
                },
                (None, Some(p)) => Some(SocketAddr::from(([0, 0, 0, 0], p))),
                (None, None) => {
                    diags.error(
                        file,
                        table.span(),
                        format!(
                            "{} input needs `listen` (an address and port like \"127.0.0.1:9000\")",
                            kind.article()
                        ),
                    );
                    None
                }
            }
        };
        let default_allow = match kind {
            InputKindName::Osc | InputKindName::Udp => vec![Ipv4Net::LOOPBACK],
            _ => vec![Ipv4Net::ANY],
        };
        let allow = match &r.allow {
            None => default_allow,
            Some(list) => {
                let mut nets = Vec::new();
                for a in list.get_ref() {
                    match Ipv4Net::parse(a.get_ref()) {
                        Ok(net) => nets.push(net),
                        Err(m) => diags.error(file, a.span(), m),
                    }
                }
                if list.get_ref().is_empty() {
                    diags.error(
                        file,
                        list.span(),
                        "`allow` is empty: nobody could send; list addresses or networks, or leave it out",
                    );
                }
                nets
            }
        };
        let kind_value = match kind {
            InputKindName::Sacn | InputKindName::Artnet => {
                let sacn = kind == InputKindName::Sacn;
                let Some(listen) = listen(Some(if sacn { SACN_PORT } else { ARTNET_PORT }), diags)
                else {
                    continue;
                };
                let Some(dmx) = compile_dmx(file, table, r, sacn, listen, sent, diags) else {
                    continue;
                };
                if sacn {
                    InputKind::Sacn(dmx)
                } else {
                    InputKind::Artnet(dmx)
                }
            }
            InputKindName::Osc | InputKindName::Udp => {
                let Some(listen) = listen(None, diags) else {
                    continue;
                };
                let p = PacketInput { listen };
                if kind == InputKindName::Osc {
                    InputKind::Osc(p)
                } else {
                    InputKind::Udp(p)
                }
            }
            InputKindName::Ltc | InputKindName::Mtc => {
                let Some(device) = &r.device else {
                    diags.error(
                        file,
                        table.span(),
                        format!(
                            "{} input needs `device` ({})",
                            kind.article(),
                            if kind == InputKindName::Ltc {
                                "an ALSA capture device like \"hw:1,0\""
                            } else {
                                "a raw MIDI device like \"/dev/snd/midiC1D0\""
                            }
                        ),
                    );
                    continue;
                };
                let d = device.get_ref().trim();
                if d.is_empty() || d.len() > 256 || d.chars().any(char::is_control) {
                    diags.error(
                        file,
                        device.span(),
                        "`device` is 1..256 printable characters",
                    );
                    continue;
                }
                let sample_rate = match &r.sample_rate {
                    None => 48_000,
                    Some(s) if (8_000..=192_000).contains(s.get_ref()) => *s.get_ref() as u32,
                    Some(s) => {
                        diags.error(
                            file,
                            s.span(),
                            format!("sample_rate {} is out of range 8000..192000", s.get_ref()),
                        );
                        continue;
                    }
                };
                let dev = DeviceInput {
                    device: d.to_string(),
                    sample_rate,
                };
                if kind == InputKindName::Ltc {
                    InputKind::Ltc(dev)
                } else {
                    InputKind::Mtc(dev)
                }
            }
        };
        out.push(Input {
            name,
            kind: kind_value,
            allow,
            span: table.span(),
        });
    }
    // Two inputs cannot share a port unless the daemon shares the socket:
    // two sACN or two Art-Net inputs on one address are one socket with
    // two universe maps, anything else on one port is a conflict.
    for (i, a) in out.iter().enumerate() {
        for b in &out[..i] {
            let (Some(la), Some(lb)) = (a.listen(), b.listen()) else {
                continue;
            };
            let overlap = la.port() == lb.port()
                && (la.ip() == lb.ip() || la.ip().is_unspecified() || lb.ip().is_unspecified());
            if overlap && a.kind_name() != b.kind_name() {
                diags.error(
                    file,
                    a.span.clone(),
                    format!(
                        "input `{}` listens on {} where input `{}` already listens: one port, one kind of input",
                        a.name, la, b.name
                    ),
                );
            }
        }
    }
    out
}

fn compile_dmx(
    file: &SourceFile,
    table: &Spanned<RawInput>,
    r: &RawInput,
    sacn: bool,
    listen: SocketAddr,
    sent: &[u16],
    diags: &mut Diagnostics,
) -> Option<DmxInput> {
    let what = if sacn { "an sACN" } else { "an Art-Net" };
    let Some(ul) = &r.universes else {
        diags.error(
            file,
            table.span(),
            format!("{what} input needs `universes` (the universes received, like \"1-2\")"),
        );
        return None;
    };
    let universes = match parse_universes(ul.get_ref()) {
        Ok(u) => u,
        Err(m) => {
            diags.error(file, ul.span(), m.replace("an output", "an input"));
            return None;
        }
    };
    if sacn && universes.first() == Some(&0) {
        diags.error(
            file,
            ul.span(),
            "sACN universe 0 does not exist: E1.31 universes are 1..63999",
        );
        return None;
    }
    if universes.len() > MAX_INPUT_UNIVERSES {
        diags.error(
            file,
            ul.span(),
            format!(
                "{} universes: an input receives at most {MAX_INPUT_UNIVERSES}",
                universes.len()
            ),
        );
        return None;
    }
    let to = match &r.to {
        None => universes.clone(),
        Some(t) => {
            let first = match t.get_ref() {
                RawUniverse::Number(n) => Some(*n),
                RawUniverse::Text(s) => s.trim().parse::<i64>().ok(),
            };
            let Some(first) = first.filter(|f| (0..=MAX_UNIVERSE as i64).contains(f)) else {
                diags.error(
                    file,
                    t.span(),
                    format!("`to` is the first site universe, 0..{MAX_UNIVERSE}"),
                );
                return None;
            };
            let last = first + universes.len() as i64 - 1;
            if last > MAX_UNIVERSE as i64 {
                diags.error(
                    file,
                    t.span(),
                    format!(
                        "{} universes from {first} run past universe {MAX_UNIVERSE}",
                        universes.len()
                    ),
                );
                return None;
            }
            (first..=last).map(|u| u as u16).collect()
        }
    };
    let span_to = r.to.as_ref().map_or(ul.span(), |t| t.span());
    let silent: Vec<u16> = to
        .iter()
        .copied()
        .filter(|u| sent.binary_search(u).is_err())
        .collect();
    if !silent.is_empty() {
        diags.warn(
            file,
            span_to,
            format!(
                "site universe{} {} {} sent by no output: what the console sends there goes nowhere",
                if silent.len() == 1 { "" } else { "s" },
                silent
                    .iter()
                    .take(8)
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if silent.len() == 1 { "is" } else { "are" }
            ),
        );
    }
    let min_priority = match &r.min_priority {
        None => 0,
        Some(p) if (0..=200).contains(p.get_ref()) => *p.get_ref() as u8,
        Some(p) => {
            diags.error(
                file,
                p.span(),
                format!(
                    "min_priority {} is out of range: E1.31 priorities are 0..200",
                    p.get_ref()
                ),
            );
            return None;
        }
    };
    let release = match &r.release {
        None => 2.0,
        Some(s) => match crate::units::parse_duration(s.get_ref()) {
            Ok(d) if d <= MAX_RELEASE_S => d,
            Ok(_) => {
                diags.error(file, s.span(), "release is 0s..60s");
                return None;
            }
            Err(m) => {
                diags.error(file, s.span(), m);
                return None;
            }
        },
    };
    Some(DmxInput {
        listen,
        interface: r.interface.as_ref().map(|i| i.get_ref().trim().to_string()),
        universes,
        to,
        mode: r
            .mode
            .as_ref()
            .map_or(MergeMode::Takeover, |m| *m.get_ref()),
        min_priority,
        release,
    })
}

fn warn_inapplicable(
    file: &SourceFile,
    r: &RawInput,
    kind: InputKindName,
    diags: &mut Diagnostics,
) {
    use InputKindName as K;
    let dmx = matches!(kind, K::Sacn | K::Artnet);
    let net = !matches!(kind, K::Ltc | K::Mtc);
    let keys: [(&str, Option<Range<usize>>, bool); 10] = [
        ("listen", r.listen.as_ref().map(|s| s.span()), net),
        (
            "interface",
            r.interface.as_ref().map(|s| s.span()),
            kind == K::Sacn,
        ),
        ("universes", r.universes.as_ref().map(|s| s.span()), dmx),
        ("to", r.to.as_ref().map(|s| s.span()), dmx),
        ("mode", r.mode.as_ref().map(|s| s.span()), dmx),
        (
            "min_priority",
            r.min_priority.as_ref().map(|s| s.span()),
            kind == K::Sacn,
        ),
        ("release", r.release.as_ref().map(|s| s.span()), dmx),
        ("allow", r.allow.as_ref().map(|s| s.span()), net),
        ("device", r.device.as_ref().map(|s| s.span()), !net),
        (
            "sample_rate",
            r.sample_rate.as_ref().map(|s| s.span()),
            kind == K::Ltc,
        ),
    ];
    for (key, span, applies) in keys {
        if let (Some(span), false) = (span, applies) {
            diags.warn(
                file,
                span,
                format!("`{key}` has no effect on {} input", kind.article()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;

    const HEAD: &str = "name = \"t\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n\
        [[outputs]]\nkind = \"artnet\"\ntarget = \"127.0.0.1\"\nuniverses = \"0-3\"\n";

    fn compile(text: &str) -> (Vec<Input>, Vec<String>) {
        let file = SourceFile::new("site.toml", format!("{HEAD}{text}"));
        let mut diags = Diagnostics::new();
        let site = crate::site::compile(&file, Default::default(), &mut diags);
        let msgs = diags
            .items
            .iter()
            .map(|d| {
                let w = if d.severity == Severity::Warning {
                    "warning: "
                } else {
                    ""
                };
                format!("{}:{}: {w}{}", d.line, d.col, d.message)
            })
            .collect();
        (site.map(|s| s.inputs).unwrap_or_default(), msgs)
    }

    #[test]
    fn every_kind_compiles_with_its_defaults() {
        let (inputs, msgs) = compile(
            r#"
[[inputs]]
kind = "sacn"
universes = "1-2"
to = 0
mode = "htp"
min_priority = 100
release = "1.5s"
interface = "eth1"

[[inputs]]
kind = "artnet"
universes = [2, 3]

[[inputs]]
kind = "osc"
listen = "127.0.0.1:9000"

[[inputs]]
kind = "udp"
name = "kiosk"
listen = "0.0.0.0:9001"
allow = ["10.0.4.0/24", "127.0.0.1"]

[[inputs]]
kind = "ltc"
device = "hw:1,0"

[[inputs]]
kind = "mtc"
device = "/dev/snd/midiC1D0"
"#,
        );
        assert!(msgs.is_empty(), "{msgs:?}");
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["sacn", "artnet", "osc", "kiosk", "ltc", "mtc"]);
        let s = inputs[0].dmx().unwrap();
        assert_eq!(s.listen, "0.0.0.0:5568".parse().unwrap());
        assert_eq!(
            (s.universes.clone(), s.to.clone()),
            (vec![1, 2], vec![0, 1])
        );
        assert_eq!(
            (s.mode, s.min_priority, s.release),
            (MergeMode::Htp, 100, 1.5)
        );
        assert_eq!(s.site_universe(2), Some(1));
        assert_eq!(s.site_universe(3), None);
        assert_eq!(s.interface.as_deref(), Some("eth1"));
        let a = inputs[1].dmx().unwrap();
        assert_eq!((a.listen.port(), a.to.clone()), (6454, vec![2, 3]));
        assert_eq!((a.mode, a.release), (MergeMode::Takeover, 2.0));
        assert!(inputs[1].allows("10.9.9.9".parse().unwrap()));
        assert!(inputs[2].allows("127.0.0.1".parse().unwrap()));
        assert!(
            !inputs[2].allows("10.0.4.3".parse().unwrap()),
            "OSC: loopback only by default"
        );
        assert!(inputs[3].allows("10.0.4.3".parse().unwrap()));
        assert!(!inputs[3].allows("10.0.5.3".parse().unwrap()));
        assert_eq!(inputs[2].listen(), Some("127.0.0.1:9000".parse().unwrap()));
        assert!(matches!(&inputs[4].kind, InputKind::Ltc(d) if d.sample_rate == 48_000));
        assert_eq!(by_kind(&inputs, InputKindName::Osc).count(), 1);
    }

    #[test]
    fn bad_inputs_are_located() {
        let (_, msgs) = compile(
            r#"
[[inputs]]
kind = "sacn"
universes = "0-1"

[[inputs]]
kind = "osc"

[[inputs]]
kind = "udp"
listen = "127.0.0.1:9100"
allow = ["10.0.4.1/24"]
universes = 3

[[inputs]]
kind = "artnet"
universes = "1-2"
to = 32767
release = "2 weeks"

[[inputs]]
kind = "sacn"
universes = 9
min_priority = 201

[[inputs]]
kind = "ltc"

[[inputs]]
kind = "midi"
"#,
        );
        let all = msgs.join("\n");
        for want in [
            "12:13: sACN universe 0 does not exist",
            "14:1: an `osc` input needs `listen`",
            "20:10: `10.0.4.1/24` has host bits set: the network is 10.0.4.0/24",
            "21:13: warning: `universes` has no effect on a `udp` input",
            "26:6: 2 universes from 32767 run past universe 32767",
            "32:16: min_priority 201 is out of range",
            "34:1: an `ltc` input needs `device`",
            "38:8: unknown variant `midi`",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }

    #[test]
    fn names_are_unique_and_ports_have_one_kind() {
        let (_, msgs) = compile(
            r#"
[[inputs]]
kind = "osc"
listen = "127.0.0.1:9000"

[[inputs]]
kind = "udp"
listen = "0.0.0.0:9000"

[[inputs]]
kind = "osc"
name = "osc"
listen = "127.0.0.1:9002"
"#,
        );
        let all = msgs.join("\n");
        assert!(
            all.contains("input `udp` listens on 0.0.0.0:9000 where input `osc` already listens"),
            "{all}"
        );
        assert!(all.contains("input `osc` is declared twice"), "{all}");
    }

    #[test]
    fn a_universe_no_output_sends_is_warned() {
        let (inputs, msgs) = compile("[[inputs]]\nkind = \"sacn\"\nuniverses = \"1-2\"\nto = 3\n");
        assert_eq!(inputs.len(), 1);
        assert_eq!(msgs, ["12:6: warning: site universe 4 is sent by no output: what the console sends there goes nowhere"]);
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = Ipv4Net::parse("10.0.4.0/24").unwrap();
        assert!(n.contains("10.0.4.77".parse().unwrap()));
        assert!(!n.contains("10.0.5.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Ipv4Net::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        assert!(!Ipv4Net::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.2".parse().unwrap()));
        assert!(Ipv4Net::ANY.contains("8.8.8.8".parse().unwrap()));
        assert!(Ipv4Net::parse("10.0.4.1/24")
            .unwrap_err()
            .contains("10.0.4.0/24"));
        assert!(Ipv4Net::parse("10.0.4.0/33").is_err());
        assert!(Ipv4Net::parse("eth0").is_err());
    }
}
