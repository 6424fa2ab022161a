//! Waits shorter than tokio's timer can resolve.
//!
//! tokio's timer wheel ticks once a millisecond and its driver parks with a timeout in whole
//! milliseconds, so `sleep_until(now + 200µs)` returns 1-2 ms later. The machine's settle
//! pause (`machine/settle.rs`) is usually a few hundred microseconds, taken once per
//! transaction by a producer reused at once; rounded up to tokio's tick it took longer than
//! the Produce and EndTxn round trips together (one producer in a tight loop on one broker:
//! 450 transactions/s with tokio's timer alone, 770 with this one).
//!
//! Short waits are served by one thread for the whole process: it sleeps on a condition
//! variable until the earliest deadline (a futex timeout, as precise as the kernel's timer
//! slack, about 50 µs) and completes that wait's oneshot. A wait whose future was dropped
//! just finds its receiver gone. Every wait also races tokio's own timer, so it never ends
//! later than tokio's would, and under tokio's paused test clock the auto-advanced timer
//! ends it.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Waits at least this long go to tokio's timer alone: its rounding is then a small part of
/// the wait, and no thread is woken for them.
const FINE_BELOW: Duration = Duration::from_millis(2);

/// Sleeps until `at`, to within the kernel's timer slack when the wait is short.
pub(crate) async fn sleep_until(at: tokio::time::Instant) {
    let left = at.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() {
        return;
    }
    let fine = (left < FINE_BELOW)
        .then(FineTimer::global)
        .flatten()
        .map(|timer| timer.wake_after(left));
    match fine {
        Some(fired) => {
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                _ = fired => {}
            }
        }
        None => tokio::time::sleep_until(at).await,
    }
}

/// The waits not yet due, earliest first, each keyed by its deadline and the order it was
/// asked in (two waits can share a deadline).
#[derive(Debug)]
struct Waits {
    due: BTreeMap<(Instant, u64), oneshot::Sender<()>>,
    next_seq: u64,
}

#[derive(Debug)]
struct FineTimer {
    waits: Mutex<Waits>,
    changed: Condvar,
}

/// The process's timer; its thread is started by [`FineTimer::global`].
static TIMER: FineTimer = FineTimer {
    waits: Mutex::new(Waits {
        due: BTreeMap::new(),
        next_seq: 0,
    }),
    changed: Condvar::new(),
};

impl FineTimer {
    /// The process's timer, its thread started on first use; `None` when no thread could be
    /// started (then tokio's timer serves every wait).
    fn global() -> Option<&'static FineTimer> {
        static SERVING: OnceLock<bool> = OnceLock::new();
        let serving = *SERVING.get_or_init(|| {
            std::thread::Builder::new()
                .name("kafkatx-fine-timer".into())
                .spawn(|| TIMER.serve())
                .is_ok()
        });
        serving.then_some(&TIMER)
    }

    fn lock(&self) -> MutexGuard<'_, Waits> {
        // The lock is held only by the code below, which cannot panic while holding it.
        self.waits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver completed `after` from now (or dropped with its sender, which also ends the
    /// wait: only at exit).
    fn wake_after(&self, after: Duration) -> oneshot::Receiver<()> {
        let (fire, fired) = oneshot::channel();
        let at = Instant::now() + after;
        let mut waits = self.lock();
        let seq = waits.next_seq;
        waits.next_seq = seq.wrapping_add(1);
        let earliest = waits
            .due
            .first_key_value()
            .is_none_or(|(&(first, _), _)| at < first);
        waits.due.insert((at, seq), fire);
        drop(waits);
        if earliest {
            self.changed.notify_one();
        }
        fired
    }

    /// The thread: completes every wait that is due, then sleeps until the earliest left or
    /// until an earlier one is added.
    fn serve(&self) {
        let mut waits = self.lock();
        loop {
            let now = Instant::now();
            while let Some(entry) = waits.due.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                // Its future may have been dropped: nobody to tell, nothing to do.
                let _ = entry.remove().send(());
            }
            let next = waits.due.first_key_value().map(|(&(at, _), _)| at - now);
            waits = match next {
                Some(left) => {
                    self.changed
                        .wait_timeout(waits, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(waits)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_short_wait_ends_well_before_tokios_next_tick_would() {
        // Waits of 200 µs, repeated: with tokio's timer alone each takes 1-2 ms.
        let rounds = 50u32;
        let started = Instant::now();
        for _ in 0..rounds {
            sleep_until(tokio::time::Instant::now() + Duration::from_micros(200)).await;
        }
        let each = started.elapsed() / rounds;
        assert!(each >= Duration::from_micros(200), "ended early: {each:?}");
        // Generous for a loaded CI machine, still below tokio's 1 ms tick.
        assert!(
            each < Duration::from_micros(900),
            "took {each:?} per 200 µs wait"
        );
    }

    #[tokio::test]
    async fn waits_end_in_deadline_order_and_a_dropped_wait_harms_none() {
        let timer = FineTimer::global().expect("a timer thread");
        let dropped = timer.wake_after(Duration::from_micros(100));
        drop(dropped);
        let late = timer.wake_after(Duration::from_micros(900));
        let early = timer.wake_after(Duration::from_micros(300));
        let started = Instant::now();
        early.await.expect("fired");
        let early_at = started.elapsed();
        late.await.expect("fired");
        assert!(early_at < started.elapsed());
        assert!(started.elapsed() >= Duration::from_micros(600));
    }

    #[tokio::test(start_paused = true)]
    async fn under_the_paused_test_clock_tokios_timer_ends_the_wait() {
        let before = tokio::time::Instant::now();
        sleep_until(before + Duration::from_micros(500)).await;
        assert!(tokio::time::Instant::now() >= before + Duration::from_micros(500));
    }

    #[tokio::test]
    async fn a_long_wait_is_tokios() {
        let started = Instant::now();
        sleep_until(tokio::time::Instant::now() + Duration::from_millis(3)).await;
        assert!(started.elapsed() >= Duration::from_millis(3));
    }
}
