//! Keys: the multi-session's pre-shared key (libp2p pnet "swarm key" file
//! format) and the terminal's libp2p identity.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;

/// Errors reading or writing key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a possync session key: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("could not draw random bytes: {0}")]
    Random(String),
}

/// The key every terminal of a multi-session shares. Without it a node cannot
/// complete the first handshake, so it can neither read nor write.
#[derive(Clone)]
pub struct SessionKey(PreSharedKey);

impl std::fmt::Debug for SessionKey {
    /// Shows the fingerprint, never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKey(fingerprint {})", self.0.fingerprint())
    }
}

impl SessionKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SessionKey(PreSharedKey::new(bytes)))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionKey(PreSharedKey::new(bytes))
    }

    /// Parses the key file text (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits).
    pub fn parse(text: &str, path: &Path) -> Result<Self, KeyError> {
        PreSharedKey::from_str(text.trim_end())
            .map(SessionKey)
            .map_err(|e| KeyError::Invalid { path: path.to_owned(), detail: e.to_string() })
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text =
            fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Writes the key file, readable by its owner only (0600), refusing to
    /// overwrite an existing file.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io { path: path.to_owned(), source };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(self.0.to_key_file().as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// A short public fingerprint, safe to log and show.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint().to_string()
    }

    pub(crate) fn psk(&self) -> PreSharedKey {
        self.0
    }
}

/// How the terminal's libp2p identity is chosen.
#[derive(Clone, Debug, Default)]
pub enum Identity {
    /// A fresh identity at every start (the default). A data directory copied
    /// to a second machine then never shares a peer id with the original.
    #[default]
    Ephemeral,
    /// Kept in the data directory (`identity.key`), for allow-lists of
    /// terminal keys.
    Persistent,
    /// Given by the embedding program.
    Fixed(Box<Keypair>),
}

impl Identity {
    pub(crate) fn resolve(&self, data_dir: &Path) -> Result<Keypair, KeyError> {
        match self {
            Identity::Ephemeral => Ok(Keypair::generate_ed25519()),
            Identity::Fixed(k) => Ok((**k).clone()),
            Identity::Persistent => {
                let path = data_dir.join("identity.key");
                let io = |source| KeyError::Io { path: path.clone(), source };
                match fs::read(&path) {
                    Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
                        .map_err(|e| KeyError::Invalid { path: path.clone(), detail: e.to_string() }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let key = Keypair::generate_ed25519();
                        let bytes = key
                            .to_protobuf_encoding()
                            .map_err(|e| KeyError::Invalid { path: path.clone(), detail: e.to_string() })?;
                        let mut options = fs::OpenOptions::new();
                        options.write(true).create_new(true);
                        #[cfg(unix)]
                        {
                            use std::os::unix::fs::OpenOptionsExt;
                            options.mode(0o600);
                        }
                        let mut file = options.open(&path).map_err(io)?;
                        file.write_all(&bytes).map_err(io)?;
                        file.sync_all().map_err(io)?;
                        Ok(key)
                    }
                    Err(e) => Err(io(e)),
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_key_file_round_trips_and_rejects_garbage() {
        let dir = std::env::temp_dir().join(format!("possync-key-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.key");
        let _ = fs::remove_file(&path);
        let key = SessionKey::generate().unwrap();
        key.save(&path).unwrap();
        assert!(key.save(&path).is_err(), "never overwrites");
        let loaded = SessionKey::load(&path).unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(SessionKey::parse("hello", &path), Err(KeyError::Invalid { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }
}
