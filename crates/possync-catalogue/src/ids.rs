//! Catalogue identifiers. One newtype per kind, so a tax id cannot be passed
//! where a product id is meant. An Odoo import uses the record's integer id
//! written as text (`"42"`); a hand-written catalogue may use any readable id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest catalogue id, as for the order model's ids.
pub const MAX_ID_LEN: usize = 64;

/// An id that is empty, too long or has characters outside `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {value:?} (1-64 characters of A-Z a-z 0-9 - _ .)")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

fn check(s: &str, what: &'static str) -> Result<(), InvalidId> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(InvalidId { what, value: s.chars().take(80).collect() }) }
}

macro_rules! catalogue_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                check(s, $what).map(|()| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                check(&s, $what).map(|()| Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

catalogue_id!(
    /// A product (Odoo `product.product`).
    ProductId,
    "product id"
);
catalogue_id!(
    /// A menu category (Odoo `pos.category`).
    CategoryId,
    "category id"
);
catalogue_id!(
    /// A tax (Odoo `account.tax`). Orders refer to taxes by this id in their
    /// per-tax totals.
    TaxId,
    "tax id"
);
catalogue_id!(
    /// A fiscal position (Odoo `account.fiscal.position`).
    FiscalPositionId,
    "fiscal position id"
);
catalogue_id!(
    /// A pricelist (Odoo `product.pricelist`).
    PricelistId,
    "pricelist id"
);
catalogue_id!(
    /// A payment method (Odoo `pos.payment.method`).
    PaymentMethodId,
    "payment method id"
);
catalogue_id!(
    /// A floor of the restaurant (Odoo `restaurant.floor`).
    FloorId,
    "floor id"
);
catalogue_id!(
    /// A table (Odoo `restaurant.table`).
    TableId,
    "table id"
);
catalogue_id!(
    /// A POS user (Odoo `res.users`).
    UserId,
    "user id"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_bad_input() {
        assert!(ProductId::parse("").is_err());
        assert!(TaxId::parse("vat 21").is_err());
        assert!(UserId::parse(&"u".repeat(65)).is_err());
        assert_eq!(TaxId::parse("42").unwrap().as_str(), "42");
        let e = serde_json::from_str::<ProductId>("\"a b\"").unwrap_err();
        assert!(e.to_string().contains("product id"), "{e}");
    }
}
