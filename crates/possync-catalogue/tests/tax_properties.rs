//! Properties of the totals that must hold for any catalogue and any order:
//! they are what lets every terminal show the same totals.

use possync_catalogue::{
    AmountType, Discount, LinePricing, Money, OrderTotals, PricedLine, PricingRules, Quantity,
    RoundingMethod, Tax, TaxAmount, TaxId, order_totals,
};
use proptest::prelude::*;

fn tax_strategy() -> impl Strategy<Value = Tax> {
    (
        prop::sample::select(vec!["0", "5.5", "6", "7.7", "10", "12", "19", "20", "21", "25"]),
        prop_oneof![4 => Just(AmountType::Percent), 1 => Just(AmountType::Fixed), 1 => Just(AmountType::Division)],
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.9),
        0..3i32,
    )
        .prop_map(|(rate, amount_type, price_include, include_base_amount, is_base_affected, sequence)| Tax {
            id: TaxId::parse("t").expect("static id"),
            name: String::new(),
            amount_type,
            amount: match amount_type {
                AmountType::Fixed => TaxAmount::from_ten_thousandths(2_500),
                _ => TaxAmount::parse(rate).expect("static rate"),
            },
            price_include,
            include_base_amount,
            is_base_affected,
            sequence,
        })
}

/// 1–3 taxes with distinct ids, sorted as a catalogue would apply them.
fn taxes_strategy() -> impl Strategy<Value = Vec<Tax>> {
    prop::collection::vec(tax_strategy(), 0..4).prop_map(|mut taxes| {
        for (i, t) in taxes.iter_mut().enumerate() {
            t.id = TaxId::parse(&format!("t{i}")).expect("generated id");
            t.name = format!("Tax {i}");
        }
        taxes.sort_by_key(|t| t.sequence);
        taxes
    })
}

fn line_strategy(taxes: Vec<Tax>) -> impl Strategy<Value = (LinePricing, Quantity, Discount)> {
    let n = taxes.len();
    (
        -5_000i64..100_000,
        prop_oneof![1 => -5_000i64..0, 6 => 1i64..20_000],
        prop_oneof![3 => Just(0u16), 1 => 0u16..=10_000],
        prop::collection::vec(any::<bool>(), n),
    )
        .prop_map(move |(price, qty, discount, keep)| {
            let line_taxes = taxes.iter().zip(&keep).filter(|(_, k)| **k).map(|(t, _)| t.clone()).collect();
            (LinePricing { unit_price: Money(price), taxes: line_taxes }, Quantity(qty), Discount(discount))
        })
}

fn order_strategy() -> impl Strategy<Value = (Vec<(LinePricing, Quantity, Discount)>, RoundingMethod)> {
    (
        taxes_strategy().prop_flat_map(|taxes| prop::collection::vec(line_strategy(taxes), 0..12)),
        prop_oneof![Just(RoundingMethod::RoundPerLine), Just(RoundingMethod::RoundGlobally)],
    )
}

fn totals(lines: &[(LinePricing, Quantity, Discount)], rules: &PricingRules) -> OrderTotals {
    order_totals(
        lines.iter().map(|(pricing, quantity, discount)| PricedLine {
            pricing,
            quantity: *quantity,
            discount: *discount,
        }),
        rules,
    )
    .expect("bounded inputs never overflow")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn total_is_untaxed_plus_taxes((lines, method) in order_strategy()) {
        let t = totals(&lines, &PricingRules::cents(method));
        prop_assert_eq!(t.total.0, t.untaxed.0 + t.taxes.iter().map(|x| x.amount.0).sum::<i64>());
        prop_assert_eq!(t.tax.0, t.taxes.iter().map(|x| x.amount.0).sum::<i64>());
    }

    #[test]
    fn line_order_does_not_matter((lines, method) in order_strategy(), seed in any::<u64>()) {
        let rules = PricingRules::cents(method);
        let mut shuffled = lines.clone();
        // A seeded Fisher-Yates, so the property shrinks deterministically.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(totals(&lines, &rules), totals(&shuffled, &rules));
    }

    #[test]
    fn adding_lines_one_by_one_does_not_drift((lines, method) in order_strategy()) {
        // Totals after each addition, forwards and backwards, end equal to the
        // totals of the whole order computed at once: nothing accumulates
        // between additions.
        let rules = PricingRules::cents(method);
        let whole = totals(&lines, &rules);
        let mut forwards = Vec::new();
        let mut last = OrderTotals::default();
        for l in &lines {
            forwards.push(l.clone());
            last = totals(&forwards, &rules);
        }
        prop_assert_eq!(&last, &whole);
        let mut backwards = Vec::new();
        for l in lines.iter().rev() {
            backwards.push(l.clone());
            last = totals(&backwards, &rules);
        }
        prop_assert_eq!(&last, &whole);
    }

    #[test]
    fn included_taxes_add_back_up_to_the_price(price in 0i64..100_000, qty in 1i64..20_000, rate in prop::sample::select(vec!["5.5", "6", "10", "21"]), method in prop_oneof![Just(RoundingMethod::RoundPerLine), Just(RoundingMethod::RoundGlobally)]) {
        // One price-included percentage: the line's total is its price,
        // to the minor unit, whatever the rounding.
        let tax = Tax { price_include: true, ..Tax::percent(TaxId::parse("v").expect("static"), "VAT", TaxAmount::parse(rate).expect("static")) };
        let pricing = LinePricing { unit_price: Money(price), taxes: vec![tax] };
        let rules = PricingRules::cents(method);
        let line = pricing.compute(Quantity(qty), Discount::NONE, &rules).expect("bounded");
        let expected = possync_catalogue::Money(possync_money_line_total(price, qty));
        prop_assert_eq!(line.total_included, expected);
        let t = totals(&[(pricing, Quantity(qty), Discount::NONE)], &rules);
        prop_assert_eq!(t.total, expected);
    }

    #[test]
    fn methods_differ_by_at_most_half_a_cent_per_line_and_tax((lines, _m) in order_strategy()) {
        let per_line = totals(&lines, &PricingRules::cents(RoundingMethod::RoundPerLine));
        let global = totals(&lines, &PricingRules::cents(RoundingMethod::RoundGlobally));
        prop_assert_eq!(per_line.untaxed, global.untaxed);
        let rows: usize = lines.iter().map(|(p, _, _)| p.taxes.len()).sum();
        prop_assert!((per_line.tax.0 - global.tax.0).unsigned_abs() as usize <= rows + per_line.taxes.len());
    }
}

/// The order model's own line total (half away from zero), as a cross-check.
fn possync_money_line_total(price: i64, qty: i64) -> i64 {
    let n = i128::from(price) * i128::from(qty);
    ((n + 500) / 1000) as i64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A snapshot or rules received from a peer may hold any values: the
    /// computation answers or reports an overflow, it never panics.
    #[test]
    fn any_input_computes_or_overflows(
        price in prop_oneof![any::<i64>(), -100_000i64..100_000],
        qty in prop_oneof![any::<i64>(), -10_000i64..10_000],
        discount in any::<u16>(),
        amounts in prop::collection::vec(
            (prop_oneof![any::<i64>(), -2_000_000i64..2_000_000], 0..3u8, any::<bool>(), any::<bool>(), any::<bool>()),
            0..4,
        ),
        decimals in prop_oneof![any::<u8>(), 0u8..8],
        rounding in prop_oneof![any::<i64>(), -10i64..10],
        global in any::<bool>(),
    ) {
        let taxes: Vec<Tax> = amounts
            .into_iter()
            .enumerate()
            .map(|(i, (a, kind, price_include, include_base_amount, is_base_affected))| Tax {
                id: TaxId::parse(&format!("t{i}")).expect("generated id"),
                name: String::new(),
                amount_type: [AmountType::Percent, AmountType::Fixed, AmountType::Division][usize::from(kind)],
                amount: TaxAmount::from_ten_thousandths(a),
                price_include,
                include_base_amount,
                is_base_affected,
                sequence: 0,
            })
            .collect();
        let method = if global { RoundingMethod::RoundGlobally } else { RoundingMethod::RoundPerLine };
        let rules = PricingRules { decimals, rounding, method };
        let pricing = LinePricing { unit_price: Money(price), taxes };
        let _ = order_totals([PricedLine { pricing: &pricing, quantity: Quantity(qty), discount: Discount(discount) }], &rules);
    }
}
