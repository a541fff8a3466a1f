import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { currency, decimal, id, millis } from './common';

const topic = TOPICS.agent.name;

export const AgentRunStarted = defineEvent({
  type: 'quire.agent.AgentRunStarted',
  schemaVersion: 1,
  topic,
  description: 'An agent run began with its budget.',
  data: z.object({
    runId: id,
    notebookId: id,
    kernelId: id,
    userId: id,
    budget: z.object({
      maxSteps: z.number().int().positive(),
      maxTokens: z.number().int().positive(),
      maxCost: decimal,
      /** Wall-time budget. Added compatibly. */
      maxWallMs: millis.optional(),
    }),
    /** Added compatibly: review (default) or auto; dry run in a forked kernel. */
    mode: z.enum(['review', 'auto']).optional(),
    dryRun: z.boolean().optional(),
    /** The LLM provider and model the run uses. Added compatibly. */
    provider: z.object({ kind: z.string().min(1), model: z.string().min(1) }).optional(),
  }),
});

export const AgentStep = defineEvent({
  type: 'quire.agent.AgentStep',
  schemaVersion: 1,
  topic,
  description: 'One LLM call plus the cell it ran.',
  data: z.object({
    runId: id,
    step: z.number().int().positive(),
    tokens: z.object({ prompt: z.number().int().nonnegative(), completion: z.number().int().nonnegative() }),
    execMs: millis,
    /** Added compatibly: the step's LLM cost, the tool it called, whether it ran in a forked kernel. */
    cost: z.object({ amount: decimal, currency }).optional(),
    tool: z.string().min(1).optional(),
    dryRun: z.boolean().optional(),
  }),
});

export const AgentRunFinished = defineEvent({
  type: 'quire.agent.AgentRunFinished',
  schemaVersion: 1,
  topic,
  description: 'The run ended: done, budget exhausted, cancelled or failed.',
  data: z.object({
    runId: id,
    status: z.enum(['succeeded', 'budget_exhausted', 'cancelled', 'failed']),
    steps: z.number().int().nonnegative(),
    cost: z.object({ amount: decimal, currency }),
    /**
     * Why it ended, added compatibly: finished, stopped_by_user, max_steps,
     * max_tokens, max_cost, max_wall_time, repeated_failure, llm_error,
     * kernel_error (AgentFinishReason in contracts/src/api/agent-api.ts).
     */
    reason: z.string().min(1).max(64).optional(),
    /** Total tokens of the run. Added compatibly. */
    tokens: z
      .object({ prompt: z.number().int().nonnegative(), completion: z.number().int().nonnegative() })
      .optional(),
  }),
});

export const AGENT_EVENTS = [AgentRunStarted, AgentStep, AgentRunFinished];
