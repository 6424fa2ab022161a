//! `GET /healthz`, `GET /readyz` and `GET /metrics`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::backend::{Backend, Readiness};
use crate::http::error::ApiError;
use crate::http::metrics::CONTENT_TYPE;
use crate::http::response::{self, Body};
use crate::http::state::AppState;

/// A readiness probe must answer even when the backend hangs.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    producers_ready: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// The process answers, so it is alive.
pub fn healthz() -> Response<Body> {
    let status = Status {
        status: "ok",
        producers_ready: None,
        cluster_reachable: None,
        detail: None,
    };
    response::json(StatusCode::OK, &status)
}

/// 200 when a producer is ready and the cluster reachable; 503 otherwise or while draining.
pub async fn readyz<B: Backend>(state: &Arc<AppState<B>>) -> Response<Body> {
    if state.is_draining() {
        let status = Status {
            status: "draining",
            producers_ready: None,
            cluster_reachable: None,
            detail: Some("the server is shutting down".to_owned()),
        };
        return response::json(StatusCode::SERVICE_UNAVAILABLE, &status);
    }
    let readiness = tokio::time::timeout(READINESS_TIMEOUT, state.backend.ready())
        .await
        .unwrap_or_else(|_| Readiness {
            producers_ready: 0,
            cluster_reachable: false,
            detail: Some("the backend did not answer the readiness check in time".to_owned()),
        });
    let (code, word) = if readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let status = Status {
        status: word,
        producers_ready: Some(readiness.producers_ready),
        cluster_reachable: Some(readiness.cluster_reachable),
        detail: readiness.detail,
    };
    response::json(code, &status)
}

/// The Prometheus exposition.
pub fn metrics<B>(state: &Arc<AppState<B>>) -> Result<Response<Body>, ApiError> {
    let text = state
        .metrics
        .encode()
        .map_err(|e| ApiError::Internal(format!("metrics encoding failed: {e}")))?;
    Ok(response::with_body(
        StatusCode::OK,
        CONTENT_TYPE,
        Bytes::from(text),
    ))
}
