/**
 * The data-processor worker's configuration contract: the environment
 * variables it reads, their defaults, and the Kubernetes timings derived from
 * them (Job deadline, pod termination grace, node drain grace), so the
 * Kubernetes side can never disagree with what the worker does.
 */

/** Tunables of the worker process itself; each maps to one `JOBS_*` variable. */
export interface WorkerSettings {
  /** `JOBS_MAX_ATTEMPTS`: attempts per job, counting the first. @default 3 */
  readonly maxAttempts?: number;
  /** `JOBS_RETRY_BASE_DELAY_MS`: delay before the first retry; it doubles each retry, plus jitter. @default 1000 */
  readonly retryBaseDelayMs?: number;
  /** `JOBS_RETRY_MAX_DELAY_MS`: cap of the doubling delay (jitter comes on top). @default 30000 */
  readonly retryMaxDelayMs?: number;
  /** `JOBS_ATTEMPT_TIMEOUT_SECS`: per-attempt timeout; a timed-out attempt is a failed attempt. @default 300 */
  readonly attemptTimeoutSecs?: number;
  /**
   * `JOBS_VISIBILITY_TIMEOUT_SECS`: the heartbeat window. The worker keeps
   * its message invisible by extending the visibility by this much, so a
   * crashed pod's message is visible again within this time.
   * @default 30
   */
  readonly visibilityTimeoutSecs?: number;
  /**
   * `JOBS_SHUTDOWN_GRACE_SECS`: after SIGTERM the worker lets the running
   * attempt finish for up to this long, otherwise it makes the message
   * visible again and exits. The pod's terminationGracePeriodSeconds is
   * derived from it.
   * @default 25
   */
  readonly shutdownGraceSecs?: number;
  /** `RUST_LOG`: log filter. @default 'info' */
  readonly rustLog?: string;
  /**
   * `JOBS_COUNTERS`: where job counters are booked. `inline`: in each job change's
   * transaction; `stream`: the counter aggregator books them from the table's stream, and
   * a job change is one conditional write. Must be what the API and the table are set up
   * for. @default 'inline'
   */
  readonly counting?: 'inline' | 'stream';
}

/** {@link WorkerSettings} with every default applied. */
export type ResolvedWorkerSettings = Required<WorkerSettings>;

/** Defaults that match the worker binary's own defaults. */
export const WORKER_DEFAULTS: ResolvedWorkerSettings = {
  maxAttempts: 3,
  retryBaseDelayMs: 1000,
  retryMaxDelayMs: 30000,
  attemptTimeoutSecs: 300,
  visibilityTimeoutSecs: 30,
  shutdownGraceSecs: 25,
  rustLog: 'info',
  counting: 'inline',
};

/** Seconds added to the worker's shutdown grace before the kubelet sends SIGKILL. */
export const TERMINATION_GRACE_MARGIN_SECS = 5;

/** Applies defaults and checks every value against the ranges the worker accepts. */
export function resolveWorkerSettings(settings: WorkerSettings = {}): ResolvedWorkerSettings {
  const resolved: ResolvedWorkerSettings = {
    maxAttempts: settings.maxAttempts ?? WORKER_DEFAULTS.maxAttempts,
    retryBaseDelayMs: settings.retryBaseDelayMs ?? WORKER_DEFAULTS.retryBaseDelayMs,
    retryMaxDelayMs: settings.retryMaxDelayMs ?? WORKER_DEFAULTS.retryMaxDelayMs,
    attemptTimeoutSecs: settings.attemptTimeoutSecs ?? WORKER_DEFAULTS.attemptTimeoutSecs,
    visibilityTimeoutSecs: settings.visibilityTimeoutSecs ?? WORKER_DEFAULTS.visibilityTimeoutSecs,
    shutdownGraceSecs: settings.shutdownGraceSecs ?? WORKER_DEFAULTS.shutdownGraceSecs,
    rustLog: settings.rustLog ?? WORKER_DEFAULTS.rustLog,
    counting: settings.counting ?? WORKER_DEFAULTS.counting,
  };
  // The same ranges the worker accepts at start-up (job-core's Config).
  requireInteger('worker.maxAttempts', resolved.maxAttempts, 1, 100);
  requireInteger('worker.retryBaseDelayMs', resolved.retryBaseDelayMs, 0, 3_600_000);
  requireInteger('worker.retryMaxDelayMs', resolved.retryMaxDelayMs, resolved.retryBaseDelayMs, 3_600_000);
  requireInteger('worker.attemptTimeoutSecs', resolved.attemptTimeoutSecs, 1, 43_200);
  requireInteger('worker.visibilityTimeoutSecs', resolved.visibilityTimeoutSecs, 3, 43_200);
  requireInteger('worker.shutdownGraceSecs', resolved.shutdownGraceSecs, 0, 3_600);
  if (resolved.rustLog.trim() === '') {
    throw new Error('worker.rustLog must not be empty');
  }
  if (resolved.counting !== 'inline' && resolved.counting !== 'stream') {
    throw new Error(`worker.counting must be 'inline' or 'stream', not ${JSON.stringify(resolved.counting)}`);
  }
  return resolved;
}

/** Inputs of the worker's environment that are not tunables. */
export interface WorkerEnvironmentInputs {
  /** `JOBS_QUEUE_URL`. */
  readonly queueUrl: string;
  /** `JOBS_TABLE_NAME`. */
  readonly tableName: string;
  /** `AWS_REGION`. */
  readonly region: string;
  /** Extra variables (for example `AWS_ENDPOINT_URL`); may not redefine a contract variable. */
  readonly extraEnv?: Record<string, string>;
}

/** Names of the variables this module owns; extra variables may not reuse them. */
export const WORKER_ENV_NAMES = [
  'JOBS_QUEUE_URL',
  'JOBS_TABLE_NAME',
  'AWS_REGION',
  'JOBS_MAX_ATTEMPTS',
  'JOBS_RETRY_BASE_DELAY_MS',
  'JOBS_RETRY_MAX_DELAY_MS',
  'JOBS_ATTEMPT_TIMEOUT_SECS',
  'JOBS_VISIBILITY_TIMEOUT_SECS',
  'JOBS_SHUTDOWN_GRACE_SECS',
  'JOBS_COUNTERS',
  'RUST_LOG',
] as const;

/** The container's environment, in a stable order, as name/value pairs. */
export function workerEnvironment(
  inputs: WorkerEnvironmentInputs,
  settings: ResolvedWorkerSettings,
): { name: string; value: string }[] {
  requireNonEmpty('queueUrl', inputs.queueUrl);
  requireNonEmpty('tableName', inputs.tableName);
  requireNonEmpty('region', inputs.region);
  const contract: Record<(typeof WORKER_ENV_NAMES)[number], string> = {
    JOBS_QUEUE_URL: inputs.queueUrl,
    JOBS_TABLE_NAME: inputs.tableName,
    AWS_REGION: inputs.region,
    JOBS_MAX_ATTEMPTS: String(settings.maxAttempts),
    JOBS_RETRY_BASE_DELAY_MS: String(settings.retryBaseDelayMs),
    JOBS_RETRY_MAX_DELAY_MS: String(settings.retryMaxDelayMs),
    JOBS_ATTEMPT_TIMEOUT_SECS: String(settings.attemptTimeoutSecs),
    JOBS_VISIBILITY_TIMEOUT_SECS: String(settings.visibilityTimeoutSecs),
    JOBS_SHUTDOWN_GRACE_SECS: String(settings.shutdownGraceSecs),
    JOBS_COUNTERS: settings.counting,
    RUST_LOG: settings.rustLog,
  };
  const env: { name: string; value: string }[] = WORKER_ENV_NAMES.map((name) => ({ name, value: contract[name] }));
  for (const [name, value] of Object.entries(inputs.extraEnv ?? {})) {
    if ((WORKER_ENV_NAMES as readonly string[]).includes(name)) {
      throw new Error(`extraEnv may not redefine ${name}; set it through the chart's props`);
    }
    env.push({ name, value });
  }
  return env;
}

/**
 * Upper bound, in seconds, of all retry delays of one job. Before retry n the
 * worker waits min(base * 2^(n-1), max) plus a random jitter of up to the same
 * amount again, so at most twice the capped delay; a job has at most
 * maxAttempts - 1 retries.
 */
export function maxRetryDelaySecs(settings: ResolvedWorkerSettings): number {
  let totalMs = 0;
  for (let retry = 1; retry < settings.maxAttempts; retry++) {
    const capped = Math.min(settings.retryBaseDelayMs * 2 ** (retry - 1), settings.retryMaxDelayMs);
    totalMs += 2 * capped;
  }
  return Math.ceil(totalMs / 1000);
}

/**
 * Job `activeDeadlineSeconds`: every attempt running to its timeout, every
 * retry delay at its cap, plus the allowance for what happens before the
 * first attempt (node launch, image pull, the receive long poll) and after
 * the last (recording the outcome). The Job clock starts when the Job does,
 * not when the container does, hence the allowance.
 */
export function jobActiveDeadlineSecs(settings: ResolvedWorkerSettings, startupAllowanceSecs: number): number {
  return settings.maxAttempts * settings.attemptTimeoutSecs + maxRetryDelaySecs(settings) + startupAllowanceSecs;
}

/**
 * Pod `terminationGracePeriodSeconds`: the worker's own shutdown grace plus a
 * small margin for the visibility reset and exit, so the kubelet's SIGKILL
 * never cuts the worker's orderly shutdown short.
 */
export function podTerminationGraceSecs(settings: ResolvedWorkerSettings): number {
  return settings.shutdownGraceSecs + TERMINATION_GRACE_MARGIN_SECS;
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new Error(`${name} must be an integer ${range}, got ${value}`);
  }
}

/** Throws unless `value` is a non-blank string. */
export function requireNonEmpty(name: string, value: string | undefined): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${name} is required and must not be empty`);
  }
}
