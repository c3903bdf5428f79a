/**
 * Issue 16: the hapi span started as `GET` and was renamed at the finish, and
 * some tracers pay for a rename (jaeger-client re-runs its sampler). The route
 * hapi will match is known at onRequest: the span starts with its final name.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import type { Span } from 'opentracing';
import { uninstallPatches } from '@otinst/core';
import { tracingPlugin } from '@otinst/hapi';
import { recorderTracer } from '../../../test/support/tracers';

const t = recorderTracer();
let server: Hapi.Server;
let namesAtStart: string[];

beforeEach(async () => {
  t.reset();
  namesAtStart = [];
  server = Hapi.server();
  const onStart = (span: Span) => void namesAtStart.push((span as unknown as { operationName: string }).operationName);
  await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: false, onStart } });
  await server.register(
    {
      name: 'api',
      register: (api) => {
        api.route({ method: 'GET', path: '/users/{id}', handler: () => 'ok' });
        api.route({ method: 'GET', path: '/old/{id}', handler: () => 'old' });
      },
    },
    { routes: { prefix: '/api' } },
  );
});

afterEach(() => uninstallPatches());

it('starts the span with the route name (no rename at the finish)', async () => {
  await server.inject('/api/users/1');
  expect(namesAtStart).toEqual(['GET /api/users/{id}']);
  expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET /api/users/{id}']);
});

it('names a 404 by the method alone, at start and at the finish', async () => {
  await server.inject('/nowhere');
  expect(namesAtStart).toEqual(['GET']);
  expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET']);
});

it('names by the route hapi really used when an onRequest extension rewrites the URL', async () => {
  server.ext('onRequest', (request, h) => {
    if (request.path.startsWith('/api/old/')) request.setUrl(request.path.replace('/api/old/', '/api/users/'));
    return h.continue;
  });
  const response = await server.inject('/api/old/7');
  expect(response.payload).toBe('ok');
  expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET /api/users/{id}']);
});
