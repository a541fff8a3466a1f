import { sleep } from '@temporalio/workflow';
import type { AgentRunInput, AgentRunResult } from '../../src/workflows/agent-run.types';
import { agentRun as today } from '../../src/workflows/agent-run.workflow';

/**
 * The negative control of the replay test: today's agent-run workflow with
 * one deliberately non-deterministic change (a timer before everything else,
 * as if someone added a step without `patched()`). Replaying any recorded
 * history against it must fail.
 */
export async function agentRun(input: AgentRunInput): Promise<AgentRunResult> {
  await sleep(1);
  return today(input);
}
