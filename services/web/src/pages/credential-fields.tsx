/** What a person types to sign in or sign up (the login page and the join page share it). */
export interface Credentials {
  name: string;
  email: string;
  password: string;
}

/**
 * Name (sign-up only), email and password, with the autocomplete hints
 * password managers need and the same minimum length the gateway enforces.
 */
export function CredentialFields({
  mode,
  value,
  onChange,
}: {
  mode: 'login' | 'signup';
  value: Credentials;
  onChange: (next: Credentials) => void;
}) {
  const set = (key: keyof Credentials) => (e: { target: { value: string } }) =>
    onChange({ ...value, [key]: e.target.value });
  return (
    <>
      {mode === 'signup' && (
        <label>
          Name
          <input name="name" autoComplete="name" required value={value.name} onChange={set('name')} />
        </label>
      )}
      <label>
        Email
        <input
          name="email"
          type="email"
          autoComplete="email"
          required
          value={value.email}
          onChange={set('email')}
        />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          required
          minLength={mode === 'signup' ? 8 : 1}
          value={value.password}
          onChange={set('password')}
        />
      </label>
    </>
  );
}
