//! JSON request and response types of the record endpoints, their validation and size limits.
//!
//! A record's key, value and header values are bytes on the wire. In JSON a string is taken as its
//! UTF-8 bytes, `null` as a Kafka null, and any other JSON value as its compact JSON text, so a
//! client can post structured values without escaping them into strings.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{Committed, OutRecord};
use crate::config::ServerConfig;
use crate::error::ApiError;

/// Longest legal Kafka topic name.
const MAX_TOPIC_NAME_LEN: usize = 249;

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
    /// Explicit partition; absent lets the partitioner choose.
    #[serde(default)]
    pub partition: Option<i32>,
    /// Record key.
    #[serde(default)]
    pub key: Value,
    /// Record value.
    #[serde(default)]
    pub value: Value,
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
    let request: RecordsRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    if request.records.is_empty() {
        return Err(ApiError::bad_request(
            "no_records",
            "the request must carry at least one record",
        ));
    }
    if request.records.len() > config.max_records {
        return Err(ApiError::bad_request(
            "too_many_records",
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
                "topic_mismatch",
                format!("record {index} names topic {own:?} but the path names {path:?}"),
            ));
        }
        (None, Some(own)) => own,
        (None, None) => {
            return Err(ApiError::bad_request(
                "missing_topic",
                format!("record {index} has no topic"),
            ));
        }
    };
    validate_topic(&topic)?;
    if let Some(partition) = record.partition.filter(|p| *p < 0) {
        return Err(ApiError::bad_request(
            "invalid_partition",
            format!("record {index} has negative partition {partition}"),
        ));
    }
    let out = OutRecord {
        topic,
        partition: record.partition,
        key: json_to_bytes(record.key),
        value: json_to_bytes(record.value),
        headers: record
            .headers
            .into_iter()
            .map(|h| (h.key, json_to_bytes(h.value).unwrap_or_default()))
            .collect(),
    };
    let size = record_size(&out);
    if size > config.max_record_bytes {
        return Err(ApiError::bad_request(
            "record_too_large",
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
            "invalid_topic",
            format!(
                "{topic:?} is not a legal topic name (1-{MAX_TOPIC_NAME_LEN} of [a-zA-Z0-9._-])"
            ),
        ))
    }
}

fn json_to_bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(Bytes::from(text)),
        other => Some(Bytes::from(other.to_string())),
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
        let err = parse(r#"{"records":[{"partition":-1}]}"#, Some("t")).unwrap_err();
        assert_eq!(err.code(), "invalid_partition");
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
}
