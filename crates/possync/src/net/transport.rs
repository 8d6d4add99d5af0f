//! TCP (no Nagle) → optional pre-shared-key private network → Noise → Yamux,
//! counted by libp2p's bandwidth metrics when the node has a registry.

use std::time::Duration;

use either::Either;
use libp2p::core::transport::upgrade::Version;
use libp2p::core::{Transport, muxing::StreamMuxerBox, transport::Boxed};
use libp2p::identity::Keypair;
use libp2p::metrics::{BandwidthTransport, Registry};
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::{PeerId, noise, tcp, yamux};

/// Longest outgoing connection set-up (TCP, pnet, Noise, Yamux); a LAN
/// does it in milliseconds.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest incoming connection set-up.
const INBOUND_TIMEOUT: Duration = Duration::from_secs(20);

/// TCP's own error, kept findable: the layers above wrap errors in
/// `Either`s, whose `source` skips the error they hold, so without this an
/// embedder walking the chain could not find "address in use"
/// ([`crate::NodeError::io_error`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TcpError(#[source] std::io::Error);

/// Builds the transport. With a key, every connection must complete the
/// pnet handshake first: a node without the key cannot even start Noise.
/// With a registry, the bytes each connection carries (its streams'
/// payload, after Noise) are counted in `libp2p_bandwidth_bytes_total`, by
/// direction: what the floor's traffic costs a link, which messages
/// counted in the node's status do not say.
pub fn build(
    key: &Keypair,
    psk: Option<PreSharedKey>,
    metrics: Option<&mut Registry>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let noise = noise::Config::new(key)?;
    let tcp = tcp::tokio::Transport::new(tcp::Config::new().nodelay(true)).map_err(TcpError);
    let base = match psk {
        Some(psk) => Either::Left(tcp.and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))),
        None => Either::Right(tcp),
    };
    let upgraded = base
        .upgrade(Version::V1Lazy)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        // A dial whose SYN met a dead link is given up soon: the dialer
        // dials afresh every second, and those attempts would pile up.
        .outbound_timeout(OUTBOUND_TIMEOUT)
        .inbound_timeout(INBOUND_TIMEOUT);
    Ok(match metrics {
        Some(registry) => BandwidthTransport::new(upgraded, registry)
            .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
            .boxed(),
        None => upgraded.boxed(),
    })
}
