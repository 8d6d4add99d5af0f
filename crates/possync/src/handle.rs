//! [`Node`]: the cheap, cloneable handle an embedding POS program holds.

use std::path::PathBuf;
use std::sync::Arc;

use automerge::ChangeHash;
use libp2p::{Multiaddr, PeerId};
use possync_catalogue::{Catalogue, Role};
use possync_model::{Edit, EditContext, LineId, OpenOrder, OrderId, OrderView, Quantity, TerminalId};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::clock::wall_ms;
use crate::config::NodeBuilder;
use crate::error::NodeError;
use crate::event::NodeEvent;
use crate::payment_claim::ClaimView;
use crate::shared_catalogue::SharedCatalogue;
use crate::status::NodeStatus;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// Requests from handles to the node's actor.
pub(crate) enum Command {
    Open {
        ctx: EditContext,
        /// The id the caller chose; a fresh one when `None`.
        id: Option<OrderId>,
        fields: OpenOrder,
        reply: Reply<OrderId>,
    },
    Edit {
        ctx: EditContext,
        order: OrderId,
        edit: Edit,
        reply: Reply<Option<ChangeHash>>,
    },
    Split {
        ctx: EditContext,
        order: OrderId,
        moves: Vec<(LineId, Quantity)>,
        reply: Reply<OrderId>,
    },
    View {
        order: OrderId,
        reply: Reply<Option<OrderView>>,
    },
    List {
        include_archived: bool,
        reply: Reply<Vec<OrderView>>,
    },
    Status {
        reply: Reply<NodeStatus>,
    },
    Claim {
        user: String,
        order: OrderId,
        reply: Reply<ClaimView>,
    },
    Release {
        order: OrderId,
        reply: Reply<()>,
    },
    Claims {
        reply: Reply<Vec<ClaimView>>,
    },
    ReplaceCatalogue {
        ctx: EditContext,
        catalogue: Box<Catalogue>,
        reply: Reply<u64>,
    },
    Dial {
        addr: Multiaddr,
        reply: Reply<()>,
    },
    /// Test and operations hook: drop every connection and stop dialling
    /// (`true`), or resume (`false`).
    Isolate {
        isolated: bool,
        reply: Reply<()>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

impl Command {
    /// Answers a command that would change orders or the catalogue with
    /// `error`, at once; any other command is given back.
    pub(crate) fn refuse_change(self, error: impl FnOnce() -> NodeError) -> Option<Command> {
        match self {
            Command::Open { reply, .. } | Command::Split { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Command::Edit { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Command::ReplaceCatalogue { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            other => return Some(other),
        }
        None
    }
}

/// Bound of the command queue: handles wait (async) when the node is this far
/// behind, instead of growing memory.
pub(crate) const COMMAND_QUEUE: usize = 256;

/// A running terminal. Clone it freely; the node stops when
/// [`Node::shutdown`] is called or the last handle is dropped.
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) terminal: TerminalId,
    pub(crate) peer_id: PeerId,
    pub(crate) listen_addrs: Vec<Multiaddr>,
    /// The catalogue in force, kept current by the actor.
    pub(crate) catalogue: watch::Receiver<Option<SharedCatalogue>>,
}

impl Node {
    /// Starts configuring a node of multi-session `session`.
    pub fn builder(
        session: impl Into<String>,
        terminal: TerminalId,
        data_dir: impl Into<PathBuf>,
    ) -> NodeBuilder {
        NodeBuilder::new(session.into(), terminal, data_dir.into())
    }

    pub fn terminal(&self) -> &TerminalId {
        &self.terminal
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Addresses the node listens on (known once it started).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Change events, local and remote. Each subscriber has its own bounded
    /// queue; one that falls behind gets `RecvError::Lagged` and should re-read
    /// the orders it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The context of an edit by `user`, with the role the catalogue in
    /// force gives them: the order model then refuses a cashier's
    /// manager-only edit (`possync_model::privileges`).
    fn ctx(&self, user: &str) -> EditContext {
        let ctx = EditContext::new(user, self.terminal.clone(), wall_ms());
        // A user the catalogue does not list gets a cashier's rights.
        let role = self.catalogue.borrow().as_ref().filter(|c| !c.catalogue.users.is_empty()).map(|c| {
            c.catalogue.users.iter().find(|u| u.id.as_str() == user).map_or(Role::Cashier, |u| u.role)
        });
        match role {
            Some(role) => ctx.with_role(role),
            None => ctx,
        }
    }

    /// An order opened while a catalogue is in force totals with its
    /// rounding rules (its lines then carry taxes).
    fn price_with_catalogue(&self, fields: &mut OpenOrder) {
        if let Some(c) = self.catalogue.borrow().as_ref() {
            fields.pricing.get_or_insert_with(|| c.catalogue.pricing_rules());
        }
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)?
    }

    /// Opens an order with a fresh id and this terminal's next name. Returns
    /// once the order is on disk.
    pub async fn open_order(&self, user: &str, fields: OpenOrder) -> Result<OrderId, NodeError> {
        self.open(user, None, fields).await
    }

    /// Opens an order with the id given (e.g. Odoo's order uid) and this
    /// terminal's next name. Returns once the order is on disk.
    pub async fn open_order_with_id(
        &self,
        user: &str,
        id: OrderId,
        fields: OpenOrder,
    ) -> Result<OrderId, NodeError> {
        self.open(user, Some(id), fields).await
    }

    async fn open(
        &self,
        user: &str,
        id: Option<OrderId>,
        mut fields: OpenOrder,
    ) -> Result<OrderId, NodeError> {
        let ctx = self.ctx(user);
        self.price_with_catalogue(&mut fields);
        self.call(|reply| Command::Open { ctx, id, fields, reply }).await
    }

    /// Applies an edit. Returns once it is on disk (`None`: it changed nothing).
    pub async fn edit(
        &self,
        user: &str,
        order: &OrderId,
        edit: Edit,
    ) -> Result<Option<ChangeHash>, NodeError> {
        let ctx = self.ctx(user);
        let order = order.clone();
        self.call(|reply| Command::Edit { ctx, order, edit, reply }).await
    }

    /// Splits the bill: moves quantities of lines into a new order.
    pub async fn split(
        &self,
        user: &str,
        order: &OrderId,
        moves: Vec<(LineId, Quantity)>,
    ) -> Result<OrderId, NodeError> {
        let ctx = self.ctx(user);
        let order = order.clone();
        self.call(|reply| Command::Split { ctx, order, moves, reply }).await
    }

    pub async fn order(&self, order: &OrderId) -> Result<Option<OrderView>, NodeError> {
        let order = order.clone();
        self.call(|reply| Command::View { order, reply }).await
    }

    /// The open list (and the archive too, if asked), sorted by name.
    pub async fn orders(&self, include_archived: bool) -> Result<Vec<OrderView>, NodeError> {
        self.call(|reply| Command::List { include_archived, reply }).await
    }

    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// `user` opens the payment screen of `order`: asks every connected
    /// terminal for the order's payment claim, or renews ours. Returns the
    /// claim that stands: ours (`granted` once every peer agreed, which
    /// takes one round trip; poll [`Node::payment_claims`]), or another
    /// terminal's, which means this one must not take the payment.
    pub async fn claim_payment(&self, user: &str, order: &OrderId) -> Result<ClaimView, NodeError> {
        let (user, order) = (user.to_owned(), order.clone());
        self.call(|reply| Command::Claim { user, order, reply }).await
    }

    /// This terminal is done with `order`'s payment (paid, or gave up).
    pub async fn release_payment(&self, order: &OrderId) -> Result<(), NodeError> {
        let order = order.clone();
        self.call(|reply| Command::Release { order, reply }).await
    }

    /// Every payment in progress this terminal knows of, its own included.
    pub async fn payment_claims(&self) -> Result<Vec<ClaimView>, NodeError> {
        self.call(|reply| Command::Claims { reply }).await
    }

    /// The catalogue in force (`None` until one is imported here or comes
    /// from a peer). Cheap: an `Arc` the node swaps at each change.
    pub fn catalogue(&self) -> Option<Arc<Catalogue>> {
        self.catalogue.borrow().as_ref().map(|c| c.catalogue.clone())
    }

    /// The catalogue in force with its version and who replaced it.
    pub fn shared_catalogue(&self) -> Option<SharedCatalogue> {
        self.catalogue.borrow().clone()
    }

    /// The version of the catalogue in force; 0 when there is none.
    pub fn catalogue_version(&self) -> u64 {
        self.catalogue.borrow().as_ref().map_or(0, |c| c.version)
    }

    /// `user` (a manager of the current catalogue, or anyone while it lists
    /// no users) replaces the catalogue of every terminal. Returns the new
    /// version once it is on disk; [`Node::catalogue`] shows it by then.
    pub async fn replace_catalogue(&self, user: &str, catalogue: Catalogue) -> Result<u64, NodeError> {
        let ctx = self.ctx(user);
        let catalogue = Box::new(catalogue);
        self.call(|reply| Command::ReplaceCatalogue { ctx, catalogue, reply }).await
    }

    /// Dials another terminal once (static peers are redialled by the node).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.call(|reply| Command::Dial { addr, reply }).await
    }

    /// Drops every connection and stops dialling (`true`) or resumes
    /// (`false`): what a pulled network cable does, for tests and drills.
    pub async fn set_isolated(&self, isolated: bool) -> Result<(), NodeError> {
        self.call(|reply| Command::Isolate { isolated, reply }).await
    }

    /// Stops accepting edits, flushes storage, leaves the mesh, and returns
    /// when the node has stopped.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        match self.call(|reply| Command::Shutdown { reply }).await {
            Ok(()) | Err(NodeError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
