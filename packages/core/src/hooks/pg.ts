import type { Span } from 'opentracing';
import { wouldTrace } from '../client/span';
import { bind } from '../context';
import { debug } from '../safe';
import type { ClientHook } from './hook';
import { traceCall, traceCallbackCall, tracedCallback } from './lifecycle';
import { bindCheckoutCallback, finishSqlSpan, ownerOf, SQL_END, startSqlSpan, wrapPoolStatement } from './sql-driver';
import type { SqlStatement } from './sql-driver';
import { POSTGRES } from './sql-statement';
import { wrapMethod } from './wrap';

/**
 * The `pg` (node-postgres 8) hook: a client span `pg:<COMMAND>` around every
 * `Client#query` (callback, promise and Submittable forms; pool queries go
 * through it too), and the caller's context kept across the pool's wait queue.
 *
 * Context: pg runs a query's callback from the socket's data handler, that is
 * in the context of whoever opened the connection, and pg-pool runs a waiting
 * `connect` callback from another request's `release()`
 * (DataDog/dd-trace-js#3733). Both callbacks are bound to the caller's context
 * (core `bind`), also when nothing is traced, so that work done in them never
 * lands under another request's span.
 *
 * The native client (`pg.native`, `NODE_PG_FORCE_NATIVE`) is not patched.
 */

/** What the hook reads from a `pg.Client` (its public fields; never the password or connection string). */
interface PgClient {
  database?: unknown;
  user?: unknown;
  host?: unknown;
  port?: unknown;
}

type Callback = (this: unknown, error: unknown, result?: unknown) => unknown;
type QueryFn = (this: PgClient, config: unknown, values?: unknown, callback?: unknown) => unknown;
type ConnectFn = (this: unknown, callback?: unknown) => unknown;

/** The Submittable protocol as the client drives it (pg.Query, pg-cursor, pg-query-stream). */
interface Submittable {
  submit(connection: unknown): unknown;
  handleReadyForQuery(connection: unknown): unknown;
  handleError(error: unknown, connection: unknown): unknown;
  text?: unknown;
  values?: unknown;
  /** pg.Query keeps a row-parsing error here and reports it from handleReadyForQuery. */
  _canceledDueToError?: unknown;
  [kSubmitted]?: SubmittedState;
}

/** A traced Submittable's span and the handlers the hook shadowed on it (restored when it completes). */
interface SubmittedState {
  span: Span;
  ready: Submittable['handleReadyForQuery'];
  error: Submittable['handleError'];
  ownReady: boolean;
  ownError: boolean;
}

const kSubmitted = Symbol('otinst.pg.submitted');

interface QueryConfig {
  text?: unknown;
  name?: unknown;
  values?: unknown;
  callback?: unknown;
  submit?: unknown;
}

interface PgModule {
  Client?: { prototype?: object };
  Pool?: { prototype?: object };
}

function isSubmittable(config: unknown): config is Submittable {
  return typeof config === 'object' && config !== null && typeof (config as QueryConfig).submit === 'function';
}

/** One query as `startSqlSpan` takes it: `query(text | config, values?)` on a client or pool with `settings`. */
function pgStatement(settings: PgClient, config: unknown, values: unknown): SqlStatement {
  const query = typeof config === 'string' ? { text: config } : (config as QueryConfig);
  return {
    component: 'pg',
    dialect: POSTGRES,
    text: typeof query.text === 'string' ? query.text : undefined,
    values: Array.isArray(values) ? values : query.values,
    database: settings.database,
    user: settings.user,
    host: settings.host ?? 'localhost',
    port: settings.port ?? 5432,
  };
}

/** Builds the span for one query; null when the tracer or our own code fails (the query goes on untraced). */
function startQuerySpan(client: PgClient, config: unknown, values: unknown): Span | null {
  return startSqlSpan(pgStatement(client, config, values));
}

// Shared handlers shadowed onto a traced Submittable (state under kSubmitted), so
// that its completion finishes the span whatever kind of Submittable it is.
function tracedHandleReadyForQuery(this: Submittable, connection: unknown): unknown {
  const state = completeSubmittable(this);
  if (state === undefined) return this.handleReadyForQuery(connection);
  const canceled = this._canceledDueToError;
  finishSqlSpan(state.span, canceled === false ? undefined : canceled);
  return state.ready.call(this, connection);
}

function tracedHandleError(this: Submittable, error: unknown, connection: unknown): unknown {
  const state = completeSubmittable(this);
  if (state === undefined) return this.handleError(error, connection);
  finishSqlSpan(state.span, error);
  return state.error.call(this, error, connection);
}

/** Removes the shadowed handlers (the object is as it was before the query) and returns the state. */
function completeSubmittable(query: Submittable): SubmittedState | undefined {
  const state = query[kSubmitted];
  if (state === undefined) return undefined;
  delete query[kSubmitted];
  const target = query as unknown as Record<string, unknown>;
  if (state.ownReady) target['handleReadyForQuery'] = state.ready;
  else delete target['handleReadyForQuery'];
  if (state.ownError) target['handleError'] = state.error;
  else delete target['handleError'];
  return state;
}

/** Whether the hook can follow this Submittable to its end (else it is not traced). */
function canWatch(query: Submittable): boolean {
  return (
    typeof query.handleReadyForQuery === 'function' &&
    typeof query.handleError === 'function' &&
    query[kSubmitted] === undefined &&
    Object.isExtensible(query)
  );
}

function watchSubmittable(query: Submittable, span: Span): void {
  const own = Object.prototype.hasOwnProperty;
  query[kSubmitted] = {
    span,
    ready: query.handleReadyForQuery,
    error: query.handleError,
    ownReady: own.call(query, 'handleReadyForQuery'),
    ownError: own.call(query, 'handleError'),
  };
  query.handleReadyForQuery = tracedHandleReadyForQuery;
  query.handleError = tracedHandleError;
}

/** Runs a Submittable or callback-form query; a synchronous throw ends the span (and the shadowing). */
function callQuery(
  original: QueryFn,
  client: PgClient,
  span: Span | null,
  config: unknown,
  values: unknown,
  callback: unknown,
): unknown {
  if (span === null) return original.call(client, config, values, callback);
  return traceCallbackCall(
    span,
    () => {
      try {
        return original.call(client, config, values, callback);
      } catch (error) {
        if (isSubmittable(config)) completeSubmittable(config);
        throw error;
      }
    },
    SQL_END,
  );
}

function wrapQuery(original: QueryFn): QueryFn {
  return function query(this: PgClient, config: unknown, values?: unknown, callback?: unknown) {
    // pg throws its own TypeError for a missing query
    if (config === null || config === undefined) return original.call(this, config, values, callback);
    const submittable = isSubmittable(config);
    let span: Span | null = null;
    if (wouldTrace() && (!submittable || canWatch(config))) span = startQuerySpan(this, config, values);
    if (submittable) {
      if (span !== null) watchSubmittable(config, span);
      // pg hands a callback argument to a Submittable that has none; it runs from the socket
      if (typeof values === 'function') values = bind(values as Callback);
      else if (typeof callback === 'function') callback = bind(callback as Callback);
      return callQuery(original, this, span, config, values, callback);
    }
    if (typeof values === 'function') {
      values = tracedCallback(span, values as Callback, SQL_END);
    } else if (typeof callback === 'function') {
      callback = tracedCallback(span, callback as Callback, SQL_END);
    } else if (typeof config === 'object' && typeof (config as QueryConfig).callback === 'function') {
      // pg copies the config object; a `callback` argument overrides its callback without touching the caller's object
      callback = tracedCallback(span, (config as QueryConfig).callback as Callback, SQL_END);
    } else if (span !== null) {
      // the promise form: the caller gets a promise that settles like pg's (lifecycle.ts)
      return traceCall(span, () => original.call(this, config, values, callback), SQL_END);
    }
    return callQuery(original, this, span, config, values, callback);
  };
}

/**
 * Patches one loaded copy of `pg` (the module object: `exports.Client`,
 * `exports.Pool`). Used by the hook; exported for copies the registry cannot
 * find by name.
 */
export function patchPgModule(exports: unknown): void {
  const pg = exports as PgModule;
  if (process.env['NODE_PG_FORCE_NATIVE']) {
    // pg then exports the native client, whose queries go through libpq: not supported
    debug('pg: NODE_PG_FORCE_NATIVE is set: the native client is not traced');
    return;
  }
  const clientProto = pg.Client?.prototype as { query?: QueryFn } | undefined;
  if (clientProto !== undefined) wrapMethod(clientProto, 'query', wrapQuery);
  const poolProto = pg.Pool?.prototype;
  if (poolProto === undefined) return;
  const connectOwner = ownerOf(poolProto, 'connect') as { connect?: ConnectFn } | undefined;
  if (connectOwner !== undefined) wrapMethod(connectOwner, 'connect', bindCheckoutCallback);
  const queryOwner = ownerOf(poolProto, 'query') as { query?: (...args: unknown[]) => unknown } | undefined;
  if (queryOwner !== undefined) wrapMethod(queryOwner, 'query', wrapPoolStatement(describePoolQuery));
}

interface PgPool {
  options?: PgClient;
}

/** `pool.query(text | config, values?, callback?)`: the statement, with the pool's connection settings. */
function describePoolQuery(pool: unknown, [config, values]: unknown[]): SqlStatement | undefined {
  if (config === null || config === undefined || typeof config === 'function') return undefined;
  return pgStatement((pool as PgPool).options ?? {}, config, values);
}

/** The `pg` client hook (node-postgres 8 with pg-pool). */
export const hook: ClientHook = {
  modules: ['pg'],
  versions: ['8.0.0', '9.0.0'],
  patch(exports) {
    patchPgModule(exports);
  },
};
