//! The promises of `docs/EXTENDING.md`: typed extensions, the JSON form of
//! the edits, fields preserved by terminals that do not know them, change
//! summaries naming the fields that moved.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use possync_model::{Edit, EditError, Extension, OrderView, ext};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The reference addon's example: two new variables on Order.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct OrderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_new_variable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_new_variable: Option<i64>,
}
impl Extension for OrderFields {}

/// Another integration's fields, unknown to `OrderFields`.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Loyalty {
    #[serde(default)]
    card: String,
}
impl Extension for Loyalty {}

fn set_ext(view: &OrderView, change: impl FnOnce(&mut OrderFields)) -> Edit {
    let mut fields: OrderFields = view.ext_as().unwrap();
    change(&mut fields);
    Edit::SetExt { fields: ext::to_fields(&fields).unwrap() }
}

#[test]
fn typed_extension_fields_set_on_two_terminals_merge() {
    let (mut a, mut b, _) = pair_with_line();
    let e = set_ext(&a.view(), |f| f.first_new_variable = Some("gift wrap".into()));
    a.edit(e);
    let e = set_ext(&b.view(), |f| f.second_new_variable = Some(3));
    let change = b.edit(e);
    let summary = a.doc.apply_remote_bytes([change.bytes.as_slice()]).unwrap().summary.unwrap();
    assert_eq!(summary.ext.iter().collect::<Vec<_>>(), ["second_new_variable"]);
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(
        v.ext_as::<OrderFields>().unwrap(),
        OrderFields { first_new_variable: Some("gift wrap".into()), second_new_variable: Some(3) }
    );
    assert!(v.conflicts.is_empty());
}

#[test]
fn rewriting_a_whole_struct_writes_only_what_differs() {
    let (mut a, _, _) = pair_with_line();
    let e = set_ext(&a.view(), |f| f.first_new_variable = Some("x".into()));
    a.edit(e);
    // Reading the fields and writing them back unchanged makes no change.
    let e = set_ext(&a.view(), |_| {});
    assert_eq!(a.try_edit(e), Ok(None));
}

#[test]
fn fields_of_other_integrations_are_preserved() {
    let (mut a, mut b, l1) = pair_with_line();
    a.edit(Edit::SetExt { fields: ext::to_fields(&Loyalty { card: "C-1001".into() }).unwrap() });
    exchange(&mut a, &mut b);
    // B only knows OrderFields: its edits leave the loyalty card alone.
    let e = set_ext(&b.view(), |f| f.second_new_variable = Some(2));
    b.edit(e);
    b.edit(Edit::ChangeQty { line: l1, delta: possync_model::Quantity::units(1) });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext_as::<Loyalty>().unwrap().card, "C-1001");
    assert_eq!(Json::Object(v.ext), json!({"card": "C-1001", "second_new_variable": 2}));
}

#[test]
fn json_form_of_extension_edits() {
    let (mut a, _, _) = pair_with_line();
    let edit: Edit = serde_json::from_value(json!({
        "op": "set_ext",
        "fields": {"first_new_variable": "gift wrap", "table_color": "blue"}
    }))
    .unwrap();
    a.edit(edit);
    let edit: Edit = serde_json::from_value(json!({
        "op": "set_line_ext",
        "line": "l1",
        "fields": {"custom_notes": "no sugar"}
    }))
    .unwrap();
    a.edit(edit);
    let edit: Edit = serde_json::from_value(json!({
        "op": "add_line", "id": "l2", "product": "tea", "display_name": "Tea",
        "qty": 1000, "unit_price": 300, "ext": {"custom_notes": "green"}
    }))
    .unwrap();
    a.edit(edit);
    let view = serde_json::to_value(a.view()).unwrap();
    assert_eq!(view["ext"], json!({"first_new_variable": "gift wrap", "table_color": "blue"}));
    assert_eq!(view["lines"][0]["ext"], json!({"custom_notes": "no sugar"}));
    assert_eq!(view["lines"][1]["ext"], json!({"custom_notes": "green"}));
}

#[test]
fn null_clears_a_field() {
    let (mut a, _, _) = pair_with_line();
    let e = set_ext(&a.view(), |f| f.first_new_variable = Some("x".into()));
    a.edit(e);
    a.edit(Edit::SetExt { fields: serde_json::from_value(json!({"first_new_variable": null})).unwrap() });
    let v = a.view();
    assert_eq!(v.ext["first_new_variable"], Json::Null);
    assert_eq!(v.ext_as::<OrderFields>().unwrap().first_new_variable, None);
}

#[test]
fn extension_limits_are_checked_locally() {
    #[derive(Serialize, Deserialize)]
    struct NotAnObject(i64);
    impl Extension for NotAnObject {}
    assert!(matches!(ext::to_fields(&NotAnObject(1)), Err(EditError::Invalid { field: "ext", .. })));

    let (mut a, _, _) = pair_with_line();
    let long_key = "k".repeat(65);
    // The value of a key may nest 8 levels deep, not 9.
    let mut deep = json!(1);
    for _ in 0..8 {
        deep = json!([deep]);
    }
    let fields = serde_json::from_value(json!({ "ok": deep.clone() })).unwrap();
    assert!(a.try_edit(Edit::SetExt { fields }).unwrap().is_some());
    let too_deep = json!({ "a": [deep] });
    let too_big = json!({"blob": "x".repeat(17 * 1024)});
    for bad in [json!({ long_key: 1 }), json!({"": 1}), too_deep, too_big] {
        let fields = serde_json::from_value(bad).unwrap();
        assert!(matches!(a.try_edit(Edit::SetExt { fields }), Err(EditError::Invalid { field: "ext", .. })));
    }
}

#[test]
fn arrays_written_concurrently_at_one_key_conflict_as_a_whole() {
    let (mut a, mut b, _) = pair_with_line();
    a.edit(Edit::SetExt { fields: serde_json::from_value(json!({"allergens": ["nuts"]})).unwrap() });
    b.edit(Edit::SetExt {
        fields: serde_json::from_value(json!({"allergens": ["gluten", "milk"]})).unwrap(),
    });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    let shown = v.ext["allergens"].clone();
    assert!(shown == json!(["nuts"]) || shown == json!(["gluten", "milk"]), "{shown}");
    assert_eq!(v.conflicts.len(), 1);
    assert_eq!(v.conflicts[0].path, "ext/allergens");
    assert_eq!(v.conflicts[0].values[0], shown);
    assert_eq!(v.conflicts[0].values.len(), 2);
    // Writing the merged list settles it.
    a.edit(Edit::SetExt {
        fields: serde_json::from_value(json!({"allergens": ["gluten", "milk", "nuts"]})).unwrap(),
    });
    exchange(&mut a, &mut b);
    let v = assert_converged(&[&a, &b]);
    assert_eq!(v.ext["allergens"], json!(["gluten", "milk", "nuts"]));
    assert!(v.conflicts.is_empty());
}
