//! The back-office schema, as numbered migrations. Applied in order at
//! connect, each once, under an advisory lock (three terminals connecting at
//! once must not race), recorded in `possync_schema_migrations`. Never edit
//! a released migration: add the next one.

use tokio_postgres::Client;

/// `(version, SQL)`, in order.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE possync_orders (
    order_id        text PRIMARY KEY,
    name            text NOT NULL,
    state           text NOT NULL CHECK (state IN ('paid', 'cancelled')),
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    created_on      text NOT NULL,
    closed_at       timestamptz,
    closed_by       text,
    closed_on       text,
    customer        text,
    pricelist       text,
    fiscal_position text,
    table_ref       text,
    floor           text,
    guests          integer NOT NULL,
    note            text NOT NULL,
    split_from      text,
    refund_of       text,
    total           bigint NOT NULL,
    paid            bigint NOT NULL,
    change_given    bigint NOT NULL,
    tip             bigint NOT NULL,
    ext             jsonb NOT NULL,
    digest          text NOT NULL,
    delivered_from  text NOT NULL,
    delivered_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE possync_order_lines (
    order_id     text NOT NULL REFERENCES possync_orders ON DELETE CASCADE,
    line_id      text NOT NULL,
    position     integer NOT NULL,
    product      text NOT NULL,
    display_name text NOT NULL,
    qty_milli    bigint NOT NULL,
    unit_price   bigint NOT NULL,
    discount_bp  integer NOT NULL,
    note         text NOT NULL,
    total        bigint NOT NULL,
    ext          jsonb NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
CREATE TABLE possync_order_line_taxes (
    order_id text NOT NULL,
    line_id  text NOT NULL,
    tax      text NOT NULL,
    base     bigint NOT NULL,
    amount   bigint NOT NULL,
    PRIMARY KEY (order_id, line_id, tax),
    FOREIGN KEY (order_id, line_id) REFERENCES possync_order_lines ON DELETE CASCADE
);
CREATE TABLE possync_payments (
    order_id     text NOT NULL REFERENCES possync_orders ON DELETE CASCADE,
    payment_id   text NOT NULL,
    method       text NOT NULL,
    amount       bigint NOT NULL,
    tendered     bigint,
    change_given bigint NOT NULL,
    tip          bigint NOT NULL,
    reason       text,
    refund_of    text,
    paid_at      timestamptz NOT NULL,
    paid_by      text NOT NULL,
    paid_on      text NOT NULL,
    PRIMARY KEY (order_id, payment_id)
);
CREATE INDEX possync_orders_closed_at ON possync_orders (closed_at);
"#,
    ),
    (
        2,
        r#"
ALTER TABLE possync_orders ADD COLUMN untaxed bigint, ADD COLUMN tax bigint;
ALTER TABLE possync_order_lines ADD COLUMN untaxed bigint, ADD COLUMN tax bigint;
-- Version 1 declared per-line tax amounts that no order had (orders carried
-- no taxes then): the table was always empty. A line keeps copies of its
-- taxes' definitions; amounts are per order and tax (Odoo keeps per-line
-- tax ids, and tax amounts on the journal entry).
DROP TABLE possync_order_line_taxes;
CREATE TABLE possync_order_line_taxes (
    order_id      text NOT NULL,
    line_id       text NOT NULL,
    position      integer NOT NULL,
    tax           text NOT NULL,
    name          text NOT NULL,
    amount_type   text NOT NULL,
    rate          text NOT NULL,
    price_include boolean NOT NULL,
    PRIMARY KEY (order_id, line_id, position),
    FOREIGN KEY (order_id, line_id) REFERENCES possync_order_lines ON DELETE CASCADE
);
CREATE TABLE possync_order_taxes (
    order_id text NOT NULL REFERENCES possync_orders ON DELETE CASCADE,
    position integer NOT NULL,
    tax      text NOT NULL,
    name     text NOT NULL,
    base     bigint NOT NULL,
    amount   bigint NOT NULL,
    PRIMARY KEY (order_id, position)
);
"#,
    ),
];

/// Any key; the same on every terminal.
const LOCK_KEY: i64 = 0x0070_6f73_7379_6e63; // "possync"

/// Brings the schema up to date; returns the version it is at.
pub async fn migrate(client: &mut Client) -> Result<i32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS possync_schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM possync_schema_migrations", &[]).await?;
    let mut current: i32 = row.get(0);
    for (version, sql) in MIGRATIONS {
        if *version > current {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO possync_schema_migrations (version) VALUES ($1)", &[version]).await?;
            current = *version;
        }
    }
    tx.commit().await?;
    Ok(current)
}
