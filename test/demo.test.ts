/**
 * The README's first command must keep working: run the demo as a child
 * process (against the build that `npm test` makes first) and check what it
 * prints: the trace trees, their shape, the error marks.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from './support/build';

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

function runDemo(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['examples/demo/index.js', ...args],
      { cwd: ROOT, timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolvePromise({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The service table the demo prints first: name → { framework, address }. */
function serviceTable(stdout: string): Map<string, { framework: string; address: string }> {
  const table = new Map<string, { framework: string; address: string }>();
  for (const match of stdout.matchAll(/^ {2}(\S+) +(express|koa|fastify|hapi) +(\S+)$/gm))
    table.set(match[1]!, { framework: match[2]!, address: match[3]! });
  return table;
}

beforeAll(() => assertBuilt(['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'], 'the demo'));

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

    // which service runs which framework, where: the client spans below name these addresses
    const services = serviceTable(stdout);
    expect([...services].map(([name, { framework }]) => [name, framework])).toEqual([
      ['gateway', 'express'],
      ['orders', 'koa'],
      ['inventory', 'fastify'],
      ['pricing', 'hapi'],
    ]);
    const at = (name: string) => services.get(name)!.address;
    expect(at('orders')).toMatch(/^127\.0\.0\.1:\d+$/);

    const chain = [
      { depth: 0, name: 'GET /api/orders/:id', service: 'gateway' },
      { depth: 1, name: `GET → ${at('orders')}`, service: 'gateway' },
      { depth: 2, name: 'GET /orders/:id', service: 'orders' },
      { depth: 3, name: `GET → ${at('inventory')}`, service: 'orders' },
      { depth: 4, name: 'GET /inventory/items/:sku', service: 'inventory' },
      { depth: 5, name: `GET → ${at('pricing')}`, service: 'inventory' },
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

  describe('--tracer otel', () => {
    let receiver: Server | undefined;
    afterEach(async () => {
      if (receiver) await new Promise((r) => receiver!.close(r));
      receiver = undefined;
    });

    // it printed "Spans were also exported" with nothing listening on the OTLP port
    it('reports the export failure when nothing listens', async () => {
      // a port that was free a moment ago and has no listener now
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const { port } = closed.address() as { port: number };
      await new Promise((r) => closed.close(r));

      const endpoint = `http://127.0.0.1:${port}`;
      const { code, stdout, stderr } = await runDemo(['--tracer', 'otel'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT: '1500',
      });
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain('2 traces recorded');
      expect(stdout).not.toContain('were also exported');
      expect(stdout).toMatch(
        new RegExp(
          `Exporting the spans over OTLP to ${endpoint} failed \\((\\d+) of \\1 spans not exported\\): .*ECONNREFUSED`,
        ),
      );
    }, 90_000);

    it('says how many spans a listening receiver took, sent with their service names and span kinds', async () => {
      const received: { service: string; name: string; kind: number }[] = [];
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as {
            resourceSpans: {
              resource: { attributes: { key: string; value: { stringValue?: string } }[] };
              scopeSpans: { spans: { name: string; kind: number }[] }[];
            }[];
          };
          for (const { resource, scopeSpans } of body.resourceSpans) {
            const service = resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
            for (const { spans } of scopeSpans)
              for (const { name, kind } of spans) received.push({ service, name, kind });
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
      const { port } = receiver.address() as { port: number };

      const { code, stdout, stderr } = await runDemo(['--tracer', 'otel'], {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      });
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain(`${received.length} spans were also exported over OTLP to http://127.0.0.1:${port}.`);
      // OTLP span kinds: 2 server, 3 client (never all 1, internal)
      const kinds = (service: string, name: string) =>
        received.filter((span) => span.service === service && span.name === name).map((span) => span.kind);
      expect(kinds('gateway', 'GET /api/orders/:id')).toEqual([2, 2]);
      expect(kinds('gateway', 'GET')).toEqual([3, 3]);
      expect(kinds('pricing', 'GET /prices/{sku}')).toEqual([2, 2]);
    }, 90_000);
  });
});
