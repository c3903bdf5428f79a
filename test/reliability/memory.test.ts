/**
 * Memory: a soak of OTINST_SOAK_REQUESTS requests (20,000 by default) per
 * adapter, in a child `node --expose-gc` running fixtures/soak.cjs against the
 * BUILT packages (packages/<name>/dist: `npm test` runs `tsc -b` first), with
 * jaeger-client and a reporter that drops every span. The heap after full
 * collections may not grow with the number of requests (< 5 MB after the
 * soak), and the server span of every request whose client left early must
 * be garbage-collected (WeakRef).
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildProblem } from '../support/build';
import { ADAPTERS } from './support';
import type { AdapterName } from './support';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../..');
const FIXTURE = join(__dirname, 'fixtures/soak.cjs');
const REQUESTS = Number(process.env['OTINST_SOAK_REQUESTS'] ?? 20_000);
const ABORTED = 200;
const MAX_GROWTH = 5 * 1024 * 1024;

interface SoakResult {
  adapter: string;
  node: string;
  requests: number;
  failed: number;
  aborted: number;
  abortedSpansWatched: number;
  abortedSpansCollected: number;
  controlKeptSpanAlive: boolean;
  controlDroppedObjectCollected: boolean;
  heapBefore: number;
  heapAfter: number;
  growthBytes: number;
  seconds: number;
}

async function soak(adapter: AdapterName): Promise<SoakResult> {
  const { stdout } = await run(process.execPath, ['--expose-gc', FIXTURE, adapter, String(REQUESTS), String(ABORTED)], {
    cwd: ROOT,
    timeout: 90_000,
    env: { ...process.env, OTINST_DEBUG: '' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as SoakResult;
}

const buildIssue = buildProblem(['core', 'recorder', ...ADAPTERS]);
const built = buildIssue === undefined;

describe('memory under a soak (built packages, child process with --expose-gc)', () => {
  it('finds the build', () => {
    expect(buildIssue, 'run `npx tsc -b` (npm test does) first').toBeUndefined();
  });

  // two children at a time: the machine has two cores
  const results = new Map<AdapterName, Promise<SoakResult>>();
  const resultOf = (adapter: AdapterName): Promise<SoakResult> => {
    if (!results.has(adapter)) {
      const index = ADAPTERS.indexOf(adapter);
      const previous = index >= 2 ? resultOf(ADAPTERS[index - 2]!) : Promise.resolve(undefined);
      results.set(
        adapter,
        previous.catch(() => undefined).then(() => soak(adapter)),
      );
    }
    return results.get(adapter)!;
  };

  it.skipIf(!built).each(ADAPTERS)(
    `%s: no heap growth after ${REQUESTS} requests, aborted requests' spans collected`,
    async (adapter) => {
      // start this adapter and its partner together
      const partner = ADAPTERS[ADAPTERS.indexOf(adapter) ^ 1]!;
      void resultOf(partner).catch(() => undefined);
      const result = await resultOf(adapter);
      console.log(`[reliability/memory] ${JSON.stringify(result)}`);
      expect(result.failed).toBe(0);
      expect(result.requests).toBe(REQUESTS);
      expect(result.growthBytes).toBeLessThan(MAX_GROWTH);
      expect(result.controlDroppedObjectCollected).toBe(true);
      expect(result.controlKeptSpanAlive).toBe(true);
      expect(result.aborted).toBe(ABORTED);
      expect(result.abortedSpansWatched).toBe(ABORTED - 1);
      expect(result.abortedSpansCollected).toBe(result.abortedSpansWatched);
    },
    120_000,
  );
});
