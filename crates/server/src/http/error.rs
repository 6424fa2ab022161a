//! [`ApiError`]: every way a request can fail, and its HTTP status and JSON body.
//!
//! The body shape is stable: `{"error": {"code": "...", "message": "...", "outcome": "..."}}`.
//! `code` is a fixed snake_case word clients may match on; `outcome` says what happened to the
//! records: `none` (nothing was attempted or written), `aborted` (nothing is visible) or `unknown`
//! (the commit may or may not have taken effect).

use hyper::StatusCode;
use serde::Serialize;

use crate::backend::TxnFailure;

/// Declares [`ErrorCode`] and [`ErrorCode::ALL`] from one list, so that the list the OpenAPI
/// document is checked against cannot miss a code.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Every stable `code` an error answer can carry.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case word clients match on.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON or not the documented shape.
    InvalidJson => "invalid_json",
    /// The body carries no record.
    NoRecords => "no_records",
    /// More records than `--max-records`.
    TooManyRecords => "too_many_records",
    /// One record is over `--max-record-bytes`.
    RecordTooLarge => "record_too_large",
    /// A topic name breaks Kafka's rules.
    InvalidTopic => "invalid_topic",
    /// A negative partition.
    InvalidPartition => "invalid_partition",
    /// A timestamp out of range.
    InvalidTimestamp => "invalid_timestamp",
    /// A field declared base64 that is not base64.
    InvalidBase64 => "invalid_base64",
    /// A record of `/v1/transactions` without a topic.
    MissingTopic => "missing_topic",
    /// A record names another topic than the path.
    TopicMismatch => "topic_mismatch",
    /// A path segment with a bad percent-escape or not UTF-8.
    InvalidPath => "invalid_path",
    /// A pair endpoint id over `--max-id-bytes`.
    IdTooLong => "id_too_long",
    /// The body could not be read (or its gzip could not be inflated).
    InvalidBody => "invalid_body",
    /// The broker refused the records (unknown topic, partition out of range).
    RejectedByBroker => "rejected_by_broker",
    /// No API key or client certificate, or one that names no caller.
    Unauthorized => "unauthorized",
    /// The caller may not write to a topic of the request (or read the metrics).
    Forbidden => "forbidden",
    /// No such path.
    NotFound => "not_found",
    /// No such topic in the cluster.
    UnknownTopic => "unknown_topic",
    /// The path exists, not with this method.
    MethodNotAllowed => "method_not_allowed",
    /// The body did not arrive in time.
    BodyTimeout => "body_timeout",
    /// The body (or its gzip-inflated form) is over `--max-body-bytes`.
    BodyTooLarge => "body_too_large",
    /// The body is not `application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// The body's `Content-Encoding` is neither `gzip` nor `identity`.
    UnsupportedContentEncoding => "unsupported_content_encoding",
    /// Too many transactions are waiting.
    Saturated => "saturated",
    /// No producer became free in time.
    LeaseTimeout => "lease_timeout",
    /// The cluster cannot be reached.
    BrokerUnavailable => "broker_unavailable",
    /// The gateway is draining.
    ShuttingDown => "shutting_down",
    /// The transaction was aborted.
    TransactionAborted => "transaction_aborted",
    /// The commit's answer was lost.
    OutcomeUnknown => "outcome_unknown",
    /// The `Idempotency-Key` header is malformed.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// The `Idempotency-Key` was first used for a different request.
    KeyReused => "key_reused",
    /// An earlier request with the same `Idempotency-Key` is still running.
    InProgress => "in_progress",
    /// A bug.
    Internal => "internal",
}

/// What a failed request means for the records it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing was written.
    None,
    /// A transaction was aborted; none of its records are visible to read_committed readers.
    Aborted,
    /// The records may or may not be committed.
    Unknown,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Neither an API key nor a client certificate named in the access file.
    Missing,
    /// An `Authorization` header that is not one `Bearer` key of the access file.
    Invalid,
}

/// A request failure, mapped to one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Authentication is on and the request has no usable credentials.
    #[error("{}", match .0 {
        Unauthenticated::Missing => "this endpoint needs an API key (Authorization: Bearer <key>) \
                                     or a client certificate the access file names",
        Unauthenticated::Invalid => "the API key is not valid (send one key as \
                                     Authorization: Bearer <key>)",
    })]
    Unauthorized(Unauthenticated),
    /// The caller is known but lacks a right the request needs.
    #[error("{0}")]
    Forbidden(String),
    /// No route for this path.
    #[error("no such resource")]
    NotFound,
    /// The path exists but not for this method; `allow` lists the methods that do.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: &'static str,
    },
    /// The request is malformed or breaks a limit other than the body size.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable reason, e.g. `invalid_json`.
        code: ErrorCode,
        /// Human-readable details.
        message: String,
    },
    /// The topic does not exist in the cluster (or is internal).
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// The body's media type or content coding is not one we read.
    #[error("{message}")]
    UnsupportedMediaType {
        /// `unsupported_media_type` or `unsupported_content_encoding`.
        code: ErrorCode,
        /// Human-readable details.
        message: String,
    },
    /// The body is larger than the configured limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The client did not send its body in time.
    #[error("request body not received in time")]
    BodyTimeout,
    /// The server is draining for shutdown.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The transaction backend failed.
    #[error(transparent)]
    Txn(#[from] TxnFailure),
    /// A bug: the transaction task ended without an answer, so its outcome is unknown.
    #[error("internal error: {0}")]
    TaskLost(String),
    /// A bug outside any transaction (e.g. metrics encoding); no records are concerned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error envelope.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The error details.
    pub error: ErrorDetail<'a>,
}

/// The fields of an error answer.
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    /// Stable machine-readable reason.
    pub code: &'a str,
    /// Human-readable details.
    pub message: String,
    /// What happened to the records of the request.
    pub outcome: Outcome,
}

impl ApiError {
    /// Shorthand for a 400 with a code and message.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::UnknownTopic(_) | Self::Txn(TxnFailure::UnknownTopic(_)) => {
                StatusCode::NOT_FOUND
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest { .. } | Self::Txn(TxnFailure::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ShuttingDown
            | Self::Txn(TxnFailure::Saturated)
            | Self::Txn(TxnFailure::LeaseTimeout)
            | Self::Txn(TxnFailure::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Txn(TxnFailure::Aborted(_)) | Self::TaskLost(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            // 502: the gateway lost the broker's answer, which is exactly what happened.
            Self::Txn(TxnFailure::OutcomeUnknown(_)) => StatusCode::BAD_GATEWAY,
            // As the Idempotency-Key draft (section 2.7) asks.
            Self::Txn(TxnFailure::KeyReused) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Txn(TxnFailure::InProgress) => StatusCode::CONFLICT,
        }
    }

    /// The stable `code` field of the JSON body.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The stable code of this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::UnknownTopic(_) => ErrorCode::UnknownTopic,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::BadRequest { code, .. } | Self::UnsupportedMediaType { code, .. } => *code,
            Self::BodyTooLarge { .. } => ErrorCode::BodyTooLarge,
            Self::BodyTimeout => ErrorCode::BodyTimeout,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Txn(TxnFailure::Invalid(_)) => ErrorCode::RejectedByBroker,
            Self::Txn(TxnFailure::UnknownTopic(_)) => ErrorCode::UnknownTopic,
            Self::Txn(TxnFailure::Saturated) => ErrorCode::Saturated,
            Self::Txn(TxnFailure::LeaseTimeout) => ErrorCode::LeaseTimeout,
            Self::Txn(TxnFailure::Unavailable(_)) => ErrorCode::BrokerUnavailable,
            Self::Txn(TxnFailure::Aborted(_)) => ErrorCode::TransactionAborted,
            Self::Txn(TxnFailure::OutcomeUnknown(_)) => ErrorCode::OutcomeUnknown,
            Self::Txn(TxnFailure::KeyReused) => ErrorCode::KeyReused,
            Self::Txn(TxnFailure::InProgress) => ErrorCode::InProgress,
            Self::TaskLost(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the failure means for the request's records.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Txn(TxnFailure::Aborted(_)) => Outcome::Aborted,
            Self::Txn(TxnFailure::OutcomeUnknown(_)) | Self::TaskLost(_) => Outcome::Unknown,
            _ => Outcome::None,
        }
    }

    /// Whether the answer should carry `Retry-After`: the same request may succeed later.
    pub fn is_retryable_later(&self) -> bool {
        matches!(
            self.status(),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                outcome: self.outcome(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_unknown_is_never_reported_as_success_or_abort() {
        let err = ApiError::from(TxnFailure::OutcomeUnknown("end txn lost".into()));
        assert!(err.status().is_server_error());
        assert_eq!(err.outcome(), Outcome::Unknown);
        assert_eq!(err.code(), "outcome_unknown");
    }

    #[test]
    fn only_service_unavailable_answers_are_retryable_later() {
        assert!(ApiError::from(TxnFailure::LeaseTimeout).is_retryable_later());
        assert!(ApiError::ShuttingDown.is_retryable_later());
        assert!(!ApiError::from(TxnFailure::Aborted("x".into())).is_retryable_later());
        assert!(!ApiError::bad_request(ErrorCode::InvalidJson, "x").is_retryable_later());
    }
}
