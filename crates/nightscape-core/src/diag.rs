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
        let message = format!("{message}{}", unknown_key_hint(&message));
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

#[cfg(test)]
mod tests {
    use super::*;

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
