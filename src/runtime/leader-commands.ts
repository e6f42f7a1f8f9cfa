/**
 * Operator commands (drain, leave, mark failed) as request/reply: the leader answers them on the
 * leader subject once committed; any node sends one to whoever leads, retrying while there is none.
 */
import type { Logger } from 'pino';
import type { CommandAnswered } from '../../machines/cluster-node.machine.js';
import { TimeoutError } from '../domain/errors.js';
import type { NodeId } from '../domain/values.js';
import type { BusMessage, MessageBus } from '../ports/bus.js';
import type { Clock } from '../ports/clock.js';
import type { Unsubscribe } from '../ports/kv.js';
import { type CommandReply, decodeCommand, decodeCommandReply, encode } from '../protocol/codec.js';
import type { OperatorCommand } from '../protocol/messages.js';
import type { names } from '../protocol/names.js';

export interface LeaderCommandsDeps {
  readonly nodeId: NodeId;
  readonly bus: MessageBus;
  readonly names: ReturnType<typeof names>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timing: { readonly requestTimeoutMs: number; readonly retryIntervalMs: number };
  /** Whether this node's root is leading (it queues commands from then on). */
  readonly leading: () => boolean;
  /** Hands a command to the root actor. */
  readonly submit: (requestId: string, command: OperatorCommand) => void;
  readonly dropped: (error: string) => void;
}

export class LeaderCommands {
  readonly #pending = new Map<string, (reply: CommandReply) => void>();
  #sub: Unsubscribe | null = null;
  #listening = false;
  #seq = 0;

  constructor(private readonly d: LeaderCommandsDeps) {}

  /** Answers commands on the leader subject while `on`. */
  async listen(on: boolean): Promise<void> {
    if (on === this.#listening) return;
    this.#listening = on;
    this.#sub?.();
    this.#sub = null;
    if (!on) return;
    try {
      const sub = await this.d.bus.subscribe(this.d.names.leader, (m) => void this.#onMessage(m));
      if (this.#listening) this.#sub = sub;
      else sub();
    } catch (err) {
      this.d.log.warn({ err }, 'could not subscribe to leader commands');
    }
  }

  /** The root's answer to a command it was given. */
  answered(e: CommandAnswered): void {
    const resolve = this.#pending.get(e.requestId);
    if (!resolve) return;
    this.#pending.delete(e.requestId);
    resolve(
      e.ok
        ? { ok: true, events: e.events }
        : { ok: false, code: e.code ?? 'REJECTED', message: e.message ?? '' },
    );
  }

  /** Sends a command to whoever leads, retrying while there is none, until `withinMs` pass. */
  async send(command: OperatorCommand, withinMs: number): Promise<CommandReply> {
    const d = this.d;
    const deadline = d.clock.now() + withinMs;
    let last = 'no leader answered';
    while (d.clock.now() < deadline) {
      const requestId = `${d.nodeId}-${++this.#seq}`;
      const r = d.leading() ? await this.#local(command, requestId) : await this.#remote(command, requestId);
      if (r.ok || (r.code !== 'NOT_LEADER' && r.code !== 'TIMEOUT' && r.code !== 'UNREACHABLE')) return r;
      last = r.message;
      await new Promise<void>((r) => d.clock.setTimeout(() => r(), d.timing.retryIntervalMs));
    }
    throw new TimeoutError(
      `command ${command.type} ${command.nodeId} not answered within ${withinMs} ms: ${last}`,
    );
  }

  close(): void {
    void this.listen(false);
  }

  async #onMessage(m: BusMessage): Promise<void> {
    const decoded = decodeCommand(m.data);
    if (!decoded.ok) {
      this.d.dropped(decoded.error);
      m.respond?.(encode({ ok: false, code: 'MALFORMED', message: decoded.error.slice(0, 1000) }));
      return;
    }
    const reply = await this.#local(
      decoded.value.command,
      `${decoded.value.from}:${decoded.value.requestId}`,
    );
    m.respond?.(encode(reply));
  }

  #local(command: OperatorCommand, requestId: string): Promise<CommandReply> {
    const d = this.d;
    if (!d.leading())
      return Promise.resolve({ ok: false, code: 'NOT_LEADER', message: `${d.nodeId} is not the leader` });
    return new Promise((resolve) => {
      const timer = d.clock.setTimeout(() => {
        this.#pending.delete(requestId);
        resolve({ ok: false, code: 'TIMEOUT', message: 'the leader did not commit in time' });
      }, d.timing.requestTimeoutMs * 4);
      this.#pending.set(requestId, (r) => {
        d.clock.clearTimeout(timer);
        resolve(r);
      });
      d.submit(requestId, command);
    });
  }

  async #remote(command: OperatorCommand, requestId: string): Promise<CommandReply> {
    const d = this.d;
    try {
      const raw = await d.bus.request(d.names.leader, encode({ requestId, from: d.nodeId, command }), {
        timeoutMs: d.timing.requestTimeoutMs * 5,
      });
      const r = decodeCommandReply(raw);
      return r.ok ? r.value : { ok: false, code: 'UNREACHABLE', message: r.error };
    } catch (err) {
      return { ok: false, code: 'UNREACHABLE', message: (err as Error).message };
    }
  }
}
