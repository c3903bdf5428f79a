#!/usr/bin/env node
'use strict';
/**
 * Rewrites the relative links of packages/*\/README.md into absolute links to
 * the repository (https://github.com/otinst/otinst/blob/main/...). A package
 * README is read on the npm registry's page and inside node_modules, where a
 * relative link leads nowhere; test/consumer/consumer.test.ts fails on one and
 * test/docs.test.ts checks that the absolute ones resolve in this checkout.
 *
 *   node scripts/absolute-readme-links.js     # rewrites in place, prints what changed
 */
const { existsSync, readdirSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..');
const REPOSITORY = 'https://github.com/otinst/otinst';

for (const name of readdirSync(join(ROOT, 'packages'))) {
  const file = join(ROOT, 'packages', name, 'README.md');
  if (!existsSync(file)) continue;
  const before = readFileSync(file, 'utf8');
  const after = before.replace(/(\[[^\]]*\]\()([^)\s]+)\)/g, (whole, opening, target) => {
    if (/^([a-z]+:|#)/i.test(target)) return whole; // already absolute, or an anchor in this README
    const [path, anchor] = target.split('#');
    const resolved = resolve(dirname(file), path);
    const kind = existsSync(resolved) && statSync(resolved).isDirectory() ? 'tree' : 'blob';
    const url = `${REPOSITORY}/${kind}/main/${relative(ROOT, resolved).split('\\').join('/')}`;
    console.log(`packages/${name}/README.md: ${target} -> ${url}${anchor ? `#${anchor}` : ''}`);
    return `${opening}${url}${anchor ? `#${anchor}` : ''})`;
  });
  if (after !== before) writeFileSync(file, after);
}
