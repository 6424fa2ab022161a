//! `buffer.memory` and `max.request.size`: how many bytes of records the producer holds
//! until the brokers answer for them, and the largest record it accepts (Java's
//! `RecordAccumulator` memory pool and `KafkaProducer.ensureValidRecordSize`).
//!
//! Without a bound, a broker outage under steady ingest grows the accumulator until the
//! process dies; with one, `send` waits (in the driver, up to `max.block.ms`) for room.

use std::collections::HashMap;

use crate::error::TxnError;
use crate::types::RecordToken;

/// Bytes held per record, from `send` until its `RecordsDone` event is polled.
#[derive(Debug, Default)]
pub(super) struct BufferUse {
    used: usize,
    held: HashMap<RecordToken, usize>,
}

impl BufferUse {
    /// Whether a record of `size` encoded bytes may be queued now: refused for good when it
    /// could never be sent, `BufferExhausted` while the buffer is too full for it.
    pub(super) fn admit(
        &self,
        size: usize,
        max_request_size: usize,
        buffer_memory: usize,
    ) -> Result<(), TxnError> {
        for (max, setting) in [
            (max_request_size, "max.request.size"),
            (buffer_memory, "buffer.memory"),
        ] {
            if size > max {
                return Err(TxnError::RecordTooLarge { size, max, setting });
            }
        }
        if self.used.saturating_add(size) > buffer_memory {
            return Err(TxnError::BufferExhausted { buffer_memory });
        }
        Ok(())
    }

    /// `token`'s record of `size` bytes was queued.
    pub(super) fn hold(&mut self, token: RecordToken, size: usize) {
        self.used = self.used.saturating_add(size);
        self.held.insert(token, size);
    }

    /// These records were answered (delivered or failed): their bytes are free again.
    pub(super) fn release(&mut self, tokens: &[RecordToken]) {
        for token in tokens {
            if let Some(size) = self.held.remove(token) {
                self.used = self.used.saturating_sub(size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_for_a_request_is_refused_for_good_and_a_full_buffer_for_now() {
        let mut buffer = BufferUse::default();
        assert!(matches!(
            buffer.admit(2_000, 1_000, 10_000),
            Err(TxnError::RecordTooLarge {
                setting: "max.request.size",
                ..
            })
        ));
        assert!(matches!(
            buffer.admit(2_000, 5_000, 1_000),
            Err(TxnError::RecordTooLarge {
                setting: "buffer.memory",
                ..
            })
        ));
        buffer.admit(600, 1_000, 1_000).unwrap();
        buffer.hold(RecordToken(1), 600);
        assert!(matches!(
            buffer.admit(600, 1_000, 1_000),
            Err(TxnError::BufferExhausted {
                buffer_memory: 1_000
            })
        ));
        buffer.release(&[RecordToken(1)]);
        buffer.admit(600, 1_000, 1_000).unwrap();
    }
}
