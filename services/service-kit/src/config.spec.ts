import { z } from 'zod';
import {
  ConfigError,
  kafkaConfigSchema,
  loadConfig,
  postgresConfigSchema,
  serviceConfigSchema,
} from './config';

const schema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
});

describe('typed config from QUIRE_* variables', () => {
  it('parses, splits and defaults', () => {
    const cfg = loadConfig(schema, {
      QUIRE_KAFKA_BROKERS: 'a:9092, b:9092',
      QUIRE_POSTGRES_URL: 'postgres://u:p@h/db',
    });
    expect(cfg.QUIRE_KAFKA_BROKERS).toEqual(['a:9092', 'b:9092']);
    expect(cfg.QUIRE_KAFKA_SSL).toBe(false);
    expect(cfg.QUIRE_POSTGRES_POOL_SIZE).toBe(10);
    expect(cfg.QUIRE_LOG_LEVEL).toBe('info');
  });

  it('lists every problem with the variable to fix, at boot', () => {
    try {
      loadConfig(schema, { QUIRE_POSTGRES_URL: 'mysql://x', QUIRE_LOG_LEVEL: 'chatty' });
      fail('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/QUIRE_KAFKA_BROKERS/);
      expect(msg).toMatch(/QUIRE_POSTGRES_URL: must be a postgres:\/\/ URL/);
      expect(msg).toMatch(/QUIRE_LOG_LEVEL/);
    }
  });
});
