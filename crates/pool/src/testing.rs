//! A scripted fake of the transaction engine for tests of the pool and of what runs on it (the
//! gateway): a "cluster" that tracks the current epoch of every transactional id (so creating a
//! producer fences the previous one, as InitProducerId does) and hands out scripted outcomes for
//! begin, commit and abort. Only with the `test-util` feature.
// Test support, not product code: a poisoned lock or a scripted panic should fail the test at once.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Health, ProducerFactory, TxnProducer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeError {
    #[error("fenced by a newer producer")]
    Fenced,
    #[error("abortable error")]
    Abortable,
    #[error("fatal error")]
    Fatal,
    #[error("commit outcome unknown")]
    OutcomeUnknown,
    #[error("producer is closed")]
    Closed,
    #[error("no transaction is open")]
    NoTransaction,
    #[error("creating the producer failed")]
    CreateFailed,
}

/// What the next scripted call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Abortable,
    Fatal,
    CommitUnknown,
    /// Abort fails and the producer stays in `NeedsAbort`.
    StayBroken,
    Panic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Created { tid: String, epoch: u32 },
    Begin { tid: String, epoch: u32 },
    Commit { tid: String, epoch: u32 },
    Abort { tid: String, epoch: u32 },
    Closed { tid: String, epoch: u32 },
}

#[derive(Debug, Default)]
pub struct FakeCluster {
    epochs: Mutex<HashMap<String, u32>>,
    create_failures: Mutex<HashMap<String, u32>>,
    create_delays: Mutex<HashMap<String, Duration>>,
    begin_script: Mutex<VecDeque<Outcome>>,
    commit_script: Mutex<VecDeque<Outcome>>,
    abort_script: Mutex<VecDeque<Outcome>>,
    events: Mutex<Vec<Event>>,
    create_attempts: Mutex<HashMap<String, u32>>,
    /// Times a producer was asked to begin while its previous transaction was still open, i.e.
    /// two callers used it at once.
    pub overlapping_begins: AtomicUsize,
}

impl FakeCluster {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes the next `times` creations of `tid` fail.
    pub fn fail_creates(&self, tid: &str, times: u32) {
        self.create_failures
            .lock()
            .unwrap()
            .insert(tid.to_owned(), times);
    }

    /// Makes every creation of `tid` take `delay`.
    pub fn delay_creates(&self, tid: &str, delay: Duration) {
        self.create_delays
            .lock()
            .unwrap()
            .insert(tid.to_owned(), delay);
    }

    pub fn script_begin(&self, outcomes: &[Outcome]) {
        self.begin_script.lock().unwrap().extend(outcomes);
    }

    pub fn script_commit(&self, outcomes: &[Outcome]) {
        self.commit_script.lock().unwrap().extend(outcomes);
    }

    pub fn script_abort(&self, outcomes: &[Outcome]) {
        self.abort_script.lock().unwrap().extend(outcomes);
    }

    /// Another process initialises `tid`: its current producer is fenced.
    pub fn fence(&self, tid: &str) {
        *self
            .epochs
            .lock()
            .unwrap()
            .entry(tid.to_owned())
            .or_default() += 1;
    }

    pub fn epoch(&self, tid: &str) -> u32 {
        self.epochs
            .lock()
            .unwrap()
            .get(tid)
            .copied()
            .unwrap_or_default()
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn create_attempts(&self, tid: &str) -> u32 {
        self.create_attempts
            .lock()
            .unwrap()
            .get(tid)
            .copied()
            .unwrap_or_default()
    }

    pub fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches(e))
            .count()
    }

    pub fn closed_count(&self) -> usize {
        self.count(|e| matches!(e, Event::Closed { .. }))
    }

    fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn next(script: &Mutex<VecDeque<Outcome>>) -> Outcome {
        script.lock().unwrap().pop_front().unwrap_or(Outcome::Ok)
    }
}

#[derive(Debug)]
struct ProducerState {
    epoch: u32,
    health: Health,
    in_transaction: bool,
    closed: bool,
}

#[derive(Debug)]
pub struct FakeProducer {
    tid: String,
    cluster: Arc<FakeCluster>,
    state: Mutex<ProducerState>,
}

impl FakeProducer {
    pub fn tid(&self) -> &str {
        &self.tid
    }

    pub fn epoch(&self) -> u32 {
        self.state.lock().unwrap().epoch
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    /// Fails if the cluster moved past this producer's epoch, as the coordinator would.
    fn check_not_fenced(&self, state: &mut ProducerState) -> Result<(), FakeError> {
        if state.closed {
            return Err(FakeError::Closed);
        }
        if self.cluster.epoch(&self.tid) != state.epoch {
            state.health = Health::Fatal { fenced: true };
            return Err(FakeError::Fenced);
        }
        Ok(())
    }

    fn fail(state: &mut ProducerState, outcome: Outcome) -> Result<(), FakeError> {
        match outcome {
            Outcome::Ok => Ok(()),
            Outcome::Abortable | Outcome::StayBroken => {
                state.health = Health::NeedsAbort;
                Err(FakeError::Abortable)
            }
            Outcome::Fatal => {
                state.health = Health::Fatal { fenced: false };
                Err(FakeError::Fatal)
            }
            Outcome::CommitUnknown => {
                state.health = Health::OutcomeUnknown;
                Err(FakeError::OutcomeUnknown)
            }
            Outcome::Panic => panic!("scripted producer panic"),
        }
    }
}

impl TxnProducer for FakeProducer {
    type Error = FakeError;

    async fn begin(&self) -> Result<(), FakeError> {
        let outcome = FakeCluster::next(&self.cluster.begin_script);
        let mut state = self.state.lock().unwrap();
        self.cluster.record(Event::Begin {
            tid: self.tid.clone(),
            epoch: state.epoch,
        });
        if state.in_transaction {
            self.cluster
                .overlapping_begins
                .fetch_add(1, Ordering::SeqCst);
        }
        if state.closed {
            return Err(FakeError::Closed);
        }
        Self::fail(&mut state, outcome)?;
        state.in_transaction = true;
        Ok(())
    }

    async fn commit(&self) -> Result<(), FakeError> {
        let outcome = FakeCluster::next(&self.cluster.commit_script);
        // A commit takes a round trip, during which other tasks run.
        tokio::task::yield_now().await;
        let mut state = self.state.lock().unwrap();
        self.cluster.record(Event::Commit {
            tid: self.tid.clone(),
            epoch: state.epoch,
        });
        if !state.in_transaction {
            return Err(FakeError::NoTransaction);
        }
        self.check_not_fenced(&mut state)?;
        Self::fail(&mut state, outcome)?;
        state.in_transaction = false;
        Ok(())
    }

    async fn abort(&self) -> Result<(), FakeError> {
        let outcome = FakeCluster::next(&self.cluster.abort_script);
        tokio::task::yield_now().await;
        let mut state = self.state.lock().unwrap();
        self.cluster.record(Event::Abort {
            tid: self.tid.clone(),
            epoch: state.epoch,
        });
        self.check_not_fenced(&mut state)?;
        if matches!(state.health, Health::Fatal { .. }) {
            return Err(FakeError::Fatal);
        }
        if outcome == Outcome::StayBroken {
            state.health = Health::NeedsAbort;
            return Err(FakeError::Abortable);
        }
        Self::fail(&mut state, outcome)?;
        if state.health == Health::OutcomeUnknown {
            // The abort re-initialises the producer, bumping its epoch.
            self.cluster.fence(&self.tid);
            state.epoch = self.cluster.epoch(&self.tid);
        }
        state.in_transaction = false;
        state.health = Health::Ready;
        Ok(())
    }

    async fn close(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.closed {
            state.closed = true;
            self.cluster.record(Event::Closed {
                tid: self.tid.clone(),
                epoch: state.epoch,
            });
        }
    }

    fn health(&self) -> Health {
        self.state.lock().unwrap().health
    }
}

#[derive(Debug, Clone)]
pub struct FakeFactory {
    pub cluster: Arc<FakeCluster>,
}

impl ProducerFactory for FakeFactory {
    type Producer = FakeProducer;

    async fn create(&self, transactional_id: &str) -> Result<FakeProducer, FakeError> {
        let cluster = &self.cluster;
        *cluster
            .create_attempts
            .lock()
            .unwrap()
            .entry(transactional_id.to_owned())
            .or_default() += 1;
        let delay = cluster
            .create_delays
            .lock()
            .unwrap()
            .get(transactional_id)
            .copied();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        {
            let mut failures = cluster.create_failures.lock().unwrap();
            if let Some(remaining) = failures.get_mut(transactional_id).filter(|n| **n > 0) {
                *remaining -= 1;
                return Err(FakeError::CreateFailed);
            }
        }
        // InitProducerId: bump the epoch, fencing whoever held the id before.
        cluster.fence(transactional_id);
        let epoch = cluster.epoch(transactional_id);
        cluster.record(Event::Created {
            tid: transactional_id.to_owned(),
            epoch,
        });
        Ok(FakeProducer {
            tid: transactional_id.to_owned(),
            cluster: Arc::clone(cluster),
            state: Mutex::new(ProducerState {
                epoch,
                health: Health::Ready,
                in_transaction: false,
                closed: false,
            }),
        })
    }
}
