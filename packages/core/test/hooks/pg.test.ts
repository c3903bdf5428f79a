import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Span as NoopSpan, Tracer as NoopTracer } from 'opentracing';
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
import { hook } from '../../src/hooks/pg';
import { isWrapped } from '../../src/hooks/wrap';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer, recorderTracer } from '../../../../test/support/tracers';
import type { FinishedSpan } from '../../../../test/support/tracers';
import { underParent } from './hook-support';

/**
 * The pg hook against the real PostgreSQL (127.0.0.1:5432, user postgres, db
 * test): every query form, errors, context, failure policy, uninstall.
 */

const up = await serviceAvailable('postgres');

const CONFIG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;
const PG_TAGS = {
  'span.kind': 'client',
  component: 'pg',
  'db.type': 'sql',
  'db.instance': 'test',
  'db.user': 'postgres',
  'peer.ipv4': '127.0.0.1',
  'peer.port': 5432,
};
const TABLE = `otinst_pg_hook_${process.pid}`;

// captured before installation: uninstall must put back these very functions
const originalQuery = pg.Client.prototype.query;
const poolBase = Object.getPrototypeOf(pg.Pool.prototype) as { connect: unknown };
const originalConnect = poolBase.connect;
// a lazy getter that loads pg-native (Node 24's ESM import of pg already evaluates it: then null)
const nativeBefore = Object.getOwnPropertyDescriptor(pg, 'native');

type QueryCallback = (error: Error | null, result?: pg.QueryResult) => void;

/** A callback-style call as a promise, with the span that was current inside the callback. */
function viaCallback(
  run: (callback: QueryCallback) => unknown,
): Promise<{ error: Error | null; result?: pg.QueryResult; current: Span | null }> {
  return new Promise((resolve) => {
    run((error, result) => resolve({ error, result, current: getCurrentSpan() }));
  });
}

function expectChildOf(span: FinishedSpan, parent: FinishedSpan): void {
  expect(span.parentId).toBe(parent.spanId);
  expect(span.traceId).toBe(parent.traceId);
}

describe.skipIf(!up)('pg hook (PostgreSQL)', () => {
  const t = recorderTracer();
  let client: pg.Client;

  beforeAll(async () => {
    installPatches(['pg']);
    client = new pg.Client(CONFIG);
    await client.connect();
    await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int PRIMARY KEY, name text)`);
  });

  afterAll(async () => {
    await client?.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await client?.end();
    uninstallPatches();
  });

  afterEach(() => {
    configure({ captureParameters: false });
  });

  it('patches Client#query and pg-pool connect, and leaves pg.native alone', () => {
    expect(installedPatches()).toContain('pg');
    expect(isWrapped(pg.Client.prototype.query)).toBe(true);
    expect(isWrapped(poolBase.connect)).toBe(true);
    // the hook neither reads nor patches pg.native
    expect(Object.getOwnPropertyDescriptor(pg, 'native')).toEqual(nativeBefore);
  });

  it('promise form: pg:SELECT child of the current span with every tag', async () => {
    const sql = 'SELECT 1 AS one';
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const res = await client.query(sql);
      expect(getCurrentSpan()).toBe(parentSpan);
      return res;
    });
    expect(result.rows).toEqual([{ one: 1 }]);
    expect(children).toHaveLength(1);
    const [span] = children;
    expect(span!.operationName).toBe('pg:SELECT');
    // the literal is replaced by `?` (issue 12)
    expect(span!.tags).toEqual({ ...PG_TAGS, 'db.statement': 'SELECT ? AS one' });
    expect(span!.logs).toEqual([]);
    expectChildOf(span!, parent);
  });

  it('callback form (text, values, callback): values never tagged, callback in the caller context', async () => {
    const sql = 'SELECT $1::text AS secret';
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const outcome = await viaCallback((cb) => client.query(sql, ['hunter2'], cb));
      expect(outcome.current).toBe(parentSpan);
      return outcome;
    });
    expect(result.error).toBeNull();
    expect(result.result!.rows).toEqual([{ secret: 'hunter2' }]);
    expect(children.map((span) => span.operationName)).toEqual(['pg:SELECT']);
    expect(children[0]!.tags).toEqual({ ...PG_TAGS, 'db.statement': sql });
    expect(JSON.stringify(children[0]!.tags)).not.toContain('hunter2');
    expectChildOf(children[0]!, parent);
  });

  it('callback form (text, callback)', async () => {
    const { result, children } = await underParent(t, () => viaCallback((cb) => client.query('SELECT 2 AS two', cb)));
    expect(result.result!.rows).toEqual([{ two: 2 }]);
    expect(children.map((span) => [span.operationName, span.tags['db.statement']])).toEqual([
      ['pg:SELECT', 'SELECT ? AS two'],
    ]);
  });

  it('query config objects: { text, values, rowMode } and { text, callback } (the caller object untouched)', async () => {
    const config = { text: 'SELECT $1::int + 1 AS n', values: [41], rowMode: 'array' as const };
    let settle!: (outcome: { rows: unknown; current: Span | null }) => void;
    const called = new Promise<{ rows: unknown; current: Span | null }>((resolve) => (settle = resolve));
    const callback: QueryCallback = (_error, res) => settle({ rows: res?.rows, current: getCurrentSpan() });
    const withCallback = { text: 'SELECT 3 AS three', callback };
    const { result, parent, children } = await underParent(t, async (parentSpan) => {
      const viaPromise = await client.query(config);
      client.query(withCallback as unknown as pg.QueryConfig);
      const outcome = await called;
      expect(outcome).toEqual({ rows: [{ three: 3 }], current: parentSpan });
      return viaPromise;
    });
    expect(withCallback.callback).toBe(callback);
    expect(result.rows).toEqual([[42]]);
    expect(config.values).toEqual([41]);
    expect(children.map((span) => [span.operationName, span.tags['db.statement']])).toEqual([
      ['pg:SELECT', 'SELECT $1::int + ? AS n'],
      ['pg:SELECT', 'SELECT ? AS three'],
    ]);
    for (const span of children) expectChildOf(span, parent);
  });

  it('prepared statements ({ name, text, values }), twice', async () => {
    const statement = { name: 'otinst-add-one', text: 'SELECT $1::int + 1 AS n' };
    const { result, children } = await underParent(t, async () => {
      const first = await client.query({ ...statement, values: [1] });
      const second = await client.query({ ...statement, values: [2] });
      return [first.rows, second.rows];
    });
    expect(result).toEqual([[{ n: 2 }], [{ n: 3 }]]);
    expect(children.map((span) => [span.operationName, span.tags['db.statement']])).toEqual([
      ['pg:SELECT', 'SELECT $1::int + ? AS n'],
      ['pg:SELECT', 'SELECT $1::int + ? AS n'],
    ]);
  });

  it('INSERT / UPDATE / DELETE / WITH ... SELECT / leading comment: the command names the span', async () => {
    const statements = [
      `INSERT INTO ${TABLE} (id, name) VALUES ($1, $2)`,
      `UPDATE ${TABLE} SET name = $1 WHERE id = $2`,
      `WITH gone AS (DELETE FROM ${TABLE} WHERE id = $1 RETURNING id) SELECT count(*) AS n FROM gone`,
      `/* report */ (SELECT 1 AS one)`,
      `BEGIN`,
      `COMMIT`,
    ];
    const params = [[1, 'secret-name'], ['other-secret', 1], [1], [], [], []];
    const { children } = await underParent(t, async () => {
      for (const [i, text] of statements.entries()) await client.query(text, params[i]);
    });
    expect(children.map((span) => span.operationName)).toEqual([
      'pg:INSERT',
      'pg:UPDATE',
      'pg:SELECT',
      'pg:SELECT',
      'pg:BEGIN',
      'pg:COMMIT',
    ]);
    expect(children.map((span) => span.tags['db.statement'])).toEqual(
      statements.map((text) => text.replace('SELECT 1 AS one', 'SELECT ? AS one')),
    );
    expect(JSON.stringify(children)).not.toContain('secret');
  });

  it('configure({ captureParameters: true }) tags db.params', async () => {
    configure({ captureParameters: true });
    const { children } = await underParent(t, () => client.query('SELECT $1::text AS a, $2::int AS b', ['x', 7]));
    expect(children[0]!.tags['db.params']).toBe('["x",7]');
  });

  it('a very long statement is truncated to 4096 characters', async () => {
    const sql = `SELECT 1 AS one /* ${'x'.repeat(10_000)} */`;
    const { result, children } = await underParent(t, () => client.query(sql));
    expect(result.rows).toEqual([{ one: 1 }]);
    const statement = children[0]!.tags['db.statement'] as string;
    expect(statement).toHaveLength(4096);
    expect(statement.endsWith('…')).toBe(true);
    expect(sql.replace('SELECT 1', 'SELECT ?').startsWith(statement.slice(0, -1))).toBe(true);
  });

  describe('Submittables', () => {
    it('new pg.Query(...) without a callback: the span ends with the query; the object is left as it was', async () => {
      const query = new pg.Query('SELECT 5 AS five');
      const rows: unknown[] = [];
      const { parent, children } = await underParent(t, async () => {
        const returned = client.query(query);
        expect(returned).toBe(query);
        expect(Object.prototype.hasOwnProperty.call(query, 'handleReadyForQuery')).toBe(true);
        query.on('row', (row: unknown) => rows.push(row));
        await new Promise((resolve, reject) => query.once('end', resolve).once('error', reject));
      });
      expect(rows).toEqual([{ five: 5 }]);
      expect(children.map((span) => span.operationName)).toEqual(['pg:SELECT']);
      expect(children[0]!.tags).toEqual({ ...PG_TAGS, 'db.statement': 'SELECT ? AS five' });
      expectChildOf(children[0]!, parent);
      expect(Object.prototype.hasOwnProperty.call(query, 'handleReadyForQuery')).toBe(false);
      expect(Object.prototype.hasOwnProperty.call(query, 'handleError')).toBe(false);
    });

    it('new pg.Query(...) with a callback argument: the callback runs in the caller context', async () => {
      const { result, children } = await underParent(t, async (parentSpan) => {
        const outcome = await viaCallback((cb) => client.query(new pg.Query('SELECT 6 AS six') as never, cb));
        expect(outcome.current).toBe(parentSpan);
        return outcome;
      });
      expect(result.result!.rows).toEqual([{ six: 6 }]);
      expect(children.map((span) => span.operationName)).toEqual(['pg:SELECT']);
    });

    /** The public Submittable protocol, written by hand (what pg-cursor / pg-query-stream implement). */
    class RowCollector {
      readonly rows: unknown[] = [];
      private fields: string[] = [];
      readonly done: Promise<unknown[]>;
      private settle!: { resolve: (rows: unknown[]) => void; reject: (error: unknown) => void };
      constructor(readonly text: string) {
        this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
      }
      submit(connection: { query(text: string): void }): void {
        connection.query(this.text);
      }
      handleRowDescription(message: { fields: { name: string }[] }): void {
        this.fields = message.fields.map((field) => field.name);
      }
      handleDataRow(message: { fields: unknown[] }): void {
        this.rows.push(Object.fromEntries(this.fields.map((name, i) => [name, String(message.fields[i])])));
      }
      handleCommandComplete(): void {}
      handleEmptyQuery(): void {}
      handleReadyForQuery(): void {
        this.settle.resolve(this.rows);
      }
      handleError(error: unknown): void {
        this.settle.reject(error);
      }
    }

    it('a hand-written Submittable: success and failure', async () => {
      const ok = new RowCollector('SELECT 7 AS seven');
      const bad = new RowCollector('SELECT * FROM otinst_no_such_table');
      let caught: unknown;
      const { result, parent, children } = await underParent(t, async () => {
        client.query(ok as unknown as pg.Submittable);
        const rows = await ok.done;
        client.query(bad as unknown as pg.Submittable);
        caught = await bad.done.catch((error: unknown) => error);
        return rows;
      });
      expect(result).toEqual([{ seven: '7' }]);
      expect(children.map((span) => span.operationName)).toEqual(['pg:SELECT', 'pg:SELECT']);
      const [good, failed] = children;
      expect(good!.tags).toEqual({ ...PG_TAGS, 'db.statement': 'SELECT ? AS seven' });
      expect(failed!.tags).toEqual({ ...PG_TAGS, 'db.statement': bad.text, error: true });
      expect(caught).toBeInstanceOf(pg.DatabaseError);
      expect((caught as { code?: string }).code).toBe('42P01');
      expect(failed!.logs).toHaveLength(1);
      expect(failed!.logs[0]!['error.object']).toBe(caught);
      for (const span of children) expectChildOf(span, parent);
      // the prototype handlers are back in charge
      expect(Object.prototype.hasOwnProperty.call(ok, 'handleReadyForQuery')).toBe(false);
    });
  });

  describe('errors', () => {
    it('a syntax error (promise): error span with the error logged, the caller gets the identical error', async () => {
      let caught: unknown;
      const { children } = await underParent(t, async () => {
        caught = await client.query('SELEC 1').catch((error: unknown) => error);
      });
      expect(caught).toBeInstanceOf(pg.DatabaseError);
      expect((caught as pg.DatabaseError).code).toBe('42601');
      expect(children).toHaveLength(1);
      const span = children[0]!;
      expect(span.operationName).toBe('pg:SELEC');
      expect(span.tags).toEqual({ ...PG_TAGS, 'db.statement': 'SELEC ?', error: true });
      expect(span.logs).toEqual([
        {
          event: 'error',
          'error.kind': 'error',
          'error.object': caught,
          message: (caught as Error).message,
          stack: (caught as Error).stack,
        },
      ]);
    });

    it('a missing table (callback): error span, the callback gets the identical error in the caller context', async () => {
      const { result, children } = await underParent(t, async (parentSpan) => {
        const outcome = await viaCallback((cb) => client.query('SELECT * FROM otinst_no_such_table', cb));
        expect(outcome.current).toBe(parentSpan);
        return outcome;
      });
      expect((result.error as pg.DatabaseError).code).toBe('42P01');
      expect(children[0]!.tags['error']).toBe(true);
      expect(children[0]!.logs[0]!['error.object']).toBe(result.error);
    });

    it('a synchronous throw from pg (callback that is not a function) reaches the caller unchanged', async () => {
      let caught: unknown;
      const { children } = await underParent(t, async () => {
        try {
          client.query({ text: 'SELECT 1', callback: 42 } as never);
        } catch (error) {
          caught = error;
        }
      });
      expect(caught).toBeInstanceOf(TypeError);
      expect((caught as Error).message).toBe('callback is not a function');
      expect(children).toHaveLength(1);
      expect(children[0]!.logs[0]!['error.object']).toBe(caught);
    });

    it('a refused connection: the caller gets the connection error unchanged', async () => {
      const refused = new pg.Client({ ...CONFIG, port: 1 });
      const pool = new pg.Pool({ ...CONFIG, port: 1, max: 1 });
      const { result, children } = await underParent(t, async (parentSpan) => {
        const connectError = await refused.connect().catch((error: unknown) => error);
        const queryError = await refused.query('SELECT 1').catch((error: unknown) => error);
        const poolError = await pool.query('SELECT 1').catch((error: unknown) => error);
        const poolCallback = await viaCallback((cb) => pool.query('SELECT 1', cb));
        expect(poolCallback.current).toBe(parentSpan);
        return { connectError, queryError, poolError, poolCallbackError: poolCallback.error };
      });
      await pool.end();
      for (const error of [result.connectError, result.poolError, result.poolCallbackError]) {
        expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
        expect((error as { port?: number }).port).toBe(1);
      }
      // pg's own error for a query on a client whose connection failed
      expect(result.queryError).toBeInstanceOf(Error);
      // the query on the broken client, and the pool's two whose checkout failed (issue 11: an outage
      // gets error spans); the log holds a snapshot of the caller's error (see sql-errors.ts)
      expect(children.map((span) => [span.operationName, span.tags['peer.port'], span.tags['error']])).toEqual([
        ['pg:SELECT', 1, true],
        ['pg:SELECT', 1, true],
        ['pg:SELECT', 1, true],
      ]);
      const logged = [result.queryError, result.poolError, result.poolCallbackError];
      expect(children.map((span) => (span.logs[0]!['error.object'] as Error).message)).toEqual(
        logged.map((error) => (error as Error).message),
      );
    });
  });

  it('a parameter value that PostgreSQL quotes in its error never reaches the error log', async () => {
    const secret = `PLANTED-${process.pid}`;
    const { result: caught, children } = await underParent(t, () =>
      client.query('SELECT $1::int AS n', [secret]).catch((error: unknown) => error as Error & { code?: string }),
    );
    // the caller's error is untouched
    expect(caught.message).toContain(secret);
    expect(children.map((span) => span.operationName)).toEqual(['pg:SELECT']);
    const [span] = children;
    expect(span!.tags['error']).toBe(true);
    expect(span!.logs).toHaveLength(1);
    const log = span!.logs[0]!;
    expect(log['message']).toBe(caught.message.split(secret).join('?'));
    expect(log['error.kind']).toBe(caught.name);
    const logged = log['error.object'] as Error & { code?: string };
    expect(logged).toBeInstanceOf(pg.DatabaseError);
    expect(logged.code).toBe('22P02');
    expect(`${logged.message} ${logged.stack} ${String(log['stack'])}`).not.toContain(secret);
  });

  it('no current span: no span, and the query works', async () => {
    t.reset();
    const res = await client.query('SELECT 8 AS eight');
    const viaCb = await viaCallback((cb) => client.query('SELECT 9 AS nine', cb));
    expect(res.rows).toEqual([{ eight: 8 }]);
    expect(viaCb.result!.rows).toEqual([{ nine: 9 }]);
    expect(viaCb.current).toBeNull();
    expect(t.spans()).toEqual([]);
  });

  it('a connection string with a password: neither reaches a tag', async () => {
    const withSecret = new pg.Client({ connectionString: 'postgres://postgres:s3cret-pw@127.0.0.1:5432/test' });
    await withSecret.connect();
    try {
      const { children } = await underParent(t, () => withSecret.query('SELECT 1 AS one'));
      expect(children[0]!.tags).toEqual({ ...PG_TAGS, 'db.statement': 'SELECT ? AS one' });
      expect(JSON.stringify(children)).not.toContain('s3cret');
    } finally {
      await withSecret.end();
    }
  });

  it('configure({ requireParentSpan: false }): a root span from the configured tracer', async () => {
    configure({ requireParentSpan: false });
    configure({ tracer: t.tracer });
    try {
      t.reset();
      await client.query('SELECT 1 AS one');
      const spans = t.spans();
      expect(spans.map((span) => [span.operationName, span.parentId])).toEqual([['pg:SELECT', undefined]]);
    } finally {
      configure({ requireParentSpan: true });
      configure({ tracer: null });
    }
  });

  it('suppressed (ignored request): no span even under a parent', async () => {
    const { children } = await underParent(t, () => runSuppressed(() => client.query('SELECT 1')));
    expect(children).toEqual([]);
  });

  it('installing twice makes one span', async () => {
    installPatches(['pg']);
    installPatches(['pg']);
    const { children } = await underParent(t, () => client.query('SELECT 1'));
    expect(children).toHaveLength(1);
  });

  for (const make of [jaegerTracer, otelTracer]) {
    it(`works with the ${make().name} tracer`, async () => {
      const other = make();
      const { parent, children } = await underParent(other, () => client.query('SELECT $1::int AS n', [1]));
      expect(children).toHaveLength(1);
      expect(children[0]!.operationName).toBe('pg:SELECT');
      expect(children[0]!.tags).toMatchObject({ ...PG_TAGS, 'db.statement': 'SELECT $1::int AS n' });
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
          expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
          const viaCb = await viaCallback((cb) => client.query('SELECT $1::int AS n', [2], cb));
          expect(viaCb.result!.rows).toEqual([{ n: 2 }]);
          expect(viaCb.current).toBe(parent);
          const failed = await client.query('SELEC 1').catch((error: unknown) => error);
          expect((failed as pg.DatabaseError).code).toBe('42601');
        });
      });
    }

    it('a parent whose tracer() is a no-op tracer (opentracing default): no error', async () => {
      const parent = new NoopSpan();
      expect(parent.tracer()).toBeInstanceOf(NoopTracer);
      const res = await runWithSpan(parent, () => client.query('SELECT 1 AS one'));
      expect(res.rows).toEqual([{ one: 1 }]);
    });
  });
});

// runs last: the hook is gone afterwards
describe.skipIf(!up)('pg hook uninstall', () => {
  it('restores the exact original functions; no span afterwards; installing again works', async () => {
    const t = recorderTracer();
    installPatches(['pg']);
    uninstallPatches();
    expect(pg.Client.prototype.query).toBe(originalQuery);
    expect(poolBase.connect).toBe(originalConnect);
    expect(Object.prototype.hasOwnProperty.call(pg.Pool.prototype, 'connect')).toBe(false);
    const client = new pg.Client(CONFIG);
    await client.connect();
    try {
      const { children } = await underParent(t, () => client.query('SELECT 1'));
      expect(children).toEqual([]);
      installPatches(['pg']);
      const again = await underParent(t, () => client.query('SELECT 1'));
      expect(again.children.map((span) => span.operationName)).toEqual(['pg:SELECT']);
      uninstallPatches();
      expect(pg.Client.prototype.query).toBe(originalQuery);
    } finally {
      await client.end();
    }
  });

  it('hook.patch on an unsupported copy is the registry decision: versions [8, 9)', () => {
    expect(hook.versions).toEqual(['8.0.0', '9.0.0']);
  });
});
