'use strict';
/**
 * @otinst/koa in a small shop API: @koa/router routers nested under a
 * parameterised prefix, a route that calls the API itself with fetch, a route
 * that fails, ctx.throw(404), and an error handler. It starts on a free port,
 * sends a few requests to itself, prints each trace as a tree, and exits.
 *
 *   npm run build && node examples/koa
 */
const Koa = require('koa');
const Router = require('@koa/router');
const { getCurrentSpan, startChildSpan } = require('@otinst/core');
const { tracingMiddleware } = require('@otinst/koa');
const { RecordingTracer, formatTrace } = require('@otinst/recorder');

const tracer = new RecordingTracer({ serviceName: 'shop' });

function readJson(ctx) {
  return new Promise((resolve, reject) => {
    let body = '';
    ctx.req.setEncoding('utf8');
    ctx.req.on('data', (chunk) => (body += chunk));
    ctx.req.on('end', () => resolve(body === '' ? {} : JSON.parse(body)));
    ctx.req.on('error', reject);
  });
}

function buildApp(baseUrl) {
  const app = new Koa();
  app.silent = true;
  // an error handler first: errors pass through the tracing middleware (and are recorded) on their way to it
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = error.status ?? 503;
      ctx.body = { error: error.message };
    }
  });
  // then the tracing middleware; it also installs the client hooks (fetch, http, databases...)
  app.use(tracingMiddleware(tracer, { ignore: ['/health'], captureRequestHeaders: ['x-request-id'] }));

  const users = new Router();
  users.get('/:userId', async (ctx) => {
    getCurrentSpan()?.setTag('shop.org', ctx.params.orgId);
    const lookup = startChildSpan('load user', { tags: { 'user.id': ctx.params.userId } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    lookup.finish();
    if (ctx.params.userId === '0') ctx.throw(404, 'no such user');
    ctx.body = { org: ctx.params.orgId, id: ctx.params.userId, name: `user ${ctx.params.userId}` };
  });
  const orgs = new Router({ prefix: '/orgs/:orgId' });
  orgs.use('/users', users.routes());

  // an outgoing call: the fetch hook makes it a child span and sends the trace context along
  orgs.post('/orders', async (ctx) => {
    const order = await readJson(ctx);
    const user = await (await fetch(`${baseUrl()}/orgs/${ctx.params.orgId}/users/${order.userId}`)).json();
    ctx.status = 201;
    ctx.body = { order: 1001, for: user.name, items: order.items };
  });
  orgs.get('/invoices/:invoiceId', () => {
    throw new Error('the invoice service is down');
  });

  const root = new Router();
  root.get('/health', (ctx) => (ctx.body = 'ok'));
  app.use(root.routes());
  app.use(orgs.routes());
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
    ['GET', '/orgs/acme/users/0'],
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
