import { DEFAULT_AGENT_BUDGET } from '@quire/contracts';
import { decimalToMicros, microsToDecimal, normaliseCode, RepeatDetector, spentBudget } from './loop-rules';

describe('loop rules', () => {
  const usage = { steps: 0, promptTokens: 0, completionTokens: 0, costMicros: 0, wallMs: 0 };
  const budget = { maxSteps: 5, maxTokens: 1000, maxCost: '0.25', maxWallMs: 60_000 };

  it('money in millionths, both ways, refusing what is not a decimal', () => {
    expect(decimalToMicros('0.50')).toBe(500_000);
    expect(decimalToMicros('12')).toBe(12_000_000);
    expect(decimalToMicros('0.000001')).toBe(1);
    expect(microsToDecimal(1_234_567)).toBe('1.234567');
    expect(microsToDecimal(decimalToMicros(DEFAULT_AGENT_BUDGET.maxCost))).toBe('1.000000');
    expect(() => decimalToMicros('1.2345678')).toThrow(/at most 6 decimals/);
    expect(() => decimalToMicros('-1')).toThrow();
    expect(() => microsToDecimal(0.5)).toThrow();
  });

  it('names the budget that is spent, steps first', () => {
    expect(spentBudget(usage, budget)).toBeNull();
    expect(spentBudget({ ...usage, steps: 5 }, budget)).toBe('max_steps');
    expect(spentBudget({ ...usage, promptTokens: 900, completionTokens: 100 }, budget)).toBe('max_tokens');
    expect(spentBudget({ ...usage, costMicros: 250_000 }, budget)).toBe('max_cost');
    expect(spentBudget({ ...usage, costMicros: 249_999 }, budget)).toBeNull();
    expect(spentBudget({ ...usage, wallMs: 60_000 }, budget)).toBe('max_wall_time');
  });

  it('repeat detection: third sighting of the same code or the same error', () => {
    expect(normaliseCode('  a  =  1\n\n\tb=2 ')).toBe('a = 1\nb=2');
    const byError = new RepeatDetector();
    expect(byError.recordFailure('a()', 'KeyError: x')).toBeNull();
    expect(byError.recordFailure('b()', 'KeyError: x')).toBeNull();
    expect(byError.recordFailure('c()', 'KeyError: x')).toMatch(/same error came 3 times/);
    const byCode = new RepeatDetector();
    expect(byCode.recordFailure('f( 1 )', 'E: 1')).toBeNull();
    expect(byCode.recordFailure('f(  1 )', 'E: 2')).toBeNull();
    expect(byCode.recordFailure('f( 1 )\n', 'E: 3')).toBe('the same code failed 3 times');
    const different = new RepeatDetector();
    for (const n of [1, 2, 3, 4]) expect(different.recordFailure(`f(${n})`, `E: ${n}`)).toBeNull();
  });
});
