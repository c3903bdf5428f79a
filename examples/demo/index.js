'use strict';
/**
 * The otinst demo: four small services, one per framework, calling each other
 * over real HTTP on localhost:
 *
 *   gateway (express) → orders (koa) → inventory (fastify) → pricing (hapi)
 *
 * It sends a few requests through them (one that succeeds, one that fails deep
 * down with a 500, one to an ignored health check), prints every trace as a
 * tree, stops everything and exits 0. Where PostgreSQL, Redis or RabbitMQ
 * answer on their local ports, their client spans show up too.
 *
 *   npm run demo                       # the recording tracer (no backend needed)
 *   npm run demo -- --tracer jaeger    # jaeger-client (JAEGER_* variables)
 *   npm run demo -- --tracer otel      # OpenTelemetry SDK via the OpenTracing shim (OTEL_* variables)
 */
const { parseArgs } = require('node:util');
const { connect } = require('node:net');
const { SpanStore, formatTrace } = require('@otinst/recorder');
const { makeTracerFactory } = require('./tracers');
const { startServices } = require('./services');

const { values: args } = parseArgs({
  options: { tracer: { type: 'string', default: 'recorder' }, help: { type: 'boolean', short: 'h' } },
});

if (args.help) {
  console.log('usage: npm run demo [-- --tracer recorder|jaeger|otel]');
  process.exit(0);
}

function answers(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function main() {
  const store = new SpanStore();
  const tracers = await makeTracerFactory(args.tracer, store);
  const available = {
    postgres: await answers(5432),
    redis: await answers(6379),
    rabbitmq: await answers(5672),
  };
  for (const [name, port] of [
    ['PostgreSQL', 5432],
    ['Redis', 6379],
    ['RabbitMQ', 5672],
  ]) {
    const key = name === 'PostgreSQL' ? 'postgres' : name.toLowerCase();
    if (!available[key])
      console.log(`(${name} does not answer on 127.0.0.1:${port}: the demo goes on without its spans)`);
  }

  const services = await startServices(tracers, available);
  const gateway = services.gatewayUrl;
  const requests = [
    ['GET', '/api/orders/42', 'an order: express → koa → fastify → hapi, with database and cache calls'],
    ['GET', '/api/orders/13', 'an order whose price lookup fails deep down (hapi answers 500)'],
    ['GET', '/health', 'the health check, ignored: no trace'],
  ];
  console.log(`\notinst demo — tracer: ${args.tracer}\n`);
  console.log(`  ${'service'.padEnd(13)}${'framework'.padEnd(18)}address`);
  for (const { name, framework, url } of services.services)
    console.log(`  ${name.padEnd(13)}${framework.padEnd(18)}${url.replace('http://', '')}`);
  console.log('');
  for (const [method, path, what] of requests) {
    const response = await fetch(gateway + path, { method });
    await response.arrayBuffer();
    console.log(`${method} ${path} → ${response.status}   (${what})`);
  }
  await services.settle();

  const traces = new Map();
  for (const span of store.imported ?? store.spans()) {
    if (!traces.has(span.traceId)) traces.set(span.traceId, []);
    traces.get(span.traceId).push(span);
  }
  console.log(`\n${traces.size} traces recorded\n`);
  for (const spans of traces.values()) {
    console.log(formatTrace(spans, { color: process.stdout.isTTY === true }));
    console.log('');
  }
  await services.close();
  await tracers.close();
  const note = tracers.closingNote();
  if (note !== undefined) console.log(note);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
