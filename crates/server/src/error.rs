//! [`ApiError`]: every way a request can fail, and its HTTP status and JSON body.
//!
//! The body shape is stable: `{"error": {"code": "...", "message": "...", "outcome": "..."}}`.
//! `code` is a fixed snake_case word clients may match on; `outcome` says what happened to the
//! records: `none` (nothing was attempted or written), `aborted` (nothing is visible) or `unknown`
//! (the commit may or may not have taken effect).

use hyper::StatusCode;
use serde::Serialize;

use crate::backend::TxnFailure;

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

/// A request failure, mapped to one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
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
        code: &'static str,
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
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
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
        }
    }

    /// The stable `code` field of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::BadRequest { code, .. } => code,
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::ShuttingDown => "shutting_down",
            Self::Txn(TxnFailure::Invalid(_)) => "rejected_by_broker",
            Self::Txn(TxnFailure::Saturated) => "saturated",
            Self::Txn(TxnFailure::LeaseTimeout) => "lease_timeout",
            Self::Txn(TxnFailure::Unavailable(_)) => "broker_unavailable",
            Self::Txn(TxnFailure::Aborted(_)) => "transaction_aborted",
            Self::Txn(TxnFailure::OutcomeUnknown(_)) => "outcome_unknown",
            Self::TaskLost(_) | Self::Internal(_) => "internal",
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
        self.status() == StatusCode::SERVICE_UNAVAILABLE
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
        assert!(!ApiError::bad_request("invalid_json", "x").is_retryable_later());
    }
}
