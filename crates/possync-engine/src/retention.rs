//! When a restored archived order's retention started: its retention
//! counts from when this terminal archived it (a wall-clock time the store
//! keeps), not from the start, or a terminal switched off every night would
//! keep every order for its uptime plus the retention.
//!
//! While running, retention is measured on the monotonic clock; only a
//! restart crosses from the wall clock to it, here.

use std::time::{Duration, Instant};

/// The instant on the monotonic clock `now` belongs to that stands for
/// `archived_at_ms`, given the wall-clock time `wall_ms` at `now`.
///
/// Without either time (a store from before the time was kept, or no wall
/// clock given) retention starts at `now`, as it did before. A wall clock
/// that moved backwards since the archiving counts as no time passed: the
/// order is kept a full retention rather than forgotten early. The time
/// passed is capped at `retention` (enough to expire it), so that the
/// instant stays representable on a machine booted moments ago.
pub(crate) fn archived_since(
    now: Instant,
    wall_ms: Option<i64>,
    archived_at_ms: Option<i64>,
    retention: Duration,
) -> Instant {
    let (Some(wall_ms), Some(at_ms)) = (wall_ms, archived_at_ms) else { return now };
    let passed = Duration::from_millis(u64::try_from(wall_ms.saturating_sub(at_ms)).unwrap_or(0));
    now.checked_sub(passed.min(retention)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);
    const WALL: i64 = 1_780_000_000_000;

    #[test]
    fn retention_counts_from_the_archiving_across_a_restart() {
        let now = Instant::now() + DAY;
        let since = archived_since(now, Some(WALL), Some(WALL - 40_000), DAY);
        assert_eq!(now - since, Duration::from_secs(40));
    }

    #[test]
    fn a_clock_moved_backwards_restarts_the_retention_instead_of_ending_it() {
        let now = Instant::now();
        assert_eq!(archived_since(now, Some(WALL), Some(WALL + 3_600_000), DAY), now);
    }

    #[test]
    fn an_unknown_time_starts_the_retention_now() {
        let now = Instant::now();
        assert_eq!(archived_since(now, Some(WALL), None, DAY), now);
        assert_eq!(archived_since(now, None, Some(WALL), DAY), now);
    }

    #[test]
    fn an_order_archived_long_ago_is_due_at_once() {
        let now = Instant::now() + DAY;
        let since = archived_since(now, Some(WALL), Some(WALL - 30 * DAY.as_millis() as i64), DAY);
        assert_eq!(now - since, DAY, "capped at the retention: due, and representable");
    }
}
