import type { EventDefinition } from '../envelope';
import { AGENT_EVENTS } from './agent.v1';
import { BILLING_USAGE_EVENTS } from './billing-usage.v1';
import { DOC_EVENTS } from './doc.v1';
import { EXEC_EVENTS } from './exec.v1';
import { GPU_EVENTS } from './gpu.v1';
import { HOST_EVENTS } from './host-events.v1';
import { KERNEL_LIFECYCLE_EVENTS } from './kernel-lifecycle.v1';

/** Every published event definition. Adding one here is what makes it producible and consumable. */
export const ALL_EVENTS: readonly EventDefinition[] = [
  ...HOST_EVENTS,
  ...EXEC_EVENTS,
  ...KERNEL_LIFECYCLE_EVENTS,
  ...DOC_EVENTS,
  ...BILLING_USAGE_EVENTS,
  ...AGENT_EVENTS,
  ...GPU_EVENTS,
];

const byKey = new Map<string, EventDefinition>(
  ALL_EVENTS.map((d) => [registryKey(d.type, d.schemaVersion), d]),
);

function registryKey(type: string, version: number): string {
  return `${type}@${version}`;
}

export function findEventDefinition(type: string, schemaVersion: number): EventDefinition | undefined {
  return byKey.get(registryKey(type, schemaVersion));
}

export function eventsOfTopic(topic: string): EventDefinition[] {
  return ALL_EVENTS.filter((d) => d.topic === topic);
}
