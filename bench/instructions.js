'use strict';
/**
 * Instructions per request, counted by valgrind's callgrind: the judge that a
 * shared machine cannot move. Throughput on this kind of host swings by 20–80 %
 * between two runs of the same bare server (docs/performance.md), more than the
 * overheads the targets speak of; the number of instructions a server executes
 * per request is the same, run after run, within a few tenths of a per cent,
 * whatever else the machine does.
 *
 * Each server variant (`bench/server.js`, the app of the throughput benchmark)
 * runs under callgrind with counting switched off while it warms up
 * (`--warmup-requests`, so that V8 has optimised the hot code), then counts
 * `--requests` requests, sent by this process one after another over one
 * keep-alive connection: each request is a turn of the event loop of its own
 * (with several connections, how many requests one turn reads depends on
 * timing, and the count moved by 2 %; with one, a run repeats the count within 0.05 %). A
 * turn per request costs more than under the throughput benchmark's 50
 * connections, so the ratios here are somewhat kinder to every variant than
 * throughput would be: the instructions a variant adds per request are the
 * figure to compare.
 * The ratio bare ÷ variant is what the variant's throughput ratio would be if
 * every instruction cost the same: it leaves out cache misses and the
 * machine's noise, and keeps the garbage collector and the JIT (counted on all
 * threads).
 *
 *   node bench/instructions.js [--node 24] [--framework a,b] [--variant a,b]
 *                              [--warmup-requests N] [--requests N] [--jobs N]
 *
 * `npm run bench:instructions` runs it on Node 24 and 26 and writes
 * bench/results/instructions-node<major>.json; about 15 minutes per line on
 * two cores. Needs valgrind (Debian package `valgrind`) and the built
 * packages (`npx tsc -b`).
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { resolveNode } = require('./lib/nodes');
const { round } = require('./lib/stats');
const { FRAMEWORKS, VARIANT_NAMES } = require('./lib/variants');

const SERVER = path.join(__dirname, 'server.js');
const RESULTS = path.join(__dirname, 'results');
const DEFAULT_VARIANTS = ['bare', 'otinst-noop', 'otinst-jaeger', 'otel'];
/** Keep-alive connections the requests are spread over (see above: one). */
const SOCKETS = 1;

function list(value, allowed, flag) {
  const items = value.split(',').map((item) => item.trim());
  for (const item of items) {
    if (!allowed.includes(item)) throw new Error(`${flag} ${item}: not one of ${allowed.join(', ')}`);
  }
  return items;
}

function positive(value, flag) {
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new Error(`${flag} ${value}: a positive whole number, please`);
  return number;
}

function parseSettings(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      node: { type: 'string', multiple: true },
      framework: { type: 'string' },
      variant: { type: 'string' },
      'warmup-requests': { type: 'string' },
      requests: { type: 'string' },
      jobs: { type: 'string' },
    },
  });
  const variants = values.variant ? list(values.variant, VARIANT_NAMES, '--variant') : DEFAULT_VARIANTS;
  return {
    nodes: values.node ?? ['24'],
    frameworks: values.framework ? list(values.framework, FRAMEWORKS, '--framework') : FRAMEWORKS,
    variants: variants.includes('bare') ? variants : ['bare', ...variants],
    warmupRequests: positive(values['warmup-requests'] ?? '40000', '--warmup-requests'),
    requests: positive(values.requests ?? '4000', '--requests'),
    jobs: positive(values.jobs ?? String(Math.max(1, Math.min(2, os.availableParallelism()))), '--jobs'),
    full: !values.framework && !values.variant,
  };
}

/** `count` GET requests over `SOCKETS` keep-alive connections; rejects on the first failure. */
async function send(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS });
  const one = () =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/users/42', agent }, (response) => {
          if (response.statusCode !== 200) reject(new Error(`status ${response.statusCode}`));
          response.resume();
          response.on('end', resolve);
        })
        .on('error', reject);
    });
  let left = count;
  const loop = async () => {
    while (left-- > 0) await one();
  };
  try {
    await Promise.all(Array.from({ length: SOCKETS }, loop));
  } finally {
    agent.destroy();
  }
}

/** The instruction total of the dump callgrind wrote on request (not the one at exit). */
function dumpedInstructions(prefix) {
  const dir = path.dirname(prefix);
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(path.basename(prefix))) continue;
    const text = fs.readFileSync(path.join(dir, name), 'utf8');
    const summary = /^summary: (\d+)$/m.exec(text);
    if (/^desc: Trigger: dump/m.test(text) && summary) return Number(summary[1]);
  }
  throw new Error('callgrind wrote no dump');
}

/** One variant under callgrind: instructions per request, counted after the warm-up. */
function measure(node, framework, variant, settings, dir) {
  const prefix = path.join(dir, `${framework}.${variant}.out`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      // V8 writes and rewrites its machine code
      '--smc-check=all-non-file',
      `--callgrind-out-file=${prefix}`,
      node.binary,
      // compilation and garbage collection on the main thread, and V8's heuristics on counts rather
      // than on the clock: when code is optimised and when the heap grows no longer depend on how fast
      // valgrind runs the process (two runs of the same variant: within 0.05 %, against 3 % without)
      '--single-threaded',
      '--predictable',
      SERVER,
      framework,
      variant,
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const control = (...args) => execFileSync('callgrind_control', [...args, String(child.pid)], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${framework} ${variant}: exited with ${code}\n${stderr}`));
    });
    child.on('message', async (message) => {
      if (message?.type === 'unavailable') {
        child.kill();
        resolve({ unavailable: message.reason });
        return;
      }
      if (message?.type !== 'ready') return;
      try {
        await send(message.port, settings.warmupRequests);
        control('--instr=on');
        control('--zero');
        await send(message.port, settings.requests);
        control('--dump');
        control('--instr=off');
        child.send({ type: 'exit' });
        child.once('exit', () => {
          try {
            resolve({ instructionsPerRequest: Math.round(dumpedInstructions(prefix) / settings.requests) });
          } catch (error) {
            reject(error);
          }
        });
      } catch (error) {
        child.kill();
        reject(error);
      }
    });
  });
}

/** Runs `tasks` (functions returning promises) `jobs` at a time, in order of start. */
async function pool(tasks, jobs) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  return results;
}

async function runLine(node, settings) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otinst-instructions-'));
  const started = Date.now();
  const tasks = [];
  for (const framework of settings.frameworks) {
    for (const variant of settings.variants) {
      tasks.push(async () => {
        const result = await measure(node, framework, variant, settings, dir);
        const shown =
          result.unavailable ?? `${result.instructionsPerRequest.toLocaleString('en-US')} instructions/request`;
        console.log(`  ${node.version} ${framework.padEnd(8)} ${variant.padEnd(20)} ${shown}`);
        return { framework, variant, ...result };
      });
    }
  }
  let measured;
  try {
    measured = await pool(tasks, settings.jobs);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const frameworks = {};
  for (const { framework, variant, ...result } of measured) (frameworks[framework] ??= {})[variant] = result;
  for (const variants of Object.values(frameworks)) {
    const bare = variants.bare?.instructionsPerRequest;
    for (const result of Object.values(variants)) {
      if (bare !== undefined && result.instructionsPerRequest !== undefined) {
        result.ratio = round(bare / result.instructionsPerRequest, 3);
      }
    }
  }
  return {
    node: node.version,
    date: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 1000),
    warmupRequests: settings.warmupRequests,
    requests: settings.requests,
    sockets: SOCKETS,
    frameworks,
  };
}

/** The targets that speak of server throughput, judged on instructions. */
function verdicts(line) {
  const rows = [];
  for (const [framework, variants] of Object.entries(line.frameworks)) {
    const noop = variants['otinst-noop']?.ratio;
    if (noop !== undefined) {
      rows.push([`${framework}: otinst + no-op ≥ 0.9 of bare`, `${noop.toFixed(3)}`, noop >= 0.9]);
    }
    const jaeger = variants['otinst-jaeger']?.ratio;
    const otel = variants.otel?.ratio;
    if (jaeger !== undefined && otel !== undefined) {
      const fraction = (1 - jaeger) / (1 - otel);
      const text = `${((1 - jaeger) * 100).toFixed(1)}% vs ${((1 - otel) * 100).toFixed(1)}% (${fraction.toFixed(2)} of it)`;
      rows.push([`${framework}: otinst + jaeger overhead ≤ 1/3 of OpenTelemetry's`, text, fraction <= 1 / 3]);
    }
  }
  return rows;
}

function table(lines) {
  const out = [];
  const frameworks = [...new Set(lines.flatMap((line) => Object.keys(line.frameworks)))];
  out.push(
    `| framework | variant | ${lines.map((line) => `${line.node} instructions/request | ratio`).join(' | ')} |`,
    `| --- | --- | ${lines.map(() => '---: | ---:').join(' | ')} |`,
  );
  for (const framework of frameworks) {
    const variants = [...new Set(lines.flatMap((line) => Object.keys(line.frameworks[framework] ?? {})))];
    for (const variant of variants) {
      const cells = lines.map((line) => {
        const result = line.frameworks[framework]?.[variant];
        if (result?.instructionsPerRequest === undefined) return '– | –';
        return `${result.instructionsPerRequest.toLocaleString('en-US')} | ${result.ratio?.toFixed(3) ?? '–'}`;
      });
      out.push(`| ${framework} | ${variant} | ${cells.join(' | ')} |`);
    }
  }
  out.push(
    '',
    `| target | ${lines.map((line) => line.node).join(' | ')} |`,
    `| --- | ${lines.map(() => '---').join(' | ')} |`,
  );
  const byTarget = new Map();
  lines.forEach((line, index) => {
    for (const [target, text, met] of verdicts(line)) {
      if (!byTarget.has(target)) byTarget.set(target, new Array(lines.length).fill('–'));
      byTarget.get(target)[index] = `${text} — ${met ? 'met' : '**not met**'}`;
    }
  });
  for (const [target, cells] of byTarget) out.push(`| ${target} | ${cells.join(' | ')} |`);
  return out.join('\n');
}

async function main() {
  const settings = parseSettings(process.argv.slice(2));
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('bench/instructions.js needs valgrind (Debian: apt-get install valgrind)');
    process.exit(2);
  }
  const lines = [];
  for (const value of settings.nodes) {
    const node = resolveNode(value);
    console.log(`== ${node.version}: ${settings.warmupRequests} warm-up requests, then ${settings.requests} counted`);
    const line = await runLine(node, settings);
    lines.push(line);
    const file = settings.full
      ? path.join(RESULTS, `instructions-node${node.line}.json`)
      : path.join(RESULTS, `partial-instructions-node${node.line}.json.tmp`);
    fs.writeFileSync(file, `${JSON.stringify(line, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), file)} (${line.seconds} s)`);
  }
  console.log(`\n${table(lines)}`);
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
