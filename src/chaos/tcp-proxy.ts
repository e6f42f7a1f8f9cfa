/**
 * A TCP proxy on loopback in front of a NATS server, one per node: what a chaos harness does to a
 * node's network. It can cut the node off (every connection dropped, new ones refused), hold each
 * chunk for a delay in both directions (order kept), and drop connections at random (a TCP stream
 * cannot lose single messages, so a lost message is a lost connection, as on a real network).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface FaultyProxy {
  /** URL for a client, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** Whether the proxy currently refuses and drops connections. */
  readonly isCut: boolean;
  /** Drops every connection through the proxy and refuses new ones until {@link heal}. */
  cut(): void;
  /** Accepts connections again, and clears delay and drops. */
  heal(): void;
  /** Holds every chunk `ms` before passing it on, both ways (0 clears). */
  delay(ms: number): void;
  /** Drops the connection carrying a chunk with `probability` per chunk (0 clears). */
  drop(probability: number): void;
  close(): Promise<void>;
}

export interface FaultyProxyOptions {
  /** Upstream port on 127.0.0.1. */
  readonly targetPort: number;
  /** Randomness for drops, in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

/** Starts a proxy on a free loopback port. */
export async function faultyProxy(opts: FaultyProxyOptions): Promise<FaultyProxy> {
  const random = opts.random ?? Math.random;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let open = true;
  let delayMs = 0;
  let dropP = 0;
  const destroy = (pair: { client: Socket; upstream: Socket }) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  };
  /** Forwards `from` → `to`, through the delay and the drops. */
  const pipe = (pair: { client: Socket; upstream: Socket }, from: Socket, to: Socket) => {
    // Delayed chunks leave in order: each no earlier than the one before it.
    let lastDue = 0;
    from.on('data', (chunk: Buffer) => {
      if (dropP > 0 && random() < dropP) {
        destroy(pair);
        return;
      }
      if (delayMs <= 0 && lastDue <= Date.now()) {
        to.write(chunk);
        return;
      }
      const due = Math.max(Date.now() + delayMs, lastDue);
      lastDue = due;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, due - Date.now());
    });
  };
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(opts.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => destroy(pair));
    }
    pipe(pair, client, upstream);
    pipe(pair, upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `nats://127.0.0.1:${port}`,
    get isCut() {
      return !open;
    },
    cut() {
      open = false;
      for (const p of [...pairs]) destroy(p);
    },
    heal() {
      open = true;
      delayMs = 0;
      dropP = 0;
    },
    delay(ms) {
      delayMs = Math.max(0, ms);
    },
    drop(probability) {
      dropP = Math.min(1, Math.max(0, probability));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of [...pairs]) destroy(p);
        server.close(() => resolve());
      }),
  };
}
