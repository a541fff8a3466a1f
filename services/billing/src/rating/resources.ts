import type { Resource } from '../metering/usage';

/**
 * Each resource's billing unit, the integer base unit the ledger stores, and
 * how many base units make one billing unit. Quantities are converted (and
 * rounded) only when a line is rated; the ledger itself is exact.
 */
export interface ResourceSpec {
  unit: 'cpu-second' | 'gib-second' | 'gpu-second' | 'gib-hour' | 'token' | 'step' | 'currency-unit';
  baseUnit: 'millicore-ms' | 'byte-ms' | 'ms' | 'token' | 'step' | 'nano-currency-unit';
  factor: bigint;
}

const GIB = 2n ** 30n;

export const RESOURCES: Record<Resource, ResourceSpec> = {
  cpu: { unit: 'cpu-second', baseUnit: 'millicore-ms', factor: 1_000_000n },
  memory: { unit: 'gib-second', baseUnit: 'byte-ms', factor: GIB * 1000n },
  gpu: { unit: 'gpu-second', baseUnit: 'ms', factor: 1000n },
  'snapshot-storage': { unit: 'gib-hour', baseUnit: 'byte-ms', factor: GIB * 3_600_000n },
  'agent-tokens': { unit: 'token', baseUnit: 'token', factor: 1n },
  'agent-steps': { unit: 'step', baseUnit: 'step', factor: 1n },
  // The LLM cost the agent priced from its org's provider settings (AgentStep / AgentRunFinished
  // `cost`), in 10⁻⁹ of its currency; SKU `agent-cost/<currency>`.
  'agent-cost': { unit: 'currency-unit', baseUnit: 'nano-currency-unit', factor: 1_000_000_000n },
};

/** Decimal places of a rated quantity and of an amount. */
export const QUANTITY_SCALE = 9;
export const AMOUNT_SCALE = 6;
/** Currency minor units for the amount due on an invoice. */
export const DUE_SCALE = 2;

export function isResource(r: string): r is Resource {
  return r in RESOURCES;
}
