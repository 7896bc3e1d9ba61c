//! JSON Schema validation for the tests, by the reference implementation:
//! Python's `jsonschema` (Debian's `python3-jsonschema`, drafts 4 to
//! 2020-12), run as a subprocess.
//!
//! Why not a Rust crate: the schemas we publish (`schemas/*.json`, the
//! OpenAPI document) need a validator that is not ours, and the Rust one
//! with the crates only it pulls in (fancy-regex, referencing, num-bigint,
//! …) cost about 27 s of CPU in every clean build, tests or not. A Python
//! process costs about 0.15 s, so the calls here are batches: one process
//! validates many instances, against one schema ([`Validator::errors_all`])
//! or several ([`errors_each`], [`assert_verdicts`]).
//!
//! Without a Python that can `import jsonschema` a test is skipped loudly,
//! and fails under `CI=true` ([`super::skip_unless_ci`]) saying how to
//! install it. `NIGHTSCAPE_TEST_PYTHON` names the interpreter to use
//! instead of looking (`/usr/bin/python3`, then `python3` on `PATH`).

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Reads `[{"schema": …, "instances": […]}, …]` on stdin and writes, per
/// job and per instance, its problems as `{"at": JSON pointer, "message"}`;
/// or `{"error": …}` when a schema is not a schema or a `$ref` does not
/// resolve.
const SCRIPT: &str = r#"
import functools, json, re, sys
from jsonschema import exceptions, validators

@functools.lru_cache(maxsize=None)
def ecma(pattern):
    # JSON Schema's `pattern` is an ECMA-262 regex. Without the multiline
    # flag its `$` matches only at the very end, where Python's also matches
    # before a final "\n" (so "2026-12-31\n" would pass `^...$`, which ECMA
    # validators and the API's handlers refuse). Unescaped `$` outside a
    # character class becomes `\Z`; ECMA's `\d` is ASCII, Python's is not.
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i : i + 2]
            if e == "\\d":
                e = "0-9" if in_class else "[0-9]"
            elif e == "\\D" and not in_class:
                e = "[^0-9]"
            out.append(e)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
        elif c == "$":
            c = "\\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))

def pattern(validator, patrn, instance, schema):
    # As jsonschema's own `pattern`, through `ecma`.
    if validator.is_type(instance, "string") and not ecma(patrn).search(instance):
        yield exceptions.ValidationError(f"{instance!r} does not match {patrn!r}")

def pattern_keys(node):
    # `patternProperties` keys are searched by jsonschema itself, not via
    # `pattern`: none of our schemas has one, so refuse rather than differ.
    if isinstance(node, dict):
        keys = node.get("patternProperties")
        for k in keys if isinstance(keys, dict) else ():
            if ecma(k).pattern != k:
                raise exceptions.SchemaError(f"patternProperties key {k!r}: ECMA `$`/`\\d` not translated here")
        for v in node.values():
            pattern_keys(v)
    elif isinstance(node, list):
        for v in node:
            pattern_keys(v)

def pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)

def run(job):
    schema = job["schema"]
    # The schema's own `$schema`, else 2020-12 (OpenAPI 3.1's dialect).
    base = validators.validator_for(schema, default=validators.Draft202012Validator)
    base.check_schema(schema)
    pattern_keys(schema)
    cls = validators.extend(base, {"pattern": pattern})
    v = cls(schema)
    return [
        [{"at": pointer(e.absolute_path), "message": e.message} for e in v.iter_errors(i)]
        for i in job["instances"]
    ]

try:
    out = {"results": [run(job) for job in json.load(sys.stdin)]}
except (exceptions.SchemaError, exceptions.RefResolutionError) as e:
    out = {"error": f"{type(e).__name__}: {e}"}
json.dump(out, sys.stdout)
"#;

/// One thing an instance gets wrong: where (a JSON pointer, `""` for the
/// whole instance, e.g. `/layers/0/effect`) and what, in Python
/// jsonschema's words (`'wav' is not one of ['chase', …]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// A schema, checked by the Python validator.
pub struct Validator {
    python: String,
    schema: Value,
}

/// The interpreter that can `import jsonschema`, or why there is none.
fn python() -> &'static Result<String, String> {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let candidates = match std::env::var("NIGHTSCAPE_TEST_PYTHON") {
            Ok(p) => vec![p],
            Err(_) => vec!["/usr/bin/python3".to_string(), "python3".to_string()],
        };
        let mut tried = Vec::new();
        for p in candidates {
            match Command::new(&p)
                .args(["-c", "import jsonschema"])
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) if out.status.success() => return Ok(p),
                Ok(out) => tried.push(format!(
                    "{p}: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("failed")
                )),
                Err(e) => tried.push(format!("{p}: {e}")),
            }
        }
        Err(format!(
            "no Python with the jsonschema module ({}); install it with \
             `apt-get install python3-jsonschema`",
            tried.join("; ")
        ))
    })
}

impl Validator {
    /// `None` when no Python with `jsonschema` is here, after
    /// [`super::skip_unless_ci`] (so under `CI=true` this panics). The
    /// schema itself is checked by the first validation.
    pub fn new(schema: &Value) -> Option<Validator> {
        match python() {
            Ok(p) => Some(Validator {
                python: p.clone(),
                schema: schema.clone(),
            }),
            Err(why) => {
                let name = std::thread::current()
                    .name()
                    .unwrap_or("a JSON Schema test")
                    .to_string();
                super::skip_unless_ci(&name, why);
                None
            }
        }
    }

    /// Each instance's problems (empty: valid), in one Python process.
    pub fn errors_all(&self, instances: &[Value]) -> Vec<Vec<Problem>> {
        errors_each(&[(self, instances)]).remove(0)
    }
}

/// Every validator, named by `what` in the messages, refuses each of
/// `refused` and accepts each of `accepted`: one Python process for all.
pub fn assert_verdicts(validators: &[(String, &Validator)], refused: &[Value], accepted: &[Value]) {
    let all: Vec<Value> = refused.iter().chain(accepted).cloned().collect();
    let jobs: Vec<(&Validator, &[Value])> = validators
        .iter()
        .map(|(_, v)| (*v, all.as_slice()))
        .collect();
    for ((what, _), verdicts) in validators.iter().zip(errors_each(&jobs)) {
        for (i, (value, problems)) in all.iter().zip(verdicts).enumerate() {
            if i < refused.len() {
                assert!(
                    !problems.is_empty(),
                    "{what}: {value} accepted by the document"
                );
            } else {
                assert!(
                    problems.is_empty(),
                    "{what}: {value} refused by the document: {problems:?}"
                );
            }
        }
    }
}

/// Several schemas, each with its instances, in one Python process: per
/// job, per instance, its problems.
///
/// Panics when a schema is not one (for its draft) or a `$ref` in it does
/// not resolve: that is a bug in the document under test.
pub fn errors_each(jobs: &[(&Validator, &[Value])]) -> Vec<Vec<Vec<Problem>>> {
    let Some((first, _)) = jobs.first() else {
        return Vec::new();
    };
    let input: Vec<Value> = jobs
        .iter()
        .map(|(v, instances)| json!({"schema": v.schema, "instances": instances}))
        .collect();
    let mut child = Command::new(&first.python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", first.python));
    // The script reads all of stdin before it writes, so this cannot block
    // on a full stdout pipe.
    let mut stdin = child.stdin.take().unwrap();
    serde_json::to_writer(&mut stdin, &input).unwrap();
    stdin.flush().unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python jsonschema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python jsonschema's answer: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    if let Some(error) = answer.get("error") {
        panic!("JSON Schema: {}", error.as_str().unwrap_or_default());
    }
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), jobs.len());
    results
        .iter()
        .map(|job| {
            job.as_array()
                .unwrap()
                .iter()
                .map(|instance| {
                    instance
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| Problem {
                            at: p["at"].as_str().unwrap().to_string(),
                            message: p["message"].as_str().unwrap().to_string(),
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}
