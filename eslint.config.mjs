import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/gen/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        URL: 'readonly',
        fetch: 'readonly',
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      // TypeORM's and Nest's own APIs take class constructors typed as Function.
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  {
    // The project graph's tags (project.json), whatever the folder depth: a lib never imports a
    // service, a service never imports another service (they talk over the bus and REST), and only
    // the end-to-end suite and the tools may start services.
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          // Test-only: the contracts' own tests start a hardhat node with libs/testing, which deploys
          // the contracts for every other suite.
          ignoredCircularDependencies: [['contracts', 'testing']],
          depConstraints: [
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:service'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:service'] },
            // infra's static checks read the services' settings to keep docker/ and k8s/ in step.
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:lib', 'type:service'] },
          ],
        },
      ],
    },
  },
);
