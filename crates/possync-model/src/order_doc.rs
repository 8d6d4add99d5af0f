//! [`OrderDoc`]: one order, one Automerge document. Local edits go in through
//! [`OrderDoc::edit`] and come out as change bytes to broadcast; remote changes
//! go in through [`OrderDoc::apply_remote`] and are validated, so a change that
//! would break the schema is refused and leaves the order exactly as it was.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::author::{Author, EditContext, Stamp};
use crate::change_summary::ChangeSummary;
use crate::chunks::{self, Expect};
use crate::conflict::ReviewFlag;
use crate::edit::{Edit, NewLine, NewOrder};
use crate::error::{EditError, LoadError, RemoteError, SchemaError};
use crate::ext;
use crate::ids::{LineId, OrderId, OrderName, PaymentId};
use crate::pricing;
use crate::privileges::{self, Roles};
use crate::schema::*;
use crate::till;
use crate::touched::touched_by;
use crate::view::{OrderView, content_digest};
use possync_money::{Money, Quantity};

/// A change made here, ready to broadcast and to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalChange {
    pub hash: ChangeHash,
    /// The raw Automerge change, as `Change::raw_bytes` (compressed when large).
    pub bytes: Vec<u8>,
    /// What the change did, for change events.
    pub summary: ChangeSummary,
}

/// What applying remote changes did.
#[derive(Clone, Debug, Default)]
pub struct RemoteApplied {
    /// What became visible: `None` when every change was a duplicate or is
    /// still waiting for its dependencies.
    pub summary: Option<ChangeSummary>,
    /// The changes that were applied, raw, in causal order: what to persist.
    pub new_changes: Vec<Vec<u8>>,
    /// Dependencies that some received change is waiting for. Automerge keeps
    /// such changes aside, invisible, until these arrive: ask a peer for them.
    pub missing_deps: Vec<ChangeHash>,
}

/// What a guarded merge produced, before it is committed to `OrderDoc`.
enum Merged {
    Nothing {
        missing_deps: Vec<ChangeHash>,
    },
    Changed {
        view: Box<OrderView>,
        authors: Vec<Author>,
        new_changes: Vec<Vec<u8>>,
        missing_deps: Vec<ChangeHash>,
    },
}

/// One order document.
#[derive(Debug, Clone)]
pub struct OrderDoc {
    id: OrderId,
    doc: Automerge,
    /// The validated view at the current heads, when known. Every change goes
    /// through this type and refreshes it, so each change costs one read of
    /// the document, and change summaries compare two views instead of
    /// diffing the document.
    view: Option<OrderView>,
}

impl OrderDoc {
    /// Opens a new order. `actor` should be fresh for every start of the
    /// terminal process (see `docs/ORDER_MODEL.md`, "Actor ids").
    pub fn open(actor: ActorId, ctx: &EditContext, new: &NewOrder) -> Result<(Self, LocalChange), EditError> {
        Self::create(actor, ctx, new, |_, _| Ok(()))
    }

    /// Creates the order in one change; `fill` may add to it (a split adds its
    /// lines), so that peers receive a new order whole, in one message.
    fn create(
        actor: ActorId,
        ctx: &EditContext,
        new: &NewOrder,
        fill: impl FnOnce(&mut Transaction<'_>, &ObjId) -> Result<(), EditError>,
    ) -> Result<(Self, LocalChange), EditError> {
        check_opt_text("table", new.fields.table.as_deref())?;
        check_opt_text("floor", new.fields.floor.as_deref())?;
        check_opt_text("customer", new.fields.customer.as_deref())?;
        check_opt_text("pricelist", new.fields.pricelist.as_deref())?;
        check_opt_text("fiscal_position", new.fields.fiscal_position.as_deref())?;
        check_guests(new.fields.guests)?;
        ext::check_fields(&new.fields.ext)?;
        if new.fields.refund_of.as_ref() == Some(&new.id) {
            return Err(invalid("refund_of", "an order cannot refund itself".into()));
        }
        let mut order = OrderDoc { id: new.id.clone(), doc: Automerge::new().with_actor(actor), view: None };
        let stamp = ctx.stamp();
        let mut tx = order.doc.transaction();
        tx.put(ROOT, K_SCHEMA, SCHEMA_VERSION)?;
        tx.put(ROOT, K_ID, new.id.as_str())?;
        tx.put(ROOT, K_NAME, new.name.as_str())?;
        put_stamp(&mut tx, &ROOT, K_CREATED, &stamp)?;
        put_stamp(&mut tx, &ROOT, K_CHANGED, &stamp)?;
        put_opt_str(&mut tx, K_CUSTOMER, new.fields.customer.as_deref())?;
        put_opt_str(&mut tx, K_PRICELIST, new.fields.pricelist.as_deref())?;
        put_opt_str(&mut tx, K_FISCAL_POSITION, new.fields.fiscal_position.as_deref())?;
        put_opt_str(&mut tx, K_TABLE, new.fields.table.as_deref())?;
        put_opt_str(&mut tx, K_FLOOR, new.fields.floor.as_deref())?;
        tx.put(ROOT, K_GUESTS, i64::from(new.fields.guests))?;
        tx.put(ROOT, K_NOTE, "")?;
        if let Some(rules) = &new.fields.pricing {
            pricing::write_rules(&mut tx, rules)?;
        }
        let lines = tx.put_object(ROOT, K_LINES, ObjType::Map)?;
        tx.put_object(ROOT, K_PAYMENTS, ObjType::Map)?;
        let ext_obj = tx.put_object(ROOT, K_EXT, ObjType::Map)?;
        ext::write_fields(&mut tx, &ext_obj, &new.fields.ext)?;
        if let Some(original) = &new.fields.refund_of {
            tx.put(ROOT, K_REFUND_OF, original.as_str())?;
        }
        fill(&mut tx, &lines)?;
        let change = commit(tx, ctx)?.ok_or_else(|| EditError::Automerge("opening made no change".into()))?;
        let change = order.local_change(change, None, ctx)?;
        Ok((order, change))
    }

    /// An order known so far only by id, to receive its changes into.
    pub fn empty(id: OrderId, actor: ActorId) -> Self {
        OrderDoc { id, doc: Automerge::new().with_actor(actor), view: None }
    }

    /// Loads a saved order and validates it.
    pub fn load(id: OrderId, bytes: &[u8], actor: ActorId) -> Result<Self, LoadError> {
        chunks::screen(bytes, Expect::Saved).map_err(|e| LoadError::Decode(e.to_string()))?;
        let doc = catch_unwind(|| Automerge::load(bytes))
            .map_err(|_| LoadError::Decode("automerge panicked on this document".into()))?
            .map_err(|e| LoadError::Decode(e.to_string()))?;
        let mut order = OrderDoc { id, doc: doc.with_actor(actor), view: None };
        order.view = Some(order.read_view()?);
        Ok(order)
    }

    pub fn id(&self) -> &OrderId {
        &self.id
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Read-only access to the document, e.g. for `get_changes` during catch-up.
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// True until the order's creating change has arrived.
    pub fn is_empty(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The validated, typed view with totals, conflicts and review flags.
    pub fn view(&self) -> Result<OrderView, crate::error::SchemaError> {
        match &self.view {
            Some(v) => Ok(v.clone()),
            None => self.read_view(),
        }
    }

    /// The view, borrowed, when this document is complete and valid.
    pub fn current_view(&self) -> Option<&OrderView> {
        self.view.as_ref()
    }

    fn read_view(&self) -> Result<OrderView, crate::error::SchemaError> {
        OrderView::read(&self.doc, &self.id)
    }

    /// Gives the order another name, keeping the first in `renamed_from`.
    /// Only the terminal whose prefix the name carries renames, and only an
    /// order whose name turned out to be used already on the floor (the
    /// engine decides: ORDER_MODEL "Names"); works in every state, since a
    /// closed order's name still reaches the back office.
    pub fn rename(&mut self, ctx: &EditContext, name: &OrderName) -> Result<Option<LocalChange>, EditError> {
        let view = self.view()?;
        if view.name == *name {
            return Ok(None);
        }
        let stamp = ctx.stamp();
        let mut tx = self.doc.transaction();
        tx.put(ROOT, K_NAME, name.as_str())?;
        if view.renamed_from.is_none() {
            tx.put(ROOT, K_RENAMED_FROM, view.name.as_str())?;
        }
        put_stamp(&mut tx, &ROOT, K_CHANGED, &stamp)?;
        match commit(tx, ctx)? {
            Some(hash) => self.local_change(hash, Some(view), ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Applies one edit. `Ok(None)` when it changes nothing (e.g. setting a
    /// field to the value it has): there is nothing to broadcast then.
    pub fn edit(&mut self, ctx: &EditContext, edit: &Edit) -> Result<Option<LocalChange>, EditError> {
        privileges::check_edit(ctx, edit)?;
        let view = self.view()?;
        let closed_ok = match edit {
            Edit::ResolveReview { .. } => true,
            // A paid order left short (a line added concurrently with its
            // payment) can still take the missing payment; see ResolveReview.
            Edit::AddPayment { .. } | Edit::Pay(_) => {
                view.review.iter().any(|f| matches!(f, ReviewFlag::Underpaid { .. }))
            }
            // Giving back what a closed order was paid too much (checked
            // below against what it exceeds the total by).
            Edit::Refund(_) => true,
            _ => false,
        };
        if view.state != OrderState::Open && !closed_ok {
            return Err(EditError::Closed(view.state));
        }
        let stamp = ctx.stamp();
        let mut tx = self.doc.transaction();
        let lines = obj(&tx, &ROOT, K_LINES)?;
        let line_obj = |tx: &Transaction<'_>, id: &LineId| -> Result<ObjId, EditError> {
            match tx.get(&lines, id.as_str())? {
                Some((Value::Object(ObjType::Map), o)) => Ok(o),
                _ => Err(EditError::UnknownLine(id.clone())),
            }
        };
        let current_qty =
            |id: &LineId| view.line(id).map(|l| l.qty).ok_or_else(|| EditError::UnknownLine(id.clone()));
        // Touching a line also stamps it with who touched it.
        let mut touched_line: Option<ObjId> = None;
        match edit {
            Edit::AddLine(line) => {
                pricing::check_taxes(&line.taxes, view.pricing.as_ref())?;
                add_line(&mut tx, &lines, line, &stamp)?;
            }
            Edit::ChangeQty { line, delta } => {
                let current = current_qty(line)?;
                let target = current.0.checked_add(delta.0).unwrap_or(i64::MAX);
                check_qty(Quantity(target))?;
                let o = line_obj(&tx, line)?;
                // Counted from the quantity the cashier sees: a counter left
                // below zero (a removal concurrent with a decrement) shows 0,
                // and +1 must then show 1.
                let raw = raw_counter(&tx, &o)?;
                increment_qty(&mut tx, &o, delta.0 + (current.0 - raw))?;
                touched_line = Some(o);
            }
            Edit::SetQty { line, qty } => {
                let o = line_obj(&tx, line)?;
                set_qty(&mut tx, &o, *qty)?;
                touched_line = Some(o);
            }
            Edit::RemoveLine { line } => {
                let o = line_obj(&tx, line)?;
                set_qty(&mut tx, &o, Quantity::ZERO)?;
                touched_line = Some(o);
            }
            Edit::SetUnitPrice { line, unit_price } => {
                check_amount("unit_price", unit_price.0)?;
                let o = line_obj(&tx, line)?;
                put_if_changed(&mut tx, &o, K_UNIT_PRICE, ScalarValue::Int(unit_price.0))?;
                touched_line = Some(o);
            }
            Edit::SetDiscount { line, discount } => {
                if discount.0 > 10_000 {
                    return Err(invalid("discount", format!("{} basis points is over 100 %", discount.0)));
                }
                let o = line_obj(&tx, line)?;
                put_if_changed(&mut tx, &o, K_DISCOUNT, ScalarValue::Int(i64::from(discount.0)))?;
                touched_line = Some(o);
            }
            Edit::SetLineNote { line, note } => {
                check_text("note", note)?;
                let o = line_obj(&tx, line)?;
                put_if_changed(&mut tx, &o, K_NOTE, ScalarValue::Str(note.as_str().into()))?;
                touched_line = Some(o);
            }
            Edit::SetCustomer { customer } => {
                set_opt_root(&mut tx, "customer", K_CUSTOMER, customer.as_deref())?
            }
            Edit::SetPricelist { pricelist } => {
                set_opt_root(&mut tx, "pricelist", K_PRICELIST, pricelist.as_deref())?
            }
            Edit::SetFiscalPosition { fiscal_position } => {
                set_opt_root(&mut tx, "fiscal_position", K_FISCAL_POSITION, fiscal_position.as_deref())?
            }
            Edit::SetTable { table, floor } => {
                set_opt_root(&mut tx, "table", K_TABLE, table.as_deref())?;
                set_opt_root(&mut tx, "floor", K_FLOOR, floor.as_deref())?;
            }
            Edit::SetGuests { guests } => {
                check_guests(*guests)?;
                put_if_changed(&mut tx, &ROOT, K_GUESTS, ScalarValue::Int(i64::from(*guests)))?;
            }
            Edit::SetNote { note } => {
                check_text("note", note)?;
                put_if_changed(&mut tx, &ROOT, K_NOTE, ScalarValue::Str(note.as_str().into()))?;
            }
            Edit::SendToKitchen { lines: chosen } => {
                let targets: Vec<&crate::view::LineView> = match chosen {
                    None => view.lines.iter().collect(),
                    Some(ids) => ids
                        .iter()
                        .map(|id| view.line(id).ok_or_else(|| EditError::UnknownLine(id.clone())))
                        .collect::<Result<_, _>>()?,
                };
                for line in targets {
                    if line.kitchen_qty != line.qty {
                        let o = line_obj(&tx, &line.id)?;
                        tx.put(&o, K_KITCHEN_QTY, line.qty.0)?;
                        put_stamp(&mut tx, &o, K_CHANGED, &stamp)?;
                    }
                }
            }
            Edit::AddPayment { payment, method, amount } => {
                // A plain payment of part or all of what is due; a second
                // payment of a paid bill is refused here, before anything is
                // written (the concurrent case is flagged `overpaid`).
                if amount.0 <= 0 {
                    return Err(invalid(
                        "amount",
                        "a payment is above zero; give money back with a refund".into(),
                    ));
                }
                if view.totals.due.0 <= 0 {
                    return Err(EditError::NothingDue { due: view.totals.due.0 });
                }
                if *amount > view.totals.due {
                    return Err(EditError::Overpayment { due: view.totals.due.0, amount: amount.0 });
                }
                new_payment(&mut tx, &view, payment, method, *amount, &stamp)?;
            }
            Edit::Pay(tender) => {
                let split = till::split_tender(view.totals.due, tender)?;
                let p = new_payment(&mut tx, &view, &tender.payment, &tender.method, split.amount, &stamp)?;
                tx.put(&p, K_TENDERED, tender.tendered.0)?;
                tx.put(&p, K_CHANGE, split.change.0)?;
                tx.put(&p, K_TIP, tender.tip.0)?;
            }
            Edit::Refund(refund) => {
                till::check_refund(view.state, view.totals.total, view.totals.paid, refund)?;
                check_text("reason", &refund.reason)?;
                let p = new_payment(
                    &mut tx,
                    &view,
                    &refund.payment,
                    &refund.method,
                    Money(-refund.amount.0),
                    &stamp,
                )?;
                tx.put(&p, K_REASON, refund.reason.as_str())?;
                if let Some(of) = &refund.refund_of {
                    if !view.payments.iter().any(|p| &p.id == of) {
                        return Err(invalid("refund_of", format!("order has no payment `{of}`")));
                    }
                    tx.put(&p, K_REFUND_OF, of.as_str())?;
                }
            }
            Edit::MarkPaid => {
                if view.totals.paid < view.totals.total {
                    return Err(EditError::NotFullyPaid {
                        total: view.totals.total.0,
                        paid: view.totals.paid.0,
                    });
                }
                put_closing(&mut tx, OrderState::Paid, &view, &stamp)?;
            }
            Edit::Cancel => {
                // A cancelled order must not keep a customer's money without
                // anyone seeing it (a concurrent payment is flagged
                // `edited_after_close` instead).
                if view.totals.paid.0 != 0 {
                    return Err(EditError::HasPayments { paid: view.totals.paid.0 });
                }
                put_closing(&mut tx, OrderState::Cancelled, &view, &stamp)?;
            }
            Edit::SetExt { fields } => {
                ext::check_fields(fields)?;
                let o = obj(&tx, &ROOT, K_EXT)?;
                ext::write_fields(&mut tx, &o, fields)?;
            }
            Edit::SetLineExt { line, fields } => {
                ext::check_fields(fields)?;
                let l = line_obj(&tx, line)?;
                let o = match tx.get(&l, K_EXT)? {
                    Some((Value::Object(ObjType::Map), o)) => o,
                    _ => tx.put_object(&l, K_EXT, ObjType::Map)?,
                };
                ext::write_fields(&mut tx, &o, fields)?;
                touched_line = Some(l);
            }
            Edit::ResolveReview { state, reason, accept } => {
                if view.state == OrderState::Open {
                    return Err(EditError::NotClosed);
                }
                let state = state.unwrap_or(view.state);
                if state == OrderState::Open {
                    return Err(invalid("state", "a review resolves to paid or cancelled".into()));
                }
                if let Some(reason) = reason {
                    check_text("reason", reason)?;
                }
                let c = put_closing(&mut tx, state, &view, &stamp)?;
                tx.put(&c, K_RESOLVED, true)?;
                if let Some(reason) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    tx.put(&c, K_REASON, reason)?;
                }
                if *accept {
                    tx.put(&c, K_ACCEPTED_PAID, view.totals.paid.0)?;
                }
            }
        }
        if tx.pending_ops() == 0 {
            return Ok(None);
        }
        if let Some(o) = touched_line {
            put_stamp(&mut tx, &o, K_CHANGED, &stamp)?;
        }
        put_stamp(&mut tx, &ROOT, K_CHANGED, &stamp)?;
        match commit(tx, ctx)? {
            Some(hash) => self.local_change(hash, Some(view), ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Records a delivery step for one back office (see `delivery.rs`).
    /// Only a closed order is delivered. It does not stamp the order as
    /// changed: delivering is bookkeeping, not an edit of the order.
    /// `Ok(None)` when it changes nothing (a confirmation already held).
    pub fn record_delivery(
        &mut self,
        ctx: &EditContext,
        sink: &crate::delivery::SinkName,
        edit: &crate::delivery::DeliveryEdit,
    ) -> Result<Option<LocalChange>, EditError> {
        let view = self.view()?;
        if view.state == OrderState::Open {
            return Err(EditError::NotClosed);
        }
        let mut tx = self.doc.transaction();
        let current = view.delivery.get(sink);
        if !crate::delivery::write(&mut tx, current, sink, &ctx.author.terminal, ctx.at_ms, edit)? {
            return Ok(None);
        }
        match commit(tx, ctx)? {
            Some(hash) => self.local_change(hash, Some(view), ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Moves `qty` of each chosen line into a new order (splitting the bill).
    /// Returns the new order with its opening change, and the change to this
    /// order, which takes the same quantities away. Because quantities are
    /// counters, a concurrent increment of a split line on another terminal
    /// stays on this order: nothing is duplicated and nothing is lost.
    pub fn split(
        &mut self,
        ctx: &EditContext,
        new: &NewOrder,
        moves: &[(LineId, Quantity)],
    ) -> Result<(OrderDoc, LocalChange, LocalChange), EditError> {
        let view = self.view()?;
        if view.state != OrderState::Open {
            return Err(EditError::Closed(view.state));
        }
        if moves.is_empty() {
            return Err(invalid("lines", "choose at least one line to split".into()));
        }
        let mut taken = Vec::with_capacity(moves.len());
        for (id, qty) in moves {
            let line = view.line(id).ok_or_else(|| EditError::UnknownLine(id.clone()))?;
            if qty.0 <= 0 || *qty > line.qty {
                return Err(invalid("qty", format!("cannot move {qty} of line {id}: it holds {}", line.qty)));
            }
            if taken.iter().any(|(l, _): &(&crate::view::LineView, Quantity)| &l.id == id) {
                return Err(invalid("lines", format!("line {id} chosen twice")));
            }
            taken.push((line, *qty));
        }
        let mut opening = new.clone();
        opening.fields.table = opening.fields.table.or_else(|| view.table.clone());
        opening.fields.floor = opening.fields.floor.or_else(|| view.floor.clone());
        opening.fields.customer = opening.fields.customer.or_else(|| view.customer.clone());
        opening.fields.pricelist = opening.fields.pricelist.or_else(|| view.pricelist.clone());
        opening.fields.fiscal_position =
            opening.fields.fiscal_position.or_else(|| view.fiscal_position.clone());
        // The new order totals its lines as this one does.
        opening.fields.pricing = view.pricing;
        let source_id = self.id.clone();
        let stamp = ctx.stamp();
        let actor = self.doc.get_actor().clone();
        let (target, target_change) = OrderDoc::create(actor, ctx, &opening, |tx, lines| {
            tx.put(ROOT, K_SPLIT_FROM, source_id.as_str())?;
            for (line, qty) in &taken {
                let new_line = NewLine {
                    id: line.id.clone(),
                    product: line.product.clone(),
                    display_name: line.display_name.clone(),
                    qty: *qty,
                    unit_price: line.unit_price,
                    discount: line.discount,
                    note: line.note.clone(),
                    ext: line.ext.clone(),
                    taxes: line.taxes.to_vec(),
                };
                let o = add_line(tx, lines, &new_line, &stamp)?;
                let sent = line.kitchen_qty.0.min(qty.0);
                if sent > 0 {
                    tx.put(&o, K_KITCHEN_QTY, sent)?;
                }
            }
            Ok(())
        })?;
        let mut tx = self.doc.transaction();
        let lines = obj(&tx, &ROOT, K_LINES)?;
        for (line, qty) in &taken {
            let o = match tx.get(&lines, line.id.as_str())? {
                Some((Value::Object(ObjType::Map), o)) => o,
                _ => return Err(EditError::UnknownLine(line.id.clone())),
            };
            increment_qty(&mut tx, &o, -qty.0)?;
            // What is left here cannot have been sent to the kitchen more
            // than it holds.
            let left = line.qty.0 - qty.0;
            if line.kitchen_qty.0 > left {
                tx.put(&o, K_KITCHEN_QTY, left)?;
            }
            put_stamp(&mut tx, &o, K_CHANGED, &stamp)?;
        }
        put_stamp(&mut tx, &ROOT, K_CHANGED, &stamp)?;
        let hash = commit(tx, ctx)?.ok_or_else(|| EditError::Automerge("split made no change".into()))?;
        let source_change = self.local_change(hash, Some(view), ctx)?;
        Ok((target, target_change, source_change))
    }

    /// Applies changes from another terminal. They are validated as a batch:
    /// if the order they produce breaks the schema, none is kept.
    /// Anyone may make manager-only actions here; a terminal with a user
    /// list calls [`OrderDoc::apply_remote_with_roles`].
    pub fn apply_remote(&mut self, changes: Vec<Change>) -> Result<RemoteApplied, RemoteError> {
        self.apply_remote_with_roles(changes, &Roles::Anyone)
    }

    /// [`OrderDoc::apply_remote`], refusing manager-only actions by users
    /// that are not managers in `roles`.
    pub fn apply_remote_with_roles(
        &mut self,
        changes: Vec<Change>,
        roles: &Roles,
    ) -> Result<RemoteApplied, RemoteError> {
        self.guarded(roles, |doc| {
            doc.apply_changes(changes).map_err(|e| RemoteError::Automerge(e.to_string()))
        })
    }

    /// Decodes raw change bytes (as broadcast) and applies them.
    pub fn apply_remote_bytes<'a>(
        &mut self,
        raw: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<RemoteApplied, RemoteError> {
        let changes = decode_changes(raw)?;
        self.apply_remote(changes)
    }

    /// The next Automerge sync message for a peer, if any is due.
    /// `None` also when Automerge panics on the state a hostile peer's
    /// messages left behind (the session then ends).
    pub fn generate_sync_message(&self, state: &mut sync::State) -> Option<sync::Message> {
        catch_unwind(AssertUnwindSafe(|| self.doc.generate_sync_message(state))).ok().flatten()
    }

    /// Receives an Automerge sync message, with the same validation as
    /// [`OrderDoc::apply_remote`].
    pub fn receive_sync_message(
        &mut self,
        state: &mut sync::State,
        message: sync::Message,
    ) -> Result<RemoteApplied, RemoteError> {
        self.receive_sync_message_with_roles(state, message, &Roles::Anyone)
    }

    /// [`OrderDoc::receive_sync_message`] with the checks of
    /// [`OrderDoc::apply_remote_with_roles`].
    pub fn receive_sync_message_with_roles(
        &mut self,
        state: &mut sync::State,
        message: sync::Message,
        roles: &Roles,
    ) -> Result<RemoteApplied, RemoteError> {
        for chunk in message.changes.iter() {
            chunks::screen(chunk, Expect::Saved).map_err(|e| RemoteError::Decode(e.to_string()))?;
        }
        self.guarded(roles, |doc| {
            doc.receive_sync_message(state, message).map_err(|e| RemoteError::Automerge(e.to_string()))
        })
    }

    /// Runs a merge, validates the result, and rolls it back if invalid.
    fn guarded(
        &mut self,
        roles: &Roles,
        merge: impl FnOnce(&mut Automerge) -> Result<(), RemoteError>,
    ) -> Result<RemoteApplied, RemoteError> {
        let before = self.doc.get_heads();
        let old_view = self.view.take();
        // What a refusal restores. A copy costs a few microseconds (2-4 us
        // for 10 to 300 changes); rebuilding the order as of `before` from a
        // merge that went wrong can fail, and then the order was lost from
        // this terminal until catch-up (a change refused by `appends_only`
        // did that; found by the `change_validation` fuzz target).
        let backup = self.doc.clone();
        // Automerge 0.12 can panic on some crafted changes, while applying
        // them or while reading the document afterwards (found by
        // `crates/possync-engine/tests/decoders.rs`). A peer must not be able
        // to crash a terminal with one: any panic becomes a refusal, and the
        // document is restored as it was.
        let id = &self.id;
        let doc = &mut self.doc;
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Merged, RemoteError> {
            merge(doc)?;
            let after = doc.get_heads();
            let missing_deps = doc.get_missing_deps(&[]);
            if after == before {
                return Ok(Merged::Nothing { missing_deps });
            }
            let changes = doc.get_changes(&before);
            if !appends_only(&backup, &before, &after, &changes) {
                return Err(RemoteError::Automerge("the changes are not in canonical form".into()));
            }
            privileges::check_changes(&*doc, &changes, roles)?;
            let view = read_after(&*doc, id, old_view.as_ref(), &changes).map_err(|source| {
                let hash = after.iter().find(|h| !before.contains(h)).copied().unwrap_or(after[0]);
                RemoteError::Schema { hash, source }
            })?;
            let authors: Vec<Author> = changes.iter().filter_map(change_author).collect();
            let new_changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
            Ok(Merged::Changed { view: Box::new(view), authors, new_changes, missing_deps })
        }))
        .unwrap_or_else(|_| Err(RemoteError::Automerge("automerge panicked on these changes".into())));
        match outcome {
            Err(e) => {
                self.doc = backup;
                self.view = old_view;
                Err(e)
            }
            Ok(Merged::Nothing { missing_deps }) => {
                self.view = old_view;
                Ok(RemoteApplied { summary: None, new_changes: Vec::new(), missing_deps })
            }
            Ok(Merged::Changed { view, authors, new_changes, missing_deps }) => {
                let mut summary = ChangeSummary::compare(&self.id, old_view.as_ref(), &view);
                summary.authors.extend(authors);
                self.view = Some(*view);
                Ok(RemoteApplied { summary: Some(summary), new_changes, missing_deps })
            }
        }
    }

    /// Packs a committed change and refreshes the view. `old` is the view
    /// before the change (`None` for a new order).
    fn local_change(
        &mut self,
        hash: ChangeHash,
        old: Option<OrderView>,
        ctx: &EditContext,
    ) -> Result<LocalChange, EditError> {
        let change = self
            .doc
            .get_change_by_hash(&hash)
            .ok_or_else(|| EditError::Automerge(format!("committed change {hash} not found")))?;
        let view = read_after(&self.doc, &self.id, old.as_ref(), std::slice::from_ref(&change))?;
        let mut summary = ChangeSummary::compare(&self.id, old.as_ref(), &view);
        summary.authors.insert(ctx.author.clone());
        self.view = Some(view);
        Ok(LocalChange { hash, bytes: change.raw_bytes().to_vec(), summary })
    }
}

/// The view after `changes` were applied to `doc`: re-read where they wrote,
/// reused elsewhere from `before` (see [`crate::touched`]); a whole read when
/// there is no view before.
fn read_after(
    doc: &Automerge,
    id: &OrderId,
    before: Option<&OrderView>,
    changes: &[Change],
) -> Result<OrderView, SchemaError> {
    let Some(before) = before else { return OrderView::read(doc, id) };
    let view = OrderView::read_after(doc, id, before, &touched_by(doc, changes));
    // Every debug build (tests, the simulator) checks the shortcut against
    // the whole read. It aborts rather than panics: merges run under
    // `catch_unwind`, which would turn the bug into a quiet refusal.
    #[cfg(debug_assertions)]
    {
        let whole = OrderView::read(doc, id);
        let same = match (&view, &whole) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            eprintln!("order {id}: incremental read {view:?} differs from the whole read {whole:?}");
            std::process::abort();
        }
    }
    view
}

/// Whether a merge only added to the history: nothing it reports as added
/// was there before, the heads it removed are dependencies of changes it
/// added (a head has no descendants before), and the heads it made are
/// changes it added. A change whose bytes are not the canonical encoding of
/// its content breaks this: Automerge 0.12's release build (its debug build
/// panics) makes the received hash a head but keeps, and hands back, the
/// re-encoded change, whose hash differs. The engine would then persist
/// another change than it applied (a restart shows another order) and
/// advertise a head no peer can fetch (found by the `change_validation`
/// fuzz target).
///
/// A non-canonical change that is not a head is caught through the changes
/// of the batch that depend on it: they name the received hash, which is
/// neither among the changes Automerge hands back nor in the history before
/// (`earlier`, the document before the merge).
fn appends_only(earlier: &Automerge, before: &[ChangeHash], after: &[ChangeHash], added: &[Change]) -> bool {
    let hashes: Vec<ChangeHash> = added.iter().map(Change::hash).collect();
    let covered = |h: &ChangeHash| after.contains(h) || added.iter().any(|c| c.deps().contains(h));
    // Usually a dependency is a head before the merge or in the batch; only
    // a dependency deeper in the history costs a lookup.
    let known = |h: &ChangeHash| {
        hashes.contains(h) || before.contains(h) || earlier.get_change_meta_by_hash(h).is_some()
    };
    !hashes.iter().any(|h| before.contains(h))
        && before.iter().all(covered)
        && after.iter().all(|h| before.contains(h) || hashes.contains(h))
        && added.iter().all(|c| c.deps().iter().all(known))
}

/// Decodes raw Automerge changes, refusing the batch if any is malformed.
pub fn decode_changes<'a>(raw: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Change>, RemoteError> {
    raw.into_iter()
        .map(|bytes| {
            chunks::screen(bytes, Expect::OneChange).map_err(|e| RemoteError::Decode(e.to_string()))?;
            catch_unwind(|| Change::from_bytes(bytes.to_vec()))
                .map_err(|_| RemoteError::Decode("automerge panicked on this change".into()))?
                .map_err(|e| RemoteError::Decode(e.to_string()))
        })
        .collect()
}

fn commit(tx: Transaction<'_>, ctx: &EditContext) -> Result<Option<ChangeHash>, EditError> {
    let message = serde_json::to_string(&ctx.author).map_err(|e| EditError::Automerge(e.to_string()))?;
    // Time comes from the context, never the system clock: simulations replay
    // byte for byte.
    let (hash, _) =
        tx.commit_with(CommitOptions::default().with_time(ctx.at_ms / 1000).with_message(message));
    Ok(hash)
}

/// The author recorded in a change's commit message, if any.
pub fn change_author(change: &Change) -> Option<Author> {
    change.message().and_then(|m| serde_json::from_str(m).ok())
}

fn obj<D: ReadDoc>(doc: &D, parent: &ObjId, key: &str) -> Result<ObjId, EditError> {
    match doc.get(parent, key)? {
        Some((Value::Object(ObjType::Map), o)) => Ok(o),
        _ => Err(EditError::Schema(crate::error::SchemaError::Missing { path: key.into() })),
    }
}

fn add_line(
    tx: &mut Transaction<'_>,
    lines: &ObjId,
    line: &NewLine,
    stamp: &Stamp,
) -> Result<ObjId, EditError> {
    check_text("product", &line.product)?;
    check_text("display_name", &line.display_name)?;
    check_text("note", &line.note)?;
    if line.product.is_empty() {
        return Err(invalid("product", "must not be empty".into()));
    }
    check_qty(line.qty)?;
    if line.qty.0 == 0 {
        return Err(invalid("qty", "a new line needs a quantity above zero".into()));
    }
    check_amount("unit_price", line.unit_price.0)?;
    if line.discount.0 > 10_000 {
        return Err(invalid("discount", format!("{} basis points is over 100 %", line.discount.0)));
    }
    ext::check_fields(&line.ext)?;
    if tx.get(lines, line.id.as_str())?.is_some() {
        return Err(EditError::DuplicateLine(line.id.clone()));
    }
    if tx.length(lines) >= MAX_LINES {
        return Err(invalid("lines", format!("an order holds at most {MAX_LINES} lines")));
    }
    let o = tx.put_object(lines, line.id.as_str(), ObjType::Map)?;
    tx.put(&o, K_ID, line.id.as_str())?;
    tx.put(&o, K_PRODUCT, line.product.as_str())?;
    tx.put(&o, K_DISPLAY_NAME, line.display_name.as_str())?;
    tx.put(&o, K_QTY, ScalarValue::counter(line.qty.0))?;
    tx.put(&o, K_UNIT_PRICE, line.unit_price.0)?;
    tx.put(&o, K_DISCOUNT, i64::from(line.discount.0))?;
    tx.put(&o, K_NOTE, line.note.as_str())?;
    tx.put(&o, K_KITCHEN_QTY, 0i64)?;
    put_stamp(tx, &o, K_CREATED, stamp)?;
    put_stamp(tx, &o, K_CHANGED, stamp)?;
    let e = tx.put_object(&o, K_EXT, ObjType::Map)?;
    ext::write_fields(tx, &e, &line.ext)?;
    pricing::write_taxes(tx, &o, &line.taxes)?;
    Ok(o)
}

/// Sets a quantity by incrementing the counter by the difference from its
/// stored value (which may sit below zero after concurrent removals), so the
/// result is exactly `qty` here and still adds up with concurrent changes.
fn set_qty(tx: &mut Transaction<'_>, line: &ObjId, qty: Quantity) -> Result<(), EditError> {
    check_qty(qty)?;
    let raw = raw_counter(tx, line)?;
    increment_qty(tx, line, qty.0 - raw)
}

fn raw_counter(tx: &Transaction<'_>, line: &ObjId) -> Result<i64, EditError> {
    match tx.get(line, K_QTY)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Counter(c) => Ok(i64::from(c)),
            _ => Err(invalid("qty", "stored quantity is not a counter".into())),
        },
        _ => Err(invalid("qty", "stored quantity is missing".into())),
    }
}

fn increment_qty(tx: &mut Transaction<'_>, line: &ObjId, delta: i64) -> Result<(), EditError> {
    if delta != 0 {
        tx.increment(line, K_QTY, delta)?;
    }
    Ok(())
}

fn put_closing(
    tx: &mut Transaction<'_>,
    state: OrderState,
    view: &OrderView,
    stamp: &Stamp,
) -> Result<ObjId, EditError> {
    let c = tx.put_object(ROOT, K_CLOSED, ObjType::Map)?;
    tx.put(&c, K_STATE, state.as_str())?;
    tx.put(&c, K_DIGEST, content_digest(&view.lines, &view.payments))?;
    tx.put(&c, K_TOTAL, view.totals.total.0)?;
    put_stamp(tx, &c, K_BY, stamp)?;
    Ok(c)
}

/// Writes a new payment map with the keys every payment has; `Pay` and
/// `Refund` add their own.
fn new_payment(
    tx: &mut Transaction<'_>,
    view: &OrderView,
    payment: &PaymentId,
    method: &str,
    amount: Money,
    stamp: &Stamp,
) -> Result<ObjId, EditError> {
    check_text("method", method)?;
    if method.is_empty() {
        return Err(invalid("method", "must not be empty".into()));
    }
    check_amount("amount", amount.0)?;
    if view.payments.len() >= MAX_PAYMENTS {
        return Err(invalid("payment", format!("an order holds at most {MAX_PAYMENTS} payments")));
    }
    let payments = obj(tx, &ROOT, K_PAYMENTS)?;
    if tx.get(&payments, payment.as_str())?.is_some() {
        return Err(EditError::DuplicatePayment(payment.clone()));
    }
    let p = tx.put_object(&payments, payment.as_str(), ObjType::Map)?;
    tx.put(&p, K_METHOD, method)?;
    tx.put(&p, K_AMOUNT, amount.0)?;
    put_stamp(tx, &p, K_BY, stamp)?;
    Ok(p)
}

/// Writes a stamp. An existing stamp map is updated field by field (only
/// the fields that differ make operations), which keeps an order's history
/// small: most edits only move `at`. Two terminals stamping concurrently may
/// leave a `changed` stamp mixing their fields; stamps are informational and
/// every terminal shows the same mix.
fn put_stamp(tx: &mut Transaction<'_>, parent: &ObjId, key: &str, stamp: &Stamp) -> Result<(), EditError> {
    let m = match tx.get(parent, key)? {
        Some((Value::Object(ObjType::Map), m)) => m,
        _ => tx.put_object(parent, key, ObjType::Map)?,
    };
    // One read of the stamp for its three fields (every edit stamps twice:
    // the order and the line), then as `put_if_changed` for each.
    let fields = [
        (K_USER, ScalarValue::Str(stamp.user.as_str().into())),
        (K_TERMINAL, ScalarValue::Str(stamp.terminal.as_str().into())),
        (K_AT, ScalarValue::Int(stamp.at_ms)),
    ];
    let mut unchanged = [false; 3];
    for item in tx.map_range(&m, ..) {
        if let Some(i) = fields.iter().position(|(k, _)| *k == item.key) {
            let value: Value<'_> = item.value.into();
            unchanged[i] =
                !item.conflict && matches!(value, Value::Scalar(old) if old.as_ref() == &fields[i].1);
        }
    }
    for ((k, new), same) in fields.into_iter().zip(unchanged) {
        if !same {
            tx.put(&m, k, new)?;
        }
    }
    Ok(())
}

fn put_opt_str(tx: &mut Transaction<'_>, key: &str, value: Option<&str>) -> Result<(), EditError> {
    match value {
        Some(s) => tx.put(ROOT, key, s)?,
        None => tx.put(ROOT, key, ScalarValue::Null)?,
    }
    Ok(())
}

fn set_opt_root(
    tx: &mut Transaction<'_>,
    field: &'static str,
    key: &str,
    value: Option<&str>,
) -> Result<(), EditError> {
    check_opt_text(field, value)?;
    let new = match value {
        Some(s) => ScalarValue::Str(s.into()),
        None => ScalarValue::Null,
    };
    put_if_changed(tx, &ROOT, key, new)
}

/// Writes only a real change: an identical write would still win conflicts
/// and mark the order changed.
fn put_if_changed(
    tx: &mut Transaction<'_>,
    parent: &ObjId,
    key: &str,
    value: ScalarValue,
) -> Result<(), EditError> {
    let all = tx.get_all(parent, key)?;
    // A whole-number float (as Automerge JS writes 0) reads as that integer:
    // writing the integer over it would change nothing anyone sees.
    let same = all.len() == 1
        && matches!(&all[0].0, Value::Scalar(old) if old.as_ref() == &value
            || matches!(value, ScalarValue::Int(n) if crate::read::as_int(old) == Some(n)));
    if !same {
        tx.put(parent, key, value)?;
    }
    Ok(())
}

fn invalid(field: &'static str, detail: String) -> EditError {
    EditError::Invalid { field, detail }
}

fn check_text(field: &'static str, s: &str) -> Result<(), EditError> {
    if s.len() > MAX_TEXT_LEN {
        return Err(invalid(field, format!("{} bytes of text (limit {MAX_TEXT_LEN})", s.len())));
    }
    Ok(())
}

fn check_opt_text(field: &'static str, s: Option<&str>) -> Result<(), EditError> {
    s.map_or(Ok(()), |s| check_text(field, s))
}

fn check_qty(q: Quantity) -> Result<(), EditError> {
    if q.0 < 0 {
        return Err(invalid("qty", format!("quantity {q} would be below zero")));
    }
    if q.0 > MAX_QTY_MILLI {
        return Err(invalid("qty", format!("quantity {q} is above the limit")));
    }
    Ok(())
}

fn check_amount(field: &'static str, amount: i64) -> Result<(), EditError> {
    if !(-MAX_AMOUNT..=MAX_AMOUNT).contains(&amount) {
        return Err(invalid(field, format!("{amount} is outside ±{MAX_AMOUNT}")));
    }
    Ok(())
}

fn check_guests(guests: u32) -> Result<(), EditError> {
    if i64::from(guests) > MAX_GUESTS {
        return Err(invalid("guests", format!("{guests} guests is above {MAX_GUESTS}")));
    }
    Ok(())
}
