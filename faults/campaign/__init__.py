"""The fault campaign behind `./dev faults` (faults/run): a 3-node Kafka cluster, two kafkatx
gateways (or, with --target sarama, the seed's sarama server) and `kafkatx load` under injected
faults, judged afterwards. See docs/reliability.md (and docs/reliability-sarama.md)."""
