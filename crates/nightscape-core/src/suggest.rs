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
    }
}
