//! `[[sink]]` and `[delivery]` in the terminal's TOML: the back offices
//! closed orders are delivered to, and delivery's timings. Passwords and
//! API keys come from a file or an environment variable, never from the
//! file itself, and are never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use possync::Sink;
use possync::engine::DeliveryConfig;
use possync::model::{SinkName, TerminalId};
use possync_catalogue::Catalogue;
use possync_sink::{
    OdooApi, OdooAuth, OdooConfig, OdooSink, OdooTarget, PostgresConfig, PostgresSink, Secret,
};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    #[default]
    Postgres,
    Odoo,
}

/// One `[[sink]]`. Which keys apply depends on `kind`; a key of the other
/// kind is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Keys the delivery state in every order: name a back office alike on
    /// every terminal (a-z, 0-9, `-`, `_`).
    pub name: String,
    pub kind: SinkKind,
    /// A file whose first line is the password...
    pub password_file: Option<PathBuf>,
    /// ...or an environment variable holding it.
    pub password_env: Option<String>,

    // PostgreSQL.
    /// Host name, or the directory of the server's unix socket (a path).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub connect_timeout_s: Option<u64>,

    // Odoo.
    /// `http[s]://host[:port]` of the Odoo server.
    pub url: Option<String>,
    /// With https: the CA certificates (PEM) instead of Mozilla's roots.
    pub ca_file: Option<PathBuf>,
    /// The Odoo database.
    pub db: Option<String>,
    pub login: Option<String>,
    /// An API key instead of a password (Odoo 14 and later): a file...
    pub api_key_file: Option<PathBuf>,
    /// ...or an environment variable.
    pub api_key_env: Option<String>,
    /// `create_from_ui` (Odoo 13-17) or `sync_from_ui` (18).
    pub api: Option<OdooApi>,
    /// The open `pos.session` orders go to.
    pub session_id: Option<i64>,
    /// possync terminal id -> its number in Odoo's order references, alike
    /// on every terminal.
    pub terminals: Option<BTreeMap<String, u16>>,
    /// The Odoo product id tips are sold as.
    pub tip_product: Option<i64>,
    /// The catalogue imported from this Odoo (a possync catalogue file or
    /// the Odoo POS session export it was imported from): ids are mapped
    /// through it.
    pub catalogue: Option<PathBuf>,
    pub timeout_s: Option<u64>,
}

/// Reads a secret from `<what>_file` or `<what>_env`, checking it can be
/// read now (its value stays unread here).
fn secret(
    name: &SinkName,
    what: &str,
    file: &Option<PathBuf>,
    env: &Option<String>,
) -> Result<Option<Secret>> {
    let secret = match (file, env) {
        (Some(_), Some(_)) => bail!("[[sink]] {name}: {what}_file and {what}_env are both set: choose one"),
        (Some(f), None) => Some(Secret::File(f.clone())),
        (None, Some(v)) => Some(Secret::Env(v.clone())),
        (None, None) => None,
    };
    if let Some(secret) = &secret {
        secret.read().map_err(|e| anyhow::anyhow!("[[sink]] {name}: {e}"))?;
    }
    Ok(secret)
}

/// A catalogue file: possync's format, or an Odoo POS session export.
fn load_catalogue(path: &Path) -> Result<Catalogue> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("catalogue {}: {e}", path.display()))?;
    let is_possync =
        serde_json::from_str::<serde_json::Value>(&text).map(|v| v.get("format").is_some()).unwrap_or(false);
    let imported = if is_possync {
        possync_catalogue::import::from_possync_json(&text)
    } else {
        possync_catalogue::import::from_odoo_session(&text)
    };
    imported.map_err(|e| anyhow::anyhow!("catalogue {}: {e}", path.display()))
}

impl SinkConfig {
    pub fn build(&self, terminal: &TerminalId) -> Result<Arc<dyn Sink>> {
        let name = SinkName::parse(&self.name).map_err(|e| anyhow::anyhow!("[[sink]] name: {e}"))?;
        let password = secret(&name, "password", &self.password_file, &self.password_env)?;
        let need = |v: &Option<String>, key: &str| {
            v.clone().ok_or_else(|| {
                anyhow::anyhow!("[[sink]] {name}: `{key}` is required for kind = {:?}", self.kind)
            })
        };
        let set = |present: bool, key: &str| -> Result<()> {
            if present {
                bail!("[[sink]] {name}: `{key}` does not apply to kind = {:?}", self.kind)
            }
            Ok(())
        };
        match self.kind {
            SinkKind::Postgres => {
                set(self.url.is_some(), "url")?;
                set(self.ca_file.is_some(), "ca_file")?;
                set(self.db.is_some(), "db")?;
                set(self.login.is_some(), "login")?;
                set(self.api_key_file.is_some() || self.api_key_env.is_some(), "api_key_file/api_key_env")?;
                set(self.api.is_some(), "api")?;
                set(self.session_id.is_some(), "session_id")?;
                set(self.terminals.is_some(), "terminals")?;
                set(self.tip_product.is_some(), "tip_product")?;
                set(self.catalogue.is_some(), "catalogue")?;
                set(self.timeout_s.is_some(), "timeout_s")?;
                let config = PostgresConfig {
                    host: need(&self.host, "host")?,
                    port: self.port.unwrap_or(5432),
                    user: need(&self.user, "user")?,
                    dbname: need(&self.dbname, "dbname")?,
                    password,
                    connect_timeout: Duration::from_secs(self.connect_timeout_s.unwrap_or(5)),
                };
                Ok(Arc::new(PostgresSink::new(name, config, terminal.clone())))
            }
            SinkKind::Odoo => {
                set(self.host.is_some(), "host")?;
                set(self.port.is_some(), "port")?;
                set(self.user.is_some(), "user")?;
                set(self.dbname.is_some(), "dbname")?;
                set(self.connect_timeout_s.is_some(), "connect_timeout_s")?;
                let login = need(&self.login, "login")?;
                let key = secret(&name, "api_key", &self.api_key_file, &self.api_key_env)?;
                let auth = match (password, key) {
                    (Some(password), None) => OdooAuth::Password { login, password },
                    (None, Some(key)) => OdooAuth::ApiKey { login, key },
                    (Some(_), Some(_)) => bail!("[[sink]] {name}: a password and an API key: choose one"),
                    (None, None) => {
                        bail!("[[sink]] {name}: needs password_file/password_env or api_key_file/api_key_env")
                    }
                };
                let config = OdooConfig {
                    url: need(&self.url, "url")?,
                    ca_file: self.ca_file.clone(),
                    db: need(&self.db, "db")?,
                    auth,
                    target: self.odoo_target(&name)?,
                    timeout: Duration::from_secs(self.timeout_s.unwrap_or(30)),
                };
                let catalogue = self.catalogue.as_deref().map(load_catalogue).transpose()?;
                let sink = OdooSink::new(name.clone(), config, catalogue)
                    .map_err(|e| anyhow::anyhow!("[[sink]] {name}: {e}"))?;
                Ok(Arc::new(sink))
            }
        }
    }
}

impl SinkConfig {
    /// What `possync export --odoo` needs of an Odoo `[[sink]]`: the shape
    /// and its settings, and the catalogue ids are mapped through.
    pub fn odoo_mapping(&self) -> Result<(OdooTarget, Catalogue)> {
        let name = SinkName::parse(&self.name).map_err(|e| anyhow::anyhow!("[[sink]] name: {e}"))?;
        if self.kind != SinkKind::Odoo {
            bail!("[[sink]] {name} is not kind = \"odoo\"");
        }
        let target = self.odoo_target(&name)?;
        let path = self
            .catalogue
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("[[sink]] {name}: `catalogue` is needed to map ids to Odoo's"))?;
        Ok((target, load_catalogue(path)?))
    }

    fn odoo_target(&self, name: &SinkName) -> Result<OdooTarget> {
        Ok(OdooTarget {
            api: self.api.ok_or_else(|| {
                anyhow::anyhow!(
                    "[[sink]] {name}: `api` is required (create_from_ui for Odoo 13-17, sync_from_ui for 18)"
                )
            })?,
            session_id: self.session_id.ok_or_else(|| {
                anyhow::anyhow!("[[sink]] {name}: `session_id` (the open pos.session) is required")
            })?,
            terminals: self.terminals.clone().unwrap_or_default(),
            tip_product: self.tip_product,
        })
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
            host: Some("/run/postgresql".into()),
            user: Some("u".into()),
            dbname: Some("d".into()),
            ..SinkConfig::default()
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
    fn an_odoo_sink_needs_its_keys_and_refuses_postgres_ones() {
        let t = TerminalId::parse("T1").unwrap_or_else(|_| unreachable!());
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let key = dir.path().join("key");
        std::fs::write(&key, "k\n").unwrap_or_else(|_| unreachable!());
        let toml = format!(
            "name = \"odoo\"\nkind = \"odoo\"\nurl = \"http://127.0.0.1:8069\"\ndb = \"shop\"\nlogin = \"pos\"\n\
             api_key_file = {key:?}\napi = \"sync_from_ui\"\nsession_id = 4\n[terminals]\nT1 = 1\n"
        );
        let odoo: SinkConfig = toml::from_str(&toml).unwrap_or_else(|e| panic!("{e}"));
        assert!(odoo.build(&t).is_ok());
        let err = |c: SinkConfig| c.build(&t).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(SinkConfig { host: Some("h".into()), ..odoo.clone() }).contains("`host` does not apply"));
        assert!(err(SinkConfig { session_id: None, ..odoo.clone() }).contains("session_id"));
        assert!(SinkConfig { url: Some("https://odoo.example".into()), ..odoo.clone() }.build(&t).is_ok());
        assert!(
            err(SinkConfig { url: Some("ftp://odoo.example".into()), ..odoo.clone() })
                .contains("expected http")
        );
        assert!(err(SinkConfig { api_key_file: None, ..odoo.clone() }).contains("needs password_file"));
        let pg = SinkConfig { kind: SinkKind::Postgres, ..odoo };
        assert!(err(pg).contains("does not apply to kind = Postgres"));
    }

    #[test]
    fn an_inline_password_is_refused() {
        let toml = "name = \"pg\"\nkind = \"postgres\"\nhost = \"h\"\nuser = \"u\"\ndbname = \"d\"\npassword = \"x\"\n";
        let err = toml::from_str::<SinkConfig>(toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unknown field `password`"), "{err}");
    }
}
