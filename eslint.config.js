// Flat ESLint config. Two rules carry the architecture:
//  - Nx module boundaries: services never import each other; workflows may use
//    only contracts; contracts depend on nothing of ours.
//  - Workflow files are deterministic code: no Node built-ins, no floating promises.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const nx = require('@nx/eslint-plugin');

module.exports = tseslint.config(
  { ignores: ['**/node_modules/**', '.quire/**', '**/dist/**', 'artifacts/**', '.nx/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          enforceBuildableLibDependency: false,
          depConstraints: [
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
            // The workflows project also holds the worker and activities; its
            // workflow code itself is held to contracts only by the rule below.
            { sourceTag: 'type:workflow', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib'] },
            { sourceTag: 'type:runtime', onlyDependOnLibsWithTags: ['type:contracts', 'type:runtime'] },
            {
              sourceTag: 'type:service',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:lib', 'type:runtime'],
            },
            { sourceTag: 'type:load-test', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib'] },
            // The browser app: contracts only (no Node services, no Node-only libs).
            { sourceTag: 'type:web', onlyDependOnLibsWithTags: ['type:contracts'] },
            {
              sourceTag: 'type:tool',
              onlyDependOnLibsWithTags: ['type:contracts', 'type:lib', 'type:runtime'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The browser app's end-to-end tests start the real services with service-kit's
    // test helpers (Node, never bundled); the app itself (src/) stays on contracts only.
    files: ['services/web/test/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          enforceBuildableLibDependency: false,
          depConstraints: [
            { sourceTag: 'type:web', onlyDependOnLibsWithTags: ['type:contracts', 'type:lib'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code is replayed: it must be deterministic and sandbox-safe.
    // A service that owns its own workflows (agent runs) keeps them in src/workflows/.
    files: ['workflows/src/workflows/**/*.ts', 'services/*/src/workflows/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Anything but @temporalio/workflow, @quire/contracts and sibling workflow files.
              regex: '^(?!@temporalio/workflow$|@quire/contracts$|\\.{1,2}/)',
              message:
                'Workflow code imports only @temporalio/workflow, @quire/contracts and other workflow files (determinism).',
            },
          ],
        },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
);
