//! Request and response encoding on top of `kafka-protocol`'s generated messages.
//!
//! A request frame is `RequestHeader` + body, each at the version the API key dictates; a
//! response frame is `ResponseHeader` (whose first field, the correlation id, is the same in
//! every header version) + body.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{Buf, Bytes, BytesMut};

use crate::error::WireError;
use crate::frame::write_frame;
use crate::protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use crate::protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// Appends one complete request frame (length prefix, header, body) to `out`.
pub fn encode_request<R: Request>(
    out: &mut BytesMut,
    correlation_id: i32,
    client_id: &str,
    request: &R,
    version: i16,
) -> Result<(), WireError> {
    let api = api_key_of::<R>();
    let encode_error = |message: String| WireError::Encode {
        api,
        version,
        message,
    };
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let header_version = api.request_header_version(version);
    let start = out.len();
    let written = write_frame(out, |buf| {
        header
            .encode(buf, header_version)
            .map_err(|e| encode_error(e.to_string()))?;
        request
            .encode(buf, version)
            .map_err(|e| encode_error(e.to_string()))
    });
    if written.is_err() {
        // Leave no half-written frame behind for the next request.
        out.truncate(start);
    }
    written
}

/// Reads the correlation id of a response frame without consuming it.
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    let id: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(id))
}

/// Decodes a whole response frame (header + body) of request type `R` sent at `version`.
pub fn decode_response<R: Request>(frame: Bytes, version: i16) -> Result<R::Response, WireError> {
    let api = api_key_of::<R>();
    let decode_error = |message: String| WireError::Decode {
        api,
        version,
        message,
    };
    let mut buf = frame;
    let header_version = api.response_header_version(version);
    // The generated decoders report short input as errors, but they are third-party code fed
    // with bytes from the network: a panic inside them must become an error, not a crash.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        ResponseHeader::decode(&mut buf, header_version)
            .and_then(|_| R::Response::decode(&mut buf, version))
    }));
    match decoded {
        Ok(Ok(response)) => {
            if buf.has_remaining() {
                tracing::trace!(
                    ?api,
                    version,
                    extra = buf.remaining(),
                    "answer has trailing bytes"
                );
            }
            Ok(response)
        }
        Ok(Err(e)) => Err(decode_error(e.to_string())),
        Err(_) => Err(decode_error(
            "the decoder panicked on this input".to_owned(),
        )),
    }
}

/// The `ApiKey` of a request type.
pub fn api_key_of<R: Request>() -> ApiKey {
    // Every `Request` implementation in kafka-protocol carries a key that `ApiKey` knows.
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::split_frame;
    use crate::protocol::messages::{
        ApiVersionsRequest, ApiVersionsResponse, EndTxnRequest, FindCoordinatorRequest,
    };
    use crate::protocol::protocol::decode_request_header_from_buffer;
    use bytes::BufMut;

    #[test]
    fn request_frame_carries_header_and_body() {
        let mut out = BytesMut::new();
        let req = EndTxnRequest::default()
            .with_transactional_id(StrBytes::from_static_str("t1").into())
            .with_producer_id(crate::protocol::messages::ProducerId(7))
            .with_committed(true);
        encode_request(&mut out, 42, "kafkatx", &req, 3).unwrap();
        let mut frame = split_frame(&mut out, 1 << 20).unwrap().unwrap().freeze();
        let header = decode_request_header_from_buffer(&mut frame).unwrap();
        assert_eq!(header.request_api_key, ApiKey::EndTxn as i16);
        assert_eq!(header.request_api_version, 3);
        assert_eq!(header.correlation_id, 42);
        let body = EndTxnRequest::decode(&mut frame, 3).unwrap();
        assert_eq!(body, req);
    }

    #[test]
    fn a_field_the_version_lacks_is_an_encode_error_and_leaves_no_bytes() {
        let mut out = BytesMut::from(&b"keep"[..]);
        // FindCoordinator v4+ carries keys in an array; the single `key` field is gone.
        let req = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("txn"));
        let err = encode_request(&mut out, 1, "c", &req, 4).unwrap_err();
        assert!(matches!(err, WireError::Encode { version: 4, .. }), "{err}");
        assert_eq!(&out[..], b"keep");
    }

    #[test]
    fn response_round_trips_and_garbage_is_an_error() {
        let resp = ApiVersionsResponse::default().with_throttle_time_ms(9);
        let mut buf = BytesMut::new();
        buf.put_i32(5);
        resp.encode(&mut buf, 3).unwrap();
        let frame = buf.freeze();
        assert_eq!(peek_correlation_id(&frame), Some(5));
        let back = decode_response::<ApiVersionsRequest>(frame.clone(), 3).unwrap();
        assert_eq!(back.throttle_time_ms, 9);
        let truncated = frame.slice(..frame.len() - 3);
        assert!(decode_response::<ApiVersionsRequest>(truncated, 3).is_err());
        assert_eq!(peek_correlation_id(&[1, 2]), None);
    }

    /// A 12-byte answer announcing 2^31-1 topics once made the allocator abort the process
    /// (see vendor/kafka-protocol/KAFKATX-PATCH.md); it must be a plain decode error.
    #[test]
    fn a_hostile_array_length_is_an_error_not_an_abort() {
        let mut buf = BytesMut::new();
        buf.put_i32(1); // correlation id
        buf.put_i32(0); // throttle_time_ms
        buf.put_i32(i32::MAX); // number of topic responses
        let err = decode_response::<crate::protocol::messages::FetchRequest>(buf.freeze(), 4);
        assert!(matches!(err, Err(WireError::Decode { .. })));
    }
}
