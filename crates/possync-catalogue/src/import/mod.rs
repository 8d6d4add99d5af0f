//! Reading a catalogue from a file: the possync JSON format
//! ([`from_possync_json`]) and the data an Odoo 17 POS session loads
//! ([`from_odoo_session`]). Either the whole file is accepted and validated,
//! or it is refused with where it is wrong and nothing is returned.

mod error;
mod odoo;
mod possync_json;

pub use error::ImportError;
pub use odoo::from_odoo_session;
pub use possync_json::{CatalogueFile, FORMAT, VERSION, from_possync_json, to_possync_json};

/// Largest file accepted, in bytes: a catalogue of 100,000 products fits.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Parses `text` as `T`, naming the line, column and JSON path of the first
/// thing that does not fit.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ImportError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge { bytes: text.len(), limit: MAX_FILE_BYTES });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ImportError::syntax(&inner, path)
    })?;
    de.end().map_err(|e| ImportError::syntax(&e, String::from(".")))?;
    Ok(value)
}
