//! A loopback TCP proxy that a test can cut and heal: the network cable
//! between two terminal processes. Cutting resets every connection through
//! it and refuses new ones until healed; stalling keeps every connection open
//! but silently drops what crosses it (a pulled cable far from both ends,
//! which only keep-alives can notice). A delay holds every byte back for a
//! while each way (a slow link).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Link {
    /// The port to dial instead of the target's.
    pub port: u16,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    /// One-way delay of every byte, in milliseconds.
    delay_ms: Arc<AtomicU64>,
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
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, stalled2, stop2, live2) = (up.clone(), stalled.clone(), stop.clone(), live.clone());
        let delay2 = delay_ms.clone();
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
                pump(&inbound, &outbound, stalled2.clone(), delay2.clone());
                pump(&outbound, &inbound, stalled2.clone(), delay2.clone());
            }
        });
        Link { port, up, stalled, delay_ms, stop, live }
    }

    /// Holds every byte back for `delay` each way from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
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

/// Copies `from` → `to` until either side closes: one thread reads, and
/// drops the bytes while `stalled`; another writes each chunk once its
/// delay has passed, so a delayed link still carries everything in order.
fn pump(from: &TcpStream, to: &TcpStream, stalled: Arc<AtomicBool>, delay_ms: Arc<AtomicU64>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if stalled.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    let due = Instant::now() + Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Read);
    });
}
