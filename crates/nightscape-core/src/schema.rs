//! JSON Schemas for the three kinds of file (`nightscape schema
//! profile|site|show`), generated from the raw types that parse them.
//!
//! The parsers' `Raw*` structs derive `schemars::JsonSchema` beside
//! `Deserialize`, so a key the parser accepts is a key the schema knows
//! and `deny_unknown_fields` becomes `additionalProperties: false`; doc
//! comments and `#[schemars(example)]` give each key its description and
//! example, and the layer keys are described from the effect reference
//! (`show::reference::layer_schema`). Editors (Taplo / Even Better TOML)
//! use them to complete keys, show docs on hover and flag errors; the
//! parsers still have the last word, with `path:line:col` messages.
//!
//! This module holds what every schema shares (the generator, TOML's
//! absence of null, case-insensitive words, the documentation walk);
//! `config::json_schema` assembles each kind of file's schema from the
//! modules that parse it.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

/// Which file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Profile,
    Site,
    Show,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Profile, Kind::Site, Kind::Show];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Profile => "profile",
            Kind::Site => "site",
            Kind::Show => "show",
        }
    }

    pub fn parse(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == word)
    }

    /// The file name `nightscape schema --out DIR` writes.
    pub fn file_name(self) -> String {
        format!("{}.schema.json", self.name())
    }
}

/// The generator every schema is made with: draft 7 (what Taplo
/// understands), every subschema inline (no `$ref`s for an editor to chase).
pub(crate) fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    settings.into_generator()
}

/// The schema of `T` as JSON, finished for TOML (see [`finish`]).
pub fn schema_of<T: JsonSchema>() -> Value {
    let mut v = generator().into_root_schema_for::<T>().to_value();
    finish(&mut v);
    v
}

/// TOML has no null: an optional key is simply absent, so the `null` that
/// schemars allows for `Option` fields is removed everywhere.
pub(crate) fn finish(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("default") == Some(&Value::Null) {
                o.remove("default");
            }
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types[0].clone();
                    o.insert("type".into(), t);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alts)) = o.get_mut(key) {
                    alts.retain(|a| a.get("type").and_then(Value::as_str) != Some("null"));
                    if alts.len() == 1 {
                        let only = alts.pop().unwrap_or(Value::Bool(true));
                        o.remove(key);
                        if let Value::Object(inner) = only {
                            for (k, val) in inner {
                                o.entry(k).or_insert(val);
                            }
                        }
                    }
                }
            }
            for val in o.values_mut() {
                finish(val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(finish),
        _ => {}
    }
}

/// Copy `from`'s properties into `into`'s (a site file is read by several
/// modules, each owning some top-level keys).
pub fn merge_properties(into: &mut Value, from: &Value) {
    let Some(Value::Object(props)) = from.get("properties") else {
        return;
    };
    if let Some(Value::Object(target)) = into.get_mut("properties") {
        for (k, v) in props {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// A regex alternation matching each word in any letter case
/// (`[rR][eE][dD]|…`): the parsers lower-case words, and ECMA regexes in
/// JSON Schema have no case-insensitive flag.
pub(crate) fn any_case(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `anyOf` alternatives for a word the parser reads in any case: the exact
/// words (editors complete them) or any casing of one.
pub fn words_any_case(words: &[&str]) -> Value {
    serde_json::json!([
        { "enum": words },
        { "type": "string", "pattern": format!("^\\s*({})\\s*$", any_case(words)) }
    ])
}

/// Pretty JSON with a trailing newline, as `nightscape schema` writes it.
pub fn to_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Every key path of a schema (`layers[].speed`) whose property has no
/// description or no example: the tests hold this list empty.
pub fn undocumented(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
    let Some(o) = v.as_object() else { return };
    if let Some(Value::Object(props)) = o.get("properties") {
        for (k, p) in props {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if !has(p, "description") || !has(p, "examples") {
                out.push(here.clone());
            }
            walk(p, &here, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = o.get(key) {
            walk(sub, &format!("{path}[]"), out);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alts)) = o.get(key) {
            for a in alts {
                walk(a, path, out);
            }
        }
    }
}

fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| match x {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::json_schema as generate;

    #[test]
    fn every_key_of_every_schema_has_a_description_and_an_example() {
        for kind in Kind::ALL {
            let s = generate(kind);
            assert_eq!(undocumented(&s), Vec::<String>::new(), "{}", kind.name());
        }
    }

    #[test]
    fn layer_keys_are_the_reference_keys() {
        let s = generate(Kind::Show);
        let props = s["properties"]["layers"]["items"]["properties"]
            .as_object()
            .unwrap();
        let mut schema_keys: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut table: Vec<&str> = crate::show::reference::layer_keys();
        table.push("color");
        schema_keys.sort();
        table.sort();
        table.dedup();
        assert_eq!(schema_keys, table);
    }

    #[test]
    fn no_null_is_left() {
        for kind in Kind::ALL {
            let t = to_text(&generate(kind));
            assert!(!t.contains("\"null\""), "{}", kind.name());
        }
    }
}
