/**
 * Shared pieces of the reliability suite: one app per framework (the same
 * routes on express, koa, fastify and hapi, traced or not), a local echo
 * server that records the trace headers of outgoing calls, a loopback-only
 * client, and tracer wrappers that count every span start and finish (and
 * can fail on purpose).
 */
import http from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Hapi from '@hapi/hapi';
import Router from '@koa/router';
import type { TracingOptions } from '@otinst/core';
import { tracingMiddleware as expressTracing } from '@otinst/express';
import { tracingPlugin as fastifyTracing } from '@otinst/fastify';
import { tracingPlugin as hapiTracing } from '@otinst/hapi';
import { tracingMiddleware as koaTracing } from '@otinst/koa';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import type { Span, SpanContext, SpanOptions, Tracer } from 'opentracing';

export const ADAPTERS = ['express', 'koa', 'fastify', 'hapi'] as const;
export type AdapterName = (typeof ADAPTERS)[number];

// ---------------------------------------------------------------------------
// Framework-free routes

/** What a route handler sees of a request, whatever the framework. */
export interface Input {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  headers: IncomingHttpHeaders;
  body: string | undefined;
}

/** What a route handler answers: a JSON body, or a stream. */
export interface Output {
  status: number;
  json?: unknown;
  stream?: Readable;
}

export type Handler = (input: Input) => Promise<Output>;

/** A route in express syntax (`/users/:id`); hapi gets `/users/{id}`. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  handler: Handler;
}

/** The routes every reliability app has, plus those a test adds. */
export function baseRoutes(): Route[] {
  return [
    { method: 'GET', path: '/users/:id', handler: async ({ params }) => ({ status: 200, json: { id: params['id'] } }) },
    {
      method: 'GET',
      path: '/fail',
      handler: async () => {
        throw new Error('boom');
      },
    },
    {
      method: 'POST',
      path: '/upload',
      handler: async ({ body }) => ({ status: 201, json: { bytes: body === undefined ? -1 : body.length } }),
    },
  ];
}

function hapiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function readBody(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

function queryOf(url: string | undefined): Record<string, string> {
  const at = url?.indexOf('?') ?? -1;
  return at === -1 ? {} : Object.fromEntries(new URLSearchParams(url!.slice(at + 1)));
}

// ---------------------------------------------------------------------------
// Apps

export interface App {
  adapter: AdapterName;
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Options for the tracing middleware or plugin (the tracer is passed separately). */
export type AdapterOptions = Omit<TracingOptions, 'tracer'>;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function expressApp(routes: Route[], tracer: Tracer | null, options: AdapterOptions): Promise<App> {
  const app = express();
  if (tracer !== null) app.use(expressTracing(tracer, options as never));
  for (const route of routes) {
    const register = route.method === 'GET' ? app.get.bind(app) : app.post.bind(app);
    register(route.path, (req: Request, res: Response, next: NextFunction) => {
      const body = route.method === 'POST' ? readBody(req) : Promise.resolve(undefined);
      body
        .then((text) =>
          route.handler({ params: req.params as never, query: queryOf(req.url), headers: req.headers, body: text }),
        )
        .then((out) => {
          res.status(out.status);
          if (out.stream !== undefined) out.stream.pipe(res);
          else res.json(out.json);
        })
        .catch(next);
    });
  }
  // the app's own error handler: the default one prints a stack trace outside production
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: error.message });
  });
  const server = http.createServer(app);
  const port = await listen(server);
  return { adapter: 'express', url: `http://127.0.0.1:${port}`, port, server, close: () => closeServer(server) };
}

async function koaApp(routes: Route[], tracer: Tracer | null, options: AdapterOptions): Promise<App> {
  const app = new Koa();
  app.silent = true;
  if (tracer !== null) app.use(koaTracing(tracer, options as never));
  const router = new Router();
  for (const route of routes) {
    const register = route.method === 'GET' ? router.get.bind(router) : router.post.bind(router);
    register(route.path, async (ctx) => {
      const body = route.method === 'POST' ? await readBody(ctx.req) : undefined;
      const out = await route.handler({ params: ctx.params, query: queryOf(ctx.url), headers: ctx.headers, body });
      ctx.status = out.status;
      ctx.body = out.stream ?? out.json;
    });
  }
  app.use(router.routes());
  const server = http.createServer(app.callback());
  const port = await listen(server);
  return { adapter: 'koa', url: `http://127.0.0.1:${port}`, port, server, close: () => closeServer(server) };
}

async function fastifyApp(routes: Route[], tracer: Tracer | null, options: AdapterOptions): Promise<App> {
  const app = Fastify({ logger: false });
  if (tracer !== null) await app.register(fastifyTracing, { tracer, ...(options as object) });
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request, reply) => {
        const body = route.method === 'POST' ? String(request.body ?? '') : undefined;
        const out = await route.handler({
          params: request.params as Record<string, string>,
          query: request.query as Record<string, string>,
          headers: request.headers,
          body,
        });
        reply.code(out.status);
        return reply.send(out.stream ?? out.json);
      },
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const server = app.server;
  const port = (server.address() as AddressInfo).port;
  return {
    adapter: 'fastify',
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: async () => {
      server.closeAllConnections();
      await app.close();
    },
  };
}

async function hapiApp(routes: Route[], tracer: Tracer | null, options: AdapterOptions): Promise<App> {
  const server = Hapi.server({ port: 0, host: '127.0.0.1', debug: false });
  if (tracer !== null) await server.register({ plugin: hapiTracing, options: { tracer, ...(options as object) } });
  for (const route of routes) {
    server.route({
      method: route.method,
      path: hapiPath(route.path),
      handler: async (request, h) => {
        const payload = request.payload as string | Buffer | null | undefined;
        const out = await route.handler({
          params: request.params as Record<string, string>,
          query: request.query as Record<string, string>,
          headers: request.headers as IncomingHttpHeaders,
          body: route.method === 'POST' ? String(payload ?? '') : undefined,
        });
        return h.response((out.stream ?? out.json) as object).code(out.status);
      },
      options: route.method === 'POST' ? { payload: { parse: true, output: 'data' } } : {},
    });
  }
  await server.start();
  const listener = server.listener;
  const port = server.info.port as number;
  return {
    adapter: 'hapi',
    url: `http://127.0.0.1:${port}`,
    port,
    server: listener,
    close: async () => {
      listener.closeAllConnections();
      await server.stop({ timeout: 1 });
    },
  };
}

/**
 * The same routes served by `adapter` on 127.0.0.1 (port 0); traced with
 * `tracer`, or untraced (no middleware or plugin at all) when it is null.
 */
export function buildApp(
  adapter: AdapterName,
  routes: Route[],
  tracer: Tracer | null,
  options: AdapterOptions = {},
): Promise<App> {
  switch (adapter) {
    case 'express':
      return expressApp(routes, tracer, options);
    case 'koa':
      return koaApp(routes, tracer, options);
    case 'fastify':
      return fastifyApp(routes, tracer, options);
    case 'hapi':
      return hapiApp(routes, tracer, options);
  }
}

// ---------------------------------------------------------------------------
// The echo server: what outgoing calls carried

export interface EchoServer {
  url: string;
  port: number;
  /** Headers of each request that carried `x-call-id`, by that id. */
  received: Map<string, IncomingHttpHeaders>;
  /** Requests to `/stall` (never answered) seen so far. */
  stalled: number;
  close(): Promise<void>;
}

/**
 * A plain Node server (no tracing) that answers `echo` and records the
 * headers of every request by its `x-call-id`. `/stall` never answers.
 */
export async function startEchoServer(): Promise<EchoServer> {
  const received = new Map<string, IncomingHttpHeaders>();
  const echo: Partial<EchoServer> = { received, stalled: 0 };
  const server = http.createServer((req, res) => {
    const id = req.headers['x-call-id'];
    if (typeof id === 'string') received.set(id, req.headers);
    if (req.url?.startsWith('/stall')) {
      echo.stalled! += 1;
      return;
    }
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end('echo');
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return Object.assign(echo, { url: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) }) as EchoServer;
}

/** A port on 127.0.0.1 that nobody listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `http.get` that resolves with status and body (or rejects with the request's error). */
export function httpGet(url: string, options: http.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

// ---------------------------------------------------------------------------
// A loopback client for raw header lists

export interface Reply {
  status: number;
  body: string;
}

/**
 * One request over `node:http` with a header list sent as is (repeated names
 * allowed; a value is written as latin1 bytes, so a UTF-8 string must be
 * given as its latin1 rendering). Keep-alive through `agent`.
 */
export function send(
  url: string,
  options: { method?: string; path: string; headers?: string[]; body?: string; agent?: http.Agent },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // a header list replaces Node's defaults, Host included (without it Node's server answers 400)
    const headers = ['host', new URL(url).host, ...(options.headers ?? [])];
    if (options.body !== undefined)
      headers.push('content-type', 'text/plain', 'content-length', String(Buffer.byteLength(options.body)));
    const request = http.request(
      `${url}${options.path}`,
      { method: options.method ?? 'GET', headers: headers as never, agent: options.agent ?? false },
      (response) => {
        let body = '';
        response.setEncoding('latin1');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * Writes `bytes` on a fresh TCP connection and collects everything the server
 * sends until it closes the connection or `idleMs` pass in silence.
 */
export function rawExchange(port: number, bytes: Buffer, idleMs = 300): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      arm();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      socket.write(bytes);
      arm();
    });
  });
}

/** Status line and body of a raw HTTP/1.1 response, without the headers that change per run (Date, ports, ids). */
export function rawShape(response: string): { statusLine: string; body: string } {
  const end = response.indexOf('\r\n\r\n');
  const head = end === -1 ? response : response.slice(0, end);
  const statusLine = head.split('\r\n')[0] ?? '';
  let body = end === -1 ? '' : response.slice(end + 4);
  // chunked framing: strip the size lines, keep the data
  if (/\r\ntransfer-encoding: chunked/i.test(head)) {
    let out = '';
    let rest = body;
    for (;;) {
      const line = rest.indexOf('\r\n');
      if (line === -1) break;
      const size = Number.parseInt(rest.slice(0, line), 16);
      if (!(size > 0)) break;
      out += rest.slice(line + 2, line + 2 + size);
      rest = rest.slice(line + 2 + size + 2);
    }
    body = out;
  }
  return { statusLine, body };
}

// ---------------------------------------------------------------------------
// Tracer wrappers

/** Every span a tracer started, and how often `finish` was called on each. */
export interface SpanLedger {
  tracer: Tracer;
  started(): number;
  /** Spans whose `finish` was never called. */
  open(): Span[];
  /** Spans whose `finish` was called more than once. */
  finishedTwice(): number;
  /** `finish` calls in all. */
  finishCalls(): number;
  /** How many times the injected fault fired (a method threw, or startSpan returned null/undefined). */
  faultsFired(): number;
  reset(): void;
}

type SpanMethod = 'setTag' | 'addTags' | 'log' | 'finish' | 'setOperationName' | 'context' | 'tracer';

/** The faults the failing-tracer tests inject, one at a time. */
export const FAULTS = [
  'startSpan',
  'extract',
  'inject',
  'setTag',
  'addTags',
  'log',
  'finish',
  'setOperationName',
  'context',
  'tracer',
  'startSpan-null',
  'startSpan-undefined',
  'slow',
] as const;
export type Fault = (typeof FAULTS)[number];

const SPAN_METHODS: readonly SpanMethod[] = [
  'setTag',
  'addTags',
  'log',
  'finish',
  'setOperationName',
  'context',
  'tracer',
];

/** A synchronous pause: a tracer whose calls block the event loop, as a slow reporter would. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

export class InjectedFault extends Error {
  constructor(what: string) {
    super(`injected fault: ${what}`);
    this.name = 'InjectedFault';
  }
}

/**
 * Wraps a real tracer: every span it starts is counted, every `finish` call
 * too (also one that throws), and `span.tracer()` answers the wrapper, so
 * client spans (children made through the parent's tracer) are counted as
 * well. With `fault`, the named method throws instead of doing its work
 * (`startSpan-null` / `-undefined`: startSpan returns that; `slow`:
 * startSpan and finish take `slowMs` each).
 */
export function ledger(inner: Tracer, fault?: Fault, slowMs = 2): SpanLedger {
  const open = new Set<Span>();
  const finishCounts = new WeakMap<Span, number>();
  let started = 0;
  let twice = 0;
  let calls = 0;
  let fired = 0;
  const fail = (what: string): never => {
    fired++;
    throw new InjectedFault(what);
  };
  const wrapper = {
    startSpan(name: string, options?: SpanOptions): Span {
      if (fault === 'startSpan') fail('startSpan');
      if (fault === 'startSpan-null' || fault === 'startSpan-undefined') {
        fired++;
        return (fault === 'startSpan-null' ? null : undefined) as never;
      }
      if (fault === 'slow') busyWait(slowMs);
      const span = inner.startSpan(name, options);
      started++;
      open.add(span);
      const own = span as unknown as Record<string, unknown>;
      const finish = span.finish;
      own['finish'] = function countedFinish(this: Span, finishTime?: number) {
        calls++;
        const count = (finishCounts.get(span) ?? 0) + 1;
        finishCounts.set(span, count);
        if (count === 2) twice++;
        open.delete(span);
        if (fault === 'finish') fail('span.finish');
        if (fault === 'slow') busyWait(slowMs);
        return finish.call(span, finishTime);
      };
      own['tracer'] = fault === 'tracer' ? () => fail('span.tracer') : () => wrapper;
      if (
        fault !== undefined &&
        fault !== 'finish' &&
        fault !== 'tracer' &&
        (SPAN_METHODS as string[]).includes(fault)
      ) {
        own[fault] = () => fail(`span.${fault}`);
      }
      return span;
    },
    extract(format: string, carrier: unknown): SpanContext | null {
      if (fault === 'extract') fail('extract');
      return inner.extract(format, carrier);
    },
    inject(context: SpanContext | Span, format: string, carrier: unknown): void {
      if (fault === 'inject') fail('inject');
      inner.inject(context, format, carrier);
    },
  };
  return {
    tracer: wrapper as unknown as Tracer,
    started: () => started,
    open: () => [...open],
    finishedTwice: () => twice,
    finishCalls: () => calls,
    faultsFired: () => fired,
    reset: () => {
      open.clear();
      started = 0;
      twice = 0;
      calls = 0;
      fired = 0;
    },
  };
}

// ---------------------------------------------------------------------------
// Process-level failures

/** Collects unhandled rejections and uncaught exceptions for the whole test file. */
export function watchProcessErrors(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onRejection = (reason: unknown) => errors.push(reason);
  const onException = (error: unknown) => errors.push(error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    errors,
    stop: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/** Waits until `check` holds, polling every few ms; false after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A readable that sends `first`, then waits for `release` before it sends `rest` and ends. */
export function gatedStream(first: string, rest: string, release: Promise<void>): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(first);
      void release.then(() => {
        this.push(rest);
        this.push(null);
      });
    },
  });
}
