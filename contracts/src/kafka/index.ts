export * from './wire-format';
export * from './trace-context';
export * from './topic-admin';
export * from './kafka-client';
export * from './event-producer';
export * from './event-consumer';
export * from './batch-event-consumer';
