import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A grant as issued: the signed bytes are kept so the user can fetch them again. */
@Entity({ name: 'grants' })
export class Grant {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text', { name: 'model_id' })
  modelId: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  /** ed25519, base64url of the 32 raw bytes. */
  @Column('text', { name: 'user_public_key' })
  userPublicKey: string;

  @Column('text', { array: true })
  hosts: string[];

  @Column('bigint', { name: 'quota_requests' })
  quotaRequests: string;

  @Column('bigint', { name: 'quota_tokens' })
  quotaTokens: string;

  @Column('timestamptz', { name: 'not_before' })
  notBefore: Date;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt: Date;

  @Column('text', { name: 'issuer_key_id' })
  issuerKeyId: string;

  /** The serialized clopen.access.v1.Grant and the issuer's signature, base64url. */
  @Column('text', { name: 'grant_bytes' })
  grantBytes: string;

  @Column('text', { name: 'issuer_signature' })
  issuerSignature: string;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;

  @Column('text', { name: 'revoked_reason', nullable: true })
  revokedReason: string | null;

  /** Requests and tokens counted across every host: the quota is checked against these under the grant's row lock. */
  @Column('bigint', { name: 'counted_requests', default: 0 })
  countedRequests: string;

  @Column('bigint', { name: 'counted_tokens', default: 0 })
  countedTokens: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
