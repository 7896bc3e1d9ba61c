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
    pub(crate) fn new(span: Range<usize>, value: T) -> Self {
        Spanned(toml::Spanned::new(span, value))
    }
    pub fn span(&self) -> Range<usize> {
        self.0.span()
    }
    pub fn get_ref(&self) -> &T {
        self.0.get_ref()
    }
    pub(crate) fn into_inner(self) -> T {
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
    /// Whether this reads as every problem must reach a user:
    /// `path:line:col: message`, 1-based, with a message. Tests hold every
    /// diagnostic they see to it; the text says what is wrong.
    pub fn check_well_formed(&self) -> Result<(), String> {
        if self.line < 1 || self.col < 1 {
            return Err(format!("not 1-based: {self}"));
        }
        let shown = self.to_string();
        let head = format!("{}:{}:{}: ", self.path.display(), self.line, self.col);
        if !shown.starts_with(&head) {
            return Err(format!("`{shown}` is not path:line:col: message"));
        }
        if self.message.trim().is_empty() {
            return Err(format!("empty message: {shown}"));
        }
        Ok(())
    }

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
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
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

/// The most problems listed for one file. Past it a file is not read for
/// more: a designer fixes the first hundred and checks again, and a hostile
/// file (a million unknown keys, a megabyte of NUL bytes) costs no more
/// than a hundred problems in memory and time.
pub(crate) const MAX_PROBLEMS_PER_FILE: usize = 100;

/// The longest key read, in bytes. Keys are field names and names of
/// things; anything longer is a mistake or an attack, refused where it is
/// before any further work is done with it.
pub(crate) const MAX_KEY_BYTES: usize = 256;

/// The longest string (or bare value) read, in bytes: a paragraph of
/// description fits; a megabyte target would cost every stage that
/// compares it with names.
pub(crate) const MAX_STRING_BYTES: usize = 4096;

/// The deepest nesting read: arrays and inline tables inside each other,
/// and the parts of a dotted key. The TOML reader recurses per level (a
/// stack overflow aborts the process, it is not a panic), and no
/// nightscape file needs more than four.
pub const MAX_DEPTH: usize = 32;

/// The most items read from one file: keys and values count one, tables
/// (a header, an inline table) four. The TOML reader keeps a few hundred
/// bytes per item in memory, and a file with problems is held twice while
/// they are found, so this bounds a file's reading to tens of megabytes
/// whatever it holds; the largest real files (a hand-placed city patch of
/// thousands of fixtures) hold tens of thousands.
pub(crate) const MAX_ITEMS: usize = 150_000;

/// An ordered collection of problems found while loading.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Problems per file, to stop listing a file at
    /// [`MAX_PROBLEMS_PER_FILE`].
    per_file: std::collections::HashMap<PathBuf, FileCount>,
}

/// How many problems a file has in the list, and where its "not all
/// listed" note is once it reached the cap.
#[derive(Debug, Clone, Copy, Default)]
struct FileCount {
    listed: usize,
    note: Option<usize>,
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
        self.add(Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn push(&mut self, file: &SourceFile, span: Range<usize>, severity: Severity, message: String) {
        let (line, col) = file.line_col(span.start);
        self.add(Diagnostic {
            path: file.path.clone(),
            line,
            col,
            severity,
            message,
        });
    }

    /// Whether `path` already has [`MAX_PROBLEMS_PER_FILE`] problems listed:
    /// looking for more in it is wasted work.
    pub fn is_full(&self, path: &Path) -> bool {
        self.per_file
            .get(path)
            .is_some_and(|c| c.listed >= MAX_PROBLEMS_PER_FILE)
    }

    /// List a problem unless its file is full; the first one past the cap
    /// becomes a note that the list stops there (an error if any problem
    /// left out is one, so a file is never accepted for what was not
    /// listed).
    fn add(&mut self, d: Diagnostic) {
        let count = self.per_file.entry(d.path.clone()).or_default();
        if count.listed < MAX_PROBLEMS_PER_FILE {
            count.listed += 1;
            self.items.push(d);
            return;
        }
        match count.note {
            Some(i) => {
                if d.severity == Severity::Error {
                    if let Some(note) = self.items.get_mut(i) {
                        note.severity = Severity::Error;
                    }
                }
            }
            None => {
                count.note = Some(self.items.len());
                self.items.push(Diagnostic {
                    message: format!(
                        "more problems from here on are not listed: nightscape lists the first {MAX_PROBLEMS_PER_FILE} of a file; fix these and check again"
                    ),
                    ..d
                });
            }
        }
    }

    /// An error, unless the same one is listed already (several modules
    /// read the site file, each with its own parser).
    fn error_once(&mut self, file: &SourceFile, span: Range<usize>, message: String) {
        let (line, col) = file.line_col(span.start);
        let d = Diagnostic {
            path: file.path.clone(),
            line,
            col,
            severity: Severity::Error,
            message,
        };
        if !self.items.contains(&d) {
            self.add(d);
        }
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
        for d in other.items {
            self.add(d);
        }
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

/// A TOML parse or type error's message as a designer reads it.
fn toml_message(message: &str) -> String {
    // toml's message repeats the source excerpt on several lines; the first
    // line of its bare message is what a designer needs.
    let message = message.trim().replace('\n', " ");
    let hint = unknown_key_hint(&message);
    // With a near miss the suggestion says it all; without one, serde's
    // list of the keys that exist does.
    match message.split_once("`, expected") {
        Some((head, _)) if !hint.is_empty() => format!("{head}`{hint}"),
        _ => format!("{message}{hint}"),
    }
}

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

/// Deserialize a whole file and report its problems — up to
/// [`MAX_PROBLEMS_PER_FILE`] — not only the first.
///
/// The work is bounded by the file's size, not by what it holds: a linear
/// scan first refuses keys, strings and nesting past [`MAX_KEY_BYTES`],
/// [`MAX_STRING_BYTES`] and [`MAX_DEPTH`] and files of more than
/// [`MAX_ITEMS`] items, each at its place, before the TOML reader (which
/// recurses per level and keeps every item in memory) sees the text. A
/// file that reads is read once. Otherwise its tree is kept, and after each
/// serde error the key (or `[[table]]` element) at fault is taken out of it
/// and the tree read again: an unknown key takes every other unknown key of
/// its table with it (serde names the keys that exist), so a million
/// unknown keys cost one more reading, not a million; and the readings of a
/// large file are bounded by [`WORK_BUDGET`] items in all. The value of the
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
    // The note that the list stops there stays last.
    let note = diags
        .per_file
        .get(&file.path)
        .and_then(|c| c.note)
        .filter(|&i| i >= first && i < diags.items.len());
    let note = note.map(|i| diags.items.remove(i));
    diags.items[first..].sort_by_key(|d| (d.line, d.col));
    if let Some(note) = note {
        if let Some(c) = diags.per_file.get_mut(&file.path) {
            c.note = Some(diags.items.len());
        }
        diags.items.push(note);
    }
    value
}

/// Items read again, over all readings of one file, before its reading
/// stops: a small file gets its hundred readings, an 8 MiB one a few.
pub(crate) const WORK_BUDGET: usize = 4_000_000;

fn read_all<T: serde::de::DeserializeOwned>(
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> Option<T> {
    let scan = scan(&file.text);
    if !scan.problems.is_empty() {
        for (span, message) in scan.problems {
            diags.error_once(file, span, message);
        }
        return None;
    }
    // Most files are right: one reading, no tree kept.
    let mut err = match toml::from_str::<T>(&file.text) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    let mut tree = match toml::de::DeTable::parse(&file.text) {
        Ok(t) => t,
        Err(e) => {
            diags.error_once(file, e.span().unwrap_or(0..0), toml_message(e.message()));
            return None;
        }
    };
    // A wrong value often costs two readings (the value, then its table
    // without it), so a small file gets three per problem listed.
    let readings = (WORK_BUDGET / scan.items.max(1)).clamp(2, 3 * MAX_PROBLEMS_PER_FILE);
    // Where the tables that lost a key start (0: the file itself).
    let mut emptied: Vec<usize> = Vec::new();
    for _ in 1..readings {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().to_string();
        let found = locate(tree.get_ref(), &span);
        // A missing key whose wrong value was removed before is a
        // consequence: its table (or the file) lost a key already reported.
        let table_start = found.as_ref().map_or(0, |f| f.region.start);
        let consequence = message.starts_with("missing field") && emptied.contains(&table_start);
        // A problem past the cap becomes the note that the list stops.
        let full = diags.is_full(&file.path);
        if !consequence {
            diags.error_once(file, span, toml_message(&message));
        }
        if full && !consequence {
            return None;
        }
        let found = found?;
        if message.starts_with("unknown field") {
            // Removing an unknown key cannot make a key missing.
            unknown_siblings(file, diags, tree.get_mut(), &found.path, &message);
        } else {
            emptied.push(found.parent);
        }
        remove_in_table(tree.get_mut(), &found.path);
        err = match T::deserialize(toml::de::Deserializer::from(tree.clone())) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
    }
    // Out of readings with a problem still unreported (unless it is a
    // consequence, judged as above).
    let span = err.span().unwrap_or(0..0);
    let table_start = locate(tree.get_ref(), &span).map_or(0, |f| f.region.start);
    if !(err.message().starts_with("missing field") && emptied.contains(&table_start)) {
        diags.error_once(file, span, toml_message(err.message()));
    }
    let end = file.text.len();
    diags.error_once(
        file,
        end..end,
        format!(
            "this file was read {readings} times for its problems and may have more: nightscape re-reads a file of {} items at most that often; fix these and check again",
            scan.items
        ),
    );
    None
}

/// Whether `text` is within the limits [`parse_all`] reads (key and
/// string lengths, nesting, items): the test to pass before handing a
/// file's text to any other TOML reading, which would recurse and keep
/// every item without them.
pub fn within_limits(text: &str) -> bool {
    scan(text).problems.is_empty()
}

/// What a table costs the reader against [`MAX_ITEMS`]: a map of its own,
/// a few times the memory of a key or a value.
const TABLE_ITEMS: usize = 4;

/// What the limits scan found: the problems, and how many items (keys,
/// values, table headers) the file holds.
struct Scan {
    problems: Vec<(Range<usize>, String)>,
    items: usize,
}

/// One pass over the text, before the TOML reader: keys, strings and bare
/// values too long, nesting too deep, too many items, each at its place.
/// It tokenises only as far as these need (strings of the four kinds,
/// comments, brackets, `=`, `,` and `.`); whether the text is valid TOML is
/// the reader's business.
fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut problems: Vec<(Range<usize>, String)> = Vec::new();
    let mut items = 0usize;
    // Open arrays and inline tables.
    let mut stack: Vec<u8> = Vec::new();
    // Whether a key is expected: at a line start outside values, after `{`
    // or `,` in an inline table. Inside a `[header]` too.
    let mut key_pos = true;
    let mut header = false;
    let mut parts = 0usize;
    let mut i = 0;
    let too_long = |kind: &str, span: Range<usize>, limit: usize| {
        (
            span.clone(),
            format!(
                "this {kind} is {} bytes long: nightscape reads {kind}s of at most {limit} bytes",
                span.len()
            ),
        )
    };
    while i < b.len() {
        if problems.len() >= MAX_PROBLEMS_PER_FILE {
            break;
        }
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\n' => {
                if stack.is_empty() {
                    key_pos = true;
                    header = false;
                    parts = 0;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i = string_end(b, i);
                items += 1;
                let is_key = key_pos || header;
                let (kind, limit) = if is_key {
                    ("key", MAX_KEY_BYTES)
                } else {
                    ("string", MAX_STRING_BYTES)
                };
                // The quotes are not counted.
                if i - start > limit + 6 {
                    problems.push(too_long(kind, start..i, limit));
                }
            }
            b'=' => {
                key_pos = false;
                parts = 0;
                i += 1;
            }
            b'.' if key_pos || header => {
                parts += 1;
                if parts >= MAX_DEPTH {
                    problems.push((start..start + 1, too_deep()));
                    break;
                }
                i += 1;
            }
            b'[' if key_pos && stack.is_empty() && !header => {
                header = true;
                items += TABLE_ITEMS;
                i += 1;
            }
            // The second bracket of `[[array]]`, or a stray one: the
            // reader will say.
            b'[' if header => i += 1,
            b'[' | b'{' => {
                stack.push(c);
                items += if c == b'{' { TABLE_ITEMS } else { 1 };
                if stack.len() > MAX_DEPTH {
                    problems.push((start..start + 1, too_deep()));
                    break;
                }
                key_pos = c == b'{';
                i += 1;
            }
            b']' | b'}' => {
                if !header {
                    stack.pop();
                    key_pos = false;
                }
                i += 1;
            }
            b',' => {
                key_pos = stack.last() == Some(&b'{');
                i += 1;
            }
            _ => {
                // A bare key or a bare value (number, date, boolean): a
                // run up to the next delimiter. A dot parts a key, not a
                // number.
                let key = key_pos || header;
                while i < b.len()
                    && !matches!(
                        b[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'='
                            | b','
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                            | b'#'
                            | b'"'
                            | b'\''
                    )
                    && !(key && b[i] == b'.')
                {
                    i += 1;
                }
                // Always progress, even on a byte no rule above takes.
                i = i.max(start + 1);
                items += 1;
                let (kind, limit) = if key {
                    ("key", MAX_KEY_BYTES)
                } else {
                    ("value", MAX_STRING_BYTES)
                };
                if i - start > limit {
                    problems.push(too_long(kind, start..i, limit));
                }
            }
        }
        if items > MAX_ITEMS {
            problems.push((
                start..start + 1,
                format!(
                    "this file holds more than {MAX_ITEMS} items (a key or a value counts one, a table {TABLE_ITEMS}): nightscape reads at most that many from one file"
                ),
            ));
            break;
        }
    }
    Scan { problems, items }
}

fn too_deep() -> String {
    format!("nested more than {MAX_DEPTH} levels deep: nightscape reads at most {MAX_DEPTH} levels of arrays, inline tables and dotted keys")
}

/// Where the string starting at `b[i]` (a quote) ends: after its closing
/// quote, or at the line end (or the text's) when it is not closed.
fn string_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let basic = q == b'"';
    if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
        // Multi-line: up to the closing triple, which may be followed by
        // up to two more quotes that belong to the string.
        let mut j = i + 3;
        while j < b.len() {
            if basic && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q && b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                j += 3;
                let mut extra = 0;
                while extra < 2 && b.get(j) == Some(&q) {
                    j += 1;
                    extra += 1;
                }
                return j;
            }
            j += 1;
        }
        return b.len();
    }
    let mut j = i + 1;
    while j < b.len() && b[j] != b'\n' {
        if basic && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            return j + 1;
        }
        j += 1;
    }
    j.min(b.len())
}

/// A step from a table to a part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The innermost key/value pair (or array-of-tables element) holding a
/// span: its path from the root, its text, and where the table it is in
/// starts (0 for the file).
struct Found {
    path: Vec<Step>,
    region: Range<usize>,
    parent: usize,
}

fn locate(root: &toml::de::DeTable, span: &Range<usize>) -> Option<Found> {
    let mut regions: Vec<(Vec<Step>, Range<usize>)> = Vec::new();
    collect_regions(root, span, &mut Vec::new(), &mut regions);
    let n = regions.len();
    let parent = if n >= 2 { regions[n - 2].1.start } else { 0 };
    let (path, region) = regions.pop()?;
    Some(Found {
        path,
        region,
        parent,
    })
}

/// serde stops at the first unknown key of a table but names the keys
/// that exist: every other key of that table not among them is unknown
/// too. Each is reported as serde would and taken out, so the table is
/// read again once, not once per key.
fn unknown_siblings(
    file: &SourceFile,
    diags: &mut Diagnostics,
    root: &mut toml::de::DeTable,
    path: &[Step],
    message: &str,
) {
    let Some((Step::Key(_), parent)) = path.split_last() else {
        return;
    };
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once("`, "))
        .map(|(_, rest)| rest)
    else {
        return;
    };
    // "expected `a`" or "expected one of `a`, `b`"; "there are no fields"
    // (or anything else) names nothing to keep, so nothing is batched.
    if !rest.starts_with("expected ") {
        return;
    }
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    if known.is_empty() {
        return;
    }
    let Some(table) = table_at(root, parent) else {
        return;
    };
    let unknown: Vec<(String, Range<usize>)> = table
        .iter()
        .filter(|(k, _)| !known.contains(&&**k.get_ref()))
        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
        .collect();
    let mut unknown = unknown;
    unknown.sort_by_key(|(_, s)| s.start);
    for (key, span) in unknown {
        // One past the cap becomes the note that the list stops.
        if diags.is_full(&file.path) {
            diags.error_once(
                file,
                span,
                toml_message(&format!("unknown field `{key}`, {rest}")),
            );
            return;
        }
        diags.error_once(
            file,
            span,
            toml_message(&format!("unknown field `{key}`, {rest}")),
        );
        table.remove(key.as_str());
    }
}

/// The table at `path` (the given one for an empty path).
fn table_at<'t, 'i>(
    table: &'t mut toml::de::DeTable<'i>,
    path: &[Step],
) -> Option<&'t mut toml::de::DeTable<'i>> {
    match path.split_first() {
        None => Some(table),
        Some((Step::Key(k), rest)) => value_table_at(table.get_mut(k.as_str())?.get_mut(), rest),
        Some((Step::Index(_), _)) => None,
    }
}

fn value_table_at<'t, 'i>(
    value: &'t mut toml::de::DeValue<'i>,
    path: &[Step],
) -> Option<&'t mut toml::de::DeTable<'i>> {
    match value {
        toml::de::DeValue::Table(t) => table_at(t, path),
        toml::de::DeValue::Array(a) => match path.split_first() {
            Some((Step::Index(i), rest)) => value_table_at(a.get_mut(*i)?.get_mut(), rest),
            _ => None,
        },
        _ => None,
    }
}

fn remove_in_table(table: &mut toml::de::DeTable<'_>, path: &[Step]) {
    match path {
        [Step::Key(k)] => {
            table.remove(k.as_str());
        }
        [Step::Key(k), rest @ ..] => {
            if let Some(v) = table.get_mut(k.as_str()) {
                remove_in_value(v.get_mut(), rest);
            }
        }
        _ => {}
    }
}

fn remove_in_value(value: &mut toml::de::DeValue<'_>, path: &[Step]) {
    match (value, path) {
        (toml::de::DeValue::Table(t), _) => remove_in_table(t, path),
        (toml::de::DeValue::Array(a), [Step::Index(i)]) => {
            let items = std::mem::replace(a, toml::de::DeArray::new());
            *a = items
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v)
                .collect();
        }
        (toml::de::DeValue::Array(a), [Step::Index(i), rest @ ..]) => {
            if let Some(v) = a.get_mut(*i) {
                remove_in_value(v.get_mut(), rest);
            }
        }
        _ => {}
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn collect_regions(
    table: &toml::de::DeTable,
    span: &Range<usize>,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, Range<usize>)>,
) {
    for (key, value) in table.iter() {
        let whole = key.span().start.min(value.span().start)..deep_end(value).max(key.span().end);
        if !contains(&whole, span) {
            continue;
        }
        path.push(Step::Key(key.get_ref().to_string()));
        out.push((path.clone(), whole));
        collect_value(value.get_ref(), span, path, out);
        path.pop();
    }
}

fn collect_value(
    value: &toml::de::DeValue,
    span: &Range<usize>,
    path: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, Range<usize>)>,
) {
    match value {
        toml::de::DeValue::Table(t) => collect_regions(t, span, path, out),
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let region = item.span().start..deep_end(item);
                if contains(&region, span) {
                    if let toml::de::DeValue::Table(t) = item.get_ref() {
                        path.push(Step::Index(i));
                        out.push((path.clone(), region));
                        collect_regions(t, span, path, out);
                        path.pop();
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

    /// Every problem of `text` as "line:col: message".
    fn problems(text: &str) -> Vec<String> {
        parse(text).0
    }

    #[test]
    fn a_long_key_is_refused_at_its_place_and_not_repeated() {
        // The key is not copied into the message (an 8 MiB key was, once
        // per module reading the site file).
        let text = format!("name = \"x\"\n{} = 1\n", "k".repeat(100_000));
        assert_eq!(
            problems(&text),
            ["2:1: this key is 100000 bytes long: nightscape reads keys of at most 256 bytes"]
        );
        let quoted = format!("name = \"x\"\n[[layers]]\n\"{}\" = 1\n", "k".repeat(300));
        assert_eq!(
            problems(&quoted),
            ["3:1: this key is 302 bytes long: nightscape reads keys of at most 256 bytes"]
        );
    }

    #[test]
    fn long_strings_and_values_are_refused_at_their_place() {
        let text = format!(
            "name = \"x\"\n[[layers]]\ntarget = \"{}\"\ncues = [{{ at = '''{}''' }}]\n",
            "*a".repeat(500_000),
            "s".repeat(5000)
        );
        assert_eq!(
            problems(&text),
            [
                "3:10: this string is 1000002 bytes long: nightscape reads strings of at most 4096 bytes",
                "4:16: this string is 5006 bytes long: nightscape reads strings of at most 4096 bytes",
            ]
        );
        // At the limit is fine.
        let ok = format!("name = \"{}\"\n", "n".repeat(MAX_STRING_BYTES));
        assert_eq!(problems(&ok), Vec::<String>::new());
        let number = format!("name = \"x\"\nlevel = {}\n", "1".repeat(5000));
        assert_eq!(
            problems(&number),
            ["2:9: this value is 5000 bytes long: nightscape reads values of at most 4096 bytes"]
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_the_reader_recurses() {
        // The TOML reader recurses per level: a hundred thousand levels
        // would overflow the stack, which aborts the whole daemon.
        let deep = format!(
            "name = \"x\"\nlevel = {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            problems(&deep),
            ["2:41: nested more than 32 levels deep: nightscape reads at most 32 levels of arrays, inline tables and dotted keys"]
        );
        let tables = format!("name = \"x\"\nlevel = {}\n", "{ a = ".repeat(50_000));
        let got = problems(&tables);
        assert!(
            got[0].starts_with("2:") && got[0].contains("nested more than 32"),
            "{got:?}"
        );
        let dotted = format!("name = \"x\"\n{} = 1\n", vec!["a"; 50_000].join("."));
        let got = problems(&dotted);
        assert!(
            got[0].starts_with("2:") && got[0].contains("nested more than 32"),
            "{got:?}"
        );
        // Headers, arrays of tables, brackets in strings and comments are
        // not nesting.
        let fine = format!(
            "name = \"x\"\n[[layers]]\ntarget = \"a\"\ncues = [{{ at = \"{}\" }}]\n# [[[[\n",
            "[".repeat(40)
        );
        assert_eq!(problems(&fine), Vec::<String>::new());
    }

    #[test]
    fn a_file_of_too_many_items_is_refused_at_the_first_one_past_the_cap() {
        let text = format!(
            "name = \"x\"\nlevel = 1\n{}",
            (0..MAX_ITEMS)
                .map(|i| format!("k{i} = 1\n"))
                .collect::<String>()
        );
        let got = problems(&text);
        assert_eq!(got.len(), 1, "{got:?}");
        // Item 150,001: the key on line 75,001 (two items a line).
        assert!(
            got[0].starts_with("75001:1: this file holds more than 150000"),
            "{got:?}"
        );
    }

    #[test]
    fn a_flood_of_unknown_keys_lists_a_hundred_and_stops() {
        // 5,000 unknown keys: the first hundred listed in file order, then
        // one note that the list stops. The keys of a table that serde
        // does not know are taken out together: one more reading, not five
        // thousand.
        let text = format!(
            "name = \"x\"\n{}[[layers]]\ntarget = \"a\"\n",
            (0..5000).map(|i| format!("k{i} = 1\n")).collect::<String>()
        );
        let f = SourceFile::new("a.toml", text);
        let mut d = Diagnostics::new();
        assert!(parse_all::<Doc>(&f, &mut d).is_none());
        assert_eq!(d.items.len(), MAX_PROBLEMS_PER_FILE + 1);
        assert_eq!(
            d.items[0].to_string(),
            "a.toml:2:1: unknown field `k0`, expected one of `name`, `level`, `layers`"
        );
        assert_eq!(d.items[99].line, 101);
        assert!(d.items[100]
            .message
            .starts_with("more problems from here on are not listed"));
        assert_eq!(d.items[100].severity, Severity::Error);
        // A few unknown keys in several tables: every one, in file order,
        // and the rest of the file read.
        let (got, value) = parse(
            "name = \"x\"\nzz = 1\nlevl = 2\n[[layers]]\ntarget = \"a\"\nq = 1\nsped = 2\n[[layers]]\ntarget = 3\n",
        );
        assert_eq!(
            got,
            [
                "2:1: unknown field `zz`, expected one of `name`, `level`, `layers`",
                "3:1: unknown field `levl`; did you mean `level`?",
                "6:1: unknown field `q`, expected one of `target`, `speed`, `cues`",
                "7:1: unknown field `sped`; did you mean `speed`?",
                "9:10: invalid type: integer `3`, expected a string",
            ]
        );
        assert!(value);
    }

    #[test]
    fn many_wrong_values_stop_at_the_cap() {
        let text = format!("name = \"x\"\n{}", "[[layers]]\ntarget = 5\n".repeat(300));
        let got = problems(&text);
        assert_eq!(got.len(), MAX_PROBLEMS_PER_FILE + 1, "{got:?}");
        assert!(got[0].starts_with("3:10: invalid type"), "{got:?}");
        assert!(got[100].contains("not listed"), "{got:?}");
    }

    #[test]
    fn a_file_stops_listing_at_the_cap_but_never_hides_an_error() {
        let f = SourceFile::new("a.toml", "x\n");
        let g = SourceFile::new("b.toml", "x\n");
        let mut d = Diagnostics::new();
        for _ in 0..150 {
            d.warn(&f, 0..0, "w");
        }
        d.error(&g, 0..0, "e");
        assert_eq!(d.items.len(), MAX_PROBLEMS_PER_FILE + 2);
        assert!(d.is_full(&f.path) && !d.is_full(&g.path));
        assert_eq!(d.items[MAX_PROBLEMS_PER_FILE].severity, Severity::Warning);
        // An error past the cap makes the note one: the file is refused.
        d.error(&f, 0..0, "e");
        assert_eq!(d.items.len(), MAX_PROBLEMS_PER_FILE + 2);
        assert_eq!(d.items[MAX_PROBLEMS_PER_FILE].severity, Severity::Error);
        assert_eq!(d.errors().filter(|e| e.path == f.path).count(), 1);
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
