/**
 * The Karpenter controller's policy against upstream's reference policy for the
 * pinned release (`../shared/charts/karpenter-reference/cloudformation.yaml`,
 * the getting-started template of Karpenter 1.14.1): statement by statement
 * (by `Sid`), the same actions, resources and conditions. The only differences
 * allowed are listed below, each with its reason; a statement missing, added or
 * changed otherwise fails.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { parse } from 'yaml';
import { KARPENTER_VERSION } from '../lib/cluster/karpenter';
import { REPO_DIR, STACK_NAME } from './support/paths';
import { joinedText, Json, one } from './support/template';

const REFERENCE = join(REPO_DIR, '..', 'shared', 'charts', 'karpenter-reference', 'cloudformation.yaml');
const REFERENCE_VERSION = '1.14.1';

const list = (x: Json): Json[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** A statement as compared: sorted actions and resources, conditions with sorted value lists. */
interface Compared {
  actions: string[];
  resources: string[];
  conditions: Record<string, Record<string, string[]>>;
}

function compared(statement: Json, text: (value: Json) => string): Compared {
  const conditions: Record<string, Record<string, string[]>> = {};
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    conditions[operator] = {};
    for (const [key, values] of Object.entries(keys as Json)) {
      conditions[operator][text(key)] = list(values).map(text).sort();
    }
  }
  return {
    actions: list(statement.Action).sort(),
    resources: list(statement.Resource).map(text).sort(),
    conditions,
  };
}

const [nodeRoleId] = one('AWS::IAM::Role', 'KarpenterNodeRole');
const [queueId] = one('AWS::SQS::Queue', 'KarpenterInterruptionQueue');
const [, policy] = one('AWS::IAM::Policy', 'KarpenterControllerPolicy');

/** Upstream's statements by Sid, `${...}` written as the template's placeholders. */
function reference(): Map<string, Compared> {
  // CloudFormation's short-form intrinsics (!Sub, !GetAtt, ...) as plain values.
  const customTags = ['Sub', 'GetAtt', 'Ref', 'Join', 'If', 'Equals', 'Not', 'Select', 'Split'].flatMap((name) => [
    { tag: `!${name}`, resolve: (value: string) => ({ [name]: value }) },
    { tag: `!${name}`, collection: 'seq' as const, resolve: (value: Json) => ({ [name]: value.toJSON() }) },
  ]);
  const doc = parse(readFileSync(REFERENCE, 'utf8'), { customTags });
  const substitute = (text: string) =>
    text
      .replaceAll('${AWS::Partition}', '<<Ref:AWS::Partition>>')
      .replaceAll('${AWS::Region}', '<<Ref:AWS::Region>>')
      .replaceAll('${AWS::AccountId}', '<<Ref:AWS::AccountId>>')
      .replaceAll('${ClusterName}', STACK_NAME)
      .replaceAll('${KarpenterNodeRole.Arn}', `<<GetAtt:${nodeRoleId}.Arn>>`)
      .replaceAll('${KarpenterInterruptionQueue.Arn}', `<<GetAtt:${queueId}.Arn>>`);
  const statements = new Map<string, Compared>();
  for (const resource of Object.values(doc.Resources as Record<string, Json>)) {
    if (resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const sub = resource.Properties.PolicyDocument.Sub;
    const document = JSON.parse(typeof sub === 'string' ? sub : sub[0]);
    for (const statement of document.Statement) {
      statements.set(statement.Sid, compared(statement, (v) => substitute(String(v))));
    }
  }
  return statements;
}

/** The stack's statements by Sid. */
function ours(): Map<string, Compared> {
  const statements = new Map<string, Compared>();
  for (const statement of policy.Properties.PolicyDocument.Statement) {
    statements.set(statement.Sid, compared(statement, joinedText));
  }
  return statements;
}

/**
 * The differences from upstream that are intended: each turns upstream's
 * statement into ours, and says why.
 */
const INTENDED: { sid: string; why: string; change: (s: Compared) => Compared }[] = [
  ...[
    'AllowScopedEC2InstanceAccessActions',
    'AllowScopedEC2LaunchTemplateAccessActions',
    'AllowScopedEC2InstanceActionsWithTags',
    'AllowScopedResourceCreationTagging',
    'AllowScopedResourceTagging',
    'AllowScopedDeletion',
  ].map((sid) => ({
    sid,
    why: "EC2 resources of this stack's account only: upstream allows any account (`*`) in the ARN",
    change: (s: Compared) => ({
      ...s,
      resources: s.resources.map((r) => r.replace(/^(arn:<<Ref:AWS::Partition>>:ec2:<<Ref:AWS::Region>>):\*:/, '$1:<<Ref:AWS::AccountId>>:')).sort(),
    }),
  })),
  {
    sid: 'AllowPassingInstanceRole',
    why: "the EC2 service principal of the stack's own partition (ec2.<URL suffix>) instead of both the commercial and China names",
    change: (s) => ({ ...s, conditions: { StringEquals: { 'iam:PassedToService': ['ec2.<<Ref:AWS::URLSuffix>>'] } } }),
  },
];

test('the reference policy is the one for the pinned Karpenter release', () => {
  expect(KARPENTER_VERSION).toBe(REFERENCE_VERSION);
  expect(readFileSync(REFERENCE, 'utf8')).toContain('KarpenterControllerResourceDiscoveryPolicy');
});

test("the controller's policy has upstream's statements, each as upstream has it but for the intended differences", () => {
  const upstream = reference();
  const stack = ours();
  expect(upstream.size).toBeGreaterThan(10);
  expect([...stack.keys()].sort()).toEqual([...upstream.keys()].sort());
  for (const [sid, statement] of upstream) {
    const intended = INTENDED.filter((d) => d.sid === sid).reduce((s, d) => d.change(s), statement);
    expect({ sid, ...stack.get(sid) }).toEqual({ sid, ...intended });
  }
});

test('every intended difference still applies (none is stale)', () => {
  const upstream = reference();
  for (const { sid, change, why } of INTENDED) {
    const statement = upstream.get(sid);
    expect(statement).toBeDefined();
    expect({ sid, why, changed: JSON.stringify(change(statement!)) !== JSON.stringify(statement) }).toEqual({ sid, why, changed: true });
  }
});
