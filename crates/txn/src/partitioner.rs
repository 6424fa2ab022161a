//! Partition choice for records without an explicit partition.
//!
//! Keyed records use the Java client's `murmur2` so that a key lands on the same partition
//! as with the Java producer: `toPositive(murmur2(key)) % numPartitions`. Keyless records
//! are spread round-robin per topic.

use std::collections::HashMap;

/// Java's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, little-endian blocks.
pub fn murmur2(data: &[u8]) -> i32 {
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
pub fn to_positive(value: i32) -> i32 {
    value & 0x7fff_ffff
}

/// The partition the Java client's default partitioner picks for a keyed record.
pub fn partition_for_key(key: &[u8], partition_count: u32) -> i32 {
    let count = i64::from(partition_count.max(1));
    let chosen = i64::from(to_positive(murmur2(key))) % count;
    i32::try_from(chosen).unwrap_or(0)
}

/// Keyless records go round-robin, one counter per topic.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next_by_topic: HashMap<String, u32>,
}

impl RoundRobin {
    /// Next partition for a keyless record of `topic`.
    pub fn next(&mut self, topic: &str, partition_count: u32) -> i32 {
        let count = partition_count.max(1);
        let counter = self.next_by_topic.entry(topic.to_owned()).or_insert(0);
        let chosen = *counter % count;
        *counter = counter.wrapping_add(1);
        i32::try_from(chosen).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn round_robin_cycles_per_topic() {
        let mut rr = RoundRobin::default();
        let picks: Vec<i32> = (0..5).map(|_| rr.next("a", 3)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1]);
        assert_eq!(rr.next("b", 3), 0);
    }
}
