//! Start-up failures come back typed: an embedder tells an address in use
//! from a data directory in use, and finds the operating system's error.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::ErrorKind;

use possync::store::StoreError;
use possync::{Multiaddr, NetworkError, Node, NodeError};

use common::{SESSION, key, temp_dir, terminal};

#[tokio::test]
async fn a_listen_address_in_use_is_a_network_error_with_its_os_error() {
    let dir = temp_dir("errors-listen");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let result = Node::builder(SESSION, terminal("T1"), dir.path().join("t1"))
        .session_key(key())
        .listen(addr.clone())
        .spawn()
        .await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, NodeError::Network(NetworkError::Listen { addr: a, .. }) if *a == addr),
        "{err:?}"
    );
    assert_eq!(err.io_error().map(std::io::Error::kind), Some(ErrorKind::AddrInUse), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&port.to_string()) && message.contains("in use"), "{message}");
}

#[tokio::test]
async fn a_data_directory_in_use_is_a_storage_error_naming_its_file() {
    let dir = temp_dir("errors-in-use");
    let data = dir.path().join("t1");
    let first = Node::builder(SESSION, terminal("T1"), &data).session_key(key()).spawn().await.unwrap();
    let result = Node::builder(SESSION, terminal("T1"), &data).session_key(key()).spawn().await;
    let err = result.unwrap_err();
    match &err {
        NodeError::Storage(e) => {
            assert!(matches!(e.as_ref(), StoreError::InUse { path } if path.starts_with(&data)), "{e:?}")
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(err.to_string().contains("in use by another process"), "{err}");
    first.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_made_is_a_storage_error_with_its_os_error() {
    let dir = temp_dir("errors-create");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let result = Node::builder(SESSION, terminal("T1"), file.join("data")).session_key(key()).spawn().await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, NodeError::Storage(e) if matches!(e.as_ref(), StoreError::CreateDir { .. })),
        "{err:?}"
    );
    assert!(err.io_error().is_some(), "{err:?}");
}
