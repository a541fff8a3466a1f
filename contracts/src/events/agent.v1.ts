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
    }),
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
  }),
});

export const AGENT_EVENTS = [AgentRunStarted, AgentStep, AgentRunFinished];
