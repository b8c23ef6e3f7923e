/**
 * `docs/access.md` cannot drift from `settings/permissions.json`: its table of JWT scopes
 * is the file's, route for route; every route it names is a route of the file; and each
 * of its three example IAM caller policies is a well-formed policy document that allows
 * exactly the routes it is meant to, found by evaluating its statements (IAM's wildcard
 * matching) against each route's execute-api ARN. The intended sets come from the file:
 * read-only is every route that is neither public nor needs a `:write` permission,
 * submitter every route that is not public, admin every route.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { loadPermissionSettings, RouteAccess } from '../lib/permission-settings';
import { REPO_DIR } from './support/paths';
import { Json } from './support/template';

const DOC_PATH = join(REPO_DIR, 'docs', 'access.md');
const doc = readFileSync(DOC_PATH, 'utf8');
const permissions = loadPermissionSettings();
const routes = Object.entries(permissions.routes) as [string, RouteAccess][];
const routesWhere = (keep: (access: RouteAccess) => boolean) =>
  routes
    .filter(([, access]) => keep(access))
    .map(([key]) => key)
    .sort();

/** The routes each example policy is meant to allow, from the file. */
const INTENDED: Record<string, string[]> = {
  'Read-only': routesWhere((access) => access !== 'public' && !access.endsWith(':write')),
  Submitter: routesWhere((access) => access !== 'public'),
  Admin: routesWhere(() => true),
};

/** The placeholder ARN prefix the doc's policies use. */
const ARN_PREFIX = 'arn:aws:execute-api:REGION:ACCOUNT:API_ID/$default/';

/** A route's ARN as IAM sees a request to it, each path parameter given a sample value. */
function requestArn(routeKey: string): string {
  const [method, path] = routeKey.split(' ');
  return `${ARN_PREFIX}${method}${path.replace(/\{[^}]+\}/g, 'sample-1')}`;
}

/** IAM's string matching in Action and Resource: `*` any run of characters (`/` included), `?` one. */
function wildcard(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

const asList = (x: Json): Json[] => (Array.isArray(x) ? x : [x]);

/** The JSON code blocks of the doc, each under its nearest `###` heading. */
function policiesByHeading(): Record<string, Json> {
  const found: Record<string, Json> = {};
  let heading = '';
  for (const part of doc.split(/^(### .+|```json\n[\s\S]*?\n```)$/m)) {
    if (part.startsWith('### ')) heading = part.slice(4).trim();
    else if (part.startsWith('```json')) {
      expect({ heading, duplicate: heading in found }).toEqual({ heading, duplicate: false });
      found[heading] = JSON.parse(part.slice('```json'.length, -'```'.length));
    }
  }
  return found;
}

/** What a policy document must look like: the parts IAM takes, an execute-api action on the doc's ARN form. */
function checkShape(policy: Json): void {
  expect(Object.keys(policy).filter((k) => !['Version', 'Id', 'Statement'].includes(k))).toEqual([]);
  expect(policy.Version).toBe('2012-10-17');
  expect(Array.isArray(policy.Statement) && policy.Statement.length > 0).toBe(true);
  const sids = policy.Statement.map((s: Json) => s.Sid).filter((sid: unknown) => sid !== undefined);
  expect(new Set(sids).size).toBe(sids.length);
  for (const s of policy.Statement) {
    expect(Object.keys(s).filter((k) => !['Sid', 'Effect', 'Action', 'Resource', 'Condition'].includes(k))).toEqual([]);
    if (s.Sid !== undefined) expect(s.Sid).toMatch(/^[A-Za-z0-9]+$/);
    expect(['Allow', 'Deny']).toContain(s.Effect);
    for (const field of ['Action', 'Resource']) {
      const values = asList(s[field]);
      expect({ field, values: values.length > 0 && values.every((v) => typeof v === 'string') }).toEqual({ field, values: true });
    }
    for (const action of asList(s.Action)) expect(action).toMatch(/^execute-api:(Invoke|\*)$/);
    for (const resource of asList(s.Resource)) {
      expect(resource.startsWith(ARN_PREFIX)).toBe(true);
      expect(resource.slice(ARN_PREFIX.length)).toMatch(/^(\*|(GET|POST|PUT|PATCH|DELETE|\*)\/[^\s{}]*)$/);
    }
  }
}

/** The routes of the file a policy allows: an Allow statement matches the request and no Deny does. */
function allowedRoutes(policy: Json): string[] {
  const matches = (s: Json, arn: string) =>
    asList(s.Action).some((a) => wildcard(a).test('execute-api:Invoke')) && asList(s.Resource).some((r) => wildcard(r).test(arn));
  return routes
    .map(([key]) => key)
    .filter((key) => {
      const arn = requestArn(key);
      const statements: Json[] = policy.Statement;
      return statements.some((s) => s.Effect === 'Allow' && matches(s, arn)) && !statements.some((s) => s.Effect === 'Deny' && matches(s, arn));
    })
    .sort();
}

describe('the IAM caller policies', () => {
  const policies = policiesByHeading();

  test('there are exactly the three, and they are all the JSON in the doc', () => {
    expect(Object.keys(policies).sort()).toEqual(Object.keys(INTENDED).sort());
    expect(doc.match(/^```json$/gm)?.length).toBe(3);
  });

  test('the intended sets are what the file makes them: read-only within submitter within admin', () => {
    expect(INTENDED['Read-only'].length).toBeGreaterThan(0);
    expect(INTENDED['Read-only'].every((key) => key.startsWith('GET '))).toBe(true);
    expect(INTENDED.Submitter).toEqual(expect.arrayContaining(INTENDED['Read-only']));
    expect(INTENDED.Submitter.length).toBeGreaterThan(INTENDED['Read-only'].length);
    expect(INTENDED.Admin.length).toBeGreaterThan(INTENDED.Submitter.length);
  });

  test.each(Object.keys(INTENDED))('%s is a policy document of execute-api:Invoke on the API routes', (name) => {
    checkShape(policies[name]);
  });

  test.each(Object.keys(INTENDED))('%s allows exactly its routes', (name) => {
    expect(allowedRoutes(policies[name])).toEqual(INTENDED[name]);
  });

  test('the evaluation itself: a parameter matches `*` (never its {name}), the root is GET/, Deny wins', () => {
    const policy = (Resource: string[], deny: string[] = []) => ({
      Statement: [
        { Effect: 'Allow', Action: 'execute-api:Invoke', Resource },
        ...(deny.length ? [{ Effect: 'Deny', Action: 'execute-api:Invoke', Resource: deny }] : []),
      ],
    });
    expect(allowedRoutes(policy([`${ARN_PREFIX}POST/jobs/*/cancel`]))).toEqual(['POST /jobs/{id}/cancel']);
    expect(allowedRoutes(policy([`${ARN_PREFIX}GET/jobs/{id}`]))).toEqual([]);
    expect(allowedRoutes(policy([`${ARN_PREFIX}GET/`]))).toEqual(['GET /']);
    expect(allowedRoutes(policy([`${ARN_PREFIX}*`], [`${ARN_PREFIX}GET/*`]))).toEqual(routesWhere(() => true).filter((k) => !k.startsWith('GET ')));
  });
});

describe('the table of JWT scopes', () => {
  const section = doc.split(/^## JWT scopes per route$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = [...section.matchAll(/^\| `([A-Z]+ \/[^`]*)` \| `([^`]+)` \| (.+?) \|$/gm)].map(([, route, access, scope]) => ({ route, access, scope }));

  test('has one row per route of the file, with its permission', () => {
    expect(rows.length).toBe(new Set(rows.map((r) => r.route)).size);
    expect(Object.fromEntries(rows.map((r) => [r.route, r.access]))).toEqual(permissions.routes);
  });

  test("names each permission's scope, and none for public and authenticated routes", () => {
    for (const { route, access, scope } of rows) {
      const expected = access === 'public' || access === 'authenticated' ? expect.stringMatching(/^none\b/) : `\`${permissions.scopes[access as keyof typeof permissions.scopes]}\``;
      expect({ route, scope }).toEqual({ route, scope: expected });
    }
  });
});

test('the routes the doc names (`METHOD /path`, a query string aside) are the routes of the file', () => {
  const named = [...doc.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`\s?]*)[^`]*`/g)].map(([, method, path]) => `${method} ${path}`);
  expect([...new Set(named)].sort()).toEqual(routesWhere(() => true));
});
