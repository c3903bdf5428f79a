import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2';
import type { Span } from 'opentracing';
import { configure, getCurrentSpan, installPatches, resetConfig, runWithSpan, uninstallPatches } from '@otinst/core';
import { hook } from '../../src/hooks/mysql2';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';
import mysqlOld from 'mysql2-nochannels';

/**
 * Regression: a mysql2 pool serves a waiting `getConnection` from another
 * request's `release()` (process.nextTick in the releaser's context), so a
 * queued `pool.query` ran, and was traced, under the releasing request
 * (DataDog/dd-trace-js#8826; open-telemetry/opentelemetry-js-contrib#561 for
 * mysql). Both ways in are pinned: the tracing channels of mysql2 3.24 and
 * the patched mysql2 3.15.
 */

const up = await serviceAvailable('mysql');
const CONFIG = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' } as const;
const FLOWS = 50;

interface CallbackPool {
  query(sql: string, callback: (error: Error | null) => void): unknown;
  getConnection(
    callback: (error: Error | null, connection?: { query: CallbackPool['query']; release(): void }) => void,
  ): void;
  promise(): { query(sql: string): Promise<unknown> };
  end(callback?: () => void): void;
}

const LIBRARIES = [
  { name: 'mysql2 3.24 (tracing channels)', lib: mysql as unknown as { createPool(c: object): CallbackPool } },
  { name: 'mysql2 3.15 (patched)', lib: mysqlOld as unknown as { createPool(c: object): CallbackPool } },
];

describe.skipIf(!up)('mysql2 pool with connectionLimit: 1 under 50 concurrent flows', () => {
  beforeAll(() => {
    // the statements' numbers name the flows: kept verbatim here (the default replaces them by `?`)
    configure({ captureSqlLiterals: true });
    installPatches(['mysql2']);
    hook.patch(mysqlOld, '3.15.3');
  });

  afterAll(() => resetConfig());
  afterAll(() => {
    uninstallPatches();
  });

  for (const { name, lib } of LIBRARIES) {
    describe(name, () => {
      const t = recorderTracer();
      let pool: CallbackPool;

      beforeAll(() => {
        pool = lib.createPool({ ...CONFIG, connectionLimit: 1 });
      });

      afterAll(async () => {
        await new Promise<void>((resolve) => pool.end(() => resolve()));
      });

      async function flow(i: number, span: Span, mismatches: string[]): Promise<void> {
        const check = (where: string) => {
          if (getCurrentSpan() !== span) mismatches.push(`flow ${i}: ${where}`);
        };
        if (i % 2 === 0) {
          await pool.promise().query(`SELECT ${i} AS flow`);
          check('after await pool.promise().query');
        } else {
          await new Promise<void>((resolve, reject) => {
            pool.query(`SELECT ${i} AS flow`, (error) => {
              check('pool.query callback');
              if (error) reject(error);
              else resolve();
            });
          });
        }
        await new Promise<void>((resolve, reject) => {
          pool.getConnection((error, connection) => {
            check('pool.getConnection callback');
            if (error || connection === undefined) return reject(error ?? new Error('no connection'));
            connection.query(`SELECT ${i} AS checkout`, (queryError) => {
              check('connection.query callback');
              connection.release();
              if (queryError) reject(queryError);
              else resolve();
            });
          });
        });
      }

      it('each query span hangs under its own flow, and every callback sees its own flow span', async () => {
        t.reset();
        const mismatches: string[] = [];
        await Promise.all(
          Array.from({ length: FLOWS }, (_, i) => {
            const span = t.tracer.startSpan(`flow-${i}`);
            return runWithSpan(span, () => flow(i, span, mismatches)).finally(() => span.finish());
          }),
        );
        expect(mismatches).toEqual([]);
        const spans = t.spans();
        const flows = new Map(
          spans.filter((s) => s.operationName.startsWith('flow-')).map((s) => [s.operationName, s]),
        );
        const queries = spans.filter((s) => s.operationName === 'mysql2:SELECT');
        expect(queries).toHaveLength(2 * FLOWS);
        const wrong = queries.flatMap((query) => {
          const match = /^SELECT (\d+) AS (flow|checkout)$/.exec(query.tags['db.statement'] as string);
          const owner = match === null ? undefined : flows.get(`flow-${match[1]}`);
          return owner !== undefined && query.parentId === owner.spanId && query.traceId === owner.traceId
            ? []
            : [query.tags['db.statement']];
        });
        expect(wrong).toEqual([]);
      });
    });
  }
});
