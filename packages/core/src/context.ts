import { AsyncResource, type AsyncLocalStorage } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import type { Span } from 'opentracing';
import { safeExecute } from './safe';
import { shared } from './shared';

/**
 * The request context: one AsyncLocalStorage for the whole process, owned by
 * core. OpenTracing JS never got a ScopeManager (opentracing-javascript#112),
 * so this is it. The store is the active span itself (no wrapper object: one
 * allocation less per request), or `SUPPRESSED` inside an ignored request.
 */
// Symbol.for and the shared storage: every copy of @otinst/core in the process sees one context (shared.ts)
const SUPPRESSED: unique symbol = Symbol.for('otinst.suppressed');
type Store = Span | typeof SUPPRESSED | undefined;

const storage = shared.storage as AsyncLocalStorage<Store>;

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
  // a user lookup that throws or returns undefined must not break the hooks that ask it
  if (currentSpanFunc !== null) return safeExecute('setCurrentSpanFunc lookup', currentSpanFunc, null) ?? null;
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
 * Replaces the span lookup that every hook uses; `null` restores the
 * AsyncLocalStorage lookup.
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
  return bindToCurrent(fn);
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Wrappers that run `fn` in `resource`'s context, one per arity (0 to 4), so
 * that the bound function keeps `fn.length` without `Object.defineProperty`
 * on every bind (which cost more than the bind itself: ~0.5 µs).
 */
const BINDERS: ((fn: AnyFunction, resource: AsyncResource) => AnyFunction)[] = [
  (fn, resource) =>
    function (this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, this, ...args);
    },
  (fn, resource) =>
    function (this: unknown, _a: unknown, ...rest: unknown[]) {
      return resource.runInAsyncScope(fn, this, _a, ...rest);
    },
  (fn, resource) =>
    function (this: unknown, _a: unknown, _b: unknown, ...rest: unknown[]) {
      return resource.runInAsyncScope(fn, this, _a, _b, ...rest);
    },
  (fn, resource) =>
    function (this: unknown, _a: unknown, _b: unknown, _c: unknown, ...rest: unknown[]) {
      return resource.runInAsyncScope(fn, this, _a, _b, _c, ...rest);
    },
  (fn, resource) =>
    function (this: unknown, _a: unknown, _b: unknown, _c: unknown, _d: unknown, ...rest: unknown[]) {
      return resource.runInAsyncScope(fn, this, _a, _b, _c, _d, ...rest);
    },
];

/**
 * `fn` bound to the whole async context current now (every AsyncLocalStorage,
 * ours included): an AsyncResource captures it (with async context frames, a
 * pointer), where `storage.run` per call built a new context each time.
 */
function bindToCurrent<F extends (...args: never[]) => unknown>(fn: F): F {
  const resource = new AsyncResource('otinst.bind');
  const binder = BINDERS[fn.length];
  if (binder !== undefined) return binder(fn as unknown as AnyFunction, resource) as unknown as F;
  const bound = BINDERS[0]!(fn as unknown as AnyFunction, resource);
  Object.defineProperty(bound, 'length', { value: fn.length });
  return bound as unknown as F;
}

// Node's `once` and `prependOnceListener` add their wrapper through `this.on` /
// `this.prependListener`: patching them too would bind twice and break removal
// with the original function.
const ADD_METHODS = ['on', 'addListener', 'prependListener'] as const;
const REMOVE_METHODS = ['off', 'removeListener'] as const;
const kEmitterState = Symbol('otinst.boundEmitter');

type Listener = ((...args: unknown[]) => unknown) & { listener?: Listener };
type EmitterMethod = (this: unknown, event: string | symbol, listener: Listener) => unknown;
interface EmitterState {
  readonly originals: Map<string, EmitterMethod>;
  /** A `once` wrapper -> the bound function added for it, so that the wrapper can remove itself when it fires. */
  readonly onceWrappers: WeakMap<Listener, Listener>;
}
type PatchedEmitter = EventEmitter & { [kEmitterState]?: EmitterState };

// one shared function per method (state on the emitter under a symbol), not closures per emitter
function makeAdd(method: string): EmitterMethod {
  return function addBoundListener(this: unknown, event, listener) {
    const state = (this as PatchedEmitter)[kEmitterState]!;
    const original = state.originals.get(method)!;
    // let the emitter reject a non-function with its own error
    if (typeof listener !== 'function') return original.call(this, event, listener);
    const bound = bindToCurrent(listener) as Listener;
    // removeListener(fn), listeners() and listenerCount() look through `.listener`, as for Node's own once wrappers
    bound.listener = listener.listener ?? listener;
    if (listener.listener !== undefined) state.onceWrappers.set(listener, bound);
    return original.call(this, event, bound);
  };
}

function makeRemove(method: string): EmitterMethod {
  return function removeBoundListener(this: unknown, event, listener) {
    const state = (this as PatchedEmitter)[kEmitterState]!;
    return state.originals.get(method)!.call(this, event, state.onceWrappers.get(listener) ?? listener);
  };
}

const PATCHES = new Map<string, EmitterMethod>([
  ...ADD_METHODS.map((method) => [method, makeAdd(method)] as const),
  ...REMOVE_METHODS.map((method) => [method, makeRemove(method)] as const),
]);

/**
 * Makes every listener added to `emitter` from now on run in the context that
 * was current when the listener was added (not the context of whoever emits).
 * `removeListener` keeps working with the original function, also for `once`
 * listeners. Returns the emitter. Binding the same emitter twice is a no-op.
 *
 * @example
 * ```ts
 * import { bindEmitter } from '@otinst/core';
 * bindEmitter(stream).on('data', (chunk) => getCurrentSpan()?.log({ bytes: chunk.length }));
 * ```
 */
export function bindEmitter<E extends EventEmitter>(emitter: E): E {
  const target = emitter as PatchedEmitter;
  if (target[kEmitterState] !== undefined) return emitter;
  const state: EmitterState = { originals: new Map(), onceWrappers: new WeakMap() };
  Object.defineProperty(target, kEmitterState, { value: state, enumerable: false });
  const methods = target as unknown as Record<string, EmitterMethod>;
  for (const [method, patched] of PATCHES) {
    const original = methods[method];
    if (typeof original !== 'function') continue;
    state.originals.set(method, original);
    methods[method] = patched;
  }
  return emitter;
}

/** One channel of a diagnostics_channel `TracingChannel`, as far as `bindTracingChannel` uses it. */
interface StoreChannel {
  bindStore(store: AsyncLocalStorage<Store>, transform?: (context: object) => Store): void;
  unbindStore(store: AsyncLocalStorage<Store>): boolean;
}

const kCallerStore = Symbol('otinst.callerStore');
type CallerContext = { [kCallerStore]?: Store };

function captureCallerStore(context: object): Store {
  const store = storage.getStore();
  if (typeof context === 'object' && context !== null) (context as CallerContext)[kCallerStore] = store;
  return store;
}

function callerStoreOf(context: object): Store {
  return typeof context === 'object' && context !== null ? (context as CallerContext)[kCallerStore] : undefined;
}

/**
 * For hooks that subscribe to a library's `TracingChannel` (mysql2 ≥ 3.20):
 * the traced call's callback, which the library runs between `asyncStart` and
 * `asyncEnd`, then runs in the context of the call that started it, not in
 * the context of the socket that delivered the reply or of the request whose
 * `release()` served a pooled connection. Returns a function that undoes it.
 */
export function bindTracingChannel(channel: { start: StoreChannel; asyncStart: StoreChannel }): () => void {
  channel.start.bindStore(storage, captureCallerStore);
  channel.asyncStart.bindStore(storage, callerStoreOf);
  return () => {
    channel.start.unbindStore(storage);
    channel.asyncStart.unbindStore(storage);
  };
}
