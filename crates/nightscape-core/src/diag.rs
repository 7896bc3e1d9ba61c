//! Diagnostics: every problem in a fixture, site or show file, located as
//! `path:line:col: message`.
//!
//! Loading never stops at the first problem: each stage pushes what it finds
//! into a [`Diagnostics`] list so a designer fixes a whole file in one pass.
//! Positions come from TOML spans (byte offsets), turned into 1-based line and
//! column here, the one place that knows how.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A value with the byte span it was written at: `toml::Spanned` with a
/// JSON Schema that is the value's own, so the raw types that parse the
/// files also generate their schemas (`crate::schema`) and the two cannot
/// drift. Deserializes exactly as `toml::Spanned` does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(transparent)]
pub struct Spanned<T>(toml::Spanned<T>);

impl<T> Spanned<T> {
    pub fn new(span: Range<usize>, value: T) -> Self {
        Spanned(toml::Spanned::new(span, value))
    }
    pub fn span(&self) -> Range<usize> {
        self.0.span()
    }
    pub fn get_ref(&self) -> &T {
        self.0.get_ref()
    }
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// How bad a problem is: errors reject the configuration, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {}{}",
            self.path.display(),
            self.line,
            self.col,
            sev,
            self.message
        )
    }
}

impl Diagnostic {
    /// The located line of `text` with a caret under the column, as rustc
    /// prints it (for a terminal); empty when the line does not exist.
    pub fn excerpt(&self, text: &str) -> String {
        let Some(line) = text.lines().nth(self.line.saturating_sub(1)) else {
            return String::new();
        };
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Columns count chars; keep tabs so the caret lines up under them.
        let under: String = line
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{pad} |\n{num} | {line}\n{pad} | {under}^\n")
    }
}

/// A file's text kept beside its path so byte spans can be turned into
/// line:col after parsing.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Byte offsets where lines start, built on the first lookup: locating
    /// thousands of problems in a big file stays linear, not quadratic.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
            line_starts: std::sync::OnceLock::new(),
        }
    }

    /// 1-based (line, column) of a byte offset; columns count characters.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(
                    self.text
                        .bytes()
                        .enumerate()
                        .filter(|&(_, b)| b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect()
        });
        // The last line start at or before the offset.
        let idx = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let line = idx + 1;
        let line_start = starts[idx];
        let col = self
            .text
            .get(line_start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}

/// An ordered collection of problems found while loading.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// An error at a span of a file.
    pub fn error(&mut self, file: &SourceFile, span: Range<usize>, message: impl Into<String>) {
        self.push(file, span, Severity::Error, message.into());
    }

    /// A warning at a span of a file.
    pub fn warn(&mut self, file: &SourceFile, span: Range<usize>, message: impl Into<String>) {
        self.push(file, span, Severity::Warning, message.into());
    }

    /// An error about a whole file that could not even be read.
    pub fn file_error(&mut self, path: &Path, message: impl Into<String>) {
        self.items.push(Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn push(&mut self, file: &SourceFile, span: Range<usize>, severity: Severity, message: String) {
        let (line, col) = file.line_col(span.start);
        self.items.push(Diagnostic {
            path: file.path.clone(),
            line,
            col,
            severity,
            message,
        });
    }

    /// A TOML parse or type error; toml reports one per file.
    pub fn toml_error(&mut self, file: &SourceFile, err: &toml::de::Error) {
        let span = err.span().unwrap_or(0..0);
        // toml's message repeats the source excerpt on several lines; the first
        // line of its bare message is what a designer needs.
        let message = err.message().trim().replace('\n', " ");
        let hint = unknown_key_hint(&message);
        // With a near miss the suggestion says it all; without one, serde's
        // list of the keys that exist does.
        let message = match message.split_once("`, expected") {
            Some((head, _)) if !hint.is_empty() => format!("{head}`{hint}"),
            _ => format!("{message}{hint}"),
        };
        self.error(file, span, message);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// "; did you mean `speed`?" for serde's "unknown field `sped`, expected
/// one of `a`, `b`, …" (and "unknown variant"), else nothing.
fn unknown_key_hint(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return String::new();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    crate::suggest::hint(word, candidates)
}

/// Deserialize a whole file and report **every** problem serde finds, not
/// only the first: after each error the key (or `[[table]]` element) at
/// fault is blanked out with spaces — offsets, lines and columns stay where
/// they were — and the file is read again, up to a bound. The value of the
/// last, successful read is returned so the caller's own checks also run on
/// the rest of the file (its result is discarded anyway, as `diags` has
/// errors). An error inside a part already reported (a missing key after
/// its wrong value was removed) is a consequence and is not repeated; a
/// syntax error, or one no part can be removed for, ends the reading with
/// `None`. Identical diagnostics are reported once, since several modules
/// read the same site file.
pub fn parse_all<T: serde::de::DeserializeOwned>(
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<T> {
    let first = diags.items.len();
    let value = read_all(file, diags);
    // serde meets keys in its own order; a designer reads top to bottom.
    diags.items[first..].sort_by_key(|d| (d.line, d.col));
    value
}

fn read_all<T: serde::de::DeserializeOwned>(
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<T> {
    const MAX_ROUNDS: usize = 100;
    let mut text = file.text.clone();
    // Where the tables that lost a key start (0: the file itself).
    let mut emptied: Vec<usize> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let err = match toml::from_str::<T>(&text) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let span = err.span().unwrap_or(0..0);
        let found = removable(&text, &span);
        // A missing key whose wrong value was removed before is a
        // consequence: its table (or the file) lost a key already reported.
        let table_start = found.as_ref().map_or(0, |(r, _)| r.start);
        let consequence =
            err.message().starts_with("missing field") && emptied.contains(&table_start);
        if !consequence {
            let before = diags.items.len();
            diags.toml_error(file, &err);
            if let Some(d) = diags.items.last().cloned() {
                if diags.items[..before].contains(&d) {
                    diags.items.pop();
                }
            }
        }
        let (region, parent) = found?;
        // Removing an unknown key cannot make a key missing.
        if !err.message().starts_with("unknown field") {
            emptied.push(parent);
        }
        text = blank(&text, &region)?;
    }
    None
}

/// `text` with `region` replaced by spaces (line breaks kept, so every
/// later position keeps its line and column). Regions come from parser
/// spans, which lie on character boundaries, so the result is UTF-8.
fn blank(text: &str, region: &Range<usize>) -> Option<String> {
    let mut t = text.as_bytes().to_vec();
    for b in t.get_mut(region.clone())? {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
    String::from_utf8(t).ok()
}

/// The innermost key/value pair (or array-of-tables element) holding
/// `span` whose removal leaves valid TOML, with where the table it is in
/// starts (0 for the file); `None` at the root.
fn removable(text: &str, span: &Range<usize>) -> Option<(Range<usize>, usize)> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut candidates: Vec<Range<usize>> = Vec::new();
    collect_regions(doc.get_ref(), span, &mut candidates);
    // Innermost first.
    (0..candidates.len()).rev().find_map(|i| {
        let r = &candidates[i];
        blank(text, r)
            .is_some_and(|t| toml::de::DeTable::parse(&t).is_ok())
            .then(|| (r.clone(), if i == 0 { 0 } else { candidates[i - 1].start }))
    })
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn collect_regions(table: &toml::de::DeTable, span: &Range<usize>, out: &mut Vec<Range<usize>>) {
    for (key, value) in table.iter() {
        let whole = key.span().start.min(value.span().start)..deep_end(value).max(key.span().end);
        if !contains(&whole, span) {
            continue;
        }
        out.push(whole);
        collect_value(value.get_ref(), span, out);
    }
}

fn collect_value(value: &toml::de::DeValue, span: &Range<usize>, out: &mut Vec<Range<usize>>) {
    match value {
        toml::de::DeValue::Table(t) => collect_regions(t, span, out),
        toml::de::DeValue::Array(items) => {
            for item in items.iter() {
                let region = item.span().start..deep_end(item);
                if contains(&region, span) {
                    if let toml::de::DeValue::Table(t) = item.get_ref() {
                        out.push(region);
                        collect_regions(t, span, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Where a value's text ends. A `[table]` or `[[array]]` element's own span
/// is its header; its keys follow it, so its end is its last key's.
fn deep_end(value: &toml::Spanned<toml::de::DeValue>) -> usize {
    let own = value.span().end;
    match value.get_ref() {
        toml::de::DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| k.span().end.max(deep_end(v)))
            .fold(own, usize::max),
        toml::de::DeValue::Array(a) => a.iter().map(deep_end).fold(own, usize::max),
        _ => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        level: Option<f64>,
        #[serde(default)]
        layers: Vec<Layer>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Layer {
        target: String,
        #[serde(default)]
        speed: Option<String>,
        #[serde(default)]
        cues: Vec<Cue>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cue {
        at: String,
    }

    /// (file, every problem as "line:col: message", whether a value is
    /// still read from the rest).
    fn parse(text: &str) -> (Vec<String>, bool) {
        let f = SourceFile::new("a.toml", text);
        let mut d = Diagnostics::new();
        let v = parse_all::<Doc>(&f, &mut d);
        let msgs = d
            .items
            .iter()
            .map(|x| format!("{}:{}: {}", x.line, x.col, x.message))
            .collect();
        (msgs, v.is_some())
    }

    #[test]
    fn every_serde_problem_of_a_file_is_reported() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("name = \"x\"\n", &[], true),
            (
                "name = \"x\"\nlevl = 1\ncolour = 2\n[[layers]]\ntarget = \"a\"\nsped = \"1\"\n[[layers]]\ntarget = \"b\"\nspeed = 3\n",
                &[
                    "2:1: unknown field `levl`; did you mean `level`?",
                    "3:1: unknown field `colour`, expected one of `name`, `level`, `layers`",
                    "6:1: unknown field `sped`; did you mean `speed`?",
                    "9:9: invalid type: integer `3`, expected a string",
                ],
                true,
            ),
            // A wrong required value: the missing key that follows is not repeated.
            (
                "name = \"x\"\n[[layers]]\ntarget = 5\n[[layers]]\ntarget = \"b\"\nx = 1\n",
                &[
                    "3:10: invalid type: integer `5`, expected a string",
                    "6:1: unknown field `x`, expected one of `target`, `speed`, `cues`",
                ],
                true,
            ),
            // Inline tables and arrays of them.
            (
                "name = \"x\"\n[[layers]]\ntarget = \"a\"\ncues = [{ at = \"0s\", colr = 1 }, { at = 2 }]\n",
                &[
                    "4:22: unknown field `colr`, expected `at`",
                    "4:41: invalid type: integer `2`, expected a string",
                ],
                true,
            ),
            // A missing key at the root ends the reading.
            (
                "level = 1\nlevl = 2\n",
                &[
                    "1:1: missing field `name`",
                    "2:1: unknown field `levl`; did you mean `level`?",
                ],
                false,
            ),
            // A syntax error is one problem.
            ("name = \"x\nlevel = 1\n", &["1:10: invalid basic string, expected `\"`"], false),
        ];
        for (text, expect, some) in cases {
            let (got, value) = parse(text);
            assert_eq!(&got, expect, "{text}");
            assert_eq!(value, *some, "{text}");
        }
    }

    #[test]
    fn excerpt_puts_a_caret_under_the_column() {
        let d = Diagnostic {
            path: "a.toml".into(),
            line: 2,
            col: 10,
            severity: Severity::Error,
            message: "m".into(),
        };
        let e = d.excerpt("x = 1\ntarget = \"avenu\"\n");
        assert_eq!(e, "  |\n2 | target = \"avenu\"\n  |          ^\n");
        assert_eq!(Diagnostic { line: 9, ..d }.excerpt("x"), "");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let m = "unknown field `sped`, expected one of `target`, `effect`, `speed`, `period`";
        assert_eq!(unknown_key_hint(m), "; did you mean `speed`?");
        assert_eq!(unknown_key_hint("unknown field `zzzz`, expected `a`"), "");
        assert_eq!(unknown_key_hint("missing field `name`"), "");
    }

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("a.toml", "ab\ncdé\nx");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (2, 4));
        assert_eq!(f.line_col(8), (3, 1));
        assert_eq!(f.line_col(999), (3, 2));
    }

    #[test]
    fn the_line_index_agrees_with_counting_at_every_offset() {
        let text = "a = 1\n\n[[layers]]\r\ntarget = \"é\"\nx\n";
        let f = SourceFile::new("a.toml", text);
        for offset in 0..=text.len() + 2 {
            let o = offset.min(text.len());
            let line = text.as_bytes()[..o].iter().filter(|&&b| b == b'\n').count() + 1;
            let start = text.as_bytes()[..o]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let col = text.get(start..o).map_or(0, |s| s.chars().count()) + 1;
            assert_eq!(f.line_col(offset), (line, col), "offset {offset}");
        }
    }
}
