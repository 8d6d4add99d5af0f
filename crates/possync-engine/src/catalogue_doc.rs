//! The catalogue shared by a multi-session's terminals, as one Automerge
//! document.
//!
//! Layout (root map, all scalars):
//! - `version`: uint, 1 for the first catalogue, then the replaced one's + 1;
//! - `catalogue`: the catalogue as a possync catalogue file (JSON text,
//!   `import::to_possync_json`'s format, compact);
//! - `by`: JSON text of a [`Stamp`] (who replaced it, on which terminal, when).
//!
//! The catalogue is only ever replaced whole: one change puts all three keys.
//! Concurrent replacements conflict on every key; the winner is the
//! replacement with the highest `version`, ties going to Automerge's own
//! last-writer order, and the catalogue and `by` are read *as that change
//! wrote them* (at its heads), so two replacements are never mixed. Every
//! terminal holding the same changes picks the same winner.
//!
//! Every change received is checked before it is kept ([`CatalogueDoc::merge`]):
//! it must write `version`, its catalogue must read and validate, and its
//! author (the commit message, as for orders) must be allowed to replace the
//! catalogue as it stood before the change ([`may_replace`]). One bad change
//! refuses the whole message, and nothing of it is applied.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use possync_catalogue::import::{ImportError, from_possync_json};
use possync_catalogue::{Catalogue, Role};
use possync_model::chunks::{self, Expect};
use possync_model::{Author, EditContext, Stamp, change_author};

/// The user a catalogue import from a file is recorded under (the daemon's
/// `catalogue = "…"` at first start, `possync catalogue import --data-dir`
/// into a stopped terminal, `possync demo`). It is accepted whatever the
/// catalogue's users: whoever can run the terminal's own binary on its data
/// directory already owns it. The API never writes under it.
pub const IMPORT_USER: &str = "possync-import";

const K_VERSION: &str = "version";
const K_CATALOGUE: &str = "catalogue";
const K_BY: &str = "by";

/// The catalogue in force, as the winning replacement wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedCatalogue {
    pub catalogue: Catalogue,
    /// 1 for the first catalogue; each replacement adds 1 to the one it replaced.
    pub version: u64,
    /// Who replaced it, on which terminal, when (wall clock of that terminal).
    pub by: Stamp,
}

/// Why a catalogue change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The author may not replace the catalogue as it stands.
    #[error("user {user:?} is not a manager of the current catalogue")]
    NotManager { user: String },
    #[error(transparent)]
    Invalid(#[from] ImportError),
    /// Undecodable or inconsistent document data.
    #[error("catalogue document: {0}")]
    Document(String),
}

/// Whether `user` may replace `current`: anyone while the catalogue lists
/// no users (there is nobody to ask yet), then only its managers, and
/// always the file import ([`IMPORT_USER`]).
pub fn may_replace(current: Option<&Catalogue>, user: &str) -> bool {
    user == IMPORT_USER
        || current.is_none_or(|c| {
            c.users.is_empty() || c.users.iter().any(|u| u.id.as_str() == user && u.role == Role::Manager)
        })
}

/// The replicated catalogue document and the validated catalogue it holds.
#[derive(Debug)]
pub struct CatalogueDoc {
    doc: Automerge,
    current: Option<VersionedCatalogue>,
}

impl CatalogueDoc {
    /// No catalogue yet.
    pub fn new(actor: ActorId) -> Self {
        CatalogueDoc { doc: Automerge::new().with_actor(actor), current: None }
    }

    /// Loads a stored document (written from [`CatalogueDoc::save`]) and
    /// checks the catalogue it holds.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<Self, CatalogueError> {
        screened(bytes)?;
        let doc = guarded(|| Automerge::load(bytes))?;
        let current = state_at(&doc, &doc.get_heads())?;
        Ok(CatalogueDoc { doc: doc.with_actor(actor), current })
    }

    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn is_empty(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    pub fn current(&self) -> Option<&VersionedCatalogue> {
        self.current.as_ref()
    }

    /// Replaces the catalogue, as `ctx.author`. Returns the new version.
    pub fn replace(&mut self, ctx: &EditContext, catalogue: &Catalogue) -> Result<u64, CatalogueError> {
        let user = &ctx.author.user;
        if !may_replace(self.current.as_ref().map(|c| &c.catalogue), user) {
            return Err(CatalogueError::NotManager { user: user.clone() });
        }
        catalogue.validate().map_err(ImportError::from)?;
        let text = file_text(catalogue)?;
        let version = self.current.as_ref().map_or(0, |c| c.version) + 1;
        let stamp = Stamp { user: user.clone(), terminal: ctx.author.terminal.clone(), at_ms: ctx.at_ms };
        let by = serde_json::to_string(&stamp).map_err(|e| CatalogueError::Document(e.to_string()))?;
        let message =
            serde_json::to_string(&ctx.author).map_err(|e| CatalogueError::Document(e.to_string()))?;
        let mut tx = self.doc.transaction();
        // `version` first: it is always a new value, so every replacement
        // writes it (Automerge skips a put of the value already there).
        let written = tx
            .put(ROOT, K_VERSION, version)
            .and_then(|()| tx.put(ROOT, K_CATALOGUE, text))
            .and_then(|()| tx.put(ROOT, K_BY, by));
        if let Err(e) = written {
            tx.rollback();
            return Err(CatalogueError::Document(e.to_string()));
        }
        tx.commit_with(CommitOptions::default().with_time(ctx.at_ms / 1000).with_message(message));
        self.current = Some(VersionedCatalogue { catalogue: catalogue.clone(), version, by: stamp });
        Ok(version)
    }

    /// What a peer whose heads are `theirs` lacks, as messages for
    /// [`CatalogueDoc::merge`] of at most `max` bytes each: the changes
    /// after its heads when we hold them all, else our whole document (or,
    /// when that is larger than `max`, all our changes). Changes go
    /// compressed, in causal order, as many per message as fit (the
    /// receiver holds a change whose predecessors are still on their way
    /// until they arrive). A single change larger than `max` still makes a
    /// message of its own, which the caller cannot send. Empty: nothing to
    /// send.
    pub fn messages_for(&self, theirs: &[ChangeHash], max: usize) -> Vec<Vec<u8>> {
        if self.is_empty() {
            return Vec::new();
        }
        let known = self.holds(theirs);
        if !known {
            let whole = self.doc.save();
            if whole.len() <= max {
                return vec![whole];
            }
        }
        let have = if known { theirs } else { &[] };
        let mut messages = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for mut change in self.doc.get_changes(have) {
            // Compressed: a replacement's JSON shrinks several times.
            let bytes = change.bytes();
            if !current.is_empty() && current.len() + bytes.len() > max {
                messages.push(std::mem::take(&mut current));
            }
            current.extend_from_slice(&bytes);
        }
        if !current.is_empty() {
            messages.push(current);
        }
        messages
    }

    /// Whether we hold every change of `heads`.
    pub fn holds(&self, heads: &[ChangeHash]) -> bool {
        heads.iter().all(|h| self.doc.get_change_meta_by_hash(h).is_some())
    }

    /// Takes in a peer's document or changes (from [`CatalogueDoc::messages_for`]).
    /// Every new change is checked (see the module docs); if one fails,
    /// nothing is applied. `Ok(true)`: the document gained changes (the
    /// catalogue in force may or may not have changed).
    pub fn merge(&mut self, bytes: &[u8]) -> Result<bool, CatalogueError> {
        screened(bytes)?;
        let mut merged = self.doc.fork();
        guarded(|| merged.load_incremental(bytes))?;
        let added = self.doc.get_changes_added(&merged);
        if added.is_empty() {
            return Ok(false);
        }
        // A replacement's state is read once, whether as one change's
        // result or as the next one's predecessor.
        let mut read = BTreeMap::new();
        for change in &added {
            check_change(&merged, change, &mut read)?;
        }
        let current = state_at(&merged, &merged.get_heads())?;
        // The fork has a fresh actor: keep ours.
        let actor = self.doc.get_actor().clone();
        self.doc = merged.with_actor(actor);
        self.current = current;
        Ok(true)
    }
}

/// One received change: it writes `version`, its catalogue is valid, and its
/// author could replace the catalogue it replaced.
fn check_change(doc: &Automerge, change: &automerge::Change, read: &mut Reads) -> Result<(), CatalogueError> {
    let hash = change.hash();
    let refuse = |what: String| CatalogueError::Document(format!("change {hash}: {what}"));
    let Some((_, winner)) = version_winner(doc, &[hash])? else {
        return Err(refuse("no catalogue version".into()));
    };
    if winner != hash {
        return Err(refuse("does not replace the catalogue whole".into()));
    }
    let after = read_once(doc, hash, read)?;
    let before = match version_winner(doc, change.deps())? {
        None => None,
        Some((_, winner)) => Some(read_once(doc, winner, read)?),
    };
    if let Some(before) = &before
        && after.version <= before.version
    {
        return Err(refuse(format!("version {} after {}", after.version, before.version)));
    }
    let author: Option<Author> = change_author(change);
    let user = author.as_ref().map_or("", |a| a.user.as_str());
    if !may_replace(before.as_ref().map(|b| &b.catalogue), user) {
        return Err(CatalogueError::NotManager { user: user.to_owned() });
    }
    Ok(())
}

/// States already read during one merge, by the change that wrote them.
type Reads = BTreeMap<ChangeHash, VersionedCatalogue>;

fn read_once(
    doc: &Automerge,
    hash: ChangeHash,
    read: &mut Reads,
) -> Result<VersionedCatalogue, CatalogueError> {
    if let Some(state) = read.get(&hash) {
        return Ok(state.clone());
    }
    let state = read_at(doc, hash)?;
    read.insert(hash, state.clone());
    Ok(state)
}

/// The catalogue in force at `heads`, validated. `None` when nothing was
/// written yet.
fn state_at(doc: &Automerge, heads: &[ChangeHash]) -> Result<Option<VersionedCatalogue>, CatalogueError> {
    match version_winner(doc, heads)? {
        None => Ok(None),
        Some((_, hash)) => read_at(doc, hash).map(Some),
    }
}

/// The winning `version` put at `heads`: its value and the change that made it.
fn version_winner(
    doc: &Automerge,
    heads: &[ChangeHash],
) -> Result<Option<(u64, ChangeHash)>, CatalogueError> {
    let all = guarded(|| doc.get_all_at(ROOT, K_VERSION, heads))?;
    let mut best: Option<(u64, ChangeHash)> = None;
    // In Automerge's op order: on equal versions the later op wins.
    for (value, id) in all {
        let Value::Scalar(s) = value else {
            return Err(CatalogueError::Document("version is not a number".into()));
        };
        let version = match s.as_ref() {
            ScalarValue::Uint(v) => *v,
            ScalarValue::Int(v) if *v >= 0 => *v as u64,
            other => return Err(CatalogueError::Document(format!("version is {other}"))),
        };
        let Some(hash) = doc.hash_for_opid(&id) else { continue };
        if best.is_none_or(|(v, _)| version >= v) {
            best = Some((version, hash));
        }
    }
    Ok(best)
}

/// The state as the change `hash` left it.
fn read_at(doc: &Automerge, hash: ChangeHash) -> Result<VersionedCatalogue, CatalogueError> {
    let heads = [hash];
    let version = version_winner(doc, &heads)?.map(|(v, _)| v).unwrap_or_default();
    let text = str_at(doc, K_CATALOGUE, &heads)?;
    let catalogue = from_possync_json(&text)?;
    let by = serde_json::from_str(&str_at(doc, K_BY, &heads)?)
        .map_err(|e| CatalogueError::Document(format!("`by`: {e}")))?;
    Ok(VersionedCatalogue { catalogue, version, by })
}

fn str_at(doc: &Automerge, key: &str, heads: &[ChangeHash]) -> Result<String, CatalogueError> {
    match guarded(|| doc.get_at(ROOT, key, heads))? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(text) => Ok(text.to_string()),
            other => Err(CatalogueError::Document(format!("`{key}` is {other}, not text"))),
        },
        _ => Err(CatalogueError::Document(format!("`{key}` missing"))),
    }
}

/// The catalogue as a compact possync catalogue file.
fn file_text(catalogue: &Catalogue) -> Result<String, CatalogueError> {
    let file = possync_catalogue::import::CatalogueFile {
        format: possync_catalogue::import::FORMAT.into(),
        version: possync_catalogue::import::VERSION,
        catalogue: catalogue.clone(),
    };
    serde_json::to_string(&file).map_err(|e| CatalogueError::Document(e.to_string()))
}

/// Refuses, before Automerge reads them, chunks that possync never writes
/// and compressed changes that would inflate too far
/// (`possync_model::chunks`).
fn screened(bytes: &[u8]) -> Result<(), CatalogueError> {
    chunks::screen(bytes, Expect::Saved).map_err(|e| CatalogueError::Document(e.to_string()))
}

/// Runs an Automerge call on data from outside, which may panic on a
/// malformed document: a panic or an error becomes a refusal.
fn guarded<T>(f: impl FnOnce() -> Result<T, automerge::AutomergeError>) -> Result<T, CatalogueError> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| CatalogueError::Document("automerge panicked on this document".into()))?
        .map_err(|e| CatalogueError::Document(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use possync_catalogue::Money;
    use possync_model::TerminalId;

    use super::*;

    const RESTAURANT: &str = include_str!("../../../examples/catalogue/restaurant.json");

    fn ctx(user: &str) -> EditContext {
        EditContext::new(user, TerminalId::parse("T1").unwrap(), 1_767_225_600_000)
    }

    #[test]
    fn only_a_manager_or_the_import_replaces_a_catalogue_with_users() {
        let restaurant = from_possync_json(RESTAURANT).unwrap();
        let mut doc = CatalogueDoc::new(ActorId::random());
        assert_eq!(doc.replace(&ctx("anyone"), &restaurant), Ok(1), "the first catalogue: anyone");
        assert_eq!(
            doc.replace(&ctx("ana"), &restaurant),
            Err(CatalogueError::NotManager { user: "ana".into() })
        );
        assert_eq!(doc.replace(&ctx("chloe"), &restaurant), Ok(2));
        assert_eq!(doc.replace(&ctx(IMPORT_USER), &restaurant), Ok(3));
        let loaded = CatalogueDoc::load(&doc.save(), ActorId::random()).unwrap();
        assert_eq!(loaded.current(), doc.current());
        assert_eq!(loaded.current().unwrap().by.user, IMPORT_USER);
    }

    #[test]
    fn a_document_larger_than_a_message_goes_as_changes_a_few_per_message() {
        let mut catalogue = from_possync_json(RESTAURANT).unwrap();
        let mut doc = CatalogueDoc::new(ActorId::random());
        for i in 0..30 {
            catalogue.products[i].price = Money(7 + i as i64);
            doc.replace(&ctx("chloe"), &catalogue).unwrap();
        }
        // Above one compressed replacement (about 2.2 KB), below the whole.
        let max = 4_000;
        assert!(doc.save().len() > max);
        let messages = doc.messages_for(&[], max);
        assert!(messages.len() > 3, "{} messages", messages.len());
        assert!(messages.iter().all(|m| m.len() <= max));
        // Received in order, each message is taken as it comes.
        let mut peer = CatalogueDoc::new(ActorId::random());
        for m in &messages {
            assert_eq!(peer.merge(m), Ok(true));
        }
        assert_eq!(peer.current(), doc.current());
        assert_eq!(peer.heads(), doc.heads());
        // A peer one replacement behind gets just that one.
        catalogue.products[0].price = Money(1);
        let behind = doc.heads();
        doc.replace(&ctx("chloe"), &catalogue).unwrap();
        let one = doc.messages_for(&behind, max);
        assert_eq!(one.len(), 1);
        assert!(peer.merge(&one[0]).unwrap());
        assert_eq!(peer.current().unwrap().version, 31);
    }

    /// The document keeps every replacement: 200 of the 40-product example
    /// (each a price change) must still go to a peer in one message.
    #[test]
    fn the_document_of_many_replacements_fits_one_message() {
        let mut catalogue = from_possync_json(RESTAURANT).unwrap();
        let mut doc = CatalogueDoc::new(ActorId::random());
        for i in 0..200 {
            catalogue.products[i % 40].price = Money(100 + i as i64);
            doc.replace(&ctx("chloe"), &catalogue).unwrap();
        }
        // Measured: 62,735 bytes; one replacement's change 9,499 raw, 2,145 compressed.
        let bytes = doc.save().len();
        assert!(bytes < crate::EngineConfig::default().max_direct_bytes, "{bytes} bytes");
    }
}
