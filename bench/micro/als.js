'use strict';
/**
 * `AsyncLocalStorage` on Node 22, 24 and 26 (issue 16: Node 22 runs it on
 * promise hooks; Node 24 on `AsyncContextFrame`). Each measurement is a fresh
 * process under the line's binary, so that a store created for one case
 * cannot slow another:
 *
 * - `await: no ALS`: an async function awaiting 10 resolved promises, in a
 *   process that never creates an `AsyncLocalStorage` (the floor);
 * - `await: in a store`: the same inside `als.run(store, …)` (the request
 *   path of every traced app);
 * - `run`: `als.run(store, fn)` with an empty `fn`;
 * - `getStore`: inside a store;
 * - `enterWith`: `als.enterWith(store)` (hapi's adapter uses it).
 *
 * ns per await or per call, median of 5 processes per case, interleaved.
 *
 *   node bench/micro/als.js [--node 22 --node 24 --node 26]
 */
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { resolveNode } = require('../lib/nodes');
const { median, round } = require('../lib/stats');

const CASES = ['await: no ALS', 'await: in a store', 'run', 'getStore', 'enterWith'];
const AWAITS = 10;

async function child(name) {
  const N = name.startsWith('await') ? 20000 : 1000000;
  const chain = async () => {
    for (let i = 0; i < AWAITS; i++) await Promise.resolve(i);
  };
  const timeAwaits = async () => {
    for (let i = 0; i < N / 10; i++) await chain(); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await chain();
    return Number(process.hrtime.bigint() - start) / (N * AWAITS);
  };
  let ns;
  if (name === 'await: no ALS') ns = await timeAwaits();
  else {
    const { AsyncLocalStorage } = require('node:async_hooks');
    const als = new AsyncLocalStorage();
    const store = { span: {} };
    const time = (fn) => {
      for (let i = 0; i < N / 10; i++) fn();
      const start = process.hrtime.bigint();
      for (let i = 0; i < N; i++) fn();
      return Number(process.hrtime.bigint() - start) / N;
    };
    const empty = () => {};
    if (name === 'await: in a store') ns = await als.run(store, timeAwaits);
    else if (name === 'run') ns = time(() => als.run(store, empty));
    else if (name === 'getStore') ns = als.run(store, () => time(() => als.getStore()));
    else if (name === 'enterWith') ns = time(() => als.enterWith(store));
  }
  process.stdout.write(JSON.stringify({ ns }));
}

function main() {
  const { values } = parseArgs({ options: { node: { type: 'string', multiple: true } } });
  const lines = (values.node ?? ['22', '24', '26']).map((value) => resolveNode(value));
  const samples = new Map(lines.map((line) => [line.version, Object.fromEntries(CASES.map((c) => [c, []]))]));
  for (let s = 0; s < 5; s++) {
    for (const line of lines) {
      for (const name of s % 2 === 0 ? CASES : CASES.slice().reverse()) {
        const output = execFileSync(line.binary, [path.join(__dirname, 'als.js'), '--child', name], {
          encoding: 'utf8',
        });
        samples.get(line.version)[name].push(JSON.parse(output).ns);
      }
    }
  }
  const result = { date: new Date().toISOString(), lines: {} };
  for (const [version, cases] of samples) {
    result.lines[version] = Object.fromEntries(CASES.map((name) => [name, round(median(cases[name]), 1)]));
  }
  console.log(['case', ...lines.map((l) => l.version)].join('\t'));
  for (const name of CASES) console.log([name, ...lines.map((l) => result.lines[l.version][name])].join('\t'));
  console.log(JSON.stringify(result));
}

if (process.argv[2] === '--child') child(process.argv[3]);
else main();
