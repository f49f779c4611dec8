// Lint: type-aware typescript-eslint plus the layers as import restrictions: core is pure (no
// I/O, no adapters); one importer each for @noble/* and keytar; only cli talks to people; the
// composition root (app/) is imported by cli and lib, and imports no cli.
import tseslint from 'typescript-eslint';

const restrict = (patterns, message) => patterns.map((group) => ({ group: [group], message }));

const layer = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.bench/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'use named exports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      eqeqeq: 'error',
      '@typescript-eslint/require-await': 'off',
    },
  },
  layer(
    ['src/core/**/*.ts'],
    [
      ...restrict(
        ['node:fs', 'node:fs/*', 'node:child_process', 'node:os', 'node:net', 'node:process'],
        'core is pure: reach the world through ports (core/ports.ts)',
      ),
      ...restrict(
        ['commander', 'yaml', '@github/keytar', 'libsodium-wrappers-sumo', '@noble/*', '@inquirer/*', 'chalk'],
        'core imports no adapters or libraries',
      ),
      ...restrict(
        [
          '../cli/*',
          '../store/*',
          '../crypto/*',
          '../keychain/*',
          '../rotation/*',
          '../../cli/*',
          '../../store/*',
          '../../crypto/*',
          '../../keychain/*',
          '../../rotation/*',
        ],
        'core must not import adapters',
      ),
      ...restrict(['../app/*', '../../app/*'], 'core must not import the composition root: it receives its ports'),
      ...restrict(['pg', 'mysql2', 'mysql2/*'], 'database drivers belong to the rotation handlers'),
    ],
  ),
  layer(
    ['src/crypto/**/*.ts'],
    [
      ...restrict(
        ['commander', 'yaml', '@github/keytar', '@inquirer/*', 'chalk', 'libsodium-wrappers-sumo'],
        "crypto is node:crypto and @noble/* (ADR 0011); libsodium is the tests' oracle",
      ),
      ...restrict(['../cli/*', '../store/*', '../keychain/*'], 'crypto imports only core types'),
    ],
  ),
  layer(
    ['src/store/**/*.ts'],
    [
      ...restrict(
        ['commander', '@github/keytar', '@inquirer/*', 'chalk', 'libsodium-wrappers-sumo', '@noble/*'],
        'store: file format and I/O only (crypto through src/crypto)',
      ),
      ...restrict(['../cli/*', '../keychain/*'], 'store must not import cli or keychain'),
    ],
  ),
  layer(
    ['src/keychain/**/*.ts'],
    [
      ...restrict(['commander', '@inquirer/*', 'chalk', 'libsodium-wrappers-sumo', '@noble/*'], 'keychain: identity sources only'),
      ...restrict(['../cli/*'], 'keychain must not import cli'),
    ],
  ),
  layer(
    ['src/rotation/**/*.ts'],
    [
      ...restrict(
        ['commander', 'yaml', '@github/keytar', '@inquirer/*', 'chalk', 'libsodium-wrappers-sumo', '@noble/*'],
        'rotation: handlers and their drivers only',
      ),
      ...restrict(['../cli/*', '../store/*', '../keychain/*'], 'rotation handlers import only core types and the password generator'),
    ],
  ),
  layer(
    ['src/app/**/*.ts'],
    [
      ...restrict(
        ['commander', '@inquirer/*', 'chalk', 'libsodium-wrappers-sumo', '@noble/*', '@github/keytar'],
        'app wires adapters; it uses no library itself',
      ),
      ...restrict(['../cli/*', '../lib/*'], 'the composition root serves cli and lib and imports neither'),
    ],
  ),
  layer(['src/lib/**/*.ts'], [...restrict(['../cli/*'], 'the library builds its ports through app/compose.ts, not through cli')]),
  layer(['src/cli/**/*.ts'], [...restrict(['libsodium-wrappers-sumo', '@noble/*', '@github/keytar'], 'cli reaches crypto and the keychain through adapters')]),
  {
    files: ['test/**/*.ts', 'scripts/**', 'eslint.config.js'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['eslint.config.js', 'scripts/**'], ...tseslint.configs.disableTypeChecked },
  // eslint itself requires a default export here.
  { files: ['eslint.config.js'], rules: { 'no-restricted-syntax': 'off' } },
);
