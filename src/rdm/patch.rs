//! Patch verification: the devices RDM found on a universe against the
//! site's fixtures there. A device is matched to the fixture at its start
//! address (and its footprint must be the profile mode's channel count),
//! else to the fixture its DEVICE_LABEL names; what is left over is
//! unmatched (on the network, in no fixture) or missing (patched, did not
//! answer). Each problem carries a one-line fix for the crew.

use super::Device;
use nightscape_core::site::Site;
use serde::Serialize;

/// How a device or fixture stands against the patch.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PatchState {
    Matched,
    Unmatched,
    Missing,
    Mismatched,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchEntry {
    pub state: PatchState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub universe: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
    /// What to do about it (empty when matched).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// Match the devices found on one site universe to the site's fixtures
/// there: by start address (and footprint), else by a label naming the
/// fixture.
pub fn verify(site: &Site, universe: u16, devices: &[Device]) -> Vec<PatchEntry> {
    let fixtures: Vec<(&str, u16, u16)> = site
        .fixtures
        .iter()
        .filter(|f| f.universe == universe)
        .map(|f| {
            let fp = site
                .profiles
                .get(f.profile)
                .and_then(|p| p.modes.get(f.mode))
                .map_or(0, |m| m.footprint);
            (f.name.as_str(), f.address, fp)
        })
        .collect();
    let mut used = vec![false; fixtures.len()];
    let mut out = Vec::new();
    for d in devices {
        let uid = d.uid.to_string();
        let by_addr = d
            .dmx_address
            .and_then(|a| fixtures.iter().position(|f| f.1 == a));
        let by_label = d.label.as_deref().and_then(|l| {
            fixtures
                .iter()
                .position(|f| f.0.eq_ignore_ascii_case(l.trim()))
        });
        let entry = |state, i: Option<usize>, fix: String| PatchEntry {
            state,
            fixture: i.map(|i| fixtures[i].0.to_string()),
            uid: Some(uid.clone()),
            universe,
            address: d.dmx_address,
            fix,
        };
        match (by_addr, by_label) {
            (Some(i), _) => {
                used[i] = true;
                let (name, addr, fp) = fixtures[i];
                match d.footprint {
                    Some(got) if fp != 0 && got != fp => out.push(entry(
                        PatchState::Mismatched,
                        Some(i),
                        format!(
                            "{uid} at {universe}.{addr} uses {got} channels but {name}'s mode uses {fp}: \
                             set the fixture's personality to the {fp}-channel mode, or change the mode in the site"
                        ),
                    )),
                    _ => out.push(entry(PatchState::Matched, Some(i), String::new())),
                }
            }
            (None, Some(i)) => {
                used[i] = true;
                let (name, addr, _) = fixtures[i];
                let at = d
                    .dmx_address
                    .map_or("no address".to_string(), |a| format!("address {a}"));
                out.push(entry(
                    PatchState::Mismatched,
                    Some(i),
                    format!(
                        "{name} ({uid}) answers at {at} but the site patches it at {universe}.{addr}: \
                         set its DMX start address to {addr}"
                    ),
                ));
            }
            (None, None) => out.push(entry(
                PatchState::Unmatched,
                None,
                match d.dmx_address {
                    Some(a) => format!(
                        "{uid} at {universe}.{a} is in no fixture of the site: patch it there, or re-address it"
                    ),
                    None => format!("{uid} has no DMX address: it takes no DMX, nothing to patch"),
                },
            )),
        }
    }
    for (i, (name, addr, _)) in fixtures.iter().enumerate() {
        if !used[i] {
            out.push(PatchEntry {
                state: PatchState::Missing,
                fixture: Some(name.to_string()),
                uid: None,
                universe,
                address: Some(*addr),
                fix: format!(
                    "{name} at {universe}.{addr} did not answer RDM: check its power and DMX line \
                     (or it does not do RDM)"
                ),
            });
        }
    }
    out
}
