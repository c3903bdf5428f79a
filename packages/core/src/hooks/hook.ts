/**
 * The shape every client hook has: one file per hook under `hooks/`.
 *
 * A library hook names the npm packages it patches and the versions it
 * supports; the registry finds every copy the application loads (before or
 * after installation, `require()` or `import`) and calls `patch` once per
 * supported copy. `install` runs once per installation, for what needs no
 * copy of the library: Node built-ins, and the diagnostics channels that
 * libraries publish (subscribing loads nothing). Patches go
 * through `wrapMethod`, whose wrappers check the hook's installed flag and
 * which the registry undoes on uninstall; channel subscriptions are undone by
 * `unpatch`.
 */
export interface ClientHook {
  /** The npm packages to patch (several when the patched classes live in more than one). */
  readonly modules?: readonly string[];
  /** Supported versions of each of `modules`: `[min, below)`. */
  readonly versions?: readonly [min: string, below: string];
  /** Once per installation, before any copy is patched: built-ins, channel subscriptions. */
  install?(): void;
  /** Patch one loaded copy of `moduleName` (one of `modules`). */
  patch?(exports: unknown, version: string | undefined, moduleName: string): void;
  /** Undo what `patch` did apart from `wrapMethod` (channel subscriptions). */
  unpatch?(): void;
}
