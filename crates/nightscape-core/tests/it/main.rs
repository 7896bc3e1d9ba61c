//! The core's integration tests, one binary (a module per topic; three
//! binaries were three links of the core and its dependencies):
//!
//! - `bad_input`: `check(case)` tables, bad input in a site's text located
//!   at `path:line:col` and never half compiled;
//! - `codec_props`: the wire codecs' properties (proptest), from their
//!   public API;
//! - `import`: fixture import on real QLC+ and Open Fixture Library files.

mod bad_input;
mod codec_props;
mod import;
