/** Integration tests read the platform's address from the environment `quire test` sets. */
export function platformVar(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: run integration tests through \`npm test\`, or \`eval "$(npm run -s quire -- env)"\` after \`npm start\``,
    );
  }
  return v;
}
