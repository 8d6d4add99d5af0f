//! `[[sink]]` and `[delivery]` in the terminal's TOML: the back offices
//! closed orders are delivered to, and delivery's timings. Passwords come
//! from a file or an environment variable, never from the file itself, and
//! are never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use possync::Sink;
use possync::engine::DeliveryConfig;
use possync::model::{SinkName, TerminalId};
use possync_sink::{PostgresConfig, PostgresSink, Secret};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Postgres,
}

/// One `[[sink]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Keys the delivery state in every order: name a back office alike on
    /// every terminal (a-z, 0-9, `-`, `_`).
    pub name: String,
    pub kind: SinkKind,
    /// Host name, or the directory of the server's unix socket (a path).
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    pub dbname: String,
    /// A file whose first line is the password...
    pub password_file: Option<PathBuf>,
    /// ...or an environment variable holding it.
    pub password_env: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
}

fn default_port() -> u16 {
    5432
}

fn default_connect_timeout() -> u64 {
    5
}

impl SinkConfig {
    pub fn build(&self, terminal: &TerminalId) -> Result<Arc<dyn Sink>> {
        let name = SinkName::parse(&self.name).map_err(|e| anyhow::anyhow!("[[sink]] name: {e}"))?;
        let password = match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => {
                bail!("[[sink]] {name}: password_file and password_env are both set: choose one")
            }
            (Some(f), None) => Some(Secret::File(f.clone())),
            (None, Some(v)) => Some(Secret::Env(v.clone())),
            (None, None) => None,
        };
        if let Some(secret) = &password {
            // Found now rather than at the first delivery; the value stays unread here.
            secret.read().map_err(|e| anyhow::anyhow!("[[sink]] {name}: {e}"))?;
        }
        match self.kind {
            SinkKind::Postgres => {
                let config = PostgresConfig {
                    host: self.host.clone(),
                    port: self.port,
                    user: self.user.clone(),
                    dbname: self.dbname.clone(),
                    password,
                    connect_timeout: Duration::from_secs(self.connect_timeout_s),
                };
                Ok(Arc::new(PostgresSink::new(name, config, terminal.clone())))
            }
        }
    }
}

/// `[delivery]`: every field optional; defaults in `DeliveryConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFile {
    pub lease_ms: Option<u64>,
    pub takeover_after_ms: Option<u64>,
    pub takeover_stagger_ms: Option<u64>,
    pub attempt_timeout_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
}

impl DeliveryFile {
    pub fn apply(&self, mut cfg: DeliveryConfig) -> Result<DeliveryConfig> {
        let ms = Duration::from_millis;
        if let Some(v) = self.lease_ms {
            cfg.lease = ms(v);
        }
        if let Some(v) = self.takeover_after_ms {
            cfg.takeover_after = ms(v);
        }
        if let Some(v) = self.takeover_stagger_ms {
            cfg.takeover_stagger = ms(v);
        }
        if let Some(v) = self.attempt_timeout_ms {
            cfg.attempt_timeout = ms(v);
        }
        if let Some(v) = self.backoff_max_ms {
            cfg.backoff_max = ms(v);
        }
        if cfg.lease <= cfg.attempt_timeout {
            bail!("[delivery] lease must be longer than attempt_timeout, or claims lapse during an attempt");
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_needs_one_password_source_and_a_plain_name() {
        let t = TerminalId::parse("T1").unwrap_or_else(|_| unreachable!());
        let base = SinkConfig {
            name: "pg".into(),
            kind: SinkKind::Postgres,
            host: "/run/postgresql".into(),
            port: 5432,
            user: "u".into(),
            dbname: "d".into(),
            password_file: None,
            password_env: None,
            connect_timeout_s: 5,
        };
        assert!(base.build(&t).is_ok());
        let both =
            SinkConfig { password_file: Some("/x".into()), password_env: Some("X".into()), ..base.clone() };
        assert!(both.build(&t).err().map(|e| e.to_string()).unwrap_or_default().contains("choose one"));
        let bad = SinkConfig { name: "Back Office".into(), ..base.clone() };
        assert!(bad.build(&t).is_err());
        let missing = SinkConfig { password_env: Some("POSSYNC_TEST_UNSET_PW".into()), ..base };
        assert!(
            missing
                .build(&t)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("POSSYNC_TEST_UNSET_PW")
        );
    }

    #[test]
    fn an_inline_password_is_refused() {
        let toml = "name = \"pg\"\nkind = \"postgres\"\nhost = \"h\"\nuser = \"u\"\ndbname = \"d\"\npassword = \"x\"\n";
        let err = toml::from_str::<SinkConfig>(toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unknown field `password`"), "{err}");
    }
}
