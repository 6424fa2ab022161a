// The end of a fault campaign's segment, seen by Kafka's own Java client: does a read_committed
// consumer reach the end of every partition, and how soon?
//
//   integration/kafka java faults/EndCheck.java BOOTSTRAP DEADLINE_UNIX_MS TOPIC...
//
// It notes each partition's high watermark (the read_uncommitted end) when it starts, then
// consumes with isolation.level=read_committed from the last stable offset of that moment until
// its position reaches that high watermark in every partition: only then has every transaction
// that was open at the start been committed or aborted. It gives up at DEADLINE_UNIX_MS.
// Prints one JSON object on stdout; exit 0 when the end was reached, 1 otherwise.
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class EndCheck {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: EndCheck BOOTSTRAP DEADLINE_UNIX_MS TOPIC...");
            System.exit(2);
        }
        String bootstrap = args[0];
        long deadline = Long.parseLong(args[1]);
        List<String> topics = new ArrayList<>();
        for (int i = 2; i < args.length; i++) topics.add(args[i]);
        long started = System.currentTimeMillis();

        Properties adminProps = new Properties();
        adminProps.put("bootstrap.servers", bootstrap);
        adminProps.put("request.timeout.ms", "10000");
        adminProps.put("default.api.timeout.ms", "30000");
        Map<TopicPartition, Long> highWatermarks = new HashMap<>();
        Map<TopicPartition, Long> stableOffsets = new HashMap<>();
        try (Admin admin = Admin.create(adminProps)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (TopicDescription d : admin.describeTopics(topics).allTopicNames().get().values()) {
                d.partitions().forEach(p -> partitions.add(new TopicPartition(d.name(), p.partition())));
            }
            highWatermarks = ends(admin, partitions, IsolationLevel.READ_UNCOMMITTED);
            stableOffsets = ends(admin, partitions, IsolationLevel.READ_COMMITTED);
        }

        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("isolation.level", "read_committed");
        props.put("enable.auto.commit", "false");
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        long records = 0;
        Map<TopicPartition, Long> positions = new HashMap<>();
        boolean reached = false;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(highWatermarks.keySet());
            for (Map.Entry<TopicPartition, Long> e : stableOffsets.entrySet()) {
                consumer.seek(e.getKey(), e.getValue());
            }
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(200));
                records += batch.count();
                reached = true;
                for (Map.Entry<TopicPartition, Long> e : highWatermarks.entrySet()) {
                    long position = consumer.position(e.getKey(), Duration.ofSeconds(10));
                    positions.put(e.getKey(), position);
                    if (position < e.getValue()) reached = false;
                }
                if (reached) break;
            }
        }
        long finished = System.currentTimeMillis();
        StringBuilder json = new StringBuilder();
        json.append("{\"reached\":").append(reached)
            .append(",\"started_unix_ms\":").append(started)
            .append(",\"finished_unix_ms\":").append(finished)
            .append(",\"records_read\":").append(records)
            .append(",\"partitions\":[");
        boolean first = true;
        for (Map.Entry<TopicPartition, Long> e : highWatermarks.entrySet()) {
            TopicPartition tp = e.getKey();
            if (!first) json.append(',');
            first = false;
            json.append("{\"topic\":\"").append(tp.topic()).append("\",\"partition\":").append(tp.partition())
                .append(",\"high_watermark\":").append(e.getValue())
                .append(",\"stable_offset_at_start\":").append(stableOffsets.get(tp))
                .append(",\"position\":").append(positions.getOrDefault(tp, -1L)).append('}');
        }
        json.append("]}");
        System.out.println(json);
        System.exit(reached ? 0 : 1);
    }

    private static Map<TopicPartition, Long> ends(Admin admin, List<TopicPartition> partitions,
                                                  IsolationLevel isolation) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (TopicPartition tp : partitions) request.put(tp, OffsetSpec.latest());
        Map<TopicPartition, Long> out = new HashMap<>();
        admin.listOffsets(request, new ListOffsetsOptions(isolation)).all().get()
            .forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }
}
