// Kafka's own Java producer as the load of a fault experiment (faults/java_pause_experiment):
// is it fenced where a kafkatx producer was?
//
//   integration/kafka java faults/TxnLoop.java BOOTSTRAP TOPIC PRODUCERS SECONDS [ID_PREFIX]
//
// It stops after SECONDS, or earlier when its standard input ends (the driver closes it).
// PRODUCERS transactional KafkaProducers (transactional ids ID_PREFIX-0.., default "javaloop"),
// each in its own thread, with the campaign gateways' settings (request.timeout.ms 6000,
// delivery.timeout.ms 20000, transaction.timeout.ms 30000), loop begin / send 2 records /
// commit for SECONDS seconds. Every exception is printed as one line
//   <unix ms> <transactional id> EXC <where> <class>: <message> [<- <cause class>: <message>]
// A ProducerFencedException or InvalidProducerEpochException ends that producer's loop (both
// are fatal for a KafkaProducer: it is closed and a new one created with the same id, as the
// gateway's pool does); an abortable error aborts the transaction; a TimeoutException at
// commit is retried by calling commitTransaction again (Java's documented resume). Every 10 s
// and at the end one line of counts per producer; the last line is one JSON object of totals.
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TxnLoop {
    static final AtomicBoolean STOP = new AtomicBoolean();

    static void log(String id, String what) {
        synchronized (System.out) {
            System.out.println(System.currentTimeMillis() + " " + id + " " + what);
            System.out.flush();
        }
    }

    static String describe(Throwable e) {
        String s = e.getClass().getName() + ": " + e.getMessage();
        Throwable c = e.getCause();
        if (c != null && c != e) s += " <- " + c.getClass().getName() + ": " + c.getMessage();
        return s.replace('\n', ' ');
    }

    static boolean isFence(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) return true;
        }
        return false;
    }

    static final class Worker implements Runnable {
        final String bootstrap, topic, id;
        final AtomicLong commits = new AtomicLong(), aborts = new AtomicLong(),
                fences = new AtomicLong(), timeouts = new AtomicLong(), otherErrors = new AtomicLong(),
                recreated = new AtomicLong();
        volatile long lastCommitMs = 0;

        Worker(String bootstrap, String topic, String id) {
            this.bootstrap = bootstrap;
            this.topic = topic;
            this.id = id;
        }

        KafkaProducer<byte[], byte[]> create() {
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
            p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 6000);
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20000);
            p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 30000);
            p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
            p.put(ProducerConfig.CLIENT_ID_CONFIG, id);
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            return new KafkaProducer<>(p);
        }

        public void run() {
            long n = 0;
            while (!STOP.get()) {
                KafkaProducer<byte[], byte[]> producer = null;
                try {
                    producer = create();
                    initWithRetry(producer);
                    log(id, "INIT ok");
                    while (!STOP.get()) {
                        n++;
                        if (!oneTransaction(producer, n)) break; // fenced or fatal: a new producer
                    }
                } catch (Exception e) {
                    otherErrors.incrementAndGet();
                    log(id, "EXC init " + describe(e));
                } finally {
                    if (producer != null) {
                        try {
                            producer.close(java.time.Duration.ofSeconds(5));
                        } catch (Exception e) {
                            log(id, "EXC close " + describe(e));
                        }
                    }
                }
                if (!STOP.get()) {
                    recreated.incrementAndGet();
                    sleep(200);
                }
            }
        }

        void initWithRetry(KafkaProducer<byte[], byte[]> producer) {
            while (true) {
                try {
                    producer.initTransactions();
                    return;
                } catch (TimeoutException e) {
                    timeouts.incrementAndGet();
                    log(id, "EXC initTransactions " + describe(e));
                    if (STOP.get()) throw e;
                }
            }
        }

        /** One transaction; false when the producer must be replaced. */
        boolean oneTransaction(KafkaProducer<byte[], byte[]> producer, long n) {
            String stage = "begin";
            try {
                producer.beginTransaction();
                stage = "send";
                for (int i = 0; i < 2; i++) {
                    byte[] v = (id + " " + n + " " + i).getBytes();
                    producer.send(new ProducerRecord<>(topic, null, v), (md, e) -> {
                        if (e != null) log(id, "EXC send-callback " + describe(e));
                    });
                }
                stage = "commit";
                while (true) {
                    try {
                        producer.commitTransaction();
                        break;
                    } catch (TimeoutException e) {
                        // max.block.ms passed: calling commitTransaction again resumes the commit.
                        timeouts.incrementAndGet();
                        log(id, "EXC commit-timeout " + describe(e));
                        if (STOP.get()) return false;
                    }
                }
                commits.incrementAndGet();
                lastCommitMs = System.currentTimeMillis();
                return true;
            } catch (Exception e) {
                boolean fence = isFence(e);
                if (fence) fences.incrementAndGet();
                else otherErrors.incrementAndGet();
                log(id, "EXC " + stage + (fence ? " FENCED " : " ") + describe(e));
                if (fence) return false;
                try {
                    producer.abortTransaction();
                    aborts.incrementAndGet();
                    log(id, "ABORT ok");
                    return true;
                } catch (Exception e2) {
                    if (isFence(e2)) fences.incrementAndGet();
                    log(id, "EXC abort" + (isFence(e2) ? " FENCED " : " ") + describe(e2));
                    return false;
                }
            }
        }

        String counts() {
            return "commits=" + commits + " aborts=" + aborts + " fences=" + fences + " timeouts=" + timeouts
                    + " other_errors=" + otherErrors + " recreated=" + recreated;
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: TxnLoop BOOTSTRAP TOPIC PRODUCERS SECONDS [ID_PREFIX]");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1];
        int producers = Integer.parseInt(args[2]);
        long seconds = Long.parseLong(args[3]);
        String prefix = args.length > 4 ? args[4] : "javaloop";
        List<Worker> workers = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < producers; i++) {
            Worker w = new Worker(bootstrap, topic, prefix + "-" + i);
            workers.add(w);
            Thread t = new Thread(w, w.id);
            threads.add(t);
            t.start();
        }
        long end = System.currentTimeMillis() + seconds * 1000;
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() >= 0) { }
            } catch (java.io.IOException e) {
                // as the end of input
            }
            STOP.set(true);
        }, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        while (System.currentTimeMillis() < end && !STOP.get()) {
            for (int i = 0; i < 100 && !STOP.get() && System.currentTimeMillis() < end; i++) sleep(100);
            for (Worker w : workers) log(w.id, "COUNTS " + w.counts());
        }
        STOP.set(true);
        for (Thread t : threads) t.join(60000);
        long c = 0, a = 0, f = 0, t = 0, o = 0, r = 0;
        for (Worker w : workers) {
            log(w.id, "FINAL " + w.counts());
            c += w.commits.get();
            a += w.aborts.get();
            f += w.fences.get();
            t += w.timeouts.get();
            o += w.otherErrors.get();
            r += w.recreated.get();
        }
        System.out.println("{\"producers\": " + producers + ", \"commits\": " + c + ", \"aborts\": " + a
                + ", \"fences\": " + f + ", \"timeouts\": " + t + ", \"other_errors\": " + o
                + ", \"recreated\": " + r + "}");
        System.exit(0);
    }
}
