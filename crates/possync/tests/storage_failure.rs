//! A terminal whose disk fails and stays failed: edits are refused at once
//! with `StorageFailed` (never a hang once the commit pipeline would fill),
//! the status says so, and when the disk works again the terminal writes
//! again without a restart, having lost no acknowledged edit.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, line, temp_dir, terminal};
use possync::model::{Edit, OpenOrder};
use possync::{Node, NodeError, StoreOpener};
use possync_store::Store;
use possync_store::fault::MemDisk;

/// More edits than the commit pipeline gathers before it stops taking
/// input (1,024 batches): before refusals, the last of them hung.
const EDITS_WHILE_FAILED: usize = 1_100;

async fn start_on(disk: &MemDisk, dir: &Path) -> Node {
    let disk = disk.clone();
    Node::builder("disk", terminal("T1"), dir)
        .store_opener(StoreOpener::new(move || Store::open_with_backend(disk.backend(), Path::new("mem"))))
        .spawn()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_disk_refuses_edits_at_once_and_recovers_when_it_works_again() {
    let dir = temp_dir("disk-failed");
    let disk = MemDisk::new();
    let node = start_on(&disk, dir.path()).await;
    let order = node.open_order("ana", OpenOrder::default()).await.unwrap();
    let before = line("before", 1, 100);
    node.edit("ana", &order, Edit::AddLine(before.clone())).await.unwrap();

    disk.fail_after(disk.io_calls());
    // The edit whose commit fails: applied in memory, not acknowledged.
    let failed = line("failed", 1, 100);
    let first = node.edit("ana", &order, Edit::AddLine(failed.clone())).await;
    assert!(matches!(first, Err(NodeError::Storage(_))), "{first:?}");

    // Every later edit is refused, promptly, and applies nothing.
    let refused = tokio::time::timeout(Duration::from_secs(60), async {
        let mut refused = 0;
        for i in 0..EDITS_WHILE_FAILED {
            let edit = Edit::AddLine(line(&format!("refused-{i}"), 1, 100));
            match node.edit("ana", &order, edit).await {
                Err(NodeError::StorageFailed(message)) => {
                    assert!(message.contains("commits in a row"), "{message}");
                    refused += 1;
                }
                other => panic!("edit {i} on a failed disk: {other:?}"),
            }
        }
        refused
    })
    .await
    .expect("edits on a failed disk hung");
    assert_eq!(refused, EDITS_WHILE_FAILED);
    let new = node.open_order("ana", OpenOrder::default()).await;
    assert!(matches!(new, Err(NodeError::StorageFailed(_))), "{new:?}");
    let status = node.status().await.unwrap();
    let failure = status.storage_failure.expect("the status shows the failure");
    assert!(failure.failed_commits >= 1);
    assert!(status.counters.store_failures >= 1);
    let view = node.order(&order).await.unwrap().unwrap();
    assert_eq!(view.lines.len(), 2, "before, and the failed edit's line (in memory); no refused one");

    // The disk works again: the pending commit goes through (the store
    // reopened) and edits are taken again.
    disk.repair();
    eventually(Duration::from_secs(15), "the terminal writes again", || async {
        node.status().await.unwrap().storage_failure.is_none()
    })
    .await;
    let after = line("after", 1, 100);
    node.edit("ana", &order, Edit::AddLine(after.clone())).await.unwrap();
    node.shutdown().await.unwrap();

    // What the disk holds: every acknowledged edit, and the failed one,
    // committed by the retry.
    let restarted = start_on(&MemDisk::from_image(disk.durable_image()), &dir.path().join("again")).await;
    let view = restarted.order(&order).await.unwrap().expect("the order is on disk");
    let mut lines: Vec<_> = view.lines.iter().map(|l| l.product.to_string()).collect();
    lines.sort();
    assert_eq!(lines, vec!["after", "before", "failed"]);
    restarted.shutdown().await.unwrap();
}
