//! "Did you mean …?": the closest known name to a misspelt one, by edit
//! distance, for unknown keys, effects, targets, groups and shows.

#[cfg(test)]
/// Edit distance counting insertions, deletions, substitutions and swaps
/// of neighbours (optimal string alignment), on chars: "pluse" is one
/// edit from "pulse".
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, slot) in d.iter_mut().enumerate().take(w) {
        *slot = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// [`distance`] if it is at most `limit`, else `None`, in time linear in
/// the strings' length: only the diagonal band of width `2 × limit + 1`
/// can hold such an alignment, so a 4 KiB misspelt target costs a few
/// thousand cells per candidate instead of sixteen million.
pub(crate) fn distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let big = limit + 1;
    let w = b.len() + 1;
    // Three rows: the one before last for swaps of neighbours.
    let mut rows = [vec![big; w], vec![big; w], vec![big; w]];
    for (j, slot) in rows[0].iter_mut().enumerate().take(limit.min(b.len()) + 1) {
        *slot = j;
    }
    for i in 1..=a.len() {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur].iter_mut().for_each(|v| *v = big);
        let lo = i.saturating_sub(limit);
        let hi = (i + limit).min(b.len());
        if lo == 0 {
            rows[cur][0] = i.min(big);
        }
        let mut best = rows[cur][0];
        for j in lo.max(1)..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[prev2][j - 2] + 1);
            }
            let v = v.min(big);
            rows[cur][j] = v;
            best = best.min(v);
        }
        if best > limit {
            return None;
        }
    }
    Some(rows[a.len() % 3][b.len()]).filter(|d| *d <= limit)
}

/// The candidate closest to `word`, if it is close enough to be a typo
/// (at most a third of the word's length, at least one edit; case is
/// ignored).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    closest_within(word, candidates, (word.chars().count() / 3).max(1))
}

/// [`closest`] with an explicit bound on the edits; candidates further
/// than `limit` cost time linear in their length, not quadratic.
fn closest_within<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Option<&'a str> {
    let w = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let bound = best.map_or(limit, |(d, _)| d.saturating_sub(1).min(limit));
        if best.is_some_and(|(d, _)| d == 0) {
            break;
        }
        if let Some(d) = distance_within(&w, &c.to_lowercase(), bound) {
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, c));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// "; did you mean `x`?" or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .filter(|c| *c != word)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// "unknown show `x` (the site has: a, b); did you mean `a`?": what every
/// place that reads a show's name answers when there is no such show (a
/// schedule entry, a trigger, an operator's command, `run --show`).
pub fn unknown_show<S: AsRef<str>>(name: &str, shows: &[S]) -> String {
    let names: Vec<&str> = shows.iter().map(AsRef::as_ref).collect();
    format!(
        "unknown show `{name}` (the site has: {}){}",
        names.join(", "),
        hint(name, names.iter().copied())
    )
}

/// [`hint`] for a target that may be a glob: a misspelt glob
/// ("avenue-tres-*") is compared with globs made from the names' own
/// beginnings ("avenue-trees-*"), so the suggestion is a glob that matches.
pub(crate) fn hint_glob<'a>(pattern: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let Some(cut) = pattern.find(['*', '?', '[']) else {
        return hint(pattern, names);
    };
    let (prefix, rest) = pattern.split_at(cut);
    let n = prefix.chars().count();
    // Every candidate glob ends in the pattern's own `rest`, and a common
    // suffix never changes an edit distance: compare the beginnings only,
    // so a long pattern is not copied once per name.
    let mut seen = std::collections::HashSet::new();
    let mut heads: Vec<String> = Vec::new();
    for name in names {
        // Longer first: on a tie the more specific glob is named.
        for k in (n.saturating_sub(1)..=n + 1).rev() {
            let head: String = name.chars().take(k).collect();
            if head.chars().count() == k && seen.insert(head.clone()) {
                heads.push(head);
            }
        }
    }
    // Globs are long and alike ("avenue-trees-*", "avenue-poles-*"): only
    // a near miss of one or two edits is a typo worth naming.
    let limit = (pattern.chars().count() / 3).clamp(1, 2);
    match closest_within(prefix, heads.iter().map(String::as_str), limit) {
        Some(h) if h != prefix => format!("; did you mean `{h}{rest}`?"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("speed", "speed"), 0);
        assert_eq!(distance("sped", "speed"), 1);
        assert_eq!(distance("wavelenght", "wavelength"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("pluse", "pulse"), 1);
    }

    #[test]
    fn the_banded_distance_agrees_with_the_full_one_within_its_limit() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "speed",
            "sped",
            "spede",
            "pulse",
            "pluse",
            "wavelength",
            "wavelenght",
            "avenue-trees-",
            "avenue-tres-",
            "xyz",
        ];
        for a in words {
            for b in words {
                let full = distance(a, b);
                for limit in 0..4 {
                    let want = (full <= limit).then_some(full);
                    assert_eq!(distance_within(a, b, limit), want, "{a:?} {b:?} {limit}");
                }
            }
        }
    }

    #[test]
    fn a_long_misspelt_glob_is_judged_in_linear_time() {
        let pattern = format!("{}*", "x".repeat(4096));
        let names: Vec<String> = (0..2000).map(|i| format!("avenue-trees-{i:04}")).collect();
        // Before the band and the shared suffix, this compared 4 KiB with
        // 4 KiB for each of 6,000 candidate globs: minutes, not a blink.
        assert_eq!(hint_glob(&pattern, names.iter().map(String::as_str)), "");
        let no_star = "y".repeat(4096);
        assert_eq!(hint(&no_star, names.iter().map(String::as_str)), "");
    }

    #[test]
    fn suggests_only_near_misses() {
        let keys = ["speed", "period", "wavelength", "depth"];
        assert_eq!(closest("sped", keys), Some("speed"));
        assert_eq!(closest("wavelenght", keys), Some("wavelength"));
        assert_eq!(closest("Period", keys), Some("period"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(
            hint("avenu", ["avenue", "trees"]),
            "; did you mean `avenue`?"
        );
        assert_eq!(hint("zzz", ["avenue"]), "");
        let names = [
            "avenue-trees-001",
            "avenue-trees-002",
            "avenue-poles-east-001",
        ];
        assert_eq!(
            hint_glob("avenue-tres-*", names),
            "; did you mean `avenue-trees-*`?"
        );
        assert_eq!(hint_glob("avenue-trees-00*", names), "");
        assert_eq!(hint_glob("avenue-lamps-*", names), "");
        assert_eq!(
            hint_glob("avenue-pole-*", names),
            "; did you mean `avenue-poles-*`?"
        );
        assert_eq!(
            hint_glob("avenue-poles-eats-001", names),
            "; did you mean `avenue-poles-east-001`?"
        );
    }
}
