/**
 * Custom resources checked against the `openAPIV3Schema` of the CRD that serves their
 * group, version and kind, with ajv (a JSON Schema validator). The schemas are made as
 * strict as the API server is under `kubectl apply`'s default server-side field
 * validation (Strict): a field the structural schema would prune (not declared, no
 * `x-kubernetes-preserve-unknown-fields`) is an error, and `x-kubernetes-int-or-string`
 * means an integer or a string. CEL rules (`x-kubernetes-validations`) are not evaluated.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { Json } from './template';

/** One served version of one CRD. */
export interface CrdVersion {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly scope: 'Namespaced' | 'Cluster';
  /** `<group>/<version> <kind>`. */
  readonly key: string;
  /** Errors of `obj` against the version's schema; empty when valid. */
  validate(obj: Json): string[];
}

/** `<group>/<version> <kind>` of an object (its apiVersion and kind). */
export const gvkOf = (obj: Json): string => `${obj.apiVersion} ${obj.kind}`;

/** The group of an apiVersion (`keda.sh/v1alpha1` -> `keda.sh`; `v1` -> the core group ''). */
export const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');

/**
 * Adds `additionalProperties: false` where the API server would prune unknown fields
 * (an object schema with `properties`, or with none at all, and neither
 * `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`), and turns
 * `x-kubernetes-int-or-string` into integer-or-string. `root` marks the resource's
 * top level, whose `metadata` is the API server's own ObjectMeta.
 */
export function strictify(node: Json, root = true): void {
  if (Array.isArray(node)) {
    node.forEach((n) => strictify(n, false));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const objectLike = node.type === 'object' || node.properties !== undefined;
  if (
    objectLike &&
    node.additionalProperties === undefined &&
    node['x-kubernetes-preserve-unknown-fields'] !== true &&
    node['x-kubernetes-embedded-resource'] !== true
  ) {
    node.additionalProperties = false;
  }
  if (node['x-kubernetes-int-or-string'] === true && !node.anyOf && !node.oneOf) {
    node.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && value && typeof value === 'object') {
      for (const [name, child] of Object.entries(value as Json)) {
        // The resource's metadata is ObjectMeta, checked by the API server, not by this schema.
        if (root && name === 'metadata') {
          (child as Json).additionalProperties = true;
          continue;
        }
        strictify(child, false);
      }
    } else if (!NOT_SCHEMAS.includes(key) && !VALUE_ONLY.includes(key)) {
      strictify(value, false);
    }
  }
}

/** Keys whose values are data, not schemas. */
const NOT_SCHEMAS = ['enum', 'required', 'default', 'example', 'x-kubernetes-validations', 'x-kubernetes-list-map-keys'];
/**
 * Logical branches: in a structural schema they only add value checks on fields the
 * surrounding schema declares, so they get no `additionalProperties` of their own.
 */
const VALUE_ONLY = ['allOf', 'anyOf', 'oneOf', 'not'];

function newAjv(): Ajv {
  const ajv = new Ajv({
    // Kubernetes' OpenAPI keywords (x-kubernetes-*, ...) are not JSON Schema: ignore
    // the ones ajv does not know instead of refusing the schema. `nullable` ajv knows.
    strict: false,
    allErrors: true,
  });
  // The formats the CRDs use, as the API server reads them.
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
  return ajv;
}

/** Every served version of every CustomResourceDefinition among `objects`. */
export function crdVersions(objects: Json[]): CrdVersion[] {
  const ajv = newAjv();
  const versions: CrdVersion[] = [];
  for (const crd of objects.filter((o) => o.apiVersion === 'apiextensions.k8s.io/v1' && o.kind === 'CustomResourceDefinition')) {
    const { group, names, scope } = crd.spec;
    for (const v of crd.spec.versions) {
      if (!v.served) continue;
      const schema = structuredClone(v.schema?.openAPIV3Schema);
      if (!schema) throw new Error(`CRD ${crd.metadata.name} version ${v.name} has no openAPIV3Schema`);
      strictify(schema);
      let compiled: ValidateFunction;
      try {
        compiled = ajv.compile(schema);
      } catch (e) {
        throw new Error(`CRD ${crd.metadata.name} version ${v.name}: its schema does not compile: ${(e as Error).message}`);
      }
      versions.push({
        group,
        version: v.name,
        kind: names.kind,
        scope,
        key: `${group}/${v.name} ${names.kind}`,
        validate: (obj: Json) => (compiled(obj) ? [] : formatErrors(compiled.errors ?? [])),
      });
    }
  }
  return versions;
}

function formatErrors(errors: ErrorObject[]): string[] {
  return errors.map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
    return `${e.instancePath || '/'} ${e.message}${extra}`;
  });
}
