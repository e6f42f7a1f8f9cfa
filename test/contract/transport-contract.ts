/**
 * The transport contract: one suite of behaviour every `Transport` must show, run against the
 * memory transport and against NATS. Call {@link describeTransportContract} from a test file with a
 * setup that makes a fresh {@link ContractHarness} per test.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { Connection } from '../../src/ports/transport.js';
import { describeAuditLogContract } from './audit-log.contract.js';
import { describeBusContract } from './bus.contract.js';
import { describeConnectionContract } from './connection.contract.js';
import type { ContractContext, ContractHarness } from './harness.js';
import { describeKvContract } from './kv.contract.js';

export type { ContractContext, ContractHarness } from './harness.js';

/** Declares the contract tests for the transport that `setup` provides. */
export function describeTransportContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`transport contract: ${name}`, () => {
    let current: ContractContext | null = null;
    let opened: Connection[] = [];

    beforeEach(async () => {
      const h = await setup();
      opened = [];
      current = {
        h,
        connect: async (node) => {
          const c = await h.transport.connect(`${h.prefix}-${node}`);
          opened.push(c);
          return c;
        },
        name: (n) => `${h.prefix}_${n}`,
        subject: (tokens) => `${h.prefix}.${tokens}`,
      };
    });

    afterEach(async () => {
      const c = current;
      current = null;
      if (!c) return;
      await Promise.allSettled(opened.map((conn) => conn.close()));
      await c.h.cleanup();
    });

    const ctx = (): ContractContext => {
      if (!current) throw new Error('contract context used outside a test');
      return current;
    };

    describeKvContract(ctx);
    describeBusContract(ctx);
    describeAuditLogContract(ctx);
    describeConnectionContract(ctx);
  });
}
