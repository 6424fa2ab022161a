//! Kafka error codes by name, for the tests: `Fault::Error(NOT_COORDINATOR)`, not
//! `Fault::Error(16)`.

use kafkatx_wire::protocol::error::ResponseError;

pub(super) const CLUSTER_AUTHORIZATION_FAILED: i16 =
    ResponseError::ClusterAuthorizationFailed.code();
pub(super) const CONCURRENT_TRANSACTIONS: i16 = ResponseError::ConcurrentTransactions.code();
pub(super) const COORDINATOR_LOAD_IN_PROGRESS: i16 =
    ResponseError::CoordinatorLoadInProgress.code();
pub(super) const COORDINATOR_NOT_AVAILABLE: i16 = ResponseError::CoordinatorNotAvailable.code();
pub(super) const DUPLICATE_SEQUENCE_NUMBER: i16 = ResponseError::DuplicateSequenceNumber.code();
pub(super) const FENCED_INSTANCE_ID: i16 = ResponseError::FencedInstanceId.code();
pub(super) const GROUP_AUTHORIZATION_FAILED: i16 = ResponseError::GroupAuthorizationFailed.code();
pub(super) const GROUP_ID_NOT_FOUND: i16 = ResponseError::GroupIdNotFound.code();
pub(super) const ILLEGAL_GENERATION: i16 = ResponseError::IllegalGeneration.code();
pub(super) const INVALID_GROUP_ID: i16 = ResponseError::InvalidGroupId.code();
pub(super) const INVALID_PRODUCER_EPOCH: i16 = ResponseError::InvalidProducerEpoch.code();
pub(super) const INVALID_PRODUCER_ID_MAPPING: i16 = ResponseError::InvalidProducerIdMapping.code();
pub(super) const INVALID_RECORD: i16 = ResponseError::InvalidRecord.code();
pub(super) const INVALID_REQUEST: i16 = ResponseError::InvalidRequest.code();
pub(super) const INVALID_TRANSACTION_TIMEOUT: i16 = ResponseError::InvalidTransactionTimeout.code();
pub(super) const INVALID_TXN_STATE: i16 = ResponseError::InvalidTxnState.code();
pub(super) const KAFKA_STORAGE_ERROR: i16 = ResponseError::KafkaStorageError.code();
pub(super) const LEADER_NOT_AVAILABLE: i16 = ResponseError::LeaderNotAvailable.code();
pub(super) const MESSAGE_TOO_LARGE: i16 = ResponseError::MessageTooLarge.code();
pub(super) const NETWORK_EXCEPTION: i16 = ResponseError::NetworkException.code();
pub(super) const NOT_COORDINATOR: i16 = ResponseError::NotCoordinator.code();
pub(super) const NOT_ENOUGH_REPLICAS: i16 = ResponseError::NotEnoughReplicas.code();
pub(super) const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 =
    ResponseError::NotEnoughReplicasAfterAppend.code();
pub(super) const NOT_LEADER_OR_FOLLOWER: i16 = ResponseError::NotLeaderOrFollower.code();
pub(super) const OPERATION_NOT_ATTEMPTED: i16 = ResponseError::OperationNotAttempted.code();
pub(super) const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = ResponseError::OutOfOrderSequenceNumber.code();
pub(super) const PRODUCER_FENCED: i16 = ResponseError::ProducerFenced.code();
pub(super) const REQUEST_TIMED_OUT: i16 = ResponseError::RequestTimedOut.code();
pub(super) const STALE_MEMBER_EPOCH: i16 = ResponseError::StaleMemberEpoch.code();
pub(super) const TOPIC_AUTHORIZATION_FAILED: i16 = ResponseError::TopicAuthorizationFailed.code();
pub(super) const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 =
    ResponseError::TransactionalIdAuthorizationFailed.code();
pub(super) const TRANSACTION_ABORTABLE: i16 = ResponseError::TransactionAbortable.code();
pub(super) const UNKNOWN_MEMBER_ID: i16 = ResponseError::UnknownMemberId.code();
pub(super) const UNKNOWN_PRODUCER_ID: i16 = ResponseError::UnknownProducerId.code();
pub(super) const UNKNOWN_SERVER_ERROR: i16 = ResponseError::UnknownServerError.code();
pub(super) const UNKNOWN_TOPIC_OR_PARTITION: i16 = ResponseError::UnknownTopicOrPartition.code();
pub(super) const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 =
    ResponseError::UnsupportedForMessageFormat.code();
pub(super) const UNSUPPORTED_VERSION: i16 = ResponseError::UnsupportedVersion.code();
