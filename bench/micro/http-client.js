'use strict';
/**
 * What one traced http/fetch client call costs, piece by piece (issue 16:
 * "the cost of header injection and URL building per call"), in ns per call
 * under an active jaeger-client span (const sampler, dropping reporter):
 *
 * - `span`: `startClientSpan` with the http tags + `finish` (the floor);
 * - `beforeHttpRequest`: what the http and fetch hooks call: URL tag
 *   (credentials stripped), peer tags, span, interceptors, inject and the
 *   header checks, `setHeader` into a plain object, + `finish`;
 * - `span + inject`: the floor plus jaeger-client's `inject` into an empty
 *   carrier (a fresh span's context: jaeger caches the encoded id);
 * - `url: string input`: `new URL` + `urlToHttpOptions`, what the http hook
 *   does for `http.get('http://…')` before it builds the full URL;
 * - `url: options input`: the full URL built from an options object;
 * - `url: fetch`: origin + path and `splitHostAndPort`, the fetch hook's;
 * - `header checks`: the name, value and format checks of one injected
 *   header (internals of the built core);
 * - `stripCredentials`;
 * - `copy headers`: the copy of the caller's headers the http hook makes
 *   before writing the injected ones (it never writes the caller's object).
 *
 * `process.hrtime.bigint()` around batches of 1,000 calls, interleaved, median
 * of 15 samples.
 *
 *   node bench/micro/http-client.js
 */
const { urlToHttpOptions } = require('node:url');
const { FORMAT_HTTP_HEADERS } = require('opentracing');
const { jaegerTracer } = require('../lib/tracers');
const { median, round } = require('../lib/stats');

const BATCH = 1000;
const URL_STRING = 'http://127.0.0.1:3000/users/42?page=2';
const OPTIONS = { protocol: 'http:', hostname: '127.0.0.1', port: 3000, path: '/users/42?page=2', method: 'GET' };
const HEADERS = { accept: 'application/json', 'user-agent': 'otinst-bench', 'x-request-id': 'abc' };

function timeBatch(fn, batches) {
  let total = 0n;
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) fn();
    total += process.hrtime.bigint() - start;
  }
  return Number(total) / (batches * BATCH);
}

function main() {
  // startClientSpan and stripCredentials are adapter internals (@otinst/core/adapter)
  const core = { ...require('@otinst/core'), ...require('@otinst/core/adapter') };
  const opentracing = require('opentracing');
  const { tracer } = jaegerTracer('otinst-bench-http');
  opentracing.initGlobalTracer(tracer);
  const parent = tracer.startSpan('bench parent');
  const tags = {
    'span.kind': 'client',
    component: 'http',
    'http.method': 'GET',
    'http.url': URL_STRING,
    'peer.ipv4': '127.0.0.1',
    'peer.port': 3000,
  };
  const request = () => {
    const headers = {};
    return {
      method: 'GET',
      fullUrl: URL_STRING,
      host: '127.0.0.1',
      port: 3000,
      getHeader: (name) => headers[name],
      setHeader: (name, value) => {
        headers[name] = value;
      },
    };
  };
  let sink;
  // the checks beforeHttpRequest runs on each injected header (internals of the built core)
  const checks = require(require('node:path').join(require.resolve('@otinst/core'), '..', 'client', 'http.js'));
  const cases = {
    span: () => core.startClientSpan('GET', { ...tags }).finish(),
    beforeHttpRequest: () => core.beforeHttpRequest(request(), 'http').finish(),
    'span + inject': () => {
      const span = core.startClientSpan('GET', { ...tags });
      tracer.inject(span.context(), FORMAT_HTTP_HEADERS, {});
      span.finish();
    },
    'url: string input': () => {
      const o = urlToHttpOptions(new URL(URL_STRING));
      sink = `${o.protocol}//${o.hostname}${o.port === 80 ? '' : `:${o.port}`}${o.path}`;
    },
    'url: options input': () => {
      const o = OPTIONS;
      sink = `${o.protocol}//${o.hostname}${o.port === 80 ? '' : `:${o.port}`}${o.path}`;
    },
    'url: fetch': () => {
      sink = core.splitHostAndPort('127.0.0.1:3000', 'http');
      sink = 'http://127.0.0.1:3000' + '/users/42?page=2';
    },
    stripCredentials: () => {
      sink = core.stripCredentials(URL_STRING);
    },
    'copy headers': () => {
      sink = { ...HEADERS };
    },
  };
  // internals: exported from client/http in some versions of the built core only
  if (typeof checks.isSafeHeaderName === 'function' && typeof checks.hasKnownFormat === 'function') {
    cases['header checks'] = () => {
      const name = 'uber-trace-id';
      const value = 'a1b2c3d4e5f60718:a1b2c3d4e5f60718:0:1';
      sink = checks.isSafeHeaderName(name) && checks.isSafeHeaderValue(value) && checks.hasKnownFormat(name, value);
    };
  }
  const values = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  core.runWithSpan(parent, () => {
    // a span must be current for startClientSpan and beforeHttpRequest to make one
    if (core.beforeHttpRequest(request(), 'http') === null) throw new Error('no client span: no current span?');
    for (const fn of Object.values(cases)) timeBatch(fn, 50);
    for (let s = 0; s < 15; s++) for (const [name, fn] of Object.entries(cases)) values[name].push(timeBatch(fn, 20));
  });
  parent.finish();
  void sink;
  const result = { node: process.version, ns: {} };
  for (const name of Object.keys(cases)) result.ns[name] = round(median(values[name]), 0);
  const inject = result.ns['span + inject'] - result.ns.span;
  const rest = result.ns.beforeHttpRequest - result.ns['span + inject'];
  for (const [name, ns] of Object.entries(result.ns)) console.log(`  ${name.padEnd(20)} ${String(ns).padStart(6)} ns`);
  console.log(
    `  inject: ${inject} ns; beforeHttpRequest − (span + inject): ${rest} ns (header checks, setHeader, URL tag)`,
  );
  result.injectNs = inject;
  result.restNs = rest;
  console.log(JSON.stringify(result));
}

main();
