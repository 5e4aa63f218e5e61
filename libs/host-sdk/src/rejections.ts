/**
 * Why a receipt was not counted: the `reason` of `access.usage.rejected`, of the access
 * service's GET /hosts/usage-rejections and of its `access_receipts_rejected_total`; docs/partners.md
 * lists them from here.
 */
export const REJECTION_REASONS = {
  malformed: "the receipt does not decode, lacks a field, or a batch holds another host's receipt",
  unknown_host_key: 'the host never registered the serving key that signed it',
  bad_host_signature: "the host's signature (of the batch or the receipt) does not verify",
  unknown_grant: 'the grant was never issued',
  wrong_model: 'the grant is for another model',
  bad_user_signature: "the user's signature does not cover this request on this host",
  from_the_future: 'served later than now by more than the clock skew',
  outside_grant: "served before the grant's start or after its expiry",
  revoked: 'served after the grant was revoked (beyond the clock skew)',
  host_not_in_grant: 'the grant names hosts and this host is not one of them',
  unlicensed: 'the host held no licence for the model when it served',
  over_quota: "the grant's request or token quota was used up, across all hosts",
  licence_ended: "counted, then taken back: served after the host's licence ended (slash, unstake, admin end)",
} as const;
export type RejectionReason = keyof typeof REJECTION_REASONS;
