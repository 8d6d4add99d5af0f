//! What the catalogue decides about a request: who the user is, and the
//! price and taxes of a line added from the menu.
//!
//! A terminal without a catalogue (or whose catalogue lists no users, or no
//! products) takes requests as before: free-text users, lines with the price
//! the client sends and no taxes.

use possync_catalogue::{Catalogue, FiscalPositionId, PriceError, PricelistId, ProductId, Role};
use possync_model::{Edit, NewLine, OrderView, Quantity};

use crate::error::BodyError;

/// The role of `user`: `None` when the catalogue lists no users (everyone
/// may do everything), an error when it lists users but not this one.
pub fn user_role(catalogue: Option<&Catalogue>, user: &str) -> Result<Option<Role>, BodyError> {
    let Some(c) = catalogue.filter(|c| !c.users.is_empty()) else { return Ok(None) };
    match c.users.iter().find(|u| u.id.as_str() == user) {
        Some(u) => Ok(Some(u.role)),
        None => Err(BodyError::UnknownUser(user.to_owned())),
    }
}

/// Prices an `add_line` of a catalogue product, in place: its name, its
/// price after the order's pricelist and fiscal position, and copies of
/// its taxes (when the order has pricing rules). A price in the request is
/// a manager's override (the taxes still come from the catalogue).
///
/// Other edits pass unchanged, as do lines of a terminal whose catalogue
/// lists no products.
pub fn price_edit(
    catalogue: Option<&Catalogue>,
    order: &OrderView,
    role: Option<Role>,
    edit: &mut Edit,
    price_given: bool,
) -> Result<(), BodyError> {
    let Edit::AddLine(line) = edit else { return Ok(()) };
    let Some(c) = catalogue.filter(|c| !c.products.is_empty()) else { return Ok(()) };
    price_line(c, order, role, line, price_given)
}

fn price_line(
    c: &Catalogue,
    order: &OrderView,
    role: Option<Role>,
    line: &mut NewLine,
    price_given: bool,
) -> Result<(), BodyError> {
    let id = ProductId::parse(&line.product).map_err(|_| BodyError::UnknownProduct(line.product.clone()))?;
    let product = c.product(&id).ok_or_else(|| BodyError::UnknownProduct(line.product.clone()))?;
    if !product.available {
        return Err(BodyError::ProductUnavailable(product.name.clone()));
    }
    if price_given && role == Some(Role::Cashier) {
        return Err(BodyError::ManagerOnly("set a price other than the catalogue's"));
    }
    let pricelist = parse_ref(order.pricelist.as_deref(), "pricelist", PricelistId::parse)?;
    let fiscal = parse_ref(order.fiscal_position.as_deref(), "fiscal_position", FiscalPositionId::parse)?;
    let priced = c
        .price_line(&id, qty_for_pricelist(line.qty), pricelist.as_ref(), fiscal.as_ref())
        .map_err(|e| match e {
            PriceError::Overflow(_) => BodyError::InvalidEdit(format!("price of {}: {e}", product.name)),
            other => BodyError::InvalidEdit(other.to_string()),
        })?;
    if line.display_name.is_empty() {
        line.display_name = product.name.clone();
    }
    if !price_given {
        line.unit_price = priced.unit_price;
    }
    // An order opened before the terminal had a catalogue totals without
    // taxes; its lines carry none.
    line.taxes = if order.pricing.is_some() { priced.taxes } else { Vec::new() };
    Ok(())
}

/// Pricelist rules with a minimum quantity look at the line's quantity.
fn qty_for_pricelist(qty: Quantity) -> Quantity {
    Quantity(qty.0.max(0))
}

fn parse_ref<T, E>(
    value: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, BodyError> {
    value
        .map(|v| {
            parse(v).map_err(|_| {
                BodyError::InvalidEdit(format!("the order's {field} `{v}` is not a catalogue id"))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use possync_catalogue::import::from_possync_json;
    use possync_model::{EditContext, Money, NewOrder, OrderDoc, OrderId, OrderName, TerminalId};
    use serde_json::json;

    use super::*;
    use crate::parse_catalogue_edit;

    const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");

    fn order(catalogue: Option<&Catalogue>, pricelist: Option<&str>) -> OrderView {
        let terminal = TerminalId::parse("A").unwrap();
        let mut new = NewOrder::new(OrderId::from_random(1), OrderName::compose(&terminal, 1));
        new.fields.pricelist = pricelist.map(str::to_owned);
        // As the node opens it (`Node::open_order`).
        new.fields.pricing = catalogue.map(Catalogue::pricing_rules);
        let ctx = EditContext::new("ana", terminal, 0);
        let (doc, _) = OrderDoc::open(automerge_actor(), &ctx, &new).unwrap();
        doc.view().unwrap()
    }

    fn automerge_actor() -> possync_model::automerge::ActorId {
        possync_model::automerge::ActorId::from([1u8; 16])
    }

    fn add(
        c: &Catalogue,
        order: &OrderView,
        role: Option<Role>,
        body: serde_json::Value,
    ) -> Result<NewLine, BodyError> {
        let (mut edit, given) = parse_catalogue_edit(body, || 7)?;
        price_edit(Some(c), order, role, &mut edit, given)?;
        match edit {
            Edit::AddLine(line) => Ok(line),
            other => panic!("not a line: {other:?}"),
        }
    }

    #[test]
    fn users_are_the_catalogues_once_it_lists_any() {
        let c = from_possync_json(RESTAURANT).unwrap();
        assert_eq!(user_role(None, "anyone"), Ok(None));
        assert_eq!(user_role(Some(&c), "ana"), Ok(Some(Role::Cashier)));
        assert_eq!(user_role(Some(&c), "chloe"), Ok(Some(Role::Manager)));
        assert_eq!(user_role(Some(&c), "mallory"), Err(BodyError::UnknownUser("mallory".into())));
    }

    #[test]
    fn a_menu_line_takes_its_name_price_and_taxes_from_the_catalogue() {
        let c = from_possync_json(RESTAURANT).unwrap();
        let plain = order(Some(&c), None);
        assert_eq!(plain.pricing, Some(c.pricing_rules()));
        let line =
            add(&c, &plain, Some(Role::Cashier), json!({"op": "add_line", "product": "p26", "qty": 1000}))
                .unwrap();
        assert_eq!((line.display_name.as_str(), line.unit_price), ("Cappuccino", Money(360)));
        assert_eq!(line.taxes.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["vat10i"]);
        // Happy hour: drinks 20 % off.
        let happy = order(Some(&c), Some("happy-hour"));
        let line =
            add(&c, &happy, Some(Role::Cashier), json!({"op": "add_line", "product": "p26", "qty": 1000}))
                .unwrap();
        assert_eq!(line.unit_price, Money(288));
    }

    #[test]
    fn only_a_manager_sets_another_price() {
        let c = from_possync_json(RESTAURANT).unwrap();
        let o = order(Some(&c), None);
        let body = json!({"op": "add_line", "product": "p26", "qty": 1000, "unit_price": 100});
        assert_eq!(
            add(&c, &o, Some(Role::Cashier), body.clone()).unwrap_err(),
            BodyError::ManagerOnly("set a price other than the catalogue's")
        );
        let line = add(&c, &o, Some(Role::Manager), body).unwrap();
        assert_eq!((line.unit_price, line.taxes.len()), (Money(100), 1));
    }

    #[test]
    fn unknown_products_and_orders_without_pricing() {
        let c = from_possync_json(RESTAURANT).unwrap();
        let o = order(Some(&c), None);
        let unknown = add(&c, &o, None, json!({"op": "add_line", "product": "p99", "qty": 1000}));
        assert_eq!(unknown.unwrap_err(), BodyError::UnknownProduct("p99".into()));
        // Opened before the terminal had a catalogue: the menu's price, no taxes.
        let old = order(None, None);
        let line = add(&c, &old, None, json!({"op": "add_line", "product": "p33", "qty": 1000})).unwrap();
        assert_eq!((line.unit_price, line.taxes.len()), (Money(1500), 0));
    }
}
