/**
 * Minimal parser for Kubernetes resource quantities ("250m", "1.5", "512Mi",
 * "2G"), used only to check at synth time that the node pool limits can hold
 * the requested number of job pods.
 */

const BINARY_SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const DECIMAL_SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const QUANTITY = /^([+]?[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;

/**
 * Parses a quantity to a plain number (cores for CPU, bytes for memory).
 * Returns `undefined` when the value is not a literal quantity (for example an
 * unresolved deploy-time token), so callers can skip checks they cannot make.
 */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : undefined;
  }
  const match = QUANTITY.exec(value.trim());
  if (!match) {
    return undefined;
  }
  const amount = Number(match[1]);
  const suffix = match[2] ?? '';
  const factor = BINARY_SUFFIXES[suffix] ?? DECIMAL_SUFFIXES[suffix];
  return factor === undefined ? undefined : amount * factor;
}
