'use strict';
// A consumer of the published packages, loaded with require(): one small app per
// framework, one request each; prints the recorded server spans as JSON.
const http = require('node:http');
const express = require('express');
const Koa = require('koa');
const Router = require('@koa/router');
const Fastify = require('fastify');
const Hapi = require('@hapi/hapi');
const { RecordingTracer } = require('@otinst/recorder');
const { getCurrentSpan } = require('@otinst/core');
const { tracingMiddleware: expressTracing } = require('@otinst/express');
const { tracingMiddleware: koaTracing } = require('@otinst/koa');
const { tracingPlugin: fastifyTracing } = require('@otinst/fastify');
const hapiTracing = require('@otinst/hapi').default;

const tracer = new RecordingTracer({ serviceName: 'consumer-cjs' });
const body = () => ({ traced: getCurrentSpan() !== null });

async function request(port) {
  const response = await fetch(`http://127.0.0.1:${port}/users/7`);
  return response.json();
}

async function main() {
  const bodies = [];
  const app = express();
  app.use(expressTracing(tracer));
  app.get('/users/:id', (req, res) => res.json(body()));
  let server = http.createServer(app).listen(0);
  await new Promise((r) => server.once('listening', r));
  bodies.push(await request(server.address().port));
  server.close();

  const koa = new Koa();
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = body();
  });
  koa.use(koaTracing(tracer));
  koa.use(router.routes());
  server = http.createServer(koa.callback()).listen(0);
  await new Promise((r) => server.once('listening', r));
  bodies.push(await request(server.address().port));
  server.close();

  const fastify = Fastify();
  await fastify.register(fastifyTracing, { tracer });
  fastify.get('/users/:id', async () => body());
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  bodies.push(await request(fastify.server.address().port));
  await fastify.close();

  const hapi = Hapi.server({ port: 0, host: '127.0.0.1' });
  await hapi.register({ plugin: hapiTracing, options: { tracer } });
  hapi.route({ method: 'GET', path: '/users/{id}', handler: () => body() });
  await hapi.start();
  bodies.push(await request(hapi.info.port));
  await hapi.stop();

  const spans = tracer.spans().map((span) => ({ name: span.operationName, component: span.tags.component }));
  console.log(JSON.stringify({ bodies, spans }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
