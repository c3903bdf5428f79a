/**
 * The shape every client hook has: one file per hook under `hooks/`.
 *
 * A library hook names the npm packages it patches and the versions it
 * supports; the registry finds every copy the application loads (before or
 * after installation, `require()` or `import`) and calls `patch` once per
 * supported copy. A hook with no `modules` works on Node built-ins or
 * diagnostics channels: `patch` is called once, with no arguments. Patches go
 * through `wrapMethod`, whose wrappers check the hook's installed flag and
 * which the registry undoes on uninstall; channel subscriptions are undone by
 * `unpatch`.
 */
export interface ClientHook {
  /** The npm packages to patch (several when the patched classes live in more than one). */
  readonly modules?: readonly string[];
  /** Supported versions of each of `modules`: `[min, below)`. */
  readonly versions?: readonly [min: string, below: string];
  /** Patch one loaded copy of `moduleName` (or the built-ins / channels: called once with no arguments). */
  patch(exports?: unknown, version?: string, moduleName?: string): void;
  /** Undo what `patch` did apart from `wrapMethod` (channel subscriptions). */
  unpatch?(): void;
}
