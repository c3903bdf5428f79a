/**
 * Failing tracers: a tracer that throws from each method in turn, one whose
 * startSpan returns null or undefined, and a slow one. Every adapter answers
 * exactly what the untraced app answers, and the client calls the handler
 * makes (pg, node-redis, ioredis, fetch, http) keep their results and their
 * errors. Whatever fails, every span that was started gets exactly one
 * `finish` call.
 */
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingTracer } from '@otinst/recorder';
import { serviceAvailable } from '../support/services';
import {
  ADAPTERS,
  baseRoutes,
  buildApp,
  closedPort,
  eventually,
  FAULTS,
  httpGet,
  ledger,
  send,
  startEchoServer,
  watchProcessErrors,
} from './support';
import type { AdapterName, App, EchoServer, Fault, Reply, Route } from './support';

const up = (await serviceAvailable('postgres')) && (await serviceAvailable('redis'));

const PARENT = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
const REQUESTS: { method: string; path: string; headers?: string[]; body?: string }[] = [
  { method: 'GET', path: '/users/7', headers: ['traceparent', `00-${PARENT.traceId}-${PARENT.spanId}-01`] },
  { method: 'GET', path: '/fail' },
  { method: 'GET', path: '/nowhere' },
  { method: 'POST', path: '/upload', body: 'hello' },
  { method: 'GET', path: '/clients' },
];

/** Faults after which no span can exist at all. */
const NO_SPANS: readonly Fault[] = ['startSpan', 'startSpan-null', 'startSpan-undefined'];

/** Figures for docs/reliability.md: faults fired per adapter and fault. */
const figures: Record<string, Record<string, number>> = {};

function describeError(error: unknown): Record<string, unknown> {
  const e = error as { constructor?: { name?: string }; message?: string; code?: unknown; cause?: { code?: unknown } };
  return { type: e.constructor?.name, message: e.message, code: e.code, cause: e.cause?.code };
}

describe.skipIf(!up)('failing tracers never change what the app answers', () => {
  const watcher = watchProcessErrors();
  const key = `otinst:reliability:faults:${process.pid}`;
  let echo: EchoServer;
  let refused: number;
  let pool: pg.Pool;
  let redis: ReturnType<typeof createClient>;
  let ioredis: Redis;
  /** The pg errors the handler caught, newest last. */
  const pgErrors: unknown[] = [];

  /** Every kind of client call, each succeeding once and failing once. */
  const clientsRoute: Route = {
    method: 'GET',
    path: '/clients',
    handler: async () => {
      const out: Record<string, unknown> = {};
      out['pg'] = (await pool.query('SELECT $1::int + 1 AS n', [41])).rows;
      try {
        await pool.query('SELECT * FROM otinst_reliability_no_such_table');
      } catch (error) {
        pgErrors.push(error);
        out['pgError'] = describeError(error);
      }
      await redis.set(key, 'v');
      out['redis'] = await redis.get(key);
      out['redisError'] = await redis.incr(key).then(String, describeError);
      out['ioredis'] = await ioredis.get(key);
      out['ioredisError'] = await ioredis.incr(key).then(String, describeError);
      const response = await fetch(`${echo.url}/echo`);
      out['fetch'] = [response.status, await response.text()];
      out['fetchError'] = await fetch(`http://127.0.0.1:${refused}/`).then((r) => r.status, describeError);
      out['http'] = await httpGet(`${echo.url}/echo`);
      out['httpError'] = await httpGet(`http://127.0.0.1:${refused}/`).then((r) => r.status, describeError);
      return { status: 200, json: out };
    },
  };
  const routes = () => [...baseRoutes(), clientsRoute];

  async function answers(app: App): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (const request of REQUESTS) replies.push(await send(app.url, request));
    return replies;
  }

  beforeAll(async () => {
    echo = await startEchoServer();
    refused = await closedPort();
    pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 });
    redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    ioredis = new Redis({ host: '127.0.0.1', port: 6379 });
  });

  afterAll(async () => {
    await redis?.del(key);
    await redis?.quit();
    ioredis?.disconnect();
    await pool?.end();
    await echo?.close();
    watcher.stop();
    console.log(`[reliability/faults] ${JSON.stringify(figures)}`);
  });

  describe.each(ADAPTERS)('%s', (adapter: AdapterName) => {
    let baseline: Reply[];

    beforeAll(async () => {
      const plain = await buildApp(adapter, routes(), null);
      baseline = await answers(plain);
      await plain.close();
      // the baseline itself is what the routes promise
      expect(baseline.map((reply) => reply.status)).toEqual([200, 500, 404, 201, 200]);
      const clients = JSON.parse(baseline[4]!.body) as Record<string, unknown>;
      expect(clients['pg']).toEqual([{ n: 42 }]);
      expect(clients['pgError']).toMatchObject({ type: 'DatabaseError', code: '42P01' });
      expect(clients['redisError']).toMatchObject({ message: 'ERR value is not an integer or out of range' });
      expect(clients['fetchError']).toMatchObject({
        type: 'TypeError',
        message: 'fetch failed',
        cause: 'ECONNREFUSED',
      });
      expect(clients['httpError']).toMatchObject({ code: 'ECONNREFUSED' });
    });

    it.each(FAULTS)('fault: %s', async (fault) => {
      const recorder = new RecordingTracer({ serviceName: `faults-${adapter}` });
      const counted = ledger(recorder, fault);
      const app = await buildApp(adapter, routes(), counted.tracer);
      try {
        const caughtBefore = pgErrors.length;
        expect(await answers(app)).toEqual(baseline);
        await eventually(() => counted.open().length === 0);
        (figures[adapter] ??= {})[fault] = counted.faultsFired();
        // slow is no fault; every other one fired, except a rename where fastify names its spans at
        // start (it knows the route in onRequest, so nothing is renamed at finish)
        const neverCalled = fault === 'slow' || (adapter === 'fastify' && fault === 'setOperationName');
        if (neverCalled) expect(fault === 'slow' || counted.faultsFired() === 0).toBe(true);
        else expect(counted.faultsFired()).toBeGreaterThan(0);
        // every span started got exactly one finish call, whatever failed
        expect(counted.open().map((span) => (span as { operationName?: string }).operationName)).toEqual([]);
        expect(counted.finishedTwice()).toBe(0);
        expect(counted.finishCalls()).toBe(counted.started());
        if (NO_SPANS.includes(fault)) {
          expect(counted.started()).toBe(0);
          return;
        }
        const spans = recorder.spans();
        const servers = spans.filter((span) => span.tags['span.kind'] === 'server');
        if (fault === 'finish') {
          // finish threw before recording anything: the spans were started and "finished" once each
          expect(spans).toEqual([]);
          expect(counted.started()).toBeGreaterThanOrEqual(REQUESTS.length);
          return;
        }
        expect(spans).toHaveLength(counted.started());
        expect(pgErrors.length).toBe(caughtBefore + 1);
        // without addTags there are no start tags (span.kind, http.url, component) to look spans up by
        if (fault === 'addTags') return;
        expect(servers).toHaveLength(REQUESTS.length);
        const users = servers.find((span) => span.tags['http.url']?.toString().endsWith('/users/7'));
        expect(users?.parentId).toBe(fault === 'extract' ? undefined : PARENT.spanId);
        const clients = spans.filter((span) => span.tags['span.kind'] === 'client');
        if (fault === 'context' || fault === 'tracer') {
          // a child needs its parent's context (and, for a client span, its tracer): the calls run untraced
          expect(clients).toEqual([]);
          return;
        }
        expect(new Set(clients.map((span) => span.tags['component']))).toEqual(
          new Set(['pg', 'redis', 'ioredis', 'fetch', 'http']),
        );
        for (const client of clients) expect(servers.map((span) => span.spanId)).toContain(client.parentId);
        // the error the caller caught is the very object the span logged
        if (fault !== 'log' && fault !== 'setTag') {
          const failedSql = spans.find((span) => span.operationName === 'pg:SELECT' && span.tags['error'] === true);
          expect(failedSql?.logs[0]?.fields['error.object']).toBe(pgErrors.at(-1));
        }
      } finally {
        await app.close();
      }
    });
  });

  it('no unhandled rejection or uncaught exception in the whole file', () => {
    expect(watcher.errors).toEqual([]);
  });
});
