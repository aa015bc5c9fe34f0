// The public type declarations as one file per entry, after `tsc -p tsconfig.build.json` has
// written dist/types/. Only what the public API names is kept, so the published types reach no
// internal module (and none that needs the DOM lib or Node's types).
import { resolve } from 'node:path';
import { dts } from 'rollup-plugin-dts';

const entries = [
  { input: 'dist/types/index.d.ts', file: 'dist/hearth.d.ts' },
  // hearth/react names Hearth's types from hearth.d.ts next to it, and React's from the app's @types/react.
  { input: 'dist/types/react/index.d.ts', file: 'dist/react.d.ts', siblings: { 'dist/types/index.d.ts': './hearth.js' } },
];

export default entries.map(({ input, file, siblings = {} }) => {
  const sibling = (id) => Object.entries(siblings).find(([source]) => id === resolve(source))?.[1];
  return {
    input,
    external: (id) => id === 'react' || sibling(id) !== undefined,
    output: { file, format: 'es', paths: (id) => sibling(id) ?? id },
    plugins: [dts({ respectExternal: false })],
  };
});
