/**
 * Ends a whole process group the way a terminal would, escalating: SIGINT, then SIGTERM
 * after a grace period, then SIGKILL. Waits until no process of the group is left, so
 * grandchildren do not outlive the run (codex #7985).
 */
export async function signalProcessGroup(pgid: number, graceMs: number, leaderExit: Promise<unknown>): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
    if (!send(pgid, signal)) return;
    const deadline = Date.now() + (signal === 'SIGKILL' ? 5000 : graceMs);
    while (Date.now() < deadline) {
      if (!groupAlive(pgid)) {
        await leaderExit;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function send(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone already
  }
}

/** Signal 0 tests for existence; a group with only zombies left counts as gone once reaped. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
