//! Maps a method and a raw path to a [`Route`]; nothing else.
//!
//! Every endpoint is declared once, in [`ENDPOINTS`]: the router matches against that list and
//! the test of the OpenAPI document (`openapi.json`) compares the document with the same list, so
//! a route cannot be added without the document failing its test.
//!
//! Path segments are kept percent-encoded here and decoded by [`decode_segment`] in the handler
//! that needs them, so that a bad escape in an id is a 400 of that endpoint, not a 404.

use hyper::Method;

use crate::http::error::{ApiError, ErrorCode};

/// An endpoint with its raw (still percent-encoded) path parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /errors/{id}`: the pair endpoint's two-message transaction to the errors topic.
    Errors(&'a str),
    /// `GET /warnings/{id}`: the pair endpoint's two-message transaction to the warnings topic.
    Warnings(&'a str),
    /// `POST /v1/topics/{topic}/records`: records for one topic in one transaction.
    TopicRecords(&'a str),
    /// `POST /v1/transactions`: records for several topics in one transaction.
    Transactions,
    /// `GET /v1/topics`: the cluster's topics and their partition counts.
    Topics,
    /// `GET /v1/topics/{topic}`: one topic's partitions.
    Topic(&'a str),
    /// `GET /healthz`: the process is alive.
    Healthz,
    /// `GET /readyz`: producers are ready and the cluster is reachable.
    Readyz,
    /// `GET /metrics`: Prometheus text exposition.
    Metrics,
    /// `GET /openapi.json`: the OpenAPI 3.1 document of this API.
    OpenApi,
}

/// Which endpoint a template is; turned into a [`Route`] once the parameter is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Route::Errors`]
    Errors,
    /// [`Route::Warnings`]
    Warnings,
    /// [`Route::TopicRecords`]
    TopicRecords,
    /// [`Route::Transactions`]
    Transactions,
    /// [`Route::Topics`]
    Topics,
    /// [`Route::Topic`]
    Topic,
    /// [`Route::Healthz`]
    Healthz,
    /// [`Route::Readyz`]
    Readyz,
    /// [`Route::Metrics`]
    Metrics,
    /// [`Route::OpenApi`]
    OpenApi,
}

/// One endpoint: its path template (OpenAPI syntax) and the methods it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint.
    pub kind: Kind,
    /// Path template; `{name}` matches one non-empty segment.
    pub template: &'static str,
    /// Value of `Allow` on a 405, and the methods served: comma-separated.
    pub allow: &'static str,
}

impl Endpoint {
    /// The methods this endpoint answers.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> {
        self.allow.split(',').map(str::trim)
    }
}

/// Every endpoint of the gateway. HEAD only where GET is safe: a HEAD must never run a
/// transaction.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        kind: Kind::Errors,
        template: "/errors/{id}",
        allow: "GET",
    },
    Endpoint {
        kind: Kind::Warnings,
        template: "/warnings/{id}",
        allow: "GET",
    },
    Endpoint {
        kind: Kind::TopicRecords,
        template: "/v1/topics/{topic}/records",
        allow: "POST",
    },
    Endpoint {
        kind: Kind::Transactions,
        template: "/v1/transactions",
        allow: "POST",
    },
    Endpoint {
        kind: Kind::Topics,
        template: "/v1/topics",
        allow: "GET",
    },
    Endpoint {
        kind: Kind::Topic,
        template: "/v1/topics/{topic}",
        allow: "GET",
    },
    Endpoint {
        kind: Kind::Healthz,
        template: "/healthz",
        allow: "GET, HEAD",
    },
    Endpoint {
        kind: Kind::Readyz,
        template: "/readyz",
        allow: "GET, HEAD",
    },
    Endpoint {
        kind: Kind::Metrics,
        template: "/metrics",
        allow: "GET, HEAD",
    },
    Endpoint {
        kind: Kind::OpenApi,
        template: "/openapi.json",
        allow: "GET, HEAD",
    },
];

impl Route<'_> {
    /// A fixed, low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Errors(_) => "errors",
            Self::Warnings(_) => "warnings",
            Self::TopicRecords(_) => "topic_records",
            Self::Transactions => "transactions",
            Self::Topics => "topics",
            Self::Topic(_) => "topic",
            Self::Healthz => "healthz",
            Self::Readyz => "readyz",
            Self::Metrics => "metrics",
            Self::OpenApi => "openapi",
        }
    }
}

/// Label used for requests that matched no route.
pub const UNMATCHED_LABEL: &str = "unmatched";

/// The endpoint whose template matches `path`, with the raw text of its one parameter (empty
/// when the template has none).
pub fn match_path(path: &str) -> Option<(&'static Endpoint, &str)> {
    ENDPOINTS.iter().find_map(|endpoint| {
        match_template(endpoint.template, path).map(|parameter| (endpoint, parameter))
    })
}

fn match_template<'a>(template: &str, path: &'a str) -> Option<&'a str> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut parameter = "";
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(parameter),
            (Some(want), Some(got)) if want.starts_with('{') && want.ends_with('}') => {
                if got.is_empty() {
                    return None;
                }
                parameter = got;
            }
            (Some(want), Some(got)) if want == got => {}
            _ => return None,
        }
    }
}

/// Finds the route of a request, or the 404/405 to answer.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let (endpoint, parameter) = match_path(path).ok_or(ApiError::NotFound)?;
    if !endpoint.methods().any(|m| m == method.as_str()) {
        return Err(ApiError::MethodNotAllowed {
            allow: endpoint.allow,
        });
    }
    Ok(match endpoint.kind {
        Kind::Errors => Route::Errors(parameter),
        Kind::Warnings => Route::Warnings(parameter),
        Kind::TopicRecords => Route::TopicRecords(parameter),
        Kind::Transactions => Route::Transactions,
        Kind::Topics => Route::Topics,
        Kind::Topic => Route::Topic(parameter),
        Kind::Healthz => Route::Healthz,
        Kind::Readyz => Route::Readyz,
        Kind::Metrics => Route::Metrics,
        Kind::OpenApi => Route::OpenApi,
    })
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
                    ErrorCode::InvalidPath,
                    "malformed percent-escape in path",
                ));
            }
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(ErrorCode::InvalidPath, "path segment is not UTF-8"))
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
    fn pair_and_v1_paths_route_with_their_parameters() {
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
        assert_eq!(route(&Method::GET, "/v1/topics"), Ok(Route::Topics));
        assert_eq!(route(&Method::GET, "/v1/topics/t1"), Ok(Route::Topic("t1")));
        assert_eq!(route(&Method::GET, "/openapi.json"), Ok(Route::OpenApi));
    }

    #[test]
    fn empty_or_extra_segments_are_not_found_and_wrong_methods_are_405() {
        assert_eq!(route(&Method::GET, "/errors/"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/errors/a/b"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "/v1/topics/"), Err(ApiError::NotFound));
        assert_eq!(route(&Method::GET, "//healthz"), Err(ApiError::NotFound));
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
