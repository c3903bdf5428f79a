import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// loaded before the hook is installed: the hook must patch the copy already in use
import knexModule from 'knex';
import type { Knex } from 'knex';
import { configure, installPatches, installedPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';
import { isWrapped, originalOf } from '../../src/hooks/wrap';
import { serviceAvailable } from '../../../../test/support/services';
import { jaegerTracer, otelTracer } from '../../../../test/support/tracers';
import { runFixture, type PrintedSpan } from '../fixtures/run-fixture';

const pgUp = await serviceAvailable('postgres');
const mysqlUp = await serviceAvailable('mysql');

const tracer = new RecordingTracer({ serviceName: 'knex-test' });
const table = `otinst_knex_${process.pid}`;
const originalQuery = knexModule.Client.prototype.query;
const originalStream = knexModule.Client.prototype.stream;

interface Database {
  label: 'postgres' | 'mariadb';
  config: Knex.Config;
  dialect: string;
  driverHook: 'pg' | 'mysql2';
  up: boolean;
  quote: (name: string) => string;
}

const databases: Database[] = [
  {
    label: 'postgres',
    config: {
      client: 'pg',
      connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' },
      pool: { min: 0, max: 1 },
    },
    dialect: 'postgresql',
    driverHook: 'pg',
    up: pgUp,
    quote: (name) => `"${name}"`,
  },
  {
    label: 'mariadb',
    config: {
      client: 'mysql2',
      connection: { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' },
      pool: { min: 0, max: 1 },
    },
    dialect: 'mysql',
    driverHook: 'mysql2',
    up: mysqlUp,
    quote: (name) => `\`${name}\``,
  },
];

function spanNamed(name: string) {
  const found = tracer.spans().filter((span) => span.operationName === name);
  expect(found.map((span) => span.operationName)).toEqual([name]);
  return found[0]!;
}

/** Runs `fn` under a root span. Awaits inside: a knex builder is a lazy thenable that runs when awaited. */
async function inRoot<T>(fn: () => PromiseLike<T>): Promise<{ root: ReturnType<typeof spanNamed>; result: T }> {
  const root = tracer.startSpan('root');
  const result = await runWithSpan(root, async () => await fn());
  root.finish();
  return { root: spanNamed('root'), result };
}

for (const database of databases) {
  describe.skipIf(!database.up)(`knex hook on ${database.label}`, () => {
    let db: Knex;
    const q = database.quote;

    beforeAll(async () => {
      db = knexModule(database.config);
      await db.schema.dropTableIfExists(table);
      await db.schema.createTable(table, (t) => {
        t.integer('id').primary();
        t.string('name');
      });
    });

    afterAll(async () => {
      uninstallPatches();
      await db.schema.dropTableIfExists(table);
      await db.destroy();
    });

    beforeEach(async () => {
      await db(table).del();
      installPatches(['knex']);
      tracer.reset();
    });

    afterEach(() => {
      uninstallPatches();
      configure({ requireParentSpan: true });
      configure({ captureParameters: false });
      configure({ tracer: null });
    });

    it('makes one child span per statement, with the SQL text and no bound values', async () => {
      const { root, result } = await inRoot(async () => {
        await db(table).insert({ id: 1, name: 'secret-name' });
        return db(table).select('id', 'name').where('id', 1);
      });
      expect(result).toEqual([{ id: 1, name: 'secret-name' }]);
      const insert = spanNamed('knex:INSERT');
      const select = spanNamed('knex:SELECT');
      expect(select.tags).toEqual({
        'span.kind': 'client',
        component: 'knex',
        'db.type': 'sql',
        'db.instance': 'test',
        'db.statement': `select ${q('id')}, ${q('name')} from ${q(table)} where ${q('id')} = ?`,
        'knex.dialect': database.dialect,
      });
      expect(insert.tags['db.statement']).toBe(`insert into ${q(table)} (${q('id')}, ${q('name')}) values (?, ?)`);
      for (const span of [insert, select]) {
        expect(span.parentId).toBe(root.spanId);
        expect(span.traceId).toBe(root.traceId);
        expect(span.finishCount).toBe(1);
        expect(JSON.stringify(span.tags)).not.toContain('secret-name');
      }
      expect(tracer.store.unfinished()).toEqual([]);
    });

    it('records the bound values as db.params only when captureParameters asks', async () => {
      configure({ captureParameters: true });
      await inRoot(() => db(table).where({ id: 42 }).first());
      expect(spanNamed('knex:SELECT').tags['db.params']).toBe('[42,1]');
    });

    it('makes no span without a current span, and a root span when requireParentSpan is false', async () => {
      configure({ tracer });
      await db(table).select();
      expect(tracer.spans()).toEqual([]);
      configure({ requireParentSpan: false });
      await db(table).select();
      const select = spanNamed('knex:SELECT');
      expect(select.parentId).toBeUndefined();
    });

    it('shows BEGIN and COMMIT around the statements of a committed transaction', async () => {
      const { root } = await inRoot(() =>
        db.transaction(async (trx) => {
          await trx(table).insert({ id: 2, name: 'b' });
        }),
      );
      const names = tracer
        .spans()
        .filter((span) => span.operationName !== 'root')
        .map((span) => span.operationName);
      expect(names).toEqual(['knex:BEGIN', 'knex:INSERT', 'knex:COMMIT']);
      for (const span of tracer.spans().filter((s) => s.operationName !== 'root')) {
        expect(span.parentId).toBe(root.spanId);
        expect(span.tags['error']).toBeUndefined();
      }
      expect(spanNamed('knex:BEGIN').tags['db.statement']).toBe('BEGIN;');
      expect(spanNamed('knex:COMMIT').tags['db.statement']).toBe('COMMIT;');
      expect(await db(table).count({ n: '*' })).toEqual([{ n: database.label === 'postgres' ? '1' : 1 }]);
    });

    it('shows ROLLBACK when the transaction fails, and the failing statement as an error', async () => {
      const failure = await inRoot(() =>
        db
          .transaction(async (trx) => {
            await trx(table).insert({ id: 3, name: 'c' });
            await trx(table).insert({ id: 3, name: 'duplicate' });
          })
          .catch((error: unknown) => error),
      );
      expect(failure.result).toBeInstanceOf(Error);
      const names = tracer
        .spans()
        .filter((span) => span.operationName !== 'root')
        .map((span) => span.operationName);
      expect(names).toEqual(['knex:BEGIN', 'knex:INSERT', 'knex:INSERT', 'knex:ROLLBACK']);
      const [, first, second, rollback] = tracer.spans();
      expect(first!.tags['error']).toBeUndefined();
      expect(second!.tags['error']).toBe(true);
      // the logged error is the caller's, or a copy of it with the inserted values scrubbed from its message
      const failed = failure.result as Error & { code?: string };
      expect(second!.logs[0]!.fields).toMatchObject({ event: 'error', 'error.kind': failed.name });
      expect(second!.logs[0]!.fields['error.object']).toMatchObject({ code: failed.code });
      expect(String(second!.logs[0]!.fields['message'])).not.toContain("'duplicate'");
      expect(rollback!.tags['error']).toBeUndefined();
      expect(rollback!.parentId).toBe(failure.root.spanId);
      expect(await db(table).count({ n: '*' })).toEqual([{ n: database.label === 'postgres' ? '0' : 0 }]);
    });

    it('shows SAVEPOINT and RELEASE for a nested transaction', async () => {
      await inRoot(() =>
        db.transaction(async (trx) => {
          await trx.transaction(async (nested) => {
            await nested(table).insert({ id: 5, name: 'e' });
          });
        }),
      );
      const names = tracer
        .spans()
        .filter((span) => span.operationName !== 'root')
        .map((span) => span.operationName);
      expect(names).toEqual(['knex:BEGIN', 'knex:SAVEPOINT', 'knex:INSERT', 'knex:RELEASE', 'knex:COMMIT']);
    });

    it('shows ROLLBACK for an explicit trx.rollback()', async () => {
      await inRoot(async () => {
        const trx = await db.transaction();
        await trx(table).insert({ id: 4, name: 'd' });
        await trx.rollback();
      }).catch(() => undefined);
      const names = tracer
        .spans()
        .filter((span) => span.operationName !== 'root')
        .map((span) => span.operationName);
      expect(names).toEqual(['knex:BEGIN', 'knex:INSERT', 'knex:ROLLBACK']);
    });

    it('keeps each request its own parent with a one-connection pool under concurrency', async () => {
      const roots = [0, 1, 2, 3].map((n) => tracer.startSpan(`root-${n}`));
      await Promise.all(
        roots.map((root, n) =>
          runWithSpan(root, async () => {
            await db(table).insert({ id: 10 + n, name: `n${n}` });
            await db(table)
              .where({ id: 10 + n })
              .first();
          }),
        ),
      );
      for (const root of roots) root.finish();
      const spans = tracer.spans();
      for (let n = 0; n < roots.length; n++) {
        const root = spans.find((span) => span.operationName === `root-${n}`)!;
        const children = spans.filter((span) => span.parentId === root.spanId).map((span) => span.operationName);
        expect(children.sort()).toEqual(['knex:INSERT', 'knex:SELECT']);
      }
    });

    it('records a failing statement as an error and rethrows it unchanged', async () => {
      const { result } = await inRoot(() => db.raw('select * from otinst_no_such_table').catch((e: unknown) => e));
      expect(result).toBeInstanceOf(Error);
      const span = spanNamed('knex:SELECT');
      expect(span.tags['error']).toBe(true);
      expect(span.tags['db.statement']).toBe('select * from otinst_no_such_table');
      expect(span.logs.map((log) => log.fields['event'])).toEqual(['error']);
      expect(span.finishCount).toBe(1);
    });

    it(`makes the ${database.driverHook} span a child of the knex span when both hooks are on (no duplicate)`, async () => {
      uninstallPatches();
      installPatches(['knex', database.driverHook]);
      expect(installedPatches().sort()).toEqual(['knex', database.driverHook].sort());
      // warm the pool outside the trace: the driver's connection set-up is not part of the statement
      await db.raw('select 1');
      tracer.reset();
      await inRoot(() => db(table).select('id').where('id', 1));
      const knexSpan = spanNamed('knex:SELECT');
      const driverSpans = tracer.spans().filter((span) => span.operationName.startsWith(`${database.driverHook}:`));
      expect(driverSpans.map((span) => span.operationName)).toEqual([`${database.driverHook}:SELECT`]);
      expect(driverSpans[0]!.parentId).toBe(knexSpan.spanId);
      expect(driverSpans[0]!.traceId).toBe(knexSpan.traceId);
    });

    it('keeps the query working when the tracer throws', async () => {
      const broken = {
        startSpan() {
          throw new Error('tracer down');
        },
      };
      const parent = tracer.startSpan('root');
      Object.defineProperty(parent, 'tracer', { value: () => broken });
      const rows = await runWithSpan(parent, async () => await db(table).select('id'));
      parent.finish();
      expect(rows).toEqual([]);
      expect(tracer.spans().map((span) => span.operationName)).toEqual(['root']);
    });

    it('installs once (no double wrapping) and uninstalls to the exact original functions', async () => {
      installPatches(['knex']);
      installPatches(['knex']);
      expect(isWrapped(knexModule.Client.prototype.query)).toBe(true);
      expect(originalOf(knexModule.Client.prototype.query)).toBe(originalQuery);
      await inRoot(() => db(table).select());
      expect(tracer.spans().map((span) => span.operationName)).toEqual(['knex:SELECT', 'root']);
      uninstallPatches();
      expect(knexModule.Client.prototype.query).toBe(originalQuery);
      expect(knexModule.Client.prototype.stream).toBe(originalStream);
      expect(Object.prototype.hasOwnProperty.call(knexModule.Client.prototype, 'query')).toBe(true);
      tracer.reset();
      await inRoot(() => db(table).select());
      expect(tracer.spans().map((span) => span.operationName)).toEqual(['root']);
    });

    // knex streams from PostgreSQL through pg-query-stream (a dev dependency here)
    it('traces a streamed query until the stream ends', async () => {
      await db(table).insert([
        { id: 20, name: 'x' },
        { id: 21, name: 'y' },
      ]);
      const rows: unknown[] = [];
      await inRoot(async () => {
        const stream = db(table).select('id').orderBy('id').stream();
        for await (const row of stream) rows.push(row);
      });
      expect(rows).toEqual([{ id: 20 }, { id: 21 }]);
      const span = spanNamed('knex:SELECT');
      expect(span.finishCount).toBe(1);
      expect(span.parentId).toBe(spanNamed('root').spanId);
    });

    it('patches the one copy that both import and require() see', async () => {
      const required = createRequire(import.meta.url)('knex') as typeof knexModule;
      const imported = (await import('knex')).default;
      expect(required).toBe(imported);
      expect(required.Client.prototype.query).toBe(knexModule.Client.prototype.query);
      expect(isWrapped(required.Client.prototype.query)).toBe(true);
    });
  });
}

describe.skipIf(!pgUp)('knex hook with the other tracers', () => {
  for (const make of [jaegerTracer, otelTracer]) {
    it(`links knex spans to their parent under ${make.name}`, async () => {
      const t = make();
      installPatches(['knex']);
      const db = knexModule(databases[0]!.config);
      try {
        const root = t.tracer.startSpan('root');
        await runWithSpan(root, () =>
          db.transaction(async (trx) => {
            await trx.raw('select 1 as one');
          }),
        );
        root.finish();
      } finally {
        uninstallPatches();
        await db.destroy();
      }
      const spans = t.spans();
      const root = spans.find((span) => span.operationName === 'root')!;
      const children = spans.filter((span) => span.operationName.startsWith('knex:'));
      expect(children.map((span) => span.operationName)).toEqual(['knex:BEGIN', 'knex:SELECT', 'knex:COMMIT']);
      for (const span of children) {
        expect(span.parentId).toBe(root.spanId);
        expect(span.traceId).toBe(root.traceId);
        expect(span.tags).toMatchObject({
          'span.kind': 'client',
          component: 'knex',
          'db.type': 'sql',
          'db.instance': 'test',
          'knex.dialect': 'postgresql',
        });
      }
      expect(children[1]!.tags['db.statement']).toBe('select ? as one');
    });
  }
});

describe.skipIf(!pgUp)('knex hook in an ES-module application', () => {
  it('traces knex imported after installing the hook', async () => {
    const spans = await runFixture<PrintedSpan[]>('esm-app.mjs', ['knex']);
    const root = spans.find((span) => span.operationName === 'root')!;
    const statement = spans.find((span) => span.operationName === 'knex:SELECT')!;
    expect(statement.parentId).toBe(root.spanId);
    expect(statement.tags).toEqual({
      'span.kind': 'client',
      component: 'knex',
      'db.type': 'sql',
      'db.instance': 'test',
      'db.statement': 'select ? as one',
      'knex.dialect': 'postgresql',
    });
  });
});
