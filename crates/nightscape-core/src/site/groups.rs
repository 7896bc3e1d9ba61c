//! Groups and the patch's follow-ons. A group names fixtures, globs over
//! fixture and group names, and other groups in any order; they are
//! resolved to a fixed point, and what is left names itself in a cycle.
//! What failed to patch because of a problem already reported (a broken
//! profile, a bad address) is remembered as a [`FailedPatch`], so a group
//! or a target naming it is a follow-on, not one more problem.

use super::patch::{Pending, RawArray, RawFixture};
use super::{glob, Site};
use crate::diag::{Diagnostics, SourceFile, Spanned};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What the patch lacks because of problems already reported: the names
/// of arrays and hand-placed fixtures that patched nothing, and the groups
/// with a member that named only those.
#[derive(Debug, Clone, Default)]
pub(super) struct FailedPatch {
    arrays: Vec<String>,
    fixtures: Vec<String>,
    groups: BTreeSet<String>,
}

impl FailedPatch {
    /// Whether `pattern` (a group member or a target) could have named a
    /// fixture that failed to patch, or one of those groups: a failed
    /// fixture's name, an array's fixture (`square-001`), a group, or a
    /// glob that matches any of them.
    pub(super) fn names(&self, pattern: &str) -> bool {
        let t = pattern.trim();
        if self.groups.contains(t) {
            return true;
        }
        let is_glob = glob::is_glob(t);
        let named = |name: &str| t == name || (is_glob && glob::matches(t, name));
        self.fixtures.iter().any(|f| named(f))
            || self.groups.iter().any(|g| is_glob && glob::matches(t, g))
            || self.arrays.iter().any(|a| {
                named(&format!("{a}-001"))
                    || t.strip_prefix(a.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    }

    /// What `arrays` and `fixtures` patched nothing, from what was patched.
    pub(super) fn of(
        arrays: &[Spanned<RawArray>],
        fixtures: &[Spanned<RawFixture>],
        pending: &[Pending],
    ) -> FailedPatch {
        // The arrays and fixtures that were not patched because of a problem
        // already reported (or a broken profile, reported in its file): a
        // group member that would have named them is a follow-on, not another
        // problem. An array that patched anything patched its `-001`.
        let patched: HashSet<&str> = pending.iter().map(|p| p.name.as_str()).collect();
        FailedPatch {
            arrays: arrays
                .iter()
                .map(|a| a.get_ref().name.get_ref().clone())
                .filter(|a| !patched.contains(format!("{a}-001").as_str()))
                .collect(),
            fixtures: fixtures
                .iter()
                .map(|f| f.get_ref().name.get_ref().clone())
                .filter(|f| !patched.contains(f.as_str()))
                .collect(),
            groups: BTreeSet::new(),
        }
    }
}

/// The `[groups]` table as written: each group's members, with their places.
pub(super) type RawGroups = BTreeMap<String, Spanned<Vec<Spanned<String>>>>;

/// Resolve `groups` into `site.groups`, each problem at its member.
pub(super) fn resolve(
    file: &SourceFile,
    groups: &RawGroups,
    site: &mut Site,
    diags: &mut Diagnostics,
) {
    // Groups may name other groups (in any order), fixtures, or globs.
    // Resolve them to a fixed point so a group can name one defined later;
    // whatever is left unresolved refers to itself in a cycle.
    for (name, patterns) in groups {
        if site.fixture_index.contains_key(name) {
            diags.error(
                file,
                patterns.span(),
                format!("group `{name}` has the same name as a fixture"),
            );
        }
    }
    let mut pending_groups: Vec<&String> = groups.keys().collect();
    loop {
        let before_len = pending_groups.len();
        pending_groups.retain(|name| {
            let patterns = &groups[*name];
            let waits = patterns.get_ref().iter().any(|p| {
                groups.contains_key(p.get_ref()) && !site.groups.contains_key(p.get_ref())
            });
            if waits {
                return true;
            }
            let mut members: BTreeSet<u32> = BTreeSet::new();
            for pat in patterns.get_ref() {
                let found = site.resolve_target(pat.get_ref());
                if found.is_empty() && site.unpatched.names(pat.get_ref()) {
                    site.unpatched.groups.insert((*name).clone());
                } else if found.is_empty() {
                    diags.error(
                        file,
                        pat.span(),
                        format!(
                            "`{}` in group `{name}` matches no fixture{}",
                            pat.get_ref(),
                            crate::suggest::hint_glob(
                                pat.get_ref(),
                                site.groups
                                    .keys()
                                    .map(String::as_str)
                                    .chain(site.fixtures.iter().map(|f| f.name.as_str()))
                            )
                        ),
                    );
                }
                members.extend(found);
            }
            site.groups
                .insert((*name).clone(), members.into_iter().collect());
            false
        });
        if pending_groups.is_empty() || pending_groups.len() == before_len {
            break;
        }
    }
    for name in pending_groups {
        diags.error(
            file,
            groups[name].span(),
            format!(
                "group `{name}` refers to itself through other groups: groups cannot form a cycle"
            ),
        );
    }
}
