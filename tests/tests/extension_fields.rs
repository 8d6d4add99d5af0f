//! S19: the reference addon's own extension example, end to end. An
//! integrator adds two variables to Order and one to Orderline through the
//! public API only; two terminals set them concurrently; the fields merge
//! one by one and arrive in change events on every terminal.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use possync::model::{Edit, Extension, LineId, Money, NewLine, OpenOrder, Quantity, TerminalId, ext};
use possync::{ChangeOrigin, Node, NodeEvent, SessionKey};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct OrderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_new_variable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_new_variable: Option<i64>,
}
impl Extension for OrderFields {}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct LineFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_notes: Option<String>,
}
impl Extension for LineFields {}

async fn terminal(name: &str, dir: &std::path::Path, peers: &[possync::Multiaddr]) -> Node {
    Node::builder("s19", TerminalId::parse(name).unwrap(), dir.join(name))
        .session_key(SessionKey::from_bytes([19; 32]))
        .peers(peers.iter().cloned())
        .spawn()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s19_extension_fields_sync_merge_and_reach_change_events() {
    let dir = std::env::temp_dir().join(format!("possync-s19-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = terminal("A", &dir, &[]).await;
    let b = terminal("B", &dir, a.listen_addrs()).await;
    for _ in 0..400 {
        if b.status().await.unwrap().peers.len() == 1 && a.status().await.unwrap().peers.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut a_events = a.subscribe();

    let fields = OrderFields { first_new_variable: Some("from A".into()), second_new_variable: None };
    let open = OpenOrder { ext: ext::to_fields(&fields).unwrap(), ..OpenOrder::default() };
    let order = a.open_order("ana", open).await.unwrap();
    let line = LineId::from_random(19);
    let new_line = NewLine {
        ext: ext::to_fields(&LineFields { custom_notes: Some("no salt".into()) }).unwrap(),
        ..NewLine::new(line.clone(), "soup", "Soup", Quantity::units(1), Money(600))
    };
    a.edit("ana", &order, Edit::AddLine(new_line)).await.unwrap();
    // Wait for B to have it, then both terminals write different fields at once.
    for _ in 0..400 {
        if b.order(&order).await.unwrap().is_some_and(|v| v.line(&line).is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let b_fields = OrderFields { first_new_variable: None, second_new_variable: Some(42) };
    let (ra, rb) = tokio::join!(
        a.edit(
            "ana",
            &order,
            Edit::SetExt {
                fields: ext::to_fields(&OrderFields {
                    first_new_variable: Some("from A, again".into()),
                    second_new_variable: None
                })
                .unwrap()
            }
        ),
        b.edit("bo", &order, Edit::SetExt { fields: ext::to_fields(&b_fields).unwrap() }),
    );
    ra.unwrap();
    rb.unwrap();

    let expected =
        OrderFields { first_new_variable: Some("from A, again".into()), second_new_variable: Some(42) };
    for _ in 0..400 {
        let va = a.order(&order).await.unwrap().unwrap();
        let vb = b.order(&order).await.unwrap().unwrap();
        if va.ext_as::<OrderFields>().unwrap() == expected && vb == va {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for n in [&a, &b] {
        let v = n.order(&order).await.unwrap().unwrap();
        assert_eq!(v.ext_as::<OrderFields>().unwrap(), expected, "both fields merged on {}", n.terminal());
        let l: LineFields = v.line(&line).unwrap().ext_as().unwrap();
        assert_eq!(l.custom_notes.as_deref(), Some("no salt"));
    }
    // A heard B's change as a remote change event naming the ext field and B's user.
    let mut heard = false;
    while let Ok(ev) = a_events.try_recv() {
        if let NodeEvent::OrderChanged { origin: ChangeOrigin::Remote { .. }, summary, .. } = ev {
            heard |=
                summary.ext.contains("second_new_variable") && summary.authors.iter().any(|x| x.user == "bo");
        }
    }
    assert!(heard, "A's change feed named B's extension field and author");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
