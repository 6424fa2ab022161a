//! Transaction states and the one table of allowed transitions.
//!
//! The table is the Java `TransactionManager.isTransitionValid` rule plus one state taken from
//! franz-go: [`TxnState::OutcomeUnknown`], entered when an EndTxn(commit) answer was lost.

/// Where the producer is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnState {
    /// No producer id yet.
    Uninitialized,
    /// InitProducerId (first one or an epoch bump) in progress.
    Initializing,
    /// Has a producer id, no open transaction.
    Ready,
    /// `begin` was called; records may be sent.
    InTransaction,
    /// Flushing, then EndTxn(commit).
    Committing,
    /// Failing unsent records, waiting for in-flight ones, then EndTxn(abort).
    Aborting,
    /// The transaction failed; only abort is allowed.
    AbortableError,
    /// The EndTxn(commit) answer was lost; only abort (an epoch bump) is allowed.
    OutcomeUnknown,
    /// Terminal: only close is allowed.
    FatalError,
}

impl TxnState {
    /// Whether `self -> to` is an allowed transition.
    pub fn can_transition_to(self, to: TxnState) -> bool {
        use TxnState::*;
        match to {
            Uninitialized => matches!(self, Ready | AbortableError | Initializing),
            Initializing => matches!(
                self,
                Uninitialized | Committing | Aborting | OutcomeUnknown | Ready
            ),
            Ready => matches!(self, Initializing | Committing | Aborting),
            InTransaction => matches!(self, Ready),
            Committing => matches!(self, InTransaction),
            Aborting => matches!(self, InTransaction | AbortableError | OutcomeUnknown),
            AbortableError => matches!(
                self,
                InTransaction | Committing | AbortableError | Initializing
            ),
            OutcomeUnknown => matches!(self, Committing),
            FatalError => true,
        }
    }

    /// A transaction is open (records belong to it).
    pub fn has_open_transaction(self) -> bool {
        matches!(
            self,
            TxnState::InTransaction
                | TxnState::Committing
                | TxnState::Aborting
                | TxnState::AbortableError
                | TxnState::OutcomeUnknown
        )
    }
}

/// Every state, in declaration order (the order `StateCell` encodes them in).
#[cfg(any(test, feature = "runtime"))]
const ALL_STATES: [TxnState; 9] = [
    TxnState::Uninitialized,
    TxnState::Initializing,
    TxnState::Ready,
    TxnState::InTransaction,
    TxnState::Committing,
    TxnState::Aborting,
    TxnState::AbortableError,
    TxnState::OutcomeUnknown,
    TxnState::FatalError,
];

/// The machine's state as the driver last published it, read by the handles without asking
/// the driver: a snapshot that may already be stale, never a torn value.
#[cfg(feature = "runtime")]
#[derive(Debug)]
pub(crate) struct StateCell(std::sync::atomic::AtomicU8);

#[cfg(feature = "runtime")]
impl StateCell {
    pub(crate) fn new(state: TxnState) -> Self {
        Self(std::sync::atomic::AtomicU8::new(state as u8))
    }

    pub(crate) fn set(&self, state: TxnState) {
        self.0
            .store(state as u8, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn get(&self) -> TxnState {
        let encoded = self.0.load(std::sync::atomic::Ordering::Acquire);
        ALL_STATES
            .get(usize::from(encoded))
            .copied()
            .unwrap_or(TxnState::FatalError)
    }
}

#[cfg(test)]
mod tests {
    use super::TxnState::{self, *};

    const ALL: [TxnState; 9] = super::ALL_STATES;

    #[cfg(feature = "runtime")]
    #[test]
    fn the_state_cell_round_trips_every_state() {
        let cell = super::StateCell::new(Uninitialized);
        for state in ALL {
            cell.set(state);
            assert_eq!(cell.get(), state);
        }
    }

    #[test]
    fn fatal_is_reachable_from_everywhere_and_leads_nowhere() {
        for state in ALL {
            assert!(state.can_transition_to(FatalError));
            if state != FatalError {
                assert!(!FatalError.can_transition_to(state), "fatal -> {state:?}");
            }
        }
    }

    #[test]
    fn outcome_unknown_only_from_commit_and_only_to_abort_paths() {
        let sources: Vec<_> = ALL
            .iter()
            .filter(|s| s.can_transition_to(OutcomeUnknown))
            .collect();
        assert_eq!(sources, vec![&Committing]);
        let targets: Vec<_> = ALL
            .iter()
            .filter(|t| OutcomeUnknown.can_transition_to(**t))
            .collect();
        assert_eq!(targets, vec![&Initializing, &Aborting, &FatalError]);
    }

    #[test]
    fn java_rules_hold() {
        assert!(Ready.can_transition_to(InTransaction));
        assert!(!Initializing.can_transition_to(InTransaction));
        assert!(!Ready.can_transition_to(Committing));
        assert!(!AbortableError.can_transition_to(Committing));
        assert!(AbortableError.can_transition_to(Aborting));
        assert!(!Aborting.can_transition_to(AbortableError));
        assert!(Committing.can_transition_to(Initializing));
    }
}
