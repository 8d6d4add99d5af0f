//! Where a PostgreSQL back office is and how to log in.

use crate::secret::Secret;

/// How to reach the server. `host` is a host name or a unix socket
/// directory (a path starting with `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub password: Option<Secret>,
    /// How long connecting may take.
    pub connect_timeout: std::time::Duration,
}

impl PostgresConfig {
    /// The client's configuration, with the password read now.
    pub(crate) fn client_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host).port(self.port).user(&self.user).dbname(&self.dbname);
        c.connect_timeout(self.connect_timeout).application_name("possync");
        if let Some(secret) = &self.password {
            c.password(secret.read()?);
        }
        Ok(c)
    }
}
