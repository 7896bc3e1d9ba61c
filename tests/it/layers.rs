//! The module layers ARCHITECTURE.md documents, checked against the code.
//!
//! ARCHITECTURE.md's code map lists each crate's modules in a table, lowest
//! layer first: a module may use (`crate::…`) only modules of its own row or
//! of rows above it, and no modules may use each other in a circle. Rust
//! itself allows any module to use any other, so without this test the
//! documented order would only be a wish. The table is read from the
//! document itself, so moving a row is the one edit that changes the rule,
//! and a new module fails here until it has a row.
//!
//! What is read: every `crate::` path in a crate's `src/` outside comments,
//! string literals and `#[cfg(test)]` items (tests may reach anywhere), with
//! `use crate::{a, b::{c, d}}` trees expanded.
//!
//! There are no exceptions: operator control (`control/`) sits below the
//! API, the fleet and the triggers that all call it, so no module reaches
//! up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Core modules documented as standing alone: they use no other module.
const STANDALONE: &[&str] = &["wire"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_core_keeps_its_documented_layers() {
    let layers = documented_layers("**`crates/nightscape-core/src/`**");
    let src = root().join("crates/nightscape-core/src");
    let uses = crate_uses(&src);
    let problems = check(&layers, &modules_of(&src), &uses);
    for m in STANDALONE {
        if let Some(u) = uses.iter().find(|u| u.from == *m) {
            panic!(
                "{}: `{}` stands alone (ARCHITECTURE.md) but uses crate::{}::{}",
                u.at, m, u.to, u.rest
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_daemon_keeps_its_documented_layers() {
    let layers = documented_layers("**`src/`**");
    let src = root().join("src");
    let modules = modules_of(&src);
    // `crate::engine` and friends in the daemon are the core's modules,
    // re-exported; only the daemon's own modules are layered here.
    let uses: Vec<Use> = crate_uses(&src)
        .into_iter()
        .filter(|u| modules.contains(&u.to))
        .collect();
    let problems = check(&layers, &modules, &uses);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The codecs' universe size is the site's, without either importing the other.
#[test]
fn the_wire_and_the_site_agree_on_the_universe_size() {
    assert_eq!(
        nightscape_core::wire::UNIVERSE_SIZE,
        nightscape_core::site::UNIVERSE_SIZE
    );
}

/// The reader finds what it must: nested trees, paths in expressions, and
/// nothing in comments, strings or test items.
#[test]
fn the_reader_sees_code_only() {
    let text = r####"
        use crate::a::{b, c::{d, e}};
        use crate::{f, g::h};
        // use crate::comment;
        /* crate::block /* nested crate::deeper */ */
        let s = "crate::string"; let r = r#"crate::raw "quoted""#; let c = '"'; let q = '\'';
        let t = "crate::after_a_quote_char";
        fn x<'a>(v: &'a str) { crate::expr::call(v) }
        #[cfg(test)]
        mod tests { use crate::test_only; }
        #[cfg(test)]
        use crate::test_use;
        let after = crate::after::X;
    "####;
    let mut got: Vec<String> = Vec::new();
    let code = strip_tests(&code_only(text));
    for (_, path) in crate_paths(&code.0) {
        got.push(path.join("::"));
    }
    assert_eq!(
        got,
        [
            "a::b",
            "a::c::d",
            "a::c::e",
            "f",
            "g::h",
            "expr::call",
            "after::X"
        ]
    );
}

/// One `crate::` use: where, which module uses which, and the rest of the path.
#[derive(Debug)]
struct Use {
    at: String,
    from: String,
    to: String,
    rest: String,
}

/// The rows of the code-map table after `heading` in ARCHITECTURE.md, each
/// row's modules (the first column's `name.rs` and `name/`), lowest first.
fn documented_layers(heading: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no {heading} table"));
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in doc[start..].lines().skip(1) {
        let Some(cells) = line.strip_prefix('|') else {
            if in_table {
                break;
            }
            continue;
        };
        in_table = true;
        let first = cells.split('|').next().unwrap_or("");
        let names: Vec<String> = first
            .split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|n| {
                let n = n.strip_suffix(".rs").or_else(|| n.strip_suffix('/'))?;
                (!n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                    .then(|| n.to_string())
            })
            .collect();
        if !names.is_empty() {
            rows.push(names);
        }
    }
    rows
}

/// A crate's top-level modules: `src/NAME.rs` and `src/NAME/`.
fn modules_of(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                Some(name)
            } else {
                let m = name.strip_suffix(".rs")?;
                (m != "lib" && m != "main").then(|| m.to_string())
            }
        })
        .collect()
}

/// Every `crate::` path used outside tests, by top-level module.
fn crate_uses(src: &Path) -> Vec<Use> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    // Files that are `#[cfg(test)] mod name;` of another.
    let mut test_files = BTreeSet::new();
    let mut parsed = Vec::new();
    for f in &files {
        let (code, test_mods) = strip_tests(&code_only(&std::fs::read_to_string(f).unwrap()));
        let dir = if ["mod.rs", "lib.rs", "main.rs"].map(std::ffi::OsStr::new)[..]
            .contains(&f.file_name().unwrap())
        {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for m in test_mods {
            test_files.insert(dir.join(format!("{m}.rs")));
            test_files.insert(dir.join(&m).join("mod.rs"));
        }
        parsed.push((f.clone(), code));
    }
    let mut uses = Vec::new();
    for (f, code) in parsed {
        if test_files.contains(&f) {
            continue;
        }
        let rel = f.strip_prefix(src).unwrap();
        let from = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        for (line, path) in crate_paths(&code) {
            if path[0] == from {
                continue;
            }
            uses.push(Use {
                at: format!("{}:{line}", f.strip_prefix(root()).unwrap_or(&f).display()),
                from: from.clone(),
                to: path[0].clone(),
                rest: path[1..].join("::"),
            });
        }
    }
    uses
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Layer order, documentation and cycles: every problem found.
fn check(layers: &[Vec<String>], modules: &BTreeSet<String>, uses: &[Use]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut row = BTreeMap::new();
    for (i, names) in layers.iter().enumerate() {
        for n in names {
            if row.insert(n.clone(), i).is_some() {
                problems.push(format!("ARCHITECTURE.md gives `{n}` two rows"));
            }
        }
    }
    for m in modules {
        if !row.contains_key(m) {
            problems.push(format!(
                "module `{m}` has no row in ARCHITECTURE.md's code map: add one where its layer is \
                 (below every module it uses)"
            ));
        }
    }
    for m in row.keys() {
        // `benches/` and the like are rows of the map, not modules.
        if !modules.contains(m) && !root().join(m).exists() {
            problems.push(format!(
                "ARCHITECTURE.md names `{m}`, which is not a module"
            ));
        }
    }
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in uses {
        let (Some(&from), Some(&to)) = (row.get(&u.from), row.get(&u.to)) else {
            continue;
        };
        if to > from {
            problems.push(format!(
                "{}: `{}` uses crate::{}::{}, a layer above it in ARCHITECTURE.md",
                u.at, u.from, u.to, u.rest
            ));
        }
        graph.entry(&u.from).or_default().insert(&u.to);
    }
    if let Some(cycle) = find_cycle(&graph) {
        problems.push(format!(
            "modules use each other in a circle: {}",
            cycle.join(" → ")
        ));
    }
    problems
}

fn find_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        path.push(n);
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// The text with comments, strings and character literals blanked (lines kept).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = b[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == '/' && b.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == '*' && b.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &b[i..j]);
            i = j;
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !b[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && {
                let s = if c == 'b' { i + 2 } else { i + 1 };
                let h = b[s..].iter().take_while(|&&c| c == '#').count();
                b.get(s + h) == Some(&'"')
            }
        {
            let s = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|&&c| c == '#').count();
            let mut j = s + hashes + 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&c| c == '#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank(&mut out, &b[i..j.min(b.len())]);
            i = j.min(b.len());
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            let j = (j + 1).min(b.len());
            blank(&mut out, &b[i..j]);
            i = j;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some('\\') {
                // The escaped character itself may be a quote ('\'').
                b[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|n| i + 3 + n + 1)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(j) => {
                    blank(&mut out, &b[i..j]);
                    i = j;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The code with `#[cfg(test)]` items blanked, and the names of test
/// modules kept in files of their own (`#[cfg(test)] mod name;`).
fn strip_tests(code: &str) -> (String, Vec<String>) {
    let mut b: Vec<char> = code.chars().collect();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&b, i, "#[cfg(") {
        let close = match_close(&b, at + 1, '[', ']');
        let attr: String = b[at..close].iter().collect();
        let is_test = attr.replace(' ', "").starts_with("#[cfg(test)")
            || attr.replace(' ', "").starts_with("#[cfg(all(test");
        if !is_test {
            i = close;
            continue;
        }
        // The item after it (and after any further attributes).
        let mut j = close;
        loop {
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            if b.get(j) == Some(&'#') {
                j = match_close(&b, j + 1, '[', ']');
            } else {
                break;
            }
        }
        let brace = b[j..].iter().position(|&c| c == '{').map(|n| j + n);
        let semi = b[j..].iter().position(|&c| c == ';').map(|n| j + n);
        let end = match (brace, semi) {
            (Some(o), Some(e)) if o < e => match_close(&b, o, '{', '}'),
            (Some(o), None) => match_close(&b, o, '{', '}'),
            (_, Some(e)) => {
                let item: String = b[j..e].iter().collect();
                if let Some(name) = item.trim().strip_prefix("mod ") {
                    test_mods.push(name.trim().to_string());
                }
                e + 1
            }
            (None, None) => b.len(),
        };
        for c in &mut b[at..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = end;
    }
    (b.into_iter().collect(), test_mods)
}

fn find(b: &[char], from: usize, pat: &str) -> Option<usize> {
    let p: Vec<char> = pat.chars().collect();
    (from..b.len().saturating_sub(p.len() - 1)).find(|&i| b[i..i + p.len()] == p[..])
}

/// The index just past the bracket matching the one at `open`.
fn match_close(b: &[char], open: usize, o: char, c: char) -> usize {
    let mut depth = 0;
    for (k, &ch) in b.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return k + 1;
            }
        }
    }
    b.len()
}

/// Every `crate::…` path with its line, use trees expanded.
fn crate_paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&b, i, "crate::") {
        let before = at.checked_sub(1).map(|k| b[k]);
        i = at + "crate::".len();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = 1 + b[..at].iter().filter(|&&c| c == '\n').count();
        let mut paths = Vec::new();
        i = use_tree(&b, i, Vec::new(), &mut paths);
        out.extend(
            paths
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| (line, p)),
        );
    }
    out
}

/// Read a use tree at `i` (`a::b`, `a::{b, c::{d}}`, `*`) under `prefix`.
fn use_tree(
    b: &[char],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&'{') {
            i += 1;
            loop {
                while i < b.len() && (b[i].is_whitespace() || b[i] == ',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == '}' {
                    return i + 1;
                }
                i = use_tree(b, i, prefix.clone(), out);
            }
        }
        let start = i;
        while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
            i += 1;
        }
        if i == start {
            // `*` or the end of the path.
            if b.get(i) == Some(&'*') {
                i += 1;
            }
            out.push(prefix);
            return i;
        }
        let ident: String = b[start..i].iter().collect();
        if ident == "self" {
            out.push(prefix);
            return i;
        }
        prefix.push(ident);
        if b.get(i) == Some(&':') && b.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            // `as alias`, a call, the end of a `use`: the path is complete.
            out.push(prefix);
            return i;
        }
    }
}
