import type { Span } from 'opentracing';
import { startClientSpan, wouldTrace } from '../client/span';
import { getConfig } from '../config';
import { bind } from '../context';
import { debug, safeExecute } from '../safe';
import * as tags from '../tags';
import { finishSpan } from './lifecycle';
import type { CallEnd } from './lifecycle';
import { DB_PARAMS, formatParameters, recordSqlError, rememberValues } from './sql-errors';
import { sqlCommand, sqlStatementTag } from './sql-statement';
import type { SqlDialect } from './sql-statement';

/**
 * What the SQL driver hooks (`pg`, `mysql2`, `knex`) share: the span of one
 * statement (name, peer and SQL tags), how it ends (errors without the
 * parameter values), and the pool-callback binding.
 */

/** How a statement's span records an error: without the statement's parameter values. */
export const SQL_END: CallEnd = { error: recordSqlError };

/** Ends a statement's span, recording `error` (if any) without the parameter values. */
export function finishSqlSpan(span: Span, error: unknown): void {
  finishSpan(span, error, SQL_END);
}

/** One statement, as the driver hook sees it. */
export interface SqlStatement {
  /** The hook's component, also the operation name's prefix: `pg:SELECT`. */
  component: string;
  dialect: SqlDialect;
  /** The SQL text as sent (undefined: a prepared statement by name, or no text). */
  text: string | undefined;
  /** The parameter values (tagged only with `captureParameters`; scrubbed from errors). */
  values: unknown;
  /** The text has the values formatted in (mysql2's channel payload): always scrubbed. */
  valuesInside?: boolean | undefined;
  database?: unknown;
  user?: unknown;
  host?: unknown;
  port?: unknown;
  /** Further tags (knex's dialect). */
  extra?: Record<string, unknown> | undefined;
}

/** Tags `peer.ipv4` / `peer.ipv6` / `peer.hostname` and `peer.port` when known. */
export function tagPeer(spanTags: Record<string, unknown>, host: unknown, port: unknown): void {
  if (typeof host === 'string' && host !== '') spanTags[tags.peerHostTag(host)] = host;
  const portNumber = Number(port);
  if (port !== undefined && port !== null && Number.isInteger(portNumber) && portNumber > 0) {
    spanTags[tags.PEER_PORT] = portNumber;
  }
}

/** What a statement's text gives its span: the `db.statement` tag, the command, the literals taken out. */
interface Described {
  readonly tag: string;
  readonly command: string | undefined;
  readonly literals: readonly string[];
}

const NONE: readonly string[] = [];

/** Texts of at most this length are remembered; longer ones are described each time. */
const CACHED_TEXT_LIMIT = 2048;
/** Distinct texts remembered per dialect before the cache starts over. */
const CACHE_SIZE = 512;

/**
 * Described texts, per dialect. An application sends the same few statement
 * texts again and again (the values travel apart), and describing one costs
 * 1-2 µs per call; a text with its values written in is seldom seen twice,
 * and fills the cache until it starts over. Texts whose values are formatted
 * in by the driver (mysql2's channel) are never kept.
 */
const describedTexts = new Map<SqlDialect, Map<string, Described>>();

function describeText(text: string, dialect: SqlDialect, valuesInside: boolean): Described {
  // with captureSqlLiterals the tag is the text itself, truncated: nothing worth remembering
  const cacheable = !valuesInside && text.length <= CACHED_TEXT_LIMIT && !getConfig().captureSqlLiterals;
  let cache: Map<string, Described> | undefined;
  if (cacheable) {
    cache = describedTexts.get(dialect);
    if (cache === undefined) describedTexts.set(dialect, (cache = new Map()));
    const known = cache.get(text);
    if (known !== undefined) return known;
  }
  const literals: string[] = [];
  const result: Described = {
    tag: sqlStatementTag(text, dialect, valuesInside, literals),
    // the command word comes before any literal, so the raw text names the span safely
    command: sqlCommand(text, dialect),
    // a one-character literal says nothing and is never scrubbed from an error (sql-errors.ts)
    literals: literals.length === 0 ? NONE : literals.filter((literal) => literal.length >= 2),
  };
  if (cache !== undefined) {
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(text, result);
  }
  return result;
}

/**
 * Starts the client span of one statement under the current span:
 * `<component>:<COMMAND>`, with `db.statement` as `sqlStatementTag` makes it.
 * Null when nothing is traced, or when the tracer or this code fails (the
 * statement goes on untraced).
 */
export function startSqlSpan(statement: SqlStatement): Span | null {
  try {
    const { text, dialect } = statement;
    const spanTags: Record<string, unknown> = {
      [tags.SPAN_KIND]: tags.KIND_CLIENT,
      [tags.COMPONENT]: statement.component,
      [tags.DB_TYPE]: 'sql',
    };
    const { database, user } = statement;
    if (typeof database === 'string' && database !== '') spanTags[tags.DB_INSTANCE] = database;
    const described = text === undefined ? undefined : describeText(text, dialect, statement.valuesInside === true);
    if (described !== undefined) spanTags[tags.DB_STATEMENT] = described.tag;
    if (typeof user === 'string' && user !== '') spanTags[tags.DB_USER] = user;
    tagPeer(spanTags, statement.host, statement.port);
    if (statement.extra !== undefined) Object.assign(spanTags, statement.extra);
    if (getConfig().captureParameters) {
      const params = formatParameters(statement.values);
      if (params !== undefined) spanTags[DB_PARAMS] = params;
    }
    const span = startClientSpan(`${statement.component}:${described?.command ?? 'QUERY'}`, spanTags);
    // what the statement tag leaves out must not come back through an error message
    const { values } = statement;
    const literals = described?.literals ?? NONE;
    rememberValues(span, literals.length === 0 ? values : Array.isArray(values) ? [...values, ...literals] : literals);
    return span;
  } catch (error) {
    debug(`${statement.component}: starting a statement span failed`, error);
    return null;
  }
}

/** The object on `proto`'s chain that owns `name` (pg's Pool is pg-pool's subclassed; mysql2's BasePool). */
export function ownerOf(proto: object, name: string): object | undefined {
  for (let target: object | null = proto; target !== null; target = Object.getPrototypeOf(target) as object | null) {
    if (Object.prototype.hasOwnProperty.call(target, name)) return target;
  }
  return undefined;
}

type CheckoutFn = (this: unknown, callback?: unknown) => unknown;
type Callback = (this: unknown, error: unknown, ...results: unknown[]) => unknown;
type PoolStatementFn = (this: unknown, ...args: unknown[]) => unknown;

/**
 * The statement of a pool's `query` / `execute` while it runs: the pool asks
 * for a connection synchronously inside it, and when that checkout fails
 * (the server is down) no connection ever runs the statement, so its span is
 * made from here (issue 11: an outage must still show an error span).
 */
let pendingCheckout: PendingStatement | undefined;

/** A pool statement, described only if its checkout fails (describing one costs about a microsecond). */
interface PendingStatement {
  readonly describe: (pool: unknown, args: unknown[]) => SqlStatement | undefined;
  readonly pool: unknown;
  readonly args: unknown[];
}

/**
 * Wraps a pool's `query` / `execute`: `describe` tells which statement it
 * runs, for `bindCheckoutCallback` to trace if the checkout fails.
 */
export function wrapPoolStatement(
  describe: (pool: unknown, args: unknown[]) => SqlStatement | undefined,
): (original: PoolStatementFn) => PoolStatementFn {
  return (original) =>
    function poolStatement(this: unknown, ...args: unknown[]) {
      if (!wouldTrace()) return original.apply(this, args);
      const outer = pendingCheckout;
      pendingCheckout = { describe, pool: this, args };
      try {
        return original.apply(this, args);
      } finally {
        pendingCheckout = outer;
      }
    };
}

/**
 * Wraps a pool's checkout (`connect`, `getConnection`) so that a waiting
 * caller's callback, served from another request's `release()`, runs in its
 * caller's context (DataDog/dd-trace-js#3733); and, for a pool statement
 * whose checkout fails, records the statement's error span first.
 */
export function bindCheckoutCallback(original: CheckoutFn): CheckoutFn {
  return function checkout(this: unknown, callback?: unknown) {
    const pending = pendingCheckout;
    pendingCheckout = undefined;
    if (typeof callback !== 'function') return original.call(this, callback);
    if (pending === undefined) return original.call(this, bind(callback as Callback));
    return original.call(
      this,
      bind(function checkedOut(this: unknown, error: unknown, ...results: unknown[]) {
        if (error !== undefined && error !== null) {
          const statement = safeExecute('describing a pool statement', () =>
            pending.describe(pending.pool, pending.args),
          );
          const span = statement === undefined ? null : startSqlSpan(statement);
          if (span !== null) finishSqlSpan(span, error);
        }
        return (callback as Callback).call(this, error, ...results);
      }),
    );
  };
}
