/**
 * SIGINT/SIGTERM, handled the same way by every command that trains (a run, a sweep): the
 * first signal asks for a clean stop (finish the step, checkpoint, mark the run KILLED), a
 * second one hurries (exit at once, or stop the children now).
 */

/** Install the two-stage handlers; returns the function that removes them. */
export function onSignals(first: (sig: NodeJS.Signals) => void, again: (sig: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count += 1;
    if (count === 1) first(sig);
    else again(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** The exit code of a run stopped by a signal: 130 for SIGINT, 143 for SIGTERM. */
export function signalExitCode(sig: unknown): number {
  return sig === 'SIGTERM' ? 143 : 130;
}
