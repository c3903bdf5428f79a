import http from 'node:http';
import type { ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientInterceptors, installPatches, runWithSpan, setDebugLogger, uninstallPatches } from '@otinst/core';
import type { Span, Tracer } from 'opentracing';
import { recorderTracer } from '../../../../test/support/tracers';
import {
  closedPort,
  collect,
  echoed,
  HostileTracer,
  startEchoServer,
  type EchoServer,
  type Outcome,
} from './http-support';

let server: EchoServer;
let base: string;
let refused: string;
const debugLines: string[] = [];

beforeAll(async () => {
  installPatches(['http']);
  server = await startEchoServer();
  base = `http://127.0.0.1:${server.port}`;
  refused = `http://127.0.0.1:${await closedPort()}/`;
  setDebugLogger((message) => debugLines.push(message));
});
afterAll(async () => {
  setDebugLogger(undefined);
  uninstallPatches();
  await server.close();
});

/** What the caller can observe, minus the trace headers a working tracer would add. */
function observable(outcome: Outcome) {
  const body = outcome.body === '' ? undefined : echoed(outcome);
  return {
    status: outcome.status,
    seen: body && { method: body.method, url: body.url, headers: body.headers },
    error: outcome.error && {
      class: outcome.error.constructor,
      code: outcome.error.code,
      message: outcome.error.message,
    },
  };
}

const sends: [string, () => ClientRequest][] = [
  ['a GET', () => http.get(`${base}/ok?a=1`, { headers: { 'x-a': '1' } })],
  [
    'a POST with array headers',
    () =>
      http.request(`${base}/post`, { method: 'POST', headers: ['Host', 'h', 'x-b', '2'] }).end('body') as ClientRequest,
  ],
  ['a 500', () => http.get(`${base}/status/500`)],
  ['a refused connection', () => http.get(refused)],
];

describe('http hook: a tracer that throws changes nothing for the caller', () => {
  const parents: [string, () => Span][] = [
    ['startSpan throws', () => new HostileTracer(true).parent()],
    ['every span method and inject throw', () => new HostileTracer(false).parent()],
    [
      'inject writes a CR/LF header value',
      () => {
        const t = recorderTracer().tracer;
        (t as unknown as { _inject: Tracer['inject'] })._inject = (_context, _format, carrier) => {
          (carrier as Record<string, string>)['x-evil'] = 'a\r\nInjected: yes';
        };
        return t.startSpan('parent');
      },
    ],
  ];
  for (const [what, makeParent] of parents) {
    for (const [call, send] of sends) {
      it(`${what}: ${call} has the same result as untraced`, async () => {
        const baseline = observable(await collect(send()));
        const traced = observable(await runWithSpan(makeParent(), () => collect(send())));
        expect(traced).toEqual(baseline);
      });
    }
  }

  it('a throwing interceptor is logged once and skipped', async () => {
    debugLines.length = 0;
    ClientInterceptors.append({
      process() {
        throw new Error('interceptor bug');
      },
    });
    try {
      const rec = recorderTracer();
      const parent = rec.tracer.startSpan('parent');
      const outcome = await runWithSpan(parent, () => collect(http.get(`${base}/intercepted`)));
      await runWithSpan(parent, () => collect(http.get(`${base}/intercepted`)));
      parent.finish();
      expect(outcome.status).toBe(200);
      const children = rec.spans().filter((s) => s.operationName === 'GET');
      expect(children).toHaveLength(2);
      expect(echoed(outcome).headers['traceparent']).toBe(`00-${children[0]!.traceId}-${children[0]!.spanId}-01`);
      expect(debugLines.filter((line) => line.includes('client interceptor'))).toHaveLength(1);
    } finally {
      ClientInterceptors.clear();
    }
  });
});
