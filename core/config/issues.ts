/** Configuration problems, each tied to its path and its place in the file. */

/** 1-based line and column in the config file. */
export interface Position {
  line: number;
  col: number;
}

export interface ConfigIssue {
  /** Where in the config, `::`-separated: `receivers::ebpf_socket::poll_interval`. */
  path: string;
  /** What was wrong, with the offending value. */
  message: string;
  /** Absent only for problems with no place in a file (such as a factory's own defaults). */
  position?: Position;
}

/**
 * One issue as a line: `file:line:col: path: message`.
 *
 * @example
 * formatIssue('pipeline.yaml', { path: 'exporters::debug', message: 'boom', position: { line: 3, col: 5 } });
 * // 'pipeline.yaml:3:5: exporters::debug: boom'
 */
export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.position === undefined ? file : `${file}:${issue.position.line}:${issue.position.col}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Orders issues by their place in the file (issues without one last), then by path. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const key = (i: ConfigIssue): number =>
    i.position === undefined ? Infinity : i.position.line * 1e6 + i.position.col;
  return [...issues].sort((a, b) => key(a) - key(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Thrown when a config file has problems; carries every one of them. */
export class ConfigError extends Error {
  readonly file: string;
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: readonly ConfigIssue[]) {
    const sorted = sortIssues(issues);
    super(sorted.map((i) => formatIssue(file, i)).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.issues = sorted;
  }
}
