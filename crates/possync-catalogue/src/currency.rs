//! The currency prices are in (Odoo `res.currency`).

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::pricing_rules::{PricingRules, RoundingMethod};

/// Where the symbol goes (Odoo's `position`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolPosition {
    #[default]
    After,
    Before,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Currency {
    /// ISO 4217 code, e.g. `EUR`.
    pub code: String,
    pub symbol: String,
    #[serde(default)]
    pub position: SymbolPosition,
    /// Decimal places (`decimal_places`): 2 for EUR, 0 for JPY.
    pub decimals: u8,
    /// Rounding step in minor units (`rounding` / minor unit): 1 almost
    /// everywhere.
    #[serde(default = "one")]
    pub rounding: i64,
}

fn one() -> i64 {
    1
}

impl Currency {
    pub fn eur() -> Self {
        Currency {
            code: "EUR".into(),
            symbol: "€".into(),
            position: SymbolPosition::After,
            decimals: 2,
            rounding: 1,
        }
    }

    /// The rounding an order in this currency uses under `method`.
    pub fn pricing_rules(&self, method: RoundingMethod) -> PricingRules {
        PricingRules { decimals: self.decimals, rounding: self.rounding, method }
    }

    pub(crate) fn check(&self) -> Result<(), FieldError> {
        if self.code.len() != 3 || !self.code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(FieldError::new("code", format!("{:?} is not a 3-letter ISO code", self.code)));
        }
        if self.symbol.is_empty() || self.symbol.len() > 8 {
            return Err(FieldError::new("symbol", "must be 1 to 8 bytes"));
        }
        self.pricing_rules(RoundingMethod::RoundPerLine).check()
    }

    /// `amount` (minor units) as text with the symbol, e.g. `12.50 €`.
    pub fn format(&self, amount: possync_money::Money) -> String {
        let n = crate::decimal::format_scaled(amount.0, u32::from(self.decimals));
        // Always show every decimal place, as a till does.
        let n = match (self.decimals, n.split_once('.')) {
            (0, _) => n,
            (d, Some((w, f))) => format!("{w}.{f:0<width$}", width = usize::from(d)),
            (d, None) => format!("{n}.{}", "0".repeat(usize::from(d))),
        };
        match self.position {
            SymbolPosition::Before => format!("{}{n}", self.symbol),
            SymbolPosition::After => format!("{n} {}", self.symbol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_decimal() {
        let eur = Currency::eur();
        assert_eq!(eur.format(possync_money::Money(1250)), "12.50 €");
        assert_eq!(eur.format(possync_money::Money(-5)), "-0.05 €");
        assert_eq!(eur.format(possync_money::Money(300)), "3.00 €");
        let usd =
            Currency { code: "USD".into(), symbol: "$".into(), position: SymbolPosition::Before, ..eur };
        assert_eq!(usd.format(possync_money::Money(1999)), "$19.99");
    }
}
