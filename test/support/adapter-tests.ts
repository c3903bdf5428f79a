/**
 * Helpers shared by the fastify and hapi adapter tests: the incoming parent,
 * the server span, the error-log shape per tracer, raw requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
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

/** GETs `url` and destroys the connection as soon as the first body chunk arrives. */
export function abortAfterFirstChunk(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => {
      response.once('data', () => {
        request.destroy();
        resolve();
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
