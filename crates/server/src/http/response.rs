//! Building HTTP responses without fallible builders: every header value here is static or
//! produced by an infallible conversion, so no response construction can fail at run time.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::http::error::{ApiError, ErrorCode, Unauthenticated};

/// The body type of every response.
pub type Body = Full<Bytes>;

/// A response with `status`, `content_type` and `body`.
pub fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON response. Serialising our own response types cannot fail (no maps with non-string
/// keys, no failing `Serialize` impls); should it ever, the client gets a 500 instead of a panic.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => with_body(status, "application/json", Bytes::from(body)),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            with_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                Bytes::from_static(
                    br#"{"error":{"code":"internal","message":"response serialisation failed","outcome":"unknown"}}"#,
                ),
            )
        }
    }
}

/// The JSON answer of an error, with `Allow` or `Retry-After` where HTTP expects them.
pub fn error(err: &ApiError, retry_after_secs: u32) -> Response<Body> {
    let mut response = json(err.status(), &err.body());
    if let ApiError::MethodNotAllowed { allow } = err {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if err.error_code() == ErrorCode::UnsupportedContentEncoding {
        // RFC 9110 section 15.5.16: a 415 for a content coding says which ones are accepted.
        response
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let ApiError::Unauthorized(why) = err {
        // RFC 9110 section 11.6.1: a 401 names the scheme; RFC 6750 section 3.1: a key that was
        // sent and refused is `invalid_token`.
        let challenge = match why {
            Unauthenticated::Missing => r#"Bearer realm="kafkatx""#,
            Unauthenticated::Invalid => r#"Bearer realm="kafkatx", error="invalid_token""#,
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if err.is_retryable_later() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    response
}
