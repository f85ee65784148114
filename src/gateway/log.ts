/**
 * Structured log lines on stderr. Callers pass only what is safe to show: ids, models,
 * amounts. Tokens, keys and headers are never handed to the logger.
 */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel = (process.env.INTIME_LOG as LogLevel | undefined) ?? 'warn'): Logger {
  const threshold = RANK[level] ?? RANK.warn;
  const write = (at: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[at] > threshold) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: at, message, ...fields })}\n`);
  };
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') };
}
