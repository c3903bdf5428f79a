import { afterEach, describe, expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import type { Server } from '@hapi/hapi';
import { getCurrentSpan } from '@otinst/core';
import { tracingPlugin } from '@otinst/hapi';
import { recorderTracer } from '../../../test/support/tracers';
import { expectErrorLog, serverSpan } from './support';

/**
 * hapi awaits every extension: an `onRequest` extension of a plugin registered
 * before the tracing plugin (a logger, say) would run first and leave the span
 * out of the rest of the lifecycle, and an error-page plugin's `onPreResponse`
 * would replace the Boom before the tracing plugin saw it. The tracing plugin
 * orders its extensions ahead of the plugins registered before it.
 */
describe('plugins registered before the tracing plugin', () => {
  const t = recorderTracer();
  const failure = new Error('database down');
  let server: Server;
  afterEach(async () => {
    t.reset();
    await server.stop();
  });

  const logger = {
    name: 'request-logger',
    register(server: Server) {
      server.ext('onRequest', (_request, h) => h.continue);
      server.ext('onPreAuth', async (_request, h) => h.continue);
    },
  };
  const errorPages = {
    name: 'error-pages',
    register(server: Server) {
      server.ext('onPreResponse', (request, h) => {
        const response = request.response;
        return 'isBoom' in response && response.isBoom ? h.response('<h1>Sorry</h1>').code(500) : h.continue;
      });
    },
  };

  it('do not take the span out of the handler, nor hide the error from it', async () => {
    server = Hapi.server({ debug: false });
    await server.register([logger, errorPages]);
    await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: false } });
    server.route({
      method: 'GET',
      path: '/orders/{id}',
      handler: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        getCurrentSpan()?.setTag('seen.handler', true);
        throw failure;
      },
    });
    const response = await server.inject('/orders/1');
    expect(response.statusCode).toBe(500);
    expect(response.payload).toBe('<h1>Sorry</h1>');
    const span = serverSpan(t);
    expect(span.operationName).toBe('GET /orders/{id}');
    expect(span.tags['seen.handler']).toBe(true);
    expectErrorLog(t, span, failure);
  });
});
