/**
 * The Rust binaries' IAM grants, made from `settings/grants.json`: the one table of
 * every AWS action each binary's code calls, which the system tests check at the
 * wire. Each row becomes one statement on its resource; a table row is limited to
 * its partition-key prefixes (`dynamodb:LeadingKeys`).
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import * as iam from 'aws-cdk-lib/aws-iam';

/** The roles of the table. */
export type GrantRole =
  | 'jobs-api'
  | 'stats-api'
  | 'schedules-api'
  | 'reconciler'
  | 'counter-aggregator'
  | 'data-processor'
  | 'scheduler'
  | 'keda-operator';

/** One row: actions on one resource (for a table, under key prefixes). */
export interface GrantRow {
  readonly actions: string[];
  readonly resource: string;
  readonly keys?: string[];
  readonly conditions?: Record<string, Record<string, string | string[]>>;
  readonly why: string;
}

export interface GrantTable {
  readonly roles: Record<GrantRole, { description: string; grants: GrantRow[] }>;
}

/** `settings/grants.json`. */
export const GRANTS_FILE = join(__dirname, '..', '..', 'settings', 'grants.json');

let cached: GrantTable | undefined;
export function loadGrants(): GrantTable {
  cached ??= JSON.parse(readFileSync(GRANTS_FILE, 'utf8')) as GrantTable;
  return cached;
}

/** The ARN of each symbolic resource the table names, as the stack has it. */
export type GrantResources = Partial<Record<string, string>>;

/** The table ARN's resources: the table, its indexes and its stream. */
export function tableResources(tableArn: string, indexes: string[], streamArn?: string): GrantResources {
  const resources: GrantResources = { table: tableArn };
  for (const index of indexes) resources[`index/${index}`] = `${tableArn}/index/${index}`;
  if (streamArn) resources.stream = streamArn;
  return resources;
}

/** The statements of `role`'s rows, each on its resource from `resources`. */
export function statementsFor(role: GrantRole, resources: GrantResources): iam.PolicyStatement[] {
  const rows = loadGrants().roles[role]?.grants;
  if (!rows?.length) throw new Error(`${GRANTS_FILE} has no grants for ${role}`);
  return rows.map((row) => {
    const arn = row.resource === '*' ? '*' : resources[row.resource];
    if (!arn) throw new Error(`${role}: the grant table names resource ${row.resource}, which the stack did not provide`);
    const conditions: Record<string, Record<string, string | string[]>> = { ...(row.conditions ?? {}) };
    if (row.resource === 'table' && row.keys?.length) {
      conditions['ForAllValues:StringLike'] = { 'dynamodb:LeadingKeys': row.keys.map((k) => `${k}*`) };
    }
    return new iam.PolicyStatement({
      actions: row.actions,
      resources: [arn],
      conditions: Object.keys(conditions).length ? conditions : undefined,
    });
  });
}

/** Adds `role`'s rows to `principal`'s policy. */
export function grantFromTable(principal: iam.IRole, role: GrantRole, resources: GrantResources): void {
  for (const statement of statementsFor(role, resources)) principal.addToPrincipalPolicy(statement);
}
