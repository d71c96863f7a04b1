package rxkafka.bench;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams contender of the benchmark matrix (benchmarks/src/matrix): at_least_once,
 * commit.interval.ms 1000 (rxkafka's commit cadence), bytes in and bytes out. It prints the same
 * result line as the Node contenders (common.ts).
 *
 * <p>consume: foreach that counts; passthrough and latency: to(outTopic), a record is done when the
 * producer acknowledges its output (a producer interceptor counts the acknowledgements); io: a
 * foreach that sleeps, num.stream.threads = min(concurrency, partitions) (a stream thread handles
 * one record at a time); stall: a foreach that never returns. The window opens when the instance
 * goes RUNNING (partitions assigned).
 */
public final class StreamsBench {
  static final AtomicLong done = new AtomicLong();
  static final AtomicLong bytes = new AtomicLong();
  static final AtomicLong handed = new AtomicLong();
  static final AtomicBoolean reported = new AtomicBoolean();
  static final long processStart = System.nanoTime()
      - ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000L;
  static volatile long assignedAt;
  static volatile long firstAt;
  static volatile double cpuStart;
  static long target;

  private StreamsBench() {}

  /** Counts acknowledged outputs: the passthrough is done when every output is acknowledged. */
  public static final class AckCounter implements ProducerInterceptor<byte[], byte[]> {
    @Override
    public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> record) {
      return record;
    }

    @Override
    public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
      if (exception != null) {
        System.err.println("produce failed: " + exception);
        Runtime.getRuntime().halt(1);
      }
      recordDone();
    }

    @Override
    public void close() {}

    @Override
    public void configure(Map<String, ?> configs) {}
  }

  static double cpuSeconds() {
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    return os.getProcessCpuTime() / 1e9;
  }

  static long peakRssMB() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
        }
      }
    } catch (Exception e) {
      // fall through
    }
    return -1;
  }

  static synchronized void assigned() {
    if (assignedAt == 0) {
      assignedAt = System.nanoTime();
      cpuStart = cpuSeconds();
    }
  }

  static synchronized boolean first() {
    if (firstAt != 0) return false;
    firstAt = System.nanoTime();
    assigned();
    return true;
  }

  static void recordDone() {
    long n = done.incrementAndGet();
    if (target > 0 && n == target) report(n, "");
  }

  static void report(long records, String note) {
    if (!reported.compareAndSet(false, true)) return;
    long now = System.nanoTime();
    long first = firstAt == 0 ? now : firstAt;
    long assigned = assignedAt == 0 ? first : assignedAt;
    String line = String.format(
        java.util.Locale.ROOT,
        "BENCH_RESULT {\"records\":%d,\"bytes\":%d,\"joinMs\":%d,\"firstRecordMs\":%d,\"windowMs\":%.1f,"
            + "\"cpuSeconds\":%.3f,\"peakRssMB\":%d%s}",
        records,
        bytes.get(),
        (assigned - processStart) / 1_000_000,
        (first - assigned) / 1_000_000,
        (now - assigned) / 1e6,
        cpuSeconds() - cpuStart,
        peakRssMB(),
        note.isEmpty() ? "" : ",\"note\":\"" + note + "\"");
    System.out.println(line);
    System.out.flush();
    Runtime.getRuntime().halt(0);
  }

  static String str(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
    return m.find() ? m.group(1) : null;
  }

  static double num(String json, String key, double fallback) {
    Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*(-?[0-9.]+)").matcher(json);
    return m.find() ? Double.parseDouble(m.group(1)) : fallback;
  }

  public static void main(String[] args) throws Exception {
    String json = args[0];
    String scenario = str(json, "scenario");
    String topic = str(json, "topic");
    String outTopic = str(json, "outTopic");
    String group = str(json, "group");
    target = (long) num(json, "records", 0);
    int partitions = (int) num(json, "partitions", 1);
    int concurrency = (int) num(json, "concurrency", 1);
    long delayNanos = (long) (num(json, "delayMs", 0) * 1e6);
    long stallMs = (long) num(json, "stallMs", 10_000);
    long maxMs = (long) num(json, "maxMs", 0);

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, group.replaceAll("[^a-zA-Z0-9._-]", "_"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, str(json, "brokers"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "io".equals(scenario) ? Math.min(concurrency, partitions) : 1);
    props.put(StreamsConfig.STATE_DIR_CONFIG, "/tmp/bench-streams-state");
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG), AckCounter.class.getName());

    StreamsBuilder builder = new StreamsBuilder();
    KStream<byte[], byte[]> in = builder.stream(topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
    KStream<byte[], byte[]> seen = in.peek((k, v) -> {
      if (first()) {
        Thread timer = null;
        if ("stall".equals(scenario)) {
          timer = new Thread(() -> {
            sleep(stallMs);
            report(handed.get(), handed.get() + " records handed to the stalled handler");
          });
        } else if (maxMs > 0) {
          timer = new Thread(() -> {
            sleep(maxMs);
            report(done.get(), "window cut at maxMs");
          });
        }
        if (timer != null) {
          timer.setDaemon(true);
          timer.start();
        }
      }
      bytes.addAndGet(v == null ? 0 : v.length);
      handed.incrementAndGet();
    });
    switch (scenario) {
      case "passthrough", "latency" -> seen.to(outTopic, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
      case "io" -> seen.foreach((k, v) -> {
        sleepNanos(delayNanos);
        recordDone();
      });
      case "stall" -> seen.foreach((k, v) -> sleep(Long.MAX_VALUE));
      default -> seen.foreach((k, v) -> recordDone());
    }

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) assigned();
    });
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("stream thread failed: " + e);
      Runtime.getRuntime().halt(1);
      return null;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> report(done.get(), "stopped by signal")));
    streams.start();
    Thread.currentThread().join();
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void sleepNanos(long nanos) {
    try {
      Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
