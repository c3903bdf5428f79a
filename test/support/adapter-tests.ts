/**
 * Helpers shared by the four adapter tests and the server-span contract
 * (server-contract.ts): real servers and raw requests, the incoming parent,
 * the server span, the error-log shape per tracer, a failing tracer.
 */
import http, { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestListener, Server } from 'node:http';
import { expect } from 'vitest';
import type { Tracer } from 'opentracing';
import type { FinishedSpan, TracerUnderTest } from './tracers';

/** An incoming trace: W3C ids; jaeger keeps the low 64 bits of the trace id. */
export const PARENT = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

export function expectedTraceId(t: TracerUnderTest): string {
  return t.name === 'jaeger' ? PARENT.traceId.slice(-16) : PARENT.traceId;
}

/** The one server span recorded so far (fails unless there is exactly one). */
export function serverSpan(t: TracerUnderTest): FinishedSpan {
  const spans = t.spans().filter((span) => span.tags['span.kind'] === 'server');
  expect(spans.map((span) => span.operationName)).toHaveLength(1);
  return spans[0]!;
}

/**
 * The error log OpenTracing asks for. The OTel shim turns an error log into an
 * `exception` event (`exception.type`, `exception.message`,
 * `exception.stacktrace`) named after `event`; the others keep the fields.
 * `sameObject: false` when the framework logs a copy of the error (hapi clones
 * TypeError and the other "system" errors before boomifying them).
 */
export function expectErrorLog(t: TracerUnderTest, span: FinishedSpan, error: Error, sameObject = true): void {
  expect(span.tags['error']).toBe(true);
  expect(span.logs).toHaveLength(1);
  const log = span.logs[0]!;
  if (t.name === 'otel') {
    expect(log).toMatchObject({
      event: 'error',
      'exception.type': error.name,
      'exception.message': error.message,
      'exception.stacktrace': error.stack,
    });
  } else {
    expect(log).toEqual({
      event: 'error',
      'error.kind': error.name,
      'error.object': sameObject ? error : expect.any(error.constructor),
      message: error.message,
      stack: error.stack,
    });
    if (sameObject) expect(log['error.object']).toBe(error);
  }
}

/** A 5xx without an error object: core logs an `HttpError`. */
export function expectHttpErrorLog(span: FinishedSpan, status: number): void {
  expect(span.tags['error']).toBe(true);
  expect(span.logs).toHaveLength(1);
  expect(span.logs[0]).toMatchObject({ event: 'error' });
  expect(JSON.stringify(span.logs[0])).toContain(`HTTP ${status}`);
}

/** A promise with its resolve function, to wait for an event instead of a delay. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A tracer that throws from every method, spans included. `startSpan: false`
 * makes `startSpan` itself throw (no span at all); otherwise it returns a span
 * whose every method throws.
 */
export function throwingTracer(startSpanWorks: boolean): Tracer {
  const fail = (what: string) => () => {
    throw new Error(`tracer failure: ${what}`);
  };
  const span = {
    context: fail('context'),
    tracer: fail('tracer'),
    setOperationName: fail('setOperationName'),
    setBaggageItem: fail('setBaggageItem'),
    getBaggageItem: fail('getBaggageItem'),
    setTag: fail('setTag'),
    addTags: fail('addTags'),
    log: fail('log'),
    logEvent: fail('logEvent'),
    finish: fail('finish'),
  };
  return {
    startSpan: startSpanWorks ? () => span : fail('startSpan'),
    inject: fail('inject'),
    extract: fail('extract'),
  } as unknown as Tracer;
}

export function baseUrl(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GETs `url` and destroys the connection as soon as the first body chunk arrives; resolves with that chunk. */
export function abortAfterFirstChunk(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.once('data', (chunk: Buffer) => {
        request.destroy();
        resolve(chunk.toString());
      });
    });
    request.on('error', (error) => {
      if (!request.destroyed) reject(error);
    });
  });
}

/** GETs `url`, waits for `ready` (the handler started), then destroys the connection before any response. */
export async function abortBeforeResponse(url: string, ready: Promise<void>): Promise<void> {
  const request = http.get(url);
  request.on('error', () => {});
  await ready;
  request.destroy();
}

/** GETs `url` and resolves when the connection is gone, whatever happened to the response. */
export function getUntilClosed(url: string): Promise<void> {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.on('data', () => {});
      response.on('error', () => {});
      response.on('close', () => resolve());
    });
    request.on('error', () => resolve());
  });
}

/** POSTs a JSON body that is sent only after `delayMs`, in a packet of its own. */
export function postWithLateBody(url: string, body: unknown, delayMs = 30): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: text }));
      },
    );
    request.on('error', reject);
    request.flushHeaders();
    setTimeout(() => request.end(payload), delayMs);
  });
}

/** The one finished span named `name` (fails unless there is exactly one). */
export function spanNamed(t: TracerUnderTest, name: string): FinishedSpan {
  const matching = t.spans().filter((span) => span.operationName === name);
  expect(matching.map((span) => span.operationName)).toEqual([name]);
  return matching[0]!;
}

/** A real server on a free port of 127.0.0.1. */
export interface Served {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function serve(listener: RequestListener): Promise<Served> {
  const server = createServer(listener);
  // no idle keep-alive sockets left behind to slow down close()
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** The client's port: the server span's peer.port. */
  localPort: number;
}

/** One request over `node:http`, when the test needs the client's port. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const localPort = req.socket?.localPort ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A POST whose body arrives in parts, the later ones after the server has
 * started reading: their stream events then come from the socket, not from
 * the code that registered the listeners.
 */
export function slowPost(url: string, parts: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: false, headers: { 'content-length': String(Buffer.byteLength(parts.join(''))) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    const [first, ...rest] = parts;
    req.write(first);
    setTimeout(() => req.end(rest.join('')), 20);
  });
}

/** Waits until the tracer has recorded `count` finished spans (servers finish on `close`, after the client has its answer). */
export async function waitForSpans(t: TracerUnderTest, count: number): Promise<FinishedSpan[]> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const spans = t.spans();
    if (spans.length >= count) return spans;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(
    `expected ${count} finished spans, got ${t.spans().length}: ${JSON.stringify(t.spans().map((s) => s.operationName))}`,
  );
}

/** The one finished server span; fails when there is not exactly one span. */
export async function onlySpan(t: TracerUnderTest): Promise<FinishedSpan> {
  const spans = await waitForSpans(t, 1);
  // one more turn of the loop: a second finish or a stray span would show up here
  await new Promise((resolve) => setImmediate(resolve));
  expect(t.spans().map((span) => span.operationName)).toHaveLength(1);
  return spans[0]!;
}

/** The span's error log in OpenTracing terms (the OpenTelemetry shim turns it into an `exception` event). */
export function errorLogOf(t: TracerUnderTest, span: FinishedSpan): Record<string, unknown> | undefined {
  const event = span.logs.find((log) => log.event === 'error');
  if (t.name !== 'otel' || event === undefined) return event;
  return {
    event: 'error',
    'error.kind': event['exception.type'],
    message: event['exception.message'],
    stack: event['exception.stacktrace'],
  };
}

/**
 * An error the app turned into a response: a 5xx marks the span and logs the
 * error once; a 4xx is the client's error, so the span is neither marked nor
 * given an error log.
 */
export function expectErrorOutcome(t: TracerUnderTest, span: FinishedSpan, error: Error, status: number): void {
  if (status >= 500) {
    expectErrorLog(t, span, error);
    return;
  }
  expect(span.tags['error']).toBeUndefined();
  expect(span.logs.filter((log) => log.event === 'error' || log.event === 'exception')).toEqual([]);
}

export function expectChildOfParent(t: TracerUnderTest, span: FinishedSpan): void {
  expect(span.traceId).toBe(t.name === 'jaeger' ? PARENT.traceId.slice(-16) : PARENT.traceId);
  expect(span.parentId).toBe(PARENT.spanId);
}

/** The active span's id as the tracers print it (jaeger drops leading zeros). */
export function spanIdOf(span: { context(): { toSpanId(): string } } | null): string | null {
  return span === null ? null : span.context().toSpanId().padStart(16, '0');
}

/**
 * Collects the process warnings emitted from now on (a test file runs in its
 * own process, so otinst's once-per-process warnings start fresh in each).
 * `warned(code)` waits a turn for the `warning` event (emitted on the next
 * tick), then returns the warnings with that code.
 */
export function captureWarnings(): { warned(code: string): Promise<{ code?: string; message: string }[]> } {
  const warnings: { code?: string; message: string }[] = [];
  process.on('warning', (warning: Error & { code?: string }) =>
    warnings.push({ code: warning.code, message: warning.message }),
  );
  return {
    async warned(code) {
      await new Promise((resolve) => setImmediate(resolve));
      return warnings.filter((warning) => warning.code === code);
    },
  };
}

/** GETs each path in turn on a server for `listener`; the statuses. */
export async function statusesOf(listener: RequestListener, paths: string[]): Promise<number[]> {
  const served = await serve(listener);
  try {
    const statuses: number[] = [];
    for (const path of paths) statuses.push((await rawRequest(`${served.url}${path}`)).status);
    return statuses;
  } finally {
    await served.close();
  }
}
