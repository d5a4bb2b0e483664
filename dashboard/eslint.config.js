// ESLint for the dashboard: `npm run eslint` (and `npm run lint`, which also runs Prettier and tsc).
// typescript-eslint's recommended rules plus a few type-aware ones that cost little, the React
// hooks rules, and the import boundaries of the layout in README.md ("Layout").
//
// typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 does not ship: the
// `typescript` package is TypeScript 6's API (@typescript/typescript6), and `tsc` is TypeScript 7
// (@typescript/native). See README.md.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The import boundaries, as `import-x/no-restricted-paths` zones. Shared code (components, hooks,
 * lib, types) never reaches into features or the app; a feature never imports another feature;
 * only `src/app` composes them. Features are read from the folder, so a new one is covered at once.
 */
export function boundaryZones(features) {
  const featureZones = features.map((feature) => ({
    target: `./src/features/${feature}`,
    from: './src/features',
    except: [`./${feature}`],
    message: `features do not import each other: move what ${feature} needs into src/lib, src/hooks or src/components, or compose the two in src/app`,
  }));
  return [
    ...featureZones,
    {
      target: './src/features',
      from: './src/app',
      message: 'features do not import the app; the app imports them',
    },
    {
      target: './src/components',
      from: ['./src/features', './src/app'],
      message: 'src/components is shared: it imports neither features nor the app',
    },
    {
      target: './src/hooks',
      from: ['./src/components', './src/features', './src/app'],
      message: 'src/hooks is shared: it imports neither components, features nor the app',
    },
    {
      target: './src/lib',
      from: ['./src/components', './src/features', './src/hooks', './src/app'],
      message: 'src/lib imports neither components, features, hooks nor the app',
    },
    {
      target: './src/types',
      from: ['./src/components', './src/features', './src/hooks', './src/lib', './src/app'],
      message: 'src/types holds types only and imports nothing of the app',
    },
  ];
}

const features = readdirSync(new URL('./src/features', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

export default defineConfig(
  globalIgnores(['dist/', 'src/types/generated/']),
  {
    files: ['src/**/*.{ts,tsx}', 'e2e/**/*.mjs'],
    extends: [js.configs.recommended],
    plugins: { 'import-x': importX },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.mjs', '.js', '.json'] })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: root, zones: boundaryZones(features) }],
    },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    extends: [tseslint.configs.recommended],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      // Type-aware rules for promises: the program is built once for the whole project, and each
      // rule looks only at calls and awaits.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // tsc's noUnusedLocals/noUnusedParameters already report these.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
  {
    files: ['e2e/**/*.mjs'],
    languageOptions: {
      sourceType: 'module',
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.e2e.json', tsconfigRootDir: root },
      // Node, plus the browser's globals for the callbacks handed to page.evaluate and
      // page.waitForFunction, which run in the page.
      globals: { ...globals.node, ...globals.browser },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test runs and awaits what `test()` returns at the top level itself.
          allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
);
