//! Cross-origin requests from browsers (the Fetch standard's CORS protocol,
//! <https://fetch.spec.whatwg.org/#http-cors-protocol>), off unless origins are configured.
//!
//! With `--cors-origin` set, a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) from an allowed origin is answered 204 with the methods of the
//! path and the request headers we read; every answer to an allowed origin carries
//! `Access-Control-Allow-Origin`. Other origins get no CORS header, so browsers keep the answer
//! from their scripts; the request itself is served as for any other client (CORS protects
//! browsers' users, it is not access control).

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::http::config::ServerConfig;
use crate::http::error::ApiError;
use crate::http::response::Body;
use crate::http::routes;

/// Request headers a browser may send beyond the CORS-safelisted ones. `authorization` for
/// `--api-keys`: the Fetch standard never lets a wildcard cover it, so it is named.
const ALLOWED_HEADERS: &str = "content-type, content-encoding, x-request-id, authorization";

/// Response headers scripts may read beyond the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, allow, www-authenticate";

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// Checks an origin setting: `*` or `scheme://host[:port]` with no path, as browsers send
/// `Origin` (RFC 6454 section 6.1), so that a trailing slash cannot silently allow nothing.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_owned());
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') && text.is_ascii() => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an origin: use scheme://host[:port] without a path, or *"
        )),
    }
}

fn allowed<'a>(config: &ServerConfig, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
    let origin = origin?;
    let text = origin.to_str().ok()?;
    config
        .cors_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed == text)
        .then_some(origin)
}

/// The answer to a CORS preflight from an allowed origin, or `None` when the request is not one
/// (it is then routed as usual, and an `OPTIONS` gets 405).
pub fn preflight<T>(
    config: &ServerConfig,
    request: &Request<T>,
) -> Option<Result<Response<Body>, ApiError>> {
    if request.method() != Method::OPTIONS
        || !request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    allowed(config, request.headers().get(header::ORIGIN))?;
    let Some((endpoint, _)) = routes::match_path(request.uri().path()) else {
        return Some(Err(ApiError::NotFound));
    };
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(endpoint.allow),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECS),
    );
    Some(Ok(response))
}

/// Adds the CORS headers of an answer to a request from `origin`.
pub fn decorate(config: &ServerConfig, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    if config.cors_origins.is_empty() {
        return;
    }
    // The answer depends on Origin, so caches must keep one copy per origin.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = allowed(config, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_scheme_host_port_or_star() {
        assert_eq!(
            parse_origin(" https://app.example:8443 ").unwrap(),
            "https://app.example:8443"
        );
        assert_eq!(parse_origin("*").unwrap(), "*");
        for bad in [
            "https://app.example/",
            "app.example",
            "ftp://x",
            "https://",
            "http://a/b",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
