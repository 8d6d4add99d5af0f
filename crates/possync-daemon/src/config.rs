//! The terminal's configuration: a TOML file, with command-line flags on top.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::policy::Policy;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub session: Option<String>,
    pub terminal: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub listen: Vec<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub key_file: Option<PathBuf>,
    /// Run without a session key (an open floor): must be asked for.
    #[serde(default)]
    pub insecure_no_key: bool,
    pub api: Option<SocketAddr>,
    pub api_token: Option<String>,
    pub mdns: Option<bool>,
    /// Keep this terminal's libp2p identity in the data directory (needed for
    /// others' allow-lists to name it). Default: a fresh identity per start.
    #[serde(default)]
    pub persistent_identity: bool,
    /// When set, only these terminals (peer ids, as logged at start) may connect.
    #[serde(default)]
    pub allowed_peers: Vec<String>,
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Back offices every closed order is delivered to (`[[sink]]`).
    #[serde(default, rename = "sink")]
    pub sinks: Vec<crate::sink_config::SinkConfig>,
    /// A catalogue file (possync or Odoo format, told by its shape) the
    /// terminal imports on its first start, when it has no catalogue yet.
    /// Later starts keep the floor's catalogue; a file that does not read
    /// stops the start with the line and field that is wrong.
    pub catalogue: Option<PathBuf>,
    /// Delivery's timings (`[delivery]`).
    #[serde(default)]
    pub delivery: crate::sink_config::DeliveryFile,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // The parser's own display quotes the offending line, which may hold
        // a secret (an inline password): only its message and position go out.
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
            anyhow::anyhow!("{}: invalid configuration{at}: {}", path.display(), e.message())
        })
    }
}

/// The API may listen beyond loopback only with a token.
pub fn check_api_exposure(api: &SocketAddr, token: Option<&str>) -> Result<()> {
    if !api.ip().is_loopback() && token.is_none_or(str::is_empty) {
        bail!(
            "the API address {api} is not loopback: set api_token (or --api-token) so only the POS can use it"
        );
    }
    Ok(())
}
