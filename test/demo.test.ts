/**
 * The README's first command must keep working: run the demo as a child
 * process (against the build that `npm test` makes first) and check what it
 * prints: the trace trees, their shape, the error marks.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

interface Line {
  depth: number;
  name: string;
  service: string;
  error: boolean;
}

/** Parses the tree lines (`|bar| ├─ name  [service] 1.2ms  tags`) into depth, name and service. */
function parseTree(block: string): Line[] {
  return block
    .split('\n')
    .slice(1)
    .map((line) => {
      const body = line.replace(/^\|[^|]*\| /, '');
      const match = /^((?:│ {2}| {3})*)(?:├─ |└─ )?(.+?)(?: ✖ error)? {2}\[([^\]]+)\]/.exec(body);
      if (match === null) throw new Error(`not a tree line: ${line}`);
      const prefix = match[1]!.length / 3 + (/^(?:│ {2}| {3})*(?:├─ |└─ )/.test(body) ? 1 : 0);
      return { depth: prefix, name: match[2]!, service: match[3]!, error: body.includes('✖ error') };
    });
}

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, ['examples/demo/index.js'], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run demo', () => {
  it('prints one trace per traced request, across the four frameworks, and exits 0', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('GET /api/orders/42 → 200');
    expect(stdout).toContain('GET /api/orders/13 → 502');
    expect(stdout).toContain('GET /health → 200');
    expect(stdout).toContain('2 traces recorded');

    const blocks = stdout
      .split(/\n(?=trace [0-9a-f]{32} )/)
      .slice(1)
      .map((block) => block.trim());
    expect(blocks).toHaveLength(2);
    const [ok, failed] = blocks.map(parseTree) as [Line[], Line[]];

    const chain = [
      { depth: 0, name: 'GET /api/orders/:id', service: 'gateway' },
      { depth: 1, name: 'GET', service: 'gateway' },
      { depth: 2, name: 'GET /orders/:id', service: 'orders' },
      { depth: 3, name: 'GET', service: 'orders' },
      { depth: 4, name: 'GET /inventory/items/:sku', service: 'inventory' },
      { depth: 5, name: 'GET', service: 'inventory' },
      { depth: 6, name: 'GET /prices/{sku}', service: 'pricing' },
    ];
    expect(
      ok
        .filter((line) => !/^(redis|pg|knex|amqp):/.test(line.name))
        .map(({ depth, name, service }) => ({ depth, name, service })),
    ).toEqual(chain);
    expect(ok.some((line) => line.error)).toBe(false);

    expect(
      failed
        .filter((line) => !/^(redis|pg|knex|amqp):/.test(line.name))
        .map(({ depth, name, service }) => ({ depth, name, service })),
    ).toEqual(chain);
    // every span of the failing chain carries the error mark, the client spans included
    expect(failed.filter((line) => !/^(redis|pg|knex):/.test(line.name)).every((line) => line.error)).toBe(true);
    expect(blocks[1]).toContain('http.status_code=500');

    // the database, cache and broker spans, where those services answer (CI requires them all)
    if (process.env['OTINST_REQUIRE_SERVICES'] === '1') expect(stdout).not.toContain('does not answer');
    const lines = (name: string) => ok.filter((line) => line.name.startsWith(name));
    if (!stdout.includes('PostgreSQL does not answer')) {
      // knex over pg: the driver's span is the child of knex's
      expect(lines('knex:SELECT')).toEqual([{ depth: 7, name: 'knex:SELECT', service: 'pricing', error: false }]);
      expect(lines('pg:SELECT')).toEqual([{ depth: 8, name: 'pg:SELECT', service: 'pricing', error: false }]);
    }
    if (!stdout.includes('Redis does not answer')) {
      expect(lines('redis:GET')).toEqual([{ depth: 7, name: 'redis:GET', service: 'pricing', error: false }]);
    }
    if (!stdout.includes('RabbitMQ does not answer')) {
      expect(lines('amqp:publish').map((line) => [line.depth, line.service])).toEqual([[3, 'orders']]);
      expect(lines('amqp:consume').map((line) => [line.depth, line.service])).toEqual([[4, 'order-events']]);
    }
  }, 90_000);
});
