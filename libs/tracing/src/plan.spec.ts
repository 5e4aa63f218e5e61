import { binomialUpperTail } from './binomial';
import { planAssignment } from './plan';

describe('planAssignment', () => {
  it('sizes the code for 64 hosts, coalitions of 3, false accusation 1e-6', () => {
    const plan = planAssignment({ hosts: 64, coalition: 3, falseAccusation: 1e-6, recall: 0.9, nullRate: 1e-3 });
    expect(plan.p).toBeCloseTo(Math.exp(-1 / 3), 12);
    // ln(N/eps) / ln(1/p) = 17.97 · 3
    expect(plan.minAnsweredToAccuse).toBe(54);
    // The closed form e·K·ln(N/eps)/r ≈ 163 ignores chance and null answers; the exact sizing adds them.
    expect(plan.keysToAsk).toBe(312);
    expect(plan.poolSize).toBe(4 * 312);
    expect(plan.nullAnswersBound).toBe(3);
    expect(plan.answeredNeeded).toBe(77);
    expect(plan.expectedAnswered).toBeCloseTo(312 * (0.9 * plan.p ** 3 + (1 - 0.9 * plan.p ** 3) * 1e-3), 9);
    expect(plan.expectedAnswered).toBeGreaterThan(plan.answeredNeeded);
    // A member holding the needed truthful answers but missing every tolerated null answer is still accused.
    const t = plan.answeredNeeded;
    expect(64 * binomialUpperTail(t + plan.nullAnswersBound, plan.p, t)).toBeLessThanOrEqual(1e-6);
    expect(64 * binomialUpperTail(t - 1 + plan.nullAnswersBound, plan.p, t - 1)).toBeGreaterThan(1e-6);
  });

  it('asks more keys for larger coalitions and stricter rates', () => {
    const base = planAssignment({ hosts: 64, coalition: 2 });
    expect(planAssignment({ hosts: 64, coalition: 3 }).keysToAsk).toBeGreaterThan(base.keysToAsk);
    expect(planAssignment({ hosts: 64, coalition: 2, falseAccusation: 1e-9 }).keysToAsk).toBeGreaterThan(base.keysToAsk);
    expect(planAssignment({ hosts: 64, coalition: 2, recall: 0.5 }).keysToAsk).toBeGreaterThan(base.keysToAsk);
  });

  it('refuses impossible inputs with the field to fix', () => {
    expect(() => planAssignment({ hosts: 2, coalition: 3 })).toThrow('coalition (3) cannot exceed hosts (2)');
    expect(() => planAssignment({ hosts: 64, coalition: 3, recall: 0 })).toThrow('recall');
    expect(() => planAssignment({ hosts: 64, coalition: 3, p: 0.01 })).toThrow('no more than the null rate');
  });
});
