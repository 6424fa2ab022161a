//! Group commit: the queue through which concurrent requests share one Kafka transaction.
//!
//! Each request stays all-or-nothing: its records go into one transaction together with those of
//! other waiting requests, and every request of the group is answered only after that one commit.
//! A transaction costs the broker the same work whether it carries two records or sixty, so under
//! load this multiplies throughput while changing nothing a read_committed consumer can observe
//! about any single request (see `docs/ARCHITECTURE.md`, "Group commit").
//!
//! This file owns the queue and who owns a queued request; `group_runner.rs` runs the groups.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, oneshot};

use crate::backend::{Committed, OutRecord, ProducerInfo, TxnFailure};

/// Builds a request's records for the producer that runs them; called again if the request has
/// to be retried alone on another producer.
pub type Build = Arc<dyn Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync>;

/// How many topics the queue remembers as known to exist. Past this, requests to topics it does
/// not remember simply run alone; the set is a fast path, not a correctness device.
const KNOWN_TOPICS_LIMIT: usize = 4096;

/// Who owns a queued request. Exactly one side wins the race between a runner taking the
/// request and its waiter giving up, so a request answered "nothing attempted" is never run.
#[derive(Debug, Default)]
pub struct Claim(AtomicU8);

const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const GAVE_UP: u8 = 2;

impl Claim {
    /// The runner takes the request; false if its waiter already gave up.
    fn take(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            // Requeued after a failed group: still ours.
            Err(state) => state == TAKEN,
        }
    }

    /// The waiter gives up; false if a runner already took the request (it must then wait for
    /// the answer, which may be a commit).
    pub fn give_up(&self) -> bool {
        self.0
            .compare_exchange(WAITING, GAVE_UP, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// One request waiting for a transaction.
pub struct Job {
    /// The request's records, built per attempt.
    pub build: Build,
    /// Where the request's outcome goes.
    pub reply: oneshot::Sender<Result<Committed, TxnFailure>>,
    /// Shared with the waiter.
    pub claim: Arc<Claim>,
    /// Must run in a transaction of its own: a group it was in failed, or it touches a topic not
    /// known to exist yet.
    pub alone: bool,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("alone", &self.alone)
            .finish_non_exhaustive()
    }
}

/// Group commit counters, exported by `/metrics`.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Transactions that carried more than one request.
    pub shared_transactions: AtomicU64,
    /// Requests committed inside a shared transaction.
    pub shared_requests: AtomicU64,
    /// Requests retried alone because their group failed.
    pub retried_alone: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    known_topics: HashSet<String>,
    closed: bool,
}

/// The bounded queue of requests waiting for a producer.
#[derive(Debug)]
pub struct JobQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
    max_group: usize,
    stats: GroupStats,
}

impl JobQueue {
    /// A queue admitting at most `capacity` waiting requests and grouping up to `max_group`.
    pub fn new(capacity: usize, max_group: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
            max_group: max_group.max(1),
            stats: GroupStats::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated (every critical
        // section is a single push or pop), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters.
    pub fn stats(&self) -> &GroupStats {
        &self.stats
    }

    /// Requests waiting now.
    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Whether no request waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a request; gives it back when the queue is full or closed.
    pub fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.closed || state.jobs.len() >= self.capacity {
            return Err(job);
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Puts requests of a failed group back at the head, each to run alone. They stay taken:
    /// their waiters already committed to wait for an answer.
    pub fn retry_alone(&self, jobs: Vec<Job>) {
        let count = jobs.len() as u64;
        let mut state = self.lock();
        for mut job in jobs.into_iter().rev() {
            job.alone = true;
            state.jobs.push_front(job);
        }
        drop(state);
        self.stats.retried_alone.fetch_add(count, Ordering::Relaxed);
        for _ in 0..count {
            self.ready.notify_one();
        }
    }

    /// Waits until a request is queued. Returns false once the queue is closed and empty.
    pub async fn wait_for_work(&self) -> bool {
        loop {
            let notified = self.ready.notified();
            {
                let state = self.lock();
                if !state.jobs.is_empty() {
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            notified.await;
        }
    }

    /// Takes the next group: a request that must run alone, or up to `max_group` others in
    /// arrival order. Requests whose waiters gave up are dropped on the way.
    pub fn take_group(&self) -> Vec<Job> {
        let mut state = self.lock();
        let mut group = Vec::new();
        while let Some(front) = state.jobs.front() {
            if group.len() >= self.max_group || (front.alone && !group.is_empty()) {
                break;
            }
            let Some(job) = state.jobs.pop_front() else {
                break;
            };
            if !job.claim.take() {
                continue;
            }
            let alone = job.alone;
            group.push(job);
            if alone {
                break;
            }
        }
        let more = !state.jobs.is_empty();
        drop(state);
        if more {
            // Another runner may take the rest while this one works.
            self.ready.notify_one();
        }
        group
    }

    /// Whether every topic is known to exist (a request to an unknown topic might wait for its
    /// metadata for a long time, and must not hold up the requests grouped with it).
    pub fn topics_known<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> bool {
        let state = self.lock();
        topics
            .into_iter()
            .all(|topic| state.known_topics.contains(topic))
    }

    /// Remembers topics a transaction just committed records to.
    pub fn learn_topics<'a>(&self, topics: impl IntoIterator<Item = &'a str>) {
        let mut state = self.lock();
        for topic in topics {
            if state.known_topics.len() >= KNOWN_TOPICS_LIMIT {
                break;
            }
            if !state.known_topics.contains(topic) {
                state.known_topics.insert(topic.to_owned());
            }
        }
    }

    /// Counts a committed shared transaction of `requests` requests.
    pub fn count_shared(&self, requests: usize) {
        self.stats
            .shared_transactions
            .fetch_add(1, Ordering::Relaxed);
        self.stats
            .shared_requests
            .fetch_add(requests as u64, Ordering::Relaxed);
    }

    /// Refuses new requests and hands back those still waiting, to be answered by the caller.
    pub fn close(&self) -> Vec<Job> {
        let mut state = self.lock();
        state.closed = true;
        let jobs = state.jobs.drain(..).collect();
        drop(state);
        self.ready.notify_waiters();
        jobs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn job(
        alone: bool,
    ) -> (
        Job,
        Arc<Claim>,
        oneshot::Receiver<Result<Committed, TxnFailure>>,
    ) {
        let (reply, answer) = oneshot::channel();
        let claim = Arc::new(Claim::default());
        let build: Build = Arc::new(|_: &ProducerInfo| Vec::new());
        (
            Job {
                build,
                reply,
                claim: Arc::clone(&claim),
                alone,
            },
            claim,
            answer,
        )
    }

    #[test]
    fn groups_take_requests_in_order_up_to_the_limit() {
        let queue = JobQueue::new(10, 2);
        for _ in 0..3 {
            queue.push(job(false).0).unwrap();
        }
        assert_eq!(queue.take_group().len(), 2);
        assert_eq!(queue.take_group().len(), 1);
        assert!(queue.take_group().is_empty());
    }

    #[test]
    fn a_full_queue_gives_the_request_back() {
        let queue = JobQueue::new(1, 4);
        queue.push(job(false).0).unwrap();
        assert!(queue.push(job(false).0).is_err());
    }

    #[test]
    fn a_request_whose_waiter_gave_up_is_never_taken() {
        let queue = JobQueue::new(10, 4);
        let (first, claim, _answer) = job(false);
        queue.push(first).unwrap();
        queue.push(job(false).0).unwrap();
        assert!(claim.give_up());
        assert_eq!(queue.take_group().len(), 1);
    }

    #[test]
    fn a_taken_request_cannot_be_given_up() {
        let queue = JobQueue::new(10, 4);
        let (first, claim, _answer) = job(false);
        queue.push(first).unwrap();
        let group = queue.take_group();
        assert_eq!(group.len(), 1);
        assert!(!claim.give_up(), "the runner owns it now");
    }

    #[test]
    fn retried_requests_run_first_and_alone_and_stay_taken() {
        let queue = JobQueue::new(10, 8);
        queue.push(job(false).0).unwrap();
        queue.push(job(false).0).unwrap();
        let group = queue.take_group();
        let claims: Vec<_> = group.iter().map(|j| Arc::clone(&j.claim)).collect();
        queue.push(job(false).0).unwrap();
        queue.retry_alone(group);
        for claim in &claims {
            let next = queue.take_group();
            assert_eq!(next.len(), 1);
            assert!(Arc::ptr_eq(&next[0].claim, claim), "in their old order");
            assert!(!claim.give_up());
        }
        assert_eq!(queue.take_group().len(), 1, "the newcomer last");
        assert_eq!(queue.stats().retried_alone.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_request_that_must_run_alone_ends_a_group() {
        let queue = JobQueue::new(10, 8);
        queue.push(job(false).0).unwrap();
        queue.push(job(true).0).unwrap();
        queue.push(job(false).0).unwrap();
        assert_eq!(queue.take_group().len(), 1);
        let alone = queue.take_group();
        assert!(alone.len() == 1 && alone[0].alone);
        assert_eq!(queue.take_group().len(), 1);
    }

    #[test]
    fn topics_are_known_once_learned_and_the_set_is_bounded() {
        let queue = JobQueue::new(10, 8);
        assert!(!queue.topics_known(["a"]));
        queue.learn_topics(["a", "b"]);
        assert!(queue.topics_known(["a", "b"]));
        assert!(!queue.topics_known(["a", "c"]));
        let many: Vec<String> = (0..KNOWN_TOPICS_LIMIT + 10)
            .map(|n| n.to_string())
            .collect();
        queue.learn_topics(many.iter().map(String::as_str));
        assert_eq!(queue.lock().known_topics.len(), KNOWN_TOPICS_LIMIT);
    }

    #[tokio::test]
    async fn close_hands_back_waiting_requests_and_refuses_new_ones() {
        let queue = JobQueue::new(10, 8);
        queue.push(job(false).0).unwrap();
        assert_eq!(queue.close().len(), 1);
        assert!(queue.push(job(false).0).is_err());
        assert!(!queue.wait_for_work().await);
    }
}
