/**
 * The warning about sockets whose last bytes were lost (`reclaimed_lost`): a
 * table entry whose socket's close was missed and whose memory already held
 * another socket when a poll looked, so its bytes since the previous poll
 * cannot be read any more.
 */
import type { Logger } from '../../core/logger.ts';

/** Least time between two warnings. */
export const LOST_WARNING_INTERVAL_MS = 60_000;

/**
 * Logs one warning for a poll that counted lost sockets, at most one per
 * `intervalMs`: the polls in between are summed into the next warning, which
 * the first poll after the interval writes (whether or not it lost any).
 */
export class LostSocketsWarning {
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastWarningMs = -Infinity;
  /** Sockets and polls counted since the last warning and not yet in one. */
  private pendingSockets = 0;
  private pendingPolls = 0;

  constructor(logger: Logger, intervalMs = LOST_WARNING_INTERVAL_MS, now: () => number = Date.now) {
    if (!(intervalMs >= 0)) throw new Error(`intervalMs must be 0 or more, got ${intervalMs}`);
    this.logger = logger;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** Called once per poll with the sockets it counted under `event=reclaimed_lost` (0 for none). */
  note(sockets: number): void {
    if (sockets > 0) {
      this.pendingSockets += sockets;
      this.pendingPolls++;
    }
    if (this.pendingPolls === 0) return;
    const nowMs = this.now();
    if (nowMs - this.lastWarningMs < this.intervalMs) return;
    this.logger.warn(
      'sockets left the table without their final counters: their bytes since the previous poll are lost',
      {
        sockets: this.pendingSockets,
        polls: this.pendingPolls,
        cause:
          'their close was not seen (see loggerhead.receiver.hook.skipped_runs) and their memory held another socket when a poll looked',
        note: `counted in loggerhead.receiver.sockets{event="reclaimed_lost"}; warned at most every ${this.intervalMs / 1000} s, polls in between summed`,
      },
    );
    this.lastWarningMs = nowMs;
    this.pendingSockets = 0;
    this.pendingPolls = 0;
  }
}
