/**
 * A value otinst keeps for an object it does not own (a span: finished or
 * not, its query's parameter values; undici's request: its span): a symbol
 * property on the object, a property write of ~20 ns. An object that takes no
 * new property (frozen, a proxy whose traps refuse or throw) has its value
 * kept in a WeakMap instead; that path costs ~170 ns and work for the garbage
 * collector, so it is never taken for ordinary objects.
 */
export class ObjectSlot<T> {
  readonly #key: symbol;
  readonly #fallback = new WeakMap<object, T>();
  #fallbackUsed = false;

  constructor(name: string) {
    this.#key = Symbol(name);
  }

  set(object: object, value: T): void {
    const target = object as Record<symbol, unknown>;
    try {
      target[this.#key] = value;
      if (target[this.#key] === value) return;
    } catch {
      // frozen (strict mode throws), or a proxy's trap threw
    }
    this.#fallbackUsed = true;
    this.#fallback.set(object, value);
  }

  delete(object: object): void {
    try {
      (object as Record<symbol, unknown>)[this.#key] = undefined;
    } catch {
      // as in set
    }
    if (this.#fallbackUsed) this.#fallback.delete(object);
  }

  get(object: object): T | undefined {
    try {
      const value = (object as Record<symbol, unknown>)[this.#key];
      if (value !== undefined) return value as T;
    } catch {
      // a proxy whose get trap throws: the value, if any, is in the fallback
    }
    return this.#fallbackUsed ? this.#fallback.get(object) : undefined;
  }
}
