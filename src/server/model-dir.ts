/** Reads an initial global model from a folder in the tfjs format (model.json + weight files). */
import { readFile } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { manifestLayout, parseModelJson, type ModelJson } from '../protocol/model-file.js';
import { sizeOf } from '../federated/update-math.js';

/**
 * Loads `dir/model.json` and the weight files its manifest names, concatenated in order.
 *
 * @example
 * ```ts
 * const { modelJson, weights } = await loadModelDir('./model');
 * ```
 */
export async function loadModelDir(dir: string): Promise<{ modelJson: ModelJson; weights: Uint8Array }> {
  const modelJson = parseModelJson(JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')));
  const parts: Uint8Array[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const path of group.paths) {
      const file = normalize(join(dir, path.split('?')[0] as string));
      if (!file.startsWith(normalize(dir) + sep) && file !== normalize(dir)) throw new Error(`weights path "${path}" leaves the model folder`);
      parts.push(new Uint8Array(await readFile(file)));
    }
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const expected = manifestLayout(modelJson).reduce((n, t) => n + 4 * sizeOf(t.shape), 0);
  if (total !== expected) throw new Error(`${dir}: weight files have ${total} bytes, model.json announces ${expected}`);
  const weights = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    weights.set(p, offset);
    offset += p.length;
  }
  return { modelJson, weights };
}
