import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';

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
