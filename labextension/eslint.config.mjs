// eslint (flat config) for the panel's TypeScript: typescript-eslint's recommended rules, with
// formatting left to prettier (eslint-config-prettier). `jlpm lint:check` runs both; the Python
// test suite runs it too (tests/server/test_panel_model.py).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['lib/**', 'node_modules/**', '*.js', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'smart'],
      curly: ['error', 'all'],
      '@typescript-eslint/no-namespace': 'off' // JupyterLab's idiom for command ids
    }
  }
);
