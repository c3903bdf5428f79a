import { tracingChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { Span, Tracer } from 'opentracing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { installPatches, runSuppressed, runWithSpan, uninstallPatches } from '@otinst/core';
import { instrumentIoredis } from '../../src/hooks/ioredis';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer, recorderTracer, type TracerUnderTest } from '../../../../test/support/tracers';

/**
 * The ioredis hook against a real Redis, for ioredis 6 and 5 (the `ioredis5`
 * alias is 5.11.1: both publish TracingChannels, so both take the channel
 * path; `ioredis5-patched.test.ts` covers the patched path).
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('redis');

interface Pipeline {
  set(key: string, value: string): Pipeline;
  get(key: string): Pipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}
interface IoredisClient {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  del(...keys: string[]): Promise<unknown>;
  hgetall(key: string): Promise<unknown>;
  select(db: number): Promise<unknown>;
  call(command: string, ...args: string[]): Promise<unknown>;
  pipeline(): Pipeline;
  multi(): Pipeline;
  quit(): Promise<unknown>;
  connect(): Promise<unknown>;
}
type IoredisClass = new (options: Record<string, unknown>) => IoredisClient;

const VERSIONS = [
  { major: 6, pkg: 'ioredis' },
  { major: 5, pkg: 'ioredis5' },
] as const;

const runId = `${process.pid}-${Date.now()}`;
const keyOf = (major: number, name: string) => `otinst:${runId}:io${major}:${name}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));
const OPTIONS = { host: '127.0.0.1', port: 6379 };

async function underParent<T>(t: TracerUnderTest, fn: () => Promise<T>, name = 'parent'): Promise<T> {
  const parent = t.tracer.startSpan(name);
  try {
    return await runWithSpan(parent, fn);
  } finally {
    parent.finish();
    await settle();
  }
}

class ThrowingTracer extends Tracer {
  protected override _startSpan(): Span {
    throw new Error('tracer down');
  }
}
const throwingTracer = new ThrowingTracer();
class ThrowingParent extends Span {
  protected override _tracer(): Tracer {
    return throwingTracer;
  }
}
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

describe.skipIf(!up)('ioredis hook (ioredis 5 and 6)', () => {
  const clients = new Map<number, IoredisClient>();
  const classes = new Map<number, IoredisClass>();
  const originals = new Map<number, { sendCommand: unknown; exec: unknown }>();

  beforeAll(() => {
    for (const { major, pkg } of VERSIONS) {
      const lib = require(pkg);
      originals.set(major, { sendCommand: lib.prototype.sendCommand, exec: lib.Pipeline.prototype.exec });
    }
    installPatches(['ioredis']);
    installPatches(['ioredis']);
    for (const { major, pkg } of VERSIONS) {
      const lib = require(pkg);
      expect(instrumentIoredis(lib)).toBe('channels');
      instrumentIoredis(lib);
      classes.set(major, lib);
      clients.set(major, new lib(OPTIONS));
    }
  });

  afterAll(async () => {
    uninstallPatches();
    for (const [major, client] of clients) {
      await client.del(...['a', 'b', 'q', 'x'].map((name) => keyOf(major, name)));
      await client.quit();
    }
  });

  beforeEach(() => recorder.reset());

  for (const { major } of VERSIONS) {
    describe(`ioredis ${major}`, () => {
      const client = () => clients.get(major)!;
      const key = (name: string) => keyOf(major, name);
      const fresh = (options: Record<string, unknown> = {}) => new (classes.get(major)!)({ ...OPTIONS, ...options });

      it('makes ioredis:SET and ioredis:GET children of the current span, with command + key only', async () => {
        const value = await underParent(recorder, async () => {
          await client().set(key('a'), 'secret-value');
          return client().get(key('a'));
        });
        expect(value).toBe('secret-value');
        const spans = recorder.spans();
        const parent = spans.find((s) => s.operationName === 'parent')!;
        expect(spans.map((s) => s.operationName)).toEqual(['ioredis:SET', 'ioredis:GET', 'parent']);
        for (const span of spans.slice(0, 2)) {
          expect(span.parentId).toBe(parent.spanId);
          expect(span.traceId).toBe(parent.traceId);
        }
        expect(spans[0]!.tags).toEqual({
          'span.kind': 'client',
          component: 'ioredis',
          'db.type': 'redis',
          'db.instance': '0',
          'db.statement': `SET ${key('a')} ?`,
          'peer.ipv4': '127.0.0.1',
          'peer.port': 6379,
        });
        expect(spans[1]!.tags['db.statement']).toBe(`GET ${key('a')}`);
        expect(JSON.stringify(spans)).not.toContain('secret-value');
      });

      it('makes no span without a current span, nor in a suppressed context', async () => {
        await client().get(key('a'));
        await runSuppressed(() => client().get(key('a')));
        await settle();
        expect(recorder.spans()).toEqual([]);
      });

      it('marks an unknown command with the ERR reply and rethrows the same error', async () => {
        let caught: unknown;
        await underParent(recorder, async () => {
          caught = await client()
            .call('NOSUCHCMD', 'x')
            .catch((error: unknown) => error);
        });
        expect(String((caught as Error).message)).toMatch(/^ERR unknown command/);
        const span = recorder.spans().find((s) => s.operationName === 'ioredis:NOSUCHCMD')!;
        expect(span.tags['error']).toBe(true);
        expect(span.tags['db.statement']).toBe('NOSUCHCMD ?');
        expect(span.logs).toHaveLength(1);
        expect(span.logs[0]!['error.object']).toBe(caught);
      });

      it('makes one ioredis:MULTI span for a transaction, not one per command', async () => {
        const results = await underParent(recorder, () => client().multi().set(key('b'), 'v').get(key('b')).exec());
        expect(results).toEqual([
          [null, 'OK'],
          [null, 'v'],
        ]);
        const spans = recorder.spans();
        expect(spans.map((s) => s.operationName)).toEqual(['ioredis:MULTI', 'parent']);
        expect(spans[0]!.tags['db.redis.batch_size']).toBe(2);
        expect(spans[0]!.parentId).toBe(spans[1]!.spanId);

        recorder.reset();
        // an unknown command aborts the transaction: EXEC fails and ioredis rejects the MULTI
        const failure = await underParent(recorder, () =>
          (client().multi() as Pipeline & { call(command: string): Pipeline })
            .call('NOSUCHCMD')
            .exec()
            .catch((error: unknown) => error),
        );
        expect(String((failure as Error).message)).toMatch(/^EXECABORT/);
        const failed = recorder.spans()[0]!;
        expect([failed.operationName, failed.tags['error'], failed.logs[0]!['error.object']]).toEqual([
          'ioredis:MULTI',
          true,
          failure,
        ]);
      });

      it('makes one ioredis:PIPELINE span for a pipeline', async () => {
        const results = await underParent(recorder, () =>
          client().pipeline().set(key('b'), 'w').get(key('b')).get(key('b')).exec(),
        );
        expect(results).toEqual([
          [null, 'OK'],
          [null, 'w'],
          [null, 'w'],
        ]);
        const spans = recorder.spans();
        expect(spans.map((s) => s.operationName)).toEqual(['ioredis:PIPELINE', 'parent']);
        expect(spans[0]!.tags['db.redis.batch_size']).toBe(3);
        expect(spans[0]!.tags['component']).toBe('ioredis');
        expect(spans[0]!.parentId).toBe(spans[1]!.spanId);
      });

      it('tags the database from the db option and after SELECT', async () => {
        const other = fresh({ db: 3, host: 'localhost' });
        await underParent(recorder, async () => {
          await other.get(key('a'));
          await other.select(2);
          await other.get(key('a'));
        });
        await other.quit();
        expect(recorder.spans().map((s) => [s.operationName, s.tags['db.instance']])).toEqual([
          ['ioredis:GET', '3'],
          // ioredis switches its database before it publishes the SELECT
          ['ioredis:SELECT', '2'],
          ['ioredis:GET', '2'],
          ['parent', undefined],
        ]);
        expect(recorder.spans()[0]!.tags['peer.hostname']).toBe('localhost');
        expect(recorder.spans()[0]!.tags['peer.ipv4']).toBeUndefined();
      });

      it('makes ONE span per command queued before the connection is ready, under its own caller', async () => {
        // regression: ioredis sends offline-queued commands again from its ready handler, in the
        // context of whoever opened the connection (open-telemetry/opentelemetry-js-contrib#288)
        for (const options of [{ lazyConnect: true }, {}]) {
          recorder.reset();
          const offline = fresh(options);
          const a = recorder.tracer.startSpan('a');
          const b = recorder.tracer.startSpan('b');
          const c = recorder.tracer.startSpan('c');
          const replies = await Promise.all([
            runWithSpan(a, () => offline.get(key('q'))),
            runWithSpan(b, () => offline.set(key('q'), 'queued')),
            runWithSpan(c, () => offline.pipeline().get(key('q')).get(key('q')).exec()),
            offline.get(key('q')), // no caller span: no span, whoever connected
          ]);
          await offline.quit();
          for (const span of [a, b, c]) span.finish();
          await settle();
          expect(replies[1]).toBe('OK');
          const spans = recorder.spans();
          const id = (name: string) => spans.find((s) => s.operationName === name)!.spanId;
          // and no spans for the handshake (HELLO, CLIENT SETINFO, INFO) ioredis sends for itself
          expect(
            spans
              .filter((s) => s.operationName.startsWith('ioredis:'))
              .map((s) => [s.operationName, s.parentId])
              .sort(),
          ).toEqual([
            ['ioredis:GET', id('a')],
            ['ioredis:PIPELINE', id('c')],
            ['ioredis:SET', id('b')],
          ]);
        }
      });

      it('keeps concurrent callers apart', async () => {
        const parents = Array.from({ length: 8 }, (_, i) => recorder.tracer.startSpan(`p${i}`));
        await Promise.all(parents.map((parent, i) => runWithSpan(parent, () => client().get(key(`c${i}`)))));
        for (const parent of parents) parent.finish();
        await settle();
        const spans = recorder.spans();
        for (let i = 0; i < parents.length; i++) {
          const get = spans.find((s) => s.tags['db.statement'] === `GET ${key(`c${i}`)}`)!;
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
            .call('NOSUCHCMD')
            .catch((e: unknown) => e),
        );
        expect(String((error as Error).message)).toMatch(/^ERR unknown command/);
        const pipelined = await runWithSpan(broken.startSpan('parent'), () => client().multi().get(key('a')).exec());
        expect(pipelined).toEqual([[null, 'still works']]);
      });
    });
  }

  for (const make of [jaegerTracer, otelTracer]) {
    it(`links ioredis spans under ${make().name}`, async () => {
      const t = make();
      for (const { major } of VERSIONS) await underParent(t, () => clients.get(major)!.get(keyOf(major, 'a')));
      const spans = t.spans();
      const parents = spans.filter((s) => s.operationName === 'parent');
      const gets = spans.filter((s) => s.operationName === 'ioredis:GET');
      expect(gets).toHaveLength(2);
      for (let i = 0; i < 2; i++) {
        expect(gets[i]!.parentId).toBe(parents[i]!.spanId);
        expect(gets[i]!.traceId).toBe(parents[i]!.traceId);
        expect(gets[i]!.tags['db.statement']).toBe(`GET ${keyOf(VERSIONS[i]!.major, 'a')}`);
      }
    });
  }

  describe('uninstallPatches', () => {
    it('restores the exact originals, unsubscribes the channels, and traces nothing more', async () => {
      uninstallPatches();
      for (const { major, pkg } of VERSIONS) {
        const lib = require(pkg);
        expect(lib.prototype.sendCommand).toBe(originals.get(major)!.sendCommand);
        expect(lib.Pipeline.prototype.exec).toBe(originals.get(major)!.exec);
      }
      expect(tracingChannel('ioredis:command').hasSubscribers).toBe(false);
      expect(tracingChannel('ioredis:batch').hasSubscribers).toBe(false);
      await underParent(recorder, async () => {
        for (const client of clients.values()) {
          await client.get('otinst:nothing');
          await client.multi().get('otinst:nothing').exec();
          await client.pipeline().get('otinst:nothing').exec();
        }
      });
      expect(recorder.spans().map((s) => s.operationName)).toEqual(['parent']);
    });
  });
});
