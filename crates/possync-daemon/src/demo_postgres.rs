//! `possync demo --postgres [URL]`: the back office the demo terminals
//! deliver to. Without a URL, a throw-away PostgreSQL cluster in a
//! temporary directory, on a unix socket only (Debian's binaries in
//! `/usr/lib/postgresql/*/bin`, the test suite's cluster), removed when the
//! demo stops; with `postgresql://user@host[:port]/dbname`, that server
//! (password from `PGPASSWORD`, if set).

use anyhow::{Result, bail};
use possync_sink::testing::TempCluster;
use possync_sink::{PostgresConfig, Secret, held_orders};

use crate::sink_config::{SinkConfig, SinkKind};

/// The sink name the demo's PostgreSQL goes by.
pub const SINK: &str = "pg";

#[derive(Debug)]
pub enum DemoPostgres {
    /// Stopped and removed on drop.
    Temporary(TempCluster),
    Given(PostgresConfig),
}

impl DemoPostgres {
    /// `url` empty: start a throw-away cluster.
    pub fn start(url: &str) -> Result<Self> {
        if url.is_empty() {
            let cluster = TempCluster::start().map_err(|e| {
                anyhow::anyhow!("starting a throw-away PostgreSQL for the demo: {e}\n(or give --postgres postgresql://user@host/dbname)")
            })?;
            return Ok(DemoPostgres::Temporary(cluster));
        }
        Ok(DemoPostgres::Given(parse_url(url)?))
    }

    pub fn config(&self) -> PostgresConfig {
        match self {
            DemoPostgres::Temporary(c) => c.config(),
            DemoPostgres::Given(c) => c.clone(),
        }
    }

    /// Where it is, for the demo's first lines.
    pub fn describe(&self) -> String {
        let c = self.config();
        match self {
            DemoPostgres::Temporary(_) => format!("a throw-away PostgreSQL on the unix socket in {}", c.host),
            DemoPostgres::Given(_) => format!("PostgreSQL {}@{}:{}/{}", c.user, c.host, c.port, c.dbname),
        }
    }

    /// The `[[sink]]` every demo terminal gets.
    pub fn sink(&self) -> SinkConfig {
        let c = self.config();
        let (password_file, password_env) = match c.password {
            Some(Secret::File(p)) => (Some(p), None),
            Some(Secret::Env(v)) => (None, Some(v)),
            None => (None, None),
        };
        SinkConfig {
            name: SINK.into(),
            kind: SinkKind::Postgres,
            host: Some(c.host),
            port: Some(c.port),
            user: Some(c.user),
            dbname: Some(c.dbname),
            password_file,
            password_env,
            ..SinkConfig::default()
        }
    }

    /// How many orders the server holds (read from it, not from the
    /// terminals).
    pub async fn held_orders(&self) -> Result<i64> {
        held_orders(&self.config()).await.map_err(|e| anyhow::anyhow!("counting orders in PostgreSQL: {e}"))
    }
}

/// `postgresql://user@host[:port]/dbname` (or `postgres://`). No password
/// in the URL: it would end up in shell history and process lists.
fn parse_url(url: &str) -> Result<PostgresConfig> {
    let Some(rest) = url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://")) else {
        bail!("--postgres {url}: expected postgresql://user@host[:port]/dbname");
    };
    let (authority, dbname) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let Some((user, hostport)) = authority.split_once('@') else {
        bail!("--postgres {url}: expected postgresql://user@host[:port]/dbname");
    };
    if user.contains(':') {
        bail!("--postgres: put the password in PGPASSWORD, not in the URL");
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            (h, p.parse::<u16>().map_err(|_| anyhow::anyhow!("--postgres {url}: bad port {p:?}"))?)
        }
        None => (hostport, 5432),
    };
    if user.is_empty() || host.is_empty() || dbname.is_empty() {
        bail!("--postgres {url}: expected postgresql://user@host[:port]/dbname");
    }
    Ok(PostgresConfig {
        host: host.into(),
        port,
        user: user.into(),
        dbname: dbname.into(),
        password: std::env::var_os("PGPASSWORD").map(|_| Secret::Env("PGPASSWORD".into())),
        connect_timeout: std::time::Duration::from_secs(5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = parse_url("postgresql://pos@db.lan:5433/backoffice").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.user.as_str(), c.host.as_str(), c.port, c.dbname.as_str()),
            ("pos", "db.lan", 5433, "backoffice")
        );
        assert_eq!(parse_url("postgres://pos@db.lan").map(|c| c.dbname).unwrap_or_default(), "postgres");
        assert!(parse_url("postgresql://pos:secret@db.lan/x").is_err());
        assert!(parse_url("mysql://pos@db.lan/x").is_err());
    }
}
