import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Span } from 'opentracing';
import { getCurrentSpan, installPatches, uninstallPatches } from '@otinst/core';
import { hook } from '../../src/hooks/mysql2';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';
import type { FinishedSpan } from '../../../../test/support/tracers';
import { MYSQL_CONFIG, MYSQL_TAGS, underParent } from './hook-support';

/**
 * The cases both ways into mysql2 share, run over both library versions in
 * one process (as an application with two copies would): mysql2 3.24
 * through its tracing channels, mysql2 3.15 (`mysql2-nochannels`) patched.
 * Each version's own cases stay in `mysql2.test.ts` / `mysql2-nochannels.test.ts`.
 */

const require = createRequire(import.meta.url);
const up = await serviceAvailable('mysql');
const CONFIG = MYSQL_CONFIG;

type Callback = (error: Error | null, rows?: unknown) => void;
interface Connection {
  execute(sql: string, values: unknown[], callback: Callback): unknown;
  end(callback?: () => void): void;
}
interface PromiseConnection {
  query(sql: string, values: unknown[]): Promise<[unknown, unknown]>;
  execute(sql: string, values: unknown[]): Promise<[unknown, unknown]>;
  end(): Promise<void>;
}
interface Pool {
  query(sql: string, values: unknown[], callback: Callback): unknown;
  execute(sql: string, values: unknown[], callback: Callback): unknown;
  promise(): PromiseConnection;
  end(callback: () => void): void;
}
interface Library {
  createConnection(config: object): Connection;
  createPool(config: object): Pool;
}

const VERSIONS = [
  // the channel payload carries no user name: no db.user on that path
  { name: 'mysql2 3.24 (tracing channels)', pkg: 'mysql2', tags: MYSQL_TAGS },
  { name: 'mysql2 3.15 (patched)', pkg: 'mysql2-nochannels', tags: { ...MYSQL_TAGS, 'db.user': 'root' } },
] as const;

type Outcome = { error: Error | null; rows: unknown; current: Span | null };

function viaCallback(run: (callback: Callback) => unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    run((error, rows) => resolve({ error, rows, current: getCurrentSpan() }));
  });
}

function expectChildOf(span: FinishedSpan, parent: FinishedSpan): void {
  expect(span.parentId).toBe(parent.spanId);
  expect(span.traceId).toBe(parent.traceId);
}

const statements = (spans: FinishedSpan[]) => spans.map((span) => [span.operationName, span.tags['db.statement']]);

beforeAll(() => {
  if (!up) return;
  installPatches(['mysql2']);
  hook.patch!(require('mysql2-nochannels'), (require('mysql2-nochannels/package.json') as { version: string }).version);
});
afterAll(() => uninstallPatches());

describe.skipIf(!up).each(VERSIONS)('$name', ({ pkg, tags }) => {
  const t = recorderTracer();
  let conn: Connection;
  let promiseConn: PromiseConnection;
  let pool: Pool;

  beforeAll(async () => {
    const lib = require(pkg) as Library;
    conn = lib.createConnection(CONFIG);
    promiseConn = await (
      require(`${pkg}/promise`) as { createConnection(c: object): Promise<PromiseConnection> }
    ).createConnection(CONFIG);
    pool = lib.createPool({ ...CONFIG, connectionLimit: 2 });
  });
  afterAll(async () => {
    await promiseConn?.end();
    await new Promise<void>((resolve) => (conn ? conn.end(resolve) : resolve()));
    await new Promise<void>((resolve) => (pool ? pool.end(resolve) : resolve()));
  });

  it('execute(sql, values, callback): the statement with its placeholders, values never tagged', async () => {
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const outcome = await viaCallback((cb) => conn.execute('SELECT ? AS n', ['hunter2'], cb));
      expect(outcome.current).toBe(parentSpan);
      return outcome;
    });
    expect(result.rows).toEqual([{ n: 'hunter2' }]);
    expect(children.map((span) => span.tags)).toEqual([{ ...tags, 'db.statement': 'SELECT ? AS n' }]);
    expect(JSON.stringify(children)).not.toContain('hunter2');
    expectChildOf(children[0]!, parent);
  });

  it('promise API: query and execute, and the await continues in the caller context', async () => {
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const [queried] = await promiseConn.query('SELECT ? AS a', ['x']);
      expect(getCurrentSpan()).toBe(parentSpan);
      const [executed] = await promiseConn.execute('SELECT ? AS b', [2]);
      expect(getCurrentSpan()).toBe(parentSpan);
      return [queried, executed];
    });
    expect(result).toEqual([[{ a: 'x' }], [{ b: 2 }]]);
    expect(statements(children)).toEqual([
      ['mysql2:SELECT', 'SELECT ? AS a'],
      ['mysql2:SELECT', 'SELECT ? AS b'],
    ]);
    for (const span of children) {
      expect(span.tags).toEqual({ ...tags, 'db.statement': span.tags['db.statement'] });
      expectChildOf(span, parent);
    }
  });

  it('pools: query and execute, callback and promise, callbacks in the caller context', async () => {
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const q = await viaCallback((cb) => pool.query('SELECT ? AS q', [1], cb));
      const e = await viaCallback((cb) => pool.execute('SELECT ? AS e', [2], cb));
      const [p] = await pool.promise().query('SELECT ? AS p', [3]);
      const [pe] = await pool.promise().execute('SELECT ? AS pe', [4]);
      expect(q.current).toBe(parentSpan);
      expect(e.current).toBe(parentSpan);
      expect(getCurrentSpan()).toBe(parentSpan);
      return [q.rows, e.rows, p, pe];
    });
    expect(result).toEqual([[{ q: 1 }], [{ e: 2 }], [{ p: 3 }], [{ pe: 4 }]]);
    expect(statements(children)).toEqual([
      ['mysql2:SELECT', 'SELECT ? AS q'],
      ['mysql2:SELECT', 'SELECT ? AS e'],
      ['mysql2:SELECT', 'SELECT ? AS p'],
      ['mysql2:SELECT', 'SELECT ? AS pe'],
    ]);
    for (const span of children) expectChildOf(span, parent);
  });
});
