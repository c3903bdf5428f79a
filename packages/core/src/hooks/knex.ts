/**
 * The `knex` client hook: one span per SQL statement that knex sends,
 * `knex:<COMMAND>` (`knex:SELECT`, `knex:INSERT`, and a transaction's
 * `knex:BEGIN`, `knex:COMMIT`, `knex:ROLLBACK`, `knex:SAVEPOINT`).
 *
 * What it patches: `Client.prototype.query` and `Client.prototype.stream` of
 * knex's base client (exported as `knex.Client`). Every statement passes
 * through them: query builder, schema builder, `knex.raw`, and the
 * transaction statements, because a transaction's client is made with
 * `Object.create(Client.prototype)` and takes `query` from the prototype when
 * the transaction starts. Dialects override only the driver-facing `_query`.
 *
 * With the `pg` or `mysql2` hook also on, the knex span is the parent and the
 * driver span its child: the driver call runs inside the knex span's context,
 * so the driver hook hangs its span under it. One statement gives one span per
 * layer, never two spans side by side: the knex span says what the
 * application asked for (the SQL as knex built it, the dialect), the driver
 * span what went over the wire (peer address, user, positional SQL).
 *
 * `db.statement` is the SQL as knex built it, with `?` placeholders (bound
 * values are never in it), cut at 4096 characters like the driver hooks' (the
 * command is read with the same scanner, `hooks/sql.ts`). Bound values are
 * recorded only when `configure({ captureParameters: true })` is set (as `db.params`). Beware that knex itself writes the bound values
 * into the message of a failed query's error, which the span's error log
 * carries; knex's `compileSqlOnError: false` option keeps them out.
 */
import type { Span } from 'opentracing';
import { runWithSpan } from '../context';
import { wouldTrace } from '../client/span';
import { safeExecute } from '../safe';
import type { ClientHook } from './hook';
import { traceCall } from './lifecycle';
import { SQL_END, startSqlSpan } from './sql-driver';
import { MYSQL, POSTGRES } from './sql-statement';
import { wrapMethod } from './wrap';

/** The parts of a knex client (`lib/client.js`) this hook reads. */
interface KnexClient {
  readonly dialect?: unknown;
  database?(): unknown;
}

type QueryFn = (this: KnexClient, connection: unknown, query: unknown) => unknown;
type StreamFn = (this: KnexClient, connection: unknown, query: unknown, stream: unknown, options: unknown) => unknown;

interface KnexClientPrototype {
  query?: QueryFn;
  stream?: StreamFn;
}

interface KnexModule {
  Client?: { prototype?: KnexClientPrototype };
}

const KNEX_DIALECT = 'knex.dialect';

function statementText(query: unknown): string | undefined {
  if (typeof query === 'string') return query;
  if (typeof query === 'object' && query !== null) {
    const sql = (query as { sql?: unknown }).sql;
    if (typeof sql === 'string') return sql;
  }
  return undefined;
}

function bindingsOf(query: unknown): unknown {
  return typeof query === 'object' && query !== null ? (query as { bindings?: unknown }).bindings : undefined;
}

/** knex's MySQL-family dialects: the SQL scanner then knows `#` comments and backslash escapes. */
function isMysql(dialect: unknown): boolean {
  return dialect === 'mysql' || dialect === 'mysql2' || dialect === 'mariadb';
}

function startStatementSpan(client: KnexClient, query: unknown): Span | null {
  // checked first, so that an untraced statement allocates nothing here
  if (!wouldTrace()) return null;
  const dialect = client.dialect;
  return startSqlSpan({
    component: 'knex',
    dialect: isMysql(dialect) ? MYSQL : POSTGRES,
    text: statementText(query),
    values: bindingsOf(query),
    database: safeExecute('knex client.database()', () => client.database?.()),
    extra: { [KNEX_DIALECT]: dialect },
  });
}

/** Runs `run` with `span` active; the span finishes when the result settles (lifecycle.ts). */
function runTraced(span: Span, run: () => unknown): unknown {
  return traceCall(span, () => runWithSpan(span, run), SQL_END);
}

function wrapQuery(original: QueryFn): QueryFn {
  return function query(this: KnexClient, connection: unknown, queryParam: unknown) {
    const span = startStatementSpan(this, queryParam);
    if (span === null) return original.call(this, connection, queryParam);
    return runTraced(span, () => original.call(this, connection, queryParam));
  };
}

function wrapStream(original: StreamFn): StreamFn {
  return function stream(
    this: KnexClient,
    connection: unknown,
    queryParam: unknown,
    target: unknown,
    options: unknown,
  ) {
    const span = startStatementSpan(this, queryParam);
    if (span === null) return original.call(this, connection, queryParam, target, options);
    // the promise settles when the streamed result has been read to the end (or failed)
    return runTraced(span, () => original.call(this, connection, queryParam, target, options));
  };
}

/** The `knex` hook: `knex.Client.prototype.query` and `.stream`. */
export const hook: ClientHook = {
  modules: ['knex'],
  versions: ['0.95.0', '4.0.0'],
  patch(exports) {
    const prototype = (exports as KnexModule).Client?.prototype;
    if (prototype === undefined) return;
    wrapMethod(prototype, 'query', (original) => wrapQuery(original) as typeof original);
    wrapMethod(prototype, 'stream', (original) => wrapStream(original) as typeof original);
  },
};
