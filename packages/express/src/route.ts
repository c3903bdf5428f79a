/**
 * Route templates of express layers. The full template of a request
 * (`/orgs/:orgId/users/:id`) is put together while express dispatches it
 * (see layer.ts): each mount layer entered adds its own template, the route
 * layer that runs adds its path. So it follows exactly what express routed:
 * sub-apps, a rewritten `req.url`, routers created before or after the
 * middleware.
 *
 * Where a mount's template lives depends on the router version:
 * - router >= 2.3 (express 5): `layer.rawPath`;
 * - express 4: only the compiled `layer.regexp` (path-to-regexp 0.1), turned
 *   back into the path it was compiled from (so a case-insensitive match
 *   keeps the casing of the template, not of the request);
 * - router 2.0 - 2.2 (express 5): only the concrete match and its params
 *   (`layer.path`, `layer.params`); each param's path segments are put back
 *   as `:name` (`*name` for wildcards).
 * A regular-expression mount is named by its source (`/^\/rxm\/\d+/`), never
 * by the path it matched: names must stay few.
 */

export interface ExpressLayer {
  route?: { path?: unknown };
  method?: unknown;
  handle?: unknown;
  /** router >= 2.3 */
  rawPath?: unknown;
  slash?: boolean;
  /** express 4 */
  regexp?: RegExp & { fast_slash?: boolean };
  keys?: { name: string | number; optional?: boolean }[];
  /** router < 2.3 after match(): the matched prefix and its decoded params */
  path?: string;
  params?: Record<string, unknown>;
}

const kTemplate = Symbol('otinst.express.template');

type CachedLayer = ExpressLayer & { [kTemplate]?: string };

export function patternText(pattern: unknown): string {
  if (typeof pattern === 'string') return pattern;
  if (Array.isArray(pattern)) return pattern.map(patternText).join(',');
  return String(pattern);
}

function withoutTrailingSlash(template: string): string {
  return template.endsWith('/') ? template.slice(0, -1) : template;
}

/** The index just past the group opening at `start` (balanced parentheses, escapes and classes skipped). */
function groupEnd(source: string, start: number): number {
  let depth = 0;
  let inClass = false;
  for (let at = start; at < source.length; at++) {
    const char = source[at];
    if (char === '\\') at++;
    else if (inClass) inClass = char !== ']';
    else if (char === '[') inClass = true;
    else if (char === '(') depth++;
    else if (char === ')' && --depth === 0) return at + 1;
  }
  return -1;
}

/**
 * express 4: the path that path-to-regexp 0.1 compiled into `regexp`
 * (`^\/orgs(?:\/([^/]+?))\/?(?=\/|$)` back to `/orgs/:orgId`), or undefined
 * when the regexp is not one it wrote (the app gave a RegExp).
 */
export function decompile(
  regexp: RegExp,
  keys: readonly { name: string | number; optional?: boolean }[],
): string | undefined {
  let source = regexp.source;
  if (!source.startsWith('^')) return undefined;
  source = source.slice(1).replace(/(?:\(\?=\\\/\|\$\)|\(\?:\\\/\|\$\)|\$)$/, '');
  if (source.endsWith('\\/?')) source = source.slice(0, -3);
  else if (source.endsWith('?')) source = source.slice(0, -1);
  let template = '';
  let key = 0;
  for (let at = 0; at < source.length;) {
    const char = source[at]!;
    if (char === '\\') {
      const escaped = source[at + 1];
      if (escaped !== '/' && escaped !== '.' && escaped !== '-') return undefined;
      template += escaped;
      at += 2;
    } else if (char === '(') {
      const end = groupEnd(source, at);
      if (end === -1) return undefined;
      const group = source.slice(at, end);
      const name = keys[key++]?.name;
      if (group === '(.*)') {
        template += '*';
      } else if (group.startsWith('(?:')) {
        const lead = group.startsWith('(?:\\/') ? '/' : group.startsWith('(?:\\.') ? '.' : '';
        if (typeof name !== 'string') return undefined;
        template += `${lead}:${name}`;
        // a nested group of the key is the `*` of `:name*`
        if (group.includes('((?:[/')) {
          template += '*';
          key++;
        }
      } else {
        return undefined;
      }
      at = end;
      if (source[at] === '?') {
        template += '?';
        at++;
      }
    } else if (/[\w~%@!$&'*+,;=:-]/.test(char)) {
      template += char;
      at++;
    } else {
      return undefined;
    }
  }
  return template;
}

function computeTemplate(layer: ExpressLayer): string | undefined {
  if (layer.slash === true) return '';
  if ('rawPath' in layer) {
    const raw = layer.rawPath;
    return raw instanceof RegExp ? String(raw) : withoutTrailingSlash(patternText(raw));
  }
  const regexp = layer.regexp;
  if (regexp instanceof RegExp) {
    if (regexp.fast_slash === true) return '';
    const template = decompile(regexp, layer.keys ?? []);
    return template === undefined ? String(regexp) : withoutTrailingSlash(template);
  }
  return undefined;
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

/**
 * The template a mount (or plain middleware) layer adds to the path it is
 * entered with: `''` for a middleware without a path. Computed once per layer
 * where the layer keeps its template.
 */
export function mountTemplate(layer: ExpressLayer): string {
  const cached = (layer as CachedLayer)[kTemplate];
  if (cached !== undefined) return cached;
  const template = computeTemplate(layer);
  if (template !== undefined) {
    (layer as CachedLayer)[kTemplate] = template;
    return template;
  }
  // router < 2.3: from this request's match
  return withoutTrailingSlash(substituteParams(layer.path ?? '', layer.params ?? {}));
}

/** A route's path under the mount templates `base`: a router's own '/' route under a prefix is the prefix itself. */
export function joinRoute(base: string, route: unknown): string {
  const path = patternText(route);
  return path === '/' && base !== '' ? base : base + path;
}
