import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SUBJECTS, subjectMatches, type Subject } from '@clopen/bus';
import { PARTICIPATION, PARTNER, rolesOf } from './participants';

const root = join(__dirname, '../../..');
const subjects = Object.keys(SUBJECTS) as Subject[];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = join(dir, f);
    if (statSync(full).isDirectory()) return sources(full);
    return f.endsWith('.ts') && !f.endsWith('.spec.ts') ? [full] : [];
  });
}

describe('who is on the bus (tools/apidocs/src/participants.ts)', () => {
  it("lists every subject a service's code names that is not its own", () => {
    const missing: string[] = [];
    for (const service of readdirSync(join(root, 'services')).sort()) {
      const src = join(root, 'services', service, 'src');
      if (!existsSync(src)) continue;
      for (const file of sources(src)) {
        const code = readFileSync(file, 'utf8');
        for (const subject of subjects) {
          if (!code.includes(`'${subject}'`) && !code.includes(`"${subject}"`)) continue;
          if (!rolesOf(subject).some((r) => r.participant === service)) missing.push(`${relative(root, file)} uses ${subject}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('names services that exist and subjects that exist', () => {
    for (const p of PARTICIPATION) {
      if (p.participant !== PARTNER) expect(existsSync(join(root, 'services', p.participant, 'src/main.ts'))).toBe(true);
      for (const pattern of [...(p.sends ?? []), ...(p.receives ?? [])]) {
        expect(subjects.filter((s) => subjectMatches(pattern, s)).length).toBeGreaterThan(0);
      }
    }
    for (const subject of subjects) {
      for (const role of rolesOf(subject)) {
        if (role.participant !== PARTNER) expect([subject, existsSync(join(root, 'services', role.participant))]).toEqual([subject, true]);
      }
    }
  });

  it('gives every event a publisher and every request one service that answers it', () => {
    for (const subject of subjects) {
      const roles = rolesOf(subject);
      expect([subject, roles.some((r) => r.action === 'send')]).toEqual([subject, true]);
      if (SUBJECTS[subject].kind === 'request') expect([subject, roles.filter((r) => r.action === 'receive').length]).toEqual([subject, 1]);
    }
  });
});
