//! One order into the back-office tables, in one transaction: the order row
//! upserted by order id, its lines and payments replaced. An order already
//! held with the same content digest is left untouched, so a repeated
//! delivery changes nothing (not even `delivered_at`).

use possync_catalogue::AmountType;
use possync_model::{OrderState, OrderView};
use tokio_postgres::Client;

/// What writing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    New,
    Replaced,
    AlreadyHeld,
}

/// The first key of the per-order advisory locks ("poss").
const ORDER_LOCK_SPACE: i32 = 0x706f_7373;

/// Wall-clock ms as `timestamptz`, computed by the server.
const TS: &str = "to_timestamp($1::bigint / 1000.0)";

pub(crate) async fn write_order(
    client: &mut Client,
    order: &OrderView,
    from: &str,
) -> Result<Written, tokio_postgres::Error> {
    let id = order.id.as_str();
    let digest = order.content_digest();
    let tx = client.transaction().await?;
    // Two terminals delivering one order at once (a partition, a takeover)
    // take turns: the second then finds it held and writes nothing.
    tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&ORDER_LOCK_SPACE, &id]).await?;
    let held =
        tx.query_opt("SELECT digest FROM possync_orders WHERE order_id = $1 FOR UPDATE", &[&id]).await?;
    let written = match held {
        Some(row) if row.get::<_, String>(0) == digest => return Ok(Written::AlreadyHeld),
        Some(_) => Written::Replaced,
        None => Written::New,
    };
    let state = match order.state {
        OrderState::Paid => "paid",
        OrderState::Cancelled => "cancelled",
        // The engine delivers closed orders only; refuse rather than store a
        // row the schema's CHECK would refuse less clearly.
        OrderState::Open => "open",
    };
    let closed = order.closed.as_ref();
    let ext = serde_json::Value::Object(order.ext.clone()).to_string();
    let guests = i32::try_from(order.guests).unwrap_or(i32::MAX);
    tx.execute(
        &format!(
            "INSERT INTO possync_orders (order_id, name, state, created_at, created_by, created_on,
                 closed_at, closed_by, closed_on, customer, pricelist, fiscal_position, table_ref,
                 floor, guests, note, split_from, refund_of, total, paid, change_given, tip, ext,
                 digest, delivered_from, delivered_at, untaxed, tax)
             VALUES ($2, $3, $4, {TS}, $5, $6, to_timestamp($7::bigint / 1000.0), $8, $9, $10, $11,
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, CAST($23::text AS jsonb),
                 $24, $25, now(), $26, $27)
             ON CONFLICT (order_id) DO UPDATE SET
                 name = EXCLUDED.name, state = EXCLUDED.state, closed_at = EXCLUDED.closed_at,
                 closed_by = EXCLUDED.closed_by, closed_on = EXCLUDED.closed_on,
                 customer = EXCLUDED.customer, pricelist = EXCLUDED.pricelist,
                 fiscal_position = EXCLUDED.fiscal_position, table_ref = EXCLUDED.table_ref,
                 floor = EXCLUDED.floor, guests = EXCLUDED.guests, note = EXCLUDED.note,
                 total = EXCLUDED.total, paid = EXCLUDED.paid, change_given = EXCLUDED.change_given,
                 tip = EXCLUDED.tip, ext = EXCLUDED.ext, digest = EXCLUDED.digest,
                 delivered_from = EXCLUDED.delivered_from, delivered_at = now(),
                 untaxed = EXCLUDED.untaxed, tax = EXCLUDED.tax"
        ),
        &[
            &order.created.at_ms,
            &id,
            &order.name.as_str(),
            &state,
            &order.created.user,
            &order.created.terminal.as_str(),
            &closed.map(|c| c.at_ms),
            &closed.map(|c| c.user.as_str()),
            &closed.map(|c| c.terminal.as_str()),
            &order.customer,
            &order.pricelist,
            &order.fiscal_position,
            &order.table,
            &order.floor,
            &guests,
            &order.note,
            &order.split_from.as_ref().map(|o| o.as_str()),
            &order.refund_of.as_ref().map(|o| o.as_str()),
            &order.totals.total.0,
            &order.totals.paid.0,
            &order.totals.change.0,
            &order.totals.tip.0,
            &ext,
            &digest,
            &from,
            &order.totals.untaxed.0,
            &order.totals.tax.0,
        ],
    )
    .await?;
    // Lines and payments are replaced whole: what the order holds now is
    // what the back office holds (per-tax rows go with their lines).
    tx.execute("DELETE FROM possync_order_lines WHERE order_id = $1", &[&id]).await?;
    tx.execute("DELETE FROM possync_payments WHERE order_id = $1", &[&id]).await?;
    tx.execute("DELETE FROM possync_order_taxes WHERE order_id = $1", &[&id]).await?;
    let order_tax = tx
        .prepare(
            "INSERT INTO possync_order_taxes (order_id, position, tax, name, base, amount)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    for (i, t) in order.totals.taxes.iter().enumerate() {
        let position = i32::try_from(i).unwrap_or(i32::MAX);
        tx.execute(&order_tax, &[&id, &position, &t.tax_id.as_str(), &t.name, &t.base.0, &t.amount.0])
            .await?;
    }
    let line = tx
        .prepare(
            "INSERT INTO possync_order_lines (order_id, line_id, position, product, display_name,
                 qty_milli, unit_price, discount_bp, note, total, ext, untaxed, tax)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CAST($11::text AS jsonb), $12, $13)",
        )
        .await?;
    let line_tax = tx
        .prepare(
            "INSERT INTO possync_order_line_taxes (order_id, line_id, position, tax, name, amount_type,
                 rate, price_include)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    for (i, l) in order.lines.iter().enumerate() {
        let position = i32::try_from(i).unwrap_or(i32::MAX);
        let ext = serde_json::Value::Object(l.ext.clone()).to_string();
        let discount = i32::from(l.discount.0);
        tx.execute(
            &line,
            &[
                &id,
                &l.id.as_str(),
                &position,
                &l.product,
                &l.display_name,
                &l.qty.0,
                &l.unit_price.0,
                &discount,
                &l.note,
                &l.total.0,
                &ext,
                &l.untaxed.0,
                &l.tax.0,
            ],
        )
        .await?;
        for (j, t) in l.taxes.iter().enumerate() {
            let position = i32::try_from(j).unwrap_or(i32::MAX);
            let amount_type = match t.amount_type {
                AmountType::Percent => "percent",
                AmountType::Fixed => "fixed",
                AmountType::Division => "division",
            };
            let rate = t.amount.to_string();
            tx.execute(
                &line_tax,
                &[
                    &id,
                    &l.id.as_str(),
                    &position,
                    &t.id.as_str(),
                    &t.name,
                    &amount_type,
                    &rate,
                    &t.price_include,
                ],
            )
            .await?;
        }
    }
    let payment = tx
        .prepare(&format!(
            "INSERT INTO possync_payments (paid_at, order_id, payment_id, method, amount, tendered,
                 change_given, tip, reason, refund_of, paid_by, paid_on)
             VALUES ({TS}, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .await?;
    for p in &order.payments {
        tx.execute(
            &payment,
            &[
                &p.by.at_ms,
                &id,
                &p.id.as_str(),
                &p.method,
                &p.amount.0,
                &p.tendered.map(|t| t.0),
                &p.change.0,
                &p.tip.0,
                &p.reason,
                &p.refund_of.as_ref().map(|r| r.as_str()),
                &p.by.user,
                &p.by.terminal.as_str(),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(written)
}
