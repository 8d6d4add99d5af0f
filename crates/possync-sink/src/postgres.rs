//! [`PostgresSink`]: delivers orders into PostgreSQL over one connection,
//! made (and the schema migrated) on first use and again after it breaks.

use std::future::Future;
use std::pin::Pin;

use possync::{DeliveryFailure, DeliveryResult, Sink};
use possync_model::{OrderState, OrderView, SinkName, TerminalId};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};
use tracing::{info, warn};

use crate::migrations::migrate;
use crate::postgres_config::PostgresConfig;
use crate::write::{Written, write_order};

/// A PostgreSQL back office. Deliveries to it run one at a time (the
/// node's sink task calls it in turn), over one connection.
#[derive(Debug)]
pub struct PostgresSink {
    name: SinkName,
    config: PostgresConfig,
    /// Written into each order row: which terminal delivered it.
    terminal: TerminalId,
    client: Mutex<Option<Client>>,
}

impl PostgresSink {
    pub fn new(name: SinkName, config: PostgresConfig, terminal: TerminalId) -> Self {
        PostgresSink { name, config, terminal, client: Mutex::new(None) }
    }

    async fn connect(&self) -> Result<Client, String> {
        let config = self.config.client_config()?;
        let (mut client, connection) = config.connect(NoTls).await.map_err(|e| describe(&e))?;
        let sink = self.name.clone();
        // The connection object drives the socket; it ends when the client
        // is dropped or the server goes away.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                warn!(%sink, error = %e, "back-office connection ended");
            }
        });
        let version =
            migrate(&mut client).await.map_err(|e| format!("migrating the schema: {}", describe(&e)))?;
        info!(sink = %self.name, host = %self.config.host, schema = version, "connected to the back office");
        Ok(client)
    }

    /// Writes one order; connects first if needed. A failure that leaves
    /// the connection unusable drops it, so the next attempt reconnects.
    pub async fn write(&self, order: &OrderView) -> DeliveryResult {
        if order.state == OrderState::Open {
            return Err(DeliveryFailure::Refused(format!(
                "order {} is open: only closed orders are delivered",
                order.id
            )));
        }
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        let Some(client) = guard.as_mut() else { return Err("not connected".into()) };
        match write_order(client, order, self.terminal.as_str()).await {
            Ok(written) => {
                if written == Written::AlreadyHeld {
                    tracing::debug!(order = %order.id, "already held: nothing written");
                }
                Ok(order.id.to_string())
            }
            Err(e) => {
                if client.is_closed() {
                    *guard = None;
                }
                Err(classify(&e))
            }
        }
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &SinkName {
        &self.name
    }

    fn deliver<'a>(
        &'a self,
        order: &'a OrderView,
    ) -> Pin<Box<dyn Future<Output = DeliveryResult> + Send + 'a>> {
        Box::pin(self.write(order))
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            self.client.lock().await.take();
        })
    }
}

/// A data or integrity error (SQLSTATE classes 22, 23) is about this
/// order's rows; anything else is about the server.
fn classify(e: &tokio_postgres::Error) -> DeliveryFailure {
    let class = e.as_db_error().map(|db| db.code().code().get(..2).unwrap_or_default().to_owned());
    match class.as_deref() {
        Some("22" | "23") => DeliveryFailure::Refused(describe(e)),
        _ => DeliveryFailure::Unavailable(describe(e)),
    }
}

/// The error with its cause (tokio-postgres puts the server's message in
/// the source), never the connection string or password.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
