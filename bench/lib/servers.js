'use strict';
/**
 * The server benchmark: for each framework, every variant in its own server
 * process (under the node binary of the line), loaded by autocannon from this
 * process, runs interleaved with the bare app's (interleave.js).
 */
const path = require('node:path');
const http = require('node:http');
const autocannon = require('autocannon');
const { VARIANTS, variantsFor } = require('./variants');
const { forkAndWait, ask, stop } = require('./children');
const { median, round } = require('./stats');
const { interleave, bareSpread } = require('./interleave');

const SERVER = path.join(__dirname, '..', 'server.js');
const EXPECTED_BODY = JSON.stringify({ id: '42', name: 'user 42', active: true });

function load(port, seconds, connections) {
  return autocannon({
    url: `http://127.0.0.1:${port}/users/42`,
    connections,
    duration: seconds,
    pipelining: 1,
    // short runs: sample often so the stop timer is honoured, not rounded up to a second
    sampleInt: 250,
  }).then((result) => ({
    rate: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    seconds: result.duration,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }));
}

/** One GET through a fresh connection: the app must answer exactly what the bare app answers. */
function check(port) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/users/42', agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`GET /users/42 answered ${response.statusCode}: ${body}`));
        else if (JSON.stringify(JSON.parse(body)) !== EXPECTED_BODY) reject(new Error(`unexpected body ${body}`));
        else resolve();
      });
    });
    request.on('error', reject);
  });
}

async function startServer(framework, variant, node, log) {
  const started = performance.now();
  try {
    const { child, message } = await forkAndWait(SERVER, [framework, variant], node, ['ready', 'unavailable'], 60000);
    if (message.type === 'unavailable') {
      await stop(child);
      log(`  ${variant}: skipped: ${message.reason}`);
      return { variant, unavailable: message.reason };
    }
    // fork to listening: process start, module loading, instrumentation set-up
    const startupMs = Math.round(performance.now() - started);
    await check(message.port);
    return { variant, child, port: message.port, node: message.node, served: 1, startupMs };
  } catch (error) {
    log(`  ${variant}: skipped: ${error.message}`);
    return { variant, unavailable: error.message };
  }
}

/** The server process's CPU time so far (µs), or null when it does not answer. */
function cpuMicros(child) {
  return ask(child, { type: 'cpu' }, 'cpu', 5000).then(
    (answer) => answer.micros,
    () => null,
  );
}

function describeRun(run) {
  const problems = run.errors + run.non2xx > 0 ? `  (${run.errors} errors, ${run.non2xx} non-2xx)` : '';
  const cpu = run.cpuUsPerRequest === undefined ? '' : `  ${run.cpuUsPerRequest.toFixed(1)} µs CPU/req`;
  return `${Math.round(run.rate).toLocaleString('en-US').padStart(7)} req/s  p50 ${run.p50} ms  p99 ${run.p99} ms${cpu}${problems}`;
}

async function benchFramework(framework, settings, node, log) {
  const names = settings.variants.filter((name) => variantsFor(framework).includes(name));
  log(`\n${framework}: starting ${names.length} servers (${names.join(', ')})`);
  const servers = new Map();
  for (const name of names) servers.set(name, await startServer(framework, name, node, log));
  const bare = servers.get('bare');
  const result = { node: bare.node ?? null, variants: {} };
  try {
    if (bare.unavailable) throw new Error(`the bare ${framework} server did not start: ${bare.unavailable}`);
    const live = names.filter((name) => name !== 'bare' && !servers.get(name).unavailable);
    for (const name of ['bare', ...live]) {
      const server = servers.get(name);
      server.served += (await load(server.port, settings.warmup, settings.connections)).requests;
    }
    const { runs, ratios, ratio } = await interleave(live, settings.rounds, async (name, label) => {
      const server = servers.get(name);
      const cpuBefore = await cpuMicros(server.child);
      const run = await load(server.port, settings.duration, settings.connections);
      const cpuAfter = await cpuMicros(server.child);
      server.served += run.requests;
      if (cpuBefore !== null && cpuAfter !== null && cpuAfter > cpuBefore) {
        run.cpuUsPerRequest = (cpuAfter - cpuBefore) / run.requests;
        run.cpuRate = 1e6 / run.cpuUsPerRequest;
      }
      log(`  ${label.padEnd(4)} ${name.padEnd(20)} ${describeRun(run)}`);
      return run;
    });
    result.bareSpread = bareSpread(runs);
    if (result.bareSpread > 0.1) {
      log(
        `  note: bare ${framework} req/s varied by ${Math.round(result.bareSpread * 100)}% between its runs: noisy machine`,
      );
    }
    for (const name of names) {
      const server = servers.get(name);
      if (server.unavailable) {
        result.variants[name] = { description: VARIANTS[name].description, unavailable: server.unavailable };
        continue;
      }
      const own = runs.get(name);
      const stats = server.child.connected
        ? await ask(server.child, { type: 'stats' }, 'stats').catch((error) => {
            log(`  ${name}: no span count (${error.message})`);
            return {};
          })
        : {};
      result.variants[name] = {
        description: VARIANTS[name].description,
        reqPerSec: round(median(own.map((run) => run.rate)), 0),
        p50: median(own.map((run) => run.p50)),
        p99: median(own.map((run) => run.p99)),
        ratio: ratio(name),
        ratios: name === 'bare' ? undefined : ratios(name).map((value) => round(value, 3)),
        cpuUsPerRequest: round(median(own.map((run) => run.cpuUsPerRequest)), 1),
        cpuRatio: ratio(name, 'cpuRate'),
        errors: own.reduce((sum, run) => sum + run.errors + run.non2xx, 0),
        spans: stats.spans ?? null,
        spansPerRequest: typeof stats.spans === 'number' ? round(stats.spans / server.served, 2) : null,
        spanNames: stats.names ?? (stats.lastName ? [stats.lastName] : undefined),
        startupMs: server.startupMs,
        runs: own.map((run) => ({
          reqPerSec: round(run.rate, 0),
          p50: run.p50,
          p99: run.p99,
          seconds: run.seconds,
          cpuUsPerRequest: round(run.cpuUsPerRequest, 1),
          errors: run.errors + run.non2xx,
        })),
      };
    }
  } finally {
    await Promise.all([...servers.values()].filter((server) => server.child).map((server) => stop(server.child)));
  }
  return result;
}

/** Runs every selected framework; a framework whose bare server fails is reported and skipped. */
async function runServers(settings, node, log) {
  // the server processes read it from their environment (fork passes process.env)
  if (settings.otinstOptions !== undefined) process.env.OTINST_BENCH_OTINST_OPTIONS = settings.otinstOptions;
  const results = {};
  for (const framework of settings.frameworks) {
    try {
      results[framework] = await benchFramework(framework, settings, node, log);
    } catch (error) {
      log(`${framework}: failed: ${error.message}`);
      results[framework] = { error: error.message, variants: {} };
    }
  }
  return results;
}

module.exports = { runServers };
