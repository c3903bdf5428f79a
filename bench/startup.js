'use strict';
/**
 * Start-up benchmark: what creating an adapter costs next to the libraries
 * the application loads itself. Each sample is a fresh process under the
 * line's node binary that reports the time since the process started
 * (`performance.now()`) and its RSS after doing one of:
 *
 * - `node`: nothing (the floor: Node's own start);
 * - `express`: `require('express')` and `express()`;
 * - `express+otinst`: the same, then `require('@otinst/express')` and
 *   `app.use(tracingMiddleware(globalTracer(), { clientHooks: true }))`
 *   (`clientHooks: true` is the default).
 *
 * The target holds when otinst's addition (express+otinst − express) is at
 * most what express itself adds (express − node), in time and in RSS. The
 * kinds run interleaved, the median of the samples is reported, and the
 * modules the adapter loaded are listed (client libraries loaded on the
 * application's behalf show there).
 *
 *   node bench/startup.js [--quick]
 */
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { runChildMain } = require('./lib/settings');
const { median, round } = require('./lib/stats');

const KINDS = ['node', 'express', 'express+otinst'];

/** Runs in the measured process: does the work of `kind`, prints what it cost. */
function child(kind) {
  const loadedBefore = new Set(Object.keys(require.cache));
  let added = [];
  if (kind !== 'node') {
    const express = require('express');
    const app = express();
    if (kind === 'express+otinst') {
      const before = new Set(Object.keys(require.cache));
      const { tracingMiddleware } = require('@otinst/express');
      // the documented form (API.md): tracer (here the global no-op one), then options
      app.use(tracingMiddleware(require('opentracing').globalTracer(), { clientHooks: true }));
      added = Object.keys(require.cache).filter((file) => !before.has(file));
    }
  }
  const ms = performance.now();
  const rss = process.memoryUsage().rss;
  // the packages the adapter loaded, by name (node_modules/<name>/ or node_modules/@scope/name/)
  const packages = new Set();
  for (const file of added) {
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](?!.*node_modules)/.exec(file);
    // otinst's own packages resolve to the workspace folders (packages/<name>/dist)
    const own = /[\\/]packages[\\/]([^\\/]+)[\\/]dist[\\/]/.exec(file);
    if (match) packages.add(match[1].replace('\\', '/'));
    else if (own) packages.add(`@otinst/${own[1]}`);
  }
  process.stdout.write(
    JSON.stringify({
      ms,
      rss,
      modules: Object.keys(require.cache).length - loadedBefore.size,
      packages: [...packages],
    }),
  );
}

function sampleOnce(kind) {
  const output = execFileSync(process.execPath, [path.join(__dirname, 'startup.js'), '--child', kind], {
    encoding: 'utf8',
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, OTINST_BENCH_SETTINGS: '' },
  });
  return JSON.parse(output);
}

async function runStartup(settings, log = console.log) {
  const samples = settings.quick ? 5 : 11;
  const values = Object.fromEntries(KINDS.map((kind) => [kind, []]));
  for (const kind of KINDS) sampleOnce(kind); // the file system cache, not the first sample, pays for cold disks
  for (let s = 0; s < samples; s++) {
    for (const kind of s % 2 === 0 ? KINDS : KINDS.slice().reverse()) values[kind].push(sampleOnce(kind));
  }
  const kinds = {};
  for (const kind of KINDS) {
    kinds[kind] = {
      ms: round(median(values[kind].map((v) => v.ms)), 1),
      rssMiB: round(median(values[kind].map((v) => v.rss)) / 2 ** 20, 1),
      modules: median(values[kind].map((v) => v.modules)),
    };
  }
  const otinst = values['express+otinst'][0];
  const result = {
    node: process.version,
    samples,
    kinds,
    express: {
      ms: round(kinds.express.ms - kinds.node.ms, 1),
      rssMiB: round(kinds.express.rssMiB - kinds.node.rssMiB, 1),
    },
    adapter: {
      ms: round(kinds['express+otinst'].ms - kinds.express.ms, 1),
      rssMiB: round(kinds['express+otinst'].rssMiB - kinds.express.rssMiB, 1),
      packages: otinst.packages.sort(),
    },
  };
  log(
    `  express adds ${result.express.ms} ms, ${result.express.rssMiB} MiB; ` +
      `the adapter adds ${result.adapter.ms} ms, ${result.adapter.rssMiB} MiB ` +
      `(loads ${result.adapter.packages.join(', ')})`,
  );
  return result;
}

if (process.argv[2] === '--child') child(process.argv[3]);
else if (require.main === module) runChildMain(runStartup, (r) => JSON.stringify(r, null, 2));

module.exports = { runStartup };
