/**
 * Test kit: a TCP proxy of ours on loopback in front of nats-server that can hold what a client
 * sends (buffered, not dropped) and later let it through in order, as a network that delays one
 * process's messages would. What the server sends to the client always passes.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface HoldingProxy {
  readonly url: string;
  /** From now on, keep what clients send instead of forwarding it. */
  hold(): void;
  /** Forwards everything held, in order, and passes from then on. */
  release(): void;
  close(): Promise<void>;
}

export async function holdingProxy(targetPort: number): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  const links: { upstream: Socket; held: Buffer[]; clientClosed: boolean }[] = [];
  let holding = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    const link = { upstream, held: [] as Buffer[], clientClosed: false };
    links.push(link);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        // A client that closes while held still gets what it sent delivered: the bytes were on the wire.
        if (s === client) link.clientClosed = true;
        if (s === client && link.held.length > 0) return;
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      if (holding) link.held.push(chunk);
      else upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `nats://127.0.0.1:${port}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const l of links) {
        for (const chunk of l.held.splice(0)) l.upstream.write(chunk);
        if (l.clientClosed) l.upstream.end();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
