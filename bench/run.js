'use strict';
/**
 * `npm run bench`: for each Node line (default 24 and 26), the server
 * benchmark (four frameworks, bare vs otinst with three tracers vs
 * OpenTelemetry vs express-opentracing), the client-hook benchmark
 * (clients.js), the start-up benchmark (startup.js) and the core
 * micro-benchmark (core.js). Prints the tables and the targets, writes one
 * JSON per line; a full run then writes docs/performance.md and the chart
 * (report/index.js). `--help` lists the flags; docs/performance.md explains
 * the method.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseSettings, HELP } = require('./lib/settings');
const { resolveNode } = require('./lib/nodes');
const { runServers } = require('./lib/servers');
const { forkAndWait } = require('./lib/children');
const { variantsFor } = require('./lib/variants');
const { lineSummary } = require('./report/tables');
const { writeReport } = require('./report');

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(__dirname, 'results');

const log = (line) => console.log(line);

/** A binary inside the repository by its relative path; any other (a `--node` path) by its version line only. */
function shownPath(binary) {
  const relative = path.relative(ROOT, binary);
  return relative.startsWith('..') || path.isAbsolute(relative)
    ? `node (${path.basename(path.dirname(path.dirname(binary)))})`
    : relative;
}
const loadAverage = () => os.loadavg().map((load) => Math.round(load * 100) / 100);

/** A rough duration of one line, printed up front so that nobody waits blind. */
function estimateSeconds(settings) {
  let total = 0;
  if (settings.parts.includes('servers')) {
    for (const framework of settings.frameworks) {
      const variants = settings.variants.filter((name) => variantsFor(framework).includes(name)).length;
      const runs = 2 * (variants - 1) * settings.rounds + 1;
      total += variants * (1 + settings.warmup) + runs * (settings.duration + 0.3);
    }
  }
  if (settings.parts.includes('clients')) {
    total +=
      settings.clients.length * (3 * settings.warmup + (4 * settings.clientRounds + 1) * settings.clientDuration);
  }
  if (settings.parts.includes('startup')) total += settings.quick ? 8 : 20;
  if (settings.parts.includes('core')) total += settings.quick ? 5 : 25;
  return Math.round(total);
}

/** Runs clients.js, core.js or startup.js under the line's node binary and returns its result. */
async function runChild(script, settings, node) {
  const previous = process.env.OTINST_BENCH_SETTINGS;
  process.env.OTINST_BENCH_SETTINGS = JSON.stringify(settings);
  try {
    const { message } = await forkAndWait(path.join(__dirname, script), [], node, ['result'], 15 * 60 * 1000);
    return message.result;
  } catch (error) {
    log(`${script} failed: ${error.message}`);
    return { error: error.message };
  } finally {
    if (previous === undefined) delete process.env.OTINST_BENCH_SETTINGS;
    else process.env.OTINST_BENCH_SETTINGS = previous;
  }
}

/** Every selected benchmark under one node binary; returns the results object of that line. */
async function runLine(settings, node) {
  const started = Date.now();
  const cpus = os.cpus();
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model?.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      // other work on the machine skews the figures: recorded so that a reader can tell
      loadAverageAtStart: loadAverage(),
    },
    // the binary relative to the repository: results are committed, machine paths are not
    node: { version: node.version, line: node.line, binary: shownPath(node.binary), loadGenerator: process.version },
    settings: { ...settings, argv: process.argv.slice(2) },
  };
  log(
    `\n=== Node ${node.version} (${node.binary}); autocannon under ${process.version}; ` +
      `${results.machine.cpu}, ${results.machine.cores} cores; about ${estimateSeconds(settings)} s`,
  );
  if (results.machine.loadAverageAtStart[0] > cpus.length / 2) {
    log(`note: load average ${results.machine.loadAverageAtStart[0]} on ${cpus.length} cores: expect noisy ratios`);
  }
  if (settings.parts.includes('servers')) {
    log(`\n== servers: ${settings.rounds} rounds × ${settings.duration} s, ${settings.warmup} s warm-up`);
    results.servers = await runServers(settings, node.binary, log);
  }
  if (settings.parts.includes('clients')) {
    log(`\n== client hooks: ${settings.clientRounds} rounds × ${settings.clientDuration} s`);
    results.clients = await runChild('clients.js', settings, node.binary);
  }
  if (settings.parts.includes('startup')) {
    log('\n== start-up');
    results.startup = await runChild('startup.js', settings, node.binary);
  }
  if (settings.parts.includes('core')) {
    log('\n== core server-span path');
    results.core = await runChild('core.js', settings, node.binary);
  }
  results.seconds = Math.round((Date.now() - started) / 1000);
  results.machine.loadAverageAtEnd = loadAverage();
  return results;
}

async function main() {
  let settings;
  try {
    settings = parseSettings();
  } catch (error) {
    console.error(`${error.message} (see --help)`);
    process.exitCode = 2;
    return;
  }
  if (settings.help) {
    console.log(HELP);
    return;
  }
  // resolve (and install) every line before the first measurement
  const nodes = settings.nodes.map((value) => resolveNode(value, log));
  fs.mkdirSync(RESULTS, { recursive: true });
  const written = [];
  for (const node of nodes) {
    const results = await runLine(settings, node);
    log(`\n${lineSummary(results)}`);
    // only a full default run replaces the committed results
    const name = settings.full ? `node${node.line}.json` : `partial-node${node.line}.json.tmp`;
    fs.writeFileSync(path.join(RESULTS, name), `${JSON.stringify(results, null, 2)}\n`);
    written.push(path.join(RESULTS, name));
    log(`\nwrote bench/results/${name} (${results.seconds} s)`);
  }
  if (settings.full) {
    log(`wrote ${writeReport().join(' and ')}`);
  } else {
    log(
      `not a full run: the docs keep the committed figures (node bench/report ${written.map((f) => path.relative(ROOT, f)).join(' ')} writes them)`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
