/**
 * The visualizer end to end: an in-process cluster (memory transport, FAST timings, inspection on)
 * feeding a relay, the page in headless Chromium, and a leader crashed from the page's own button.
 * Also renders `docs/visualizer.png`.
 *
 * Needs Chromium at /usr/bin/chromium (or AETHER_CHROMIUM); `npm test` installs it on Debian.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/cli/local-cluster.js';
import { FAST_TIMING } from '../../src/config.js';
import { type Relay, startRelay } from '../../src/visualizer/relay.js';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../support/chromium.js';

const CHROMIUM = CHROMIUM_PATH;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCREENSHOT = path.join(ROOT, 'docs', 'visualizer.png');
const NODES = 5;

const LAUNCH_ARGS = [...CHROMIUM_FLAGS];

/** Runs `fn` in the page until it returns truthy; fails naming `what` after `timeoutMs`. */
async function until<A>(
  page: Page,
  what: string,
  fn: (arg: A) => unknown,
  arg: A,
  timeoutMs = 10_000,
): Promise<void> {
  try {
    // The function runs in the page; its argument arrives as JSON, which every caller passes.
    await page.waitForFunction(fn as (arg: unknown) => unknown, arg, { timeout: timeoutMs, polling: 50 });
  } catch (err) {
    throw new Error(`page did not show ${what} within ${timeoutMs} ms: ${(err as Error).message}`);
  }
}

/** Resolves when `cond` holds in this process, checking every 20 ms; rejects after `timeoutMs`. */
async function untilHere(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Shows `nodeId`'s statecharts and waits until its leadership chart is drawn with `stateId` highlighted. */
async function leadershipChartShows(page: Page, nodeId: string, stateId: string): Promise<void> {
  await page.getByTestId(`chart-tab-${nodeId}`).click();
  await until(
    page,
    `${nodeId}'s leadership chart highlighting ${stateId}`,
    ([node, id]) => {
      const tab = document.querySelector(`[data-testid="chart-tab-${node}"]`);
      const card = document.querySelector('[data-testid="statechart-leadership"][data-laid-out="true"]');
      return (
        tab?.getAttribute('aria-selected') === 'true' &&
        card?.getAttribute('data-session-id')?.startsWith(`${node}:`) === true &&
        card.querySelector(`g.state.active[data-state-id="${id}"]`) !== null
      );
    },
    [nodeId, stateId] as const,
  );
}

describe.skipIf(process.env.AETHER_SKIP_BROWSER === '1')('visualizer in a browser', () => {
  let cluster: LocalCluster;
  let relay: Relay;
  let browser: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: the visualizer end-to-end test needs it.\n` +
          'Install with:  sudo apt-get update && sudo apt-get install -y chromium\n' +
          '(npm test does this when run as root on Debian; AETHER_CHROMIUM=/path picks another binary;\n' +
          ' AETHER_SKIP_BROWSER=1 skips this test on purpose)',
      );
    }
    let r: Relay | null = null;
    cluster = new LocalCluster({
      cluster: 'e2e',
      shardCount: 1024,
      timing: FAST_TIMING,
      inspection: true,
      observe: (o) => r?.publish(o),
    });
    relay = r = await startRelay({ port: 0, onControl: (c) => cluster.control(c.action, c.nodeId) });
    userDataDir = mkdtempSync(path.join(tmpdir(), 'aether-e2e-chromium-'));
    [browser] = await Promise.all([
      // A persistent context on a fresh directory: no profile of the machine leaks in.
      chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: LAUNCH_ARGS,
        viewport: { width: 1440, height: 900 },
      }),
      Promise.all(Array.from({ length: NODES }, () => cluster.add())),
    ]);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await untilHere('the cluster to settle', () => cluster.settled() && cluster.loads().size === NODES);
    await page.goto(relay.url);
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stopAll();
    await relay?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('shows the leader with its term, every node Active and every shard owned', async () => {
    const leader = cluster.leader()!;
    const term = leader.leader()!.term;
    await until(
      page,
      `leader ${leader.nodeId} term ${term}`,
      ([id, t]) => {
        const el = document.querySelector('[data-testid="leader"]');
        return el?.textContent?.includes(id) && el.textContent.includes(`term ${t}`);
      },
      [leader.nodeId, term] as const,
    );
    await until(
      page,
      `${NODES} Active node cards and no unowned shard`,
      (n) =>
        document.querySelectorAll('[data-testid^="node-"][data-status="Active"]').length === n &&
        document.querySelectorAll('[data-testid="shard-grid"] .cell').length === 1024 &&
        document.querySelectorAll('[data-testid="shard-grid"] .cell.unowned').length === 0,
      NODES,
    );
    await leadershipChartShows(page, leader.nodeId, 'leadership.leader');
    // One lifecycle chart for all nodes, listing each node's state, not one chart per node.
    await until(
      page,
      'one grouped nodeLifecycle chart listing every node as active',
      (n) =>
        document.querySelectorAll('[data-testid="statechart-nodeLifecycle"]').length === 1 &&
        Array.from(document.querySelectorAll('[data-testid^="lifecycle-"]')).filter(
          (m) => m.getAttribute('data-state')?.startsWith('active') === true,
        ).length === n,
      NODES,
    );
    // The serving side of hand-offs, drawn with its state highlighted.
    await until(
      page,
      'the shard host chart drawn, serving with its membership confirmed',
      () =>
        document.querySelector(
          '[data-testid="statechart-shardHost"][data-laid-out="true"] g.state.active[data-state-id="shardHost.requests.serving"]',
        ) !== null &&
        document.querySelector(
          '[data-testid="statechart-shardHost"] g.state.active[data-state-id="shardHost.membership.confirmed"]',
        ) !== null,
      null,
    );
    // Heartbeat ages come every FAST heartbeat interval (0.5 s): a live node's is a fraction of a second.
    await until(
      page,
      'heartbeat ages like "0.3 s ago" on every card',
      () => {
        const ages = Array.from(document.querySelectorAll('[data-testid^="heartbeat-"]'));
        return (
          ages.length > 0 &&
          ages.every((a) => {
            const m = /^(\d+\.\d) s ago$/.exec(a.textContent ?? '');
            return m !== null && Number(m[1]) < 1.5;
          })
        );
      },
      null,
    );
  });

  it('crashing the leader from its card elects a new leader, fails the old one and moves the leadership charts', async () => {
    const old = cluster.leader()!;
    const oldTerm = old.leader()!.term;
    // Every other node's leadership chart shows it following before the crash.
    for (const id of cluster.nodes.keys()) {
      if (id !== old.nodeId) await leadershipChartShows(page, id, 'leadership.follower');
    }

    await page.getByTestId(`control-crash-${old.nodeId}`).click();

    const t = FAST_TIMING;
    await until(
      page,
      'a new leader in a higher term',
      ([id, term]) => {
        const el = document.querySelector<HTMLElement>('[data-testid="leader"]');
        return el?.dataset.leader !== undefined && el.dataset.leader !== id && Number(el.dataset.term) > term;
      },
      [old.nodeId, oldTerm] as const,
      t.leaseTtlMs + t.renewIntervalMs + 5_000,
    );
    const shown = await page.getByTestId('leader').getAttribute('data-leader');
    const next = cluster.leader();
    expect(next?.nodeId).toBeDefined();
    expect(shown).toBe(next!.nodeId);
    expect(next!.leader()!.term).toBeGreaterThan(oldTerm);

    await until(
      page,
      `${old.nodeId} Failed`,
      (id) => document.querySelector(`[data-testid="node-${id}"]`)?.getAttribute('data-status') === 'Failed',
      old.nodeId,
      t.failureTimeoutMs + 8_000,
    );
    // The crashed node's machines are gone; the new leader's chart moved from follower to leader.
    await until(
      page,
      `no statechart tab for the crashed ${old.nodeId}`,
      (id) => document.querySelector(`[data-testid="chart-tab-${id}"]`) === null,
      old.nodeId,
    );
    await leadershipChartShows(page, next!.nodeId, 'leadership.leader');
    // The new leader's lifecycle actor for the old one moved to failed.
    await until(
      page,
      `${old.nodeId} failed in ${next!.nodeId}'s lifecycle chart`,
      (id) =>
        document.querySelector(`[data-testid="lifecycle-${id}"]`)?.getAttribute('data-state') === 'failed',
      old.nodeId,
    );
    expect(consoleErrors).toEqual([]);
  });

  it('renders docs/visualizer.png once the cluster has settled', async () => {
    await untilHere('the cluster to settle after the failure', () => cluster.settled(), 15_000);
    const survivors = NODES - 1;
    await until(
      page,
      'the settled map: every shard owned by a survivor, no hand-off in flight',
      (n) => {
        const cells = Array.from(document.querySelectorAll<HTMLElement>('[data-testid="shard-grid"] .cell'));
        const owners = new Set(cells.map((c) => c.dataset.owner));
        return (
          cells.length === 1024 &&
          owners.size === n &&
          !owners.has('') &&
          document.querySelector('[data-testid="shard-grid"] .cell.handoff') === null
        );
      },
      survivors,
    );
    await until(
      page,
      'events and a drawn statechart',
      () => {
        const events = document.querySelectorAll('[data-testid="events"] li').length;
        return events > 3 && document.querySelector('[data-testid^="statechart-"] svg') !== null;
      },
      null,
    );
    const png = await page.screenshot();
    // A real render of a busy page, not a blank one.
    expect(png.length).toBeGreaterThan(50_000);
    // The committed picture is refreshed on request (or when missing), so test runs leave the tree clean.
    if (process.env.AETHER_UPDATE_SCREENSHOT === '1' || !existsSync(SCREENSHOT)) {
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      writeFileSync(SCREENSHOT, png);
    }
  });
});
