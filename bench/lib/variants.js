'use strict';
/** The frameworks and the variants of the same app that the server benchmark compares. */

const FRAMEWORKS = ['express', 'koa', 'fastify', 'hapi'];

/**
 * `instrument`: what is added to the app; `tracer`: which OpenTracing tracer
 * it reports to (see `tracers.js`); `only`: frameworks the variant exists for.
 */
const VARIANTS = {
  bare: { instrument: 'none', description: 'the framework alone' },
  'otinst-noop': { instrument: 'otinst', tracer: 'noop', description: 'otinst + opentracing no-op tracer' },
  'otinst-jaeger': {
    instrument: 'otinst',
    tracer: 'jaeger',
    description: 'otinst + jaeger-client (const sampler, dropping reporter)',
  },
  'otinst-otel-shim': {
    instrument: 'otinst',
    tracer: 'otel-shim',
    description: 'otinst + @opentelemetry/shim-opentracing (batch processor, dropping exporter)',
  },
  otel: {
    instrument: 'otel',
    description: 'OpenTelemetry: instrumentation-http + the framework instrumentation (batch, dropping exporter)',
  },
  'express-opentracing': {
    instrument: 'express-opentracing',
    tracer: 'jaeger',
    only: ['express'],
    description: 'express-opentracing 0.1 + jaeger-client (dropping reporter)',
  },
};

const VARIANT_NAMES = Object.keys(VARIANTS);

/** The OpenTelemetry instrumentation of each framework, besides `@opentelemetry/instrumentation-http`. */
const OTEL_INSTRUMENTATION = {
  express: '@opentelemetry/instrumentation-express',
  koa: '@opentelemetry/instrumentation-koa',
  fastify: '@fastify/otel',
  hapi: '@opentelemetry/instrumentation-hapi',
};

/** The otinst adapter of each framework: package and export name. */
const OTINST_ADAPTER = {
  express: ['@otinst/express', 'tracingMiddleware'],
  koa: ['@otinst/koa', 'tracingMiddleware'],
  fastify: ['@otinst/fastify', 'tracingPlugin'],
  hapi: ['@otinst/hapi', 'tracingPlugin'],
};

function variantsFor(framework) {
  return VARIANT_NAMES.filter((name) => {
    const only = VARIANTS[name].only;
    return only === undefined || only.includes(framework);
  });
}

module.exports = { FRAMEWORKS, VARIANTS, VARIANT_NAMES, OTEL_INSTRUMENTATION, OTINST_ADAPTER, variantsFor };
