//! Whatever bytes an import is handed, it answers with a catalogue or an
//! error, never a panic: catalogue files come from outside.

use possync_catalogue::import::{from_odoo_session, from_possync_json};
use proptest::prelude::*;

const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");
const ODOO: &str = include_str!("../../../examples/catalogue/odoo-pos-session.json");

/// The example with one stretch of characters replaced: mostly still JSON,
/// so the mutation reaches the conversion and validation code.
fn mutate(base: &'static str) -> impl Strategy<Value = String> {
    (0..base.len(), 0usize..12, "[-0-9a-z.\":,\\[\\]{} ]{0,8}").prop_map(move |(at, len, with)| {
        let start = (0..=at).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let end = (start + len..=base.len()).find(|i| base.is_char_boundary(*i)).unwrap_or(base.len());
        format!("{}{}{}", &base[..start], with, &base[end..])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn possync_import_never_panics(text in mutate(RESTAURANT)) {
        let _ = from_possync_json(&text);
    }

    #[test]
    fn odoo_import_never_panics(text in mutate(ODOO)) {
        let _ = from_odoo_session(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = from_possync_json(&text);
        let _ = from_odoo_session(&text);
    }
}
