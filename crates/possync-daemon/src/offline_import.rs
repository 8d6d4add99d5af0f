//! `possync catalogue import --data-dir DIR`: puts a catalogue into a
//! stopped terminal's store, as the file import ([`IMPORT_USER`]). The
//! terminal starts with it and gives it to its peers like any other change
//! (the highest version wins, so import on one terminal, or on a terminal
//! that has the floor's latest catalogue).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use possync::catalogue::Catalogue;
use possync::engine::{CatalogueDoc, IMPORT_USER, StoreOp};
use possync::model::automerge::ActorId;
use possync::model::{EditContext, TerminalId};
use possync_store::{Store, StoreError};

/// The terminal a catalogue imported into a store is recorded as coming from.
const IMPORT_TERMINAL: &str = "import";

/// Replaces the catalogue stored in `data_dir`. Returns the new version.
/// A running terminal holds its store: that is refused, and nothing changes.
pub fn into_store(data_dir: &Path, catalogue: Catalogue) -> Result<u64> {
    if !data_dir.join(possync_store::DB_FILE).exists() {
        anyhow::bail!("{}: no terminal store here", data_dir.display());
    }
    let mut store = Store::open(data_dir).map_err(|e| match e {
        StoreError::InUse { .. } => anyhow::anyhow!(
            "{}: the terminal is running; import through its API instead (--api)",
            data_dir.display()
        ),
        other => anyhow::Error::new(other),
    })?;
    let loaded = store.load().context("reading the store")?;
    let actor = ActorId::random();
    let mut doc = match loaded.catalogue {
        Some(bytes) => CatalogueDoc::load(&bytes, actor).context("the stored catalogue")?,
        None => CatalogueDoc::new(actor),
    };
    let terminal = TerminalId::parse(IMPORT_TERMINAL).context("import terminal id")?;
    let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let version = doc.replace(&EditContext::new(IMPORT_USER, terminal, at_ms), &catalogue)?;
    store.apply(&[vec![StoreOp::Catalogue { bytes: doc.save() }]]).context("writing the catalogue")?;
    Ok(version)
}
