'use strict';
/**
 * @otinst/fastify in a small shop API: routes with params in prefixed,
 * encapsulated plugins (`/api/orgs/:orgId/...`), a route that calls the API
 * itself with fetch, a route that fails, a plugin error handler, a 404 and an
 * ignored health check. It starts on a free port, sends a few requests to
 * itself, prints each trace as a tree, and exits.
 *
 *   npm run build && node examples/fastify
 */
const Fastify = require('fastify');
const { getCurrentSpan, startChildSpan } = require('@otinst/core');
const { tracingPlugin } = require('@otinst/fastify');
const { RecordingTracer, formatTrace } = require('@otinst/recorder');

const tracer = new RecordingTracer({ serviceName: 'shop' });

async function users(fastify) {
  fastify.get('/:userId', async (request) => {
    getCurrentSpan()?.setTag('shop.org', request.params.orgId);
    const lookup = startChildSpan('load user', { tags: { 'user.id': request.params.userId } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    lookup.finish();
    return { org: request.params.orgId, id: request.params.userId, name: `user ${request.params.userId}` };
  });
}

async function orders(fastify) {
  // an outgoing call: the fetch hook makes it a child span and sends the trace context along
  fastify.post('/', async (request, reply) => {
    const { orgId } = request.params;
    const user = await (await fetch(`${fastify.baseUrl()}/api/orgs/${orgId}/users/${request.body.userId}`)).json();
    return reply.code(201).send({ order: 1001, for: user.name, items: request.body.items });
  });
  fastify.get('/:orderId/invoice', async () => {
    throw new Error('the invoice service is down');
  });
  // errors answered by the plugin itself are still recorded on the span
  fastify.setErrorHandler(async (error, request, reply) => reply.code(503).send({ error: error.message }));
}

async function main() {
  const app = Fastify();
  // first, on the root instance: it traces every route, those of encapsulated plugins included,
  // and installs the client hooks (fetch, http, databases...)
  await app.register(tracingPlugin, { tracer, ignore: ['/health'], captureRequestHeaders: ['x-request-id'] });
  app.decorate('baseUrl', () => `http://127.0.0.1:${app.server.address().port}`);
  app.register(
    async (api) => {
      api.register(users, { prefix: '/orgs/:orgId/users' });
      api.register(orders, { prefix: '/orgs/:orgId/orders' });
    },
    { prefix: '/api' },
  );
  app.get('/health', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });

  const requests = [
    ['POST', '/api/orgs/acme/orders', { userId: 7, items: ['book'] }],
    ['GET', '/api/orgs/acme/users/42'],
    ['GET', '/api/orgs/acme/orders/9/invoice'],
    ['GET', '/no/such/page'],
    ['GET', '/health'],
  ];
  for (const [method, path, body] of requests) {
    const response = await fetch(app.baseUrl() + path, {
      method,
      headers: { 'content-type': 'application/json', 'x-request-id': `example-${path.length}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await response.arrayBuffer();
    console.log(`${method} ${path} → ${response.status}`);
  }

  await app.close();
  // a server span finishes when its response closes, which can be a moment after the client has the answer
  while (tracer.store.unfinished().length > 0) await new Promise((resolve) => setImmediate(resolve));
  const traceIds = tracer.store.traceIds();
  console.log(`\n${traceIds.length} traces (the health check is ignored)\n`);
  for (const traceId of traceIds) console.log(formatTrace(tracer.store.trace(traceId)) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
