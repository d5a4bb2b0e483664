import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StatusIndicator } from './StatusIndicator';

describe('StatusIndicator', () => {
  it('labels the health light in words, not colour alone', () => {
    render(<StatusIndicator kind="health" value="red" />);
    expect(screen.getByRole('img', { name: 'Health: red (Action required)' })).toBeTruthy();
  });

  it('says a stale health is stale, in words and in its look', () => {
    render(<StatusIndicator kind="health" value="green" stale />);
    const light = screen.getByRole('img', { name: 'Health: green (Healthy, but stale)' });
    expect(light.className).toContain('health--stale');
  });

  it('shows an unknown health as written', () => {
    render(<StatusIndicator kind="health" value="purple" />);
    expect(screen.getByRole('img', { name: 'Health: purple (purple)' }).className).toContain('health--unknown');
  });

  it('names known statuses and marks unknown ones', () => {
    const { container } = render(
      <>
        <StatusIndicator kind="repo" value="mismatched" />
        <StatusIndicator kind="repo" value="archived" />
      </>,
    );
    const badges = container.querySelectorAll('.badge');
    expect(badges[0]?.textContent).toBe('Mismatched');
    expect(badges[0]?.className).toContain('badge--mismatched');
    expect(badges[1]?.textContent).toBe('archived (unknown status)');
    expect(badges[1]?.className).toContain('badge--unknown');
  });
});
