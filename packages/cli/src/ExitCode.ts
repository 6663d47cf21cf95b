/**
 * The exit codes other tools rely on: 0 success, 1 a verification failure, rejection or unknown outcome,
 * 2 bad usage (including @effect/cli's own validation errors and unusable input files).
 *
 * @since 0.1.0
 */
export const ok = 0
export const failure = 1
export const usage = 2

export type ExitCode = typeof ok | typeof failure | typeof usage
