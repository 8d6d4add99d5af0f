//! A loopback TCP proxy that a test can cut and heal: the network cable
//! between two terminal processes. Cutting resets every connection through
//! it and refuses new ones until healed; stalling keeps every connection open
//! but silently drops what crosses it (a pulled cable far from both ends,
//! which only keep-alives can notice).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug)]
pub struct Link {
    /// The port to dial instead of the target's.
    pub port: u16,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Both ends of every live connection, to cut them.
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    /// A proxy on 127.0.0.1 forwarding to 127.0.0.1:`target`.
    pub fn to(target: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, stalled2, stop2, live2) = (up.clone(), stalled.clone(), stop.clone(), live.clone());
        thread::spawn(move || {
            for inbound in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(inbound) = inbound else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the cable is out
                }
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                let mut live = live2.lock().expect("proxy lock");
                live.retain(|s| s.peer_addr().is_ok());
                for s in [&inbound, &outbound] {
                    if let Ok(clone) = s.try_clone() {
                        live.push(clone);
                    }
                }
                pump(&inbound, &outbound, stalled2.clone());
                pump(&outbound, &inbound, stalled2.clone());
            }
        });
        Link { port, up, stalled, stop, live }
    }

    /// Drops every connection through the link and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.live.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Keeps connections open but drops every byte, both ways.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

/// Copies `from` → `to` on a thread until either side closes; drops the
/// bytes instead while `stalled`.
fn pump(from: &TcpStream, to: &TcpStream, stalled: Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if stalled.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    });
}
