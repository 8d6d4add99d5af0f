//! Products (Odoo `product.product`, as the POS loads them).

use possync_money::Money;
use serde::{Deserialize, Serialize};

use crate::ids::{CategoryId, ProductId, TaxId};

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    /// The menu category it is shown under (Odoo: the first of `pos_categ_ids`).
    #[serde(default)]
    pub category: Option<CategoryId>,
    /// Sales price in minor units (`lst_price`); includes the taxes that are
    /// price-included.
    pub price: Money,
    /// Customer taxes (`taxes_id`).
    #[serde(default)]
    pub taxes: Vec<TaxId>,
    /// EAN/UPC or any code a scanner reads.
    #[serde(default)]
    pub barcode: Option<String>,
    /// Shown on the terminals (`available_in_pos`).
    #[serde(default = "yes")]
    pub available: bool,
    /// Sold by weight (`to_weight`): the quantity comes from a scale.
    #[serde(default)]
    pub to_weight: bool,
}
