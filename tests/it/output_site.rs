//! The `[[outputs]]` section of a site file: every kind with its keys, the
//! wire remap (`remap`, `wire_offset`) and its range checks per protocol,
//! sACN target/priority/sync, serial widgets limited to one universe, and
//! the `check` warnings (a universe sent by two outputs, a key that does
//! not apply) located at file:line:col. ArtSync to a shared address, which
//! opens the outputs and reads their packets, is a unit test beside
//! `open_all` (src/output/tests_artsync.rs).

use nightscape_core::diag::{Diagnostics, Severity, SourceFile};
use nightscape_core::site::{self, OutputKind, SacnTarget, Site};

const HEAD: &str = "name = \"t\"\nlatitude = 1\nlongitude = 2\ntimezone = \"UTC\"\n";

fn compile(outputs: &str) -> (Option<Site>, Vec<String>) {
    let file = SourceFile::new("site.toml", format!("{HEAD}{outputs}"));
    let mut diags = Diagnostics::new();
    let site = site::compile(&file, Default::default(), &mut diags);
    let msgs = diags
        .items
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>();
    // Errors and a missing site go together.
    assert_eq!(
        site.is_none(),
        diags.items.iter().any(|d| d.severity == Severity::Error),
        "{msgs:?}"
    );
    (site, msgs)
}

fn ok(outputs: &str) -> (Site, Vec<String>) {
    let (s, m) = compile(outputs);
    (s.unwrap_or_else(|| panic!("{m:?}")), m)
}

fn errors(outputs: &str) -> Vec<String> {
    let (s, m) = compile(outputs);
    assert!(s.is_none(), "expected errors, got a site; {m:?}");
    m
}

#[test]
fn every_kind_parses_with_defaults() {
    let (s, w) = ok(r#"
[[outputs]]
kind = "artnet"
target = "127.0.0.1"
universes = "0-2"
sync = true
[[outputs]]
kind = "sacn"
target = "127.0.0.1"
universes = "3-4"
[[outputs]]
kind = "sacn"
target = "multicast"
universes = [5]
priority = 150
sync = true
source_name = "axis"
[[outputs]]
kind = "enttec-pro"
port = "/dev/ttyUSB0"
universes = 20
[[outputs]]
kind = "open-dmx"
port = "/dev/ttyUSB1"
universes = "21"
"#);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s.outputs.len(), 5);
    match &s.outputs[0].kind {
        OutputKind::ArtNet { target, sync, .. } => {
            assert_eq!(target.to_string(), "127.0.0.1:6454");
            assert!(sync);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.outputs[0].wire, [0, 1, 2]);
    match &s.outputs[1].kind {
        OutputKind::Sacn {
            target,
            priority,
            sync_address,
            source_name,
            ..
        } => {
            assert_eq!(
                *target,
                SacnTarget::Unicast("127.0.0.1:5568".parse().unwrap())
            );
            assert_eq!(*priority, 100);
            assert_eq!(*sync_address, None);
            assert_eq!(*source_name, None);
        }
        other => panic!("{other:?}"),
    }
    match &s.outputs[2].kind {
        OutputKind::Sacn {
            target,
            priority,
            sync_address,
            source_name,
            ..
        } => {
            assert_eq!(*target, SacnTarget::Multicast);
            assert_eq!(*priority, 150);
            // Sync on without an address: the first wire universe.
            assert_eq!(*sync_address, Some(5));
            assert_eq!(source_name.as_deref(), Some("axis"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&s.outputs[3].kind, OutputKind::EnttecPro { port } if port == "/dev/ttyUSB0"));
    assert!(matches!(&s.outputs[4].kind, OutputKind::OpenDmx { port } if port == "/dev/ttyUSB1"));
    assert_eq!(s.outputs[4].universes, [21]);
    assert_eq!(s.universes, [0, 1, 2, 3, 4, 5, 20, 21]);
}

#[test]
fn remap_and_wire_offset() {
    let (s, _) = ok(r#"
[[outputs]]
kind = "artnet"
target = "10.0.0.1:7000"
universes = "0-2"
remap = { 0 = 100, 2 = 32767 }
[[outputs]]
kind = "sacn"
target = "10.0.0.2"
universes = "0-3"
wire_offset = 1
sync_address = 9
"#);
    assert_eq!(s.outputs[0].universes, [0, 1, 2]);
    assert_eq!(s.outputs[0].wire, [100, 1, 32767]);
    assert_eq!(s.outputs[1].wire, [1, 2, 3, 4]);
    // `sync_address` alone turns synchronisation on.
    assert!(matches!(
        &s.outputs[1].kind,
        OutputKind::Sacn {
            sync_address: Some(9),
            ..
        }
    ));
    // Negative offsets are fine while the result stays in range.
    let (s, _) = ok(r#"
[[outputs]]
kind = "artnet"
target = "10.0.0.1"
universes = "10-11"
wire_offset = -10
"#);
    assert_eq!(s.outputs[0].wire, [0, 1]);
}

#[test]
fn sacn_universe_zero_needs_a_remap() {
    let e = errors(
        r#"
[[outputs]]
kind = "sacn"
target = "10.0.0.2"
universes = "0-3"
"#,
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("site.toml:9:13: universe 0 is out of range: sACN universes are 1..63999"),
        "{e:?}"
    );
    assert!(e[0].contains("wire_offset = 1"), "{e:?}");
}

#[test]
fn bad_outputs_are_located() {
    let cases: &[(&str, &str)] = &[
        (
            "[[outputs]]\nkind = \"sacn\"\ntarget = \"10.0.0.2\"\nuniverses = 1\npriority = 201\n",
            "site.toml:9:12: sACN priority 201 is out of range",
        ),
        (
            "[[outputs]]\nkind = \"sacn\"\ntarget = \"10.0.0.2\"\nuniverses = 1\nsync_address = 64000\n",
            "site.toml:9:16: sync_address 64000 is out of range",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = 1\nremap = { 1 = 40000 }\n",
            "site.toml:9:15: remapped universe 40000 is out of range: Art-Net universes are 0..32767",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = 1\nremap = { 2 = 5 }\n",
            "site.toml:9:15: remap names universe `2`, which this output does not carry (it carries 1)",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = \"1-2\"\nremap = { 1 = 2 }\n",
            "site.toml:8:13: site universes 1 and 2 would both go out as Art-Net universe 2",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = 1\nremap = { 1 = 2 }\nwire_offset = 3\n",
            "site.toml:10:15: use either `remap` or `wire_offset`, not both",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = 5\nwire_offset = -6\n",
            "site.toml:9:15: universe 5 + wire_offset -6 = -1 is out of range: Art-Net universes are 0..32767",
        ),
        (
            "[[outputs]]\nkind = \"enttec-pro\"\nport = \"/dev/ttyUSB0\"\nuniverses = \"1-2\"\n",
            "site.toml:8:13: an enttec-pro output drives one universe (the widget has one DMX port); this one lists 1-2",
        ),
        (
            "[[outputs]]\nkind = \"open-dmx\"\nuniverses = 1\n",
            "site.toml:5:1: an open-dmx output needs `port`",
        ),
        (
            "[[outputs]]\nkind = \"sacn\"\nuniverses = 1\n",
            "site.toml:5:1: a sacn output needs `target` (a receiver's IP like \"10.0.4.20\", or \"multicast\")",
        ),
        (
            "[[outputs]]\nkind = \"dmx\"\nuniverses = 1\n",
            "site.toml:6:8: unknown output kind `dmx`",
        ),
        (
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"10.0.0.2\"\nuniverses = 1\nttl = 3\n",
            "site.toml:9:1: unknown field `ttl`",
        ),
    ];
    for (text, want) in cases {
        let e = errors(text);
        assert!(
            e.iter().any(|m| m.starts_with(want)),
            "for\n{text}\nwanted `{want}`, got {e:?}"
        );
    }
}

#[test]
fn a_universe_sent_twice_is_a_warning_at_the_second_output() {
    let (s, w) = ok(r#"
[[outputs]]
kind = "artnet"
target = "10.0.0.1"
universes = "0-5"
[[outputs]]
kind = "sacn"
target = "10.0.0.2"
universes = "4-7"
wire_offset = 1
[[outputs]]
kind = "enttec-pro"
port = "/dev/ttyUSB0"
universes = 7
"#);
    assert_eq!(s.outputs.len(), 3);
    assert_eq!(
        w,
        [
            "site.toml:10:1: warning: universes 4-5 also sent by output #1 (artnet): two outputs will drive the same fixtures; remove them from one unless that is a deliberate mirror",
            "site.toml:15:1: warning: universe 7 also sent by output #2 (sacn): two outputs will drive the same fixtures; remove them from one unless that is a deliberate mirror",
        ]
    );
}

#[test]
fn keys_that_do_not_apply_are_warned_about() {
    let (_, w) = ok(r#"
[[outputs]]
kind = "artnet"
target = "10.0.0.1"
universes = 1
priority = 50
[[outputs]]
kind = "open-dmx"
port = "/dev/ttyUSB1"
universes = 2
sync = true
"#);
    assert_eq!(
        w,
        [
            "site.toml:10:12: warning: `priority` has no meaning for an artnet output and is ignored",
            "site.toml:15:8: warning: `sync` has no meaning for an open-dmx output and is ignored",
        ]
    );
    let (_, w) = ok(r#"
[[outputs]]
kind = "sacn"
target = "10.0.0.1"
universes = 1
sync = false
sync_address = 4
"#);
    assert_eq!(
        w,
        ["site.toml:11:16: warning: `sync_address` is ignored because `sync = false`"]
    );
}

/// Host names are accepted as written and never looked up while loading
/// (the output resolves them when it opens); what is neither an IPv4
/// address nor a host name is refused at the value.
#[test]
fn host_name_targets_are_kept_for_the_output_to_resolve() {
    let (s, _) = ok(r#"
[[outputs]]
kind = "artnet"
target = "node-3.city.lan"
universes = 1

[[outputs]]
kind = "sacn"
target = "LocalHost:5570"
universes = 2
"#);
    assert_eq!(s.outputs[0].host.as_deref(), Some("node-3.city.lan"));
    match &s.outputs[0].kind {
        OutputKind::ArtNet { target, .. } => {
            assert!(target.ip().is_unspecified());
            assert_eq!(target.port(), 6454);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.outputs[1].host.as_deref(), Some("localhost"));
    match &s.outputs[1].kind {
        OutputKind::Sacn {
            target: SacnTarget::Unicast(a),
            ..
        } => assert_eq!(a.port(), 5570),
        other => panic!("{other:?}"),
    }
    for (target, want) in [
        ("10.0.4.256", "is neither an IPv4 address nor a host name"),
        (
            "node_3.city.lan",
            "is neither an IPv4 address nor a host name",
        ),
        ("-node.lan", "is neither an IPv4 address nor a host name"),
        ("node.lan:0", "the port after `:` must be a number 1..65535"),
    ] {
        let e = errors(&format!(
            "[[outputs]]\nkind = \"artnet\"\ntarget = \"{target}\"\nuniverses = 1\n"
        ));
        assert!(
            e.iter()
                .any(|m| m.starts_with("site.toml:7:10: ") && m.contains(want)),
            "{target}: {e:?}"
        );
    }
    let e = errors(
        "[[outputs]]\nkind = \"artnet\"\ntarget = \"node.lan\"\nuniverses = 1\nsync = true\nsync_to = \"broadcast\"\n",
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("site.toml:10:11: ") && m.contains("needs an IP target")),
        "{e:?}"
    );
}

#[test]
fn only_changed_applies_to_sacn_too() {
    let (s, w) = ok(r#"
[[outputs]]
kind = "sacn"
target = "127.0.0.1"
universes = "1-4"
only_changed = true
[[outputs]]
kind = "sacn"
target = "127.0.0.1"
universes = "5-6"
"#);
    assert!(w.is_empty(), "{w:?}");
    assert!(matches!(
        s.outputs[0].kind,
        OutputKind::Sacn {
            only_changed: true,
            ..
        }
    ));
    assert!(matches!(
        s.outputs[1].kind,
        OutputKind::Sacn {
            only_changed: false,
            ..
        }
    ));
}
