//! Signed commands: each node's ed25519 key pair, and who may command the
//! fleet.
//!
//! A node's secret key lives in `<state>/node.key` (mode 0600, created on
//! first start or by `nightscape fleet key`); the site lists public keys
//! (`[[nodes]] key`, `[fleet] signers`). A command on the broker is then
//! an envelope ([`wire::Signed`]): the command's JSON as a string, the
//! signer's name and a signature over the topic and that string. When any
//! node lists a key, a node applies only commands whose signature
//! verifies against a listed key, from a signer allowed the target.

use super::wire::{self, Command, Signed};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use nightscape_core::site::fleet::{base64_decode, base64_encode, PublicKey};
use nightscape_core::site::Site;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The key file in a state folder.
pub fn key_path(state: &Path) -> PathBuf {
    state.join("node.key")
}

const SECRET_PREFIX: &str = "ed25519-secret:";

/// Read the node's key pair from `<state>/node.key`, creating it (0600)
/// if there is none.
pub fn load_or_create(state: &Path) -> Result<SigningKey, String> {
    let path = key_path(state);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_secret(&text).ok_or_else(|| {
            format!(
                "{} is not a nightscape key file ({SECRET_PREFIX}<base64>)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| format!("no random numbers: {e}"))?;
            let key = SigningKey::from_bytes(&seed);
            std::fs::create_dir_all(state)
                .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
            write_private(&path, &format!("{SECRET_PREFIX}{}\n", base64_encode(&seed)))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Read a key file (for `nightscape fleet sign --key`).
pub fn read_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_secret(&text).ok_or_else(|| format!("{} is not a nightscape key file", path.display()))
}

fn parse_secret(text: &str) -> Option<SigningKey> {
    let b = base64_decode(text.trim().strip_prefix(SECRET_PREFIX)?)?;
    Some(SigningKey::from_bytes(&b.try_into().ok()?))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// The public half, as the site file writes it.
pub fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Wrap a command's JSON in a signed envelope for `topic`.
pub fn sign(key: &SigningKey, signer: &str, topic: &str, body: String) -> Vec<u8> {
    let sig = key.sign(&wire::signed_bytes(topic, &body));
    serde_json::to_vec(&Signed {
        body,
        signer: signer.to_string(),
        signature: base64_encode(&sig.to_bytes()),
    })
    .unwrap_or_default()
}

/// `body` signed by `signer` when there is a key, else as it is.
pub fn maybe_sign(key: Option<&SigningKey>, signer: &str, topic: &str, body: String) -> Vec<u8> {
    match key {
        Some(k) => sign(k, signer, topic, body),
        None => body.into_bytes(),
    }
}

/// The message inside an envelope (or the payload, if it is not one).
pub fn body_of(payload: &[u8]) -> Vec<u8> {
    match Signed::parse(payload) {
        Some(env) => env.body.into_bytes(),
        None => payload.to_vec(),
    }
}

/// Why a command was refused (the alarm says which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unsigned,
    BadSignature,
    UnknownSigner(String),
    NotAllowed(String),
    Replayed,
    Future,
}

impl Refusal {
    /// The alarm key's reason part.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad signature",
            Refusal::UnknownSigner(_) => "unknown signer",
            Refusal::NotAllowed(_) => "not allowed",
            Refusal::Replayed => "replayed",
            Refusal::Future => "future",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unsigned => write!(f, "unsigned"),
            Refusal::BadSignature => write!(f, "bad signature"),
            Refusal::UnknownSigner(s) => write!(f, "unknown signer `{s}`"),
            Refusal::NotAllowed(t) => write!(f, "not allowed: the signer may not command `{t}`"),
            Refusal::Replayed => write!(f, "replayed (not newer than the version already seen)"),
            Refusal::Future => write!(f, "far in the future"),
        }
    }
}

/// Who may sign commands, from the site.
pub struct Trust {
    /// Any node lists a key: unsigned commands are refused.
    pub required: bool,
    /// Signer name → key and the targets it may command (None: any).
    keys: HashMap<String, (VerifyingKey, Option<Vec<String>>)>,
}

impl Trust {
    pub fn from_site(site: &Site) -> Trust {
        let mut keys = HashMap::new();
        for n in &site.nodes {
            if let Some(k) = n.key.and_then(|k| VerifyingKey::from_bytes(&k.0).ok()) {
                keys.insert(n.name.clone(), (k, None));
            }
        }
        if let Some(f) = &site.fleet {
            for s in &f.signers {
                if let Ok(k) = VerifyingKey::from_bytes(&s.key.0) {
                    keys.insert(s.name.clone(), (k, s.targets.clone()));
                }
            }
        }
        Trust {
            required: site.nodes.iter().any(|n| n.key.is_some()),
            keys,
        }
    }

    /// The command body of `payload` on `topic` and who signed it, if this
    /// node may apply it as far as signatures go.
    pub fn open(&self, topic: &str, payload: &[u8]) -> Result<(Vec<u8>, Option<String>), Refusal> {
        let Some(env) = Signed::parse(payload) else {
            if self.required {
                return Err(Refusal::Unsigned);
            }
            return Ok((payload.to_vec(), None));
        };
        let Some((key, _)) = self.keys.get(&env.signer) else {
            if self.required {
                return Err(Refusal::UnknownSigner(clip(&env.signer)));
            }
            return Ok((env.body.into_bytes(), None));
        };
        let sig = base64_decode(&env.signature)
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| ed25519_dalek::Signature::from_bytes(&b))
            .ok_or(Refusal::BadSignature)?;
        key.verify(&wire::signed_bytes(topic, &env.body), &sig)
            .map_err(|_| Refusal::BadSignature)?;
        Ok((env.body.into_bytes(), Some(env.signer)))
    }

    /// Whether a node's own message (status, energy, alarms) on `topic`
    /// is signed by that node's listed key; None when the fleet does not sign.
    pub fn verify_own(&self, topic: &str, node: &str, payload: &[u8]) -> Option<bool> {
        if !self.required {
            return None;
        }
        Some(matches!(
            (self.open(topic, payload), self.keys.get(node)),
            (Ok((_, Some(signer))), Some((_, None))) if signer == node
        ))
    }

    /// Whether `signer` may issue `cmd` (nodes: anything; other signers:
    /// the targets they are listed with).
    pub fn allows(&self, signer: &str, cmd: &Command) -> Result<(), Refusal> {
        let Some((_, Some(targets))) = self.keys.get(signer) else {
            return Ok(());
        };
        let target = if let Some(o) = &cmd.override_ {
            o.target.clone()
        } else if let Some(s) = &cmd.scene {
            s.target.clone().unwrap_or_else(|| "*".into())
        } else if let Some(m) = &cmd.master {
            m.target.clone()
        } else {
            "*".into()
        };
        if targets.contains(&target) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed(clip(&target)))
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let k = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(public(&k), public(&again));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let topic = "nightscape/x/cmd/override/a";
        let env = sign(&k, "a", topic, "{}".into());
        let v = VerifyingKey::from_bytes(&public(&k).0).unwrap();
        let trust = Trust {
            required: true,
            keys: [("a".to_string(), (v, None))].into_iter().collect(),
        };
        assert_eq!(trust.open(topic, &env).unwrap().1.as_deref(), Some("a"));
        // Moved to another topic, it no longer verifies.
        assert_eq!(
            trust.open("nightscape/x/cmd/override/b", &env).unwrap_err(),
            Refusal::BadSignature
        );
        assert_eq!(trust.open(topic, b"{}").unwrap_err(), Refusal::Unsigned);
    }
}
