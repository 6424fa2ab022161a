"""The fault campaign behind `./dev faults` (faults/run): a 3-node Kafka cluster, two kafkatx
gateways and `kafkatx load` under injected faults, judged afterwards. See docs/reliability.md."""
