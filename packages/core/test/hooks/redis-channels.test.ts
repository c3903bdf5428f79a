import { tracingChannel } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithSpan } from '@otinst/core';
import { hook, instrumentRedisClient } from '../../src/hooks/redis';
import { serviceAvailable } from '../../../../test/support/services';
import { redisCommandTags, type RedisLike } from './hook-support';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * The channel path of the node-redis hook: what it does for a copy of
 * @redis/client (≥ 5.12) that publishes TracingChannels but that it cannot
 * patch (a release whose internals moved). Forced here on redis 6 with
 * `useChannels: true`, in a file of its own: a process that subscribes must
 * patch no publishing copy (redis.test.ts patches them all).
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('redis');
const runId = `${process.pid}-${Date.now()}`;
const key = (name: string) => `otinst:${runId}:ch:${name}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function underParent(fn: () => Promise<unknown>) {
  const parent = recorder.tracer.startSpan('parent');
  try {
    await runWithSpan(parent, fn);
  } finally {
    parent.finish();
    await settle();
  }
  return recorder.spans();
}

describe.skipIf(!up)('redis hook, channel path (redis 6, useChannels: true)', () => {
  let client: RedisLike;
  beforeAll(async () => {
    const clientModule = require(dirname(require.resolve('@redis/client/package.json')));
    expect(instrumentRedisClient(clientModule, { useChannels: true })).toBe('channels');
    expect(tracingChannel('node-redis:command').hasSubscribers).toBe(true);
    client = (require('redis') as { createClient(o: object): RedisLike }).createClient({
      url: 'redis://127.0.0.1:6379',
    });
    await client.connect();
  });
  afterAll(async () => {
    hook.unpatch!();
    await client?.del([key('a')]);
    await client?.quit();
  });
  beforeEach(() => recorder.reset());

  it('makes redis:SET and redis:GET children of the current span, the values hidden by node-redis', async () => {
    const spans = await underParent(async () => {
      await client.set(key('a'), 'secret-value');
      await client.get(key('a'));
    });
    const parent = spans.find((s) => s.operationName === 'parent')!;
    const set = spans.find((s) => s.operationName === 'redis:SET')!;
    expect(spans.map((s) => s.operationName).sort()).toEqual(['parent', 'redis:GET', 'redis:SET']);
    for (const span of spans.filter((s) => s !== parent)) {
      expect(span.parentId).toBe(parent.spanId);
      expect(span.traceId).toBe(parent.traceId);
    }
    expect(set.tags).toEqual(redisCommandTags(`SET ${key('a')} ?`));
    expect(JSON.stringify(spans)).not.toContain('secret-value');
  });

  it('makes one span per MULTI and per pipeline, none per member', async () => {
    const spans = await underParent(async () => {
      await client.multi().set(key('a'), '1').get(key('a')).exec();
      await client.multi().get(key('a')).execAsPipeline();
    });
    expect(spans.map((s) => s.operationName)).toEqual(['redis:MULTI', 'redis:PIPELINE', 'parent']);
  });

  it('makes no span without a current span', async () => {
    await client.get(key('a'));
    await settle();
    expect(recorder.spans()).toEqual([]);
  });

  it('unpatching unsubscribes: nothing more is traced', async () => {
    hook.unpatch!();
    expect(tracingChannel('node-redis:command').hasSubscribers).toBe(false);
    expect(tracingChannel('node-redis:batch').hasSubscribers).toBe(false);
    const spans = await underParent(() => client.get(key('a')));
    expect(spans.map((s) => s.operationName)).toEqual(['parent']);
  });
});
