//! Reads a topic back with read_committed, with our reader and with `kcat` (librdkafka) as an
//! independent judge.

use std::process::Command;

use kafkatx_wire::reader::{Isolation, read_topic};

use super::LoadError;
use super::checker::ReadMessage;

/// The whole topic through `kafkatx_wire::reader` with isolation level 1.
pub async fn read_with_kafkatx(
    bootstrap: &str,
    topic: &str,
) -> Result<Vec<ReadMessage>, LoadError> {
    let records = read_topic(bootstrap, topic, Isolation::ReadCommitted)
        .await
        .map_err(|source| LoadError::ReadBack {
            topic: topic.to_owned(),
            source,
        })?;
    Ok(records
        .into_iter()
        .map(|r| ReadMessage {
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
        .collect()
}

/// One line of `kcat -J`: `{"partition": 0, "offset": 5, "payload": "..." | null, ...}`.
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
