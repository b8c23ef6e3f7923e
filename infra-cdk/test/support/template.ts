/** Reading the synthesized template: resources by type, IAM statements of a role, manifest text. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { CDK_OUT, STACK_NAME } from './paths';

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Template {
  readonly Resources: Record<string, { Type: string; Properties?: Json; DependsOn?: string[] }>;
  readonly Outputs?: Record<string, Json>;
}

export function templatePath(): string {
  return join(CDK_OUT, `${STACK_NAME}.template.json`);
}

let cached: Template | undefined;
export function template(): Template {
  cached ??= JSON.parse(readFileSync(templatePath(), 'utf8')) as Template;
  return cached;
}

/** [logicalId, resource] of every resource of `type`. */
export function resourcesOf(type: string): [string, Json][] {
  return Object.entries(template().Resources).filter(([, r]) => r.Type === type);
}

/** The one resource of `type` whose logical id starts with `prefix`. */
export function one(type: string, prefix: string): [string, Json] {
  const found = resourcesOf(type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) {
    throw new Error(`expected one ${type} starting with ${prefix}, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  }
  return found[0];
}

/** A statement normalized for comparison: sorted action list and resources. */
export interface Statement {
  readonly actions: string[];
  readonly resources: Json[];
  readonly conditions?: Json;
}

const list = (x: Json): Json[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** Every Allow statement of the inline and attached customer policies of role `roleId`. */
export function statementsOfRole(roleId: string): Statement[] {
  const statements: Statement[] = [];
  const role = template().Resources[roleId];
  for (const policy of list(role.Properties?.Policies)) {
    statements.push(...normalize(policy.PolicyDocument.Statement));
  }
  for (const [, policy] of resourcesOf('AWS::IAM::Policy')) {
    if (list(policy.Properties.Roles).some((r: Json) => r.Ref === roleId)) {
      statements.push(...normalize(policy.Properties.PolicyDocument.Statement));
    }
  }
  return statements;
}

function normalize(statements: Json[]): Statement[] {
  return statements
    .filter((s) => s.Effect === 'Allow')
    .map((s) => ({ actions: list(s.Action).sort(), resources: list(s.Resource), conditions: s.Condition }));
}

/** Sorted "action resource" pairs of a role, resources as JSON: easy exact comparison. */
export function grantsOfRole(roleId: string): string[] {
  return statementsOfRole(roleId)
    .flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${JSON.stringify(r)}`)))
    .sort();
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` points at. */
export function refOf(value: Json): string | undefined {
  return value?.Ref ?? value?.['Fn::GetAtt']?.[0];
}

/**
 * A `Fn::Join` of literal text and intrinsics as one string, each intrinsic
 * replaced by a placeholder `<<Ref:Id>>` / `<<GetAtt:Id.Attr>>`.
 */
export function joinedText(value: Json): string {
  if (typeof value === 'string') return value;
  const join = value['Fn::Join'];
  if (!join) return placeholder(value);
  return (join[1] as Json[]).map((part) => (typeof part === 'string' ? part : placeholder(part))).join(join[0]);
}

function placeholder(value: Json): string {
  if (value.Ref) return `<<Ref:${value.Ref}>>`;
  if (value['Fn::GetAtt']) return `<<GetAtt:${value['Fn::GetAtt'].join('.')}>>`;
  // Other intrinsics (Fn::Select of an ARN, ...): quotes dropped so the text stays valid
  // inside the JSON strings it is embedded in.
  return `<<${JSON.stringify(value).replace(/["\\]/g, '')}>>`;
}

/** The EKS cluster's Kubernetes version (`1.35`): what the cluster's objects are validated against. */
export function clusterKubernetesVersion(): string {
  const clusters = resourcesOf('AWS::EKS::Cluster');
  if (clusters.length !== 1) throw new Error(`expected one EKS cluster, found ${clusters.length}`);
  const version: unknown = clusters[0][1].Properties.Version;
  if (typeof version !== 'string' || !/^1\.\d+$/.test(version)) throw new Error(`the cluster's version is not a literal: ${JSON.stringify(version)}`);
  return version;
}
