//! Fault injection: an in-memory disk for redb that can be told to fail,
//! and that models what survives a crash.
//!
//! ```
//! use possync_store::fault::{CrashMode, MemDisk};
//! use possync_store::Store;
//! use std::path::Path;
//!
//! let disk = MemDisk::new();
//! let store = Store::open_with_backend(disk.backend(), Path::new("mem")).unwrap();
//! disk.fail_after(disk.io_calls() + 3); // the 4th write or sync from now fails, and all after it
//! // ... run a workload, note which `apply` calls returned Ok ...
//! let image = disk.crash(CrashMode::LoseUnsynced);
//! drop(store);
//! let reopened = Store::open_with_backend(MemDisk::from_image(image).backend(), Path::new("mem")).unwrap();
//! # let _ = reopened;
//! ```

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What is left on the disk after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss: only what a completed `sync_data` made durable survives.
    LoseUnsynced,
    /// The process died but the machine did not: every write made survives,
    /// synced or not.
    KeepUnsynced,
    /// Power loss on a disk that had written back some of the unsynced
    /// writes on its own, in any order: each write and length change made
    /// since the last sync survives or not, as drawn from `seed`.
    Partial { seed: u64 },
}

#[derive(Debug)]
enum Pending {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Default)]
struct DiskState {
    /// What reads see.
    live: Vec<u8>,
    /// What the last completed sync made durable.
    durable: Vec<u8>,
    /// Writes and length changes since the last completed sync, in order.
    pending: Vec<Pending>,
    /// Writes, length changes and syncs so far (failed ones included).
    io_calls: u64,
    /// The call with this index and every later one fail.
    fail_from: Option<u64>,
    /// A call failed: the disk is dead, reads fail too.
    failed: bool,
    /// `crash` was called: nothing reaches this disk any more.
    crashed: bool,
}

/// An in-memory disk shared by the backends made from it. Cheap to clone;
/// clones are the same disk.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    state: Arc<Mutex<DiskState>>,
}

impl MemDisk {
    /// An empty, healthy disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// A healthy disk holding `image`, all of it durable (e.g. what
    /// [`MemDisk::crash`] returned).
    pub fn from_image(image: Vec<u8>) -> Self {
        let state = DiskState { live: image.clone(), durable: image, ..DiskState::default() };
        MemDisk { state: Arc::new(Mutex::new(state)) }
    }

    /// A redb storage backend over this disk.
    pub fn backend(&self) -> MemBackend {
        MemBackend { disk: self.clone() }
    }

    /// Makes IO call number `n` (counting from the disk's creation, as
    /// [`MemDisk::io_calls`] does) and every call after it fail: writes,
    /// length changes and syncs return an IO error, and from the first
    /// failure on, reads do too.
    pub fn fail_after(&self, n: u64) {
        self.lock().fail_from = Some(n);
    }

    /// The disk works again (space freed, a cable reseated): calls succeed
    /// from now on. A store that saw the failure still refuses writes until
    /// it is reopened, as redb does.
    pub fn repair(&self) {
        let mut state = self.lock();
        state.fail_from = None;
        state.failed = false;
    }

    /// Writes, length changes and syncs made so far.
    pub fn io_calls(&self) -> u64 {
        self.lock().io_calls
    }

    /// Whether an injected failure has happened.
    pub fn failed(&self) -> bool {
        self.lock().failed
    }

    /// The current contents, as reads see them.
    pub fn image(&self) -> Vec<u8> {
        self.lock().live.clone()
    }

    /// What a power loss now would leave, without crashing the disk.
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// Crashes the disk: from now on every call fails, and the returned
    /// image is what survived, per `mode`.
    pub fn crash(&self, mode: CrashMode) -> Vec<u8> {
        let mut state = self.lock();
        state.crashed = true;
        match mode {
            CrashMode::LoseUnsynced => state.durable.clone(),
            CrashMode::KeepUnsynced => state.live.clone(),
            CrashMode::Partial { seed } => {
                let mut rng = seed;
                let mut image = state.durable.clone();
                for op in &state.pending {
                    if splitmix(&mut rng) & 1 == 0 {
                        continue;
                    }
                    match op {
                        Pending::Write { offset, data } => write_at(&mut image, *offset, data),
                        Pending::SetLen(len) => image.resize(*len, 0),
                    }
                }
                image
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a mutating call and decides whether it fails.
    fn mutating_call(&self) -> Result<MutexGuard<'_, DiskState>, io::Error> {
        let mut state = self.lock();
        let index = state.io_calls;
        state.io_calls += 1;
        if state.crashed || state.failed || state.fail_from.is_some_and(|from| index >= from) {
            state.failed = true;
            return Err(injected());
        }
        Ok(state)
    }

    fn reading(&self) -> Result<MutexGuard<'_, DiskState>, io::Error> {
        let state = self.lock();
        if state.crashed || state.failed {
            return Err(injected());
        }
        Ok(state)
    }
}

/// A redb [`StorageBackend`](redb::StorageBackend) over a [`MemDisk`].
#[derive(Debug, Clone)]
pub struct MemBackend {
    disk: MemDisk,
}

impl redb::StorageBackend for MemBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.disk.reading()?.live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.disk.reading()?;
        let start = to_usize(offset)?;
        let end = start.checked_add(out.len()).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let src = state.live.get(start..end).ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let len = to_usize(len)?;
        let mut state = self.disk.mutating_call()?;
        state.live.resize(len, 0);
        state.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.disk.mutating_call()?;
        state.durable = state.live.clone();
        state.pending.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let offset = to_usize(offset)?;
        let mut state = self.disk.mutating_call()?;
        write_at(&mut state.live, offset, data);
        state.pending.push(Pending::Write { offset, data: data.to_vec() });
        Ok(())
    }
}

fn write_at(image: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[offset..end].copy_from_slice(data);
}

fn to_usize(n: u64) -> Result<usize, io::Error> {
    usize::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn injected() -> io::Error {
    io::Error::other("injected IO failure")
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
