//! Import of both formats, with the example files of the repository and with
//! broken variants of them: a bad file is refused with where it is wrong.

use possync_catalogue::import::{ImportError, from_odoo_session, from_possync_json, to_possync_json};
use possync_catalogue::{
    Discount, FiscalPositionId, Money, PricedLine, PricelistId, ProductId, Quantity, Role, RoundingMethod,
    order_totals,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");
const ODOO: &str = include_str!("../../../examples/catalogue/odoo-pos-session.json");

fn pid(s: &str) -> ProductId {
    ProductId::parse(s).expect("test id")
}

#[test]
fn the_restaurant_example_loads() -> TestResult {
    let c = from_possync_json(RESTAURANT)?;
    assert_eq!(c.products.len(), 40);
    assert_eq!(c.categories.len(), 5);
    assert_eq!(c.taxes.len(), 2);
    assert_eq!(c.taxes.iter().filter(|t| t.price_include).count(), 1);
    assert_eq!(c.pricelists.len(), 1);
    assert_eq!(c.floors.len(), 2);
    assert_eq!(c.floors.iter().map(|f| f.tables.len()).sum::<usize>(), 14);
    assert_eq!(c.users.iter().filter(|u| u.role == Role::Cashier).count(), 2);
    assert_eq!(c.users.iter().filter(|u| u.role == Role::Manager).count(), 1);
    let ana = c.users.iter().find(|u| u.name == "Ana").ok_or("no Ana")?;
    assert!(ana.check_pin("1111"));
    assert_eq!(c.product_by_barcode("5400000000026").map(|p| p.name.as_str()), Some("Cappuccino"));
    assert!(!ana.check_pin("2222"));
    // Writing it back and reading it again gives the same catalogue.
    assert_eq!(from_possync_json(&to_possync_json(&c)?)?, c);
    Ok(())
}

#[test]
fn restaurant_prices_and_totals() -> TestResult {
    let c = from_possync_json(RESTAURANT)?;
    let happy = PricelistId::parse("happy-hour")?;
    // Cappuccino 3.60 in Drinks: 20 % off = 2.88.
    let capp = c.price_line(&pid("p26"), Quantity::units(1), Some(&happy), None)?;
    assert_eq!(capp.unit_price, Money(288));
    // Draught beer has its own fixed happy-hour price, listed first.
    assert_eq!(c.price_line(&pid("p31"), Quantity::units(1), Some(&happy), None)?.unit_price, Money(400));
    // Shop: 10 % off from 3 units only.
    assert_eq!(c.price_line(&pid("p33"), Quantity::units(2), Some(&happy), None)?.unit_price, Money(1500));
    assert_eq!(c.price_line(&pid("p33"), Quantity::units(3), Some(&happy), None)?.unit_price, Money(1350));
    // Steak frites 24.50 incl. 10 % and a bottle of wine 15.00 + 20 %.
    let steak = c.price_line(&pid("p09"), Quantity::units(2), None, None)?;
    let wine = c.price_line(&pid("p33"), Quantity::units(1), None, None)?;
    let rules = c.pricing_rules();
    let t = order_totals(
        [
            PricedLine { pricing: &steak, quantity: Quantity::units(2), discount: Discount::NONE },
            PricedLine { pricing: &wine, quantity: Quantity::units(1), discount: Discount(1000) },
        ],
        &rules,
    )?;
    // Steak: 4900 / 1.1 = 4454.55 -> 4455, tax 445. Wine: 1350, 20 % = 270.
    assert_eq!(t.untaxed, Money(4455 + 1350));
    assert_eq!(t.taxes.iter().map(|x| x.amount.0).collect::<Vec<_>>(), vec![445, 270]);
    assert_eq!(t.total, Money(4900 + 1620));
    Ok(())
}

#[test]
fn a_line_keeps_the_price_and_taxes_it_was_added_with() -> TestResult {
    // S24: the catalogue changes a price and a rate; the line already on the
    // order keeps its snapshot, a new line gets the new values.
    let mut c = from_possync_json(RESTAURANT)?;
    let rules = c.pricing_rules();
    let before = c.price_line(&pid("p33"), Quantity::units(1), None, None)?;
    let stored = serde_json::to_string(&before)?;
    c.products.iter_mut().filter(|p| p.id == pid("p33")).for_each(|p| p.price = Money(1800));
    c.taxes
        .iter_mut()
        .filter(|t| t.id.as_str() == "vat20")
        .for_each(|t| t.amount = possync_catalogue::TaxAmount::whole(21));
    c.validate()?;
    let kept: possync_catalogue::LinePricing = serde_json::from_str(&stored)?;
    let old = kept.compute(Quantity::units(1), Discount::NONE, &rules)?;
    assert_eq!((old.total_excluded, old.total_included), (Money(1500), Money(1800)));
    let new = c.price_line(&pid("p33"), Quantity::units(1), None, None)?.compute(
        Quantity::units(1),
        Discount::NONE,
        &rules,
    )?;
    assert_eq!((new.total_excluded, new.total_included), (Money(1800), Money(2178)));
    Ok(())
}

#[test]
fn the_odoo_example_loads() -> TestResult {
    let c = from_odoo_session(ODOO)?;
    assert_eq!(c.currency.code, "EUR");
    assert_eq!(c.rounding_method, RoundingMethod::RoundGlobally);
    assert_eq!(c.products.len(), 10);
    assert_eq!(c.taxes.len(), 4);
    assert_eq!(c.categories.len(), 4);
    assert_eq!(c.pricelists.len(), 2);
    assert_eq!(c.default_pricelist, Some(PricelistId::parse("1")?));
    assert_eq!(c.payment_methods.len(), 3);
    assert!(c.payment_methods[0].gives_change() && !c.payment_methods[1].gives_change());
    assert_eq!(c.floors.iter().map(|f| f.tables.len()).sum::<usize>(), 6);
    assert_eq!(c.users.len(), 1);
    assert_eq!(c.users[0].role, Role::Manager);
    assert!(c.users[0].pin.is_none(), "Odoo exports no PINs");
    let happy = PricelistId::parse("2")?;
    // Template rule: beer at 2.50.
    assert_eq!(c.price_line(&pid("13"), Quantity::units(1), Some(&happy), None)?.unit_price, Money(250));
    // Product category "Alcohol": 15 % off 5.50 = 4.675 -> 4.68.
    assert_eq!(c.price_line(&pid("14"), Quantity::units(1), Some(&happy), None)?.unit_price, Money(468));
    // Formula with a 10 % discount from 2 units: 9.50 -> 8.55.
    assert_eq!(c.price_line(&pid("21"), Quantity::units(2), Some(&happy), None)?.unit_price, Money(855));
    assert_eq!(c.price_line(&pid("21"), Quantity::units(1), Some(&happy), None)?.unit_price, Money(950));
    // Take-away maps 12 % incl to 6 % incl: 9.50 / 1.12 = 8.48; + 6 % = 8.9888 -> 8.99.
    let fp = FiscalPositionId::parse("1")?;
    let take_away = c.price_line(&pid("21"), Quantity::units(1), None, Some(&fp))?;
    assert_eq!(take_away.unit_price, Money(899));
    assert_eq!(take_away.taxes.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), vec!["3"]);
    Ok(())
}

fn syntax(e: ImportError) -> (usize, String, String) {
    match e {
        ImportError::Syntax { line, path, message, .. } => (line, path, message),
        other => panic!("expected a syntax error, got {other}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("needle in the example")
}

#[test]
fn broken_possync_files_are_refused_with_line_and_field() {
    // A price that is not a number: line and path of the field.
    let bad = RESTAURANT.replacen("\"price\": 650", "\"price\": \"six fifty\"", 1);
    let (line, path, _) = syntax(from_possync_json(&bad).expect_err("bad price"));
    assert_eq!(line, line_of(&bad, "six fifty"));
    assert_eq!(path, "catalogue.products[0].price");

    // A misspelt field is refused, not ignored.
    let bad = RESTAURANT.replacen("\"barcode\"", "\"barcod\"", 1);
    let (line, path, message) = syntax(from_possync_json(&bad).expect_err("unknown field"));
    assert_eq!(line, line_of(&bad, "barcod\""));
    assert_eq!(path, "catalogue.products[0].barcod");
    assert!(message.contains("unknown field"), "{message}");

    // An id with a space.
    let bad = RESTAURANT.replacen("\"id\": \"p05\"", "\"id\": \"p 05\"", 1);
    let (_, path, message) = syntax(from_possync_json(&bad).expect_err("bad id"));
    assert_eq!(path, "catalogue.products[4].id");
    assert!(message.contains("product id"), "{message}");

    // Not JSON at all: a missing comma.
    let bad = RESTAURANT.replacen("\"version\": 1,", "\"version\": 1", 1);
    let (line, _, _) = syntax(from_possync_json(&bad).expect_err("no comma"));
    assert_eq!(line, line_of(RESTAURANT, "\"catalogue\""));

    // A wrong format tag.
    let bad = RESTAURANT.replacen("possync-catalogue", "something-else", 1);
    assert!(matches!(from_possync_json(&bad), Err(ImportError::Format { .. })));
}

#[test]
fn inconsistent_catalogues_name_the_item_and_field() {
    let bad = RESTAURANT.replacen("\"vat20\"\n", "\"vat99\"\n", 1);
    let Err(ImportError::Invalid(errors)) = from_possync_json(&bad) else { panic!("should be invalid") };
    let e = &errors.0[0];
    assert_eq!((e.item.as_str(), e.field.as_str()), ("product \"p33\"", "taxes[0]"));
    assert!(e.problem.contains("vat99"));

    let bad = RESTAURANT.replacen("\"id\": \"p02\"", "\"id\": \"p01\"", 1);
    let Err(ImportError::Invalid(errors)) = from_possync_json(&bad) else { panic!("should be invalid") };
    assert_eq!(errors.0[0].item, "product \"p01\"");
    assert_eq!(errors.0[0].field, "id");

    let bad = RESTAURANT.replacen("\"amount\": \"20\"", "\"amount\": \"120\"", 1);
    let Err(ImportError::Invalid(errors)) = from_possync_json(&bad) else { panic!("should be invalid") };
    assert_eq!((errors.0[0].item.as_str(), errors.0[0].field.as_str()), ("tax \"vat20\"", "amount"));

    let bad = RESTAURANT.replacen("\"category\": \"drinks\"", "\"category\": \"bar\"", 1);
    let Err(ImportError::Invalid(errors)) = from_possync_json(&bad) else { panic!("should be invalid") };
    assert!(
        errors.to_string().contains("pricelist \"happy-hour\", field `rules[1].applies_to.category`"),
        "{errors}"
    );
}

fn record(e: ImportError) -> (String, String) {
    match e {
        ImportError::Record { path, problem } => (path, problem),
        other => panic!("expected a record error, got {other}"),
    }
}

#[test]
fn broken_odoo_files_are_refused_with_where() {
    // A price with more decimals than the currency.
    let bad = ODOO.replacen("\"lst_price\": 2.8", "\"lst_price\": 2.805", 1);
    let (path, problem) = record(from_odoo_session(&bad).expect_err("too precise"));
    assert_eq!(path, "product.product[0] (id 11).lst_price");
    assert!(problem.contains("decimal places"), "{problem}");

    // Not a number: refused while reading, with the line.
    let bad = ODOO.replacen("\"lst_price\": 3.6", "\"lst_price\": \"cheap\"", 1);
    let (line, path, _) = syntax(from_odoo_session(&bad).expect_err("not a number"));
    assert_eq!(line, line_of(&bad, "cheap"));
    assert_eq!(path, "product.product[1].lst_price");

    // A group of taxes.
    let bad = ODOO.replacen("\"amount_type\": \"fixed\"", "\"amount_type\": \"group\"", 1);
    let (path, problem) = record(from_odoo_session(&bad).expect_err("group"));
    assert_eq!(path, "account.tax[3] (id 7).amount_type");
    assert!(problem.contains("groups"), "{problem}");

    // A pricelist item limited in time.
    let bad = ODOO.replacen("\"date_start\": false", "\"date_start\": \"2024-06-01\"", 1);
    let (path, _) = record(from_odoo_session(&bad).expect_err("dated"));
    assert_eq!(path, "product.pricelist[1] (id 2).items[0] (id 5).date_start");

    // A product whose tax is not loaded.
    let bad = ODOO.replacen("\"taxes_id\": [\n    2\n", "\"taxes_id\": [\n    99\n", 1);
    let Err(ImportError::Invalid(errors)) = from_odoo_session(&bad) else { panic!("should be invalid") };
    assert_eq!((errors.0[0].item.as_str(), errors.0[0].field.as_str()), ("product \"11\"", "taxes[0]"));

    // A many2one that is neither [id, name] nor false.
    let bad = ODOO.replacen("\"parent_id\": [\n    2,", "\"parent_id\": [\n    \"two\",", 1);
    let (_, path, message) = syntax(from_odoo_session(&bad).expect_err("bad many2one"));
    assert_eq!(path, "pos.category[2].parent_id");
    assert!(message.contains("many2one"), "{message}");

    // A missing currency.
    let bad = ODOO.replacen("\"res.currency\"", "\"res.money\"", 1);
    let (_, _, message) = syntax(from_odoo_session(&bad).expect_err("no currency"));
    assert!(message.contains("res.currency"), "{message}");
}
