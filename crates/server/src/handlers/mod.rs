//! Request dispatch: one span per request, routing, the handler, then metrics and the log line.

mod health;
mod records;
mod seed;
mod transaction;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use tracing::Instrument;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::metrics::RequestLabels;
use crate::response::{self, Body};
use crate::routes::{self, Route, UNMATCHED_LABEL};
use crate::state::AppState;

/// Numbers requests in logs so that the lines of one request can be grouped.
static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Answers one request. Never fails: every error becomes a JSON answer.
pub async fn handle<B: Backend>(
    state: Arc<AppState<B>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("request", id = request_id, %method, route = tracing::field::Empty);
    async move {
        let (label, result) = match routes::route(&method, &path) {
            Ok(route) => {
                tracing::Span::current().record("route", route.label());
                (route.label(), dispatch(&state, route, request).await)
            }
            Err(err) => (UNMATCHED_LABEL, Err(err)),
        };
        let response =
            result.unwrap_or_else(|err| response::error(&err, state.config.retry_after_secs));
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        state.metrics.observe_request(
            RequestLabels {
                route: label,
                method: method.as_str().to_owned(),
                status,
            },
            elapsed.as_secs_f64(),
        );
        tracing::info!(status, elapsed_ms = elapsed.as_millis(), "answered");
        Ok(response)
    }
    .instrument(span)
    .await
}

async fn dispatch<B: Backend>(
    state: &Arc<AppState<B>>,
    route: Route<'_>,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Errors(raw_id) => seed::handle(state, seed::SeedKind::Errors, raw_id).await,
        Route::Warnings(raw_id) => seed::handle(state, seed::SeedKind::Warnings, raw_id).await,
        Route::TopicRecords(raw_topic) => records::topic(state, raw_topic, request).await,
        Route::Transactions => records::multi_topic(state, request).await,
        Route::Healthz => Ok(health::healthz()),
        Route::Readyz => Ok(health::readyz(state).await),
        Route::Metrics => health::metrics(state),
    }
}
