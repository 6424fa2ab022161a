//! Java's built-in ("uniform sticky") placement of keyless records (KIP-480, KIP-794).
//!
//! Each topic has a current partition and a count of the bytes appended to it since it was
//! chosen. Keyless records go to the current partition while the count, plus what the record
//! would add, stays within `batch.size`; a record that would take it past `batch.size` goes to
//! another partition drawn uniformly at random instead, and starts the new count. The bytes
//! are the accumulator's own estimate, so on a partition only we write to, a stick fills one
//! batch exactly: the switch comes with the record that no longer fits the batch. A
//! transaction of a few small records therefore touches one partition instead of one per
//! record, and over many switches every partition gets an equal share.
//!
//! Differences from Java, on purpose. Java adds a record's bytes first and switches for the
//! record after the one that reached `batch.size`; that one usually opened a new batch, which
//! then leaves nearly empty (Java defers the switch while the partition's last batch is not
//! full, up to twice `batch.size`, trading the short batch for a longer stick). Here the record
//! that would overflow switches instead, so a stick is one batch. Java's draw may also land on
//! the current partition again and prefers partitions with a known leader; here the draw is
//! among all the other partitions (a record waits for its partition's leader anyway).

use std::collections::HashMap;

use crate::backoff::SeededRng;

/// The partition keyless records of one topic stick to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sticky {
    partition: u32,
    /// Bytes appended to `partition` since it was chosen.
    produced_bytes: usize,
}

/// Per-topic sticky partitions for keyless records.
#[derive(Debug)]
pub(crate) struct UniformSticky {
    /// Bytes a stick may reach (`batch.size`).
    batch_size: usize,
    by_topic: HashMap<String, Sticky>,
    rng: SeededRng,
}

impl UniformSticky {
    /// Sticks for `batch_size` bytes; partitions are drawn from `rng`.
    pub(crate) fn new(batch_size: usize, rng: SeededRng) -> Self {
        Self {
            batch_size,
            by_topic: HashMap::new(),
            rng,
        }
    }

    /// The partition for the next keyless record of `topic`, which has `partition_count`
    /// partitions (0 is treated as 1). `bytes_if_appended` tells what the record would add
    /// to a partition; it is asked only about the current sticky partition.
    pub(crate) fn partition(
        &mut self,
        topic: &str,
        partition_count: u32,
        bytes_if_appended: impl FnOnce(i32) -> usize,
    ) -> i32 {
        let count = partition_count.max(1);
        let chosen = match self.by_topic.get(topic).copied() {
            Some(current) if current.partition < count => {
                let partition = as_partition(current.partition);
                // A stick takes at least one record, however large: a record bigger than
                // `batch.size` must not be turned away by every partition.
                let overflows = current.produced_bytes > 0
                    && current
                        .produced_bytes
                        .saturating_add(bytes_if_appended(partition))
                        > self.batch_size;
                if !overflows {
                    return partition;
                }
                // On a one-partition topic this keeps the partition and restarts the count.
                self.uniform_other_than(current.partition, count)
            }
            // The topic's first keyless record, or its partition is gone (the topic was
            // recreated with fewer partitions).
            _ => self.uniform_below(count),
        };
        self.by_topic.insert(
            topic.to_owned(),
            Sticky {
                partition: chosen,
                produced_bytes: 0,
            },
        );
        as_partition(chosen)
    }

    /// Count `bytes` just appended to `partition` of `topic` for a keyless record.
    /// Bytes for any other partition are ignored: only what went to the current sticky
    /// partition since it was chosen counts.
    pub(crate) fn record_appended(&mut self, topic: &str, partition: i32, bytes: usize) {
        if let Some(current) = self.by_topic.get_mut(topic) {
            if i64::from(current.partition) == i64::from(partition) {
                current.produced_bytes = current.produced_bytes.saturating_add(bytes);
            }
        }
    }

    fn uniform_below(&mut self, count: u32) -> u32 {
        u32::try_from(self.rng.below(u64::from(count))).unwrap_or(0)
    }

    /// Uniform over `0..count` without `current` (which must be below `count`); `current`
    /// itself when it is the only partition.
    fn uniform_other_than(&mut self, current: u32, count: u32) -> u32 {
        if count <= 1 {
            return current;
        }
        // Draw among the count - 1 others and skip over `current`.
        let drawn = self.uniform_below(count - 1);
        if drawn >= current { drawn + 1 } else { drawn }
    }
}

/// Partition numbers come from a `u32` count that metadata read from an `i32` array length.
fn as_partition(partition: u32) -> i32 {
    i32::try_from(partition).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sticky(batch_size: usize, seed: u64) -> UniformSticky {
        UniformSticky::new(batch_size, SeededRng::new(seed))
    }

    /// The next record's partition, the record adding `bytes` wherever it goes.
    fn place(s: &mut UniformSticky, topic: &str, count: u32, bytes: usize) -> i32 {
        let partition = s.partition(topic, count, |_| bytes);
        s.record_appended(topic, partition, bytes);
        partition
    }

    #[test]
    fn sticks_while_records_fit_in_batch_size_then_moves_to_another_partition() {
        let mut s = sticky(100, 1);
        let first = place(&mut s, "t", 4, 33);
        assert_eq!(place(&mut s, "t", 4, 33), first);
        let asked = s.partition("t", 4, |partition| {
            assert_eq!(partition, first, "asked about the sticky partition");
            34
        });
        assert_eq!(asked, first, "exactly 100 bytes still fit");
        s.record_appended("t", first, 34);
        let second = s.partition("t", 4, |_| 1);
        assert_ne!(second, first, "101 bytes would not fit: moves on");
        s.record_appended("t", second, 1);
        assert_eq!(place(&mut s, "t", 4, 99), second, "the count restarted");
    }

    #[test]
    fn a_record_larger_than_batch_size_takes_a_partition_alone() {
        let mut s = sticky(100, 2);
        let first = s.partition("t", 4, |_| panic!("a new stick asks nothing"));
        s.record_appended("t", first, 500);
        assert_ne!(place(&mut s, "t", 4, 1), first);
    }

    #[test]
    fn every_switch_changes_partition_and_all_partitions_get_an_equal_share() {
        let mut s = sticky(16_384, 7);
        let mut chosen = [0u32; 5];
        let mut previous = place(&mut s, "t", 5, 16_384);
        for _ in 0..5_000 {
            let next = place(&mut s, "t", 5, 16_384);
            assert_ne!(next, previous);
            chosen[usize::try_from(next).unwrap()] += 1;
            previous = next;
        }
        // 1000 expected each; a uniform draw stays well within 15 %.
        assert!(
            chosen.iter().all(|&n| (850..=1150).contains(&n)),
            "{chosen:?}"
        );
    }

    #[test]
    fn a_one_partition_topic_always_gets_partition_zero() {
        let mut s = sticky(10, 3);
        for _ in 0..20 {
            assert_eq!(place(&mut s, "t", 1, 25), 0);
        }
        assert_eq!(
            place(&mut s, "t", 0, 25),
            0,
            "an unknown count counts as one"
        );
    }

    #[test]
    fn a_partition_gone_from_a_shrunken_topic_is_chosen_again() {
        let mut s = sticky(1_000, 11);
        // Topics start on different random partitions: find one that started above 0.
        let (topic, first) = (0..50)
            .map(|n| format!("t{n}"))
            .map(|topic| {
                let first = place(&mut s, &topic, 8, 900);
                (topic, first)
            })
            .find(|(_, first)| *first > 0)
            .unwrap();
        let shrunk_to = u32::try_from(first).unwrap();
        let replaced = place(&mut s, &topic, shrunk_to, 90);
        assert!(replaced < first, "{replaced} must exist in {shrunk_to}");
        assert_eq!(
            place(&mut s, &topic, shrunk_to, 900),
            replaced,
            "bytes counted for the old partition were dropped"
        );
        assert_eq!(
            place(&mut s, &topic, 16, 10),
            replaced,
            "new partitions do not end a stick"
        );
    }

    #[test]
    fn only_bytes_of_the_current_partition_and_topic_count() {
        let mut s = sticky(100, 5);
        let a = place(&mut s, "a", 3, 1);
        let b = place(&mut s, "b", 3, 1);
        s.record_appended("a", (a + 1) % 3, 1_000);
        s.record_appended("b", b, 1_000);
        s.record_appended("c", 0, 1_000);
        assert_eq!(place(&mut s, "a", 3, 1), a);
        assert_ne!(place(&mut s, "b", 3, 1), b);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let choices = |seed: u64| {
            let mut s = sticky(50, seed);
            (0..40)
                .map(|_| place(&mut s, "t", 12, 50))
                .collect::<Vec<_>>()
        };
        assert_eq!(choices(42), choices(42));
        assert_ne!(choices(42), choices(43));
    }
}
