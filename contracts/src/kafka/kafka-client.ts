import { Kafka, logLevel, Partitioners, type KafkaConfig, type Producer, type ProducerConfig } from 'kafkajs';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/** One place that turns Quire's Kafka settings into a kafkajs client. */
export function createKafka(conn: KafkaConnection, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: conn.clientId,
    brokers: conn.brokers,
    ssl: conn.ssl ?? false,
    ...(conn.sasl ? { sasl: conn.sasl as KafkaConfig['sasl'] } : {}),
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 8 },
    ...overrides,
  });
}

/**
 * Producers always use kafkajs's default partitioner (murmur2, the Java
 * client's), so a key lands on the same partition whichever client wrote it.
 */
export function createProducer(kafka: Kafka, overrides: ProducerConfig = {}): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    ...overrides,
  });
}
