//! The state every handle of one pool shares, and the synchronous transitions on it.
//!
//! Accounting invariant while the pool is open: `idle + leased + replacing == size`, where `leased`
//! counts producers with a caller, in a waiter's channel, or on their way back. Every transition
//! happens under `state`, which is a `std::sync::Mutex` because nothing awaits while holding it.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::member::Member;
use crate::producer::{ProducerFactory, TxnProducer};
use crate::stats::{Counters, PoolStats};

pub(crate) struct Shared<F: ProducerFactory> {
    pub(crate) config: PoolConfig,
    pub(crate) factory: F,
    pub(crate) counters: Counters,
    state: Mutex<State<F>>,
    /// Flips to `true` once, on close; background slot tasks watch it to stop retrying.
    closed: watch::Sender<bool>,
    /// Woken whenever a leased producer is settled after close, so `close()` can stop waiting.
    returned: Notify,
    /// Drop handlers run outside any async context, so spawning needs a stored handle.
    runtime: Handle,
}

struct State<F: ProducerFactory> {
    closed: bool,
    /// Oldest-idle first: leases pop the front and returns push the back, so the next transaction
    /// goes to the producer whose previous markers have had the longest time to be written.
    idle: VecDeque<Member<F>>,
    /// First-come first-served. Invariant: `waiters` is empty whenever `idle` is not.
    waiters: VecDeque<Waiter<F>>,
    next_waiter_id: u64,
    leased: usize,
    replacing: usize,
    slots: Vec<SlotRecord<F>>,
}

struct Waiter<F: ProducerFactory> {
    id: u64,
    handoff: oneshot::Sender<Member<F>>,
}

/// What the pool remembers about one slot across the producers that fill it.
struct SlotRecord<F: ProducerFactory> {
    /// The slot's current producer, kept so that `close()` can reach producers that are leased.
    live: Option<Arc<F::Producer>>,
    ready_since: Option<Instant>,
    /// Consecutive fatal failures that each came soon after the slot became ready.
    rapid_failures: u32,
}

/// The outcome of asking for a producer without waiting.
pub(crate) enum Admission<F: ProducerFactory> {
    Granted(Member<F>),
    Queued {
        id: u64,
        handoff: oneshot::Receiver<Member<F>>,
    },
    Closed,
    Saturated,
}

/// How long to wait before re-initialising a slot that failed fatally, and how often in a row the
/// slot has failed soon after becoming ready.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplacementPlan {
    pub(crate) delay: Duration,
    pub(crate) rapid_failures: u32,
}

impl<F: ProducerFactory> Shared<F> {
    pub(crate) fn new(config: PoolConfig, factory: F, runtime: Handle) -> Self {
        let slots = (0..config.size)
            .map(|_| SlotRecord {
                live: None,
                ready_since: None,
                rapid_failures: 0,
            })
            .collect();
        Self {
            state: Mutex::new(State {
                closed: false,
                idle: VecDeque::new(),
                waiters: VecDeque::new(),
                next_waiter_id: 0,
                leased: 0,
                replacing: config.size,
                slots,
            }),
            config,
            factory,
            counters: Counters::default(),
            closed: watch::Sender::new(false),
            returned: Notify::new(),
            runtime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<F>> {
        // A panic while holding the lock cannot leave the counts half-updated in a way that is
        // worse than stopping the whole pool, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.runtime.spawn(task));
    }

    pub(crate) fn runtime(&self) -> &Handle {
        &self.runtime
    }

    pub(crate) fn closed_signal(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.lock();
        let mut stats = PoolStats {
            size: self.config.size,
            ready: state.idle.len() + state.leased,
            idle: state.idle.len(),
            leased: state.leased,
            waiters: state.waiters.len(),
            replacing: state.replacing,
            ..PoolStats::default()
        };
        drop(state);
        self.counters.fill(&mut stats);
        stats
    }

    pub(crate) fn admit(&self) -> Admission<F> {
        let mut state = self.lock();
        if state.closed {
            return Admission::Closed;
        }
        if let Some(member) = state.idle.pop_front() {
            state.leased += 1;
            return Admission::Granted(member);
        }
        if state.waiters.len() >= self.config.max_waiters {
            return Admission::Saturated;
        }
        let id = state.next_waiter_id;
        state.next_waiter_id += 1;
        let (sender, receiver) = oneshot::channel();
        state.waiters.push_back(Waiter {
            id,
            handoff: sender,
        });
        Admission::Queued {
            id,
            handoff: receiver,
        }
    }

    /// Removes a waiter that gave up. Returns `false` if it was no longer queued, i.e. a producer was
    /// already handed to it (or the pool closed), which the caller must then reclaim.
    pub(crate) fn withdraw(&self, waiter_id: u64) -> bool {
        let mut state = self.lock();
        let before = state.waiters.len();
        state.waiters.retain(|waiter| waiter.id != waiter_id);
        state.waiters.len() != before
    }

    /// Puts a usable leased producer back: to the first waiter, else at the back of the idle queue.
    pub(crate) fn give_back(self: &Arc<Self>, member: Member<F>) {
        let mut state = self.lock();
        state.leased = state.leased.saturating_sub(1);
        if state.closed {
            // Counted as leased again until it is closed, so `close()` waits for it.
            state.leased += 1;
            drop(state);
            let shared = Arc::clone(self);
            self.spawn(async move { shared.retire_after_close(member).await });
            return;
        }
        state.place(member);
    }

    /// Adds a freshly initialised producer to the pool, or hands it back if the pool closed meanwhile.
    pub(crate) fn install(
        self: &Arc<Self>,
        slot: usize,
        producer: F::Producer,
    ) -> Result<(), F::Producer> {
        let mut state = self.lock();
        state.replacing = state.replacing.saturating_sub(1);
        if state.closed {
            drop(state);
            self.returned.notify_waiters();
            return Err(producer);
        }
        let producer = Arc::new(producer);
        let transactional_id: Arc<str> = self.config.transactional_id(slot).into();
        if let Some(record) = state.slots.get_mut(slot) {
            record.live = Some(Arc::clone(&producer));
            record.ready_since = Some(Instant::now());
        }
        state.place(Member::new(producer, slot, transactional_id, self));
        Ok(())
    }

    /// A slot task stopped without a producer because the pool closed.
    pub(crate) fn abandon_slot(&self) {
        let mut state = self.lock();
        state.replacing = state.replacing.saturating_sub(1);
        drop(state);
        self.returned.notify_waiters();
    }

    /// Books a leased producer that failed fatally (already closed by the caller) as a slot being
    /// replaced. Returns `None` when the pool is closed and the slot should stay empty.
    pub(crate) fn begin_replacement(&self, slot: usize) -> Option<ReplacementPlan> {
        let mut state = self.lock();
        state.leased = state.leased.saturating_sub(1);
        let record = state.slots.get_mut(slot)?;
        record.live = None;
        let now = Instant::now();
        let rapid = record
            .ready_since
            .take()
            .is_some_and(|since| now.duration_since(since) < self.config.fatal_window);
        record.rapid_failures = if rapid { record.rapid_failures + 1 } else { 1 };
        let rapid_failures = record.rapid_failures;
        if state.closed {
            drop(state);
            self.returned.notify_waiters();
            return None;
        }
        state.replacing += 1;
        // The first failure is replaced at once (a restart fencing its zombie is normal); from the
        // second rapid failure on, back off so that two processes sharing an id stop fencing each other.
        let delay = match rapid_failures {
            0 | 1 => Duration::ZERO,
            n => self.config.fatal_backoff.delay(n - 1),
        };
        Some(ReplacementPlan {
            delay,
            rapid_failures,
        })
    }

    /// A `Member` was dropped without being retired: re-initialise its slot at once.
    pub(crate) fn slot_lost(self: &Arc<Self>, slot: usize) {
        tracing::error!(
            slot,
            "a producer was dropped while leased; re-initialising its slot"
        );
        let mut state = self.lock();
        state.leased = state.leased.saturating_sub(1);
        if let Some(record) = state.slots.get_mut(slot) {
            record.live = None;
        }
        if state.closed {
            drop(state);
            self.returned.notify_waiters();
            return;
        }
        state.replacing += 1;
        drop(state);
        Counters::bump(&self.counters.replacements);
        self.spawn(crate::slot::fill_slot(
            Arc::clone(self),
            slot,
            Duration::ZERO,
            None,
        ));
    }

    /// Closes a producer that came back after the pool closed.
    pub(crate) async fn retire_after_close(&self, member: Member<F>) {
        let (producer, slot) = member.retire();
        producer.close().await;
        let mut state = self.lock();
        state.leased = state.leased.saturating_sub(1);
        if let Some(record) = state.slots.get_mut(slot) {
            record.live = None;
        }
        drop(state);
        self.returned.notify_waiters();
    }

    /// Marks the pool closed and takes out everything that is not leased. Idempotent.
    pub(crate) fn shut(&self) -> Vec<Member<F>> {
        let mut state = self.lock();
        state.closed = true;
        let idle: Vec<_> = state.idle.drain(..).collect();
        // Dropping the senders wakes every waiter with "closed".
        let waiters: Vec<_> = state.waiters.drain(..).collect();
        drop(state);
        drop(waiters);
        self.closed.send_replace(true);
        idle
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Forgets a slot whose producer was closed during shutdown.
    pub(crate) fn forget_slot(&self, slot: usize) {
        if let Some(record) = self.lock().slots.get_mut(slot) {
            record.live = None;
        }
    }

    /// Waits until no producer is leased or the deadline passes; returns whether all came back.
    pub(crate) async fn wait_for_returns(&self, deadline: Instant) -> bool {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            // Register before checking, so a return between the check and the await is not missed.
            returned.as_mut().enable();
            let outstanding = {
                let state = self.lock();
                state.leased + state.replacing
            };
            if outstanding == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, returned).await.is_err() {
                return false;
            }
        }
    }

    /// The producers still out with callers at the close deadline.
    pub(crate) fn outstanding_producers(&self) -> Vec<Arc<F::Producer>> {
        self.lock()
            .slots
            .iter()
            .filter_map(|record| record.live.clone())
            .collect()
    }
}

impl<F: ProducerFactory> State<F> {
    /// Hands `member` to the oldest waiter still listening, else queues it as idle.
    fn place(&mut self, mut member: Member<F>) {
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.handoff.send(member) {
                Ok(()) => {
                    self.leased += 1;
                    return;
                }
                // The waiter's receiver is gone without withdrawing (it cannot, normally); next.
                Err(returned) => member = returned,
            }
        }
        self.idle.push_back(member);
    }
}
