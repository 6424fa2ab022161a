//! JSON request and response types of the record endpoints, their validation and size limits.
//!
//! A record's key, value and header values are bytes on the wire. In JSON a string is taken as its
//! UTF-8 bytes, `null` as a Kafka null, and any other JSON value as its compact JSON text, so a
//! client can post structured values without escaping them into strings. Bytes that are not text
//! are posted base64-encoded with `"key_encoding": "base64"`, `"value_encoding": "base64"` (per
//! record) or `"value_encoding": "base64"` (per header): then the field must be a JSON string of
//! base64 (RFC 4648 section 4, the standard alphabet; padding optional) or `null`.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{Committed, OutRecord};
use crate::http::config::ServerConfig;
use crate::http::error::{ApiError, ErrorCode};

/// Longest legal Kafka topic name.
const MAX_TOPIC_NAME_LEN: usize = 249;

/// RFC 4648 base64 with the standard alphabet; padding may be present or not, since clients
/// differ (browsers' `btoa` pads, many URL-minded encoders do not), and non-zero pad bits are
/// ignored as section 3.5 permits (the bytes are the same either way).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// How a key, value or header value is written in JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// A string is its UTF-8 bytes; any other JSON value is its compact JSON text.
    #[default]
    Json,
    /// A string of base64 that decodes to the bytes.
    Base64,
}

/// Body of `POST /v1/topics/{topic}/records` and `POST /v1/transactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsRequest {
    /// Records written in one transaction, in this order.
    pub records: Vec<RecordJson>,
}

/// One record as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordJson {
    /// Required by `/v1/transactions`; on a topic endpoint it may only repeat the path's topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// Explicit partition; absent or null lets the partitioner choose. Kept as JSON: JSON
    /// Schema counts `3.0` as an integer, and a bad one is refused naming the field.
    #[serde(default)]
    pub partition: Value,
    /// Record key.
    #[serde(default)]
    pub key: Value,
    /// Record value.
    #[serde(default)]
    pub value: Value,
    /// How `key` is written.
    #[serde(default)]
    pub key_encoding: Encoding,
    /// How `value` is written.
    #[serde(default)]
    pub value_encoding: Encoding,
    /// Record timestamp in milliseconds since the Unix epoch; absent or null means "when sent".
    /// Kept as JSON so that a bad one is refused with a message naming the field.
    #[serde(default)]
    pub timestamp: Value,
    /// Record headers in order.
    #[serde(default)]
    pub headers: Vec<HeaderJson>,
}

/// One record header as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderJson {
    /// Header name.
    pub key: String,
    /// Header value; `null` is stored as an empty value.
    #[serde(default)]
    pub value: Value,
    /// How `value` is written.
    #[serde(default)]
    pub value_encoding: Encoding,
}

/// Answer of a committed transaction.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommittedJson {
    /// The producer that committed the transaction.
    pub transactional_id: String,
    /// Where each record landed, in request order.
    pub records: Vec<PlacedJson>,
}

/// Where one record landed.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlacedJson {
    /// Topic of the record.
    pub topic: String,
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
}

impl From<Committed> for CommittedJson {
    fn from(committed: Committed) -> Self {
        Self {
            transactional_id: committed.transactional_id,
            records: committed
                .placed
                .into_iter()
                .map(|p| PlacedJson {
                    topic: p.topic,
                    partition: p.partition,
                    offset: p.offset,
                })
                .collect(),
        }
    }
}

/// Parses a records body and checks it against the limits in `config`.
///
/// `path_topic` is the topic of `/v1/topics/{topic}/records`, or `None` for `/v1/transactions`
/// where every record names its own topic.
pub fn parse_records(
    body: &[u8],
    path_topic: Option<&str>,
    config: &ServerConfig,
) -> Result<Vec<OutRecord>, ApiError> {
    let invalid = |message: String| ApiError::bad_request(ErrorCode::InvalidJson, message);
    let json: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    require_objects(&json).map_err(invalid)?;
    let request: RecordsRequest =
        serde_json::from_value(json).map_err(|e| invalid(e.to_string()))?;
    if request.records.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::NoRecords,
            "the request must carry at least one record",
        ));
    }
    if request.records.len() > config.max_records {
        return Err(ApiError::bad_request(
            ErrorCode::TooManyRecords,
            format!(
                "{} records exceed the limit of {} per request",
                request.records.len(),
                config.max_records
            ),
        ));
    }
    request
        .records
        .into_iter()
        .enumerate()
        .map(|(index, record)| to_out_record(index, record, path_topic, config))
        .collect()
}

/// serde reads a struct from a JSON array too (`[null, "k"]` as its fields in order); the
/// documented shape is objects only, so arrays in their place are refused before that.
fn require_objects(json: &Value) -> Result<(), String> {
    let Value::Object(top) = json else {
        return Err("the body must be a JSON object with a \"records\" array".to_owned());
    };
    let Some(Value::Array(records)) = top.get("records") else {
        return Ok(()); // serde names the missing or mistyped field
    };
    for (index, record) in records.iter().enumerate() {
        let Value::Object(fields) = record else {
            return Err(format!("records[{index}] must be a JSON object"));
        };
        if let Some(Value::Array(headers)) = fields.get("headers") {
            if let Some(h) = headers.iter().position(|header| !header.is_object()) {
                return Err(format!(
                    "records[{index}].headers[{h}] must be a JSON object"
                ));
            }
        }
    }
    Ok(())
}

fn to_out_record(
    index: usize,
    record: RecordJson,
    path_topic: Option<&str>,
    config: &ServerConfig,
) -> Result<OutRecord, ApiError> {
    let topic = match (path_topic, record.topic) {
        (Some(path), None) => path.to_owned(),
        (Some(path), Some(own)) if own == path => own,
        (Some(path), Some(own)) => {
            return Err(ApiError::bad_request(
                ErrorCode::TopicMismatch,
                format!("record {index} names topic {own:?} but the path names {path:?}"),
            ));
        }
        (None, Some(own)) => own,
        (None, None) => {
            return Err(ApiError::bad_request(
                ErrorCode::MissingTopic,
                format!("record {index} has no topic"),
            ));
        }
    };
    validate_topic(&topic)?;
    let partition = match (&record.partition, json_integer(&record.partition)) {
        (Value::Null, _) => None,
        (_, Some(p)) if p >= 0 => i32::try_from(p).ok(),
        _ => None,
    };
    if partition.is_none() && !record.partition.is_null() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPartition,
            format!(
                "records[{index}].partition is {}; it must be an integer from 0 to {}",
                record.partition,
                i32::MAX
            ),
        ));
    }
    let timestamp_ms = checked_timestamp(index, &record.timestamp)?;
    let headers = record
        .headers
        .into_iter()
        .enumerate()
        .map(|(h, header)| {
            let field = || format!("records[{index}].headers[{h}].value");
            let value = field_bytes(header.value, header.value_encoding, field)?;
            Ok((header.key, value.unwrap_or_default()))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let out = OutRecord {
        topic,
        partition,
        key: field_bytes(record.key, record.key_encoding, || {
            format!("records[{index}].key")
        })?,
        value: field_bytes(record.value, record.value_encoding, || {
            format!("records[{index}].value")
        })?,
        headers,
        timestamp_ms,
    };
    let size = record_size(&out);
    if size > config.max_record_bytes {
        return Err(ApiError::bad_request(
            ErrorCode::RecordTooLarge,
            format!(
                "record {index} is {size} bytes, over the limit of {}",
                config.max_record_bytes
            ),
        ));
    }
    Ok(out)
}

/// Checks a topic name against Kafka's rules, so that typos fail fast with a clear message.
pub fn validate_topic(topic: &str) -> Result<(), ApiError> {
    let legal_chars = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let legal = !topic.is_empty()
        && topic.len() <= MAX_TOPIC_NAME_LEN
        && legal_chars
        && topic != "."
        && topic != "..";
    if legal {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            ErrorCode::InvalidTopic,
            format!(
                "{topic:?} is not a legal topic name (1-{MAX_TOPIC_NAME_LEN} of [a-zA-Z0-9._-])"
            ),
        ))
    }
}

/// Timestamps the engine can carry: 0 is its "stamp it when sent" marker (it cannot be told
/// apart from a real 0), and Kafka's field is a signed 64-bit number.
fn checked_timestamp(index: usize, ms: &Value) -> Result<Option<i64>, ApiError> {
    if ms.is_null() {
        return Ok(None);
    }
    match json_integer(ms) {
        Some(ms) if ms > 0 => Ok(Some(ms)),
        _ => Err(ApiError::bad_request(
            ErrorCode::InvalidTimestamp,
            format!(
                "records[{index}].timestamp is {ms}; it must be an integer number of milliseconds \
                 since the epoch, 1 to {}; leave it out to have the record stamped when it is sent",
                i64::MAX
            ),
        )),
    }
}

/// A JSON number with no fractional part, as JSON Schema counts integers (`3` and `3.0`); floats
/// only where they are exact (below 2^53), so no value is silently rounded.
fn json_integer(value: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        #[allow(clippy::cast_possible_truncation)] // integral and within ±2^53: exact
        (float.fract() == 0.0 && float.abs() < EXACT).then_some(float as i64)
    })
}

/// The bytes of a key, value or header value; `field` names it in error messages.
fn field_bytes(
    value: Value,
    encoding: Encoding,
    field: impl Fn() -> String,
) -> Result<Option<Bytes>, ApiError> {
    match (encoding, value) {
        (_, Value::Null) => Ok(None),
        (Encoding::Json, Value::String(text)) => Ok(Some(Bytes::from(text))),
        (Encoding::Json, other) => Ok(Some(Bytes::from(other.to_string()))),
        (Encoding::Base64, Value::String(text)) => BASE64
            .decode(text.as_bytes())
            .map(|bytes| Some(Bytes::from(bytes)))
            .map_err(|e| {
                ApiError::bad_request(
                    ErrorCode::InvalidBase64,
                    format!("{} is not valid base64: {e}", field()),
                )
            }),
        (Encoding::Base64, _) => Err(ApiError::bad_request(
            ErrorCode::InvalidBase64,
            format!(
                "{} must be a base64 string or null when its encoding is base64",
                field()
            ),
        )),
    }
}

fn record_size(record: &OutRecord) -> usize {
    let key = record.key.as_ref().map_or(0, Bytes::len);
    let value = record.value.as_ref().map_or(0, Bytes::len);
    let headers: usize = record
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    key + value + headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, topic: Option<&str>) -> Result<Vec<OutRecord>, ApiError> {
        parse_records(body.as_bytes(), topic, &ServerConfig::default())
    }

    #[test]
    fn strings_are_raw_bytes_other_json_is_compact_text_and_null_is_null() {
        let records = parse(
            r#"{"records":[{"key":"k","value":{"a":[1, 2]},"headers":[{"key":"h","value":"v"}]},
                           {"value":null}]}"#,
            Some("t"),
        )
        .unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&br#"{"a":[1,2]}"#[..]));
        assert_eq!(records[0].headers, vec![("h".to_owned(), Bytes::from("v"))]);
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].value, None);
        assert_eq!(records[1].topic, "t");
    }

    #[test]
    fn transactions_need_a_topic_per_record() {
        let err = parse(r#"{"records":[{"value":"x"}]}"#, None).unwrap_err();
        assert_eq!(err.code(), "missing_topic");
    }

    #[test]
    fn a_record_topic_must_match_the_path_topic() {
        let err = parse(r#"{"records":[{"topic":"b","value":"x"}]}"#, Some("a")).unwrap_err();
        assert_eq!(err.code(), "topic_mismatch");
    }

    #[test]
    fn illegal_topic_names_and_negative_partitions_are_rejected() {
        assert_eq!(validate_topic("a/b").unwrap_err().code(), "invalid_topic");
        assert_eq!(validate_topic("..").unwrap_err().code(), "invalid_topic");
        assert!(validate_topic("errors-topic.v1_2").is_ok());
        for bad in ["-1", "1.5", "\"1\"", "2147483648"] {
            let body = format!(r#"{{"records":[{{"partition":{bad}}}]}}"#);
            let err = parse(&body, Some("t")).unwrap_err();
            assert_eq!(err.code(), "invalid_partition", "{bad}");
            assert!(err.to_string().contains("records[0].partition"), "{err}");
        }
        let records = parse(
            r#"{"records":[{"partition":2.0,"timestamp":5.0},{"partition":null}]}"#,
            Some("t"),
        )
        .unwrap();
        assert_eq!(
            (records[0].partition, records[0].timestamp_ms),
            (Some(2), Some(5))
        );
        assert_eq!(records[1].partition, None);
    }

    #[test]
    fn unknown_fields_and_empty_lists_are_rejected() {
        assert_eq!(
            parse(r#"{"records":[{"valeu":"x"}]}"#, Some("t"))
                .unwrap_err()
                .code(),
            "invalid_json"
        );
        assert_eq!(
            parse(r#"{"records":[]}"#, Some("t")).unwrap_err().code(),
            "no_records"
        );
        for (body, names) in [
            (r#"{"records":[[null, null]]}"#, "records[0]"),
            (r#"{"records":[{},"x"]}"#, "records[1]"),
            (
                r#"{"records":[{"headers":[["k","v"]]}]}"#,
                "records[0].headers[0]",
            ),
            (r#"[{"records":[]}]"#, "JSON object"),
        ] {
            let err = parse(body, Some("t")).unwrap_err();
            assert_eq!(err.code(), "invalid_json", "{body}");
            assert!(err.to_string().contains(names), "{body}: {err}");
        }
    }

    #[test]
    fn record_size_counts_key_value_and_headers() {
        let config = ServerConfig {
            max_record_bytes: 6,
            ..ServerConfig::default()
        };
        let fits = r#"{"records":[{"key":"ab","value":"cd","headers":[{"key":"e","value":"f"}]}]}"#;
        assert!(parse_records(fits.as_bytes(), Some("t"), &config).is_ok());
        let over =
            r#"{"records":[{"key":"ab","value":"cde","headers":[{"key":"e","value":"f"}]}]}"#;
        let err = parse_records(over.as_bytes(), Some("t"), &config).unwrap_err();
        assert_eq!(err.code(), "record_too_large");
    }

    #[test]
    fn base64_fields_decode_to_arbitrary_bytes_and_null_stays_null() {
        let records = parse(
            r#"{"records":[{"key":"AP8=","key_encoding":"base64","value":"AAEC/w",
                "value_encoding":"base64",
                "headers":[{"key":"h","value":"/w==","value_encoding":"base64"}]},
                {"value":null,"value_encoding":"base64"}]}"#,
            Some("t"),
        )
        .unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&[0x00, 0xff][..]));
        assert_eq!(records[0].value.as_deref(), Some(&[0, 1, 2, 0xff][..]));
        assert_eq!(records[0].headers[0].1.as_ref(), &[0xff]);
        assert_eq!(records[1].value, None);
    }

    #[test]
    fn bad_base64_names_the_field() {
        let err = parse(
            r#"{"records":[{"value":"ok"},{"value":"!!","value_encoding":"base64"}]}"#,
            Some("t"),
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_base64");
        assert!(err.to_string().contains("records[1].value"), "{err}");
        let err = parse(
            r#"{"records":[{"headers":[{"key":"h","value":1,"value_encoding":"base64"}]}]}"#,
            Some("t"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("records[0].headers[0].value"),
            "{err}"
        );
        let err = parse(r#"{"records":[{"key_encoding":"hex"}]}"#, Some("t")).unwrap_err();
        assert_eq!(err.code(), "invalid_json");
    }

    #[test]
    fn timestamps_are_positive_milliseconds() {
        let records = parse(r#"{"records":[{"timestamp":1700000000123}]}"#, Some("t")).unwrap();
        assert_eq!(records[0].timestamp_ms, Some(1_700_000_000_123));
        for bad in ["0", "-1", "9223372036854775808", "1.5", "\"1\""] {
            let body = format!(r#"{{"records":[{{"timestamp":{bad}}}]}}"#);
            let err = parse(&body, Some("t")).unwrap_err();
            assert_eq!(err.code(), "invalid_timestamp", "{bad}: {err}");
            assert!(err.to_string().contains("records[0].timestamp"), "{err}");
        }
    }
}
