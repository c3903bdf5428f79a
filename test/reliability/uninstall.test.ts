/**
 * Uninstall: after `uninstallPatches()` every function the client hooks
 * wrapped is the original again (identity, checked by walking every object
 * and prototype chain the hooks patch: `node:http`/`node:https`, pg, mysql2,
 * @redis/client, ioredis, amqplib's two channel models, knex, bullmq,
 * smithy's `Client`, lib-storage's `Upload`, and `Module._load`), every
 * diagnostics channel subscription is gone, and the same client calls made
 * inside an active span produce no span any more.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type * as PgModule from 'pg';
import type * as RedisModule from 'redis';
import type * as IoredisModule from 'ioredis';
import type * as Mysql2Promise from 'mysql2/promise';
import type * as AmqplibModule from 'amqplib';
import type * as HttpModule from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAllPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { serviceAvailable } from '../support/services';
import { startEchoServer, httpGet } from './support';
import type { EchoServer } from './support';

const require = createRequire(import.meta.url);
const beside = (pkg: string) => createRequire(require.resolve(pkg));
const kOriginal = Symbol.for('otinst.original');

type Proto = { prototype: object };

/** Every object a hook patches, by a readable label: module objects and class prototypes. */
function targets(): Record<string, object | undefined> {
  const pg = require('pg') as { Client: Proto; Pool: Proto };
  const mysql2 = require('mysql2') as { Connection?: Proto; Pool?: Proto };
  const redisClient = beside('@redis/client');
  const amqp = beside('amqplib');
  const ioredis = require('ioredis') as { Redis: Proto; Pipeline: Proto };
  const knex = require('knex') as { Client: Proto };
  const bullmq = require('bullmq') as { Queue: Proto; Worker: Proto };
  return {
    http: require('node:http') as object,
    https: require('node:https') as object,
    Module: require('node:module') as object,
    'pg.Client.prototype': pg.Client.prototype,
    'pg.Pool.prototype': pg.Pool.prototype,
    'mysql2.Connection.prototype': mysql2.Connection?.prototype,
    'mysql2.Pool.prototype': mysql2.Pool?.prototype,
    '@redis/client RedisClient.prototype': (redisClient('./lib/client') as { default: Proto }).default.prototype,
    '@redis/client RedisClientPool.prototype': (redisClient('./lib/client/pool') as { RedisClientPool: Proto })
      .RedisClientPool.prototype,
    'ioredis.Redis.prototype': ioredis.Redis.prototype,
    'ioredis.Pipeline.prototype': ioredis.Pipeline.prototype,
    'amqplib channel_model Channel.prototype': (amqp('./lib/channel_model') as { Channel: Proto }).Channel.prototype,
    'amqplib callback_model Channel.prototype': (amqp('./lib/callback_model') as { Channel: Proto }).Channel.prototype,
    'knex.Client.prototype': knex.Client.prototype,
    'bullmq.Queue.prototype': bullmq.Queue.prototype,
    'bullmq.Worker.prototype': bullmq.Worker.prototype,
    '@smithy/core Client.prototype': (require('@smithy/core/client') as { Client: Proto }).Client.prototype,
    '@aws-sdk/lib-storage Upload.prototype': (require('@aws-sdk/lib-storage') as { Upload: Proto }).Upload.prototype,
  };
}

/** An object and the prototypes it inherits from, up to (not including) Object.prototype / Function.prototype. */
function chain(object: object): object[] {
  const objects: object[] = [];
  for (let o: object | null = object; o !== null && o !== Object.prototype && o !== Function.prototype;) {
    objects.push(o);
    o = Object.getPrototypeOf(o) as object | null;
  }
  return objects;
}

type Snapshot = Map<string, PropertyDescriptor>;

/** Every own property (functions and accessors included) of every object on every chain, by `label<depth>.key`. */
function snapshot(all: Record<string, object | undefined>): Snapshot {
  const found: Snapshot = new Map();
  for (const [label, root] of Object.entries(all)) {
    if (root === undefined) continue;
    for (const [depth, object] of chain(root).entries()) {
      for (const key of Reflect.ownKeys(object)) {
        const descriptor = Object.getOwnPropertyDescriptor(object, key)!;
        found.set(`${label}<${depth}>.${String(key)}`, descriptor);
      }
    }
  }
  return found;
}

/** Entries whose value (or accessor) is not the very same as in `before`, plus entries added or removed. */
function differences(before: Snapshot, after: Snapshot): string[] {
  const changed: string[] = [];
  for (const [key, was] of before) {
    const now = after.get(key);
    if (now === undefined) changed.push(`${key} removed`);
    else if (!Object.is(now.value, was.value) || now.get !== was.get || now.set !== was.set) changed.push(key);
  }
  for (const key of after.keys()) if (!before.has(key)) changed.push(`${key} added`);
  return changed;
}

/** Labels of every function on the walked objects that carries otinst's wrapper marker. */
function marked(all: Record<string, object | undefined>): string[] {
  const found: string[] = [];
  for (const [key, descriptor] of snapshot(all)) {
    const value = descriptor.value as { [kOriginal]?: unknown } | undefined;
    if (typeof value === 'function' && value[kOriginal] !== undefined) found.push(key);
  }
  return found;
}

/** The client prototype of redis 4's own copy of @redis/client (1.x: no channels, so the hook patches it). */
function redis4ClientPrototype(): object {
  const redis4 = createRequire(require.resolve('redis4'));
  return (createRequire(redis4.resolve('@redis/client'))('./lib/client') as { default: Proto }).default.prototype;
}

// node-redis publishes channels too, but the hook patches every copy it can instead (cheaper per command)
const CHANNELS = ['undici:request:create', 'tracing:ioredis:command:start', 'tracing:mysql2:query:start'];
const subscribed = () => CHANNELS.filter((name) => diagnosticsChannel.channel(name).hasSubscribers);

const services = {
  postgres: await serviceAvailable('postgres'),
  redis: await serviceAvailable('redis'),
  mysql: await serviceAvailable('mysql'),
  rabbitmq: await serviceAvailable('rabbitmq'),
};

describe('uninstallPatches() puts back every original', () => {
  const tracer = new RecordingTracer({ serviceName: 'uninstall' });
  let echo: EchoServer;
  let before: Snapshot;
  let wrapped: string[] = [];
  let loadWhileInstalled: unknown;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let exercise: () => Promise<void>;

  beforeAll(async () => {
    echo = await startEchoServer();
    // every library loaded (not patched) first, and the objects' state taken
    before = snapshot(targets());
    expect(subscribed()).toEqual([]);
    const pg = require('pg') as typeof PgModule;
    const pgPool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 1 });
    cleanups.push(() => pgPool.end());
    const redis = (require('redis') as typeof RedisModule).createClient({ url: 'redis://127.0.0.1:6379' });
    if (services.redis) {
      await redis.connect();
      cleanups.push(() => redis.quit());
    }
    const { Redis } = require('ioredis') as typeof IoredisModule;
    const ioredis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    cleanups.push(() => ioredis.disconnect());
    const mysql = (require('mysql2/promise') as typeof Mysql2Promise).createPool({
      host: '127.0.0.1',
      user: 'root',
      database: 'test',
      connectionLimit: 1,
    });
    cleanups.push(() => mysql.end());
    const knex = (
      require('knex') as { knex: (config: object) => { raw(sql: string): Promise<unknown>; destroy(): Promise<void> } }
    ).knex({
      client: 'pg',
      connection: { host: '127.0.0.1', user: 'postgres', database: 'test' },
      pool: { min: 0, max: 1 },
    });
    cleanups.push(() => knex.destroy());
    const amqplib = require('amqplib') as typeof AmqplibModule;
    const amqp = services.rabbitmq ? await amqplib.connect('amqp://guest:guest@127.0.0.1:5672') : undefined;
    const channel = await amqp?.createChannel();
    const queue = channel === undefined ? undefined : (await channel.assertQueue('', { exclusive: true })).queue;
    if (amqp !== undefined) cleanups.push(() => amqp.close());

    /** One call of every kind, each inside an active span. */
    exercise = async () => {
      const parent = tracer.startSpan('parent');
      await runWithSpan(parent, async () => {
        await httpGet(`${echo.url}/echo`);
        await (await fetch(`${echo.url}/echo`)).text();
        if (services.postgres) {
          await pgPool.query('SELECT 1');
          await knex.raw('SELECT 2');
        }
        if (services.redis) {
          await redis.get('otinst:reliability:uninstall');
          await ioredis.get('otinst:reliability:uninstall');
        }
        if (services.mysql) await mysql.query('SELECT 1');
        if (channel !== undefined && queue !== undefined) channel.sendToQueue(queue, Buffer.from('x'));
      });
      parent.finish();
    };
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await echo?.close();
  });

  it('installAllPatches() wraps what the hooks patch (so the identity check below means something)', async () => {
    installAllPatches();
    wrapped = marked(targets());
    for (const expected of [
      'http<0>.request',
      'http<0>.get',
      'https<0>.request',
      'https<0>.get',
      'pg.Client.prototype<0>.query',
      'ioredis.Redis.prototype<0>.sendCommand',
      'ioredis.Pipeline.prototype<0>.exec',
      '@redis/client RedisClientPool.prototype<0>.execute',
      'amqplib channel_model Channel.prototype<0>.publish',
      'amqplib channel_model Channel.prototype<0>.consume',
      'amqplib callback_model Channel.prototype<0>.publish',
      'knex.Client.prototype<0>.query',
      'knex.Client.prototype<0>.stream',
      'bullmq.Queue.prototype<0>.add',
      'bullmq.Queue.prototype<0>.addBulk',
      'bullmq.Worker.prototype<0>.callProcessJob',
      '@smithy/core Client.prototype<0>.send',
      '@aws-sdk/lib-storage Upload.prototype<0>.done',
    ]) {
      expect(wrapped).toContain(expected);
    }
    // pg-pool's connect lives on the parent class of pg.Pool
    expect(wrapped.some((key) => /^pg\.Pool\.prototype<\d>\.connect$/.test(key))).toBe(true);
    expect(differences(before, snapshot(targets())).length).toBeGreaterThanOrEqual(wrapped.length);
    expect(subscribed()).toEqual(CHANNELS);
    expect(diagnosticsChannel.channel('tracing:node-redis:command:start').hasSubscribers).toBe(false);
    // a copy of @redis/client loaded after installation (redis 4's, which needs patching) is patched too
    loadWhileInstalled = beside('redis4')('@redis/client');
    const late = redis4ClientPrototype();
    expect(marked({ late }).length).toBeGreaterThan(0);
    await exercise();
    const names = tracer.spans().map((span) => span.operationName);
    expect(names).toContain('GET');
    if (services.postgres) expect(names).toContain('pg:SELECT');
    if (services.redis) expect(names).toEqual(expect.arrayContaining(['redis:GET', 'ioredis:GET']));
    if (services.mysql) expect(names).toContain('mysql2:SELECT');
    if (services.rabbitmq) expect(names.some((name) => name.startsWith('amqp:publish'))).toBe(true);
  });

  it('uninstallPatches(): every function is the original again, every subscription gone', async () => {
    uninstallPatches();
    expect(differences(before, snapshot(targets()))).toEqual([]);
    expect(marked(targets())).toEqual([]);
    const late = redis4ClientPrototype();
    expect(loadWhileInstalled).toBeDefined();
    expect(marked({ late })).toEqual([]);
    expect(subscribed()).toEqual([]);
    // ESM named imports of node:http follow the restore (syncBuiltinESMExports)
    const esm = await import('node:http');
    expect(esm.request).toBe((require('node:http') as typeof HttpModule).request);
  });

  it('no client call makes a span any more', async () => {
    tracer.reset();
    await exercise();
    expect(tracer.spans().map((span) => span.operationName)).toEqual(['parent']);
    expect(tracer.store.unfinished()).toEqual([]);
  });
});
