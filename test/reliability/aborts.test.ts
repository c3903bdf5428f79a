/**
 * Aborts and timeouts. For each adapter: a client that disconnects with the
 * request body half sent, and one that disconnects after the first chunk of
 * the response: the server span finishes once, with `http.aborted=true`. An
 * outgoing call whose timeout fires (http with `timeout`, fetch with
 * `AbortSignal.timeout`): the client span finishes with the error, and the
 * app answers as it does untraced. PostgreSQL killing the connection in the
 * middle of a query (`pg_terminate_backend`): the pg span finishes with
 * error=true and the caller gets the same error as without tracing. A
 * RabbitMQ channel closed by the broker while a message is being consumed:
 * the consumer span finishes and the app's own error handling sees what it
 * sees without tracing.
 */
import http from 'node:http';
import amqplib from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configure, installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';
import { serviceAvailable } from '../support/services';
import {
  ADAPTERS,
  baseRoutes,
  buildApp,
  deferred,
  eventually,
  gatedStream,
  ledger,
  send,
  startEchoServer,
  watchProcessErrors,
} from './support';
import type { App, EchoServer, Route, SpanLedger } from './support';

const watcher = watchProcessErrors();
let echo: EchoServer;

beforeAll(async () => {
  echo = await startEchoServer();
});

afterAll(async () => {
  await echo?.close();
  watcher.stop();
});

class UpstreamTimeout extends Error {
  override name = 'UpstreamTimeout';
}

/** Per test: resolved when the server span starts, and the gate of `/slow`'s second chunk. */
let arrived = deferred();
let gate = deferred();
/** The errors the `/timeout` handler caught, newest last. */
const upstreamErrors: unknown[] = [];

const routes: Route[] = [
  ...baseRoutes(),
  {
    method: 'GET',
    path: '/slow',
    handler: async () => ({ status: 200, stream: gatedStream('first\n', 'rest\n', gate.promise) }),
  },
  {
    method: 'GET',
    path: '/timeout',
    handler: async ({ query }) => {
      try {
        if (query['via'] === 'fetch') {
          await fetch(`${echo.url}/stall`, { signal: AbortSignal.timeout(50) });
        } else {
          await new Promise((resolve, reject) => {
            const request = http.get(`${echo.url}/stall`, { timeout: 50 }, resolve);
            request.on('timeout', () => request.destroy(new UpstreamTimeout('upstream timed out after 50 ms')));
            request.on('error', reject);
          });
        }
        return { status: 200, json: { ok: true } };
      } catch (error) {
        upstreamErrors.push(error);
        const { name, message } = error as Error;
        return { status: 504, json: { name, message } };
      }
    },
  },
];

/** The one server span recorded since the last reset (fails unless there is exactly one, finished once). */
function onlyServerSpan(recorder: RecordingTracer): RecordedSpan {
  const servers = recorder.spans().filter((span) => span.tags['span.kind'] === 'server');
  expect(servers.map((span) => span.operationName)).toHaveLength(1);
  expect(servers[0]!.finishCount).toBe(1);
  return servers[0]!;
}

describe.each(ADAPTERS)('%s: aborted requests and upstream timeouts', (adapter) => {
  const recorder = new RecordingTracer({ serviceName: `aborts-${adapter}` });
  let counted: SpanLedger;
  let app: App;
  let plain: App;

  beforeAll(async () => {
    counted = ledger(recorder);
    app = await buildApp(adapter, routes, counted.tracer, { onStart: () => arrived.resolve() });
    plain = await buildApp(adapter, routes, null);
  });

  afterAll(async () => {
    gate.resolve();
    await app?.close();
    await plain?.close();
  });

  async function settled(): Promise<void> {
    await eventually(() => counted.open().length === 0);
    expect(counted.open()).toEqual([]);
    expect(counted.finishedTwice()).toBe(0);
    expect(recorder.store.unfinished()).toEqual([]);
  }

  it('a client that leaves with the request body half sent: one span, finished once, http.aborted', async () => {
    recorder.reset();
    arrived = deferred();
    const request = http.request(`${app.url}/upload`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'text/plain', 'content-length': '1000' },
    });
    request.on('error', () => {});
    request.write('x'.repeat(500));
    await arrived.promise;
    request.destroy();
    await settled();
    const span = onlyServerSpan(recorder);
    expect(span.tags['http.aborted']).toBe(true);
    expect(span.tags['http.method']).toBe('POST');
  });

  it('a client that leaves after the first chunk of the response: one span, finished once, http.aborted', async () => {
    recorder.reset();
    gate = deferred();
    const firstChunk = deferred<string>();
    const request = http.get(`${app.url}/slow`, { agent: false }, (response) => {
      response.once('data', (chunk: Buffer) => {
        request.destroy();
        firstChunk.resolve(chunk.toString());
      });
    });
    request.on('error', () => {});
    expect(await firstChunk.promise).toBe('first\n');
    await settled();
    gate.resolve();
    const span = onlyServerSpan(recorder);
    expect(span.tags['http.aborted']).toBe(true);
    expect(span.tags['http.status_code']).toBe(200);
    expect(span.operationName).toBe('GET /slow');
  });

  it.each(['http', 'fetch'] as const)(
    'an upstream %s call whose timeout fires: the client span finishes with the error, the answer is unchanged',
    async (via) => {
      recorder.reset();
      const expected = await send(plain.url, { path: `/timeout?via=${via}` });
      const caught = upstreamErrors.length;
      const actual = await send(app.url, { path: `/timeout?via=${via}` });
      expect(actual).toEqual(expected);
      expect(actual.status).toBe(504);
      expect(upstreamErrors).toHaveLength(caught + 1);
      const error = upstreamErrors.at(-1) as Error;
      expect(error.name).toBe(via === 'http' ? 'UpstreamTimeout' : 'TimeoutError');
      await settled();
      const server = onlyServerSpan(recorder);
      const clients = recorder.spans().filter((span) => span.tags['span.kind'] === 'client');
      expect(clients.map((span) => [span.operationName, span.tags['component']])).toEqual([['GET', via]]);
      const client = clients[0]!;
      expect(client.finishCount).toBe(1);
      expect(client.parentId).toBe(server.spanId);
      expect(client.tags['error']).toBe(true);
      expect(client.tags['http.status_code']).toBeUndefined();
      const errorLog = client.logs.find((log) => log.fields['event'] === 'error')?.fields;
      expect(errorLog?.['error.object']).toBe(error);
      expect(errorLog?.['message']).toBe(error.message);
      if (via === 'http') expect(client.logs.map((log) => log.fields['event'])).toContain('timeout');
    },
  );
});

describe.skipIf(!(await serviceAvailable('postgres')))('PostgreSQL drops the connection mid-query', () => {
  const recorder = new RecordingTracer({ serviceName: 'pg-drop' });

  beforeAll(() => installPatches(['pg']));

  /** Runs `SELECT pg_sleep(5)` and kills it from another connection; what the caller and the client's listeners saw. */
  async function killedQuery(): Promise<{ rejected: unknown; emitted: unknown[] }> {
    const victim = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'test' });
    const killer = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'test' });
    const emitted: unknown[] = [];
    victim.on('error', (error) => emitted.push(error));
    await victim.connect();
    await killer.connect();
    try {
      const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      const sleeping = victim.query('SELECT pg_sleep(5)').then(
        () => undefined,
        (error: unknown) => error,
      );
      // kill it once the server runs it (polled, not timed)
      const running = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND query = 'SELECT pg_sleep(5)' AND state = 'active'`;
      for (let attempt = 0; attempt < 200; attempt++) {
        const { rows: active } = await killer.query<{ n: number }>(running, [pid]);
        if (active[0]!.n === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await killer.query('SELECT pg_terminate_backend($1)', [pid]);
      const rejected = await sleeping;
      await eventually(() => emitted.length > 0, 2000);
      return { rejected, emitted };
    } finally {
      await killer.end();
      await victim.end().catch(() => undefined);
    }
  }

  const shape = (error: unknown) => {
    const e = error as { constructor: { name: string }; message: string; code?: string };
    return { type: e.constructor.name, message: e.message, code: e.code };
  };

  it('the pg span finishes with error=true, and the caller gets the same error as untraced', async () => {
    const untraced = await killedQuery();
    expect(untraced.rejected).toBeInstanceOf(Error);
    const parent = recorder.startSpan('request');
    const traced = await runWithSpan(parent, () => killedQuery());
    parent.finish();
    expect(shape(traced.rejected)).toEqual(shape(untraced.rejected));
    expect(traced.emitted.map(shape)).toEqual(untraced.emitted.map(shape));
    await eventually(() => recorder.store.unfinished().length === 0);
    expect(recorder.store.unfinished()).toEqual([]);
    // literals are tagged as `?` (issue 12)
    const sleep = recorder.spans().filter((span) => span.tags['db.statement'] === 'SELECT pg_sleep(?)');
    expect(sleep).toHaveLength(1);
    expect(sleep[0]!.finishCount).toBe(1);
    expect(sleep[0]!.tags['error']).toBe(true);
    expect(sleep[0]!.parentId).toBe(parent.context().toSpanId());
    expect(sleep[0]!.logs.find((log) => log.fields['event'] === 'error')?.fields['error.object']).toBe(traced.rejected);
  });
});

describe.skipIf(!(await serviceAvailable('rabbitmq')))('a RabbitMQ channel closed while consuming', () => {
  const recorder = new RecordingTracer({ serviceName: 'amqp' });

  afterAll(() => {
    configure({ tracer: null });
  });

  /**
   * Publishes one message and consumes it; while the consumer runs, the broker
   * closes the channel (an ack with an unknown delivery tag: PRECONDITION_FAILED),
   * then the consumer acks its message on the closed channel and handles the
   * error itself. Returns what the app's handlers saw.
   */
  async function closedWhileConsuming(): Promise<{
    channelErrors: string[];
    consumerErrors: string[];
    closes: number;
  }> {
    const connection = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672');
    const channelErrors: string[] = [];
    const consumerErrors: string[] = [];
    let closes = 0;
    try {
      const channel = await connection.createChannel();
      channel.on('error', (error: Error) => channelErrors.push(error.message));
      const closed = deferred();
      channel.on('close', () => {
        closes++;
        closed.resolve();
      });
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      const done = deferred();
      await channel.consume(queue, async (message) => {
        try {
          if (message === null) return;
          channel.ack({ ...message, fields: { ...message.fields, deliveryTag: 999 } });
          await closed.promise;
          channel.ack(message);
        } catch (error) {
          consumerErrors.push(`${(error as Error).name}: ${(error as Error).message}`);
        } finally {
          done.resolve();
        }
      });
      const parent = recorder.startSpan('request');
      runWithSpan(parent, () => channel.sendToQueue(queue, Buffer.from('hello')));
      parent.finish();
      await done.promise;
    } finally {
      await connection.close();
    }
    return { channelErrors, consumerErrors, closes };
  }

  it('the consumer span finishes, and the app sees the same errors as untraced', async () => {
    uninstallPatches();
    const untraced = await closedWhileConsuming();
    expect(untraced.channelErrors).toHaveLength(1);
    expect(untraced.channelErrors[0]).toContain('PRECONDITION_FAILED');
    expect(untraced.consumerErrors).toHaveLength(1);
    expect(recorder.spans().filter((span) => span.operationName.startsWith('amqp:'))).toEqual([]);

    configure({ tracer: recorder });
    installPatches(['amqplib']);
    recorder.reset();
    const traced = await closedWhileConsuming();
    expect(traced).toEqual(untraced);
    await eventually(() => recorder.store.unfinished().length === 0);
    expect(recorder.store.unfinished()).toEqual([]);
    const consumer = recorder.spans().filter((span) => span.tags['span.kind'] === 'consumer');
    const producer = recorder.spans().filter((span) => span.tags['span.kind'] === 'producer');
    expect(consumer).toHaveLength(1);
    expect(producer).toHaveLength(1);
    expect(consumer[0]!.finishCount).toBe(1);
    expect(consumer[0]!.parentId).toBe(producer[0]!.spanId);
    expect(consumer[0]!.traceId).toBe(producer[0]!.traceId);
  });
});

describe('the whole file', () => {
  it('had no unhandled rejection or uncaught exception', () => {
    expect(watcher.errors).toEqual([]);
  });
});
