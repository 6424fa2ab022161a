//! `kafkatx consume`: prints a topic's records from its start and exits at its end.

use std::io::Write;

use clap::{Args, ValueEnum};
use kafkatx_wire::ConnectOptions;
use kafkatx_wire::reader::{Isolation, TopicRecord, read_topic_with};

use crate::ToolError;

/// Which records a consumer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationLevel {
    /// Only committed transactional records (and non-transactional ones), up to the last
    /// stable offset.
    #[value(name = "read_committed")]
    ReadCommitted,
    /// Every record, including those of open and aborted transactions.
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
}

/// How each record is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// `partition offset key value headers`, tab separated.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `kafkatx consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Brokers to bootstrap from, comma separated.
    #[arg(
        long,
        env = "KAFKATX_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Topic to read, every partition from its log start to its end as of now.
    #[arg(long)]
    pub topic: String,
    /// Which records to show.
    #[arg(long, value_enum, default_value = "read_committed")]
    pub isolation_level: IsolationLevel,
    /// Accepted for `kafka-console-consumer` compatibility and has no effect: this reader
    /// always starts at the log start (it stops at the end, so starting there would print nothing).
    #[arg(long)]
    pub from_beginning: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// A connection setting by its Kafka name: `security.protocol`, `sasl.*` or `ssl.*`
    /// (repeatable), as for `--producer-property` of `kafkatx serve`.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    pub consumer_properties: Vec<(String, String)>,
}

/// `KEY=VALUE`.
pub(crate) fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Connection options carrying the security settings among `properties` (SASL, TLS), so that
/// tools read from the same clusters the producers write to.
pub(crate) fn connect_options(
    properties: &[(String, String)],
) -> Result<ConnectOptions, ToolError> {
    let security = kafkatx_txn::config::connection_security(
        properties.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| ToolError::Usage(format!("--consumer-property: {e}")))?;
    Ok(ConnectOptions {
        sasl: security.sasl,
        tls: security.tls,
        ..ConnectOptions::default()
    })
}

/// Runs `kafkatx consume`.
pub async fn run(args: ConsumeArgs) -> Result<(), ToolError> {
    let isolation = match args.isolation_level {
        IsolationLevel::ReadCommitted => Isolation::ReadCommitted,
        IsolationLevel::ReadUncommitted => Isolation::ReadUncommitted,
    };
    let options = connect_options(&args.consumer_properties)?;
    let records = read_topic_with(&args.bootstrap_server, &args.topic, isolation, &options)
        .await
        .map_err(ToolError::Consume)?;
    let mut out = std::io::stdout().lock();
    let written = records.iter().try_for_each(|record| {
        let line = match args.format {
            OutputFormat::Text => text_line(record),
            OutputFormat::Json => json_line(record),
        };
        writeln!(out, "{line}")
    });
    match written.and_then(|()| out.flush()) {
        // `kafkatx consume ... | head` closes the pipe early: that is the reader's choice.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| ToolError::Output(e.to_string())),
    }
}

/// Bytes as text: keys and values are printed lossily (invalid UTF-8 becomes U+FFFD).
fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// `partition<TAB>offset<TAB>key<TAB>value<TAB>k=v,k=v`; a null key or value prints as `null`.
pub fn text_line(record: &TopicRecord) -> String {
    let r = &record.record;
    let or_null = |v: Option<String>| v.unwrap_or_else(|| "null".to_owned());
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("{}={}", h.key, or_null(text(h.value.as_deref()))))
        .collect();
    format!(
        "{}\t{}\t{}\t{}\t{}",
        record.partition,
        r.offset,
        or_null(text(r.key.as_deref())),
        or_null(text(r.value.as_deref())),
        headers.join(",")
    )
}

/// `{"partition", "offset", "timestamp_ms", "key", "value", "headers": [{"key", "value"}]}`.
pub fn json_line(record: &TopicRecord) -> String {
    let r = &record.record;
    let headers: Vec<serde_json::Value> = r
        .headers
        .iter()
        .map(|h| serde_json::json!({ "key": h.key, "value": text(h.value.as_deref()) }))
        .collect();
    serde_json::json!({
        "partition": record.partition,
        "offset": r.offset,
        "timestamp_ms": r.timestamp_ms,
        "key": text(r.key.as_deref()),
        "value": text(r.value.as_deref()),
        "headers": headers,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafkatx_wire::record::{DecodedRecord, Header};

    use super::*;

    fn sample() -> TopicRecord {
        TopicRecord {
            partition: 2,
            record: DecodedRecord {
                offset: 41,
                timestamp_ms: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from_static(b"err: 1 - usr: a")),
                headers: vec![Header {
                    key: "trace".to_owned(),
                    value: Some(Bytes::from_static(b"abc")),
                }],
            },
        }
    }

    #[test]
    fn text_lines_show_every_field() {
        assert_eq!(
            text_line(&sample()),
            "2\t41\tnull\terr: 1 - usr: a\ttrace=abc"
        );
    }

    #[test]
    fn json_lines_keep_nulls_and_headers() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&sample())).unwrap();
        assert_eq!(v["partition"], 2);
        assert_eq!(v["offset"], 41);
        assert_eq!(v["key"], serde_json::Value::Null);
        assert_eq!(v["value"], "err: 1 - usr: a");
        assert_eq!(v["headers"][0]["key"], "trace");
        assert_eq!(v["headers"][0]["value"], "abc");
    }
}
