// A working tree's changes as a readable diff: a header per file with its +/- counts, added and
// removed lines coloured, binary and over-large files named instead of dumped, and a word when the
// server cut the diff short.
import { FileDiff as FileDiffIcon } from 'lucide-react';
import type { Changes, FileDiff } from '../../lib/actions';
import { formatBytes } from '../../lib/actions';

/** How a patch line is shown. */
export type LineKind = 'add' | 'del' | 'hunk' | 'meta' | 'context';

/** The kind of one line of a unified diff. */
export function lineKind(line: string): LineKind {
  if (line.startsWith('+++ ') || line.startsWith('--- ')) return 'meta';
  if (line.startsWith('diff --git') || line.startsWith('index ') || line.startsWith('new file') || line.startsWith('deleted file'))
    return 'meta';
  if (line.startsWith('old mode') || line.startsWith('new mode') || line.startsWith('similarity') || line.startsWith('rename '))
    return 'meta';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  return 'context';
}

/** Why a file has no text shown, or null when it has. */
export function noTextReason(file: FileDiff): string | null {
  if (file.binary) return 'binary, not shown';
  if (file.too_large) return 'too large, not shown';
  if (file.patch === null) return 'not shown: the diff was cut at the size limit';
  return null;
}

function Patch({ patch }: { patch: string }) {
  const lines = patch.endsWith('\n') ? patch.slice(0, -1).split('\n') : patch.split('\n');
  return (
    <pre className="diff__patch">
      {lines.map((line, index) => {
        const kind = lineKind(line);
        return (
          <span key={index} className={`diff__line diff__line--${kind}`} data-kind={kind}>
            {line || ' '}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

function FileBlock({ file }: { file: FileDiff }) {
  const reason = noTextReason(file);
  return (
    <section className="diff__file" aria-label={file.path}>
      <header className="diff__file-header">
        <FileDiffIcon aria-hidden="true" size={15} />
        <code className="diff__path">
          {file.old_path && file.old_path !== file.path ? (
            <>
              {file.old_path} <span aria-label="renamed to">→</span> {file.path}
            </>
          ) : (
            file.path
          )}
        </code>
        <span className={`diff__kind diff__kind--${file.kind}`}>{file.kind}</span>
        {!file.binary && (
          <span className="diff__stats">
            <span className="diff__add" aria-label={`${file.additions} lines added`}>
              +{file.additions}
            </span>{' '}
            <span className="diff__del" aria-label={`${file.deletions} lines removed`}>
              −{file.deletions}
            </span>
          </span>
        )}
      </header>
      {reason ? <p className="diff__note">{reason}</p> : <Patch patch={file.patch ?? ''} />}
    </section>
  );
}

/** The whole diff. */
export function DiffView({ changes }: { changes: Changes }) {
  const additions = changes.files.reduce((sum, f) => sum + f.additions, 0);
  const deletions = changes.files.reduce((sum, f) => sum + f.deletions, 0);
  const n = changes.files.length + changes.files_not_listed;
  return (
    <div className="diff">
      <p className="diff__summary">
        {n === 1 ? '1 file changed' : `${n} files changed`} · <span className="diff__add">+{additions}</span>{' '}
        <span className="diff__del">−{deletions}</span>
        {changes.branch ? (
          <>
            {' '}
            · on <code>{changes.branch}</code>
          </>
        ) : (
          ' · detached HEAD'
        )}
        {changes.head && (
          <>
            {' '}
            at <code>{changes.head.slice(0, 10)}</code>
          </>
        )}
      </p>
      {changes.truncated && (
        <p className="note" role="note">
          Diff truncated at {formatBytes(changes.patch_bytes)} ({changes.patch_bytes.toLocaleString('en')} bytes): some files are listed
          without their text.
        </p>
      )}
      {changes.files.length === 0 && <p className="empty">No changes against HEAD.</p>}
      <div className="diff__files">
        {changes.files.map((file) => (
          <FileBlock key={`${file.old_path ?? ''}→${file.path}`} file={file} />
        ))}
      </div>
      {changes.files_not_listed > 0 && (
        <p className="note">
          And {changes.files_not_listed} more {changes.files_not_listed === 1 ? 'file' : 'files'}, not listed.
        </p>
      )}
    </div>
  );
}
