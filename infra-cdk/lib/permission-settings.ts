/**
 * Which permission each API route needs, shared with the Rust router (which checks it
 * for every request): one JSON file at the repository root (`settings/permissions.json`)
 * mapping each API Gateway route key to a permission, `public` or `authenticated`, and
 * each permission to the JWT scope that grants it; read and checked here.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { ROUTE_KEY } from './throttle-settings';

/** The permissions a route can need. */
export const PERMISSIONS = ['jobs:read', 'jobs:write', 'schedules:read', 'schedules:write'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * What a route needs: a permission; `authenticated`, a valid caller and no scope; or
 * `public`, no caller at all under the JWT authorizer (the status page and its assets).
 */
export type RouteAccess = Permission | 'public' | 'authenticated';

/** The file's content. */
export interface PermissionSettings {
  /** The JWT scope that grants each permission (the file's default: the permission's own name). */
  readonly scopes: Readonly<Record<Permission, string>>;
  /** Per route key (`METHOD /path`, API Gateway syntax): what the route needs. */
  readonly routes: Readonly<Record<string, RouteAccess>>;
}

/** Where the file is. */
export const PERMISSION_SETTINGS_PATH = join(__dirname, '..', '..', 'settings', 'permissions.json');

/** An OAuth 2.0 scope token (RFC 6749 §3.3): printable ASCII but space, `"` and `\`. */
export const SCOPE_NAME = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Whether `value` is one of {@link PERMISSIONS}. */
export function isPermission(value: unknown): value is Permission {
  return (PERMISSIONS as readonly unknown[]).includes(value);
}

/** Reads and checks the file. */
export function loadPermissionSettings(path: string = PERMISSION_SETTINGS_PATH): PermissionSettings {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const object = (name: string, value: unknown): Record<string, unknown> => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${path}: ${name} must be an object`);
    }
    return value as Record<string, unknown>;
  };
  const givenScopes = object('scopes', raw.scopes ?? {});
  for (const [key, value] of Object.entries(givenScopes)) {
    if (!isPermission(key)) {
      throw new Error(`${path}: scopes names ${JSON.stringify(key)}, which is no permission (${PERMISSIONS.join(', ')})`);
    }
    if (typeof value !== 'string' || !SCOPE_NAME.test(value)) {
      throw new Error(`${path}: scopes[${JSON.stringify(key)}] must be a scope name (printable ASCII, no spaces), got ${JSON.stringify(value)}`);
    }
  }
  const scopes = Object.fromEntries(PERMISSIONS.map((p) => [p, (givenScopes[p] as string | undefined) ?? p])) as Record<Permission, string>;
  const routes: Record<string, RouteAccess> = {};
  for (const [key, value] of Object.entries(object('routes', raw.routes))) {
    if (!ROUTE_KEY.test(key) || key === '$default') {
      throw new Error(`${path}: ${JSON.stringify(key)} is not an API Gateway route key (METHOD /path)`);
    }
    if (value !== 'public' && value !== 'authenticated' && !isPermission(value)) {
      throw new Error(
        `${path}: routes[${JSON.stringify(key)}] must be public, authenticated or one of ${PERMISSIONS.join(', ')}, got ${JSON.stringify(value)}`,
      );
    }
    routes[key] = value;
  }
  return { scopes, routes };
}

/** The scope names with some renamed (context value `jwtScopes`): always every permission. */
export function renameScopes(
  scopes: Readonly<Record<Permission, string>>,
  renames: Readonly<Partial<Record<Permission, string>>> = {},
): Record<Permission, string> {
  return Object.fromEntries(PERMISSIONS.map((p) => [p, renames[p] ?? scopes[p]])) as Record<Permission, string>;
}
