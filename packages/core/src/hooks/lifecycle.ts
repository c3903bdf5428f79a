import type { Span } from 'opentracing';
import { bind } from '../context';
import { debug, isThenable } from '../safe';
import { recordErrorOnSpan, safeFinish } from '../tracer';

/**
 * The one traced-call lifecycle every hook uses (dd-trace's TracingPlugin
 * `start` / `end` / `error` / `asyncEnd`): the hook starts the span, then
 * `traceCall` runs the call; a throw records the error, finishes and rethrows;
 * a returned promise finishes the span when it settles; a callback finishes it
 * before it runs; anything else finishes it at once.
 *
 * The caller's promise behaves exactly as without otinst (issue 11): observing
 * a promise marks its rejection as handled, so the caller gets a promise
 * derived from the library's (same value, same error object) that rejects
 * unhandled when the caller ignores it, as the library's own would have.
 */

/** How a traced call ends, beyond the default error record. */
export interface CallEnd {
  /** Records a failure (default `recordErrorOnSpan`); the SQL hooks scrub parameter values first. */
  error?: ((span: Span, error: unknown) => void) | undefined;
  /** Reads a successful result before the span finishes (a job id, a MULTI's failed EXEC). */
  result?: ((span: Span, value: unknown) => void) | undefined;
  /**
   * Follow native promises only; any other result (a thenable too) finishes
   * the span at once. For user functions (`traceFunction`): their thenables are
   * often lazy (knex builders), and calling `then` would run them.
   */
  nativePromisesOnly?: boolean | undefined;
}

/** Records `error` (when there is one) and finishes `span`: the `error` + `end` of the lifecycle. */
export function finishSpan(span: Span, error?: unknown, end?: CallEnd): void {
  if (error !== undefined && error !== null) {
    try {
      (end?.error ?? recordErrorOnSpan)(span, error);
    } catch (failure) {
      debug('recording an error failed', failure);
    }
  }
  safeFinish(span);
}

function finishWithValue(span: Span, value: unknown, end: CallEnd | undefined): void {
  if (end?.result !== undefined) {
    try {
      end.result(span, value);
    } catch (failure) {
      debug('reading a traced result failed', failure);
    }
  }
  safeFinish(span);
}

/**
 * Finishes `span` when `result` settles and returns what the caller should
 * get: for a thenable, a promise derived from it that settles the same way
 * after the span is finished (see the file note); anything else is returned
 * as it is, the span finished now.
 */
export function settleWith<R>(span: Span, result: R, end?: CallEnd): R {
  const follow = end?.nativePromisesOnly === true ? result instanceof Promise : isThenable(result);
  if (!follow) {
    finishWithValue(span, result, end);
    return result;
  }
  try {
    const derived = (result as PromiseLike<unknown>).then(
      (value) => {
        finishWithValue(span, value, end);
        return value;
      },
      (error: unknown) => {
        finishSpan(span, error, end);
        throw error;
      },
    );
    if (isThenable(derived)) return derived as R;
  } catch (failure) {
    debug('following a traced promise failed', failure);
    safeFinish(span);
  }
  return result;
}

/**
 * Finishes `span` when `promise` settles, on a side branch whose own result
 * never rejects. Only for a promise the library handles itself or never hands
 * to the caller (a command whose callback the library calls, a pipeline
 * member): observing it marks it handled.
 */
export function observeSettled(span: Span, promise: unknown, end?: CallEnd): void {
  if (!isThenable(promise)) {
    finishWithValue(span, promise, end);
    return;
  }
  try {
    promise.then(
      (value) => finishWithValue(span, value, end),
      (error: unknown) => finishSpan(span, error, end),
    );
  } catch (failure) {
    debug('following a traced promise failed', failure);
    safeFinish(span);
  }
}

/**
 * Runs `call` for the traced operation of `span` (already started): a throw
 * is recorded, the span finished and the same error rethrown; the result goes
 * through `settleWith`.
 */
export function traceCall<R>(span: Span, call: () => R, end?: CallEnd): R {
  let result: R;
  try {
    result = call();
  } catch (error) {
    finishSpan(span, error, end);
    throw error;
  }
  return settleWith(span, result, end);
}

/**
 * Like `traceCall` for a call whose outcome is a callback (not its return
 * value): a throw is recorded and rethrown; otherwise the return value is the
 * caller's, untouched, and `tracedCallback` finishes the span.
 */
export function traceCallbackCall<R>(span: Span, call: () => R, end?: CallEnd): R {
  try {
    return call();
  } catch (error) {
    finishSpan(span, error, end);
    throw error;
  }
}

type Callback = (this: unknown, error: unknown, ...results: unknown[]) => unknown;

/**
 * The caller's node-style callback, bound to the caller's context, finishing
 * `span` (once, with the callback's error) before it runs. With no span, only
 * bound: work done in the callback never lands under another request's span.
 */
export function tracedCallback<C extends Callback>(span: Span | null, callback: C, end?: CallEnd): C {
  if (span === null) return bind(callback);
  let pending = true;
  return bind(function tracedCallback(this: unknown, error: unknown, ...results: unknown[]) {
    if (pending) {
      pending = false;
      if (error !== undefined && error !== null) finishSpan(span, error, end);
      else finishWithValue(span, results[0], end);
    }
    return callback.call(this, error, ...results);
  } as C);
}
