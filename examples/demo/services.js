'use strict';
/**
 * The four demo services. Each one is an ordinary app of its framework with
 * otinst's one-line setup; nothing else in them knows about tracing, except
 * the RabbitMQ consumer, which uses getCurrentSpan() to tag its span.
 */
const express = require('express');
const Koa = require('koa');
const Router = require('@koa/router');
const Fastify = require('fastify');
const Hapi = require('@hapi/hapi');
const { configure, getCurrentSpan } = require('@otinst/core');
const { tracingMiddleware: expressTracing } = require('@otinst/express');
const { tracingMiddleware: koaTracing } = require('@otinst/koa');
const { tracingPlugin: fastifyTracing } = require('@otinst/fastify');
const { tracingPlugin: hapiTracing } = require('@otinst/hapi');

const QUEUE = `otinst-demo-orders-${process.pid}`;

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) {
    await response.arrayBuffer();
    const error = new Error(`${new URL(url).pathname} answered ${response.status}`);
    error.status = 502;
    error.expose = true;
    throw error;
  }
  return response.json();
}

async function startPricing(tracer, clients) {
  const server = Hapi.server({ port: 0, host: '127.0.0.1' });
  await server.register({ plugin: hapiTracing, options: { tracer } });
  server.route({
    method: 'GET',
    path: '/prices/{sku}',
    handler: async (request) => {
      const sku = Number(request.params.sku);
      if (clients.redis) await clients.redis.get(`otinst-demo:price:${sku}`);
      let price = 9.99;
      if (clients.db) {
        // knex over pg: a knex:SELECT span with the driver's pg:SELECT span under it
        const rows = await clients.db.select(clients.db.raw('?::int * 0.5 AS price', [sku]));
        price = Number(rows[0].price);
      }
      if (sku === 13) throw new Error(`the price feed has no price for sku ${sku}`);
      return { sku, price };
    },
  });
  await server.start();
  return { url: server.info.uri, close: () => server.stop() };
}

async function startInventory(tracer, pricingUrl) {
  const app = Fastify();
  await app.register(fastifyTracing, { tracer });
  await app.register(
    async (api) => {
      api.get('/items/:sku', async (request) => {
        const price = await getJson(`${pricingUrl}/prices/${request.params.sku}`);
        return { sku: Number(request.params.sku), inStock: 3, price: price.price };
      });
    },
    { prefix: '/inventory' },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

async function startOrders(tracer, inventoryUrl, channel) {
  const app = new Koa();
  app.silent = true; // koa would print every 5xx's stack; the trace shows it
  const router = new Router({ prefix: '/orders' });
  router.get('/:id', async (ctx) => {
    const item = await getJson(`${inventoryUrl}/inventory/items/${ctx.params.id}`);
    if (channel) channel.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ viewed: ctx.params.id })));
    ctx.body = { id: Number(ctx.params.id), item };
  });
  app.use(koaTracing(tracer));
  app.use(router.routes());
  const server = await listen(require('node:http').createServer(app.callback()));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

async function startGateway(tracer, ordersUrl) {
  const app = express();
  app.use(expressTracing(tracer, { ignore: ['/health'] }));
  app.get('/health', (req, res) => res.json({ ok: true }));
  const api = express.Router();
  api.get('/orders/:id', async (req, res) => {
    res.json(await getJson(`${ordersUrl}/orders/${req.params.id}`));
  });
  app.use('/api', api);
  // express 5 passes the rejected promise of an async handler to this error handler
  app.use((error, req, res, _next) => res.status(error.status ?? 500).json({ error: error.message }));
  const server = await listen(require('node:http').createServer(app));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

async function connectClients(available) {
  const clients = {};
  if (available.postgres) {
    clients.db = require('knex')({
      client: 'pg',
      connection: { host: '127.0.0.1', user: 'postgres', database: 'test' },
      pool: { min: 0, max: 2 },
    });
    // connect now, outside any request: knex's first connection asks the server's version
    await clients.db.raw('select 1');
  }
  if (available.redis) {
    const { createClient } = require('redis');
    clients.redis = createClient({ url: 'redis://127.0.0.1:6379' });
    clients.redis.on('error', () => {});
    await clients.redis.connect();
  }
  if (available.rabbitmq) {
    const amqp = require('amqplib');
    clients.amqp = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
    clients.channel = await clients.amqp.createChannel();
    await clients.channel.assertQueue(QUEUE, { autoDelete: true });
  }
  return clients;
}

async function startServices(tracers, available) {
  // Spans made outside any request (the RabbitMQ consumer's) go to the configured tracer. Set it
  // before the adapters are created: the first adapter given a tracer would otherwise become it.
  configure({ tracer: tracers.forService('order-events') });
  const clients = await connectClients(available);
  const pricing = await startPricing(tracers.forService('pricing'), clients);
  const inventory = await startInventory(tracers.forService('inventory'), pricing.url);
  const orders = await startOrders(tracers.forService('orders'), inventory.url, clients.channel);
  const gateway = await startGateway(tracers.forService('gateway'), orders.url);

  let consumed = 0;
  if (clients.channel) {
    // the consumer span (amqp:consume) continues the trace of the request that published
    await clients.channel.consume(QUEUE, (message) => {
      getCurrentSpan()?.setTag('order.viewed', JSON.parse(message.content.toString()).viewed);
      clients.channel.ack(message);
      consumed++;
    });
  }
  return {
    gatewayUrl: gateway.url,
    /** Which service runs which framework, where. */
    services: [
      { name: 'gateway', framework: 'express', url: gateway.url },
      { name: 'orders', framework: 'koa', url: orders.url },
      { name: 'inventory', framework: 'fastify', url: inventory.url },
      { name: 'pricing', framework: 'hapi', url: pricing.url },
      ...(clients.channel ? [{ name: 'order-events', framework: 'amqplib consumer', url: `queue ${QUEUE}` }] : []),
    ],
    /** Waits until the broker delivered what the requests published. */
    async settle() {
      for (let i = 0; i < 50 && clients.channel && consumed < 1; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
    },
    async close() {
      await gateway.close();
      await orders.close();
      await inventory.close();
      await pricing.close();
      if (clients.channel) await clients.channel.close();
      if (clients.amqp) await clients.amqp.close();
      if (clients.redis) await clients.redis.quit();
      if (clients.db) await clients.db.destroy();
    },
  };
}

module.exports = { startServices };
