//! The CLI's client (`possync status`, `orders`, `export`) against a server on
//! loopback: a chunked body split inside a multi-byte character, the bearer
//! token, an error status and a terminal that is not there.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use possync_daemon::client::get_json;
use serde_json::json;

/// `{"name":"Café"}` in three chunks, the second ending after the first byte
/// of the two-byte "é".
async fn chunked() -> impl IntoResponse {
    let text = r#"{"name":"Café"}"#.as_bytes();
    let cut = text.iter().position(|&b| b == 0xC3).unwrap() + 1;
    let parts = [text[..4].to_vec(), text[4..cut].to_vec(), text[cut..].to_vec()];
    let stream = futures::stream::iter(parts.map(|p| Ok::<_, std::io::Error>(Bytes::from(p))));
    ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream))
}

async fn guarded(headers: HeaderMap) -> impl IntoResponse {
    if headers.get(header::AUTHORIZATION).is_some_and(|v| v == "Bearer sesame") {
        (StatusCode::OK, axum::Json(json!({ "ok": true })))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": { "code": "unauthorized", "message": "bad token" } })),
        )
    }
}

async fn serve() -> SocketAddr {
    let app = Router::new().route("/chunked", get(chunked)).route("/guarded", get(guarded));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_chunked_body_split_inside_a_character_arrives_whole() {
    let api = serve().await;
    let value = get_json(api, "/chunked", None).await.unwrap();
    assert_eq!(value, json!({ "name": "Café" }));
}

#[tokio::test]
async fn the_token_is_sent_and_an_error_status_carries_the_apis_message() {
    let api = serve().await;
    assert_eq!(get_json(api, "/guarded", Some("sesame")).await.unwrap(), json!({ "ok": true }));
    let err = get_json(api, "/guarded", Some("wrong")).await.unwrap_err().to_string();
    assert_eq!(err, "/guarded: 401: bad token");
}

#[tokio::test]
async fn no_terminal_listening_says_so() {
    // A port just freed: nothing listens there.
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let err = format!("{:#}", get_json(api, "/api/status", None).await.unwrap_err());
    assert!(err.contains(&format!("no terminal answers at {api}")), "{err}");
}
