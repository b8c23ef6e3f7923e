/**
 * The API's request rates, shared with the local API's limiter: one JSON file at
 * the repository root (`settings/throttles.json`) giving the stage default and a
 * rate and burst per API Gateway route key, read and checked here.
 */
import { readFileSync } from 'fs';
import { join } from 'path';

/** One rate: steady requests per second and the token bucket's size. */
export interface Throttle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** The file's content. */
export interface ThrottleSettings {
  /** The stage default: any route not listed in {@link routes}. */
  readonly stage: Throttle;
  /** Per route key (`METHOD /path`, API Gateway syntax). */
  readonly routes: Readonly<Record<string, Throttle>>;
}

/** Where the file is. */
export const THROTTLE_SETTINGS_PATH = join(__dirname, '..', '..', 'settings', 'throttles.json');

/** API Gateway's default account quota per region: the most one stage or route can be given. */
export const MAX_RATE_LIMIT = 10_000;
export const MAX_BURST_LIMIT = 5_000;

/** A route key of an HTTP API: `$default`, or a method (or ANY) and a path. */
export const ROUTE_KEY = /^(\$default|(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \/\S*)$/;

/** Reads and checks the file. */
export function loadThrottleSettings(path: string = THROTTLE_SETTINGS_PATH): ThrottleSettings {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const throttle = (name: string, value: any): Throttle => {
    const rate: unknown = value?.rateLimit;
    const burst: unknown = value?.burstLimit;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > MAX_RATE_LIMIT) {
      throw new Error(`${path}: ${name}.rateLimit must be a number of requests per second in (0, ${MAX_RATE_LIMIT}], got ${JSON.stringify(rate)}`);
    }
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > MAX_BURST_LIMIT) {
      throw new Error(`${path}: ${name}.burstLimit must be a whole number in [1, ${MAX_BURST_LIMIT}], got ${JSON.stringify(burst)}`);
    }
    return { rateLimit: rate, burstLimit: burst };
  };
  if (raw.routes === null || typeof raw.routes !== 'object' || Array.isArray(raw.routes)) {
    throw new Error(`${path}: routes must be an object of route keys`);
  }
  const routes: Record<string, Throttle> = {};
  for (const [key, value] of Object.entries(raw.routes)) {
    if (!ROUTE_KEY.test(key)) {
      throw new Error(`${path}: ${JSON.stringify(key)} is not an API Gateway route key (METHOD /path)`);
    }
    routes[key] = throttle(`routes[${JSON.stringify(key)}]`, value);
  }
  return { stage: throttle('stage', raw.stage), routes };
}
