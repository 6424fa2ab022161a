//! `POST /v1/topics/{topic}/records` and `POST /v1/transactions`: posted records, one transaction.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response, header};

use super::access::Caller;
use super::idempotent;
use crate::backend::Backend;
use crate::http::body::{parse_records, validate_topic};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::response::Body;
use crate::http::routes::decode_segment;
use crate::http::state::AppState;

/// Records for the topic named in the path.
pub async fn topic<B: Backend>(
    state: &Arc<AppState<B>>,
    caller: Caller,
    raw_topic: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let topic = decode_segment(raw_topic)?;
    validate_topic(&topic)?;
    // Before the body is read: a caller without the right costs us no more than its head.
    caller.may_write([topic.as_str()])?;
    let (headers, path) = (request.headers().clone(), request.uri().path().to_owned());
    let body = read_body(
        request,
        state.config.max_body_bytes,
        state.config.body_read_timeout,
    )
    .await?;
    let records = parse_records(&body, Some(&topic), &state.config)?;
    let identity = idempotent::identity(&headers, "POST", &path, &body)?;
    idempotent::commit(state, identity, move |_| records.clone()).await
}

/// Records that each name their topic.
pub async fn multi_topic<B: Backend>(
    state: &Arc<AppState<B>>,
    caller: Caller,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let (headers, path) = (request.headers().clone(), request.uri().path().to_owned());
    let body = read_body(
        request,
        state.config.max_body_bytes,
        state.config.body_read_timeout,
    )
    .await?;
    let records = parse_records(&body, None, &state.config)?;
    // Every topic, before anything is sent: the transaction is all-or-nothing, so is the right.
    caller.may_write(records.iter().map(|record| record.topic.as_str()))?;
    let identity = idempotent::identity(&headers, "POST", &path, &body)?;
    idempotent::commit(state, identity, move |_| records.clone()).await
}

/// How a body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Identity,
    Gzip,
}

/// Checks `Content-Type` (RFC 9110 section 8.3): JSON only, in UTF-8 (RFC 8259 section 8.1 makes
/// UTF-8 the only encoding of JSON exchanged between systems). Required: a body labelled as
/// something else, or not at all, is most likely not what the client meant to send.
fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let unsupported = |message: String| ApiError::UnsupportedMediaType {
        code: ErrorCode::UnsupportedMediaType,
        message,
    };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(unsupported(
            "the body must be sent with one Content-Type: application/json".to_owned(),
        ));
    };
    let text = value.to_str().unwrap_or_default();
    let mut parts = text.split(';');
    let media_type = parts.next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(unsupported(format!(
            "Content-Type {text:?} is not supported; send application/json"
        )));
    }
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err(unsupported(format!(
                "charset {value:?} is not supported; JSON is read as UTF-8"
            )));
        }
    }
    Ok(())
}

/// Reads `Content-Encoding` (RFC 9110 section 8.4): none, `identity` or `gzip` (also its old
/// alias `x-gzip`, which section 8.4.1.3 asks recipients to accept).
fn content_coding(headers: &HeaderMap) -> Result<Coding, ApiError> {
    let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
    let coding = match (values.next(), values.next()) {
        (None, _) => return Ok(Coding::Identity),
        (Some(value), None) => value.to_str().unwrap_or_default().trim(),
        (Some(_), Some(_)) => "(several)",
    };
    if coding.eq_ignore_ascii_case("identity") {
        Ok(Coding::Identity)
    } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
        Ok(Coding::Gzip)
    } else {
        Err(ApiError::UnsupportedMediaType {
            code: ErrorCode::UnsupportedContentEncoding,
            message: format!("Content-Encoding {coding:?} is not supported; send gzip or none"),
        })
    }
}

/// Inflates a gzip body (every member, RFC 1952 section 2.2), refusing more than `limit` bytes of
/// output: a small body that inflates to gigabytes is stopped at `limit + 1`.
fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let mut inflated = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut inflated)
        .map_err(|e| {
            ApiError::bad_request(
                ErrorCode::InvalidBody,
                format!("the gzip body could not be inflated: {e}"),
            )
        })?;
    if inflated.len() > limit {
        return Err(ApiError::BodyTooLarge { limit });
    }
    Ok(Bytes::from(inflated))
}

/// Reads the whole body, refusing more than `limit` bytes (before and after inflating it) or a
/// client slower than `timeout`, after checking its media type and coding.
async fn read_body(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    check_media_type(request.headers())?;
    let coding = content_coding(request.headers())?;
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
    let raw = match collected {
        Ok(body) => body.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::BodyTooLarge { limit });
        }
        Err(e) => return Err(ApiError::bad_request(ErrorCode::InvalidBody, e.to_string())),
    };
    match coding {
        Coding::Identity => Ok(raw),
        Coding::Gzip => gunzip(&raw, limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                header::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn json_in_utf8_is_the_only_media_type() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(
                check_media_type(&with(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
        ] {
            let err = check_media_type(&with(&[("content-type", bad)])).unwrap_err();
            assert_eq!(err.code(), "unsupported_media_type", "{bad}");
        }
        assert!(check_media_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn gzip_and_identity_are_the_only_codings() {
        assert_eq!(content_coding(&HeaderMap::new()).unwrap(), Coding::Identity);
        assert_eq!(
            content_coding(&with(&[("content-encoding", "GZIP")])).unwrap(),
            Coding::Gzip
        );
        for bad in ["br", "deflate", "gzip, gzip"] {
            let err = content_coding(&with(&[("content-encoding", bad)])).unwrap_err();
            assert_eq!(err.code(), "unsupported_content_encoding", "{bad}");
        }
    }

    #[test]
    fn gunzip_is_bounded_and_rejects_garbage() {
        use flate2::Compression;
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&vec![b'x'; 100_000]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1000);
        assert_eq!(gunzip(&bomb, 100_000).unwrap().len(), 100_000);
        assert_eq!(gunzip(&bomb, 99_999).unwrap_err().code(), "body_too_large");
        assert_eq!(gunzip(b"not gzip", 100).unwrap_err().code(), "invalid_body");
    }
}
