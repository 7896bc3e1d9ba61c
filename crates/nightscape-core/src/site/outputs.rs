//! `[[outputs]]`: where frames go. Each table names a protocol (Art-Net,
//! sACN, an ENTTEC DMX USB Pro or Open DMX widget), the site universes it
//! carries and, for the network protocols, the wire universe each goes out
//! as (`remap`, `wire_offset`), checked against the protocol's range. Keys
//! that do not apply to a kind are warned about, not refused, so a designer
//! can switch an output between protocols by changing one line.

use super::targets::{
    format_universes, parse_target, parse_target_or_host, parse_universes, Target, UniverseList,
};
use super::{fleet, rdm};
use crate::diag::{Diagnostics, SourceFile, Spanned};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

/// Where frames go. The wire details live in `crate::output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    pub kind: OutputKind,
    /// Site universes this output carries, sorted.
    pub universes: Vec<u16>,
    /// The universe number on the wire for each entry of `universes`, in the
    /// same order: the same numbers unless the output has a `remap` or a
    /// `wire_offset` (Art-Net Port-Address, sACN universe; unused by the
    /// serial widgets, which carry one universe without a number).
    pub wire: Vec<u16>,
    /// The `[[nodes]]` entry that sends this output (`None` in a site
    /// without nodes, where the one controller sends everything).
    pub node: Option<String>,
    /// Network outputs: the local address to send from (`bind`), so
    /// traffic leaves on the lighting network.
    pub bind: Option<std::net::IpAddr>,
    /// Network outputs: the interface to send on (`interface = "eth1"`).
    pub interface: Option<String>,
    /// sACN: send stream-termination packets on stop (the default);
    /// `shutdown = "hold"` on the output leaves the stream to time out.
    pub terminate_on_stop: bool,
    /// Art-Net with `sync = true`: where ArtSync goes (`sync_to`): `None`
    /// to the target itself; else an address, e.g. the directed broadcast
    /// of the nodes' subnet, as Art-Net 4's strategy asks when ArtDmx is
    /// unicast to several nodes that must switch together.
    pub artsync_to: Option<SocketAddr>,
    /// Network outputs whose `target` is a host name (`node-3.city.lan`,
    /// `localhost`): the name. Loading a site never looks it up (check and
    /// hot reload must not wait on a resolver); the output resolves it when
    /// it opens and again after a send fails. Until then the kind's target
    /// address is the unspecified address with the port.
    pub host: Option<String>,
    /// Ask this output's DMX line for its fixtures over RDM (`rdm = true`;
    /// Art-Net and ENTTEC DMX USB Pro only, see [`rdm`]).
    pub rdm: bool,
}

/// The directed broadcast of `ip`'s network for ArtSync: the Art-Net
/// convention's /8 for 2.x and 10.x, /24 otherwise (write the address
/// itself for any other mask).
pub fn artnet_broadcast(ip: std::net::Ipv4Addr) -> std::net::Ipv4Addr {
    let o = ip.octets();
    if o[0] == 2 || o[0] == 10 {
        std::net::Ipv4Addr::new(o[0], 255, 255, 255)
    } else {
        std::net::Ipv4Addr::new(o[0], o[1], o[2], 255)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    ArtNet {
        target: SocketAddr,
        sync: bool,
        /// Send a universe only when its data changed, and at least once a
        /// second (`only_changed = true`); default: every universe, every frame.
        only_changed: bool,
    },
    Sacn {
        target: SacnTarget,
        priority: u8,
        /// The universe sync packets go to; `Some` when `sync = true`.
        sync_address: Option<u16>,
        /// Source name on the wire; `None` means "nightscape <site name>".
        source_name: Option<String>,
        /// Send a universe only when its data changed (three repeats after
        /// a change, then a keep-alive about every 0.9 s, as E1.31 section
        /// 6.6.2 asks); default: every universe, every frame.
        only_changed: bool,
    },
    EnttecPro {
        port: String,
    },
    OpenDmx {
        port: String,
    },
}

/// Where an sACN output sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SacnTarget {
    /// One receiver (or a directed broadcast), port 5568 unless given.
    Unicast(SocketAddr),
    /// Each universe to its group 239.255.hi.lo:5568 (E1.31 section 9.3.1).
    Multicast,
}

impl std::fmt::Display for SacnTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SacnTarget::Unicast(a) => write!(f, "{a}"),
            SacnTarget::Multicast => f.write_str("multicast"),
        }
    }
}

/// Which protocol or widget an output speaks, as written in `kind`.
///
/// Read by hand rather than derived so that a word this build does not
/// know keeps its own message at the word ("unknown output kind `dmx`:
/// use artnet, …") instead of serde's generic "unknown variant"; the names
/// come from `as_str`, which a test holds to the serde names the schema
/// lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OutputKindName {
    /// Art-Net: ArtDmx to a node or a broadcast address.
    Artnet,
    /// sACN (E1.31), unicast or multicast.
    Sacn,
    /// An ENTTEC DMX USB Pro widget on a serial port; one universe.
    EnttecPro,
    /// An Open DMX USB widget on a serial port; one universe.
    OpenDmx,
}

impl OutputKindName {
    /// Every kind, in the order messages list them.
    pub(crate) const ALL: [OutputKindName; 4] = [
        OutputKindName::Artnet,
        OutputKindName::Sacn,
        OutputKindName::EnttecPro,
        OutputKindName::OpenDmx,
    ];

    /// The name as written in the site file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutputKindName::Artnet => "artnet",
            OutputKindName::Sacn => "sacn",
            OutputKindName::EnttecPro => "enttec-pro",
            OutputKindName::OpenDmx => "open-dmx",
        }
    }

    /// Art-Net and sACN go over the network; the widgets over a serial port.
    fn is_network(self) -> bool {
        matches!(self, OutputKindName::Artnet | OutputKindName::Sacn)
    }

    /// "an artnet output", "a sacn output": the kind with its article.
    fn with_article(self) -> String {
        let kind = self.as_str();
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {kind} output")
    }
}

impl std::fmt::Display for OutputKindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OutputKindName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The reader's limits bound the word's length before serde sees it.
        let word = String::deserialize(d)?;
        OutputKindName::ALL
            .into_iter()
            .find(|k| k.as_str() == word)
            .ok_or_else(|| {
                let names: Vec<&str> = OutputKindName::ALL.iter().map(|k| k.as_str()).collect();
                let (last, rest) = names.split_last().expect("ALL is not empty");
                serde::de::Error::custom(format!(
                    "unknown output kind `{word}`: use {} or {last}",
                    rest.join(", ")
                ))
            })
    }
}

/// One `[[outputs]]` table as written. Which keys apply depends on `kind`;
/// a key that does not apply is warned about, not rejected, so a designer
/// can switch an output between protocols by changing one line.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    /// The protocol: "artnet", "sacn", "enttec-pro" or "open-dmx".
    #[schemars(example = &"artnet")]
    pub(super) kind: Spanned<OutputKindName>,
    /// Network outputs: the node's IP (and port), or "multicast" for sACN.
    #[serde(default)]
    #[schemars(example = &"10.0.4.20")]
    pub(super) target: Option<Spanned<String>>,
    /// Serial widgets: the serial port.
    #[serde(default)]
    #[schemars(example = &"/dev/ttyUSB0")]
    pub(super) port: Option<Spanned<String>>,
    /// The site universes this output carries: 3, "0-9", "0-3,8,10-11" or [0, 1, 2].
    #[schemars(example = &"0-9")]
    pub(super) universes: Spanned<UniverseList>,
    /// Art-Net: ArtSync after each frame; sACN: universe synchronisation.
    #[serde(default)]
    #[schemars(example = true)]
    pub(super) sync: Option<Spanned<bool>>,
    /// sACN: the universe sync packets go to, 1..63999 (default: the first wire universe).
    #[serde(default)]
    #[schemars(example = 64, range(min = 1, max = 63999))]
    pub(super) sync_address: Option<Spanned<i64>>,
    /// Art-Net: send a universe only when its data changed (and every 0.8 s
    /// as a keep-alive); default false (every universe, every frame).
    #[serde(default)]
    #[schemars(example = true)]
    pub(super) only_changed: Option<Spanned<bool>>,
    /// sACN priority, 0..200 (default 100).
    #[serde(default)]
    #[schemars(example = 100, range(min = 0, max = 200))]
    pub(super) priority: Option<Spanned<i64>>,
    /// sACN source name (default "nightscape <site name>").
    #[serde(default)]
    #[schemars(example = &"axis east")]
    pub(super) source_name: Option<Spanned<String>>,
    /// Site universe → wire universe, e.g. `{ 0 = 100, 1 = 101 }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, i64>", example = serde_json::json!({ "0": 100, "1": 101 }))]
    pub(super) remap: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    /// Added to every site universe on the wire (may be negative).
    #[serde(default)]
    #[schemars(example = 1)]
    pub(super) wire_offset: Option<Spanned<i64>>,
    /// The `[[nodes]]` entry that sends this output.
    #[serde(default)]
    #[schemars(example = &"bridge-2")]
    pub(super) node: Option<Spanned<String>>,
    /// Network outputs: the local address to send from.
    #[serde(default)]
    #[schemars(example = &"10.0.4.1")]
    pub(super) bind: Option<Spanned<String>>,
    /// Network outputs: the interface to send on (Linux).
    #[serde(default)]
    #[schemars(example = &"eth1")]
    pub(super) interface: Option<Spanned<String>>,
    /// sACN only: "terminate" (default) or "hold" on stop.
    #[serde(default)]
    #[schemars(example = &"hold", extend("enum" = ["terminate", "hold"]))]
    pub(super) shutdown: Option<Spanned<String>>,
    /// Art-Net only: where ArtSync goes: "target" (default), "broadcast" or an address.
    #[serde(default)]
    #[schemars(example = &"broadcast")]
    pub(super) sync_to: Option<Spanned<String>>,
    /// Art-Net and ENTTEC DMX USB Pro: find this line's fixtures over RDM
    /// and watch them (`[rdm]`); default false.
    #[serde(default)]
    #[schemars(example = true)]
    pub(super) rdm: Option<Spanned<bool>>,
}

/// Highest Port-Address Art-Net can carry (15 bits).
const ARTNET_MAX_WIRE: u16 = 32767;
/// sACN universes on the wire: 1..=63999 (E1.31 section 6.2.7; 0 and
/// 64000.. are reserved).
const SACN_WIRE: (u16, u16) = (1, 63999);

/// Parse the `[[outputs]]` tables. Each problem is reported at its key; an
/// output with an error is left out (the site then fails to load, so the
/// daemon keeps its last good configuration).
///
/// The keys, by kind (all kinds take `universes`: `3`, `"0-9"`,
/// `"0-3,8"` or `[0, 1]`):
///
/// ```toml
/// [[outputs]]
/// kind = "artnet"             # ArtDmx to a node or a broadcast address
/// target = "10.0.4.10"        # port 6454 unless given ("10.0.4.10:6454")
/// universes = "0-9"
/// sync = true                 # ArtSync after each frame
/// only_changed = false        # true: a universe only when it changed (and ≥ 1/s)
///
/// [[outputs]]
/// kind = "sacn"               # E1.31
/// target = "10.0.4.20"        # a receiver (port 5568 unless given), or "multicast"
/// universes = "10-19"
/// priority = 100              # 0..200, default 100
/// sync = true                 # sync packets after each frame, on
/// sync_address = 64           #   this universe (default: the first wire universe)
/// source_name = "axis east"   # default "nightscape <site name>"
/// only_changed = false        # true: a universe when it changed (3 repeats, then ≈ 0.9 s keep-alive)
///
/// [[outputs]]
/// kind = "enttec-pro"         # or "open-dmx"; one universe each
/// port = "/dev/ttyUSB0"
/// universes = 20
/// ```
///
/// Network outputs may send a site universe under another number on the
/// wire: `remap = { 0 = 100, 1 = 101 }` names site universe → wire universe
/// one by one (universes not named keep their number), `wire_offset = 100`
/// adds the same amount to all (negative is allowed); not both. The wire
/// numbers must fit the protocol: Art-Net Port-Addresses 0..32767, sACN
/// universes 1..63999 (so site universe 0 needs a remap to go out as sACN).
/// Keys that do not apply to a kind are warned about and ignored. A site
/// universe sent by two outputs is a warning at the second one.
pub(super) fn compile_outputs(
    file: &SourceFile,
    raw: &[Spanned<RawOutput>],
    nodes: &[fleet::NodeSpec],
    diags: &mut Diagnostics,
) -> Vec<OutputConfig> {
    let mut outputs = Vec::new();
    // Site universe → (1-based number of the first output sending it, its kind).
    let mut first_sender: BTreeMap<u16, (usize, OutputKindName)> = BTreeMap::new();
    for (n, o) in raw.iter().enumerate() {
        let ro = o.get_ref();
        let kind_name = *ro.kind.get_ref();
        let universes = match parse_universes(ro.universes.get_ref()) {
            Ok(u) => u,
            Err(m) => {
                diags.error(file, ro.universes.span(), m);
                continue;
            }
        };
        warn_inapplicable_keys(file, ro, kind_name, diags);
        let need = |field: &Option<Spanned<String>>,
                    what: &str,
                    hint: &str,
                    diags: &mut Diagnostics|
         -> Option<(String, Range<usize>)> {
            match field {
                Some(s) => Some((s.get_ref().clone(), s.span())),
                None => {
                    diags.error(
                        file,
                        o.span(),
                        format!("{} needs `{what}`{hint}", kind_name.with_article()),
                    );
                    None
                }
            }
        };
        let mut host: Option<String> = None;
        let (kind, wire) = match kind_name {
            OutputKindName::Artnet => {
                let wire =
                    wire_universes(file, ro, &universes, (0, ARTNET_MAX_WIRE), "Art-Net", diags);
                let kind = need(&ro.target, "target", " (an IP like \"10.0.4.20\")", diags)
                    .and_then(|(t, span)| match parse_target_or_host(&t, 6454) {
                        Ok(target) => Some(OutputKind::ArtNet {
                            target: unresolved(target, &mut host),
                            sync: ro.sync.as_ref().is_some_and(|s| *s.get_ref()),
                            only_changed: ro.only_changed.as_ref().is_some_and(|s| *s.get_ref()),
                        }),
                        Err(m) => {
                            diags.error(file, span, m);
                            None
                        }
                    });
                (kind, wire)
            }
            OutputKindName::Sacn => {
                let wire = wire_universes(file, ro, &universes, SACN_WIRE, "sACN", diags);
                let priority = match &ro.priority {
                    None => Some(100),
                    Some(p) if (0..=200).contains(p.get_ref()) => Some(*p.get_ref() as u8),
                    Some(p) => {
                        diags.error(
                            file,
                            p.span(),
                            format!("sACN priority {} is out of range: E1.31 allows 0..200 (default 100)", p.get_ref()),
                        );
                        None
                    }
                };
                let target = need(
                    &ro.target,
                    "target",
                    " (a receiver's IP like \"10.0.4.20\", or \"multicast\")",
                    diags,
                )
                .and_then(|(t, span)| {
                    if t.trim().eq_ignore_ascii_case("multicast") {
                        return Some(SacnTarget::Multicast);
                    }
                    match parse_target_or_host(&t, 5568) {
                        Ok(a) => Some(SacnTarget::Unicast(unresolved(a, &mut host))),
                        Err(m) => {
                            diags.error(file, span, format!("{m}, or \"multicast\""));
                            None
                        }
                    }
                });
                // `sync_address` alone turns synchronisation on; `sync = false`
                // beside it wins and is pointed out.
                let sync = match (&ro.sync, &ro.sync_address) {
                    (Some(s), Some(a)) if !*s.get_ref() => {
                        diags.warn(
                            file,
                            a.span(),
                            "`sync_address` is ignored because `sync = false`",
                        );
                        false
                    }
                    (Some(s), _) => *s.get_ref(),
                    (None, a) => a.is_some(),
                };
                let sync_address = match (&ro.sync_address, sync) {
                    (_, false) => Some(None),
                    (Some(a), true) => {
                        let v = *a.get_ref();
                        if (i64::from(SACN_WIRE.0)..=i64::from(SACN_WIRE.1)).contains(&v) {
                            Some(Some(v as u16))
                        } else {
                            diags.error(
                                file,
                                a.span(),
                                format!(
                                    "sync_address {v} is out of range: sACN universes are 1..63999"
                                ),
                            );
                            None
                        }
                    }
                    // Default: the output's first wire universe. E1.31 lets
                    // sync packets share a universe with data (they carry a
                    // different vector), and receivers already listen there.
                    (None, true) => Some(wire.as_ref().and_then(|w| w.first().copied())),
                };
                let source_name = ro.source_name.as_ref().map(|s| s.get_ref().clone());
                let kind = match (target, priority, sync_address) {
                    (Some(target), Some(priority), Some(sync_address)) => Some(OutputKind::Sacn {
                        target,
                        priority,
                        sync_address,
                        source_name,
                        only_changed: ro.only_changed.as_ref().is_some_and(|s| *s.get_ref()),
                    }),
                    _ => None,
                };
                (kind, wire)
            }
            OutputKindName::EnttecPro | OutputKindName::OpenDmx => {
                if universes.len() != 1 {
                    diags.error(
                        file,
                        ro.universes.span(),
                        format!(
                            "{} drives one universe (the widget has one DMX port); this one lists {}",
                            kind_name.with_article(),
                            format_universes(&universes)
                        ),
                    );
                }
                let kind = need(
                    &ro.port,
                    "port",
                    " (a serial device like \"/dev/ttyUSB0\")",
                    diags,
                )
                .filter(|_| universes.len() == 1)
                .map(|(port, _)| {
                    if kind_name == OutputKindName::EnttecPro {
                        OutputKind::EnttecPro { port }
                    } else {
                        OutputKind::OpenDmx { port }
                    }
                });
                (kind, Some(universes.clone()))
            }
        };
        let node = match (&ro.node, nodes.is_empty()) {
            (None, true) => Some(None),
            (None, false) => {
                diags.error(
                    file,
                    o.span(),
                    "this site has [[nodes]]: every output names the node that sends it (`node = \"name\"`)",
                );
                None
            }
            (Some(n), _) if nodes.iter().any(|x| x.name == *n.get_ref()) => {
                Some(Some(n.get_ref().clone()))
            }
            (Some(n), _) => {
                let known: Vec<&str> = nodes.iter().map(|x| x.name.as_str()).collect();
                diags.error(
                    file,
                    n.span(),
                    if known.is_empty() {
                        format!(
                            "unknown node `{}`: declare it in a [[nodes]] table",
                            n.get_ref()
                        )
                    } else {
                        format!(
                            "unknown node `{}` (the site has: {}){}",
                            n.get_ref(),
                            known.join(", "),
                            crate::suggest::hint(n.get_ref(), known.iter().map(|k| k.as_ref()))
                        )
                    },
                );
                None
            }
        };
        let bind = match &ro.bind {
            None => Some(None),
            Some(b) => {
                match b.get_ref().trim().parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(Some(ip)),
                    Err(_) => {
                        diags.error(
                        file,
                        b.span(),
                        format!("bind `{}` is not an IP address of this machine (like \"10.0.4.1\")", b.get_ref()),
                    );
                        None
                    }
                }
            }
        };
        let interface = match &ro.interface {
            Some(i)
                if i.get_ref().is_empty()
                    || i.get_ref().len() > 15
                    || i.get_ref().contains(['/', ' ']) =>
            {
                diags.error(
                    file,
                    i.span(),
                    format!(
                        "interface `{}` is not a network interface name (like \"eth1\")",
                        i.get_ref()
                    ),
                );
                None
            }
            i => Some(i.as_ref().map(|i| i.get_ref().clone())),
        };
        let terminate_on_stop = match &ro.shutdown {
            None => Some(true),
            Some(w) if w.get_ref() == "terminate" => Some(true),
            Some(w) if w.get_ref() == "hold" => Some(false),
            Some(w) => {
                diags.error(
                    file,
                    w.span(),
                    format!("shutdown `{}`: an sACN output takes \"terminate\" (the default: receivers apply their loss behaviour at once) or \"hold\" (no termination: receivers keep the last data until their own loss timeout)", w.get_ref()),
                );
                None
            }
        };
        let artsync_to = match (&ro.sync_to, &kind) {
            (None, _) => Some(None),
            (Some(t), Some(OutputKind::ArtNet { .. }))
                if host.is_some() && t.get_ref().trim() == "broadcast" =>
            {
                diags.error(
                    file,
                    t.span(),
                    "sync_to = \"broadcast\" needs an IP target (a host name is looked up only when the output opens): write the broadcast address",
                );
                None
            }
            (Some(t), Some(OutputKind::ArtNet { target, .. })) => match t.get_ref().trim() {
                "target" => Some(None),
                "broadcast" => match target.ip() {
                    std::net::IpAddr::V4(v4) => Some(Some(SocketAddr::new(
                        std::net::IpAddr::V4(artnet_broadcast(v4)),
                        target.port(),
                    ))),
                    std::net::IpAddr::V6(_) => {
                        diags.error(
                            file,
                            t.span(),
                            "sync_to = \"broadcast\" needs an IPv4 target",
                        );
                        None
                    }
                },
                other => match parse_target(other, 6454) {
                    Ok(a) => Some(Some(a)),
                    Err(m) => {
                        diags.error(
                            file,
                            t.span(),
                            format!("sync_to: {m}, or \"target\" or \"broadcast\""),
                        );
                        None
                    }
                },
            },
            (Some(_), _) => Some(None),
        };
        let (
            Some(kind),
            Some(wire),
            Some(node),
            Some(bind),
            Some(interface),
            Some(terminate_on_stop),
            Some(artsync_to),
        ) = (
            kind,
            wire,
            node,
            bind,
            interface,
            terminate_on_stop,
            artsync_to,
        )
        else {
            continue;
        };

        // A universe sent by two outputs is legal (mirroring to a
        // visualiser, or moving a street from one node to another) but is
        // more often a copy-paste slip, so it is a warning.
        let mut shared: BTreeMap<usize, (OutputKindName, Vec<u16>)> = BTreeMap::new();
        for &u in &universes {
            match first_sender.get(&u) {
                Some(&(k, kind)) => shared
                    .entry(k)
                    .or_insert_with(|| (kind, Vec::new()))
                    .1
                    .push(u),
                None => {
                    first_sender.insert(u, (n + 1, kind_name));
                }
            }
        }
        for (k, (other_kind, us)) in shared {
            let plural = if us.len() == 1 {
                "universe"
            } else {
                "universes"
            };
            diags.warn(
                file,
                o.span(),
                format!(
                    "{plural} {} also sent by output #{k} ({other_kind}): two outputs will drive the same fixtures; remove them from one unless that is a deliberate mirror",
                    format_universes(&us)
                ),
            );
        }
        outputs.push(OutputConfig {
            kind,
            universes,
            wire,
            node,
            bind,
            interface,
            terminate_on_stop,
            artsync_to,
            host,
            rdm: rdm::output_rdm(file, ro, kind_name, diags),
        });
    }
    outputs
}

/// The address to keep in the output's kind: the IP as written, or, for a
/// host name (kept in `host`), the unspecified address with its port.
fn unresolved(target: Target, host: &mut Option<String>) -> SocketAddr {
    match target {
        Target::Ip(a) => a,
        Target::Host(name, port) => {
            *host = Some(name);
            SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), port)
        }
    }
}

/// Warn about keys that mean nothing for this kind of output.
fn warn_inapplicable_keys(
    file: &SourceFile,
    ro: &RawOutput,
    kind: OutputKindName,
    diags: &mut Diagnostics,
) {
    let network = kind.is_network();
    let artnet = kind == OutputKindName::Artnet;
    let sacn = kind == OutputKindName::Sacn;
    let keys: [(&str, Option<Range<usize>>, bool); 13] = [
        ("sync_to", ro.sync_to.as_ref().map(|s| s.span()), artnet),
        ("bind", ro.bind.as_ref().map(|s| s.span()), network),
        (
            "interface",
            ro.interface.as_ref().map(|s| s.span()),
            network,
        ),
        ("shutdown", ro.shutdown.as_ref().map(|s| s.span()), sacn),
        ("target", ro.target.as_ref().map(|s| s.span()), network),
        (
            "only_changed",
            ro.only_changed.as_ref().map(|s| s.span()),
            network,
        ),
        ("port", ro.port.as_ref().map(|s| s.span()), !network),
        ("sync", ro.sync.as_ref().map(|s| s.span()), network),
        (
            "sync_address",
            ro.sync_address.as_ref().map(|s| s.span()),
            sacn,
        ),
        ("priority", ro.priority.as_ref().map(|s| s.span()), sacn),
        (
            "source_name",
            ro.source_name.as_ref().map(|s| s.span()),
            sacn,
        ),
        ("remap", ro.remap.as_ref().map(|s| s.span()), network),
        (
            "wire_offset",
            ro.wire_offset.as_ref().map(|s| s.span()),
            network,
        ),
    ];
    for (key, span, applies) in keys {
        if let (Some(span), false) = (span, applies) {
            diags.warn(
                file,
                span,
                format!(
                    "`{key}` has no meaning for {} and is ignored",
                    kind.with_article()
                ),
            );
        }
    }
}

/// The wire universe for each site universe of a network output: `remap`
/// entries, else site universe + `wire_offset`, else the same number; each
/// must fit the protocol's range `lo..=hi`, and two site universes may not
/// land on the same wire universe.
fn wire_universes(
    file: &SourceFile,
    ro: &RawOutput,
    universes: &[u16],
    (lo, hi): (u16, u16),
    proto: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<u16>> {
    let range_msg = |v: i64, what: &str| {
        let mut m = format!("{what} {v} is out of range: {proto} universes are {lo}..{hi}");
        if proto == "sACN" && v == 0 {
            m.push_str(" (E1.31 reserves 0): carry site universe 0 with `wire_offset = 1` or `remap = { 0 = 1 }`");
        }
        m
    };
    let in_range = |v: i64| (i64::from(lo)..=i64::from(hi)).contains(&v);
    let mut ok = true;
    let mut wire: Vec<u16> = universes.to_vec();
    let mut spans: Vec<Range<usize>> = vec![ro.universes.span(); universes.len()];
    match (&ro.remap, &ro.wire_offset) {
        (Some(_), Some(off)) => {
            diags.error(
                file,
                off.span(),
                "use either `remap` or `wire_offset`, not both",
            );
            return None;
        }
        (Some(remap), None) => {
            for (key, to) in remap.get_ref() {
                let Some(i) = key
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .and_then(|u| universes.iter().position(|&x| x == u))
                else {
                    diags.error(
                        file,
                        to.span(),
                        format!(
                            "remap names universe `{key}`, which this output does not carry (it carries {})",
                            format_universes(universes)
                        ),
                    );
                    ok = false;
                    continue;
                };
                let v = *to.get_ref();
                if !in_range(v) {
                    diags.error(file, to.span(), range_msg(v, "remapped universe"));
                    ok = false;
                    continue;
                }
                wire[i] = v as u16;
                spans[i] = to.span();
            }
        }
        (None, Some(off)) => {
            for (i, &u) in universes.iter().enumerate() {
                let v = i64::from(u) + *off.get_ref();
                if !in_range(v) {
                    diags.error(
                        file,
                        off.span(),
                        range_msg(
                            v,
                            &format!("universe {u} + wire_offset {} =", off.get_ref()),
                        ),
                    );
                    return None;
                }
                wire[i] = v as u16;
                spans[i] = off.span();
            }
        }
        (None, None) => {}
    }
    if !ok {
        return None;
    }
    // Where each wire universe first appears (u16: a table, not a search
    // per universe: 10,000 universes made that 50 M comparisons).
    let mut first_at = vec![usize::MAX; usize::from(u16::MAX) + 1];
    for (i, &w) in wire.iter().enumerate() {
        if !in_range(i64::from(w)) {
            diags.error(file, spans[i].clone(), range_msg(i64::from(w), "universe"));
            return None;
        }
        let seen = std::mem::replace(&mut first_at[usize::from(w)], i);
        if let Some(j) = (seen != usize::MAX).then_some(seen) {
            diags.error(
                file,
                spans[i].clone(),
                format!(
                    "site universes {} and {} would both go out as {proto} universe {w}",
                    universes[j], universes[i]
                ),
            );
            return None;
        }
    }
    Some(wire)
}

#[cfg(test)]
mod tests {
    use super::OutputKindName;
    use crate::diag::{Diagnostics, SourceFile};

    /// `as_str` (what the parser accepts and messages print) is the serde
    /// name the site schema lists, kind for kind.
    #[test]
    fn output_kind_names_are_the_serde_names_the_schema_lists() {
        let schema = crate::schema::schema_of::<OutputKindName>().to_string();
        for k in OutputKindName::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert!(
                schema.contains(&format!("\"{}\"", k.as_str())),
                "{k} missing from {schema}"
            );
        }
    }

    /// Every kind reads back from its name; an unknown one is an error at
    /// the word naming the kinds there are, and the rest of the file is
    /// still read (the second output's problem is reported too).
    #[test]
    fn output_kinds_read_by_name_and_an_unknown_one_names_the_choices() {
        let load = |kind: &str| {
            let text = format!(
                "name = \"t\"\nlatitude = 25.0\nlongitude = 102.7\ntimezone = \"Asia/Shanghai\"\n\
                 [[outputs]]\nkind = \"{kind}\"\nuniverses = 1\n\
                 [[outputs]]\nkind = \"sacn\"\ntarget = \"10.0.0.2\"\nuniverses = 2\npriority = 300\n"
            );
            let mut d = Diagnostics::new();
            let lib = crate::site::parse_profiles(&[], &mut d);
            let site = crate::site::compile(&SourceFile::new("site.toml", &text), lib, &mut d);
            (site.map(|s| s.outputs.len()), d.to_string())
        };
        for k in OutputKindName::ALL {
            let (_, d) = load(k.as_str());
            assert!(!d.contains("unknown output kind"), "{k}: {d}");
        }
        let (_, d) = load("dmx-over-pigeon");
        assert!(
            d.contains("site.toml:6:8: unknown output kind `dmx-over-pigeon`: use artnet, sacn, enttec-pro or open-dmx\n"),
            "{d}"
        );
        assert!(
            d.contains("site.toml:12:12: sACN priority 300 is out of range"),
            "{d}"
        );
        assert!(!d.contains("missing field"), "{d}");
    }
}
