//! Pairwise catch-up (`docs/PROTOCOL.md` §4): summary, heads of differing
//! buckets, fetch of whole orders a side lacks, and Automerge sync sessions
//! for orders whose heads differ, queued past `max_sessions_per_peer`.

use std::collections::HashSet;
use std::time::Instant;

use automerge::{ChangeHash, sync};
use possync_model::{ChangeSummary, OrderDoc, OrderId};

use super::{Engine, PeerId};
use crate::orders::Entry;
use crate::output::{Origin, Rejection, StoreOp};
use crate::peer::Session;
use crate::wire::Direct;

/// Orders per `Fetch` message.
const FETCH_CHUNK: usize = 512;

impl<P: PeerId> Engine<P> {
    pub(super) fn send_summary(&mut self, peer: &P) {
        let msg = Direct::Summary { buckets: self.summary.hashes().to_vec() };
        self.send(peer, msg.encode());
        // The catalogue rides along with every catch-up round.
        self.send_catalogue_heads(peer);
    }

    pub(super) fn on_summary(&mut self, from: &P, theirs: &[u64]) {
        let differing = self.summary.differing(theirs);
        if differing.is_empty() {
            return;
        }
        let entries = self.entries_in(&differing, None);
        self.send_heads(from, true, &differing, entries);
    }

    /// Our complete orders in `buckets` (only those in `only`, if given), with heads.
    pub(super) fn entries_in(
        &self,
        buckets: &[u16],
        only: Option<&HashSet<OrderId>>,
    ) -> Vec<(OrderId, Vec<ChangeHash>)> {
        let mut out = Vec::new();
        for &b in buckets {
            for id in self.summary.members(b) {
                if only.is_some_and(|o| !o.contains(id)) {
                    continue;
                }
                if let Some(e) = self.orders.get(id) {
                    out.push((id.clone(), e.doc.heads()));
                }
            }
        }
        out
    }

    pub(super) fn send_heads(
        &mut self,
        to: &P,
        respond: bool,
        buckets: &[u16],
        entries: Vec<(OrderId, Vec<ChangeHash>)>,
    ) {
        // Split by size; every part names all the buckets so the receiver
        // knows which of its orders to compare (with `respond` only on the
        // last part, once the receiver has seen every entry).
        let budget = self.cfg.max_direct_bytes.saturating_sub(16 + buckets.len() * 3);
        let mut parts: Vec<Vec<(OrderId, Vec<ChangeHash>)>> = vec![Vec::new()];
        let mut size = 0;
        for (id, heads) in entries {
            let entry_size = 2 + id.as_str().len() + 1 + heads.len() * 32;
            if size + entry_size > budget && !parts.last().is_some_and(Vec::is_empty) {
                parts.push(Vec::new());
                size = 0;
            }
            size += entry_size;
            parts.last_mut().expect("never empty").push((id, heads));
        }
        let last = parts.len() - 1;
        for (i, part) in parts.into_iter().enumerate() {
            let msg =
                Direct::Heads { respond: respond && i == last, buckets: buckets.to_vec(), entries: part };
            self.send(to, msg.encode());
        }
    }

    pub(super) fn on_heads(
        &mut self,
        now: Instant,
        from: &P,
        respond: bool,
        buckets: &[u16],
        entries: Vec<(OrderId, Vec<ChangeHash>)>,
    ) {
        let buckets: Vec<u16> =
            buckets.iter().copied().filter(|&b| b < self.summary.bucket_count()).collect();
        let mut listed: HashSet<OrderId> = HashSet::with_capacity(entries.len());
        let mut fetch = Vec::new();
        for (id, mut their_heads) in entries {
            if self.tombstones.contains_key(&id) {
                continue;
            }
            match self.orders.get(&id) {
                None => fetch.push(id.clone()),
                Some(e) if !e.is_complete() => fetch.push(id.clone()),
                Some(e) => {
                    let mut ours = e.doc.heads();
                    ours.sort();
                    their_heads.sort();
                    if ours != their_heads {
                        self.start_sync(from, &id, now);
                    }
                }
            }
            listed.insert(id);
        }
        self.request_fetch(now, from, fetch);
        if respond {
            // Our orders in these buckets the peer did not list: it lacks
            // them. Tell it, so it fetches them.
            let theirs_lack: HashSet<OrderId> = buckets
                .iter()
                .flat_map(|&b| self.summary.members(b))
                .filter(|id| !listed.contains(*id))
                .cloned()
                .collect();
            if !theirs_lack.is_empty() {
                let entries = self.entries_in(&buckets, Some(&theirs_lack));
                self.send_heads(from, false, &buckets, entries);
            }
        }
    }

    pub(super) fn request_fetch(&mut self, now: Instant, from: &P, orders: Vec<OrderId>) {
        // An order already asked of any peer is not asked again until that
        // request lapses or its peer leaves: a terminal joining a floor of
        // 30 hears every order listed by 30 peers, and took each 30 times.
        let wanted: Vec<OrderId> = orders
            .into_iter()
            .filter(|id| !self.peers.values().any(|p| p.fetching.contains_key(id)))
            .collect();
        let Some(peer) = self.peers.get_mut(from) else { return };
        if wanted.is_empty() {
            return;
        }
        for id in &wanted {
            peer.fetching.insert(id.clone(), now);
        }
        for chunk in wanted.chunks(FETCH_CHUNK) {
            let msg = Direct::Fetch { orders: chunk.to_vec() };
            self.send(from, msg.encode());
        }
    }

    pub(super) fn on_fetch(&mut self, from: &P, orders: Vec<OrderId>) {
        let mut batch: Vec<(OrderId, Vec<u8>)> = Vec::new();
        let mut size = 0;
        for id in orders {
            let Some(e) = self.orders.get(&id).filter(|e| e.is_complete()) else { continue };
            let bytes = e.doc.save();
            if size + bytes.len() > self.cfg.max_direct_bytes && !batch.is_empty() {
                let msg = Direct::Docs { docs: std::mem::take(&mut batch) };
                self.send(from, msg.encode());
                size = 0;
            }
            size += bytes.len() + id.as_str().len() + 8;
            batch.push((id, bytes));
        }
        if !batch.is_empty() {
            self.send(from, Direct::Docs { docs: batch }.encode());
        }
    }

    pub(super) fn on_docs(&mut self, now: Instant, from: &P, docs: Vec<(OrderId, Vec<u8>)>) {
        for (id, bytes) in docs {
            if let Some(peer) = self.peers.get_mut(from) {
                peer.fetching.remove(&id);
            }
            if self.tombstones.contains_key(&id) {
                continue;
            }
            let incoming = match OrderDoc::load(id.clone(), &bytes, self.actor.clone()) {
                Ok(doc) => doc,
                Err(e) => {
                    self.reject_offence(now, from, Rejection::Order { order: id, detail: e.to_string() });
                    continue;
                }
            };
            match self.orders.get_mut(&id) {
                Some(entry) if entry.is_complete() => {
                    let new = incoming.automerge().get_changes_added(entry.doc.automerge());
                    match entry.doc.apply_remote_with_roles(new, &self.roles) {
                        Ok(applied) => self.after_remote(now, from, &id, applied, false),
                        Err(e) => self.reject_offence(
                            now,
                            from,
                            Rejection::Order { order: id, detail: e.to_string() },
                        ),
                    }
                }
                _ => {
                    if !self.orders.contains_key(&id) && self.orders.len() >= self.cfg.max_orders {
                        self.reject(from.clone(), Rejection::TooManyOrders(self.cfg.max_orders));
                        continue;
                    }
                    let Some(view) = incoming.current_view() else { continue };
                    let mut summary = ChangeSummary::compare(&id, None, view);
                    // Who worked on it, from the order's own stamps: decoding
                    // every change for its commit message would cost more
                    // than loading the order.
                    let stamps = [&view.created, &view.changed]
                        .into_iter()
                        .chain(view.lines.iter().flat_map(|l| [&l.created, &l.changed]))
                        .chain(view.payments.iter().map(|p| &p.by));
                    summary.authors.extend(stamps.map(possync_model::Stamp::author));
                    self.pending_store.push(StoreOp::Snapshot { order: id.clone(), bytes });
                    self.orders.insert(id.clone(), Entry::incomplete(incoming, 0));
                    self.after_change(now, &id, Origin::Peer(from.clone()), summary);
                }
            }
        }
    }

    pub(super) fn start_sync(&mut self, peer_id: &P, order: &OrderId, now: Instant) {
        let max = self.cfg.max_sessions_per_peer;
        let Some(peer) = self.peers.get_mut(peer_id) else { return };
        if peer.sessions.contains_key(order) || peer.queued.contains(order) {
            return;
        }
        if peer.initiated >= max {
            peer.queued.insert(order.clone());
            peer.queue.push_back(order.clone());
            return;
        }
        self.open_session(peer_id, order, now);
    }

    pub(super) fn open_session(&mut self, peer_id: &P, order: &OrderId, now: Instant) {
        let Some(entry) = self.orders.get(order) else { return };
        let Some(peer) = self.peers.get_mut(peer_id) else { return };
        let mut state = sync::State::new();
        let Some(msg) = entry.doc.generate_sync_message(&mut state) else { return };
        peer.sessions.insert(order.clone(), Session { state, last_activity: now, initiated: true });
        peer.initiated += 1;
        peer.outgoing_sync.push((order.clone(), msg.encode()));
    }

    /// Starts queued sessions while there are free slots.
    pub(super) fn fill_sessions(&mut self, peer_id: &P, now: Instant) {
        loop {
            let Some(peer) = self.peers.get_mut(peer_id) else { return };
            if peer.initiated >= self.cfg.max_sessions_per_peer {
                return;
            }
            let Some(order) = peer.queue.pop_front() else { return };
            peer.queued.remove(&order);
            if !peer.sessions.contains_key(&order) {
                self.open_session(peer_id, &order, now);
            }
        }
    }

    /// Sync sessions: the Automerge sync protocol, one session per (peer,
    /// order). An empty payload means "done": its sender has ended the session
    /// because it had nothing more to send; the receiver ends its side too
    /// and never answers a "done", so sessions cannot ping-pong.
    pub(super) fn on_sync(&mut self, now: Instant, from: &P, items: Vec<(OrderId, Vec<u8>)>) {
        let mut freed = false;
        for (id, bytes) in items {
            if bytes.is_empty() {
                if let Some(peer) = self.peers.get_mut(from) {
                    freed |= peer.sessions.get(&id).is_some_and(|s| s.initiated);
                    peer.end_session(&id);
                }
                continue;
            }
            if self.tombstones.contains_key(&id) {
                continue;
            }
            let message = match sync::Message::decode(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.reject_offence(
                        now,
                        from,
                        Rejection::Order { order: id, detail: format!("sync message: {e}") },
                    );
                    continue;
                }
            };
            let inbound_limit = self.cfg.max_inbound_sessions_per_peer;
            let Some(peer) = self.peers.get(from) else { return };
            if !peer.sessions.contains_key(&id) && peer.inbound() >= inbound_limit {
                // Over the peer's allowance: drop; it retries after a timeout.
                continue;
            }
            if !self.ensure_entry(from, &id) {
                continue;
            }
            let peer = self.peers.get_mut(from).expect("checked above");
            let session = peer.sessions.entry(id.clone()).or_insert_with(|| Session {
                state: sync::State::new(),
                last_activity: now,
                initiated: false,
            });
            session.last_activity = now;
            let entry = self.orders.get_mut(&id).expect("ensured above");
            match entry.doc.receive_sync_message_with_roles(&mut session.state, message, &self.roles) {
                Ok(applied) => {
                    match entry.doc.generate_sync_message(&mut session.state) {
                        Some(msg) => peer.outgoing_sync.push((id.clone(), msg.encode())),
                        None => {
                            freed |= session.initiated;
                            peer.end_session(&id);
                            peer.outgoing_sync.push((id.clone(), Vec::new()));
                        }
                    }
                    self.after_remote(now, from, &id, applied, true);
                }
                Err(e) => {
                    peer.end_session(&id);
                    peer.outgoing_sync.push((id.clone(), Vec::new()));
                    self.drop_if_incomplete(&id);
                    self.reject_offence(now, from, Rejection::Order { order: id, detail: e.to_string() });
                }
            }
        }
        if freed {
            self.fill_sessions(from, now);
        }
    }
}
