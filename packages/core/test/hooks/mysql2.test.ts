import * as dc from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import type { Span, SpanOptions } from 'opentracing';
import {
  getCurrentSpan,
  configure,
  installedPatches,
  installPatches,
  runSuppressed,
  runWithSpan,
  uninstallPatches,
} from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { publishesTracingChannels } from '../../src/hooks/mysql2';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer, recorderTracer } from '../../../../test/support/tracers';
import type { FinishedSpan } from '../../../../test/support/tracers';
import { MYSQL_CONFIG, MYSQL_TAGS, underParent } from './hook-support';

/**
 * The mysql2 hook on mysql2 3.24 (tracing channels) against the real MariaDB
 * (127.0.0.1:3306, root, db test): subscribed, never patched.
 */

const up = await serviceAvailable('mysql');

const CONFIG = MYSQL_CONFIG;
const TABLE = `otinst_mysql2_hook_${process.pid}`;

// captured before installation: the channel path must leave them alone
const Connection = mysql.Connection as unknown as { prototype: Record<string, unknown> };
const connectionBase = Object.getPrototypeOf(Connection.prototype) as Record<string, unknown>;
const originalQuery = connectionBase['query'];
const originalExecute = connectionBase['execute'];

type Outcome = { error: (Error & { code?: string }) | null; rows: unknown; current: Span | null };

/** A callback-style call as a promise, with the span that was current inside the callback. */
function viaCallback(run: (callback: (error: Error | null, rows?: unknown) => void) => unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    run((error, rows) => resolve({ error: error as Outcome['error'], rows, current: getCurrentSpan() }));
  });
}

function expectChildOf(span: FinishedSpan, parent: FinishedSpan): void {
  expect(span.parentId).toBe(parent.spanId);
  expect(span.traceId).toBe(parent.traceId);
}

const statements = (spans: FinishedSpan[]) => spans.map((span) => [span.operationName, span.tags['db.statement']]);

describe.skipIf(!up)('mysql2 hook, mysql2 3.24 (tracing channels)', () => {
  const t = recorderTracer();
  let conn: mysql.Connection;
  let promiseConn: mysqlPromise.Connection;

  beforeAll(async () => {
    installPatches(['mysql2']);
    conn = mysql.createConnection(CONFIG);
    promiseConn = await mysqlPromise.createConnection(CONFIG);
    await promiseConn.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int PRIMARY KEY, name varchar(50))`);
  });

  afterAll(async () => {
    await promiseConn?.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await promiseConn?.end();
    await new Promise((resolve) => (conn ? conn.end(resolve) : resolve(undefined)));
    uninstallPatches();
  });

  afterEach(() => {
    configure({ captureParameters: false });
  });

  it('subscribes to the channels and patches nothing', () => {
    expect(publishesTracingChannels((mysql as unknown as { version?: string }).version ?? '3.24.6')).toBe(true);
    expect(installedPatches()).toContain('mysql2');
    expect(dc.hasSubscribers('tracing:mysql2:query:start')).toBe(true);
    expect(dc.hasSubscribers('tracing:mysql2:execute:start')).toBe(true);
    expect(connectionBase['query']).toBe(originalQuery);
    expect(connectionBase['execute']).toBe(originalExecute);
  });

  it('query(sql, values, callback): mysql2:SELECT with every tag; values formatted in are taken out again', async () => {
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const outcome = await viaCallback((cb) => conn.query('SELECT ? AS secret, ? AS n', ['hunter2', 42], cb));
      expect(outcome.current).toBe(parentSpan);
      return outcome;
    });
    expect(result.error).toBeNull();
    expect(result.rows).toEqual([{ secret: 'hunter2', n: 42 }]);
    expect(children).toHaveLength(1);
    expect(children[0]!.operationName).toBe('mysql2:SELECT');
    expect(children[0]!.tags).toEqual({ ...MYSQL_TAGS, 'db.statement': 'SELECT ? AS secret, ? AS n' });
    expect(JSON.stringify(children)).not.toContain('hunter2');
    expectChildOf(children[0]!, parent);
  });

  it('query(sql, callback) without values: the statement with its literals replaced by ?', async () => {
    const sql = "SELECT 'literal' AS l, 1 + 1 AS two";
    const { result, children } = await underParent(t, () => viaCallback((cb) => conn.query(sql, cb)));
    expect(result.rows).toEqual([{ l: 'literal', two: 2 }]);
    expect(statements(children)).toEqual([['mysql2:SELECT', 'SELECT ? AS l, ? + ? AS two']]);
  });

  it('event-emitter form (no callback)', async () => {
    const rows: unknown[] = [];
    const { children, parent } = await underParent(t, async () => {
      await new Promise((resolve, reject) => {
        conn
          .query('SELECT 5 AS five')
          .on('result', (row) => rows.push(row))
          .on('error', reject)
          .on('end', resolve);
      });
    });
    expect(rows).toEqual([{ five: 5 }]);
    expect(statements(children)).toEqual([['mysql2:SELECT', 'SELECT ? AS five']]);
    expectChildOf(children[0]!, parent);
  });

  it('INSERT / UPDATE / DELETE / WITH: the command names the span', async () => {
    const { children } = await underParent(t, async () => {
      await promiseConn.execute(`INSERT INTO ${TABLE} (id, name) VALUES (?, ?)`, [1, 'secret-name']);
      await promiseConn.query(`UPDATE ${TABLE} SET name = ? WHERE id = ?`, ['other-secret', 1]);
      await promiseConn.query(`WITH x AS (SELECT id FROM ${TABLE}) SELECT count(*) AS n FROM x`);
      await promiseConn.query(`DELETE FROM ${TABLE} WHERE id = ?`, [1]);
    });
    expect(statements(children)).toEqual([
      ['mysql2:INSERT', `INSERT INTO ${TABLE} (id, name) VALUES (?, ?)`],
      ['mysql2:UPDATE', `UPDATE ${TABLE} SET name = ? WHERE id = ?`],
      ['mysql2:SELECT', `WITH x AS (SELECT id FROM ${TABLE}) SELECT count(*) AS n FROM x`],
      ['mysql2:DELETE', `DELETE FROM ${TABLE} WHERE id = ?`],
    ]);
    expect(JSON.stringify(children)).not.toContain('secret');
  });

  it('configure({ captureParameters: true }) tags db.params', async () => {
    configure({ captureParameters: true });
    const { children } = await underParent(t, () => promiseConn.execute('SELECT ? AS a, ? AS b', ['x', 7]));
    expect(children[0]!.tags['db.params']).toBe('["x",7]');
  });

  describe('errors', () => {
    it('a syntax error (callback): error span, the caller gets the identical error in its context', async () => {
      const { result, children } = await underParent(t, async (parentSpan) => {
        const outcome = await viaCallback((cb) => conn.query('SELEC 1', cb));
        expect(outcome.current).toBe(parentSpan);
        return outcome;
      });
      expect(result.error?.code).toBe('ER_PARSE_ERROR');
      expect(children).toHaveLength(1);
      const span = children[0]!;
      expect(span.operationName).toBe('mysql2:SELEC');
      expect(span.tags).toEqual({ ...MYSQL_TAGS, 'db.statement': 'SELEC ?', error: true });
      expect(span.logs).toEqual([
        {
          event: 'error',
          'error.kind': 'Error',
          'error.object': result.error,
          message: result.error!.message,
          stack: result.error!.stack,
        },
      ]);
    });

    it('a missing table (promise execute): error span, the identical error rejects', async () => {
      let caught: unknown;
      const { children } = await underParent(t, async () => {
        caught = await promiseConn
          .execute('SELECT * FROM otinst_no_such_table WHERE id = ?', [1])
          .catch((e: unknown) => e);
      });
      expect((caught as { code?: string }).code).toBe('ER_NO_SUCH_TABLE');
      expect(children.map((span) => [span.operationName, span.tags['error']])).toEqual([['mysql2:SELECT', true]]);
      // the promise API rejects with its own copy of the error (mysql2 makeDoneCb): message and code match
      expect((children[0]!.logs[0]!['error.object'] as Error).message).toBe((caught as Error).message);
    });

    it('a refused connection: the caller gets the connection error unchanged', async () => {
      const pool = mysql.createPool({ ...CONFIG, port: 1, connectionLimit: 1 });
      const refused = mysql.createConnection({ ...CONFIG, port: 1 });
      const { result, children } = await underParent(t, async (parentSpan) => {
        const viaConnection = await viaCallback((cb) => refused.query('SELECT 1', cb));
        expect(viaConnection.current).toBe(parentSpan);
        const viaPool = await viaCallback((cb) => pool.query('SELECT 1', cb));
        expect(viaPool.current).toBe(parentSpan);
        const viaPromise = await mysqlPromise.createConnection({ ...CONFIG, port: 1 }).catch((e: unknown) => e);
        return { viaConnection, viaPool, viaPromise };
      });
      await new Promise((resolve) => pool.end(resolve));
      expect(result.viaConnection.error?.code).toBe('ECONNREFUSED');
      expect(result.viaPool.error?.code).toBe('ECONNREFUSED');
      expect((result.viaPromise as { code?: string }).code).toBe('ECONNREFUSED');
      // the query on the refused connection, and the pool's whose checkout failed (issue 11: an outage gets
      // an error span); the log holds a snapshot of the caller's error (see sql-errors.ts)
      expect(children.map((span) => [span.operationName, span.tags['peer.port'], span.tags['error']])).toEqual([
        ['mysql2:SELECT', 1, true],
        ['mysql2:SELECT', 1, true],
      ]);
      expect((children[0]!.logs[0]!['error.object'] as Error).message).toBe(result.viaConnection.error?.message);
    });
  });

  it('no current span: no span, and the query works', async () => {
    t.reset();
    const outcome = await viaCallback((cb) => conn.query('SELECT 8 AS eight', cb));
    expect(outcome.rows).toEqual([{ eight: 8 }]);
    expect(outcome.current).toBeNull();
    expect(t.spans()).toEqual([]);
  });

  it('suppressed (ignored request): no span even under a parent', async () => {
    const { children } = await underParent(t, () => runSuppressed(() => promiseConn.query('SELECT 1')));
    expect(children).toEqual([]);
  });

  it('installing twice makes one span', async () => {
    installPatches(['mysql2']);
    installPatches(['mysql2']);
    const { children } = await underParent(t, () => promiseConn.query('SELECT 1'));
    expect(children).toHaveLength(1);
  });

  for (const make of [jaegerTracer, otelTracer]) {
    it(`works with the ${make().name} tracer`, async () => {
      const other = make();
      const { parent, children } = await underParent(other, () => promiseConn.execute('SELECT ? AS n', [1]));
      expect(children).toHaveLength(1);
      expect(children[0]!.operationName).toBe('mysql2:SELECT');
      expect(children[0]!.tags).toMatchObject({ ...MYSQL_TAGS, 'db.statement': 'SELECT ? AS n' });
      expectChildOf(children[0]!, parent);
    });
  }

  describe('a tracer that throws changes nothing for the caller', () => {
    type Failing = 'none' | 'startSpan' | 'addTags' | 'log' | 'setTag' | 'finish';
    class FaultyTracer extends RecordingTracer {
      failing: Failing = 'none';
      override startSpan(name: string, options?: SpanOptions): Span {
        if (this.failing === 'startSpan') throw new Error('startSpan broke');
        const span = super.startSpan(name, options);
        const method = this.failing;
        if (method !== 'none') {
          (span as unknown as Record<string, unknown>)[method] = () => {
            throw new Error(`${method} broke`);
          };
        }
        return span;
      }
    }

    for (const failing of ['startSpan', 'addTags', 'log', 'setTag', 'finish'] as const) {
      it(`${failing} throws`, async () => {
        const tracer = new FaultyTracer({ serviceName: 'faulty' });
        const parent = tracer.startSpan('parent');
        tracer.failing = failing;
        await runWithSpan(parent, async () => {
          const ok = await viaCallback((cb) => conn.query('SELECT ? AS n', [1], cb));
          expect(ok.rows).toEqual([{ n: 1 }]);
          expect(ok.current).toBe(parent);
          const failed = await viaCallback((cb) => conn.execute('SELEC ?', [1], cb));
          expect(failed.error?.code).toBe('ER_PARSE_ERROR');
          const [rows] = await promiseConn.query('SELECT 2 AS two');
          expect(rows).toEqual([{ two: 2 }]);
        });
      });
    }
  });
});

// runs last: the hook is gone afterwards
describe.skipIf(!up)('mysql2 hook uninstall (channels)', () => {
  it('unsubscribes; no span afterwards; installing again works', async () => {
    const t = recorderTracer();
    installPatches(['mysql2']);
    uninstallPatches();
    expect(dc.hasSubscribers('tracing:mysql2:query:start')).toBe(false);
    expect(dc.hasSubscribers('tracing:mysql2:execute:start')).toBe(false);
    expect(connectionBase['query']).toBe(originalQuery);
    const conn = await mysqlPromise.createConnection(CONFIG);
    try {
      const { children } = await underParent(t, () => conn.query('SELECT 1'));
      expect(children).toEqual([]);
      installPatches(['mysql2']);
      const again = await underParent(t, () => conn.query('SELECT 1'));
      expect(statements(again.children)).toEqual([['mysql2:SELECT', 'SELECT ?']]);
      uninstallPatches();
      const after = await underParent(t, () => conn.query('SELECT 1'));
      expect(after.children).toEqual([]);
    } finally {
      await conn.end();
    }
  });
});
