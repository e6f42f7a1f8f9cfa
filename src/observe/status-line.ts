/**
 * The status line of `aether node` (`--json` prints one per change, with `at`): what a node says of
 * itself and of the cluster as it sees it. Read by the process harness of `aether chaos --processes`.
 */

/** What a status line says; a line is printed whenever it changes (with `--json`, plus `at`). */
export interface StatusLine {
  readonly type: 'status';
  readonly node: string;
  readonly status: string;
  readonly leader: string | null;
  readonly term: number | null;
  readonly isLeader: boolean;
  readonly shards: number;
  /** True while it serves nothing because it could not confirm its membership in time. */
  readonly fenced: boolean;
  readonly unowned: number;
  readonly version: number;
  /** Term under which the shard map at `version` was written (a checker compares it with the store's). */
  readonly mapTerm: number;
  readonly nodes: Record<string, string>;
  readonly connection: string;
}
