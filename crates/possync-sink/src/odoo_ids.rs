//! Catalogue ids to Odoo record ids. A catalogue imported from Odoo
//! (`possync-catalogue`, `import/odoo.rs`) keeps each record's integer id as
//! its catalogue id (`"42"`), so mapping is reading that integer back; the
//! catalogue is the proof that it is an id of *this* Odoo: an id the
//! catalogue does not list, or one that is not an integer (a hand-written
//! catalogue's `"burger"`), does not map, and the order is held rather than
//! sent with a guess.

use std::collections::BTreeSet;

use possync_catalogue::{Catalogue, FiscalPosition, TaxId};

/// What kind of record an id names, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdKind {
    Product,
    Tax,
    PaymentMethod,
    Pricelist,
    FiscalPosition,
    Table,
    User,
    /// A customer (`res.partner`). The catalogue has no partners: a
    /// customer id maps when it is an integer.
    Partner,
}

impl IdKind {
    pub fn label(self) -> &'static str {
        match self {
            IdKind::Product => "product",
            IdKind::Tax => "tax",
            IdKind::PaymentMethod => "payment method",
            IdKind::Pricelist => "pricelist",
            IdKind::FiscalPosition => "fiscal position",
            IdKind::Table => "table",
            IdKind::User => "user",
            IdKind::Partner => "customer",
        }
    }
}

/// The Odoo ids a catalogue lists, by kind.
#[derive(Debug, Clone)]
pub struct OdooIds {
    catalogue: Catalogue,
    products: BTreeSet<String>,
    taxes: BTreeSet<String>,
    payment_methods: BTreeSet<String>,
    pricelists: BTreeSet<String>,
    fiscal_positions: BTreeSet<String>,
    tables: BTreeSet<String>,
    users: BTreeSet<String>,
}

impl OdooIds {
    pub fn new(catalogue: Catalogue) -> Self {
        let set = |ids: Vec<&str>| ids.into_iter().map(str::to_owned).collect::<BTreeSet<_>>();
        OdooIds {
            products: set(catalogue.products.iter().map(|p| p.id.as_str()).collect()),
            taxes: set(catalogue.taxes.iter().map(|t| t.id.as_str()).collect()),
            payment_methods: set(catalogue.payment_methods.iter().map(|m| m.id.as_str()).collect()),
            pricelists: set(catalogue.pricelists.iter().map(|p| p.id.as_str()).collect()),
            fiscal_positions: set(catalogue.fiscal_positions.iter().map(|f| f.id.as_str()).collect()),
            tables: set(catalogue.floors.iter().flat_map(|f| &f.tables).map(|t| t.id.as_str()).collect()),
            users: set(catalogue.users.iter().map(|u| u.id.as_str()).collect()),
            catalogue,
        }
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The Odoo id of `id`, or `None` when it does not map.
    pub fn map(&self, kind: IdKind, id: &str) -> Option<i64> {
        let listed = match kind {
            IdKind::Product => &self.products,
            IdKind::Tax => &self.taxes,
            IdKind::PaymentMethod => &self.payment_methods,
            IdKind::Pricelist => &self.pricelists,
            IdKind::FiscalPosition => &self.fiscal_positions,
            IdKind::Table => &self.tables,
            IdKind::User => &self.users,
            IdKind::Partner => return odoo_integer(id),
        };
        if listed.contains(id) { odoo_integer(id) } else { None }
    }

    /// The order's default pricelist as Odoo's POS config has it (the
    /// import's `default_pricelist`).
    pub fn default_pricelist(&self) -> Option<&str> {
        self.catalogue.default_pricelist.as_ref().map(|p| p.as_str())
    }

    pub fn fiscal_position(&self, id: &str) -> Option<&FiscalPosition> {
        self.catalogue.fiscal_positions.iter().find(|f| f.id.as_str() == id)
    }

    /// The taxes of `product` in the catalogue, before any fiscal position.
    pub fn product_taxes(&self, product: &str) -> Option<&[TaxId]> {
        self.catalogue.products.iter().find(|p| p.id.as_str() == product).map(|p| p.taxes.as_slice())
    }

    /// Minor units per major unit, as a power of ten.
    pub fn decimals(&self) -> u8 {
        self.catalogue.currency.decimals
    }
}

/// A positive decimal integer, as Odoo's ids are.
fn odoo_integer(id: &str) -> Option<i64> {
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse::<i64>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use possync_catalogue::{Currency, PaymentKind, PaymentMethod, PaymentMethodId};

    #[test]
    fn only_integer_ids_the_catalogue_lists_map() {
        let mut c = Catalogue::empty(Currency::eur());
        c.payment_methods.push(PaymentMethod {
            id: PaymentMethodId::parse("7").unwrap(),
            name: "Cash".into(),
            kind: PaymentKind::Cash,
            gives_change: None,
        });
        c.payment_methods.push(PaymentMethod {
            id: PaymentMethodId::parse("card").unwrap(),
            name: "Card".into(),
            kind: PaymentKind::Bank,
            gives_change: None,
        });
        let ids = OdooIds::new(c);
        assert_eq!(ids.map(IdKind::PaymentMethod, "7"), Some(7));
        assert_eq!(ids.map(IdKind::PaymentMethod, "card"), None, "listed but not an Odoo id");
        assert_eq!(ids.map(IdKind::PaymentMethod, "8"), None, "an integer the catalogue does not list");
        assert_eq!(ids.map(IdKind::Partner, "12"), Some(12));
        assert_eq!(ids.map(IdKind::Partner, "0"), None);
        assert_eq!(ids.map(IdKind::Partner, "-3"), None);
        assert_eq!(ids.map(IdKind::Partner, "c9"), None);
    }
}
