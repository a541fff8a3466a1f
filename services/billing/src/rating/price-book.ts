import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { decimal } from '@quire/contracts';
import type { Limits, Tier } from '../metering/kernel-meter';
import type { Resource } from '../metering/usage';
import { numberToScaled } from '../money/decimal';

/**
 * The price book is data: one JSON file per version in price-book/, each with
 * the date it takes effect. A line is rated with the book in effect at the
 * start of its month, so a new book never reprices a past month.
 */
const tierPrices = z.object({ cpu: decimal, memory: decimal, 'snapshot-storage': decimal });
const tiers = ['free', 'team', 'gpu', 'enterprise'] as const;

export const priceBookSchema = z.object({
  id: z.string().min(1),
  effectiveFrom: z.iso.datetime({ offset: true }),
  currency: z.string().regex(/^[A-Z]{3}$/),
  notes: z.string().optional(),
  tiers: z.object({ free: tierPrices, team: tierPrices, gpu: tierPrices, enterprise: tierPrices }),
  gpu: z.record(z.string(), z.record(z.string().regex(/^(full|\d+g\.\d+gb)$/), decimal)),
  agent: z.object({
    'agent-tokens': decimal,
    'agent-steps': decimal,
    /**
     * Price of one currency unit of an agent run's LLM cost ("1" = passed through at cost). Books
     * without it (before 2026-12) leave agent-cost unpriced, so older months are never repriced.
     */
    'agent-cost': decimal.optional(),
  }),
  tierDefaults: z.object(
    Object.fromEntries(
      tiers.map((t) => [
        t,
        z.object({ cpuCores: z.number().positive(), memoryBytes: z.number().int().positive() }),
      ]),
    ) as Record<Tier, z.ZodObject<{ cpuCores: z.ZodNumber; memoryBytes: z.ZodNumber }>>,
  ),
});

export type PriceBookDoc = z.infer<typeof priceBookSchema>;

export interface Price {
  unitPrice: string;
  currency: string;
  priceBook: string;
  /** False when the SKU is not in the book: rated at 0 and listed on the invoice as unpriced. */
  priced: boolean;
}

export class PriceBooks {
  private readonly books: (PriceBookDoc & { from: number })[];

  constructor(docs: PriceBookDoc[]) {
    if (!docs.length) throw new Error('no price book');
    this.books = docs
      .map((d) => ({ ...d, from: Date.parse(d.effectiveFrom) }))
      .sort((a, b) => a.from - b.from);
  }

  static load(dir: string): PriceBooks {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    return new PriceBooks(
      files.map((f) => {
        const parsed = priceBookSchema.safeParse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
        if (!parsed.success) throw new Error(`price book ${f} is invalid: ${parsed.error.message}`);
        return parsed.data;
      }),
    );
  }

  at(time: number): PriceBookDoc {
    let book = this.books[0]!;
    for (const b of this.books) if (b.from <= time) book = b;
    return book;
  }

  price(sku: string, resource: Resource, periodStart: number): Price {
    const book = this.at(periodStart);
    const found = lookup(book, sku, resource);
    return {
      unitPrice: found ?? '0',
      currency: book.currency,
      priceBook: book.id,
      priced: found !== undefined,
    };
  }

  tierDefaults(tier: Tier, time: number): Limits {
    const d = this.at(time).tierDefaults[tier] ?? this.at(time).tierDefaults.free;
    return { millicores: numberToScaled(d.cpuCores, 3), memoryBytes: BigInt(d.memoryBytes) };
  }
}

function lookup(book: PriceBookDoc, sku: string, resource: Resource): string | undefined {
  const parts = sku.split('/');
  switch (resource) {
    case 'cpu':
    case 'memory':
    case 'snapshot-storage': {
      const tier = parts[1] as Tier | undefined;
      return tier && tier in book.tiers ? book.tiers[tier][resource] : undefined;
    }
    case 'gpu':
      return book.gpu[parts[1] ?? '']?.[parts[2] ?? ''];
    case 'agent-tokens':
    case 'agent-steps':
      return book.agent[resource];
    case 'agent-cost':
      // A cost in another currency than the book's is not converted: it is listed as unpriced.
      return parts[1] === book.currency ? book.agent['agent-cost'] : undefined;
  }
}
