/**
 * Concurrency and load, and secrets: OTINST_LOAD_REQUESTS requests (3,000 by
 * default) at 100 concurrent through each adapter, every one making real
 * client calls (PostgreSQL through a pool of 10, node-redis, ioredis, fetch
 * and http to a local echo server) with the client hooks active. Every trace
 * must be complete and correct: each request's incoming traceparent leads to
 * exactly its server span and its seven client spans, with the right parents
 * and no span of another request; every span finished once; no error
 * response. Each request also carries planted secrets (Authorization and
 * Cookie headers listed in `captureRequestHeaders`, a password in the pg
 * connection string and in an outgoing URL, an SQL parameter, Redis values):
 * none of them may appear in any tag or log of any span.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';
import { serviceAvailable } from '../support/services';
import { ADAPTERS, buildApp, eventually, httpGet, ledger, startEchoServer, watchProcessErrors } from './support';
import type { AdapterName, EchoServer, Route } from './support';

const REQUESTS = Number(process.env['OTINST_LOAD_REQUESTS'] ?? 3000);
const CONCURRENCY = 100;
/** About 4 ms per request on a loaded 2-core machine; far more than that means something is stuck. */
const TIME_LIMIT_MS = 20_000 + REQUESTS * 10;
/** Every planted secret contains this, and nothing else the app sends does. */
const MARK = 'PLANTED';
const PG_PASSWORD = `${MARK}-pg-password`;
/** A request's client spans, by operation name and component. */
const CLIENT_SPANS = [
  'pg:SELECT pg',
  'redis:SET redis',
  'redis:GET redis',
  'ioredis:SET ioredis',
  'ioredis:GET ioredis',
  'GET fetch',
  'GET http',
].sort();

const up = (await serviceAvailable('postgres')) && (await serviceAvailable('redis'));

interface Sent {
  traceId: string;
  parentId: string;
  status: number;
  body: string;
}

/** One figure per adapter, printed at the end for docs/reliability.md. */
const figures: Record<string, unknown>[] = [];

describe.skipIf(!up)(`${REQUESTS} requests at ${CONCURRENCY} concurrent per adapter`, () => {
  const watcher = watchProcessErrors();
  const prefix = `otinst:reliability:load:${process.pid}`;
  let echo: EchoServer;
  let pool: pg.Pool;
  let redis: ReturnType<typeof createClient>;
  let ioredis: Redis;

  const workRoute: Route = {
    method: 'GET',
    path: '/work/:id',
    handler: async ({ params, headers }) => {
      const id = params['id']!;
      const secret = String(headers['x-secret']);
      const key = `${prefix}:${id}`;
      const { rows } = await pool.query<{ v: string; id: number }>('SELECT $1::text AS v, $2::int AS id', [
        secret,
        Number(id),
      ]);
      await redis.set(key, secret, { EX: 60 });
      const stored = await redis.get(key);
      await ioredis.set(`${key}:io`, secret, 'EX', 60);
      const storedIo = await ioredis.get(`${key}:io`);
      const upstream = await fetch(`${echo.url}/echo`, { headers: { 'x-call-id': `fetch-${id}` } });
      const text = await upstream.text();
      // a password in the URL: http.get sends it as Basic auth, the span must not show it
      const viaHttp = await httpGet(`http://user:${secret}@127.0.0.1:${echo.port}/echo`, {
        headers: { 'x-call-id': `http-${id}` },
      });
      const ok = rows[0]?.v === secret && stored === secret && storedIo === secret && text === 'echo';
      return { status: 200, json: { id, ok: ok && viaHttp.body === 'echo' } };
    },
  };

  beforeAll(async () => {
    echo = await startEchoServer();
    // trust authentication: the password is never checked, but it is in the client's config
    pool = new pg.Pool({ connectionString: `postgres://postgres:${PG_PASSWORD}@127.0.0.1:5432/test`, max: 10 });
    redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    ioredis = new Redis({ host: '127.0.0.1', port: 6379 });
  });

  afterAll(async () => {
    await redis?.quit();
    ioredis?.disconnect();
    await pool?.end();
    await echo?.close();
    watcher.stop();
    console.log(`[reliability/load] ${JSON.stringify(figures)}`);
  });

  it.each(ADAPTERS)(
    '%s: every trace complete and correct, no secret in any tag or log',
    async (adapter: AdapterName) => {
      const recorder = new RecordingTracer({ serviceName: `load-${adapter}` });
      const counted = ledger(recorder);
      const app = await buildApp(adapter, [workRoute], counted.tracer, {
        captureRequestHeaders: ['authorization', 'cookie', 'x-request-id'],
      });
      echo.received.clear();
      const client = new Pool(app.url, { connections: CONCURRENCY, headersTimeout: 10_000, bodyTimeout: 10_000 });
      const sent: Sent[] = new Array(REQUESTS);
      const started = performance.now();
      // bounded in time as well as in count: a stuck run fails instead of loading the machine on
      const deadline = started + TIME_LIMIT_MS;
      let next = 0;
      try {
        const worker = async () => {
          while (next < REQUESTS && performance.now() < deadline) {
            const i = next++;
            const traceId = randomBytes(16).toString('hex');
            const parentId = randomBytes(8).toString('hex');
            const response = await client.request({
              method: 'GET',
              path: `/work/${i}`,
              headers: {
                traceparent: `00-${traceId}-${parentId}-01`,
                authorization: `Bearer ${MARK}-auth-${i}`,
                cookie: `sid=${MARK}-cookie-${i}`,
                'x-request-id': `req-${i}`,
                'x-secret': `${MARK}-${i}-${randomBytes(4).toString('hex')}`,
              },
            });
            sent[i] = { traceId, parentId, status: response.statusCode, body: await response.body.text() };
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      } finally {
        await client.close();
      }
      const seconds = (performance.now() - started) / 1000;
      await eventually(() => counted.open().length === 0, 10_000);
      await app.close();

      // every request answered, none with an error
      expect(sent.filter(Boolean)).toHaveLength(REQUESTS);
      const failed = sent.filter((s, i) => s.status !== 200 || s.body !== JSON.stringify({ id: String(i), ok: true }));
      expect(failed.slice(0, 5)).toEqual([]);

      // every span finished exactly once
      expect(counted.open()).toEqual([]);
      expect(counted.finishedTwice()).toBe(0);
      expect(recorder.store.unfinished()).toEqual([]);
      const spans = recorder.spans();
      expect(spans).toHaveLength(counted.started());
      expect(spans.filter((span) => span.finishCount !== 1)).toEqual([]);

      // every trace: exactly its server span and its client spans, parents right
      const byTrace = new Map<string, RecordedSpan[]>();
      for (const span of spans) {
        const list = byTrace.get(span.traceId);
        if (list === undefined) byTrace.set(span.traceId, [span]);
        else list.push(span);
      }
      expect(byTrace.size).toBe(REQUESTS);
      const route = adapter === 'hapi' ? '/work/{id}' : '/work/:id';
      const problems: string[] = [];
      for (const [i, request] of sent.entries()) {
        const trace = byTrace.get(request.traceId) ?? [];
        const servers = trace.filter((span) => span.tags['span.kind'] === 'server');
        const server = servers[0];
        if (servers.length !== 1 || server === undefined) {
          problems.push(`request ${i}: ${servers.length} server spans`);
          continue;
        }
        if (server.parentId !== request.parentId)
          problems.push(`request ${i}: server span's parent ${server.parentId}`);
        if (server.operationName !== `GET ${route}`) problems.push(`request ${i}: server span ${server.operationName}`);
        if (server.tags['http.url'] !== `${app.url}/work/${i}`)
          problems.push(`request ${i}: ${server.tags['http.url']}`);
        if (server.tags['http.request.header.x-request-id'] !== `req-${i}`) problems.push(`request ${i}: x-request-id`);
        for (const name of ['authorization', 'cookie']) {
          if (server.tags[`http.request.header.${name}`] !== '[REDACTED]') problems.push(`request ${i}: ${name} shown`);
        }
        const clients = trace.filter((span) => span !== server);
        const names = clients.map((span) => `${span.operationName} ${String(span.tags['component'])}`).sort();
        if (JSON.stringify(names) !== JSON.stringify(CLIENT_SPANS)) problems.push(`request ${i}: ${names.join(', ')}`);
        for (const span of clients) {
          if (span.parentId !== server.spanId) problems.push(`request ${i}: ${span.operationName} parent`);
          if (span.tags['error'] !== undefined) problems.push(`request ${i}: ${span.operationName} error`);
        }
        // what the outgoing calls carried is this request's trace, and their own span
        for (const via of ['fetch', 'http'] as const) {
          const header = echo.received.get(`${via}-${i}`)?.['traceparent'];
          const span = clients.find((s) => s.tags['component'] === via);
          if (header !== `00-${request.traceId}-${span?.spanId}-01`)
            problems.push(`request ${i}: ${via} sent ${header}`);
        }
        if (problems.length > 20) break;
      }
      expect(problems).toEqual([]);

      // no planted secret in any tag or log, however deep
      const recorded = JSON.stringify(
        spans.map((span) => ({ name: span.operationName, tags: span.tags, logs: span.logs })),
      );
      const leaks = [...recorded.matchAll(new RegExp(`.{0,80}${MARK}.{0,40}`, 'g'))].map((match) => match[0]);
      expect(leaks.slice(0, 5)).toEqual([]);
      // the same secrets did reach the app (so the search above could have found them)
      expect(spans.some((span) => span.tags['db.statement'] === 'SELECT $1::text AS v, $2::int AS id')).toBe(true);

      figures.push({
        adapter,
        requests: REQUESTS,
        concurrency: CONCURRENCY,
        seconds: Number(seconds.toFixed(1)),
        requestsPerSecond: Math.round(REQUESTS / seconds),
        spansChecked: spans.length,
        spansLost: REQUESTS * (CLIENT_SPANS.length + 1) - spans.length,
      });
      recorder.reset();
    },
    TIME_LIMIT_MS + 30_000,
  );

  it('no unhandled rejection or uncaught exception', () => {
    expect(watcher.errors).toEqual([]);
  });
});
