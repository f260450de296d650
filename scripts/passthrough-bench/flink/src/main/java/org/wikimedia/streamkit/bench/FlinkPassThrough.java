package org.wikimedia.streamkit.bench;

import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Copies one topic to another with an Apache Flink DataStream job on a local
 * MiniCluster in this JVM: KafkaSource (read_committed, from the earliest
 * offsets) to KafkaSink with DeliveryGuarantee.EXACTLY_ONCE, checkpoints
 * every second, until SIGTERM.
 *
 * <p>Usage: FlinkPassThrough bootstrap input output group parallelism
 *
 * <p>Prints "first UNIX-NANOS" on stdout when the first record is
 * deserialized; the driver counts the output topic's committed records.
 */
public final class FlinkPassThrough {
    private FlinkPassThrough() {}

    static final AtomicBoolean FIRST = new AtomicBoolean();

    /** Key and value as they are, and the "first" line on the first record. */
    static final class Bytes implements KafkaRecordDeserializationSchema<Tuple2<byte[], byte[]>> {
        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<Tuple2<byte[], byte[]>> out) {
            if (!FIRST.get() && FIRST.compareAndSet(false, true)) {
                Instant t = Instant.now();
                System.out.println("first " + (t.getEpochSecond() * 1_000_000_000L + t.getNano()));
                System.out.flush();
            }
            out.collect(Tuple2.of(r.key(), r.value()));
        }

        @Override
        public TypeInformation<Tuple2<byte[], byte[]>> getProducedType() {
            return Types.TUPLE(Types.PRIMITIVE_ARRAY(Types.BYTE), Types.PRIMITIVE_ARRAY(Types.BYTE));
        }
    }

    /** The same key and value to the output topic, partitioned by Kafka's default partitioner. */
    static final class ToTopic implements KafkaRecordSerializationSchema<Tuple2<byte[], byte[]>> {
        private final String topic;

        ToTopic(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(
                Tuple2<byte[], byte[]> e, KafkaSinkContext ctx, Long timestamp) {
            return new ProducerRecord<>(topic, null, timestamp, e.f0, e.f1);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: FlinkPassThrough bootstrap input output group parallelism");
            System.exit(2);
        }
        String bootstrap = args[0];
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(Integer.parseInt(args[4]));
        env.enableCheckpointing(1000); // exactly-once checkpoints (the default mode)

        KafkaSource<Tuple2<byte[], byte[]>> source = KafkaSource.<Tuple2<byte[], byte[]>>builder()
            .setBootstrapServers(bootstrap)
            .setTopics(args[1])
            .setGroupId(args[3])
            .setStartingOffsets(OffsetsInitializer.earliest())
            .setDeserializer(new Bytes())
            .setProperty("isolation.level", "read_committed")
            .build();

        Properties producer = new Properties();
        // Flink's default (1 h) is above the broker's transaction.max.timeout.ms (15 min).
        producer.setProperty("transaction.timeout.ms", "600000");
        KafkaSink<Tuple2<byte[], byte[]>> sink = KafkaSink.<Tuple2<byte[], byte[]>>builder()
            .setBootstrapServers(bootstrap)
            .setKafkaProducerConfig(producer)
            .setRecordSerializer(new ToTopic(args[2]))
            .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .setTransactionalIdPrefix(args[3])
            .build();

        env.fromSource(source, WatermarkStrategy.noWatermarks(), "kafka-in")
            .sinkTo(sink)
            .name("kafka-out");
        env.execute("passthrough " + args[1] + " -> " + args[2]);
    }
}
