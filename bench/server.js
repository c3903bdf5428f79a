'use strict';
/**
 * One benchmark server: `node bench/server.js <framework> <variant>`, started
 * by `run.js` with an IPC channel (fork). The app is the same for every
 * variant: `GET /users/:id` answering a small JSON body. The process reports
 * `{ type: 'ready', port, node }` (or `{ type: 'unavailable', reason }`), answers
 * `{ type: 'stats' }` with the tracer's span count and `{ type: 'cpu' }` with its
 * CPU time (µs), and exits on `{ type: 'exit' }`
 * or when the parent goes away.
 *
 * Each variant is its own process because the OpenTelemetry instrumentations
 * must be registered before the framework is first required.
 */
const { VARIANTS, OTEL_INSTRUMENTATION, OTINST_ADAPTER } = require('./lib/variants');
const tracers = require('./lib/tracers');

const [framework, variantName] = process.argv.slice(2);
const variant = VARIANTS[variantName];

class Unavailable extends Error {}

/** Extra otinst options for a diagnostic run (`--otinst-options '{"clientHooks":false}'`): none by default. */
const extraOptions = JSON.parse(process.env.OTINST_BENCH_OTINST_OPTIONS || '{}');

/** Set for the no-op variant: counts the requests whose handler runs with a current span (tracers.js). */
let countActiveSpan;

function user(id) {
  if (countActiveSpan !== undefined) countActiveSpan();
  return { id, name: `user ${id}`, active: true };
}

/** OpenTelemetry set up the documented way: provider registered, instrumentations before the framework loads. */
function setUpOtel() {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { provider, stats } = tracers.otelProvider(NodeTracerProvider);
  provider.register();
  const instrumentations = [new HttpInstrumentation()];
  if (framework === 'express') {
    const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
    instrumentations.push(new ExpressInstrumentation());
  } else if (framework === 'koa') {
    const { KoaInstrumentation } = require('@opentelemetry/instrumentation-koa');
    instrumentations.push(new KoaInstrumentation());
  } else if (framework === 'hapi') {
    const { HapiInstrumentation } = require('@opentelemetry/instrumentation-hapi');
    instrumentations.push(new HapiInstrumentation());
  } else if (framework === 'fastify') {
    const FastifyOtelInstrumentation = require(OTEL_INSTRUMENTATION.fastify);
    // registers its plugin on every fastify instance through the fastify.initialization channel
    instrumentations.push(new FastifyOtelInstrumentation({ registerOnInitialization: true }));
  }
  registerInstrumentations({ tracerProvider: provider, instrumentations });
  return stats;
}

function makeTracer(name) {
  if (name === 'noop') return tracers.noopTracer();
  if (name === 'jaeger') return tracers.jaegerTracer();
  if (name === 'otel-shim') return tracers.otelShimTracer();
  throw new Error(`unknown tracer ${name}`);
}

/** The otinst adapter's entry point, or Unavailable while the adapter is not built yet. */
function otinstAdapter() {
  const [pkg, exportName] = OTINST_ADAPTER[framework];
  let adapter;
  try {
    adapter = require(pkg)[exportName];
  } catch (error) {
    throw new Unavailable(`${pkg} cannot be loaded (${error.message.split('\n')[0]}); run npx tsc -b`);
  }
  // a hapi plugin is an object with a register function; the others are functions
  const usable = framework === 'hapi' ? typeof adapter?.register === 'function' : typeof adapter === 'function';
  if (!usable) throw new Unavailable(`${pkg} has no ${exportName} export yet`);
  return adapter;
}

async function startExpress(instrument, tracer) {
  const express = require('express');
  const app = express();
  if (instrument === 'otinst') app.use(otinstAdapter()(tracer, extraOptions));
  if (instrument === 'express-opentracing') app.use(require('express-opentracing').default({ tracer }));
  app.get('/users/:id', (req, res) => {
    res.json(user(req.params.id));
  });
  return listenNode(app);
}

async function startKoa(instrument, tracer) {
  const Koa = require('koa');
  const Router = require('@koa/router');
  const app = new Koa();
  if (instrument === 'otinst') app.use(otinstAdapter()(tracer, extraOptions));
  const router = new Router();
  router.get('/users/:id', (ctx) => {
    ctx.body = user(ctx.params.id);
  });
  app.use(router.routes());
  return listenNode(app.callback());
}

function listenNode(handler) {
  const http = require('node:http');
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function startFastify(instrument, tracer) {
  const Fastify = require('fastify');
  const app = Fastify({ logger: false });
  if (instrument === 'otinst') await app.register(otinstAdapter(), { ...extraOptions, tracer });
  app.get('/users/:id', (request, reply) => {
    reply.send(user(request.params.id));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server.address().port;
}

async function startHapi(instrument, tracer) {
  const Hapi = require('@hapi/hapi');
  const server = Hapi.server({ port: 0, host: '127.0.0.1' });
  if (instrument === 'otinst') await server.register({ plugin: otinstAdapter(), options: { ...extraOptions, tracer } });
  server.route({ method: 'GET', path: '/users/{id}', handler: (request) => user(request.params.id) });
  await server.start();
  return server.info.port;
}

const STARTERS = { express: startExpress, koa: startKoa, fastify: startFastify, hapi: startHapi };

async function main() {
  if (variant === undefined || STARTERS[framework] === undefined) {
    throw new Error(`usage: node bench/server.js <${Object.keys(STARTERS).join('|')}> <variant>`);
  }
  if (variant.only !== undefined && !variant.only.includes(framework)) {
    throw new Unavailable(`${variantName} exists for ${variant.only.join(', ')} only`);
  }
  let stats = () => ({ spans: null, lastName: null });
  let tracer;
  if (variant.instrument === 'otel') stats = setUpOtel();
  if (variant.tracer !== undefined) ({ tracer, stats, countActiveSpan } = makeTracer(variant.tracer));
  const port = await STARTERS[framework](variant.instrument, tracer);
  process.on('message', async (message) => {
    if (message && message.type === 'stats') process.send({ type: 'stats', ...(await stats()) });
    // the server's own CPU time: per request, it moves far less than req/s when the machine is shared
    if (message && message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ type: 'cpu', micros: user + system });
    }
    if (message && message.type === 'exit') process.exit(0);
  });
  // never outlive the harness
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', port, node: process.version });
}

main().catch((error) => {
  const unavailable = error instanceof Unavailable;
  if (!unavailable) console.error(error);
  if (process.send) {
    process.send({ type: 'unavailable', reason: unavailable ? error.message : String(error.stack || error) }, () =>
      process.exit(unavailable ? 0 : 1),
    );
  } else {
    process.exit(1);
  }
});
