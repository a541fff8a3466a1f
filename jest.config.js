// One jest run covers every tier: unit specs sit beside the code (*.spec.ts),
// integration specs (*.int.spec.ts) talk to the real local platform that
// `quire test` starts first. See README "Tests".
const fs = require('node:fs');
const path = require('node:path');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcrc.$schema;

module.exports = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: [
    '<rootDir>/contracts',
    '<rootDir>/services',
    '<rootDir>/workflows',
    '<rootDir>/sandbox-runtimes',
    '<rootDir>/deploy',
    '<rootDir>/load-tests',
  ],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.quire/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/.quire/'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', swcrc],
    // jose 6 ships ESM only; jest's CommonJS runtime needs it compiled (Node itself loads it via require(esm)).
    '/node_modules/jose/.+\\.js$': [
      '@swc/jest',
      { ...swcrc, jsc: { ...swcrc.jsc, parser: { syntax: 'ecmascript' } } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  moduleNameMapper: {
    '^@quire/contracts$': '<rootDir>/contracts/src/index.ts',
    '^@quire/contracts/kafka$': '<rootDir>/contracts/src/kafka/index.ts',
    '^@quire/service-kit$': '<rootDir>/services/service-kit/src/index.ts',
    '^@quire/sandbox-gvisor$': '<rootDir>/sandbox-runtimes/gvisor/src/index.ts',
  },
  testTimeout: 60_000,
};
