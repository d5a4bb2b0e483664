// The import boundaries of eslint.config.js, run through ESLint's own API on files that exist only
// in memory: each forbidden import is reported by `import-x/no-restricted-paths`, each allowed
// one is not. Without the rule (or with a zone that no longer matches) the forbidden cases fail.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The dashboard folder, from this file's URL (jsdom's URL class does not resolve file: URLs).
const dashboard = decodeURIComponent(import.meta.url.replace(/^file:\/\//, '').replace(/src\/test\/[^/]+$/, ''));
// The project's own config, with two changes for files that are not on disk: TypeScript's project
// service cannot open them (so no type information), and only the boundary rule runs.
const eslint = new ESLint({
  cwd: dashboard,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === 'import-x/no-restricted-paths',
});

/** The boundary messages ESLint reports for `source` as if it were the file at `path`. */
async function boundaryErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${dashboard}${path}` });
  expect(result, `ESLint linted ${path}`).toBeDefined();
  const fatal = result?.messages.filter((message) => message.fatal) ?? [];
  expect(fatal, `ESLint parsed ${path}`).toEqual([]);
  return (result?.messages ?? []).filter((message) => message.ruleId === 'import-x/no-restricted-paths').map((message) => message.message);
}

/** A module that imports `specifier` and uses it, so no other rule has anything to say. */
const importing = (specifier: string, name: string) => `import { ${name} } from '${specifier}';\n\nexport const probe = ${name};\n`;

// Each specifier names a module that exists, so the import resolves: an unresolved import is
// never reported by the rule, and a test on one would prove nothing.
const forbidden: Array<[string, string, string, RegExp]> = [
  ['src/features/actions/Probe.ts', '../dashboard/selectRepos', 'selectRepos', /features do not import each other/],
  ['src/features/history/Probe.ts', '../notifications/toastQueue', 'addChanges', /features do not import each other/],
  ['src/features/session/Probe.ts', '../../app/App', 'App', /features do not import the app/],
  ['src/components/Probe.ts', '../features/dashboard/selectRepos', 'selectRepos', /src\/components is shared/],
  ['src/lib/Probe.ts', '../components/Link', 'Link', /src\/lib imports neither/],
  ['src/lib/Probe.ts', '../features/dashboard/selectRepos', 'selectRepos', /src\/lib imports neither/],
  ['src/lib/Probe.ts', '../hooks/useNow', 'useNow', /src\/lib imports neither/],
  ['src/lib/Probe.ts', '../app/App', 'App', /src\/lib imports neither/],
  ['src/hooks/Probe.ts', '../components/Link', 'Link', /src\/hooks is shared/],
];

const allowed: Array<[string, string, string]> = [
  ['src/features/dashboard/Probe.ts', './selectRepos', 'selectRepos'],
  ['src/features/dashboard/Probe.ts', '../../lib/status', 'statusLabel'],
  ['src/features/dashboard/Probe.ts', '../../components/Link', 'Link'],
  ['src/features/dashboard/Probe.ts', '../../hooks/useNow', 'useNow'],
  ['src/components/Probe.ts', '../lib/time', 'formatAge'],
  ['src/app/Probe.ts', '../features/dashboard/selectRepos', 'selectRepos'],
  ['src/app/Probe.ts', '../features/notifications/toastQueue', 'addChanges'],
  ['src/lib/Probe.ts', './cursor', 'parseCursor'],
];

describe('import boundaries', () => {
  it.each(forbidden)('%s may not import %s', async (path, specifier, name, message) => {
    const errors = await boundaryErrors(path, importing(specifier, name));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it.each(allowed)('%s may import %s', async (path, specifier, name) => {
    expect(await boundaryErrors(path, importing(specifier, name))).toEqual([]);
  });
}, 120_000);
