import { tracingChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithSpan, uninstallPatches } from '@otinst/core';
import { hook, instrumentRedisClient } from '../../src/hooks/redis';
import { serviceAvailable } from '../../../../test/support/services';
import { redisCommandTags, type RedisLike } from './hook-support';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * The patched path for redis 5 copies older than 5.12 (which publish no
 * channels). None is installed here (the `redis5` alias is 5.12.1), so the
 * path runs on 5.12.1 with the channels left unsubscribed: its code paths
 * (`sendCommand`, `_executeMulti`, `_executePipeline`) are the ones 5.0-5.11
 * have, minus the channel calls.
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('redis');

const runId = `${process.pid}-${Date.now()}`;
const key = (name: string) => `otinst:${runId}:p5:${name}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function underParent<T>(fn: () => Promise<T>): Promise<T> {
  const parent = recorder.tracer.startSpan('parent');
  try {
    return await runWithSpan(parent, fn);
  } finally {
    parent.finish();
    await settle();
  }
}

describe.skipIf(!up)('redis hook, patched path (redis 5 before 5.12)', () => {
  const redis5Main = require.resolve('redis5/package.json');
  const clientDir = dirname(createRequire(redis5Main).resolve('@redis/client/package.json'));
  const RedisClient = require(join(clientDir, 'dist/lib/client/index.js')).default as {
    prototype: Record<string, unknown>;
  };
  const originals = new Map(
    ['sendCommand', '_executeMulti', '_executePipeline', 'SELECT'].map((name) => [name, RedisClient.prototype[name]]),
  );
  let client: RedisLike;

  beforeAll(async () => {
    expect(instrumentRedisClient(require(clientDir), { useChannels: false })).toBe('patched');
    expect(tracingChannel('node-redis:command').hasSubscribers).toBe(false);
    client = require('redis5').createClient({ url: 'redis://127.0.0.1:6379' }) as RedisLike;
    await client.connect();
  });

  afterAll(async () => {
    hook.unpatch!();
    uninstallPatches();
    await client.del([key('a')]);
    await client.quit();
  });

  beforeEach(() => recorder.reset());

  it('traces commands through sendCommand: SET, GET, an unknown command', async () => {
    let caught: unknown;
    const value = await underParent(async () => {
      await client.set(key('a'), 'stored');
      caught = await client.sendCommand(['NOSUCHCMD', 'x']).catch((error: unknown) => error);
      return client.get(key('a'));
    });
    expect(value).toBe('stored');
    const spans = recorder.spans();
    const parent = spans.find((s) => s.operationName === 'parent')!;
    const commands = spans.filter((s) => s !== parent);
    expect(commands.map((s) => [s.operationName, s.tags['db.statement'], s.parentId])).toEqual([
      ['redis:SET', `SET ${key('a')} ?`, parent.spanId],
      ['redis:NOSUCHCMD', 'NOSUCHCMD ?', parent.spanId],
      ['redis:GET', `GET ${key('a')}`, parent.spanId],
    ]);
    expect(commands[0]!.tags).toEqual(redisCommandTags(`SET ${key('a')} ?`));
    expect(commands[1]!.tags['error']).toBe(true);
    expect(commands[1]!.logs[0]!['error.object']).toBe(caught);
  });

  it('makes one span per MULTI and per pipeline', async () => {
    await underParent(async () => {
      await client.multi().set(key('a'), 'm').get(key('a')).exec();
      await client.multi().get(key('a')).get(key('a')).get(key('a')).execAsPipeline();
    });
    const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
    expect(spans.map((s) => [s.operationName, s.tags['db.redis.batch_size']])).toEqual([
      ['redis:MULTI', 2],
      ['redis:PIPELINE', 3],
    ]);
  });

  it('follows SELECT for db.instance', async () => {
    const other = require('redis5').createClient({ url: 'redis://127.0.0.1:6379' }) as RedisLike;
    await other.connect();
    await underParent(async () => {
      await other.select(4);
      await other.get(key('a'));
    });
    await other.quit();
    const spans = recorder.spans().filter((s) => s.operationName !== 'parent');
    expect(spans.map((s) => [s.operationName, s.tags['db.instance'], s.tags['db.statement']])).toEqual([
      ['redis:SELECT', '0', 'SELECT 4'],
      ['redis:GET', '4', `GET ${key('a')}`],
    ]);
  });

  it('keeps each caller as parent for commands queued before the connection is ready', async () => {
    const fresh = require('redis5').createClient({ url: 'redis://127.0.0.1:6379' }) as RedisLike;
    const a = recorder.tracer.startSpan('a');
    const b = recorder.tracer.startSpan('b');
    const connecting = fresh.connect();
    await Promise.all([runWithSpan(a, () => fresh.get(key('a'))), runWithSpan(b, () => fresh.get(key('a')))]);
    await connecting;
    await fresh.quit();
    a.finish();
    b.finish();
    await settle();
    const spans = recorder.spans();
    const gets = spans.filter((s) => s.operationName === 'redis:GET');
    expect(gets.map((s) => s.parentId)).toEqual(
      ['a', 'b'].map((n) => spans.find((s) => s.operationName === n)!.spanId),
    );
  });

  it('uninstallPatches restores the exact originals', async () => {
    hook.unpatch!();
    uninstallPatches();
    for (const [name, original] of originals) expect(RedisClient.prototype[name]).toBe(original);
    await underParent(() => client.get(key('a')));
    expect(recorder.spans().map((s) => s.operationName)).toEqual(['parent']);
  });
});
