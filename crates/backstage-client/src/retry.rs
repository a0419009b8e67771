//! Full-jitter exponential backoff between retries of idempotent requests.

use std::time::Duration;

use rand::Rng;

use crate::config::MAX_RETRY_DELAY;

/// The upper bound of the delay before retry number `retry` (1-based):
/// `min(MAX_RETRY_DELAY, base * 2^(retry-1))`.
pub(crate) fn ceiling(base: Duration, retry: u32) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor)
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

/// A delay drawn uniformly from `[0, ceiling(base, retry)]` ("full jitter").
pub(crate) fn delay(base: Duration, retry: u32) -> Duration {
    let max_ms = u64::try_from(ceiling(base, retry).as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=max_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        assert_eq!(ceiling(base, 1), Duration::from_millis(100));
        assert_eq!(ceiling(base, 2), Duration::from_millis(200));
        assert_eq!(ceiling(base, 3), Duration::from_millis(400));
        assert_eq!(ceiling(base, 5), Duration::from_millis(1600));
        assert_eq!(ceiling(base, 6), MAX_RETRY_DELAY);
        assert_eq!(ceiling(base, 40), MAX_RETRY_DELAY);
        assert_eq!(ceiling(base, u32::MAX), MAX_RETRY_DELAY);
        assert_eq!(ceiling(Duration::from_secs(3600), 1), MAX_RETRY_DELAY);
    }

    #[test]
    fn delay_stays_within_the_ceiling() {
        let base = Duration::from_millis(100);
        for retry in 1..8 {
            for _ in 0..50 {
                assert!(delay(base, retry) <= ceiling(base, retry));
            }
        }
        assert_eq!(delay(Duration::ZERO, 3), Duration::ZERO);
    }
}
