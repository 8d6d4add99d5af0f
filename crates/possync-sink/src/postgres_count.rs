//! How many orders a PostgreSQL back office holds: what the demo shows as
//! orders arrive there, read from the server itself.

use tokio_postgres::NoTls;

use crate::postgres_config::PostgresConfig;

/// Orders in `possync_orders`; 0 before the first delivery made the table.
pub async fn held_orders(config: &PostgresConfig) -> Result<i64, String> {
    let (client, connection) = config.client_config()?.connect(NoTls).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    // The table is made at the first delivery; counting it before fails
    // at parse time, so look first.
    let count = async {
        let exists: bool =
            client.query_one("SELECT to_regclass('possync_orders') IS NOT NULL", &[]).await?.get(0);
        if !exists {
            return Ok(0);
        }
        client.query_one("SELECT count(*) FROM possync_orders", &[]).await.map(|r| r.get::<_, i64>(0))
    }
    .await;
    drop(client);
    let _ = driver.await;
    count.map_err(|e: tokio_postgres::Error| crate::postgres::describe(&e))
}
