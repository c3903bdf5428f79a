/**
 * The one tracer rule (issue 14, API.md): a tracer given to `configure({ tracer })`
 * (which an adapter created with a tracer sets) is the tracer of every span
 * started outside an active span: local spans, hook spans, amqplib and bullmq
 * consumer spans, and server spans of an adapter given none. The global tracer
 * only when nothing was given; with neither, the first request warns once.
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initGlobalTracer, Tracer as NoopTracer } from 'opentracing';
import {
  configure,
  installPatches,
  NodeRequestWrapper,
  resetConfig,
  startChildSpan,
  traceFunction,
  uninstallPatches,
} from '@otinst/core';
import { resolveOptions, startServerSpan } from '@otinst/core/adapter';
import { RecordingTracer } from '@otinst/recorder';
import { serviceAvailable } from '../../../test/support/services';

const require = createRequire(import.meta.url);

/** One request to a plain Node server whose handler starts and finishes a server span. */
async function oneRequest(options = resolveOptions('@otinst/test', 'test', {})): Promise<void> {
  const server = createServer((req, res) => {
    const handle = startServerSpan(options, NodeRequestWrapper.fromIncomingMessage(req), req);
    res.end('ok');
    handle?.finish(200, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    await response.text();
  } finally {
    server.close();
  }
}

// first, while no global tracer exists in this process (each test file runs in its own)
describe('no tracer at all', () => {
  it('the first request warns once, with code OTINST_NO_TRACER, naming the fix', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      await oneRequest();
      await oneRequest();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    const ours = warnings.filter((warning) => (warning as Error & { code?: string }).code === 'OTINST_NO_TRACER');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toMatch(/initGlobalTracer\(tracer\)/);
    expect(ours[0]!.message).toMatch(/tracingMiddleware\(tracer\)/);
  });

  it('an explicitly given no-op tracer is a choice: no warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(String(warning.code));
    process.on('warning', onWarning);
    try {
      await oneRequest(resolveOptions('@otinst/test', 'test', { tracer: new NoopTracer() }));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});

describe('configure({ tracer }) is the tracer outside an active span', () => {
  const configured = new RecordingTracer({ serviceName: 'configured' });
  const global = new RecordingTracer({ serviceName: 'global' });

  beforeAll(() => initGlobalTracer(global));
  afterEach(() => {
    resetConfig();
    configured.reset();
    global.reset();
  });

  it('startChildSpan and traceFunction outside a request: the configured tracer, not the global one', async () => {
    configure({ tracer: configured });
    startChildSpan('job').finish();
    traceFunction(() => 1, { name: 'sync-work' })();
    await traceFunction(async () => 2, { name: 'async-work' })();
    expect(configured.spans().map((span) => [span.operationName, span.parentId])).toEqual([
      ['job', undefined],
      ['sync-work', undefined],
      ['async-work', undefined],
    ]);
    expect(global.spans()).toEqual([]);
  });

  it('an adapter given no tracer: its server spans go to the configured tracer', async () => {
    configure({ tracer: configured });
    await oneRequest();
    expect(configured.spans().map((span) => span.operationName)).toEqual(['GET']);
    expect(global.spans()).toEqual([]);
  });

  it('nothing configured: the global tracer', () => {
    startChildSpan('job').finish();
    expect(global.spans().map((span) => span.operationName)).toEqual(['job']);
  });

  it('configure({ tracer: null }) goes back to the global tracer', () => {
    configure({ tracer: configured });
    configure({ tracer: null });
    startChildSpan('job').finish();
    expect(global.spans()).toHaveLength(1);
    expect(configured.spans()).toEqual([]);
  });
});

const rabbit = await serviceAvailable('rabbitmq');

describe.skipIf(!rabbit)('amqplib consumer spans (RabbitMQ)', () => {
  const configured = new RecordingTracer({ serviceName: 'configured' });
  const global = new RecordingTracer({ serviceName: 'global' });
  const queue = `otinst.core-tracer-rule.${process.pid}.${Date.now()}`;
  let connection: { createChannel(): Promise<Channel>; close(): Promise<void> };
  interface Channel {
    assertQueue(queue: string, options: object): Promise<unknown>;
    consume(queue: string, fn: (message: unknown) => void, options: object): Promise<unknown>;
    sendToQueue(queue: string, content: Buffer): boolean;
    deleteQueue(queue: string): Promise<unknown>;
  }

  beforeAll(async () => {
    initGlobalTracer(global);
    installPatches(['amqplib']);
    const amqp = require('amqplib') as { connect(url: string): Promise<typeof connection> };
    connection = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  });
  afterAll(async () => {
    await connection.close();
    uninstallPatches();
    resetConfig();
  });

  it('a delivery consumed outside any request is traced by the configured tracer', async () => {
    configure({ tracer: configured });
    const channel = await connection.createChannel();
    await channel.assertQueue(queue, { autoDelete: true });
    const received = new Promise<void>((resolve) => {
      void channel.consume(queue, () => resolve(), { noAck: true });
    });
    channel.sendToQueue(queue, Buffer.from('job'));
    await received;
    await new Promise((resolve) => setImmediate(resolve));
    await channel.deleteQueue(queue);
    expect(configured.spans().map((span) => [span.operationName, span.tags['span.kind']])).toEqual([
      [`amqp:consume ${queue}`, 'consumer'],
    ]);
    expect(global.spans()).toEqual([]);
  });
});
