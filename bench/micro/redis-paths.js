'use strict';
/**
 * node-redis 6 publishes `TracingChannel`s (`node-redis:command`). Issue 16
 * asked whether subscribing to them costs more than wrapping the client; this
 * measured that the wrapper is cheaper, and the redis hook now patches every
 * copy it can, subscribing only for a publishing copy it cannot patch. Same
 * process, same client, a `GET` loop (8 concurrent) under an active
 * jaeger-client span, in three modes interleaved with lib/interleave.js:
 *
 * - `bare`: no hook;
 * - `channels`: the channel path forced on the copy
 *   (`instrumentRedisClient(@redis/client, { useChannels: true })`, an
 *   internal of the built core);
 * - `patched`: `installPatches(['redis'])`, the hook's choice.
 *
 * Reports ops/s, the ratio to bare and the process's CPU time per operation
 * (`process.cpuUsage()`: less sensitive to the shared Redis server than ops/s).
 *
 *   node bench/micro/redis-paths.js [--rounds N] [--seconds S]
 */
const path = require('node:path');
const { parseArgs } = require('node:util');
const { jaegerTracer } = require('../lib/tracers');
const { interleave } = require('../lib/interleave');
const { median, round } = require('../lib/stats');

const CONCURRENCY = 8;

async function main() {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 5);
  const seconds = Number(values.seconds ?? 1);
  const core = require('@otinst/core');
  const { instrumentRedisClient, hook } = require(
    path.join(require.resolve('@otinst/core'), '..', 'hooks', 'redis.js'),
  );
  const opentracing = require('opentracing');
  const jaeger = jaegerTracer('otinst-bench-redis');
  opentracing.initGlobalTracer(jaeger.tracer);
  const redisClient = require('@redis/client');
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  await client.connect();
  const key = `otinst:bench:redis-paths:${process.pid}`;
  await client.set(key, 'value');

  const setMode = (mode) => {
    core.uninstallPatches();
    // the forced channel subscription is no installed hook's: undone by the hook itself
    hook.unpatch();
    if (mode === 'channels') instrumentRedisClient(redisClient, { useChannels: true });
    if (mode === 'patched') core.installPatches(['redis']);
  };
  const run = async (mode, duration) => {
    setMode(mode);
    const parent = jaeger.tracer.startSpan('bench parent');
    const spansBefore = jaeger.stats().spans;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + duration * 1000;
    let ops = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        await client.get(key);
        ops++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => core.runWithSpan(parent, worker)));
    const elapsed = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    parent.finish();
    return {
      rate: ops / elapsed,
      cpuUsPerOp: (cpu.user + cpu.system) / ops,
      cpuRate: ops / ((cpu.user + cpu.system) / 1e6),
      spansPerOp: (jaeger.stats().spans - spansBefore - 1) / ops,
    };
  };
  for (const mode of ['bare', 'channels', 'patched']) await run(mode, 1);
  const { runs, ratio } = await interleave(['channels', 'patched'], rounds, async (mode, label) => {
    const result = await run(mode, seconds);
    console.log(
      `  ${label} ${mode.padEnd(8)} ${Math.round(result.rate).toLocaleString('en-US').padStart(7)} ops/s  ` +
        `${result.cpuUsPerOp.toFixed(2)} µs CPU/op  ${result.spansPerOp.toFixed(2)} spans/op`,
    );
    return result;
  });
  core.uninstallPatches();
  await client.del(key);
  await client.quit();
  const result = { node: process.version, redis: require('redis/package.json').version, rounds, seconds, modes: {} };
  for (const mode of ['bare', 'channels', 'patched']) {
    const own = runs.get(mode);
    result.modes[mode] = {
      opsPerSec: round(median(own.map((r) => r.rate)), 0),
      ratio: ratio(mode),
      cpuUsPerOp: round(median(own.map((r) => r.cpuUsPerOp)), 2),
      cpuRatio: ratio(mode, 'cpuRate'),
      spansPerOp: round(median(own.map((r) => r.spansPerOp)), 2),
    };
  }
  console.log(JSON.stringify(result, null, 2));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
