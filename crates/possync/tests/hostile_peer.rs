//! S18 over real libp2p: a member holding the session key (and joining the
//! session's topic, which admits it) speaks the catch-up protocol with
//! frames over the size limit. Each is refused before
//! it is read, counted (`oversized`), and after too many the member is
//! disconnected; the terminal keeps serving its honest peers throughout.

#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::time::Duration;

use common::{add_line, converged, eventually, start, temp_dir};
use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub::{self, MessageAuthenticity};
use libp2p::pnet::PreSharedKey;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{StreamProtocol, SwarmBuilder, ping};
use possync::model::OpenOrder;
use possync::net::codec::{CATCHUP_PROTOCOL, MAX_CATCHUP_BYTES};

/// Announces a frame of `claimed` bytes, sends a few, and hangs up.
#[derive(Clone, Default)]
struct LyingCodec;

impl request_response::Codec for LyingCodec {
    type Protocol = StreamProtocol;
    type Request = u32;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<u32> {
        Err(io::Error::other("this peer only sends"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Ok(())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        claimed: u32,
    ) -> io::Result<()> {
        io.write_all(&claimed.to_be_bytes()).await?;
        io.write_all(b"PS\x01\x10").await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        (): (),
    ) -> io::Result<()> {
        Ok(())
    }
}

#[derive(NetworkBehaviour)]
struct Hostile {
    // Answers the terminal's keep-alive pings, so only its frames offend.
    ping: ping::Behaviour,
    // Joins the session's topic: only a member is heard at all.
    gossipsub: gossipsub::Behaviour,
    catchup: request_response::Behaviour<LyingCodec>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_catchup_frames_are_refused_counted_and_their_sender_disconnected() {
    let dir = temp_dir("oversized");
    let a = start("A", dir.path(), &[]).await;
    let b = start("B", dir.path(), a.listen_addrs()).await;

    let psk = PreSharedKey::new([42; 32]); // the session key of `common::key()`
    let mut hostile = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            possync::net::transport::build(key, Some(psk), None)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .unwrap()
        .with_behaviour(|key| Hostile {
            ping: ping::Behaviour::default(),
            gossipsub: gossipsub::Behaviour::new(
                MessageAuthenticity::Signed(key.clone()),
                possync::net::behaviour::gossipsub_config().unwrap(),
            )
            .unwrap(),
            catchup: request_response::Behaviour::new(
                [(CATCHUP_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    hostile.behaviour_mut().gossipsub.subscribe(&possync::topic_for(common::SESSION)).unwrap();
    let a_id = a.status().await.unwrap().peer_id;
    hostile.dial(a.listen_addrs()[0].clone()).unwrap();
    let claimed = u32::try_from(MAX_CATCHUP_BYTES * 4).unwrap();
    let mut sent = 0;
    let mut closed = false;
    // A frame per swarm event (or 100 ms) while connected, until the
    // terminal hangs up on us.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !closed {
        assert!(tokio::time::Instant::now() < deadline, "the terminal never disconnected us ({sent} sent)");
        let event = tokio::time::timeout(Duration::from_millis(100), hostile.select_next_some()).await;
        match event {
            Ok(SwarmEvent::ConnectionClosed { peer_id, .. }) if peer_id == a_id && sent > 0 => closed = true,
            _ if hostile.is_connected(&a_id) && sent < 100 => {
                hostile.behaviour_mut().catchup.send_request(&a_id, claimed);
                sent += 1;
            }
            _ => {}
        }
    }
    let status = a.status().await.unwrap();
    let oversized = status.counters.rejected_by_kind.get("oversized").copied().unwrap_or(0);
    assert!(oversized > 20, "every frame counted before the disconnection ({oversized} of {sent})");
    assert!(!status.peers.contains(hostile.local_peer_id()), "the sender is gone");

    // Banned: a redial is refused.
    hostile.dial(a.listen_addrs()[0].clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            hostile.select_next_some().await;
        }
    })
    .await;
    assert!(!a.status().await.unwrap().peers.contains(hostile.local_peer_id()), "not heard again");

    // A and B carried on throughout.
    let order = a.open_order("ana", OpenOrder::default()).await.unwrap();
    eventually(Duration::from_secs(10), "B holds the new order", || async {
        b.order(&order).await.unwrap().is_some()
    })
    .await;
    add_line(&b, &order, "soup").await;
    eventually(Duration::from_secs(10), "B still a peer of A", || async {
        a.status().await.unwrap().peers.contains(&b.status().await.unwrap().peer_id)
    })
    .await;
    converged(&[a, b], Duration::from_secs(20)).await;
}
