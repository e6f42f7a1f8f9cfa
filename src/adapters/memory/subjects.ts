/**
 * Subject and key rules of NATS, so code that runs on the memory transport also runs on NATS.
 */
import { InvalidValueError, TransportError } from '../../domain/errors.js';

/**
 * Whether `subject` matches `pattern`: tokens are dot-separated, `*` matches exactly one token and
 * a final `>` matches one or more tokens.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const key = `${pattern} ${subject}`;
  const known = matched.get(key);
  if (known !== undefined) return known;
  const result = matches(pattern, subject);
  // A cluster uses a few dozen subjects; the cap only guards against unbounded distinct ones.
  if (matched.size >= MATCHES_KEPT) matched.clear();
  matched.set(key, result);
  return result;
}

/** Answers of `subjectMatches`, by pattern and subject (a space never occurs in either). */
const matched = new Map<string, boolean>();
const MATCHES_KEPT = 10_000;

function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}

/** @internal Throws TransportError (as the NATS client does) for a subject it would refuse. */
export function assertSubject(subject: string, allowWildcards: boolean): void {
  const tokens = subject.split('.');
  const bad =
    subject.length === 0 ||
    /\s/.test(subject) ||
    tokens.some((t, i) => {
      if (t.length === 0) return true;
      if (t === '*' || t === '>') return !allowWildcards || (t === '>' && i !== tokens.length - 1);
      return t.includes('*') || t.includes('>');
    });
  if (bad) throw new TransportError(`invalid subject "${subject}"`);
}

const KEY = /^[-/_=.a-zA-Z0-9]+$/;
const KEY_FILTER = /^[-/_=.a-zA-Z0-9*>]+$/;

/** @internal Throws InvalidValueError for a key NATS KV would refuse; filters may use `*` and `>`. */
export function assertKey(key: string, isFilter = false): void {
  const ok = (isFilter ? KEY_FILTER : KEY).test(key) && !key.startsWith('.') && !key.endsWith('.');
  if (!ok || (isFilter && !isValidFilter(key))) throw new InvalidValueError(`invalid KV key "${key}"`);
}

function isValidFilter(key: string): boolean {
  const tokens = key.split('.');
  return tokens.every((t, i) => {
    if (t.length === 0) return false;
    if (t === '>') return i === tokens.length - 1;
    return t === '*' || !(t.includes('*') || t.includes('>'));
  });
}

const NAME = /^[-_a-zA-Z0-9]+$/;

/** @internal Throws InvalidValueError for a bucket or stream name NATS would refuse. */
export function assertName(what: string, name: string): void {
  if (!NAME.test(name)) throw new InvalidValueError(`invalid ${what} name "${name}"`);
}
