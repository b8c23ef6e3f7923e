/**
 * Grants proven against the table: each Rust binary's synthesized role is
 * evaluated statement by statement against its rows of `settings/grants.json`
 * (the table the system tests check at the wire). Every row is granted on its
 * resource, table rows only under their key prefixes (LeadingKeys); nothing is
 * granted that no row needs, besides the few grants CDK itself adds, each named
 * here with its reason.
 */
import { loadGrants, GrantRole, GrantRow } from '../lib/grants';
import { allListingIndexes, loadQueueSettings } from '../lib/queue-settings';
import { OPEN_JOBS_INDEX } from '../lib/reconcile/job-reconciler';
import { joinedText, Json, one, refOf, resourcesOf, Statement, statementsOfRole } from './support/template';

const settings = loadQueueSettings();
const [tableId] = one('AWS::DynamoDB::Table', 'JobsTable');
const [queueId] = one('AWS::SQS::Queue', 'QueuesQueue');
const [dlqId] = one('AWS::SQS::Queue', 'QueuesDeadLetterQueue');
const [scheduleDlqId] = one('AWS::SQS::Queue', 'QueuesScheduleDeadLetterQueue');
const [schedulerRoleId] = one('AWS::IAM::Role', 'SchedulerExecutionRole');

function association(namespace: string, serviceAccount: string): string {
  const found = resourcesOf('AWS::EKS::PodIdentityAssociation').filter(
    ([, a]) => a.Properties.Namespace === namespace && a.Properties.ServiceAccount === serviceAccount,
  );
  expect(found).toHaveLength(1);
  return refOf(found[0][1].Properties.RoleArn)!;
}

/** Each binary's role in the template. */
const ROLES: Record<GrantRole, () => string> = {
  'jobs-api': () => one('AWS::IAM::Role', 'JobsApiRole')[0],
  'stats-api': () => one('AWS::IAM::Role', 'StatsApiRole')[0],
  'schedules-api': () => one('AWS::IAM::Role', 'SchedulesApiRole')[0],
  reconciler: () => one('AWS::IAM::Role', 'ReconcilerFunctionRole')[0],
  'counter-aggregator': () => one('AWS::IAM::Role', 'CounterAggregatorFunctionRole')[0],
  'data-processor': () => association('jobs', 'data-processor'),
  scheduler: () => schedulerRoleId,
  'keda-operator': () => association('keda', 'keda-operator'),
};

/** The symbolic resource name the table uses for a resource of the template. */
function symbolic(resource: Json): string {
  const text = joinedText(resource);
  const listing = settings.table.listingIndexes;
  const names: Record<string, string> = {
    '*': '*',
    [`<<GetAtt:${tableId}.Arn>>`]: 'table',
    [`<<GetAtt:${tableId}.StreamArn>>`]: 'stream',
    [`<<GetAtt:${queueId}.Arn>>`]: 'queue',
    [`<<GetAtt:${dlqId}.Arn>>`]: 'dead-letter-queue',
    [`<<GetAtt:${scheduleDlqId}.Arn>>`]: 'schedule-dead-letter-queue',
    [`<<GetAtt:${schedulerRoleId}.Arn>>`]: 'scheduler-role',
    'arn:<<Ref:AWS::Partition>>:scheduler:<<Ref:AWS::Region>>:<<Ref:AWS::AccountId>>:schedule/JobsApi/*': 'schedules',
  };
  for (const index of [...allListingIndexes(listing).map((i) => i.name), OPEN_JOBS_INDEX]) {
    names[`<<GetAtt:${tableId}.Arn>>/index/${index}`] = `index/${index}`;
  }
  return names[text] ?? `other: ${text}`;
}

/** What CDK grants on its own, by role: [action, resource or pattern, why]. */
const CDK_MANAGED: [RegExp, RegExp, string][] = [
  [/^logs:(CreateLogStream|PutLogEvents)$/, /^other: <<GetAtt:\w+Logs\w*\.Arn>>$/, "each function writes its own log group (RustFunction)"],
  [
    /^dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)$/,
    /^(stream|\*)$/,
    "the counter aggregator's event source mapping reads the stream (DynamoEventSource); ListStreams supports no resource",
  ],
  [/^sqs:(SendMessage|GetQueueAttributes|GetQueueUrl)$/, /^other: <<GetAtt:CounterAggregatorDeadLetterQueue\w+\.Arn>>$/, "the event source mapping's on-failure destination"],
];

interface Granted {
  action: string;
  resource: string;
  conditions: Json;
}

function granted(statements: Statement[]): Granted[] {
  return statements.flatMap((s) =>
    s.actions.flatMap((action) => s.resources.map((r) => ({ action, resource: symbolic(r), conditions: s.conditions }))),
  );
}

/** Whether a granted action serves `row`: the same action and resource, and for a table row no wider keys. */
function serves(row: GrantRow, g: Granted): boolean {
  if (!row.actions.includes(g.action) || row.resource !== g.resource) return false;
  if (row.resource !== 'table' || !row.keys?.length) return true;
  const keys: string[] = g.conditions?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? [];
  const wanted = row.keys.map((k) => `${k}*`);
  return keys.length > 0 && keys.every((k) => wanted.includes(k));
}

const table = loadGrants();

describe.each(Object.keys(ROLES) as GrantRole[])('%s', (role) => {
  const rows = table.roles[role].grants;
  const statements = () => granted(statementsOfRole(ROLES[role]()));

  test('every row of the grant table is granted, on its resource, under its keys', () => {
    const all = statements();
    const missing = rows.flatMap((row) =>
      row.actions
        .filter((action) => !all.some((g) => g.action === action && serves({ ...row, actions: [action] }, g)))
        .map((action) => `${action} on ${row.resource}${row.keys ? ` under ${row.keys.join(', ')}` : ''}`),
    );
    expect(missing).toEqual([]);
  });

  test('nothing is granted that no row needs (CDK-managed grants named)', () => {
    const extra = statements().filter(
      (g) => !rows.some((row) => serves(row, g)) && !CDK_MANAGED.some(([a, r]) => a.test(g.action) && r.test(g.resource)),
    );
    expect(extra.map((g) => `${g.action} on ${g.resource} ${JSON.stringify(g.conditions ?? {})}`)).toEqual([]);
  });

  test('every item grant on the table is limited to key prefixes', () => {
    const unkeyed = statements().filter(
      (g) =>
        g.resource === 'table' &&
        !['dynamodb:DescribeTable', 'dynamodb:ListTagsOfResource'].includes(g.action) &&
        !g.conditions?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'],
    );
    expect(unkeyed.map((g) => g.action)).toEqual([]);
  });
});

test('the table names every role and only resources the stack has', () => {
  expect(Object.keys(table.roles).sort()).toEqual(Object.keys(ROLES).sort());
  // Indexes only the table has: the listing indexes of queue.json and the reconciler's.
  const indexes = [...allListingIndexes(settings.table.listingIndexes).map((i) => i.name), OPEN_JOBS_INDEX].map((name) => `index/${name}`);
  const known = ['table', 'stream', 'queue', 'dead-letter-queue', 'schedule-dead-letter-queue', 'scheduler-role', 'schedules', '*', ...indexes];
  for (const [role, { grants }] of Object.entries(table.roles)) {
    for (const row of grants) {
      expect({ role, resource: row.resource, known: known.includes(row.resource) }).toEqual({
        role,
        resource: row.resource,
        known: true,
      });
      expect({ role, row: row.actions.join(), why: row.why.length > 10 }).toEqual({ role, row: row.actions.join(), why: true });
    }
  }
});
