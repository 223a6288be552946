//! Ids made on every message and request: time-ordered UUID v7s and correlation ids.
//!
//! `Uuid::now_v7()` asks the operating system for fresh random bytes on every call (one
//! `getrandom` system call each), which shows on the hot paths (every request, every
//! published message). Here the random part comes from a per-process seed, read from the
//! operating system once, run through SplitMix64 with a counter: unique within the process
//! by construction, and across processes with the odds of a 64-bit random collision.
//!
//! The counter is handed out to threads in blocks, so that threads making ids at once (the
//! HTTP workers, one per request) do not all write one shared cache line.

use std::cell::Cell;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

static SEED: LazyLock<u64> = LazyLock::new(|| {
    let random = Uuid::new_v4();
    let (high, low) = random.as_u64_pair();
    high ^ low
});

/// The next block of counter values to hand to a thread.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);
const BLOCK: u64 = 1 << 16;

/// A process-wide unique number, from the calling thread's block.
fn next_count() -> u64 {
    thread_local! {
        /// The next value and the end of this thread's block.
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        range.set((next + 1, end));
        next
    })
}

/// SplitMix64: a counter in, well-spread bits out.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A new UUID v7 (sortable by creation time).
pub fn new_id() -> Uuid {
    let count = next_count();
    let a = splitmix64(*SEED ^ count).to_le_bytes();
    let b = splitmix64(count ^ SEED.rotate_left(32)).to_le_bytes();
    let random = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]];
    let millis = crate::clock::unix_ms();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// A new correlation id: a UUID v7 as 32 hex digits.
pub fn new_cid() -> String {
    let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
    new_id().simple().encode_lower(&mut hex).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_unique_and_time_ordered() {
        let ids: Vec<Uuid> = (0..10_000).map(|_| new_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let millis = |id: &Uuid| id.as_bytes()[..6].to_vec();
        assert!(
            ids.windows(2).all(|w| millis(&w[0]) <= millis(&w[1])),
            "time-ordered"
        );
        assert_eq!(new_cid().len(), 32);
    }

    #[test]
    fn threads_never_make_the_same_id() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..20_000).map(|_| new_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            for id in thread.join().expect("id thread") {
                assert!(all.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(all.len(), 80_000);
    }
}
