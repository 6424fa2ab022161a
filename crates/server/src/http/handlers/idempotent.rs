//! The write endpoints' common ending: one transaction, at most once per `Idempotency-Key`.

use std::sync::Arc;

use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::transaction;
use crate::backend::idempotency::{self, IdempotentRequest};
use crate::backend::{Backend, Committed, Once, OutRecord, ProducerInfo};
use crate::http::body::CommittedJson;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::response::{self, Body};
use crate::http::state::AppState;

/// The request's key and fingerprint when it carries `Idempotency-Key` (one, well formed).
pub fn identity(
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<IdempotentRequest>, ApiError> {
    let mut values = headers.get_all(idempotency::HEADER).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidIdempotencyKey,
                "send one Idempotency-Key header, not several",
            ));
        }
    };
    let key = idempotency::parse_key(value)
        .map_err(|message| ApiError::bad_request(ErrorCode::InvalidIdempotencyKey, message))?;
    Ok(Some(IdempotentRequest::new(key, method, path, body)))
}

/// Runs the records `build` returns as one transaction and answers with where they landed;
/// with a key, an earlier committed attempt's answer is replayed instead, marked so.
pub async fn commit<B, F>(
    state: &Arc<AppState<B>>,
    identity: Option<IdempotentRequest>,
    build: F,
) -> Result<Response<Body>, ApiError>
where
    B: Backend,
    F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
{
    let Some(request) = identity else {
        let committed = transaction::run(state, build).await?;
        return Ok(answer(committed));
    };
    match transaction::run_once(state, request, build).await? {
        Once::Ran(committed) => Ok(answer(committed)),
        Once::Replayed(committed) => {
            let mut response = answer(committed);
            response.headers_mut().insert(
                idempotency::REPLAYED_HEADER,
                HeaderValue::from_static("true"),
            );
            Ok(response)
        }
    }
}

fn answer(committed: Committed) -> Response<Body> {
    response::json(StatusCode::OK, &CommittedJson::from(committed))
}
