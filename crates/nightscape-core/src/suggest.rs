//! "Did you mean …?": the closest known name to a misspelt one, by edit
//! distance, for unknown keys, effects, targets, groups and shows.

/// Edit distance counting insertions, deletions, substitutions and swaps
/// of neighbours (optimal string alignment), on chars: "pluse" is one
/// edit from "pulse".
pub fn distance(a: &str, b: &str) -> usize {
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

/// The candidate closest to `word`, if it is close enough to be a typo
/// (at most a third of the word's length, at least one edit; case is
/// ignored).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_lowercase();
    let limit = (w.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "; did you mean `x`?" or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .filter(|c| *c != word)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// [`hint`] for a target that may be a glob: a misspelt glob
/// ("avenue-tres-*") is compared with globs made from the names' own
/// beginnings ("avenue-trees-*"), so the suggestion is a glob that matches.
pub fn hint_glob<'a>(pattern: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let Some(cut) = pattern.find(['*', '?', '[']) else {
        return hint(pattern, names);
    };
    let (prefix, rest) = pattern.split_at(cut);
    let n = prefix.chars().count();
    let mut globs: Vec<String> = Vec::new();
    for name in names {
        // Longer first: on a tie the more specific glob is named.
        for k in (n.saturating_sub(1)..=n + 1).rev() {
            let head: String = name.chars().take(k).collect();
            if head.chars().count() == k {
                let g = format!("{head}{rest}");
                if !globs.contains(&g) {
                    globs.push(g);
                }
            }
        }
    }
    // Globs are long and alike ("avenue-trees-*", "avenue-poles-*"): only
    // a near miss of one or two edits is a typo worth naming.
    match closest(pattern, globs.iter().map(String::as_str)) {
        Some(g) if g != pattern && distance(pattern, g) <= 2 => {
            format!("; did you mean `{g}`?")
        }
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
