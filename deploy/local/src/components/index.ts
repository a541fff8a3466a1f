import type { Component } from '../platform-context';
import { composeCli } from './compose-cli';
import { gvisor } from './gvisor';
import { kafka } from './kafka';
import { kernelEnv } from './kernel-env';
import { localLlm } from './local-llm';
import { agent, billing, docSync, gateway, gpuScheduler, hostWorker, workflowWorker } from './node-services';
import { objectStore } from './object-store';
import { postgres } from './postgres';
import { temporal } from './temporal';
import { chromium, webBuild } from './web-build';

/** Infrastructure every service needs; started in parallel. */
export const INFRASTRUCTURE: readonly Component[] = [
  postgres,
  kafka,
  temporal,
  objectStore,
  gvisor,
  kernelEnv,
  localLlm,
];
/** Quire's own processes; started after the infrastructure, in this order. */
export const SERVICES: readonly Component[] = [
  gpuScheduler,
  workflowWorker,
  hostWorker,
  billing,
  docSync,
  webBuild,
  gateway,
  agent,
];
export const ALL_COMPONENTS: readonly Component[] = [...INFRASTRUCTURE, ...SERVICES];
/** Needed only by the test suite. */
export const TEST_TOOLS: readonly Component[] = [composeCli, chromium];

export {
  agent,
  billing,
  chromium,
  composeCli,
  docSync,
  gateway,
  gpuScheduler,
  hostWorker,
  gvisor,
  kafka,
  kernelEnv,
  localLlm,
  objectStore,
  postgres,
  temporal,
  webBuild,
  workflowWorker,
};
