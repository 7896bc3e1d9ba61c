//! The `[api]` table of `site.toml` (and its top-level `state_dir` key):
//! where the API listens, whether reads are public, which tokens exist and
//! where their secrets come from.
//!
//! Secrets never live in the site file: a token names an environment
//! variable (`env = "NIGHTSCAPE_OPERATOR_TOKEN"`) or a file holding the
//! secret (`file = "/etc/nightscape/operator.token"`). Parsing is pure and
//! located (file:line:col, like every other section); resolving secrets is
//! a separate step so tests can supply their own environment. A token whose
//! variable is unset or whose file is unreadable is disabled with a warning
//! that names the token and the variable, never a secret.

use super::auth::{Role, Token};
use nightscape_core::diag::Spanned;
use nightscape_core::diag::{Diagnostics, Severity, SourceFile};
use nightscape_core::site::Site;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default state folder, relative to the working directory.
pub const DEFAULT_STATE_DIR: &str = "var";

/// Where a token's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable's value.
    Env(String),
    /// A file's content, trimmed (relative paths from the site folder).
    File(PathBuf),
}

/// A token as configured: a name for the audit log, a role, a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    pub source: TokenSource,
}

/// The API's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// `enabled = false` runs the daemon without the HTTP server (the
    /// stored operator state still applies).
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Reads (status, frame, live, metrics) without a token.
    pub public_read: bool,
    pub tokens: Vec<TokenSpec>,
    /// `state_dir` from site.toml, resolved against the site folder.
    pub state_dir: Option<PathBuf>,
    /// Open connections at most (`max_connections`, default 256).
    pub max_connections: usize,
    /// Overrides in force at most (`max_overrides`, default 1000).
    pub max_overrides: usize,
    /// Names the API answers to besides IP addresses and `localhost`
    /// (`hosts = ["lights.example.org"]`): any other `Host` header is
    /// refused, so a web page cannot reach the API by DNS rebinding.
    pub hosts: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            // This machine only, as the design asks; deployments set `listen`.
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_read: false,
            tokens: Vec::new(),
            state_dir: None,
            max_connections: 256,
            max_overrides: crate::control::MAX_OVERRIDES,
            hosts: Vec::new(),
        }
    }
}

/// The daemon's part of the site file.
#[derive(Deserialize, schemars::JsonSchema)]
struct RawRoot {
    /// The operator API and page: where they listen, who may use them.
    #[serde(default)]
    #[schemars(example = serde_json::json!({ "listen": "127.0.0.1:8080", "tokens": [{ "name": "operator", "role": "operator", "env": "NIGHTSCAPE_OPERATOR_TOKEN" }] }))]
    api: Option<RawApi>,
    /// The state folder (operator state, energy record), relative to the
    /// site folder (default `./var/` of the working folder).
    #[serde(default)]
    #[schemars(example = &"/var/lib/nightscape")]
    state_dir: Option<Spanned<String>>,
}

/// The site schema's `api` and `state_dir` keys (the core leaves them open;
/// `nightscape schema site` fills them in from these types).
pub fn json_schema() -> serde_json::Value {
    nightscape_core::schema::schema_of::<RawRoot>()
}

/// `[api]`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawApi {
    /// `false` runs the daemon without the HTTP server (default true).
    #[serde(default)]
    #[schemars(example = false)]
    enabled: Option<bool>,
    /// Address and port the API and page listen on (default "127.0.0.1:8080").
    #[serde(default)]
    #[schemars(example = &"127.0.0.1:8080")]
    listen: Option<Spanned<String>>,
    /// Reads (status, frame, live, metrics) without a token (default false;
    /// `check` warns beyond loopback).
    #[serde(default)]
    #[schemars(example = true)]
    public_read: Option<bool>,
    /// The tokens: a name, a role and where the secret comes from (never the secret).
    #[serde(default)]
    #[schemars(example = serde_json::json!([{ "name": "operator", "role": "operator", "env": "NIGHTSCAPE_OPERATOR_TOKEN" }]))]
    tokens: Vec<Spanned<RawToken>>,
    /// Open connections at most (default 256).
    #[serde(default)]
    #[schemars(example = 256, range(min = 1))]
    max_connections: Option<Spanned<i64>>,
    /// Overrides in force at most (default 1000; beyond is a 409).
    #[serde(default)]
    #[schemars(example = 1000, range(min = 1))]
    max_overrides: Option<Spanned<i64>>,
    /// DNS names the API answers to besides IP addresses and `localhost`.
    #[serde(default)]
    #[schemars(example = serde_json::json!(["lights.example.org"]))]
    hosts: Vec<Spanned<String>>,
}

/// One API token.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawToken {
    /// The token's name (the audit log shows it).
    #[schemars(example = &"operator")]
    name: Spanned<String>,
    /// "viewer", "operator" or "admin".
    #[schemars(example = &"operator", extend("anyOf" = nightscape_core::schema::words_any_case(&["viewer", "operator", "admin"])))]
    role: Spanned<String>,
    /// The environment variable holding the secret.
    #[serde(default)]
    #[schemars(example = &"NIGHTSCAPE_OPERATOR_TOKEN")]
    env: Option<Spanned<String>>,
    /// A file holding the secret (relative to the site folder).
    #[serde(default)]
    #[schemars(example = &"/etc/nightscape/operator.token")]
    file: Option<Spanned<String>>,
}

impl ApiConfig {
    /// Parse the `[api]` table and `state_dir` of a loaded site. `Ok`
    /// carries warnings (possibly none); `Err` every error, located.
    pub fn from_site(site: &Site) -> Result<(ApiConfig, Diagnostics), Diagnostics> {
        let mut diags = Diagnostics::new();
        match ApiConfig::parse(&site.source, &site.folder, &mut diags) {
            Some(c) if !diags.has_errors() => Ok((c, diags)),
            _ => Err(diags),
        }
    }

    /// Parse from the site file's text; relative paths resolve against
    /// `folder`. Problems go to `diags`; `None` when unusable.
    pub fn parse(file: &SourceFile, folder: &Path, diags: &mut Diagnostics) -> Option<ApiConfig> {
        let before = diags.items.len();
        let raw: RawRoot = nightscape_core::diag::parse_all(file, diags)?;
        let mut cfg = ApiConfig::default();
        if let Some(s) = &raw.state_dir {
            let t = s.get_ref().trim();
            if t.is_empty() {
                diags.error(file, s.span(), "state_dir is empty: leave it out for ./var");
            } else {
                cfg.state_dir = Some(folder.join(t));
            }
        }
        let Some(api) = raw.api else {
            return Some(cfg);
        };
        cfg.enabled = api.enabled.unwrap_or(true);
        cfg.public_read = api.public_read.unwrap_or(false);
        if let Some(l) = &api.listen {
            match l.get_ref().trim().parse::<SocketAddr>() {
                Ok(a) => cfg.listen = a,
                Err(_) => diags.error(
                    file,
                    l.span(),
                    format!(
                        "listen `{}` is not an address and port like \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                        l.get_ref()
                    ),
                ),
            }
        }
        let mut bounded = |v: &Option<Spanned<i64>>, key: &str, max: i64, out: &mut usize| {
            if let Some(n) = v {
                let x = *n.get_ref();
                if (1..=max).contains(&x) {
                    *out = x as usize;
                } else {
                    diags.error(file, n.span(), format!("{key} runs from 1 to {max}"));
                }
            }
        };
        bounded(
            &api.max_connections,
            "max_connections",
            65_536,
            &mut cfg.max_connections,
        );
        bounded(
            &api.max_overrides,
            "max_overrides",
            100_000,
            &mut cfg.max_overrides,
        );
        for h in &api.hosts {
            let name = h.get_ref().trim().to_ascii_lowercase();
            if name.is_empty()
                || name.len() > 253
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                diags.error(
                    file,
                    h.span(),
                    format!("hosts entry `{}` is not a DNS name like \"lights.example.org\" (no port, no scheme)", h.get_ref()),
                );
            } else {
                cfg.hosts.push(name);
            }
        }
        let mut names = BTreeSet::new();
        for t in &api.tokens {
            let t = t.get_ref();
            let name = t.name.get_ref().trim().to_string();
            if name.is_empty() {
                diags.error(
                    file,
                    t.name.span(),
                    "a token needs a name (the audit log records it)",
                );
                continue;
            }
            if !names.insert(name.clone()) {
                diags.error(
                    file,
                    t.name.span(),
                    format!("token name `{name}` is used twice"),
                );
            }
            let Some(role) = Role::parse(t.role.get_ref()) else {
                diags.error(
                    file,
                    t.role.span(),
                    format!(
                        "unknown role `{}`: use viewer, operator or admin",
                        t.role.get_ref()
                    ),
                );
                continue;
            };
            let source = match (&t.env, &t.file) {
                (Some(e), None) => {
                    let v = e.get_ref().trim();
                    if v.is_empty() || v.contains('=') || v.contains('\0') {
                        diags.error(
                            file,
                            e.span(),
                            "env names an environment variable, like \"NIGHTSCAPE_OPERATOR_TOKEN\"",
                        );
                        continue;
                    }
                    TokenSource::Env(v.to_string())
                }
                (None, Some(f)) => {
                    let v = f.get_ref().trim();
                    if v.is_empty() {
                        diags.error(file, f.span(), "file names the file holding the secret");
                        continue;
                    }
                    TokenSource::File(folder.join(v))
                }
                (Some(e), Some(_)) => {
                    diags.error(
                        file,
                        e.span(),
                        "give either env or file for a token, not both",
                    );
                    continue;
                }
                (None, None) => {
                    diags.error(
                        file,
                        t.name.span(),
                        format!(
                            "token `{name}` needs env = \"VARIABLE\" or file = \"path\": secrets never live in the site file"
                        ),
                    );
                    continue;
                }
            };
            cfg.tokens.push(TokenSpec { name, role, source });
        }
        let errors = diags.items[before..]
            .iter()
            .any(|d| d.severity == Severity::Error);
        if !errors && cfg.enabled && !cfg.listen.ip().is_loopback() {
            let at = api.listen.as_ref().map(|l| l.span()).unwrap_or(0..0);
            if cfg.public_read {
                diags.warn(
                    file,
                    at.clone(),
                    format!(
                        "public_read = true and the API listens on {} beyond this machine: anyone who can reach it reads the site's state without a token",
                        cfg.listen
                    ),
                );
            }
            if !cfg.tokens.is_empty() {
                diags.warn(
                    file,
                    at,
                    format!(
                        "the API listens on {} in clear text: tokens sent to it can be read on the network; put it behind a TLS reverse proxy (see docs/reliability.md) or listen on 127.0.0.1",
                        cfg.listen
                    ),
                );
            }
        }
        (!errors).then_some(cfg)
    }

    /// The state folder: the `--state` flag if given, else `state_dir`
    /// from the site file, else `./var`.
    pub fn state_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf)
            .or_else(|| self.state_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }

    /// Resolve secrets from the process environment and token files.
    /// Returns the usable tokens and a warning per disabled one.
    pub fn resolve_tokens(&self) -> (Vec<Token>, Vec<String>) {
        self.resolve_tokens_with(|var| std::env::var(var).ok())
    }

    /// Resolve secrets with a given environment lookup (tests).
    pub fn resolve_tokens_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> (Vec<Token>, Vec<String>) {
        let mut tokens: Vec<Token> = Vec::new();
        let mut warnings = Vec::new();
        for spec in &self.tokens {
            let disabled = |why: String| {
                format!(
                    "API token `{}` ({}) is disabled: {why}",
                    spec.name,
                    spec.role.name()
                )
            };
            let secret = match &spec.source {
                TokenSource::Env(var) => match env(var) {
                    Some(v) if !v.trim().is_empty() => v.trim().to_string(),
                    _ => {
                        warnings.push(disabled(format!(
                            "the environment variable {var} is not set"
                        )));
                        continue;
                    }
                },
                TokenSource::File(path) => match std::fs::read_to_string(path) {
                    Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
                    Ok(_) => {
                        warnings.push(disabled(format!("{} is empty", path.display())));
                        continue;
                    }
                    Err(e) => {
                        warnings.push(disabled(format!("cannot read {}: {e}", path.display())));
                        continue;
                    }
                },
            };
            if let Some(other) = tokens.iter().find(|t| t.matches(secret.as_bytes())) {
                // The first match wins at request time; a shared secret would
                // make the audit log name the wrong person.
                warnings.push(disabled(format!(
                    "it has the same secret as `{}`",
                    other.name
                )));
                continue;
            }
            if secret.len() < 16 {
                warnings.push(format!(
                    "API token `{}` is shorter than 16 characters: use a long random secret",
                    spec.name
                ));
            }
            tokens.push(Token::new(&spec.name, spec.role, &secret));
        }
        (tokens, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<ApiConfig>, Diagnostics) {
        let mut d = Diagnostics::new();
        let c = ApiConfig::parse(
            &SourceFile::new("site.toml", text),
            Path::new("/site"),
            &mut d,
        );
        (c, d)
    }

    #[test]
    fn defaults_without_a_table() {
        let (c, d) = parse("name = \"x\"\n");
        assert!(d.is_empty());
        let c = c.unwrap();
        assert_eq!(c, ApiConfig::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.state_dir(None), PathBuf::from("var"));
    }

    #[test]
    fn full_table() {
        let (c, d) = parse(
            r#"
state_dir = "../var"
[api]
listen = "0.0.0.0:9000"
public_read = true
tokens = [
  { name = "a", role = "operator", env = "OP" },
  { name = "b", role = "viewer", file = "tokens/b" },
]
"#,
        );
        // Beyond loopback: public reads and clear-text tokens are warned about.
        assert_eq!(d.items.len(), 2, "{d}");
        assert!(!d.has_errors(), "{d}");
        assert!(d.to_string().contains("public_read = true"), "{d}");
        assert!(d.to_string().contains("clear text"), "{d}");
        let c = c.unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.public_read);
        assert_eq!(c.tokens[0].source, TokenSource::Env("OP".into()));
        assert_eq!(
            c.tokens[1].source,
            TokenSource::File(PathBuf::from("/site/tokens/b"))
        );
        assert_eq!(c.state_dir(None), PathBuf::from("/site/../var"));
        assert_eq!(c.state_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }

    #[test]
    fn located_errors() {
        let (c, d) = parse(
            "name = \"x\"\n[api]\nlisten = \"nowhere\"\ntokens = [{ name = \"a\", role = \"god\", env = \"X\" }]\n",
        );
        assert!(c.is_none());
        let text = d.to_string();
        assert!(text.contains("site.toml:3:10: listen `nowhere`"), "{text}");
        assert!(text.contains("site.toml:4:"), "{text}");
        assert!(text.contains("unknown role `god`"), "{text}");
        let (_, d) = parse("[api]\nlisten = \"127.0.0.1:1\"\nport = 3\n");
        assert!(d.to_string().contains("site.toml:3:1:"), "{d}");
        let (_, d) = parse("[api]\ntokens = [{ name = \"a\", role = \"viewer\" }]\n");
        assert!(d.to_string().contains("secrets never live"), "{d}");
    }

    #[test]
    fn unset_variables_disable_tokens_without_leaking() {
        let (c, _) = parse(
            r#"
[api]
tokens = [
  { name = "a", role = "operator", env = "OP" },
  { name = "b", role = "viewer", env = "VIEW" },
  { name = "c", role = "admin", env = "ADMIN" },
]
"#,
        );
        let (tokens, warnings) = c.unwrap().resolve_tokens_with(|v| match v {
            "OP" | "ADMIN" => Some("operator-secret-0123456789".into()),
            _ => None,
        });
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].name, "a");
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("VIEW is not set"), "{warnings:?}");
        assert!(warnings[1].contains("same secret as `a`"), "{warnings:?}");
        assert!(warnings.iter().all(|w| !w.contains("operator-secret")));
    }
}
