import { safeExecute } from '../safe';

/**
 * Wrapping with a marker, so that installing twice never wraps twice and
 * uninstalling puts back exactly what was there (the same function object,
 * own or inherited).
 *
 * Every wrapper checks one "installed" flag, its hook's `Gate`, and calls the
 * original when it is off. That is what makes uninstall exact even when
 * another tool wrapped the same function after otinst: our layer cannot be
 * taken out from under theirs, so it stays as a pass-through, and a later
 * install switches that same layer back on instead of adding a second one.
 */
const kOriginal = Symbol.for('otinst.original');

/** The installed flag of one hook, owned by the registry. */
export interface Gate {
  on: boolean;
}

interface Patch {
  target: object;
  name: PropertyKey;
  /** The own property before patching; undefined when the function was inherited. */
  descriptor: PropertyDescriptor | undefined;
  wrapper: unknown;
  gate: Gate;
  /** A gate of this patch alone (wrapped outside a registry install): uninstall switches it off itself. */
  ownGate: boolean;
  /** The foreign wrapper found over this layer at uninstall. */
  coveredBy?: unknown;
}

/** Layers in place now, newest last. */
const patches: Patch[] = [];
/** Layers left under a foreign wrapper at uninstall, by target and name: re-used by the next install. */
const dormant = new WeakMap<object, Map<PropertyKey, Patch>>();

/** The gate that `wrapMethod` gives the wrappers it makes: set by the registry while a hook patches. */
let currentGate: Gate | undefined;

type AnyFunction = (this: unknown, ...args: never[]) => unknown;

/** Runs `fn` (a hook's `patch`) so that every wrapper it makes checks `gate`. */
export function withGate<T>(gate: Gate, fn: () => T): T {
  const previous = currentGate;
  currentGate = gate;
  try {
    return fn();
  } finally {
    currentGate = previous;
  }
}

/** The function `wrapped` stands in for, or `wrapped` itself. */
export function originalOf<F>(wrapped: F): F {
  const original = (wrapped as { [kOriginal]?: F } | undefined)?.[kOriginal];
  return original ?? wrapped;
}

/** True when `fn` is one of otinst's wrappers. */
export function isWrapped(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [kOriginal]?: unknown })[kOriginal] !== undefined;
}

function gated(gate: Gate, inner: AnyFunction, original: AnyFunction): AnyFunction {
  return function otinstLayer(this: unknown) {
    // eslint-disable-next-line prefer-rest-params -- no array copy per call on hot paths
    return (gate.on ? inner : original).apply(this, arguments as unknown as never[]);
  };
}

/**
 * Replaces `target[name]` with `makeWrapper(original)`. A second call on the
 * same target and name does nothing, and neither does a call where a layer of
 * ours waits under another tool's wrapper (the registry switches it back on).
 * Returns false when nothing was wrapped.
 */
export function wrapMethod<T extends object, K extends keyof T>(
  target: T,
  name: K,
  makeWrapper: (original: T[K] & AnyFunction) => T[K],
): boolean {
  const original = target[name];
  if (typeof original !== 'function' || isWrapped(original)) return false;
  const waiting = dormant.get(target)?.get(name);
  // reuse our layer while the wrapper that covered it is still in place (else the layer is gone with it)
  if (waiting !== undefined && waiting.coveredBy !== original) dormant.get(target)!.delete(name);
  else if (waiting !== undefined) {
    if (!waiting.ownGate && waiting.gate !== currentGate) return false;
    // the layer is ours and runs again with this install: track it for the next uninstall
    dormant.get(target)!.delete(name);
    if (waiting.ownGate) waiting.gate.on = true;
    patches.push(waiting);
    return false;
  }
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  if (descriptor !== undefined && !descriptor.configurable && !descriptor.writable) return false;
  const inner = makeWrapper(original as T[K] & AnyFunction) as unknown as AnyFunction;
  const gate = currentGate ?? { on: true };
  const wrapper = gated(gate, inner, original as AnyFunction);
  Object.defineProperty(wrapper, kOriginal, { value: original, enumerable: false });
  safeExecute('copying a wrapped function name', () => {
    Object.defineProperty(wrapper, 'name', { value: (original as AnyFunction).name, configurable: true });
    Object.defineProperty(wrapper, 'length', { value: (original as AnyFunction).length, configurable: true });
  });
  if (descriptor === undefined || 'value' in descriptor) {
    Object.defineProperty(target, name, {
      value: wrapper,
      writable: true,
      configurable: true,
      enumerable: descriptor?.enumerable ?? false,
    });
  } else {
    // an accessor export (esbuild/tsc re-exports): replace it with a plain value
    Object.defineProperty(target, name, { value: wrapper, writable: true, configurable: true, enumerable: true });
  }
  patches.push({ target, name, descriptor, wrapper, gate, ownGate: currentGate === undefined });
  return true;
}

/**
 * Undoes the `wrapMethod`s whose gate is in `gates` (every one when
 * undefined), newest first, restoring the exact originals. A layer that
 * another tool wrapped over is left in place (its gate is off by then, so it
 * passes through) and remembered for the next install.
 */
export function restore(gates?: ReadonlySet<Gate>): void {
  for (let i = patches.length - 1; i >= 0; i--) {
    const patch = patches[i]!;
    if (gates !== undefined && (patch.ownGate || !gates.has(patch.gate))) continue;
    patches.splice(i, 1);
    const { target, name, descriptor, wrapper } = patch;
    if ((target as Record<PropertyKey, unknown>)[name] !== wrapper) {
      if (patch.ownGate) patch.gate.on = false;
      patch.coveredBy = (target as Record<PropertyKey, unknown>)[name];
      let byName = dormant.get(target);
      if (byName === undefined) dormant.set(target, (byName = new Map()));
      byName.set(name, patch);
      continue;
    }
    if (descriptor === undefined) delete (target as Record<PropertyKey, unknown>)[name];
    else Object.defineProperty(target, name, descriptor);
  }
}

/** Undoes every `wrapMethod`, newest first, restoring the exact originals. */
export function restoreAll(): void {
  restore();
}
