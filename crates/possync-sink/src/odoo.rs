//! [`OdooSink`]: delivers paid orders to Odoo's point of sale over
//! JSON-RPC, the way its own POS front end does (`create_from_ui` up to
//! Odoo 17, `sync_from_ui` from 18). Cancelled orders are not sent (Odoo's
//! POS keeps none); the delivery is confirmed without a call.
//!
//! Idempotency: the order's Odoo reference and uuid come from the possync
//! order ([`crate::odoo_order`]). Odoo 18 itself ignores an order whose
//! `uuid` it holds; for 13-17 the sink first looks the reference up and
//! sends nothing if Odoo has it (Odoo's own check there compares lines and
//! payments, so a repeated delivery of an order whose content changed
//! would create a second one). Either way a repeated delivery answers with
//! the order Odoo already has. A later change to a delivered order (money
//! given back on it) does not reach Odoo, which does not update a paid
//! order; the delivery is confirmed with a note saying so.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use possync::{DeliveryFailure, DeliveryResult, Sink};
use possync_catalogue::Catalogue;
use possync_model::{OrderState, OrderView, SinkName};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::odoo_config::{OdooApi, OdooConfig};
use crate::odoo_ids::OdooIds;
use crate::odoo_order::odoo_order;
use crate::odoo_rpc::OdooRpc;

#[derive(Debug)]
pub struct OdooSink {
    name: SinkName,
    config: OdooConfig,
    /// The catalogue imported from this Odoo; orders wait for one.
    ids: RwLock<Option<Arc<OdooIds>>>,
    rpc: OdooRpc,
}

impl OdooSink {
    /// Fails only on a malformed URL.
    pub fn new(name: SinkName, config: OdooConfig, catalogue: Option<Catalogue>) -> Result<Self, String> {
        let rpc = OdooRpc::new(config.clone())?;
        let ids = RwLock::new(catalogue.map(|c| Arc::new(OdooIds::new(c))));
        Ok(OdooSink { name, config, ids, rpc })
    }

    /// Replaces the catalogue ids are mapped through (a new import).
    pub fn set_catalogue(&self, catalogue: Catalogue) {
        let ids = Arc::new(OdooIds::new(catalogue));
        match self.ids.write() {
            Ok(mut g) => *g = Some(ids),
            Err(poisoned) => *poisoned.into_inner() = Some(ids),
        }
    }

    fn ids(&self) -> Option<Arc<OdooIds>> {
        match self.ids.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Delivers one order; the reference is `pos.order <id>`.
    pub async fn write(&self, order: &OrderView) -> DeliveryResult {
        match order.state {
            OrderState::Open => {
                return Err(DeliveryFailure::Refused(format!(
                    "order {} is open: only closed orders are delivered",
                    order.id
                )));
            }
            OrderState::Cancelled => return Ok("not sent: Odoo keeps no cancelled POS orders".into()),
            OrderState::Paid => {}
        }
        let ids =
            self.ids().ok_or("held, not sent to Odoo: no catalogue imported from this Odoo is loaded")?;
        let view = serde_json::to_value(order).map_err(|e| format!("order {}: {e}", order.id))?;
        // The order as it is cannot go: it waits on its own, the others go on.
        let mapped = odoo_order(&view, &self.config.target, &ids)
            .map_err(|e| DeliveryFailure::Refused(e.to_string()))?;
        match self.config.target.api {
            OdooApi::CreateFromUi => {
                if let Some(id) = self.find(&mapped.reference).await? {
                    debug!(order = %order.id, odoo = id, "already in Odoo: nothing sent");
                    return Ok(format!("pos.order {id}"));
                }
                let result = self
                    .rpc
                    .call_kw("pos.order", "create_from_ui", json!([[mapped.payload], false]), json!({}))
                    .await?;
                match first_id(&result) {
                    Some(id) => Ok(format!("pos.order {id}")),
                    // 13-17 skip an order they judge the same as one they
                    // hold and return nothing for it: find it.
                    None => match self.find(&mapped.reference).await? {
                        Some(id) => Ok(format!("pos.order {id}")),
                        None => Err(DeliveryFailure::Refused(format!(
                            "Odoo created no order for {} and holds none",
                            mapped.reference
                        ))),
                    },
                }
            }
            OdooApi::SyncFromUi => {
                let result = self
                    .rpc
                    .call_kw("pos.order", "sync_from_ui", json!([[mapped.payload]]), json!({}))
                    .await?;
                match first_id(&result["pos.order"]) {
                    Some(id) => Ok(format!("pos.order {id}")),
                    None => {
                        warn!(order = %order.id, "Odoo answered sync_from_ui without the order");
                        Err(DeliveryFailure::Refused(format!(
                            "Odoo answered without pos.order for {}",
                            mapped.reference
                        )))
                    }
                }
            }
        }
    }

    /// The id of the `pos.order` with this reference, if Odoo has one.
    async fn find(&self, reference: &str) -> Result<Option<i64>, DeliveryFailure> {
        let found = self
            .rpc
            .call_kw(
                "pos.order",
                "search_read",
                json!([[["pos_reference", "=", reference]]]),
                json!({"fields": ["id"], "limit": 1}),
            )
            .await?;
        Ok(first_id(&found))
    }
}

/// `[{"id": n, ...}, ...]` -> n.
fn first_id(records: &Value) -> Option<i64> {
    records.as_array()?.first()?["id"].as_i64()
}

impl Sink for OdooSink {
    fn name(&self) -> &SinkName {
        &self.name
    }

    fn deliver<'a>(
        &'a self,
        order: &'a OrderView,
    ) -> Pin<Box<dyn Future<Output = DeliveryResult> + Send + 'a>> {
        Box::pin(self.write(order))
    }
}
