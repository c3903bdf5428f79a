import { expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import { getCurrentSpan } from '@otinst/core';
import { tracingPlugin } from '@otinst/hapi';
import { recorderTracer } from '../../../test/support/tracers';

/**
 * The plugin enters the span with AsyncLocalStorage `enterWith`. On Node < 24
 * a store tracks promises only once it is enabled, and a promise made before
 * resumes in a context shared with every other untracked one: the first
 * request's span then leaked into the code that awaited `server.inject()`.
 * This must be the first use of the storage in its process (one file, one
 * process), so it stays a file of its own.
 */
it("leaves no span behind in the caller of server.inject(), even for the process's first request", async () => {
  const t = recorderTracer();
  const server = Hapi.server();
  await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: false } });
  server.route({ method: 'GET', path: '/users/{id}', handler: () => ({ id: 1 }) });
  const response = await server.inject('/users/1');
  expect(response.statusCode).toBe(200);
  expect(t.tracer.spans().map((span) => span.operationName)).toEqual(['GET /users/{id}']);
  expect(getCurrentSpan()).toBeNull();
  await server.inject('/users/2');
  expect(getCurrentSpan()).toBeNull();
});
