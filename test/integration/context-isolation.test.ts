import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Hapi from '@hapi/hapi';
import Router from '@koa/router';
import express from 'express';
import Fastify from 'fastify';
import { Redis as IORedis } from 'ioredis';
import Koa from 'koa';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentSpan } from '@otinst/core';
import type { HookName } from '@otinst/core';
import { tracingMiddleware as expressTracing } from '@otinst/express';
import { tracingPlugin as fastifyTracing } from '@otinst/fastify';
import { tracingPlugin as hapiTracing } from '@otinst/hapi';
import { tracingMiddleware as koaTracing } from '@otinst/koa';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';
import { serviceAvailable } from '../support/services';

/**
 * Context isolation under load: 200 concurrent traced requests through a real
 * adapter, each doing, one after the other, a PostgreSQL query on a pool with
 * `max: 1`, a MariaDB query on a mysql2 pool with `connectionLimit: 1` (each
 * pool's one connection is held until all 200 requests wait for it, so every
 * checkout is served from a release made in another context, where context
 * loss usually hides), a node-redis command, an ioredis command (each one
 * shared connection whose replies come from one socket) and an outgoing
 * `fetch`. Every client span must hang under its own request's server span,
 * in its own trace, none orphaned or duplicated, each finished once; and
 * inside the handler the request's span must still be current after every
 * await.
 */

const up = (
  await Promise.all([serviceAvailable('postgres'), serviceAvailable('mysql'), serviceAvailable('redis')])
).every(Boolean);

const REQUESTS = 200;
const HOOKS: HookName[] = ['pg', 'mysql2', 'redis', 'ioredis', 'fetch'];
const CLIENT_SPANS = ['GET', 'ioredis:GET', 'mysql2:SELECT', 'pg:SELECT', 'redis:GET'];
const runId = `${process.pid}-${Date.now()}`;
const keyOf = (n: string) => `otinst:isolation:${runId}:${n}`;

interface WorkResult {
  n: string;
  /** The span current when the handler started. */
  spanId: string | null;
  /** Steps after which another span (or none) was current. */
  lost: string[];
  echoed: string;
}

interface Clients {
  pgPool: pg.Pool;
  mysqlPool: mysql.Pool;
  redis: { get(key: string): Promise<unknown>; quit(): Promise<unknown> };
  ioredis: IORedis;
  target: string;
}

/** Requests that reached each pool's query call, to release a held connection once all of them wait. */
const arrived = { pg: 0, mysql2: 0 };

let clients: Clients;

/** What every request does, inside its server span. The SQL aliases and keys name the request, so a span shows whose it is. */
async function work(n: string): Promise<WorkResult> {
  const own = getCurrentSpan();
  const lost: string[] = [];
  const check = (step: string) => {
    if (getCurrentSpan() !== own) lost.push(step);
  };
  const pgQuery = clients.pgPool.query(`SELECT $1::int AS req_${n}`, [n]);
  arrived.pg++;
  await pgQuery;
  check('pg');
  const mysqlQuery = clients.mysqlPool.query(`SELECT ? AS req_${n}`, [n]);
  arrived.mysql2++;
  await mysqlQuery;
  check('mysql2');
  await clients.redis.get(keyOf(n));
  check('redis');
  await clients.ioredis.get(keyOf(n));
  check('ioredis');
  const echoed = await (await fetch(`${clients.target}/echo/${n}`)).text();
  check('fetch');
  return { n, spanId: own === null ? null : own.context().toSpanId(), lost, echoed };
}

interface App {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<App> {
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const ADAPTERS: { name: string; operation: string; start(tracer: RecordingTracer): Promise<App> }[] = [
  {
    name: 'express',
    operation: 'GET /work/:n',
    start(tracer) {
      const app = express();
      app.use(expressTracing(tracer, { clientHooks: HOOKS }));
      app.get('/work/:n', async (req, res) => {
        res.json(await work(req.params['n']!));
      });
      return listen(http.createServer(app));
    },
  },
  {
    name: 'koa',
    operation: 'GET /work/:n',
    start(tracer) {
      const app = new Koa();
      app.use(koaTracing(tracer, { clientHooks: HOOKS }));
      const router = new Router();
      router.get('/work/:n', async (ctx) => {
        ctx.body = await work(ctx.params['n']!);
      });
      app.use(router.routes());
      return listen(http.createServer(app.callback()));
    },
  },
  {
    name: 'fastify',
    operation: 'GET /work/:n',
    async start(tracer) {
      const app = Fastify();
      await app.register(fastifyTracing, { tracer, clientHooks: HOOKS });
      app.get<{ Params: { n: string } }>('/work/:n', (request) => work(request.params.n));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return {
        url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
        close: () => app.close(),
      };
    },
  },
  {
    name: 'hapi',
    operation: 'GET /work/{n}',
    async start(tracer) {
      const server = Hapi.server({ port: 0, host: '127.0.0.1' });
      await server.register({ plugin: hapiTracing, options: { tracer, clientHooks: HOOKS } });
      server.route({ method: 'GET', path: '/work/{n}', handler: (request) => work(request.params['n'] as string) });
      await server.start();
      return { url: server.info.uri, close: () => server.stop({ timeout: 100 }) };
    },
  },
];

/** Polls until `done()` (bounded: fails after 10 s). */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let attempt = 0; !done(); attempt++) {
    if (attempt === 5000) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Waits until `count` spans finished (server spans finish on the response's `close`, after the client has its answer). */
async function finishedSpans(tracer: RecordingTracer, count: number): Promise<RecordedSpan[]> {
  for (let attempt = 0; attempt < 2000 && tracer.spans().length < count; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  // one more turn: a late duplicate would show up now
  await new Promise((resolve) => setImmediate(resolve));
  return tracer.spans();
}

describe.skipIf(!up)(`${REQUESTS} concurrent requests, each with pg, mysql2, redis, ioredis and fetch`, () => {
  let target: Server;

  beforeAll(async () => {
    // the fetch target: a plain server, not traced
    target = http.createServer((req, res) => res.end(`echo ${req.url!.slice('/echo/'.length)}`));
    const { url } = await listen(target);
    const redis = createClient({ url: 'redis://127.0.0.1:6379' });
    const ioredis = new IORedis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await Promise.all([redis.connect(), ioredis.connect()]);
    clients = {
      pgPool: new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 1 }),
      mysqlPool: mysql.createPool({
        host: '127.0.0.1',
        port: 3306,
        user: 'root',
        database: 'test',
        connectionLimit: 1,
      }),
      redis,
      ioredis,
      target: url,
    };
  });

  afterAll(async () => {
    if (clients === undefined) return;
    await Promise.all([clients.pgPool.end(), clients.mysqlPool.end(), clients.redis.quit(), clients.ioredis.quit()]);
    target.closeAllConnections();
    await new Promise((resolve) => target.close(resolve));
  });

  for (const adapter of ADAPTERS) {
    it(`${adapter.name}: every client span hangs under its own request's server span`, async () => {
      const tracer = new RecordingTracer({ serviceName: adapter.name });
      const app = await adapter.start(tracer);
      arrived.pg = 0;
      arrived.mysql2 = 0;
      // each pool's one connection is held until every request waits for it: then every checkout is
      // served from a release() made in another context (this test's, then another request's)
      let pgHeld: pg.PoolClient | undefined = await clients.pgPool.connect();
      let mysqlHeld: mysql.PoolConnection | undefined = await clients.mysqlPool.getConnection();
      const incoming = Array.from({ length: REQUESTS }, () => ({
        traceId: randomBytes(16).toString('hex'),
        spanId: randomBytes(8).toString('hex'),
      }));
      let results: WorkResult[];
      try {
        const running = Promise.all(
          incoming.map(async ({ traceId, spanId }, n) => {
            const response = await fetch(`${app.url}/work/${n}`, {
              headers: { traceparent: `00-${traceId}-${spanId}-01` },
            });
            expect(response.status).toBe(200);
            return (await response.json()) as WorkResult;
          }),
        );
        // a request that fails shows up below, from `await running`
        running.catch(() => undefined);
        await until('every request waits for the pg connection', () => arrived.pg === REQUESTS);
        expect(clients.pgPool.waitingCount).toBe(REQUESTS);
        pgHeld.release();
        pgHeld = undefined;
        await until('every request waits for the mysql2 connection', () => arrived.mysql2 === REQUESTS);
        mysqlHeld.release();
        mysqlHeld = undefined;
        results = await running;
      } finally {
        pgHeld?.release();
        mysqlHeld?.release();
        await app.close();
      }
      const spans = await finishedSpans(tracer, REQUESTS * (1 + CLIENT_SPANS.length));

      expect(results.map((result) => result.lost).flat()).toEqual([]);

      for (const [n, { traceId, spanId }] of incoming.entries()) {
        const servers = spans.filter((span) => span.traceId === traceId && span.tags['span.kind'] === 'server');
        expect(
          servers.map((span) => span.operationName),
          `request ${n}`,
        ).toEqual([adapter.operation]);
        const server = servers[0]!;
        expect(server.parentId).toBe(spanId);
        expect(server.tags).toMatchObject({ component: adapter.name, 'http.status_code': 200 });
        expect(results[n]).toEqual({ n: String(n), spanId: server.spanId, lost: [], echoed: `echo ${n}` });

        const children = spans.filter((span) => span.parentId === server.spanId);
        expect(children.map((span) => span.operationName).sort(), `request ${n}`).toEqual(CLIENT_SPANS);
        const child = (name: string) => children.find((span) => span.operationName === name)!;
        expect(new Set(children.map((span) => span.traceId))).toEqual(new Set([traceId]));
        expect(child('pg:SELECT').tags['db.statement']).toBe(`SELECT $1::int AS req_${n}`);
        expect(child('mysql2:SELECT').tags['db.statement']).toBe(`SELECT ? AS req_${n}`);
        expect(child('redis:GET').tags['db.statement']).toBe(`GET ${keyOf(String(n))}`);
        expect(child('ioredis:GET').tags['db.statement']).toBe(`GET ${keyOf(String(n))}`);
        expect(child('GET').tags).toMatchObject({
          component: 'fetch',
          'http.url': `${clients.target}/echo/${n}`,
          'http.status_code': 200,
        });
      }

      // totals: nothing orphaned, duplicated, left open or finished twice
      const counts: Record<string, number> = {};
      for (const span of spans) counts[span.operationName] = (counts[span.operationName] ?? 0) + 1;
      expect(counts).toEqual(Object.fromEntries([adapter.operation, ...CLIENT_SPANS].map((name) => [name, REQUESTS])));
      expect(new Set(spans.map((span) => span.spanId)).size).toBe(spans.length);
      expect(spans.filter((span) => span.finishCount !== 1)).toEqual([]);
      expect(tracer.store.unfinished()).toEqual([]);
    });
  }
});
