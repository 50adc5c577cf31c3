/**
 * Errors that reach the user. Each carries the exit code the CLI uses and a message that
 * says what is wrong and where; the CLI prints the message without a stack trace unless
 * `--verbose` is given.
 */

/** A problem with what the user asked for: config, arguments, input files. Exit code 2. */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** One problem in a config file, with its key path and source location. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `model.latentDim`. */
  path: string;
  message: string;
  /** `file:line` (or `--set key=value`) where the key was written, when known. */
  where?: string;
}

/** How many issues a `ConfigError` message lists (`issues` holds them all). */
export const MAX_LISTED_ISSUES = 50;

/** A config that failed to load or validate; lists the issues found (the first 50 in its message). Exit code 2. */
export class ConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    // The first problems, not all: a config of 100,000 unknown keys made a 13 MB message.
    const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => `  - ${i.where ? i.where + ': ' : ''}${i.path ? `'${i.path}': ` : ''}${i.message}`);
    if (issues.length > MAX_LISTED_ISSUES) listed.push(`  … and ${issues.length - MAX_LISTED_ISSUES} more problems (fix these and validate again)`);
    super(`Invalid config ${file}:\n` + listed.join('\n'));
    this.name = 'ConfigError';
  }
}

/** A failure while a run was going (exit code 1). */
export class RunError extends Error {
  readonly exitCode = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunError';
  }
}

/** The exit code for any thrown value: 2 for user errors, 1 otherwise. */
export function exitCodeOf(error: unknown): number {
  if (error && typeof error === 'object' && 'exitCode' in error && typeof error.exitCode === 'number') return error.exitCode;
  return 1;
}
