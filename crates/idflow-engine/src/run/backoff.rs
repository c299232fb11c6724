//! Waits between attempts: retry backoff (fixed or exponential, capped,
//! optionally with full jitter, at least a step's `Retry-After`) and the
//! growing interval of a status gate.
//!
//! Jitter is a pure function of the run's seed, the step and the attempt
//! (SplitMix64 over the three), so a replayed run waits exactly as the live
//! one did, whatever order events arrive in, and the numbers do not change
//! with a random-number crate's version.

use std::time::Duration;

use crate::model::{Backoff, Jitter, PollPolicy, RetryPolicy, StepIndex};

/// The longest `Retry-After` honoured. A server asking for more gets this:
/// the step's own retry budget and the run's timeout bound the wait anyway,
/// and a run must not sleep for hours because a header said so.
pub const MAX_RETRY_AFTER: Duration = Duration::from_mins(5);

/// The wait before the next attempt after the `failures`-th retryable
/// failure in a row (1-based) of `attempt`.
pub fn retry_wait(
    policy: &RetryPolicy,
    failures: u32,
    retry_after: Option<Duration>,
    seed: u64,
    step: StepIndex,
    attempt: u32,
) -> Duration {
    let wait = backoff_wait(policy, failures);
    let wait = match policy.jitter {
        Jitter::None => wait,
        Jitter::Full => full_jitter(wait, jitter_sample(seed, step, attempt)),
    };
    match retry_after {
        Some(asked) => wait.max(asked.min(MAX_RETRY_AFTER)),
        None => wait,
    }
}

/// The computed wait before jitter: `initial` (fixed) or
/// `initial * 2^(failures-1)` (exponential), never more than `max`.
pub fn backoff_wait(policy: &RetryPolicy, failures: u32) -> Duration {
    let wait = match policy.backoff {
        Backoff::Fixed => policy.initial,
        Backoff::Exponential => {
            let doublings = failures.saturating_sub(1);
            if doublings >= 32 {
                policy.max
            } else {
                policy.initial.saturating_mul(1_u32 << doublings)
            }
        }
    };
    wait.min(policy.max)
}

/// A uniformly spread wait in `[0, wait]` from a 64-bit sample: `wait *
/// sample / 2^64`, in nanoseconds.
pub fn full_jitter(wait: Duration, sample: u64) -> Duration {
    let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    let scaled = (u128::from(nanos) * u128::from(sample)) >> 64;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// The jitter sample for one attempt of one step in one run.
pub fn jitter_sample(seed: u64, step: StepIndex, attempt: u32) -> u64 {
    splitmix64(seed ^ splitmix64((u64::from(step.0) << 32) | u64::from(attempt)))
}

/// SplitMix64's output function (Steele, Lea, Flood 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The poll interval after `current`: times `backoff_factor`, at most
/// `max_interval` (an unusable factor gives `max_interval`).
pub fn next_poll_interval(policy: &PollPolicy, current: Duration) -> Duration {
    Duration::try_from_secs_f64(current.as_secs_f64() * policy.backoff_factor)
        .unwrap_or(policy.max_interval)
        .min(policy.max_interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            attempts: 10,
            backoff,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter,
        }
    }

    #[test]
    fn exponential_doubles_up_to_the_cap_and_fixed_stays() {
        let exponential = policy(Backoff::Exponential, Jitter::None);
        let waits: Vec<u128> = (1..=6)
            .map(|n| backoff_wait(&exponential, n).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_wait(&exponential, 90), Duration::from_secs(1));
        let fixed = policy(Backoff::Fixed, Jitter::None);
        assert!((1..=5).all(|n| backoff_wait(&fixed, n) == Duration::from_millis(100)));
    }

    #[test]
    fn full_jitter_stays_in_bounds_and_follows_the_formula() {
        let wait = Duration::from_millis(800);
        assert_eq!(full_jitter(wait, 0), Duration::ZERO);
        assert_eq!(
            full_jitter(wait, u64::MAX),
            Duration::from_nanos(799_999_999)
        );
        assert_eq!(full_jitter(wait, 1 << 63), Duration::from_millis(400));
        let jittered = policy(Backoff::Exponential, Jitter::Full);
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let got = retry_wait(&jittered, 4, None, seed, StepIndex(1), 4);
            let sample = jitter_sample(seed, StepIndex(1), 4);
            assert_eq!(got, full_jitter(wait, sample));
            assert!(got <= wait);
            distinct.insert(got);
        }
        assert!(
            distinct.len() > 190,
            "jitter should spread: {}",
            distinct.len()
        );
        // Deterministic for one seed, different across steps and attempts.
        let once = retry_wait(&jittered, 2, None, 42, StepIndex(0), 2);
        assert_eq!(once, retry_wait(&jittered, 2, None, 42, StepIndex(0), 2));
        assert_ne!(
            jitter_sample(42, StepIndex(0), 2),
            jitter_sample(42, StepIndex(1), 2)
        );
        assert_ne!(
            jitter_sample(42, StepIndex(0), 2),
            jitter_sample(42, StepIndex(0), 3)
        );
    }

    #[test]
    fn retry_after_is_a_capped_minimum() {
        let plain = policy(Backoff::Exponential, Jitter::None);
        let wait = |after| retry_wait(&plain, 1, Some(after), 0, StepIndex(0), 1);
        assert_eq!(wait(Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(wait(Duration::from_millis(10)), Duration::from_millis(100));
        assert_eq!(wait(Duration::from_hours(2)), MAX_RETRY_AFTER);
        let jittered = policy(Backoff::Fixed, Jitter::Full);
        assert_eq!(
            retry_wait(
                &jittered,
                1,
                Some(Duration::from_secs(2)),
                7,
                StepIndex(0),
                1
            ),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn poll_interval_grows_by_the_factor_up_to_the_maximum() {
        let poll = PollPolicy {
            interval: Duration::from_secs(1),
            backoff_factor: 1.5,
            max_interval: Duration::from_secs(3),
            timeout: Duration::from_mins(1),
        };
        let mut interval = poll.interval;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(interval.as_millis());
            interval = next_poll_interval(&poll, interval);
        }
        assert_eq!(seen, [1000, 1500, 2250, 3000, 3000]);
        let broken = PollPolicy {
            backoff_factor: f64::NAN,
            ..poll
        };
        assert_eq!(
            next_poll_interval(&broken, Duration::from_secs(1)),
            Duration::from_secs(3)
        );
    }
}
