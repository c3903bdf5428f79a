import { match } from 'path-to-regexp';
import { describe, expect, it } from 'vitest';
import { substituteParams } from './route';

/**
 * router 2.0 - 2.2 keep no mount template: only what their path-to-regexp 8
 * matcher returns. These inputs are that matcher's real output, with the
 * options those routers use for `use()` layers.
 */
function mountedPrefix(template: string, path: string): string {
  const matcher = match(template.replace(/\/+$/, ''), { end: false, trailing: true, decode: decodeURIComponent });
  const result = matcher(path);
  if (result === false) throw new Error(`${template} does not match ${path}`);
  return substituteParams(result.path, result.params);
}

describe('substituteParams (router < 2.3 mounts)', () => {
  it.each([
    ['/api', '/api/users/1', '/api'],
    ['/orgs/:orgId', '/orgs/acme/users/1', '/orgs/:orgId'],
    ['/orgs/:orgId/teams/:teamId', '/orgs/acme/teams/red/members', '/orgs/:orgId/teams/:teamId'],
    ['/orgs/:orgId', '/orgs/orgs/users/1', '/orgs/:orgId'],
    ['/orgs/:orgId', '/orgs/a%20b/users', '/orgs/:orgId'],
    ['/:a/:b', '/same/same/x', '/:a/:b'],
    ['/files/*path', '/files/a/b/c', '/files/*path'],
  ])('%s matching %s gives %s', (template, path, expected) => {
    expect(mountedPrefix(template, path)).toBe(expected);
  });
});
