import type { ClientHook } from './hook';

/** The `http` client hook. Not built yet: installing it patches nothing. */
export const hook: ClientHook = {
  name: 'http',
  patch() {},
};
