//! Request dispatch: one span per request, CORS, routing, the caller and its rights, the
//! handler, then the request id, metrics and the log line.

mod access;
mod health;
mod idempotent;
mod pair;
mod records;
mod topics;
mod transaction;

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hyper::Request;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::Instrument;

use crate::backend::Backend;
use crate::http::cors;
use crate::http::error::ApiError;
use crate::http::metrics::RequestLabels;
use crate::http::openapi;
use crate::http::response::{self, Body};
use crate::http::routes::{self, Route, UNMATCHED_LABEL};
use crate::http::server::Peer;
use crate::http::state::AppState;
use access::Caller;

/// The header that names a request in the client's logs and ours.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen request id we echo; longer ones are replaced. Long enough for a UUID
/// with a prefix, short enough to keep log lines sane.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Metrics label of answered CORS preflights.
const PREFLIGHT_LABEL: &str = "cors_preflight";

/// Answers one request. Never fails: every error becomes a JSON answer.
pub async fn handle<B: Backend>(
    state: Arc<AppState<B>>,
    peer: Arc<Peer>,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request_id(request.headers());
    let origin = request.headers().get(hyper::header::ORIGIN).cloned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        %method,
        route = tracing::field::Empty,
        caller = tracing::field::Empty
    );
    async move {
        let (label, result) = match cors::preflight(&state.config, &request) {
            Some(answer) => (PREFLIGHT_LABEL, answer),
            None => match routes::route(&method, &path) {
                Ok(route) => {
                    tracing::Span::current().record("route", route.label());
                    let answer = match access::authenticate(
                        &state.config,
                        &route,
                        &peer,
                        request.headers_mut(),
                    ) {
                        Ok(caller) => {
                            if let Some(name) = caller.name() {
                                tracing::Span::current().record("caller", name);
                            }
                            dispatch(&state, route, caller, request).await
                        }
                        Err(refused) => Err(refused),
                    };
                    (route.label(), answer)
                }
                Err(err) => (UNMATCHED_LABEL, Err(err)),
            },
        };
        let mut response =
            result.unwrap_or_else(|err| response::error(&err, state.config.retry_after_secs));
        cors::decorate(&state.config, origin.as_ref(), response.headers_mut());
        // Only ids we generated or checked to be visible ASCII get here, so this cannot fail.
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
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

/// The client's `X-Request-Id` if it is sane (1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters, so it cannot forge log lines or headers), otherwise a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    let mut given = headers.get_all(&X_REQUEST_ID).iter();
    let sane = match (given.next(), given.next()) {
        (Some(value), None) => {
            let bytes = value.as_bytes();
            let ok = !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(u8::is_ascii_graphic);
            ok.then(|| String::from_utf8_lossy(bytes).into_owned())
        }
        _ => None,
    };
    sane.unwrap_or_else(generate_request_id)
}

/// `<16 hex digits random per process>-<counter>`: unique within a process by the counter and,
/// with overwhelming likelihood, across processes and restarts by the random part.
fn generate_request_id() -> String {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| {
        // std's hasher keys are random per process; no extra dependency needed for 64 bits.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hasher.finish()
    });
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:016x}-{}", *PROCESS, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Answers a request whose caller is known. Every write checks the caller's rights on all its
/// topics before a producer is leased.
async fn dispatch<B: Backend>(
    state: &Arc<AppState<B>>,
    route: Route<'_>,
    caller: Caller,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Errors(raw_id) => {
            caller.may_write([state.config.errors_topic.as_str()])?;
            pair::handle(state, pair::PairKind::Errors, raw_id, &request).await
        }
        Route::Warnings(raw_id) => {
            caller.may_write([state.config.warnings_topic.as_str()])?;
            pair::handle(state, pair::PairKind::Warnings, raw_id, &request).await
        }
        Route::TopicRecords(raw_topic) => records::topic(state, caller, raw_topic, request).await,
        Route::Transactions => records::multi_topic(state, caller, request).await,
        Route::Topics => topics::list(state).await,
        Route::Topic(raw_topic) => topics::describe(state, raw_topic).await,
        Route::Healthz => Ok(health::healthz()),
        Route::Readyz => Ok(health::readyz(state).await),
        Route::Metrics => {
            if state.config.metrics_require_key {
                caller.may_read_metrics()?;
            }
            health::metrics(state)
        }
        Route::OpenApi => Ok(response::with_body(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(openapi::DOCUMENT.as_bytes()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                X_REQUEST_ID.clone(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn sane_ids_are_echoed_and_others_replaced() {
        assert_eq!(request_id(&headers(&[b"abc-123_X.y"])), "abc-123_X.y");
        let long = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(request_id(&headers(&[long.as_bytes()])), long);
        for bad in [
            &b"has space"[..],
            "a".repeat(MAX_REQUEST_ID_LEN + 1).as_bytes(),
            b"caf\xc3\xa9",
            b"",
        ] {
            let id = request_id(&headers(&[bad]));
            assert_ne!(id.as_bytes(), bad);
            assert!(
                id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
                "{id}"
            );
        }
        assert_ne!(request_id(&headers(&[b"a", b"b"])), "a");
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(generate_request_id(), generate_request_id());
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }
}
