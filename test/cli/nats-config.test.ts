import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  vi.spyOn(console, 'log').mockImplementation((s) => out.push(`${String(s)}\n`));
  vi.spyOn(console, 'error').mockImplementation((s) => err.push(String(s)));
  return { out: () => out.join(''), err: () => err.join('\n') };
}

afterEach(() => vi.restoreAllMocks());

describe('aether nats-config', () => {
  it('prints an authorization block with one user per role and the cluster subjects', async () => {
    const c = capture();
    expect(await main(['nats-config', '--cluster', 'prod'])).toBe(0);
    const conf = c.out();
    expect(conf).toMatch(/^authorization \{$/m);
    expect(conf).toMatch(/default_permissions = \{ publish = \{ deny = \[">"\] \}/);
    for (const role of ['node', 'operator', 'observer'])
      expect(conf).toContain(
        `user = "aether-prod-${role}"\n      password = $AETHER_${role.toUpperCase()}_PASSWORD`,
      );
    expect(conf).toContain('"aether.prod.hb"');
    expect(conf).toContain('"$KV.aether_prod_lease.>"');
  });

  it('prints the allow lists per role as JSON', async () => {
    const c = capture();
    expect(await main(['nats-config', '--cluster', 'prod', '--format', 'json'])).toBe(0);
    const parsed = JSON.parse(c.out()) as {
      roles: { role: string; publish: string[]; subscribe: string[] }[];
    };
    expect(parsed.roles.map((r) => r.role)).toEqual(['node', 'operator', 'observer']);
    const observer = parsed.roles.find((r) => r.role === 'observer');
    expect(observer?.publish).not.toContain('aether.prod.hb');
    expect(observer?.subscribe).toContain('aether.prod.events.>');
  });

  it.each([
    [['nats-config'], /--cluster is required/],
    [['nats-config', '--cluster', 'a.b'], /--cluster: letters/],
    [['nats-config', '--cluster', 'c', '--format', 'yaml'], /--format: expected conf or json, got "yaml"/],
  ])('refuses %j with exit code 2', async (argv, message) => {
    const c = capture();
    expect(await main(argv)).toBe(2);
    expect(c.err()).toMatch(message);
  });
});
