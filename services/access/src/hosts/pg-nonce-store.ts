import type { NonceStore } from '@clopen/host-auth';
import type { DataSource } from 'typeorm';

/** Single-use host-auth nonces in the service's own table (access needs no Redis). */
export class PgNonceStore implements NonceStore {
  constructor(private readonly db: DataSource) {}

  async claim(address: string, nonce: string, expiresAt: number): Promise<boolean> {
    // Expired nonces can go: a signature using one is refused as expired anyway.
    await this.db.query('DELETE FROM host_auth_nonces WHERE expires_at < now()');
    const rows: unknown[] = await this.db.query(
      'INSERT INTO host_auth_nonces (host_address, nonce, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING RETURNING 1',
      [address, nonce, expiresAt],
    );
    return rows.length === 1;
  }
}
