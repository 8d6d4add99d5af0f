//! The engine's side of the shared catalogue ([`CatalogueDoc`]): local
//! replacements, and its replication by two pairwise messages
//! (`docs/PROTOCOL.md` §4.7).
//!
//! `CatalogueHeads` goes to a peer when it comes up, with every anti-entropy
//! summary, and to every peer after each change to the document. A peer
//! whose heads differ from ours gets what it lacks (`CatalogueDoc`: the
//! changes after its heads when we hold them all, else our whole document),
//! and, when it holds changes we lack, our heads too, so that it sends them.
//! Equal heads end the exchange.

use std::time::Instant;

use automerge::ChangeHash;
use possync_catalogue::Catalogue;
use possync_model::{EditContext, Roles};

use super::{Engine, PeerId};
use crate::catalogue_doc::{CatalogueDoc, CatalogueError, VersionedCatalogue};
use crate::output::{Event, Origin, Output, Rejection, StoreOp};
use crate::wire::Direct;

/// Bytes of a `CatalogueDoc` message besides the document: header and length.
const DOC_OVERHEAD: usize = 16;

impl<P: PeerId> Engine<P> {
    /// Loads the stored catalogue document. Call at start-up, with
    /// [`Engine::restore`]. A damaged document is refused and the engine
    /// starts without a catalogue (peers bring it back); its bytes are left
    /// in the store until the next catalogue change replaces them.
    pub fn restore_catalogue(&mut self, bytes: &[u8]) -> Result<(), CatalogueError> {
        self.catalogue = CatalogueDoc::load(bytes, self.actor.clone())?;
        self.refresh_roles();
        Ok(())
    }

    /// The catalogue in force, validated; `None` until one is imported here
    /// or received from a peer.
    pub fn catalogue(&self) -> Option<&Catalogue> {
        self.catalogue.current().map(|c| &c.catalogue)
    }

    /// The catalogue in force with its version and who replaced it.
    pub fn catalogue_state(&self) -> Option<&VersionedCatalogue> {
        self.catalogue.current()
    }

    /// The version of the catalogue in force; 0 when there is none.
    pub fn catalogue_version(&self) -> u64 {
        self.catalogue.current().map_or(0, |c| c.version)
    }

    /// The heads of the catalogue document (sorted), to compare terminals.
    pub fn catalogue_heads(&self) -> Vec<ChangeHash> {
        self.catalogue.heads()
    }

    /// Replaces the catalogue on every terminal, as `ctx.author` (a manager
    /// of the current catalogue, anyone while it lists no users, or
    /// [`crate::IMPORT_USER`]). Returns the new version. The document is in
    /// the step's `Persist` batch.
    pub fn replace_catalogue(
        &mut self,
        now: Instant,
        ctx: &EditContext,
        catalogue: Catalogue,
    ) -> Result<u64, CatalogueError> {
        self.last_now = self.last_now.max(now);
        let version = self.catalogue.replace(ctx, &catalogue)?;
        self.catalogue_stored_and_announced();
        self.outbox.push_back(Output::Event(Event::CatalogueChanged { version, origin: Origin::Local }));
        self.flush();
        Ok(version)
    }

    /// Changes from peers are checked against the users of the catalogue
    /// in force (`possync_model::privileges`).
    fn refresh_roles(&mut self) {
        self.roles = self.catalogue().map(Roles::from_catalogue).unwrap_or_default();
    }

    pub(super) fn send_catalogue_heads(&mut self, peer: &P) {
        let heads = self.catalogue.heads();
        self.send(peer, Direct::CatalogueHeads { heads }.encode());
    }

    pub(super) fn on_catalogue_heads(&mut self, from: &P, mut theirs: Vec<ChangeHash>) {
        theirs.sort();
        theirs.dedup();
        if theirs == self.catalogue.heads() {
            return;
        }
        let max = self.cfg.max_direct_bytes;
        for bytes in self.catalogue.messages_for(&theirs, max.saturating_sub(DOC_OVERHEAD)) {
            if bytes.len() + DOC_OVERHEAD <= max {
                self.send(from, Direct::CatalogueDoc { bytes }.encode());
            } else {
                // One replacement over the limit: this catalogue cannot replicate.
                tracing::warn!(peer = ?from, bytes = bytes.len(), limit = max, "catalogue change too large to send");
            }
        }
        if !self.catalogue.holds(&theirs) {
            self.send_catalogue_heads(from);
        }
    }

    pub(super) fn on_catalogue_doc(&mut self, from: &P, bytes: &[u8]) {
        let before = self.catalogue.current().map(|c| (c.version, c.by.clone()));
        match self.catalogue.merge(bytes) {
            Ok(false) => {}
            Ok(true) => {
                self.catalogue_stored_and_announced();
                let after = self.catalogue.current().map(|c| (c.version, c.by.clone()));
                if let Some((version, _)) = after.as_ref().filter(|_| after != before) {
                    let origin = Origin::Peer(from.clone());
                    self.outbox
                        .push_back(Output::Event(Event::CatalogueChanged { version: *version, origin }));
                }
            }
            // Not an offence: a newer release's catalogue may not validate
            // here, and its sender must stay heard for orders.
            Err(e) => self.reject(from.clone(), Rejection::Catalogue { detail: e.to_string() }),
        }
    }

    /// The document changed: store it, and tell every peer our new heads.
    fn catalogue_stored_and_announced(&mut self) {
        self.refresh_roles();
        self.pending_store.push(StoreOp::Catalogue { bytes: self.catalogue.save() });
        let peers: Vec<P> = self.peers.keys().cloned().collect();
        for peer in peers {
            self.send_catalogue_heads(&peer);
        }
    }
}
