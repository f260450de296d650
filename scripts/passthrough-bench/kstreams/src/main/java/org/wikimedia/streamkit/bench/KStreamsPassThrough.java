package org.wikimedia.streamkit.bench;

import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Copies one topic to another with Kafka Streams, exactly once
 * (processing.guarantee=exactly_once_v2, commit.interval.ms=1000), until
 * SIGTERM. Keys and values are passed through as bytes, stateless.
 *
 * <p>Usage: KStreamsPassThrough bootstrap input output application-id
 * state-dir threads
 *
 * <p>Prints "first UNIX-NANOS" on stdout when the first record reaches the
 * topology, then "started"-free silence: the driver counts the output
 * topic's committed records itself.
 */
public final class KStreamsPassThrough {
    private KStreamsPassThrough() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: KStreamsPassThrough bootstrap input output application-id state-dir threads");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[3]);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(args[5]));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        AtomicBoolean first = new AtomicBoolean();
        StreamsBuilder b = new StreamsBuilder();
        b.stream(args[1], Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
            .peek((k, v) -> {
                if (!first.get() && first.compareAndSet(false, true)) {
                    Instant t = Instant.now();
                    System.out.println("first " + (t.getEpochSecond() * 1_000_000_000L + t.getNano()));
                    System.out.flush();
                }
            })
            .to(args[2], Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            done.countDown();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            done.countDown();
        }));
        streams.start();
        done.await();
    }
}
