import { tracingChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithSpan, uninstallPatches } from '@otinst/core';
import { hook, instrumentIoredis } from '../../src/hooks/ioredis';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * The patched path, for ioredis 5 copies older than 5.11 (which publish no
 * channels). None is installed here (the `ioredis5` alias is 5.11.1), so the
 * path runs on 5.11.1 with the channels left unsubscribed: `sendCommand`, the
 * offline queue and `Pipeline.prototype.exec` are the same code there.
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('redis');

interface Pipeline {
  set(key: string, value: string): Pipeline;
  get(key: string): Pipeline;
  call(command: string, ...args: string[]): Pipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}
interface IoredisClient {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  del(...keys: string[]): Promise<unknown>;
  select(db: number): Promise<unknown>;
  call(command: string, ...args: string[]): Promise<unknown>;
  pipeline(): Pipeline;
  multi(): Pipeline;
  quit(): Promise<unknown>;
}

const Redis = require('ioredis5') as (new (options: Record<string, unknown>) => IoredisClient) & {
  prototype: Record<string, unknown>;
  Pipeline: { prototype: Record<string, unknown> };
};
const runId = `${process.pid}-${Date.now()}`;
const key = (name: string) => `otinst:${runId}:iop:${name}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));
const OPTIONS = { host: '127.0.0.1', port: 6379 };

async function underParent<T>(fn: () => Promise<T>): Promise<T> {
  const parent = recorder.tracer.startSpan('parent');
  try {
    return await runWithSpan(parent, fn);
  } finally {
    parent.finish();
    await settle();
  }
}

describe.skipIf(!up)('ioredis hook, patched path (ioredis 5 before 5.11)', () => {
  const originals = { sendCommand: Redis.prototype['sendCommand'], exec: Redis.Pipeline.prototype['exec'] };
  let client: IoredisClient;

  beforeAll(() => {
    expect(instrumentIoredis(Redis, { useChannels: false })).toBe('patched');
    expect(tracingChannel('ioredis:command').hasSubscribers).toBe(false);
    client = new Redis(OPTIONS);
  });

  afterAll(async () => {
    hook.unpatch!();
    uninstallPatches();
    await client.del(key('a'));
    await client.quit();
  });

  beforeEach(() => recorder.reset());

  it('traces SET, GET and an unknown command under the current span', async () => {
    let caught: unknown;
    const value = await underParent(async () => {
      await client.set(key('a'), 'stored');
      caught = await client.call('NOSUCHCMD', 'x').catch((error: unknown) => error);
      return client.get(key('a'));
    });
    expect(value).toBe('stored');
    const spans = recorder.spans();
    const parent = spans.find((s) => s.operationName === 'parent')!;
    expect(spans.filter((s) => s !== parent).map((s) => [s.operationName, s.tags['db.statement'], s.parentId])).toEqual(
      [
        ['ioredis:SET', `SET ${key('a')} ?`, parent.spanId],
        ['ioredis:NOSUCHCMD', 'NOSUCHCMD ?', parent.spanId],
        ['ioredis:GET', `GET ${key('a')}`, parent.spanId],
      ],
    );
    expect(spans[0]!.tags).toEqual({
      'span.kind': 'client',
      component: 'ioredis',
      'db.type': 'redis',
      'db.instance': '0',
      'db.statement': `SET ${key('a')} ?`,
      'peer.ipv4': '127.0.0.1',
      'peer.port': 6379,
    });
    const failed = spans.find((s) => s.operationName === 'ioredis:NOSUCHCMD')!;
    expect(failed.tags['error']).toBe(true);
    expect(failed.logs[0]!['error.object']).toBe(caught);
  });

  it('makes one span per MULTI (marking a failed EXEC) and per pipeline', async () => {
    const failure = await underParent(async () => {
      await client.multi().set(key('a'), 'm').get(key('a')).exec();
      await client.pipeline().get(key('a')).get(key('a')).get(key('a')).exec();
      // an unknown command aborts the transaction: EXEC fails and ioredis rejects the MULTI
      return client
        .multi()
        .call('NOSUCHCMD')
        .exec()
        .catch((error: unknown) => error);
    });
    expect(String((failure as Error).message)).toMatch(/^EXECABORT/);
    const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
    expect(spans.map((s) => [s.operationName, s.tags['db.redis.batch_size'], s.tags['error']])).toEqual([
      ['ioredis:MULTI', 2, undefined],
      ['ioredis:PIPELINE', 3, undefined],
      ['ioredis:MULTI', 1, true],
    ]);
  });

  it('makes ONE span per command queued before the connection is ready, under its own caller', async () => {
    const offline = new Redis({ ...OPTIONS, lazyConnect: true, db: 1 });
    const a = recorder.tracer.startSpan('a');
    const b = recorder.tracer.startSpan('b');
    await Promise.all([
      runWithSpan(a, () => offline.get(key('a'))),
      runWithSpan(b, () => offline.get(key('a'))),
      offline.get(key('a')),
    ]);
    await offline.quit();
    a.finish();
    b.finish();
    await settle();
    const spans = recorder.spans();
    const commands = spans.filter((s) => s.operationName.startsWith('ioredis:'));
    expect(commands.map((s) => [s.operationName, s.tags['db.instance'], s.parentId])).toEqual([
      ['ioredis:GET', '1', spans.find((s) => s.operationName === 'a')!.spanId],
      ['ioredis:GET', '1', spans.find((s) => s.operationName === 'b')!.spanId],
    ]);
  });

  it('follows SELECT for db.instance', async () => {
    const other = new Redis(OPTIONS);
    await underParent(async () => {
      await other.select(5);
      await other.get(key('a'));
    });
    await other.quit();
    expect(recorder.spans().map((s) => [s.operationName, s.tags['db.instance']])).toEqual([
      // queued before the connection was ready: ioredis has switched its database by the time it sends it
      ['ioredis:SELECT', '5'],
      ['ioredis:GET', '5'],
      ['parent', undefined],
    ]);
  });

  it('uninstallPatches restores the exact originals', async () => {
    hook.unpatch!();
    uninstallPatches();
    expect(Redis.prototype['sendCommand']).toBe(originals.sendCommand);
    expect(Redis.Pipeline.prototype['exec']).toBe(originals.exec);
    await underParent(() => client.get(key('a')));
    expect(recorder.spans().map((s) => s.operationName)).toEqual(['parent']);
  });
});
