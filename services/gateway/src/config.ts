import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  s3ConfigSchema,
  serviceConfigSchema,
  temporalConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';

export const gatewayConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...s3ConfigSchema.shape,
  ...temporalConfigSchema.shape,
  QUIRE_GATEWAY_PORT: port.default(8080),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayConfigSchema, env);
}
