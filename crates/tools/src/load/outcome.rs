//! What one request's answer means for the records it asked to write.

use std::time::Duration;

/// What the client can conclude about a request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx: every record must be visible exactly once.
    Committed,
    /// A failure answer that promises nothing was written (any non-2xx without
    /// `"outcome": "unknown"`, or a connection that never opened): no record may be visible.
    Failed,
    /// No answer (timeout, connection lost after sending) or an answer that says the outcome is
    /// unknown (502 `outcome_unknown`): all or none may be visible, never a part.
    Unknown,
}

/// One request as the generator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Request number within the run (the id is `<run>-<number>`).
    pub number: u64,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// What the client concludes.
    pub outcome: Outcome,
    /// Label of the failure, e.g. `503 saturated`, `500`, `timeout`; `None` on success.
    pub error_kind: Option<String>,
    /// From sending the request (connecting included, when a connection had to be opened)
    /// to the last byte of the answer; with keyed retries, over all tries.
    pub latency: Duration,
    /// Tries: 1, or more when keyed retries resolved an unknown outcome.
    pub attempts: u32,
    /// When the request was started, from the start of the run: with `latency`, when its answer
    /// came. A request answered before another was started must precede it in every partition
    /// both wrote to (the checker's order rule).
    pub sent_at: Duration,
    /// Which of the run's URLs it went to (the first one tried, when none could be reached).
    pub target: usize,
}

/// Classifies an HTTP answer. Our gateway's error bodies are
/// `{"error": {"code": "...", "outcome": "none|aborted|unknown"}}`; other servers (the sarama
/// server) send no body, and their failures count as "nothing written", which is what they claim.
pub fn classify_answer(status: u16, body: &[u8]) -> (Outcome, Option<String>) {
    if (200..300).contains(&status) {
        return (Outcome::Committed, None);
    }
    let error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let code = error
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    let unknown = error
        .as_ref()
        .and_then(|e| e.get("outcome"))
        .and_then(|o| o.as_str())
        == Some("unknown");
    let kind = match code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    };
    let outcome = if unknown {
        Outcome::Unknown
    } else {
        Outcome::Failed
    };
    (outcome, Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_failure_and_unknown_answers_are_told_apart() {
        assert_eq!(classify_answer(200, b"{}"), (Outcome::Committed, None));
        let saturated = br#"{"error":{"code":"saturated","message":"m","outcome":"none"}}"#;
        assert_eq!(
            classify_answer(503, saturated),
            (Outcome::Failed, Some("503 saturated".to_owned()))
        );
        let unknown = br#"{"error":{"code":"outcome_unknown","message":"m","outcome":"unknown"}}"#;
        assert_eq!(
            classify_answer(502, unknown),
            (Outcome::Unknown, Some("502 outcome_unknown".to_owned()))
        );
        assert_eq!(
            classify_answer(500, b""),
            (Outcome::Failed, Some("500".to_owned()))
        );
    }
}
