//! Name patterns for targets and groups: `*` matches any run of characters,
//! `?` one character; everything else matches itself. Kept tiny on purpose:
//! fixture names are plain words with dashes.
//!
//! A pattern comes from a file, so matching costs no more than the pattern's
//! length once plus the name's length per name: the pattern is cut at its
//! stars into runs of literal characters and `?` ([`Glob`]); a name shorter
//! than the runs together is refused in one comparison, and the runs are
//! found left to right, each at its first place (which is always right for
//! `*`-separated runs). The old backtracking matcher took 82 s over a
//! megabyte target.

/// Whether a pattern contains wildcards (otherwise it names one thing).
pub(crate) fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// A pattern compiled once, to match many names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    /// The runs between stars (consecutive stars are one), each a list of
    /// characters where `None` is `?`.
    runs: Vec<Vec<Option<char>>>,
    /// Whether the pattern starts and ends with a run, not a star.
    anchored_start: bool,
    anchored_end: bool,
    /// Characters the runs need together: a shorter name cannot match.
    min_chars: usize,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Glob {
        let mut runs: Vec<Vec<Option<char>>> = vec![Vec::new()];
        for c in pattern.chars() {
            match c {
                '*' => {
                    if runs.last().is_some_and(|r| !r.is_empty()) {
                        runs.push(Vec::new());
                    }
                }
                '?' => runs.last_mut().into_iter().for_each(|r| r.push(None)),
                c => runs.last_mut().into_iter().for_each(|r| r.push(Some(c))),
            }
        }
        let has_star = pattern.contains('*');
        let anchored_start = !pattern.starts_with('*');
        let anchored_end = !pattern.ends_with('*');
        // Keep an empty first run only as the whole of a star-less pattern
        // (the empty pattern matches the empty name).
        runs.retain(|r| !r.is_empty());
        if !has_star && runs.is_empty() {
            runs.push(Vec::new());
        }
        let min_chars = runs.iter().map(Vec::len).sum();
        Glob {
            runs,
            anchored_start: anchored_start || !has_star,
            anchored_end: anchored_end || !has_star,
            min_chars,
        }
    }

    /// Whether `name` matches: O(runs + the name's length × the longest
    /// run) at worst, and one comparison for a name too short.
    pub(crate) fn matches(&self, name: &str) -> bool {
        // Most names are ASCII and short; a char count is enough to refuse
        // a long pattern before any other work.
        let count = name.chars().count();
        if count < self.min_chars {
            return false;
        }
        let n: Vec<char> = name.chars().collect();
        let mut runs: &[Vec<Option<char>>] = &self.runs;
        let mut from = 0;
        let mut to = n.len();
        if self.anchored_start {
            let Some((first, rest)) = runs.split_first() else {
                return n.is_empty();
            };
            if !run_at(first, &n, 0) {
                return false;
            }
            from = first.len();
            runs = rest;
            // A pattern without stars is one run from start to end.
            if self.anchored_end && runs.is_empty() {
                return from == n.len();
            }
        }
        if self.anchored_end {
            let Some((last, rest)) = runs.split_last() else {
                return true;
            };
            if to - from < last.len() || !run_at(last, &n, to - last.len()) {
                return false;
            }
            to -= last.len();
            runs = rest;
        }
        for run in runs {
            let mut at = from;
            loop {
                if to - at < run.len() {
                    return false;
                }
                if run_at(run, &n, at) {
                    break;
                }
                at += 1;
            }
            from = at + run.len();
        }
        true
    }
}

/// Whether `run` matches `name` at `at` (which leaves room for it).
fn run_at(run: &[Option<char>], name: &[char], at: usize) -> bool {
    name.get(at..at + run.len()).is_some_and(|window| {
        run.iter()
            .zip(window)
            .all(|(p, c)| p.is_none_or(|p| p == *c))
    })
}

/// Match `name` against `pattern`. A pattern with more literal characters
/// than the name has characters is refused after reading as many of it;
/// callers that match one pattern against many names compile a [`Glob`]
/// once instead.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let count = name.chars().count();
    if pattern.chars().filter(|&c| c != '*').nth(count).is_some() {
        return false;
    }
    Glob::new(pattern).matches(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("avenue-poles-*", "avenue-poles-east-001"));
        assert!(matches("*", ""));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("*-0*1", "x-0001"));
        assert!(!matches("square-*", "avenue-1"));
        assert!(matches("tower-crown", "tower-crown"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("**a**", "a"));
        assert!(matches("a*a", "aa"));
        assert!(!matches("a*a", "a"));
        assert!(matches("?*?", "ab"));
        assert!(!matches("?*?", "a"));
        assert!(matches("*é?", "café!"));
    }

    /// The backtracking matcher this replaced: the reference for every
    /// pattern and name over a small alphabet.
    fn reference(pattern: &str, name: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ni));
                pi += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        while pi < p.len() && p[pi] == '*' {
            pi += 1;
        }
        pi == p.len()
    }

    fn words(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            let next: Vec<String> = last
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    #[test]
    fn agrees_with_backtracking_on_every_small_case() {
        let patterns = words(&['a', 'b', '*', '?'], 5);
        let names = words(&['a', 'b'], 6);
        for p in &patterns {
            let g = Glob::new(p);
            for n in &names {
                assert_eq!(g.matches(n), reference(p, n), "{p:?} {n:?}");
                assert_eq!(matches(p, n), reference(p, n), "{p:?} {n:?}");
            }
        }
    }

    #[test]
    fn a_huge_pattern_is_refused_for_a_short_name_without_reading_it_all() {
        // `*a*a…*ab` over a megabyte: the backtracking matcher walked it for
        // every name; here the name's length decides after a few characters.
        let pattern = "*a".repeat(500_000) + "b";
        let g = Glob::new(&pattern);
        assert!(!g.matches("avenue-poles-east-001"));
        assert!(!matches(&pattern, "avenue-poles-east-001"));
        // Runs are found left to right, each once: a name of many a's
        // against a pattern that needs one more is linear, not quadratic.
        let name = "a".repeat(20_000);
        let g = Glob::new(&("*".to_string() + &"a".repeat(100) + "*b"));
        assert!(!g.matches(&name));
        assert!(Glob::new(&"a*".repeat(1000)).matches(&name));
    }
}
