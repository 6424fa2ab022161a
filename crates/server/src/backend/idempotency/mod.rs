//! `Idempotency-Key`: a client that retries a write with the same key gets the first attempt's
//! result, and the records exist once, across gateway instances and crashes.
//!
//! The state is in Kafka, never only in one instance's memory: each keyed transaction also
//! writes a claim and a result marker to the key's partition of a marker topic. The design and
//! the argument that it is correct are in docs/ARCHITECTURE.md ("Idempotency keys").

mod key;
mod log;
mod marker;
mod run;
mod view;

pub use key::{HEADER, IdempotentRequest, MAX_KEY_BYTES, REPLAYED_HEADER, parse_key};
pub use log::{LookupError, MarkerLog, MarkerSettings, OpenError};
pub(crate) use run::run_once;
