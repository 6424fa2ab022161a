//! What `send_offsets_to_transaction` commits, and for whom: Java's `OffsetAndMetadata` and
//! `ConsumerGroupMetadata` (KIP-98, KIP-447).
//!
//! A consume-transform-produce loop commits the input positions of its consumer group in the
//! same transaction as its output records: both become visible together, or neither does.

/// A consumer position to commit: the offset of the *next* record to consume (the last
/// processed record's offset + 1), as in Java.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume; never negative.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if the consumer knows it (lets a later
    /// consumer detect log truncation).
    pub leader_epoch: Option<i32>,
    /// Free text stored with the offset.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset without leader epoch or metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }

    /// Set the leader epoch of the last consumed record.
    pub fn with_leader_epoch(mut self, leader_epoch: i32) -> Self {
        self.leader_epoch = Some(leader_epoch);
        self
    }

    /// Set the metadata text.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// The consumer group the offsets belong to, and (KIP-447) the member committing them, so that
/// the group coordinator can refuse a zombie member of an older generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id; must not be empty.
    pub group_id: String,
    /// The member's generation (or member epoch), -1 when unknown.
    pub generation_id: i32,
    /// The member id the coordinator assigned, empty when unknown.
    pub member_id: String,
    /// The static membership id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata of a consumer with manual assignment (no group membership): the coordinator
    /// checks nothing but the group id.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }

    /// Set the generation and member id of a subscribed consumer.
    pub fn with_member(mut self, generation_id: i32, member_id: impl Into<String>) -> Self {
        self.generation_id = generation_id;
        self.member_id = member_id.into();
        self
    }

    /// Set the static membership id.
    pub fn with_group_instance_id(mut self, group_instance_id: impl Into<String>) -> Self {
        self.group_instance_id = Some(group_instance_id.into());
        self
    }

    /// Whether the member fields differ from "unknown": only TxnOffsetCommit v3+ carries them,
    /// and silently dropping them would let a zombie commit (Java refuses as well).
    pub fn identifies_a_member(&self) -> bool {
        self.generation_id != -1 || !self.member_id.is_empty() || self.group_instance_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_assignment_metadata_identifies_no_member() {
        let group = ConsumerGroupMetadata::new("g");
        assert_eq!(group.generation_id, -1);
        assert_eq!(group.member_id, "");
        assert_eq!(group.group_instance_id, None);
        assert!(!group.identifies_a_member());
        assert!(group.clone().with_member(3, "m-1").identifies_a_member());
        assert!(group.with_group_instance_id("i-1").identifies_a_member());
    }

    #[test]
    fn offsets_default_to_no_epoch_and_empty_metadata() {
        let offset = OffsetAndMetadata::new(42);
        assert_eq!((offset.offset, offset.leader_epoch), (42, None));
        assert_eq!(offset.metadata, "");
        let full = offset.with_leader_epoch(7).with_metadata("m");
        assert_eq!((full.leader_epoch, full.metadata.as_str()), (Some(7), "m"));
    }
}
