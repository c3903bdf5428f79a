'use strict';
/**
 * @otinst/hapi in a small shop API: routes with params in a plugin mounted
 * under a prefix (`/api/orgs/{orgId}/...`), a route that calls the API itself
 * with fetch, a route that fails, a Boom 404 and a 404 with no route, and an
 * ignored health check. It starts on a free port, sends a few requests to
 * itself, prints each trace as a tree, and exits.
 *
 *   npm run build && node examples/hapi
 */
const Hapi = require('@hapi/hapi');
const Boom = require('@hapi/boom');
const { getCurrentSpan, startChildSpan } = require('@otinst/core');
const { tracingPlugin } = require('@otinst/hapi');
const { RecordingTracer, formatTrace } = require('@otinst/recorder');

const tracer = new RecordingTracer({ serviceName: 'shop' });

const shop = {
  name: 'shop',
  register(server) {
    server.route({
      method: 'GET',
      path: '/orgs/{orgId}/users/{userId}',
      handler: async (request) => {
        const { orgId, userId } = request.params;
        if (userId === '0') throw Boom.notFound(`no user ${userId}`); // a 4xx Boom: not an error
        getCurrentSpan()?.setTag('shop.org', orgId);
        const lookup = startChildSpan('load user', { tags: { 'user.id': userId } });
        await new Promise((resolve) => setTimeout(resolve, 5));
        lookup.finish();
        return { org: orgId, id: userId, name: `user ${userId}` };
      },
    });
    // an outgoing call: the fetch hook makes it a child span and sends the trace context along
    server.route({
      method: 'POST',
      path: '/orgs/{orgId}/orders',
      handler: async (request, h) => {
        const { orgId } = request.params;
        const user = await (
          await fetch(`${request.server.info.uri}/api/orgs/${orgId}/users/${request.payload.userId}`)
        ).json();
        return h.response({ order: 1001, for: user.name, items: request.payload.items }).code(201);
      },
    });
    server.route({
      method: 'GET',
      path: '/orgs/{orgId}/orders/{orderId}/invoice',
      handler: async () => {
        throw new Error('the invoice service is down');
      },
    });
  },
};

async function main() {
  const server = Hapi.server({ host: '127.0.0.1', port: 0, debug: false });
  // first, before the other plugins; it also installs the client hooks (fetch, http, databases...)
  await server.register({
    plugin: tracingPlugin,
    options: { tracer, ignore: ['/health'], captureRequestHeaders: ['x-request-id'] },
  });
  await server.register(shop, { routes: { prefix: '/api' } });
  server.route({ method: 'GET', path: '/health', handler: () => 'ok' });
  await server.start();

  const requests = [
    ['POST', '/api/orgs/acme/orders', { userId: 7, items: ['book'] }],
    ['GET', '/api/orgs/acme/users/42'],
    ['GET', '/api/orgs/acme/users/0'],
    ['GET', '/api/orgs/acme/orders/9/invoice'],
    ['GET', '/no/such/page'],
    ['GET', '/health'],
  ];
  for (const [method, path, body] of requests) {
    const response = await fetch(server.info.uri + path, {
      method,
      headers: { 'content-type': 'application/json', 'x-request-id': `example-${path.length}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await response.arrayBuffer();
    console.log(`${method} ${path} → ${response.status}`);
  }

  await server.stop();
  // a server span finishes when hapi has sent the response, which can be a moment after the client has it
  while (tracer.store.unfinished().length > 0) await new Promise((resolve) => setImmediate(resolve));
  const traceIds = tracer.store.traceIds();
  console.log(`\n${traceIds.length} traces (the health check is ignored)\n`);
  for (const traceId of traceIds) console.log(formatTrace(tracer.store.trace(traceId)) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
