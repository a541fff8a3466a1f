import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { currency, decimal, id } from './common';

const topic = TOPICS.billingUsage.name;
const resource = z.enum(['cpu', 'memory', 'gpu', 'snapshot-storage', 'agent-tokens', 'agent-steps']);
const unit = z.enum(['cpu-second', 'gib-second', 'gpu-second', 'gib-hour', 'token', 'step']);

export const UsageRated = defineEvent({
  type: 'quire.billing.UsageRated',
  schemaVersion: 1,
  topic,
  description: 'A priced ledger row: quantity × unit price, exact decimals.',
  data: z.object({
    ledgerEntryId: id,
    orgId: id,
    userId: id.nullable(),
    notebookId: id.nullable(),
    kernelId: id.nullable(),
    resource,
    quantity: decimal,
    unit,
    unitPrice: decimal,
    amount: decimal,
    currency,
    periodStart: z.iso.datetime({ offset: true }),
    periodEnd: z.iso.datetime({ offset: true }),
  }),
});

const quotaSignal = z.object({
  orgId: id,
  userId: id.nullable(),
  quota: z.enum(['compute', 'gpu', 'agent']),
  used: decimal,
  limit: decimal,
  unit,
  usedFraction: z.number().nonnegative(),
  /** Added (optional): the calendar month (UTC) the quota covers. */
  periodStart: z.iso.datetime({ offset: true }).optional(),
  periodEnd: z.iso.datetime({ offset: true }).optional(),
  /** Added (optional): true when running kernels must be stopped too, not only new ones refused. */
  hardCap: z.boolean().optional(),
  /** Added (optional): what to tell the user, e.g. why a new kernel is refused. */
  message: z.string().max(500).optional(),
});

export const QuotaWarning = defineEvent({
  type: 'quire.billing.QuotaWarning',
  schemaVersion: 1,
  topic,
  description: '80 % of a monthly quota used.',
  data: quotaSignal,
});

export const QuotaExceeded = defineEvent({
  type: 'quire.billing.QuotaExceeded',
  schemaVersion: 1,
  topic,
  description: '100 % of a monthly quota used: new kernels are refused.',
  data: quotaSignal,
});

export const BILLING_USAGE_EVENTS = [UsageRated, QuotaWarning, QuotaExceeded];
