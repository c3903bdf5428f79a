import { createServer, request as httpRequest } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Span, Tracer } from 'opentracing';
import { expect } from 'vitest';
import type { FinishedSpan, TracerUnderTest } from '../../../test/support/tracers';

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

/**
 * Starts a request, waits for the first chunk of the response, then goes away
 * (the client disconnecting mid-response).
 */
export function abortAfterFirstChunk(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      res.once('data', (chunk: Buffer) => {
        req.destroy();
        resolve(chunk.toString());
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    req.end();
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

/** Asserts one `error` log for `error` with the fields API.md lists. */
export function expectErrorLog(t: TracerUnderTest, span: FinishedSpan, error: Error): void {
  expect(span.tags['error']).toBe(true);
  const logs = span.logs.filter((log) => log.event === 'error');
  expect(logs).toHaveLength(1);
  expect(errorLogOf(t, span)).toMatchObject({
    event: 'error',
    'error.kind': error.name,
    message: error.message,
    stack: error.stack,
  });
  // OpenTelemetry keeps only primitive attributes: the error object itself reaches the other two
  if (t.name !== 'otel') expect(logs[0]!['error.object']).toBe(error);
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

/** The incoming trace the parent/child tests continue (W3C ids; jaeger uses the low 64 bits). */
export const PARENT = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };

export function expectChildOfParent(t: TracerUnderTest, span: FinishedSpan): void {
  expect(span.traceId).toBe(t.name === 'jaeger' ? PARENT.traceId.slice(-16) : PARENT.traceId);
  expect(span.parentId).toBe(PARENT.spanId);
}

/** The active span's id as the tracers print it (jaeger drops leading zeros). */
export function spanIdOf(span: { context(): { toSpanId(): string } } | null): string | null {
  return span === null ? null : span.context().toSpanId().padStart(16, '0');
}

const fail = (what: string) => () => {
  throw new Error(`tracer.${what} is broken`);
};

class ThrowingSpan extends Span {
  override setTag = fail('setTag') as never;
  override addTags = fail('addTags') as never;
  override log = fail('log') as never;
  override finish = fail('finish') as never;
  override setOperationName = fail('setOperationName') as never;
  override context = fail('context') as never;
}

/**
 * A tracer that throws from every method. With `spans: true` its
 * `startSpan` returns spans whose every method throws; otherwise
 * `startSpan` throws too.
 */
export function throwingTracer(spans: boolean): Tracer {
  return new (class extends Tracer {
    override startSpan = (spans ? () => new ThrowingSpan() : fail('startSpan')) as never;
    override extract = fail('extract') as never;
    override inject = fail('inject') as never;
  })();
}
