import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import type { Server } from '@hapi/hapi';
import { uninstallPatches } from '@otinst/core';
import { tracingPlugin } from '@otinst/hapi';
import { allTracers } from '../../../test/support/tracers';
import { expectedTraceId, PARENT } from './support';

afterEach(() => uninstallPatches());

for (const t of allTracers()) {
  describe(`hapi, ${t.name} tracer: an outgoing fetch from a handler`, () => {
    let server: Server;
    beforeEach(() => t.reset());
    afterEach(async () => {
      await server?.stop();
    });

    it('is a child of the server span, and the next service continues the trace', async () => {
      server = Hapi.server({ host: '127.0.0.1', port: 0 });
      await server.register({ plugin: tracingPlugin, options: { tracer: t.tracer, clientHooks: ['fetch'] } });
      await server.register(
        {
          name: 'api',
          register(api: Server) {
            api.route({
              method: 'GET',
              path: '/orders/{id}',
              handler: async (request) => {
                const user = await fetch(`${server.info.uri}/api/users/${request.params['id']}`);
                return { order: request.params['id'], user: await user.json() };
              },
            });
            api.route({ method: 'GET', path: '/users/{id}', handler: (request) => ({ id: request.params['id'] }) });
          },
        },
        { routes: { prefix: '/api' } },
      );
      await server.start();
      const response = await fetch(`${server.info.uri}/api/orders/7`, {
        headers: t.parentHeaders(PARENT.traceId, PARENT.spanId),
      });
      expect(await response.json()).toEqual({ order: '7', user: { id: '7' } });

      const spans = t.spans();
      expect(spans.map((span) => span.operationName).sort()).toEqual([
        'GET',
        'GET /api/orders/{id}',
        'GET /api/users/{id}',
      ]);
      const orders = spans.find((span) => span.operationName === 'GET /api/orders/{id}')!;
      const client = spans.find((span) => span.operationName === 'GET')!;
      const users = spans.find((span) => span.operationName === 'GET /api/users/{id}')!;
      expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([expectedTraceId(t)]));
      expect(orders.parentId).toBe(PARENT.spanId);
      expect(client.parentId).toBe(orders.spanId);
      expect(users.parentId).toBe(client.spanId);
      expect(client.tags).toMatchObject({ 'span.kind': 'client', component: 'fetch', 'http.status_code': 200 });
    });
  });
}
