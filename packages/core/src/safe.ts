/**
 * The one place where otinst swallows errors. Tracing must never break the
 * traced application (API.md, failure policy), so every call into a tracer or
 * into a user hook goes through `safeExecute`; a failure costs one line on the
 * debug logger and nothing else.
 */

/** A sink for otinst's diagnostic messages. */
export type DebugLogger = (message: string, error?: unknown) => void;

const ENV_SWITCH = 'OTINST_DEBUG';

function envEnabled(): boolean {
  const value = process.env[ENV_SWITCH];
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

function consoleLogger(message: string, error?: unknown): void {
  if (error === undefined) {
    console.error(`[otinst] ${message}`);
  } else {
    console.error(`[otinst] ${message}:`, error);
  }
}

let logger: DebugLogger | null = envEnabled() ? consoleLogger : null;

/**
 * Messages already written: each distinct failure is logged once, not once
 * per request. Bounded: at the limit the oldest half is forgotten (a Set keeps
 * insertion order), so a message may be written again after many others,
 * never on every call.
 */
const seen = new Set<string>();
const SEEN_LIMIT = 1000;

function remember(key: string): void {
  if (seen.size >= SEEN_LIMIT) {
    let drop = SEEN_LIMIT / 2;
    for (const old of seen) {
      if (drop-- === 0) break;
      seen.delete(old);
    }
  }
  seen.add(key);
}

/**
 * Replaces the debug logger. `null` silences it; `undefined` goes back to the
 * default (stderr when `OTINST_DEBUG=1`, silent otherwise).
 *
 * @example
 * ```ts
 * import { setDebugLogger } from '@otinst/core';
 * setDebugLogger((message, error) => myLogger.debug({ err: error }, message));
 * ```
 */
export function setDebugLogger(next: DebugLogger | null | undefined): void {
  logger = next === undefined ? (envEnabled() ? consoleLogger : null) : next;
  seen.clear();
}

/** Writes a message on the debug logger, once per distinct message. */
export function debug(message: string, error?: unknown): void {
  if (logger === null) return;
  const key = error instanceof Error ? `${message}|${error.message}` : message;
  if (seen.has(key)) {
    // least recently used goes first: a message still recurring stays remembered
    seen.delete(key);
    seen.add(key);
    return;
  }
  remember(key);
  try {
    logger(message, error);
  } catch {
    // a logger that throws must not become the app's problem either
  }
}

/** True for a promise or any object with a `then` method. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * When `value` is a promise (an `async` user hook, a tracer method that
 * returns one), a rejection is logged like a throw instead of reaching
 * `unhandledRejection` and ending the process. The caller never sees this
 * promise: only native promises are observed, because calling `then` on
 * another thenable may start work (a lazy query builder).
 */
export function observeRejection(what: string, value: unknown): void {
  if (value instanceof Promise) {
    value.then(undefined, (error: unknown) => debug(`${what} failed`, error));
  }
}

/**
 * Runs `fn` and returns its result; if it throws, logs `what` once and returns
 * `fallback`. A returned promise that rejects is logged the same way. Never
 * throws.
 */
export function safeExecute<T>(what: string, fn: () => T, fallback: T): T;
export function safeExecute<T>(what: string, fn: () => T): T | undefined;
export function safeExecute<T>(what: string, fn: () => T, fallback?: T): T | undefined {
  try {
    const result = fn();
    observeRejection(what, result);
    return result;
  } catch (error) {
    debug(`${what} failed`, error);
    return fallback;
  }
}

/** Warning codes already emitted in this process. */
const warned = new Set<string>();

/**
 * A set-up mistake that makes otinst record nothing: said once per process,
 * on the debug logger and as a process warning with `code` (`OTINST_...`),
 * so that it shows without `OTINST_DEBUG`.
 */
export function warnOnce(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  debug(message);
  try {
    process.emitWarning(message, { code });
  } catch {
    // a warning listener that throws is not the app's problem
  }
}
