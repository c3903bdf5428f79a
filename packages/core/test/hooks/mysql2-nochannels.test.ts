import * as dc from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Span, SpanOptions } from 'opentracing';
import { getCurrentSpan, installPatches, runSuppressed, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { hook, publishesTracingChannels } from '../../src/hooks/mysql2';
import { isWrapped } from '../../src/hooks/wrap';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer, recorderTracer } from '../../../../test/support/tracers';
import type { FinishedSpan } from '../../../../test/support/tracers';
import { MYSQL_CONFIG, MYSQL_TAGS, underParent } from './hook-support';
// mysql2 3.15.3 under an npm alias: no tracing channels, so the hook patches it
import mysqlOld from 'mysql2-nochannels';
import mysqlOldPromise from 'mysql2-nochannels/promise';
import mysqlNew from 'mysql2/promise';

/**
 * The mysql2 hook's patch path (mysql2 < 3.20) against the real MariaDB. The
 * registry finds `mysql2` by name only, so the alias is handed to the hook's
 * `patch()` the way the registry would hand it a copy of mysql2 3.15.3.
 */

const up = await serviceAvailable('mysql');

const CONFIG = MYSQL_CONFIG;
// the patched path reads the user name from the connection's config
const PATCHED_TAGS = { ...MYSQL_TAGS, 'db.user': 'root' };
const VERSION = '3.15.3';

type AnyConnection = {
  query(...args: unknown[]): unknown;
  execute(...args: unknown[]): unknown;
  end(callback?: () => void): void;
};
type Outcome = { error: (Error & { code?: string }) | null; rows: unknown; current: Span | null };

const base = Object.getPrototypeOf(
  (mysqlOld as unknown as { Connection: { prototype: object } }).Connection.prototype,
) as Record<string, unknown>;
const poolBase = Object.getPrototypeOf(
  (mysqlOld as unknown as { Pool: { prototype: object } }).Pool.prototype,
) as Record<string, unknown>;
const originals = { query: base['query'], execute: base['execute'], getConnection: poolBase['getConnection'] };

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

describe.skipIf(!up)('mysql2 hook, mysql2 3.15 (patched)', () => {
  const t = recorderTracer();
  let conn: AnyConnection;
  let promiseConn: AnyConnection & { query(...args: unknown[]): Promise<[unknown, unknown]> };

  beforeAll(async () => {
    // the real mysql2 (3.24) gets the channel subscription ...
    installPatches(['mysql2']);
    // ... and the old copy the patches, as the registry would do on finding it
    expect(publishesTracingChannels(VERSION)).toBe(false);
    hook.patch(mysqlOld, VERSION);
    conn = mysqlOld.createConnection(CONFIG) as unknown as AnyConnection;
    promiseConn = (await mysqlOldPromise.createConnection(CONFIG)) as unknown as typeof promiseConn;
  });

  afterAll(async () => {
    await promiseConn?.end();
    await new Promise<void>((resolve) => (conn ? conn.end(resolve) : resolve()));
    uninstallPatches();
  });

  it('wraps query/execute on the connection base and the pool getConnection', () => {
    expect(isWrapped(base['query'])).toBe(true);
    expect(isWrapped(base['execute'])).toBe(true);
    expect(isWrapped(poolBase['getConnection'])).toBe(true);
  });

  it('query(sql, values, callback): the statement as written (placeholders), every tag incl. db.user', async () => {
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const outcome = await viaCallback((cb) => conn.query('SELECT ? AS secret', ['hunter2'], cb));
      expect(outcome.current).toBe(parentSpan);
      return outcome;
    });
    expect(result.rows).toEqual([{ secret: 'hunter2' }]);
    expect(children).toHaveLength(1);
    expect(children[0]!.operationName).toBe('mysql2:SELECT');
    expect(children[0]!.tags).toEqual({ ...PATCHED_TAGS, 'db.statement': 'SELECT ? AS secret' });
    expect(JSON.stringify(children)).not.toContain('hunter2');
    expectChildOf(children[0]!, parent);
  });

  it('query({ sql, values }, callback) and query(sql, callback)', async () => {
    const { result, children } = await underParent(t, async () => [
      await viaCallback((cb) => conn.query({ sql: 'SELECT ? AS a', values: [1] }, cb)),
      await viaCallback((cb) => conn.query('SELECT 2 AS b', cb)),
    ]);
    expect(result.map((outcome) => outcome.rows)).toEqual([[{ a: 1 }], [{ b: 2 }]]);
    expect(statements(children)).toEqual([
      ['mysql2:SELECT', 'SELECT ? AS a'],
      ['mysql2:SELECT', 'SELECT ? AS b'],
    ]);
  });

  it('event-emitter form, success and error (the caller listener gets the identical error)', async () => {
    const rows: unknown[] = [];
    let caught: unknown;
    const { children } = await underParent(t, async () => {
      await new Promise((resolve, reject) => {
        const query = conn.query('SELECT 5 AS five') as NodeJS.EventEmitter;
        query
          .on('result', (row) => rows.push(row))
          .on('error', reject)
          .on('end', resolve);
      });
      await new Promise((resolve) => {
        const query = conn.query('SELEC 1') as NodeJS.EventEmitter;
        query.on('error', (error) => (caught = error)).on('end', resolve);
      });
    });
    expect(rows).toEqual([{ five: 5 }]);
    expect((caught as { code?: string }).code).toBe('ER_PARSE_ERROR');
    expect(children.map((span) => [span.operationName, span.tags['error']])).toEqual([
      ['mysql2:SELECT', undefined],
      ['mysql2:SELEC', true],
    ]);
    expect(children[1]!.logs[0]!['error.object']).toBe(caught);
  });

  it('errors: syntax error and missing table; the caller gets the identical error', async () => {
    const { result, children } = await underParent(t, async () => ({
      syntax: await viaCallback((cb) => conn.query('SELEC ?', ['hunter2'], cb)),
      missing: await viaCallback((cb) => conn.execute('SELECT * FROM otinst_no_such_table WHERE id = ?', [1], cb)),
    }));
    expect(result.syntax.error?.code).toBe('ER_PARSE_ERROR');
    expect(result.missing.error?.code).toBe('ER_NO_SUCH_TABLE');
    expect(children.map((span) => [span.operationName, span.tags['error']])).toEqual([
      ['mysql2:SELEC', true],
      ['mysql2:SELECT', true],
    ]);
    expect(children[0]!.tags).toEqual({ ...PATCHED_TAGS, 'db.statement': 'SELEC ?', error: true });
    // MariaDB quotes the statement with the value formatted in: the log gets it scrubbed, the caller the original
    expect(result.syntax.error!.message).toContain("'hunter2'");
    const scrubbed = (text: string) => text.split('hunter2').join('?');
    expect(children[0]!.logs).toHaveLength(1);
    const log = children[0]!.logs[0]!;
    expect(log).toMatchObject({
      event: 'error',
      'error.kind': 'Error',
      message: scrubbed(result.syntax.error!.message),
      stack: scrubbed(result.syntax.error!.stack!),
    });
    expect(log['error.object']).toMatchObject({
      code: 'ER_PARSE_ERROR',
      message: scrubbed(result.syntax.error!.message),
    });
    expect(JSON.stringify(log) + String((log['error.object'] as Error).stack)).not.toContain('hunter2');
    expect(children[1]!.logs[0]!['error.object']).toBe(result.missing.error);
  });

  it('a refused connection: the caller gets the connection error unchanged', async () => {
    const refused = mysqlOld.createConnection({ ...CONFIG, port: 1 }) as unknown as AnyConnection;
    const pool = mysqlOld.createPool({ ...CONFIG, port: 1, connectionLimit: 1 });
    const { result, children } = await underParent(t, async (parentSpan) => {
      const viaConnection = await viaCallback((cb) => refused.query('SELECT 1', cb));
      const viaPool = await viaCallback((cb) => (pool as unknown as AnyConnection).query('SELECT 1', cb));
      expect(viaConnection.current).toBe(parentSpan);
      expect(viaPool.current).toBe(parentSpan);
      return { viaConnection, viaPool };
    });
    await new Promise((resolve) => pool.end(resolve));
    expect(result.viaConnection.error?.code).toBe('ECONNREFUSED');
    expect(result.viaPool.error?.code).toBe('ECONNREFUSED');
    // the query on the refused connection, and the pool's whose checkout failed (issue 11: an outage gets
    // an error span); the log holds a snapshot of the caller's error (see sql-errors.ts)
    expect(children.map((span) => [span.operationName, span.tags['peer.port'], span.tags['error']])).toEqual([
      ['mysql2:SELECT', 1, true],
      ['mysql2:SELECT', 1, true],
    ]);
    expect((children[0]!.logs[0]!['error.object'] as Error).message).toBe(result.viaConnection.error?.message);
  });

  it('never both: one span per query from either copy', async () => {
    const newer = await mysqlNew.createConnection(CONFIG);
    try {
      expect(dc.hasSubscribers('tracing:mysql2:query:start')).toBe(true);
      const { children } = await underParent(t, async () => {
        await newer.query('SELECT 1 AS newer');
        await promiseConn.query('SELECT 1 AS older');
      });
      expect(statements(children)).toEqual([
        ['mysql2:SELECT', 'SELECT ? AS newer'],
        ['mysql2:SELECT', 'SELECT ? AS older'],
      ]);
      // the newer copy's span comes from the channel (no db.user), the older one's from the patch
      expect(children.map((span) => span.tags['db.user'])).toEqual([undefined, 'root']);
    } finally {
      await newer.end();
    }
  });

  it('no current span / suppressed: no span', async () => {
    t.reset();
    const outcome = await viaCallback((cb) => conn.query('SELECT 8 AS eight', cb));
    expect(outcome.rows).toEqual([{ eight: 8 }]);
    expect(outcome.current).toBeNull();
    expect(t.spans()).toEqual([]);
    const { children } = await underParent(t, () => runSuppressed(() => promiseConn.query('SELECT 1')));
    expect(children).toEqual([]);
  });

  it('patching twice makes one span', async () => {
    hook.patch(mysqlOld, VERSION);
    const { children } = await underParent(t, () => promiseConn.query('SELECT 1'));
    expect(children).toHaveLength(1);
  });

  for (const make of [jaegerTracer, otelTracer]) {
    it(`works with the ${make().name} tracer`, async () => {
      const other = make();
      const { parent, children } = await underParent(other, () => promiseConn.execute('SELECT ? AS n', [1]));
      expect(children).toHaveLength(1);
      expect(children[0]!.operationName).toBe('mysql2:SELECT');
      expect(children[0]!.tags).toMatchObject({ ...PATCHED_TAGS, 'db.statement': 'SELECT ? AS n' });
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
describe.skipIf(!up)('mysql2 patch path uninstall', () => {
  it('restores the exact original functions; no span afterwards', async () => {
    const t = recorderTracer();
    hook.patch(mysqlOld, VERSION);
    uninstallPatches();
    expect(base['query']).toBe(originals.query);
    expect(base['execute']).toBe(originals.execute);
    expect(poolBase['getConnection']).toBe(originals.getConnection);
    const conn = (await mysqlOldPromise.createConnection(CONFIG)) as unknown as {
      query(sql: string): Promise<unknown>;
      end(): Promise<void>;
    };
    try {
      const { children } = await underParent(t, () => conn.query('SELECT 1'));
      expect(children).toEqual([]);
    } finally {
      await conn.end();
    }
  });
});
