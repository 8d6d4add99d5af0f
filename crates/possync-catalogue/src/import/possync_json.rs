//! possync's own catalogue file: `{"format": "possync-catalogue", "version":
//! 1, "catalogue": {…}}`, where the catalogue is [`Catalogue`]'s serde form
//! (field by field in `docs/CATALOGUE.md`). Unknown fields are refused, so a
//! typo never passes silently.

use serde::{Deserialize, Serialize};

use super::{ImportError, parse_json};
use crate::catalogue::Catalogue;

/// The `format` tag of a possync catalogue file.
pub const FORMAT: &str = "possync-catalogue";
/// The file version this release reads and writes.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    pub format: String,
    pub version: u32,
    pub catalogue: Catalogue,
}

/// Reads and validates a possync catalogue file.
pub fn from_possync_json(text: &str) -> Result<Catalogue, ImportError> {
    let file: CatalogueFile = parse_json(text)?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(ImportError::Format { found: file.format, expected: FORMAT, version: VERSION });
    }
    file.catalogue.validate()?;
    Ok(file.catalogue)
}

/// Writes `catalogue` as a possync catalogue file (pretty-printed).
pub fn to_possync_json(catalogue: &Catalogue) -> Result<String, serde_json::Error> {
    let file = CatalogueFile { format: FORMAT.into(), version: VERSION, catalogue: catalogue.clone() };
    serde_json::to_string_pretty(&file)
}
