import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Span } from 'opentracing';
import { configure, getCurrentSpan, installPatches, resetConfig, runWithSpan, uninstallPatches } from '@otinst/core';
import { serviceAvailable } from '../../../../test/support/services';
import { recorderTracer } from '../../../../test/support/tracers';

/**
 * Regression: in a busy pg-pool, a waiting checkout is served from another
 * request's `release()`, so its callback (and `pool.query`, which checks out
 * with a callback) ran in the releasing request's context and its query span
 * hung under the wrong request (DataDog/dd-trace-js#3733). pg also runs every
 * query callback from the socket, in the context of whoever opened the
 * connection.
 */

const up = await serviceAvailable('postgres');
const CONFIG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;
const FLOWS = 50;

describe.skipIf(!up)('pg pool with max: 1 under 50 concurrent flows', () => {
  const t = recorderTracer();
  let pool: pg.Pool;

  beforeAll(() => {
    // the statements' numbers name the flows: kept verbatim here (the default replaces them by `?`)
    configure({ captureSqlLiterals: true });
    installPatches(['pg']);
    pool = new pg.Pool({ ...CONFIG, max: 1 });
  });

  afterAll(() => resetConfig());
  afterAll(async () => {
    await pool?.end();
    uninstallPatches();
  });

  /** One flow: pool.query (promise or callback form), then a pool.connect checkout with a callback. */
  async function flow(i: number, span: Span, mismatches: string[]): Promise<void> {
    const check = (where: string) => {
      if (getCurrentSpan() !== span) mismatches.push(`flow ${i}: ${where}`);
    };
    if (i % 2 === 0) {
      await pool.query(`SELECT ${i} AS flow`);
      check('after await pool.query');
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
      pool.connect((error, client, release) => {
        check('pool.connect callback');
        if (error || client === undefined) return reject(error ?? new Error('no client'));
        client.query(`SELECT ${i} AS checkout`, (queryError) => {
          check('client.query callback');
          release();
          if (queryError) reject(queryError);
          else resolve();
        });
      });
    });
  }

  it('each query span hangs under its own flow, and every callback sees its own flow span', async () => {
    t.reset();
    const mismatches: string[] = [];
    const flowSpans: Span[] = [];
    const running = Array.from({ length: FLOWS }, (_, i) => {
      const span = t.tracer.startSpan(`flow-${i}`);
      flowSpans.push(span);
      return runWithSpan(span, () => flow(i, span, mismatches)).finally(() => span.finish());
    });
    // the pool really is busy: all but one checkout wait in its queue
    const waiting = pool.waitingCount;
    await Promise.all(running);
    expect(waiting).toBeGreaterThanOrEqual(FLOWS - 1);
    expect(mismatches).toEqual([]);

    const spans = t.spans();
    const flowIds = new Map(spans.filter((s) => s.operationName.startsWith('flow-')).map((s) => [s.operationName, s]));
    const queries = spans.filter((s) => s.operationName === 'pg:SELECT');
    expect(queries).toHaveLength(2 * FLOWS);
    for (const query of queries) {
      const match = /^SELECT (\d+) AS (flow|checkout)$/.exec(query.tags['db.statement'] as string);
      expect(match).not.toBeNull();
      const owner = flowIds.get(`flow-${match![1]}`)!;
      expect({ statement: query.tags['db.statement'], parent: query.parentId, trace: query.traceId }).toEqual({
        statement: query.tags['db.statement'],
        parent: owner.spanId,
        trace: owner.traceId,
      });
    }
  });
});
