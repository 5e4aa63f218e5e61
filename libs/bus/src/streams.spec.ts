import { streamConfig, streamNames, streamSubjects, subjectMatches } from './streams';
import { SUBJECTS, type SubjectSpec } from './subjects';

describe('streams', () => {
  it('STORAGE captures exactly the storage events, never a request subject', () => {
    expect(streamSubjects('STORAGE').sort()).toEqual(['storage.model.registered', 'storage.version.published']);
  });

  it('each event lives in the stream of its context', () => {
    for (const name of ['STORAGE', 'DISTRIBUTION', 'ACCESS'] as const) {
      const subjects = streamSubjects(name);
      expect(subjects.length).toBeGreaterThan(0);
      for (const s of subjects) expect(s.startsWith(`${name.toLowerCase()}.`)).toBe(true);
    }
    expect(streamSubjects('DISTRIBUTION')).toContain('distribution.trace.completed');
  });

  it('no stream captures a request subject (it would answer requests with PubAcks)', () => {
    const requests = (Object.entries(SUBJECTS) as [string, SubjectSpec][]).filter(([, s]) => s.kind === 'request').map(([k]) => k);
    for (const name of streamNames()) {
      for (const pattern of streamSubjects(name)) {
        for (const request of requests) expect(subjectMatches(pattern, request)).toBe(false);
      }
    }
  });

  it('every event is captured by the stream it names', () => {
    for (const [subject, spec] of Object.entries(SUBJECTS) as [string, SubjectSpec][]) {
      if (spec.kind === 'event') expect(streamSubjects(spec.stream).some((p) => subjectMatches(p, subject))).toBe(true);
    }
  });

  it('prefixes stream names and subjects with the namespace', () => {
    const cfg = streamConfig('DLQ', 'suite1');
    expect(cfg.name).toBe('suite1_DLQ');
    expect(cfg.subjects).toEqual(['suite1.dlq.>']);
    expect(cfg.duplicate_window).toBe(120_000_000_000);
    expect(streamConfig('STORAGE').subjects).toContain('storage.model.registered');
  });

  it('keeps as many copies of each stream as asked (BUS_STREAM_REPLICAS), mirrors too', () => {
    expect(streamConfig('ACCESS').num_replicas).toBe(1);
    expect(streamConfig('ACCESS', '', 3).num_replicas).toBe(3);
    expect(streamConfig('REVOCATIONS', '', 3).num_replicas).toBe(3);
  });

  it('matches NATS wildcards', () => {
    expect(subjectMatches('dlq.>', 'dlq.storage.model.registered')).toBe(true);
    expect(subjectMatches('dlq.>', 'dlq')).toBe(false);
    expect(subjectMatches('storage.*.get', 'storage.model.get')).toBe(true);
    expect(subjectMatches('storage.*', 'storage.model.get')).toBe(false);
  });
});
