/** A TCP proxy on loopback in front of a nats-server: cut a client off (a partition) and let it back. */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface NatsProxy {
  readonly url: string;
  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  heal(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of nats-server that can cut a client off (a partition) and let it back. */
export async function natsProxy(targetPort: number): Promise<NatsProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `nats://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
