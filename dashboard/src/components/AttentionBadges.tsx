// AttentionBadges: the git states that need attention besides the status (unpushed, behind,
// detached HEAD, no upstream, stash), each a small badge with its meaning in a tooltip.
import { ArrowDown, ArrowUp, Archive, GitBranch, Unlink } from 'lucide-react';
import type { Attention, AttentionBadge } from '../lib/repoFacts';

const ICONS: Record<Attention, typeof ArrowUp> = {
  unpushed: ArrowUp,
  behind: ArrowDown,
  detached: GitBranch,
  'no-upstream': Unlink,
  stash: Archive,
};

/** The badges, or nothing when there are none. */
export function AttentionBadges({ badges, compact = false }: { badges: readonly AttentionBadge[]; compact?: boolean }) {
  if (badges.length === 0) return null;
  return (
    <ul className={compact ? 'flags flags--compact' : 'flags'} aria-label="Needs attention">
      {badges.map((badge) => {
        const Icon = ICONS[badge.kind];
        return (
          <li key={badge.kind} className={`flag flag--${badge.kind}`} title={badge.title} data-flag={badge.kind}>
            <Icon aria-hidden="true" size={12} />
            {badge.text}
          </li>
        );
      })}
    </ul>
  );
}
