/**
 * Local spans in real apps (issue 11, API.md "Never a finished parent"): work
 * that a request starts and that outlives it (a lazily started timer, a
 * background loop) keeps the request's context, but its `traceFunction` and
 * `startChildSpan` spans must never become children of the finished request
 * span; and an ignored request (`/health`) makes no local spans at all.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChildSpan, traceFunction, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { ADAPTERS, buildApp, deferred, eventually, httpGet } from './support';
import type { App, Route } from './support';

const tracer = new RecordingTracer({ serviceName: 'local-spans' });
const tick = traceFunction(() => 'tick', { name: 'tick', tracer });
const strictTick = traceFunction(() => 'strict', { name: 'strict-tick', tracer, requireActiveTrace: true });

/** Released by the test once the request's span has finished: what a timer started in the request runs later. */
let release = deferred();
let afterwards = deferred();

const routes: Route[] = [
  {
    method: 'GET',
    path: '/lazy',
    handler: async () => {
      tick();
      // started inside the request, runs after it: the request's context, with a finished span
      void release.promise.then(() => {
        tick();
        strictTick();
        startChildSpan('later', { tracer }).finish();
        afterwards.resolve();
      });
      return { status: 200, json: { ok: true } };
    },
  },
  {
    method: 'GET',
    path: '/health',
    handler: async () => {
      tick();
      startChildSpan('health-child', { tracer }).finish();
      return { status: 200, json: { ok: true } };
    },
  },
];

afterAll(() => uninstallPatches());
afterEach(() => {
  tracer.reset();
  release = deferred();
  afterwards = deferred();
});

describe.each(ADAPTERS)('%s: local spans', (adapter) => {
  let app: App;
  beforeAll(async () => {
    app = await buildApp(adapter, routes, tracer, { ignore: ['/health'] });
  });
  afterAll(() => app.close());

  it('work started in a request and run after it is never a child of the finished request span', async () => {
    expect((await httpGet(`${app.url}/lazy`)).status).toBe(200);
    expect(await eventually(() => tracer.spans().some((span) => span.tags['span.kind'] === 'server'))).toBe(true);
    const server = tracer.spans().find((span) => span.tags['span.kind'] === 'server')!;
    release.resolve();
    await afterwards.promise;
    const spans = tracer.spans();
    const children = spans.filter((span) => span.parentId === server.spanId).map((span) => span.operationName);
    expect(children).toEqual(['tick']);
    const roots = spans
      .filter((span) => span.parentId === undefined && span !== server)
      .map((span) => span.operationName)
      .sort();
    // requireActiveTrace: nothing; otherwise a new trace
    expect(roots).toEqual(['later', 'tick']);
  });

  it('an ignored request (/health) makes no local spans', async () => {
    expect((await httpGet(`${app.url}/health`)).status).toBe(200);
    expect(tracer.spans()).toEqual([]);
  });
});
