// An independent transactional producer for tests: Kafka's own Java client writes the given
// values to partition 0 of a topic in ONE transaction, then commits or aborts it.
// Run through the script so the Maven jars are on the class path (Java source launch):
//   integration/kafka java integration/java/TxnWriter.java BOOTSTRAP TOPIC TXN_ID commit|abort VALUE...
import java.util.Arrays;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnWriter {
    public static void main(String[] args) {
        if (args.length < 4 || !(args[3].equals("commit") || args[3].equals("abort"))) {
            System.err.println("usage: TxnWriter BOOTSTRAP TOPIC TXN_ID commit|abort VALUE...");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("transactional.id", args[2]);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (String value : Arrays.copyOfRange(args, 4, args.length)) {
                producer.send(new ProducerRecord<>(args[1], 0, null, value));
            }
            // Make sure the records are in the log before the outcome is decided, so an
            // aborted transaction really leaves aborted records behind.
            producer.flush();
            if (args[3].equals("commit")) {
                producer.commitTransaction();
            } else {
                producer.abortTransaction();
            }
        }
    }
}
