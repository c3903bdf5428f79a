'use strict';
/**
 * `npm run bench`: the server benchmark (four frameworks, bare vs otinst with
 * three tracers vs OpenTelemetry vs express-opentracing), the client-hook
 * benchmark (bench/clients.js) and the core micro-benchmark (bench/core.js).
 * Prints the tables, writes the JSON and draws the chart. `--help` lists
 * the flags; docs/performance.md explains the method.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseSettings, nodeVersion, HELP } = require('./lib/settings');
const { runServers } = require('./lib/servers');
const { forkAndWait } = require('./lib/children');
const { variantsFor } = require('./lib/variants');
const report = require('./lib/report');

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(__dirname, 'results');
const DOC = path.join(ROOT, 'docs', 'performance.md');
const CHART = path.join(ROOT, 'docs', 'performance.svg');
const DOC_START = '<!-- bench:results:start -->';
const DOC_END = '<!-- bench:results:end -->';

function log(line) {
  console.log(line);
}

/** A rough duration, printed up front so that nobody waits blind. */
function estimateSeconds(settings) {
  let total = 0;
  if (settings.servers) {
    for (const framework of settings.frameworks) {
      const variants = settings.variants.filter((name) => variantsFor(framework).includes(name));
      const others = variants.length - 1;
      const runs = others === 0 ? settings.rounds : 2 * others * settings.rounds + 1;
      total += variants.length * (1.5 + settings.warmup) + runs * (settings.duration + 0.3);
    }
  }
  if (settings.clientHooks) {
    total += settings.clients.length * (1.5 + (1 + 3 * settings.clientRounds) * settings.clientDuration);
  }
  if (settings.core) total += settings.quick ? 5 : 25;
  return Math.round(total);
}

/** Runs bench/clients.js or bench/core.js under the chosen node binary and returns its result. */
async function runChild(script, settings) {
  const { message } = await forkAndWait(
    path.join(__dirname, script),
    process.argv.slice(2),
    settings.node,
    ['result'],
    15 * 60 * 1000,
  );
  return message.result;
}

function updateDoc(markdown) {
  if (!fs.existsSync(DOC)) return false;
  const text = fs.readFileSync(DOC, 'utf8');
  const start = text.indexOf(DOC_START);
  const end = text.indexOf(DOC_END);
  if (start === -1 || end < start) return false;
  fs.writeFileSync(DOC, `${text.slice(0, start + DOC_START.length)}\n${markdown}\n${text.slice(end)}`);
  return true;
}

async function main() {
  let settings;
  try {
    settings = parseSettings();
  } catch (error) {
    console.error(error.message);
    process.exitCode = 2;
    return;
  }
  if (settings.help) {
    console.log(HELP);
    return;
  }
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
      loadAverageAtStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
    },
    node: { servers: nodeVersion(settings.node), loadGenerator: process.version, binary: settings.node },
    settings: {
      full: settings.full,
      quick: settings.quick,
      rounds: settings.rounds,
      duration: settings.duration,
      warmup: settings.warmup,
      connections: settings.connections,
      pipelining: 1,
      frameworks: settings.frameworks,
      variants: settings.variants,
      clients: settings.clients,
      clientRounds: settings.clientRounds,
      clientDuration: settings.clientDuration,
      otinstOptions: settings.otinstOptions,
      argv: process.argv.slice(2),
    },
  };
  log(
    `otinst bench: servers under Node ${results.node.servers} (${settings.node}), autocannon under ${process.version}; ` +
      `${results.machine.cpu}, ${results.machine.cores} cores; about ${estimateSeconds(settings)} s`,
  );

  if (settings.servers) {
    log(
      `\n== servers: ${settings.rounds} rounds x ${settings.duration} s, ${settings.warmup} s warm-up, ` +
        `${settings.connections} connections`,
    );
    results.servers = await runServers(settings, log);
  }
  if (settings.clientHooks) {
    log(`\n== client hooks: ${settings.clientRounds} rounds x ${settings.clientDuration} s`);
    try {
      results.clients = await runChild('clients.js', settings);
    } catch (error) {
      log(`client benchmark failed: ${error.message}`);
      results.clients = { error: error.message, clients: {} };
    }
  }
  if (settings.core) {
    log('\n== core server-span path');
    try {
      results.core = await runChild('core.js', settings);
    } catch (error) {
      log(`core benchmark failed: ${error.message}`);
      results.core = { error: error.message, rows: [] };
    }
  }
  results.seconds = Math.round((Date.now() - started) / 1000);
  results.machine.loadAverageAtEnd = os.loadavg().map((load) => Math.round(load * 100) / 100);
  results.targets = report.targets(results);

  log(`\n${report.runLine(results)}`);
  if (results.servers) log(`\n${report.serversTable(results.servers)}`);
  if (results.clients) log(`\n${report.clientsTable(results.clients)}`);
  if (results.core) log(`\n${report.coreTable(results.core)}`);
  if (results.targets.length > 0) log(`\n${report.targetsTable(results.targets)}`);

  fs.mkdirSync(RESULTS, { recursive: true });
  // only a full default run replaces the committed results, the chart and the doc's table
  const out = settings.out
    ? path.resolve(settings.out)
    : path.join(RESULTS, settings.full ? 'latest.json' : 'partial.json.tmp');
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const chart = settings.full ? CHART : path.join(RESULTS, 'partial.svg.tmp');
  fs.writeFileSync(chart, report.svgChart(results));
  log(`\nwrote ${path.relative(ROOT, out)} and ${path.relative(ROOT, chart)} in ${results.seconds} s`);
  if (settings.full && updateDoc(report.markdown(results))) log(`updated the results in ${path.relative(ROOT, DOC)}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
