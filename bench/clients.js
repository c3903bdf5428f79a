'use strict';
/**
 * Client-hook benchmark: how many operations per second a client library
 * does without otinst's hook (bare), with the hook and an active span
 * (jaeger-client, const sampler, dropping reporter: every call makes a
 * client span), and with the hook but no active span (the hook must get out
 * of the way). Each mode runs for a fixed time with a few concurrent loops,
 * interleaved with bare runs (lib/interleave.js); hooks are installed and
 * uninstalled between modes in the same process.
 *
 *   node bench/clients.js [--quick] [--client pg,redis,http,fetch] [--client-rounds N] [--client-duration S]
 *
 * Needs the built packages (`npx tsc -b`). PostgreSQL (127.0.0.1:5432, user
 * postgres, db test; PGHOST, PGPORT, PGUSER, PGDATABASE move it) and Redis
 * (REDIS_URL, default redis://127.0.0.1:6379) are skipped with a message when
 * they do not answer. Run by `run.js` under the `--node` binary; sends
 * its result over IPC when it has a parent.
 */
const path = require('node:path');
const http = require('node:http');
const { runChildMain } = require('./lib/settings');
const { jaegerTracer } = require('./lib/tracers');
const { forkAndWait, stop } = require('./lib/children');
const { median, round } = require('./lib/stats');
const { interleave, bareSpread } = require('./lib/interleave');

/** Concurrent loops per client: enough to keep the client process busy, few enough for a 2-core machine. */
const CONCURRENCY = { pg: 4, redis: 8, http: 8, fetch: 8 };

/** Each client: how to connect (throws when the service is down), the operation, how to close. */
const CLIENTS = {
  async pg() {
    const { Pool } = require('pg');
    // the libpq variables move it elsewhere
    const pool = new Pool({
      host: process.env.PGHOST || '127.0.0.1',
      port: Number(process.env.PGPORT || 5432),
      user: process.env.PGUSER || 'postgres',
      database: process.env.PGDATABASE || 'test',
      max: CONCURRENCY.pg,
      connectionTimeoutMillis: 2000,
    });
    pool.on('error', () => {});
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return { operation: 'pg SELECT 1 (pool)', call: () => pool.query('SELECT 1'), close: () => pool.end() };
  },

  async redis() {
    const { createClient } = require('redis');
    const client = createClient({
      url: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
      socket: { connectTimeout: 2000, reconnectStrategy: false },
    });
    client.on('error', () => {});
    await client.connect();
    // a key of this process only: other engineers' tests share the server
    const key = `otinst:bench:${process.pid}`;
    await client.set(key, 'value');
    const close = async () => {
      await client.del(key);
      await client.quit();
    };
    return { operation: 'redis GET (node-redis)', call: () => client.get(key), close };
  },

  async http(server) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY.http });
    const options = { host: '127.0.0.1', port: server.port, path: '/ok', agent };
    const call = () =>
      new Promise((resolve, reject) => {
        const request = http.get(options, (response) => {
          response.on('data', () => {});
          response.on('end', resolve);
          response.on('error', reject);
        });
        request.on('error', reject);
      });
    await call();
    return { operation: 'http.get (keep-alive agent)', call, close: () => agent.destroy() };
  },

  async fetch(server) {
    const url = `http://127.0.0.1:${server.port}/ok`;
    const call = async () => {
      const response = await fetch(url);
      await response.text();
    };
    await call();
    return { operation: 'fetch', call, close: () => {} };
  },
};

/** `concurrency` loops calling `call` until `seconds` are up; returns operations per second and per CPU-second. */
async function loop(call, seconds, concurrency, span, core) {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await call();
      count++;
    }
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const workers = [];
  for (let i = 0; i < concurrency; i++) workers.push(span ? core.runWithSpan(span, worker) : worker());
  await Promise.all(workers);
  // operations per CPU-second of this process: moves far less than ops/s when the machine is shared
  const cpu = process.cpuUsage(cpuBefore);
  const rate = count / ((performance.now() - started) / 1000);
  return { rate, cpuRate: count / ((cpu.user + cpu.system) / 1e6), ops: count };
}

async function benchClient(name, client, settings, context, log) {
  const { core, tracer, reporterCount } = context;
  const concurrency = CONCURRENCY[name];
  const spans = { active: 0, activeOps: 0, none: 0 };
  const run = async (mode, seconds) => {
    if (mode === 'bare') core.uninstallPatches();
    else core.installPatches([name]);
    const parent = mode === 'active' ? tracer.startSpan('bench parent') : null;
    const before = reporterCount();
    const result = await loop(client.call, seconds, concurrency, parent, core);
    if (parent) parent.finish();
    // the parent span itself is reported too: not a client span
    result.spans = reporterCount() - before - (parent ? 1 : 0);
    return result;
  };
  // warm-up: JIT the library with and without the hook (undici's fetch needs seconds to reach its pace)
  for (const mode of ['bare', 'active', 'none']) await run(mode, settings.warmup);

  const { runs, ratios, ratio } = await interleave(['active', 'none'], settings.clientRounds, async (mode) => {
    const result = await run(mode, settings.clientDuration);
    if (mode === 'active') {
      spans.active += result.spans;
      spans.activeOps += result.ops;
    }
    if (mode === 'none') spans.none += result.spans;
    log(`  ${name.padEnd(6)} ${mode.padEnd(7)} ${Math.round(result.rate).toLocaleString('en-US').padStart(7)} ops/s`);
    return result;
  });
  core.uninstallPatches();
  const summary = (mode) => ({
    opsPerSec: round(median(runs.get(mode).map((result) => result.rate)), 0),
    ratio: ratio(mode),
    ratios: mode === 'bare' ? undefined : ratios(mode).map((value) => round(value, 3)),
    cpuUsPerOp: round(median(runs.get(mode).map((result) => 1e6 / result.cpuRate)), 2),
    cpuRatio: ratio(mode, 'cpuRate'),
    runs: runs.get(mode).map((result) => round(result.rate, 0)),
  });
  return {
    operation: client.operation,
    concurrency,
    bareSpread: bareSpread(runs),
    bare: summary('bare'),
    active: { ...summary('active'), spansPerOp: spans.activeOps ? round(spans.active / spans.activeOps, 2) : null },
    none: { ...summary('none'), spans: spans.none },
  };
}

async function runClients(settings, log = console.log) {
  const core = require('@otinst/core');
  const opentracing = require('opentracing');
  const jaeger = jaegerTracer('otinst-bench-clients');
  opentracing.initGlobalTracer(jaeger.tracer);
  const context = { core, tracer: jaeger.tracer, reporterCount: () => jaeger.stats().spans };
  const echo = await forkAndWait(path.join(__dirname, 'lib', 'echo-server.js'), [], process.execPath, ['ready'], 10000);
  const server = { port: echo.message.port };
  const results = { node: process.version, clients: {} };
  try {
    for (const name of settings.clients) {
      let client;
      try {
        client = await CLIENTS[name](server);
      } catch (error) {
        const reason = `${name} is not reachable (${error.code || error.message}): skipped`;
        log(`  ${reason}`);
        results.clients[name] = { skipped: reason };
        continue;
      }
      try {
        results.clients[name] = await benchClient(name, client, settings, context, log);
      } finally {
        await client.close();
      }
    }
  } finally {
    core.uninstallPatches();
    await stop(echo.child);
  }
  return results;
}

if (require.main === module) runChildMain(runClients, (result) => JSON.stringify(result, null, 2));

module.exports = { runClients };
