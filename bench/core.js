'use strict';
/**
 * Micro-benchmark of the core server-span path every adapter runs once per
 * request: `startServerSpan` + `setRoute` + `finish`, with a complete fake
 * `RequestWrapper` (plain fields, no getters over a socket) and options from
 * `resolveOptions` (all defaults). Next to it, the same tracer calls made
 * directly (extract, startSpan, the same tags, rename, finish): the difference
 * is what otinst itself adds per request.
 *
 *   node bench/core.js [--quick]
 *
 * Timing: `process.hrtime.bigint()` around batches of 1,000 requests, the
 * event loop given a turn between batches (so batch span processors can
 * export as they would in a server), after a warm-up; a sample is the mean
 * over many batches, the result the median of the samples. Needs the built
 * packages (`npx tsc -b`).
 */
const { runChildMain } = require('./lib/settings');
const tracers = require('./lib/tracers');
const { median, round } = require('./lib/stats');

const BATCH = 1000;

/** What `NodeRequestWrapper` gives an adapter, as plain data. */
class FakeRequestWrapper {
  constructor() {
    this.method = 'GET';
    this.operation = 'GET';
    this.fullUrl = 'http://127.0.0.1:3000/users/42';
    this.path = '/users/42';
    this.headers = { host: '127.0.0.1:3000', 'user-agent': 'otinst-bench', accept: '*/*' };
    this.remoteIp = '127.0.0.1';
    this.remotePort = 54321;
    this.serverPort = 3000;
    this.callerName = undefined;
  }
}

function otinstCase(core, tracer) {
  const options = core.resolveOptions('@otinst/bench', 'express', { tracer, clientHooks: false });
  const wrapper = new FakeRequestWrapper();
  const nativeRequest = {};
  const nativeResponse = {};
  return function otinstServerSpan() {
    const handle = core.startServerSpan(options, wrapper, nativeRequest);
    handle.setRoute('/users/:id');
    handle.finish(200, nativeResponse);
  };
}

/** The same tracer calls without otinst: the floor for this tracer. */
function rawCase(tracer) {
  const { FORMAT_HTTP_HEADERS } = require('opentracing');
  const wrapper = new FakeRequestWrapper();
  return function rawTracerCalls() {
    const parent = tracer.extract(FORMAT_HTTP_HEADERS, wrapper.headers);
    const span = tracer.startSpan(wrapper.method, parent ? { childOf: parent } : {});
    span.addTags({
      'span.kind': 'server',
      'http.method': wrapper.method,
      'http.url': wrapper.fullUrl,
      component: 'express',
      'peer.ipv4': wrapper.remoteIp,
      'peer.port': wrapper.remotePort,
    });
    span.setOperationName('GET /users/:id');
    span.setTag('http.route', '/users/:id');
    span.setTag('http.status_code', 200);
    span.finish();
  };
}

/** The adapter-facing core API: `@otinst/core/adapter` where it exists (issue 15), else the package index. */
function coreAdapterApi() {
  try {
    return require('@otinst/core/adapter');
  } catch {
    return require('@otinst/core');
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Nanoseconds per call of `fn`, over `batches` batches of BATCH calls. */
async function sample(fn, batches, between) {
  let total = 0n;
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    total += process.hrtime.bigint() - start;
    between();
    await turn();
  }
  return Number(total) / (batches * BATCH);
}

async function runCore(settings, log = console.log) {
  const core = coreAdapterApi();
  const samples = settings.quick ? 5 : 21;
  const batches = settings.quick ? 10 : 40;
  const cases = [];
  for (const [name, make] of [
    ['noop', tracers.noopTracer],
    ['recorder', tracers.recordingTracer],
    ['jaeger', tracers.jaegerTracer],
    ['otel-shim', tracers.otelShimTracer],
  ]) {
    const { tracer } = make();
    // the recording tracer keeps every span: empty it between batches, outside the timed part
    const between = name === 'recorder' ? () => tracer.reset() : () => {};
    cases.push({ tracer: name, kind: 'otinst', fn: otinstCase(core, tracer), between, values: [] });
    cases.push({ tracer: name, kind: 'raw', fn: rawCase(tracer), between, values: [] });
  }
  for (const entry of cases) await sample(entry.fn, batches, entry.between);
  // interleaved: a noisy moment spreads over every case instead of spoiling one
  for (let s = 0; s < samples; s++) {
    for (const entry of cases) entry.values.push(await sample(entry.fn, batches, entry.between));
  }
  const rows = [];
  for (let i = 0; i < cases.length; i += 2) {
    const otinst = median(cases[i].values);
    const raw = median(cases[i + 1].values);
    rows.push({
      tracer: cases[i].tracer,
      otinstNs: round(otinst, 0),
      rawNs: round(raw, 0),
      ownNs: round(otinst - raw, 0),
    });
    log(`  ${cases[i].tracer.padEnd(10)} otinst ${Math.round(otinst)} ns, tracer alone ${Math.round(raw)} ns`);
  }
  return { node: process.version, iterationsPerSample: batches * BATCH, samples, rows };
}

if (require.main === module) runChildMain(runCore, (result) => JSON.stringify(result, null, 2));

module.exports = { runCore };
