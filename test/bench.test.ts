import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// the benchmark harness is plain CommonJS under bench/: its pure parts are checked here
const require = createRequire(import.meta.url);
const { parseSettings } = require('../bench/lib/settings.js');
const { interleave } = require('../bench/lib/interleave.js');
const { targets, markdown } = require('../bench/report/tables.js');

describe('bench settings (util.parseArgs)', () => {
  it('runs Node 24 and 26 in full by default', () => {
    const settings = parseSettings([]);
    expect(settings.nodes).toEqual(['24', '26']);
    expect(settings.full).toBe(true);
    expect(settings.rounds).toBeGreaterThanOrEqual(3);
    expect(settings.parts).toEqual(['servers', 'clients', 'core', 'startup']);
  });

  it('keeps at least 3 rounds in --quick and never calls it a full run', () => {
    const settings = parseSettings(['--quick', '--node', '24']);
    expect(settings).toMatchObject({ quick: true, full: false, rounds: 3, nodes: ['24'] });
    expect(settings.variants).toEqual(['bare', 'otinst-noop', 'otinst-jaeger', 'otel']);
  });

  it('takes --node more than once and --name=value forms', () => {
    expect(parseSettings(['--node', '22', '--node=/opt/node']).nodes).toEqual(['22', '/opt/node']);
  });

  it('rejects unknown flags, unknown names and bad numbers', () => {
    expect(() => parseSettings(['--frobnicate'])).toThrow(/frobnicate/);
    expect(() => parseSettings(['--framework', 'nest'])).toThrow(/--framework: unknown "nest"/);
    expect(() => parseSettings(['--rounds', '2.5'])).toThrow(/--rounds must be a positive whole number/);
    expect(() => parseSettings(['--otinst-options', '[1]'])).toThrow(/JSON object/);
  });

  it('a filtered run is not a full run (it must not replace the committed figures)', () => {
    expect(parseSettings(['--framework', 'koa']).full).toBe(false);
    expect(parseSettings(['--only', 'servers']).full).toBe(false);
    expect(parseSettings(['--variant', 'otel']).variants).toEqual(['bare', 'otel']);
  });
});

describe('bench interleave', () => {
  it('puts every variant run between two bare runs, reversing the order every other round', async () => {
    const order: string[] = [];
    const rates: Record<string, number> = { bare: 100, a: 50, b: 80 };
    const { ratios, ratio } = await interleave(['a', 'b'], 3, async (name: string) => {
      order.push(name);
      return { rate: rates[name] };
    });
    expect(order).toEqual(['bare', 'a', 'bare', 'b', 'bare', 'b', 'bare', 'a', 'bare', 'a', 'bare', 'b', 'bare']);
    expect(ratios('a')).toEqual([0.5, 0.5, 0.5]);
    expect(ratio('b')).toBe(0.8);
    expect(ratio('bare')).toBe(1);
  });

  it('divides by the mean of the two bare neighbours and reports the median of the rounds', async () => {
    const bare = [100, 200, 100, 300];
    const variant = [75, 150, 100];
    let b = 0;
    let v = 0;
    const { ratios, ratio } = await interleave(['x'], 3, async (name: string) => ({
      rate: name === 'bare' ? bare[b++] : variant[v++],
    }));
    expect(ratios('x')).toEqual([0.5, 1, 0.5]);
    expect(ratio('x')).toBe(0.5);
  });

  it('gives the CPU-time ratio beside the throughput ratio when runs carry it', async () => {
    const { ratio } = await interleave(['x'], 3, async (name: string) =>
      name === 'bare' ? { rate: 100, cpuRate: 1000 } : { rate: 50, cpuRate: 900 },
    );
    expect(ratio('x')).toBe(0.5);
    expect(ratio('x', 'cpuRate')).toBe(0.9);
  });
});

/** The smallest results object of one line that the report reads. */
function line(version: string, noopRatio: number, noopSpans: number) {
  return {
    date: '2026-12-04T16:00:00.000Z',
    seconds: 1,
    machine: { cpu: 'cpu', cores: 2, loadAverageAtStart: [0.5], loadAverageAtEnd: [0.6] },
    node: { version, loadGenerator: version },
    settings: { rounds: 3, duration: 3, warmup: 2, connections: 50, clientRounds: 3, clientDuration: 1 },
    servers: {
      koa: {
        variants: {
          bare: { ratio: 1, reqPerSec: 1000, p99: 1, spans: null },
          'otinst-noop': { ratio: noopRatio, reqPerSec: 900, p99: 1, spans: noopSpans, spansPerRequest: 1 },
          'otinst-jaeger': { ratio: 0.82, reqPerSec: 820, p99: 1, spans: 10, spansPerRequest: 1 },
          otel: { ratio: 0.4, reqPerSec: 400, p99: 1, spans: 20, spansPerRequest: 2 },
        },
      },
    },
    startup: {
      samples: 11,
      kinds: {},
      express: { ms: 60, rssMiB: 15 },
      adapter: { ms: 20, rssMiB: 16, packages: ['@otinst/core'] },
    },
  };
}

describe('bench targets and report', () => {
  it('gives a verdict with the figure for each target', () => {
    const checks = targets(line('v24.0.0', 0.93, 10));
    const byKey = Object.fromEntries(checks.map((c: { key: string }) => [c.key, c]));
    expect(byKey['noop:koa']).toMatchObject({ value: '0.930', pass: true });
    // overhead 18% against OpenTelemetry's 60%: under a third, met
    expect(byKey['jaeger:koa']).toMatchObject({ value: '18.0% vs 60.0% (0.30 of it)', pass: true });
    expect(byKey['startup:ms']).toMatchObject({ value: '+20 ms vs +60 ms', pass: true });
    expect(byKey['startup:rssMiB']).toMatchObject({ value: '+16 MiB vs +15 MiB', pass: false });
  });

  it('never counts an adapter that made no spans as meeting a target', () => {
    const noop = targets(line('v24.0.0', 0.99, 0)).find((c: { key: string }) => c.key === 'noop:koa');
    expect(noop).toMatchObject({ value: 'no spans', pass: null });
  });

  it('puts the Node lines side by side in one targets table', () => {
    const text = markdown([line('v24.0.0', 0.93, 10), line('v26.0.0', 0.85, 10)]);
    expect(text).toContain('| target | Node v24.0.0 | Node v26.0.0 |');
    expect(text).toContain('| koa: otinst + no-op ≥ 0.9 of bare | 0.930 — met | 0.850 — **not met** |');
  });
});
