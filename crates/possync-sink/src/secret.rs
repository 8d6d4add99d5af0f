//! A password or key, read from a file or an environment variable when
//! needed, never printed.

use std::path::PathBuf;

use serde::Deserialize;

/// A password, read when needed, never printed (`Debug` shows where it
/// comes from, not what it is).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// The first line of this file.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::File(p) => write!(f, "Secret::File({})", p.display()),
            Secret::Env(v) => write!(f, "Secret::Env({v})"),
        }
    }
}

impl Secret {
    /// Reads it. The error names the source, never the content.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.lines().next().unwrap_or_default().to_owned())
                .map_err(|e| format!("password file {}: {e}", p.display())),
            Secret::Env(v) => std::env::var(v).map_err(|_| format!("environment variable {v} is not set")),
        }
    }
}
