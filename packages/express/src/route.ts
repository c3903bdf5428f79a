/**
 * The full route template of a request (`/orgs/:orgId/users/:id`), mount
 * prefixes included, found per request from the router tree: no patching, so
 * routers registered before or after the middleware are all seen.
 *
 * `req.baseUrl` holds the concrete prefix (`/orgs/42`), never the template,
 * and `req.route.path` only the route's own part. So the request's path is
 * walked down the app's router stack, the way the router dispatched it, to the
 * layer of `req.route`, collecting each mount layer's template on the way.
 * Where that template lives depends on the router version:
 * - router >= 2.3 (express 5): `layer.rawPath`, and `layer.match()` tells
 *   which pattern matched;
 * - express 4: only the compiled `layer.regexp` (path-to-regexp 0.1). The
 *   regexp is run again with match indices, and each capture group in the
 *   matched prefix is replaced by its key (`:orgId`);
 * - router 2.0 - 2.2 (express 5): only the concrete match and its params
 *   (`layer.path`, `layer.params`); each param's path segments are put back
 *   as `:name` (`*name` for wildcards).
 */

interface ExpressLayer {
  route?: { path?: unknown };
  handle?: unknown;
  /** router >= 2.3 */
  rawPath?: unknown;
  /** router 2.x: 2.3 returns the match, earlier versions a boolean (and keep the match on the layer) */
  match?(path: string): { path: string; pattern: unknown } | boolean;
  /** express 4 */
  regexp?: RegExp & { fast_slash?: boolean };
  keys?: { name: string | number }[] | string[];
  /** router < 2.3 after match(): the matched prefix and its decoded params */
  path?: string;
  params?: Record<string, unknown>;
}

interface ExpressRouter {
  stack: ExpressLayer[];
}

interface Mount {
  template: string;
  /** the path left for the mounted router */
  rest: string;
}

/** Routers nest a few levels; a cycle (a router mounted inside itself) must not hang the request. */
const MAX_DEPTH = 32;

const kIndexedRegExp = Symbol('otinst.express.indexedRegExp');

/** The router of an express 4 (`_router`) or express 5 (`router`) app, if it has one. */
export function appRouter(app: unknown): ExpressRouter | undefined {
  const candidate = app as { _router?: unknown; router?: unknown } | undefined;
  try {
    // `_router` first: express 4's `router` getter throws
    const router = candidate?._router ?? candidate?.router;
    return isRouter(router) ? router : undefined;
  } catch {
    return undefined;
  }
}

function isRouter(value: unknown): value is ExpressRouter {
  return typeof value === 'function' && Array.isArray((value as Partial<ExpressRouter>).stack);
}

function patternText(pattern: unknown): string {
  if (typeof pattern === 'string') return pattern;
  if (Array.isArray(pattern)) return pattern.map(patternText).join(',');
  return String(pattern);
}

function withoutTrailingSlash(template: string): string {
  return template.endsWith('/') ? template.slice(0, -1) : template;
}

function mount(template: string, matched: string, path: string): Mount {
  const rest = path.slice(matched.length);
  return { template: withoutTrailingSlash(template), rest: rest.startsWith('/') ? rest : `/${rest}` };
}

/** express 4: the matched prefix with every capture group replaced by its key. */
function matchRegExp(layer: ExpressLayer & { regexp: RegExp }, path: string): Mount | undefined {
  const regexp = layer.regexp as RegExp & { fast_slash?: boolean; [kIndexedRegExp]?: RegExp };
  if (regexp.fast_slash === true) return { template: '', rest: path };
  // compiled once per layer: the `d` flag gives the position of each group
  const indexed = (regexp[kIndexedRegExp] ??= new RegExp(regexp.source, regexp.flags.replace(/[dgy]/g, '') + 'd'));
  const match = indexed.exec(path);
  if (match === null) return undefined;
  const matched = match[0];
  const keys = (layer.keys ?? []) as { name: string | number }[];
  let template = '';
  let cursor = 0;
  for (let group = 1; group < match.length; group++) {
    const span = match.indices?.[group];
    if (span === undefined || span[0] < cursor) continue;
    const name = keys[group - 1]?.name;
    template += matched.slice(cursor, span[0]) + (typeof name === 'string' ? `:${name}` : '*');
    cursor = span[1];
  }
  return mount(template + matched.slice(cursor), matched, path);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * router 2.0 - 2.2: the matched prefix with each param's segments put back as
 * `:name` (`*name` for a wildcard's list of segments). The params are placed
 * from the right, so a value that equals a static segment before it
 * (`/orgs/:org` matching `/orgs/orgs`) still lands on its own segment.
 */
export function substituteParams(matched: string, params: Readonly<Record<string, unknown>>): string {
  const segments = matched.split('/');
  let end = segments.length;
  for (const [name, value] of Object.entries(params).reverse()) {
    const values = Array.isArray(value) ? (value as unknown[]).map(String) : [String(value)];
    for (let at = end - values.length; at >= 1; at--) {
      if (values.every((item, offset) => decodeSegment(segments[at + offset]!) === item)) {
        segments.splice(at, values.length, Array.isArray(value) ? `*${name}` : `:${name}`);
        end = at;
        break;
      }
    }
  }
  return segments.join('/');
}

function matchMount(layer: ExpressLayer, path: string): Mount | undefined {
  if (layer.regexp instanceof RegExp) return matchRegExp(layer as ExpressLayer & { regexp: RegExp }, path);
  if (typeof layer.match !== 'function') return undefined;
  const match = layer.match(path);
  if (match === false) return undefined;
  if (typeof match === 'object') return mount(patternText(match.pattern), match.path, path);
  const matched = layer.path ?? '';
  return mount(substituteParams(matched, layer.params ?? {}), matched, path);
}

function find(router: ExpressRouter, path: string, route: object, depth: number): string | undefined {
  for (const layer of router.stack) {
    if (layer.route !== undefined) {
      if (layer.route === route) return patternText(layer.route.path);
      continue;
    }
    if (!isRouter(layer.handle) || depth >= MAX_DEPTH) continue;
    const mounted = matchMount(layer, path);
    if (mounted === undefined) continue;
    const rest = find(layer.handle, mounted.rest, route, depth + 1);
    // a router's own '/' route under a prefix is the prefix itself: GET /api, not GET /api/
    if (rest !== undefined) return rest === '/' && mounted.template !== '' ? mounted.template : mounted.template + rest;
  }
  return undefined;
}

/**
 * The template of `route` (the request's `req.route`) with the templates of
 * every router it is mounted under, following `path` (the request path
 * relative to `router`); undefined when the route is not in this tree (a
 * sub-application's route, say).
 */
export function routeTemplate(router: ExpressRouter, path: string, route: object): string | undefined {
  return find(router, path, route, 0);
}
