/**
 * How GPU types read in sentences: `h100-80gb` → "H100", with the article
 * a reader says aloud ("an H100", "an A100", "a T4").
 */
export function gpuModelName(gpuType: string): string {
  const model = gpuType.split('-')[0] ?? gpuType;
  return model.toUpperCase();
}

/** Letters whose spoken name starts with a vowel sound (A, E, F, H, I, L, M, N, O, R, S, X). */
const VOWEL_SOUND_LETTERS = new Set('AEFHILMNORSX');

export function withArticle(name: string): string {
  const first = name.charAt(0).toUpperCase();
  // A name that starts like an initialism (H100, L4) is read letter by letter.
  const spelled = /^[A-Z]\d/.test(name) || /^[A-Z]{2,}/.test(name);
  const vowel = spelled ? VOWEL_SOUND_LETTERS.has(first) : /^[AEIOU]/i.test(name);
  return `${vowel ? 'an' : 'a'} ${name}`;
}

/** "an H100" for a whole GPU, "a 1g.10gb slice of an H100" for a MIG slice. */
export function gpuRequestName(gpuType: string, profile: string): string {
  const model = withArticle(gpuModelName(gpuType));
  return profile === 'full' ? model : `a ${profile} slice of ${model}`;
}

/** "about 4 min" (rounded up to whole minutes), "less than a minute", "about 1 h 10 min". */
export function etaText(etaS: number): string {
  if (etaS < 60) return 'less than a minute';
  const minutes = Math.ceil(etaS / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `about ${h} h ${m} min` : `about ${h} h`;
}
