import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { initGlobalTracer, MockTracer, Span, Tracer } from 'opentracing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getCurrentSpan, installPatches, runWithSpan, startChildSpan, uninstallPatches } from '@otinst/core';
import { instrumentAmqplib } from '../../src/hooks/amqplib';
import { unhandledRejectionsDuring } from './hook-support';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer, recorderTracer, type TracerUnderTest } from '../../../../test/support/tracers';

/**
 * The amqplib hook against a real RabbitMQ: amqplib 2 and 0.10 (alias
 * `amqplib010`), each through its promise API and its callback API; publish
 * and consume in the same process, so the consumer span must land in the
 * producer's trace.
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('rabbitmq');
const URL = 'amqp://guest:guest@127.0.0.1:5672';

type Consumer = (message: Message | null) => unknown;
interface Message {
  content: Buffer;
  properties: { headers?: Record<string, unknown> };
}

/** The channel operations the tests use, as promises, whichever API is underneath. */
interface TestChannel {
  assertQueue(queue: string): Promise<unknown>;
  assertExchange(exchange: string): Promise<unknown>;
  bindQueue(queue: string, exchange: string): Promise<unknown>;
  consume(queue: string, consumer: Consumer): Promise<unknown>;
  deleteQueue(queue: string): Promise<unknown>;
  deleteExchange(exchange: string): Promise<unknown>;
  sendToQueue(queue: string, content: Buffer, options?: Record<string, unknown>): boolean;
  publish(exchange: string, routingKey: string, content: Buffer, options?: Record<string, unknown>): boolean;
  close(): Promise<unknown>;
}

async function openChannel(pkg: string, api: 'promise' | 'callback'): Promise<TestChannel> {
  const lib = require(pkg);
  if (api === 'promise') {
    const connection = await lib.connect(URL);
    const ch = await connection.createChannel();
    return {
      assertQueue: (q) => ch.assertQueue(q, { autoDelete: true }),
      assertExchange: (e) => ch.assertExchange(e, 'fanout', { autoDelete: true }),
      bindQueue: (q, e) => ch.bindQueue(q, e, ''),
      consume: (q, fn) => ch.consume(q, fn, { noAck: true }),
      deleteQueue: (q) => ch.deleteQueue(q),
      deleteExchange: (e) => ch.deleteExchange(e),
      sendToQueue: (q, content, options) => ch.sendToQueue(q, content, options),
      publish: (e, rk, content, options) => ch.publish(e, rk, content, options),
      close: () => connection.close(),
    };
  }
  const connection = await promisify(lib.connect as (url: string, cb: (e: unknown, c: unknown) => void) => void)(URL);
  const conn = connection as {
    createChannel(cb: (e: unknown, ch: unknown) => void): void;
    close(cb: () => void): void;
  };
  const ch = (await promisify(conn.createChannel.bind(conn))()) as Record<string, (...args: unknown[]) => unknown>;
  const call = (method: string, ...args: unknown[]) =>
    new Promise((resolve, reject) =>
      ch[method]!(...args, (error: unknown, ok: unknown) => (error ? reject(error) : resolve(ok))),
    );
  return {
    assertQueue: (q) => call('assertQueue', q, { autoDelete: true }),
    assertExchange: (e) => call('assertExchange', e, 'fanout', { autoDelete: true }),
    bindQueue: (q, e) => call('bindQueue', q, e, '', {}),
    consume: (q, fn) => call('consume', q, fn, { noAck: true }),
    deleteQueue: (q) => call('deleteQueue', q, {}),
    deleteExchange: (e) => call('deleteExchange', e, {}),
    sendToQueue: (q, content, options) => ch['sendToQueue']!(q, content, options) as boolean,
    publish: (e, rk, content, options) => ch['publish']!(e, rk, content, options) as boolean,
    close: () => new Promise<void>((resolve) => conn.close(() => resolve())),
  };
}

const VARIANTS = [
  { name: 'amqplib 2, promise API', pkg: 'amqplib', api: 'promise' },
  { name: 'amqplib 2, callback API', pkg: 'amqplib/callback_api', api: 'callback' },
  { name: 'amqplib 0.10, promise API', pkg: 'amqplib010', api: 'promise' },
  { name: 'amqplib 0.10, callback API', pkg: 'amqplib010/callback_api', api: 'callback' },
] as const;

const runId = `${process.pid}-${Date.now()}`;
let counter = 0;
const uniqueName = (what: string) => `otinst.${what}.${runId}.${++counter}`;
const recorder = recorderTracer();
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Resolves with the next `count` deliveries (and what the consumer saw as current span while running). */
function deliveries(count: number, handle?: (message: Message) => unknown) {
  const seen: { message: Message; current: Span | null }[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const consumer: Consumer = (message) => {
    if (message === null) return undefined;
    seen.push({ message, current: getCurrentSpan() });
    const result = handle?.(message);
    if (seen.length === count) {
      if (result instanceof Promise) void result.catch(() => {}).then(done);
      else done();
    }
    return result;
  };
  return { consumer, seen, all };
}

const spanIdOf = (span: Span | null) => span?.context().toSpanId().padStart(16, '0');

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

describe.skipIf(!up)('amqplib hook', () => {
  const channels = new Map<string, TestChannel>();
  const queues: [TestChannel, string][] = [];
  const originals: [Record<string, unknown>, string, unknown][] = [];

  async function queueOn(ch: TestChannel): Promise<string> {
    const queue = uniqueName('q');
    await ch.assertQueue(queue);
    queues.push([ch, queue]);
    return queue;
  }

  beforeAll(async () => {
    for (const pkg of ['amqplib', 'amqplib010']) {
      for (const file of ['lib/channel_model.js', 'lib/callback_model.js']) {
        // amqplib 2's `exports` map hides lib/: load the files by path, as the hook does
        const proto = require(join(dirname(require.resolve(pkg)), file)).Channel.prototype as Record<string, unknown>;
        for (const name of ['publish', 'consume', 'sendToQueue']) originals.push([proto, name, proto[name]]);
      }
    }
    initGlobalTracer(recorder.tracer);
    installPatches(['amqplib']);
    installPatches(['amqplib']);
    expect(instrumentAmqplib(require('amqplib010'))).toBe(2);
    expect(instrumentAmqplib(require('amqplib010/callback_api'))).toBe(2);
    for (const { name, pkg, api } of VARIANTS) channels.set(name, await openChannel(pkg, api));
  });

  afterAll(async () => {
    uninstallPatches();
    for (const [ch, queue] of queues) await ch.deleteQueue(queue).catch(() => {});
    for (const ch of channels.values()) await ch.close();
  });

  beforeEach(() => {
    initGlobalTracer(recorder.tracer);
    recorder.reset();
  });

  for (const { name } of VARIANTS) {
    describe(name, () => {
      const channel = () => channels.get(name)!;

      it('puts the consumer span in the producer trace, active while the consumer runs', async () => {
        const ch = channel();
        const queue = await queueOn(ch);
        const { consumer, seen, all } = deliveries(1);
        await ch.consume(queue, consumer);
        const options = { headers: { 'x-app': 'shop' }, persistent: false };
        const parent = recorder.tracer.startSpan('request');
        runWithSpan(parent, () => ch.sendToQueue(queue, Buffer.from('order 7'), options));
        parent.finish();
        await all;
        await settle();

        // the caller's options are not changed
        expect(options).toEqual({ headers: { 'x-app': 'shop' }, persistent: false });
        const spans = recorder.spans();
        expect(spans.map((s) => s.operationName).sort()).toEqual([
          `amqp:consume ${queue}`,
          `amqp:publish ${queue}`,
          'request',
        ]);
        const request = spans.find((s) => s.operationName === 'request')!;
        const producer = spans.find((s) => s.operationName === `amqp:publish ${queue}`)!;
        const consumerSpan = spans.find((s) => s.operationName === `amqp:consume ${queue}`)!;
        expect(producer.parentId).toBe(request.spanId);
        expect(consumerSpan.parentId).toBe(producer.spanId);
        expect(new Set([request.traceId, producer.traceId, consumerSpan.traceId]).size).toBe(1);
        expect(producer.tags).toEqual({
          'span.kind': 'producer',
          component: 'amqplib',
          'message_bus.destination': queue,
          'peer.ipv4': '127.0.0.1',
          'peer.port': 5672,
        });
        expect(consumerSpan.tags).toEqual({
          'span.kind': 'consumer',
          component: 'amqplib',
          'message_bus.destination': queue,
          'peer.ipv4': '127.0.0.1',
          'peer.port': 5672,
        });
        expect(seen[0]!.message.content.toString()).toBe('order 7');
        expect(seen[0]!.message.properties.headers).toEqual({
          'x-app': 'shop',
          traceparent: `00-${producer.traceId}-${producer.spanId}-01`,
        });
        expect(spanIdOf(seen[0]!.current)).toBe(consumerSpan.spanId);
      });

      it('names the producer span after the exchange for publish()', async () => {
        const ch = channel();
        const queue = await queueOn(ch);
        const exchange = uniqueName('x');
        await ch.assertExchange(exchange);
        await ch.bindQueue(queue, exchange);
        const { consumer, all } = deliveries(1);
        await ch.consume(queue, consumer);
        const parent = recorder.tracer.startSpan('request');
        runWithSpan(parent, () => ch.publish(exchange, 'any.key', Buffer.from('x')));
        parent.finish();
        await all;
        await settle();
        await ch.deleteExchange(exchange);
        const spans = recorder.spans();
        const producer = spans.find((s) => s.operationName === `amqp:publish ${exchange}`)!;
        expect(producer.tags['message_bus.destination']).toBe(exchange);
        const consumerSpan = spans.find((s) => s.operationName === `amqp:consume ${queue}`)!;
        expect(consumerSpan.parentId).toBe(producer.spanId);
      });

      it('finishes the consumer span when its promise settles, and marks a rejection', async () => {
        const ch = channel();
        const queue = await queueOn(ch);
        const failure = new Error('handler failed');
        let settled = 0;
        let done!: () => void;
        const all = new Promise<void>((resolve) => (done = resolve));
        // an async consumer whose promise only amqplib holds (and ignores)
        const consumer: Consumer = async (message) => {
          // null: the broker cancelled the consumer (the queue is deleted after the test)
          if (message === null) return;
          try {
            await settle();
            // still inside the consumer span after an await
            startChildSpan('work').finish();
            if (message.content.toString() === '2') throw failure;
          } finally {
            if (++settled === 2) done();
          }
        };
        // its rejection reaches unhandledRejection, as without otinst (issue 11)
        const unhandled = await unhandledRejectionsDuring(async () => {
          await ch.consume(queue, consumer);
          const parent = recorder.tracer.startSpan('request');
          runWithSpan(parent, () => {
            ch.sendToQueue(queue, Buffer.from('1'));
            ch.sendToQueue(queue, Buffer.from('2'));
          });
          parent.finish();
          await all;
          await settle();
        });
        expect(unhandled).toEqual([failure]);
        const spans = recorder.spans();
        const consumed = spans.filter((s) => s.operationName === `amqp:consume ${queue}`);
        const work = spans.filter((s) => s.operationName === 'work');
        expect(consumed).toHaveLength(2);
        expect(work.map((s) => s.parentId).sort()).toEqual(consumed.map((s) => s.spanId).sort());
        const [failed, ...ok] = [...consumed].sort(
          (a, b) => Number(b.tags['error'] === true) - Number(a.tags['error'] === true),
        );
        expect(failed!.tags['error']).toBe(true);
        expect(failed!.logs[0]!['error.object']).toBe(failure);
        expect(failed!.logs[0]!['message']).toBe('handler failed');
        expect(ok.map((s) => [s.tags['error'], s.logs])).toEqual([[undefined, []]]);
      });

      it('starts a new trace for a message with no trace context, and makes no producer span without a parent', async () => {
        const ch = channel();
        const queue = await queueOn(ch);
        const { consumer, seen, all } = deliveries(1);
        await ch.consume(queue, consumer);
        ch.sendToQueue(queue, Buffer.from('no parent'), { headers: { a: 'b' } });
        await all;
        await settle();
        expect(seen[0]!.message.properties.headers).toEqual({ a: 'b' });
        const spans = recorder.spans();
        expect(spans.map((s) => [s.operationName, s.parentId])).toEqual([[`amqp:consume ${queue}`, undefined]]);
        expect(spanIdOf(seen[0]!.current)).toBe(spans[0]!.spanId);
      });
    });
  }

  it('makes one producer span for sendToQueue on a confirm channel (ConfirmChannel -> Channel.publish)', async () => {
    const connection = await require('amqplib').connect(URL);
    try {
      const ch = await connection.createConfirmChannel();
      const queue = uniqueName('confirm');
      await ch.assertQueue(queue, { autoDelete: true });
      const parent = recorder.tracer.startSpan('request');
      const acked = await runWithSpan(
        parent,
        () => new Promise((resolve) => ch.sendToQueue(queue, Buffer.from('c'), {}, (error: unknown) => resolve(error))),
      );
      parent.finish();
      await ch.deleteQueue(queue);
      expect(acked).toBeNull();
      const spans = recorder.spans();
      expect(spans.map((s) => [s.operationName, s.parentId])).toEqual([
        [`amqp:publish ${queue}`, spans[1]!.spanId],
        ['request', undefined],
      ]);
    } finally {
      await connection.close();
    }
  });

  describe('a tracer that throws', () => {
    it('changes nothing when startSpan throws (producer and consumer)', async () => {
      initGlobalTracer(throwingTracer);
      const ch = channels.get('amqplib 2, promise API')!;
      const queue = await queueOn(ch);
      const { consumer, seen, all } = deliveries(1);
      await ch.consume(queue, consumer);
      const options = { headers: { keep: 'me' } };
      expect(runWithSpan(new ThrowingParent(), () => ch.sendToQueue(queue, Buffer.from('still'), options))).toBe(true);
      await all;
      expect(seen[0]!.message.content.toString()).toBe('still');
      expect(seen[0]!.message.properties.headers).toEqual({ keep: 'me' });
      expect(seen[0]!.current).toBeNull();
    });

    it('delivers when inject and extract throw (opentracing MockTracer)', async () => {
      const mock = new MockTracer();
      initGlobalTracer(mock);
      const ch = channels.get('amqplib 0.10, callback API')!;
      const queue = await queueOn(ch);
      const { consumer, seen, all } = deliveries(1);
      await ch.consume(queue, consumer);
      const parent = mock.startSpan('request');
      runWithSpan(parent, () => ch.sendToQueue(queue, Buffer.from('mock')));
      parent.finish();
      await all;
      await settle();
      expect(seen[0]!.message.content.toString()).toBe('mock');
      const names = mock
        .report()
        .spans.map((s) => s.operationName())
        .sort();
      expect(names).toEqual([`amqp:consume ${queue}`, `amqp:publish ${queue}`, 'request']);
    });
  });

  for (const make of [jaegerTracer, otelTracer]) {
    it(`links producer and consumer under ${make().name}`, async () => {
      const t: TracerUnderTest = make();
      initGlobalTracer(t.tracer);
      const ch = channels.get('amqplib 2, callback API')!;
      const queue = await queueOn(ch);
      const { consumer, seen, all } = deliveries(1);
      await ch.consume(queue, consumer);
      const parent = t.tracer.startSpan('request');
      runWithSpan(parent, () => ch.sendToQueue(queue, Buffer.from('x')));
      parent.finish();
      await all;
      await settle();
      const spans = t.spans();
      const request = spans.find((s) => s.operationName === 'request')!;
      const producer = spans.find((s) => s.operationName === `amqp:publish ${queue}`)!;
      const consumerSpan = spans.find((s) => s.operationName === `amqp:consume ${queue}`)!;
      expect(producer.parentId).toBe(request.spanId);
      expect(consumerSpan.parentId).toBe(producer.spanId);
      expect(consumerSpan.traceId).toBe(request.traceId);
      expect(consumerSpan.tags['span.kind']).toBe('consumer');
      expect(spanIdOf(seen[0]!.current)).toBe(consumerSpan.spanId);
    });
  }

  describe('uninstallPatches', () => {
    it('restores the exact originals and traces nothing more, not even consumers registered before', async () => {
      const registered: [TestChannel, string, ReturnType<typeof deliveries>][] = [];
      for (const ch of channels.values()) {
        const queue = await queueOn(ch);
        const delivery = deliveries(1);
        await ch.consume(queue, delivery.consumer);
        registered.push([ch, queue, delivery]);
      }
      uninstallPatches();
      for (const [proto, name, original] of originals) expect(proto[name]).toBe(original);
      const parent = recorder.tracer.startSpan('request');
      runWithSpan(parent, () => {
        for (const [ch, queue] of registered) ch.sendToQueue(queue, Buffer.from('after'));
      });
      parent.finish();
      for (const [, , delivery] of registered) await delivery.all;
      await settle();
      for (const [, , delivery] of registered) {
        expect(delivery.seen[0]!.message.properties.headers ?? {}).toEqual({});
        expect(delivery.seen[0]!.current).toBeNull();
      }
      expect(recorder.spans().map((s) => s.operationName)).toEqual(['request']);
    });
  });
});
