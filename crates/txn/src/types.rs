//! Values that cross the boundary of the sans-IO machine: records in, typed requests out,
//! typed responses in, events out.

use std::fmt;

use bytes::Bytes;
use kafkatx_wire::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};

use crate::error::{Operation, TxnError};

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// Convenience constructor.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header key.
    pub key: String,
    /// Header value (may be null).
    pub value: Option<Bytes>,
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Destination topic.
    pub topic: String,
    /// Explicit partition; `None` lets the partitioner choose (by default murmur2 of the key,
    /// or without a key the topic's current sticky partition; see [`crate::PartitionerClass`]).
    pub partition: Option<i32>,
    /// Record key.
    pub key: Option<Bytes>,
    /// Record value.
    pub value: Option<Bytes>,
    /// Headers, in order (duplicates allowed).
    pub headers: Vec<RecordHeader>,
    /// Create time in ms since the epoch; the machine never reads a clock, so the caller
    /// (the handle) fills it.
    pub timestamp_ms: i64,
}

impl ProducerRecord {
    /// A record with a value only.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp_ms: 0,
        }
    }

    /// Set the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Set an explicit partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Set the create timestamp.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }
}

/// Identifies an appended record in later events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RecordToken(pub u64);

/// Where a record ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic and partition.
    pub partition: TopicPartition,
    /// Offset of the record, -1 when the broker answered DUPLICATE_SEQUENCE_NUMBER.
    pub offset: i64,
}

/// The producer id and epoch in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProducerIdentity {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
}

/// Identifies a request handed to the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RequestId(pub u64);

/// Where the driver must send a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Destination {
    /// Any reachable broker (bootstrap or known).
    AnyBroker,
    /// A specific broker.
    Broker {
        /// Kafka node id.
        node_id: i32,
        /// `host:port`.
        address: String,
    },
}

/// A typed request, not yet encoded.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
#[non_exhaustive]
pub enum Request {
    /// Metadata.
    Metadata(MetadataRequest),
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorRequest),
    /// InitProducerId.
    InitProducerId(InitProducerIdRequest),
    /// AddPartitionsToTxn (v<=3 fields).
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// AddOffsetsToTxn (classic protocol: the group's offsets partition joins the transaction).
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// TxnOffsetCommit, to the group coordinator.
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// EndTxn.
    EndTxn(EndTxnRequest),
    /// Produce.
    Produce(ProduceRequest),
}

impl Request {
    /// The Kafka name of the request, for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Request::Metadata(_) => "Metadata",
            Request::FindCoordinator(_) => "FindCoordinator",
            Request::InitProducerId(_) => "InitProducerId",
            Request::AddPartitionsToTxn(_) => "AddPartitionsToTxn",
            Request::AddOffsetsToTxn(_) => "AddOffsetsToTxn",
            Request::TxnOffsetCommit(_) => "TxnOffsetCommit",
            Request::EndTxn(_) => "EndTxn",
            Request::Produce(_) => "Produce",
        }
    }
}

/// A typed response.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
#[non_exhaustive]
pub enum Response {
    /// Metadata.
    Metadata(MetadataResponse),
    /// FindCoordinator.
    FindCoordinator(FindCoordinatorResponse),
    /// InitProducerId.
    InitProducerId(InitProducerIdResponse),
    /// AddPartitionsToTxn.
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    /// AddOffsetsToTxn.
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    /// TxnOffsetCommit.
    TxnOffsetCommit(TxnOffsetCommitResponse),
    /// EndTxn.
    EndTxn(EndTxnResponse),
    /// Produce.
    Produce(ProduceResponse),
}

/// A request the driver must send, at exactly `version`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transmit {
    /// Correlates the answer.
    pub id: RequestId,
    /// Target broker.
    pub destination: Destination,
    /// The request.
    pub request: Request,
    /// The version chosen from the broker's ApiVersions and the machine's caps.
    pub version: i16,
}

/// Something the application is waiting for has happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TxnEvent {
    /// A blocking operation (init, commit, abort, flush, send_offsets) finished.
    OperationDone {
        /// The operation.
        op: Operation,
        /// Its result.
        result: Result<(), TxnError>,
    },
    /// Records were acknowledged or failed.
    RecordsDone {
        /// Tokens in record order; record `i` has offset `base_offset + i`.
        tokens: Vec<RecordToken>,
        /// Partition and base offset, or the failure.
        result: Result<RecordMetadata, TxnError>,
    },
}
