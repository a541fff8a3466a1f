import { TOKEN_ALGORITHM, TOKEN_AUDIENCES } from '@quire/contracts';
import { SignJWT } from 'jose';

/**
 * The agent's own short-lived tokens (auth-tokens.ts), signed with the
 * platform's QUIRE_TOKEN_SIGNING_KEY: a `service` doc token for doc-sync and
 * an agent token for the gateway's kernel channel of one notebook.
 */
export class AgentTokens {
  private readonly key: Uint8Array;

  constructor(
    signingKey: string,
    private readonly ttlS = 15 * 60,
  ) {
    this.key = new TextEncoder().encode(signingKey);
  }

  /** Opens one notebook's document on doc-sync as the agent service (it may write). */
  doc(notebookId: string, orgId: string): Promise<string> {
    return this.sign(
      { org: orgId, name: 'Quire agent', nb: notebookId, role: 'service' },
      'service:agent',
      TOKEN_AUDIENCES.doc,
    );
  }

  /** Opens one notebook's kernel channel as "Agent (for <userName>)", with that user's role. */
  agent(claims: {
    userId: string;
    userName: string;
    orgId: string;
    notebookId: string;
    runId: string;
  }): Promise<string> {
    return this.sign(
      { org: claims.orgId, name: claims.userName, nb: claims.notebookId, run: claims.runId },
      claims.userId,
      TOKEN_AUDIENCES.agent,
    );
  }

  private sign(payload: Record<string, string>, sub: string, aud: string): Promise<string> {
    return new SignJWT(payload)
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
      .setSubject(sub)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.ttlS)
      .sign(this.key);
  }
}
