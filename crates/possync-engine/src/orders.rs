//! The engine's orders by id, and how many are in each life.
//!
//! The node asks for the engine's status after every step it takes (to
//! tell whether the terminal is still syncing), and a terminal may hold
//! tens of thousands of orders: counting them by walking every entry made
//! each step's cost grow with the orders held. The counts are kept here
//! instead, as entries come, go and change life; an entry's life can only
//! be changed through [`Orders::set_life`], which keeps them true.

use std::collections::HashMap;
use std::collections::hash_map;
use std::time::Instant;

use possync_model::{OrderDoc, OrderId};

/// Where an order is in the engine's books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Known by id only: its creating change has not arrived yet.
    Incomplete,
    /// On the open list (open, or closed with a review flag).
    Active,
    /// Paid or cancelled with nothing to review, since the given instant.
    Archived(Instant),
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) doc: OrderDoc,
    /// Private: changed only through [`Orders::set_life`].
    life: Life,
    /// This order's contribution to the summary, once complete. Archived
    /// orders count too: a terminal that was offline while an order was
    /// opened and paid still receives it for its archive (and its exports).
    pub(crate) fingerprint: Option<u64>,
    /// Changes appended to storage since its last snapshot.
    pub(crate) unsnapshotted: u32,
}

impl Entry {
    /// A new entry starts incomplete; the engine then places it.
    pub(crate) fn incomplete(doc: OrderDoc, unsnapshotted: u32) -> Self {
        Entry { doc, life: Life::Incomplete, fingerprint: None, unsnapshotted }
    }

    pub(crate) fn life(&self) -> Life {
        self.life
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.life != Life::Incomplete
    }
}

/// How many orders are in each life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LifeCounts {
    pub(crate) active: usize,
    pub(crate) archived: usize,
    pub(crate) incomplete: usize,
}

impl LifeCounts {
    fn slot(&mut self, life: Life) -> &mut usize {
        match life {
            Life::Incomplete => &mut self.incomplete,
            Life::Active => &mut self.active,
            Life::Archived(_) => &mut self.archived,
        }
    }

    fn add(&mut self, life: Life) {
        *self.slot(life) += 1;
    }

    fn remove(&mut self, life: Life) {
        let n = self.slot(life);
        debug_assert!(*n > 0, "an order of life {life:?} left uncounted");
        *n = n.saturating_sub(1);
    }
}

/// The orders, by id, with their [`LifeCounts`].
#[derive(Debug, Default)]
pub(crate) struct Orders {
    entries: HashMap<OrderId, Entry>,
    counts: LifeCounts,
}

impl Orders {
    pub(crate) fn counts(&self) -> LifeCounts {
        self.counts
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, id: &OrderId) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &OrderId) -> Option<&mut Entry> {
        self.entries.get_mut(id)
    }

    pub(crate) fn contains_key(&self, id: &OrderId) -> bool {
        self.entries.contains_key(id)
    }

    pub(crate) fn iter(&self) -> hash_map::Iter<'_, OrderId, Entry> {
        self.entries.iter()
    }

    /// Adds or replaces an entry.
    pub(crate) fn insert(&mut self, id: OrderId, entry: Entry) {
        self.counts.add(entry.life);
        if let Some(old) = self.entries.insert(id, entry) {
            self.counts.remove(old.life);
        }
    }

    pub(crate) fn remove(&mut self, id: &OrderId) -> Option<Entry> {
        let old = self.entries.remove(id)?;
        self.counts.remove(old.life);
        Some(old)
    }

    /// Keeps only the entries `keep` approves.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&OrderId, &Entry) -> bool) {
        let counts = &mut self.counts;
        self.entries.retain(|id, entry| {
            let kept = keep(id, entry);
            if !kept {
                counts.remove(entry.life);
            }
            kept
        });
    }

    /// Moves an order to `life`; returns its entry, or `None` if unknown.
    pub(crate) fn set_life(&mut self, id: &OrderId, life: Life) -> Option<&mut Entry> {
        let entry = self.entries.get_mut(id)?;
        self.counts.remove(entry.life);
        self.counts.add(life);
        entry.life = life;
        Some(entry)
    }

    /// The counts as a walk over every entry finds them: what
    /// [`Orders::counts`] must always equal (checked in debug builds).
    pub(crate) fn walked_counts(&self) -> LifeCounts {
        let mut counts = LifeCounts::default();
        for entry in self.entries.values() {
            counts.add(entry.life);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;

    fn entry(id: &OrderId) -> Entry {
        Entry::incomplete(OrderDoc::empty(id.clone(), ActorId::random()), 0)
    }

    fn id(n: u8) -> OrderId {
        OrderId::from_random(u128::from(n))
    }

    #[test]
    fn counts_follow_inserts_replacements_life_changes_and_removals() {
        let mut orders = Orders::default();
        let (a, b, c) = (id(1), id(2), id(3));
        for o in [&a, &b, &c] {
            orders.insert(o.clone(), entry(o));
        }
        assert_eq!(orders.counts(), LifeCounts { active: 0, archived: 0, incomplete: 3 });
        orders.set_life(&a, Life::Active);
        orders.set_life(&b, Life::Archived(Instant::now()));
        orders.set_life(&b, Life::Archived(Instant::now()));
        assert_eq!(orders.counts(), LifeCounts { active: 1, archived: 1, incomplete: 1 });
        // Replacing an active entry with a new, incomplete one.
        orders.insert(a.clone(), entry(&a));
        assert_eq!(orders.counts(), LifeCounts { active: 0, archived: 1, incomplete: 2 });
        assert!(orders.set_life(&id(9), Life::Active).is_none(), "unknown order");
        orders.retain(|o, _| *o != c);
        assert!(matches!(orders.remove(&b).map(|e| e.life()), Some(Life::Archived(_))));
        assert_eq!(orders.counts(), LifeCounts { active: 0, archived: 0, incomplete: 1 });
        assert!(orders.remove(&b).is_none());
        assert_eq!(orders.counts(), orders.walked_counts());
        assert_eq!(orders.len(), 1);
    }
}
