//! The data an Odoo 17 POS session loads (`pos.session.load_pos_data`, one
//! JSON object keyed by model name), read with the field names of Odoo's
//! `_loader_params_*` in `addons/point_of_sale/models/pos_session.py` and
//! `addons/pos_restaurant/models/pos_session.py`:
//!
//! | key | fields read |
//! | --- | --- |
//! | `res.company` | `tax_calculation_rounding_method` |
//! | `res.currency` | `name`, `symbol`, `position`, `rounding`, `decimal_places` |
//! | `account.tax` | `id`, `name`, `amount_type`, `amount`, `price_include`, `include_base_amount`, `is_base_affected`, `children_tax_ids`, `sum_repartition_factor` (and `sequence` if present) |
//! | `pos.category` | `id`, `name`, `parent_id`, `sequence` |
//! | `product.product` | `id`, `display_name`, `lst_price`, `pos_categ_ids` (16: `pos_categ_id`), `taxes_id`, `barcode`, `available_in_pos`, `to_weight`, `categ_id`, `product_tmpl_id`, `active` |
//! | `product.category` | `id`, `name`, `parent_id` |
//! | `product.pricelist` | `id`, `name`, `items` (`product_tmpl_id`, `product_id`, `categ_id`, `min_quantity`, `compute_price`, `fixed_price`, `percent_price`, `base`, `price_discount`, `price_surcharge`, `price_round`, `price_min_margin`, `price_max_margin`, `date_start`, `date_end`) |
//! | `default_pricelist` | `id` |
//! | `pos.payment.method` | `id`, `name`, `is_cash_count`, `type` |
//! | `account.fiscal.position` | `id`, `name`, `fiscal_position_taxes_by_id` (`tax_src_id`, `tax_dest_id`), or `tax_ids` with `account.fiscal.position.tax` |
//! | `restaurant.floor` | `id`, `name`, `sequence`, `tables` (`id`, `name`, `seats`, `shape`, `position_h`, `position_v`, `width`, `height`, `active`) |
//! | `res.users` | `id`, `name`, `role` (one object, as 17 loads the session's user, or a list) |
//! | `pos.config` + `account.cash.rounding` | `cash_rounding`; `rounding`, `rounding_method` |
//!
//! Other keys and fields are ignored. Ids become the record's integer id as
//! text. Refused, naming the record and field: tax groups, repartition
//! factors other than 100 %, pricelist items with dates or based on cost or
//! another pricelist, formula items with more than a discount. Odoo exports
//! no PINs: imported users have none until a manager sets one.

use std::collections::{BTreeMap, BTreeSet};

use possync_money::{Money, Quantity};
use serde::Deserialize;

use super::{ImportError, parse_json};
use crate::cash_rounding::{CashRounding, CashRoundingMethod};
use crate::catalogue::Catalogue;
use crate::category::Category;
use crate::currency::{Currency, SymbolPosition};
use crate::decimal::{DecimalText, parse_scaled};
use crate::fiscal_position::{FiscalPosition, TaxMapping};
use crate::floor::{Floor, Table, TableShape};
use crate::ids::{FiscalPositionId, FloorId, PaymentMethodId, PricelistId, TableId, TaxId, UserId};
use crate::payment_method::{PaymentKind, PaymentMethod};
use crate::pricelist::{Percent, Pricelist, PricelistRule, RulePrice, RuleTarget};
use crate::pricing_rules::RoundingMethod;
use crate::product::Product;
use crate::tax::{AmountType, Tax, TaxAmount};
use crate::user::{Role, User};

/// Reads and validates the JSON of an Odoo POS session's loaded data.
pub fn from_odoo_session(text: &str) -> Result<Catalogue, ImportError> {
    let s: Session = parse_json(text)?;
    convert(s)
}

/// Odoo writes an empty many2one, char or date as `false`.
#[derive(Debug, Default, Clone)]
struct Many2one(Option<(i64, String)>);

impl<'de> Deserialize<'de> for Many2one {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let bad = || serde::de::Error::custom("expected a many2one: [id, \"name\"], an id, or false");
        match Value::deserialize(d)? {
            Value::Bool(false) | Value::Null => Ok(Many2one(None)),
            Value::Number(n) => n.as_i64().map(|id| Many2one(Some((id, String::new())))).ok_or_else(bad),
            Value::Array(a) => match a.as_slice() {
                [Value::Number(n), Value::String(name)] => {
                    n.as_i64().map(|id| Many2one(Some((id, name.clone())))).ok_or_else(bad)
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl Many2one {
    fn id(&self) -> Option<i64> {
        self.0.as_ref().map(|(id, _)| *id)
    }
}

/// A char field: a string, or `false` for empty.
#[derive(Debug, Default, Clone)]
struct OptText(Option<String>);

impl<'de> Deserialize<'de> for OptText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        match Value::deserialize(d)? {
            Value::Bool(false) | Value::Null => Ok(OptText(None)),
            Value::String(s) => Ok(OptText(Some(s).filter(|s| !s.is_empty()))),
            _ => Err(serde::de::Error::custom("expected a string or false")),
        }
    }
}

/// A decimal field read from its text, not through a float.
#[derive(Debug, Clone, Default)]
struct Dec(String);

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let DecimalText(t) = DecimalText::deserialize(d)?;
        // Check the syntax here, so a non-number is reported with its line.
        parse_scaled(&t, 6)
            .or_else(|e| match e {
                crate::decimal::DecimalError::TooPrecise { .. } => Ok(0),
                other => Err(other),
            })
            .map_err(serde::de::Error::custom)?;
        Ok(Dec(t))
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(untagged)]
enum OneOrMany<T> {
    #[default]
    None,
    One(T),
    Many(Vec<T>),
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
struct Session {
    #[serde(rename = "res.company", default)]
    company: Option<Company>,
    #[serde(rename = "res.currency")]
    currency: OdooCurrency,
    #[serde(rename = "account.tax", default)]
    taxes: Vec<OdooTax>,
    #[serde(rename = "pos.category", default)]
    categories: Vec<PosCategory>,
    #[serde(rename = "product.product", default)]
    products: Vec<OdooProduct>,
    #[serde(rename = "product.category", default)]
    product_categories: Vec<ProductCategory>,
    #[serde(rename = "product.pricelist", default)]
    pricelists: Vec<OdooPricelist>,
    #[serde(default)]
    default_pricelist: Option<IdOnly>,
    #[serde(rename = "pos.payment.method", default)]
    payment_methods: Vec<OdooPaymentMethod>,
    #[serde(rename = "account.fiscal.position", default)]
    fiscal_positions: Vec<OdooFiscalPosition>,
    #[serde(rename = "account.fiscal.position.tax", default)]
    fiscal_position_taxes: Vec<FiscalPositionTax>,
    #[serde(rename = "restaurant.floor", default)]
    floors: Vec<OdooFloor>,
    #[serde(rename = "res.users", default)]
    users: OneOrMany<OdooUser>,
    #[serde(rename = "pos.config", default)]
    config: Option<PosConfig>,
    #[serde(rename = "account.cash.rounding", default)]
    cash_roundings: Vec<OdooCashRounding>,
}

#[derive(Deserialize, Debug)]
struct Company {
    #[serde(default)]
    tax_calculation_rounding_method: Option<String>,
}

#[derive(Deserialize, Debug)]
struct OdooCurrency {
    name: String,
    symbol: String,
    #[serde(default)]
    position: Option<String>,
    rounding: Dec,
    decimal_places: u8,
}

#[derive(Deserialize, Debug)]
struct OdooTax {
    id: i64,
    name: String,
    amount_type: String,
    amount: Dec,
    #[serde(default)]
    price_include: bool,
    #[serde(default)]
    include_base_amount: bool,
    #[serde(default = "yes")]
    is_base_affected: bool,
    #[serde(default)]
    sequence: Option<i32>,
    #[serde(default)]
    children_tax_ids: Vec<serde_json::Value>,
    #[serde(default)]
    sum_repartition_factor: Option<Dec>,
}

#[derive(Deserialize, Debug)]
struct PosCategory {
    id: i64,
    name: String,
    #[serde(default)]
    parent_id: Many2one,
    #[serde(default)]
    sequence: Option<i32>,
}

#[derive(Deserialize, Debug)]
struct ProductCategory {
    id: i64,
    #[serde(default)]
    parent_id: Many2one,
}

#[derive(Deserialize, Debug)]
struct OdooProduct {
    id: i64,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    lst_price: Dec,
    #[serde(default)]
    pos_categ_ids: Vec<i64>,
    #[serde(default)]
    pos_categ_id: Many2one,
    #[serde(default)]
    taxes_id: Vec<i64>,
    #[serde(default)]
    barcode: OptText,
    #[serde(default = "yes")]
    available_in_pos: bool,
    #[serde(default)]
    to_weight: bool,
    #[serde(default)]
    categ_id: Many2one,
    #[serde(default)]
    product_tmpl_id: Many2one,
    #[serde(default = "yes")]
    active: bool,
}

#[derive(Deserialize, Debug)]
struct OdooPricelist {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    items: Vec<PricelistItem>,
}

#[derive(Deserialize, Debug)]
struct PricelistItem {
    id: i64,
    #[serde(default)]
    product_tmpl_id: Many2one,
    #[serde(default)]
    product_id: Many2one,
    #[serde(default)]
    categ_id: Many2one,
    #[serde(default)]
    min_quantity: Option<Dec>,
    compute_price: String,
    #[serde(default)]
    fixed_price: Option<Dec>,
    #[serde(default)]
    percent_price: Option<Dec>,
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    price_discount: Option<Dec>,
    #[serde(default)]
    price_surcharge: Option<Dec>,
    #[serde(default)]
    price_round: Option<Dec>,
    #[serde(default)]
    price_min_margin: Option<Dec>,
    #[serde(default)]
    price_max_margin: Option<Dec>,
    #[serde(default)]
    date_start: OptText,
    #[serde(default)]
    date_end: OptText,
}

#[derive(Deserialize, Debug)]
struct IdOnly {
    id: i64,
}

#[derive(Deserialize, Debug)]
struct OdooPaymentMethod {
    id: i64,
    name: String,
    #[serde(default)]
    is_cash_count: bool,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize, Debug)]
struct OdooFiscalPosition {
    id: i64,
    name: String,
    #[serde(default)]
    tax_ids: Vec<i64>,
    #[serde(default)]
    fiscal_position_taxes_by_id: BTreeMap<String, FiscalPositionTax>,
}

#[derive(Deserialize, Debug)]
struct FiscalPositionTax {
    id: i64,
    #[serde(default)]
    tax_src_id: Many2one,
    #[serde(default)]
    tax_dest_id: Many2one,
}

#[derive(Deserialize, Debug)]
struct OdooFloor {
    id: i64,
    name: String,
    #[serde(default)]
    sequence: Option<i32>,
    #[serde(default)]
    tables: Vec<OdooTable>,
}

#[derive(Deserialize, Debug)]
struct OdooTable {
    id: i64,
    name: String,
    #[serde(default)]
    seats: u16,
    #[serde(default)]
    shape: Option<String>,
    #[serde(default)]
    position_h: f64,
    #[serde(default)]
    position_v: f64,
    #[serde(default)]
    width: Option<f64>,
    #[serde(default)]
    height: Option<f64>,
    #[serde(default = "yes")]
    active: bool,
}

#[derive(Deserialize, Debug)]
struct OdooUser {
    id: i64,
    name: String,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Deserialize, Debug)]
struct PosConfig {
    #[serde(default)]
    cash_rounding: bool,
}

#[derive(Deserialize, Debug)]
struct OdooCashRounding {
    rounding: Dec,
    rounding_method: String,
}

/// Where in the file a problem is, for [`ImportError::Record`].
fn at(model: &str, index: usize, id: i64, field: &str) -> String {
    format!("{model}[{index}] (id {id}).{field}")
}

fn refuse(path: String, problem: impl Into<String>) -> ImportError {
    ImportError::Record { path, problem: problem.into() }
}

/// An Odoo id as a catalogue id.
fn id<T: TryFrom<String, Error = crate::ids::InvalidId>>(
    path: impl Fn() -> String,
    n: i64,
) -> Result<T, ImportError> {
    T::try_from(n.to_string()).map_err(|e| refuse(path(), e.to_string()))
}

fn scaled(path: impl Fn() -> String, d: &Dec, places: u32) -> Result<i64, ImportError> {
    parse_scaled(&d.0, places).map_err(|e| refuse(path(), e.to_string()))
}

fn convert(s: Session) -> Result<Catalogue, ImportError> {
    let decimals = s.currency.decimal_places;
    let places = u32::from(decimals);
    let currency = Currency {
        code: s.currency.name.clone(),
        symbol: s.currency.symbol.clone(),
        position: match s.currency.position.as_deref() {
            Some("before") => SymbolPosition::Before,
            _ => SymbolPosition::After,
        },
        decimals,
        rounding: scaled(|| "res.currency.rounding".into(), &s.currency.rounding, places)?,
    };
    let mut cat = Catalogue::empty(currency);
    cat.rounding_method = match s.company.as_ref().and_then(|c| c.tax_calculation_rounding_method.as_deref())
    {
        None | Some("round_per_line") => RoundingMethod::RoundPerLine,
        Some("round_globally") => RoundingMethod::RoundGlobally,
        Some(other) => {
            return Err(refuse(
                "res.company.tax_calculation_rounding_method".into(),
                format!("unknown method {other:?}"),
            ));
        }
    };
    if s.config.as_ref().is_some_and(|c| c.cash_rounding)
        && let Some(r) = s.cash_roundings.first()
    {
        let path = |f: &str| format!("account.cash.rounding[0].{f}");
        cat.cash_rounding = Some(CashRounding {
            step: Money(scaled(|| path("rounding"), &r.rounding, places)?),
            method: match r.rounding_method.as_str() {
                "HALF-UP" => CashRoundingMethod::HalfUp,
                "UP" => CashRoundingMethod::Up,
                "DOWN" => CashRoundingMethod::Down,
                other => return Err(refuse(path("rounding_method"), format!("unknown method {other:?}"))),
            },
        });
    }

    const TAX: &str = "account.tax";
    for (i, t) in s.taxes.iter().enumerate() {
        let path = |f: &str| at(TAX, i, t.id, f);
        let amount_type = match t.amount_type.as_str() {
            "percent" => AmountType::Percent,
            "fixed" => AmountType::Fixed,
            "division" => AmountType::Division,
            "group" => return Err(refuse(path("amount_type"), "groups of taxes are not supported")),
            other => return Err(refuse(path("amount_type"), format!("{other:?} taxes are not supported"))),
        };
        if !t.children_tax_ids.is_empty() {
            return Err(refuse(path("children_tax_ids"), "groups of taxes are not supported"));
        }
        if let Some(f) = &t.sum_repartition_factor
            && scaled(|| path("sum_repartition_factor"), f, 4)? != 10_000
        {
            return Err(refuse(
                path("sum_repartition_factor"),
                "only taxes distributed at 100 % are supported",
            ));
        }
        cat.taxes.push(Tax {
            id: id(|| path("id"), t.id)?,
            name: t.name.clone(),
            amount_type,
            amount: TaxAmount::from_ten_thousandths(scaled(|| path("amount"), &t.amount, TaxAmount::PLACES)?),
            price_include: t.price_include,
            include_base_amount: t.include_base_amount,
            is_base_affected: t.is_base_affected,
            // 17 does not load `sequence`: the list comes in Odoo's
            // `sequence, id` order, which the catalogue's order keeps.
            sequence: t.sequence.unwrap_or(1),
        });
    }

    for (i, c) in s.categories.iter().enumerate() {
        let path = |f: &str| at("pos.category", i, c.id, f);
        cat.categories.push(Category {
            id: id(|| path("id"), c.id)?,
            name: c.name.clone(),
            parent: c.parent_id.id().map(|p| id(|| path("parent_id"), p)).transpose()?,
            sequence: c.sequence.unwrap_or(0),
        });
    }

    // Odoo product categories (for pricelist items): parent of each.
    let product_category_parent: BTreeMap<i64, Option<i64>> =
        s.product_categories.iter().map(|c| (c.id, c.parent_id.id())).collect();
    let in_product_category = |mut c: Option<i64>, target: i64| {
        for _ in 0..=product_category_parent.len() {
            match c {
                Some(x) if x == target => return true,
                Some(x) => c = product_category_parent.get(&x).copied().flatten(),
                None => return false,
            }
        }
        false
    };

    const PRODUCT: &str = "product.product";
    for (i, p) in s.products.iter().enumerate() {
        if !p.active {
            continue;
        }
        let path = |f: &str| at(PRODUCT, i, p.id, f);
        let category = p.pos_categ_ids.first().copied().or(p.pos_categ_id.id());
        cat.products.push(Product {
            id: id(|| path("id"), p.id)?,
            name: p.display_name.clone().or_else(|| p.name.clone()).unwrap_or_default(),
            category: category.map(|c| id(|| path("pos_categ_ids"), c)).transpose()?,
            price: Money(scaled(|| path("lst_price"), &p.lst_price, places)?),
            taxes: p.taxes_id.iter().map(|t| id(|| path("taxes_id"), *t)).collect::<Result<_, _>>()?,
            barcode: p.barcode.0.clone(),
            available: p.available_in_pos,
            to_weight: p.to_weight,
        });
    }
    let active_products: Vec<&OdooProduct> = s.products.iter().filter(|p| p.active).collect();

    const PRICELIST: &str = "product.pricelist";
    for (i, l) in s.pricelists.iter().enumerate() {
        let lpath = |f: &str| at(PRICELIST, i, l.id, f);
        let mut rules = Vec::with_capacity(l.items.len());
        for (j, it) in l.items.iter().enumerate() {
            let path = |f: &str| format!("{}.items[{j}] (id {}).{f}", lpath("").trim_end_matches('.'), it.id);
            let is_set = |d: &Option<Dec>, f: &str| -> Result<bool, ImportError> {
                Ok(match d {
                    Some(d) => scaled(|| path(f), d, 6)? != 0,
                    None => false,
                })
            };
            if it.date_start.0.is_some() || it.date_end.0.is_some() {
                return Err(refuse(path("date_start"), "pricelist items limited in time are not supported"));
            }
            if it.base.as_deref().is_some_and(|b| b != "list_price") {
                return Err(refuse(path("base"), "only items based on the sales price are supported"));
            }
            let percent = |d: &Option<Dec>, f: &str| -> Result<Percent, ImportError> {
                let v = match d {
                    Some(d) => scaled(|| path(f), d, 2)?,
                    None => 0,
                };
                i32::try_from(v).map(Percent).map_err(|_| refuse(path(f), "out of range"))
            };
            let price = match it.compute_price.as_str() {
                "fixed" => RulePrice::Fixed {
                    price: Money(match &it.fixed_price {
                        Some(d) => scaled(|| path("fixed_price"), d, places)?,
                        None => 0,
                    }),
                },
                "percentage" => {
                    RulePrice::Percentage { percent: percent(&it.percent_price, "percent_price")? }
                }
                "formula" => {
                    for f in ["price_surcharge", "price_round", "price_min_margin", "price_max_margin"] {
                        let d = match f {
                            "price_surcharge" => &it.price_surcharge,
                            "price_round" => &it.price_round,
                            "price_min_margin" => &it.price_min_margin,
                            _ => &it.price_max_margin,
                        };
                        if is_set(d, f)? {
                            return Err(refuse(
                                path(f),
                                "formula items with more than a discount are not supported",
                            ));
                        }
                    }
                    RulePrice::Percentage { percent: percent(&it.price_discount, "price_discount")? }
                }
                other => return Err(refuse(path("compute_price"), format!("unknown computation {other:?}"))),
            };
            let applies_to = if let Some(p) = it.product_id.id() {
                RuleTarget::Products { products: vec![id(|| path("product_id"), p)?] }
            } else if let Some(t) = it.product_tmpl_id.id() {
                let products = active_products
                    .iter()
                    .filter(|p| p.product_tmpl_id.id() == Some(t))
                    .map(|p| id(|| path("product_tmpl_id"), p.id))
                    .collect::<Result<Vec<_>, _>>()?;
                RuleTarget::Products { products }
            } else if let Some(c) = it.categ_id.id() {
                // Odoo product categories are not menu categories: the rule
                // becomes the list of products in the category or under it.
                let products = active_products
                    .iter()
                    .filter(|p| in_product_category(p.categ_id.id(), c))
                    .map(|p| id(|| path("categ_id"), p.id))
                    .collect::<Result<Vec<_>, _>>()?;
                RuleTarget::Products { products }
            } else {
                RuleTarget::All
            };
            let min_quantity = match &it.min_quantity {
                Some(d) => Quantity(scaled(|| path("min_quantity"), d, 3)?),
                None => Quantity::ZERO,
            };
            rules.push(PricelistRule { applies_to, min_quantity, price });
        }
        cat.pricelists.push(Pricelist {
            id: id(|| lpath("id"), l.id)?,
            name: l.name.clone().or_else(|| l.display_name.clone()).unwrap_or_default(),
            rules,
        });
    }
    cat.default_pricelist = s
        .default_pricelist
        .as_ref()
        .map(|p| id::<PricelistId>(|| "default_pricelist.id".into(), p.id))
        .transpose()?;

    for (i, m) in s.payment_methods.iter().enumerate() {
        let path = |f: &str| at("pos.payment.method", i, m.id, f);
        let kind = match m.kind.as_deref() {
            Some("cash") => PaymentKind::Cash,
            Some("bank") => PaymentKind::Bank,
            Some("pay_later") => PaymentKind::PayLater,
            None if m.is_cash_count => PaymentKind::Cash,
            None => PaymentKind::Bank,
            Some(other) => return Err(refuse(path("type"), format!("unknown type {other:?}"))),
        };
        cat.payment_methods.push(PaymentMethod {
            id: id::<PaymentMethodId>(|| path("id"), m.id)?,
            name: m.name.clone(),
            kind,
            gives_change: None,
        });
    }

    let fp_tax_by_id: BTreeMap<i64, &FiscalPositionTax> =
        s.fiscal_position_taxes.iter().map(|t| (t.id, t)).collect();
    for (i, f) in s.fiscal_positions.iter().enumerate() {
        let path = |fld: &str| at("account.fiscal.position", i, f.id, fld);
        // 17 embeds the mapping lines; otherwise they come from `tax_ids`.
        let mut lines: Vec<&FiscalPositionTax> = f.fiscal_position_taxes_by_id.values().collect();
        let embedded: BTreeSet<i64> = lines.iter().map(|l| l.id).collect();
        for t in &f.tax_ids {
            if embedded.contains(t) {
                continue;
            }
            match fp_tax_by_id.get(t) {
                Some(l) => lines.push(l),
                None => return Err(refuse(path("tax_ids"), format!("no account.fiscal.position.tax {t}"))),
            }
        }
        lines.sort_by_key(|l| l.id);
        let mut tax_map = Vec::with_capacity(lines.len());
        for l in lines {
            let Some(src) = l.tax_src_id.id() else {
                return Err(refuse(path("tax_src_id"), format!("mapping line {} has no source tax", l.id)));
            };
            tax_map.push(TaxMapping {
                src: id::<TaxId>(|| path("tax_src_id"), src)?,
                dest: l.tax_dest_id.id().map(|d| id::<TaxId>(|| path("tax_dest_id"), d)).transpose()?,
            });
        }
        cat.fiscal_positions.push(FiscalPosition {
            id: id::<FiscalPositionId>(|| path("id"), f.id)?,
            name: f.name.clone(),
            tax_map,
        });
    }

    for (i, f) in s.floors.iter().enumerate() {
        let path = |fld: &str| at("restaurant.floor", i, f.id, fld);
        let mut tables = Vec::with_capacity(f.tables.len());
        for t in f.tables.iter().filter(|t| t.active) {
            // Layout only, never money: pixel positions as Odoo stores them.
            let px = |v: f64| v.round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
            tables.push(Table {
                id: id::<TableId>(|| path("tables.id"), t.id)?,
                name: t.name.clone(),
                seats: t.seats,
                shape: match t.shape.as_deref() {
                    Some("round") => TableShape::Round,
                    _ => TableShape::Square,
                },
                x: px(t.position_h),
                y: px(t.position_v),
                width: px(t.width.unwrap_or(100.0)).max(0).unsigned_abs(),
                height: px(t.height.unwrap_or(100.0)).max(0).unsigned_abs(),
            });
        }
        cat.floors.push(Floor {
            id: id::<FloorId>(|| path("id"), f.id)?,
            name: f.name.clone(),
            sequence: f.sequence.unwrap_or(0),
            tables,
        });
    }

    let users: Vec<&OdooUser> = match &s.users {
        OneOrMany::None => Vec::new(),
        OneOrMany::One(u) => vec![u],
        OneOrMany::Many(us) => us.iter().collect(),
    };
    for (i, u) in users.into_iter().enumerate() {
        let path = |fld: &str| at("res.users", i, u.id, fld);
        cat.users.push(User {
            id: id::<UserId>(|| path("id"), u.id)?,
            name: u.name.clone(),
            role: match u.role.as_deref() {
                Some("manager") => Role::Manager,
                None | Some("cashier") => Role::Cashier,
                Some(other) => return Err(refuse(path("role"), format!("unknown role {other:?}"))),
            },
            pin: None,
        });
    }

    cat.validate()?;
    Ok(cat)
}
