//! The whole catalogue, its validation, and the pricing of a new line.

use std::collections::{BTreeMap, BTreeSet};

use possync_money::Quantity;
use serde::{Deserialize, Serialize};

use crate::cash_rounding::CashRounding;
use crate::category::Category;
use crate::currency::Currency;
use crate::fiscal_position::{FiscalPosition, price_after_fiscal_position};
use crate::floor::Floor;
use crate::ids::{CategoryId, FiscalPositionId, PricelistId, ProductId, TaxId};
use crate::line_pricing::{LinePricing, MAX_LINE_TAXES};
use crate::payment_method::PaymentMethod;
use crate::pricelist::{Pricelist, RulePrice, RuleTarget};
use crate::pricing_rules::{PricingRules, RoundingMethod};
use crate::product::Product;
use crate::ratio::Overflow;
use crate::tax::Tax;
use crate::user::User;
use crate::validation_error::{ValidationError, ValidationErrors};

/// Longest name (product, category, tax, user, …), in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Most items of one kind (products, tables, …) in a catalogue.
pub const MAX_ITEMS: usize = 100_000;
/// Largest price or fixed amount, in minor units, as for order lines.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// Deepest nesting of categories.
pub const MAX_CATEGORY_DEPTH: usize = 16;
/// Longest barcode.
pub const MAX_BARCODE_LEN: usize = 64;

/// What the terminals sell, at what price and tax, to whom, where and by whom.
/// Sections are lists: their order is the display order and, for taxes, the
/// tie-break of equal sequences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub currency: Currency,
    /// The company's tax rounding (`tax_calculation_rounding_method`).
    #[serde(default)]
    pub rounding_method: RoundingMethod,
    #[serde(default)]
    pub cash_rounding: Option<CashRounding>,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub taxes: Vec<Tax>,
    #[serde(default)]
    pub fiscal_positions: Vec<FiscalPosition>,
    #[serde(default)]
    pub pricelists: Vec<Pricelist>,
    /// The pricelist a new order starts with.
    #[serde(default)]
    pub default_pricelist: Option<PricelistId>,
    #[serde(default)]
    pub payment_methods: Vec<PaymentMethod>,
    #[serde(default)]
    pub floors: Vec<Floor>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub products: Vec<Product>,
}

/// A line that cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("unknown product {0}")]
    UnknownProduct(ProductId),
    #[error("unknown pricelist {0}")]
    UnknownPricelist(PricelistId),
    #[error("unknown fiscal position {0}")]
    UnknownFiscalPosition(FiscalPositionId),
    #[error("unknown tax {0} (the catalogue was not validated)")]
    UnknownTax(TaxId),
    #[error(transparent)]
    Overflow(#[from] Overflow),
}

impl Catalogue {
    /// An empty catalogue in `currency`.
    pub fn empty(currency: Currency) -> Self {
        Catalogue {
            currency,
            rounding_method: RoundingMethod::default(),
            cash_rounding: None,
            categories: Vec::new(),
            taxes: Vec::new(),
            fiscal_positions: Vec::new(),
            pricelists: Vec::new(),
            default_pricelist: None,
            payment_methods: Vec::new(),
            floors: Vec::new(),
            users: Vec::new(),
            products: Vec::new(),
        }
    }

    /// The rounding every order priced from this catalogue uses.
    pub fn pricing_rules(&self) -> PricingRules {
        self.currency.pricing_rules(self.rounding_method)
    }

    pub fn product(&self, id: &ProductId) -> Option<&Product> {
        self.products.iter().find(|p| &p.id == id)
    }

    /// The product a scanner read, if any (barcodes are unique).
    pub fn product_by_barcode(&self, barcode: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.barcode.as_deref() == Some(barcode))
    }

    pub fn tax(&self, id: &TaxId) -> Option<&Tax> {
        self.taxes.iter().find(|t| &t.id == id)
    }

    /// The price and taxes of a new line of `product`: the pricelist's first
    /// applicable rule, then the fiscal position's tax mapping and price
    /// adjustment. The result is what the line keeps.
    pub fn price_line(
        &self,
        product: &ProductId,
        quantity: Quantity,
        pricelist: Option<&PricelistId>,
        fiscal_position: Option<&FiscalPositionId>,
    ) -> Result<LinePricing, PriceError> {
        let p = self.product(product).ok_or_else(|| PriceError::UnknownProduct(product.clone()))?;
        let mut price = p.price;
        if let Some(id) = pricelist {
            let list = self
                .pricelists
                .iter()
                .find(|l| &l.id == id)
                .ok_or_else(|| PriceError::UnknownPricelist(id.clone()))?;
            let rule = list.rules.iter().find(|r| {
                (r.min_quantity.0 == 0 || quantity >= r.min_quantity) && self.rule_targets(&r.applies_to, p)
            });
            if let Some(rule) = rule {
                price = rule.price.apply(price)?;
            }
        }
        let taxes = self.ordered_taxes(p.taxes.iter())?;
        let Some(fp_id) = fiscal_position else {
            return Ok(LinePricing { unit_price: price, taxes });
        };
        let fp = self
            .fiscal_positions
            .iter()
            .find(|f| &f.id == fp_id)
            .ok_or_else(|| PriceError::UnknownFiscalPosition(fp_id.clone()))?;
        let mut mapped = Vec::with_capacity(taxes.len());
        let mut after_ids: Vec<TaxId> = Vec::new();
        for t in &taxes {
            let dest = fp.map_tax(&t.id);
            for d in &dest {
                if !after_ids.contains(d) {
                    after_ids.push(d.clone());
                }
            }
            mapped.push((t.clone(), self.ordered_taxes(dest.iter())?));
        }
        let price = price_after_fiscal_position(price, &mapped, &self.pricing_rules())?;
        Ok(LinePricing { unit_price: price, taxes: self.ordered_taxes(after_ids.iter())? })
    }

    /// Copies of the taxes, in application order: sequence, then catalogue order.
    fn ordered_taxes<'a>(&self, ids: impl Iterator<Item = &'a TaxId>) -> Result<Vec<Tax>, PriceError> {
        let mut found = ids
            .map(|id| {
                self.taxes
                    .iter()
                    .enumerate()
                    .find(|(_, t)| &t.id == id)
                    .ok_or_else(|| PriceError::UnknownTax(id.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by_key(|(i, t)| (t.sequence, *i));
        found.dedup_by_key(|(i, _)| *i);
        Ok(found.into_iter().map(|(_, t)| t.clone()).collect())
    }

    fn rule_targets(&self, target: &RuleTarget, product: &Product) -> bool {
        match target {
            RuleTarget::All => true,
            RuleTarget::Products { products } => products.contains(&product.id),
            RuleTarget::Category { category } => {
                // The product's category or any of its ancestors; bounded in
                // case a cycle slipped past validation.
                let mut current = product.category.as_ref();
                for _ in 0..=self.categories.len() {
                    let Some(c) = current else { return false };
                    if c == category {
                        return true;
                    }
                    current = self.categories.iter().find(|x| &x.id == c).and_then(|x| x.parent.as_ref());
                }
                false
            }
        }
    }

    /// Checks everything a terminal relies on: unique ids per kind, references
    /// that resolve, values in range. Returns every problem found.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut v = Validator::default();
        if let Err(e) = self.currency.check() {
            v.push("currency".into(), e.field, e.problem);
        }
        if let Some(c) = &self.cash_rounding
            && !(1..=MAX_PRICE).contains(&c.step.0)
        {
            v.push("cash rounding".into(), "step", format!("{} minor units is not a step", c.step.0));
        }

        v.unique("category", self.categories.iter().map(|c| c.id.as_str()));
        let categories: BTreeSet<&CategoryId> = self.categories.iter().map(|c| &c.id).collect();
        for c in &self.categories {
            let item = format!("category {:?}", c.id.as_str());
            v.name(&item, &c.name);
            if let Some(p) = &c.parent
                && !categories.contains(p)
            {
                v.push(item.clone(), "parent", format!("no category {:?}", p.as_str()));
            }
        }
        v.category_depths(&self.categories);

        v.unique("tax", self.taxes.iter().map(|t| t.id.as_str()));
        let taxes: BTreeSet<&TaxId> = self.taxes.iter().map(|t| &t.id).collect();
        for t in &self.taxes {
            let item = format!("tax {:?}", t.id.as_str());
            v.name(&item, &t.name);
            if let Err(e) = t.check() {
                v.push(item, e.field, e.problem);
            }
        }

        v.unique("fiscal position", self.fiscal_positions.iter().map(|f| f.id.as_str()));
        for f in &self.fiscal_positions {
            let item = format!("fiscal position {:?}", f.id.as_str());
            v.name(&item, &f.name);
            for (i, m) in f.tax_map.iter().enumerate() {
                if !taxes.contains(&m.src) {
                    v.push(item.clone(), format!("tax_map[{i}].src"), format!("no tax {:?}", m.src.as_str()));
                }
                if let Some(d) = &m.dest
                    && !taxes.contains(d)
                {
                    v.push(item.clone(), format!("tax_map[{i}].dest"), format!("no tax {:?}", d.as_str()));
                }
            }
        }

        let products: BTreeSet<&ProductId> = self.products.iter().map(|p| &p.id).collect();
        v.unique("pricelist", self.pricelists.iter().map(|p| p.id.as_str()));
        for l in &self.pricelists {
            let item = format!("pricelist {:?}", l.id.as_str());
            v.name(&item, &l.name);
            for (i, r) in l.rules.iter().enumerate() {
                match &r.applies_to {
                    RuleTarget::All => {}
                    RuleTarget::Category { category } if !categories.contains(category) => v.push(
                        item.clone(),
                        format!("rules[{i}].applies_to.category"),
                        format!("no category {:?}", category.as_str()),
                    ),
                    RuleTarget::Category { .. } => {}
                    RuleTarget::Products { products: ps } => {
                        for (j, p) in ps.iter().enumerate() {
                            if !products.contains(p) {
                                v.push(
                                    item.clone(),
                                    format!("rules[{i}].applies_to.products[{j}]"),
                                    format!("no product {:?}", p.as_str()),
                                );
                            }
                        }
                    }
                }
                if r.min_quantity.0 < 0 {
                    v.push(item.clone(), format!("rules[{i}].min_quantity"), "must not be negative".into());
                }
                match r.price {
                    RulePrice::Fixed { price } if !(0..=MAX_PRICE).contains(&price.0) => {
                        v.push(item.clone(), format!("rules[{i}].price.price"), "out of range".into())
                    }
                    RulePrice::Percentage { percent } if !(-10_000..=10_000).contains(&percent.0) => v.push(
                        item.clone(),
                        format!("rules[{i}].price.percent"),
                        "must be within -100 and 100".into(),
                    ),
                    _ => {}
                }
            }
        }
        if let Some(d) = &self.default_pricelist
            && !self.pricelists.iter().any(|l| &l.id == d)
        {
            v.push("catalogue".into(), "default_pricelist", format!("no pricelist {:?}", d.as_str()));
        }

        v.unique("payment method", self.payment_methods.iter().map(|p| p.id.as_str()));
        for p in &self.payment_methods {
            v.name(&format!("payment method {:?}", p.id.as_str()), &p.name);
        }

        v.unique("floor", self.floors.iter().map(|f| f.id.as_str()));
        v.unique("table", self.floors.iter().flat_map(|f| f.tables.iter().map(|t| t.id.as_str())));
        for f in &self.floors {
            v.name(&format!("floor {:?}", f.id.as_str()), &f.name);
            for t in &f.tables {
                let item = format!("table {:?}", t.id.as_str());
                v.name(&item, &t.name);
                if t.seats > 1000 {
                    v.push(item, "seats", format!("{} seats is not a table", t.seats));
                }
            }
        }

        v.unique("user", self.users.iter().map(|u| u.id.as_str()));
        for u in &self.users {
            v.name(&format!("user {:?}", u.id.as_str()), &u.name);
        }

        v.unique("product", self.products.iter().map(|p| p.id.as_str()));
        let mut barcodes: BTreeMap<&str, &ProductId> = BTreeMap::new();
        for p in &self.products {
            let item = format!("product {:?}", p.id.as_str());
            v.name(&item, &p.name);
            if let Some(c) = &p.category
                && !categories.contains(c)
            {
                v.push(item.clone(), "category", format!("no category {:?}", c.as_str()));
            }
            if !(-MAX_PRICE..=MAX_PRICE).contains(&p.price.0) {
                v.push(item.clone(), "price", format!("{} is out of range", p.price.0));
            }
            if p.taxes.len() > MAX_LINE_TAXES {
                v.push(item.clone(), "taxes", format!("more than {MAX_LINE_TAXES} taxes"));
            }
            for (i, t) in p.taxes.iter().enumerate() {
                if !taxes.contains(t) {
                    v.push(item.clone(), format!("taxes[{i}]"), format!("no tax {:?}", t.as_str()));
                } else if p.taxes[..i].contains(t) {
                    v.push(item.clone(), format!("taxes[{i}]"), format!("tax {:?} twice", t.as_str()));
                }
            }
            if let Some(b) = &p.barcode {
                if b.is_empty() || b.len() > MAX_BARCODE_LEN || !b.bytes().all(|c| c.is_ascii_graphic()) {
                    v.push(
                        item.clone(),
                        "barcode",
                        format!("1 to {MAX_BARCODE_LEN} printable ASCII characters"),
                    );
                } else if let Some(other) = barcodes.insert(b, &p.id) {
                    v.push(item.clone(), "barcode", format!("{b:?} is also product {:?}'s", other.as_str()));
                }
            }
        }
        v.finish()
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
}

impl Validator {
    fn push(&mut self, item: String, field: impl Into<String>, problem: String) {
        self.errors.push(ValidationError { item, field: field.into(), problem });
    }

    fn name(&mut self, item: &str, name: &str) {
        if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
            self.push(item.to_owned(), "name", format!("must be 1 to {MAX_NAME_LEN} bytes, not blank"));
        }
    }

    /// Flags repeated ids and too many items.
    fn unique<'a>(&mut self, kind: &str, ids: impl Iterator<Item = &'a str>) {
        let mut seen = BTreeSet::new();
        let mut n = 0usize;
        for id in ids {
            n += 1;
            if !seen.insert(id) {
                self.push(format!("{kind} {id:?}"), "id", "used by two items".into());
            }
        }
        if n > MAX_ITEMS {
            self.push(format!("{kind}s"), "", format!("{n} items, more than {MAX_ITEMS}"));
        }
    }

    /// Flags categories that are their own ancestor or nested deeper than
    /// [`MAX_CATEGORY_DEPTH`]. Each category's depth is computed once.
    fn category_depths(&mut self, categories: &[Category]) {
        let parent: BTreeMap<&CategoryId, Option<&CategoryId>> =
            categories.iter().map(|c| (&c.id, c.parent.as_ref())).collect();
        // None while being computed: meeting it again means a cycle.
        let mut depth: BTreeMap<&CategoryId, Option<usize>> = BTreeMap::new();
        for c in categories {
            let mut path = Vec::new();
            let mut current = Some(&c.id);
            let base = loop {
                let Some(id) = current else { break 0 };
                match depth.get(id) {
                    Some(Some(d)) => break *d,
                    Some(None) => {
                        self.push(
                            format!("category {:?}", id.as_str()),
                            "parent",
                            "is its own ancestor".into(),
                        );
                        break usize::MAX / 2;
                    }
                    None => {}
                }
                depth.insert(id, None);
                path.push(id);
                current = parent.get(id).copied().flatten().filter(|p| parent.contains_key(p));
            };
            for (i, id) in path.iter().rev().enumerate() {
                let d = base.saturating_add(i + 1);
                depth.insert(id, Some(d));
                if d == MAX_CATEGORY_DEPTH + 1 && base < usize::MAX / 2 {
                    self.push(
                        format!("category {:?}", id.as_str()),
                        "parent",
                        format!("nested more than {MAX_CATEGORY_DEPTH} deep"),
                    );
                }
            }
        }
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() { Ok(()) } else { Err(ValidationErrors(self.errors)) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_categories(parents: &[(&str, Option<&str>)]) -> Catalogue {
        let mut c = Catalogue::empty(Currency::eur());
        c.categories = parents
            .iter()
            .map(|(id, p)| Category {
                id: CategoryId::parse(id).unwrap(),
                name: id.to_string(),
                parent: p.map(|p| CategoryId::parse(p).unwrap()),
                sequence: 0,
            })
            .collect();
        c
    }

    #[test]
    fn category_cycles_and_depth_are_refused() {
        assert!(with_categories(&[("a", None), ("b", Some("a")), ("c", Some("b"))]).validate().is_ok());
        let e =
            with_categories(&[("a", Some("c")), ("b", Some("a")), ("c", Some("b"))]).validate().unwrap_err();
        assert!(e.0.iter().any(|e| e.field == "parent" && e.problem.contains("own ancestor")), "{e}");
        let e = with_categories(&[("a", Some("a"))]).validate().unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        let names: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let chain: Vec<(&str, Option<&str>)> =
            (0..20).map(|i| (names[i].as_str(), i.checked_sub(1).map(|p| names[p].as_str()))).collect();
        let e = with_categories(&chain).validate().unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].item, "category \"c16\"");
    }
}
