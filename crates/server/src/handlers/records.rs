//! `POST /v1/topics/{topic}/records` and `POST /v1/transactions`: posted records, one transaction.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};

use super::transaction;
use crate::backend::{Backend, OutRecord};
use crate::body::{CommittedJson, parse_records, validate_topic};
use crate::error::ApiError;
use crate::response::{self, Body};
use crate::routes::decode_segment;
use crate::state::AppState;

/// Records for the topic named in the path.
pub async fn topic<B: Backend>(
    state: &Arc<AppState<B>>,
    raw_topic: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let topic = decode_segment(raw_topic)?;
    validate_topic(&topic)?;
    let body = read_body(
        request,
        state.config.max_body_bytes,
        state.config.body_read_timeout,
    )
    .await?;
    let records = parse_records(&body, Some(&topic), &state.config)?;
    commit(state, records).await
}

/// Records that each name their topic.
pub async fn multi_topic<B: Backend>(
    state: &Arc<AppState<B>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_body(
        request,
        state.config.max_body_bytes,
        state.config.body_read_timeout,
    )
    .await?;
    let records = parse_records(&body, None, &state.config)?;
    commit(state, records).await
}

async fn commit<B: Backend>(
    state: &Arc<AppState<B>>,
    records: Vec<OutRecord>,
) -> Result<Response<Body>, ApiError> {
    let committed = transaction::run(state, move |_| records.clone()).await?;
    Ok(response::json(
        StatusCode::OK,
        &CommittedJson::from(committed),
    ))
}

/// Reads the whole body, refusing more than `limit` bytes or a client slower than `timeout`.
async fn read_body(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit_u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let collected =
        tokio::time::timeout(timeout, Limited::new(request.into_body(), limit).collect())
            .await
            .map_err(|_| ApiError::BodyTimeout)?;
    match collected {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::BodyTooLarge { limit })
        }
        Err(e) => Err(ApiError::bad_request("invalid_body", e.to_string())),
    }
}
