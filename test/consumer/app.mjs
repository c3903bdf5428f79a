// A consumer of the published packages, loaded with import: one small app per
// framework, one request each; prints the recorded server spans as JSON.
import http from 'node:http';
import express from 'express';
import Koa from 'koa';
import Router from '@koa/router';
import Fastify from 'fastify';
import Hapi from '@hapi/hapi';
import { RecordingTracer } from '@otinst/recorder';
import { getCurrentSpan } from '@otinst/core';
import { tracingMiddleware as expressTracing } from '@otinst/express';
import { tracingMiddleware as koaTracing } from '@otinst/koa';
import { tracingPlugin as fastifyTracing } from '@otinst/fastify';
import hapiTracing from '@otinst/hapi';

const tracer = new RecordingTracer({ serviceName: 'consumer-esm' });
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
