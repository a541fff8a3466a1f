import { lifecyclePolicyOf } from '@quire/contracts';
import { ConfigError } from '@quire/service-kit';
import { loadGatewayConfig } from './config';

/** The least a gateway needs to start; each test adds the lifecycle settings it is about. */
const BASE = {
  QUIRE_KAFKA_BROKERS: 'kafka.internal:9092',
  QUIRE_POSTGRES_URL: 'postgres://quire@db.internal:5432/quire',
  QUIRE_TEMPORAL_ADDRESS: 'temporal.internal:7233',
  QUIRE_TOKEN_SIGNING_KEY: 'k'.repeat(48),
};

function problems(env: Record<string, string>): string[] {
  try {
    loadGatewayConfig({ ...BASE, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('the configuration was accepted');
}

describe('gateway lifecycle settings (operator overrides for every kernel it starts)', () => {
  it('are absent by default: kernels get their tier policy and any host', () => {
    const cfg = loadGatewayConfig(BASE);
    expect(cfg.QUIRE_LIFECYCLE_POLICY_JSON).toBeUndefined();
    expect(cfg.QUIRE_LIFECYCLE_PLACEMENT_LABELS).toBeUndefined();
  });

  it('parses a policy override that merges over the tier policy, null meaning never', () => {
    const cfg = loadGatewayConfig({
      ...BASE,
      QUIRE_LIFECYCLE_POLICY_JSON:
        '{"idleAfterMs": 3000, "hibernateAfterMs": 2000, "evictAfterMs": null, "memoryBytes": 2147483648}',
    });
    expect(cfg.QUIRE_LIFECYCLE_POLICY_JSON).toEqual({
      idleAfterMs: 3000,
      hibernateAfterMs: 2000,
      evictAfterMs: null,
      memoryBytes: 2 * 1024 ** 3,
    });
    const effective = lifecyclePolicyOf('team', cfg.QUIRE_LIFECYCLE_POLICY_JSON);
    expect(effective).toMatchObject({ idleAfterMs: 3000, hibernateAfterMs: 2000, evictAfterMs: null });
    // What the override does not name stays the tier's.
    expect(effective.creationsPerTenantPerMinute).toBe(60);
    expect(
      loadGatewayConfig({ ...BASE, QUIRE_LIFECYCLE_POLICY_JSON: '{}' }).QUIRE_LIFECYCLE_POLICY_JSON,
    ).toEqual({});
  });

  it('refuses JSON that does not parse, naming the variable', () => {
    const [p, ...rest] = problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{idleAfterMs: 3000}' });
    expect(rest).toEqual([]);
    expect(p).toMatch(/^QUIRE_LIFECYCLE_POLICY_JSON: not valid JSON \(/);
  });

  it('refuses unknown keys (a typo is not silently the tier default)', () => {
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"idleAfterMS": 3000}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON: .*idleAfterMS/),
    ]);
  });

  it('refuses negative or fractional times and wrong types, naming the field', () => {
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"hibernateAfterMs": -1}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON\.hibernateAfterMs: /),
    ]);
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"idleAfterMs": 1.5}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON\.idleAfterMs: /),
    ]);
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"evictAfterMs": "1d"}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON\.evictAfterMs: /),
    ]);
    // Memory and limits cannot be "never".
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"memoryBytes": null}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON\.memoryBytes: /),
    ]);
    expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: '{"memoryBytes": 0}' })).toEqual([
      expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON\.memoryBytes: /),
    ]);
  });

  it('refuses JSON that is not an object', () => {
    for (const text of ['[]', '3000', 'null', '"idle"']) {
      expect(problems({ QUIRE_LIFECYCLE_POLICY_JSON: text })).toEqual([
        expect.stringMatching(/^QUIRE_LIFECYCLE_POLICY_JSON: /),
      ]);
    }
  });

  it('parses placement labels in the host workers’ key=value format and refuses malformed ones', () => {
    expect(
      loadGatewayConfig({ ...BASE, QUIRE_LIFECYCLE_PLACEMENT_LABELS: 'region=eu, gpu=a100' })
        .QUIRE_LIFECYCLE_PLACEMENT_LABELS,
    ).toEqual({ region: 'eu', gpu: 'a100' });
    for (const text of ['region', 'region=', '=eu', 'region=eu,gpu']) {
      expect(problems({ QUIRE_LIFECYCLE_PLACEMENT_LABELS: text })).toEqual([
        expect.stringMatching(/^QUIRE_LIFECYCLE_PLACEMENT_LABELS: ".*" is not key=value$/),
      ]);
    }
  });
});
