/**
 * The pure part of contracts: envelope, topic registry, event schemas. Safe to
 * import from Temporal workflow code (no Node built-ins, no I/O). Kafka helpers
 * live in `@quire/contracts/kafka`.
 */
export * from './envelope';
export * from './topics';
export * from './uuidv7';
export * from './events/common';
export * from './events/host-events.v1';
export * from './events/exec.v1';
export * from './events/kernel-lifecycle.v1';
export * from './events/doc.v1';
export * from './events/billing-usage.v1';
export * from './events/agent.v1';
export * from './events/gpu.v1';
export * from './events/registry';
export * from './temporal';
export * from './api/host-worker-api';
export * from './api/snapshot-object-keys';
export * from './api/kernel-lifecycle-api';
export * from './api/kernel-channel';
export * from './notebook/notebook-document';
export * from './api/auth-tokens';
export * from './api/doc-sync-api';
export * from './api/gateway-api';
export * from './api/gpu-scheduler-api';
export * from './api/agent-api';
