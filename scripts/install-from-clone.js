#!/usr/bin/env node
'use strict';
/**
 * Installs otinst from this clone into another project, until the packages are
 * on the npm registry (and to try unreleased changes afterwards):
 *
 *   node scripts/install-from-clone.js /path/to/app              # every package
 *   node scripts/install-from-clone.js /path/to/app express      # @otinst/core + @otinst/express
 *
 * It runs `npm pack` for the packages (their `prepack` builds them), writes the
 * tarballs into <app>/vendor/otinst/ and runs `npm install` of those tarballs
 * in <app>. The app's package.json then depends on `file:vendor/otinst/...tgz`,
 * so the app installs again (npm ci, a Docker build) without this clone: commit
 * the vendor/otinst folder with it. Run `npm ci` in the clone first.
 */
const { execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, rmSync, statSync } = require('node:fs');
const { join, relative, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..');
const PACKAGES = ['core', 'recorder', 'express', 'koa', 'fastify', 'hapi'];
const VENDOR = join('vendor', 'otinst');

function usage(message) {
  console.error(`${message}\n\nusage: node scripts/install-from-clone.js <project-dir> [${PACKAGES.join('|')} ...]`);
  process.exit(2);
}

function npm(args, cwd) {
  // npm is a .cmd on Windows, which only a shell runs
  return execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    shell: process.platform === 'win32',
  });
}

function main(argv) {
  const [target, ...names] = argv;
  if (!target || target === '-h' || target === '--help')
    usage('Installs the otinst packages of this clone into a project.');
  const project = resolve(target);
  if (!existsSync(join(project, 'package.json')) || !statSync(project).isDirectory())
    usage(`${project} is not a project folder (no package.json): run \`npm init -y\` there first.`);
  const unknown = names.map((name) => name.replace(/^@otinst\//, '')).filter((name) => !PACKAGES.includes(name));
  if (unknown.length > 0) usage(`unknown package(s): ${unknown.join(', ')}`);
  // every adapter depends on @otinst/core at this exact version, which is not on the registry yet
  const chosen =
    names.length === 0
      ? PACKAGES
      : PACKAGES.filter((name) => name === 'core' || names.some((given) => given.replace(/^@otinst\//, '') === name));
  if (!existsSync(join(ROOT, 'node_modules', 'typescript'))) {
    console.error(`${ROOT}: installing the clone's dependencies first (npm ci)`);
    npm(['ci', '--no-audit', '--no-fund'], ROOT);
  }

  const destination = join(project, VENDOR);
  mkdirSync(destination, { recursive: true });
  for (const file of readdirSync(destination)) {
    if (/^otinst-.*\.tgz$/.test(file)) rmSync(join(destination, file)); // an older version's tarballs
  }
  console.error(`packing ${chosen.map((name) => `@otinst/${name}`).join(', ')} (prepack builds them)`);
  const output = npm(
    ['pack', ...chosen.flatMap((name) => ['-w', `@otinst/${name}`]), '--pack-destination', destination, '--json'],
    ROOT,
  );
  const packed = JSON.parse(output.slice(output.indexOf('[')));
  const tarballs = packed.map((entry) => `./${join(VENDOR, entry.filename).split('\\').join('/')}`);

  console.error(`installing into ${project}:\n  ${tarballs.join('\n  ')}`);
  npm(['install', '--no-audit', '--no-fund', ...tarballs], project);
  console.log(
    `Installed ${packed.map((entry) => `${entry.name}@${entry.version}`).join(', ')} into ${project}` +
      ` from ${relative(process.cwd(), destination) || '.'}.`,
  );
}

main(process.argv.slice(2));
