//! Reads a topic back with read_committed, with our reader and with `kcat` (librdkafka) as an
//! independent judge.

use std::process::Command;

use kafkatx_wire::ConnectOptions;
use kafkatx_wire::reader::{Isolation, read_topic_with};

use super::LoadError;
use super::checker::ReadMessage;

/// The whole topic through `kafkatx_wire::reader` with isolation level 1.
pub async fn read_with_kafkatx(
    bootstrap: &str,
    topic: &str,
    options: &ConnectOptions,
) -> Result<Vec<ReadMessage>, LoadError> {
    let records = read_topic_with(bootstrap, topic, Isolation::ReadCommitted, options)
        .await
        .map_err(|source| LoadError::ReadBack {
            topic: topic.to_owned(),
            source,
        })?;
    Ok(records
        .into_iter()
        .map(|r| ReadMessage {
            topic: topic.to_owned(),
            partition: r.partition,
            offset: r.record.offset,
            value: r
                .record
                .value
                .map(|v| String::from_utf8_lossy(&v).into_owned()),
        })
        .collect())
}

/// The whole topic through `kcat -C -o beginning -e -J -X isolation.level=read_committed`.
/// Runs on a blocking thread: kcat may take seconds on a large topic.
pub async fn read_with_kcat(
    kcat: &str,
    bootstrap: &str,
    topic: &str,
    properties: &[(String, String)],
) -> Result<Vec<ReadMessage>, LoadError> {
    let failure = |reason: String| LoadError::Kcat {
        topic: topic.to_owned(),
        reason,
    };
    let mut command = Command::new(kcat);
    command
        .args(["-C", "-b", bootstrap, "-t", topic])
        .args(["-o", "beginning", "-e", "-q", "-J"])
        .args(["-X", "isolation.level=read_committed"]);
    for setting in librdkafka_settings(properties) {
        command.arg("-X").arg(setting);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| failure(e.to_string()))?
        .map_err(|e| failure(format!("cannot run {kcat:?}: {e}")))?;
    if !output.status.success() {
        return Err(failure(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| parse_kcat_line(line).map_err(failure))
        .map(|m| {
            m.map(|m| ReadMessage {
                topic: topic.to_owned(),
                ..m
            })
        })
        .collect()
}

/// Java's connection settings in librdkafka's names, as `key=value` for `kcat -X`. A PEM key
/// store (certificate chain and key in one file) serves as both of librdkafka's files.
fn librdkafka_settings(properties: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in properties {
        match key.as_str() {
            "ssl.truststore.location" => out.push(format!("ssl.ca.location={value}")),
            "ssl.keystore.location" => {
                out.push(format!("ssl.certificate.location={value}"));
                out.push(format!("ssl.key.location={value}"));
            }
            "sasl.mechanism" => out.push(format!("sasl.mechanisms={value}")),
            "ssl.endpoint.identification.algorithm" if value.is_empty() => {
                out.push("ssl.endpoint.identification.algorithm=none".to_owned());
            }
            // PEM is librdkafka's only format; it has no such settings.
            "ssl.truststore.type" | "ssl.keystore.type" => {}
            _ => out.push(format!("{key}={value}")),
        }
    }
    out
}

/// One line of `kcat -J`: `{"topic": "t", "partition": 0, "offset": 5, "payload": "..." | null, ...}`.
fn parse_kcat_line(line: &str) -> Result<ReadMessage, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("unreadable line {line:?}: {e}"))?;
    let number = |field: &str| {
        v.get(field)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("no {field} in {line:?}"))
    };
    let partition = i32::try_from(number("partition")?)
        .map_err(|_| format!("partition out of range in {line:?}"))?;
    Ok(ReadMessage {
        topic: v
            .get("topic")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        partition,
        offset: number("offset")?,
        value: v
            .get("payload")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_lines_parse() {
        let line = r#"{"topic":"t","partition":2,"offset":7,"tstype":"create","ts":1,"broker":1,"key":null,"payload":"err: 1 - usr: a"}"#;
        assert_eq!(
            parse_kcat_line(line),
            Ok(ReadMessage {
                topic: "t".to_owned(),
                partition: 2,
                offset: 7,
                value: Some("err: 1 - usr: a".to_owned())
            })
        );
        let null = r#"{"partition":0,"offset":1,"payload":null}"#;
        assert_eq!(parse_kcat_line(null).map(|m| m.value), Ok(None));
        assert!(parse_kcat_line(r#"{"offset":1}"#).is_err());
        assert!(parse_kcat_line("not json").is_err());
    }
}
