import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import type { Tracer } from 'opentracing';
import { recorderTracer } from '../../../../test/support/tracers';
import { collect, echoed, startEchoServer, type EchoServer } from './http-support';

/**
 * Issue 11: a tracer whose `inject` leaves a carrier value behind a throwing
 * getter made the application's `http.get` throw, and the client span stayed
 * open. The request must go out as without otinst (minus that header), and
 * the span must finish.
 */

let server: EchoServer;

beforeAll(async () => {
  installPatches(['http']);
  server = await startEchoServer();
});
afterAll(async () => {
  uninstallPatches();
  await server.close();
});

describe('http hook: inject leaves a carrier value with a throwing getter', () => {
  it('http.get answers, the span finishes, the readable headers still go out', async () => {
    const t = recorderTracer();
    const inject = t.tracer.inject.bind(t.tracer);
    (t.tracer as unknown as { inject: Tracer['inject'] }).inject = (context, format, carrier) => {
      inject(context, format, carrier);
      Object.defineProperty(carrier, 'x-hostile', {
        enumerable: true,
        get() {
          throw new Error('hostile getter');
        },
      });
    };
    const parent = t.tracer.startSpan('parent');
    const outcome = await runWithSpan(parent, () => collect(http.get(`http://127.0.0.1:${server.port}/ok`)));
    parent.finish();
    expect(outcome.error).toBeUndefined();
    expect(outcome.status).toBe(200);
    const [span] = t.spans().filter((s) => s.operationName === 'GET');
    expect(span).toBeDefined();
    expect(span!.tags['http.status_code']).toBe(200);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(echoed(outcome).headers['traceparent']).toBe(`00-${span!.traceId}-${span!.spanId}-01`);
    expect(echoed(outcome).headers['x-hostile']).toBeUndefined();
  });
});
