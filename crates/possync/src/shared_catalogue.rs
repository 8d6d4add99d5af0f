//! The catalogue in force on this terminal, as the handles read it.

use std::sync::Arc;

use possync_catalogue::Catalogue;
use possync_engine::VersionedCatalogue;
use possync_model::Stamp;

/// The catalogue in force with its version and who replaced it. Cloning it
/// copies an `Arc`, so every API request may take one.
#[derive(Clone, Debug)]
pub struct SharedCatalogue {
    pub catalogue: Arc<Catalogue>,
    /// 1 for the first catalogue, + 1 at each replacement.
    pub version: u64,
    /// Who replaced it, on which terminal, when.
    pub by: Stamp,
}

impl SharedCatalogue {
    pub(crate) fn of(state: &VersionedCatalogue) -> Self {
        SharedCatalogue {
            catalogue: Arc::new(state.catalogue.clone()),
            version: state.version,
            by: state.by.clone(),
        }
    }
}
