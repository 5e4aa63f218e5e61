import { storageV1, create } from '@clopen/proto';
import { describeSubjects, SUBJECTS, subjectSpec, type EventPayload, type RequestPayload, type ResponsePayload } from './subjects';

describe('subjects table', () => {
  it('infers the generated message types from the subject string', () => {
    const registered: EventPayload<'storage.model.registered'> = create(storageV1.ModelRegisteredSchema, { model: { id: 'm1' } });
    const get: RequestPayload<'storage.model.get'> = create(storageV1.ModelGetRequestSchema, { id: 'm1' });
    const got: ResponsePayload<'storage.model.get'> = create(storageV1.ModelGetResponseSchema, {});
    // @ts-expect-error a VersionPublished is not the payload of storage.model.registered
    const wrong: EventPayload<'storage.model.registered'> = create(storageV1.VersionPublishedSchema, {});
    expect([registered.$typeName, get.$typeName, got.$typeName, wrong.$typeName]).toEqual([
      'clopen.storage.v1.ModelRegistered',
      'clopen.storage.v1.ModelGetRequest',
      'clopen.storage.v1.ModelGetResponse',
      'clopen.storage.v1.VersionPublished',
    ]);
  });

  it('names every subject after its context, entity and verb', () => {
    for (const subject of Object.keys(SUBJECTS)) expect(subject).toMatch(/^[a-z]+\.[a-z_]+\.[a-z_]+$/);
  });

  it('rejects a subject that is not in the table', () => {
    expect(() => subjectSpec('storage.model.deleted')).toThrow(/unknown bus subject "storage.model.deleted"/);
  });

  it('describes the table as plain data for the AsyncAPI document', () => {
    expect(describeSubjects()).toEqual(
      expect.arrayContaining([
        {
          subject: 'storage.model.registered',
          kind: 'event',
          stream: 'STORAGE',
          messageType: 'clopen.storage.v1.ModelRegistered',
          description: expect.any(String),
        },
        {
          subject: 'storage.model.get',
          kind: 'request',
          messageType: 'clopen.storage.v1.ModelGetRequest',
          responseType: 'clopen.storage.v1.ModelGetResponse',
          description: expect.any(String),
        },
      ]),
    );
    expect(JSON.parse(JSON.stringify(describeSubjects()))).toEqual(describeSubjects());
  });
});
