/**
 * Headless Chromium from Debian's package, started the way this machine needs: no sandbox (root),
 * no GPU, and no background networking (the network is closed; without these flags Chromium's
 * connection attempts are refused by the dozen).
 */
export const CHROMIUM_PATH = process.env.AETHER_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
