//! Reading a catalogue file for `possync catalogue import`, the
//! configuration's `catalogue = "…"` and the demo: possync's own format or
//! an Odoo 17 POS session's data, told apart by the file's shape when the
//! format is not given.

use std::path::Path;

use anyhow::{Context, Result, bail};
use possync::catalogue::Catalogue;
use possync::catalogue::import::{MAX_FILE_BYTES, from_odoo_session, from_possync_json};

/// The formats a catalogue file may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogueFormat {
    /// `{"format": "possync-catalogue", "version": 1, "catalogue": {…}}` (docs/CATALOGUE.md).
    Possync,
    /// The data an Odoo 17 POS session loads (`pos.session` `load_pos_data`).
    Odoo,
}

impl CatalogueFormat {
    /// A possync file names its format at the top; anything else is taken
    /// for Odoo's data (whose importer then says what it lacks).
    pub fn detect(text: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Tag {
            format: Option<String>,
        }
        match serde_json::from_str::<Tag>(text) {
            // Another `format` is refused by the possync reader, by name.
            Ok(Tag { format: Some(_) }) => CatalogueFormat::Possync,
            _ => CatalogueFormat::Odoo,
        }
    }
}

/// Reads and validates `path`. The error names the file and, from the
/// importer, the line, column and field that is wrong.
pub fn read(path: &Path, format: Option<CatalogueFormat>) -> Result<Catalogue> {
    let size = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if size > MAX_FILE_BYTES as u64 {
        bail!("{}: {size} bytes, more than the {MAX_FILE_BYTES} a catalogue file may have", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, format).with_context(|| format!("{}: refused, nothing was changed", path.display()))
}

/// As [`read`], from text.
pub fn parse(text: &str, format: Option<CatalogueFormat>) -> Result<Catalogue> {
    let catalogue = match format.unwrap_or_else(|| CatalogueFormat::detect(text)) {
        CatalogueFormat::Possync => from_possync_json(text)?,
        CatalogueFormat::Odoo => from_odoo_session(text)?,
    };
    Ok(catalogue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_tells_the_format() {
        assert_eq!(CatalogueFormat::detect(r#"{"format":"possync-catalogue"}"#), CatalogueFormat::Possync);
        assert_eq!(CatalogueFormat::detect(r#"{"pos.session":{}}"#), CatalogueFormat::Odoo);
        assert_eq!(CatalogueFormat::detect("not json"), CatalogueFormat::Odoo);
    }

    #[test]
    fn the_examples_read() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/catalogue");
        let restaurant = read(&dir.join("restaurant.json"), None).expect("the example reads");
        assert_eq!(restaurant.products.len(), 40);
        assert!(read(&dir.join("odoo-pos-session.json"), None).is_ok());
    }
}
