import type { ClientHook } from './hook';

/** The `fetch` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'fetch',
  patch() {},
};
