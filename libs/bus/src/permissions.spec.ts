import { nkeys } from 'nats';
import { anyPartnerSubject, partnerAddressedSubjects, partnerOf, partnerPublishedSubjects, partnerReaderName, partnerSubject } from './partners';
import { PLATFORM_ACCOUNT, SERVICE_GRANTS, natsAccounts, partnerPermissions, servicePermissions, type ServiceGrant, type ServiceName } from './permissions';
import { STREAMS, streamConfig, streamSubjects, subjectMatches } from './streams';
import { SUBJECTS, type SubjectSpec } from './subjects';

const services = Object.keys(SERVICE_GRANTS) as ServiceName[];
const userKey = () => nkeys.createUser().getPublicKey();
const table = Object.entries(SUBJECTS) as [string, SubjectSpec][];

describe('service grants', () => {
  it('name only subjects of the table, and every service gets its permissions', () => {
    for (const s of services) expect(() => servicePermissions(s)).not.toThrow();
  });

  it('have exactly one service answer each request', () => {
    for (const [subject] of table.filter(([, spec]) => spec.kind === 'request')) {
      const answering = services.filter((s) => servicePermissions(s).subscribe.allow.includes(subject));
      expect({ subject, answering }).toEqual({ subject, answering: [expect.any(String)] });
      expect(servicePermissions(answering[0] as ServiceName).allow_responses).toBe(true);
    }
  });

  it('let each event be published by the services of its context only', () => {
    for (const [subject] of table.filter(([, spec]) => spec.kind === 'event')) {
      const context = subject.split('.')[0];
      const publishing = services.filter((s) => servicePermissions(s).publish.allow.some((p) => !p.startsWith('$') && subjectMatches(p, subject)));
      expect({ subject, publishing }).toEqual({ subject, publishing: services.filter((s) => (SERVICE_GRANTS[s] as ServiceGrant).context === context) });
      expect(publishing.length).toBeGreaterThan(0);
    }
  });

  it("deny every service a partner's subjects", () => {
    for (const s of services) expect(servicePermissions(s).publish.deny).toEqual(partnerPublishedSubjects().map(anyPartnerSubject));
  });

  it("give a consumer its own durables, with their filters, and no other's", () => {
    const access = servicePermissions('access').publish.allow;
    expect(access).toEqual(
      expect.arrayContaining([
        '$JS.API.CONSUMER.CREATE.ACCESS.access__access_usage_reported_partners.access.usage.reported.*',
        '$JS.API.CONSUMER.MSG.NEXT.ACCESS.access__access_usage_reported_partners',
        '$JS.ACK.ACCESS.access__access_usage_reported_partners.>',
        'dlq.access.usage.reported.*',
      ]),
    );
    expect(access.filter((p) => p.includes('MSG.NEXT')).every((p) => p.includes('.access__'))).toBe(true);
    expect(servicePermissions('storage').publish.allow.filter((p) => p.includes('CONSUMER'))).toEqual([]);
    for (const s of services) expect(servicePermissions(s).publish.allow.filter((p) => /DELETE|PURGE|\.>$/.test(p) && p.startsWith('$JS.API'))).toEqual([]);
  });
});

describe('partners', () => {
  it('arrive on <subject>.<partner>, which the stream captures and names the partner', () => {
    expect(partnerPublishedSubjects()).toEqual(['access.usage.reported']);
    expect(partnerSubject('access.usage.reported', 'acme')).toBe('access.usage.reported.acme');
    expect(streamSubjects('ACCESS')).toEqual(expect.arrayContaining(['access.usage.reported', 'access.usage.reported.*']));
    expect(partnerOf('access.usage.reported', 'access.usage.reported.acme')).toBe('acme');
    expect(partnerOf('access.usage.reported', 'access.usage.reported')).toBeUndefined();
    expect(() => partnerSubject('access.usage.reported', 'Acme.B')).toThrow(/partner id "Acme.B" is invalid/);
    expect(() => partnerSubject('access.epoch.closed', 'acme')).toThrow(/neither published by partners nor addressed to them/);
  });

  it('read one stream, a mirror of revocations alone', () => {
    expect(STREAMS.REVOCATIONS.mirror).toEqual({ stream: 'ACCESS', subject: 'access.grant.revoked' });
    expect(streamSubjects('ACCESS')).toContain('access.grant.revoked');
    expect(streamConfig('REVOCATIONS', 'ns1')).toMatchObject({
      name: 'ns1_REVOCATIONS',
      mirror: { name: 'ns1_ACCESS', filter_subject: 'ns1.access.grant.revoked' },
    });
    expect(streamConfig('REVOCATIONS').subjects).toBeUndefined();
    const api = partnerPermissions('acme').publish.allow.filter((p) => p.startsWith('$JS'));
    expect(api.filter((p) => p.includes('REVOCATIONS')).length).toBeGreaterThan(0);
    for (const p of api) expect(p).toMatch(/^\$JS\.(clopen\.API\.(STREAM|CONSUMER)\.[A-Z.]*(REVOCATIONS\b|PARTNERS\.acme__)|ACK\.PARTNERS\.acme__)/);
    expect(partnerPermissions('acme').subscribe.allow).toEqual(['_INBOX.>']);
  });

  it('read the events addressed to them in PARTNERS, each through its own durable with its own filter', () => {
    expect(partnerAddressedSubjects()).toEqual(['access.usage.rejected']);
    expect(streamSubjects('PARTNERS')).toEqual(['access.usage.rejected.*']);
    expect(streamSubjects('ACCESS')).toContain('access.usage.rejected');
    expect(streamSubjects('ACCESS')).not.toContain('access.usage.rejected.*');
    expect(partnerReaderName('access.usage.rejected', 'acme')).toBe('acme__access_usage_rejected');
    expect(() => partnerReaderName('access.usage.reported', 'acme')).toThrow(/not addressed to partners/);
    expect(partnerPermissions('acme').publish.allow).toEqual(
      expect.arrayContaining([
        '$JS.clopen.API.CONSUMER.CREATE.PARTNERS.acme__access_usage_rejected.access.usage.rejected.acme',
        '$JS.clopen.API.CONSUMER.MSG.NEXT.PARTNERS.acme__access_usage_rejected',
        '$JS.ACK.PARTNERS.acme__access_usage_rejected.>',
      ]),
    );
    expect(partnerPermissions('acme').publish.allow.filter((p) => p.includes('beta'))).toEqual([]);
  });
});

describe('natsAccounts', () => {
  const [storage, access, acme1, acme2, beta] = [userKey(), userKey(), userKey(), userKey(), userKey()];
  const accounts = natsAccounts({ services: { storage: [storage], access: [access] }, partners: { beta: [beta], acme: [acme1, acme2] } });

  it('puts every service in the platform account and each partner in its own', () => {
    expect(accounts.map((a) => [a.name, a.jetstream, a.users.map((u) => u.nkey)])).toEqual([
      [PLATFORM_ACCOUNT, true, [storage, access]],
      ['PARTNER_acme', false, [acme1, acme2]],
      ['PARTNER_beta', false, [beta]],
    ]);
  });

  it("exports a partner's subject to that partner alone, imported under the name the host SDK publishes", () => {
    const platform = accounts[0];
    expect(platform.exports.filter((e) => e.service.startsWith('access.'))).toEqual([
      { service: 'access.usage.reported.acme', accounts: ['PARTNER_acme'] },
      { service: 'access.usage.reported.beta', accounts: ['PARTNER_beta'] },
    ]);
    expect(accounts[1].imports).toContainEqual({ account: PLATFORM_ACCOUNT, subject: 'access.usage.reported.acme', to: 'access.usage.reported' });
    expect(accounts[2].imports.some((i) => i.subject.includes('acme'))).toBe(false);
    expect(platform.exports.find((e) => e.service.includes('MSG.NEXT'))).toMatchObject({ accounts: ['PARTNER_acme', 'PARTNER_beta'], responses: 'stream' });
    // the events addressed to a partner: its own durable's API, exported to it alone
    expect(platform.exports.filter((e) => e.service.includes('PARTNERS.acme__'))).toEqual([
      { service: '$JS.API.CONSUMER.CREATE.PARTNERS.acme__access_usage_rejected.access.usage.rejected.acme', accounts: ['PARTNER_acme'] },
      { service: '$JS.API.CONSUMER.INFO.PARTNERS.acme__access_usage_rejected', accounts: ['PARTNER_acme'] },
      { service: '$JS.API.CONSUMER.DELETE.PARTNERS.acme__access_usage_rejected', accounts: ['PARTNER_acme'] },
      { service: '$JS.API.CONSUMER.MSG.NEXT.PARTNERS.acme__access_usage_rejected', accounts: ['PARTNER_acme'], responses: 'stream' },
      { service: '$JS.ACK.PARTNERS.acme__access_usage_rejected.>', accounts: ['PARTNER_acme'] },
    ]);
    expect(accounts[2].imports.some((i) => i.subject.includes('PARTNERS.acme'))).toBe(false);
  });

  it('refuses a key given twice, a malformed key and an unknown service', () => {
    expect(() => natsAccounts({ services: { storage: [acme1] }, partners: { acme: [acme1] } })).toThrow(/given to both service storage and partner acme/);
    expect(() => natsAccounts({ services: { storage: ['SUABC'] }, partners: {} })).toThrow(/not a public user nkey/);
    expect(() => natsAccounts({ services: { billing: [storage] } as never, partners: {} })).toThrow(/unknown service "billing"/);
    expect(() => natsAccounts({ services: {}, partners: { 'Bad Id': [beta] } })).toThrow(/partner id "Bad Id" is invalid/);
  });
});
