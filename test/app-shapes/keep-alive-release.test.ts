/**
 * Issue 11: idle keep-alive connections kept their last request's span
 * reachable until the socket closed (99 of 100 spans alive on 100 idle
 * connections, every adapter): Node re-arms the socket's idle timer from
 * inside the request's async context, and the timer holds that context; on
 * Node 22 hapi's `enterWith` also left the span on the connection's async
 * resource. Each adapter runs in a child `node --expose-gc` against the BUILT
 * packages (fixtures/keep-alive-release.cjs), with the connections still open.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildProblem } from '../support/build';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../..');
const FIXTURE = join(__dirname, 'fixtures/keep-alive-release.cjs');
const ADAPTERS = ['express', 'koa', 'fastify', 'hapi'] as const;
const CONNECTIONS = 100;

interface Result {
  adapter: string;
  node: string;
  requests: number;
  ok: number;
  idleConnections: number;
  spansWatched: number;
  spansAlive: number;
  controlAlive: boolean;
}

const buildIssue = buildProblem(['core', ...ADAPTERS]);

describe('idle keep-alive connections release their last span (built packages, --expose-gc)', () => {
  it('finds the build', () => {
    expect(buildIssue, 'run `npx tsc -b` (npm test does) first').toBeUndefined();
  });

  it.skipIf(buildIssue !== undefined).each(ADAPTERS)(
    `%s: at most one of ${CONNECTIONS} spans reachable while their connections sit idle`,
    async (adapter) => {
      const { stdout } = await run(process.execPath, ['--expose-gc', FIXTURE, adapter, String(CONNECTIONS)], {
        cwd: ROOT,
        timeout: 60_000,
        env: { ...process.env, OTINST_DEBUG: '' },
      });
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Result;
      console.log(`[app-shapes/keep-alive-release] ${JSON.stringify(result)}`);
      expect(result.ok).toBe(CONNECTIONS);
      // the connections really are open and idle, and the watch sees live spans (the control)
      expect(result.idleConnections).toBe(CONNECTIONS);
      expect(result.controlAlive).toBe(true);
      expect(result.spansWatched).toBe(CONNECTIONS);
      // Node's Date-header cache timer may hold one request's context for under a second
      // (docs/reliability.md, Known limits); before the fix 99 of 100 were alive
      expect(result.spansAlive).toBeLessThanOrEqual(1);
    },
    60_000,
  );
});
