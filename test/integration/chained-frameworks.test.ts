import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Hapi from '@hapi/hapi';
import Router from '@koa/router';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import type { Tracer } from 'opentracing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HookName } from '@otinst/core';
import { tracingMiddleware as expressTracing } from '@otinst/express';
import { tracingPlugin as fastifyTracing } from '@otinst/fastify';
import { tracingPlugin as hapiTracing } from '@otinst/hapi';
import { tracingMiddleware as koaTracing } from '@otinst/koa';
import { RecordingTracer, SpanStore } from '@otinst/recorder';
import { jaegerTracer, otelTracer } from '../support/tracers';
import type { FinishedSpan, TracerUnderTest } from '../support/tracers';

/**
 * One request crosses four services over real HTTP, in one process:
 * express → koa → fastify → hapi, each with its own tracer (as four
 * deployments would have), each calling the next with global `fetch` (the
 * `fetch` hook) or `http.request` (the `http` hook). The four server spans
 * and the three client spans form one trace that continues the caller's,
 * with every link checked: a client span is the child of its service's
 * server span and the parent of the next server span. Run with the
 * recording tracer (W3C `traceparent`), jaeger-client (`uber-trace-id`) and
 * the OpenTelemetry shim (W3C), and once more with hapi failing, where every
 * span up the chain must show the status its service sent.
 */

const SERVICES = ['express', 'koa', 'fastify', 'hapi'] as const;
type Service = (typeof SERVICES)[number];
type Via = 'fetch' | 'http';

const HOOKS: HookName[] = ['http', 'fetch'];
const ROUTES: Record<Service, { path: string; template: string }> = {
  express: { path: '/a', template: '/a/:id' },
  koa: { path: '/b', template: '/b/:id' },
  fastify: { path: '/c', template: '/c/:id' },
  hapi: { path: '/d', template: '/d/{id}' },
};
/** What each service answers when its downstream call did not return 200: all distinct, so a status can't be read from the wrong hop. */
const ON_FAILURE: Record<Exclude<Service, 'hapi'>, number> = { express: 424, koa: 503, fastify: 502 };
const HAPI_ERROR = 'inventory service down';

/** A finished span with the service whose tracer recorded it. */
interface ServiceSpan extends FinishedSpan {
  service: Service;
  /** Recorder only. */
  finishCount?: number;
}

/** The four services' tracers of one kind, and what they recorded. */
interface TracerKind {
  name: TracerUnderTest['name'];
  tracers: Record<Service, Tracer>;
  /** The header this kind propagates over HTTP. */
  header: 'traceparent' | 'uber-trace-id';
  parentHeaders(traceId: string, spanId: string): Record<string, string>;
  /** The trace id as this kind's spans show it (jaeger here keeps the low 64 bits of an incoming id). */
  traceIdOf(incoming: string): string;
  spans(): ServiceSpan[];
  /** Spans started and not finished (recorder only; others: empty). */
  unfinished(): unknown[];
  reset(): void;
}

function recorderKind(): TracerKind {
  const store = new SpanStore();
  const tracers = Object.fromEntries(
    SERVICES.map((service) => [service, new RecordingTracer({ serviceName: service, store })]),
  ) as Record<Service, RecordingTracer>;
  return {
    name: 'recorder',
    tracers,
    header: 'traceparent',
    parentHeaders: (traceId, spanId) => ({ traceparent: `00-${traceId}-${spanId}-01` }),
    traceIdOf: (incoming) => incoming,
    spans: () =>
      store.spans().map((span) => ({
        service: span.service as Service,
        operationName: span.operationName,
        traceId: span.traceId,
        spanId: span.spanId,
        parentId: span.parentId,
        tags: { ...span.tags },
        logs: span.logs.map((log) => log.fields),
        finishCount: span.finishCount,
      })),
    unfinished: () => store.unfinished(),
    reset: () => store.reset(),
  };
}

/** One tracer of `make`'s kind per service, each with its own reporter/exporter. */
function perServiceKind(
  name: 'jaeger' | 'otel',
  make: (service: Service) => TracerUnderTest,
  header: TracerKind['header'],
): TracerKind {
  const each = SERVICES.map((service) => ({ service, t: make(service) }));
  return {
    name,
    tracers: Object.fromEntries(each.map(({ service, t }) => [service, t.tracer])) as Record<Service, Tracer>,
    header,
    parentHeaders: (traceId, spanId) => each[0]!.t.parentHeaders(traceId, spanId),
    traceIdOf: (incoming) => (name === 'jaeger' ? incoming.slice(-16) : incoming),
    spans: () => each.flatMap(({ service, t }) => t.spans().map((span) => ({ ...span, service }))),
    unfinished: () => [],
    reset: () => each.forEach(({ t }) => t.reset()),
  };
}

const KINDS: (() => TracerKind)[] = [
  recorderKind,
  () => perServiceKind('jaeger', (service) => jaegerTracer(service), 'uber-trace-id'),
  () => perServiceKind('otel', () => otelTracer(), 'traceparent'),
];

// ---------------------------------------------------------------------------
// The four services

/** How the services call downstream in the running test. */
let via: Via = 'fetch';

interface Downstream {
  status: number;
  body: unknown;
}

function viaHttp(url: string): Promise<Downstream> {
  return new Promise((resolve, reject) => {
    // looked up at call time: the http hook patches the module's `request`
    const req = http.request(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function callDownstream(url: string): Promise<Downstream> {
  if (via === 'http') return viaHttp(url);
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as unknown };
}

interface Chain {
  urls: Record<Service, string>;
  /** The propagation headers each service received with the last request. */
  seen: Partial<Record<Service, Record<string, string | undefined>>>;
  close(): Promise<void>;
}

function propagationHeaders(headers: Record<string, unknown>): Record<string, string | undefined> {
  const pick = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(',') : (value as string | undefined);
  };
  return { traceparent: pick('traceparent'), 'uber-trace-id': pick('uber-trace-id') };
}

/** Answers 200 when downstream did, otherwise the service's own failure status; the body nests downstream's. */
function relay(service: Exclude<Service, 'hapi'>, downstream: Downstream): { status: number; body: unknown } {
  return {
    status: downstream.status === 200 ? 200 : ON_FAILURE[service],
    body: { service, downstream: downstream.body },
  };
}

async function listen(server: Server): Promise<string> {
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Starts hapi, then fastify, koa and express, each pointing at the one started before it. */
async function startChain(tracers: Record<Service, Tracer>): Promise<Chain> {
  const seen: Chain['seen'] = {};
  const urls = {} as Record<Service, string>;

  const hapi = Hapi.server({ port: 0, host: '127.0.0.1' });
  await hapi.register({ plugin: hapiTracing, options: { tracer: tracers.hapi, clientHooks: HOOKS } });
  hapi.route({
    method: 'GET',
    path: ROUTES.hapi.template,
    handler: (request) => {
      seen.hapi = propagationHeaders(request.headers);
      if (request.params['id'] === 'fail') throw new Error(HAPI_ERROR);
      return { service: 'hapi', id: request.params['id'] as string };
    },
  });
  await hapi.start();
  urls.hapi = hapi.info.uri;

  const fastify = Fastify();
  await fastify.register(fastifyTracing, { tracer: tracers.fastify, clientHooks: HOOKS });
  fastify.get<{ Params: { id: string } }>(ROUTES.fastify.template, async (request, reply) => {
    seen.fastify = propagationHeaders(request.headers);
    const { status, body } = relay(
      'fastify',
      await callDownstream(`${urls.hapi}${ROUTES.hapi.path}/${request.params.id}`),
    );
    return reply.code(status).send(body);
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  urls.fastify = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;

  const koa = new Koa();
  koa.use(koaTracing(tracers.koa, { clientHooks: HOOKS }));
  const router = new Router();
  router.get(ROUTES.koa.template, async (ctx) => {
    seen.koa = propagationHeaders(ctx.headers);
    const { status, body } = relay(
      'koa',
      await callDownstream(`${urls.fastify}${ROUTES.fastify.path}/${ctx.params['id']}`),
    );
    ctx.status = status;
    ctx.body = body;
  });
  koa.use(router.routes());
  const koaServer = http.createServer(koa.callback());
  urls.koa = await listen(koaServer);

  const app = express();
  app.use(expressTracing(tracers.express, { clientHooks: HOOKS }));
  app.get(ROUTES.express.template, async (req, res) => {
    seen.express = propagationHeaders(req.headers);
    const { status, body } = relay(
      'express',
      await callDownstream(`${urls.koa}${ROUTES.koa.path}/${req.params['id']}`),
    );
    res.status(status).json(body);
  });
  const expressServer = http.createServer(app);
  urls.express = await listen(expressServer);

  return {
    urls,
    seen,
    async close() {
      await Promise.all([
        closeServer(expressServer),
        closeServer(koaServer),
        fastify.close(),
        hapi.stop({ timeout: 100 }),
      ]);
    },
  };
}

// ---------------------------------------------------------------------------
// Assertions

const SPAN_COUNT = 2 * SERVICES.length - 1;

/** Waits until `count` spans finished (server spans finish on the response's `close`, after the client has its answer). */
async function finishedSpans(kind: TracerKind, count: number): Promise<ServiceSpan[]> {
  for (let attempt = 0; attempt < 1000 && kind.spans().length < count; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  // one more turn: a late duplicate would show up now
  await new Promise((resolve) => setImmediate(resolve));
  return kind.spans();
}

function onlyOne(spans: ServiceSpan[], service: Service, spanKind: 'server' | 'client'): ServiceSpan {
  const found = spans.filter((span) => span.service === service && span.tags['span.kind'] === spanKind);
  expect(
    found.map((span) => span.operationName),
    `${service} ${spanKind} spans`,
  ).toHaveLength(1);
  return found[0]!;
}

/** The trace id and span id that a propagation header carries, in the spans' notation. */
function carried(kind: TracerKind, header: string | undefined): { traceId: string; spanId: string } | undefined {
  if (header === undefined) return undefined;
  if (kind.header === 'traceparent') {
    const [, traceId, spanId] = header.split('-');
    return { traceId: traceId!, spanId: spanId! };
  }
  const [traceId, spanId] = header.split(':');
  return { traceId: traceId!.padStart(16, '0'), spanId: spanId!.padStart(16, '0') };
}

/** The error message a span logged (the OTel shim turns the log into an `exception` event). */
function loggedMessages(span: ServiceSpan): unknown[] {
  return span.logs.filter((log) => log['event'] === 'error').map((log) => log['message'] ?? log['exception.message']);
}

interface Outcome {
  id: string;
  status: number;
  body: unknown;
  spans: ServiceSpan[];
  incoming: { traceId: string; spanId: string };
}

async function sendThroughChain(kind: TracerKind, chain: Chain, id: string): Promise<Outcome> {
  const incoming = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
  const response = await fetch(`${chain.urls.express}${ROUTES.express.path}/${id}`, {
    headers: kind.parentHeaders(incoming.traceId, incoming.spanId),
  });
  const body: unknown = await response.json();
  return { id, status: response.status, body, spans: await finishedSpans(kind, SPAN_COUNT), incoming };
}

/** Every span, link, status and propagated header of one request through the chain. */
function expectChain(kind: TracerKind, chain: Chain, outcome: Outcome, statuses: Record<Service, number>): void {
  const { spans, incoming } = outcome;
  const traceId = kind.traceIdOf(incoming.traceId);
  expect(spans.map((span) => `${span.service} ${span.tags['span.kind']} ${span.operationName}`).sort()).toEqual(
    [
      'express server GET /a/:id',
      'express client GET',
      'koa server GET /b/:id',
      'koa client GET',
      'fastify server GET /c/:id',
      'fastify client GET',
      'hapi server GET /d/{id}',
    ].sort(),
  );
  expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([traceId]));
  expect(new Set(spans.map((span) => span.spanId)).size).toBe(SPAN_COUNT);

  // the caller's context is honoured at the entry
  const entry = onlyOne(spans, 'express', 'server');
  expect(entry.parentId).toBe(incoming.spanId);
  expect(carried(kind, chain.seen.express?.[kind.header])).toEqual({ traceId, spanId: incoming.spanId });

  for (const [index, service] of SERVICES.entries()) {
    const server = onlyOne(spans, service, 'server');
    const status = statuses[service];
    expect(server.tags, `${service} server span`).toMatchObject({
      'span.kind': 'server',
      component: service,
      'http.method': 'GET',
      'http.status_code': status,
    });
    expect(server.tags['error'] === true, `${service} server span error`).toBe(status >= 500);
    // only the headers of this tracer kind travelled
    const other = kind.header === 'traceparent' ? 'uber-trace-id' : 'traceparent';
    expect(chain.seen[service]?.[other], `${service} received ${other}`).toBeUndefined();

    const next = SERVICES[index + 1];
    if (next === undefined) continue;
    const client = onlyOne(spans, service, 'client');
    const nextServer = onlyOne(spans, next, 'server');
    expect(client.parentId, `${service} client span's parent`).toBe(server.spanId);
    expect(nextServer.parentId, `${next} server span's parent`).toBe(client.spanId);
    expect(carried(kind, chain.seen[next]?.[kind.header]), `${next} received`).toEqual({
      traceId,
      spanId: client.spanId,
    });
    expect(client.tags, `${service} client span`).toMatchObject({
      'span.kind': 'client',
      component: via,
      'http.method': 'GET',
      'http.url': `${chain.urls[next]}${ROUTES[next].path}/${outcome.id}`,
      'http.status_code': statuses[next],
      'peer.port': Number(new URL(chain.urls[next]).port),
    });
    expect(client.tags['error'] === true, `${service} client span error`).toBe(statuses[next] >= 500);
  }
  // nothing hangs under the leaf
  expect(spans.filter((span) => span.parentId === onlyOne(spans, 'hapi', 'server').spanId)).toEqual([]);

  for (const span of spans) if (span.finishCount !== undefined) expect(span.finishCount).toBe(1);
  expect(kind.unfinished()).toEqual([]);
}

// ---------------------------------------------------------------------------

for (const makeKind of KINDS) {
  const kind = makeKind();
  describe(`express → koa → fastify → hapi, ${kind.name} tracers`, () => {
    let chain: Chain;
    beforeAll(async () => {
      chain = await startChain(kind.tracers);
    });
    afterAll(async () => {
      await chain?.close();
    });
    beforeEach(() => {
      kind.reset();
      for (const service of SERVICES) delete chain.seen[service];
    });

    for (const hop of ['fetch', 'http'] as const) {
      it(`one trace with the right parents, each hop over ${hop}`, async () => {
        via = hop;
        const outcome = await sendThroughChain(kind, chain, '7');
        expect(outcome.status).toBe(200);
        expect(outcome.body).toEqual({
          service: 'express',
          downstream: { service: 'koa', downstream: { service: 'fastify', downstream: { service: 'hapi', id: '7' } } },
        });
        expectChain(kind, chain, outcome, { express: 200, koa: 200, fastify: 200, hapi: 200 });
      });

      it(`hapi throws: every span up the chain shows the status its service sent, over ${hop}`, async () => {
        via = hop;
        const outcome = await sendThroughChain(kind, chain, 'fail');
        expect(outcome.status).toBe(424);
        // express answers 424: the client span that saw koa's 503 is an error, its own server span is not
        expectChain(kind, chain, outcome, { express: 424, koa: 503, fastify: 502, hapi: 500 });
        const hapi = onlyOne(outcome.spans, 'hapi', 'server');
        expect(loggedMessages(hapi)).toEqual([HAPI_ERROR]);
        // the upstream servers answered on their own: no error object, core logs the 5xx status
        for (const service of ['koa', 'fastify'] as const) {
          expect(loggedMessages(onlyOne(outcome.spans, service, 'server')), service).toHaveLength(1);
        }
        expect(loggedMessages(onlyOne(outcome.spans, 'express', 'server'))).toEqual([]);
      });
    }
  });
}
