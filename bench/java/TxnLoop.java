// The reference for the gateway's default mode: Kafka's own Java client, N transactional
// producers, each in a tight loop of begin, two keyless records, commit, reused at once.
// What it reaches on a broker is the ceiling a pool of N producers can reach there.
//
//   java -cp 'LIBS/*' bench/java/TxnLoop.java BOOTSTRAP TOPIC PRODUCERS SECONDS [COMPRESSION]
//
// Prints one line: producers=N transactions=T per_second=R slowest_ms=S
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnLoop {
    public static void main(String[] args) throws Exception {
        String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
        String topic = args.length > 1 ? args[1] : "txn-loop";
        int producers = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        long seconds = args.length > 3 ? Long.parseLong(args[3]) : 10;
        String compression = args.length > 4 ? args[4] : "zstd";
        String prefix = "txn-loop-java-" + ProcessHandle.current().pid();

        AtomicLong total = new AtomicLong();
        AtomicLong slowestNanos = new AtomicLong();
        // begin and the two sends (client work only) and the commit call, summed over all.
        AtomicLong openNanos = new AtomicLong();
        AtomicLong commitNanos = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int i = 0; i < producers; i++) {
            Properties props = new Properties();
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, prefix + "-" + i);
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            Thread thread = new Thread(() -> {
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                    producer.initTransactions();
                    long end = System.nanoTime() + seconds * 1_000_000_000L;
                    long count = 0;
                    while (System.nanoTime() < end) {
                        long started = System.nanoTime();
                        producer.beginTransaction();
                        producer.send(new ProducerRecord<>(topic, "a-" + count));
                        producer.send(new ProducerRecord<>(topic, "b-" + count));
                        long opened = System.nanoTime();
                        producer.commitTransaction();
                        long ended = System.nanoTime();
                        openNanos.addAndGet(opened - started);
                        commitNanos.addAndGet(ended - opened);
                        long took = ended - started;
                        slowestNanos.accumulateAndGet(took, Math::max);
                        count++;
                    }
                    total.addAndGet(count);
                } catch (Throwable t) {
                    synchronized (failures) {
                        failures.add(t);
                    }
                }
            });
            threads.add(thread);
            thread.start();
        }
        for (Thread thread : threads) {
            thread.join();
        }
        if (!failures.isEmpty()) {
            failures.get(0).printStackTrace();
            System.exit(1);
        }
        double count = Math.max(1, total.get());
        System.out.printf(
            "producers=%d transactions=%d per_second=%.1f slowest_ms=%.2f open_us=%.1f commit_us=%.1f%n",
            producers, total.get(), total.get() / (double) seconds, slowestNanos.get() / 1e6,
            openNanos.get() / 1e3 / count, commitNanos.get() / 1e3 / count);
    }
}
