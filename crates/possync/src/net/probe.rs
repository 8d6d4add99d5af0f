//! The link probe: libp2p's ping protocol (`/ipfs/ping/1.0.0`), sent when
//! the node asks for it rather than on a timer.
//!
//! libp2p's own ping behaviour pings every connection every interval from
//! both ends, whatever else the link carries. A floor of `n` terminals then
//! pays `n(n - 1)` round trips per interval, each a wake-up through pnet,
//! Noise and Yamux at both ends: at 30 terminals most of an idle terminal's
//! CPU, and under a rush pings that prove nothing the gossip does not
//! already prove (docs/PERFORMANCE.md, "Larger floors").
//!
//! Here the node decides: it asks for a ping on a
//! connection that has been quiet for a while (`liveness`), and counts a ping its peer
//! sent as a sign of life, as it counts gossip. A link that carries
//! traffic is never pinged; a quiet one is pinged by one end, whose ping
//! also tells the other end that the link is alive.
//!
//! The wire protocol is libp2p's (32 bytes, echoed), so any libp2p peer's
//! ping works with it both ways.

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    NotifyHandler, Stream, StreamProtocol, StreamUpgradeError, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};

/// libp2p's ping protocol.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/ping/1.0.0");

/// A ping's payload: random bytes the peer sends back as they are.
const PING_SIZE: usize = 32;

/// What the probe tells the node about one connection.
#[derive(Debug)]
pub enum ProbeEvent {
    /// A ping this node sent was answered.
    Answered { peer: PeerId, connection: ConnectionId, rtt: Duration },
    /// The peer pinged this node (and was answered): the link works.
    Pinged { peer: PeerId, connection: ConnectionId },
    /// A ping got no answer: the stream failed or timed out.
    Failed { peer: PeerId, connection: ConnectionId, error: String },
    /// The peer does not speak the ping protocol.
    Unsupported { peer: PeerId, connection: ConnectionId },
}

/// The behaviour: pings where [`Probe::ping`] asks, reports [`ProbeEvent`]s.
#[derive(Debug)]
pub struct Probe {
    /// How long a ping may take once its stream is open.
    timeout: Duration,
    /// Pings asked for, to hand to their connections. Bounded by the
    /// node: it asks at most once per connection per ping timeout
    /// (`Liveness::pings_due`), and the swarm drains this at its next poll.
    commands: VecDeque<(PeerId, ConnectionId)>,
    /// Bounded by the handlers: one event per ping sent or answered.
    events: VecDeque<ProbeEvent>,
    waker: Option<Waker>,
}

impl Probe {
    pub fn new(timeout: Duration) -> Self {
        Probe { timeout, commands: VecDeque::new(), events: VecDeque::new(), waker: None }
    }

    /// Sends one ping on `connection`, unless one is already out on it.
    pub fn ping(&mut self, peer: PeerId, connection: ConnectionId) {
        self.commands.push_back((peer, connection));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl NetworkBehaviour for Probe {
    type ConnectionHandler = Handler;
    type ToSwarm = ProbeEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.timeout))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(self.timeout))
    }

    fn on_swarm_event(&mut self, _event: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.events.push_back(match event {
            HandlerEvent::Answered(rtt) => ProbeEvent::Answered { peer, connection, rtt },
            HandlerEvent::Pinged => ProbeEvent::Pinged { peer, connection },
            HandlerEvent::Failed(error) => ProbeEvent::Failed { peer, connection, error },
            HandlerEvent::Unsupported => ProbeEvent::Unsupported { peer, connection },
        });
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ToSwarm::GenerateEvent(event));
        }
        if let Some((peer_id, connection)) = self.commands.pop_front() {
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(connection),
                event: PingNow,
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The node asks for one ping.
#[derive(Debug)]
pub struct PingNow;

/// What a connection's handler reports.
#[derive(Debug)]
pub enum HandlerEvent {
    Answered(Duration),
    Pinged,
    Failed(String),
    Unsupported,
}

/// This end's pings on one connection: one stream, kept between pings.
enum Outbound {
    /// No stream yet, or the last one failed.
    None,
    /// A stream is being opened for a ping asked for.
    Opening,
    Idle(Stream),
    Pinging(BoxFuture<'static, io::Result<(Stream, Duration)>>),
}

/// One connection's side of the probe.
pub struct Handler {
    timeout: Duration,
    /// A ping was asked for and not yet sent.
    wanted: bool,
    outbound: Outbound,
    /// The peer's ping stream, answered ping after ping.
    inbound: Option<BoxFuture<'static, io::Result<Stream>>>,
    /// The peer refused the protocol: no more pings are sent.
    unsupported: bool,
    events: VecDeque<HandlerEvent>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("wanted", &self.wanted)
            .field("unsupported", &self.unsupported)
            .finish()
    }
}

impl Handler {
    fn new(timeout: Duration) -> Self {
        Handler {
            timeout,
            wanted: false,
            outbound: Outbound::None,
            inbound: None,
            unsupported: false,
            events: VecDeque::new(),
        }
    }

    fn start_ping(&mut self, stream: Stream) {
        self.wanted = false;
        self.outbound = Outbound::Pinging(send_ping(stream, self.timeout).boxed());
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = PingNow;
    type ToBehaviour = HandlerEvent;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ())
    }

    fn on_behaviour_event(&mut self, PingNow: PingNow) {
        // A ping already out answers this request too.
        if !self.unsupported && !matches!(self.outbound, Outbound::Pinging(_)) {
            self.wanted = true;
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(inbound) = self.inbound.as_mut() {
            match inbound.poll_unpin(cx) {
                Poll::Pending => {}
                // The peer closed its stream, or sent garbage: it opens
                // another for its next ping.
                Poll::Ready(Err(_)) => self.inbound = None,
                Poll::Ready(Ok(stream)) => {
                    self.inbound = Some(answer_ping(stream).boxed());
                    self.events.push_back(HandlerEvent::Pinged);
                }
            }
        }
        loop {
            match std::mem::replace(&mut self.outbound, Outbound::None) {
                Outbound::Pinging(mut ping) => match ping.poll_unpin(cx) {
                    Poll::Pending => {
                        self.outbound = Outbound::Pinging(ping);
                        break;
                    }
                    Poll::Ready(Ok((stream, rtt))) => {
                        self.outbound = Outbound::Idle(stream);
                        self.events.push_back(HandlerEvent::Answered(rtt));
                    }
                    // The stream is dropped; the next ping opens another.
                    Poll::Ready(Err(e)) => self.events.push_back(HandlerEvent::Failed(e.to_string())),
                },
                Outbound::Idle(stream) if self.wanted => self.start_ping(stream),
                Outbound::None if self.wanted => {
                    self.outbound = Outbound::Opening;
                    // Opening the stream takes its own time (a round trip
                    // of protocol negotiation): libp2p's default bound of
                    // 10 s, not the ping's.
                    let protocol = SubstreamProtocol::new(ReadyUpgrade::new(PROTOCOL), ());
                    return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
                }
                other => {
                    self.outbound = other;
                    break;
                }
            }
        }
        match self.events.pop_front() {
            Some(event) => Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event)),
            None => Poll::Pending,
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: mut stream, ..
            }) => {
                // Pings neither keep a connection open nor let it close.
                stream.ignore_for_keep_alive();
                self.inbound = Some(answer_ping(stream).boxed());
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: mut stream,
                ..
            }) => {
                stream.ignore_for_keep_alive();
                self.start_ping(stream);
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                self.outbound = Outbound::None;
                self.wanted = false;
                let event = match error {
                    StreamUpgradeError::NegotiationFailed => {
                        self.unsupported = true;
                        HandlerEvent::Unsupported
                    }
                    StreamUpgradeError::Timeout => {
                        HandlerEvent::Failed("opening the ping stream timed out".into())
                    }
                    StreamUpgradeError::Io(e) => {
                        HandlerEvent::Failed(format!("opening the ping stream: {e}"))
                    }
                    StreamUpgradeError::Apply(never) => match never {},
                };
                self.events.push_back(event);
            }
            _ => {}
        }
    }
}

/// Sends one ping on `stream` and waits for it to come back, for at most
/// `timeout`.
async fn send_ping(mut stream: Stream, timeout: Duration) -> io::Result<(Stream, Duration)> {
    let payload: [u8; PING_SIZE] = rand_payload()?;
    let exchange = async {
        stream.write_all(&payload).await?;
        stream.flush().await?;
        let sent = Instant::now();
        let mut echoed = [0u8; PING_SIZE];
        stream.read_exact(&mut echoed).await?;
        if echoed != payload {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the ping came back changed"));
        }
        Ok(sent.elapsed())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(rtt)) => Ok((stream, rtt)),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer to a ping within {timeout:?}")))
        }
    }
}

/// Answers one ping of the peer's, giving the stream back for the next.
async fn answer_ping(mut stream: Stream) -> io::Result<Stream> {
    let mut payload = [0u8; PING_SIZE];
    stream.read_exact(&mut payload).await?;
    stream.write_all(&payload).await?;
    stream.flush().await?;
    Ok(stream)
}

fn rand_payload() -> io::Result<[u8; PING_SIZE]> {
    let mut payload = [0u8; PING_SIZE];
    getrandom::fill(&mut payload)
        .map_err(|e| io::Error::other(format!("no random bytes for a ping: {e}")))?;
    Ok(payload)
}
