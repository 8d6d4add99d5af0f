//! The WebSocket change feed: one JSON message per node event, filtered by
//! the terminal's policy. A client that falls behind is told (`lagged`) and
//! should re-read `/api/orders`.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use possync::NodeEvent;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;

pub async fn events(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| feed(state, socket))
}

async fn feed(state: AppState, mut socket: WebSocket) {
    let mut events = state.node.subscribe();
    if let Ok(status) = state.node.status().await {
        let hello = json!({ "event": "hello", "terminal": state.node.terminal(), "status": status });
        if socket.send(Message::Text(hello.to_string().into())).await.is_err() {
            return;
        }
    }
    let terminal = state.node.terminal().clone();
    loop {
        tokio::select! {
            event = events.recv() => {
                let text = match event {
                    Ok(NodeEvent::OrderChanged { view: Some(ref v), .. })
                        if !state.policy.shows(&terminal, v) => continue,
                    Ok(event) => serde_json::to_string(&event).unwrap_or_default(),
                    Err(RecvError::Lagged(n)) => json!({ "event": "lagged", "missed": n }).to_string(),
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
