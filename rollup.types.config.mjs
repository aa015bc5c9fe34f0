// The public type declarations as one file per entry, after `tsc -p tsconfig.build.json` has
// written dist/types/. Only what the public API names is kept, so the published types reach no
// internal module (and none that needs the DOM lib or Node's types).
import { dts } from 'rollup-plugin-dts';

const entries = [{ input: 'dist/types/index.d.ts', file: 'dist/hearth.d.ts' }];

export default entries.map(({ input, file }) => ({ input, output: { file, format: 'es' }, plugins: [dts({ respectExternal: false })] }));
