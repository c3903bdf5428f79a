'use strict';
/**
 * @otinst/express in a small shop API: a router with params mounted under a
 * parameterised prefix, a route that calls the API itself with fetch, a route
 * that fails, and an error handler. It starts on a free port, sends a few
 * requests to itself, prints each trace as a tree, and exits.
 *
 *   npm run build && node examples/express
 */
const express = require('express');
const { getCurrentSpan, startChildSpan } = require('@otinst/core');
const { tracingMiddleware } = require('@otinst/express');
const { RecordingTracer, formatTrace } = require('@otinst/recorder');

const tracer = new RecordingTracer({ serviceName: 'shop' });

function buildApp(baseUrl) {
  const app = express();
  // first, before every other middleware; it also installs the client hooks (fetch, http, databases...)
  app.use(tracingMiddleware(tracer, { ignore: ['/health'], captureRequestHeaders: ['x-request-id'] }));
  app.use(express.json());

  const users = express.Router({ mergeParams: true });
  users.get('/:userId', async (req, res) => {
    getCurrentSpan()?.setTag('shop.org', req.params.orgId);
    const lookup = startChildSpan('load user', { tags: { 'user.id': req.params.userId } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    lookup.finish();
    res.json({ org: req.params.orgId, id: req.params.userId, name: `user ${req.params.userId}` });
  });
  const orgs = express.Router();
  orgs.use('/:orgId/users', users);
  app.use('/orgs', orgs);

  // an outgoing call: the fetch hook makes it a child span and sends the trace context along
  app.post('/orgs/:orgId/orders', async (req, res) => {
    const user = await (await fetch(`${baseUrl()}/orgs/${req.params.orgId}/users/${req.body.userId}`)).json();
    res.status(201).json({ order: 1001, for: user.name, items: req.body.items });
  });

  app.get('/orgs/:orgId/invoices/:invoiceId', () => {
    throw new Error('the invoice service is down');
  });
  app.get('/health', (req, res) => res.send('ok'));
  // errors answered by the app itself are still recorded on the span

  app.use((error, req, res, _next) => {
    res.status(503).json({ error: error.message });
  });
  return app;
}

async function main() {
  let port = 0;
  const baseUrl = () => `http://127.0.0.1:${port}`;
  const server = buildApp(baseUrl).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = server.address().port;

  const requests = [
    ['POST', '/orgs/acme/orders', { userId: 7, items: ['book'] }],
    ['GET', '/orgs/acme/users/42'],
    ['GET', '/orgs/acme/invoices/9'],
    ['GET', '/no/such/page'],
    ['GET', '/health'],
  ];
  for (const [method, path, body] of requests) {
    const response = await fetch(baseUrl() + path, {
      method,
      headers: { 'content-type': 'application/json', 'x-request-id': `example-${path.length}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await response.arrayBuffer();
    console.log(`${method} ${path} → ${response.status}`);
  }

  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
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
