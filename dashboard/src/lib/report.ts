// Pure functions over the report: the keyed repository list, applying repository changes with
// RFC 6902 patches (fast-json-patch), replacing the top-level fields, and finding status changes.
import { applyPatch, type Operation } from 'fast-json-patch';
import type { CatchUp, Report, ReportMeta, Repo, RepoChange, RepoStatus } from '../types/protocol';

/**
 * The identity of a repository in the report: its name and `dup`, the n-th occurrence of that
 * name counting from 0 (docs/protocol.md, client rule 3). The list's order carries no meaning.
 */
export function repoKey(name: string, dup = 0): string {
  // NUL cannot be confused with anything a name contains in practice, and is unambiguous anyway
  // because the dup part is all digits.
  return `${name}\u0000${dup}`;
}

/** A repository with its key, as the list is addressed. */
export interface KeyedRepo {
  key: string;
  dup: number;
  repo: Repo;
}

/** Numbers each repository by the occurrence of its name. */
export function keyedRepos(repos: readonly Repo[]): KeyedRepo[] {
  const seen = new Map<string, number>();
  return repos.map((repo) => {
    const dup = seen.get(repo.name) ?? 0;
    seen.set(repo.name, dup + 1);
    return { key: repoKey(repo.name, dup), dup, repo };
  });
}

/** A repository whose status changed, appeared or went away. */
export interface StatusChange {
  key: string;
  name: string;
  dup: number;
  /** `null` when the repository was added. */
  from: RepoStatus | null;
  /** `null` when the repository was removed. */
  to: RepoStatus | null;
}

/** The effect of applying changes: the new report, what changed status and which repos changed at all. */
export interface Applied {
  report: Report;
  statusChanges: StatusChange[];
  touched: string[];
}

/** A change could not be applied: the client's state no longer matches the server's. */
export class PatchError extends Error {
  override name = 'PatchError';
}

/** Applies one repository's RFC 6902 operations; paths are relative to the repository object. */
export function patchRepo(repo: Repo, ops: readonly unknown[]): Repo {
  try {
    // validate = true: a path that does not resolve throws instead of silently inventing state.
    // mutateDocument = false: the old object stays untouched, so React sees a new identity.
    const result = applyPatch(repo, ops as Operation[], true, false).newDocument;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      throw new PatchError('patch did not produce an object');
    }
    return result as Repo;
  } catch (error) {
    if (error instanceof PatchError) throw error;
    throw new PatchError(`cannot apply patch to ${repo.name}: ${(error as Error).message}`);
  }
}

interface Entry {
  name: string;
  dup: number;
  repo: Repo;
}

/**
 * Applies repository changes (from one `repo-status-change` or one `catch-up`) to a report.
 *
 * Repositories that did not change keep their object identity, so memoised components skip them.
 * Throws {@link PatchError} when a change refers to a repository the state does not have.
 */
export function applyRepoChanges(report: Report, changes: readonly RepoChange[]): Applied {
  const entries = new Map<string, Entry>();
  for (const { key, dup, repo } of keyedRepos(report.repos)) entries.set(key, { name: repo.name, dup, repo });
  const statusChanges: StatusChange[] = [];
  const touched: string[] = [];

  for (const change of changes) {
    const dup = change.dup ?? 0;
    const key = repoKey(change.name, dup);
    const before = entries.get(key);
    let after: Repo | undefined;
    switch (change.change) {
      case 'added': {
        if (!change.repo) throw new PatchError(`added ${change.name} without its repository`);
        // As the Rust `apply_repo_change`: the repository is the one named, and it comes right
        // after the ones of its name the state already has (an `added` for a key the state
        // holds means the state and the server's disagree).
        if (change.repo.name !== change.name) throw new PatchError(`added ${change.name} with a repository named ${change.repo.name}`);
        const existing = [...entries.values()].filter((entry) => entry.name === change.name).length;
        if (dup !== existing) throw new PatchError(`added ${change.name} as occurrence ${dup} where the state has ${existing}`);
        after = change.repo;
        entries.set(key, { name: change.name, dup, repo: after });
        break;
      }
      case 'removed': {
        if (!before) throw new PatchError(`removed ${change.name} which the state does not have`);
        entries.delete(key);
        break;
      }
      case 'changed': {
        if (!before) throw new PatchError(`changed ${change.name} which the state does not have`);
        after = change.ops ? patchRepo(before.repo, change.ops) : { ...before.repo };
        if (after.name !== change.name) throw new PatchError(`changed ${change.name} into a repository named ${after.name}`);
        if (!change.ops && change.new_status !== undefined) after.status = change.new_status;
        entries.set(key, { name: change.name, dup, repo: after });
        break;
      }
      default:
        throw new PatchError(`unknown change kind ${String((change as { change: unknown }).change)}`);
    }
    touched.push(key);
    const from = before ? before.repo.status : null;
    const to = after ? after.status : null;
    if (from !== to) statusChanges.push({ key, name: change.name, dup, from, to });
  }

  return { report: { ...report, repos: orderedRepos(entries) }, statusChanges: mergeStatusChanges(statusChanges), touched };
}

/**
 * Lays the keyed entries out as a list in which the n-th occurrence of a name is the one with
 * `dup` n, so that keys computed from the list again agree with the server's.
 */
function orderedRepos(entries: Map<string, Entry>): Repo[] {
  const list = [...entries.values()];
  const byName = new Map<string, number[]>();
  list.forEach((entry, index) => {
    const positions = byName.get(entry.name);
    if (positions) positions.push(index);
    else byName.set(entry.name, [index]);
  });
  const out = list.map((entry) => entry.repo);
  for (const positions of byName.values()) {
    if (positions.length < 2) continue;
    const sorted = positions.map((i) => list[i] as Entry).sort((a, b) => a.dup - b.dup);
    positions.forEach((position, i) => {
      out[position] = (sorted[i] as Entry).repo;
    });
  }
  return out;
}

/** Keeps one status change per repository (first `from`, last `to`), dropping those that came back. */
function mergeStatusChanges(changes: StatusChange[]): StatusChange[] {
  const merged = new Map<string, StatusChange>();
  for (const change of changes) {
    const earlier = merged.get(change.key);
    merged.set(change.key, earlier ? { ...change, from: earlier.from } : change);
  }
  return [...merged.values()].filter((change) => change.from !== change.to);
}

/**
 * Applies a `health-metrics-update` (or a `catch-up`'s `meta`): a shallow merge patch of the top
 * level. Each named field is replaced whole, `null` removes it, fields not named stay.
 */
export function applyMeta(report: Report, meta: ReportMeta): Report {
  const { repos: _ignored, ...fields } = meta as ReportMeta & { repos?: unknown };
  const next: Record<string, unknown> = { ...report };
  for (const [key, value] of Object.entries(fields)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return { ...(next as unknown as Report), repos: report.repos };
}

/** Applies a `catch-up`: the merged repository changes, then the top-level fields when given. */
export function applyCatchUp(report: Report, data: CatchUp): Applied {
  const applied = applyRepoChanges(report, data.repos);
  return data.meta ? { ...applied, report: applyMeta(applied.report, data.meta) } : applied;
}

/**
 * Compares two whole reports by key (for an `audit-update` that replaces a state already shown):
 * which repositories changed status and which changed at all.
 */
export function diffReports(before: Report, after: Report): Omit<Applied, 'report'> {
  const old = new Map(keyedRepos(before.repos).map((k) => [k.key, k] as const));
  const statusChanges: StatusChange[] = [];
  const touched: string[] = [];
  for (const k of keyedRepos(after.repos)) {
    const previous = old.get(k.key);
    old.delete(k.key);
    if (!previous) {
      touched.push(k.key);
      statusChanges.push({ key: k.key, name: k.repo.name, dup: k.dup, from: null, to: k.repo.status });
      continue;
    }
    if (previous.repo !== k.repo && JSON.stringify(previous.repo) !== JSON.stringify(k.repo)) touched.push(k.key);
    if (previous.repo.status !== k.repo.status) {
      statusChanges.push({ key: k.key, name: k.repo.name, dup: k.dup, from: previous.repo.status, to: k.repo.status });
    }
  }
  for (const gone of old.values()) {
    touched.push(gone.key);
    statusChanges.push({ key: gone.key, name: gone.repo.name, dup: gone.dup, from: gone.repo.status, to: null });
  }
  return { statusChanges, touched };
}

/** Whether a value looks like a report (the minimum the UI needs: a `repos` array of named objects). */
export function isReport(value: unknown): value is Report {
  if (value === null || typeof value !== 'object') return false;
  const repos = (value as { repos?: unknown }).repos;
  return Array.isArray(repos) && repos.every((r) => r !== null && typeof r === 'object' && typeof (r as Repo).name === 'string');
}
