//! Partition choice for records without an explicit partition (`partitioner.class`).
//!
//! By default, Java's built-in partitioner: a keyed record goes where the Java producer puts
//! it, `toPositive(murmur2(key)) % numPartitions`; keyless records stick to one partition per
//! topic for about `batch.size` bytes, then move to another one chosen at random (see
//! [`sticky`]). A transaction of a few small keyless records thus touches one partition
//! instead of one per record, and the broker's work per transaction shrinks with it (one
//! AddPartitionsToTxn entry or partition verification, and one marker, per partition).
//! Round robin, every record to the next partition with keys ignored, is the opt-in Java
//! `RoundRobinPartitioner`.

pub(crate) mod sticky;

use std::collections::HashMap;

use crate::backoff::SeededRng;
use crate::config::{PartitionerClass, ProducerConfig};
use sticky::UniformSticky;

/// Java's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, little-endian blocks.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    // Java truncates the length to an int; lengths above 2^31 cannot occur in a Kafka record.
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = chunk
            .iter()
            .rev()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from case 3 to case 1.
    for (shift, byte) in tail.iter().enumerate().rev() {
        h ^= u32::from(*byte) << (8 * shift);
    }
    if !tail.is_empty() {
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub(crate) fn to_positive(value: i32) -> i32 {
    value & 0x7fff_ffff
}

/// The partition the Java client's default partitioner picks for a keyed record.
pub fn partition_for_key(key: &[u8], partition_count: u32) -> i32 {
    let count = i64::from(partition_count.max(1));
    let chosen = i64::from(to_positive(murmur2(key))) % count;
    i32::try_from(chosen).unwrap_or(0)
}

/// Where a record goes, and whether the sticky partitioner must hear about its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    /// The partition.
    pub partition: i32,
    /// The sticky partitioner chose it: report the record's bytes with
    /// [`Partitioner::record_appended`], so that it moves on after `batch.size` bytes.
    pub sticky: bool,
}

/// The placement of records without an explicit partition, for one producer.
#[derive(Debug)]
pub(crate) struct Partitioner {
    keyless: Keyless,
    /// Keyed records go to murmur2 of their key (built-in partitioner with keys not ignored).
    uses_keys: bool,
}

#[derive(Debug)]
enum Keyless {
    Sticky(UniformSticky),
    RoundRobin(RoundRobin),
}

impl Partitioner {
    /// The partitioner `config` asks for (`partitioner.class`, `partitioner.ignore.keys`,
    /// `batch.size`, `kafkatx.rng.seed`).
    pub(crate) fn new(config: &ProducerConfig) -> Self {
        match config.partitioner {
            PartitionerClass::BuiltIn => Self {
                keyless: Keyless::Sticky(UniformSticky::new(
                    config.batch_size,
                    SeededRng::new(partition_seed(config)),
                )),
                uses_keys: !config.partitioner_ignore_keys,
            },
            // Java's RoundRobinPartitioner never looks at the key.
            PartitionerClass::RoundRobin => Self {
                keyless: Keyless::RoundRobin(RoundRobin::default()),
                uses_keys: false,
            },
        }
    }

    /// The partition for a record of `topic` with `key` and no explicit partition, the topic
    /// having `partition_count` partitions. `bytes_if_appended` tells what the record would
    /// add to a partition's batches (the sticky partitioner asks about its current one).
    pub(crate) fn choose(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        partition_count: u32,
        bytes_if_appended: impl FnOnce(i32) -> usize,
    ) -> Choice {
        match (key, &mut self.keyless) {
            (Some(key), _) if self.uses_keys => Choice {
                partition: partition_for_key(key, partition_count),
                sticky: false,
            },
            (_, Keyless::Sticky(sticky)) => Choice {
                partition: sticky.partition(topic, partition_count, bytes_if_appended),
                sticky: true,
            },
            (_, Keyless::RoundRobin(round_robin)) => Choice {
                partition: round_robin.next(topic, partition_count),
                sticky: false,
            },
        }
    }

    /// A record placed by a sticky [`Choice`] added `bytes` to `partition` of `topic`.
    pub(crate) fn record_appended(&mut self, topic: &str, partition: i32, bytes: usize) {
        if let Keyless::Sticky(sticky) = &mut self.keyless {
            sticky.record_appended(topic, partition, bytes);
        }
    }
}

/// The sticky partitioner's seed: `kafkatx.rng.seed` mixed with the producer's transactional
/// id (or client id). A pool's producers share one configuration, seed included; from the same
/// seed they would all stick to the same partition and switch in step. Its own generator, not
/// the jitter one, so the number of records sent never shifts the retry delays of a replay.
fn partition_seed(config: &ProducerConfig) -> u64 {
    let producer = config
        .transactional_id
        .as_deref()
        .unwrap_or(&config.client_id);
    config.rng_seed ^ fnv1a(producer.as_bytes())
}

/// 64-bit FNV-1a: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// `RoundRobinPartitioner`: one counter per topic.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    next_by_topic: HashMap<String, u32>,
}

impl RoundRobin {
    /// Next partition for a record of `topic`.
    pub(crate) fn next(&mut self, topic: &str, partition_count: u32) -> i32 {
        let count = partition_count.max(1);
        let counter = self.next_by_topic.entry(topic.to_owned()).or_insert(0);
        let chosen = *counter % count;
        *counter = counter.wrapping_add(1);
        i32::try_from(chosen).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn murmur2_matches_java_reference_values() {
        // Expected values from Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn keyed_partition_is_positive_modulo() {
        // "foobar" hashes negative; toPositive keeps the low 31 bits.
        let expected = (-790332482i32 & 0x7fff_ffff) % 7;
        assert_eq!(partition_for_key(b"foobar", 7), expected);
    }

    fn config(transactional_id: &str, class: PartitionerClass) -> ProducerConfig {
        ProducerConfig::builder()
            .bootstrap_servers("a:1")
            .transactional_id(transactional_id)
            .batch_size(100)
            .partitioner(class)
            .rng_seed(7)
            .build()
            .unwrap()
    }

    #[test]
    fn built_in_keeps_murmur2_for_keys_and_sticks_without_one() {
        let mut p = Partitioner::new(&config("tx", PartitionerClass::BuiltIn));
        for key in [&b"foobar"[..], b"21", b"abc"] {
            let choice = p.choose("t", Some(key), 7, |_| 1);
            assert_eq!(choice.partition, partition_for_key(key, 7));
            assert!(!choice.sticky);
        }
        let keyless = p.choose("t", None, 7, |_| 60);
        assert!(keyless.sticky);
        p.record_appended("t", keyless.partition, 60);
        assert_eq!(p.choose("t", None, 7, |_| 40), keyless);
        p.record_appended("t", keyless.partition, 40);
        assert_ne!(p.choose("t", None, 7, |_| 1).partition, keyless.partition);
    }

    #[test]
    fn ignoring_keys_places_keyed_records_on_the_sticky_partition() {
        let config = ProducerConfig {
            partitioner_ignore_keys: true,
            ..config("tx", PartitionerClass::BuiltIn)
        };
        let mut p = Partitioner::new(&config);
        let keyless = p.choose("t", None, 50, |_| 1);
        // 50 keys would land on many partitions by murmur2; all stick instead.
        for n in 0..50 {
            let key = format!("k{n}");
            assert_eq!(p.choose("t", Some(key.as_bytes()), 50, |_| 1), keyless);
        }
    }

    #[test]
    fn the_round_robin_class_cycles_and_ignores_keys_like_java() {
        let mut p = Partitioner::new(&config("tx", PartitionerClass::RoundRobin));
        let picks: Vec<Choice> = [None, Some(&b"foobar"[..]), None, Some(b"foobar")]
            .into_iter()
            .map(|key| p.choose("t", key, 3, |_| 1))
            .collect();
        let partitions: Vec<i32> = picks.iter().map(|c| c.partition).collect();
        assert_eq!(partitions, vec![0, 1, 2, 0]);
        assert!(picks.iter().all(|c| !c.sticky));
    }

    #[test]
    fn one_configuration_replays_and_pooled_producers_start_apart() {
        let first_choices = |id: &str| {
            let mut p = Partitioner::new(&config(id, PartitionerClass::BuiltIn));
            (0..10)
                .map(|_| {
                    let choice = p.choose("t", None, 12, |_| 100);
                    p.record_appended("t", choice.partition, 100);
                    choice.partition
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(first_choices("pool-0"), first_choices("pool-0"));
        // Same seed, different transactional ids: not all on one partition.
        let starts: HashSet<i32> = (0..16)
            .map(|slot| first_choices(&format!("pool-{slot}"))[0])
            .collect();
        assert!(starts.len() > 4, "{starts:?}");
    }

    #[test]
    fn round_robin_cycles_per_topic() {
        let mut rr = RoundRobin::default();
        let picks: Vec<i32> = (0..5).map(|_| rr.next("a", 3)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1]);
        assert_eq!(rr.next("b", 3), 0);
    }
}
