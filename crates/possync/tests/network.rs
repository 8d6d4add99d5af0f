//! Terminals over real libp2p (TCP + pnet + Noise + Yamux, gossipsub,
//! request-response), in one process, on loopback only.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::proxy::Link;
use common::*;
use possync::model::{Edit, OpenOrder, OrderState, Quantity};
use possync::{Connectivity, Node, NodeEvent};

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_new_order_reaches_every_terminal() {
    let dir = temp_dir("s1");
    let nodes = mesh(&["A", "B", "C"], dir.path()).await;
    let mut events = nodes[1].subscribe();
    let order = nodes[0].open_order("ana", OpenOrder::default()).await.unwrap();
    for p in ["burger", "fries", "cola"] {
        add_line(&nodes[0], &order, p).await;
    }
    let all = converged(&nodes, CONVERGE).await;
    let view = nodes[2].order(&order).await.unwrap().unwrap();
    assert_eq!(view.name.as_str(), "A-0001");
    assert_eq!(view.lines.len(), 3);
    assert!(all.contains("burger") && all.contains("cola"));
    // B heard about it as a remote change naming the order.
    let mut saw_remote = false;
    while let Ok(ev) = events.try_recv() {
        if let NodeEvent::OrderChanged { order: o, origin: possync::ChangeOrigin::Remote { .. }, .. } = ev {
            saw_remote |= o == order;
        }
    }
    assert!(saw_remote);
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_s3_offline_terminal_edits_and_removals_merge() {
    let dir = temp_dir("s2");
    let nodes = mesh(&["A", "B", "C"], dir.path()).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let kept = a.open_order("ana", OpenOrder::default()).await.unwrap();
    let doomed = a.open_order("ana", OpenOrder::default()).await.unwrap();
    add_line(a, &kept, "soup").await;
    converged(&nodes, CONVERGE).await;

    b.set_isolated(true).await.unwrap();
    eventually(CONVERGE, "B offline", || async {
        b.status().await.unwrap().connectivity == Connectivity::Offline
    })
    .await;
    a.edit("ana", &kept, Edit::SetNote { note: "allergy: nuts".into() }).await.unwrap();
    a.edit("ana", &doomed, Edit::Cancel).await.unwrap();
    let b1 = b.open_order("bo", OpenOrder::default()).await.unwrap();
    let b2 = b.open_order("bo", OpenOrder::default()).await.unwrap();
    add_line(b, &b1, "wine").await;
    b.set_isolated(false).await.unwrap();

    converged(&nodes, CONVERGE).await;
    let open: Vec<String> = b.orders(false).await.unwrap().iter().map(|v| v.name.to_string()).collect();
    assert_eq!(open, ["A-0001", "B-0001", "B-0002"], "S3: the cancelled order left B's open list too");
    assert_eq!(b.order(&kept).await.unwrap().unwrap().note, "allergy: nuts");
    assert_eq!(nodes[2].order(&b2).await.unwrap().unwrap().name.as_str(), "B-0002");
    assert_eq!(b.order(&doomed).await.unwrap().unwrap().state, OrderState::Cancelled);
    assert_eq!(b.status().await.unwrap().counters.rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s9_every_terminal_closes_then_all_unpaid_orders_come_back() {
    let dir = temp_dir("s9");
    let nodes = mesh(&["A", "B"], dir.path()).await;
    let mut orders = Vec::new();
    for n in &nodes {
        for _ in 0..3 {
            let o = n.open_order("x", OpenOrder::default()).await.unwrap();
            add_line(n, &o, "tea").await;
            orders.push(o);
        }
    }
    let before = converged(&nodes, CONVERGE).await;
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
    drop(nodes);
    // Only A comes back.
    let a = start("A", dir.path(), &[]).await;
    let after = snapshot(&a).await;
    assert_eq!(after, before, "every order, as it was");
    assert_eq!(a.orders(false).await.unwrap().len(), 6);
    // And it keeps numbering after what it had.
    let next = a.open_order("x", OpenOrder::default()).await.unwrap();
    assert_eq!(a.order(&next).await.unwrap().unwrap().name.as_str(), "A-0004");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s14_late_joiner_gets_1000_orders() {
    let dir = temp_dir("s14");
    let nodes = mesh(&["A", "B"], dir.path()).await;
    // 1,000 orders, issued concurrently so they share group commits.
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let n = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let o = n.open_order("x", OpenOrder::default()).await.unwrap();
            let l = add_line(&n, &o, "espresso").await;
            for _ in 0..8 {
                n.edit("x", &o, Edit::ChangeQty { line: l.clone(), delta: Quantity::units(1) })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected = converged(&nodes, Duration::from_secs(60)).await;
    let started = std::time::Instant::now();
    let late = start("L", dir.path(), nodes[0].listen_addrs()).await;
    let all = [nodes[0].clone(), nodes[1].clone(), late.clone()];
    let got = converged(&all, Duration::from_secs(60)).await;
    eprintln!("S14 over libp2p: late joiner held 1000 orders after {:?}", started.elapsed());
    assert_eq!(got, expected);
    assert_eq!(late.orders(false).await.unwrap().len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s15_five_terminals_split_2_3_then_heal() {
    let dir = temp_dir("s15");
    let names = ["A", "B", "C", "D", "E"];
    // Every pair talks through its own cuttable link.
    let mut nodes: Vec<Node> = Vec::new();
    let mut links: Vec<(usize, usize, Link)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut peers = Vec::new();
        for (j, earlier) in nodes.iter().enumerate() {
            let link = Link::to(&earlier.listen_addrs()[0]).await;
            peers.push(link.addr.clone());
            links.push((j, i, link));
        }
        nodes.push(start(name, dir.path(), &peers).await);
    }
    wait_for_peers(&nodes, 4).await;
    let orders: Vec<_> = {
        let mut v = Vec::new();
        for n in &nodes[..3] {
            v.push(n.open_order("x", OpenOrder::default()).await.unwrap());
        }
        v
    };
    converged(&nodes, CONVERGE).await;

    let left = [0usize, 1];
    for (i, j, link) in &links {
        if left.contains(i) != left.contains(j) {
            link.cut();
        }
    }
    eventually(CONVERGE, "partition seen", || async {
        nodes[0].status().await.unwrap().peers.len() == 1 && nodes[4].status().await.unwrap().peers.len() == 2
    })
    .await;
    let mut added = Vec::new();
    for round in 0..5 {
        for (i, n) in nodes.iter().enumerate() {
            let o = &orders[(round + i) % orders.len()];
            added.push((o.clone(), add_line(n, o, "dish").await));
        }
    }
    for (_, _, link) in &links {
        link.heal();
    }
    converged(&nodes, Duration::from_secs(60)).await;
    for (o, l) in &added {
        assert!(nodes[3].order(o).await.unwrap().unwrap().line(l).is_some(), "every edit kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_terminal_random_rush_converges_with_every_edit() {
    let dir = temp_dir("rush");
    let nodes = mesh(&["A", "B", "C", "D", "E"], dir.path()).await;
    let mut acked = Vec::new();
    let mut open = Vec::new();
    let mut seed = 0x9E37_79B9_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let n = &nodes[(next() % 5) as usize];
        if open.is_empty() || next() % 8 == 0 {
            open.push(n.open_order("x", OpenOrder::default()).await.ok());
            continue;
        }
        let Some(Some(order)) = open.get((next() % open.len() as u64) as usize).cloned() else { continue };
        if n.order(&order).await.unwrap().is_none() {
            continue;
        }
        let l = line("item", 1 + (next() % 3) as i64, 100);
        let id = l.id.clone();
        if n.edit("x", &order, Edit::AddLine(l)).await.is_ok() {
            acked.push((order, id));
        }
    }
    converged(&nodes, Duration::from_secs(60)).await;
    for (o, l) in acked {
        for n in &nodes {
            assert!(n.order(&o).await.unwrap().unwrap().line(&l).is_some());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s20_cloned_data_directory_on_two_terminals_converges() {
    let dir = temp_dir("s20");
    let a = start("A", dir.path(), &[]).await;
    let order = a.open_order("x", OpenOrder::default()).await.unwrap();
    let l = add_line(&a, &order, "pizza").await;
    a.shutdown().await.unwrap();
    drop(a);
    // Copy A's disk image to a second terminal directory.
    let clone_dir = temp_dir("s20-clone");
    copy_dir(&dir.path().join("A"), &clone_dir.path().join("A"));
    let a = start("A", dir.path(), &[]).await;
    let a2 = start("A", clone_dir.path(), a.listen_addrs()).await;
    let b = start("B", dir.path(), &[a.listen_addrs()[0].clone(), a2.listen_addrs()[0].clone()]).await;
    let nodes = [a.clone(), a2.clone(), b.clone()];
    wait_for_peers(&nodes, 2).await;
    for n in [&a, &a2, &a, &a2] {
        n.edit("x", &order, Edit::ChangeQty { line: l.clone(), delta: Quantity::units(1) }).await.unwrap();
    }
    converged(&nodes, CONVERGE).await;
    assert_eq!(b.order(&order).await.unwrap().unwrap().line(&l).unwrap().qty, Quantity::units(5));
    for n in &nodes {
        assert_eq!(n.status().await.unwrap().counters.rejected, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_session_key_cannot_connect() {
    let dir = temp_dir("psk");
    let a = start("A", dir.path(), &[]).await;
    let intruder = Node::builder("test", terminal("X"), dir.path().join("X"))
        .session_key(possync::SessionKey::from_bytes([7; 32]))
        .peers(a.listen_addrs().iter().cloned())
        .spawn()
        .await
        .unwrap();
    let order = a.open_order("x", OpenOrder::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(a.status().await.unwrap().peers.is_empty());
    assert!(intruder.status().await.unwrap().peers.is_empty());
    assert!(intruder.order(&order).await.unwrap().is_none());
}

/// Floors are kept apart whatever the keys: a terminal of floor-2 that
/// reaches floor-1's terminals (a shared key file, or none on either side)
/// is refused, and no order crosses in either direction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_floors_sharing_a_key_or_none_never_exchange_an_order() {
    for keyed in [true, false] {
        let dir = temp_dir(if keyed { "floors-keyed" } else { "floors-keyless" });
        let floor = |session: &str, name: &str, peers: Vec<possync::Multiaddr>| {
            let mut b = Node::builder(session, terminal(name), dir.path().join(name)).peers(peers);
            if keyed {
                b = b.session_key(key());
            }
            b.spawn()
        };
        let a = floor("floor-1", "A", vec![]).await.unwrap();
        let b = floor("floor-1", "B", a.listen_addrs().to_vec()).await.unwrap();
        // D is of floor-2 but dials both floor-1 terminals (a wrong address
        // in its configuration).
        let d_peers = [a.listen_addrs(), b.listen_addrs()].concat();
        let d = floor("floor-2", "D", d_peers).await.unwrap();
        let on_1 = a.open_order("ana", OpenOrder::default()).await.unwrap();
        let on_2 = d.open_order("dan", OpenOrder::default()).await.unwrap();
        eventually(Duration::from_secs(30), "B holds floor-1's order", || async {
            b.order(&on_1).await.unwrap().is_some()
        })
        .await;
        eventually(Duration::from_secs(30), "A and B refused D", || async {
            a.status().await.unwrap().counters.peers_refused > 0
                && b.status().await.unwrap().counters.peers_refused > 0
                && d.status().await.unwrap().counters.peers_refused >= 2
        })
        .await;
        // D keeps redialling (refused for a minute, then refused again):
        // a while later, still nothing has crossed.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let d_id = d.status().await.unwrap().peer_id;
        for (n, other) in [(&a, on_2.clone()), (&b, on_2.clone()), (&d, on_1.clone())] {
            let s = n.status().await.unwrap();
            assert!(
                n.order(&other).await.unwrap().is_none(),
                "keyed {keyed}: {} holds the other floor's order",
                n.terminal()
            );
            assert!(!s.peers.contains(&d_id), "keyed {keyed}: D is a peer of {}", n.terminal());
            assert_eq!(
                n.orders(true).await.unwrap().len(),
                1,
                "keyed {keyed}: {} holds one order",
                n.terminal()
            );
        }
        assert!(d.status().await.unwrap().peers.is_empty(), "keyed {keyed}: D has peers");
        assert_eq!(a.status().await.unwrap().peers.len(), 1, "keyed {keyed}: A still has B");
        for n in [a, b, d] {
            n.shutdown().await.unwrap();
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_admits_only_listed_terminals() {
    let dir = temp_dir("allow");
    let a_key = libp2p::identity::Keypair::generate_ed25519();
    let b_key = libp2p::identity::Keypair::generate_ed25519();
    let b_id = b_key.public().to_peer_id();
    let a = Node::builder("test", terminal("A"), dir.path().join("A"))
        .session_key(key())
        .identity(possync::Identity::Fixed(Box::new(a_key)))
        .allow_peers([b_id])
        .spawn()
        .await
        .unwrap();
    let b = Node::builder("test", terminal("B"), dir.path().join("B"))
        .session_key(key())
        .identity(possync::Identity::Fixed(Box::new(b_key)))
        .peers(a.listen_addrs().iter().cloned())
        .spawn()
        .await
        .unwrap();
    // C has the session key but is not on A's list.
    let c = start("C", dir.path(), a.listen_addrs()).await;
    let order = c.open_order("x", OpenOrder::default()).await.unwrap();
    eventually(CONVERGE, "B admitted", || async { a.status().await.unwrap().peers == vec![b.peer_id()] })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.status().await.unwrap().peers, vec![b.peer_id()], "C is never admitted");
    assert!(a.order(&order).await.unwrap().is_none(), "and nothing of C's reaches A");
    let from_b = b.open_order("x", OpenOrder::default()).await.unwrap();
    eventually(CONVERGE, "B's order on A", || async { a.order(&from_b).await.unwrap().is_some() }).await;
}

/// Changes learned from peers are not committed one by one: they wait, at
/// most 100 ms, for one durable commit, even when the terminal makes no edit
/// of its own; a clean stop keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_from_peers_are_flushed_soon_without_an_edit_of_their_own() {
    let dir = temp_dir("deferred");
    let nodes = mesh(&["A", "B"], dir.path()).await;
    let order = nodes[0].open_order("ana", OpenOrder::default()).await.unwrap();
    for p in ["burger", "fries", "cola", "water"] {
        add_line(&nodes[0], &order, p).await;
    }
    converged(&nodes, CONVERGE).await;
    eventually(Duration::from_secs(5), "B flushed what it received", || async {
        nodes[1].status().await.unwrap().counters.store_commits >= 1
    })
    .await;
    let c = nodes[1].status().await.unwrap().counters;
    assert_eq!(c.local_changes, 0, "B made no edit: the deadline made its commit");
    assert!(c.remote_changes >= 1, "{c:?}");
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
    // B alone, after a restart, holds the order with its four lines.
    let b = start("B", dir.path(), &[]).await;
    let view = b.order(&order).await.unwrap().unwrap();
    assert_eq!(view.lines.len(), 4);
    b.shutdown().await.unwrap();
}

/// A terminal that is not connected to the author still gets its changes
/// by gossip, relayed by a terminal in between (after the node's short
/// relay delay), long before anti-entropy (15 s) would bring them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_hears_an_author_it_is_not_connected_to_through_another() {
    let dir = temp_dir("relay");
    // A chain: A - B - C. Nobody tells A and C about each other.
    let a = start("A", dir.path(), &[]).await;
    let b = start("B", dir.path(), a.listen_addrs()).await;
    let c = start("C", dir.path(), b.listen_addrs()).await;
    wait_for_peers(&[a.clone(), c.clone()], 1).await;
    wait_for_peers(std::slice::from_ref(&b), 2).await;
    // Gossipsub forms its mesh at its heartbeats (every 500 ms).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let order = a.open_order("ana", OpenOrder::default()).await.unwrap();
    for p in ["burger", "fries", "cola"] {
        add_line(&a, &order, p).await;
    }
    eventually(Duration::from_secs(5), "A's order, whole, on C", || async {
        c.order(&order).await.unwrap().is_some_and(|v| v.lines.len() == 3)
    })
    .await;
    assert_eq!(c.status().await.unwrap().peers, vec![b.peer_id()], "C never met A");
    let counters = c.status().await.unwrap().counters;
    assert!(counters.gossip_received >= 4, "the order came by gossip: {counters:?}");
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

/// A quiet link is pinged by one end only (the lower peer id, `liveness`),
/// every second and a half or so, and stays open well past the link timeout; the
/// other end takes the first end's pings as signs of life and sends none
/// after the one every end sends when a link opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_link_stays_open_and_is_pinged_from_one_end() {
    let dir = temp_dir("quiet");
    let registries = [possync::net::SharedRegistry::default(), possync::net::SharedRegistry::default()];
    let start_with = |name: &str, registry: &possync::net::SharedRegistry, peers: Vec<libp2p::Multiaddr>| {
        Node::builder(SESSION, terminal(name), dir.path().join(name))
            .session_key(key())
            .peers(peers)
            .metrics(registry.clone())
            .spawn()
    };
    let a = start_with("A", &registries[0], Vec::new()).await.unwrap();
    let b = start_with("B", &registries[1], a.listen_addrs().to_vec()).await.unwrap();
    let nodes = [a, b];
    wait_for_peers(&nodes, 1).await;
    // Nothing is edited: only pings cross the link. Three link timeouts.
    tokio::time::sleep(Duration::from_secs(12)).await;
    for node in &nodes {
        let status = node.status().await.unwrap();
        assert_eq!(status.peers.len(), 1, "{}: the link stayed open", node.terminal());
        assert_eq!(status.counters.links_timed_out, 0);
    }
    let answered = registries.each_ref().map(pings_answered);
    let (leader, follower) = if nodes[0].peer_id() < nodes[1].peer_id() { (0, 1) } else { (1, 0) };
    // One when the link opens, then one every 1.5 to 1.75 s of quiet: 7 or
    // 8 in 12 s, fewer on a loaded machine.
    assert!(answered[leader] >= 3, "the leading end's answered pings: {answered:?}");
    assert!(
        answered[follower] * 2 <= answered[leader],
        "the other end pinged too, though the first end's pings reached it: {answered:?}"
    );
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
}

/// Pings this node sent that were answered: the count of libp2p's ping
/// round-trip histogram.
fn pings_answered(registry: &possync::net::SharedRegistry) -> u64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry.lock().unwrap()).unwrap();
    text.lines()
        .filter(|l| l.starts_with("libp2p_ping_rtt_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
