import type { Span } from 'opentracing';
import { getConfig } from '../config';
import { safeExecute } from '../safe';
import { ObjectSlot } from '../object-slot';
import { recordErrorOnSpan } from '../tracer';
import { truncate } from './sql-statement';

/**
 * What the SQL hooks record besides the statement: the optional `db.params`
 * tag, and errors with the query's parameter values scrubbed from their
 * message.
 */

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (
    typeof value === 'object' &&
    value !== null &&
    'type' in value &&
    (value as { type: unknown }).type === 'Buffer'
  ) {
    const data = (value as { data?: unknown }).data;
    return `<Buffer ${Array.isArray(data) ? data.length : '?'} bytes>`;
  }
  return value;
}

/**
 * The `db.params` tag (only with `configure({ captureParameters: true })`): the values
 * as JSON (bigints as strings, buffers by size), truncated.
 */
export function formatParameters(values: unknown): string | undefined {
  if (values === undefined || values === null) return undefined;
  const text = safeExecute('formatting SQL parameters', () => JSON.stringify(values, jsonValue), undefined);
  return truncate(text ?? String(values));
}

/** Tag for SQL parameter values, written only with `configure({ captureParameters: true })`. */
export const DB_PARAMS = 'db.params';

/**
 * The parameter values of each traced query, kept (only while its span is
 * alive) to scrub them from its error: databases quote the offending value in
 * their messages (PostgreSQL's `invalid input syntax for type integer: "…"`,
 * MySQL's `Incorrect integer value: '…'`), and an error log must not carry
 * what `db.statement` leaves out.
 */
const queryValues = new ObjectSlot<readonly unknown[]>('otinst.queryValues');

/** Remembers `values` of the query traced by `span`, unless parameters are recorded anyway. */
export function rememberValues(span: Span | null, values: unknown): void {
  if (span === null || getConfig().captureParameters || !Array.isArray(values) || values.length === 0) return;
  queryValues.set(span, values);
}

function secretsOf(values: readonly unknown[]): string[] {
  const secrets: string[] = [];
  for (const value of values) {
    let text: string | undefined;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' || typeof value === 'bigint') text = String(value);
    else if (Buffer.isBuffer(value)) text = value.toString('utf8');
    // a one-character value says nothing, and would scrub the message to pieces
    if (text !== undefined && text.length >= 2) secrets.push(text);
  }
  // longest first, so that a value containing another is scrubbed whole
  return secrets.sort((a, b) => b.length - a.length);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A matcher of whole occurrences of `secrets`: not inside a longer word or
 * number (a value `31` leaves `310` and `parser.js:310:98` alone).
 */
function wholeOccurrences(secrets: readonly string[]): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${secrets.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}_])`, 'gu');
}

/**
 * The stack with the secrets scrubbed from its message lines only: frame
 * lines (`    at fn (file:line:column)`) are kept verbatim (issue 12: file
 * positions must survive).
 */
function scrubStack(stack: string, matcher: RegExp): string {
  return stack
    .split('\n')
    .map((line) => (/^\s+at\s/.test(line) ? line : line.replace(matcher, '?')))
    .join('\n');
}

/** `error` with the query's parameter values replaced by `?` in its message (and the stack's message lines). */
function withoutValues(error: unknown, values: readonly unknown[]): unknown {
  if (!(error instanceof Error)) return error;
  const secrets = secretsOf(values);
  if (secrets.length === 0) return error;
  const matcher = wholeOccurrences(secrets);
  const message = error.message.replace(matcher, '?');
  const stack = error.stack === undefined ? undefined : scrubStack(error.stack, matcher);
  // a copy for the log (same class, so the same error.kind), also when nothing was scrubbed: the caller
  // keeps the original, and a library may still rewrite its message (knex prepends the SQL text)
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error & { code?: unknown };
  Object.defineProperty(copy, 'message', { value: message, writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: stack, writable: true, configurable: true });
  // pg's DatabaseError names itself with an own property
  if (Object.prototype.hasOwnProperty.call(error, 'name')) {
    Object.defineProperty(copy, 'name', { value: error.name, writable: true, configurable: true });
  }
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) copy.code = code;
  return copy;
}

/** Records a failed query on its span, its parameter values scrubbed from the error (see `rememberValues`). */
export function recordSqlError(span: Span, error: unknown): void {
  const values = queryValues.get(span);
  recordErrorOnSpan(span, values === undefined ? error : withoutValues(error, values));
}
