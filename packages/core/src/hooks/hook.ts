/**
 * The shape every client hook has: one file per hook under `hooks/`.
 *
 * A library hook names its npm package and the versions it supports; the
 * registry finds every copy of the package (loaded before or after
 * installation) and calls `patch` once per copy whose version is supported.
 * Patches go through `wrapMethod`, which the registry undoes on uninstall;
 * channel subscriptions are undone by `unpatch`.
 */
export interface ClientHook {
  readonly name: string;
  /** The npm package to patch; undefined for hooks on Node built-ins. */
  readonly module?: string;
  /** Supported versions of `module`: `[min, below)`. */
  readonly versions?: readonly [min: string, below: string];
  /** Patch one loaded copy of the library (or the built-ins, called once with no arguments). */
  patch(exports: unknown, version: string | undefined): void;
  /** Undo what `patch` did apart from `wrapMethod` (channel subscriptions, flags). */
  unpatch?(): void;
}
