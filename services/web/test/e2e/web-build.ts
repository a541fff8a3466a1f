import { buildWebEditor } from '@quire/service-kit';

/** Builds the editor from the current sources into a fresh folder (what the gateway serves). */
export const buildWebApp = (): Promise<string> => buildWebEditor('e2e');
