import { safeExecute } from '../safe';

/**
 * Wrapping with a marker, so that installing twice never wraps twice and
 * uninstalling puts back exactly what was there (the same function object,
 * own or inherited).
 */
const kOriginal = Symbol.for('otinst.original');

interface Patch {
  target: object;
  name: PropertyKey;
  /** The own property before patching; undefined when the function was inherited. */
  descriptor: PropertyDescriptor | undefined;
  wrapper: unknown;
}

const patches: Patch[] = [];

type AnyFunction = (this: unknown, ...args: never[]) => unknown;

/** The function `wrapped` stands in for, or `wrapped` itself. */
export function originalOf<F>(wrapped: F): F {
  const original = (wrapped as { [kOriginal]?: F } | undefined)?.[kOriginal];
  return original ?? wrapped;
}

/** True when `fn` is one of otinst's wrappers. */
export function isWrapped(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [kOriginal]?: unknown })[kOriginal] !== undefined;
}

/**
 * Replaces `target[name]` with `makeWrapper(original)`. A second call on the
 * same target and name does nothing. Returns false when there is no function
 * to wrap.
 */
export function wrapMethod<T extends object, K extends keyof T>(
  target: T,
  name: K,
  makeWrapper: (original: T[K] & AnyFunction) => T[K],
): boolean {
  const original = target[name];
  if (typeof original !== 'function' || isWrapped(original)) return false;
  const wrapper = makeWrapper(original as T[K] & AnyFunction) as unknown as AnyFunction;
  Object.defineProperty(wrapper, kOriginal, { value: original, enumerable: false });
  safeExecute('copying a wrapped function name', () => {
    Object.defineProperty(wrapper, 'name', { value: (original as AnyFunction).name, configurable: true });
    Object.defineProperty(wrapper, 'length', { value: (original as AnyFunction).length, configurable: true });
  });
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  if (descriptor !== undefined && !descriptor.configurable && !descriptor.writable) return false;
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
  patches.push({ target, name, descriptor, wrapper });
  return true;
}

/** Undoes every `wrapMethod`, newest first, restoring the exact originals. */
export function restoreAll(): void {
  while (patches.length > 0) {
    const { target, name, descriptor, wrapper } = patches.pop()!;
    if ((target as Record<PropertyKey, unknown>)[name] !== wrapper) {
      // someone wrapped over us: leave their wrapper, but make ours a pass-through
      continue;
    }
    if (descriptor === undefined) delete (target as Record<PropertyKey, unknown>)[name];
    else Object.defineProperty(target, name, descriptor);
  }
}
