// A modal dialog: role=dialog with aria-modal, labelled by its title, focus moved in when it opens
// (to the element marked `data-autofocus`, else the first control) and kept inside with Tab,
// Escape closes, and focus goes back to what had it before. Rendered over a backdrop; a click on
// the backdrop closes it too. It is rendered on the document's body (a portal).
import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import { X } from 'lucide-react';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), details > summary, [tabindex]:not([tabindex="-1"])';

export interface DialogProps {
  title: ReactNode;
  /** Called on Escape, the close button and a click outside. */
  onClose: () => void;
  children: ReactNode;
  /** The buttons along the bottom. */
  footer?: ReactNode;
  /** `wide` for a diff. */
  size?: 'normal' | 'wide';
  /** A line under the title. */
  description?: ReactNode;
}

/** The dialog. Mount it to open it; unmount it to close it. */
export function Dialog({ title, onClose, children, footer, size = 'normal', description }: DialogProps) {
  const titleId = useId();
  const descriptionId = useId();
  const box = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const element = box.current;
    const first = element?.querySelector<HTMLElement>('[data-autofocus]') ?? element?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? element)?.focus();
    // Escape closes wherever focus is (a button that was just disabled leaves it on the body).
    const onEscape = (event: globalThis.KeyboardEvent) => {
      if (event.key === 'Escape') close.current();
    };
    document.addEventListener('keydown', onEscape);
    return () => {
      document.removeEventListener('keydown', onEscape);
      if (before && document.contains(before)) before.focus();
    };
  }, []);

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key !== 'Tab' || !box.current) return;
    const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
    if (items.length === 0) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  // On the body: a card (with its own containment) must not be the box the dialog is fixed to.
  return createPortal(
    <div
      className="dialog__backdrop"
      onMouseDown={(event) => {
        if (event.target === event.currentTarget) close.current();
      }}
    >
      <div
        ref={box}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descriptionId : undefined}
        className={`dialog panel dialog--${size}`}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="dialog__header">
          <h2 id={titleId} className="dialog__title">
            {title}
          </h2>
          <button type="button" className="button button--ghost button--icon" onClick={() => close.current()}>
            <X aria-hidden="true" size={16} />
            <span className="visually-hidden">Close</span>
          </button>
        </header>
        {description && (
          <p id={descriptionId} className="dialog__description">
            {description}
          </p>
        )}
        <div className="dialog__body">{children}</div>
        {footer && <footer className="dialog__footer">{footer}</footer>}
      </div>
    </div>,
    document.body,
  );
}
