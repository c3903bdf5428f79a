import { createRequire } from 'node:module';
import { initGlobalTracer } from 'opentracing';
import { afterAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { instrumentAmqplib } from '../../src/hooks/amqplib';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';
import { nextTurn } from './hook-support';

/**
 * Issue 14: a consumer registered at boot, before the hooks were installed,
 * got no consumer span: only `consume` was patched. Deliveries are traced on
 * the channel's dispatch path, wherever the consumer was registered.
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('rabbitmq');
const URL = 'amqp://guest:guest@127.0.0.1:5672';

interface Channel {
  assertQueue(queue: string, options: object): Promise<unknown>;
  consume(queue: string, consumer: (message: unknown) => unknown, options: object): Promise<unknown>;
  sendToQueue(queue: string, content: Buffer): boolean;
}

afterAll(() => uninstallPatches());

describe.skipIf(!up)('amqplib: a consumer registered before installation', () => {
  it.each(['amqplib', 'amqplib010'])('%s: its deliveries get consumer spans in the producer trace', async (pkg) => {
    uninstallPatches();
    const t = recorderTracer();
    initGlobalTracer(t.tracer);
    const amqp = require(pkg) as {
      connect(url: string): Promise<{ createChannel(): Promise<Channel>; close(): Promise<void> }>;
    };
    const connection = await amqp.connect(URL);
    const channel = await connection.createChannel();
    const queue = `otinst-hooks-before-install-${pkg}-${process.pid}-${Date.now()}`;
    try {
      await channel.assertQueue(queue, { autoDelete: true });
      let delivered!: () => void;
      const done = new Promise<void>((resolve) => (delivered = resolve));
      // registered at boot, before anything is installed
      await channel.consume(queue, () => delivered(), { noAck: true });
      if (pkg === 'amqplib') installPatches(['amqplib']);
      else instrumentAmqplib(amqp);
      const parent = t.tracer.startSpan('request');
      runWithSpan(parent, () => channel.sendToQueue(queue, Buffer.from('x')));
      parent.finish();
      await done;
      await nextTurn();
      const spans = t.spans();
      const producer = spans.find((span) => span.operationName === `amqp:publish ${queue}`)!;
      const consumer = spans.find((span) => span.operationName === `amqp:consume ${queue}`);
      expect(consumer).toBeDefined();
      expect(consumer!.parentId).toBe(producer.spanId);
      expect(consumer!.traceId).toBe(producer.traceId);
      expect(consumer!.tags).toMatchObject({
        'span.kind': 'consumer',
        component: 'amqplib',
        'message_bus.destination': queue,
      });
    } finally {
      await connection.close();
    }
  });
});
