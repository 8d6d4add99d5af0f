//! # possync-catalogue: what the terminals sell, and how much it costs
//!
//! The catalogue a point of sale loads from its back office (products,
//! categories, taxes, fiscal positions, pricelists, payment methods, floors
//! and tables, currency, users) and the tax computation of that back office,
//! Odoo 17's `account.tax.compute_all`, reproduced to the minor unit in
//! integers and exact fractions. Pure: no IO, no clock, no randomness.
//!
//! Modules (one concept per file):
//! - the catalogue: [`Catalogue`] (`catalogue.rs`: sections, validation,
//!   [`Catalogue::price_line`]), [`Product`], [`Category`], [`Currency`],
//!   [`Pricelist`], [`FiscalPosition`], [`PaymentMethod`], [`Floor`] and
//!   [`Table`], [`User`] with a [`PinHash`] (`pin.rs`), [`CashRounding`];
//!   errors name the item and field ([`ValidationError`], [`FieldError`]);
//! - taxes and totals: [`Tax`] (`tax.rs`), [`PricingRules`]
//!   (`pricing_rules.rs`: currency rounding, round per line / globally),
//!   [`compute_line`] (`compute_all.rs`: Odoo's `compute_all` for one line),
//!   [`order_totals`] (`order_totals.rs`: untaxed, tax per tax, total),
//!   [`LinePricing`] (`line_pricing.rs`: the price and taxes a line keeps),
//!   [`price_after_fiscal_position`] (`fiscal_position.rs`);
//! - import (`import/`): the documented possync JSON format and the data an
//!   Odoo 17 POS session loads, both refused with line, column and field;
//! - exact numbers: `ratio.rs` (fractions over `i128`), `decimal.rs`
//!   (decimal text to scaled integers, never through a float);
//! - ids: `ids.rs`, one newtype per kind.
//!
//! The rules are written out in `docs/ORDER_MODEL.md`, section "Taxes and
//! totals"; `tests/tax_cases.toml` holds cases worked out by hand.

mod cash_rounding;
mod catalogue;
mod category;
mod compute_all;
mod currency;
mod decimal;
mod field_error;
mod fiscal_position;
mod floor;
mod ids;
pub mod import;
mod line_pricing;
mod order_totals;
mod payment_method;
mod pin;
mod pricelist;
mod pricing_rules;
mod product;
mod ratio;
mod tax;
mod user;
mod validation_error;

pub use cash_rounding::{CashRounding, CashRoundingMethod};
pub use catalogue::{
    Catalogue, MAX_BARCODE_LEN, MAX_CATEGORY_DEPTH, MAX_ITEMS, MAX_NAME_LEN, MAX_PRICE, PriceError,
};
pub use category::Category;
pub use compute_all::{FineAmount, LineTax, LineTaxes, compute_line};
pub use currency::{Currency, SymbolPosition};
pub use decimal::{DecimalError, format_scaled, parse_scaled};
pub use field_error::FieldError;
pub use fiscal_position::{FiscalPosition, TaxMapping, price_after_fiscal_position};
pub use floor::{Floor, Table, TableShape};
pub use ids::{
    CategoryId, FiscalPositionId, FloorId, InvalidId, MAX_ID_LEN, PaymentMethodId, PricelistId, ProductId,
    TableId, TaxId, UserId,
};
pub use line_pricing::{LinePricing, MAX_LINE_TAXES};
pub use order_totals::{OrderTotals, PricedLine, TaxTotal, order_totals, sum_lines};
pub use payment_method::{PaymentKind, PaymentMethod};
pub use pin::{PIN_DIGITS, PinError, PinHash, SALT_LEN};
pub use pricelist::{Percent, Pricelist, PricelistRule, RulePrice, RuleTarget};
pub use pricing_rules::{PricingRules, RoundingMethod};
pub use product::Product;
pub use ratio::Overflow;
pub use tax::{AmountType, Tax, TaxAmount};
pub use user::{Role, User};
pub use validation_error::{ValidationError, ValidationErrors};

/// The money types of the order model, so callers name the same ones.
pub use possync_money::{Discount, Money, Quantity};
