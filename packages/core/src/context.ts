import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import type { Span } from 'opentracing';

/**
 * The request context: one AsyncLocalStorage for the whole process, owned by
 * core. OpenTracing JS never got a ScopeManager (opentracing-javascript#112),
 * so this is it. The store is the active span itself (no wrapper object: one
 * allocation less per request), or `SUPPRESSED` inside an ignored request.
 */
const SUPPRESSED: unique symbol = Symbol('otinst.suppressed');
type Store = Span | typeof SUPPRESSED | undefined;

const storage = new AsyncLocalStorage<Store>();

let currentSpanFunc: (() => Span | null) | null = null;

/**
 * The active span in this async context, or `null`.
 *
 * @example
 * ```ts
 * import { getCurrentSpan } from '@otinst/core';
 * app.get('/users/:id', (req, res) => {
 *   getCurrentSpan()?.setTag('user.id', req.params.id);
 *   res.json({ ok: true });
 * });
 * ```
 */
export function getCurrentSpan(): Span | null {
  if (currentSpanFunc !== null) return currentSpanFunc();
  const store = storage.getStore();
  return store === undefined || store === SUPPRESSED ? null : store;
}

/**
 * Runs `fn` with `span` active; the span stays active across `await`, timers,
 * promise chains and event listeners registered inside `fn`. `null` runs `fn`
 * with no active span.
 *
 * @example
 * ```ts
 * import { runWithSpan, startChildSpan } from '@otinst/core';
 * const span = startChildSpan('batch');
 * await runWithSpan(span, () => processBatch());
 * span.finish();
 * ```
 */
export function runWithSpan<T>(span: Span | null, fn: () => T): T {
  return storage.run(span ?? undefined, fn);
}

/**
 * Replaces the span lookup that every hook uses (the Python original's
 * `set_current_span_func`); `null` restores the AsyncLocalStorage lookup.
 *
 * @example
 * ```ts
 * import { setCurrentSpanFunc } from '@otinst/core';
 * setCurrentSpanFunc(() => myOwnScopeManager.active());
 * ```
 */
export function setCurrentSpanFunc(fn: (() => Span | null) | null): void {
  if (fn !== null && typeof fn !== 'function') {
    throw new TypeError('@otinst/core: setCurrentSpanFunc expects a function or null');
  }
  currentSpanFunc = fn;
}

/**
 * Makes `span` the active span for the rest of the current synchronous
 * execution and everything it schedules (AsyncLocalStorage `enterWith`). For
 * frameworks whose lifecycle steps are not nested calls (hapi): prefer
 * `runWithSpan` wherever the rest of the request can run inside a callback.
 */
export function enterSpan(span: Span | null): void {
  storage.enterWith(span ?? undefined);
}

/** Like `enterSpan`, for an ignored request: nothing after it is traced. */
export function enterSuppressed(): void {
  storage.enterWith(SUPPRESSED);
}

/**
 * Runs `fn` with tracing switched off: no span is active and no client hook
 * creates a span, whatever its options. Used for ignored requests.
 */
export function runSuppressed<T>(fn: () => T): T {
  return storage.run(SUPPRESSED, fn);
}

/** True inside `runSuppressed` (an ignored request and everything it causes). */
export function isTracingSuppressed(): boolean {
  return storage.getStore() === SUPPRESSED;
}

/**
 * Returns `fn` bound to the context that is current now: whenever and from
 * wherever it is called later, it runs with today's active span. For pool and
 * queue boundaries, where a callback is run from another request's context.
 *
 * @example
 * ```ts
 * import { bind } from '@otinst/core';
 * queue.push(bind(() => getCurrentSpan()?.log({ event: 'dequeued' })));
 * ```
 */
export function bind<F extends (...args: never[]) => unknown>(fn: F): F {
  const store = storage.getStore();
  return bindToStore(fn, store);
}

function bindToStore<F extends (...args: never[]) => unknown>(fn: F, store: Store): F {
  const bound = function (this: unknown, ...args: Parameters<F>) {
    return storage.run(store, () => fn.apply(this, args));
  };
  Object.defineProperty(bound, 'length', { value: fn.length });
  return bound as unknown as F;
}

const ADD_METHODS = ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener'] as const;
const REMOVE_METHODS = ['off', 'removeListener'] as const;
const kBoundListeners = Symbol('otinst.boundListeners');

type Listener = (...args: unknown[]) => unknown;
type PatchedEmitter = EventEmitter & { [kBoundListeners]?: WeakMap<Listener, Listener> };

/**
 * Makes every listener added to `emitter` from now on run in the context that
 * was current when the listener was added (not the context of whoever emits).
 * `removeListener` keeps working with the original function. Returns the
 * emitter. Binding the same emitter twice is a no-op.
 *
 * @example
 * ```ts
 * import { bindEmitter } from '@otinst/core';
 * bindEmitter(stream).on('data', (chunk) => getCurrentSpan()?.log({ bytes: chunk.length }));
 * ```
 */
export function bindEmitter<E extends EventEmitter>(emitter: E): E {
  const target = emitter as PatchedEmitter;
  if (target[kBoundListeners] !== undefined) return emitter;
  const map = new WeakMap<Listener, Listener>();
  Object.defineProperty(target, kBoundListeners, { value: map, enumerable: false });
  for (const method of ADD_METHODS) {
    const original = target[method] as (event: string | symbol, listener: Listener) => E;
    if (typeof original !== 'function') continue;
    target[method] = function (this: E, event: string | symbol, listener: Listener) {
      let bound = map.get(listener);
      if (bound === undefined) {
        bound = bindToStore(listener, storage.getStore());
        map.set(listener, bound);
      }
      return original.call(this, event, bound);
    } as never;
  }
  for (const method of REMOVE_METHODS) {
    const original = target[method] as (event: string | symbol, listener: Listener) => E;
    if (typeof original !== 'function') continue;
    target[method] = function (this: E, event: string | symbol, listener: Listener) {
      return original.call(this, event, map.get(listener) ?? listener);
    } as never;
  }
  return emitter;
}
