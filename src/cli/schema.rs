//! `nightscape schema profile|site|show [--out DIR]`: the JSON Schemas of
//! the three kinds of file, for editors (Taplo / Even Better TOML complete
//! keys, show each key's description on hover and flag errors as you type).
//!
//! They are generated from the raw types that parse the files (see
//! `nightscape_core::schema`); the site's `[api]` and `state_dir` come from
//! the daemon's own parser. The demo's copies in `schemas/` are held equal
//! to this output by a test.

use anyhow::{bail, Context, Result};
use nightscape_core::schema::{self, Kind};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct SchemaArgs {
    /// Which schemas: profile, site, show (default: all three, with --out).
    #[arg(value_parser = ["profile", "site", "show"])]
    pub kinds: Vec<String>,
    /// Write `<kind>.schema.json` into this folder instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The schema of one kind of file, complete (the daemon's keys included).
pub fn generate(kind: Kind) -> serde_json::Value {
    let mut v = nightscape_core::config::json_schema(kind);
    if kind == Kind::Site {
        schema::merge_properties(&mut v, &crate::api::config::json_schema());
    }
    v
}

pub fn schema(args: &SchemaArgs) -> Result<i32> {
    let kinds: Vec<Kind> = if args.kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        args.kinds.iter().filter_map(|k| Kind::parse(k)).collect()
    };
    match &args.out {
        None => {
            let [kind] = kinds.as_slice() else {
                bail!("name one schema to print (profile, site or show), or write them all with --out DIR");
            };
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout()
                .lock()
                .write_all(schema::to_text(&generate(*kind)).as_bytes());
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for kind in kinds {
                let path = dir.join(kind.file_name());
                std::fs::write(&path, schema::to_text(&generate(kind)))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(0)
}
