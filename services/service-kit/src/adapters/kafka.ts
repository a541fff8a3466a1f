import { createKafka } from '@quire/contracts/kafka';
import type { Kafka } from 'kafkajs';

export function createServiceKafka(
  cfg: { QUIRE_KAFKA_BROKERS: string[]; QUIRE_KAFKA_SSL: boolean },
  clientId: string,
): Kafka {
  return createKafka({ brokers: cfg.QUIRE_KAFKA_BROKERS, clientId, ssl: cfg.QUIRE_KAFKA_SSL });
}
