//! Maps a method and a raw path to a [`Route`]; nothing else.
//!
//! Path segments are kept percent-encoded here and decoded by [`decode_segment`] in the handler
//! that needs them, so that a bad escape in an id is a 400 of that endpoint, not a 404.

use hyper::Method;

use crate::error::ApiError;

/// An endpoint with its raw (still percent-encoded) path parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /errors/{id}`: the seed's two-message transaction to the errors topic.
    Errors(&'a str),
    /// `GET /warnings/{id}`: the seed's two-message transaction to the warnings topic.
    Warnings(&'a str),
    /// `POST /v1/topics/{topic}/records`: records for one topic in one transaction.
    TopicRecords(&'a str),
    /// `POST /v1/transactions`: records for several topics in one transaction.
    Transactions,
    /// `GET /healthz`: the process is alive.
    Healthz,
    /// `GET /readyz`: producers are ready and the cluster is reachable.
    Readyz,
    /// `GET /metrics`: Prometheus text exposition.
    Metrics,
}

impl Route<'_> {
    /// A fixed, low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Errors(_) => "errors",
            Self::Warnings(_) => "warnings",
            Self::TopicRecords(_) => "topic_records",
            Self::Transactions => "transactions",
            Self::Healthz => "healthz",
            Self::Readyz => "readyz",
            Self::Metrics => "metrics",
        }
    }
}

/// Label used for requests that matched no route.
pub const UNMATCHED_LABEL: &str = "unmatched";

/// Finds the route of a request, or the 404/405 to answer.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let first = segments.next().unwrap_or_default();
    let rest: Vec<&'a str> = segments.collect();
    let (found, allow) = match (first, rest.as_slice()) {
        ("errors", [id]) if !id.is_empty() => (Route::Errors(id), "GET"),
        ("warnings", [id]) if !id.is_empty() => (Route::Warnings(id), "GET"),
        ("healthz", []) => (Route::Healthz, "GET"),
        ("readyz", []) => (Route::Readyz, "GET"),
        ("metrics", []) => (Route::Metrics, "GET"),
        ("v1", ["transactions"]) => (Route::Transactions, "POST"),
        ("v1", ["topics", topic, "records"]) if !topic.is_empty() => {
            (Route::TopicRecords(topic), "POST")
        }
        _ => return Err(ApiError::NotFound),
    };
    // HEAD only where GET is safe: a HEAD must never run a transaction.
    let read_only = matches!(found, Route::Healthz | Route::Readyz | Route::Metrics);
    let method_fits = method.as_str() == allow || (read_only && method == Method::HEAD);
    if method_fits {
        Ok(found)
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// Percent-decodes one path segment into UTF-8 text.
///
/// Rejects malformed escapes and byte sequences that are not UTF-8, as clients must learn that
/// their id was mangled instead of having it silently replaced.
pub fn decode_segment(raw: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(byte) = input.next() {
        if byte != b'%' {
            bytes.push(byte);
            continue;
        }
        let high = input.next().and_then(hex_value);
        let low = input.next().and_then(hex_value);
        match (high, low) {
            (Some(high), Some(low)) => bytes.push(high << 4 | low),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_path",
                    "malformed percent-escape in path",
                ));
            }
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("invalid_path", "path segment is not UTF-8"))
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_v1_paths_route_with_their_parameters() {
        assert_eq!(route(&Method::GET, "/errors/42"), Ok(Route::Errors("42")));
        assert_eq!(
            route(&Method::GET, "/warnings/a%20b"),
            Ok(Route::Warnings("a%20b"))
        );
        assert_eq!(
            route(&Method::POST, "/v1/topics/t1/records"),
            Ok(Route::TopicRecords("t1"))
        );
        assert_eq!(
            route(&Method::POST, "/v1/transactions"),
            Ok(Route::Transactions)
        );
        assert_eq!(route(&Method::HEAD, "/healthz"), Ok(Route::Healthz));
    }

    #[test]
    fn empty_or_extra_segments_are_not_found_and_wrong_methods_are_405() {
        assert_eq!(route(&Method::GET, "/errors/"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/errors/a/b"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/"), Err(ApiError::NotFound));
        assert_eq!(
            route(&Method::GET, "/v1/transactions"),
            Err(ApiError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            route(&Method::HEAD, "/errors/1"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
        assert_eq!(
            route(&Method::DELETE, "/errors/1"),
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        );
    }

    #[test]
    fn decoding_accepts_utf8_escapes_and_rejects_bad_ones() {
        assert_eq!(decode_segment("caf%C3%A9%2f1").unwrap(), "café/1");
        assert_eq!(decode_segment("%FF").unwrap_err().code(), "invalid_path");
        assert_eq!(decode_segment("%4").unwrap_err().code(), "invalid_path");
        assert_eq!(decode_segment("%zz").unwrap_err().code(), "invalid_path");
    }
}
