/**
 * Validates custom resources against the openAPIV3Schema of their upstream
 * CRD with ajv, the way the API server would structurally: unknown fields and
 * wrong types fail. CEL rules (x-kubernetes-validations) are not evaluated.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

type Schema = Record<string, any>;

/** One CRD version's schema, ready to check objects. */
export interface CrdValidator {
  readonly apiVersion: string;
  readonly kind: string;
  /** Returns the errors, empty when the object is valid. */
  validate(obj: unknown): string[];
}

/** The CRD files the chart's custom resources come from, relative to the CRD folder. */
export const CRD_FILES = [
  'keda/keda.sh_scaledjobs.yaml',
  'keda/keda.sh_triggerauthentications.yaml',
  'karpenter/karpenter.sh_nodepools.yaml',
  'karpenter/karpenter.k8s.aws_ec2nodeclasses.yaml',
];

/**
 * What KEDA's install manifests change in the raw ScaledJob CRD (its
 * kustomize patches in config/crd/patches): applied here so the check matches
 * the CRD a cluster actually has.
 */
function applyKedaInstallPatches(kind: string, schema: Schema): void {
  if (kind !== 'ScaledJob') {
    return;
  }
  const jobTarget = schema.properties.spec.properties.jobTargetRef;
  const podSpec = jobTarget.properties.template.properties.spec;
  // Container ports must name their protocol.
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    const portItems = podSpec.properties[list].items.properties.ports.items;
    portItems.required = [...(portItems.required ?? []), 'protocol'];
  }
  // Template metadata keeps unknown fields (controller-gen leaves it incomplete).
  jobTarget.properties.template.properties.metadata['x-kubernetes-preserve-unknown-fields'] = true;
  podSpec.properties.volumes.items.properties.ephemeral.properties.volumeClaimTemplate.properties.metadata[
    'x-kubernetes-preserve-unknown-fields'
  ] = true;
  // metricType is for ScaledObjects only.
  delete schema.properties.spec.properties.triggers.items.properties.metricType;
}

/**
 * Makes the schema reject what the API server prunes or rejects: objects with
 * `properties` and neither `additionalProperties` nor
 * `x-kubernetes-preserve-unknown-fields` get `additionalProperties: false`;
 * `x-kubernetes-int-or-string` becomes an explicit integer-or-string anyOf.
 */
export function strictify(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(strictify);
    return;
  }
  if (node === null || typeof node !== 'object') {
    return;
  }
  const schema = node as Schema;
  if (
    schema.properties &&
    schema.additionalProperties === undefined &&
    schema['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    schema.additionalProperties = false;
  }
  if (schema['x-kubernetes-int-or-string'] === true && !schema.anyOf && !schema.oneOf) {
    schema.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  for (const [key, value] of Object.entries(schema)) {
    // `properties` maps names to schemas; recurse into the schemas only.
    if (key === 'properties' && value && typeof value === 'object') {
      Object.values(value as Schema).forEach(strictify);
    } else if (key !== 'enum' && key !== 'required' && key !== 'default') {
      strictify(value);
    }
  }
}

/** Loads the CRDs in `crdsDir` and compiles one validator per served version. */
export function loadCrdValidators(crdsDir: string): CrdValidator[] {
  const ajv = new Ajv({
    // OpenAPI/Kubernetes keywords (x-kubernetes-*, nullable, ...) are not JSON
    // Schema; ignore the ones ajv does not know instead of refusing the schema.
    strict: false,
    allErrors: true,
  });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });

  const validators: CrdValidator[] = [];
  for (const file of CRD_FILES) {
    const text = fs.readFileSync(path.join(crdsDir, file), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS();
      if (!crd || crd.kind !== 'CustomResourceDefinition') {
        continue;
      }
      const kind: string = crd.spec.names.kind;
      for (const version of crd.spec.versions) {
        if (!version.served) {
          continue;
        }
        const schema: Schema = structuredClone(version.schema.openAPIV3Schema);
        applyKedaInstallPatches(kind, schema);
        strictify(schema);
        const apiVersion = `${crd.spec.group}/${version.name}`;
        const compiled: ValidateFunction = ajv.compile(schema);
        validators.push({
          apiVersion,
          kind,
          validate: (obj: unknown) => (compiled(obj) ? [] : formatErrors(compiled.errors ?? [])),
        });
      }
    }
  }
  return validators;
}

/** Finds the validator for an object's apiVersion and kind. */
export function validatorFor(validators: CrdValidator[], obj: { apiVersion: string; kind: string }): CrdValidator {
  const found = validators.find((v) => v.apiVersion === obj.apiVersion && v.kind === obj.kind);
  if (!found) {
    throw new Error(`no CRD schema for ${obj.apiVersion} ${obj.kind}`);
  }
  return found;
}

function formatErrors(errors: ErrorObject[]): string[] {
  return errors.map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
    return `${e.instancePath || '/'} ${e.message}${extra}`;
  });
}
