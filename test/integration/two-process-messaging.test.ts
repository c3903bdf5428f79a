import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingMiddleware } from '@otinst/express';
import { RecordingTracer } from '@otinst/recorder';
import type { RecordedSpan } from '@otinst/recorder';
import { assertBuilt } from '../support/build';
import { serviceAvailable } from '../support/services';

/**
 * Two processes: service A (express, in this process) handles a request by
 * publishing to RabbitMQ and calling service B over HTTP; service B (koa, in
 * a child process, `fixtures/service-b.cjs`, running the built packages) also
 * consumes that queue. B's server span and its consumer span must be in A's
 * trace, children of A's `GET` client span and of A's `amqp:publish` span.
 */

const up = await serviceAvailable('rabbitmq');

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/service-b.cjs', import.meta.url));
const BROKER = 'amqp://guest:guest@127.0.0.1:5672';

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** Starts B and resolves with its base URL once it listens and consumes. */
function startServiceB(queue: string): Promise<{ child: Child; url: string }> {
  const child = spawn(process.execPath, [FIXTURE, queue], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    let stdout = '';
    const onData = (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n').find((text) => text.startsWith('{'));
      if (line === undefined) return;
      child.stdout.off('data', onData);
      resolve({ child, url: (JSON.parse(line) as { ready: string }).ready });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`service B exited with ${code} before it was ready:\n${stderr}`)));
    child.once('error', reject);
  });
}

function stopServiceB(child: Child): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Consumed {
  body: string;
  headers: Record<string, unknown>;
  currentSpanId: string | null;
}

interface ServiceBReport {
  spans: RecordedSpan[];
  unfinished: unknown[];
  consumed: Consumed[];
}

describe.skipIf(!up)('service A publishes to RabbitMQ and calls service B (another process)', () => {
  const queue = `otinst.integration.${process.pid}.${randomBytes(4).toString('hex')}`;
  const tracer = new RecordingTracer({ serviceName: 'a' });
  let b: { child: Child; url: string } | undefined;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  let serviceA: Server;
  let urlA: string;

  beforeAll(async () => {
    assertBuilt(['core', 'recorder', 'koa'], 'service B');
    connection = await amqp.connect(BROKER);
    channel = await connection.createChannel();
    // declared before B consumes, so a message published first waits in the queue
    await channel.assertQueue(queue, { durable: false });
    b = await startServiceB(queue);

    const app = express();
    app.use(tracingMiddleware(tracer, { clientHooks: ['amqplib', 'fetch'] }));
    app.get('/checkout/:id', async (req, res) => {
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ order: req.params['id'] })));
      const response = await fetch(`${b!.url}/inventory/${req.params['id']}`);
      res.status(response.status).json({ service: 'a', inventory: await response.json() });
    });
    serviceA = http.createServer(app);
    serviceA.keepAliveTimeout = 1;
    await new Promise<void>((resolve) => serviceA.listen(0, '127.0.0.1', resolve));
    urlA = `http://127.0.0.1:${(serviceA.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (serviceA !== undefined) {
      serviceA.closeAllConnections();
      await new Promise((resolve) => serviceA.close(resolve));
    }
    if (b !== undefined) await stopServiceB(b.child);
    if (channel !== undefined) await channel.deleteQueue(queue);
    await connection?.close();
  });

  it("B's server span and consumer span are in A's trace, under A's client and producer spans", async () => {
    const incoming = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const response = await fetch(`${urlA}/checkout/42`, {
      headers: { traceparent: `00-${incoming.traceId}-${incoming.spanId}-01` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ service: 'a', inventory: { service: 'b', id: '42' } });

    // B answers once both of its spans finished (its /spans endpoint is ignored: no span of its own)
    const report = (await (await fetch(`${b!.url}/spans?count=2`)).json()) as ServiceBReport;
    for (let attempt = 0; attempt < 1000 && tracer.spans().length < 3; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }

    const spansA = tracer.spans();
    expect(spansA.map((span) => span.operationName).sort()).toEqual([
      'GET',
      'GET /checkout/:id',
      `amqp:publish ${queue}`,
    ]);
    const serverA = spansA.find((span) => span.operationName === 'GET /checkout/:id')!;
    const clientA = spansA.find((span) => span.operationName === 'GET')!;
    const publishA = spansA.find((span) => span.operationName === `amqp:publish ${queue}`)!;
    expect(new Set(spansA.map((span) => span.traceId))).toEqual(new Set([incoming.traceId]));
    expect(serverA.parentId).toBe(incoming.spanId);
    expect(clientA.parentId).toBe(serverA.spanId);
    expect(publishA.parentId).toBe(serverA.spanId);
    expect(publishA.tags).toMatchObject({
      'span.kind': 'producer',
      component: 'amqplib',
      'message_bus.destination': queue,
    });
    expect(clientA.tags).toMatchObject({
      'span.kind': 'client',
      component: 'fetch',
      'http.url': `${b!.url}/inventory/42`,
      'http.status_code': 200,
    });

    expect(report.spans.map((span) => span.operationName).sort()).toEqual([
      'GET /inventory/:id',
      `amqp:consume ${queue}`,
    ]);
    const serverB = report.spans.find((span) => span.operationName === 'GET /inventory/:id')!;
    const consumeB = report.spans.find((span) => span.operationName === `amqp:consume ${queue}`)!;
    expect({ trace: serverB.traceId, parent: serverB.parentId }).toEqual({
      trace: incoming.traceId,
      parent: clientA.spanId,
    });
    expect({ trace: consumeB.traceId, parent: consumeB.parentId }).toEqual({
      trace: incoming.traceId,
      parent: publishA.spanId,
    });
    expect(serverB.tags).toMatchObject({
      'span.kind': 'server',
      component: 'koa',
      'http.status_code': 200,
      'http.route': '/inventory/:id',
    });
    expect(consumeB.tags).toMatchObject({
      'span.kind': 'consumer',
      component: 'amqplib',
      'message_bus.destination': queue,
    });

    // the message carried the producer span's context, and the consumer ran inside its span
    expect(report.consumed).toEqual([
      {
        body: JSON.stringify({ order: '42' }),
        headers: { traceparent: `00-${incoming.traceId}-${publishA.spanId}-01` },
        currentSpanId: consumeB.spanId,
      },
    ]);
    for (const span of [...spansA, ...report.spans]) expect(span.finishCount, span.operationName).toBe(1);
    expect(report.unfinished).toEqual([]);
    expect(tracer.store.unfinished()).toEqual([]);
  });
});
