//! `GET /errors/{id}` and `GET /warnings/{id}`, the pair endpoints: those of the Go server this
//! gateway replaced, with the same messages.
//!
//! Each request is one transaction of two keyless records whose values are
//! `<tag>: <n> - pro: <transactional id> - usr: <id>` with `n` = 1, 2 and tag `err` or `war`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;

use hyper::Request;
use hyper::body::Incoming;

use super::idempotent;
use crate::backend::{Backend, OutRecord, ProducerInfo};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::response::Body;
use crate::http::routes::decode_segment;
use crate::http::state::AppState;

/// Which of the two pair endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// `/errors/{id}`
    Errors,
    /// `/warnings/{id}`
    Warnings,
}

/// Handles a pair endpoint; 200 only once the transaction committed.
pub async fn handle<B: Backend>(
    state: &Arc<AppState<B>>,
    kind: PairKind,
    raw_id: &str,
    request: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let user = decode_segment(raw_id)?;
    if user.len() > state.config.max_id_bytes {
        return Err(ApiError::bad_request(
            ErrorCode::IdTooLong,
            format!(
                "id is {} bytes, over the limit of {}",
                user.len(),
                state.config.max_id_bytes
            ),
        ));
    }
    let (topic, tag) = match kind {
        PairKind::Errors => (state.config.errors_topic.clone(), "err"),
        PairKind::Warnings => (state.config.warnings_topic.clone(), "war"),
    };
    let identity = idempotent::identity(request.headers(), "GET", request.uri().path(), b"")?;
    idempotent::commit(state, identity, move |producer: &ProducerInfo| {
        (1..=2)
            .map(|n| OutRecord {
                topic: topic.clone(),
                partition: None,
                key: None,
                value: Some(Bytes::from(pair_value(
                    tag,
                    n,
                    &producer.transactional_id,
                    &user,
                ))),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect()
    })
    .await
}

/// The message text (the same as the Go server this gateway replaced).
pub fn pair_value(tag: &str, n: u32, transactional_id: &str, user: &str) -> String {
    format!("{tag}: {n} - pro: {transactional_id} - usr: {user}")
}

#[cfg(test)]
mod tests {
    use super::pair_value;

    #[test]
    fn values_follow_the_go_servers_format() {
        assert_eq!(
            pair_value("err", 2, "kafkatx-a-3", "42"),
            "err: 2 - pro: kafkatx-a-3 - usr: 42"
        );
    }
}
