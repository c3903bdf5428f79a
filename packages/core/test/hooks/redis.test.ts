import { tracingChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Span, Tracer } from 'opentracing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getCurrentSpan, installPatches, runSuppressed, runWithSpan, uninstallPatches } from '@otinst/core';
import { instrumentRedisClient } from '../../src/hooks/redis';
import { redisStatement } from '../../src/hooks/redis-common';
import { serviceAvailable } from '../../../../test/support/services';
import { redisCommandTags, type RedisLike } from './hook-support';
import { jaegerTracer, otelTracer, recorderTracer, type TracerUnderTest } from '../../../../test/support/tracers';

/**
 * The node-redis hook against a real Redis, for redis 4, 5 and 6, every copy
 * patched (5 and 6 also publish TracingChannels, from @redis/client 5.12 on,
 * which the hook leaves unsubscribed: redis-channels.test.ts).
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('redis');

/** The `@redis/client` that a copy of `redis` uses (npm put the alias copies' ones in nested node_modules). */
function clientModuleDir(redisPackage: string): string {
  const main = require.resolve(`${redisPackage}/package.json`);
  return dirname(createRequire(main).resolve('@redis/client/package.json'));
}

// every copy is patched; the channel path (a publishing copy the hook cannot patch) is redis-channels.test.ts
const MAJORS = [
  { major: 6, pkg: 'redis' },
  { major: 5, pkg: 'redis5' },
  { major: 4, pkg: 'redis4' },
] as const;

const runId = `${process.pid}-${Date.now()}`;
const keyOf = (major: number, name: string) => `otinst:${runId}:${major}:${name}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function underParent<T>(t: TracerUnderTest, fn: () => Promise<T>, name = 'parent'): Promise<T> {
  const parent = t.tracer.startSpan(name);
  try {
    return await runWithSpan(parent, fn);
  } finally {
    parent.finish();
    await settle();
  }
}

/** A tracer that throws from everything, behind a parent span that works. */
class ThrowingTracer extends Tracer {
  protected override _startSpan(): Span {
    throw new Error('tracer down');
  }
  protected override _inject(): void {
    throw new Error('inject down');
  }
}
const throwingTracer = new ThrowingTracer();
class ThrowingParent extends Span {
  protected override _tracer(): Tracer {
    return throwingTracer;
  }
}

/** Spans that throw from addTags (and so setTag), log and finish. */
class BrokenSpan extends Span {
  protected override _addTags(): void {
    throw new Error('addTags down');
  }
  protected override _log(): void {
    throw new Error('log down');
  }
  protected override _finish(): void {
    throw new Error('finish down');
  }
}
class BrokenSpanTracer extends Tracer {
  protected override _startSpan(): Span {
    return new BrokenSpan();
  }
}

describe('redisStatement', () => {
  it('shows the command and its key, never values or secrets', () => {
    expect(redisStatement('GET', 'user:1', 0)).toBe('GET user:1');
    expect(redisStatement('SET', 'user:1', 3)).toBe('SET user:1 ? ? ?');
    expect(redisStatement('HSET', 'user:1', 2)).toBe('HSET user:1 ? ?');
    expect(redisStatement('PING', undefined, 0)).toBe('PING');
    expect(redisStatement('AUTH', 'password', 0)).toBe('AUTH ?');
    expect(redisStatement('AUTH', 'user', 1)).toBe('AUTH ? ?');
    expect(redisStatement('HELLO', '3', 3)).toBe('HELLO ? ? ? ?');
    expect(redisStatement('ECHO', 'message', 0)).toBe('ECHO ?');
    expect(redisStatement('EVAL', 'return redis.call("get", KEYS[1])', 2)).toBe('EVAL ? ? ?');
    expect(redisStatement('EVALSHA', 'abc123', 1)).toBe('EVALSHA abc123 ?');
    expect(redisStatement('NOSUCHCMD', 'x', 0)).toBe('NOSUCHCMD ?');
    expect(redisStatement('GET', Buffer.from('binary'), 0)).toBe('GET binary');
    expect(redisStatement('GET', 'k'.repeat(1000), 0)).toBe(`GET ${'k'.repeat(256)}`);
  });
});

describe.skipIf(!up)('redis hook (node-redis 4, 5, 6)', () => {
  const clients = new Map<number, RedisLike>();
  const originals = new Map<string, unknown>();
  let redis4Client: { prototype: Record<string, unknown> };
  let redis6Pool: { prototype: Record<string, unknown> };
  let originalExecute: unknown;

  beforeAll(async () => {
    redis4Client = require(join(clientModuleDir('redis4'), 'dist/lib/client/index.js')).default;
    for (const name of ['get', 'GET', 'sendCommand', 'multiExecutor', 'SELECT', 'commandsExecutor']) {
      originals.set(name, redis4Client.prototype[name]);
    }
    redis6Pool = require(join(clientModuleDir('redis'), 'dist/lib/client/pool.js')).RedisClientPool;
    originalExecute = redis6Pool.prototype['execute'];
    require(clientModuleDir('redis')); // the app loads @redis/client: hooks patch only what the app loaded
    installPatches(['redis']);
    expect(redis6Pool.prototype['execute']).not.toBe(originalExecute);
    installPatches(['redis']); // twice: still one span per command
    for (const { major, pkg } of MAJORS) {
      const clientModule = require(clientModuleDir(pkg));
      expect(instrumentRedisClient(clientModule)).toBe('patched');
      instrumentRedisClient(clientModule); // twice
      const client = require(pkg).createClient({ url: 'redis://127.0.0.1:6379' }) as RedisLike;
      await client.connect();
      clients.set(major, client);
    }
  });

  afterAll(async () => {
    uninstallPatches();
    for (const [major, client] of clients) {
      await client.del(['a', 'b', 'h', 'x'].map((name) => keyOf(major, name)));
      await client.quit();
    }
  });

  beforeEach(() => recorder.reset());

  for (const { major } of MAJORS) {
    describe(`redis ${major}`, () => {
      const client = () => clients.get(major)!;
      const key = (name: string) => keyOf(major, name);

      it('makes redis:SET and redis:GET children of the current span, with command + key only', async () => {
        const value = await underParent(recorder, async () => {
          await client().set(key('a'), 'secret-value');
          return client().get(key('a'));
        });
        expect(value).toBe('secret-value');
        const spans = recorder.spans();
        const parent = spans.find((s) => s.operationName === 'parent')!;
        const set = spans.find((s) => s.operationName === 'redis:SET')!;
        const get = spans.find((s) => s.operationName === 'redis:GET')!;
        expect(spans.map((s) => s.operationName).sort()).toEqual(['parent', 'redis:GET', 'redis:SET']);
        for (const span of [set, get]) {
          expect(span.parentId).toBe(parent.spanId);
          expect(span.traceId).toBe(parent.traceId);
        }
        expect(set.tags).toEqual(redisCommandTags(`SET ${key('a')} ?`));
        expect(get.tags['db.statement']).toBe(`GET ${key('a')}`);
        expect(JSON.stringify(spans)).not.toContain('secret-value');
      });

      it('shows the key of HGETALL where the library does not hide it', async () => {
        await underParent(recorder, () => client().hGetAll(key('h')));
        const span = recorder.spans().find((s) => s.operationName === 'redis:HGETALL')!;
        expect(span.tags['db.statement']).toBe(`HGETALL ${key('h')}`);
      });

      it('makes no span without a current span, nor in a suppressed context', async () => {
        await client().set(key('x'), '1');
        await runSuppressed(() => client().get(key('x')));
        await settle();
        expect(recorder.spans()).toEqual([]);
      });

      it('marks an unknown command with the ERR reply and rethrows the same error', async () => {
        let caught: unknown;
        await underParent(recorder, async () => {
          caught = await client()
            .sendCommand(['NOSUCHCMD', 'x'])
            .catch((error: unknown) => error);
        });
        expect(String((caught as Error).message)).toMatch(/^ERR unknown command/);
        const span = recorder.spans().find((s) => s.operationName === 'redis:NOSUCHCMD')!;
        expect(span.tags['error']).toBe(true);
        expect(span.tags['db.statement']).toBe('NOSUCHCMD ?');
        expect(span.logs).toHaveLength(1);
        expect(span.logs[0]!['event']).toBe('error');
        expect(span.logs[0]!['error.object']).toBe(caught);
      });

      it('makes one redis:MULTI span for a transaction, not one per command', async () => {
        const results = await underParent(recorder, () => client().multi().set(key('b'), 'v').get(key('b')).exec());
        expect(results).toEqual(['OK', 'v']);
        const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
        expect(spans.map((s) => s.operationName)).toEqual(['redis:MULTI']);
        expect(spans[0]!.tags['db.redis.batch_size']).toBe(2);
        expect(spans[0]!.tags['component']).toBe('redis');
        expect(spans[0]!.parentId).toBe(recorder.spans().find((s) => s.operationName === 'parent')!.spanId);
      });

      it('makes one redis:PIPELINE span for a pipeline', async () => {
        const results = await underParent(recorder, () =>
          client().multi().set(key('b'), 'w').get(key('b')).execAsPipeline(),
        );
        expect(results).toEqual(['OK', 'w']);
        const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
        expect(spans.map((s) => s.operationName)).toEqual(['redis:PIPELINE']);
        expect(spans[0]!.tags['db.redis.batch_size']).toBe(2);
      });

      it('tags the database selected with the client option and with SELECT', async () => {
        const other = require(MAJORS.find((m) => m.major === major)!.pkg).createClient({
          socket: { host: 'localhost', port: 6379 },
          database: 3,
        }) as RedisLike;
        await other.connect();
        try {
          await underParent(recorder, async () => {
            await other.get(key('a'));
            await other.select(2);
            await other.get(key('a'));
          });
        } finally {
          await other.quit();
        }
        const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
        expect(spans.map((s) => [s.operationName, s.tags['db.instance'], s.tags['db.statement']])).toEqual([
          ['redis:GET', '3', `GET ${key('a')}`],
          ['redis:SELECT', '3', 'SELECT 2'],
          ['redis:GET', '2', `GET ${key('a')}`],
        ]);
        expect(spans[0]!.tags['peer.hostname']).toBe('localhost');
        expect(spans[0]!.tags['peer.port']).toBe(6379);
        expect(spans[0]!.tags['peer.ipv4']).toBeUndefined();
      });

      it('keeps each caller as parent for commands queued before the connection is ready', async () => {
        const fresh = require(MAJORS.find((m) => m.major === major)!.pkg).createClient({
          url: 'redis://127.0.0.1:6379',
        }) as RedisLike;
        const a = recorder.tracer.startSpan('a');
        const b = recorder.tracer.startSpan('b');
        const connecting = fresh.connect();
        const replies = await Promise.all([
          runWithSpan(a, () => fresh.get(key('a'))),
          runWithSpan(b, () => fresh.set(key('x'), 'queued')),
        ]);
        await connecting;
        await fresh.quit();
        a.finish();
        b.finish();
        await settle();
        expect(replies[1]).toBe('OK');
        const spans = recorder.spans();
        const id = (name: string) => spans.find((s) => s.operationName === name)!.spanId;
        expect(
          spans.filter((s) => s.operationName.startsWith('redis:')).map((s) => [s.operationName, s.parentId]),
        ).toEqual([
          ['redis:GET', id('a')],
          ['redis:SET', id('b')],
        ]);
      });

      it('keeps concurrent callers apart', async () => {
        const parents = Array.from({ length: 8 }, (_, i) => recorder.tracer.startSpan(`p${i}`));
        await Promise.all(parents.map((parent, i) => runWithSpan(parent, () => client().get(key(`concurrent${i}`)))));
        for (const parent of parents) parent.finish();
        await settle();
        const spans = recorder.spans();
        for (let i = 0; i < parents.length; i++) {
          const get = spans.find((s) => s.tags['db.statement'] === `GET ${key(`concurrent${i}`)}`)!;
          expect(get.parentId).toBe(spans.find((s) => s.operationName === `p${i}`)!.spanId);
        }
      });

      it('changes nothing when the tracer throws', async () => {
        const value = await runWithSpan(new ThrowingParent(), async () => {
          await client().set(key('a'), 'still works');
          return client().get(key('a'));
        });
        expect(value).toBe('still works');
        const broken = new BrokenSpanTracer();
        const error = await runWithSpan(broken.startSpan('parent'), () =>
          client()
            .sendCommand(['NOSUCHCMD'])
            .catch((e: unknown) => e),
        );
        expect(String((error as Error).message)).toMatch(/^ERR unknown command/);
        expect(await runWithSpan(broken.startSpan('parent'), () => client().get(key('a')))).toBe('still works');
      });
    });
  }

  for (const { major, pkg } of MAJORS.filter((m) => m.major >= 5)) {
    it(`keeps each caller as parent through a busy redis ${major} client pool (maximum: 1)`, async () => {
      // regression: the pool ran a queued command in the context of the request that returned the client
      const pool = require(pkg).createClientPool({ url: 'redis://127.0.0.1:6379' }, { maximum: 1 }) as RedisLike & {
        connect(): Promise<unknown>;
        close(): Promise<unknown>;
      };
      await pool.connect();
      const parents = Array.from({ length: 6 }, (_, i) => recorder.tracer.startSpan(`p${i}`));
      try {
        await Promise.all(parents.map((parent, i) => runWithSpan(parent, () => pool.get(keyOf(major, `pool${i}`)))));
        await Promise.all(
          parents.map((parent, i) =>
            runWithSpan(parent, () =>
              pool
                .multi()
                .get(keyOf(major, `pool${i}`))
                .exec(),
            ),
          ),
        );
        await Promise.all([pool.get(keyOf(major, 'pool')), pool.get(keyOf(major, 'pool'))]);
      } finally {
        for (const parent of parents) parent.finish();
        await pool.close();
      }
      await settle();
      const spans = recorder.spans();
      const id = (name: string) => spans.find((s) => s.operationName === name)!.spanId;
      const gets = spans.filter((s) => s.operationName === 'redis:GET');
      const multis = spans.filter((s) => s.operationName === 'redis:MULTI');
      // and the commands sent with no caller span make none, whichever request's client they wait for
      expect(gets.map((s) => [s.tags['db.statement'], s.parentId])).toEqual(
        parents.map((_, i) => [`GET ${keyOf(major, `pool${i}`)}`, id(`p${i}`)]),
      );
      expect(multis.map((s) => s.parentId)).toEqual(parents.map((_, i) => id(`p${i}`)));
    });
  }

  for (const make of [jaegerTracer, otelTracer]) {
    it(`links redis spans under ${make().name}`, async () => {
      const t = make();
      await underParent(t, () => clients.get(6)!.get(keyOf(6, 'a')));
      await underParent(t, () => clients.get(4)!.get(keyOf(4, 'a')));
      const spans = t.spans();
      const parents = spans.filter((s) => s.operationName === 'parent');
      const gets = spans.filter((s) => s.operationName === 'redis:GET');
      expect(gets).toHaveLength(2);
      for (let i = 0; i < 2; i++) {
        expect(gets[i]!.parentId).toBe(parents[i]!.spanId);
        expect(gets[i]!.traceId).toBe(parents[i]!.traceId);
        expect(gets[i]!.tags['db.statement']).toBe(`GET ${keyOf(i === 0 ? 6 : 4, 'a')}`);
        expect(gets[i]!.tags['component']).toBe('redis');
      }
    });
  }

  it('keeps the current span of the caller after a command', async () => {
    const parent = recorder.tracer.startSpan('parent');
    await runWithSpan(parent, async () => {
      await clients.get(4)!.get(keyOf(4, 'a'));
      expect(getCurrentSpan()).toBe(parent);
      await clients.get(6)!.get(keyOf(6, 'a'));
      expect(getCurrentSpan()).toBe(parent);
    });
    parent.finish();
  });

  describe('uninstallPatches', () => {
    it('restores the exact originals, unsubscribes the channels, and traces nothing more', async () => {
      const pendingMulti = clients.get(4)!.multi().get(keyOf(4, 'a')); // binds the executor while installed
      uninstallPatches();
      for (const [name, original] of originals) expect(redis4Client.prototype[name]).toBe(original);
      expect(redis6Pool.prototype['execute']).toBe(originalExecute);
      expect(tracingChannel('node-redis:command').hasSubscribers).toBe(false);
      expect(tracingChannel('node-redis:batch').hasSubscribers).toBe(false);
      await underParent(recorder, async () => {
        for (const client of clients.values()) {
          await client.get('otinst:nothing');
          await client.multi().get('otinst:nothing').exec();
        }
        await pendingMulti.exec();
      });
      expect(recorder.spans().map((s) => s.operationName)).toEqual(['parent']);
    });
  });
});
