#!/usr/bin/env node
// Makes sure the external binaries the test suite needs are present before vitest starts.
// On Debian as root they are installed with apt; elsewhere we stop with the exact command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** @type {{ name: string, pkg: string, paths: string[] }[]} */
const needs = [
  { name: 'nats-server', pkg: 'nats-server', paths: ['/usr/sbin/nats-server', '/usr/bin/nats-server'] },
];
if (process.env.AETHER_SKIP_BROWSER !== '1' && existsSync(new URL('../test/e2e', import.meta.url))) {
  needs.push({ name: 'chromium', pkg: 'chromium', paths: ['/usr/bin/chromium'] });
}

const onPath = (name) => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
const present = (n) => n.paths.some((p) => existsSync(p)) || onPath(n.name);
const missing = needs.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((n) => n.pkg).join(' ');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (isRoot && onPath('apt-get')) {
  console.log(`[aether] installing test dependencies with apt: ${pkgs}`);
  try {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-q', ...missing.map((n) => n.pkg)], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    console.error(`[aether] apt-get failed: ${err.message}`);
  }
  const still = missing.filter((n) => !present(n));
  if (still.length === 0) process.exit(0);
}
console.error(
  `[aether] the tests need ${missing.map((n) => n.name).join(' and ')}, which this machine lacks.\n` +
    `Install with:  sudo apt-get update && sudo apt-get install -y ${pkgs}`,
);
process.exit(1);
