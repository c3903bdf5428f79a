import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import type { FastifyInstance } from 'fastify';
import { uninstallPatches } from '@otinst/core';
import { tracingPlugin } from '@otinst/fastify';
import { allTracers } from '../../../test/support/tracers';
import { baseUrl, expectedTraceId, PARENT } from './support';

type FastifyFactory = typeof Fastify5;
const majors: [string, FastifyFactory][] = [
  ['fastify 4', Fastify4 as unknown as FastifyFactory],
  ['fastify 5', Fastify5],
];

afterEach(() => uninstallPatches());

for (const [major, Fastify] of majors) {
  for (const t of allTracers()) {
    describe(`${major}, ${t.name} tracer: an outgoing fetch from a handler`, () => {
      let app: FastifyInstance;
      beforeEach(() => t.reset());
      afterEach(async () => {
        await app?.close();
      });

      it('is a child of the server span, and the next service continues the trace', async () => {
        app = Fastify();
        await app.register(tracingPlugin, { tracer: t.tracer, clientHooks: ['fetch'] });
        app.register(
          async (api) => {
            api.get<{ Params: { id: string } }>('/orders/:id', async (request) => {
              const user = await fetch(`${baseUrl(app.server)}/api/users/${request.params.id}`);
              return { order: request.params.id, user: await user.json() };
            });
            api.get<{ Params: { id: string } }>('/users/:id', async (request) => ({ id: request.params.id }));
          },
          { prefix: '/api' },
        );
        await app.listen({ port: 0, host: '127.0.0.1' });
        const response = await fetch(`${baseUrl(app.server)}/api/orders/7`, {
          headers: t.parentHeaders(PARENT.traceId, PARENT.spanId),
        });
        expect(await response.json()).toEqual({ order: '7', user: { id: '7' } });

        const spans = t.spans();
        expect(spans.map((span) => span.operationName).sort()).toEqual([
          'GET',
          'GET /api/orders/:id',
          'GET /api/users/:id',
        ]);
        const orders = spans.find((span) => span.operationName === 'GET /api/orders/:id')!;
        const client = spans.find((span) => span.operationName === 'GET')!;
        const users = spans.find((span) => span.operationName === 'GET /api/users/:id')!;
        expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([expectedTraceId(t)]));
        expect(orders.parentId).toBe(PARENT.spanId);
        expect(client.parentId).toBe(orders.spanId);
        expect(users.parentId).toBe(client.spanId);
        expect(client.tags).toMatchObject({ 'span.kind': 'client', component: 'fetch', 'http.status_code': 200 });
      });
    });
  }
}
