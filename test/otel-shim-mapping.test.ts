/**
 * docs/tracers.md says what @opentelemetry/shim-opentracing makes of otinst's
 * spans and gives `withSpanKinds`, an exporter wrapper that restores the span
 * kinds. Both are checked here with the real shim, a real express app and the
 * helper's code taken from the Markdown, so the page cannot drift from what
 * users get.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { TracerShim } from '@opentelemetry/shim-opentracing';
import { tracingMiddleware } from '@otinst/express';
import { uninstallPatches } from '@otinst/core';
import express from 'express';
import type { Tracer } from 'opentracing';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, snippetsOf } from './support/snippets';
import { withSpanKinds } from './support/tracer-factory.cjs';

/** `withSpanKinds` as docs/tracers.md defines it (from `const KINDS` to the end of the function). */
function withSpanKindsFromDocs(): (exporter: SpanExporter) => SpanExporter {
  const snippet = snippetsOf(join(ROOT, 'docs/tracers.md')).find((candidate) =>
    candidate.code.includes('function withSpanKinds'),
  );
  if (snippet === undefined) throw new Error('docs/tracers.md has no withSpanKinds snippet');
  const code = /^const KINDS[\s\S]*?^function withSpanKinds[\s\S]*?^}$/m.exec(snippet.code)?.[0];
  if (code === undefined) throw new Error('withSpanKinds is not where the test looks for it');
  return new Function('SpanKind', `${code}\nreturn withSpanKinds;`)(SpanKind) as (e: SpanExporter) => SpanExporter;
}

/** An in-memory exporter that says when `count` spans arrived (no polling, no timers). */
function collecting(): { exporter: InMemorySpanExporter; spans(count: number): Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  const waiting: { count: number; resolve: (spans: ReadableSpan[]) => void }[] = [];
  const original = exporter.export.bind(exporter);
  exporter.export = (spans, done) => {
    original(spans, done);
    const all = exporter.getFinishedSpans();
    for (const waiter of waiting.filter((w) => all.length >= w.count)) waiter.resolve(all);
  };
  return {
    exporter,
    spans: (count) =>
      exporter.getFinishedSpans().length >= count
        ? Promise.resolve(exporter.getFinishedSpans())
        : new Promise((resolve) => waiting.push({ count, resolve })),
  };
}

let server: Server | undefined;
afterEach(async () => {
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = undefined;
  uninstallPatches();
});

/** The docs' set-up: a resource, W3C propagation, an express app whose /order calls /price, which fails. */
async function run(wrap: (exporter: SpanExporter) => SpanExporter) {
  const { exporter, spans } = collecting();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'users' }),
    spanProcessors: [new SimpleSpanProcessor(wrap(exporter))],
  });
  const propagator = new W3CTraceContextPropagator();
  const tracer = new TracerShim(provider.getTracer('users'), {
    textMapPropagator: propagator,
    httpHeadersPropagator: propagator,
  }) as unknown as Tracer;
  const app = express();
  app.use(tracingMiddleware(tracer));
  app.get('/price', () => {
    throw new Error('no price');
  });
  app.get('/order', async (_req, res) => {
    const price = await fetch(`${base}/price`);
    res.status(price.status === 200 ? 200 : 502).json({ price: price.status });
  });
  app.get('/health', (_req, res) => res.json({ ok: true }));
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/health`)).status).toBe(200);
  expect((await fetch(`${base}/order`)).status).toBe(502);
  const finished = await spans(4);
  const named = (name: string, kind: string) => {
    const span = finished.find((s) => s.name === name && s.attributes['span.kind'] === kind);
    if (span === undefined) throw new Error(`no ${kind} span ${name}`);
    return span;
  };
  return { finished, named };
}

describe('the OpenTelemetry shim, as docs/tracers.md describes it', () => {
  it('without withSpanKinds: every span is INTERNAL, span.kind is only an attribute', async () => {
    const { finished } = await run((exporter) => exporter);
    expect(finished.map((span) => span.kind)).toEqual([
      SpanKind.INTERNAL,
      SpanKind.INTERNAL,
      SpanKind.INTERNAL,
      SpanKind.INTERNAL,
    ]);
    expect(finished.map((span) => span.attributes['span.kind']).sort()).toEqual([
      'client',
      'server',
      'server',
      'server',
    ]);
  });

  it.each([
    ['docs/tracers.md', withSpanKindsFromDocs],
    ['test/support/tracer-factory.cjs (the demo)', () => withSpanKinds],
  ])(
    'withSpanKinds of %s exports spans with their kinds; status, events and names as the table says',
    async (_, helper) => {
      const { finished, named } = await run(helper());
      expect(finished).toHaveLength(4);
      const health = named('GET /health', 'server');
      const order = named('GET /order', 'server');
      const client = named('GET', 'client');
      const price = named('GET /price', 'server');

      expect([health.kind, order.kind, client.kind, price.kind]).toEqual([
        SpanKind.SERVER,
        SpanKind.SERVER,
        SpanKind.CLIENT,
        SpanKind.SERVER,
      ]);
      // the resource names the service (without it: unknown_service:node)
      expect(new Set(finished.map((span) => span.resource.attributes['service.name']))).toEqual(new Set(['users']));
      // one trace: order → client call → price, propagated as traceparent
      expect(client.parentSpanContext?.spanId).toBe(order.spanContext().spanId);
      expect(price.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
      expect(price.spanContext().traceId).toBe(order.spanContext().traceId);

      // error=true → ERROR; success → UNSET
      expect(health.status.code).toBe(SpanStatusCode.UNSET);
      expect([order.status.code, client.status.code, price.status.code]).toEqual([
        SpanStatusCode.ERROR,
        SpanStatusCode.ERROR,
        SpanStatusCode.ERROR,
      ]);
      expect(price.attributes['error']).toBeUndefined();
      // the error log becomes an exception event
      expect(price.events.map((event) => event.name)).toEqual(['exception']);
      expect(price.events[0]!.attributes).toMatchObject({ 'exception.type': 'Error', 'exception.message': 'no price' });
      // tags keep their OpenTracing names
      expect(price.attributes).toMatchObject({ 'http.method': 'GET', 'http.status_code': 500, component: 'express' });
      expect(price.attributes['http.request.method']).toBeUndefined();
    },
  );
});
