//! What taxes cost: one line through compute_all, a 50-line order's totals
//! under both rounding methods, and pricing a new line from the catalogue.
//! Run: `cargo bench -p possync-catalogue --bench totals`.

use criterion::{Criterion, criterion_group, criterion_main};
use possync_catalogue::import::from_possync_json;
use possync_catalogue::{
    Discount, LinePricing, PricedLine, PricelistId, ProductId, Quantity, RoundingMethod, order_totals,
    sum_lines,
};

const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");

fn benches(c: &mut Criterion) {
    let catalogue = from_possync_json(RESTAURANT).expect("example catalogue");
    let happy = PricelistId::parse("happy-hour").expect("id");
    let lines: Vec<(LinePricing, Quantity, Discount)> = (0..50)
        .map(|i| {
            let product = ProductId::parse(&format!("p{:02}", i % 40 + 1)).expect("id");
            let qty = Quantity::units(1 + i % 3);
            let pricing = catalogue.price_line(&product, qty, Some(&happy), None).expect("priced");
            (pricing, qty, Discount(if i % 5 == 0 { 1000 } else { 0 }))
        })
        .collect();
    let priced = || {
        lines.iter().map(|(pricing, quantity, discount)| PricedLine {
            pricing,
            quantity: *quantity,
            discount: *discount,
        })
    };

    let mut per_line = catalogue.pricing_rules();
    per_line.method = RoundingMethod::RoundPerLine;
    let mut globally = per_line;
    globally.method = RoundingMethod::RoundGlobally;

    c.bench_function("compute_line (1 included tax)", |b| {
        let (pricing, qty, discount) = &lines[1];
        b.iter(|| pricing.compute(*qty, *discount, &per_line).expect("computes"))
    });
    c.bench_function("order_totals 50 lines, round per line", |b| {
        b.iter(|| order_totals(priced(), &per_line).expect("computes"))
    });
    c.bench_function("order_totals 50 lines, round globally", |b| {
        b.iter(|| order_totals(priced(), &globally).expect("computes"))
    });
    // What a view costs when each line's result is kept and only the sums
    // are redone.
    let computed: Vec<_> =
        lines.iter().map(|(p, q, d)| p.compute(*q, *d, &globally).expect("computes")).collect();
    c.bench_function("sum_lines 50 computed lines, round globally", |b| {
        b.iter(|| sum_lines(&computed, &globally).expect("sums"))
    });
    c.bench_function("price_line with a pricelist", |b| {
        let p = ProductId::parse("p26").expect("id");
        b.iter(|| catalogue.price_line(&p, Quantity::units(1), Some(&happy), None).expect("priced"))
    });
}

criterion_group!(totals, benches);
criterion_main!(totals);
